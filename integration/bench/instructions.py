#!/usr/bin/python3
"""Instructions per transaction: sluice and PgBouncer under callgrind (issue 14).

Callgrind counts the user-space instructions a process executes, deterministically: unlike TPS or CPU
seconds it does not move with the load of a shared machine, so it shows what a change to the data path
costs. Each proxy runs under `valgrind --tool=callgrind --instr-atstart=no` in front of the sandbox's
primary (the same configuration as compare.py: transaction pooling, read_write_split = false); once it is
ready, instrumentation is switched on (callgrind_control -i on), and for each pgbench mode two runs of
`pgbench -n -S -c CLIENTS -t N` (N = --short, then --long transactions per client) are counted between
callgrind_control -z (zero) and -d (dump). The difference of the two counts divided by the difference of
the transactions is the cost of one transaction, without the clients' logins (SCRAM) and start-up.

  integration/bench/instructions.py                         # sluice (build/router/sluice) and pgbouncer
  integration/bench/instructions.py --proxies sluice --modes extended --sluice-bin build/h/router/sluice
  integration/bench/instructions.py --classifier build/h/tests/sluice_classify_bench   # per statement

Run as root (the sandbox runs PostgreSQL as postgres); PgBouncer comes from install-peers.sh. A report,
not a test. See docs/benchmarks.md."""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the sandbox, the proxies' configurations, process handling)

MODES = ("simple", "extended", "prepared")


def callgrind_control(*args):
    return subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=120)


def dump_total(out_dir, pid):
    """Dumps the counters of `pid` and returns the instructions in that dump (since the last zeroing)."""
    before = set(glob.glob(os.path.join(out_dir, f"callgrind.out.{pid}*")))
    r = callgrind_control("-d", str(pid))
    if r.returncode != 0:
        raise RuntimeError(f"callgrind_control -d {pid}: {r.stdout} {r.stderr}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(glob.glob(os.path.join(out_dir, f"callgrind.out.{pid}*"))) - before
        for path in new:
            with open(path, errors="replace") as f:
                text = f.read()
            m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
            if m:
                return int(m.group(1))
        time.sleep(0.2)
    raise RuntimeError(f"no callgrind dump from {pid} in {out_dir}")


class Bench:
    """What compare.py's proxies expect of their bench."""

    def __init__(self, args, sandbox, work):
        self.args, self.sandbox, self.work = args, sandbox, work
        self.sluice_bin = os.path.abspath(args.sluice_bin)


def under_callgrind(out_dir):
    """compare.Process, with every proxy started under callgrind."""
    original = compare.Process

    def process(name, args, log_path, env=None, cwd=None):
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out_dir}/callgrind.out.%p"]
        return original(name, valgrind + list(args), log_path, env=env, cwd=cwd)

    return original, process


def pgbench(port, mode, clients, transactions):
    args = [os.path.join(compare.PG_BIN, "pgbench"), "-n", "-S", "-M", mode, "-c", str(clients), "-j",
            str(min(clients, 2)), "-t", str(transactions), "-h", compare.HOST, "-p", str(port), "-U", compare.USER,
            compare.DATABASE]
    r = compare.run(args, timeout=3600, env=compare.client_env())
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    if failed and int(failed.group(1)) != 0:
        raise RuntimeError(f"pgbench: {failed.group(0)}")


def measure(proxy, args, out_dir):
    pid = proxy.pid
    r = callgrind_control("-i", "on", str(pid))
    if r.returncode != 0:
        raise RuntimeError(f"callgrind_control -i on {pid}: {r.stdout} {r.stderr}")
    results = {}
    for mode in args.modes:
        pgbench(proxy.port, mode, args.clients, args.short)  # warm: pools filled, statements prepared
        counts = []
        for transactions in (args.short, args.long):
            callgrind_control("-z", str(pid))
            pgbench(proxy.port, mode, args.clients, transactions)
            counts.append(dump_total(out_dir, pid))
        per_tx = (counts[1] - counts[0]) / (args.clients * (args.long - args.short))
        results[mode] = per_tx
        compare.info(f"{proxy.name} -M {mode}: {per_tx:,.0f} instructions per transaction")
    return results


def classifier(bench_bin, iterations):
    listing = subprocess.run([bench_bin, "--list"], capture_output=True, text=True, check=True).stdout
    print(f"{'statement':28} {'bytes':>6} {'instructions':>13} {'per byte':>9}")
    for line in listing.splitlines():
        index, size, name = line.split("\t")
        r = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--callgrind-out-file=/dev/null",
                            bench_bin, "--callgrind", index, str(iterations)], capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", r.stderr)
        if not m:
            raise RuntimeError(f"no callgrind figure for statement {index}: {r.stderr[-500:]}")
        per_call = int(m.group(1)) / iterations
        print(f"{name:28} {int(size):6d} {per_call:13,.0f} {per_call / int(size):9.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sluice-bin", default=os.path.join(compare.SOURCE_DIR, "build", "router", "sluice"))
    p.add_argument("--proxies", default="sluice,pgbouncer", help="of sluice, pgbouncer")
    p.add_argument("--modes", default=",".join(MODES), help="pgbench -M modes")
    p.add_argument("--clients", type=int, default=16, help="pgbench -c")
    p.add_argument("--short", type=int, default=20, help="transactions per client of the short run")
    p.add_argument("--long", type=int, default=220, help="transactions per client of the long run")
    p.add_argument("--scale", type=int, default=1, help="pgbench -i -s")
    p.add_argument("--pool-size", type=int, default=16)
    p.add_argument("--sluice-workers", type=int, default=1,
                   help="sluice workers (1: one thread, as PgBouncer's one process)")
    p.add_argument("--sluice-probe-timeout", default="10s", help="[health] probe_timeout (callgrind is slow)")
    # Probes run in sluice's process (a libpq connection per backend): under callgrind a run lasts
    # minutes, and probes every 250 ms would add instructions in proportion to time, not transactions.
    p.add_argument("--sluice-probe-interval", default="60s", help="[health] probe_interval")
    p.add_argument("--split", action="store_true",
                   help="sluice with read_write_split = true over the primary and two replicas (it classifies)")
    p.add_argument("--keep-sandbox", action="store_true")
    p.add_argument("--classifier", metavar="BENCH_BIN",
                   help="instead: the classifier alone, per statement (tests/sluice_classify_bench)")
    p.add_argument("--iterations", type=int, default=1000, help="--classifier: calls per statement")
    args = p.parse_args()
    if args.classifier:
        classifier(args.classifier, args.iterations)
        return 0
    args.modes = [m for m in args.modes.split(",") if m]
    proxies = [x for x in args.proxies.split(",") if x]
    if "pgbouncer" in proxies and not os.path.exists("/usr/sbin/pgbouncer"):
        compare.run(["bash", compare.INSTALL_PEERS_SH], timeout=1800)
    work = tempfile.mkdtemp(prefix="sluice-instructions-")
    out_dir = os.path.join(work, "callgrind")
    os.makedirs(out_dir)
    os.chmod(work, 0o777)
    os.chmod(out_dir, 0o777)  # PgBouncer writes its dumps as postgres
    sandbox = compare.Sandbox(os.path.join(work, "sandbox"), args.keep_sandbox)
    original, wrapped = under_callgrind(out_dir)
    results = {}
    try:
        sandbox.start()
        sandbox.init_pgbench(args.scale)
        bench = Bench(args, sandbox, work)
        for name in proxies:
            proxy = compare.Sluice(bench, split=args.split) if name == "sluice" else compare.PgBouncer(bench)
            compare.Process = wrapped
            try:
                proxy.start()
            finally:
                compare.Process = original
            try:
                results[name] = measure(proxy, args, out_dir)
            finally:
                proxy.stop()
    finally:
        compare.stop_all_started()
        sandbox.stop()
    print(f"user-space instructions per transaction (callgrind), pgbench -S -c {args.clients}, "
          f"{args.long - args.short} transactions per client counted, sluice read_write_split = "
          f"{'true' if args.split else 'false'}")
    print(f"{'mode':10}" + "".join(f"{n:>12}" for n in proxies) +
          ("   sluice/pgbouncer" if {"sluice", "pgbouncer"} <= set(proxies) else ""))
    for mode in args.modes:
        line = f"{mode:10}" + "".join(f"{results[n][mode]:12,.0f}" for n in proxies)
        if {"sluice", "pgbouncer"} <= set(proxies):
            line += f"   {results['sluice'][mode] / results['pgbouncer'][mode]:17.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
