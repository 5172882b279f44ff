"""pool.size is the whole proxy's number of server connections per (backend, database, user), shared by
all workers: with app_one (pool_size = 1) clients on both workers take turns on one primary connection;
with app (pool.size 8) eight clients in open transactions all get one, however the kernel spread them
over the workers (with per-worker shares of 4, a fifth client on one worker waited and failed)."""

import json
import socket
import threading
import time
import urllib.request

from lib import ENV, Checks, connect, connect_node, one, query, value

t = Checks()
ADMIN = f"127.0.0.1:{ENV['SLUICE_ADMIN_PORT']}"


def clients_by_port():
    """Admin GET /clients: the worker of each client, by its local port."""
    req = urllib.request.Request(f"http://{ADMIN}/clients",
                                 headers={"Authorization": f"Bearer {ENV['SLUICE_ADMIN_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.loads(r.read().decode())
    return {int(c["address"].rsplit(":", 1)[1]): c["worker"] for c in body["clients"]}


def local_port(conn):
    s = socket.socket(fileno=socket.dup(conn.fileno()))
    try:
        return s.getsockname()[1]
    finally:
        s.close()


def spread(user, count):
    """Opens `count` clients of `user`; returns {worker: [connections]}."""
    conns = [connect(user=user) for _ in range(count)]
    workers = clients_by_port()
    by_worker = {}
    for c in conns:
        by_worker.setdefault(workers.get(local_port(c)), []).append(c)
    return by_worker


def in_transaction_count():
    """Sessions of role app on the primary's app database idle in a transaction (the holders)."""
    node = connect_node("primary")
    try:
        return value(node, "select count(*) from pg_stat_activity where usename = 'app' and datname = 'app' "
                           "and state like 'idle in transaction%'")
    finally:
        node.close()


def run_transaction(conn, results, index, hold=0.0):
    """begin; the primary's backend pid; (hold); commit. Records (pid, finished at) or the error."""
    try:
        query(conn, "begin")
        pid = value(conn, "/* sluice: primary */ select pg_backend_pid()")
        if hold:
            time.sleep(hold)
        query(conn, "commit")
        results[index] = (pid, time.monotonic())
    except Exception as e:  # noqa: BLE001 (reported below)
        results[index] = e


with t.section("pool_size = 1: clients on both workers take turns on one primary connection"):
    by_worker = spread("app_one", 10)
    t.ok(len(by_worker) >= 2, f"the clients landed on both workers: {sorted(map(str, by_worker))}")
    # The holder and three queued clients, taken from both workers in turn.
    queues = [list(v) for k, v in sorted(by_worker.items(), key=lambda kv: str(kv[0]))]
    picked = []
    while len(picked) < 4 and any(queues):
        for q in queues:
            if q and len(picked) < 4:
                picked.append(q.pop(0))
    holder, others = picked[0], picked[1:]
    query(holder, "begin")
    holder_pid = value(holder, "/* sluice: primary */ select pg_backend_pid()")
    results = [None] * len(others)
    threads = [threading.Thread(target=run_transaction, args=(c, results, i), daemon=True)
               for i, c in enumerate(others)]
    for th in threads:
        th.start()
    time.sleep(1.5)
    t.ok(all(r is None for r in results), "while the holder's transaction is open the others wait",
         f"got {results}")
    t.eq(in_transaction_count(), 1, "the primary shows one app_one connection in a transaction, not one per worker")
    committed_at = time.monotonic()
    query(holder, "commit")
    for th in threads:
        th.join(20)
    errors = [r for r in results if not isinstance(r, tuple)]
    t.ok(not errors, "every queued client completes after the commit (no 53300)", f"got {errors}")
    pids = {holder_pid} | {r[0] for r in results if isinstance(r, tuple)}
    t.eq(pids, {holder_pid}, "all ran on the holder's server connection: one connection for the whole proxy")
    t.ok(all(r[1] >= committed_at for r in results if isinstance(r, tuple)), "each finished after the commit")
    for conns in by_worker.values():
        for c in conns:
            c.close()

with t.section("pool.size 8: eight open transactions succeed however the clients are spread"):
    by_worker = spread("app", 24)
    # Eight clients, as many as possible from one worker: per-worker shares of 4 could not serve them.
    crowded = max(by_worker.values(), key=len)
    picked = crowded[:8]
    rest = [c for conns in by_worker.values() for c in conns if c not in picked]
    picked += rest[:8 - len(picked)]
    t.ok(len([c for c in picked if c in crowded]) >= 5, f"{len([c for c in picked if c in crowded])} of the 8 "
         "clients on one worker")
    results = [None] * 8
    barrier = threading.Barrier(8)

    def hold_open(conn, index):
        try:
            query(conn, "begin")
            pid = value(conn, "/* sluice: primary */ select pg_backend_pid()")
            results[index] = (pid, time.monotonic())
            barrier.wait(15)  # all eight are in a transaction at once
            query(conn, "commit")
        except Exception as e:  # noqa: BLE001
            results[index] = e
            barrier.abort()

    threads = [threading.Thread(target=hold_open, args=(c, i), daemon=True) for i, c in enumerate(picked)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 20
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    ok = [r for r in results if isinstance(r, tuple)]
    t.eq(len(ok), 8, "all eight clients got a primary connection and held a transaction at once")
    t.eq(len({r[0] for r in ok}), len(ok), "on eight distinct server connections")
    for conns in by_worker.values():
        for c in conns:
            if not any(th.is_alive() for th in threads):
                c.close()

t.finish()
