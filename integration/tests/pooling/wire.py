"""Extended-protocol encoders and a raw client session for the pooling tests: Parse/Bind/Describe/
Execute/Sync/Close messages, reading until ReadyForQuery (rows, errors, notifications), waiting for
what a server sends an idle client, and pairing app_one clients that share a server connection."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

CANCEL_REQUEST = 80877102


def cstr(text):
    return text.encode() + b"\0"


# ---------------------------------------------------------------------------------------------------
# Frontend messages

def query(sql):
    return lib.message(b"Q", cstr(sql))


def parse(sql, name="", types=()):
    return lib.message(b"P", cstr(name) + cstr(sql) + struct.pack("!H", len(types)) +
                       b"".join(struct.pack("!I", t) for t in types))


def bind(portal="", statement="", params=()):
    """Text-format parameters (None is NULL), text-format results."""
    body = cstr(portal) + cstr(statement) + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            data = p.encode() if isinstance(p, str) else p
            body += struct.pack("!i", len(data)) + data
    return lib.message(b"B", body + struct.pack("!H", 0))


def describe(kind, name=""):
    return lib.message(b"D", kind.encode() + cstr(name))


def execute(portal="", max_rows=0):
    return lib.message(b"E", cstr(portal) + struct.pack("!I", max_rows))


def close(kind, name=""):
    return lib.message(b"C", kind.encode() + cstr(name))


def sync():
    return lib.message(b"S")


def flush():
    return lib.message(b"H")


def unnamed(sql, params=()):
    """One statement as libpq's PQexecParams sends it: unnamed Parse, Bind, Describe portal, Execute, Sync."""
    return parse(sql) + bind("", "", params) + describe("P") + execute() + sync()


def cancel_request(process_id, secret_key):
    return struct.pack("!IIII", 16, CANCEL_REQUEST, process_id, secret_key)


# ---------------------------------------------------------------------------------------------------
# Backend messages

def row_description(payload):
    count = struct.unpack("!H", payload[:2])[0]
    names, at = [], 2
    for _ in range(count):
        end = payload.index(b"\0", at)
        names.append(payload[at:end].decode())
        at = end + 1 + 18
    return names


def data_row(payload):
    count = struct.unpack("!H", payload[:2])[0]
    values, at = [], 2
    for _ in range(count):
        length = struct.unpack("!i", payload[at:at + 4])[0]
        at += 4
        if length < 0:
            values.append(None)
        else:
            values.append(payload[at:at + length].decode("utf-8", "replace"))
            at += length
    return values


def notification(payload):
    pid = struct.unpack("!I", payload[:4])[0]
    channel, rest = payload[4:].split(b"\0", 1)
    return pid, channel.decode(), rest.split(b"\0", 1)[0].decode()


def describe_fields(fields):
    if fields is None:
        return "no error"
    return f"{fields.get('S')} {fields.get('C')} {fields.get('M')!r}" + (
        f" detail={fields.get('D')!r}" if fields.get("D") else "")


class Result:
    """What came back for one request (up to its ReadyForQuery, or until the connection closed)."""

    def __init__(self):
        self.messages = []
        self.rows = []           # DataRow values (lists of str or None)
        self.columns = []        # names of the last RowDescription
        self.errors = []         # ErrorResponse fields (dicts)
        self.notifications = []  # (pid, channel, payload)
        self.tags = []           # CommandComplete tags
        self.status = None       # ReadyForQuery status of the last one: 'I', 'T', 'E'
        self.ready = 0           # ReadyForQuery messages seen
        self.closed = False      # the peer closed the connection
        self.timed_out = False   # the deadline passed first
        self.seconds = 0.0

    def add(self, t, p):
        self.messages.append((t, p))
        if t == b"D":
            self.rows.append(data_row(p))
        elif t == b"T":
            self.columns = row_description(p)
        elif t == b"E":
            self.errors.append(lib.error_fields(p))
        elif t == b"A":
            self.notifications.append(notification(p))
        elif t == b"C":
            self.tags.append(p.rstrip(b"\0").decode())
        elif t == b"Z":
            self.ready += 1
            self.status = p.decode()

    @property
    def error(self):
        return self.errors[0] if self.errors else None

    @property
    def sqlstate(self):
        return self.errors[0].get("C") if self.errors else None

    @property
    def value(self):
        """The first column of the first row (None without rows)."""
        return self.rows[0][0] if self.rows and self.rows[0] else None

    def describe(self):
        if self.timed_out:
            state = "no answer in time"
        elif self.closed:
            state = "connection closed"
        else:
            state = f"ready {self.status}"
        return (f"rows={self.rows!r} errors=[{'; '.join(describe_fields(e) for e in self.errors)}] "
                f"notifications={self.notifications!r} {state}")


class Session:
    """A raw client connection through sluice (or to any port), logged in."""

    def __init__(self, user="app_one", password=None, port=None, extra=None, timeout=10.0):
        self.user = user
        self.raw = lib.RawClient(port or lib.SLUICE, timeout=timeout)
        self.key = None
        self.parameters = {}
        messages = self.raw.login(user, password if password is not None else lib.PASSWORDS.get(user),
                                  extra=extra)
        for t, p in messages:
            if t == b"K":
                self.key = struct.unpack("!II", p[:8])
            elif t == b"S":
                name, value = p.split(b"\0")[:2]
                self.parameters[name.decode()] = value.decode()
        error = lib.first_error(messages)
        if error is not None or not messages or messages[-1][0] != b"Z":
            self.raw.close()
            raise RuntimeError(f"login of {user} failed: {describe_fields(error)}")
        self.closed = False

    def send(self, data):
        self.raw.send(data)

    def read(self, timeout=10.0, ready=1, into=None):
        """Reads until `ready` ReadyForQuery messages came, the connection closed or `timeout` passed;
        `into`: continue a Result that timed out."""
        result = into if into is not None else Result()
        result.timed_out = False
        t0 = time.monotonic() - result.seconds
        deadline = t0 + timeout
        while result.ready < ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = True
                break
            self.raw.sock.settimeout(remaining)
            try:
                m = self.raw.read_message()
            except socket.timeout:
                result.timed_out = True
                break
            except (ConnectionResetError, BrokenPipeError):
                m = None
            if m is None:
                result.closed = True
                self.closed = True
                break
            result.add(*m)
        result.seconds = time.monotonic() - t0
        return result

    def idle(self, seconds, until=None):
        """Sends nothing; collects what arrives within `seconds` (stops early once until(result) holds)."""
        result = Result()
        t0 = time.monotonic()
        deadline = t0 + seconds
        while True:
            if until is not None and until(result):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = True
                break
            self.raw.sock.settimeout(remaining)
            try:
                m = self.raw.read_message()
            except socket.timeout:
                result.timed_out = True
                break
            except (ConnectionResetError, BrokenPipeError):
                m = None
            if m is None:
                result.closed = True
                self.closed = True
                break
            result.add(*m)
        result.seconds = time.monotonic() - t0
        return result

    def query(self, sql, timeout=10.0):
        self.send(query(sql))
        return self.read(timeout)

    def extended(self, sql, params=(), timeout=10.0):
        self.send(unnamed(sql, params))
        return self.read(timeout)

    def value(self, sql, timeout=10.0):
        """The single value of a simple Query; raises with the answer when it failed."""
        r = self.query(sql, timeout)
        if r.errors or r.status is None or not r.rows:
            raise RuntimeError(f"{sql!r} failed: {r.describe()}")
        return r.value

    def primary_pid(self):
        return int(self.value("/* sluice: primary */ select pg_backend_pid()"))

    def cancel(self, port=None):
        """Sends a CancelRequest with the key this session got, on a connection of its own."""
        s = socket.create_connection((lib.HOST, port or lib.SLUICE), timeout=5)
        try:
            s.sendall(cancel_request(*self.key))
            s.settimeout(2)
            try:
                s.recv(1)
            except (socket.timeout, OSError):
                pass
        finally:
            s.close()

    def close(self):
        if not self.closed:
            try:
                self.raw.send(lib.message(b"X"))
            except OSError:
                pass
        self.raw.close()
        self.closed = True


def partner(a, user="app_one", count=6):
    """A session of `user` that shares a's primary server connection (same pg_backend_pid()), or None;
    the other sessions opened to find it are closed."""
    pid = a.primary_pid()
    for _ in range(count):
        s = Session(user)
        if s.primary_pid() == pid:
            return s
        s.close()
    return None


def shared_pairs(count=6, user="app_one", extra=None):
    """Opens `count` sessions and groups them by the primary server connection they use (its
    pg_backend_pid()): sluice's pools are per worker today, so only sessions the kernel put on the same
    worker share one. Returns a list of groups (lists of sessions, largest first); sessions alone in
    their group are closed."""
    sessions = [Session(user, extra=extra) for _ in range(count)]
    groups = {}
    for s in sessions:
        groups.setdefault(s.primary_pid(), []).append(s)
    result = []
    for pid, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        if len(members) >= 2:
            result.append(members)
        else:
            for s in members:
                s.close()
    return result


def shared_pair(user="app_one", count=6, extra=None):
    """Two sessions that share a primary server connection (A, B, that backend's pid); extra sessions
    are closed. Raises if none of `count` sessions share one."""
    for _ in range(3):
        groups = shared_pairs(count, user, extra)
        if groups:
            a, b, *rest = groups[0]
            for g in groups[1:]:
                rest += g
            for s in rest:
                s.close()
            pid = a.primary_pid()
            return a, b, pid
    raise RuntimeError(f"none of {count} {user} sessions shared a primary server connection (3 tries)")


def close_all(*sessions):
    for s in sessions:
        if s is not None:
            s.close()


def probe(a, b, sql, wait=1.0, timeout=10.0):
    """B runs `sql` while A (holding session state) is still connected. B may have to wait for the
    server connection A is pinned to (app_one has one per backend): when no answer came within `wait`
    seconds, A leaves, and B's answer must follow within `timeout`. Returns (B's Result, whether A left
    before B's answer)."""
    b.send(query(sql))
    r = b.read(wait)
    if not r.timed_out:
        return r, False
    a.close()
    return b.read(timeout, into=r), True
