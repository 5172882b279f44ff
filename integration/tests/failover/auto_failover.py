"""failover_auto: the primary is killed (SIGKILL, integration/faults.sh kill) with auto_failover = true and
failover_timeout = 3s. Asserted: a replica is promoted within failover_timeout + 2 s of the kill; writes
through the same sluice resume on it (the writer's own connection survives); writes sent during the
outage, once sluice noticed it, waited in the write gate and succeeded instead of failing (errors only
in the first probe interval or so after the kill, before the probes saw the primary gone); the old
primary stays fenced when it comes back, so no write goes to it; GET /failover reports the automatic
failover."""

import time

from failover_lib import FailoverSluice, Writer, check_tools, info, main, poll, role_of

FAILOVER_TIMEOUT = 3.0
PROMOTE_WITHIN = FAILOVER_TIMEOUT + 2.0
# After the kill, until a probe fails (probe_interval 250 ms, a refused connection fails at once),
# writes go to the dead primary and fail; after that they are held. Generous, for a loaded machine.
ERRORS_ONLY_WITHIN = 1.5


def test(checks, cluster):
    if not check_tools(checks):
        return
    cluster.node_value("primary", "CREATE TABLE failover_t(n int, at timestamptz DEFAULT clock_timestamp()); "
                                  "GRANT ALL ON failover_t TO app; SELECT 1")
    cluster.wait_replayed()
    sluice = FailoverSluice(cluster, failover={"auto_failover": True, "failover_timeout": "3s",
                                               "hold_timeout": "15s"}).start()
    writer = Writer(sluice, "failover_t").start()
    try:
        ok_before = poll(lambda: any(o[2] == cluster.ports["primary"] for o in writer.outcomes), 5)
        checks.ok(ok_before, "before the kill, writes go to the primary")
        time.sleep(1.0)

        killed_at = time.monotonic()
        cluster.fault("kill", "primary")
        kill_done = time.monotonic()  # the SIGKILL is somewhere in [killed_at, kill_done]
        promoted = poll(lambda: [n for n in ("replica1", "replica2") if role_of(cluster, n) == "primary"],
                        PROMOTE_WITHIN + 10, 0.05)
        promoted_after = time.monotonic() - killed_at
        new = promoted[0] if promoted else None
        info(f"promoted: {promoted} {promoted_after:.2f} s after the kill")
        checks.ok(new is not None and promoted_after <= PROMOTE_WITHIN,
                  f"a replica is promoted within failover_timeout + 2 s ({promoted_after:.2f} s <= {PROMOTE_WITHIN} s)")
        if new is None:
            return
        resumed = poll(lambda: any(o[2] == cluster.ports[new] and o[0] >= killed_at for o in writer.outcomes), 10)
        first_ok = min((o[0] + o[1] for o in writer.outcomes if o[2] == cluster.ports[new] and o[0] >= killed_at),
                       default=None)
        checks.ok(resumed, f"writes through the same sluice resume on {new}"
                           + (f" ({first_ok - killed_at:.2f} s after the kill)" if first_ok else ""))
        time.sleep(1.0)
    finally:
        writer.stop()

    after = [o for o in writer.outcomes if o[0] >= killed_at]
    errors = [o for o in after if o[3] is not None]
    late = [o for o in errors if o[0] - killed_at > ERRORS_ONLY_WITHIN]
    held = [o for o in after if o[3] is None and o[1] > 0.5]
    kinds = {}
    for o in errors:
        kinds[o[3]] = kinds.get(o[3], 0) + 1
    info(f"after the kill: {len(after)} writes, {len(errors)} errors {kinds}, {len(held)} waited > 0.5 s "
         f"(longest {max((o[1] for o in after), default=0):.2f} s)")
    checks.ok(not late, f"writes sent after the first {ERRORS_ONLY_WITHIN} s waited for the failover instead of failing",
              [(round(o[0] - killed_at, 2), o[3]) for o in late[:10]])
    checks.ok(held, "at least one write waited at the gate and then succeeded")
    checks.ok(not any(o[2] == cluster.ports["primary"] for o in after if o[0] > kill_done),
              "no write sent after the kill was acknowledged by the old primary")

    status = sluice.failover_status()
    last = status.get("last") or {}
    info(f"GET /failover last: kind {last.get('kind')}, trigger {last.get('trigger')}, ok {last.get('ok')}, "
         f"detect {last.get('detect_ms')} ms, total {last.get('total_ms')} ms, writes held "
         f"{last.get('writes_held_ms')} ms ({last.get('held_writes')} waited), lag at promotion "
         f"{last.get('lag_bytes_at_promotion')} B; steps " + ", ".join(f"{s['name']} {s['ms']}" for s in last.get("steps", [])))
    checks.ok(last.get("kind") == "failover" and last.get("trigger") == "auto" and last.get("ok")
              and last.get("new_primary") == f"pg-{new}" and last.get("old_primary") == "pg-primary",
              "GET /failover reports the automatic failover", last)

    # The old primary comes back as a primary (crash recovery): it stays fenced; writes stay on the new one.
    cluster.sandbox("start-node", "primary")
    poll(lambda: role_of(cluster, "primary") == "primary", 10)
    time.sleep(1.0)  # a few probes of the returned node
    conn = sluice.connect()
    try:
        with conn.cursor() as cur:
            ports = set()
            for i in range(10):
                cur.execute("INSERT INTO failover_t(n) VALUES (%s) RETURNING inet_server_port()", (-i,))
                ports.add(cur.fetchone()[0])
    finally:
        conn.close()
    status = sluice.failover_status()
    fenced = {b["name"]: b["fenced"] for b in status["backends"]}
    checks.ok(ports == {cluster.ports[new]} and fenced.get("pg-primary"),
              "the old primary, back as a (split-brain) primary, stays fenced: writes go to the new one",
              f"ports {ports}, fenced {fenced}")


if __name__ == "__main__":
    main(test, "failover_auto")
