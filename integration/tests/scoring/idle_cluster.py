"""scoring_idle_cluster: an idle primary must not make up-to-date replicas look late. After a write, the
cluster gets no traffic for 12 s (longer than max_lag, 10 s by default), so that
now() - pg_last_xact_replay_timestamp() on the replicas exceeds max_lag; 200 reads through sluice then
(from 8 concurrent clients) must reach both replicas and never the primary, which would be the
fallback if the replicas were excluded."""

import threading
import time

from lib import info, main

IDLE = 12.0
READS = 200
THREADS = 8


def test(checks, cluster):
    sluice = cluster.sluice().start()  # default max_lag (10 s) and max_lag_bytes
    # One committed write, replayed everywhere: the replicas' last replayed commit is now, and then ages.
    cluster.node_value("primary", "CREATE TABLE idle_mark(at timestamptz); INSERT INTO idle_mark VALUES (now()); "
                                  "SELECT 1")
    cluster.wait_replayed()
    idle_from = time.monotonic()
    time.sleep(IDLE)  # the condition under test is the idleness itself
    ages = {node: cluster.node_value(node, "select extract(epoch from now() - pg_last_xact_replay_timestamp())")
            for node in ("replica1", "replica2")}
    lsn = {node: cluster.node_value(node, q) for node, q in (
        ("primary", "select pg_current_wal_lsn()::text"), ("replica1", "select pg_last_wal_replay_lsn()::text"),
        ("replica2", "select pg_last_wal_replay_lsn()::text"))}
    info(f"after {time.monotonic() - idle_from:.1f} s idle: last replayed commit "
         + ", ".join(f"{n} {float(a):.1f} s ago" for n, a in ages.items()) + f"; LSNs {lsn}")
    checks.ok(all(float(a) > 10 for a in ages.values()),
              "the replicas' last replayed commit is older than max_lag (the condition under test)", f"{ages}")

    # Concurrent readers: with one client reading sequentially, nothing is ever in flight and the power of
    # two choices between two replicas is a plain comparison of latencies, which one replica may win every
    # time (a matter of balance, not of exclusion). Concurrency makes "both are candidates" observable.
    served = {}
    errors = []

    def reader():
        try:
            conn = sluice.connect()
            try:
                with conn.cursor() as cur:
                    for _ in range(READS // THREADS):
                        cur.execute("SELECT inet_server_port()")
                        node = cluster.port_name(cur.fetchone()[0])
                        with lock:
                            served[node] = served.get(node, 0) + 1
            finally:
                conn.close()
        except Exception as e:  # reported below
            errors.append(e)

    lock = threading.Lock()
    threads = [threading.Thread(target=reader) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    checks.ok(not errors, "every read works", f"{errors[:3]}")
    info(f"{READS} reads served by {dict(sorted(served.items()))}")
    checks.ok(served.get("replica1", 0) > 0 and served.get("replica2", 0) > 0,
              "after the idle period both replicas serve reads", f"{served}")
    checks.ok(served.get("primary", 0) == 0, "no read falls back to the primary", f"{served}")


if __name__ == "__main__":
    main(test, "idle")
