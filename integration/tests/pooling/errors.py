"""Issue 10, item 8: what a client sees when its server connection is terminated (outside and inside a
transaction): the server's SQLSTATE and message, sluice's own context only in DETAIL; and a malformed
startup packet closes the connection without a byte sent, as PostgreSQL does."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
direct = lib.connect_node("primary")
TERMINATED = "terminating connection due to administrator command"


def kill_backend_running(marker, timeout=5):
    """Terminates the server backend whose query contains `marker` (found within `timeout` s)."""
    sql = ("select pid from pg_stat_activity where query like %s and pid <> pg_backend_pid() "
           "and state = 'active'")
    pids = lib.poll(lambda: [row[0] for row in lib.query(direct, sql, (f"%{marker}%",))], timeout)
    if not pids:
        raise RuntimeError(f"no backend runs a query with {marker!r}")
    for pid in pids:
        lib.query(direct, "select pg_terminate_backend(%s)", (pid,))
    return pids


def describe_error(f):
    return wire.describe_fields(f) if f else "no error"


with t.section("transaction pooling, outside a transaction: ERROR with the server's SQLSTATE and text"):
    a = wire.Session("app_one")
    a.send(wire.query("/* sluice: primary */ select pg_sleep(5) /* it_kill_a */"))
    pids = kill_backend_running("it_kill_a")
    r = a.read(5.0)
    f = r.error
    lib.info(f"killed {pids}: {r.describe()}")
    t.ok(f is not None and f.get("S") == "ERROR" and f.get("C") == "57P01",
         "A gets ERROR (not FATAL) with SQLSTATE 57P01", describe_error(f))
    t.ok(f is not None and f.get("M") == TERMINATED, f"the message is exactly the server's: {TERMINATED!r}",
         describe_error(f))
    t.ok(f is not None and "transaction" not in f.get("M", ""), "the message does not mention a transaction",
         describe_error(f))
    t.ok(r.status == "I" and not r.closed, "then ReadyForQuery (idle), still connected", r.describe())
    r = a.query("/* sluice: primary */ select 1")
    t.ok(r.rows == [["1"]], "A's next query (on the primary) works", r.describe())
    r = a.query("select 1")
    t.ok(r.rows == [["1"]], "and a read works", r.describe())
    a.close()

with t.section("transaction pooling, inside BEGIN: FATAL with the server's SQLSTATE and text, then closed"):
    a = wire.Session("app_one")
    r = a.query("BEGIN")
    t.ok(r.status == "T", "A: BEGIN", r.describe())
    a.send(wire.query("select pg_sleep(5) /* it_kill_b */"))
    pids = kill_backend_running("it_kill_b")
    r = a.read(5.0)
    if not r.closed:
        r = a.read(3.0, into=r)  # a ReadyForQuery would be wrong; the connection must close
    f = r.error
    lib.info(f"killed {pids}: {r.describe()}")
    t.ok(f is not None and f.get("S") == "FATAL" and f.get("C") == "57P01",
         "A gets FATAL with SQLSTATE 57P01", describe_error(f))
    t.ok(f is not None and f.get("M") == TERMINATED, f"the message is exactly the server's: {TERMINATED!r}",
         describe_error(f))
    t.ok(r.closed and r.ready == 0, "then the connection closes (no ReadyForQuery)", r.describe())
    a.close()


def malformed_startup(port):
    s = socket.create_connection((lib.HOST, port), timeout=5)
    s.sendall(b"X\x00\x00\x00\x04")
    received = b""
    closed = False
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            received += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    finally:
        s.close()
    return closed, received


with t.section("a Terminate before the StartupMessage: closed, nothing sent"):
    closed, received = malformed_startup(lib.PRIMARY)
    t.ok(closed and received == b"", "PostgreSQL itself closes the connection without sending a byte",
         f"closed={closed} received={received!r}")
    closed, received = malformed_startup(lib.SLUICE)
    t.ok(closed and received == b"", "sluice closes the connection within 5 s without sending a byte",
         f"closed={closed} received={received!r}")



def primary_usable():
    """Every worker sends primary statements again (one was just told its primary connection failed)."""
    sessions = [wire.Session("app_one") for _ in range(4)]
    try:
        return all(s.query("/* sluice: primary */ select 1").rows == [["1"]] for s in sessions)
    finally:
        wire.close_all(*sessions)


with t.section("afterwards"):
    t.ok(lib.poll(primary_usable, 5, 0.2), "new clients' primary statements work again within 5 s")

direct.close()
t.finish()
