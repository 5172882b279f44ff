"""scoring_heartbeat: with [health] heartbeat = true, the probes keep a sluice_heartbeat row fresh on the
primary (creating the table on first use) and every replica replays it; sluice warns when the heartbeat
cannot be written (here: the probe user may not create tables in the `postgres` database's public
schema, PostgreSQL 15's default) and then works with `database` pointed at one it owns."""

import time

from lib import info, main


def fresh_everywhere(cluster, deadline):
    """Polls until the heartbeat row exists on every node and is under a second old; returns the ages."""
    ages = {}
    while time.monotonic() < deadline:
        try:
            ages = {node: float(cluster.node_value(
                node, "select extract(epoch from now() - ts) from sluice_heartbeat where id = 1", dbname="app"))
                for node in ("primary", "replica1", "replica2")}
            if all(age < 1.0 for age in ages.values()):
                return ages
        except Exception as e:  # the table may not exist or be replayed yet
            ages = {"error": str(e).strip()[:80]}
        time.sleep(0.1)
    return ages


def test(checks, cluster):
    refused = cluster.sluice(health={"heartbeat": True, "database": "postgres"}, name="sluice-hb-refused").start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "heartbeat failed" not in refused.log_text():
        time.sleep(0.1)
    checks.ok("heartbeat failed" in refused.log_text() and "permission denied" in refused.log_text(),
              "a heartbeat the probe user may not write is reported in sluice's log")
    refused.stop()

    sluice = cluster.sluice(health={"heartbeat": True, "database": "app"}, name="sluice-hb").start()
    ages = fresh_everywhere(cluster, time.monotonic() + 10)
    info(f"heartbeat ages (s): {ages}")
    checks.ok(len(ages) == 3 and "error" not in ages and all(a < 1.0 for a in ages.values()),
              "the heartbeat row is under a second old on the primary and on both replicas", f"{ages}")
    time.sleep(1.0)
    later = fresh_everywhere(cluster, time.monotonic() + 5)
    checks.ok("error" not in later and later.get("primary", 99) < 1.0,
              "and it keeps being written", f"{later}")
    conn = sluice.connect()
    with conn.cursor() as cur:
        ports = set()
        for _ in range(50):
            cur.execute("select inet_server_port()")
            ports.add(cluster.port_name(cur.fetchone()[0]))
    checks.ok(ports <= {"replica1", "replica2"} and ports, "reads still go to the replicas", f"{ports}")
    conn.close()
    checks.ok("NOTICE" not in sluice.log_text(), "no server notices spill into sluice's log")


if __name__ == "__main__":
    main(test, "heartbeat")
