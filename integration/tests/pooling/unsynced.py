"""A client that leaves in the middle of an extended batch (Parse/Bind/Execute/Flush, no Sync): the
server is still inside that batch's implicit transaction (docs 55.2.3), so its server connection must
not serve anyone else. Before, it was pooled as clean and the next borrower's first Query committed
the departed client's INSERT."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
MARK = 424242

with t.section("an INSERT without its Sync is never committed by the next borrower"):
    direct = lib.connect_node("primary")
    lib.query(direct, f"delete from pgbench_history where delta = {MARK}")
    a = wire.Session()
    sql = ("/* sluice: primary */ insert into pgbench_history (tid, bid, aid, delta, mtime) "
           f"values (0, 0, 0, {MARK}, now())")
    a.send(wire.parse(sql) + wire.bind() + wire.execute() + wire.flush())
    r = a.idle(5, until=lambda res: any(m[0] in (b"C", b"E") for m in res.messages))
    t.ok(any(m[0] == b"C" for m in r.messages), "A's INSERT ran (CommandComplete after Flush)", r.describe())
    a.close()  # leaves without Sync: the server's implicit transaction is still open
    others = [wire.Session() for _ in range(4)]
    for s in others:
        for _ in range(3):
            s.value("/* sluice: primary */ select 1")
            s.value(f"/* sluice: primary */ select count(*) from pgbench_history where delta = {MARK}")
    wire.close_all(*others)
    time.sleep(0.2)
    t.eq(lib.value(direct, f"select count(*) from pgbench_history where delta = {MARK}"), 0,
         "the departed client's INSERT is not committed")
    lib.query(direct, f"delete from pgbench_history where delta = {MARK}")
    direct.close()

t.finish()
