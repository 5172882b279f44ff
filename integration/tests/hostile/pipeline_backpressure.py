#!/usr/bin/python3
"""Issue 15, item 1: large pipelines whose answers are large too. sluice must forward and relay at the
same time, with bounded buffers: a client that writes a 12 MiB and a 64 MiB pipeline (12 or 64 Binds
of a 1 MiB parameter to `select $1::text`, one Sync) while reading its answers gets all of them, as it
does directly; so does one of 200,000 Bind/Execute of `select 1`. Before, sluice wrote the whole batch
to the server without reading it, the server blocked on its answers, and nothing ever came back (the
server connection stuck for good). A reader thread reads while the main thread writes, as libpq does."""

import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

t = lib.Checks()


def cstr(text):
    return text.encode() + b"\0"


def parse(sql, types=()):
    return lib.message(b"P", cstr("") + cstr(sql) + struct.pack("!H", len(types)) +
                       b"".join(struct.pack("!I", x) for x in types))


def bind(params=()):
    body = cstr("") + cstr("") + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        body += struct.pack("!I", len(p)) + p
    return lib.message(b"B", body + struct.pack("!H", 0))


def execute():
    return lib.message(b"E", cstr("") + struct.pack("!I", 0))


def sync():
    return lib.message(b"S")


def pipeline(port, chunks, expect_rows, row_size, deadline):
    """Logs in, then writes `chunks` (bytes) from this thread while a reader thread reads. Returns
    (rows, bytes of row data, ready, errors, seconds, finished)."""
    raw = lib.RawClient(port=port, timeout=deadline)
    messages = raw.login("app", "app_pw")
    assert messages and messages[-1][0] == b"Z", f"login failed: {messages}"
    state = {"rows": 0, "row_bytes": 0, "ready": 0, "errors": [], "done": False}

    def reader():
        try:
            while True:
                m = raw.read_message()
                if m is None:
                    return
                kind, payload = m
                if kind == b"D":
                    state["rows"] += 1
                    state["row_bytes"] += len(payload)
                elif kind == b"E":
                    state["errors"].append(lib.error_fields(payload))
                elif kind == b"Z":
                    state["ready"] += 1
                    state["done"] = True
                    return
        except OSError as e:
            state["errors"].append({"M": f"read: {e}"})

    th = threading.Thread(target=reader, daemon=True)
    t0 = time.monotonic()
    th.start()
    try:
        for chunk in chunks:
            raw.sock.sendall(chunk)
    except OSError as e:
        state["errors"].append({"M": f"write: {e}"})
    th.join(deadline)
    seconds = time.monotonic() - t0
    raw.close()
    return state, seconds


for mib in (12, 64):
    with t.section(f"{mib} Binds of a 1 MiB parameter, one Sync ({mib} MiB each way)"):
        value = b"x" * (1 << 20)
        chunks = [parse("select $1::text", (25,))] + [bind([value]) + execute() for _ in range(mib)] + [sync()]
        direct, direct_s = pipeline(lib.PRIMARY, chunks, mib, 1 << 20, 120)
        lib.info(f"direct: {direct['rows']} rows in {direct_s:.2f} s")
        state, seconds = pipeline(lib.SLUICE, chunks, mib, 1 << 20, 120)
        t.ok(state["done"] and not state["errors"], f"through sluice the pipeline completes ({seconds:.2f} s)",
             f"{state['rows']} rows, errors {state['errors'][:2]}")
        t.eq(state["rows"], mib, f"all {mib} rows come back")
        t.ok(state["row_bytes"] >= mib * (1 << 20), "each row carries its 1 MiB value", state["row_bytes"])

with t.section("200,000 Bind/Execute of select 1, one Sync"):
    count = 200_000
    per = bind() + execute()
    body = [parse("select 1")] + [per * 1000 for _ in range(count // 1000)] + [sync()]
    direct, direct_s = pipeline(lib.PRIMARY, body, count, 0, 120)
    lib.info(f"direct: {direct['rows']} rows in {direct_s:.2f} s")
    state, seconds = pipeline(lib.SLUICE, body, count, 0, 120)
    t.ok(state["done"] and not state["errors"], f"through sluice the pipeline completes ({seconds:.2f} s)",
         f"{state['rows']} rows, errors {state['errors'][:2]}")
    t.eq(state["rows"], count, f"all {count} rows come back")

with t.section("sluice still serves everyone afterwards (no server connection stuck)"):
    conns = [lib.connect() for _ in range(10)]
    got = lib.concurrent(conns, lambda c: lib.value(c, "/* sluice: primary */ select 1"), 5)
    t.ok(got == [1] * 50, "50 statements from 10 clients on the primary all answered", got[:5])
    for c in conns:
        c.close()

t.finish()
