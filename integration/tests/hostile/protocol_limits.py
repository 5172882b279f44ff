#!/usr/bin/python3
"""Issue 15, item 4: a Parse with 32,768 to 65,535 parameter types. PostgreSQL reads the count as
unsigned; sluice read it as a signed 16-bit integer and refused the message as malformed (FATAL
08P01). Through sluice the answer must be what the server itself gives."""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

t = lib.Checks()


def cstr(text):
    return text.encode() + b"\0"


def run(port, count):
    raw = lib.RawClient(port=port, timeout=20)
    messages = raw.login("app", "app_pw")
    assert messages and messages[-1][0] == b"Z", f"login failed: {messages}"
    parse = lib.message(b"P", cstr("") + cstr("select $1::int + 1") + struct.pack("!H", count) +
                        struct.pack("!I", 23) * count)
    value = b"41"
    bind = lib.message(b"B", cstr("") + cstr("") + struct.pack("!H", 0) + struct.pack("!H", 1) +
                       struct.pack("!I", len(value)) + value + struct.pack("!H", 0))
    raw.send(parse + bind + lib.message(b"E", cstr("") + struct.pack("!I", 0)) + lib.message(b"S"))
    rows, errors, ready = [], [], False
    while True:
        m = raw.read_message()
        if m is None:
            break
        kind, payload = m
        if kind == b"D":
            length = struct.unpack("!I", payload[2:6])[0]
            rows.append(payload[6:6 + length].decode())
        elif kind == b"E":
            errors.append(lib.error_fields(payload).get("C"))
        elif kind == b"Z":
            ready = True
            break
    raw.close()
    return rows, errors, ready


for count in (32768, 40000, 65535):
    with t.section(f"Parse with {count} parameter types"):
        direct = run(lib.PRIMARY, count)
        through = run(lib.SLUICE, count)
        lib.info(f"direct: {direct}")
        t.ok(through[2], f"{count} types: sluice answers with ReadyForQuery (no FATAL 08P01)", through)
        t.eq(through, direct, f"{count} types: the same answer as the server's own")

t.finish()
