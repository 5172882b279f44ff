"""Issue 10, item 7: session pooling (app_session) never silently swaps a client's server connection.
Notifications reach an idle LISTENing client; when its server connection is terminated, the client is
told (FATAL 57P01 with the server's text) and disconnected, instead of its next statement running on a
new server connection without its session state."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
direct = lib.connect_node("primary")
TERMINATED = "terminating connection due to administrator command"


def on(channel, payload):
    return lambda r: any(n[1] == channel and n[2] == payload for n in r.notifications)


def listen_case(listen):
    a = wire.Session("app_session")
    pid = a.primary_pid()
    r = listen(a)
    t.ok(not r.errors and r.status == "I", "A: LISTEN ch7", r.describe())
    lib.query(direct, "NOTIFY ch7, 'hello'")
    got = a.idle(2.0, until=on("ch7", "hello"))
    t.ok(on("ch7", "hello")(got), f"A receives NOTIFY ch7 'hello' within 2 s without sending anything "
                                  f"({got.seconds:.2f} s)", got.describe())
    r = a.query("/* sluice: primary */ select pg_backend_pid()")
    t.ok(r.rows == [[str(pid)]], f"A's primary server connection is still pid {pid}", r.describe())
    lib.query(direct, "NOTIFY ch7, 'again'")
    got = a.idle(2.0, until=on("ch7", "again"))
    t.ok(on("ch7", "again")(got) or on("ch7", "again")(r), "A receives a second NOTIFY within 2 s", got.describe())
    a.close()


with t.section("session pooling: LISTEN (simple Query), notifications while idle"):
    listen_case(lambda a: a.query("LISTEN ch7"))

with t.section("session pooling: LISTEN (extended protocol), notifications while idle"):
    listen_case(lambda a: a.extended("LISTEN ch7"))


def fatal_57p01(messages):
    for t_, p in messages:
        if t_ == b"E":
            f = lib.error_fields(p)
            if f.get("S") == "FATAL" and f.get("C") == "57P01" and f.get("M") == TERMINATED:
                return f
    return None


with t.section("session pooling: a terminated server connection is reported, not replaced"):
    a = wire.Session("app_session")
    pid = a.primary_pid()
    r = a.query("/* sluice: primary */ select 1")
    t.ok(r.rows == [["1"]], "A ran a statement on the primary", r.describe())
    t.eq(lib.value(direct, "select pg_terminate_backend(%s)", (pid,)), True, f"terminate A's server pid {pid}")
    gone = lib.poll(lambda: not lib.value(direct, "select count(*) from pg_stat_activity where pid = %s", (pid,)), 5)
    t.ok(gone, f"server pid {pid} is gone")
    idle = a.idle(1.0, until=lambda res: res.errors)
    messages = list(idle.messages)
    answer = None
    if not idle.closed:
        try:
            a.send(wire.query("/* sluice: primary */ select pg_backend_pid()"))
            answer = a.read(5.0)
            messages += answer.messages
            if not answer.closed:
                messages += a.idle(3.0).messages
        except OSError as e:
            lib.info(f"sending after the kill: {e}")
    rows = [wire.data_row(p) for t_, p in messages if t_ == b"D"]
    lib.info(f"while idle: {idle.describe()}; answer: {answer.describe() if answer else '-'}")
    f = fatal_57p01(messages)
    t.ok(f is not None, f"A gets FATAL 57P01 {TERMINATED!r} (while idle or for its next statement)",
         "; ".join(wire.describe_fields(lib.error_fields(p)) for t_, p in messages if t_ == b"E") or "no error")
    t.ok(not rows, "A's next statement does not run on a new server connection", f"it returned {rows}")
    t.ok(a.closed, "then the connection closes")
    a.close()

direct.close()
t.finish()
