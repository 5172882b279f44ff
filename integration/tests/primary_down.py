"""The primary stops: a write through sluice fails promptly with a connection-class SQLSTATE instead of
hanging, the client stays connected and keeps reading from the replicas, new clients can still log in
and read; once the primary is back, writes work again."""

import time

import psycopg2

from lib import PASSWORDS, PRIMARY, REPLICAS, Checks, RawClient, connect, describe_error, error_of, first_error, \
    info, message, poll, query, sandbox, streaming_replicas, value, wait_for_replica_reads

CONNECT_TIMEOUT = 5  # pool.connect_timeout in the sandbox's sluice.toml
WRITE_FAILURES = {"08006", "57P01", "57P03"}
t = Checks()
wait_for_replica_reads()
conn = connect()
query(conn, "drop table if exists it_primary_down")
query(conn, "create table it_primary_down (id serial primary key, at timestamptz default now())")
t.eq(value(conn, "insert into it_primary_down default values returning inet_server_port()"), PRIMARY,
     "a write works before the stop")
in_tx = connect()
query(in_tx, "begin")
query(in_tx, "insert into it_primary_down default values")
# The same by hand, to see the exact answer (libpq reports only "server closed the connection").
raw_tx = RawClient()
assert raw_tx.login("app", PASSWORDS["app"])[-1] == (b"Z", b"I")
for sql in (b"begin", b"insert into it_primary_down default values"):
    raw_tx.send(message(b"Q", sql + b"\0"))
    while (m := raw_tx.read_message()) is not None and m[0] != b"Z":
        pass
    assert m == (b"Z", b"T"), f"{sql}: {m}"

try:
    sandbox("stop-node", "primary", "fast")

    with t.section("writes fail promptly while the primary is down", conn):
        # Spread over 1.5 s: the first attempts find the primary refusing connections (08006), later
        # ones come after the health probes noticed it is gone (57P03: no backend reports being primary).
        for attempt in range(4):
            if attempt:
                time.sleep(0.5)  # pacing, not an assertion
            t0 = time.monotonic()
            e = error_of(lambda: query(conn, "insert into it_primary_down default values"))
            elapsed = time.monotonic() - t0
            t.ok(e is not None and e.pgcode in WRITE_FAILURES,
                 f"write #{attempt + 1}: fails with SQLSTATE in {sorted(WRITE_FAILURES)}", describe_error(e))
            info(f"write #{attempt + 1}: {describe_error(e)}")
            t.ok(elapsed < CONNECT_TIMEOUT + 2, f"write #{attempt + 1}: answered in {elapsed:.2f} s (< {CONNECT_TIMEOUT + 2} s)")
            t.eq(conn.closed, 0, f"write #{attempt + 1}: the client is still connected")

    with t.section("reads continue on the replicas", conn):
        ports = [value(conn, "select inet_server_port()") for _ in range(10)]
        t.ok(set(ports) <= REPLICAS, "the same client goes on reading from the replicas", f"ports {sorted(set(ports))}")
        t.eq(value(conn, "select count(*) > 0 from it_primary_down"), True, "and sees the replicated rows")
        fresh = connect()
        ports = {value(fresh, "select inet_server_port()") for _ in range(4)}
        t.ok(ports <= REPLICAS, "a client connecting while the primary is down logs in and reads", f"ports {ports}")
        fresh.close()

    with t.section("a transaction open at the stop is lost"):
        e = error_of(lambda: query(in_tx, "commit"))
        info(f"COMMIT of the open transaction: {describe_error(e)}; connection closed: {in_tx.closed}")
        t.ok(e is not None, "COMMIT of the transaction open on the stopped primary fails")
        raw_tx.send(message(b"Q", b"commit\0"))
        messages, closed, _ = raw_tx.read_until_closed(CONNECT_TIMEOUT + 2)
        err = first_error(messages)
        info(f"COMMIT by hand: {[m[0] for m in messages]}, {err}")
        t.ok(err is not None and err.get("S") == "FATAL" and err.get("C") in {"57P01", "08006"} and closed,
             "by hand: COMMIT gets FATAL 57P01 or 08006, then the connection is closed", f"{messages}, closed {closed}")
        raw_tx.close()
finally:
    sandbox("start-node", "primary")
    restarted = time.monotonic()

with t.section("writes work again once the primary is back", conn):
    def write_ok():
        try:
            return value(conn, "insert into it_primary_down default values returning inet_server_port()") == PRIMARY
        except psycopg2.Error as e:
            info(f"write after the restart: {describe_error(e)}")
            return False

    t.ok(poll(write_ok, 10, 0.2), f"a write through the same client succeeds within 10 s ({time.monotonic() - restarted:.2f} s)")
    t.ok(poll(lambda: streaming_replicas() == 2, 30, 0.2),
         f"both replicas stream from the primary again ({time.monotonic() - restarted:.2f} s)")
    fresh = connect()
    t.eq(value(fresh, "insert into it_primary_down default values returning inet_server_port()"), PRIMARY,
         "a new client writes on the primary")
    fresh.close()

query(conn, "drop table it_primary_down")
conn.close()
in_tx.close()
t.finish()
