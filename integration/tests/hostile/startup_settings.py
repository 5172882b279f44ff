#!/usr/bin/python3
"""Issue 15, item 5: a startup parameter the server refuses (an unknown name, foo=bar, or a bad value,
work_mem=notanumber). sluice accepted the login, then failed every query with "08006 backend ... is
unavailable: could not restore session settings" while opening a new server connection per query. Now
the session ends once, at its first statement, with the server's own error (42704, 22023) as FATAL,
and no server connection is spent on it: the replay runs in one implicit transaction, so the
connection goes back to the pool unharmed."""

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

t = lib.Checks()


def connects():
    """Server connections opened so far for database app, user app (admin API, GET /pools)."""
    req = urllib.request.Request(f"http://127.0.0.1:{lib.ENV['SLUICE_ADMIN_PORT']}/pools",
                                 headers={"Authorization": f"Bearer {lib.ENV['SLUICE_ADMIN_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        pools = json.loads(r.read().decode())["pools"]
    return sum(p["connects"] for p in pools if p["database"] == "app" and p["user"] == "app")


def query(sql):
    return lib.message(b"Q", sql.encode() + b"\0")


for name, value, sqlstate in (("foo", "bar", "42704"), ("work_mem", "notanumber", "22023")):
    with t.section(f"startup parameter {name}={value}"):
        before = connects()
        raw = lib.RawClient(timeout=20)
        login = raw.login("app", "app_pw", extra={name: value})
        logged_in = bool(login) and login[-1][0] == b"Z"
        messages = []
        closed = True
        if logged_in:
            for _ in range(3):  # three statements: the first ends the session, the rest find it closed
                try:
                    raw.send(query("select 1"))
                except OSError:
                    break
                got, closed, _ = raw.read_until_closed(5)
                messages += got
                if closed:
                    break
        else:
            messages = login
        raw.close()
        errors = [lib.error_fields(p) for kind, p in messages if kind == b"E"]
        lib.info(f"{name}={value}: logged in {logged_in}; errors {[(e.get('S'), e.get('C'), e.get('M')) for e in errors]}")
        t.ok(len(errors) == 1, "exactly one error reaches the client", f"{len(errors)} errors")
        if errors:
            t.eq((errors[0].get("S"), errors[0].get("C")), ("FATAL", sqlstate), "it is FATAL with the server's SQLSTATE")
            t.ok(name in errors[0].get("M", "") or value in errors[0].get("M", ""),
                 "the message is the server's, naming the setting or value", errors[0].get("M"))
        t.ok(closed, "the session is closed after it")
        t.ok(not [kind for kind, _ in messages if kind == b"Z"] or not logged_in,
             "no ReadyForQuery after the FATAL")
        spent = connects() - before
        # The login itself may open the pool's first connection, and the statement one to the replica it
        # reads on; none is closed and reopened for it.
        t.ok(spent <= 2, f"no server connection is spent on the refused settings ({spent} opened)")
        t.eq(lib.value(lib.connect(), "select 1"), 1, "other clients are unaffected")

t.finish()
