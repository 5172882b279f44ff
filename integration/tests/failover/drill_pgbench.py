"""failover_drill_pgbench: `sluicectl drill --and-back` under a concurrent pgbench write load (4 clients,
TPC-B-like, through the same sluice). The drill switches the primary over to replica1 and, after the
old primary is rejoined by failover.rejoin_command (sandbox.sh rejoin), back again.

Asserted: the drill passes and reports zero lost acknowledged writes (every insert sluice
acknowledged is on the final primary); both switchovers succeeded and held writes for less than
hold_timeout; pgbench ran to the end and kept committing after each switchover.

About pgbench errors, honestly: pgbench aborts a client at its first error, so an aborted client
is an error pgbench saw. Transactions that start while writes are held wait at the write gate and
then run on the new primary: they must not fail. A transaction already running on the old primary
when the switchover began is waited for (drain_timeout); one still running after that is terminated
with the old primary's sessions, and fails. So aborted clients are counted and must be at most the
number of clients (each can fail at most once, in flight); with drain_timeout = 10 s and TPC-B
transactions of a few milliseconds we expect, and report, none."""

import re
import subprocess
import time

from failover_lib import PGBENCH, FailoverSluice, check_tools, info, main, role_of

CLIENTS = 4
DURATION = 24           # drill --duration (s): switchover at 8 s, back at 16 s
HOLD_TIMEOUT_MS = 15_000


def test(checks, cluster):
    if not check_tools(checks):
        return
    sluice = FailoverSluice(cluster, failover={"hold_timeout": "15s", "drain_timeout": "10s",
                                               "catchup_timeout": "30s"}, rejoin=True).start()
    env = {"PGPASSWORD": "app_pw", "PATH": "/usr/bin:/bin"}
    bench = subprocess.Popen([PGBENCH, "-h", "127.0.0.1", "-p", str(sluice.port), "-U", "app", "-c", str(CLIENTS),
                              "-j", "2", "-T", str(DURATION + 6), "-P", "1", "-n", "app"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)  # pgbench is writing before the drill starts
        t0 = time.monotonic()
        r = sluice.ctl("drill", "--switchover-to", "pg-replica1", "--and-back", "--duration", f"{DURATION}s",
                       "--json", timeout=DURATION + 240, check=False)
        took = time.monotonic() - t0
    finally:
        out, _ = bench.communicate(timeout=DURATION + 300)
    info(f"drill exit status {r.returncode} after {took:.1f} s; stderr: {r.stderr.strip()[:500]}")
    import json
    try:
        report = json.loads(r.stdout)
    except ValueError:
        checks.ok(False, "the drill printed a JSON report", r.stdout[-2000:])
        return
    writes, reads = report["writes"], report["reads"]
    info(f"drill writes: {writes['attempted']} attempted, {writes['acknowledged']} acknowledged, "
         f"{writes['found_on_primary']} found, lost {writes['lost']}; errors {writes['errors_by_sqlstate']}; "
         f"slowest ack {writes['slowest_ack_ms']:.0f} ms")
    info(f"drill reads: {reads['served']} served, {reads['errors']} errors {reads['errors_by_sqlstate']}, "
         f"{reads['stale']} stale (max {reads['max_rows_behind']} rows, {reads['max_stale_ms']:.0f} ms); "
         f"by port {reads['by_server_port']}")
    for s in report["switchovers"]:
        rep = s["report"] if isinstance(s["report"], dict) else {}
        info(f"switchover to {s['to']}: ok={s['ok']} {s['error']}; total {rep.get('total_ms')} ms, detect "
             f"{rep.get('detect_ms')} ms, writes held {rep.get('writes_held_ms')} ms ({rep.get('held_writes')} "
             f"waited, {rep.get('held_timed_out')} timed out), lag at start {rep.get('lag_bytes_at_start')} B, at "
             f"promotion {rep.get('lag_bytes_at_promotion')} B; steps "
             + ", ".join(f"{st['name']} {st['ms']}" for st in rep.get("steps", [])))
    checks.ok(r.returncode == 0 and report["passed"], "the drill passed (exit status 0)",
              f"exit {r.returncode}, passed={report['passed']}")
    checks.ok(writes["verified"] and writes["lost"] == 0 and writes["acknowledged"] > 0,
              f"zero acknowledged writes lost ({writes['acknowledged']} acknowledged, "
              f"{writes['found_on_primary']} found on the primary)", writes.get("lost_examples"))
    checks.ok(len(report["switchovers"]) == 2 and all(s["ok"] for s in report["switchovers"]),
              "both switchovers succeeded (to pg-replica1, then back to pg-primary after the rejoin)",
              [(s["to"], s["error"]) for s in report["switchovers"]])
    held = [s["report"].get("writes_held_ms", 0) for s in report["switchovers"] if isinstance(s["report"], dict)]
    checks.ok(held and all(h < HOLD_TIMEOUT_MS for h in held),
              f"writes were held for less than hold_timeout ({held} ms)")
    timed_out = sum(s["report"].get("held_timed_out", 0) for s in report["switchovers"] if isinstance(s["report"], dict))
    checks.ok(timed_out == 0, "no held write timed out", timed_out)
    fenced = {b["name"]: b["fenced"] for b in sluice.failover_status()["backends"]}
    checks.ok(role_of(cluster, "primary") == "primary" and fenced.get("pg-replica1") and not fenced.get("pg-primary"),
              "primary is the primary again; replica1, the old primary now, is fenced", fenced)
    names = [(s["report"].get("old_primary"), s["report"].get("new_primary")) for s in report["switchovers"]
             if isinstance(s["report"], dict)]
    checks.ok(names == [("pg-primary", "pg-replica1"), ("pg-replica1", "pg-primary")],
              "the reports name the old and new primaries", names)

    aborted = re.findall(r"client \d+ aborted in command \d+ \(SQL\) of script \d+; (.*)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    progress = [(float(a), float(b)) for a, b in re.findall(r"progress: ([\d.]+) s, ([\d.]+) tps", out)]
    info(f"pgbench: {processed.group(1) if processed else '?'} transactions, failed "
         f"{failed.group(1) if failed else '?'}, {len(aborted)} clients aborted {aborted[:4]}")
    info("pgbench tps per second: " + " ".join(f"{tps:.0f}" for _, tps in progress))
    checks.ok(processed and int(processed.group(1)) > 0, "pgbench committed transactions through the drill")
    checks.ok(len(aborted) <= CLIENTS,
              f"pgbench errors only for transactions in flight at a switchover: {len(aborted)} aborted "
              f"clients (at most one per client, {CLIENTS})", aborted)
    # Held, not refused: clients that were not aborted kept committing after both switchovers (the
    # last seconds of the run still show transactions).
    tail = [tps for at, tps in progress if at >= DURATION + 2]
    checks.ok(len(aborted) < CLIENTS and tail and max(tail) > 0,
              "pgbench still commits after the switch back", f"last seconds: {tail}")


if __name__ == "__main__":
    main(test, "failover_drill")
