#!/usr/bin/python3
"""Issue 15, item 12: graceful shutdown and restart by hand-over. Each part runs sluices of its own (2
workers, logging.connections on) on a free port, configured from the sandbox's backends.

1. SIGTERM drains: a client in the middle of a transaction finishes it and commits; a statement in
   flight outside a transaction gets its answer; an idle client is told FATAL 57P01 "sluice is shutting
   down" at once, and a client whose transaction ends is told so right after its COMMIT's answer; no
   new connection is accepted meanwhile; sluice exits with status 0 once the last client has gone,
   well within shutdown_timeout.
2. shutdown_timeout cuts a transaction left open; a second SIGTERM cuts at once. Both exit 0.
3. Restart by hand-over: a second sluice started with the same config (same port, same admin port)
   binds beside the first (SO_REUSEPORT); then the first gets SIGTERM. A client mid-transaction on the
   old one commits; clients that reconnect and retry on 57P01 or a refused connection lose nothing; new
   connections made after the SIGTERM all reach the new process; the old one exits 0."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

import psycopg2  # noqa: E402

SLUICE_BIN = os.environ.get("SLUICE_BIN") or os.path.join(lib.SOURCE_DIR, "build", "router", "sluice")
TABLE = "it_graceful_shutdown"

t = lib.Checks()
work = os.path.join(lib.SANDBOX_DIR, f"graceful-shutdown-{os.getpid()}")
os.makedirs(work, exist_ok=True)


def write_config(name, port, admin_port, extra=""):
    backends = "".join(
        f'\n[[backends]]\nname = "{n}"\nhost = "127.0.0.1"\nport = {p}\nrole = "{role}"\n'
        for n, p, role in (("pg-primary", lib.PRIMARY, "primary"), ("pg-replica1", lib.R1, "replica"),
                           ("pg-replica2", lib.R2, "replica")))
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f"""# written by integration/tests/hostile/graceful_shutdown.py
listen = "127.0.0.1:{port}"
workers = 2
{extra}
[pool]
size = 8

[logging]
level = "info"
connections = true

[health]
user = "sluice_ops"
password = "ops_pw"

[admin]
listen = "127.0.0.1:{admin_port}"
token = "graceful-shutdown-test-token"
{backends}
[[users]]
name = "app"
password = "app_pw"
""")
    return path


class Proc:
    """One sluice process with its own log file."""

    def __init__(self, name, config):
        self.name = name
        self.log_path = os.path.join(work, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([SLUICE_BIN, "--config", config], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        ready = lib.poll(lambda: self.proc.poll() is not None or (
            "listening on" in self.text() and len(re.findall(r"is reachable", self.text())) >= 3), 20)
        if not ready or self.proc.poll() is not None:
            raise RuntimeError(f"{name} did not start (status {self.proc.poll()}):\n{self.text()[-3000:]}")
        lib.info(f"{name}: pid {self.proc.pid}")

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, number=signal.SIGTERM):
        self.proc.send_signal(number)

    def wait(self, timeout):
        """Exit status, or None when still running after `timeout` seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def connect(port, **kwargs):
    conn = psycopg2.connect(host=lib.HOST, port=port, user="app", password="app_pw", dbname="app",
                            connect_timeout=5, sslmode="disable", **kwargs)
    conn.autocommit = True
    return conn


def raw_idle_client(port):
    c = lib.RawClient(port)
    messages = c.login("app", "app_pw")
    if not messages or messages[-1][0] != b"Z":
        raise RuntimeError(f"raw login failed: {messages}")
    return c


def shutdown_error(messages):
    e = lib.first_error(messages)
    return e is not None and e.get("C") == "57P01" and e.get("S") == "FATAL" and "shutting down" in e.get("M", "")


def is_shutdown(e):
    return e is not None and (getattr(e, "pgcode", None) == "57P01" or "sluice is shutting down" in str(e))


def refused(port):
    """True when a TCP connection to `port` is refused (nobody listens)."""
    try:
        with socket.create_connection((lib.HOST, port), timeout=2):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    except OSError:
        return False


def committed_rows(tag):
    conn = lib.connect_node("primary")
    try:
        return lib.value(conn, f"select count(*) from {TABLE} where tag = %s", (tag,))
    finally:
        conn.close()


setup = lib.connect_node("primary")
lib.query(setup, f"drop table if exists {TABLE}")
lib.query(setup, f"create table {TABLE} (id serial primary key, tag text, n int)")
lib.query(setup, f"grant all on {TABLE} to app")
lib.query(setup, f"grant all on sequence {TABLE}_id_seq to app")
setup.close()

procs = []
try:
    with t.section("1. SIGTERM drains: transactions and statements in flight finish, idle clients get 57P01"):
        port, admin_port = lib.free_port(), lib.free_port()
        s = Proc("drain", write_config("drain", port, admin_port))
        procs.append(s)
        in_tx = connect(port)
        in_tx.autocommit = False
        cur = in_tx.cursor()
        cur.execute(f"insert into {TABLE} (tag, n) values ('drain', 1)")
        idle = raw_idle_client(port)
        raw_tx = raw_idle_client(port)
        raw_tx.send(lib.message(b"Q", b"begin\0"))
        begun = [raw_tx.read_message(), raw_tx.read_message()]
        if begun[-1] != (b"Z", b"T"):
            raise RuntimeError(f"BEGIN: {begun}")
        in_flight = connect(port)
        flight_result = {}

        def run_in_flight():
            try:
                flight_result["value"] = lib.value(in_flight, "select 42 from pg_sleep(1.5)")
            except psycopg2.Error as e:
                flight_result["error"] = e

        flight = threading.Thread(target=run_in_flight)
        flight.start()
        time.sleep(0.3)  # the statement is on the server
        signalled = time.monotonic()
        s.signal()

        messages, closed, took = idle.read_until_closed(3)
        t.ok(shutdown_error(messages) and closed,
             f"an idle client is told FATAL 57P01 'sluice is shutting down' and closed ({took:.2f} s)",
             messages)
        idle.close()
        t.ok(lib.poll(lambda: refused(port), 2), "no new connection is accepted after SIGTERM")
        t.ok(s.proc.poll() is None, "sluice still runs while a transaction is open")

        cur.execute(f"insert into {TABLE} (tag, n) values ('drain', 2)")
        cur.execute("select pg_sleep(0.5)")
        in_tx.commit()
        t.eq(committed_rows("drain"), 2, "the client mid-transaction finished and committed both rows")
        # libpq reads the FATAL that follows the COMMIT's answer as a notice (printed on stderr) and
        # reports the next statement as "server closed the connection", as with PostgreSQL's fast shutdown.
        e = lib.error_of(lambda: cur.execute("select 1"))
        t.ok(isinstance(e, psycopg2.OperationalError), "its next statement fails: the session has ended",
             lib.describe_error(e))
        in_tx.close()

        raw_tx.send(lib.message(b"Q", f"insert into {TABLE} (tag, n) values ('drain-raw', 1)\0".encode()))
        raw_tx.send(lib.message(b"Q", b"commit\0"))
        messages, closed, took = raw_tx.read_until_closed(3)
        types = [m[0] for m in messages]
        t.eq(types, [b"C", b"Z", b"C", b"Z", b"E"], "a transaction open at SIGTERM runs on: INSERT, COMMIT answered")
        t.ok(messages[-1:] and shutdown_error(messages[-1:]) and closed and messages[3] == (b"Z", b"I"),
             "right after its COMMIT's ReadyForQuery (idle) the client is told FATAL 57P01 and closed", messages)
        raw_tx.close()
        t.eq(committed_rows("drain-raw"), 1, "... and its row is committed")

        flight.join(10)
        t.eq(flight_result.get("value"), 42, "a statement in flight at SIGTERM got its answer")
        e = lib.error_of(lambda: lib.value(in_flight, "select 1"))
        t.ok(isinstance(e, psycopg2.OperationalError), "that client's next statement fails: the session has ended",
             lib.describe_error(e))
        in_flight.close()

        status = s.wait(10)
        took = time.monotonic() - signalled
        t.eq(status, 0, "sluice exits with status 0")
        t.ok(took < 10, f"... {took:.1f} s after SIGTERM, once the last client left (shutdown_timeout 30 s)")
        t.ok("every client has gone" in s.text(), "the log says the drain finished", s.text()[-1500:])

    with t.section("2. shutdown_timeout cuts a transaction left open; a second SIGTERM cuts at once"):
        port, admin_port = lib.free_port(), lib.free_port()
        s = Proc("timeout", write_config("timeout", port, admin_port, 'shutdown_timeout = "2s"\n'))
        procs.append(s)
        stuck = connect(port)
        stuck.autocommit = False
        stuck.cursor().execute(f"insert into {TABLE} (tag, n) values ('timeout', 1)")
        signalled = time.monotonic()
        s.signal()
        status = s.wait(8)
        took = time.monotonic() - signalled
        t.eq(status, 0, "sluice exits with status 0 when shutdown_timeout passes")
        t.ok(1.8 <= took < 4, f"... at shutdown_timeout (2 s): {took:.2f} s")
        t.ok(re.search(r"shutdown_timeout passed.*1 clients still connected are cut", s.text()),
             "the log says one client was cut", s.text()[-1500:])
        stuck.close()
        t.eq(committed_rows("timeout"), 0, "the cut transaction did not commit")

        port, admin_port = lib.free_port(), lib.free_port()
        s = Proc("twice", write_config("twice", port, admin_port))
        procs.append(s)
        stuck = connect(port)
        stuck.autocommit = False
        stuck.cursor().execute("select 1")
        s.signal()
        time.sleep(0.5)
        t.ok(s.proc.poll() is None, "after one SIGTERM sluice waits for the open transaction")
        signalled = time.monotonic()
        s.signal()
        status = s.wait(5)
        t.eq(status, 0, f"a second SIGTERM stops it at once ({time.monotonic() - signalled:.2f} s), status 0")
        stuck.close()

    with t.section("3. restart by hand-over: start a new sluice on the same port, then SIGTERM the old"):
        port, admin_port = lib.free_port(), lib.free_port()
        config = write_config("handover", port, admin_port)
        old = Proc("handover-old", config)
        procs.append(old)
        stop = threading.Event()
        stats = {"ops": 0, "retries": 0, "lost": 0, "errors": []}
        lock = threading.Lock()

        def retrying_client(index, persistent):
            """Inserts rows one by one; on 57P01 or a failed connection, reconnects and retries the same
            row (up to 20 times, 50 ms apart). A row that never gets in is lost."""
            conn = None
            n = 0
            while not stop.is_set():
                n += 1
                for attempt in range(20):
                    try:
                        if conn is None:
                            conn = connect(port)
                        lib.query(conn, f"insert into {TABLE} (tag, n) values (%s, %s)", (f"client{index}", n))
                        break
                    except psycopg2.Error as e:
                        with lock:
                            stats["retries"] += 1
                            if not is_shutdown(e):
                                # e.g. a connection the kernel had queued on the old listener, reset when
                                # it closed (docs/operations.md): retried like the others.
                                stats["errors"].append(lib.describe_error(e))
                        try:
                            if conn is not None:
                                conn.close()
                        except psycopg2.Error:
                            pass
                        conn = None
                        time.sleep(0.05)
                else:
                    with lock:
                        stats["lost"] += 1
                with lock:
                    stats["ops"] += 1
                if not persistent and conn is not None:
                    conn.close()
                    conn = None
                time.sleep(0.01)
            if conn is not None:
                conn.close()

        clients = [threading.Thread(target=retrying_client, args=(i, i % 2 == 0)) for i in range(6)]
        for c in clients:
            c.start()
        in_tx = connect(port)
        in_tx.autocommit = False
        cur = in_tx.cursor()
        cur.execute(f"insert into {TABLE} (tag, n) values ('handover-tx', 1)")
        time.sleep(1)

        new = Proc("handover-new", config)
        procs.append(new)
        t.ok(True, "a second sluice with the same config (same port and admin port) starts beside the first")
        time.sleep(0.5)
        old.signal()
        # Logins the old process accepted just before closing its listener finish within milliseconds;
        # from then on, every new connection must reach the new process.
        time.sleep(0.5)
        signalled_at = len(old.text())
        served = 0
        for _ in range(10):
            conn = connect(port)
            served += lib.value(conn, "select 1")
            conn.close()
        t.ok(served == 10 and old.proc.poll() is None,
             f"while the old process drains, new clients are served ({served} of 10)")
        time.sleep(0.5)
        cur.execute(f"insert into {TABLE} (tag, n) values ('handover-tx', 2)")
        in_tx.commit()
        in_tx.close()
        t.eq(committed_rows("handover-tx"), 2, "a client mid-transaction on the old process finished and committed")
        status = old.wait(10)
        t.eq(status, 0, "the old process exits 0 once its clients have gone")
        after = old.text()[signalled_at:]
        t.eq(len(re.findall(r"connected as user", after)), 0,
             "the old process logged in no client during its drain: new connections went to the new one")
        time.sleep(1)
        stop.set()
        for c in clients:
            c.join(30)
        lib.info(f"hand-over: {stats['ops']} rows, {stats['retries']} retries, {stats['lost']} lost, "
                 f"errors other than 57P01 (retried): {len(stats['errors'])}, e.g. {stats['errors'][:1]}")
        t.ok(stats["ops"] > 50, f"the clients kept working through the hand-over ({stats['ops']} rows)")
        t.eq(stats["lost"], 0, "no client that retries lost a row")
        t.ok(new.proc.poll() is None, "the new process serves on")
        conn = connect(port)
        t.eq(lib.value(conn, "select 1"), 1, "a new client is served by the new process")
        conn.close()
        t.eq(new.text().count("connected as user") > 0, True, "the new process served clients")
finally:
    for p in procs:
        if p.proc.poll() is None:
            p.signal()
            p.signal()
            if p.wait(10) is None:
                p.kill()
        p.kill()

t.finish()
