#!/usr/bin/env bash
# PostgreSQL's own regression suite (src/test/regress of the installed server's version) run twice on a
# sandbox cluster: straight at the primary, then through a sluice of its own (transaction pooling,
# read/write splitting on, sluice's default consistency). Prints the tests that pass each way, those that pass
# directly but fail through sluice with the errors that differ, each run's wall time, and the share of
# sluice's batches that replicas served. Exit status 1 when a test that passes directly fails through
# sluice, 2 when the suite could not run. See docs/regress.md.
# Usage: run.sh [--subset | --tests "NAME ..."] [--only-sluice] [--max-connections N]
#               [--consistency eventual|read_your_writes]
#   --subset: the CI subset (integration/regress/subset.txt), in the schedule's order and groups;
#   --tests: these tests (test_setup is added first: every test needs its tables).
#   --only-sluice: skip the direct run (every listed test is then expected to pass through sluice).
#   --consistency: sluice's routing.consistency for the run (default: sluice's own, read_your_writes).
# Settings (environment): SLUICE_BIN (build/test/router/sluice), SLUICE_REGRESS_CACHE
# (/var/cache/sluice-regress: the PostgreSQL source and regress.so, fetched and built when missing),
# SLUICE_REGRESS_OUT (/tmp/sluice-regress: results/, regression.diffs and the log of each run),
# SLUICE_SANDBOX_DIR (/tmp/sluice-regress-sandbox) and SLUICE_PG_PORT (auto), as for sandbox.sh: a
# sandbox already running there is used and left running, else one is started and stopped at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
SLUICE_BIN=${SLUICE_BIN:-$root/build/test/router/sluice}
CACHE=${SLUICE_REGRESS_CACHE:-/var/cache/sluice-regress}
OUT=${SLUICE_REGRESS_OUT:-/tmp/sluice-regress}
export SLUICE_SANDBOX_DIR=${SLUICE_SANDBOX_DIR:-/tmp/sluice-regress-sandbox}
export SLUICE_PG_PORT=${SLUICE_PG_PORT:-auto} SLUICE_PORT=${SLUICE_PORT:-auto}
PG_BIN=${SLUICE_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_REGRESS=$(dirname "$PG_BIN")/lib/pgxs/src/test/regress/pg_regress
PYTHON=/usr/bin/python3
SANDBOX_SH=$root/integration/sandbox.sh
DBNAME=regression
# sluice's pool for the regression user: a parallel group runs up to 20 psql at once, and a client that
# makes a temporary table keeps its primary connection; a small pool would turn that into waits.
POOL_SIZE=40

log() { printf 'regress: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

mode=full tests="" max_connections=0 only_sluice=0 consistency=""
while (($#)); do
  case $1 in
    --subset) mode=subset ;;
    --tests) mode=tests tests=${2:?--tests "NAME ..."}; shift ;;
    --only-sluice) only_sluice=1 ;;
    --consistency) consistency=${2:?--consistency eventual|read_your_writes}; shift ;;
    --max-connections) max_connections=${2:?--max-connections N}; shift ;;
    *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
  esac
  shift
done

[[ -x $SLUICE_BIN ]] || die "no sluice binary at $SLUICE_BIN (set SLUICE_BIN)"
[[ -x $PG_REGRESS ]] || die "no pg_regress at $PG_REGRESS (postgresql-client-15)"
((EUID == 0)) || die "run as root (sandbox.sh needs it)"

# --- the source of the installed server's version, and regress.so built against it ----------------

deb_version=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null) || die "postgresql-15 is not installed"

# Sets SRC (src/test/regress of the source) and LIB (--dlpath: regress.so, and contrib's autoinc.so and
# refint.so), downloading the source when it is not in the cache. The installed server's own version
# when Debian's source archive still has it, else the newest 15.x it has (a point release apart: the
# direct run shows what differs, and only tests that pass directly count).
fetch_source() {
  local apt_dir=$CACHE/apt dl=$CACHE/dl v tarball upstream
  src_of() { SRC=$CACHE/postgresql-${1%%-*}/src/test/regress LIB=$CACHE/lib-${1%%-*}; [[ -f $SRC/parallel_schedule && -f $SRC/regress.c ]]; }
  src_of "$deb_version" && return 0
  if [[ -f $CACHE/unavailable-$deb_version ]]; then
    for v in $(ls -d "$CACHE"/postgresql-15.* 2>/dev/null | sed 's|.*/postgresql-||' | sort -rV); do
      src_of "$v" && { log "warning: regression tests of $v (the source of $deb_version cannot be downloaded)"; return 0; }
    done
  fi
  # A private apt configuration with deb-src lines: /etc/apt and the system's lists are left alone.
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dl"
  # Point releases of the server come from bookworm-security or bookworm-updates as often as from bookworm.
  printf 'deb-src http://deb.debian.org/debian %s main\n' bookworm bookworm-updates >"$apt_dir/src.list"
  echo 'deb-src http://deb.debian.org/debian-security bookworm-security main' >>"$apt_dir/src.list"
  local apt=(-o Dir::Etc::SourceList="$apt_dir/src.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o APT::Sandbox::User=root -q)
  log "looking for the source of postgresql-15 $deb_version (apt-get source, about 23 MB)"
  apt-get "${apt[@]}" update >"$CACHE/apt-update.log" 2>&1 || { cat "$CACHE/apt-update.log" >&2; die "apt-get update (deb-src) failed"; }
  local versions
  versions=$(apt-cache "${apt[@]}" showsrc postgresql-15 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | uniq)
  for v in $deb_version $(grep -vxF "$deb_version" <<<"$versions" || true); do
    upstream=${v%%-*}
    tarball=$(ls "$dl"/postgresql-15_"$upstream".orig.tar.* 2>/dev/null | head -n 1 || true)
    if [[ -z $tarball ]]; then
      if ! (cd "$dl" && apt-get "${apt[@]}" source --download-only "postgresql-15=$v") >"$CACHE/apt-source.log" 2>&1; then
        log "cannot download the source of postgresql-15 $v: $(grep -m1 '^E:' "$CACHE/apt-source.log" || true)"
        [[ $v != "$deb_version" ]] || touch "$CACHE/unavailable-$deb_version"
        continue
      fi
      tarball=$(ls "$dl"/postgresql-15_"$upstream".orig.tar.* | head -n 1)
      rm -f "$dl"/postgresql-15_*.debian.tar.* "$dl"/postgresql-15_*.dsc
    fi
    log "extracting src/test/regress from $(basename "$tarball")"
    # Debian's patches do not touch src/test/regress: the upstream tarball is enough.
    tar -xf "$tarball" -C "$CACHE" "postgresql-$upstream/src/test/regress"
    src_of "$v" || die "no src/test/regress in $tarball"
    [[ $v == "$deb_version" ]] || log "warning: regression tests of $v, the server is $deb_version"
    return 0
  done
  die "found no source of postgresql-15 to download"
}

build_lib() {
  [[ -f $LIB/regress.so && $LIB/regress.so -nt $SRC/regress.c ]] && return 0
  local includes pkglib
  includes=$("$PG_BIN/pg_config" --includedir-server)
  pkglib=$("$PG_BIN/pg_config" --pkglibdir)
  [[ -f $includes/postgres.h ]] || die "no server headers in $includes (apt-get install postgresql-server-dev-15)"
  log "building regress.so against $includes"
  mkdir -p "$LIB"
  gcc -O2 -fPIC -shared -Wno-deprecated-declarations -I "$includes" -o "$LIB/regress.so.tmp" "$SRC/regress.c"
  mv "$LIB/regress.so.tmp" "$LIB/regress.so"
  local m
  for m in autoinc refint; do  # contrib/spi, shipped by postgresql-15
    [[ -f $pkglib/$m.so ]] || die "no $pkglib/$m.so"
    ln -sf "$pkglib/$m.so" "$LIB/$m.so"
  done
}

mkdir -p "$CACHE"
chmod 755 "$CACHE"  # the server (user postgres) loads regress.so and reads data/ from here
exec 9>"$CACHE/.lock"
flock 9  # one fetch and build at a time
fetch_source
build_lib
flock -u 9

# --- the schedule --------------------------------------------------------------------------------

mkdir -p "$OUT"
schedule=$OUT/schedule
case $mode in
  full) grep -v '^ignore:' "$SRC/parallel_schedule" >"$schedule" ;;
  subset | tests)
    if [[ $mode == subset ]]; then
      wanted=$(sed -e 's/#.*//' "$here/subset.txt" | tr -s ' \n' ' ')
    else
      wanted=$tests
    fi
    # The schedule's lines in order, each cut down to the wanted tests (parallel groups stay groups);
    # test_setup always: it creates and loads the tables the other tests read.
    $PYTHON - "$SRC/parallel_schedule" "test_setup $wanted" >"$schedule" <<'EOF'
import sys
wanted = set(sys.argv[2].split())
seen = set()
for line in open(sys.argv[1]):
    if line.startswith("test:"):
        names = [n for n in line.split()[1:] if n in wanted]
        seen.update(names)
        if names:
            print("test: " + " ".join(names))
missing = wanted - seen
if missing:
    sys.exit(f"not in parallel_schedule: {' '.join(sorted(missing))}")
EOF
    ;;
esac
log "schedule: $(grep -c . "$schedule") groups, $(sed 's/^test://' "$schedule" | wc -w) tests"

# --- the sandbox ---------------------------------------------------------------------------------

started_sandbox=0
sluice_pid=""
cleanup() {
  if [[ -n $sluice_pid ]] && kill -0 "$sluice_pid" 2>/dev/null; then
    kill -TERM "$sluice_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$sluice_pid" 2>/dev/null || true
  fi
  if ((started_sandbox)) && [[ ${KEEP_SANDBOX:-0} != 1 ]]; then
    bash "$SANDBOX_SH" stop >/dev/null 2>&1 || log "warning: sandbox.sh stop failed"
  fi
}
trap cleanup EXIT

if ! bash "$SANDBOX_SH" status >/dev/null 2>&1; then
  started_sandbox=1
fi
eval "$(bash "$SANDBOX_SH" start)"

psql_primary() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres "$@"; }

# A fresh database as pg_regress makes one (it is made here, straight on the primary, for both runs:
# --use-existing), and both replicas having replayed it: the sluice run then starts on equal terms.
fresh_database() {
  psql_primary -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME TEMPLATE=template0" \
    -c "ALTER DATABASE $DBNAME SET lc_messages TO 'C'" -c "ALTER DATABASE $DBNAME SET lc_monetary TO 'C'" \
    -c "ALTER DATABASE $DBNAME SET lc_numeric TO 'C'" -c "ALTER DATABASE $DBNAME SET lc_time TO 'C'" \
    -c "ALTER DATABASE $DBNAME SET bytea_output TO 'hex'" \
    -c "ALTER DATABASE $DBNAME SET timezone_abbreviations TO 'Default'"
  local lsn port deadline=$((SECONDS + 30))
  lsn=$(psql_primary -At -c "select pg_current_wal_insert_lsn()")
  for port in "$REPLICA1_PORT" "$REPLICA2_PORT"; do
    until [[ $("$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$port" -U postgres -d postgres \
      -c "select pg_last_wal_replay_lsn() >= '$lsn'") == t ]]; do
      ((SECONDS < deadline)) || die "replica on port $port did not replay the new database"
      sleep 0.1
    done
  done
}

# run_suite NAME PORT: pg_regress against PORT; its output in $OUT/NAME.log, its files in $OUT/NAME/.
run_suite() {
  local name=$1 port=$2 dir=$OUT/$1 t0 status=0
  rm -rf "$dir"
  # The server writes COPY TO files into results/ (as user postgres) and reads data/ from the source.
  mkdir -p "$dir/results"
  chmod 777 "$dir" "$dir/results"
  fresh_database
  log "$name: pg_regress on port $port"
  t0=$(date +%s.%N)
  "$PG_REGRESS" --use-existing --host=127.0.0.1 --port="$port" --user=postgres --dbname="$DBNAME" \
    --bindir="$PG_BIN" --inputdir="$SRC" --outputdir="$dir" --dlpath="$LIB" --schedule="$schedule" \
    --max-connections="$max_connections" --max-concurrent-tests=20 >"$OUT/$name.log" 2>&1 || status=$?
  awk -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", t1 - t0 }' >"$OUT/$name.seconds"
  ((status != 2)) || { tail -n 20 "$OUT/$name.log" >&2; die "pg_regress could not run ($name)"; }
  log "$name: done in $(cat "$OUT/$name.seconds") s"
}

free_port() { $PYTHON -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A sluice of its own: the sandbox's sluice.toml with ports of its own and a superuser client user
# ("postgres", trust, logs in to the servers as postgres: trust on loopback).
start_sluice() {
  local config=$OUT/sluice.toml log=$OUT/sluice-proxy.log deadline
  SLUICE_PORT=$(free_port)
  SLUICE_ADMIN_PORT=$(free_port)
  sed -e "0,/^listen = .*/s//listen = \"127.0.0.1:$SLUICE_PORT\"/" \
    -e "/^\[admin\]/,/^\[/s/^listen = .*/listen = \"127.0.0.1:$SLUICE_ADMIN_PORT\"/" "$SLUICE_CONFIG" >"$config"
  cat >>"$config" <<EOF

# added by integration/regress/run.sh
[[users]]
name = "postgres"
auth = "trust"
pool_size = $POOL_SIZE

[routing]
read_write_split = true
EOF
  [[ -z $consistency ]] || echo "consistency = \"$consistency\"" >>"$config"
  : >"$log"
  setsid "$SLUICE_BIN" --config "$config" </dev/null >>"$log" 2>&1 &
  sluice_pid=$!
  deadline=$((SECONDS + 30))
  until [[ $(grep -c "backend 'pg-[a-z0-9]*' is reachable" "$log") -ge 3 ]] &&
    (exec 3<>"/dev/tcp/127.0.0.1/$SLUICE_PORT") 2>/dev/null; do
    kill -0 "$sluice_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "sluice exited during start-up"; }
    ((SECONDS < deadline)) || { tail -n 20 "$log" >&2; die "sluice not ready within 30 s"; }
    sleep 0.1
  done
  # Until the probes have scored the replicas, reads go to the primary (docs/scoring.md).
  deadline=$((SECONDS + 15))
  until [[ $(admin /backends | $PYTHON -c 'import json, sys
print(sum(b["read_candidate"] for b in json.load(sys.stdin)["backends"]))') == 2 ]]; do
    ((SECONDS < deadline)) || { log "warning: replicas not read candidates after 15 s"; break; }
    sleep 0.1
  done
  log "sluice (pid $sluice_pid) on :$SLUICE_PORT, admin :$SLUICE_ADMIN_PORT; config $config"
}

admin() { curl -sf -H "Authorization: Bearer $SLUICE_ADMIN_TOKEN" "http://127.0.0.1:$SLUICE_ADMIN_PORT$1"; }

rm -f "$OUT"/direct.log "$OUT"/sluice.log "$OUT"/*.seconds "$OUT"/*.json
if ((!only_sluice)); then
  run_suite direct "$PRIMARY_PORT"
fi
start_sluice
admin /backends >"$OUT/backends-before.json"
admin /status >"$OUT/status-before.json"
run_suite sluice "$SLUICE_PORT"
admin /backends >"$OUT/backends-after.json"
admin /status >"$OUT/status-after.json"

$PYTHON -B "$here/report.py" "$OUT" "$schedule"
