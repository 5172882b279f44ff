"""Query cancellation through sluice: a CancelRequest with the key sluice gave the client cancels the
statement running for it, on a replica, on the primary and inside a transaction, within a second; the
connection stays usable. A CancelRequest with a wrong secret cancels nothing."""

import random
import socket
import struct
import threading
import time

import psycopg2
import psycopg2.errors

from lib import (HOST, PRIMARY, REPLICAS, SLUICE, Checks, connect, describe_error, info, query, value,
                 wait_for_replica_reads)

CANCEL_REQUEST_CODE = 80877102
t = Checks()
wait_for_replica_reads()


def cancelled_after(conn, sql, delay=0.5):
    """Runs sql on conn and calls conn.cancel() from another thread after `delay` seconds.
    Returns (error or None, seconds the statement took)."""
    timer = threading.Timer(delay, conn.cancel)
    t0 = time.monotonic()
    timer.start()
    try:
        query(conn, sql)
        e = None
    except psycopg2.Error as caught:
        e = caught
    finally:
        timer.cancel()
    return e, time.monotonic() - t0


def check_cancelled(e, elapsed, what):
    t.ok(isinstance(e, psycopg2.errors.QueryCanceled) and e.pgcode == "57014", f"{what}: QueryCanceled (57014)",
         describe_error(e))
    t.ok(elapsed < 1.5, f"{what}: cancelled {elapsed:.2f} s after it started (< 1.5 s)")


with t.section("cancel an autocommit read (on a replica)"):
    conn = connect()
    e, elapsed = cancelled_after(conn, "select pg_sleep(30)")
    check_cancelled(e, elapsed, "SELECT pg_sleep(30)")
    t.eq(value(conn, "select 1"), 1, "the connection is usable afterwards")
    ports = {value(conn, "select inet_server_port()") for _ in range(4)}
    t.ok(ports <= REPLICAS, "reads still go to the replicas", f"ports {ports}")
    e, elapsed = cancelled_after(conn, "select pg_sleep(30)")
    check_cancelled(e, elapsed, "a second SELECT pg_sleep(30)")
    conn.close()

with t.section("cancel a statement on the primary"):
    conn = connect()
    e, elapsed = cancelled_after(conn, "/* sluice: primary */ select pg_sleep(30)")
    check_cancelled(e, elapsed, "/* sluice: primary */ SELECT pg_sleep(30)")
    t.eq(value(conn, "/* sluice: primary */ select inet_server_port()"), PRIMARY, "the connection is usable afterwards")
    conn.close()

with t.section("cancel inside a transaction"):
    conn = connect()
    query(conn, "begin")
    t.eq(value(conn, "select 1"), 1, "BEGIN; SELECT 1")
    e, elapsed = cancelled_after(conn, "select pg_sleep(30)")
    check_cancelled(e, elapsed, "pg_sleep(30) in a transaction")
    t.error(lambda: query(conn, "select 1"), {"25P02"}, "the transaction is aborted (25P02)")
    query(conn, "rollback")
    t.ok(True, "ROLLBACK works")
    t.eq(value(conn, "select 1"), 1, "the connection is usable after the ROLLBACK")
    conn.close()

with t.section("a CancelRequest with a wrong secret cancels nothing"):
    conn = connect()
    pid = conn.get_backend_pid()  # the key sluice issued, not a server's
    info(f"sluice's key pid for this client: {pid}")
    secret = random.randint(-2**31, 2**31 - 1)
    done = threading.Event()

    def bogus_cancels():
        # Several attempts while the statement runs, each with a wrong secret.
        for _ in range(3):
            if done.wait(0.3):
                return
            with socket.create_connection((HOST, SLUICE), timeout=5) as s:
                s.sendall(struct.pack("!IIIi", 16, CANCEL_REQUEST_CODE, pid & 0xFFFFFFFF, secret))
                s.settimeout(5)
                t.eq(s.recv(1024), b"", "sluice closes the cancel connection without an answer")

    sender = threading.Thread(target=bogus_cancels)
    t0 = time.monotonic()
    sender.start()
    try:
        e = None
        value(conn, "select 1 from pg_sleep(1.5)")
    except psycopg2.Error as caught:
        e = caught
    elapsed = time.monotonic() - t0
    done.set()
    sender.join()
    t.ok(e is None and elapsed >= 1.5, f"pg_sleep(1.5) completed normally ({elapsed:.2f} s)", describe_error(e))
    # The same client's right key still works afterwards.
    e, elapsed = cancelled_after(conn, "select pg_sleep(30)")
    check_cancelled(e, elapsed, "then a cancel with the right key")
    conn.close()

with t.section("a cancel for an idle client does nothing"):
    conn = connect()
    conn.cancel()
    t.eq(value(conn, "select 1 from pg_sleep(0.2)"), 1, "the next statement is not cancelled")
    conn.close()

t.finish()
