#!/usr/bin/python3
"""Graceful shutdown under load (issue 15, item 12): pgbench's TPC-B-like script through a sluice of its
own on the integration sandbox (integration/sandbox.sh), SIGTERM to sluice after --at seconds, and what
became of the transactions: completed (pgbench's count, and pgbench_history rows added on the primary),
cut in the middle (a client aborted after its BEGIN), and refused at the start of the next one (a client
aborted at BEGIN, or at its first command, with 57P01); sluice's exit status and how long it took.
--tx-sleep adds a pg_sleep inside each transaction (longer transactions to drain). --handover starts a
second sluice with the same config 1 s before the SIGTERM and runs pgbench with -C (a new connection
per transaction, as a client that reconnects): what a restart by hand-over costs.

    integration/bench/shutdown_drain.py [--clients 16] [--duration 20] [--at 5] [--tx-sleep 0.2]
    integration/bench/shutdown_drain.py --handover    # restart by hand-over under pgbench -C
    SLUICE_BIN=/path/to/other/sluice integration/bench/shutdown_drain.py   # compare builds
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import lib  # noqa: E402

SLUICE_BIN = os.environ.get("SLUICE_BIN") or os.path.join(lib.SOURCE_DIR, "build", "router", "sluice")
# The TPC-B-like script's commands, numbered as pgbench numbers them in "client N aborted in command K".
TPCB_BEGIN = 4      # \set x4, then BEGIN
TPCB_END = 10       # END (the commit)


def free_port():
    with socket.socket() as s:
        s.bind((lib.HOST, 0))
        return s.getsockname()[1]


def history_rows():
    conn = lib.connect_node("primary")
    try:
        return lib.value(conn, "select count(*) from pgbench_history")
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=int, default=20, help="pgbench -T")
    parser.add_argument("--at", type=float, default=5.0, help="seconds into the run to send SIGTERM")
    parser.add_argument("--protocol", default="simple", help="pgbench -M")
    parser.add_argument("--tx-sleep", type=float, default=0.0, help="pg_sleep seconds inside each transaction")
    parser.add_argument("--handover", action="store_true", help="start a successor first; pgbench -C")
    args = parser.parse_args()

    work = os.path.join(lib.SANDBOX_DIR, f"shutdown-drain-{os.getpid()}")
    os.makedirs(work, exist_ok=True)
    port = free_port()
    config = os.path.join(work, "sluice.toml")
    backends = "".join(
        f'\n[[backends]]\nname = "{n}"\nhost = "127.0.0.1"\nport = {p}\nrole = "{role}"\n'
        for n, p, role in (("pg-primary", lib.PRIMARY, "primary"), ("pg-replica1", lib.R1, "replica"),
                           ("pg-replica2", lib.R2, "replica")))
    with open(config, "w") as f:
        f.write(f'listen = "127.0.0.1:{port}"\nworkers = 2\n\n[pool]\nsize = 20\n\n[health]\nuser = "sluice_ops"\n'
                f'password = "ops_pw"\n{backends}\n[[users]]\nname = "app"\npassword = "app_pw"\n')
    def start(name):
        log_path = os.path.join(work, f"{name}.log")
        log = open(log_path, "wb")
        proc = subprocess.Popen([SLUICE_BIN, "--config", config], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        text = lambda: open(log_path, "rb").read().decode("utf-8", "replace")  # noqa: E731
        if not lib.poll(lambda: len(re.findall(r"is reachable", text())) >= 3 or proc.poll() is not None, 20) \
                or proc.poll() is not None:
            proc.kill()
            sys.exit(f"sluice did not start:\n{text()[-2000:]}")
        return proc, log, log_path

    proc, log, log_path = start("sluice")

    script = []
    if args.tx_sleep > 0:
        # pgbench's tpcb-like script (pgbench --show-script=tpcb-like) with a sleep before END.
        script_path = os.path.join(work, "tpcb-sleep.sql")
        with open(script_path, "w") as f:
            f.write("\\set aid random(1, 100000 * :scale)\n\\set bid random(1, 1 * :scale)\n"
                    "\\set tid random(1, 10 * :scale)\n\\set delta random(-5000, 5000)\nBEGIN;\n"
                    "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n"
                    "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n"
                    "UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;\n"
                    "UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;\n"
                    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                    "VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);\n"
                    f"SELECT pg_sleep({args.tx_sleep});\nEND;\n")
        script = ["-f", script_path]
    end_command = TPCB_END + (1 if args.tx_sleep > 0 else 0)

    before = history_rows()
    env = dict(os.environ, PGPASSWORD="app_pw", PGSSLMODE="disable")
    bench = subprocess.Popen(["pgbench", "-h", lib.HOST, "-p", str(port), "-U", "app", "-n", "-M", args.protocol,
                              "-c", str(args.clients), "-j", "2", "-T", str(args.duration)]
                             + (["-C"] if args.handover else []) + script + ["app"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    bench_started = time.monotonic()
    successor = None
    if args.handover:
        time.sleep(max(0.0, args.at - 1.0))
        successor = start("successor")
    time.sleep(max(0.0, args.at - (time.monotonic() - bench_started)))
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = "killed after 60 s"
    stopped_after = time.monotonic() - signalled
    out, _ = bench.communicate(timeout=args.duration + 60)
    log.close()
    after = history_rows()

    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    aborted = [(int(c), int(k)) for c, k in re.findall(r"client (\d+) (?:script \d+ )?aborted in command (\d+)", out)]
    cut = sum(1 for _, k in aborted if TPCB_BEGIN < k <= end_command)
    at_start = sum(1 for _, k in aborted if k <= TPCB_BEGIN)
    messages = sorted({re.sub(r"client \d+", "client N", line.strip()) for line in out.splitlines()
                       if re.search(r"FATAL|ERROR|server closed|aborted in", line)})[:8]
    with open(os.path.join(work, "pgbench.out"), "w") as f:
        f.write(out)
    print(f"sluice: {SLUICE_BIN}")
    print(f"pgbench -c {args.clients} -j 2 -T {args.duration} -M {args.protocol}{' -C' if args.handover else ''} "
          f"(TPC-B-like{f', pg_sleep({args.tx_sleep}) in each transaction' if args.tx_sleep else ''}), "
          f"SIGTERM at {args.at} s{' to the old sluice, a successor started 1 s before' if args.handover else ''}")
    print(f"  transactions completed (pgbench):       {processed.group(1) if processed else '?'}")
    print(f"  pgbench_history rows added (committed): {after - before}")
    print(f"  clients aborted mid-transaction (cut):  {cut}")
    print(f"  clients aborted at BEGIN (refused):     {at_start}")
    print(f"  clients aborted elsewhere:              {len(aborted) - cut - at_start}")
    print(f"  sluice exit status {status}, {stopped_after:.2f} s after SIGTERM")
    print("  pgbench said: " + " | ".join(messages))
    print(f"  (pgbench's output: {work}/pgbench.out; sluice's log: {log_path})")
    if successor is not None:
        successor_proc, successor_log, _ = successor
        print(f"  the successor served on: {successor_proc.poll() is None}")
        successor_proc.send_signal(signal.SIGTERM)
        successor_proc.wait(40)
        successor_log.close()


if __name__ == "__main__":
    main()
