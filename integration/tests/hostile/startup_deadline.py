#!/usr/bin/python3
"""limits.startup_timeout bounds a login whatever it waits for. A sluice of its own (startup_timeout =
1s, connect_timeout = 20s) in front of a "backend" that accepts TCP connections and never answers: the
first login of a pool waits in greet for a server login that never finishes, and must end at the startup
deadline with sluice's error, not at connect_timeout. A client that sends nothing at all is closed at
the deadline too (the read the deadline cancels). No sandbox needed."""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

import psycopg2  # noqa: E402

SLUICE_BIN = os.environ.get("SLUICE_BIN") or os.path.join(lib.SOURCE_DIR, "build", "router", "sluice")

t = lib.Checks()


class SilentBackend:
    """Accepts connections on loopback and reads what comes, never answering."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)


backend = SilentBackend()
work = tempfile.mkdtemp(prefix="sluice-startup-deadline-")
port = lib.free_port()
config = os.path.join(work, "sluice.toml")
with open(config, "w") as f:
    f.write(f"""# written by integration/tests/hostile/startup_deadline.py
listen = "127.0.0.1:{port}"
workers = 1

[limits]
startup_timeout = "1s"

[pool]
connect_timeout = "20s"

[logging]
level = "info"

[[backends]]
name = "silent"
host = "127.0.0.1"
port = {backend.port}
role = "primary"

[[users]]
name = "app"
password = "app_pw"
""")
log_path = os.path.join(work, "sluice.log")
log = open(log_path, "wb")
proc = subprocess.Popen([SLUICE_BIN, "--config", config], stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, start_new_session=True)


def log_text():
    with open(log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


try:
    t.ok(lib.poll(lambda: "listening on" in log_text(), 20), "sluice started", log_text()[-2000:])

    with t.section("a login waiting for a server that never answers ends at startup_timeout"):
        started = time.monotonic()
        error = None
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user="app", password="app_pw", dbname="app",
                             connect_timeout=30, sslmode="disable").close()
        except psycopg2.Error as e:
            error = str(e)
        took = time.monotonic() - started
        lib.info(f"login ended after {took:.2f} s: {error}")
        t.ok(error is not None and "not completed in time" in error,
             "the client is told its startup did not complete in time", error)
        t.ok(took < 5.0, f"within about startup_timeout (1 s), not connect_timeout (20 s): {took:.2f} s")
        t.ok(len(backend.accepted) >= 1, "sluice did try to log in to the backend", len(backend.accepted))

    with t.section("a client that sends nothing is closed at startup_timeout"):
        started = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            data = s.recv(4096)
        except OSError as e:
            data = repr(e)
        took = time.monotonic() - started
        s.close()
        lib.info(f"silent client: {data!r} after {took:.2f} s")
        t.ok(0.5 < took < 5.0, f"closed after about 1 s ({took:.2f} s)")
        t.ok(isinstance(data, bytes) and (data == b"" or data[:1] == b"E"), "with an error or a plain close", data)

    t.ok(proc.poll() is None, "sluice still runs")
finally:
    lib.stop_process(proc, 10)
    log.close()
    backend.listener.close()

t.finish()
