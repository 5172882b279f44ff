"""failover_switchover_rejoin: `sluicectl switchover --to pg-replica1` through the admin API, then the old
primary is rejoined as a replica (integration/sandbox.sh rejoin) and reads spread over it again.

Asserted: the switchover succeeds and its report has its steps and LSNs; writes through the same
client connection go to replica1 afterwards, and the old primary refuses writes (read-only, fenced)
and serves no reads until it is rejoined; replica2 follows the new primary (a row written through
sluice after the switchover reaches it); a second switchover while one runs is refused (409); after
`sandbox.sh rejoin primary` the old primary's fence is lifted and reads through sluice are served by
it and by replica2. Also: sluice restarted between the switchover and the rejoin (its fences are in
memory) fences the read-only old primary again by itself, and writes go on.
"""

import threading
import time

import psycopg2

from failover_lib import FailoverSluice, check_tools, info, main, poll, role_of

READ = "SELECT inet_server_port(), count(*) FROM pgbench_branches"


def reads_by_port(sluice, n=200):
    conn = sluice.connect()
    counts = {}
    try:
        with conn.cursor() as cur:
            for _ in range(n):
                cur.execute(READ)
                port = cur.fetchone()[0]
                counts[port] = counts.get(port, 0) + 1
    finally:
        conn.close()
    return counts


def test(checks, cluster):
    if not check_tools(checks):
        return
    cluster.node_value("primary", "CREATE TABLE switch_t(n int); GRANT ALL ON switch_t TO app; SELECT 1")
    cluster.wait_replayed()
    sluice = FailoverSluice(cluster).start()
    client = sluice.connect()
    with client.cursor() as cur:
        cur.execute("INSERT INTO switch_t VALUES (1) RETURNING inet_server_port()")
        checks.ok(cur.fetchone()[0] == cluster.ports["primary"], "before: writes go to the primary")

    t0 = time.monotonic()
    report = sluice.ctl_json("switchover", "--to", "pg-replica1")
    took = time.monotonic() - t0
    info(f"switchover in {took:.2f} s: " + ", ".join(f"{s['name']} {s['ms']} ms" for s in report.get("steps", [])))
    info(f"old {report.get('old_primary')} at {report.get('old_primary_lsn')}, target replayed "
         f"{report.get('target_lsn_at_promotion')}; lag at start {report.get('lag_bytes_at_start')} B; writes held "
         f"{report.get('writes_held_ms')} ms; repointed {report.get('repointed')}; warnings {report.get('warnings')}")
    checks.ok(report.get("ok") and report.get("old_primary") == "pg-primary" and report.get("new_primary") == "pg-replica1",
              "sluicectl switchover --to pg-replica1 succeeded", report.get("error"))
    names = [s["name"] for s in report.get("steps", [])]
    checks.ok(all(n in names for n in ("hold_writes", "drain", "fence_old_primary", "catch_up", "promote", "open_gate"))
              and report.get("old_primary_lsn") and report.get("lag_bytes_at_promotion") == 0,
              "the report has the steps, the LSNs and zero lag at promotion", names)
    checks.ok(role_of(cluster, "replica1") == "primary", "replica1 is the primary now")

    with client.cursor() as cur:
        ports = set()
        for i in range(5):
            cur.execute("INSERT INTO switch_t VALUES (%s) RETURNING inet_server_port()", (100 + i,))
            ports.add(cur.fetchone()[0])
    checks.ok(ports == {cluster.ports["replica1"]}, "after: writes on the same client connection go to replica1", ports)
    try:
        cluster.node_value("primary", "INSERT INTO switch_t VALUES (-1) RETURNING 1")
        refused = None
    except psycopg2.Error as e:
        refused = e.pgcode
    checks.ok(refused == "25006", "the old primary refuses writes (read-only transaction, 25006)", refused)
    reached = poll(lambda: cluster.node_value("replica2", "select count(*) from switch_t where n >= 100") == 5, 10)
    checks.ok(reached, "replica2 follows the new primary (it has the rows written after the switchover)")
    before = reads_by_port(sluice)
    info(f"reads before the rejoin: {before}")
    checks.ok(cluster.ports["primary"] not in before, "the old primary serves no reads before it is rejoined", before)

    # sluice restarts before the rejoin: its fences were in memory, so two backends claim the primary
    # role. The old one refuses writes (read-only), so sluice fences it again by itself and writes go on.
    client.close()
    sluice.stop()
    sluice.start()
    restarted = time.monotonic()

    def write_port():
        try:
            conn = sluice.connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO switch_t VALUES (200) RETURNING inet_server_port()")
                    return cur.fetchone()[0]
            finally:
                conn.close()
        except psycopg2.Error:
            return None

    resumed = poll(lambda: write_port() == cluster.ports["replica1"], 15, 0.1)
    checks.ok(resumed, f"after a sluice restart, the read-only old primary is fenced again and writes go to replica1 "
                       f"({time.monotonic() - restarted:.2f} s)")
    client = sluice.connect()

    t0 = time.monotonic()
    cluster.sandbox("rejoin", "primary", timeout=120)
    info(f"rejoin took {time.monotonic() - t0:.2f} s")
    checks.ok(role_of(cluster, "primary") == "replica", "the old primary is a replica after sandbox.sh rejoin")
    unfenced = poll(lambda: not {b["name"]: b["fenced"] for b in sluice.failover_status()["backends"]}["pg-primary"], 10)
    checks.ok(unfenced, "sluice lifts its fence once it probes as a replica")
    spread = poll(lambda: (lambda c: c if cluster.ports["primary"] in c and cluster.ports["replica2"] in c else None)(
        reads_by_port(sluice)), 15, 0.2)
    info(f"reads after the rejoin: {spread}")
    checks.ok(spread, "reads spread over the rejoined old primary and replica2 again", spread)
    with client.cursor() as cur:
        cur.execute("INSERT INTO switch_t VALUES (2) RETURNING inet_server_port()")
        checks.ok(cur.fetchone()[0] == cluster.ports["replica1"], "writes still go to replica1")
    client.close()

    # Two switchovers at once: one runs, the other is refused with 409 (the admin API or the
    # orchestrator refuses it; either way nothing runs twice).
    results = {}

    def switch(to):
        results[to] = sluice.ctl("--json", "switchover", "--to", to, check=False)

    threads = [threading.Thread(target=switch, args=(to,)) for to in ("pg-replica2", "pg-primary")]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    codes = {to: r.returncode for to, r in results.items()}
    refused = [to for to, r in results.items() if r.returncode != 0 and "409" in r.stdout + r.stderr]
    info("concurrent switchovers: " + "; ".join(f"{to}: exit {r.returncode} {(r.stdout + r.stderr).strip()[-200:]}"
                                                for to, r in results.items()))
    checks.ok(sorted(codes.values()) == [0, 1] and len(refused) == 1,
              "of two concurrent switchovers one runs and the other is refused with 409", codes)


if __name__ == "__main__":
    main(test, "failover_switchover")
