"""Tenant isolation benchmark: prints the table of the quiet tenant's latency alone, beside a noisy
tenant without QoS, and beside it with QoS (plus the noisy tenant's throughput in each), from a
sandbox cluster of its own. The same scenario is the qos_isolation test, which asserts on it.

Usage: /usr/bin/python3 integration/bench/qos_isolation.py [--seconds 10] [--rounds 3]
(SLUICE_BIN: the sluice binary; default build/router/sluice)."""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "qos"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "scoring"))
import lib  # noqa: E402
import qos  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three phases")
    parser.add_argument("--noisy-clients", type=int, default=6)
    parser.add_argument("--quiet-clients", type=int, default=4)
    args = parser.parse_args()
    with lib.Cluster("bench_qos") as cluster:
        rows, failed, connect_errors = qos.isolation_run(cluster, args.seconds, args.rounds, args.noisy_clients,
                                                         args.quiet_clients)
        for s in cluster.sluices:
            s.stop()
    print()
    print(f"noisy tenant: {args.noisy_clients} clients running '{qos.HEAVY}' (pgbench scale {qos.SCALE})")
    print(f"quiet tenant: {args.quiet_clients} clients, a point select every 4 ms each")
    print(f"policy with QoS: noisy max_concurrency = 1, max_db_time_per_s = {qos.NOISY_CEILING}; quiet unlimited")
    qos.print_isolation(rows)
    if failed or connect_errors:
        print(f"failed statements: {len(failed)}, connection errors: {connect_errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
