"""scoring_lag: a replica whose replay is paused leaves the read pool once it is further behind than
max_lag_bytes (1 MiB) or max_lag (2 s), within two probe intervals (500 ms) of crossing the limit, and
returns once replay resumes.

A writer inserts 1 KB rows straight into the primary at a steady rate; two readers run
`SELECT inet_server_port()` through sluice. Replica1's lag is measured directly: the primary's
pg_current_wal_lsn() minus the LSN replica1 paused at, and the time since the pause. Two rounds: at
~1 MB/s of WAL the byte limit is crossed first (after about a second); at ~55 KiB/s the byte limit is
never reached and only the time limit can exclude a replica. With replica1 alone paused its reads move
to replica2, but the lag penalty already steers them away before the limit; so the limits themselves are
checked with both replicas paused (equal lag, equal penalty): reads stay on the replicas until about the
crossing, then go to the primary (fallback = "primary")."""

import threading
import time

import psycopg2

from lib import Readers, info, main, poll

MAX_LAG_BYTES = 1024 * 1024
MAX_LAG = 2.0         # seconds
PROBE_INTERVAL = 0.25
GRACE = 2 * PROBE_INTERVAL  # from the crossing until no read may go to the lagging replica
OBSERVE = 2.0         # how long to watch the excluded replica after the grace period
EARLY = 1.0           # with both replicas paused, they may leave the pool at most this long before the limit
ROW_BYTES = 1000


class Writer(threading.Thread):
    """Inserts `rows_per_tick` rows of ~1 KB into the primary every `tick` seconds."""

    def __init__(self, cluster, rows_per_tick, tick=0.02):
        super().__init__(daemon=True)
        self.conn = cluster.connect_node("primary")
        self.rows_per_tick = rows_per_tick
        self.tick = tick
        self.stop_event = threading.Event()
        self.error = None
        self.rows = 0

    def run(self):
        next_at = time.monotonic()
        try:
            with self.conn.cursor() as cur:
                while not self.stop_event.is_set():
                    cur.execute("INSERT INTO lagload(payload) SELECT repeat(md5(random()::text), %s) "
                                "FROM generate_series(1, %s)", (ROW_BYTES // 32, self.rows_per_tick))
                    self.rows += self.rows_per_tick
                    next_at += self.tick
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
        except psycopg2.Error as e:
            self.error = e

    def stop(self):
        self.stop_event.set()
        self.join(10)
        self.conn.close()


def lag_round(checks, cluster, readers, label, paused_nodes, rows_per_tick):
    """Pauses replay on `paused_nodes` under a write load and checks when their reads stop; then resumes.
    With one replica paused, its reads must move to the other replica; with both, to the primary
    (routing.fallback = "primary"), and there the lag penalty, equal on both, cannot be what moves them:
    the replicas must keep serving until shortly before the limit is crossed."""
    primary = cluster.connect_node("primary")
    writer = Writer(cluster, rows_per_tick)
    writer.start()
    paused_ports = {cluster.ports[n] for n in paused_nodes}
    others = {cluster.ports[n] for n in ("replica1", "replica2") if n not in paused_nodes} or {cluster.ports["primary"]}
    others_name = "/".join(sorted(cluster.port_name(p) for p in others))
    names = " and ".join(paused_nodes)
    verb = "serves" if len(paused_nodes) == 1 else "serve"
    try:
        time.sleep(0.5)  # the load runs before the pause (not an assertion)
        checks.ok(poll(lambda: paused_ports <= {s.port for s in readers.between(time.monotonic() - 0.5)}, 5),
                  f"{label}: {names} {verb} reads before the pause")

        pause_called = time.monotonic()
        lsns = []
        for node in paused_nodes:
            cluster.fault("pause-replay", node)
            lsns.append(cluster.node_value(node, "select pg_last_wal_replay_lsn()::text"))
        paused = time.monotonic()
        # Every paused replica is past the limit when the one that paused last is.
        newest = cluster.node_value("primary", "select max(l)::text from unnest(%s::pg_lsn[]) l", (lsns,))
        time_cross = paused + MAX_LAG  # the data of every paused replica is at least this old from then on

        # Byte lag, measured straight on the servers until the limit is crossed or the time limit is.
        bytes_cross = None
        with primary.cursor() as cur:
            while time.monotonic() < time_cross:
                cur.execute("select pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", (newest,))
                lag = cur.fetchone()[0]
                if lag > MAX_LAG_BYTES:
                    bytes_cross = time.monotonic()
                    break
                time.sleep(0.01)
        cross = min(t for t in (bytes_cross, time_cross) if t is not None)
        why = (f"byte lag > 1 MiB {bytes_cross - paused:.2f} s after the pause" if bytes_cross is not None
               else f"time lag > {MAX_LAG:.0f} s (byte lag {lag / 1024:.0f} KiB)")
        info(f"{label}: paused at {', '.join(lsns)} ({(paused - pause_called) * 1000:.0f} ms to pause); "
             f"limit crossed: {why}")

        deadline = cross + GRACE
        while time.monotonic() < deadline + OBSERVE:
            time.sleep(0.05)
        window = readers.between(deadline, deadline + OBSERVE)
        ok = [s for s in window if s.error is None]
        late = [s for s in ok if s.port in paused_ports]
        served = [s for s in readers.between(paused) if s.port in paused_ports]
        last = max((s.start for s in served), default=None)
        info(f"{label}: {len(served)} reads went to {names} after the pause; the last one was "
             "sent " + ("never" if last is None else f"{(last - cross) * 1000:+.0f} ms from the crossing"))
        checks.ok(len(ok) >= 100 and not late,
                  f"{label}: from {GRACE * 1000:.0f} ms after the crossing, no read reaches "
                  f"{names} ({len(ok)} reads in {OBSERVE:.0f} s)",
                  f"{len(late)} of {len(ok)} reads did, the first sent "
                  f"{(min((s.start for s in late), default=cross) - cross) * 1000:.0f} ms after the crossing")
        if len(paused_nodes) > 1:
            # Equal lag, equal penalty: only the limit can take the replicas out, and not much before it.
            checks.ok(last is not None and last >= cross - EARLY,
                      f"{label}: the replicas served reads until at most {EARLY * 1000:.0f} ms before the crossing",
                      "never after the pause" if last is None else f"the last {(cross - last) * 1000:.0f} ms before")
        errors = [s for s in window if s.error is not None]
        checks.ok(not errors, f"{label}: no read fails meanwhile",
                  f"{len(errors)} errors, e.g. {errors[0].error if errors else ''}")
        elsewhere = {cluster.port_name(s.port) for s in ok if s.port not in others | paused_ports}
        checks.ok(not elsewhere, f"{label}: meanwhile reads go to {others_name}", f"also to {sorted(elsewhere)}")
        checks.ok(writer.is_alive() and writer.error is None, f"{label}: the write load ran throughout",
                  f"{writer.error}")

        resumed = time.monotonic()
        for node in paused_nodes:
            cluster.fault("resume-replay", node)
        back = poll(lambda: paused_ports <= {s.port for s in readers.between(resumed)}, 5)
        checks.ok(back, f"{label}: after resume, {names} {verb} reads again within 5 s "
                        f"({time.monotonic() - resumed:.2f} s)")
    finally:
        writer.stop()
        primary.close()


def test(checks, cluster):
    cluster.node_value("primary", "create table lagload(id bigserial primary key, payload text); select 1")
    cluster.wait_replayed()
    sluice = cluster.sluice(routing={"max_lag_bytes": "1MiB", "max_lag": "2s"},
                            health={"probe_interval": "250ms"}).start()
    readers = Readers(sluice, count=2, sql="SELECT inet_server_port()").start()
    try:
        # ~20 rows of ~1.1 KB of WAL every 20 ms: about 1 MiB/s, so the byte limit is crossed first.
        lag_round(checks, cluster, readers, "byte limit, replica1", ("replica1",), rows_per_tick=20)
        cluster.wait_replayed()
        lag_round(checks, cluster, readers, "byte limit, both replicas", ("replica1", "replica2"), rows_per_tick=20)
        cluster.wait_replayed()
        # ~1 row every 20 ms: about 55 KiB/s, 250 KiB in the 4.5 s of the round: only time can exclude them.
        lag_round(checks, cluster, readers, "time limit, both replicas", ("replica1", "replica2"), rows_per_tick=1)
        checks.ok(not readers.closed, "every reader kept its connection", f"{readers.closed}")
    finally:
        readers.stop()


if __name__ == "__main__":
    main(test, "lag")
