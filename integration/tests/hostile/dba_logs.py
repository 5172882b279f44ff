#!/usr/bin/python3
"""Issue 15, item 16: logs a DBA can use. A sluice of its own against the sandbox (2 workers,
limits.startup_timeout = 1s, an admin API):

- failed logins name the client address, say nothing of whether the user exists (a wrong password and
  an unknown user give the same line), and are rate limited per address: 30 failures in a burst give at
  most one line per worker, and the admin API counts all 30;
- clients that never finish their startup (slowloris) are counted and logged at most once per worker
  per 10 s;
- a client's connect and disconnect are logged at debug by default, at info with
  logging.connections = true;
- `sluice --check` warns when the admin API listens beyond loopback with a token under 16 characters."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

import psycopg2  # noqa: E402

SLUICE_BIN = os.environ.get("SLUICE_BIN") or os.path.join(lib.SOURCE_DIR, "build", "router", "sluice")
TOKEN = "dba-logs-test-token-0123456789"
FAILURES = 30
SLOW_CLIENTS = 12
WORKERS = 2

t = lib.Checks()


def config_text(port, admin_listen, token, connections=None):
    backends = "".join(
        f'\n[[backends]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {p}\nrole = "{role}"\n'
        for name, p, role in (("pg-primary", lib.PRIMARY, "primary"), ("pg-replica1", lib.R1, "replica"),
                              ("pg-replica2", lib.R2, "replica")))
    logging = "" if connections is None else f"connections = {'true' if connections else 'false'}\n"
    return f"""# written by integration/tests/hostile/dba_logs.py
listen = "127.0.0.1:{port}"
workers = {WORKERS}

[limits]
startup_timeout = "1s"

[logging]
level = "info"
{logging}
[health]
user = "sluice_ops"
password = "ops_pw"

[admin]
listen = "{admin_listen}"
token = "{token}"
{backends}
[[users]]
name = "app"
password = "app_pw"
"""


class OwnSluice:
    def __init__(self, work, name, connections=None):
        self.port = lib.free_port()
        self.admin_port = lib.free_port()
        self.config = os.path.join(work, f"{name}.toml")
        self.log_path = os.path.join(work, f"{name}.log")
        with open(self.config, "w") as f:
            f.write(config_text(self.port, f"127.0.0.1:{self.admin_port}", TOKEN, connections))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([SLUICE_BIN, "--config", self.config], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        ready = lib.poll(lambda: "listening on" in self.text() and len(re.findall(r"is reachable", self.text())) >= 3,
                         20)
        if not ready:
            raise RuntimeError(f"{name} did not start:\n{self.text()[-2000:]}")

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def status(self):
        request = urllib.request.Request(f"http://{lib.HOST}:{self.admin_port}/status",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    def login(self, user, password):
        return psycopg2.connect(host=lib.HOST, port=self.port, user=user, password=password, dbname="app",
                                connect_timeout=5, sslmode="disable")

    def stop(self):
        lib.stop_process(self.proc, 10)
        self.log.close()


work = os.path.join(lib.SANDBOX_DIR, f"dba-logs-{os.getpid()}")
os.makedirs(work, exist_ok=True)

with t.section("--check warns about an exposed admin API with a short token"):
    exposed = os.path.join(work, "exposed.toml")
    with open(exposed, "w") as f:
        f.write(config_text(lib.free_port(), f"0.0.0.0:{lib.free_port()}", "short"))
    r = subprocess.run([SLUICE_BIN, "--config", exposed, "--check"], capture_output=True, text=True, timeout=30)
    lib.info(f"--check: {r.stderr.strip()}")
    t.ok(r.returncode == 0, "the config is valid (a warning, not an error)", r.stderr)
    t.ok(re.search(r"warning: .*exposed\.toml:\d+:\d+: key 'admin\.listen': .*beyond loopback.*5 characters", r.stderr),
         "--check warns, naming file, line and key", r.stderr)
    with open(exposed, "w") as f:
        f.write(config_text(lib.free_port(), f"127.0.0.1:{lib.free_port()}", "short"))
    r = subprocess.run([SLUICE_BIN, "--config", exposed, "--check"], capture_output=True, text=True, timeout=30)
    t.ok(r.returncode == 0 and "warning" not in r.stderr, "no warning on loopback", r.stderr)

quiet = OwnSluice(work, "quiet")
try:
    with t.section("failed logins: the client's address, one line per address and 10 s"):
        before = quiet.text()
        t0 = time.monotonic()
        for i in range(FAILURES):
            user, password = ("app", "wrong") if i % 2 == 0 else ("nosuchuser", "whatever")
            try:
                quiet.login(user, password).close()
                t.ok(False, f"login {i} failed")
            except psycopg2.OperationalError as e:
                if i < 2:
                    lib.info(f"the client sees: {str(e).strip()}")
        took = time.monotonic() - t0
        lines = [l for l in quiet.text()[len(before):].splitlines() if "authentication failed" in l]
        for line in lines:
            lib.info(f"log: {line}")
        t.ok(1 <= len(lines) <= WORKERS, f"{FAILURES} failed logins in {took:.1f} s give {len(lines)} lines "
                                         f"(at most one per worker)", lines)
        t.ok(lines and all("client 127.0.0.1 " in l for l in lines), "each line names the client address", lines)
        t.ok(not any("exist" in l or "unknown" in l for l in lines),
             "no line says whether the user exists", lines)
        counters = quiet.status()["counters"]
        t.eq(counters.get("login_failures"), FAILURES, "the admin API counts every failed login")

    with t.section("startup timeouts: counted, logged at a rate limit"):
        before = quiet.text()
        socks = []
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection((lib.HOST, quiet.port))
            s.sendall(b"\x00\x00")  # two bytes of a length, then nothing
            socks.append(s)
        counted = lib.poll(lambda: quiet.status()["counters"].get("startup_timeouts") == SLOW_CLIENTS, 10, 0.2)
        t.ok(counted, f"the admin API counts {SLOW_CLIENTS} startup timeouts",
             quiet.status()["counters"].get("startup_timeouts"))
        for s in socks:
            s.close()
        lines = [l for l in quiet.text()[len(before):].splitlines() if "startup_timeout" in l]
        for line in lines:
            lib.info(f"log: {line}")
        t.ok(1 <= len(lines) <= WORKERS, f"{SLOW_CLIENTS} startup timeouts give {len(lines)} lines "
                                         "(at most one per worker per 10 s)", lines)

    with t.section("connect and disconnect at debug by default"):
        before = quiet.text()
        conn = quiet.login("app", "app_pw")
        conn.close()
        time.sleep(0.3)
        lines = [l for l in quiet.text()[len(before):].splitlines() if "connected as user" in l or "disconnected" in l]
        t.eq(lines, [], "no line for a client's connect or disconnect at level info")
finally:
    quiet.stop()

loud = OwnSluice(work, "loud", connections=True)
try:
    with t.section("logging.connections = true: connect and disconnect at info"):
        before = loud.text()
        conn = loud.login("app", "app_pw")
        conn.close()
        t.ok(lib.poll(lambda: "disconnected" in loud.text()[len(before):], 3), "the disconnect is logged")
        text = loud.text()[len(before):]
        t.ok(re.search(r"info.*client 127\.0\.0\.1:\d+ connected as user 'app'", text), "the connect is logged at info",
             text[-1000:])
finally:
    loud.stop()

t.finish()
