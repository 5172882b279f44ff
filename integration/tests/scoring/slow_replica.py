"""scoring_slow_replica: a replica CPU-throttled to 5% of a CPU loses its reads, and the read tail
latency stays close to the healthy cluster's.

8 reader threads run autocommit point selects on pgbench_accounts through sluice. With
balance = "score": 5 s without fault (baseline), then replica1 throttled (integration/faults.sh) for 6 s.
Checked: from 2 s after the throttle starts to its end, at least 90% of the reads go to replica2; the
read p99 over that period is at most twice the baseline p99. Then the same with balance = "round_robin"
(a second sluice on the same cluster), for a comparison that does not depend on how noisy this machine
is: the p99 during the fault with score must be below round-robin's."""

from lib import describe, free_port, info, main, slow_replica_run, summarize

THREADS = 8
BASELINE = 5.0
FAULT = 6.0
REACTION = 2.0     # the scorer must have moved the reads this long after the throttle starts
MIN_SHARE = 0.90   # of the reads after REACTION, on replica2
P99_FACTOR = 2.0   # fault p99 (after REACTION) against the baseline p99
# 5% of a CPU: at 10%, replica1 still answers light load at full speed on this 2-core machine, and the
# scorer rightly keeps sending it about its capacity share (measured 83-93% away from it, with p99
# unaffected); 5% makes it a neighbour bad enough that staying away is the only right answer.
PERCENT = 5


def phases(cluster, readers, marks, label):
    baseline = summarize(readers.between(marks["baseline"], marks["fault"]), cluster)
    fault = summarize(readers.between(marks["fault"] + REACTION, marks["end"]), cluster)
    info(f"{label} baseline: {describe(baseline)}")
    info(f"{label} fault after {REACTION:.0f} s: {describe(fault)}")
    per_second = []
    t = marks["fault"]
    while t + 0.5 <= marks["end"]:
        s = summarize(readers.between(t, t + 0.5), cluster)
        per_second.append(f"{s['share']['replica2'] * 100:.0f}")
        t += 0.5
    info(f"{label} replica2's share of the reads in each 0.5 s of the fault (%): {' '.join(per_second)}")
    return baseline, fault


def test(checks, cluster):
    score = cluster.sluice(routing={"balance": "score"}, name="sluice-score").start()
    readers, marks = slow_replica_run(cluster, score, THREADS, baseline=BASELINE, fault=FAULT, percent=PERCENT)
    score.stop()
    base, fault = phases(cluster, readers, marks, "score")
    checks.ok(base["errors"] == 0 and fault["errors"] == 0 and not readers.closed,
              "score: no read fails, no reader is disconnected",
              f"{base['errors']} + {fault['errors']} errors, closed: {readers.closed}")
    checks.ok(base["share"]["replica1"] > 0.1 and base["share"]["replica2"] > 0.1,
              "score: before the fault both replicas serve reads",
              f"replica1 {base['share']['replica1']:.1%}, replica2 {base['share']['replica2']:.1%}")
    checks.ok(fault["reads"] >= 1000 and fault["share"]["replica2"] >= MIN_SHARE,
              f"score: from {REACTION:.0f} s after the throttle, >= {MIN_SHARE:.0%} of the reads go to replica2 "
              f"({fault['share']['replica2']:.1%} of {fault['reads']})",
              f"replica1 {fault['share']['replica1']:.1%}, primary {fault['share']['primary']:.1%}")
    checks.ok(fault["p99"] <= P99_FACTOR * base["p99"],
              f"score: read p99 during the fault <= {P99_FACTOR:.0f} x baseline "
              f"({fault['p99'] * 1000:.2f} ms against {base['p99'] * 1000:.2f} ms)")

    rr = cluster.sluice(routing={"balance": "round_robin"}, name="sluice-round-robin", port=free_port()).start()
    rr_readers, rr_marks = slow_replica_run(cluster, rr, THREADS, baseline=2.0, fault=FAULT, percent=PERCENT)
    rr.stop()
    _, rr_fault = phases(cluster, rr_readers, rr_marks, "round_robin")
    checks.ok(rr_fault["reads"] > 0 and fault["p99"] < rr_fault["p99"],
              f"read p99 during the fault: score {fault['p99'] * 1000:.2f} ms < round_robin "
              f"{rr_fault['p99'] * 1000:.2f} ms (x{rr_fault['p99'] / fault['p99']:.1f})")


if __name__ == "__main__":
    main(test, "slow")
