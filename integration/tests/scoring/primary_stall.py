"""scoring_primary_stall (issue 15, item 9): a primary that stops answering for a few seconds (its
postmaster and every child SIGSTOPped, then SIGCONTed) must not fail the writes sent meanwhile. Before,
the probes found it unreachable within about a second, and every write that started then got 57P03 "no
backend reports being a primary". Now writes wait for it (up to failover.hold_timeout) and run when it
answers again; reads go on on the replicas throughout."""

import threading
import time

from lib import describe_error, info, main

WRITERS = 6
STALL = 4.0           # seconds the primary is frozen
HOLD_TIMEOUT = "15s"  # failover.hold_timeout: longer than the stall


def test(checks, cluster):
    cluster.node_value("primary", "CREATE TABLE stall(id serial PRIMARY KEY, writer int, at float8); "
                                  "GRANT ALL ON stall, stall_id_seq TO app; SELECT 1")
    cluster.wait_replayed()
    sluice = cluster.sluice(extra_toml=f"\n[failover]\nhold_timeout = \"{HOLD_TIMEOUT}\"\n").start()
    stop = threading.Event()
    errors, done = [], [0] * WRITERS
    reads = {"ok": 0, "errors": []}

    def writer(n):
        conn = sluice.connect()
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    try:
                        cur.execute("INSERT INTO stall(writer, at) VALUES (%s, extract(epoch from now()))", (n,))
                        done[n] += 1
                    except Exception as e:  # counted: the assertion is that there are none
                        errors.append((time.monotonic(), e))
                        if conn.closed:
                            return
                    time.sleep(0.01)
        finally:
            conn.close()

    def reader():
        conn = sluice.connect()
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    try:
                        cur.execute("SELECT count(*) FROM pgbench_branches")
                        cur.fetchone()
                        reads["ok"] += 1
                    except Exception as e:
                        reads["errors"].append(e)
                    time.sleep(0.01)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    threads.append(threading.Thread(target=reader, daemon=True))
    for t in threads:
        t.start()
    time.sleep(1.0)
    before = sum(done)
    reads_before = reads["ok"]
    cluster.fault("freeze", "primary")
    frozen_at = time.monotonic()
    time.sleep(STALL)
    during = sum(done)
    reads_during = reads["ok"] - reads_before
    cluster.fault("thaw", "primary")
    thawed_at = time.monotonic()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    after = sum(done)
    info(f"writes: {before} before the stall, {during - before} while frozen for {STALL:.0f} s, "
         f"{after - during} in the 2 s after it; reads on replicas while frozen: {reads_during}")
    for at, e in errors[:5]:
        info(f"write error {at - frozen_at:+.2f} s from the freeze: {describe_error(e)}")
    checks.ok(not errors, "no write fails while the primary stalls", f"{len(errors)} failed, e.g. "
              f"{describe_error(errors[0][1]) if errors else ''}")
    checks.ok(after - during > WRITERS, f"writes go on after the primary answers again ({after - during})")
    checks.ok(reads_during > 0 and not reads["errors"], f"reads go on on the replicas meanwhile ({reads_during})",
              f"{len(reads['errors'])} read errors")
    held_long = thawed_at - frozen_at
    checks.ok(held_long < 15, f"the stall ({held_long:.1f} s) stayed within failover.hold_timeout")


if __name__ == "__main__":
    main(test, "stall")
