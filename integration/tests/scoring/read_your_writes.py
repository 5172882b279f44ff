"""scoring_read_your_writes: with replica1's replay paused, a client that inserts a row (autocommit) and
reads it back at once through sluice never misses it when its user has consistency = "read_your_writes";
with "eventual" it does (that half shows the test can fail: replicas, the paused one above all, serve
stale reads). max_lag and max_lag_bytes are large so that lag does not exclude the paused replica.

Each round: INSERT INTO ryw(id, v) VALUES (n, ...), then SELECT inet_server_port(), (SELECT v FROM ryw
WHERE id = n): a NULL v is a stale read, and the port says who served it."""

import time

from lib import describe_error, info, main

ROUNDS = 1000


def round_trips(cluster, sluice, user, password, first_id):
    """ROUNDS insert-then-read round trips; returns (stale, errors, reads per node, seconds)."""
    conn = sluice.connect(user, password)
    stale, errors = 0, []
    by_node = {}
    t0 = time.monotonic()
    try:
        with conn.cursor() as cur:
            for n in range(first_id, first_id + ROUNDS):
                try:
                    cur.execute("INSERT INTO ryw(id, v) VALUES (%s, %s)", (n, f"value {n}"))
                    cur.execute("SELECT inet_server_port(), (SELECT v FROM ryw WHERE id = %s)", (n,))
                    port, v = cur.fetchone()
                except Exception as e:  # counted and reported; the loop goes on while the connection does
                    errors.append(e)
                    if conn.closed:
                        break
                    continue
                node = cluster.port_name(port)
                by_node[node] = by_node.get(node, 0) + 1
                if v is None:
                    stale += 1
                elif v != f"value {n}":
                    errors.append(AssertionError(f"row {n} read back as {v!r}"))
    finally:
        conn.close()
    return stale, errors, by_node, time.monotonic() - t0


def test(checks, cluster):
    # The sandbox runs with synchronous_commit = off, where a commit's WAL reaches the replicas only at
    # the WAL writer's next flush (wal_writer_delay, 200 ms): every read-your-writes read would wait
    # causal_wait and go to the primary. Commits that flush, as in production, let replica2 serve them.
    cluster.node_value("primary", "CREATE TABLE ryw(id int PRIMARY KEY, v text); GRANT ALL ON ryw TO app; "
                                  "ALTER ROLE app SET synchronous_commit = on; SELECT 1")
    cluster.wait_replayed()
    ryw_user = {"name": "app_ryw", "auth": "scram-sha-256", "password": "app_pw", "server_user": "app",
                "server_password": "app_pw", "consistency": "read_your_writes"}
    sluice = cluster.sluice(routing={"consistency": "eventual", "max_lag": "60s", "max_lag_bytes": "1GiB"},
                            extra_users=[ryw_user]).start()
    cluster.fault("pause-replay", "replica1")

    results = {}
    # eventual first: the paused replica's lag (and so its lag penalty) grows with time.
    for label, user, first in (("eventual", "app", 100_001), ("read_your_writes", "app_ryw", 1)):
        stale, errors, by_node, took = round_trips(cluster, sluice, user, "app_pw", first)
        results[label] = stale
        info(f"{label} (user {user}): {ROUNDS} rounds in {took:.1f} s, {stale} stale reads, {len(errors)} errors; "
             f"reads served by {dict(sorted(by_node.items()))}")
        checks.ok(not errors, f"{label}: every round trip works",
                  f"{len(errors)} errors, e.g. {describe_error(errors[0]) if errors else ''}")
        if label == "read_your_writes":
            checks.ok(stale == 0, f"read_your_writes: no stale read in {ROUNDS} rounds", f"{stale} stale reads")
            checks.ok(by_node.get("replica1", 0) == 0, "read_your_writes: the paused replica1 serves none of them",
                      f"it served {by_node.get('replica1', 0)}")
        else:
            checks.ok(stale > 0, f"eventual: some reads are stale ({stale} of {ROUNDS}; replica1, paused, served "
                                 f"{by_node.get('replica1', 0)} reads)", f"reads served by {by_node}")
    cluster.fault("resume-replay", "replica1")


if __name__ == "__main__":
    main(test, "ryw")
