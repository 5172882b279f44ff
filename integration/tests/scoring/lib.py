"""Shared helpers of the scoring integration tests and benchmarks: each test runs its own throwaway sandbox
(integration/sandbox.sh, auto ports, its own directory) and its own sluice with a config of its own, so
that destructive faults (integration/faults.sh) cannot disturb other tests. Also: TAP-style checks,
polling with deadlines, reader threads that record which server answered each statement and how long it
took, and latency statistics."""

import glob
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager

import psycopg2

SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
SANDBOX_SH = os.path.join(SOURCE_DIR, "integration", "sandbox.sh")
FAULTS_SH = os.path.join(SOURCE_DIR, "integration", "faults.sh")
SLUICE_BIN = os.environ.get("SLUICE_BIN") or os.path.join(SOURCE_DIR, "build", "router", "sluice")
HOST = "127.0.0.1"
NODES = ("primary", "replica1", "replica2")
# Which backend name sandbox.sh's sluice.toml gives each node.
BACKEND_NAMES = {"primary": "pg-primary", "replica1": "pg-replica1", "replica2": "pg-replica2"}
# SQLSTATEs a statement may get when its server dies under it: connection failure (sluice's own),
# admin shutdown, crash shutdown.
CONNECTION_LOST = {"08006", "57P01", "57P02"}


def info(msg):
    print(f"# {msg}", flush=True)


def poll(fn, timeout, interval=0.02):
    """Calls fn until it returns something truthy or `timeout` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def describe_error(e):
    if e is None:
        return "no error"
    msg = (getattr(e, "pgerror", None) or str(e)).strip().replace("\n", " | ")
    return f"{type(e).__name__} sqlstate={getattr(e, 'pgcode', None)} {msg!r}"


def percentile(values, p):
    """The p-th percentile (0..100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))  # ceil(p/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


def fmt_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.2f}"


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

    @contextmanager
    def section(self, name):
        """A named group of checks: an exception fails it (and is printed); later sections still run."""
        print(f"# --- {name}", flush=True)
        t0 = time.monotonic()
        try:
            yield
        except Exception:  # a failed step fails the section; the test goes on to clean up and report
            self.failed += 1
            print(f"not ok - {name}: unexpected exception", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        print(f"# ({name}: {time.monotonic() - t0:.2f} s)", flush=True)

    def exit_code(self):
        print(f"# {self.passed} passed, {self.failed} failed in {time.monotonic() - self.t0:.1f} s", flush=True)
        return 1 if self.failed or not self.passed else 0


def _run(args, env, timeout, what):
    t0 = time.monotonic()
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed ({r.returncode}): {r.stderr.strip()}")
    return r, time.monotonic() - t0


class Cluster:
    """A sandbox of its own: a PostgreSQL 15 primary and two streaming replicas under
    /tmp/sluice-scoring-<name>-<pid>, on free ports. Use as a context manager: the sandbox is stopped
    and deleted (after lifting any throttle) however the test ends."""

    def __init__(self, name):
        self.dir = f"/tmp/sluice-scoring-{name}-{os.getpid()}"
        self.env = dict(os.environ, SLUICE_SANDBOX_DIR=self.dir, SLUICE_PG_PORT="auto", SLUICE_PORT="auto")
        self.ports = {}
        self.sluice_port = None
        self.sluices = []
        self.started = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @staticmethod
    def reap_stale():
        """Stops and deletes the sandboxes of earlier runs whose process is gone (killed by a timeout)."""
        for path in glob.glob("/tmp/sluice-scoring-*-*"):
            m = re.fullmatch(r"/tmp/sluice-scoring-[\w]+-(\d+)", path)
            if not m or pid_alive(int(m.group(1))) or not os.path.exists(os.path.join(path, ".sluice-sandbox")):
                continue
            info(f"removing the stale sandbox {path}")
            for pidfile in glob.glob(os.path.join(path, "sluice*.pid")):
                stop_stray_sluice(pidfile, os.path.join(path, ""))
            env = dict(os.environ, SLUICE_SANDBOX_DIR=path)
            for node in NODES:
                if os.path.exists(os.path.join(path, "faults", f"{node}.throttle")):
                    subprocess.run(["bash", FAULTS_SH, "unthrottle", node], env=env, capture_output=True, timeout=30)
                if os.path.exists(os.path.join(path, "faults", f"{node}.frozen")):
                    subprocess.run(["bash", FAULTS_SH, "thaw", node], env=env, capture_output=True, timeout=30)
            subprocess.run(["bash", SANDBOX_SH, "stop"], env=env, capture_output=True, timeout=120)

    def start(self):
        self.reap_stale()
        # Two sandboxes started at the same moment could pick the same free ports: retry once.
        for attempt in (1, 2):
            try:
                r, took = _run(["bash", SANDBOX_SH, "start"], self.env, 120, "sandbox.sh start")
                break
            except RuntimeError as e:
                if attempt == 2:
                    raise
                info(f"{e}; retrying")
                subprocess.run(["bash", SANDBOX_SH, "stop"], env=self.env, capture_output=True, timeout=60)
        self.started = True
        values = dict(re.findall(r"export (\w+)=(.*)", r.stdout))
        self.ports = {"primary": int(values["PRIMARY_PORT"]), "replica1": int(values["REPLICA1_PORT"]),
                      "replica2": int(values["REPLICA2_PORT"])}
        self.sluice_port = int(values["SLUICE_PORT"])
        self.log_dir = values["LOG_DIR"]
        self.base_config = values["SLUICE_CONFIG"]
        info(f"sandbox {self.dir} started in {took:.1f} s: primary :{self.ports['primary']}, "
             f"replica1 :{self.ports['replica1']}, replica2 :{self.ports['replica2']}")

    def stop(self):
        for s in self.sluices:
            try:
                s.stop()
            except Exception as e:  # cleanup goes on
                info(f"stopping sluice: {e}")
        if not self.started:
            return
        for node in NODES:
            if os.path.exists(os.path.join(self.dir, "faults", f"{node}.throttle")):
                subprocess.run(["bash", FAULTS_SH, "unthrottle", node], env=self.env, capture_output=True, timeout=30)
            if os.path.exists(os.path.join(self.dir, "faults", f"{node}.frozen")):
                subprocess.run(["bash", FAULTS_SH, "thaw", node], env=self.env, capture_output=True, timeout=30)
        r = subprocess.run(["bash", SANDBOX_SH, "stop"], env=self.env, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            info(f"sandbox.sh stop failed: {r.stderr.strip()}")
        self.started = False

    def port_name(self, port):
        for node, p in self.ports.items():
            if p == port:
                return node
        return f"port {port}"

    def sandbox(self, *args, timeout=60):
        _, took = _run(["bash", SANDBOX_SH, *args], self.env, timeout, "sandbox.sh " + " ".join(args))
        info(f"sandbox.sh {' '.join(args)}: {took:.2f} s")

    def fault(self, *args, timeout=90):
        """Runs integration/faults.sh against this sandbox; returns its duration in seconds."""
        _, took = _run(["bash", FAULTS_SH, *args], self.env, timeout, "faults.sh " + " ".join(args))
        info(f"faults.sh {' '.join(args)}: {took:.2f} s")
        return took

    def connect_node(self, node, dbname="app", autocommit=True):
        """Straight to a node as the postgres superuser (trust on loopback)."""
        conn = psycopg2.connect(host=HOST, port=self.ports[node], user="postgres", dbname=dbname,
                                connect_timeout=5, sslmode="disable")
        conn.autocommit = autocommit
        return conn

    def node_value(self, node, sql, args=None, dbname="app"):
        conn = self.connect_node(node, dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchone()[0]
        finally:
            conn.close()

    def wait_replayed(self, nodes=("replica1", "replica2"), timeout=10):
        """Waits until the replicas have replayed everything the primary has written so far."""
        # The insert position: with synchronous_commit = off (a test may set it) a commit can be past the
        # write position that pg_current_wal_lsn() shows until the WAL writer's next flush. Less a page
        # header it may stand just past (after a segment switch): replicas reach the end of the last
        # record, not the next one's start (scoring/wal_position.hpp).
        target = str(self.node_value(
            "primary", "select (p - case (p - '0/0') % 8192 when 24 then 24 when 40 then 40 else 0 end)::text "
                       "from (select pg_current_wal_insert_lsn() as p) as insert_position"))
        for node in nodes:
            done = poll(lambda: self.node_value(
                node, "select pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)), timeout, 0.05)
            if not done:
                raise RuntimeError(f"{node} did not replay up to {target} within {timeout} s")

    def sluice(self, routing=None, health=None, extra_users=(), port=None, name="sluice", workers=None, extra_toml=""):
        s = Sluice(self, routing or {}, health or {}, extra_users, port or self.sluice_port, name, workers, extra_toml)
        self.sluices.append(s)
        return s


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Sluice:
    """One sluice process on the cluster: the sandbox's sluice.toml (backends, users) with a listen port
    and [routing], [health] keys and [[users]] entries of the test's choosing. Logs to
    <sandbox>/log/<name>.log."""

    def __init__(self, cluster, routing, health, extra_users, port, name, workers, extra_toml=""):
        self.cluster = cluster
        self.port = port
        self.name = name
        self.config_path = os.path.join(cluster.dir, f"{name}.toml")
        self.log_path = os.path.join(cluster.log_dir, f"{name}.log")
        self.proc = None
        self.crashed = None  # why it ended badly (exited before being asked, or not with status 0)
        text = open(cluster.base_config).read()
        # The first `listen` is the proxy's; the [admin] section's own gets a free port of its own.
        text = re.sub(r'(?m)^listen = .*$', f'listen = "{HOST}:{port}"', text, count=1)
        self.admin_port = free_port()
        text = re.sub(r'(?ms)^(\[admin\]\n(?:[^\[].*?\n)*?)listen = [^\n]*', rf'\g<1>listen = "{HOST}:{self.admin_port}"', text,
                      count=1)
        if workers is not None:
            # The sandbox's file sets workers (before the first table): replace it, else add it there.
            if re.search(r'(?m)^workers = ', text):
                text = re.sub(r'(?m)^workers = .*$', f'workers = {int(workers)}', text, count=1)
            else:
                text = re.sub(r'(?m)^(listen = .*)$', rf'\1\nworkers = {int(workers)}', text, count=1)
        text += f"\n# added by {os.path.basename(sys.argv[0])}\n"
        for user in extra_users:
            text += "\n[[users]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in user.items())
        if health:
            # The test's [health] replaces the sandbox's (which names the sluice_ops role) entirely.
            text = re.sub(r"(?ms)^\[health\]\n.*?(?=^\[|\Z)", "", text)
        for section, keys in (("routing", routing), ("health", health)):
            if keys:
                text += f"\n[{section}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in keys.items())
        text += extra_toml  # whole sections of the test's own ([qos], [[tenants]], ...)
        with open(self.config_path, "w") as f:
            f.write(text)

    def start(self, timeout=20):
        """Starts sluice and waits until it accepts TCP, owns its port alone, and has heard from every
        backend's probe."""
        if not os.access(SLUICE_BIN, os.X_OK):
            raise RuntimeError(f"no sluice binary at {SLUICE_BIN} (set SLUICE_BIN)")
        if port_listeners(self.port):
            raise RuntimeError(f"port {self.port} is already in use: {port_listeners(self.port)}")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SLUICE_BIN, "--config", self.config_path], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        with open(os.path.join(self.cluster.dir, f"{self.name}.pid"), "w") as f:  # for reap_stale
            f.write(f"{self.proc.pid}\n")
        t0 = time.monotonic()
        deadline = t0 + timeout
        backends = set(BACKEND_NAMES.values())
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up with status {self.proc.returncode}:\n"
                                   + self.log_tail())
            text = self.log_text()
            reachable = set(re.findall(r"backend '([^']+)' is reachable", text))
            if backends <= reachable and port_open(self.port):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready within {timeout} s (reachable: {sorted(reachable)}):\n"
                                   + self.log_tail())
            time.sleep(0.05)
        # sluice binds with SO_REUSEPORT: another sluice on the same port would share our clients.
        owners = port_listeners(self.port)
        if any(pid != self.proc.pid for pid in owners):
            raise RuntimeError(f"port {self.port} is shared with other processes: {owners}")
        info(f"{self.name} (pid {self.proc.pid}) ready on :{self.port} in {time.monotonic() - t0:.2f} s")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stops sluice (SIGTERM, again after 5 s, then SIGKILL after 10 s more). Returns its exit status; a crash (killed by
        a signal other than ours, or exited before being asked) is reported with the log's end."""
        if self.proc is None:
            return None
        status = self.proc.poll()
        if status is not None:
            self.crashed = f"exited on its own with status {status}"
            info(f"{self.name} had already exited on its own with status {status}:\n{self.log_tail()}")
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # The first SIGTERM drains: a client still in a transaction holds it (up to
                # shutdown_timeout); a second SIGTERM cuts what is left.
                status = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                info(f"{self.name} still drains 5 s after SIGTERM; sending SIGTERM again")
                self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(10) if status is None else status
            except subprocess.TimeoutExpired:
                self.proc.kill()
                status = self.proc.wait(10)
                info(f"{self.name} did not stop within 15 s of SIGTERM; killed:\n{self.log_tail()}")
        if status != 0 and not self.crashed:
            self.crashed = f"exit status {status} after SIGTERM"
        self.proc = None
        self.log.close()
        return status

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def connect(self, user="app", password="app_pw", dbname="app", autocommit=True, **kwargs):
        conn = psycopg2.connect(host=HOST, port=self.port, user=user, password=password, dbname=dbname,
                                connect_timeout=5, sslmode="disable", **kwargs)
        conn.autocommit = autocommit
        return conn


def stop_stray_sluice(pidfile, config_dir):
    """Stops the sluice recorded in `pidfile` if it still runs with a config from `config_dir`."""
    try:
        pid = int(open(pidfile).read().strip())
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode("utf-8", "replace").split("\0")
    except (OSError, ValueError):
        return
    if not any(arg.startswith(config_dir) for arg in cmdline) or not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    if not poll(lambda: not pid_alive(pid), 10, 0.05):
        os.kill(pid, signal.SIGKILL)


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def port_open(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_listeners(port):
    """Pids of the processes listening on 127.0.0.1:port (from ss)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})


# ---------------------------------------------------------------------------------------------------
# Readers: threads that each keep one connection through sluice and run a read in a loop.

# A point select on pgbench_accounts (scale 1: 100 000 rows) that also says which server answered.
POINT_SELECT = "SELECT inet_server_port(), abalance FROM pgbench_accounts WHERE aid = %s"
ACCOUNTS = 100_000


class Sample:
    __slots__ = ("start", "end", "thread", "port", "error")

    def __init__(self, start, end, thread, port, error):
        self.start = start    # time.monotonic() when the statement was sent
        self.end = end        # ... when its answer (or error) was complete
        self.thread = thread  # reader index
        self.port = port      # inet_server_port() of the answer; None on error
        self.error = error    # the psycopg2 error, or None

    @property
    def latency(self):
        return self.end - self.start


class Readers:
    """`count` threads reading through `sluice` until stop(). Every statement becomes a Sample in
    `samples` (list.append is atomic). A reader whose connection closes stops and records why in
    `closed`: the tests expect sluice to keep clients connected through backend failures."""

    def __init__(self, sluice, count=8, user="app", password="app_pw", sql=POINT_SELECT, pause=0.0):
        self.samples = []
        self.closed = {}
        self.stop_event = threading.Event()
        self.sql = sql
        self.pause = pause
        self.conns = [sluice.connect(user, password) for _ in range(count)]
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, index):
        conn = self.conns[index]
        rng = random.Random(index)
        cur = conn.cursor()
        while not self.stop_event.is_set():
            args = (rng.randint(1, ACCOUNTS),) if "%s" in self.sql else None
            start = time.monotonic()
            try:
                cur.execute(self.sql, args)
                port = cur.fetchone()[0]
                self.samples.append(Sample(start, time.monotonic(), index, port, None))
            except psycopg2.Error as e:
                self.samples.append(Sample(start, time.monotonic(), index, None, e))
                if conn.closed:
                    self.closed[index] = e
                    return
                try:
                    cur = conn.cursor()
                except psycopg2.Error as e2:
                    self.closed[index] = e2
                    return
            if self.pause:
                time.sleep(self.pause)

    def alive(self):
        return sum(t.is_alive() for t in self.threads)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(15)
        for c in self.conns:
            try:
                c.close()
            except psycopg2.Error:
                pass

    def between(self, t0, t1=float("inf")):
        """Samples whose statement was sent in [t0, t1)."""
        return [s for s in list(self.samples) if t0 <= s.start < t1]


def summarize(samples, cluster):
    """reads/s, p50, p99, errors and share per node of a list of samples."""
    ok = [s for s in samples if s.error is None]
    errors = len(samples) - len(ok)
    span = (max(s.end for s in samples) - min(s.start for s in samples)) if samples else 0
    lat = [s.latency for s in ok]
    by_node = {node: 0 for node in NODES}
    for s in ok:
        name = cluster.port_name(s.port)
        by_node[name] = by_node.get(name, 0) + 1
    share = {n: (c / len(ok) if ok else 0.0) for n, c in by_node.items()}
    return {"reads": len(ok), "errors": errors, "rate": len(ok) / span if span else 0.0,
            "p50": percentile(lat, 50), "p99": percentile(lat, 99), "share": share, "count": by_node}


def describe(summary):
    share = ", ".join(f"{n} {summary['share'][n] * 100:.1f}%" for n in NODES)
    return (f"{summary['reads']} reads ({summary['rate']:.0f}/s), {summary['errors']} errors, "
            f"p50 {fmt_ms(summary['p50'])} ms, p99 {fmt_ms(summary['p99'])} ms; {share}")


def main(test, cluster_name):
    """Runs test(checks, cluster) in a cluster of its own and exits with the TAP verdict."""
    checks = Checks()
    # ctest's timeout and Ctrl-C: unwind, so that the cluster is stopped and deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with Cluster(cluster_name) as cluster:
            with checks.section(cluster_name):
                test(checks, cluster)
            for s in cluster.sluices:
                s.stop()
                checks.ok(not s.crashed, f"{s.name} ran until stopped and exited cleanly", s.crashed)
            if checks.failed:
                for s in cluster.sluices:
                    info(f"last lines of {s.log_path}:")
                    for line in s.log_tail(30).splitlines():
                        info("  " + line)
    except Exception:
        checks.failed += 1
        print("not ok - setting up or tearing down the cluster", flush=True)
        traceback.print_exc(file=sys.stdout)
    sys.exit(checks.exit_code())


# ---------------------------------------------------------------------------------------------------
# The slow-replica scenario, shared by the scoring_slow_replica test and integration/bench/slow_replica.py.

def slow_replica_run(cluster, sluice, threads=8, warmup=1.0, baseline=5.0, fault=6.0, percent=10,
                     node="replica1"):
    """Readers through `sluice`: `warmup` seconds not counted, `baseline` seconds without fault, then
    `node` CPU-throttled to `percent`% of a CPU for `fault` seconds (lifted however this ends).
    Returns (readers, marks) with marks: baseline start, fault start (just before the throttle), end."""
    readers = Readers(sluice, threads).start()
    marks = {}
    throttled = False
    try:
        time.sleep(warmup)
        marks["baseline"] = time.monotonic()
        time.sleep(baseline)
        marks["fault"] = time.monotonic()
        cluster.fault("throttle", node, str(percent))
        throttled = True
        marks["throttled"] = time.monotonic()
        time.sleep(max(0.0, marks["fault"] + fault - time.monotonic()))
        marks["end"] = time.monotonic()
    finally:
        readers.stop()
        if throttled:
            cluster.fault("unthrottle", node)
    return readers, marks
