"""scoring_replica_kill: a replica's postmaster is killed (SIGKILL) under read load. Only the statements
in flight on it may fail, each with a connection-lost SQLSTATE (08006, 57P01 or 57P02) and on that
statement only: every reader keeps its connection. Once the failure is detected (the first error, or
1 s after the kill at the latest) no read is answered by the dead replica, and reads go on on replica2."""

import time

from lib import CONNECTION_LOST, Readers, describe_error, info, main, poll

THREADS = 8
DETECTION = 1.0   # at most this long after the kill, the failure counts as detected
AFTER = 3.0       # how long reads are watched after the detection


def test(checks, cluster):
    sluice = cluster.sluice().start()
    r1, r2 = cluster.ports["replica1"], cluster.ports["replica2"]
    readers = Readers(sluice, THREADS).start()
    try:
        checks.ok(poll(lambda: {r1, r2} <= {s.port for s in readers.between(time.monotonic() - 0.5)}, 5),
                  "before the kill, both replicas serve reads")
        time.sleep(1.0)  # steady load before the kill (not an assertion)

        killed = time.monotonic()
        cluster.fault("kill", "replica1")
        gone = time.monotonic()
        time.sleep(max(0.0, killed + DETECTION + AFTER - time.monotonic()))  # the load goes on meanwhile
        errors = [s for s in readers.between(killed - 1.0) if s.error is not None]
        first_error = min((s.end for s in errors), default=None)
        detected = min(first_error or (killed + DETECTION), killed + DETECTION)
        info(f"kill took {(gone - killed) * 1000:.0f} ms; first error "
             + ("none" if first_error is None else f"{(first_error - killed) * 1000:+.0f} ms from the kill"))

        for s in errors:
            info(f"reader {s.thread}: statement sent {(s.start - killed) * 1000:+.0f} ms, failed "
                 f"{(s.end - killed) * 1000:+.0f} ms from the kill: {describe_error(s.error)}")
        checks.ok(len(errors) <= THREADS, f"at most {THREADS} reads fail ({len(errors)})")
        per_thread = {}
        for s in errors:
            per_thread[s.thread] = per_thread.get(s.thread, 0) + 1
        checks.ok(all(n == 1 for n in per_thread.values()), "at most one failed read per reader (the one in flight)",
                  f"failures per reader: {per_thread}")
        bad = [s for s in errors if getattr(s.error, "pgcode", None) not in CONNECTION_LOST]
        checks.ok(not bad, f"each failure has SQLSTATE {'/'.join(sorted(CONNECTION_LOST))}",
                  "; ".join(describe_error(s.error) for s in bad))
        late = [s for s in errors if s.start > gone]
        checks.ok(not late, "only statements in flight at the kill fail (none sent after it)",
                  f"{len(late)} sent after the kill, the first {(min(s.start for s in late) - gone) * 1000:.0f} ms "
                  "after it" if late else None)
        checks.ok(not readers.closed and readers.alive() == THREADS, "every reader keeps its connection",
                  f"closed: { {i: describe_error(e) for i, e in readers.closed.items()} }")

        after = [s for s in readers.between(detected, detected + AFTER) if s.error is None]
        from_r1 = [s for s in after if s.port == r1]
        checks.ok(not from_r1, f"after the detection ({(detected - killed) * 1000:.0f} ms after the kill), "
                               "no read is answered by replica1", f"{len(from_r1)} were")
        on_r2 = sum(1 for s in after if s.port == r2)
        checks.ok(on_r2 >= 100 and on_r2 == len(after),
                  f"reads go on on replica2 ({on_r2} of {len(after)} in {AFTER:.0f} s)",
                  f"others: {sorted({cluster.port_name(s.port) for s in after if s.port != r2})}")
        log = sluice.log_text()
        checks.ok("backend 'pg-replica1' is unreachable" in log, "sluice logs that replica1 is unreachable")
    finally:
        readers.stop()


if __name__ == "__main__":
    main(test, "kill")
