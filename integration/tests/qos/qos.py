"""Tenant QoS end to end (docs/qos.md), through sluice on a sandbox cluster of the test's own:

  isolation  a noisy tenant (heavy aggregates over pgbench_accounts) beside a quiet one (point selects):
             the quiet tenant's p99 alone, beside the noisy tenant without policies, and with them
  rate       max_qps = 200 offered ~1,000/s is held to 200/s +-5% over 10 s; the default tenant is untouched
  refusal    max_queue / max_wait give 53300 / 53400 naming the tenant and the limit; others unaffected
  reload     SIGHUP applies a changed policy to open connections; a broken file is refused, the old
             policy stays in force

Usage: qos.py SCENARIO [--seconds N] (the isolation scenario is also integration/bench/qos_isolation.py).
Tenants are told apart by a leading /* tenant=... */ tag, as a SaaS application sharing one database
user would do it."""

import os
import re
import signal
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scoring"))
import lib  # noqa: E402  (integration/tests/scoring/lib.py: Cluster, Sluice, Checks)
import psycopg2  # noqa: E402

from lib import info, percentile  # noqa: E402

HEAVY = "/* tenant=noisy */ SELECT count(*), sum(abalance), avg(bid) FROM pgbench_accounts"
POINT = "/* tenant=quiet */ SELECT abalance FROM pgbench_accounts WHERE aid = %s"
SCALE = 5  # pgbench scale: 500,000 accounts; one heavy aggregate is tens of ms of one core


def qos_toml(policy_file):
    return f'\n[qos]\npolicy_file = "{policy_file}"\n'


def write_policy(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def init_pgbench(cluster):
    env = dict(os.environ, PGPASSWORD="app_pw")
    import subprocess
    r = subprocess.run(["pgbench", "-i", "-q", "-s", str(SCALE), "-h", lib.HOST, "-p", str(cluster.ports["primary"]),
                        "-U", "app", "app"], env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"pgbench -i failed: {r.stderr}")
    cluster.wait_replayed(timeout=30)


class Load:
    """Threads running one statement in a loop through sluice, recording (start, end, sqlstate)."""

    def __init__(self, sluice, sql, threads, pause=0.0, args=None, options=None):
        self.sluice, self.sql, self.count, self.pause, self.args, self.options = sluice, sql, threads, pause, args, options
        self.samples = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.errors = []
        self.conns = []

    def start(self):
        for i in range(self.count):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def _run(self, index):
        import random
        rng = random.Random(index)
        try:
            conn = psycopg2.connect(host=lib.HOST, port=self.sluice.port, user="app", password="app_pw", dbname="app",
                                    connect_timeout=10, sslmode="disable", options=self.options or "")
            conn.autocommit = True
            cur = conn.cursor()
            with self.lock:
                self.conns.append(conn)
        except Exception as e:
            with self.lock:
                self.errors.append(f"connect: {e}")
            return
        next_at = time.monotonic()
        while not self.stopping.is_set():
            args = (rng.randint(1, SCALE * 100000),) if self.args == "aid" else None
            t0 = time.monotonic()
            state = None
            try:
                cur.execute(self.sql, args)
                cur.fetchall()
            except psycopg2.Error as e:
                state = e.pgcode or "?"
                if conn.closed:
                    break
            t1 = time.monotonic()
            if self.stopping.is_set() and state is not None:
                break  # cancelled by stop(): not a sample
            with self.lock:
                self.samples.append((t0, t1, state))
            if self.pause:
                next_at += self.pause
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_at = time.monotonic()
        conn.close()

    def stop(self):
        self.stopping.set()
        # Statements still queued by QoS would wait for their turn: cancel them (57014 while queued).
        with self.lock:
            conns = list(self.conns)
        for conn in conns:
            try:
                conn.cancel()
            except psycopg2.Error:
                pass
        for t in self.threads:
            t.join(timeout=30)

    def window(self, t0, t1):
        with self.lock:
            return [s for s in self.samples if t0 <= s[0] and s[1] <= t1]


def latency_ms(samples):
    values = [(s[1] - s[0]) * 1000 for s in samples if s[2] is None]
    return percentile(values, 50), percentile(values, 99), len(values)


# ---------------------------------------------------------------------------------------------------
# isolation

NOISY_OPTIONS = "-c max_parallel_workers_per_gather=0"  # one heavy query = one core, not three
NOISY_CEILING = 0.01  # the noisy tenant's max_db_time_per_s with QoS: 1% of one core


def isolation_run(cluster, seconds=6.0, rounds=3, noisy_threads=6, quiet_threads=4, ceiling=None):
    """The three phases, interleaved over `rounds` (alone, without QoS, with QoS, alone, ...) so that
    drift on a noisy machine hits all three alike; samples of a phase are pooled over the rounds.
    Returns rows (phase, quiet p50, quiet p99, quiet n, noisy statements/s), failed samples, and
    connection errors."""
    init_pgbench(cluster)
    policy = os.path.join(cluster.dir, "tenants.toml")
    unlimited = "[[tenants]]\nname = \"noisy\"\n\n[[tenants]]\nname = \"quiet\"\n\n[[tenant_rules]]\ntag = \"tenant\"\n"
    ceiling = ceiling if ceiling is not None else float(os.environ.get("SLUICE_QOS_CEILING", NOISY_CEILING))
    limited = ("# The noisy tenant may use a small share of one core's worth of database time, one\n"
               "# statement at a time; the quiet tenant is not limited.\n"
               f"[[tenants]]\nname = \"noisy\"\nmax_concurrency = 1\nmax_db_time_per_s = {ceiling}\n\n"
               "[[tenants]]\nname = \"quiet\"\n\n[[tenant_rules]]\ntag = \"tenant\"\n")
    write_policy(policy, unlimited)
    sluice = cluster.sluice(extra_toml=qos_toml(policy), workers=2).start()
    reloads = [0]

    def apply(text):
        write_policy(policy, text)
        reloads[0] += 1
        sluice.proc.send_signal(signal.SIGHUP)
        if not lib.poll(lambda: sluice.log_text().count("tenant policies: ") >= reloads[0], 5):
            raise RuntimeError("sluice did not reload its policies")

    phases = ("quiet alone", "beside noisy, no QoS", "beside noisy, with QoS")
    quiet_samples = {p: [] for p in phases}
    round_p99 = {p: [] for p in phases}  # per round: the phases of one round ran seconds apart
    noisy_done = {p: 0 for p in phases}
    measured = {p: 0.0 for p in phases}
    failed, connect_errors = [], []
    quiet = Load(sluice, POINT, quiet_threads, pause=0.004, args="aid").start()
    time.sleep(1.0)
    for _ in range(rounds):
        for phase in phases:
            noisy = None
            if phase != phases[0]:
                apply(limited if phase == phases[2] else unlimited)
                noisy = Load(sluice, HEAVY, noisy_threads, options=NOISY_OPTIONS).start()
                time.sleep(1.0)  # let the noisy load (and its limit) settle
            t0 = time.monotonic()
            time.sleep(seconds)
            t1 = time.monotonic()
            window = quiet.window(t0, t1)
            quiet_samples[phase] += window
            round_p99[phase].append(latency_ms(window)[1])
            measured[phase] += t1 - t0 + (1.0 if noisy else 0.0)
            if noisy:
                # Over the whole phase, settling included: at a tight ceiling the noisy tenant runs one
                # aggregate every several seconds (the first right after the reload).
                noisy_done[phase] += len([s for s in noisy.window(t0 - 1.0, t1) if s[2] is None])
                noisy.stop()
                failed += [s for s in noisy.samples if s[2] is not None]
                connect_errors += noisy.errors
    quiet.stop()
    failed += [s for s in quiet.samples if s[2] is not None]
    connect_errors += quiet.errors
    rows = [(p,) + latency_ms(quiet_samples[p]) + (noisy_done[p] / measured[p],) for p in phases]
    # The ratio of the pooled p99s: per-round p99s (a few thousand samples each) jitter more than the
    # effect being measured on a small machine.
    rows = [row + (row[2] / rows[0][2],) for row in rows]
    for row in rows:
        info(f"{row}")
    return rows, failed, connect_errors


def print_isolation(rows):
    """rows: (phase, quiet p50, quiet p99, quiet n, noisy statements/s, p99 ratio to alone)."""
    print(f"{'phase':<24} {'quiet p50 ms':>12} {'quiet p99 ms':>12} {'quiet n':>8} {'noisy stmts/s':>14} {'p99/alone':>10}")
    for phase, p50, p99, n, noisy, ratio in rows:
        print(f"{phase:<24} {p50:>12.2f} {p99:>12.2f} {n:>8} {noisy:>14.1f} {ratio:>10.2f}")
    print("p99/alone: the quiet tenant's p99 (all rounds pooled) divided by its p99 alone")


def test_isolation(checks, cluster):
    # Four rounds: at the 1% ceiling the noisy tenant completes about one aggregate per round (the first
    # right after the reload), so with three a slow machine sometimes saw none at all (0.0/s).
    rows, errors, connect_errors = isolation_run(cluster, rounds=4)
    print_isolation(rows)
    without, with_qos = rows[1][5], rows[2][5]
    checks.ok(not connect_errors, "every client connected", connect_errors)
    checks.ok(not errors, "no statement failed (the noisy tenant waits, it is not refused)", errors[:5])
    checks.ok(without > 2.0, f"without policies the quiet tenant's p99 is clearly worse than alone (x{without:.2f})")
    checks.ok(with_qos <= 1.5, f"with policies the quiet tenant's p99 stays within 1.5x of alone (x{with_qos:.2f})")
    checks.ok(rows[2][4] > 0, f"the noisy tenant still runs with policies ({rows[2][4]:.1f} statements/s)")


# ---------------------------------------------------------------------------------------------------
# rate

def test_rate(checks, cluster):
    policy = os.path.join(cluster.dir, "tenants.toml")
    write_policy(policy, "[[tenants]]\nname = \"metered\"\nmax_qps = 200\n\n[[tenant_rules]]\ntag = \"tenant\"\n")
    sluice = cluster.sluice(extra_toml=qos_toml(policy), workers=2).start()
    # 10 threads each pacing 100 statements/s: 1,000/s offered (a thread waits while its statement is queued).
    metered = Load(sluice, "/* tenant=metered */ SELECT 1", 10, pause=0.01).start()
    other = Load(sluice, "SELECT 1", 2, pause=0.005).start()  # the default tenant: ~400/s offered
    time.sleep(2.0)
    t0 = time.monotonic()
    time.sleep(10.0)
    t1 = time.monotonic()
    done = [s for s in metered.window(t0, t1) if s[2] is None]
    # Completions inside the window; a statement admitted just before t1 may finish after it.
    rate = len(done) / (t1 - t0)
    other_samples = other.window(t0, t1)
    other_rate = len([s for s in other_samples if s[2] is None]) / (t1 - t0)
    _, other_p99, _ = latency_ms(other_samples)
    metered.stop()
    other.stop()
    info(f"metered tenant: {rate:.1f} statements/s (limit 200); default tenant: {other_rate:.1f}/s, p99 {other_p99:.2f} ms")
    checks.ok(abs(rate - 200) <= 10, f"max_qps = 200 holds the tenant at 200/s +-5% over 10 s (got {rate:.1f}/s)")
    checks.ok(not [s for s in metered.samples if s[2]], "the metered tenant's statements wait, none is refused")
    checks.ok(other_rate >= 0.9 * 2 / 0.005 * 0.9, f"the default tenant keeps its own pace ({other_rate:.1f}/s of ~400 offered)")
    checks.ok(other_p99 < 20, f"the default tenant's p99 stays low ({other_p99:.2f} ms)")


# ---------------------------------------------------------------------------------------------------
# refusal

def run_async(fn):
    result = {}

    def target():
        try:
            result["value"] = fn()
        except psycopg2.Error as e:
            result["error"] = e
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, result


def test_refusal(checks, cluster):
    policy = os.path.join(cluster.dir, "tenants.toml")
    write_policy(policy, "[[tenants]]\nname = \"narrow\"\nmax_concurrency = 1\nmax_queue = 1\nmax_wait = \"500ms\"\n\n"
                         "[[tenants]]\nname = \"slow\"\nmax_qps = 1\nburst = 1\nmax_wait = \"200ms\"\n\n"
                         "[[tenant_rules]]\ntag = \"tenant\"\n")
    sluice = cluster.sluice(extra_toml=qos_toml(policy)).start()
    conns = [sluice.connect() for _ in range(4)]

    def q(conn, sql):
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    # One statement of 'narrow' runs (3 s); a second waits in the queue; a third finds the queue full.
    running, running_result = run_async(lambda: q(conns[0], "/* tenant=narrow */ SELECT pg_sleep(3)"))
    time.sleep(0.3)
    waiting, waiting_result = run_async(lambda: q(conns[1], "/* tenant=narrow */ SELECT 1"))
    time.sleep(0.1)
    t0 = time.monotonic()
    try:
        q(conns[2], "/* tenant=narrow */ SELECT 1")
        full_error = None
    except psycopg2.Error as e:
        full_error = e
    full_took = time.monotonic() - t0
    checks.ok(full_error is not None and full_error.pgcode == "53300",
              "a full queue (max_queue = 1) refuses at once with 53300", lib.describe_error(full_error))
    checks.ok(full_error is not None and "tenant 'narrow'" in str(full_error) and "max_queue=1" in str(full_error),
              "the message names the tenant and the limit", lib.describe_error(full_error))
    checks.ok(full_took < 0.3, f"refused without waiting ({full_took * 1000:.0f} ms)")
    # Meanwhile another tenant is not held at all.
    t0 = time.monotonic()
    checks.ok(q(conns[3], "SELECT 1") == [(1,)], "the default tenant runs while 'narrow' is saturated")
    checks.ok(time.monotonic() - t0 < 0.5, "... without waiting")
    waiting.join(5)
    e = waiting_result.get("error")
    checks.ok(e is not None and e.pgcode == "53300" and "max_concurrency=1" in str(e) and "queued 0.5 s" in str(e),
              "the queued statement is refused with 53300 after max_wait = 500ms, naming max_concurrency", lib.describe_error(e))
    running.join(10)
    checks.ok("value" in running_result, "the running statement finished normally", running_result.get("error"))
    checks.ok(q(conns[1], "/* tenant=narrow */ SELECT 2") == [(2,)], "the refused client carries on afterwards")

    # A rate budget: max_qps = 1, burst 1: the second statement within a second waits, then 53400.
    q(conns[0], "/* tenant=slow */ SELECT 1")
    try:
        q(conns[0], "/* tenant=slow */ SELECT 1")
        rate_error = None
    except psycopg2.Error as e2:
        rate_error = e2
    checks.ok(rate_error is not None and rate_error.pgcode == "53400" and "max_qps=1" in str(rate_error)
              and "tenant 'slow'" in str(rate_error), "a rate limit past max_wait refuses with 53400 naming the limit",
              lib.describe_error(rate_error))
    # A transaction already running is never refused midway: limits apply at its start.
    time.sleep(1.1)
    conns[0].autocommit = False
    with conns[0].cursor() as cur:
        cur.execute("/* tenant=slow */ SELECT 1")
        ok = True
        try:
            for _ in range(5):
                cur.execute("/* tenant=slow */ SELECT 1")
        except psycopg2.Error:
            ok = False
    conns[0].commit()
    checks.ok(ok, "statements inside an admitted transaction are not limited one by one")
    conns[0].autocommit = True
    checks.ok(sluice.alive(), "sluice is still running")

    # A client that leaves while queued gets nothing run for it and holds no slot: 'narrow' runs a
    # 2 s sleep; a raw client queues a 5 s sleep and disconnects; after the first sleep, another
    # 'narrow' statement runs at once (it would wait 5 s more if the abandoned one had run).
    blocker, blocker_result = run_async(lambda: q(conns[0], "/* tenant=narrow */ SELECT pg_sleep(2)"))
    time.sleep(0.3)
    raw = trust_login(sluice.port)
    raw.sendall(query_message("/* tenant=narrow */ SELECT pg_sleep(5)"))
    time.sleep(0.3)
    raw.close()
    blocker.join(10)
    t0 = time.monotonic()
    checks.ok(q(conns[1], "/* tenant=narrow */ SELECT 3") == [(3,)], "the tenant's next statement runs")
    took = time.monotonic() - t0
    checks.ok(took < 1.5, f"... at once: the abandoned statement neither ran nor kept the slot ({took:.2f} s)")
    for c in conns:
        c.close()


# ---------------------------------------------------------------------------------------------------
# edges: pipelining, cancel and Terminate while queued, COPY in the extended protocol

_leftover = {}


def raw_read_until(sock, wanted, timeout=10):
    """Reads protocol messages until one of type `wanted`; returns the list of (type, payload). Bytes
    after it are kept for the next call on the same socket."""
    sock.settimeout(timeout)
    messages, data = [], _leftover.pop(sock.fileno(), b"")
    while True:
        while len(data) >= 5:
            length = int.from_bytes(data[1:5], "big")
            if len(data) < 1 + length:
                break
            messages.append((data[:1], data[5:1 + length]))
            data = data[1 + length:]
            if messages[-1][0] == wanted:
                _leftover[sock.fileno()] = data
                return messages
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection closed; got {messages}")
        data += chunk


def error_code(payload):
    for field in payload.split(b"\0"):
        if field[:1] == b"C":
            return field[1:].decode()
    return None


def message(type_byte, payload=b""):
    return type_byte + (len(payload) + 4).to_bytes(4, "big") + payload


def test_edges(checks, cluster):
    policy = os.path.join(cluster.dir, "tenants.toml")
    write_policy(policy, "[[tenants]]\nname = \"slow\"\nmax_qps = 1\nburst = 1\nmax_wait = \"300ms\"\n\n"
                         "[[tenants]]\nname = \"narrow\"\nmax_concurrency = 1\nmax_wait = \"10s\"\n\n"
                         "[[tenant_rules]]\ntag = \"tenant\"\n")
    sluice = cluster.sluice(extra_toml=qos_toml(policy)).start()
    setup = sluice.connect()
    with setup.cursor() as cur:
        cur.execute("CREATE TABLE qos_edges (x int)")
        cur.execute("GRANT SELECT, INSERT ON qos_edges TO trustuser")

    def count(x):
        with setup.cursor() as cur:
            cur.execute("/* sluice: primary */ SELECT count(*) FROM qos_edges WHERE x = %s", (x,))
            return cur.fetchone()[0]

    # 1. Pipelined statements are admitted one by one: three in one write under max_qps = 1.
    raw = trust_login(sluice.port)
    raw.sendall(query_message("/* tenant=slow */ SELECT 1") * 3)
    codes = []
    for _ in range(3):
        msgs = raw_read_until(raw, b"Z")
        codes.append(next((error_code(p) for t, p in msgs if t == b"E"), None))
    checks.ok(codes[0] is None and "53400" in codes[1:], "three pipelined statements under max_qps = 1 are admitted "
              "one at a time: the first runs, a later one is refused with 53400", codes)
    raw.close()

    # 2. A cancel while queued ends the wait with 57014, and the statement never runs.
    blocker_conn, victim = sluice.connect(), sluice.connect()

    def q(conn, sql):
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    blocker, _ = run_async(lambda: q(blocker_conn, "/* tenant=narrow */ SELECT pg_sleep(2)"))
    time.sleep(0.3)
    queued, queued_result = run_async(lambda: q(victim, "/* tenant=narrow */ INSERT INTO qos_edges VALUES (1)"))
    time.sleep(0.3)
    t0 = time.monotonic()
    victim.cancel()
    queued.join(5)
    e = queued_result.get("error")
    checks.ok(e is not None and e.pgcode == "57014", "a statement cancelled while queued gets 57014",
              lib.describe_error(e))
    checks.ok(time.monotonic() - t0 < 1.0, "... at once, not when the blocker ends")
    blocker.join(10)

    # 3. Terminate while queued (what libpq and psycopg2 send on close): the statement never runs.
    blocker, _ = run_async(lambda: q(blocker_conn, "/* tenant=narrow */ SELECT pg_sleep(1.5)"))
    time.sleep(0.3)
    raw = trust_login(sluice.port)
    raw.sendall(query_message("/* tenant=narrow */ INSERT INTO qos_edges VALUES (2)"))
    time.sleep(0.2)
    raw.sendall(message(b"X"))
    raw.close()
    blocker.join(10)
    time.sleep(0.3)
    checks.ok(count(1) == 0 and count(2) == 0, "neither the cancelled nor the abandoned INSERT ran",
              f"x=1: {count(1)}, x=2: {count(2)}")

    # 4. COPY FROM STDIN in the extended protocol (libpq's PQexecParams, JDBC's CopyManager): the Sync
    # sent with it is ignored by the server; the unit still ends, and frees the tenant's only slot.
    raw = trust_login(sluice.port)
    raw.sendall(message(b"P", b"\0/* tenant=narrow */ COPY qos_edges FROM STDIN\0\0\0") +
                message(b"B", b"\0\0\0\0\0\0\0\0") + message(b"E", b"\0\0\0\0\0") + message(b"S"))
    raw_read_until(raw, b"G")
    raw.sendall(message(b"d", b"3\n3\n") + message(b"c") + message(b"S"))
    msgs = raw_read_until(raw, b"Z")
    checks.ok(any(t == b"C" and p.startswith(b"COPY 2") for t, p in msgs), "the extended-protocol COPY completes",
              [t for t, _ in msgs])
    raw.sendall(query_message("SELECT 1"))
    msgs = raw_read_until(raw, b"Z", timeout=5)
    checks.ok(any(t == b"D" for t, _ in msgs), "the same client's next statement is answered")
    t0 = time.monotonic()
    checks.ok(q(victim, "/* tenant=narrow */ SELECT 7") == [(7,)] and time.monotonic() - t0 < 1.0,
              "the tenant's only slot was released (another client runs at once)")
    raw.close()
    checks.ok(count(3) == 2, "the copied rows are there", count(3))
    for c in (setup, blocker_conn, victim):
        c.close()


def query_message(sql):
    body = sql.encode() + b"\0"
    return b"Q" + (len(body) + 4).to_bytes(4, "big") + body


def trust_login(port):
    """A raw protocol client logged in as the sandbox's trust user; returns the socket at ReadyForQuery."""
    import socket
    sock = socket.create_connection((lib.HOST, port), timeout=10)
    params = b"user\0trustuser\0database\0app\0\0"
    sock.sendall((len(params) + 8).to_bytes(4, "big") + (196608).to_bytes(4, "big") + params)
    data = b""
    while b"Z\0\0\0\x05" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"sluice closed the raw connection during login: {data!r}")
        data += chunk
    return sock


# ---------------------------------------------------------------------------------------------------
# reload

def measure_rate(conn, sql, seconds):
    end = time.monotonic() + seconds
    count = 0
    with conn.cursor() as cur:
        while time.monotonic() < end:
            cur.execute(sql)
            cur.fetchall()
            count += 1
    return count / seconds


def test_reload(checks, cluster):
    policy = os.path.join(cluster.dir, "tenants.toml")
    write_policy(policy, "[[tenants]]\nname = \"acme\"\nmax_qps = 5\nburst = 1\n\n[[tenant_rules]]\ntag = \"tenant\"\n")
    sluice = cluster.sluice(extra_toml=qos_toml(policy)).start()
    conn = sluice.connect()
    pid = lib_value(conn, "SELECT pg_backend_pid()")  # not stable across statements: pooled
    sql = "/* tenant=acme */ SELECT 1"
    before = measure_rate(conn, sql, 2.0)
    checks.ok(3.5 <= before <= 6.5, f"max_qps = 5 in force ({before:.1f}/s)")

    write_policy(policy, "[[tenants]]\nname = \"acme\"\nmax_qps = 50\nburst = 1\n\n[[tenant_rules]]\ntag = \"tenant\"\n")
    sluice.proc.send_signal(signal.SIGHUP)
    checks.ok(lib.poll(lambda: "tenant policies: " in sluice.log_text(), 5), "SIGHUP reloads the policies")
    after = measure_rate(conn, sql, 2.0)
    checks.ok(40 <= after <= 60, f"the same connection now gets max_qps = 50 ({after:.1f}/s)")

    write_policy(policy, "[[tenants]]\nname = \"acme\"\nmax_qps = 1\nburst = 1\nmax_qpz = 3\n\n"
                         "[[tenant_rules]]\ntag = \"tenant\"\n")
    sluice.proc.send_signal(signal.SIGHUP)
    checks.ok(lib.poll(lambda: "reload refused, nothing changed" in sluice.log_text(), 5), "a broken policy file is refused")
    line = [l for l in sluice.log_text().splitlines() if "reload refused, nothing changed" in l]
    checks.ok(line and "tenants.toml:5" in line[-1] and "max_qpz" in line[-1] and "did you mean 'max_qps'" in line[-1],
              "the refusal names the file, line and key", line[-1] if line else None)
    still = measure_rate(conn, sql, 2.0)
    checks.ok(40 <= still <= 60, f"the old policy (max_qps = 50) stays in force ({still:.1f}/s)")
    checks.ok(lib_value(conn, "SELECT 1") == 1 and pid is not None, "the connection was never dropped")
    conn.close()


def lib_value(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


SCENARIOS = {"isolation": test_isolation, "rate": test_rate, "refusal": test_refusal, "reload": test_reload,
             "edges": test_edges}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in SCENARIOS:
        print(f"usage: {sys.argv[0]} {{{'|'.join(SCENARIOS)}}}", file=sys.stderr)
        sys.exit(2)
    lib.main(SCENARIOS[sys.argv[1]], "qos_" + sys.argv[1])
