"""Malformed client input over raw sockets: garbage, absurd or invalid lengths, a startup packet that
never completes, unknown message types, protocol 2.0. Each bad client gets a protocol error (or is
just closed) and is disconnected, while a well-behaved psycopg2 client keeps running SELECT 1 without
a single error, and sluice survives."""

import struct
import threading

import psycopg2

from lib import (PROTOCOL_V3, SSL_REQUEST, Checks, RawClient, connect, error_fields, info,
                 message, pid_alive, sluice_pid, startup_packet, value)

t = Checks()


class Bystander(threading.Thread):
    """A well-behaved client running SELECT 1 in a loop on one connection."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.queries = 0
        self.errors = []

    def run(self):
        try:
            conn = connect()
        except psycopg2.Error as e:
            self.errors.append(f"connect: {e}")
            return
        while not self.stop.is_set():
            try:
                if value(conn, "select 1") != 1:
                    self.errors.append("SELECT 1 returned something else")
                self.queries += 1
            except psycopg2.Error as e:
                self.errors.append(str(e).strip())
                if conn.closed:
                    return
        conn.close()


def check_refused(what, messages, closed, sqlstates):
    """The answer to bad input: the connection is closed, and whatever came back is one ErrorResponse
    with a SQLSTATE from `sqlstates`."""
    t.ok(closed, f"{what}: connection closed")
    types = [m[0] for m in messages]
    if not messages:
        t.ok(True, f"{what}: closed without an answer")
        return None
    fields = error_fields(messages[0][1]) if types[0] == b"E" else {}
    t.ok(types == [b"E"] and fields.get("C") in sqlstates,
         f"{what}: ErrorResponse with SQLSTATE in {sorted(sqlstates)}", f"types {types}, fields {fields}")
    info(f"{what}: {fields.get('S')} {fields.get('C')} {fields.get('M')!r}")
    return fields


def logged_in_client():
    raw = RawClient()
    messages = raw.login("trustuser")
    assert messages and messages[-1][0] == b"Z", f"trust login by hand failed: {messages}"
    return raw


bystander = Bystander()
bystander.start()
pid = sluice_pid()

# (c) runs in the background from the start: it takes startup_timeout (10 s) to be closed.
stalled = {}


def stall():
    raw = RawClient(timeout=20)
    raw.send(struct.pack("!I", 100) + struct.pack("!I", PROTOCOL_V3) + b"user\0tru")  # 100 announced, 15 sent
    stalled["result"] = raw.read_until_closed(15)
    raw.close()


staller = threading.Thread(target=stall)
staller.start()

with t.section("(a) garbage instead of a startup packet"):
    raw = RawClient()
    raw.send(b"GET / HTTP/1.1\r\nHost: sluice\r\n\r\n")  # length field "GET " = 1.2 GB
    check_refused("HTTP request", *raw.read_until_closed(5)[:2], {"08P01", "0A000"})
    raw.close()
    raw = RawClient()
    raw.send(bytes(range(256)) * 4)  # length field 0x00010203: longer than a startup packet may be
    check_refused("bytes 0..255", *raw.read_until_closed(5)[:2], {"08P01", "0A000"})
    raw.close()
    raw = RawClient()
    raw.send(struct.pack("!II", 16, 0xDEADBEEF) + b"\xff" * 8)  # sane length, nonsense protocol
    check_refused("protocol 0xdead.0xbeef", *raw.read_until_closed(5)[:2], {"08P01", "0A000"})
    raw.close()
    raw = RawClient()
    raw.send(struct.pack("!I", 3))  # shorter than the length field itself
    check_refused("length 3", *raw.read_until_closed(5)[:2], {"08P01", "0A000"})
    raw.close()

with t.section("(b) a startup packet of length 0x7fffffff"):
    raw = RawClient()
    raw.send(struct.pack("!II", 0x7FFFFFFF, PROTOCOL_V3))
    fields = check_refused("length 0x7fffffff", *raw.read_until_closed(5)[:2], {"08P01"})
    # PostgreSQL logs "invalid length of startup packet" and sends nothing (a COMMERROR); so does sluice.
    t.ok(fields is None, "length 0x7fffffff: closed without an answer, as PostgreSQL does", fields)
    raw.close()

with t.section("(d) a Query whose length field is 2^30"):
    raw = logged_in_client()
    raw.send(b"Q" + struct.pack("!I", 2**30) + b"select 1\0")
    fields = check_refused("Query of 1 GiB", *raw.read_until_closed(5)[:2], {"08P01"})
    t.ok(fields is not None and fields.get("S") == "FATAL", "Query of 1 GiB: FATAL sent", fields)
    raw.close()

with t.section("(e) a message whose length field is 2"):
    raw = logged_in_client()
    raw.send(b"Q" + struct.pack("!I", 2) + b"select 1\0")
    fields = check_refused("length 2", *raw.read_until_closed(5)[:2], {"08P01"})
    t.ok(fields is not None, "length 2: an ErrorResponse was sent")
    raw.close()

with t.section("(f) an unknown message type"):
    raw = logged_in_client()
    raw.send(message(b"Y", b"what is this\0"))
    fields = check_refused("type 'Y'", *raw.read_until_closed(5)[:2], {"08P01"})
    t.ok(fields is not None, "type 'Y': an ErrorResponse was sent")
    raw.close()
    raw = logged_in_client()
    raw.send(message(b"Q", b"select 1"))  # no terminating NUL
    check_refused("Query without its NUL", *raw.read_until_closed(5)[:2], {"08P01"})
    raw.close()

with t.section("(g) protocol version 2.0"):
    raw = RawClient()
    raw.send(startup_packet({"user": "trustuser", "database": "app"}, code=2 << 16))
    fields = check_refused("protocol 2.0", *raw.read_until_closed(5)[:2], {"0A000"})
    t.ok(fields is not None, "protocol 2.0: an ErrorResponse was sent")
    raw.close()

with t.section("good input over a raw socket still works"):
    raw = RawClient()
    raw.send(struct.pack("!II", 8, SSL_REQUEST))
    t.eq(raw.read_byte(), b"N", "SSLRequest is answered 'N'")
    messages = raw.login("trustuser")
    t.ok(messages and messages[-1][0] == b"Z", "then a trust login by hand reaches ReadyForQuery")
    raw.send(message(b"Q", b"select 41 + 1\0"))
    answer = []
    while not answer or answer[-1][0] != b"Z":
        answer.append(raw.read_message())
    types = b"".join(m[0] for m in answer)
    t.eq(types, b"TDCZ", "a simple Query gets RowDescription, DataRow, CommandComplete, ReadyForQuery")
    data_row = answer[1][1]
    t.eq(data_row[6:], b"42", "the DataRow holds 42")
    raw.send(message(b"X"))
    t.ok(raw.read_until_closed(5)[1], "Terminate closes the connection")
    raw.close()

with t.section("(c) a startup packet that never completes"):
    staller.join(20)
    messages, closed, seconds = stalled.get("result", ([], False, 0))
    info(f"the stalled client was closed after {seconds:.1f} s")
    t.ok(closed and seconds < 15, f"closed within 15 s ({seconds:.1f} s)")
    t.ok(seconds > 5, "not before the startup timeout came close (10 s)", f"{seconds:.1f} s")
    if messages:
        check_refused("stalled startup", messages, closed, {"08P01"})

with t.section("other clients were unaffected; sluice is alive"):
    bystander.stop.set()
    bystander.join(10)
    info(f"the bystander ran {bystander.queries} queries")
    t.ok(bystander.queries > 0 and not bystander.errors, f"the bystander ran {bystander.queries} SELECT 1 without error",
         f"errors {bystander.errors[:3]}")
    t.ok(pid_alive(pid), f"sluice (pid {pid}) is alive")
    t.eq(sluice_pid(), pid, "and was not restarted")
    conn = connect()
    t.eq(value(conn, "select 1"), 1, "a new client connects and queries")
    conn.close()

t.finish()
