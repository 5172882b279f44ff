#!/usr/bin/python3
"""Issue 15, item 2: valid but unusual message sequences, and clients that leave at any point, must not
leak sessions or server connections. Found by fuzzing the post-login stream: a simple Query inside an
unfinished extended batch, CopyData/CopyFail outside COPY, Describe without Sync; when the client left,
its session stayed "active" with its server attached, and after a while the pool (size 8) was full.

Hundreds of clients (seeded, so a failure can be replayed with SLUICE_SEQ_SEED) send such sequences,
read some or none of the answers and leave; afterwards every pooled connection of the app user is idle
again (GET /pools), no client of ours is listed (GET /clients), and sluice answers everyone at once."""

import json
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

t = lib.Checks()
SEED = int(os.environ.get("SLUICE_SEQ_SEED", "15002"))
CLIENTS = 400
PARALLEL = 8
APP_NAME = "unusual-seq"


def cstr(text):
    return text.encode() + b"\0"


def parse(sql, name=""):
    return lib.message(b"P", cstr(name) + cstr(sql) + struct.pack("!H", 0))


def bind(statement="", portal=""):
    return lib.message(b"B", cstr(portal) + cstr(statement) + struct.pack("!HHH", 0, 0, 0))


def execute(portal=""):
    return lib.message(b"E", cstr(portal) + struct.pack("!I", 0))


def describe(kind=b"S", name=""):
    return lib.message(b"D", kind + cstr(name))


def query(sql):
    return lib.message(b"Q", cstr(sql))


SYNC = lib.message(b"S")
FLUSH = lib.message(b"H")
COPY_DATA = lib.message(b"d", b"1\t2\n")
COPY_DONE = lib.message(b"c")
COPY_FAIL = lib.message(b"f", cstr("client gave up"))

# Pieces a client strings together: each is valid on its own; the order need not be.
PIECES = [
    ("extended select, no Sync", lambda: parse("select 1") + bind() + execute()),
    ("extended select + Sync", lambda: parse("select 1") + bind() + execute() + SYNC),
    ("Query inside an unfinished batch", lambda: parse("select 2") + bind() + query("select 3")),
    ("Describe without Sync", lambda: parse("select 4") + describe()),
    ("Describe + Flush", lambda: parse("select 5") + describe() + FLUSH),
    ("CopyData outside COPY", lambda: COPY_DATA),
    ("CopyDone outside COPY", lambda: COPY_DONE),
    ("CopyFail outside COPY", lambda: COPY_FAIL),
    ("BEGIN, left open", lambda: query("begin; select 6")),
    ("write in a transaction", lambda: query("begin; create temp table if not exists t_seq(x int)")),
    ("COPY FROM STDIN, half sent", lambda: query("copy (select 1) to stdout") +
     query("create temp table if not exists t_copy(a int, b int)") + query("copy t_copy from stdin") + COPY_DATA),
    ("named statement", lambda: parse("select 7", "s_seq") + bind("s_seq") + execute()),
    ("pg_sleep, left before the answer", lambda: query("select pg_sleep(0.2)")),
    ("a plain Query", lambda: query("select 8")),
    ("Sync alone", lambda: SYNC),
]


def one_client(rng, stats):
    raw = lib.RawClient(timeout=10)
    try:
        got = raw.login("app", "app_pw", extra={"application_name": APP_NAME})
        if not got or got[-1][0] != b"Z":
            stats["login_failures"] += 1
            return
        names = []
        for _ in range(rng.randint(1, 5)):
            name, make = rng.choice(PIECES)
            names.append(name)
            raw.send(make())
        # Leave: at once, after a few answers, or after reading until quiet.
        how = rng.choice(["at once", "some answers", "until quiet"])
        if how == "some answers":
            raw.sock.settimeout(0.3)
            for _ in range(rng.randint(1, 6)):
                if raw.read_message() is None:
                    break
        elif how == "until quiet":
            raw.sock.settimeout(0.3)
            while raw.read_message() is not None:
                pass
        stats["sequences"][" + ".join(names[:2])] = how
    except (OSError, TimeoutError):
        pass  # a read timing out is one way of waiting; sluice closing on us is allowed too
    finally:
        if rng.random() < 0.5:
            # Some leave abruptly (RST), not with a FIN.
            try:
                raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        raw.close()


def admin_get(path):
    req = urllib.request.Request(f"http://127.0.0.1:{lib.ENV['SLUICE_ADMIN_PORT']}{path}",
                                 headers={"Authorization": f"Bearer {lib.ENV['SLUICE_ADMIN_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode())


def lent_connections():
    """Server connections of the app user's pools that are not idle (lent to a session, or opening)."""
    return sum(p["total"] - p["idle"] for p in admin_get("/pools")["pools"]
               if p["user"] == "app" and p["database"] == "app")


def our_clients():
    return [c for c in admin_get("/clients")["clients"] if c.get("application_name") == APP_NAME]


with t.section(f"{CLIENTS} clients send unusual sequences and leave at random points (seed {SEED})"):
    stats = {"login_failures": 0, "sequences": {}}
    lock = threading.Lock()
    next_client = [0]

    def runner(thread_index):
        rng = random.Random(SEED * 100 + thread_index)
        while True:
            with lock:
                if next_client[0] >= CLIENTS:
                    return
                next_client[0] += 1
            one_client(rng, stats)

    t0 = time.monotonic()
    threads = [threading.Thread(target=runner, args=(i,), daemon=True) for i in range(PARALLEL)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    lib.info(f"{CLIENTS} clients in {time.monotonic() - t0:.1f} s, {len(stats['sequences'])} distinct openings")
    t.eq(stats["login_failures"], 0, "every client logged in (the pool never ran dry)")

with t.section("afterwards: nothing is left attached"):
    gone = lib.poll(lambda: not our_clients(), 15)
    t.ok(gone, "no session of those clients is listed in GET /clients", our_clients()[:3])
    returned = lib.poll(lambda: lent_connections() == 0, 15)
    t.ok(returned, "every app/app server connection is back in its pool, idle (GET /pools)",
         f"{lent_connections()} still lent")
    waiting = sum(p["waiting"] for p in admin_get("/pools")["pools"])
    t.eq(waiting, 0, "nobody waits for a server connection")

with t.section("and sluice answers everyone at once"):
    conns = [lib.connect() for _ in range(16)]
    t0 = time.monotonic()
    got = lib.concurrent(conns, lambda c: lib.value(c, "select 1"), 5)
    t.ok(got == [1] * 80, f"80 statements from 16 clients answered ({time.monotonic() - t0:.2f} s)", got[:5])
    got = lib.concurrent(conns, lambda c: lib.value(c, "/* sluice: primary */ select 1"), 3)
    t.ok(got == [1] * 48, "48 statements on the primary answered", got[:5])
    for c in conns:
        c.close()

t.finish()
