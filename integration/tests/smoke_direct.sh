#!/usr/bin/env bash
# Smoke test of the sandbox itself, without sluice: each server takes the logins the proxy tests rely on
# (scram, md5, plain password, trust), the primary is out of recovery and the replicas in it, and a row
# written on the primary reaches both replicas.
set -euo pipefail
cd "${SLUICE_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}"
# shellcheck source=/dev/null
source <(bash integration/sandbox.sh env)

export PGCONNECT_TIMEOUT=5 PGSSLMODE=disable
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

# q PORT USER PASSWORD SQL: one value from a TCP connection to database app.
q() { PGPASSWORD=$3 psql -X -qAt -h 127.0.0.1 -p "$1" -U "$2" -d app -c "$4"; }

expect() {
  local what=$1 want=$2 got
  shift 2
  if got=$("$@" 2>&1) && [[ $got == "$want" ]]; then ok "$what"; else not_ok "$what: want '$want', got '$got'"; fi
}

declare -A port=([primary]=$PRIMARY_PORT [replica1]=$REPLICA1_PORT [replica2]=$REPLICA2_PORT)
declare -A in_recovery=([primary]=f [replica1]=t [replica2]=t)

for node in primary replica1 replica2; do
  p=${port[$node]}
  expect "$node: app (scram) sees pg_is_in_recovery() = ${in_recovery[$node]}" \
    "${in_recovery[$node]}" q "$p" app app_pw 'select pg_is_in_recovery()'
  expect "$node: md5user (md5) reads pgbench_accounts" 100000 q "$p" md5user md5_pw 'select count(*) from pgbench_accounts'
  expect "$node: plainuser (password) logs in" plainuser q "$p" plainuser plain_pw 'select current_user'
  expect "$node: trustuser (trust) logs in" trustuser q "$p" trustuser '' 'select current_user'
  if q "$p" app wrong_pw 'select 1' >/dev/null 2>&1; then
    not_ok "$node: app with a wrong password was let in"
  else
    ok "$node: app with a wrong password is refused"
  fi
done

expect "md5user's password is stored as md5" md5 \
  bash integration/sandbox.sh psql primary -qAt -c "select left(rolpassword, 3) from pg_authid where rolname = 'md5user'"

# A write on the primary reaches the replicas (polled: replication is asynchronous).
marker=$((RANDOM * 32768 + RANDOM))
q "$PRIMARY_PORT" app app_pw "insert into pgbench_history (tid, bid, aid, delta, mtime) values (0, 0, 0, $marker, now())" >/dev/null
for node in replica1 replica2; do
  seen=0
  for _ in $(seq 100); do
    seen=$(q "${port[$node]}" app app_pw "select count(*) from pgbench_history where delta = $marker")
    [[ $seen == 1 ]] && break
    sleep 0.1
  done
  if [[ $seen == 1 ]]; then ok "$node: replicated the primary's write"; else not_ok "$node: did not replicate the primary's write within 10 s"; fi
done

echo "$passed passed, $failed failed"
((failed == 0))
