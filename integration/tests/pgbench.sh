#!/usr/bin/env bash
# pgbench through sluice: the select-only script in each query mode (simple, extended, prepared) with
# more clients than pool slots, the default TPC-B-like script (transactions on the primary) with
# prepared statements, and a new connection per transaction (-C). Every run must exit 0, report no
# failed transactions, and a positive tps.
set -euo pipefail
cd "${SLUICE_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}"
# shellcheck source=/dev/null
source <(bash integration/sandbox.sh env)

export PGPASSWORD=app_pw PGCONNECT_TIMEOUT=5 PGSSLMODE=disable
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

# run NAME PGBENCH-ARGS...: one pgbench run through sluice, checked.
run() {
  local name=$1 out status t0 tps failures
  shift
  t0=$SECONDS
  set +e
  out=$(timeout 60 pgbench -h 127.0.0.1 -p "$SLUICE_PORT" -U app -n "$@" app 2>&1)
  status=$?
  set -e
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1)
  failures=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
  echo "# pgbench $*: exit $status, tps ${tps:-?}, failed transactions ${failures:-?} ($((SECONDS - t0)) s)"
  if ((status == 0)) && [[ $failures == 0 ]] && [[ -n $tps ]] && awk -v t="$tps" 'BEGIN { exit !(t > 0) }'; then
    ok "$name: tps $tps, no failed transactions"
  else
    not_ok "$name: exit $status, failed transactions '${failures}', tps '${tps}'"
    sed 's/^/#   /' <<<"$out" | tail -n 30
  fi
}

run "select-only, simple protocol, 16 clients" -S -M simple -c 16 -j 2 -T 3
run "select-only, extended protocol, 16 clients" -S -M extended -c 16 -j 2 -T 3
run "select-only, prepared statements, 16 clients" -S -M prepared -c 16 -j 2 -T 3
run "tpcb-like, prepared statements, 16 clients" -M prepared -c 16 -j 2 -T 3
run "select-only, a connection per transaction, 8 clients" -C -S -c 8 -j 2 -T 2

# The tpcb-like runs wrote through sluice: their history rows are on the primary.
history=$(psql -X -qAt -h 127.0.0.1 -p "$SLUICE_PORT" -U app -d app -c '/* sluice: primary */ select count(*) from pgbench_history')
if [[ $history =~ ^[0-9]+$ ]] && ((history > 0)); then ok "pgbench_history has $history rows on the primary"; else not_ok "pgbench_history: '$history'"; fi

echo "# $passed passed, $failed failed"
((failed == 0 && passed > 0))
