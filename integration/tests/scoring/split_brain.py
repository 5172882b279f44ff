"""scoring_split_brain: a replica is promoted while the primary is still up. Two backends now report
being a primary; sluice must not guess which one is right: within 2 s of the promotion, writes through
sluice fail with 57P03 and a message that says split brain and names the claimants (docs/scoring.md),
and keep failing."""

import time

import psycopg2

from lib import describe_error, info, main, poll

DETECT_WITHIN = 2.0


def write(conn):
    """(port, error) of one INSERT through sluice."""
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO sb(at) VALUES (now()) RETURNING inet_server_port()")
            return cur.fetchone()[0], None
    except psycopg2.Error as e:
        return None, e


def is_split_brain(outcome):
    _, e = outcome
    return e is not None and e.pgcode == "57P03" and "split brain" in str(e)


def test(checks, cluster):
    cluster.node_value("primary", "CREATE TABLE sb(at timestamptz); GRANT ALL ON sb TO app; SELECT 1")
    cluster.wait_replayed()
    sluice = cluster.sluice().start()
    conn = sluice.connect()
    port, e = write(conn)
    checks.ok(port == cluster.ports["primary"], "before the promotion, writes go to the primary",
              f"port {port}, {describe_error(e)}")

    promote_called = time.monotonic()
    cluster.fault("promote", "replica1")
    promoted = time.monotonic()
    outcomes = []
    detected = poll(lambda: is_split_brain(outcomes.append(write(conn)) or outcomes[-1]), DETECT_WITHIN, 0.02)
    took = time.monotonic() - promoted
    info(f"pg_promote() returned after {(promoted - promote_called) * 1000:.0f} ms; refusal "
         f"{took * 1000:.0f} ms later")
    last = outcomes[-1] if outcomes else (None, None)
    info(f"{len(outcomes)} writes after the promotion until the refusal; the last: {describe_error(last[1])}")
    succeeded = {cluster.port_name(p) for p, _ in outcomes if p is not None}
    if succeeded:
        info(f"writes that succeeded meanwhile went to {sorted(succeeded)}")
    checks.ok(detected, f"within {DETECT_WITHIN:.0f} s of the promotion, writes fail with 57P03 saying split "
                        f"brain ({took:.2f} s)", f"last outcome: port {last[0]}, {describe_error(last[1])}")
    more = []
    for _ in range(10):
        more.append(write(conn))
        time.sleep(0.05)
    checks.ok(all(is_split_brain(o) for o in more), "writes keep failing while both claim to be primary",
              f"{[(p, describe_error(e)) for p, e in more if not is_split_brain((p, e))]}")
    # docs/scoring.md (wiring): "split_brain must fail writes with an error naming the claimants".
    message = str(last[1]) if last[1] is not None else ""
    checks.ok("pg-primary" in message and "pg-replica1" in message,
              "the split-brain error names the two backends that claim to be primary",
              f"message: {message.strip()!r}")
    checks.ok(not conn.closed, "the client's connection stays open")
    conn.close()


if __name__ == "__main__":
    main(test, "split")
