#!/usr/bin/python3
"""Benchmark (issue 12): sysbench through sluice's MySQL front end, against a replica directly and HAProxy.

Starts a MariaDB sandbox of its own (integration/mariadb_sandbox.sh: a primary and two GTID replicas on free
loopback ports, in /tmp/sluice-mysql-bench-<pid>, stopped and deleted at the end), loads sysbench's tables
on the primary and waits for both replicas to have them, then starts the targets:

- direct: sysbench straight to replica1. sluice sends reads to the replicas, so a replica, not the
  primary, is what a read through sluice would otherwise have gone to;
- sluice, once per worker count (--sluice-workers, 1 and 2): [mysql] with the three backends,
  transaction pooling, [[mysql.users]] pool_size --pool-size per backend;
- haproxy: Debian's HAProxy in TCP mode, round-robin over the two replicas, a server connection per client.

Each cell (sysbench test, threads, --db-ps-mode) runs on every target in turn, interleaved (A B C D, then
D C B A, ...), --rounds times after a warm-up; the report gives the median QPS, its ratio to direct, the
proxy's CPU time per query (utime + stime of its process tree from /proc, before and after the run,
divided by the queries sysbench counted), where the SELECTs ran (Com_select on each node), and the
issue's targets. A target that fails (a sluice older than 4c03da8 refuses prepared statements) is
reported as an error row; the rest goes on. A report, not a test: it exits 0 unless the harness breaks.

  integration/bench/mysql_bench.py --quick                 # ~3 min: 1 round of 3 s, results in /tmp
  integration/bench/mysql_bench.py                         # ~17 min: 3 rounds of 10 s; updates docs/benchmarks.md
  SLUICE_BIN=/path/to/sluice integration/bench/mysql_bench.py --targets direct,sluice --ps-modes disable

Run as root (the sandbox runs mariadbd as the mysql user) with Debian's /usr/bin/python3 (python3-pymysql)
and sysbench (integration/install-deps.sh); HAProxy comes from integration/bench/install-peers.sh."""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import compare  # noqa: E402  (process handling and /proc CPU accounting, shared with the PostgreSQL bench)
from compare import HOST, Process, info, run, tree_cpu_seconds  # noqa: E402

import pymysql  # noqa: E402

SOURCE_DIR = compare.SOURCE_DIR
MARIADB_SANDBOX_SH = os.path.join(SOURCE_DIR, "integration", "mariadb_sandbox.sh")
BENCHMARKS_MD = compare.BENCHMARKS_MD
DEFAULT_SLUICE = os.path.join(SOURCE_DIR, "build", "release", "router", "sluice")
HAPROXY_BIN = "/usr/sbin/haproxy"
NODES = ("primary", "replica1", "replica2")
TESTS = ("oltp_point_select", "oltp_read_only")
PS_MODES = ("disable", "auto")
DOCS_BEGIN = "<!-- mysql_bench.py results: begin -->"
DOCS_END = "<!-- mysql_bench.py results: end -->"
DOCS_SECTION = "## MySQL (sysbench)"
# The issue's targets, checked on oltp_point_select at 16 threads for every sluice and ps-mode.
TARGET_QPS_RATIO = 0.8
TARGET_CPU_US = 20.0


# ---------------------------------------------------------------------------------------------------
# The cluster.

class MariaDBSandbox:
    """integration/mariadb_sandbox.sh in a directory of our own, on free ports ("auto")."""

    def __init__(self, directory):
        self.dir = directory
        self.env = dict(os.environ, SLUICE_MARIADB_DIR=directory, SLUICE_MARIADB_PORT="auto")
        self.values = {}
        self.ports = {}
        self.started = False

    def start(self):
        t0 = time.monotonic()
        self.started = True  # a start that fails half-way still leaves servers for stop() to end
        run(["bash", MARIADB_SANDBOX_SH, "start"], timeout=300, env=self.env)
        r = run(["bash", MARIADB_SANDBOX_SH, "env"], timeout=30, env=self.env)
        self.values = dict(re.findall(r"export (\w+)=(.*)", r.stdout))
        self.ports = {n: int(self.values[f"MARIADB_{n.upper()}_PORT"]) for n in NODES}
        self.database = self.values["MARIADB_DATABASE"]
        self.user, self.password = self.values["MARIADB_APP_USER"], self.values["MARIADB_APP_PASSWORD"]
        self.probe_user = self.values["MARIADB_PROBE_USER"]
        self.probe_password = self.values["MARIADB_PROBE_PASSWORD"]
        info(f"MariaDB sandbox {self.dir} up in {time.monotonic() - t0:.1f} s: primary :{self.ports['primary']}, "
             f"replicas :{self.ports['replica1']} :{self.ports['replica2']}")

    def connect(self, node, probe=False):
        user, password = (self.probe_user, self.probe_password) if probe else (self.user, self.password)
        return pymysql.connect(host=HOST, port=self.ports[node], user=user, password=password,
                               database=None if probe else self.database, autocommit=True, connect_timeout=10)

    def value(self, node, sql, probe=False):
        c = self.connect(node, probe)
        try:
            with c.cursor() as cur:
                cur.execute(sql)
                row = cur.fetchone()
                return row[0] if row else None
        finally:
            c.close()

    def version(self):
        return self.value("primary", "SELECT VERSION()")

    def wait_replicated(self, timeout=300):
        """Both replicas have applied everything the primary logged so far."""
        pos = self.value("primary", "SELECT @@gtid_binlog_pos")
        for node in ("replica1", "replica2"):
            # MASTER_GTID_WAIT: 0 once applied, -1 on timeout.
            if self.value(node, f"SELECT MASTER_GTID_WAIT('{pos}', {timeout})") != 0:
                raise RuntimeError(f"{node} did not apply the primary's {pos} within {timeout} s")

    def counters(self):
        """Com_select (SELECTs run, prepared ones included) and Questions on each node."""
        out = {}
        for node in NODES:
            c = self.connect(node, probe=True)
            try:
                with c.cursor() as cur:
                    cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Questions')")
                    out[node] = {k.lower(): int(v) for k, v in cur.fetchall()}
            finally:
                c.close()
        return out

    def server_pids(self):
        pids = []
        for node in NODES:
            try:
                with open(os.path.join(self.dir, "run", f"{node}.pid")) as f:
                    pids.append(int(f.read().strip()))
            except (OSError, ValueError):
                pass
        return pids

    def stop(self):
        if not self.started:
            return
        r = run(["bash", MARIADB_SANDBOX_SH, "stop"], timeout=180, env=self.env, check=False)
        if r.returncode != 0:
            info(f"mariadb_sandbox.sh stop failed: {r.stderr.strip()[-500:]}")
        self.started = False


# ---------------------------------------------------------------------------------------------------
# The targets. Each is ready when a real login and query through it work.

class Target:
    name = "?"

    def __init__(self, bench):
        self.bench = bench
        self.port = compare.free_port()
        self.proc = None
        self.restarts = 0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def describe(self):
        return ""

    def path(self, what):
        return os.path.join(self.bench.work, f"{self.name}-{what}")

    def launch(self):
        raise NotImplementedError

    def start(self):
        self.launch()
        return self.wait_ready()

    def wait_ready(self, timeout=60):
        sb = self.bench.sandbox
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc and not self.proc.alive():
                raise RuntimeError(f"{self.name} exited during start-up with status {self.proc.proc.returncode}:\n"
                                   + self.proc.log_tail())
            try:
                c = pymysql.connect(host=HOST, port=self.port, user=sb.user, password=sb.password,
                                    database=sb.database, autocommit=True, connect_timeout=5)
                with c.cursor() as cur:
                    cur.execute("SELECT 1")
                c.close()
                return self
            except pymysql.MySQLError as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready on :{self.port} within {timeout} s: {last}\n"
                           + (self.proc.log_tail() if self.proc else ""))

    def alive(self):
        return self.proc is None or self.proc.alive()

    def revive(self):
        """A proxy that died in one run (a crash is a finding, reported) is started again for the next; if
        it cannot be, that run fails as any other and the benchmark goes on."""
        info(f"{self.name} (pid {self.pid}) exited with status {self.proc.proc.returncode}; its log ends:\n"
             f"{self.proc.log_tail()}\nstarting it again")
        self.proc.stop()
        self.restarts += 1
        try:
            self.start()
        except RuntimeError as e:
            info(f"{self.name} did not start again: {e}")

    def cpu_seconds(self):
        return tree_cpu_seconds(self.pid) if self.proc else None

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None


class Direct(Target):
    name = "direct"

    def __init__(self, bench):
        super().__init__(bench)
        self.port = bench.sandbox.ports["replica1"]

    def describe(self):
        return ("no proxy: sysbench straight to replica1 (sluice and HAProxy send these reads to the "
                "replicas, so a replica is the fair baseline; one server thread per client)")

    def launch(self):
        pass


class Sluice(Target):
    def __init__(self, bench, workers):
        super().__init__(bench)
        self.workers = workers
        self.name = f"sluice-w{workers}"

    def describe(self):
        a = self.bench.args
        return (f"workers = {self.workers}, [[mysql.users]] pool_size = {a.pool_size} per backend (whole proxy), "
                "transaction pooling, primary + 2 replicas (reads round-robin on the replicas)")

    def launch(self):
        a, sb = self.bench.args, self.bench.sandbox
        backends = "".join(
            f'\n[[mysql.backends]]\nname = "{n}"\nhost = "{HOST}"\nport = {sb.ports[n]}\n'
            f'role = "{"primary" if n == "primary" else "replica"}"\n' for n in NODES)
        # sluice needs a PostgreSQL backend and user even when only MySQL is served: a backend on port 1
        # (nothing listens), probed rarely so that its failing probes cost next to nothing.
        config = f"""# written by integration/bench/mysql_bench.py
listen = "{HOST}:{compare.free_port()}"
workers = {self.workers}
shutdown_timeout = "2s"

[pool]
mode = "transaction"

[health]
probe_interval = "10s"

[logging]
level = "warn"

[[backends]]
name = "pg-unused"
host = "{HOST}"
port = 1
role = "primary"

[[users]]
name = "pg-unused"
password = "unused"

[mysql]
listen = "{HOST}:{self.port}"
{backends}
[[mysql.users]]
name = "{sb.user}"
password = "{sb.password}"
pool_size = {a.pool_size}
"""
        path = self.path("sluice.toml")
        with open(path, "w") as f:
            f.write(config)
        self.proc = Process(self.name, [self.bench.sluice_bin, "--config", path], self.path("sluice.log"))


class HAProxy(Target):
    name = "haproxy"

    def describe(self):
        return "mode tcp, balance roundrobin over replica1 and replica2, no pooling (a server connection per client)"

    def launch(self):
        sb = self.bench.sandbox
        config = f"""# written by integration/bench/mysql_bench.py
global
    maxconn 4000
    log stdout format raw local0 err

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend mysql
    bind {HOST}:{self.port}
    default_backend replicas

backend replicas
    balance roundrobin
    server replica1 {HOST}:{sb.ports['replica1']}
    server replica2 {HOST}:{sb.ports['replica2']}
"""
        path = self.path("haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        self.proc = Process(self.name, [HAPROXY_BIN, "-db", "-f", path], self.path("haproxy.log"))


# ---------------------------------------------------------------------------------------------------
# sysbench, and how busy the machine was around each run.

def parse_sysbench(out):
    def num(pattern):
        m = re.search(pattern, out, re.M)
        return float(m.group(1)) if m else None
    return {
        "queries": num(r"^\s*queries:\s+(\d+)"),
        "qps": num(r"^\s*queries:\s+\d+\s+\(([\d.]+) per sec"),
        "transactions": num(r"^\s*transactions:\s+(\d+)"),
        "ignored_errors": num(r"^\s*ignored errors:\s+(\d+)"),
        "reconnects": num(r"^\s*reconnects:\s+(\d+)"),
        "lat_avg_ms": num(r"^\s*avg:\s+([\d.]+)"),
        "lat_p95_ms": num(r"^\s*95th percentile:\s+([\d.]+)"),
        "time_s": num(r"^\s*total time:\s+([\d.]+)s"),
    }


def cpu_times():
    """(user + nice + system, steal) of the whole machine in seconds, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return (fields[0] + fields[1] + fields[2]) / compare.CLK_TCK, fields[7] / compare.CLK_TCK


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Cell:
    def __init__(self, test, threads, ps_mode):
        self.test, self.threads, self.ps_mode = test, threads, ps_mode

    @property
    def key(self):
        return f"{self.test}/{self.threads}/{self.ps_mode}"


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work_dir
        self.sluice_bin = None
        self.sandbox = None

    def sysbench_base(self, port):
        a, sb = self.args, self.sandbox
        return ["sysbench", "--db-driver=mysql", f"--mysql-host={HOST}", f"--mysql-port={port}",
                f"--mysql-user={sb.user}", f"--mysql-password={sb.password}", f"--mysql-db={sb.database}",
                f"--tables={a.tables}", f"--table-size={a.table_size}"]

    def prepare(self):
        t0 = time.monotonic()
        run(self.sysbench_base(self.sandbox.ports["primary"]) + [f"--threads={min(self.args.tables, 2)}",
                                                                 "oltp_common", "prepare"], timeout=1800)
        self.sandbox.wait_replicated()
        for node in ("replica1", "replica2"):
            rows = self.sandbox.value(node, f"SELECT COUNT(*) FROM sbtest{self.args.tables}")
            if rows != self.args.table_size:
                raise RuntimeError(f"{node} has {rows} rows in sbtest{self.args.tables}, not {self.args.table_size}")
        info(f"sysbench tables ({self.args.tables} x {self.args.table_size} rows) on the primary and both replicas "
             f"in {time.monotonic() - t0:.1f} s")

    def sysbench(self, target, cell, seconds, measure=True):
        """One sysbench run through `target`; its figures, the proxy's CPU, where the SELECTs ran, and how
        much CPU the machine spent outside the processes of the benchmark."""
        a = self.args
        cmd = self.sysbench_base(target.port) + [
            cell.test, f"--threads={cell.threads}", f"--time={seconds}", f"--db-ps-mode={cell.ps_mode}",
            # A proxy that stops answering must not hang the benchmark: sysbench gives up 15 s after --time.
            "--forced-shutdown=15", "--report-interval=0"]
        if cell.test == "oltp_read_only" and a.skip_trx:
            cmd.append("--skip_trx=on")
        cmd.append("run")
        sb = self.sandbox
        counters0 = sb.counters() if measure else None
        servers = sb.server_pids()
        srv0 = sum(tree_cpu_seconds(p) for p in servers)
        cpu0, child0, (busy0, steal0) = target.cpu_seconds(), children_cpu(), cpu_times()
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=self.work)
            out, rc = r.stdout + r.stderr, r.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc = "timeout"
        wall = time.monotonic() - t0
        cpu1, child1, (busy1, steal1) = target.cpu_seconds(), children_cpu(), cpu_times()
        srv1 = sum(tree_cpu_seconds(p) for p in servers)
        res = parse_sysbench(out)
        res.update(rc=rc, wall_s=round(wall, 2), loadavg=open("/proc/loadavg").read().split()[0])
        if cpu0 is not None and cpu1 is not None:
            res["proxy_cpu_s"] = round(cpu1 - cpu0, 3)
            if res["queries"]:
                res["cpu_us_per_query"] = (cpu1 - cpu0) * 1e6 / res["queries"]
        ours = (child1 - child0) + (srv1 - srv0) + ((cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else 0)
        capacity = wall * (os.cpu_count() or 1)
        res["sysbench_cpu_s"] = round(child1 - child0, 3)
        res["servers_cpu_s"] = round(srv1 - srv0, 3)
        if res["queries"]:
            res["servers_us_per_query"] = (srv1 - srv0) * 1e6 / res["queries"]
        # Noise: CPU time the machine spent outside sysbench, the three servers and the proxy (interrupts
        # and softirqs, where loopback traffic is partly accounted, are left out of both), and steal.
        res["other_cpu_pct"] = round(max(0.0, (busy1 - busy0) - ours) * 100 / capacity, 1)
        res["steal_pct"] = round((steal1 - steal0) * 100 / capacity, 1)
        if measure:
            counters1 = sb.counters()
            res["com_select"] = {n: counters1[n]["com_select"] - counters0[n]["com_select"] for n in NODES}
        errors = []
        if rc != 0:
            errors.append(f"sysbench exit {rc}")
        if not res["queries"]:
            errors.append("no queries")
        if not target.alive():
            errors.append(f"{target.name} exited (status {target.proc.proc.returncode})")
        if errors:
            lines = out.splitlines()
            # The server's (or the proxy's) error says most; else sysbench's first complaint.
            first = next((ln for ln in lines if "MySQL error" in ln),
                         next((ln for ln in lines if "FATAL" in ln or "error" in ln.lower()), ""))
            res["error"] = "; ".join(errors) + (f": {first.strip()[:200]}" if first else "")
            res["output_tail"] = lines[-15:]
        return res

    def cells(self):
        a = self.args
        return [Cell(t, n, m) for t in a.tests for n in a.threads for m in a.ps_modes]

    def run_matrix(self, targets):
        a = self.args
        cells = self.cells()
        per_run = 1.5  # sysbench's start, its connections, and the counters read around each run
        total = len(cells) * len(targets) * (a.rounds * (a.time + per_run) + (a.warmup + per_run if a.warmup else 0))
        info(f"{len(cells)} cells x {len(targets)} targets x {a.rounds} rounds of {a.time} s "
             f"(+ {a.warmup} s warm-up each): about {total / 60:.0f} min")
        results = []
        for cell in cells:
            runs = {t.name: [] for t in targets}
            for t in targets:
                if not t.alive():
                    t.revive()
                if a.warmup:
                    w = self.sysbench(t, cell, a.warmup, measure=False)
                    if w.get("error"):
                        info(f"{cell.key:<32} {t.name:<10} warm-up: ERROR {w['error']}")
            for i in range(a.rounds):
                order = targets if i % 2 == 0 else list(reversed(targets))  # no target always first
                for t in order:
                    if not t.alive():
                        t.revive()
                    res = self.sysbench(t, cell, a.time)
                    runs[t.name].append(res)
                    info(f"{cell.key:<32} {t.name:<10} round {i + 1}: "
                         + (f"qps {res['qps']:.0f}" if res["qps"] else "qps -")
                         + (f", cpu {res['cpu_us_per_query']:.1f} us/q" if res.get("cpu_us_per_query") else "")
                         + f", other cpu {res['other_cpu_pct']:.0f}%, steal {res['steal_pct']:.0f}%"
                         + (f"  ERROR {res['error']}" if res.get("error") else ""))
            rows = [summarize(cell, t, runs[t.name]) for t in targets]
            direct = next((r for r in rows if r["target"] == "direct"), None)
            for r in rows:
                r["ratio_direct"] = (r["qps"] / direct["qps"]) if direct and direct["qps"] and r["qps"] else None
            results += rows
        return results


def med_of(values):
    return statistics.median(values) if values else None


def summarize(cell, target, runs):
    ok = [r for r in runs if not r.get("error")]

    def med(key):
        vals = [r[key] for r in ok if r.get(key) is not None]
        return statistics.median(vals) if vals else None
    selects = {n: sum(r["com_select"][n] for r in ok if r.get("com_select")) for n in NODES}
    total = sum(selects.values())
    return {
        "cell": cell.key, "test": cell.test, "threads": cell.threads, "ps_mode": cell.ps_mode,
        "target": target.name, "qps": med("qps"), "lat_avg_ms": med("lat_avg_ms"), "lat_p95_ms": med("lat_p95_ms"),
        "cpu_us_per_query": med("cpu_us_per_query"), "servers_us_per_query": med("servers_us_per_query"),
        # Runs that failed at once last milliseconds: their share of the machine says nothing.
        "other_cpu_pct_median": med_of([r["other_cpu_pct"] for r in runs if r["wall_s"] >= 1.0]),
        "runs_ok": len(ok), "runs": len(runs),
        "select_share": {n: selects[n] / total for n in NODES} if total else None,
        "errors": [r["error"] for r in runs if r.get("error")], "raw": runs,
    }


# ---------------------------------------------------------------------------------------------------
# Reporting.

fmt = compare.fmt


def matrix_table(results):
    lines = [f"{'target':<10} {'test':<18} {'threads':>7} {'ps-mode':<8} {'QPS':>8} {'x direct':>8} "
             f"{'CPU us/q':>8} {'srv us/q':>8} {'lat ms':>7} {'p95 ms':>7} {'SELECTs p/r1/r2 %':>17} "
             f"{'other%':>6} {'runs':>5}  error"]
    last = None
    for r in results:
        if last and last != r["cell"]:
            lines.append("")
        last = r["cell"]
        share = r.get("select_share")
        split = "/".join(f"{share[n] * 100:.0f}" for n in NODES) if share else "-"
        err = ("ERROR " + r["errors"][0][:90]) if r["errors"] else ""
        lines.append(f"{r['target']:<10} {r['test']:<18} {r['threads']:>7} {r['ps_mode']:<8} {fmt(r['qps']):>8} "
                     f"{fmt(r.get('ratio_direct'), '.2f'):>8} {fmt(r['cpu_us_per_query'], '.1f'):>8} "
                     f"{fmt(r.get('servers_us_per_query'), '.1f'):>8} "
                     f"{fmt(r['lat_avg_ms'], '.2f'):>7} {fmt(r['lat_p95_ms'], '.2f'):>7} {split:>17} "
                     f"{fmt(r.get('other_cpu_pct_median'), '.0f'):>6} {r['runs_ok']:>2}/{r['runs']:<2}  {err}")
    return "\n".join(lines)


def targets(results):
    """The issue's targets for every sluice and ps-mode: (what, measured, PASS | MISS | N/A, detail)."""
    out = []
    for r in results:
        if not r["target"].startswith("sluice") or r["test"] != "oltp_point_select" or r["threads"] != 16:
            continue
        what = f"oltp_point_select 16 threads ps-mode {r['ps_mode']}: {r['target']}"
        why = ("failed: " + r["errors"][0][:90]) if r["qps"] is None and r["errors"] else ""
        v = r.get("ratio_direct")
        out.append((f"{what} QPS >= {TARGET_QPS_RATIO}x direct", v,
                    "N/A" if v is None else ("PASS" if v >= TARGET_QPS_RATIO else "MISS"),
                    why or ("" if v is not None else "direct failed")))
        v = r["cpu_us_per_query"]
        out.append((f"{what} CPU <= {TARGET_CPU_US:.0f} us/query", v,
                    "N/A" if v is None else ("PASS" if v <= TARGET_CPU_US else "MISS"), why))
    return out


def noise_summary(results):
    runs = [x for r in results for x in r["raw"] if x["wall_s"] >= 1.0]  # not those that failed at once
    if not runs:
        return "no runs"
    wall = sum(x["wall_s"] for x in runs)
    other = [x["other_cpu_pct"] for x in runs]
    return (f"CPU used outside sysbench, the servers and the proxy during the runs: "
            f"{sum(x['other_cpu_pct'] * x['wall_s'] for x in runs) / wall:.0f}% of the machine over all runs, "
            f"median run {statistics.median(other):.0f}%, worst run {max(other):.0f}% "
            f"({sum(1 for x in other if x >= 10)} of {len(other)} runs at 10% or more); steal "
            f"{sum(x['steal_pct'] * x['wall_s'] for x in runs) / wall:.1f}%")


def machine_info(sluice_bin, mariadb_version):
    def version(cmd, pattern):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            m = re.search(pattern, out.stdout + out.stderr)
            return m.group(1) if m else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    commit = compare.git_commit(os.path.dirname(os.path.realpath(sluice_bin)) if sluice_bin else SOURCE_DIR)
    cpu = "?"
    try:
        m = re.search(r"^model name\s*:\s*(.*)$", open("/proc/cpuinfo").read(), re.M)
        cpu = m.group(1).strip() if m else "?"
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "mariadb": mariadb_version,
        "sysbench": version(["sysbench", "--version"], r"sysbench (\S+)"),
        "haproxy": version([HAPROXY_BIN, "-v"], r"version (\S+)"),
        "sluice": f"{sluice_bin} (commit {commit})",
    }


def markdown(report):
    m, s = report["machine"], report["settings"]
    out = [f"Run of {m['date']} (`{' '.join(report['command'])}`), {report['elapsed_min']:.0f} min.", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; load average at the start "
           f"{' '.join(m['loadavg_start'])}, at the end {' '.join(m.get('loadavg_end', ['?']))}. "
           f"{report['tables']['noise']}. MariaDB {m['mariadb']}, sysbench {m['sysbench']}, "
           f"HAProxy {m['haproxy']}; sluice {m['sluice']}.", "",
           f"Settings: sysbench --time={s['time']} x {s['rounds']} rounds per cell (median, interleaved), "
           f"{s['tables']} tables x {s['table_size']} rows, sluice pool_size {s['pool_size']} per backend"
           + (", oltp_read_only with --skip_trx=on" if s.get("skip_trx") else "") + ".", "",
           "```", report["tables"]["matrix"], "```", "",
           "Targets:", "", "```", report["tables"]["targets"], "```", ""]
    return "\n".join(out)


def update_docs(report):
    """Rewrites the text between the markers of the MySQL section of docs/benchmarks.md; appends the
    section with its markers if the page has none."""
    try:
        text = open(BENCHMARKS_MD).read()
    except OSError:
        info(f"no {BENCHMARKS_MD}: not updated")
        return
    if DOCS_BEGIN not in text or DOCS_END not in text:
        text = (text.rstrip("\n") + f"\n\n{DOCS_SECTION}\n\nWritten by `integration/bench/mysql_bench.py` "
                "(see integration/bench/README.md).\n\n" + DOCS_BEGIN + "\n" + DOCS_END + "\n")
    with open(BENCHMARKS_MD, "w") as f:
        f.write(compare.replace_between_markers(text, DOCS_BEGIN, DOCS_END, markdown(report)))
    info(f"updated the MySQL results in {BENCHMARKS_MD}")


def finish(report, args):
    results = report["matrix"]
    tg = targets(results)
    report["targets"] = [{"target": w, "value": v, "status": s, "detail": d} for w, v, s, d in tg]
    report["tables"] = {"matrix": matrix_table(results), "targets": compare.targets_table(tg, what_width=72, value_width=7),
                        "noise": noise_summary(results)}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(markdown(report))
    if args.write_docs:
        update_docs(report)
    print()
    for name, d in report.get("targets_described", {}).items():
        print(f"{name:<10} {d}")
    print("\noltp_read_only runs each transaction as BEGIN ... COMMIT unless --skip-trx: a proxy that splits reads "
          "cannot know it will only read, so sluice runs it on the primary (see the SELECTs column).")
    print("\n== sysbench (median of rounds; CPU us/q: the proxy's utime + stime per query sysbench counted; srv us/q: "
          "the three mariadbd's; SELECTs: Com_select on primary/replica1/replica2; other%: CPU outside the "
          f"benchmark's processes, in % of the machine)\n"
          f"{report['tables']['matrix']}")
    print(f"\n== targets (issue 12)\n{report['tables']['targets']}")
    print(f"\n== noise\n{report['tables']['noise']}; load average at the start "
          f"{' '.join(report['machine']['loadavg_start'])}, at the end "
          f"{' '.join(report['machine'].get('loadavg_end', ['?']))}")
    print(f"\nresults: {os.path.join(args.out, 'results.json')}; {report['elapsed_min']:.1f} min in all")


# ---------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=compare._HelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="for development: --time 3, 1 round, results in /tmp/sluice-mysql-bench-quick, docs untouched")
    p.add_argument("--sluice-bin", default=os.environ.get("SLUICE_BIN") or DEFAULT_SLUICE,
                   help="the sluice binary (SLUICE_BIN; default build/release/router/sluice)")
    p.add_argument("--targets", default="direct,sluice,haproxy", help="which of direct, sluice, haproxy")
    p.add_argument("--sluice-workers", default="1,2", help="one sluice per worker count")
    p.add_argument("--tests", default=",".join(TESTS), help="sysbench tests")
    p.add_argument("--threads", default="16,64", help="sysbench --threads")
    p.add_argument("--ps-modes", default=",".join(PS_MODES), help="sysbench --db-ps-mode values")
    p.add_argument("--time", type=int, default=10, help="sysbench --time, seconds per run")
    p.add_argument("--rounds", type=int, default=3, help="runs per cell and target (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of sysbench per cell and target before the rounds")
    p.add_argument("--tables", type=int, default=4, help="sysbench --tables")
    p.add_argument("--table-size", type=int, default=10000, help="sysbench --table-size")
    p.add_argument("--pool-size", type=int, default=4, help="sluice's [[mysql.users]] pool_size (per backend)")
    p.add_argument("--skip-trx", action="store_true", help="oltp_read_only without BEGIN/COMMIT (autocommit reads)")
    p.add_argument("--out", default=None, help="results directory (default /tmp/sluice-mysql-bench, "
                   "/tmp/sluice-mysql-bench-quick with --quick)")
    p.add_argument("--update-docs", choices=("auto", "yes", "no"), default="auto",
                   help="rewrite the MySQL results in docs/benchmarks.md (auto: unless --quick)")
    p.add_argument("--from-json", metavar="FILE", help="run nothing: print the tables (and docs, see --update-docs) "
                   "again from an earlier results.json")
    args = p.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    given = {a.dest for a in p._actions
             if any(w == o or w.startswith(o + "=") for o in a.option_strings for w in words)}
    if args.quick:
        for k, v in {"time": 3, "rounds": 1}.items():
            if k not in given:
                setattr(args, k, v)
    args.targets = [x for x in args.targets.split(",") if x]
    for x in args.targets:
        if x not in ("direct", "sluice", "haproxy"):
            p.error(f"unknown target {x!r}")
    args.sluice_workers = compare.int_list(args.sluice_workers)
    args.tests = [x for x in args.tests.split(",") if x]
    args.threads = compare.int_list(args.threads)
    args.ps_modes = [x for x in args.ps_modes.split(",") if x]
    if args.out is None:
        args.out = "/tmp/sluice-mysql-bench-quick" if args.quick else "/tmp/sluice-mysql-bench"
    args.write_docs = args.update_docs == "yes" or (args.update_docs == "auto" and not args.quick)
    args.work_dir = os.path.join(args.out, "work")  # the proxies' configs and logs, kept after the run
    return args


def main():
    args = parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            report = json.load(f)
        finish(report, args)
        return 0
    if os.geteuid() != 0:
        print("mysql_bench.py: run as root (the sandbox runs mariadbd as the mysql user)", file=sys.stderr)
        return 2
    if "sluice" in args.targets and not os.access(args.sluice_bin, os.X_OK):
        print(f"mysql_bench.py: no sluice at {args.sluice_bin}; build it (cmake -S . -B build/release -G Ninja "
              "-DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF && cmake --build build/release --target sluice) "
              "or set SLUICE_BIN", file=sys.stderr)
        return 2
    if "haproxy" in args.targets and not os.access(HAPROXY_BIN, os.X_OK):
        print(f"mysql_bench.py: no {HAPROXY_BIN}: run integration/bench/install-peers.sh, or leave haproxy out "
              "of --targets", file=sys.stderr)
        return 2
    t_start = time.monotonic()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    bench = Bench(args)
    bench.sluice_bin = os.path.abspath(args.sluice_bin)
    bench.sandbox = MariaDBSandbox(f"/tmp/sluice-mysql-bench-{os.getpid()}")
    report = {"command": [os.path.relpath(os.path.abspath(sys.argv[0]), SOURCE_DIR)] + sys.argv[1:],
              "settings": {k: v for k, v in vars(args).items()}}
    started, descriptions, results = [], {}, []
    try:
        bench.sandbox.start()
        report["machine"] = machine_info(bench.sluice_bin if "sluice" in args.targets else None,
                                         bench.sandbox.version())
        bench.prepare()
        for name in args.targets:
            if name == "direct":
                started.append(Direct(bench))
            elif name == "sluice":
                started += [Sluice(bench, w) for w in args.sluice_workers]
            elif name == "haproxy":
                started.append(HAProxy(bench))
        for t in started:
            t0 = time.monotonic()
            t.start()
            descriptions[t.name] = t.describe()
            info(f"{t.name} ready on :{t.port}" + (f" (pid {t.pid})" if t.pid else "") +
                 f" in {time.monotonic() - t0:.1f} s: {t.describe()}")
        results = bench.run_matrix(started)
        for t in started:
            if t.restarts:
                info(f"{t.name} exited and was started again {t.restarts} time(s) during the runs")
            if not t.alive():
                info(f"{t.name} exited during the runs:\n{t.proc.log_tail()}")
    except KeyboardInterrupt as e:
        info(f"interrupted ({e}): stopping everything")
        raise
    finally:
        for t in started:
            try:
                t.stop()
            except Exception as e:  # cleanup goes on
                info(f"stopping {t.name}: {e}")
        compare.stop_all_started()
        bench.sandbox.stop()
    report.update(elapsed_min=(time.monotonic() - t_start) / 60, targets_described=descriptions, matrix=results,
                  restarts={t.name: t.restarts for t in started if t.restarts})
    report["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    finish(report, args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
