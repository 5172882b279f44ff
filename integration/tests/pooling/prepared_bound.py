"""Issue 10, item 11: server-side prepared statements are bounded per server connection
(pool.max_prepared_statements, 200 by default). A client that prepares ever new statement texts makes
sluice Close the least recently used ones on the server, and every statement still runs right when it
is executed again (prepared anew). Raw protocol: named Parse/Bind/Execute, user app_one (one server
connection per backend, so every statement lands on the same one)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
HINT = "/* sluice: primary */ "
COUNT = 260  # more than the default max_prepared_statements (200)


def run_named(s, name, extra=b""):
    s.send(extra + wire.bind(statement=name) + wire.execute() + wire.sync())
    return s.read()


with t.section("more distinct statements than max_prepared_statements, each executed twice"):
    s = wire.Session()
    wrong = []
    # Prepared (sluice answers named Parse+Sync itself) and executed once, in order.
    for i in range(COUNT):
        name = f"st{i}"
        s.send(wire.parse(f"{HINT}select {i}::int + 0 as v{i}", name=name) + wire.sync())
        r = s.read()
        if r.errors:
            wrong.append(f"parse {i}: {r.describe()}")
            break
        r = run_named(s, name)
        if r.errors or r.value != str(i):
            wrong.append(f"first run {i}: {r.describe()}")
    t.ok(not wrong, f"{COUNT} statements prepared and run once", wrong[:3])
    held = int(s.value(f"{HINT}select count(*) from pg_prepared_statements where name like 'sluice_%'"))
    t.ok(held <= 200, f"the server connection holds at most 200 of sluice's statements (holds {held})")
    t.ok(held >= 150, f"... and keeps most of them (holds {held}): eviction is one at a time")
    # The oldest were evicted: running them again prepares them anew, with the right results.
    wrong = []
    for i in list(range(0, 20)) + list(range(COUNT - 20, COUNT)):
        r = run_named(s, f"st{i}")
        if r.errors or r.value != str(i):
            wrong.append(f"second run {i}: {r.describe()}")
    t.ok(not wrong, "evicted and kept statements alike run right when executed again", wrong[:3])
    held = int(s.value(f"{HINT}select count(*) from pg_prepared_statements where name like 'sluice_%'"))
    t.ok(held <= 200, f"still at most 200 after re-preparing evicted ones (holds {held})")
    s.close()

t.finish()
