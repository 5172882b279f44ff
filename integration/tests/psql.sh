#!/usr/bin/env bash
# psql through sluice: a script of several statements, a multi-statement string, \copy in and out, a
# syntax error that the script survives (ON_ERROR_STOP=0), \d (catalog queries), checked against the
# output expected.
set -euo pipefail
cd "${SLUICE_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}"
# shellcheck source=/dev/null
source <(bash integration/sandbox.sh env)

export PGPASSWORD=app_pw PGCONNECT_TIMEOUT=5 PGSSLMODE=disable
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# p ARGS...: psql through sluice, unaligned, tuples only, no psqlrc.
p() { timeout 30 psql -X -qAt -h 127.0.0.1 -p "$SLUICE_PORT" -U app -d app "$@"; }

# expect WHAT WANT GOT
expect() {
  if [[ $3 == "$2" ]]; then ok "$1"; else not_ok "$1"; diff <(echo "$2") <(echo "$3") | sed 's/^/#   /' || true; fi
}

# A script of several statements, with a transaction and a read of what it wrote.
cat >"$work/script.sql" <<'EOF'
drop table if exists it_psql;
create table it_psql (id int primary key, name text);
insert into it_psql values (1, 'one'), (2, 'two');
begin;
insert into it_psql values (3, 'three');
select count(*) from it_psql;
commit;
/* sluice: primary */ select string_agg(name, ',' order by id) from it_psql;
select sum(x) from generate_series(1, 100) x;
select count(*) from pgbench_branches;
select pg_is_in_recovery(); -- through sluice the database is the cluster, whose primary is not in recovery
EOF
got=$(p -v ON_ERROR_STOP=1 -f "$work/script.sql" 2>"$work/script.err") || true
if grep -q ERROR "$work/script.err"; then not_ok "the script ran without errors: $(cat "$work/script.err")"; fi
expect "a script of several statements" "3
one,two,three
5050
1
f" "$got"

# One Query message with two statements: psql prints both results.
expect "multi-statement string 'select 1; select 2;'" "1
2" "$(p -c 'select 1; select 2;' 2>&1)"
expect "multi-statement string with a write and a read" "INSERT 0 1
4" "$(timeout 30 psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U app -d app \
  -c "insert into it_psql values (4, 'four'); select count(*) from it_psql;" 2>&1)"

# \copy in and out (COPY FROM STDIN / TO STDOUT through sluice).
seq 1 1000 | awk '{ printf "%d\tname %d\n", $1 + 100, $1 }' >"$work/in.tsv"
expect "\\copy from a file" "COPY 1000" "$(timeout 30 psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U app -d app \
  -c "\\copy it_psql from '$work/in.tsv'" 2>&1)"
# psql sends "COPY ( ... ) TO STDOUT": a read, on either replica. Wait until both have the rows
# (asked directly: a precondition).
replicated() {
  local port
  for port in "$REPLICA1_PORT" "$REPLICA2_PORT"; do
    [[ $(timeout 10 psql -X -qAt -h 127.0.0.1 -p "$port" -U app -d app -c 'select count(*) from it_psql' 2>/dev/null) == 1004 ]] ||
      return 1
  done
}
deadline=$((SECONDS + 10))
until replicated; do
  ((SECONDS < deadline)) || { not_ok "the replicas did not get the 1004 rows within 10 s"; break; }
  sleep 0.1
done
p -c "\\copy (select * from it_psql where id > 100 order by id) to '$work/out.tsv'" >/dev/null 2>&1 || true
if cmp -s "$work/in.tsv" "$work/out.tsv"; then ok "\\copy to a file gives back the same 1000 rows"; else
  not_ok "\\copy to a file: $(wc -l <"$work/out.tsv" 2>/dev/null || echo no) lines, differs from the input"; fi
expect "\\copy to stdout, a count" "1004" "$(p -c '\copy (select count(*) from it_psql) to stdout' 2>&1)"

# A syntax error does not stop a script without ON_ERROR_STOP, nor break the connection.
printf 'select 1;\nselec 2;\nselect 3;\n' >"$work/error.sql"
status=0
out=$(p -v ON_ERROR_STOP=0 -f "$work/error.sql" 2>"$work/error.err") || status=$?
expect "a syntax error with ON_ERROR_STOP=0: the script goes on" "1
3" "$out"
if grep -q 'syntax error at or near "selec"' "$work/error.err" && ((status == 0)); then
  ok "the syntax error is the server's (exit status $status)"
else not_ok "syntax error: exit $status, stderr $(cat "$work/error.err")"; fi
status=0
p -v ON_ERROR_STOP=1 -f "$work/error.sql" >/dev/null 2>&1 || status=$?
expect "with ON_ERROR_STOP=1 the same script stops with exit status 3" 3 "$status"

# \d runs catalog queries.
d=$(timeout 30 psql -X -h 127.0.0.1 -p "$SLUICE_PORT" -U app -d app -c '\d pgbench_accounts' 2>&1) || true
if grep -q 'Table "public.pgbench_accounts"' <<<"$d" && grep -Eq '^ aid +\| integer +\| +\| not null' <<<"$d" &&
  grep -q '"pgbench_accounts_pkey" PRIMARY KEY, btree (aid)' <<<"$d"; then
  ok "\\d pgbench_accounts describes the table, its columns and its primary key"
else
  not_ok "\\d pgbench_accounts"
  sed 's/^/#   /' <<<"$d"
fi
expect "\\dt lists the pgbench tables" "pgbench_accounts
pgbench_branches
pgbench_history
pgbench_tellers" "$(p -c '\dt pgbench_*' 2>&1 | cut -d'|' -f2)"

# A large result (100,000 rows, about 10 MB) arrives whole: the same bytes as straight from the primary.
big='select * from pgbench_accounts order by aid'
want=$(timeout 30 psql -X -qAt -h 127.0.0.1 -p "$PRIMARY_PORT" -U app -d app -c "$big" | md5sum)
got=$(timeout 20 psql -X -qAt -h 127.0.0.1 -p "$SLUICE_PORT" -U app -d app -c "$big" | md5sum)
expect "all of pgbench_accounts through sluice (a replica) matches the primary's" "$want" "$got"
got=$(timeout 20 psql -X -qAt -h 127.0.0.1 -p "$SLUICE_PORT" -U app -d app -c "/* sluice: primary */ $big" | md5sum)
expect "all of pgbench_accounts through sluice (the primary) matches" "$want" "$got"

# Variables and \gset, \if: several round trips in one session.
expect "\\gset and \\if" "big" "$(printf '%s\n' 'select count(*) > 50000 as big from pgbench_accounts \gset' \
  '\if :big' '\echo big' '\else' '\echo small' '\endif' | p 2>&1)"

p -c 'drop table it_psql' >/dev/null
echo "# $passed passed, $failed failed"
((failed == 0 && passed > 0))
