"""Session state that cannot move between server connections pins the client to one primary connection:
a temporary table, LISTEN (notifications arrive while the client is idle), a session advisory lock
(released when the client leaves, before the connection is pooled again)."""

import os
import select
import time

from lib import PRIMARY, Checks, connect, log_since, log_size, one, poll, query, value

t = Checks()
log_start = log_size()

with t.section("a temporary table pins the session to the primary"):
    a = connect()
    query(a, "create temp table it_pin_tmp (x int)")
    query(a, "insert into it_pin_tmp select generate_series(1, 5)")
    results = []
    for _ in range(20):
        results.append(one(a, "select count(*), inet_server_port() from it_pin_tmp"))
    t.ok(all(r == (5, PRIMARY) for r in results), "20 autocommit SELECTs of the temp table: 5 rows, on the primary",
         f"got {sorted(set(results))}")
    t.eq(value(a, "select inet_server_port()"), PRIMARY, "a plain SELECT without the table stays on the primary")
    backend = value(a, "select pg_backend_pid()")
    pids = {value(a, "select pg_backend_pid()") for _ in range(10)}
    t.eq(pids, {backend}, "one and the same server backend throughout")
    found = poll(lambda: "session pinned" in log_since(log_start), 5)
    t.ok(found, "sluice's log says 'session pinned'")
    a.close()

with t.section("the temp table does not outlive its client"):
    # After the client leaves, its connection is reset (DISCARD ALL) before anyone else gets it.
    for i in range(6):
        c = connect()
        t.error(lambda: query(c, "/* sluice: primary */ select count(*) from it_pin_tmp"), {"42P01"},
                f"client {i}: it_pin_tmp does not exist on its primary connection (42P01)")
        c.close()

with t.section("LISTEN: a notification reaches an idle client"):
    a = connect()
    b = connect()
    query(a, "listen it_channel")
    payload = f"hi-{os.getpid()}"
    query(b, "notify it_channel, %s", (payload,))
    t0 = time.monotonic()
    deadline = t0 + 5
    got = []
    while not got and time.monotonic() < deadline:
        # Only wait for the socket and read what arrives: A sends nothing.
        if select.select([a], [], [], max(0.0, deadline - time.monotonic()))[0]:
            a.poll()
            while a.notifies:
                got.append(a.notifies.pop(0))
    t.ok(any(n.channel == "it_channel" and n.payload == payload for n in got),
         f"A received the notification within 5 s without sending a query ({time.monotonic() - t0:.2f} s)",
         f"got {[(n.channel, n.payload) for n in got]}")
    # And a second one, after A ran a query in between.
    value(a, "select 1")
    query(b, "select pg_notify('it_channel', 'second')")
    got = []
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        if select.select([a], [], [], max(0.0, deadline - time.monotonic()))[0]:
            a.poll()
            got += a.notifies
            a.notifies.clear()
    t.ok([n.payload for n in got] == ["second"], "a second notification (sent with pg_notify) arrives too",
         f"got {[(n.channel, n.payload) for n in got]}")
    t.eq(value(a, "select inet_server_port()"), PRIMARY, "the listening session is pinned to the primary")
    a.close()
    b.close()

with t.section("a session advisory lock is held until its client leaves"):
    a = connect()
    b = connect()
    query(a, "select pg_advisory_lock(42)")
    t.eq(value(a, "select inet_server_port()"), PRIMARY, "the lock holder is pinned to the primary")
    for i in range(3):
        t.eq(value(b, "select pg_try_advisory_lock(42)"), False, f"B cannot take lock 42 while A holds it (#{i + 1})")
    t.eq(value(a, "select count(*) from pg_locks where locktype = 'advisory' and objid = 42 and pid = pg_backend_pid()"),
         1, "A's server backend holds the lock")
    a.close()
    t0 = time.monotonic()
    took = poll(lambda: value(b, "select pg_try_advisory_lock(42)"), 5)
    t.ok(took, f"B takes lock 42 after A disconnects ({time.monotonic() - t0:.2f} s)")
    if took:
        t.eq(value(b, "select pg_advisory_unlock(42)"), True, "B releases it")
    b.close()
    c = connect()
    t.eq(value(c, "select pg_try_advisory_lock(42)"), True, "after B leaves too, a new client takes it")
    c.close()

t.finish()
