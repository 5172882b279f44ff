#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for sluice's integration tests: one primary and two streaming replicas
# on loopback, all under one directory, with the roles, database and sluice.toml the tests expect.
# Usage: sandbox.sh start|stop|status|env|logs [NAME]|stop-node NAME [fast|immediate]|start-node NAME
#                  |kill-node NAME|pid NAME|psql NAME [psql args]|rejoin NAME
#        NAME: primary, replica1, replica2 (rejoin also takes sluice's backend names: pg-primary...)
# rejoin NAME: turns NAME, an old primary after a switchover or failover, into a streaming replica of
# whichever other node is the primary now (pg_rewind when the servers allow it, else a fresh
# pg_basebackup; a replication slot named NAME on the new primary).
# Settings (environment): SLUICE_SANDBOX_DIR (/tmp/sluice-sandbox), SLUICE_PG_PORT (15432: the primary;
# the replicas take the next two), SLUICE_PORT (16432: sluice's listen port, written into sluice.toml);
# either may be "auto": free ports are picked at start, and `env` tells which. SLUICE_ADMIN_PORT (auto:
# the admin API's port, a free one from sluice's + 49 up) and SLUICE_ADMIN_TOKEN (its bearer token;
# random when unset), both written into sluice.toml's [admin] and told by `env`.
# KEEP=1 (stop leaves the directory), SLUICE_PG_BIN (/usr/lib/postgresql/15/bin).
set -euo pipefail

SANDBOX_DIR=${SLUICE_SANDBOX_DIR:-/tmp/sluice-sandbox}
PRIMARY_PORT=${SLUICE_PG_PORT:-15432}
SLUICE_PORT=${SLUICE_PORT:-16432}
SLUICE_ADMIN_PORT=${SLUICE_ADMIN_PORT:-auto}
SLUICE_ADMIN_TOKEN=${SLUICE_ADMIN_TOKEN:-}
PG_BIN=${SLUICE_PG_BIN:-/usr/lib/postgresql/15/bin}
LOG_DIR=$SANDBOX_DIR/log
SOCKET_DIR=$SANDBOX_DIR/run
SLUICE_CONFIG=$SANDBOX_DIR/sluice.toml
MARKER=$SANDBOX_DIR/.sluice-sandbox  # proves the directory is ours to delete
SETTINGS=$SANDBOX_DIR/sandbox.env    # the ports a running sandbox was started with

NODES=(primary replica1 replica2)
START_TIMEOUT=30  # seconds for any one wait (server start, replication)

log() { printf 'sandbox: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Once a sandbox exists, the ports it was started with win over the environment, so that stop, psql and
# env work without repeating SLUICE_PG_PORT. `start` compares them with the requested ones instead.
load_settings() {
  if [[ -f $SETTINGS ]]; then
    # shellcheck source=/dev/null
    source "$SETTINGS"
  fi
}

for p in "$PRIMARY_PORT" "$SLUICE_PORT" "$SLUICE_ADMIN_PORT"; do
  [[ $p == auto || ($p =~ ^[0-9]+$ && $p -gt 0 && $p -lt 65534) ]] || die "bad port '$p': a number or auto"
done
replica_ports() {
  if [[ $PRIMARY_PORT == auto ]]; then
    REPLICA1_PORT=auto REPLICA2_PORT=auto
  else
    REPLICA1_PORT=$((PRIMARY_PORT + 1)) REPLICA2_PORT=$((PRIMARY_PORT + 2))
  fi
}
replica_ports

node_dir() { printf '%s/%s' "$SANDBOX_DIR" "$1"; }

node_port() {
  case $1 in
    primary) echo "$PRIMARY_PORT" ;;
    replica1) echo "$REPLICA1_PORT" ;;
    replica2) echo "$REPLICA2_PORT" ;;
    *) die "unknown node '$1' (expected primary, replica1 or replica2)" ;;
  esac
}

# Runs a server-side tool as the postgres user (PostgreSQL refuses to run as root). From / so that the
# tool can resolve its own path whatever the caller's working directory.
as_pg() {
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$@")
  elif [[ $(id -un) == postgres ]]; then
    (cd / && "$@")
  else
    die "run as root (or as postgres)"
  fi
}

# SQL as the postgres superuser through the node's unix socket (pg_hba: local trust).
sql() {
  local node=$1
  shift
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$(node_port "$node")" -U postgres "$@"
}
sql_value() { sql "$1" -At -d postgres -c "$2"; }

# Prints the postmaster's pid when it is alive (zombies count as dead), else fails.
node_pid() {
  local pidfile pid
  pidfile=$(node_dir "$1")/postmaster.pid
  [[ -r $pidfile ]] || return 1
  read -r pid <"$pidfile" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  echo "$pid"
}

# True when the process exists and is not a zombie (PID 1 in a container may not reap).
pid_alive() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

accepts_connections() { sql_value "$1" 'select 1' >/dev/null 2>&1; }

# Polls `$@` until it succeeds or START_TIMEOUT passes.
wait_for() {
  local what=$1
  shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@"; do
    ((SECONDS < deadline)) || { log "timed out after ${START_TIMEOUT}s waiting for $what"; return 1; }
    sleep 0.1
  done
}

two_streaming() {
  [[ $(sql_value primary "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null) == 2 ]]
}

healthy() {
  local node
  [[ -f $MARKER && -f $SETTINGS && -f $SLUICE_CONFIG ]] || return 1
  grep -q '^\[admin\]' "$SLUICE_CONFIG" || return 1  # written by a sandbox.sh without the admin API
  for node in "${NODES[@]}"; do
    node_pid "$node" >/dev/null && accepts_connections "$node" || return 1
  done
  two_streaming
}

ipv6_loopback() { grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; }

port_in_use() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# Resolves "auto" ports: the first base from 25432 in steps of 10 with itself and the next two free;
# sluice's from that base + 1000 up.
pick_ports() {
  local base p
  if [[ $PRIMARY_PORT == auto ]]; then
    for ((base = 25432; base < 29432; base += 10)); do
      if ! port_in_use "$base" && ! port_in_use $((base + 1)) && ! port_in_use $((base + 2)); then
        PRIMARY_PORT=$base
        break
      fi
    done
    [[ $PRIMARY_PORT != auto ]] || die "found no three free ports between 25432 and 29432"
  fi
  replica_ports
  if [[ $SLUICE_PORT == auto ]]; then
    for ((p = PRIMARY_PORT + 1000; p < PRIMARY_PORT + 2000; p++)); do
      if ! port_in_use "$p"; then
        SLUICE_PORT=$p
        break
      fi
    done
    [[ $SLUICE_PORT != auto ]] || die "found no free port for sluice"
  fi
  if [[ $SLUICE_ADMIN_PORT == auto ]]; then
    for ((p = SLUICE_PORT + 49; p < SLUICE_PORT + 1049; p++)); do
      if ! port_in_use "$p"; then
        SLUICE_ADMIN_PORT=$p
        break
      fi
    done
    [[ $SLUICE_ADMIN_PORT != auto ]] || die "found no free port for sluice's admin API"
  fi
  if [[ -z $SLUICE_ADMIN_TOKEN ]]; then
    SLUICE_ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  fi
}

print_env() {
  cat <<EOF
export SANDBOX_DIR=$SANDBOX_DIR
export PRIMARY_PORT=$PRIMARY_PORT
export REPLICA1_PORT=$REPLICA1_PORT
export REPLICA2_PORT=$REPLICA2_PORT
export SLUICE_PORT=$SLUICE_PORT
export SLUICE_ADMIN_PORT=$SLUICE_ADMIN_PORT
export SLUICE_ADMIN_TOKEN=$SLUICE_ADMIN_TOKEN
export SLUICE_ADMIN=127.0.0.1:$SLUICE_ADMIN_PORT
export LOG_DIR=$LOG_DIR
export SLUICE_CONFIG=$SLUICE_CONFIG
EOF
}

start_node() {
  local node=$1
  if node_pid "$node" >/dev/null; then
    log "$node is already running"
    return 0
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$(node_dir "$node")" -l "$LOG_DIR/$node.startup.log" -w -t "$START_TIMEOUT" start >/dev/null ||
    { tail -n 20 "$LOG_DIR/$node.log" "$LOG_DIR/$node.startup.log" >&2 2>/dev/null || true; die "$node did not start"; }
  wait_for "$node to accept connections" accepts_connections "$node"
}

stop_node() {
  local node=$1 mode=${2:-fast}
  [[ $mode == fast || $mode == immediate ]] || die "stop mode must be fast or immediate, not '$mode'"
  if ! node_pid "$node" >/dev/null; then
    log "$node is not running"
    return 0
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$(node_dir "$node")" -m "$mode" -w -t "$START_TIMEOUT" stop >/dev/null ||
    { log "$node did not stop in $mode mode; killing it"; kill_node "$node"; }
}

# SIGKILL to the postmaster, as in a crash. Waits until it and its children are gone (they notice
# the postmaster's death at once on Linux), then removes its lock files: until PID 1 reaps the zombie,
# its pid still answers kill(pid, 0), and the next postmaster would refuse to start.
kill_node() {
  local node=$1 pid children c
  pid=$(node_pid "$node") || { log "$node is not running"; return 0; }
  children=$(pgrep -P "$pid" || true)
  kill -KILL "$pid"
  for c in $pid $children; do
    wait_for "process $c of $node to exit" eval "! pid_alive $c"
  done
  rm -f "$(node_dir "$node")/postmaster.pid" "$SOCKET_DIR/.s.PGSQL.$(node_port "$node").lock"
}

write_server_config() {
  local listen="127.0.0.1" hosts=(127.0.0.1/32)
  if ipv6_loopback; then
    listen+=",::1"
    hosts+=(::1/128)
  fi
  # Settings common to all nodes; pg_basebackup copies this file to the replicas.
  cat >"$(node_dir primary)/sandbox.conf" <<EOF
# written by integration/sandbox.sh: a throwaway test cluster, durability off on purpose
listen_addresses = '$listen'
unix_socket_directories = '$SOCKET_DIR'
max_connections = 300
shared_buffers = 128MB
password_encryption = 'scram-sha-256'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 1s
fsync = off
synchronous_commit = on
full_page_writes = off
logging_collector = on
log_directory = '$LOG_DIR'
log_file_mode = 0644
log_rotation_age = 0
log_rotation_size = 0
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = on
include_if_exists = 'node.conf'
EOF
  chown postgres:postgres "$(node_dir primary)/sandbox.conf"
  echo "include 'sandbox.conf'" >>"$(node_dir primary)/postgresql.conf"
  {
    echo "# written by integration/sandbox.sh"
    echo "local all all trust"
    local h
    for h in "${hosts[@]}"; do echo "host all postgres $h trust"; done
    for h in "${hosts[@]}"; do echo "host replication postgres $h trust"; done
    for h in "${hosts[@]}"; do echo "host all md5user $h md5"; done
    for h in "${hosts[@]}"; do echo "host all plainuser $h password"; done
    for h in "${hosts[@]}"; do echo "host all trustuser $h trust"; done
    for h in "${hosts[@]}"; do echo "host all all $h scram-sha-256"; done
  } >"$(node_dir primary)/pg_hba.conf"
}

# What differs between nodes: port, log file, name in `ps`.
write_node_config() {
  local node=$1
  cat >"$(node_dir "$node")/node.conf" <<EOF
port = $(node_port "$node")
cluster_name = 'sluice-$node'
log_filename = '$node.log'
EOF
  chown postgres:postgres "$(node_dir "$node")/node.conf"
}

setup_roles() {
  sql primary -d postgres <<'EOF'
CREATE ROLE app LOGIN PASSWORD 'app_pw';
SET password_encryption = 'md5';
CREATE ROLE md5user LOGIN PASSWORD 'md5_pw';
RESET password_encryption;
CREATE ROLE plainuser LOGIN PASSWORD 'plain_pw';
CREATE ROLE trustuser LOGIN;
CREATE DATABASE app OWNER app;
GRANT CONNECT ON DATABASE app TO app, md5user, plainuser, trustuser;
-- sluice's control-plane user for switchover and failover (docs/operations.md): no superuser, just
-- what the steps need. REPLICATION: replication slots for repointed replicas.
CREATE ROLE sluice_ops LOGIN REPLICATION PASSWORD 'ops_pw' IN ROLE pg_monitor, pg_signal_backend;
GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer), pg_reload_conf() TO sluice_ops;
GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only, primary_conninfo TO sluice_ops;
EOF
  "$PG_BIN/pgbench" -i -q -s 1 -h "$SOCKET_DIR" -p "$PRIMARY_PORT" -U app app >"$LOG_DIR/pgbench-init.log" 2>&1 ||
    { cat "$LOG_DIR/pgbench-init.log" >&2; die "pgbench -i failed"; }
  sql primary -d app -c \
    'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO md5user, plainuser, trustuser'
}

write_sluice_config() {
  cat >"$SLUICE_CONFIG" <<EOF
# sluice configuration for the integration sandbox; written by integration/sandbox.sh on each start.
listen = "127.0.0.1:$SLUICE_PORT"
# Two workers whatever the machine (the default is one per two CPUs): the tests cover what crosses
# workers (pool budgets shared by all of them, cancels, reloads).
workers = 2

[pool]
size = 8
connect_timeout = "5s"

[logging]
level = "info"

# Probes, switchover and failover log in as sluice_ops, the least-privilege control-plane role that
# docs/operations.md describes (created by setup_roles), so that "sluicectl switchover" and
# "sluicectl drill" work against the sandbox (and the demo) as they would in production.
[health]
user = "sluice_ops"
password = "ops_pw"

# The admin API and /metrics (docs/admin-api.md); sluicectl finds it through "sandbox.sh env".
[admin]
listen = "127.0.0.1:$SLUICE_ADMIN_PORT"
token = "$SLUICE_ADMIN_TOKEN"

[[backends]]
name = "pg-primary"
host = "127.0.0.1"
port = $PRIMARY_PORT
role = "primary"

[[backends]]
name = "pg-replica1"
host = "127.0.0.1"
port = $REPLICA1_PORT
role = "replica"

[[backends]]
name = "pg-replica2"
host = "127.0.0.1"
port = $REPLICA2_PORT
role = "replica"

[[users]]
name = "app"
auth = "scram-sha-256"
password = "app_pw"

[[users]]
name = "md5user"
auth = "md5"
password = "md5_pw"

[[users]]
name = "plainuser"
auth = "md5"
password = "plain_pw"

[[users]]
name = "trustuser"
auth = "trust"

# Session pooling: logs in to the backends as app, keeps its server connections until it leaves.
[[users]]
name = "app_session"
auth = "scram-sha-256"
password = "session_pw"
pool_mode = "session"
server_user = "app"
server_password = "app_pw"

# One server connection per backend: clients of this user take turns on the same server connections,
# which makes state leaking from one client to the next deterministic (integration/tests/pooling/).
[[users]]
name = "app_one"
auth = "scram-sha-256"
password = "one_pw"
pool_size = 1
server_user = "app"
server_password = "app_pw"

# SASLprep (integration/tests/saslprep.py creates the role): "IX-" + U+2168, whose SASLprep form is
# "IX-IX". Clients may type either; sluice logs in to the backends with this form.
[[users]]
name = "sasl_user"
auth = "scram-sha-256"
password = "IX-Ⅸ"
EOF
}

# A sluice left running by integration/sluice-ctl.sh would hold its port after the directory is gone.
stop_stray_sluice() {
  local pid
  [[ -r $SANDBOX_DIR/sluice.pid ]] || return 0
  read -r pid <"$SANDBOX_DIR/sluice.pid" || return 0
  if [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid"; then
    log "stopping sluice (pid $pid), started by sluice-ctl.sh"
    kill -TERM "$pid" 2>/dev/null || true
    wait_for "sluice (pid $pid) to exit" eval "! pid_alive $pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
}

# Stops whatever runs from the directory and deletes it, if it is ours.
wipe() {
  [[ -e $SANDBOX_DIR ]] || return 0
  if [[ ! -f $MARKER ]] && [[ -n $(ls -A "$SANDBOX_DIR" 2>/dev/null) ]]; then
    die "$SANDBOX_DIR exists but was not made by sandbox.sh; refusing to delete it"
  fi
  stop_stray_sluice
  local node
  for node in "${NODES[@]}"; do
    if node_pid "$node" >/dev/null; then stop_node "$node" immediate; fi
  done
  rm -rf "$SANDBOX_DIR"
}

cmd_start() {
  local want_primary=$PRIMARY_PORT want_sluice=$SLUICE_PORT want_admin=$SLUICE_ADMIN_PORT t0=$SECONDS node port pid
  load_settings
  if [[ $want_primary == auto || $want_primary == "$PRIMARY_PORT" ]] &&
    [[ $want_sluice == auto || $want_sluice == "$SLUICE_PORT" ]] &&
    [[ $want_admin == auto || $want_admin == "$SLUICE_ADMIN_PORT" ]] && healthy; then
    log "already running and healthy in $SANDBOX_DIR"
    print_env
    return 0
  fi
  if [[ -e $SANDBOX_DIR ]]; then
    log "removing stale sandbox in $SANDBOX_DIR"
    wipe
  fi
  PRIMARY_PORT=$want_primary SLUICE_PORT=$want_sluice SLUICE_ADMIN_PORT=$want_admin
  pick_ports
  [[ -x $PG_BIN/postgres ]] || die "PostgreSQL 15 not found in $PG_BIN (run integration/install-deps.sh)"
  id postgres >/dev/null 2>&1 || die "no 'postgres' user (install postgresql-15)"
  ((${#SOCKET_DIR} + 20 < 108)) || die "SLUICE_SANDBOX_DIR is too long for a unix socket path: $SANDBOX_DIR"
  for node in "${NODES[@]}"; do
    port=$(node_port "$node")
    if port_in_use "$port"; then
      ss -Hltnp "sport = :$port" >&2 || true
      die "port $port (for $node) is already in use; set SLUICE_PG_PORT to move the sandbox"
    fi
  done
  port_in_use "$SLUICE_PORT" && log "warning: sluice's port $SLUICE_PORT is already in use"

  mkdir -p "$SANDBOX_DIR" "$LOG_DIR" "$SOCKET_DIR"
  touch "$MARKER"
  chown -R postgres:postgres "$SANDBOX_DIR"
  chmod 755 "$SANDBOX_DIR" "$SOCKET_DIR" "$LOG_DIR"
  as_pg test -w "$SANDBOX_DIR" ||
    die "user postgres cannot write $SANDBOX_DIR (a parent directory is closed to it?)"
  cat >"$SETTINGS" <<EOF
PRIMARY_PORT=$PRIMARY_PORT
REPLICA1_PORT=$REPLICA1_PORT
REPLICA2_PORT=$REPLICA2_PORT
SLUICE_PORT=$SLUICE_PORT
SLUICE_ADMIN_PORT=$SLUICE_ADMIN_PORT
SLUICE_ADMIN_TOKEN=$SLUICE_ADMIN_TOKEN
EOF

  log "initdb primary"
  as_pg "$PG_BIN/initdb" -D "$(node_dir primary)" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    --no-instructions >"$LOG_DIR/initdb.log" 2>&1 || { cat "$LOG_DIR/initdb.log" >&2; die "initdb failed"; }
  write_server_config
  write_node_config primary
  start_node primary
  log "roles, database app, pgbench -i -s 1"
  setup_roles

  log "pg_basebackup replica1, replica2"
  # The slots first, reserving WAL at once: the two backups run side by side, and one's checkpoint
  # would otherwise recycle WAL the other still has to stream (pg_basebackup -C makes its slot late).
  sql_value primary "select pg_create_physical_replication_slot(s, true) from (values ('replica1'), ('replica2')) v(s)" >/dev/null
  local backups=()
  for node in replica1 replica2; do
    as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$(node_dir "$node")" \
      -R -S "$node" -X stream -c fast --no-sync >"$LOG_DIR/basebackup-$node.log" 2>&1 &
    backups+=($!)
  done
  for pid in "${backups[@]}"; do
    wait "$pid" || { cat "$LOG_DIR"/basebackup-*.log >&2; die "pg_basebackup failed"; }
  done
  for node in replica1 replica2; do
    write_node_config "$node"
    start_node "$node"
  done
  wait_for "both replicas to stream (pg_stat_replication)" two_streaming
  write_sluice_config
  log "ready in $((SECONDS - t0))s: primary :$PRIMARY_PORT, replicas :$REPLICA1_PORT :$REPLICA2_PORT; sluice config $SLUICE_CONFIG"
  print_env
}

cmd_stop() {
  load_settings
  if [[ ! -e $SANDBOX_DIR ]]; then
    log "no sandbox in $SANDBOX_DIR"
    return 0
  fi
  [[ -f $MARKER ]] || die "$SANDBOX_DIR was not made by sandbox.sh"
  stop_stray_sluice
  local node
  # Replicas first: a primary stopping in fast mode waits for connected replicas to receive its
  # shutdown checkpoint.
  for node in replica2 replica1 primary; do
    stop_node "$node" fast
  done
  if [[ ${KEEP:-0} == 1 ]]; then
    log "stopped; kept $SANDBOX_DIR (KEEP=1)"
  else
    rm -rf "$SANDBOX_DIR"
    log "stopped and removed $SANDBOX_DIR"
  fi
}

cmd_status() {
  load_settings
  if [[ ! -f $MARKER ]]; then
    echo "no sandbox in $SANDBOX_DIR"
    return 3
  fi
  local node pid role all_up=0
  for node in "${NODES[@]}"; do
    if pid=$(node_pid "$node"); then
      role=$(sql_value "$node" "select case when pg_is_in_recovery() then 'replica' else 'primary' end" 2>/dev/null) ||
        role="not accepting connections"
      printf '%-9s port %-5s pid %-7s %s\n' "$node" "$(node_port "$node")" "$pid" "$role"
    else
      printf '%-9s port %-5s stopped\n' "$node" "$(node_port "$node")"
      all_up=3
    fi
  done
  if node_pid primary >/dev/null; then
    sql primary -d postgres -c \
      'select application_name, state, sync_state, replay_lag from pg_stat_replication order by 1' || true
  fi
  return "$all_up"
}

# An old primary back as a replica of the current primary. pg_rewind needs full_page_writes and
# wal_log_hints (or checksums), which this sandbox leaves off for speed: then a fresh pg_basebackup
# (seconds, for the sandbox's size).
cmd_rejoin() {
  local node=${1:?rejoin NAME} n primary="" dir primary_port how=basebackup
  node=${node#pg-}  # sluice's backend names work too
  node_port "$node" >/dev/null
  for n in "${NODES[@]}"; do
    [[ $n == "$node" ]] && continue
    if node_pid "$n" >/dev/null && [[ $(sql_value "$n" "select pg_is_in_recovery()" 2>/dev/null) == f ]]; then
      [[ -z $primary ]] || die "both $primary and $n are primaries: decide which stays first"
      primary=$n
    fi
  done
  [[ -n $primary ]] || die "no node other than $node is a primary to follow"
  dir=$(node_dir "$node")
  primary_port=$(node_port "$primary")
  log "rejoin $node as a replica of $primary"
  stop_node "$node" fast
  sql_value "$primary" "select pg_create_physical_replication_slot('$node', true)
    where not exists (select 1 from pg_replication_slots where slot_name = '$node')" >/dev/null
  if [[ -f $dir/PG_VERSION && $(sql_value "$primary" "show full_page_writes") == on &&
    $(sql_value "$primary" "show wal_log_hints") == on ]]; then
    if as_pg "$PG_BIN/pg_rewind" -D "$dir" --no-sync \
      --source-server="host=127.0.0.1 port=$primary_port user=postgres dbname=postgres" >"$LOG_DIR/rewind-$node.log" 2>&1; then
      how=rewind
    else
      log "pg_rewind failed (see $LOG_DIR/rewind-$node.log); copying afresh"
    fi
  fi
  if [[ $how == basebackup ]]; then
    rm -rf "$dir"
    as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir" -S "$node" -X stream \
      -c fast --no-sync >"$LOG_DIR/basebackup-$node.log" 2>&1 ||
      { cat "$LOG_DIR/basebackup-$node.log" >&2; die "pg_basebackup failed"; }
  fi
  write_node_config "$node"
  # Replica settings: the new upstream and slot; no read-only setting left over from the fence.
  sed -i -e '/^primary_conninfo/d' -e '/^primary_slot_name/d' -e '/^default_transaction_read_only/d' \
    "$dir/postgresql.auto.conf"
  printf "primary_conninfo = 'host=127.0.0.1 port=%s user=postgres'\nprimary_slot_name = '%s'\n" \
    "$primary_port" "$node" >>"$dir/postgresql.auto.conf"
  touch "$dir/standby.signal"
  chown postgres:postgres "$dir/postgresql.auto.conf" "$dir/standby.signal"
  start_node "$node"
  streams() {
    [[ $(sql_value "$primary" "select count(*) from pg_stat_replication
      where state = 'streaming' and application_name = 'sluice-$node'" 2>/dev/null) == 1 ]]
  }
  wait_for "$node to stream from $primary" streams
  log "$node rejoined as a replica of $primary ($how)"
}

cmd_logs() {
  load_settings
  local files=("$LOG_DIR"/*.log)
  if (($#)); then
    node_port "$1" >/dev/null
    files=("$LOG_DIR/$1.log")
  fi
  tail -n "${LINES_PER_LOG:-50}" "${files[@]}"
}

cmd=${1:-}
(($#)) && shift
case $cmd in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) load_settings; print_env ;;
  logs) cmd_logs "$@" ;;
  stop-node) load_settings; node_port "${1:?stop-node NAME [fast|immediate]}" >/dev/null; stop_node "$1" "${2:-fast}" ;;
  start-node) load_settings; node_port "${1:?start-node NAME}" >/dev/null; start_node "$1" ;;
  kill-node) load_settings; node_port "${1:?kill-node NAME}" >/dev/null; kill_node "$1" ;;
  rejoin) load_settings; cmd_rejoin "$@" ;;
  pid) load_settings; node_port "${1:?pid NAME}" >/dev/null; node_pid "$1" || { log "$1 is not running"; exit 1; } ;;
  psql)
    load_settings
    node=${1:?psql NAME [args]}
    shift
    # The database through PGDATABASE, so that a dbname among the arguments still wins.
    PGDATABASE=${PGDATABASE:-postgres} exec "$PG_BIN/psql" -X -h "$SOCKET_DIR" -p "$(node_port "$node")" -U postgres "$@"
    ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
    ;;
esac
