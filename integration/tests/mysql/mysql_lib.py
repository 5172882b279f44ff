"""Shared helpers of the MySQL-protocol integration tests: the MariaDB sandbox's ports and users (from
`mariadb_sandbox.sh env`), PyMySQL connections to a node, the mariadb CLI, a sluice with its own config
in front of a sandbox, TAP-style checks."""

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager

import pymysql

SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MARIADB_SANDBOX_SH = os.path.join(SOURCE_DIR, "integration", "mariadb_sandbox.sh")


def parse_env(text):
    """The `export NAME=value` lines `mariadb_sandbox.sh env` (and start) print, as a dict."""
    env = {}
    for line in text.splitlines():
        m = re.match(r"export (\w+)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
    return env


def _sandbox_env():
    return parse_env(subprocess.run(["bash", MARIADB_SANDBOX_SH, "env"], check=True, capture_output=True,
                                    text=True).stdout)


ENV = _sandbox_env()
HOST = "127.0.0.1"
NODE_PORTS = {"primary": int(ENV["MARIADB_PRIMARY_PORT"]), "replica1": int(ENV["MARIADB_REPLICA1_PORT"]),
              "replica2": int(ENV["MARIADB_REPLICA2_PORT"])}
REPLICA_NODES = ("replica1", "replica2")
DATABASE = ENV["MARIADB_DATABASE"]
PASSWORDS = {ENV["MARIADB_APP_USER"]: ENV["MARIADB_APP_PASSWORD"], ENV["MARIADB_ED_USER"]: ENV["MARIADB_ED_PASSWORD"],
             ENV["MARIADB_PROBE_USER"]: ENV["MARIADB_PROBE_PASSWORD"]}
APP_USER = ENV["MARIADB_APP_USER"]
ED_USER = ENV["MARIADB_ED_USER"]
PROBE_USER = ENV["MARIADB_PROBE_USER"]

# MariaDB error numbers the tests expect (include/mysqld_error.h).
ER_ACCESS_DENIED_ERROR = 1045
ER_OPTION_PREVENTS_STATEMENT = 1290  # "The MariaDB server is running with the --read-only option ..."


def connect_node(node, user=APP_USER, database=DATABASE, **kwargs):
    """A PyMySQL connection over TCP straight to a sandbox node (autocommit on)."""
    params = dict(host=HOST, port=NODE_PORTS[node], user=user, password=PASSWORDS[user], database=database,
                  connect_timeout=5, autocommit=True)
    params.update(kwargs)
    return pymysql.connect(**params)


def query(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description is not None else None


def value(conn, sql, args=None):
    rows = query(conn, sql, args)
    return rows[0][0] if rows else None


def mariadb_cli(port, user, password, sql, database=DATABASE):
    """The mariadb CLI over TCP (no option files), batch mode without headers: (exit status, stdout, stderr)."""
    proc = subprocess.run(["mariadb", "--no-defaults", "--protocol=TCP", "-h", HOST, "-P", str(port), "-u", user,
                           f"-p{password}", "-N", "-B", "-D", database, "-e", sql],
                          capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def error_of(fn):
    """Runs fn; returns the PyMySQL error it raised (None if it raised nothing)."""
    try:
        fn()
    except pymysql.MySQLError as e:
        return e
    return None


def errno_of(e):
    return e.args[0] if e is not None and e.args and isinstance(e.args[0], int) else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def native_hash(password):
    """mysql_native_password's stored hash, as in mysql.user: "*" and SHA1(SHA1(password)) in hex."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def start_sluice(workdir, mysql_port, limits="", pool="size = 4", app_user="", node_ports=None, mysql=""):
    """Starts SLUICE_BIN with a config of its own in workdir: [mysql] on mysql_port in front of the sandbox's
    three nodes (node_ports: {"primary": port, "replica1": ..., "replica2": ...}; the default sandbox's if
    None). limits: extra TOML sections (e.g. "[limits]\n..."), pool: the [pool] keys, app_user: extra keys
    of the app user's [[mysql.users]] entry (e.g. "pool_size = 4"), mysql: extra [mysql] keys. Returns the process once the port
    accepts connections; its log is sluice-<port>.log in workdir."""
    ports = node_ports or NODE_PORTS
    # sluice needs a PostgreSQL section too; its backend is never used here (port 1: nothing listens).
    config = f"""
listen = "127.0.0.1:{free_port()}"
workers = 2
[pool]
{pool}
{limits}
[[backends]]
name = "pg"
host = "127.0.0.1"
port = 1
role = "primary"
[[users]]
name = "app"
password = "x"
[mysql]
listen = "127.0.0.1:{mysql_port}"
{mysql}
[[mysql.backends]]
name = "primary"
host = "127.0.0.1"
port = {ports['primary']}
role = "primary"
[[mysql.backends]]
name = "replica1"
host = "127.0.0.1"
port = {ports['replica1']}
[[mysql.backends]]
name = "replica2"
host = "127.0.0.1"
port = {ports['replica2']}
[[mysql.users]]
name = "{APP_USER}"
password = "{PASSWORDS[APP_USER]}"
{app_user}
[[mysql.users]]
name = "hashed"
password_hash = "{native_hash('hashed_pw')}"
server_user = "{APP_USER}"
server_password = "{PASSWORDS[APP_USER]}"
"""
    path = os.path.join(workdir, f"sluice-{mysql_port}.toml")
    with open(path, "w") as f:
        f.write(config)
    log_path = os.path.join(workdir, f"sluice-{mysql_port}.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([os.environ["SLUICE_BIN"], "--config", path], stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log_path
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", mysql_port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sluice did not start: " + open(log_path).read())


def stop_sluice(proc):
    """SIGTERM, then waits (SIGKILL after 20 s). Returns the exit status: 0 is a clean stop (under ASan, also
    no leak)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode


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

    def error(self, fn, errnos, what):
        """fn must raise a PyMySQL error whose MySQL error number is one of `errnos`. Returns the error."""
        e = error_of(fn)
        self.ok(errno_of(e) in errnos, what, f"want error {sorted(errnos)}, got {e!r}")
        return e

    @contextmanager
    def section(self, name):
        """A named group of checks. An exception fails it and is printed; the next sections still run."""
        print(f"# --- {name}", flush=True)
        t0 = time.monotonic()
        try:
            yield
        except Exception:  # a failed step fails the section, the other sections still run
            self.failed += 1
            print(f"not ok - {name}: unexpected exception", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        print(f"# ({name}: {time.monotonic() - t0:.2f} s)", flush=True)

    def finish(self):
        print(f"# {self.passed} passed, {self.failed} failed in {time.monotonic() - self.t0:.1f} s", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)
