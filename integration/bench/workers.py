#!/usr/bin/python3
"""How many workers: sluice's TPS and CPU per transaction at each `workers` count (issue 14).

Starts its own sandbox, then, for each round, one sluice per worker count in turn (interleaved: 1 2 ...,
then ... 2 1) in front of the primary (compare.py's configuration: transaction pooling,
read_write_split = false), and runs pgbench -S at each client count against it. Prints the medians of
TPS and of sluice's CPU time (utime + stime of all its threads) per transaction, and each count's
ratios to the first. A report, not a test.

  integration/bench/workers.py --sluice-bin build/release/router/sluice
  integration/bench/workers.py --workers 1,2,4 --clients 16,64,512 --seconds 10 --rounds 3

Run as root (the sandbox runs PostgreSQL as postgres). See docs/benchmarks.md, "Worker count"."""

import argparse
import os
import re
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the sandbox, sluice's configuration, process handling)


class Bench:
    """What compare.Sluice expects of its bench."""

    def __init__(self, args, sandbox, work, workers):
        self.sandbox, self.work = sandbox, work
        self.sluice_bin = os.path.abspath(args.sluice_bin)
        self.args = argparse.Namespace(sluice_workers=workers, pool_size=args.pool_size,
                                       sluice_probe_timeout="2s", sluice_probe_interval="250ms")


def pgbench_tps(port, mode, clients, seconds):
    args = [os.path.join(compare.PG_BIN, "pgbench"), "-n", "-S", "-M", mode, "-c", str(clients), "-j", "2",
            "-T", str(seconds), "-h", compare.HOST, "-p", str(port), "-U", compare.USER, compare.DATABASE]
    r = compare.run(args, timeout=seconds + 120, env=compare.client_env())
    m = re.search(r"tps = ([\d.]+)", r.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    if not m or not done:
        raise RuntimeError(f"pgbench: {r.stdout[-500:]} {r.stderr[-500:]}")
    return float(m.group(1)), int(done.group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sluice-bin", default=os.path.join(compare.SOURCE_DIR, "build", "router", "sluice"))
    p.add_argument("--workers", default="1,2", help="worker counts to compare")
    p.add_argument("--clients", default="16,64", help="pgbench -c values")
    p.add_argument("--mode", default="simple", help="pgbench -M")
    p.add_argument("--seconds", type=int, default=8, help="pgbench -T per run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pool-size", type=int, default=16)
    args = p.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    clients = [int(c) for c in args.clients.split(",")]
    work = tempfile.mkdtemp(prefix="sluice-workers-")
    os.chmod(work, 0o777)
    sandbox = compare.Sandbox(os.path.join(work, "sandbox"), False)
    results = {(w, c): [] for w in counts for c in clients}
    try:
        sandbox.start()
        sandbox.init_pgbench(1)
        for r in range(args.rounds):
            for w in (counts if r % 2 == 0 else list(reversed(counts))):
                proxy = compare.Sluice(Bench(args, sandbox, work, w)).start()
                try:
                    pgbench_tps(proxy.port, args.mode, max(clients), 1)  # warm: every pool filled
                    for c in clients:
                        cpu0 = proxy.cpu_seconds()
                        tps, done = pgbench_tps(proxy.port, args.mode, c, args.seconds)
                        cpu = (proxy.cpu_seconds() - cpu0) / done * 1e6
                        results[(w, c)].append((tps, cpu))
                        compare.info(f"round {r + 1}: workers {w}, {c} clients: {tps:,.0f} TPS, "
                                     f"{cpu:.1f} us CPU per transaction")
                finally:
                    proxy.stop()
    finally:
        compare.stop_all_started()
        sandbox.stop()
    print(f"sluice workers, pgbench -S -M {args.mode}, {args.seconds} s runs, median of {args.rounds} "
          f"(interleaved), {os.cpu_count()} cores")
    print(f"{'clients':>8} {'workers':>8} {'TPS':>10} {'CPU us/tx':>10} {'TPS ratio':>10} {'CPU ratio':>10}")
    for c in clients:
        base = None
        for w in counts:
            tps = statistics.median(t for t, _ in results[(w, c)])
            cpu = statistics.median(u for _, u in results[(w, c)])
            if base is None:
                base = (tps, cpu)
            print(f"{c:8d} {w:8d} {tps:10,.0f} {cpu:10.1f} {tps / base[0]:10.2f} {cpu / base[1]:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
