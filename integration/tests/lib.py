"""Shared helpers of the Python integration tests: the sandbox's ports (from sandbox.sh env), connections
through sluice and straight to a node, TAP-style checks, polling with a deadline, and a small hand-made
PostgreSQL protocol client for what drivers hide (SQLSTATEs of failed logins, malformed messages)."""

import base64
import hashlib
import hmac
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager

import psycopg2
import psycopg2.errors

SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SANDBOX_SH = os.path.join(SOURCE_DIR, "integration", "sandbox.sh")


def _sandbox_env():
    out = subprocess.run(["bash", SANDBOX_SH, "env"], check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        m = re.match(r"export (\w+)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
    return env


ENV = _sandbox_env()
PRIMARY = int(ENV["PRIMARY_PORT"])
R1 = int(ENV["REPLICA1_PORT"])
R2 = int(ENV["REPLICA2_PORT"])
REPLICAS = {R1, R2}
SLUICE = int(ENV["SLUICE_PORT"])
SANDBOX_DIR = ENV["SANDBOX_DIR"]
LOG_DIR = ENV["LOG_DIR"]
SLUICE_LOG = os.path.join(LOG_DIR, "sluice.log")
HOST = "127.0.0.1"
NODE_PORTS = {"primary": PRIMARY, "replica1": R1, "replica2": R2}

PASSWORDS = {"app": "app_pw", "md5user": "md5_pw", "plainuser": "plain_pw", "trustuser": None,
             "app_one": "one_pw", "app_session": "session_pw"}


def port_name(port):
    return {PRIMARY: "primary", R1: "replica1", R2: "replica2"}.get(port, f"port {port}")


def connect(user="app", dbname="app", autocommit=True, **kwargs):
    """A psycopg2 connection through sluice."""
    params = dict(host=HOST, port=SLUICE, user=user, dbname=dbname, connect_timeout=5, sslmode="disable")
    if PASSWORDS.get(user):
        params["password"] = PASSWORDS[user]
    params.update(kwargs)
    conn = psycopg2.connect(**params)
    conn.autocommit = autocommit
    return conn


def connect_node(node, dbname="app", autocommit=True):
    """A psycopg2 connection straight to a sandbox node, as the postgres superuser (trust on loopback)."""
    conn = psycopg2.connect(host=HOST, port=NODE_PORTS[node], user="postgres", dbname=dbname,
                            connect_timeout=5, sslmode="disable")
    conn.autocommit = autocommit
    return conn


def query(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description is not None else None


def one(conn, sql, args=None):
    rows = query(conn, sql, args)
    assert rows is not None and len(rows) == 1, f"expected one row from {sql!r}, got {rows!r}"
    return rows[0]


def value(conn, sql, args=None):
    return one(conn, sql, args)[0]


def sandbox(*args, timeout=60):
    """Runs integration/sandbox.sh with the given arguments (stop-node, start-node...)."""
    t0 = time.monotonic()
    r = subprocess.run(["bash", SANDBOX_SH, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"sandbox.sh {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    info(f"sandbox.sh {' '.join(args)}: {time.monotonic() - t0:.2f} s")
    return r.stdout


def poll(fn, timeout, interval=0.05):
    """Calls fn until it returns something truthy or `timeout` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def free_port():
    """A TCP port on HOST that nothing listens on now (for a sluice a test starts itself)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def stop_process(proc, timeout):
    """SIGTERM to `proc` if it still runs; SIGKILL when it has not exited `timeout` seconds later."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_for_replica_reads(timeout=10):
    """Until sluice has fresh probes it sends reads to the primary (docs/scoring.md: an unknown replica
    is not a candidate). A test that runs right after sluice starts waits for that to end."""
    conn = connect()
    try:
        if not poll(lambda: value(conn, "select inet_server_port()") in REPLICAS, timeout, 0.1):
            raise RuntimeError(f"sluice sent no read to a replica within {timeout} s")
    finally:
        conn.close()


def concurrent(conns, fn, rounds):
    """Calls fn(conn) `rounds` times on each connection, all connections at once (a thread each), and
    returns every result. Statements in flight at once are what makes sluice's replica scoring (cost =
    latency x (in flight + 1)) spread reads over the replicas; one client reading alone may be served
    by the same, cheaper, replica every time."""
    results, errors = [], []

    def run(conn):
        try:
            for _ in range(rounds):
                results.append(fn(conn))
        except Exception as e:  # reported to the caller
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return results


class Crowd:
    """Background clients, each on its own connection, calling check(conn, index) in a loop until the
    `with` block ends: load that moves every client's statements among server connections and replicas.
    check returns None when all is well, else a description of a problem; problems and exceptions are
    collected in .problems, completed calls counted in .runs."""

    def __init__(self, count, check, connect_args=lambda i: {}):
        self.check = check
        self.conns = [connect(**connect_args(i)) for i in range(count)]
        self.stop = threading.Event()
        self.runs = 0
        self.problems = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def _run(self, index):
        conn = self.conns[index]
        while not self.stop.is_set():
            try:
                problem = self.check(conn, index)
            except Exception as e:  # recorded: the test asserts there were none
                problem = f"{type(e).__name__}: {str(e).strip()}"
            if problem:
                self.problems.append(f"client {index}: {problem}")
            self.runs += 1
            if conn.closed:
                return

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join(10)
        for c in self.conns:
            c.close()
        return False


def sluice_pid():
    with open(os.path.join(SANDBOX_DIR, "sluice.pid")) as f:
        return int(f.read().strip())


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def log_size():
    try:
        return os.path.getsize(SLUICE_LOG)
    except FileNotFoundError:
        return 0


def log_since(offset):
    with open(SLUICE_LOG, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def wait_for_replicas(sql, want, timeout=10):
    """Polls `sql` straight on both replicas (as postgres) until each returns `want` (an undefined table
    counts as not yet): a precondition, for tests that then read through sluice from either replica."""
    conns = [connect_node("replica1"), connect_node("replica2")]

    def both():
        for c in conns:
            try:
                if value(c, sql) != want:
                    return False
            except psycopg2.errors.UndefinedTable:
                return False
        return True

    try:
        if not poll(both, timeout):
            raise RuntimeError(f"the replicas did not return {want!r} for {sql!r} within {timeout} s")
    finally:
        for c in conns:
            c.close()


def wait_for_replay(timeout=10):
    """Until both replicas have replayed everything the primary has written so far (its WAL insert
    position, compared with each replica's pg_last_wal_replay_lsn()): a precondition. The insert
    position, not pg_current_wal_lsn(): with synchronous_commit = off (which a test may set) a commit
    can sit in WAL buffers, past the write position, for up to wal_writer_delay."""
    with_primary = connect_node("primary")
    try:
        lsn = value(with_primary, "select pg_current_wal_insert_lsn()::text")
    finally:
        with_primary.close()
    wait_for_replicas(f"select pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn", True, timeout)


def streaming_replicas():
    """How many replicas stream from the primary (0 when the primary cannot be reached)."""
    try:
        c = connect_node("primary", dbname="postgres")
    except psycopg2.OperationalError:
        return 0
    try:
        return value(c, "select count(*) from pg_stat_replication where state = 'streaming'")
    finally:
        c.close()


def info(msg):
    print(f"# {msg}", flush=True)


def error_of(fn):
    """Runs fn; returns the psycopg2 error it raised (None if it raised nothing)."""
    try:
        fn()
    except psycopg2.Error as e:
        return e
    return None


def describe_error(e):
    if e is None:
        return "no error"
    msg = (e.pgerror or str(e)).strip().replace("\n", " | ")
    return f"{type(e).__name__} sqlstate={e.pgcode} {msg!r}"


class Checks:
    """TAP-style results: ok(condition, what) prints a line; sections turn exceptions into failures."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.t0 = time.monotonic()

    def ok(self, condition, what, detail=None):
        if condition:
            self.passed += 1
            print(f"ok - {what}", flush=True)
        else:
            self.failed += 1
            print(f"not ok - {what}" + (f": {detail}" if detail is not None else ""), flush=True)
        return bool(condition)

    def eq(self, got, want, what):
        return self.ok(got == want, what, f"want {want!r}, got {got!r}")

    def error(self, fn, sqlstates, what, message=None):
        """fn must raise a psycopg2 error whose SQLSTATE is one of `sqlstates` (and whose text contains
        `message`, when given). Returns the error."""
        e = error_of(fn)
        good = e is not None and e.pgcode in sqlstates
        if message is not None:
            good = good and message in str(e)
        self.ok(good, what, f"want SQLSTATE in {sorted(sqlstates)}" +
                (f" with {message!r}" if message else "") + f", got {describe_error(e)}")
        return e

    @contextmanager
    def section(self, name, conn=None):
        """A named group of checks. An exception fails it and is printed; the next sections still run
        (after a ROLLBACK on `conn`, in case the failure left a transaction open)."""
        print(f"# --- {name}", flush=True)
        t0 = time.monotonic()
        try:
            yield
        except Exception:  # a failed step fails the section, the other sections still run
            self.failed += 1
            print(f"not ok - {name}: unexpected exception", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            if conn is not None and not conn.closed:
                try:
                    with conn.cursor() as cur:
                        cur.execute("rollback")
                except psycopg2.Error:
                    pass
        print(f"# ({name}: {time.monotonic() - t0:.2f} s)", flush=True)

    def finish(self):
        print(f"# {self.passed} passed, {self.failed} failed in {time.monotonic() - self.t0:.1f} s", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


# ---------------------------------------------------------------------------------------------------
# A minimal PostgreSQL protocol v3 client over a raw socket.

PROTOCOL_V3 = 3 << 16
SSL_REQUEST = 80877103


def startup_packet(params, code=PROTOCOL_V3):
    body = struct.pack("!I", code)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def message(type_byte, payload=b""):
    return type_byte + struct.pack("!I", len(payload) + 4) + payload


def error_fields(payload):
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


class RawClient:
    """Speaks the protocol by hand. read_message() returns (type, payload), or None at EOF."""

    def __init__(self, port=None, timeout=10.0):
        self.sock = socket.create_connection((HOST, port or SLUICE), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_byte(self):
        while not self.buf:
            if not self._fill():
                return None
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_message(self):
        while len(self.buf) < 5:
            if not self._fill():
                return None
        length = struct.unpack("!I", self.buf[1:5])[0]
        while len(self.buf) < 1 + length:
            if not self._fill():
                return None
        msg_type, payload = self.buf[:1], self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return msg_type, payload

    def read_until_closed(self, timeout):
        """Reads messages until the peer closes. Returns (messages, closed, seconds): closed is False
        if the connection was still open after `timeout` seconds."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        messages = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return messages, False, time.monotonic() - t0
            self.sock.settimeout(remaining)
            try:
                m = self.read_message()
            except socket.timeout:
                return messages, False, time.monotonic() - t0
            except ConnectionResetError:
                return messages, True, time.monotonic() - t0
            if m is None:
                return messages, True, time.monotonic() - t0
            messages.append(m)

    def login(self, user, password=None, database="app", extra=None):
        """Startup and authentication (trust, cleartext, md5 or SCRAM-SHA-256). Returns the messages up
        to ReadyForQuery, or up to the connection's end when it fails (an ErrorResponse among them)."""
        params = {"user": user, "database": database}
        params.update(extra or {})
        self.send(startup_packet(params))
        messages = []
        scram = None
        while True:
            m = self.read_message()
            if m is None:
                return messages
            messages.append(m)
            t, p = m
            if t == b"Z" or t == b"E":
                return messages
            if t != b"R":
                continue
            code = struct.unpack("!I", p[:4])[0]
            if code == 3:  # cleartext
                self.send(message(b"p", (password or "").encode() + b"\0"))
            elif code == 5:  # md5
                salt = p[4:8]
                inner = hashlib.md5(((password or "") + user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + salt).hexdigest()
                self.send(message(b"p", b"md5" + outer.encode() + b"\0"))
            elif code == 10:  # SASL: mechanisms
                scram = _Scram(password or "")
                first = scram.client_first()
                self.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first))
            elif code == 11:  # SASLContinue
                self.send(message(b"p", scram.client_final(p[4:])))
            # 12 SASLFinal and 0 Ok: keep reading

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class _Scram:
    """Client side of SCRAM-SHA-256 (RFC 5802/7677), without channel binding, as libpq sends it."""

    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"

    def client_first(self):
        return ("n,," + self.first_bare).encode()

    def client_final(self, server_first):
        text = server_first.decode()
        attrs = dict(item.split("=", 1) for item in text.split(","))
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        without_proof = f"c=biws,r={attrs['r']}"
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = f"{self.first_bare},{text},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def first_error(messages):
    """The fields of the first ErrorResponse among (type, payload) messages, or None."""
    for t, p in messages:
        if t == b"E":
            return error_fields(p)
    return None
