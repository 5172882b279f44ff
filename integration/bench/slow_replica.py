#!/usr/bin/python3
"""Benchmark: one replica gets slow (CPU-throttled), round-robin against score-based balancing.

Starts a sandbox of its own (integration/sandbox.sh, free ports), then for each balancer a sluice with
that `routing.balance`, N reader threads doing autocommit point selects on pgbench_accounts through it,
a baseline phase without fault and a fault phase with replica1 throttled (integration/faults.sh
throttle replica1 PERCENT). Prints per balancer and phase: reads/s, read p50/p99, errors, and the
share of reads each server answered; then score's figures against round-robin's. A benchmark, not a
test: it exits 0 unless something breaks. See integration/bench/README.md."""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "scoring"))

from lib import NODES, SLUICE_BIN, Cluster, fmt_ms, free_port, info, slow_replica_run, summarize  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=8, help="reader threads (default 8)")
    p.add_argument("--baseline", type=float, default=5.0, help="seconds without fault (default 5)")
    p.add_argument("--fault", type=float, default=10.0, help="seconds with replica1 throttled (default 10)")
    p.add_argument("--percent", type=int, default=10, help="replica1's CPU cap, %% of one CPU (default 10)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of reads not counted (default 1)")
    p.add_argument("--reaction", type=float, default=2.0,
                   help="also report the fault phase from this many seconds after the throttle (default 2)")
    p.add_argument("--balancers", default="round_robin,score", help="comma-separated (default round_robin,score)")
    return p.parse_args()


def row(balancer, phase, s):
    share = "".join(f"{s['share'][n] * 100:>9.1f}" for n in NODES)
    return (f"{balancer:<12} {phase:<18} {s['rate']:>8.0f} {fmt_ms(s['p50']):>8} {fmt_ms(s['p99']):>8} "
            f"{s['errors']:>6}{share}")


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the sandbox is stopped and deleted
    balancers = [b.strip() for b in args.balancers.split(",") if b.strip()]
    results = {}
    info(f"sluice {SLUICE_BIN}; {args.threads} readers; baseline {args.baseline:.0f} s, fault {args.fault:.0f} s "
         f"(replica1 at {args.percent}% of a CPU, throttle mode {os.environ.get('FAULTS_THROTTLE', 'auto')}); "
         f"{os.cpu_count()} CPUs")
    with Cluster("bench") as cluster:
        for balancer in balancers:
            sluice = cluster.sluice(routing={"balance": balancer}, name=f"sluice-{balancer}", port=free_port())
            sluice.start()
            readers, m = slow_replica_run(cluster, sluice, args.threads, warmup=args.warmup,
                                          baseline=args.baseline, fault=args.fault, percent=args.percent)
            status = sluice.stop()
            if sluice.crashed:
                raise RuntimeError(f"sluice ({balancer}) {sluice.crashed}:\n{sluice.log_tail()}")
            results[balancer] = {
                "baseline": summarize(readers.between(m["baseline"], m["fault"]), cluster),
                "fault": summarize(readers.between(m["fault"], m["end"]), cluster),
                f"fault after {args.reaction:g} s": summarize(readers.between(m["fault"] + args.reaction, m["end"]),
                                                              cluster),
            }
            info(f"{balancer}: done (sluice exit status {status}; {len(readers.closed)} readers disconnected)")
            time.sleep(1.0)  # let replica1 settle after the throttle is lifted

    print()
    print(f"{'balancer':<12} {'phase':<18} {'reads/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
          + "".join(f"{n:>9}" for n in NODES))
    for balancer, phases in results.items():
        for phase, s in phases.items():
            print(row(balancer, phase, s))
    if "score" in results and "round_robin" in results:
        print()
        for phase in results["score"]:
            sc, rr = results["score"][phase], results["round_robin"][phase]
            if sc["p99"] and rr["p99"] and sc["rate"] and rr["rate"]:
                print(f"score / round_robin, {phase:<18}: p99 x{sc['p99'] / rr['p99']:.3f}, "
                      f"p50 x{sc['p50'] / rr['p50']:.3f}, reads/s x{sc['rate'] / rr['rate']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
