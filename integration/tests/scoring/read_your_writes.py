"""scoring_read_your_writes: with replica1's replay paused, a client that inserts a row (autocommit) and
reads it back at once through sluice never misses it under the default consistency (read_your_writes);
with "eventual" it does (that half shows the test can fail: replicas, the paused one above all, serve
stale reads). max_lag and max_lag_bytes are large so that lag does not exclude the paused replica.

Scopes: a row inserted on one connection and read on another connection of the same user is seen with
the default consistency_scope = "user" (an application's pool, or a reconnect), and may be missed with
"session" (which shows that half can fail too).

Each round: INSERT INTO ryw(id, v) VALUES (n, ...), then SELECT inet_server_port(), (SELECT v FROM ryw
WHERE id = n): a NULL v is a stale read, and the port says who served it."""

import time

from lib import describe_error, info, main

ROUNDS = 1000


def round_trips(cluster, sluice, user, password, first_id, two_connections=False, options=None):
    """ROUNDS insert-then-read round trips; returns (stale, errors, reads per node, seconds). With
    two_connections, the INSERT and the SELECT use two connections of the same user; `options` are
    the connections' startup options (-c settings)."""
    extra = {"options": options} if options else {}
    writer = sluice.connect(user, password, **extra)
    reader = sluice.connect(user, password, **extra) if two_connections else writer
    stale, errors = 0, []
    by_node = {}
    t0 = time.monotonic()
    try:
        with writer.cursor() as wcur, reader.cursor() as rcur:
            for n in range(first_id, first_id + ROUNDS):
                try:
                    wcur.execute("INSERT INTO ryw(id, v) VALUES (%s, %s)", (n, f"value {n}"))
                    rcur.execute("SELECT inet_server_port(), (SELECT v FROM ryw WHERE id = %s)", (n,))
                    port, v = rcur.fetchone()
                except Exception as e:  # counted and reported; the loop goes on while the connection does
                    errors.append(e)
                    if writer.closed or reader.closed:
                        break
                    continue
                node = cluster.port_name(port)
                by_node[node] = by_node.get(node, 0) + 1
                if v is None:
                    stale += 1
                elif v != f"value {n}":
                    errors.append(AssertionError(f"row {n} read back as {v!r}"))
    finally:
        writer.close()
        if reader is not writer:
            reader.close()
    return stale, errors, by_node, time.monotonic() - t0


def test(checks, cluster):
    # The sandbox runs with synchronous_commit = on, as production does: a commit's WAL reaches the
    # replicas at once and replica2 can serve the reads. One case turns it off for its sessions: then a
    # commit's WAL waits for the WAL writer's next round (wal_writer_delay, 200 ms), and sluice asks a
    # replica without waiting on it.
    cluster.node_value("primary", "CREATE TABLE ryw(id int PRIMARY KEY, v text); GRANT ALL ON ryw TO app; SELECT 1")
    cluster.wait_replayed()
    def user(name, **extra):
        return {"name": name, "auth": "scram-sha-256", "password": "app_pw", "server_user": "app",
                "server_password": "app_pw", **extra}
    # Routing defaults apart from the lag limits: user app has the default consistency.
    sluice = cluster.sluice(routing={"max_lag": "60s", "max_lag_bytes": "1GiB"},
                            extra_users=[user("app_eventual", consistency="eventual"),
                                         user("app_scope_session", consistency_scope="session")]).start()
    cluster.fault("pause-replay", "replica1")

    # eventual first: the paused replica's lag (and so its lag penalty) grows with time.
    async_commit = "-c synchronous_commit=off"
    cases = (("eventual", "app_eventual", 100_001, False, None), ("read_your_writes (default)", "app", 1, False, None),
             ("scope session, two connections", "app_scope_session", 200_001, True, None),
             ("scope user (default), two connections", "app", 300_001, True, None),
             ("read_your_writes, synchronous_commit off", "app", 400_001, False, async_commit),
             ("scope user, two connections, synchronous_commit off", "app", 500_001, True, async_commit))
    for label, user_name, first, two, options in cases:
        stale, errors, by_node, took = round_trips(cluster, sluice, user_name, "app_pw", first, two, options)
        info(f"{label} (user {user_name}): {ROUNDS} rounds in {took:.1f} s, {stale} stale reads, {len(errors)} "
             f"errors; reads served by {dict(sorted(by_node.items()))}")
        checks.ok(not errors, f"{label}: every round trip works",
                  f"{len(errors)} errors, e.g. {describe_error(errors[0]) if errors else ''}")
        if label.startswith("eventual") or label.startswith("scope session"):
            checks.ok(stale > 0, f"{label}: some reads are stale ({stale} of {ROUNDS}; replica1, paused, served "
                                 f"{by_node.get('replica1', 0)} reads)", f"reads served by {by_node}")
        else:
            checks.ok(stale == 0, f"{label}: no stale read in {ROUNDS} rounds", f"{stale} stale reads")
            checks.ok(by_node.get("replica1", 0) == 0, f"{label}: the paused replica1 serves none of them",
                      f"it served {by_node.get('replica1', 0)}")
            if options is None:  # with synchronous commits, the replica that replays serves them
                checks.ok(by_node.get("replica2", 0) > ROUNDS // 2,
                          f"{label}: replica2 serves most reads ({by_node.get('replica2', 0)})",
                          f"reads served by {by_node}")
    cluster.fault("resume-replay", "replica1")
    idle_primary_after_switch(checks, cluster, sluice)


def idle_primary_after_switch(checks, cluster, sluice):
    """After a WAL segment switch on an idle primary, pg_current_wal_insert_lsn() stands 40 bytes past
    the new segment's start (its page header) while the replicas replayed up to that start, and stay
    there until something is written. A unit of user app on the primary then must not keep app's reads
    on the primary (the WAL position it takes is the end of the WAL that exists). Before the fix every
    read waited causal_wait and went to the primary."""
    cluster.wait_replayed()
    offset = None
    for _ in range(3):  # something else writing WAL meanwhile (autovacuum) moves the position: retry
        cluster.node_value("primary", "SELECT pg_switch_wal() IS NOT NULL")
        cluster.wait_replayed()
        offset = cluster.node_value("primary", "SELECT ((pg_current_wal_insert_lsn() - '0/0') % 8192)::int")
        if offset in (24, 40):
            break
    checks.ok(offset in (24, 40), "after pg_switch_wal the primary's insert position is just past a page header",
              f"page offset {offset}")
    conn = sluice.connect("app", "app_pw")
    ports = []
    try:
        with conn.cursor() as cur:
            cur.execute("/* sluice: primary */ SELECT 1")  # a unit on the primary: its WAL position is taken
            for _ in range(10):
                cur.execute("SELECT inet_server_port()")
                ports.append(cur.fetchone()[0])
    finally:
        conn.close()
    on_primary = ports.count(cluster.ports["primary"])
    info(f"idle primary after a switch: reads served by ports {ports}")
    checks.ok(on_primary == 0, "after a unit on an idle primary, the user's reads go to the replicas",
              f"{on_primary} of {len(ports)} on the primary")


if __name__ == "__main__":
    main(test, "ryw")
