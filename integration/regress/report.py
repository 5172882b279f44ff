"""Summary of integration/regress/run.sh: which regression tests pass straight at the primary and through
sluice, those that pass directly but fail through sluice grouped by the likely cause (from the errors
their regression.diffs adds), each run's wall time, and the share of sluice's batches served by replicas
(admin API /backends, before and after the run). Exit status 1 when a test passes directly but fails
through sluice. Usage: report.py OUT_DIR SCHEDULE"""

import json
import os
import re
import sys
from collections import OrderedDict

# Causes, the first that matches a test's added error lines wins. Each: (label, regex over "+ERROR: ..."
# lines of the diff, or None for a catch-all applied to the whole diff).
CAUSES = [
    ("sluice refused or lost the server connection (sluice: ..., 08006, 53300)",
     re.compile(r"sluice:|server closed the connection|connection to server|terminating connection|"
                r"timed out after .* waiting for a server connection")),
    ("25006 read-only transaction: a write or DDL ran on a replica",
     re.compile(r"in a read-only transaction|read-only transaction")),
    ("cannot be executed during recovery: a statement that needs the primary ran on a replica "
     "(pg_current_xact_id, unlogged/temp access, nextval, ...)",
     re.compile(r"during recovery|recovery is in progress|hot standby|cannot access temporary or unlogged")),
    ("40001 conflict with recovery: a long read on a replica was cancelled",
     re.compile(r"conflict with recovery")),
    ("session state lost between statements: temp objects, prepared statements, cursors, "
     "settings or locks of an earlier statement not where this one ran",
     re.compile(r"prepared statement .* does not exist|cursor .* does not exist|portal .* does not exist|"
                r"unrecognized configuration parameter|no such savepoint|"
                r"there is no transaction in progress|currval of sequence .* is not yet defined|"
                r"lastval is not yet defined|pg_temp")),
    ("42P01/42883/42704 object does not exist yet: created on the primary, read on a replica "
     "that had not replayed it",
     re.compile(r"does not exist|ERROR:  (42P01|42883|42704)$")),
]
OTHER_ERROR = "other new errors"
STALE = ("different row counts without a new error: a read on a replica that had not replayed the "
         "test's latest writes (stale read)")
NO_ERROR = "different results without a new error or row count (values, NOTICEs, WARNINGs, plans, order)"


def parse_log(path):
    """test name -> 'ok' | 'FAILED' | 'failed (ignored)', in schedule order, from pg_regress's output."""
    results = OrderedDict()
    if not os.path.exists(path):
        return None
    pattern = re.compile(r"^(?:test |\s+)(\S+)\s+\.\.\. (ok|FAILED|failed \(ignored\))")
    with open(path, errors="replace") as f:
        for line in f:
            m = pattern.match(line)
            if m:
                results[m.group(1)] = m.group(2)
    return results


def parse_diffs(path):
    """test name -> the text of its diff, from regression.diffs."""
    diffs = {}
    if not os.path.exists(path):
        return diffs
    current = None
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^diff .* \S*/results/(\S+)\.out$", line.rstrip("\n"))
            if m:
                current = m.group(1)
                diffs[current] = []
                continue
            if current is not None:
                diffs[current].append(line.rstrip("\n"))
    return {k: "\n".join(v) for k, v in diffs.items()}


def added_errors(diff):
    """The ERROR/FATAL lines (and connection losses) the run added, with psql's prefix removed."""
    out = []
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            text = line[1:]
            if re.search(r"\b(ERROR|FATAL):|server closed the connection|connection to server", text):
                out.append(text.strip())
    return out


def classify(diff):
    errors = added_errors(diff)
    for label, regex in CAUSES:
        hits = [e for e in errors if regex.search(e)]
        if hits:
            return label, hits[0]
    if errors:
        return OTHER_ERROR, errors[0]
    counts = [l for l in diff.splitlines() if re.match(r"^[-+]\((\d+) rows?\)$", l)]
    if any(l.startswith("-") for l in counts) and any(l.startswith("+") for l in counts):
        return STALE, " / ".join(counts[:2])
    first = next((l for l in diff.splitlines() if l.startswith(("+", "-")) and not l.startswith(("+++", "---"))),
                 "")
    return NO_ERROR, first.strip()


def replica_share(out_dir):
    """(replica batches, all batches) dispatched during the sluice run, from /backends before and after."""
    try:
        before = json.load(open(os.path.join(out_dir, "backends-before.json")))["backends"]
        after = json.load(open(os.path.join(out_dir, "backends-after.json")))["backends"]
    except (OSError, ValueError, KeyError):
        return None
    was = {b["name"]: b.get("dispatched") or 0 for b in before}
    replica = total = 0
    per_backend = []
    for b in after:
        n = (b.get("dispatched") or 0) - was.get(b["name"], 0)
        total += n
        if b.get("role") == "replica":
            replica += n
        per_backend.append(f"{b['name']} ({b.get('role')}) {n}")
    return replica, total, per_backend


def routed_counters(out_dir):
    try:
        before = json.load(open(os.path.join(out_dir, "status-before.json")))["counters"]
        after = json.load(open(os.path.join(out_dir, "status-after.json")))["counters"]
    except (OSError, ValueError, KeyError):
        return None
    return {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int)}


def seconds(out_dir, name):
    try:
        return open(os.path.join(out_dir, f"{name}.seconds")).read().strip()
    except OSError:
        return "-"


def main():
    out_dir, schedule = sys.argv[1], sys.argv[2]
    scheduled = [t for line in open(schedule) if line.startswith("test:") for t in line.split()[1:]]
    direct = parse_log(os.path.join(out_dir, "direct.log"))
    sluice = parse_log(os.path.join(out_dir, "sluice.log")) or OrderedDict()
    diffs = parse_diffs(os.path.join(out_dir, "sluice", "regression.diffs"))

    def passed(results):
        return [t for t in scheduled if results.get(t) == "ok"]

    print()
    print(f"regression suite: {len(scheduled)} tests scheduled ({schedule})")
    if direct is not None:
        print(f"  directly (primary):  {len(passed(direct)):4d} passed  in {seconds(out_dir, 'direct')} s")
    print(f"  through sluice:      {len(passed(sluice)):4d} passed  in {seconds(out_dir, 'sluice')} s")
    share = replica_share(out_dir)
    if share:
        replica, total, per_backend = share
        pct = 100.0 * replica / total if total else 0.0
        print(f"  replica share during the sluice run: {replica} of {total} batches ({pct:.1f} %): "
              + ", ".join(per_backend))
    counters = routed_counters(out_dir)
    if counters:
        print("  sluice counters during the run: "
              + ", ".join(f"{k} {v}" for k, v in counters.items() if v))

    if direct is not None:
        failing_directly = [t for t in scheduled if direct.get(t) != "ok"]
        if failing_directly:
            print(f"\nfail directly too (not counted against sluice): {' '.join(failing_directly)}")
        baseline = passed(direct)
    else:
        baseline = scheduled
    needs_session = read_needs_session()
    regressions = [t for t in baseline if sluice.get(t) != "ok" and t not in needs_session]
    excused = [t for t in baseline if sluice.get(t) != "ok" and t in needs_session]
    if excused:
        print(f"\nneed a server session of their own (needs_session.txt, docs/regress.md; not counted): "
              f"{' '.join(excused)}")
    print(f"\npass directly, fail through sluice: {len(regressions)}")
    groups = OrderedDict()
    for t in regressions:
        diff = diffs.get(t)
        if diff is None:
            label, example = "no result (did not run, or crashed)", sluice.get(t, "not run")
        else:
            label, example = classify(diff)
        groups.setdefault(label, []).append((t, example))
    for label, tests in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"\n  [{len(tests)}] {label}")
        for t, example in tests:
            print(f"    {t:28s} {example[:150]}")
    if regressions:
        print(f"\ndiffs: {os.path.join(out_dir, 'sluice', 'regression.diffs')}")
    return 1 if regressions else 0


def read_needs_session():
    """The tests listed in needs_session.txt beside this script."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "needs_session.txt")
    with open(path) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


if __name__ == "__main__":
    sys.exit(main())
