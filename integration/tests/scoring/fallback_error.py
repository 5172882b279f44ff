"""scoring_fallback_error: with routing.fallback = "error", a read that no replica can take is refused
with SQLSTATE 57P03 and a message saying why, the client stays connected, and writes still work; with
the replicas back, reads are served again."""

import time

import psycopg2

from lib import info, main


def read(cur):
    cur.execute("select inet_server_port()")
    return cur.fetchone()[0]


def test(checks, cluster):
    sluice = cluster.sluice(routing={"fallback": "error"}).start()
    conn = sluice.connect()
    cur = conn.cursor()
    checks.ok(cluster.port_name(read(cur)) in ("replica1", "replica2"), "a read is served by a replica")

    cluster.fault("kill", "replica1")
    cluster.fault("kill", "replica2")
    refused = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            read(cur)
        except psycopg2.Error as e:
            if e.pgcode == "57P03":
                refused = e
                break
        time.sleep(0.05)
    info(f"refusal: {refused.pgcode if refused else None} {str(refused).strip() if refused else ''}")
    checks.ok(refused is not None and "fallback" in str(refused),
              "with both replicas down, a read is refused with 57P03 naming routing.fallback")
    cur.execute("insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 0, now()) "
                "returning inet_server_port()")
    checks.ok(cluster.port_name(cur.fetchone()[0]) == "primary", "the same connection still writes to the primary")

    cluster.sandbox("start-node", "replica1")
    served = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and served is None:
        try:
            served = cluster.port_name(read(cur))
        except psycopg2.Error:
            time.sleep(0.1)
    checks.ok(served == "replica1", "once a replica is back, reads are served again", f"{served}")
    conn.close()


if __name__ == "__main__":
    main(test, "fallback")
