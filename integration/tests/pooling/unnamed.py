"""Issue 10, item 2: the unnamed prepared statement belongs to the client that parsed it, across
batches: another client's unnamed Parse on the shared server connection in between must not change
what A binds or describes, and a client that parsed none gets 26000. Also psql's \\gdesc (Parse of the
unnamed statement, then Describe in a second batch) from many psql processes at once."""

import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
HINT = "/* sluice: primary */ "  # both clients' statements on the primary: the connection they share


def parse_alone(s, sql):
    s.send(wire.parse(sql) + wire.sync())
    return s.read()


def ok_parse(r):
    return not r.errors and r.status == "I" and r.messages[0][0] == b"1"


with t.section("unnamed statement across batches: Bind/Execute runs A's own statement"):
    a, b, pid = wire.shared_pair()
    lib.info(f"A and B share primary server connection pid {pid}")
    for label, prefix in (("primary hint", HINT), ("no hint", "")):
        for i in range(5 if prefix == "" else 3):
            ra = parse_alone(a, prefix + "select 'A'")
            rb = parse_alone(b, prefix + "select 'B'")
            a.send(wire.bind() + wire.execute() + wire.sync())
            r = a.read()
            t.ok(ok_parse(ra) and ok_parse(rb) and r.rows == [["A"]] and not r.errors,
                 f"{label} #{i + 1}: A: Parse('', select 'A'), Sync; B: Parse('', select 'B'), Sync; "
                 f"A: Bind, Execute, Sync returns 'A'", f"A got {r.describe()}")
    wire.close_all(a, b)

with t.section("unnamed statement across batches: Describe('S', '') describes A's own statement"):
    a, b, pid = wire.shared_pair()
    for label, prefix in (("primary hint", HINT), ("no hint", "")):
        for i in range(5 if prefix == "" else 3):
            ra = parse_alone(a, prefix + "select 1 as a_col")
            rb = parse_alone(b, prefix + "select 1 as b_col")
            a.send(wire.describe("S") + wire.sync())
            r = a.read()
            t.ok(ok_parse(ra) and ok_parse(rb) and r.columns == ["a_col"] and not r.errors,
                 f"{label} #{i + 1}: A's Describe('S', '') after B's Parse shows a_col",
                 f"columns={r.columns!r}; {r.describe()}")
    wire.close_all(a, b)

with t.section("binding an unnamed statement the client never parsed gives 26000"):
    a, c, pid = wire.shared_pair()
    ra = parse_alone(a, HINT + "select 'A'")
    c.send(wire.bind() + wire.execute() + wire.sync())
    r = c.read()
    t.ok(ok_parse(ra) and r.sqlstate == "26000" and not r.rows and r.status == "I",
         "C (shares A's connection, parsed nothing): Bind('') + Execute gets ERROR 26000, not A's 'A'",
         r.describe())
    c.send(wire.describe("S") + wire.sync())
    r = c.read()
    t.ok(r.sqlstate == "26000" and not r.columns, "C: Describe('S', '') gets ERROR 26000, not A's columns",
         f"columns={r.columns!r}; {r.describe()}")
    a.send(wire.bind() + wire.execute() + wire.sync())
    r = a.read()
    t.ok(r.rows == [["A"]], "A: its own unnamed statement still runs afterwards", r.describe())
    fresh = wire.Session()
    fresh.send(wire.bind() + wire.execute() + wire.sync())
    r = fresh.read()
    t.ok(r.sqlstate == "26000" and not r.rows, "a new client's Bind('') gets ERROR 26000", r.describe())
    wire.close_all(a, c, fresh)

with t.section("psql \\gdesc from 12 psql processes at once"):
    rounds = 15
    env = dict(os.environ, PGPASSWORD=lib.PASSWORDS["app_one"], PGCONNECT_TIMEOUT="5")
    results = {}

    def run_psql(n):
        script = "".join(f"select {n} as col{n} \\gdesc\n" for _ in range(rounds))
        try:
            p = subprocess.run(["psql", "-X", "-At", "-h", lib.HOST, "-p", str(lib.SLUICE), "-U", "app_one",
                                "-d", "app", "-v", "ON_ERROR_STOP=1"], input=script, capture_output=True,
                               text=True, env=env, timeout=40)
            results[n] = (p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            results[n] = (None, e.stdout or "", "timed out")

    threads = [threading.Thread(target=run_psql, args=(n,)) for n in range(1, 13)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    bad = []
    for n in range(1, 13):
        rc, out, err = results.get(n, (None, "", "no result"))
        lines = out.splitlines()
        if rc != 0 or err.strip() or lines != [f"col{n}|integer"] * rounds:
            wrong = sorted({line for line in lines if line != f"col{n}|integer"})
            bad.append(f"psql {n}: rc={rc} stderr={err.strip()[:200]!r} {len(lines)} lines, other lines {wrong[:5]}")
    t.ok(not bad, f"12 psql x {rounds} \\gdesc: every one succeeds and shows its own column", "; ".join(bad))

t.finish()
