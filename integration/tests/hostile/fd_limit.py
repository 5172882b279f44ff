#!/usr/bin/python3
"""Issue 15, item 10: file-descriptor exhaustion. A sluice of its own runs under `prlimit --nofile=200:200`
against the sandbox (2 workers, pool size 8, 3 backends). It must fit limits.max_client_connections
(default 20,000) to the open-file limit at start, with one log line: 200 - (3 x 8 server connections
+ 2 per backend + 4 per worker + 32) = 130. Then, with 250 clients logging in at once, the first 130
are served and every other one is refused at once with 53300 instead of hanging in the backlog, with
no accept error at all; once clients leave, a new one is served.

Then the hard limit is lowered under the running process (prlimit --pid, to 100), so that descriptors
do run out before the client limit: accept() fails with EMFILE. Clients beyond must still get 53300
(sluice gives up a spare descriptor to take and refuse them) rather than hang, the log has at most a
line per worker per 10 s about it, and sluice serves a new client once others close."""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

import psycopg2  # noqa: E402

SLUICE_BIN = os.environ.get("SLUICE_BIN") or os.path.join(lib.SOURCE_DIR, "build", "router", "sluice")
OPEN_FILES = 200
EXPECTED_LIMIT = OPEN_FILES - (3 * 8 + 3 * 2 + 2 * 4 + 32)
CLIENTS = 250
LOWERED = 100
CONNECT_TIMEOUT = 10  # a client left in the backlog fails with a timeout: the bug

t = lib.Checks()


def write_config(path, port):
    backends = "".join(
        f'\n[[backends]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {p}\nrole = "{role}"\n'
        for name, p, role in (("pg-primary", lib.PRIMARY, "primary"), ("pg-replica1", lib.R1, "replica"),
                              ("pg-replica2", lib.R2, "replica")))
    with open(path, "w") as f:
        f.write(f"""# written by integration/tests/hostile/fd_limit.py
listen = "127.0.0.1:{port}"
workers = 2

[pool]
size = 8

[logging]
level = "info"

[health]
user = "sluice_ops"
password = "ops_pw"
{backends}
[[users]]
name = "app"
password = "app_pw"
""")


def login(port):
    """('ok', conn) or ('refused', message) or ('error', message)."""
    try:
        conn = psycopg2.connect(host=lib.HOST, port=port, user="app", password="app_pw", dbname="app",
                                connect_timeout=CONNECT_TIMEOUT, sslmode="disable")
        return "ok", conn
    except psycopg2.OperationalError as e:
        text = str(e).strip()
        if "too many client connections" in text or "out of file descriptors" in text:
            return "refused", text
        return "error", text


def storm(port, count):
    """`count` clients logging in at once; returns (connections, refused messages, other errors, seconds)."""
    results = [None] * count
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, login(port))) for i in range(count)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(CONNECT_TIMEOUT + 20)
    took = time.monotonic() - t0
    conns = [r[1] for r in results if r and r[0] == "ok"]
    refused = [r[1] for r in results if r and r[0] == "refused"]
    errors = [r[1] if r else "no answer" for r in results if not r or r[0] == "error"]
    return conns, refused, errors, took


def accept_error_lines(text):
    return len(re.findall(r"accept failed", text))


def served(port):
    kind, conn = login(port)
    if kind != "ok":
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("select 41 + 1")
            return cur.fetchone()[0] == 42
    finally:
        conn.close()


work = os.path.join(lib.SANDBOX_DIR, f"fd-limit-{os.getpid()}")
os.makedirs(work, exist_ok=True)
port = lib.free_port()
config = os.path.join(work, "sluice.toml")
log_path = os.path.join(work, "sluice.log")
write_config(config, port)
log = open(log_path, "wb")
proc = subprocess.Popen(["prlimit", f"--nofile={OPEN_FILES}:{OPEN_FILES}", SLUICE_BIN, "--config", config],
                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def log_text():
    with open(log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


conns = []
try:
    ready = lib.poll(lambda: "listening on" in log_text() and len(re.findall(r"is reachable", log_text())) >= 3, 20)
    t.ok(ready, "sluice starts under prlimit --nofile=200:200", log_text()[-2000:])

    with t.section("the client limit fits the open-file limit"):
        m = re.search(r"max_client_connections lowered from (\d+) to (\d+)", log_text())
        t.ok(m is not None, "one log line says max_client_connections was lowered", log_text()[-2000:])
        if m:
            lib.info(m.group(0))
            t.eq(int(m.group(2)), EXPECTED_LIMIT, "lowered to the open-file limit minus the reserve")
        t.eq(len(re.findall(r"max_client_connections lowered", log_text())), 1, "said once")

    with t.section(f"{CLIENTS} clients at once"):
        conns, refused, errors, took = storm(port, CLIENTS)
        lib.info(f"{len(conns)} served, {len(refused)} refused, {len(errors)} other errors in {took:.1f} s; "
                 f"first refusal: {refused[:1]}; other errors: {errors[:3]}")
        t.eq(len(conns), EXPECTED_LIMIT, "clients up to the limit are served")
        t.eq(len(refused), CLIENTS - EXPECTED_LIMIT, "every other client is refused with 53300")
        t.eq(errors, [], "no client hangs or gets another error")
        t.eq(accept_error_lines(log_text()), 0, "no accept error: descriptors never ran out")
        for c in conns[:10]:
            c.close()
        conns = conns[10:]
        t.ok(lib.poll(lambda: served(port), 5), "once clients leave, a new one is served")

    with t.section(f"descriptors run out: the hard limit lowered to {LOWERED} under the running process"):
        for c in conns:
            c.close()
        conns = []
        time.sleep(0.5)
        subprocess.run(["prlimit", "--pid", str(proc.pid), f"--nofile={LOWERED}:{LOWERED}"], check=True)
        before = accept_error_lines(log_text())
        t0 = time.monotonic()
        conns, refused, errors, took = storm(port, 150)
        lib.info(f"{len(conns)} served, {len(refused)} refused, {len(errors)} other errors in {took:.1f} s; "
                 f"refusals: {sorted(set(refused))[:2]}; other errors: {errors[:3]}")
        t.ok(0 < len(conns) < 100, f"some clients are served ({len(conns)}), not all")
        t.eq(errors, [], "the others are refused with 53300: none hangs in the backlog or gets another error")
        t.ok(any("out of file descriptors" in r for r in refused),
             "some were refused for want of descriptors (accept failed with EMFILE)")
        time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
        lines = accept_error_lines(log_text()) - before
        seconds = time.monotonic() - t0
        lib.info(f"accept-error log lines: {lines} in {seconds:.1f} s")
        t.ok(1 <= lines <= 2 * (int(seconds // 10) + 1), f"accept errors are logged at most once per worker per 10 s "
                                                       f"({lines} lines in {seconds:.1f} s)")
        for c in conns[:5]:
            c.close()
        conns = conns[5:]
        t.ok(lib.poll(lambda: served(port), 10), "once clients leave, a new one is served")
    t.ok(proc.poll() is None, "sluice is still running")
finally:
    for c in conns:
        try:
            c.close()
        except Exception:
            pass
    lib.stop_process(proc, 10)
    log.close()

t.finish()
