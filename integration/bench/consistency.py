#!/usr/bin/python3
"""Benchmark: what sluice's read-your-writes modes cost, with pgbench through one sluice.

Starts a sandbox of its own (integration/sandbox.sh: a PostgreSQL 15 primary and two streaming replicas,
free ports, /tmp/sluice-scoring-consistency-<pid>), initialises pgbench (scale 10) on the primary and
waits for the replicas to replay it, then starts one sluice with four client users that log in to the
servers as `app`, one per mode: eventual, read_your_writes with consistency_scope session, user and
global. For each round, each workload (pgbench -S in -M simple and extended, the tpcb-like script, and a
write-then-read-back script) runs for each mode in turn, interleaved (A B C D, D C B A, ...). Prints per
workload and mode: median TPS, ratio to eventual, latency average and p99, the share of statements the
replicas served (admin API, GET /backends `dispatched`) and sluice's causal counters (GET /status).
Writes results.json into --out. A report, not a test: it exits 0 unless something breaks. See
integration/bench/README.md."""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "tests", "scoring"))

import lib  # noqa: E402
from lib import HOST, Cluster, info  # noqa: E402

PG_BIN = os.environ.get("SLUICE_PG_BIN", "/usr/lib/postgresql/15/bin")
DATABASE = "app"
SERVER_USER, SERVER_PASSWORD = "app", "app_pw"  # the sandbox's SCRAM user; every bench user logs in as it
CLIENT_PASSWORD = "bench_pw"

# mode -> (client user, its [[users]] keys). One sluice serves them all, so runs can be interleaved.
MODES = {
    "eventual": ("bench_eventual", {"consistency": "eventual"}),
    "ryw-session": ("bench_ryw_session", {"consistency": "read_your_writes", "consistency_scope": "session"}),
    "ryw-user": ("bench_ryw_user", {"consistency": "read_your_writes", "consistency_scope": "user"}),
    "ryw-global": ("bench_ryw_global", {"consistency": "read_your_writes", "consistency_scope": "global"}),
}

# Every transaction writes a row and reads it back, each statement in autocommit: read-your-writes has
# to hold for each read.
WRITE_READ_SCRIPT = """\\set id random(1, 100000 * :scale)
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :id;
SELECT abalance FROM pgbench_accounts WHERE aid = :id;
"""

# workload -> (label, pgbench arguments; {script} and {scale} filled in)
WORKLOADS = {
    "select-simple": ("-S -M simple", ["-S", "-M", "simple"]),
    "select-extended": ("-S -M extended", ["-S", "-M", "extended"]),
    "tpcb-like": ("tpcb-like -M simple", ["-b", "tpcb-like", "-M", "simple"]),
    "write-read": ("UPDATE, then SELECT it", ["-f", "{script}", "-s", "{scale}", "-M", "simple"]),
}

# /status counters shown per transaction in the table (all of them go into results.json).
COUNTERS = ("routed_primary", "routed_replica", "replica_fallbacks", "causal_checks", "causal_primary_reads")


def default_sluice_bin():
    if os.environ.get("SLUICE_BIN"):
        return os.environ["SLUICE_BIN"]
    for rel in ("build/release/router/sluice", "build/test/router/sluice"):
        path = os.path.join(SOURCE_DIR, rel)
        if os.access(path, os.X_OK):
            return path
    return os.path.join(SOURCE_DIR, "build/release/router/sluice")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=int, default=8, help="pgbench -T of each run")
    p.add_argument("--rounds", type=int, default=3, help="runs per workload and mode (median reported)")
    p.add_argument("--clients", type=int, default=16, help="pgbench -c")
    p.add_argument("--jobs", type=int, default=2, help="pgbench -j")
    p.add_argument("--warmup", type=int, default=1,
                   help="seconds of pgbench per workload and mode before the first round, not counted (0: none)")
    p.add_argument("--scale", type=int, default=10, help="pgbench -i -s")
    p.add_argument("--async-commit", action="store_true",
                   help="ALTER ROLE app SET synchronous_commit = off, as the sandbox has run (default: ... = on, "
                        "production's default)")
    p.add_argument("--modes", default=",".join(MODES), help="which of " + ",".join(MODES))
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="which of " + ",".join(WORKLOADS))
    p.add_argument("--pool-size", type=int, default=8, help="pool_size of each bench user (per backend)")
    p.add_argument("--workers", type=int, default=None, help="sluice's workers (default: sluice's own default)")
    p.add_argument("--causal-wait", default=None, help="routing.causal_wait (default: sluice's, 50ms)")
    p.add_argument("--probe-timeout", default="2s",
                   help="health.probe_timeout: sluice's 500 ms default can mark a backend unreachable on a "
                        "saturated 2-core machine")
    p.add_argument("--sampling-rate", type=float, default=0.2, help="pgbench --sampling-rate of the latency log (p99)")
    p.add_argument("--sluice-bin", default=default_sluice_bin(),
                   help="env SLUICE_BIN, else build/release/router/sluice, else build/test/router/sluice")
    p.add_argument("--out", default="/tmp/sluice-bench-consistency", help="results directory")
    args = p.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for m in args.modes:
        if m not in MODES:
            p.error(f"unknown mode {m!r}: one of {', '.join(MODES)}")
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}: one of {', '.join(WORKLOADS)}")
    return args


# ---------------------------------------------------------------------------------------------------
# sluice's admin API.

class Admin:
    def __init__(self, sluice):
        with open(sluice.config_path) as f:
            m = re.search(r'(?ms)^\[admin\]\n(?:[^\[].*?\n)*?token = "([^"]*)"', f.read())
        if not m:
            raise RuntimeError(f"no [admin] token in {sluice.config_path}")
        self.token = m.group(1)
        self.base = f"http://{HOST}:{sluice.admin_port}"

    def get(self, path):
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def snapshot(self):
        backends = self.get("/backends")["backends"]
        counters = self.get("/status")["counters"]
        return {"dispatched": {b["name"]: b["dispatched"] for b in backends},
                "primary": [b["name"] for b in backends if b["is_primary"]],
                "counters": counters}


def delta(before, after):
    dispatched = {n: after["dispatched"][n] - before["dispatched"].get(n, 0) for n in after["dispatched"]}
    counters = {k: v - before["counters"].get(k, 0) for k, v in after["counters"].items()
                if isinstance(v, (int, float))}
    total = sum(dispatched.values())
    to_replicas = sum(v for n, v in dispatched.items() if n not in after["primary"])
    return {"dispatched": dispatched, "counters": counters,
            "replica_share": (to_replicas / total) if total else None}


# ---------------------------------------------------------------------------------------------------
# pgbench.

def pgbench_env(password):
    return dict(os.environ, PGPASSWORD=password, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10",
                PGAPPNAME="sluice-bench-consistency")


def run_child(cmd, timeout, env=None, cwd=None):
    """Runs cmd in a session of its own, so that a signal to us does not leave it behind: stopped
    (SIGTERM, then SIGKILL) however this ends. Returns (exit status or "timeout", output)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=cwd, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        return "timeout", ""
    finally:
        if proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    pass


def parse_pgbench(out):
    def num(pattern):
        m = re.search(pattern, out, re.M)
        return float(m.group(1)) if m else None
    return {"tps": num(r"^tps = ([\d.]+)"),
            "transactions": num(r"^number of transactions actually processed: (\d+)"),
            "failed": num(r"^number of failed transactions: (\d+)"),
            "lat_avg_ms": num(r"^latency average = ([\d.]+) ms")}


class Bench:
    def __init__(self, args, cluster, sluice, admin):
        self.args, self.cluster, self.sluice, self.admin = args, cluster, sluice, admin
        self.script = os.path.join(args.out, "write_read.sql")
        with open(self.script, "w") as f:
            f.write(WRITE_READ_SCRIPT)
        self.log_dir = os.path.join(args.out, "pgbench-log")

    def pgbench(self, workload, mode, seconds, log=True):
        a = self.args
        user = MODES[mode][0]
        wargs = [x.format(script=self.script, scale=a.scale) for x in WORKLOADS[workload][1]]
        shutil.rmtree(self.log_dir, ignore_errors=True)
        os.makedirs(self.log_dir)
        prefix = os.path.join(self.log_dir, "tx")
        cmd = [os.path.join(PG_BIN, "pgbench"), "-h", HOST, "-p", str(self.sluice.port), "-U", user, "-n",
               "-c", str(a.clients), "-j", str(min(a.jobs, a.clients)), "-T", str(seconds), *wargs]
        if log:
            cmd += ["-l", "--log-prefix", prefix, f"--sampling-rate={a.sampling_rate}"]
        cmd.append(DATABASE)
        # Every run starts with the replicas caught up: the previous run's writes do not count against it.
        self.cluster.wait_replayed(timeout=120)
        before = self.admin.snapshot()
        t0 = time.monotonic()
        rc, out = run_child(cmd, timeout=seconds + 120, env=pgbench_env(CLIENT_PASSWORD), cwd=self.log_dir)
        wall = time.monotonic() - t0
        res = parse_pgbench(out)
        res.update(workload=workload, mode=mode, rc=rc, wall_s=round(wall, 2))
        errors = []
        if not self.sluice.alive():
            raise RuntimeError(f"sluice exited during {workload} / {mode}:\n{self.sluice.log_tail()}")
        res.update(delta(before, self.admin.snapshot()))
        lat = []
        for name in os.listdir(self.log_dir):
            with open(os.path.join(self.log_dir, name)) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[2].isdigit():
                        lat.append(int(parts[2]))
        res["p99_ms"] = lib.percentile(lat, 99) / 1000.0 if lat else None
        res["latency_samples"] = len(lat)
        if rc != 0:
            errors.append(f"pgbench exit {rc}")
        if res["failed"]:
            errors.append(f"{int(res['failed'])} failed transactions")
        if "aborted" in out:
            errors.append("clients aborted")
        if not res["tps"]:
            errors.append("no tps")
        if errors:
            lines = out.splitlines()
            first = next((ln for ln in lines if "aborted in command" in ln),
                         next((ln for ln in lines if "error" in ln.lower() or "fatal" in ln.lower()), ""))
            res["error"] = "; ".join(errors) + (f": {first.strip()[:300]}" if first else "")
            res["output_tail"] = lines[-15:]
        return res


def summarize(runs, modes, workloads):
    """Medians per (workload, mode) of the runs without error, and TPS ratios to eventual's."""
    rows = []
    for w in workloads:
        by_mode = {}
        for m in modes:
            mine = [r for r in runs if r["workload"] == w and r["mode"] == m]
            ok = [r for r in mine if not r.get("error")]

            def med(get):
                vals = [v for v in (get(r) for r in ok) if v is not None]
                return statistics.median(vals) if vals else None

            def per_tx(name):
                return med(lambda r: r["counters"].get(name, 0) / r["transactions"] if r["transactions"] else None)
            by_mode[m] = {
                "workload": w, "mode": m, "runs": len(mine), "runs_ok": len(ok),
                "errors": [r["error"] for r in mine if r.get("error")],
                "tps": med(lambda r: r["tps"]), "lat_avg_ms": med(lambda r: r["lat_avg_ms"]),
                "p99_ms": med(lambda r: r["p99_ms"]), "replica_share": med(lambda r: r["replica_share"]),
                "per_tx": {name: per_tx(name) for name in COUNTERS},
            }
        base = by_mode.get("eventual", {}).get("tps")
        for m in modes:
            tps = by_mode[m]["tps"]
            by_mode[m]["ratio_eventual"] = (tps / base) if tps and base else None
            rows.append(by_mode[m])
    return rows


def fmt(v, spec=".0f"):
    return "-" if v is None else format(v, spec)


def table(rows):
    head = (f"{'workload':<16} {'mode':<12} {'tps':>8} {'vs ev.':>7} {'lat ms':>7} {'p99 ms':>7} {'replica':>8} "
            f"{'pri/tx':>7} {'rep/tx':>7} {'chk/tx':>7} {'cpri/tx':>7} {'ok':>5}")
    lines = [head, "-" * len(head)]
    prev = None
    for r in rows:
        if prev and prev != r["workload"]:
            lines.append("")
        prev = r["workload"]
        t = r["per_tx"]
        share = "-" if r["replica_share"] is None else f"{r['replica_share'] * 100:.1f}%"
        lines.append(f"{r['workload']:<16} {r['mode']:<12} {fmt(r['tps']):>8} {fmt(r['ratio_eventual'], '.3f'):>7} "
                     f"{fmt(r['lat_avg_ms'], '.2f'):>7} {fmt(r['p99_ms'], '.2f'):>7} {share:>8} "
                     f"{fmt(t['routed_primary'], '.2f'):>7} {fmt(t['routed_replica'], '.2f'):>7} "
                     f"{fmt(t['causal_checks'], '.2f'):>7} {fmt(t['causal_primary_reads'], '.2f'):>7} "
                     f"{str(r['runs_ok']) + '/' + str(r['runs']):>5}")
    for r in rows:
        for e in r["errors"]:
            lines.append(f"error: {r['workload']} / {r['mode']}: {e}")
    return "\n".join(lines)


LEGEND = """\
tps, lat ms (pgbench's latency average), p99 ms (from pgbench's sampled log): median over the rounds.
vs ev.: tps / eventual's tps. replica: share of the batches sluice dispatched to replicas (GET /backends
`dispatched`, before and after the run; sluice's own queries, such as the WAL position it reads after a
commit, are not counted). Per pgbench transaction, from GET /status counters: pri/tx and rep/tx units
routed to the primary and to replicas (a unit: a transaction block or an autocommit statement), chk/tx
causal_checks (a read's commit position checked, or waited for, on a replica), cpri/tx
causal_primary_reads (reads sent to the primary to see a commit). ok: runs without error / runs."""


def machine_info(args):
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    commit = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "kernel": platform.release(),
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "pgbench": version([os.path.join(PG_BIN, "pgbench"), "--version"]),
            "sluice": args.sluice_bin, "source_commit": commit}


def bench_users(args):
    users = []
    for m in args.modes:
        name, keys = MODES[m]
        users.append({"name": name, "auth": "scram-sha-256", "password": CLIENT_PASSWORD, "server_user": SERVER_USER,
                      "server_password": SERVER_PASSWORD, "pool_size": args.pool_size, **keys})
    return users


def ignore_signals():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def run(args, report):
    lib.SLUICE_BIN = args.sluice_bin  # lib's Sluice.start() reads it
    cluster = Cluster("consistency")
    try:
        cluster.start()
        measure(args, report, cluster)
    finally:
        # Signals are ignored from here: a Ctrl-C would cut sandbox.sh stop short and leave PostgreSQL
        # running. A sandbox whose start was interrupted is stopped too.
        ignore_signals()
        if not cluster.started and os.path.exists(cluster.dir):
            cluster.started = True
        cluster.stop()


def measure(args, report, cluster):
    socket_dir = os.path.join(cluster.dir, "run")
    t0 = time.monotonic()
    rc, out = run_child([os.path.join(PG_BIN, "pgbench"), "-i", "-q", "-s", str(args.scale), "-h", socket_dir,
                         "-p", str(cluster.ports["primary"]), "-U", SERVER_USER, DATABASE], timeout=900,
                        env=pgbench_env(SERVER_PASSWORD))
    if rc != 0:
        raise RuntimeError(f"pgbench -i failed ({rc}):\n{out[-2000:]}")
    cluster.wait_replayed(timeout=300)
    info(f"pgbench -i -s {args.scale} on the primary and replayed by both replicas in {time.monotonic() - t0:.1f} s")
    if args.async_commit:
        cluster.node_value("primary", "ALTER ROLE app SET synchronous_commit = off; SELECT 1")
    else:
        cluster.node_value("primary", "ALTER ROLE app SET synchronous_commit = on; SELECT 1")
    cluster.wait_replayed(timeout=60)

    routing = {"causal_wait": args.causal_wait} if args.causal_wait else {}
    sluice = cluster.sluice(routing=routing, health={"probe_timeout": args.probe_timeout},
                            extra_users=bench_users(args), name="sluice-consistency", port=lib.free_port(),
                            workers=args.workers)
    try:
        sluice.start()
        admin = Admin(sluice)
        conn = sluice.connect(MODES[args.modes[0]][0], CLIENT_PASSWORD)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW synchronous_commit")
                report["synchronous_commit"] = cur.fetchone()[0]
        finally:
            conn.close()
        info(f"synchronous_commit = {report['synchronous_commit']} for app's server sessions; sluice admin "
             f"API on :{sluice.admin_port}; config {sluice.config_path}")
        bench = Bench(args, cluster, sluice, admin)
        cells = len(args.workloads) * len(args.modes)
        total = cells * (args.rounds * (args.seconds + 0.5) + (args.warmup + 0.5 if args.warmup else 0))
        info(f"{len(args.workloads)} workloads x {len(args.modes)} modes x {args.rounds} rounds of {args.seconds} s, "
             f"{args.clients} clients: about {total / 60:.1f} min")
        if args.warmup:
            for w in args.workloads:
                for m in args.modes:
                    bench.pgbench(w, m, args.warmup, log=False)
        for i in range(args.rounds):
            for w in args.workloads:
                order = args.modes if i % 2 == 0 else list(reversed(args.modes))  # no mode always first
                for m in order:
                    res = bench.pgbench(w, m, args.seconds)
                    res["round"] = i + 1
                    report["runs"].append(res)
                    share = "-" if res["replica_share"] is None else f"{res['replica_share'] * 100:.1f}%"
                    info(f"round {i + 1} {w:<16} {m:<12} tps {fmt(res['tps'])}, lat {fmt(res['lat_avg_ms'], '.2f')} "
                         f"ms, replicas {share}" + (f"  ERROR {res['error']}" if res.get("error") else ""))
    finally:
        try:
            os.makedirs(args.out, exist_ok=True)
            shutil.copyfile(sluice.log_path, os.path.join(args.out, "sluice.log"))
        except OSError as e:
            info(f"copying sluice's log: {e}")
        status = sluice.stop()
        report["sluice_exit_status"] = status
        if sluice.crashed:
            report["sluice_crashed"] = sluice.crashed
            info(f"sluice {sluice.crashed}")


def main():
    args = parse_args()
    if os.geteuid() != 0:
        print("consistency.py: run as root (the sandbox runs PostgreSQL as the postgres user)", file=sys.stderr)
        return 2

    def on_signal(signum, _frame):
        ignore_signals()  # once: the cleanup this unwinds into (pgbench, sluice, the sandbox) is not cut short
        raise KeyboardInterrupt(f"signal {signum}")
    # Explicitly: a shell that starts us in the background without job control ignores SIGINT for us.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    os.makedirs(args.out, exist_ok=True)
    report = {"command": [os.path.relpath(os.path.abspath(sys.argv[0]), SOURCE_DIR)] + sys.argv[1:],
              "settings": {k: v for k, v in vars(args).items()}, "machine": machine_info(args),
              "modes": {m: dict(MODES[m][1], user=MODES[m][0]) for m in args.modes},
              "workloads": {w: WORKLOADS[w][0] for w in args.workloads}, "runs": []}
    info(f"sluice {args.sluice_bin}; results into {args.out}; {os.cpu_count()} CPUs")
    status = 0
    try:
        run(args, report)
        if report.get("sluice_crashed"):
            status = 1
    except KeyboardInterrupt as e:
        info(f"interrupted ({e or 'Ctrl-C'}): cleaned up; partial results follow")
        status = 130
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        shutil.rmtree(os.path.join(args.out, "pgbench-log"), ignore_errors=True)
    report["summary"] = summarize(report["runs"], args.modes, args.workloads)
    path = os.path.join(args.out, "results.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    sync = report.get("synchronous_commit", "on" if not args.async_commit else "off")
    print()
    print(f"sluice read-your-writes modes: {args.clients} clients, {args.seconds} s x {args.rounds} rounds, scale "
          f"{args.scale}, synchronous_commit = {sync}")
    print(table(report["summary"]))
    print()
    print(LEGEND)
    print(f"\nresults: {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
