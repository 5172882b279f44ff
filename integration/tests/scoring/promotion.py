"""scoring_promotion: sluice follows the backend that reports it is the primary. The configured primary is
stopped: writes through sluice then fail fast (57P03 once the probes show no primary; never a hang).
replica1 is promoted with pg_promote(): writes through the same running sluice, on the same client
connection, succeed on replica1 within 5 s. (replica2 keeps trying to follow the old primary: fine.)"""

import time

import psycopg2

from lib import describe_error, info, main, poll

NO_PRIMARY = "57P03"
FAST = 2.0           # a write that fails must fail within this
REFUSED_WITHIN = 3.0  # after the primary stops, writes get 57P03 within this
FOLLOW_WITHIN = 5.0   # after the promotion, writes succeed on the new primary within this


class WriteProbe:
    """One client connection through sluice that writes a row and says which server took it."""

    def __init__(self, sluice):
        self.conn = sluice.connect()
        self.n = 0
        self.outcomes = []  # (sent, seconds, port or None, error or None)

    def write(self):
        self.n += 1
        t0 = time.monotonic()
        try:
            with self.conn.cursor() as cur:
                cur.execute("INSERT INTO promo(n) VALUES (%s) RETURNING inet_server_port()", (self.n,))
                port = cur.fetchone()[0]
            self.outcomes.append((t0, time.monotonic() - t0, port, None))
            return port, None
        except psycopg2.Error as e:
            self.outcomes.append((t0, time.monotonic() - t0, None, e))
            return None, e


def test(checks, cluster):
    cluster.node_value("primary", "CREATE TABLE promo(n int, at timestamptz DEFAULT now()); "
                                  "GRANT ALL ON promo TO app; SELECT 1")
    cluster.wait_replayed()
    sluice = cluster.sluice().start()
    w = WriteProbe(sluice)
    port, e = w.write()
    checks.ok(port == cluster.ports["primary"], "before the failover, writes go to the primary",
              f"port {port}, {describe_error(e)}")

    stopped_at = time.monotonic()
    cluster.sandbox("stop-node", "primary", "fast")
    stopped = time.monotonic()
    refused = poll(lambda: (lambda r: r[1] is not None and r[1].pgcode == NO_PRIMARY)(w.write()),
                   REFUSED_WITHIN, 0.05)
    window = [o for o in w.outcomes if o[0] >= stopped_at]
    checks.ok(refused, f"with no primary, writes fail with {NO_PRIMARY} within {REFUSED_WITHIN:.0f} s of the stop "
                       f"({time.monotonic() - stopped:.2f} s; {len(window)} attempts)",
              f"last: {describe_error(window[-1][3]) if window else 'none'}")
    kinds = {}
    for o in window:
        key = "ok" if o[3] is None else o[3].pgcode
        kinds[key] = kinds.get(key, 0) + 1
    info(f"outcomes of the writes after the stop: {kinds}; the last: {describe_error(window[-1][3]) if window else ''}")
    slowest = max((o[1] for o in window), default=0.0)
    checks.ok(slowest < FAST, f"each failing write returns quickly (slowest {slowest * 1000:.0f} ms)")
    # 57P01: the server's own "terminating connection due to administrator command", sent on a pooled
    # connection used within pool.server_check_delay, which is lent without a check.
    others = {describe_error(o[3]) for o in window
              if o[3] is not None and o[3].pgcode not in (NO_PRIMARY, "08006", "57P01")}
    checks.ok(not others and all(o[2] is None for o in window),
              "meanwhile no write succeeds and each error is 57P03 (or 08006/57P01 before the probes notice)",
              f"other outcomes: {sorted(others)} {[o[2] for o in window if o[2] is not None]}")
    # The refusal lasts: a few more writes over half a second, all 57P03.
    more = []
    for _ in range(5):
        more.append(w.write())
        time.sleep(0.1)
    checks.ok(all(p is None and e is not None and e.pgcode == NO_PRIMARY for p, e in more),
              "writes keep failing with 57P03 until a primary appears",
              f"{[(p, describe_error(e)) for p, e in more]}")

    promote_started = time.monotonic()
    took = cluster.fault("promote", "replica1")
    promoted = time.monotonic()
    info(f"pg_promote() took {took:.2f} s")
    mark = len(w.outcomes)
    followed = poll(lambda: w.write()[0] == cluster.ports["replica1"], FOLLOW_WITHIN, 0.05)
    after = w.outcomes[mark:]
    checks.ok(followed, f"after the promotion, writes through the same sluice succeed on replica1 within "
                        f"{FOLLOW_WITHIN:.0f} s ({time.monotonic() - promoted:.2f} s, {len(after)} attempts)",
              f"last: port {after[-1][2] if after else None}, {describe_error(after[-1][3]) if after else ''}")
    checks.ok(not w.conn.closed, "the client's connection survived the failover")
    port, e = w.write()
    checks.ok(port == cluster.ports["replica1"], "later writes go to replica1 too", f"port {port}, {describe_error(e)}")
    rows = cluster.node_value("replica1", "select count(*) from promo")
    info(f"replica1 has {rows} rows in promo; promotion started {(promote_started - stopped) :.2f} s after the stop")
    # Reads still work: replica2 is still a (stale) replica, and the new primary answers otherwise.
    r = sluice.connect()
    try:
        with r.cursor() as cur:
            cur.execute("SELECT inet_server_port()")
            port = cur.fetchone()[0]
        checks.ok(port in (cluster.ports["replica1"], cluster.ports["replica2"]), "reads are still served",
                  f"port {port}")
    finally:
        r.close()
        w.conn.close()


if __name__ == "__main__":
    main(test, "promotion")
