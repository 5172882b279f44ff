"""Issue 10, item 3: a CancelRequest never lands on another client's query. A's cancel is sent just as
A's short query completes, while B waits for the same server connection (app_one: one per backend and
worker) to run a longer one; B must never get 57014. A's cancel of its own long query still works."""

import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402
import wire  # noqa: E402

t = lib.Checks()
rng = random.Random(10)

with t.section("A's cancel cancels A's own long query"):
    a = wire.Session()
    a.send(wire.query("/* sluice: primary */ select pg_sleep(5)"))
    time.sleep(0.3)  # let it start; the assertion below is on the answer and its time
    t0 = time.monotonic()
    a.cancel()
    r = a.read(4.0)
    took = time.monotonic() - t0
    t.ok(r.sqlstate == "57014" and took < 2.0 and r.status == "I",
         f"A gets 57014 within 2 s of its CancelRequest ({took:.2f} s)", r.describe())
    r = a.query("select 1")
    t.ok(r.rows == [["1"]], "A carries on afterwards", r.describe())
    a.close()

with t.section("a late cancel from A never cancels B's query on the shared connection"):
    a, b, pid = wire.shared_pair()
    lib.info(f"A and B share primary server connection pid {pid}")
    short = "/* sluice: primary */ select pg_sleep(0.02)"
    times = []
    for _ in range(5):
        t0 = time.monotonic()
        r = a.query(short)
        times.append(time.monotonic() - t0)
    took = sorted(times)[len(times) // 2]
    lib.info(f"A's short query takes {took * 1000:.1f} ms")
    rounds, a_cancelled, b_cancelled, b_other = 40, 0, 0, []
    t_start = time.monotonic()
    for i in range(rounds):
        t0 = time.monotonic()
        a.send(wire.query(short))
        time.sleep(0.004)
        b.send(wire.query("/* sluice: primary */ select pg_sleep(0.5), 'B'"))  # queued for A's connection
        # The cancel leaves between 7 ms before and 1 ms after A's expected completion.
        at = t0 + took + rng.uniform(-0.007, 0.001)
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        a.cancel()
        ra = a.read(5.0)
        rb = b.read(5.0)
        if ra.sqlstate == "57014":
            a_cancelled += 1
        if rb.sqlstate == "57014":
            b_cancelled += 1
            lib.info(f"round {i + 1}: B's query was cancelled: {rb.describe()}")
        elif rb.rows != [["", "B"]] or rb.status != "I":
            b_other.append(f"round {i + 1}: {rb.describe()}")
        if ra.timed_out or ra.closed:
            b_other.append(f"round {i + 1}: A: {ra.describe()}")
    lib.info(f"{rounds} rounds in {time.monotonic() - t_start:.1f} s: A's own query cancelled in {a_cancelled}")
    t.ok(b_cancelled == 0, f"B never gets 57014 from A's cancel ({rounds} rounds)",
         f"B cancelled in {b_cancelled} of {rounds} rounds")
    t.ok(not b_other, "B's query otherwise returns its row every round", "; ".join(b_other[:5]))
    wire.close_all(a, b)

t.finish()
