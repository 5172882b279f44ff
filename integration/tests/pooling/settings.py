"""Issue 10, items 4 to 6: session settings follow their client onto every server connection and
replica, and never reach another client: set_config(..., false) (simple, extended, inside a function),
SET inside a transaction block that commits (transaction and session pooling), and the order of
startup parameters and SETs when they are replayed."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
direct = lib.connect_node("primary")
lib.wait_for_replica_reads()


def write_returning(expr):
    """A real write (on the primary) that returns `expr`."""
    return ("insert into pgbench_history (tid, bid, aid, delta, mtime) values (0, 0, 0, 0, now()) "
            f"returning {expr}")


def seen(s, expr, reads=6, primary=2, writes=1, extended=False):
    """Values of `expr` over several statements of session s: reads (replicas), primary-hinted reads
    and writes; each as (kind, value or error)."""
    statements = ([("read", f"select {expr}")] * reads + [("primary", f"/* sluice: primary */ select {expr}")] * primary
                  + [("write", write_returning(expr))] * writes)
    out = []
    for kind, sql in statements:
        r = s.extended(sql) if extended else s.query(sql)
        out.append((kind, r.value if r.rows and not r.errors else f"ERROR {r.describe()}"))
    return out


def values(observed):
    return sorted({str(v) for _, v in observed})


def interleaved(a, b, a_expr, b_expr, rounds=5):
    """A and B take turns: each round A reads, B reads, A writes (primary), B reads the primary.
    Returns (A's observations, B's observations)."""
    seen_a, seen_b = [], []
    for _ in range(rounds):
        seen_a += seen(a, a_expr, reads=1, primary=0, writes=0)
        seen_b += seen(b, b_expr, reads=2, primary=0, writes=0)
        seen_a += seen(a, a_expr, reads=0, primary=1, writes=1)
        seen_b += seen(b, b_expr, reads=0, primary=1, writes=0)
    return seen_a, seen_b


V = "current_setting('sluice_test.v', true)"
E = "current_setting('sluice_test.e', true)"
F = "current_setting('sluice_test.f', true)"

with t.section("set_config(name, value, false) is a session setting (simple Query)"):
    a, b, pid = wire.shared_pair()
    r = a.query("select set_config('sluice_test.v', 'A', false)")
    t.ok(r.rows == [["A"]] and r.status == "I", "A: select set_config('sluice_test.v', 'A', false)", r.describe())
    seen_a, seen_b = interleaved(a, b, V, V)
    seen_a += seen(a, V)
    t.ok(values(seen_a) == ["A"], f"A sees sluice_test.v = 'A' in all {len(seen_a)} later reads and writes",
         f"got {seen_a}")
    seen_b += seen(b, V)
    t.ok("A" not in values(seen_b), f"B never sees 'A' ({len(seen_b)} reads and primary reads)", f"got {seen_b}")
    wire.close_all(a, b)

with t.section("set_config(name, value, false) is a session setting (extended protocol)"):
    a, b, pid = wire.shared_pair()
    r = a.extended("select set_config('sluice_test.e', 'A', false)")
    t.ok(r.rows == [["A"]] and r.status == "I", "A: set_config('sluice_test.e', 'A', false) as Parse/Bind/Execute",
         r.describe())
    seen_a, seen_b = interleaved(a, b, E, E)
    seen_a += seen(a, E, extended=True)
    t.ok(values(seen_a) == ["A"], f"A sees sluice_test.e = 'A' in all {len(seen_a)} later reads and writes",
         f"got {seen_a}")
    seen_b += seen(b, E, extended=True)
    t.ok("A" not in values(seen_b), f"B never sees 'A' ({len(seen_b)} statements)", f"got {seen_b}")
    wire.close_all(a, b)

with t.section("values with quotes and backslashes are replayed exactly, whatever standard_conforming_strings"):
    a, b, pid = wire.shared_pair()
    tricky = "it's a \\ back\\slash, and 'quotes'"
    literal = "'" + tricky.replace("'", "''") + "'"
    r = a.query(f"select set_config('sluice_test.q', {literal}, false)")
    t.ok(r.rows == [[tricky]], "A: set_config with quotes and backslashes", r.describe())
    r = a.query("set standard_conforming_strings = off")
    t.ok(not r.errors, "A: SET standard_conforming_strings = off", r.describe())
    Q = "current_setting('sluice_test.q', true)"
    seen_a, seen_b = interleaved(a, b, Q, Q)
    seen_a += seen(a, Q)
    t.ok(values(seen_a) == [tricky], f"A sees the value exactly in all {len(seen_a)} later statements", f"got {seen_a}")
    t.ok(tricky not in values(seen_b), "B never sees it", f"got {seen_b}")
    wire.close_all(a, b)

with t.section("a DO block's set_config never reaches another client"):
    a, b, pid = wire.shared_pair()
    r = a.query("DO $$BEGIN PERFORM set_config('sluice_test.do', 'from_do', false); END$$")
    t.ok(not r.errors, "A: DO block calling set_config", r.describe())
    D = "current_setting('sluice_test.do', true)"
    seen_a, seen_b = interleaved(a, b, D, D)
    seen_b += seen(b, D)
    t.ok("from_do" not in values(seen_b), f"B never sees 'from_do' ({len(seen_b)} statements)", f"got {seen_b}")
    wire.close_all(a, b)

with t.section("set_config inside a function never reaches another client"):
    lib.query(direct, "create or replace function public.sluice_sets() returns text language sql as "
                      "$$ select set_config('sluice_test.f', 'from_f', false) $$")
    lib.query(direct, "grant execute on function public.sluice_sets() to app")
    lib.wait_for_replay()
    a, b, pid = wire.shared_pair()
    r1 = a.query("select public.sluice_sets()")
    r2 = a.query("/* sluice: primary */ select public.sluice_sets()")
    t.ok(r1.rows == [["from_f"]] and r2.rows == [["from_f"]],
         "A: select public.sluice_sets() (as routed, and on the primary)", f"{r1.describe()}; {r2.describe()}")
    seen_b = seen(b, F, reads=10, primary=3, writes=1)
    a.query("select 1")
    seen_b += seen(b, F, reads=6, primary=2, writes=0)
    t.ok("from_f" not in values(seen_b), f"B never sees 'from_f' ({len(seen_b)} reads on replicas and the primary)",
         f"got {seen_b}")
    wire.close_all(a, b)


def show(s, name, expr):
    """SHOW name as routed (replicas) several times, on the primary, and current_setting() in a write."""
    out = []
    for _ in range(5):
        r = s.query(f"show {name}")
        out.append(("read", r.value if r.rows else f"ERROR {r.describe()}"))
    r = s.query(f"/* sluice: primary */ show {name}")
    out.append(("primary", r.value if r.rows else f"ERROR {r.describe()}"))
    r = s.query(write_returning(f"current_setting('{expr}')"))
    out.append(("write", r.value if r.rows else f"ERROR {r.describe()}"))
    return out


def b_uses_connections(b):
    for sql in ("/* sluice: primary */ select 1", "select 1", "select 1", "/* sluice: primary */ show work_mem"):
        b.query(sql)


def tx_set_cases(user):
    pair = wire.shared_pair() if user == "app_one" else (wire.Session(user), wire.Session(user), None)
    a, b, _ = pair
    cases = [
        ("BEGIN; SET search_path TO public, s1; COMMIT;", "search_path", "search_path", "public, s1"),
        ("BEGIN; SET datestyle TO german; COMMIT;", "datestyle", "DateStyle", "German, DMY"),
        ("BEGIN; SET work_mem = '7MB'; COMMIT;", "work_mem", "work_mem", "7MB"),
    ]
    for sql, name, expr, want in cases:
        r = a.query(sql)
        t.ok(not r.errors and r.status == "I", f"{user} A: {sql}", r.describe())
        b_uses_connections(b)
        got = show(a, name, expr)
        t.ok(values(got) == [want], f"{user}: after COMMIT (and B's statements) A's {name} is {want!r} everywhere",
             f"got {got}")
    # Separate Query messages: BEGIN, SET, COMMIT.
    for sql in ("BEGIN", "SET search_path TO public, s2", "COMMIT"):
        r = a.query(sql)
        if r.errors:
            break
    t.ok(not r.errors and r.status == "I", f"{user} A: BEGIN / SET search_path TO public, s2 / COMMIT as three Queries",
         r.describe())
    b_uses_connections(b)
    got = show(a, "search_path", "search_path")
    t.ok(values(got) == ["public, s2"], f"{user}: A's search_path is 'public, s2' everywhere after the 3-message form",
         f"got {got}")
    # The same with the extended protocol (unnamed Parse/Bind/Execute/Sync for each).
    for sql in ("BEGIN", "SET search_path TO public, s3", "COMMIT"):
        r = a.extended(sql)
        if r.errors:
            break
    t.ok(not r.errors and r.status == "I",
         f"{user} A: BEGIN / SET search_path TO public, s3 / COMMIT as three extended-protocol statements", r.describe())
    b_uses_connections(b)
    got = show(a, "search_path", "search_path")
    t.ok(values(got) == ["public, s3"], f"{user}: A's search_path is 'public, s3' everywhere after the extended form",
         f"got {got}")
    wire.close_all(a, b)

    # ROLLBACK and SET LOCAL change nothing: each on a new client whose work_mem was SET before.
    for statements in (["BEGIN; SET work_mem = '9MB'; ROLLBACK;"], ["BEGIN; SET LOCAL work_mem = '11MB'; COMMIT;"],
                       ["BEGIN", "SET work_mem = '9MB'", "ROLLBACK"], ["BEGIN", "SET LOCAL work_mem = '11MB'", "COMMIT"]):
        a, b, _ = wire.shared_pair() if user == "app_one" else (wire.Session(user), wire.Session(user), None)
        r = a.query("SET work_mem = '5MB'")
        errors = [e for e in r.errors]
        for sql in statements:
            r = a.query(sql)
            errors += r.errors
        b_uses_connections(b)
        got = show(a, "work_mem", "work_mem")
        what = statements[0] if len(statements) == 1 else " / ".join(statements) + " (three Queries)"
        t.ok(not errors and r.status == "I" and values(got) == ["5MB"],
             f"{user}: SET work_mem = '5MB', then {what} leaves A's work_mem at 5MB everywhere",
             f"errors={[wire.describe_fields(e) for e in errors]}; got {got}")
        wire.close_all(a, b)


with t.section("SET in a transaction block survives COMMIT (transaction pooling, app_one)"):
    tx_set_cases("app_one")

with t.section("SET in a transaction block survives COMMIT (session pooling, app_session)"):
    tx_set_cases("app_session")


def replay_order_case(set_sql):
    for _ in range(4):
        a = wire.Session("app_one", extra={"DateStyle": "Postgres, MDY"})
        b = wire.partner(a, count=8)
        if b is not None:
            break
        a.close()
    else:
        raise RuntimeError("found no app_one session sharing A's primary connection (4 tries)")
    # A's startup value is applied wherever A runs before its SETs: the primary and a replica or two.
    before = [a.value("show datestyle") for _ in range(6)] + [a.value("/* sluice: primary */ show datestyle")]
    t.ok(set(before) == {"Postgres, MDY"}, "A's startup DateStyle 'Postgres, MDY' applies", f"got {before}")
    r = a.query(set_sql)
    t.ok(not r.errors and r.status == "I", f"A: {set_sql}", r.describe())
    r = a.query("show datestyle")
    lib.info(f"right after: {r.describe()}")
    for sql in ("/* sluice: primary */ select 1", "/* sluice: primary */ show datestyle"):
        rb = b.query(sql)
    t.ok(rb.rows and rb.rows[0][0] != "ISO, YMD" and "Postgres" not in rb.rows[0][0],
         "B (default settings) does not see A's DateStyle", rb.describe())
    got = []
    for _ in range(10):
        r = a.query("show datestyle")
        got.append(("read", r.value if r.rows else r.describe()))
    r = a.query(write_returning("current_setting('DateStyle')"))
    got.append(("write", r.value if r.rows else r.describe()))
    r = a.query("/* sluice: primary */ show datestyle")
    got.append(("primary", r.value if r.rows else r.describe()))
    t.ok(values(got) == ["ISO, YMD"], "A's DateStyle is 'ISO, YMD' on every later statement", f"got {got}")
    dates = [a.value("select '2024-03-05'::date::text") for _ in range(6)]
    t.ok(set(dates) == {"2024-03-05"}, "select '2024-03-05'::date::text gives 2024-03-05", f"got {dates}")
    wire.close_all(a, b)


with t.section("replay order: startup DateStyle, then SET datestyle TO iso; SET datestyle TO ymd"):
    replay_order_case("SET datestyle TO iso; SET datestyle TO ymd;")

with t.section("replay order, the SETs run on the primary (B uses only the primary)"):
    replay_order_case("/* sluice: primary */ SET datestyle TO iso; SET datestyle TO ymd;")

direct.close()
t.finish()
