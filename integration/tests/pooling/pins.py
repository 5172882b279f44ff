"""Issue 10, item 1: session state created with the EXTENDED protocol (unnamed Parse/Bind/Execute/Sync)
pins the client to its server connection, as the same statement sent as a simple Query does. Client A
creates the state; client B shares A's server connection (app_one: one per backend and worker) and
must not see it, before or after A leaves."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
direct = lib.connect_node("primary")


def succeeded(r):
    return not r.errors and r.status is not None


def created(what, r):
    t.ok(succeeded(r) and r.status == "I", f"A: {what} as unnamed Parse/Bind/Execute/Sync", r.describe())


def b_probe(a, b, sql):
    r, a_left = wire.probe(a, b, sql)
    lib.info(f"B: {sql!r}: {r.describe()} ({r.seconds:.2f} s{', after A left' if a_left else ''})")
    return r


with t.section("DECLARE c1 CURSOR WITH HOLD (extended) pins A"):
    a, b, pid = wire.shared_pair()
    lib.info(f"A and B share primary server connection pid {pid}")
    created("DECLARE c1 CURSOR WITH HOLD", a.extended("DECLARE c1 CURSOR WITH HOLD FOR SELECT generate_series(1,3)"))
    r = a.query("FETCH 1 FROM c1")
    t.ok(r.rows == [["1"]] and not r.errors, "A: FETCH 1 FROM c1 (simple Query) returns 1", r.describe())
    r = a.extended("FETCH 1 FROM c1")
    t.ok(r.rows == [["2"]] and not r.errors, "A: FETCH 1 FROM c1 (extended) returns 2", r.describe())
    r = b_probe(a, b, "DECLARE c1 CURSOR WITH HOLD FOR SELECT 1")
    b_has_c1 = succeeded(r)
    t.ok(b_has_c1, "B: its own DECLARE c1 CURSOR WITH HOLD succeeds (A's c1 is not on B's connection)",
         r.describe())
    if b_has_c1:
        b.query("CLOSE c1")
    a.close()
    r = b.query("/* sluice: primary */ select count(*) from pg_cursors")
    t.ok(r.rows == [["0"]], "after A left: no cursor on B's primary connection (A's was reset)", r.describe())
    wire.close_all(a, b)

with t.section("CREATE TEMP TABLE tt (extended) pins A"):
    a, b, pid = wire.shared_pair()
    created("CREATE TEMP TABLE tt(x int)", a.extended("CREATE TEMP TABLE tt(x int)"))
    r = a.query("insert into tt values (1)")
    t.ok(succeeded(r) and r.tags == ["INSERT 0 1"], "A: insert into tt (simple Query)", r.describe())
    r = a.extended("insert into tt values (2)")
    t.ok(succeeded(r) and r.tags == ["INSERT 0 1"], "A: insert into tt (extended)", r.describe())
    r = a.query("select count(*) from tt")
    t.ok(r.rows == [["2"]] and not r.errors, "A: select count(*) from tt (simple Query) = 2", r.describe())
    r = a.extended("select count(*) from tt")
    t.ok(r.rows == [["2"]] and not r.errors, "A: select count(*) from tt (extended) = 2", r.describe())
    r = b_probe(a, b, "/* sluice: primary */ select count(*) from tt")
    t.ok(r.sqlstate == "42P01" and not r.rows, "B: select from tt fails with 42P01 (A's temp table is not B's)",
         r.describe())
    a.close()
    r = b.query("/* sluice: primary */ select count(*) from tt")
    t.ok(r.sqlstate == "42P01", "after A left: tt does not exist on B's primary connection", r.describe())
    wire.close_all(a, b)

with t.section("PREPARE p1 (extended) pins A"):
    a, b, pid = wire.shared_pair()
    created("PREPARE p1 AS SELECT 1", a.extended("PREPARE p1 AS SELECT 1"))
    r = a.query("EXECUTE p1")
    t.ok(r.rows == [["1"]] and not r.errors, "A: EXECUTE p1 (simple Query) returns 1", r.describe())
    r = a.extended("EXECUTE p1")
    t.ok(r.rows == [["1"]] and not r.errors, "A: EXECUTE p1 (extended) returns 1", r.describe())
    r = b_probe(a, b, "/* sluice: primary */ EXECUTE p1")
    t.ok(r.sqlstate == "26000" and not r.rows, "B: EXECUTE p1 fails with 26000 (A's statement is not B's)",
         r.describe())
    a.close()
    r = b.query("/* sluice: primary */ select count(*) from pg_prepared_statements where name = 'p1'")
    t.ok(r.rows == [["0"]], "after A left: no p1 on B's primary connection", r.describe())
    wire.close_all(a, b)

LOCK_HOLDERS = ("select coalesce(array_agg(pid order by pid), '{}') from pg_locks "
                "where locktype = 'advisory' and objid = 4242 and granted")
OWN_LOCK = ("/* sluice: primary */ select count(*) from pg_locks "
            "where locktype = 'advisory' and objid = 4242 and pid = pg_backend_pid()")

with t.section("pg_advisory_lock(4242) (extended) pins A"):
    a, b, pid = wire.shared_pair()
    created("SELECT pg_advisory_lock(4242)", a.extended("SELECT pg_advisory_lock(4242)"))
    a_pid = a.primary_pid()
    holders = lib.value(direct, LOCK_HOLDERS)
    t.eq(holders, [a_pid], "lock 4242 is held by A's own pg_backend_pid() only")
    r = a.query(OWN_LOCK)
    t.ok(r.rows == [["1"]], "A (simple Query): its primary connection holds lock 4242", r.describe())
    r = a.extended(OWN_LOCK)
    t.ok(r.rows == [["1"]], "A (extended): its primary connection holds lock 4242", r.describe())
    r = b_probe(a, b, OWN_LOCK + " /* B */")
    t.ok(r.rows == [["0"]], "B: its primary connection does not hold lock 4242", r.describe())
    a.close()
    released = lib.poll(lambda: lib.value(direct, LOCK_HOLDERS) == [], 5)
    t.ok(released, "after A left: lock 4242 is released within 5 s",
         f"still held by {lib.value(direct, LOCK_HOLDERS)}")
    wire.close_all(a, b)


def chan1(r):
    return [n for n in r.notifications if n[1] == "chan1"]


with t.section("LISTEN chan1 (extended) pins A"):
    a, b, pid = wire.shared_pair()
    created("LISTEN chan1", a.extended("LISTEN chan1"))
    r = a.query("/* sluice: primary */ select pg_listening_channels()")
    t.ok(r.rows == [["chan1"]], "A (simple Query): its primary connection listens on chan1", r.describe())
    lib.query(direct, "NOTIFY chan1, 'n1'")
    b.send(wire.query("/* sluice: primary */ select 1"))  # B asks for the connection right away
    got = a.idle(2.0, until=lambda res: chan1(res))
    t.ok([n[2] for n in chan1(got)] == ["n1"],
         f"A receives NOTIFY chan1 as a NotificationResponse within 2 s while idle ({got.seconds:.2f} s)",
         got.describe())
    rb = b.read(1.0)
    if rb.timed_out:
        a.close()
        rb = b.read(10.0, into=rb)
    late = b.idle(0.3)
    t.ok(not chan1(rb) and not chan1(late) and rb.rows == [["1"]],
         "B receives no notification for chan1 (and its statement runs)",
         f"{rb.describe()}; then {late.describe()}")
    a.close()
    r = b.query("/* sluice: primary */ select count(*) from pg_listening_channels() c where c = 'chan1'")
    t.ok(r.rows == [["0"]] and not chan1(r), "after A left: B's primary connection does not listen on chan1",
         r.describe())
    wire.close_all(a, b)

direct.close()
t.finish()
