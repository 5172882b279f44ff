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

The storm figure (`--modes ... ,storm`, in the default list) is the cost of one client connection: two
runs of `pgbench -n -S -C -c STORM_CLIENTS -t N` (a new connection per transaction; N = --storm-short,
then --storm-long) as compare.py's storm user (md5: with SCRAM, the client's PBKDF2 would dominate the
wall clock). The difference of the counts over the difference of the connections is what one
connection costs the proxy: accept, start-up, md5 login, greeting, one transaction and the end of the
session (server connections stay pooled).

  integration/bench/instructions.py                         # sluice (build/router/sluice) and pgbouncer
  integration/bench/instructions.py --proxies sluice --modes extended --sluice-bin build/h/router/sluice
  integration/bench/instructions.py --proxies sluice --modes storm --sluice-bin build/rel/router/sluice
  integration/bench/instructions.py --classifier build/h/tests/sluice_classify_bench   # per statement

Run as root (the sandbox runs PostgreSQL as postgres); PgBouncer comes from install-peers.sh. A report,
not a test. See docs/benchmarks.md."""

import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the sandbox, the proxies' configurations, process handling)

MODES = ("simple", "extended", "prepared")
STORM = "storm"  # the connection storm, per connection (pgbench -S -C, md5 user)


def callgrind_control(*args):
    return subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=120)


ALLOCATION_FUNCTIONS = {"malloc", "calloc", "realloc", "memalign", "aligned_alloc", "posix_memalign"}
ALLOCATIONS = {}  # (proxy, mode) -> heap allocations per transaction, from the dumps measure() read


def heap_allocations(path):
    """Calls to the C allocation functions in a callgrind dump (operator new, Asio's frames and
    OpenSSL's allocations all end in one of them): `cfn=` names the callee, the `calls=` line after it
    counts the calls."""
    names, count, callee = {}, 0, None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    name = names.get(m.group(1), "")
                    callee = name if line.startswith("cfn=") else None
            elif line.startswith("calls=") and callee is not None:
                if callee.split(" ")[0].split("'")[0] in ALLOCATION_FUNCTIONS:
                    count += int(line[6:].split()[0])
                callee = None
    return count


def wait_for_total(out_dir, pid, skip=frozenset()):
    """(instructions, path) of the first complete dump of `pid` in `out_dir` not in `skip`, waiting up to
    60 s for callgrind to write it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in set(glob.glob(os.path.join(out_dir, f"callgrind.out.{pid}*"))) - skip:
            with open(path, errors="replace") as f:
                m = re.search(r"^(?:summary|totals):\s*(\d+)", f.read(), re.M)
            if m:
                return int(m.group(1)), path
        time.sleep(0.2)
    raise RuntimeError(f"no callgrind dump from {pid} in {out_dir}")


def dump_total(out_dir, pid, with_path=False):
    """Dumps the counters of `pid` and returns the instructions in that dump (since the last zeroing)."""
    before = frozenset(glob.glob(os.path.join(out_dir, f"callgrind.out.{pid}*")))
    r = callgrind_control("-d", str(pid))
    if r.returncode != 0:
        raise RuntimeError(f"callgrind_control -d {pid}: {r.stdout} {r.stderr}")
    total, path = wait_for_total(out_dir, pid, before)
    return (total, path) if with_path else total


class Bench:
    """What compare.py's proxies expect of their bench."""

    def __init__(self, args, sandbox, work):
        self.args, self.sandbox, self.work = args, sandbox, work
        self.sluice_bin = os.path.abspath(args.sluice_bin)


def under_callgrind(out_dir, instrument_at_start=False):
    """compare.Process, with every proxy started under callgrind."""
    original = compare.Process

    def process(name, args, log_path, env=None, cwd=None):
        valgrind = ["valgrind", "--tool=callgrind", f"--instr-atstart={'yes' if instrument_at_start else 'no'}",
                    f"--callgrind-out-file={out_dir}/callgrind.out.%p"]
        args = list(args)
        if args[:3] == ["/usr/sbin/pgbouncer", "-u", "postgres"]:
            # PgBouncer drops to postgres itself (-u), after callgrind, still root, created its output
            # file and control pipes: it could then neither write its counts nor answer
            # callgrind_control. Run the whole of valgrind as postgres instead (setpriv execs: same pid).
            args = ["/usr/sbin/pgbouncer"] + args[3:]
            valgrind = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + valgrind
        return original(name, valgrind + args, log_path, env=env, cwd=cwd)

    return original, process


def modes_for(name, modes):
    # PgBouncer 1.18 has no prepared statements in transaction pooling (docs/benchmarks.md).
    return [m for m in modes if not (name == "pgbouncer" and m == "prepared")]


def workload(args, mode):
    """(pgbench -M mode, clients, short and long transactions per client, connect anew) for a --modes entry."""
    if mode == STORM:
        return "simple", args.storm_clients, args.storm_short, args.storm_long, True
    return mode, args.clients, args.short, args.long, False


def unit(mode):
    return "connection" if mode == STORM else "transaction"


def pgbench(port, mode, clients, transactions, connect=False):
    user, password = (compare.STORM_USER, compare.STORM_PASSWORD) if connect else (compare.USER, compare.PASSWORD)
    args = [os.path.join(compare.PG_BIN, "pgbench"), "-n", "-S", "-M", mode, "-c", str(clients), "-j",
            str(min(clients, 2)), "-t", str(transactions), "-h", compare.HOST, "-p", str(port), "-U", user,
            *(["-C"] if connect else []), compare.DATABASE]
    r = compare.run(args, timeout=3600, env=compare.client_env(password))
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    if failed and int(failed.group(1)) != 0:
        raise RuntimeError(f"pgbench: {failed.group(0)}")


def measure(proxy, args, out_dir):
    """Instructions per transaction with callgrind_control: zero, run, dump, in one running proxy."""
    pid = proxy.pid
    r = callgrind_control("-i", "on", str(pid))
    if r.returncode != 0:
        raise RuntimeError(f"callgrind_control -i on {pid}: {r.stdout} {r.stderr}")
    results = {}
    for mode in modes_for(proxy.name, args.modes):
        pg_mode, clients, short, long, connect = workload(args, mode)
        pgbench(proxy.port, pg_mode, clients, short, connect)  # warm: pools filled, statements prepared
        counts, allocations = [], []
        for transactions in (short, long):
            callgrind_control("-z", str(pid))
            pgbench(proxy.port, pg_mode, clients, transactions, connect)
            total, path = dump_total(out_dir, pid, with_path=True)
            counts.append(total)
            allocations.append(heap_allocations(path))
        per_unit = (counts[1] - counts[0]) / (clients * (long - short))
        results[mode] = per_unit
        ALLOCATIONS[(proxy.name, mode)] = (allocations[1] - allocations[0]) / (clients * (long - short))
        compare.info(f"{proxy.name} {mode}: {per_unit:,.0f} instructions per {unit(mode)} (callgrind dumps in "
                     f"{out_dir}: callgrind_annotate --inclusive=yes the latest for the profile)")
    return results


def exit_total(out_dir, pid):
    """The instructions in the dump callgrind writes when process `pid` exits."""
    return wait_for_total(out_dir, pid)[0]


def measure_by_restart(name, make_proxy, wrapped, args, out_dir):
    """Instructions per transaction without callgrind_control (which gets no answer from a PgBouncer
    that dropped to the postgres user): for each mode, the proxy runs twice under callgrind from start to
    exit, each time with a warm-up run then SHORT or LONG transactions per client. Start-up, log-ins and
    shutdown are the same in both, so the difference of the totals is the cost of the extra transactions."""
    results = {}
    for mode in modes_for(name, args.modes):
        pg_mode, clients, short, long, connect = workload(args, mode)
        counts = []
        for transactions in (short, long):
            proxy = make_proxy()
            original = compare.Process
            compare.Process = wrapped
            try:
                proxy.start()
            finally:
                compare.Process = original
            pid = proxy.pid
            try:
                pgbench(proxy.port, pg_mode, clients, short, connect)
                pgbench(proxy.port, pg_mode, clients, transactions, connect)
            finally:
                proxy.stop()
            counts.append(exit_total(out_dir, pid))
        per_unit = (counts[1] - counts[0]) / (clients * (long - short))
        results[mode] = per_unit
        compare.info(f"{name} {mode}: {per_unit:,.0f} instructions per {unit(mode)} (by restart)")
    return results


SYSCALL_EVENTS = ("raw_syscalls:sys_enter", "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait",
                  "syscalls:sys_enter_epoll_ctl", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_sendto",
                  "syscalls:sys_enter_recvmsg", "syscalls:sys_enter_sendmsg", "syscalls:sys_enter_read",
                  "syscalls:sys_enter_write", "syscalls:sys_enter_futex", "context-switches", "task-clock")


def perf_counts(pid, run):
    """Runs `run()` while `perf stat` counts SYSCALL_EVENTS in process `pid` (all its threads)."""
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ",".join(SYSCALL_EVENTS), "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # perf attaches
    try:
        run()
    finally:
        perf.send_signal(signal.SIGINT)
        _, err = perf.communicate(timeout=30)
    counts = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) >= 3:
            try:
                counts[fields[2]] = float(fields[0])
            except ValueError:
                pass
    return counts


def measure_syscalls(proxy, args):
    """System calls (by kind), context switches and CPU (task-clock, ms) per transaction, from the
    difference of a short and a long run, as for instructions."""
    results = {}
    for mode in modes_for(proxy.name, args.modes):
        pg_mode, clients, short, long, connect = workload(args, mode)
        pgbench(proxy.port, pg_mode, clients, short, connect)
        counts = [perf_counts(proxy.pid, lambda: pgbench(proxy.port, pg_mode, clients, n, connect))
                  for n in (short, long)]
        units = clients * (long - short)
        per_unit = {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / units for k in SYSCALL_EVENTS}
        results[mode] = per_unit
        compare.info(f"{proxy.name} {mode}: {per_unit['raw_syscalls:sys_enter']:.2f} system calls, "
                     f"{per_unit['task-clock'] * 1000:.1f} us CPU per {unit(mode)}")
    return results


def syscall_table(results, proxies, modes):
    short = {k: k.split(":")[-1].replace("sys_enter_", "") for k in SYSCALL_EVENTS}
    short["raw_syscalls:sys_enter"] = "all calls"
    print(f"{'mode':10} {'proxy':10}" + "".join(f"{short[k]:>13}" for k in SYSCALL_EVENTS))
    for mode in modes:
        for name in proxies:
            if mode not in results[name]:
                continue
            row = results[name][mode]
            cells = []
            for k in SYSCALL_EVENTS:
                v = row.get(k, 0)
                cells.append(f"{v * 1000:13.1f}" if k == "task-clock" else f"{v:13.3f}")
            print(f"{mode:10} {name:10}" + "".join(cells))
    print("(per transaction, storm per connection; task-clock in microseconds of CPU)")


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
    p.add_argument("--modes", default=",".join(MODES + (STORM,)),
                   help="pgbench -M modes, and `storm` for the cost per connection (pgbench -S -C, md5 user)")
    p.add_argument("--clients", type=int, default=16, help="pgbench -c")
    p.add_argument("--short", type=int, default=20, help="transactions per client of the short run")
    p.add_argument("--long", type=int, default=220, help="transactions per client of the long run")
    p.add_argument("--storm-clients", type=int, default=4, help="storm: pgbench -c")
    p.add_argument("--storm-short", type=int, default=10, help="storm: connections per client of the short run")
    p.add_argument("--storm-long", type=int, default=60, help="storm: connections per client of the long run")
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
    p.add_argument("--figure", choices=("instructions", "syscalls"), default="instructions",
                   help="syscalls: system calls by kind, context switches and CPU per transaction (perf "
                        "stat, no callgrind)")
    p.add_argument("--restart", action="store_true",
                   help="instructions for sluice too by two runs from start to exit (PgBouncer always is)")
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

        def make(name):
            return compare.Sluice(bench, split=args.split) if name == "sluice" else compare.PgBouncer(bench)

        for name in proxies:
            if args.figure == "syscalls":
                proxy = make(name).start()
                try:
                    results[name] = measure_syscalls(proxy, args)
                finally:
                    proxy.stop()
            elif args.restart or name == "pgbouncer":
                results[name] = measure_by_restart(name, lambda: make(name), under_callgrind(out_dir, True)[1], args,
                                                   out_dir)
            else:
                proxy = make(name)
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
    split = "true" if args.split else "false"
    if args.figure == "syscalls":
        print(f"system calls per transaction (perf stat), pgbench -S -c {args.clients}, "
              f"{args.long - args.short} transactions per client counted, sluice workers = {args.sluice_workers}, "
              f"read_write_split = {split}")
        syscall_table(results, proxies, args.modes)
        return 0
    def row(mode):
        line = f"{mode:10}" + "".join(f"{results[n][mode]:12,.0f}" if mode in results[n] else f"{'-':>12}"
                                      for n in proxies)
        if {"sluice", "pgbouncer"} <= set(proxies) and mode in results["pgbouncer"]:
            line += f"   {results['sluice'][mode] / results['pgbouncer'][mode]:17.2f}"
        print(line)

    header = f"{'mode':10}" + "".join(f"{n:>12}" for n in proxies) + \
        ("   sluice/pgbouncer" if {"sluice", "pgbouncer"} <= set(proxies) else "")
    per_tx_modes = [m for m in args.modes if m != STORM]
    if per_tx_modes:
        print(f"user-space instructions per transaction (callgrind), pgbench -S -c {args.clients}, "
              f"{args.long - args.short} transactions per client counted, sluice read_write_split = {split}")
        print(header)
        for mode in per_tx_modes:
            row(mode)
    if STORM in args.modes:
        print(f"user-space instructions per connection (callgrind), pgbench -S -C -c {args.storm_clients} as "
              f"{compare.STORM_USER} (md5), {args.storm_long - args.storm_short} connections per client counted")
        print(header)
        row(STORM)
    if ALLOCATIONS:
        # Counted from the dumps of a proxy measured with callgrind_control (sluice, not --restart).
        print("heap allocations (malloc, calloc, realloc, memalign, ...) per transaction, per connection for storm: " +
              ", ".join(f"{name} {mode} {per:.3f}" for (name, mode), per in ALLOCATIONS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
