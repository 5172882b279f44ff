#!/usr/bin/env bash
# A throwaway MariaDB 10.11 cluster for sluice's MySQL integration tests: one primary and two GTID
# replicas on loopback, all under one directory, with the users and database the tests expect.
# Usage: mariadb_sandbox.sh start|stop|status|env|logs [NAME]|mariadb NAME [mariadb args]
#                           |stop-node NAME|start-node NAME
#        NAME: primary, replica1, replica2
# stop-node, start-node: one server of a running sandbox, for fault tests (a replica restarted resumes
# replication where it stopped).
# mariadb NAME: the mariadb CLI as the server's administrator, through NAME's unix socket.
# Settings (environment): SLUICE_MARIADB_DIR (/tmp/sluice-mariadb; apart from sandbox.sh's directory,
# so that either sandbox can be started and wiped alone), SLUICE_MARIADB_PORT (13306: the primary; the
# replicas take the next two; "auto": the first base from 23306 up in steps of 10 with itself and the
# next two free, told by `env`). KEEP=1 (stop leaves the directory), SLUICE_MARIADBD (/usr/sbin/mariadbd).
# The servers are Debian's mariadb-server binaries started directly, without systemd; the package's
# own server (/var/lib/mysql) is neither used nor needed (integration/install-deps.sh stops it).
set -euo pipefail

SANDBOX_DIR=${SLUICE_MARIADB_DIR:-/tmp/sluice-mariadb}
PRIMARY_PORT=${SLUICE_MARIADB_PORT:-13306}
MARIADBD=${SLUICE_MARIADBD:-/usr/sbin/mariadbd}
LOG_DIR=$SANDBOX_DIR/log
RUN_DIR=$SANDBOX_DIR/run              # sockets and pid files
MARKER=$SANDBOX_DIR/.sluice-mariadb-sandbox  # proves the directory is ours to delete
SETTINGS=$SANDBOX_DIR/sandbox.env     # the ports a running sandbox was started with

NODES=(primary replica1 replica2)
START_TIMEOUT=30  # seconds for any one wait (server start, replication, shutdown)

# The accounts the tests use, all created on the primary and replicated. None holds READ_ONLY ADMIN
# (or SUPER, or ALL PRIVILEGES ON *.*, which include it): with it a write on a replica would succeed
# in spite of read_only and break replication.
DATABASE=sluice_test
APP_USER=sluice_app     APP_PASSWORD=app_pw      # mysql_native_password; all on sluice_test.*
ED_USER=sluice_ed       ED_PASSWORD=ed_pw        # ed25519 (auth_ed25519); all on sluice_test.*
PROBE_USER=sluice_probe PROBE_PASSWORD=probe_pw  # replication status only: REPLICATION CLIENT, SLAVE MONITOR
REPL_USER=sluice_repl   REPL_PASSWORD=repl_pw    # the replicas' connection to the primary

log() { printf 'mariadb-sandbox: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $PRIMARY_PORT == auto || ($PRIMARY_PORT =~ ^[0-9]+$ && $PRIMARY_PORT -gt 0 && $PRIMARY_PORT -lt 65534) ]] ||
  die "bad port '$PRIMARY_PORT': a number or auto"

# Once a sandbox exists, the ports it was started with win over the environment, so that stop, status
# and env work without repeating SLUICE_MARIADB_PORT. `start` compares them with the requested ones.
load_settings() {
  if [[ -f $SETTINGS ]]; then
    # shellcheck source=/dev/null
    source "$SETTINGS"
  fi
}

replica_ports() {
  if [[ $PRIMARY_PORT == auto ]]; then
    REPLICA1_PORT=auto REPLICA2_PORT=auto
  else
    REPLICA1_PORT=$((PRIMARY_PORT + 1)) REPLICA2_PORT=$((PRIMARY_PORT + 2))
  fi
}
replica_ports

node_dir() { printf '%s/%s' "$SANDBOX_DIR" "$1"; }
node_socket() { printf '%s/%s.sock' "$RUN_DIR" "$1"; }

node_port() {
  case $1 in
    primary) echo "$PRIMARY_PORT" ;;
    replica1) echo "$REPLICA1_PORT" ;;
    replica2) echo "$REPLICA2_PORT" ;;
    *) die "unknown node '$1' (expected primary, replica1 or replica2)" ;;
  esac
}

node_server_id() {
  case $1 in
    primary) echo 1 ;;
    replica1) echo 2 ;;
    replica2) echo 3 ;;
  esac
}

# mariadbd refuses to run as root: as root it runs as the mysql user (--user, which it switches to
# itself). Anyone else runs it as themselves. The administrator account is the one mariadb-install-db
# makes for the invoking OS user (unix_socket authentication, through the node's socket only).
if ((EUID == 0)); then
  SERVER_USER=mysql
  ADMIN_USER=root
else
  SERVER_USER=$(id -un)
  ADMIN_USER=$SERVER_USER
fi
server_user_args() { if ((EUID == 0)); then printf '%s\n' "--user=$SERVER_USER"; fi; }

# SQL as the administrator through the node's unix socket. --no-defaults: /etc/mysql's client settings
# (the package server's socket) must not apply.
sql() {
  local node=$1
  shift
  mariadb --no-defaults -u "$ADMIN_USER" --socket="$(node_socket "$node")" "$@"
}
sql_value() { sql "$1" -N -B -e "$2"; }

# True when the process exists and is not a zombie (PID 1 in a container may not reap).
pid_alive() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# Prints the server's pid when it is alive, else fails. The launcher's pid is the server's (setsid
# execs it), written before mariadbd gets to write its own pid file.
node_pid() {
  local f pid
  for f in "$RUN_DIR/$1.pid" "$RUN_DIR/$1.launch-pid"; do
    [[ -r $f ]] || continue
    read -r pid <"$f" || continue
    [[ $pid =~ ^[0-9]+$ ]] || continue
    pid_alive "$pid" || continue
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == *mariadbd* ]] || continue
    echo "$pid"
    return 0
  done
  return 1
}

accepts_connections() { sql_value "$1" 'select 1' >/dev/null 2>&1; }

# Polls `$@` until it succeeds or START_TIMEOUT passes.
wait_for() {
  local what=$1
  shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@"; do
    ((SECONDS < deadline)) || { log "timed out after ${START_TIMEOUT}s waiting for $what"; return 1; }
    sleep 0.05
  done
}

# A replica has applied everything the primary has logged, and both its replication threads run.
caught_up() {
  local replica=$1 primary_pos status
  primary_pos=$(sql_value primary 'select @@gtid_binlog_pos') || return 1
  [[ $(sql_value "$replica" 'select @@gtid_slave_pos') == "$primary_pos" ]] || return 1
  status=$(sql "$replica" -e 'show slave status\G') || return 1
  grep -q 'Slave_IO_Running: Yes' <<<"$status" && grep -q 'Slave_SQL_Running: Yes' <<<"$status"
}
both_caught_up() { caught_up replica1 && caught_up replica2; }

healthy() {
  local node
  [[ -f $MARKER && -f $SETTINGS ]] || return 1
  for node in "${NODES[@]}"; do
    node_pid "$node" >/dev/null && accepts_connections "$node" || return 1
  done
  both_caught_up
}

port_in_use() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# Resolves an "auto" primary port: the first base from 23306 in steps of 10 with itself and the next two
# free. Below 25432, where sandbox.sh's automatic ports (and sluice's, 1000 above them) begin.
pick_ports() {
  local base
  if [[ $PRIMARY_PORT == auto ]]; then
    for ((base = 23306; base < 25306; base += 10)); do
      if ! port_in_use "$base" && ! port_in_use $((base + 1)) && ! port_in_use $((base + 2)); then
        PRIMARY_PORT=$base
        break
      fi
    done
    [[ $PRIMARY_PORT != auto ]] || die "found no three free ports between 23306 and 25306"
  fi
  replica_ports
}

# Sandboxes starting side by side with "auto" ports would pick the same ones: from the pick until the
# servers listen, starts take turns on a lock (fd 9, closed in every process started meanwhile).
lock_ports() {
  local lock=/tmp/sluice-mariadb-ports.lock
  { exec 9>>"$lock"; } 2>/dev/null || { exec 9<"$lock"; } 2>/dev/null || return 0
  chmod 666 "$lock" 2>/dev/null || true
  flock -w 120 9 || die "waited 120 s for another sandbox's start ($lock)"
}
unlock_ports() { exec 9>&-; }

print_env() {
  cat <<EOF
export MARIADB_DIR=$SANDBOX_DIR
export MARIADB_PRIMARY_PORT=$PRIMARY_PORT
export MARIADB_REPLICA1_PORT=$REPLICA1_PORT
export MARIADB_REPLICA2_PORT=$REPLICA2_PORT
export MARIADB_PRIMARY_SOCKET=$(node_socket primary)
export MARIADB_REPLICA1_SOCKET=$(node_socket replica1)
export MARIADB_REPLICA2_SOCKET=$(node_socket replica2)
export MARIADB_LOG_DIR=$LOG_DIR
export MARIADB_DATABASE=$DATABASE
export MARIADB_APP_USER=$APP_USER
export MARIADB_APP_PASSWORD=$APP_PASSWORD
export MARIADB_ED_USER=$ED_USER
export MARIADB_ED_PASSWORD=$ED_PASSWORD
export MARIADB_PROBE_USER=$PROBE_USER
export MARIADB_PROBE_PASSWORD=$PROBE_PASSWORD
export MARIADB_REPL_USER=$REPL_USER
export MARIADB_REPL_PASSWORD=$REPL_PASSWORD
export MARIADB_DSN=mysql://$APP_USER:$APP_PASSWORD@127.0.0.1:$PRIMARY_PORT/$DATABASE
EOF
}

# The server settings of one node. Durability is off on purpose (a throwaway test cluster). Every node
# logs its binlog with its replicated changes (log_slave_updates) and has a GTID position, so that a
# replica can be promoted and the others repointed at it later.
write_node_config() {
  local node=$1 dir
  dir=$(node_dir "$node")
  {
    cat <<EOF
# written by integration/mariadb_sandbox.sh: a throwaway test cluster, durability off on purpose
[mariadbd]
# First: log-basename also names the error log, and would override log-error if it came after it.
log-basename = $node
datadir = $dir/data
tmpdir = $dir/tmp
socket = $(node_socket "$node")
pid-file = $RUN_DIR/$node.pid
log-error = $LOG_DIR/$node.err
port = $(node_port "$node")
bind-address = 127.0.0.1
skip-name-resolve
server-id = $(node_server_id "$node")
report-host = 127.0.0.1
report-port = $(node_port "$node")
log-bin = $node-bin
binlog-format = ROW
log-slave-updates = ON
gtid-strict-mode = ON
# A replica notices a silent primary after 10 s (default 60; CHANGE MASTER's MASTER_CONNECT_RETRY = 1
# makes it retry every second).
slave-net-timeout = 10
# The app user (no SUPER) may create triggers and stored functions with the binary log on: tests dump
# and restore them.
log-bin-trust-function-creators = ON
# Not INSTALL SONAME, which is not replicated: every node loads the plugin itself.
plugin-load-add = auth_ed25519
# sluice learns a client's session state from the OK packets' session-state blocks.
session-track-schema = ON
session-track-state-change = ON
session-track-system-variables = autocommit,character_set_client,character_set_connection,character_set_results,collation_connection,time_zone,sql_mode,tx_isolation,tx_read_only,last_gtid
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
max-connections = 300
performance-schema = OFF
innodb-buffer-pool-size = 64M
innodb-log-file-size = 16M
innodb-flush-log-at-trx-commit = 2
innodb-doublewrite = OFF
sync-binlog = 0
EOF
    if [[ $node != primary ]]; then
      echo "read-only = ON"
    fi
  } >"$dir/my.cnf"
}

# Runs mariadb-install-db for one node; three run side by side, each with its own --tmpdir.
install_node() {
  local node=$1 dir user_args
  dir=$(node_dir "$node")
  mapfile -t user_args < <(server_user_args)
  (exec 9>&- && cd / && mariadb-install-db --defaults-file="$dir/my.cnf" "${user_args[@]}" --auth-root-socket-user="$ADMIN_USER" \
    --skip-test-db --skip-name-resolve --tmpdir="$dir/tmp" >"$LOG_DIR/install-$node.log" 2>&1)
}

# Starts mariadbd in a session of its own, detached from the caller's terminal and output (a test
# runner waits for those to close).
start_node() {
  local node=$1 dir user_args pid
  if node_pid "$node" >/dev/null; then
    log "$node is already running"
    return 0
  fi
  dir=$(node_dir "$node")
  mapfile -t user_args < <(server_user_args)
  (exec 9>&- && cd / && exec setsid "$MARIADBD" --defaults-file="$dir/my.cnf" "${user_args[@]}" \
    </dev/null >>"$LOG_DIR/$node.out" 2>&1) &
  pid=$!
  echo "$pid" >"$RUN_DIR/$node.launch-pid"
}

wait_node() {
  local node=$1
  ready() {
    accepts_connections "$node" && return 0
    local launched
    read -r launched <"$RUN_DIR/$node.launch-pid"
    pid_alive "$launched" || { tail -n 20 "$LOG_DIR/$node.err" "$LOG_DIR/$node.out" >&2 2>/dev/null || true; die "$node exited at start"; }
    return 1
  }
  wait_for "$node to accept connections" ready || die "$node did not start"
}

# SQL SHUTDOWN, else SIGTERM, else SIGKILL; waits until the process is gone. (Not mariadb-admin shutdown,
# which polls in whole seconds: a second more per node.)
stop_node() {
  local node=$1 pid
  pid=$(node_pid "$node") || { log "$node is not running"; return 0; }
  sql "$node" -e 'SHUTDOWN' >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$node (pid $pid) to exit" eval "! pid_alive $pid"; then
    log "$node did not stop; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for "$node (pid $pid) to exit after SIGKILL" eval "! pid_alive $pid" || true
  fi
  rm -f "$RUN_DIR/$node.launch-pid" "$RUN_DIR/$node.pid"
}

# Databases named sluice_test_* are the app user's to create and drop: tests that need a database of
# their own (a dump restored into a second one) make them. Also granted by `start` on a sandbox that
# predates it (GRANT is idempotent and replicated).
SCRATCH_GRANT="GRANT ALL PRIVILEGES ON \`sluice\\_test\\_%\`.* TO '$APP_USER'@'%'"  # _ is a wildcard: escaped

setup_users() {
  sql primary <<EOF
CREATE USER '$REPL_USER'@'%' IDENTIFIED BY '$REPL_PASSWORD';
GRANT REPLICATION SLAVE ON *.* TO '$REPL_USER'@'%';
CREATE DATABASE $DATABASE;
CREATE USER '$APP_USER'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$APP_PASSWORD');
GRANT ALL PRIVILEGES ON $DATABASE.* TO '$APP_USER'@'%';
$SCRATCH_GRANT;
CREATE USER '$ED_USER'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('$ED_PASSWORD');
GRANT ALL PRIVILEGES ON $DATABASE.* TO '$ED_USER'@'%';
CREATE USER '$PROBE_USER'@'%' IDENTIFIED BY '$PROBE_PASSWORD';
GRANT REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '$PROBE_USER'@'%';
EOF
}

# The replicas start from an empty GTID position and so replay the primary's binlog from its start:
# the users and database above included (their own install made the same system tables).
start_replication() {
  local node=$1
  sql "$node" <<EOF
SET GLOBAL gtid_slave_pos = '';
CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $PRIMARY_PORT, MASTER_USER = '$REPL_USER',
  MASTER_PASSWORD = '$REPL_PASSWORD', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;
START SLAVE;
EOF
}

# Deletes the directory, the three datadirs side by side: on the CI's disk (ext4 with discard) deleting
# them waits on I/O latency, not bandwidth: 2.2 s one after another, 0.7 s side by side.
remove_sandbox_dir() {
  local node pids=()
  for node in "${NODES[@]}"; do
    rm -rf "$(node_dir "$node")" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  rm -rf "$SANDBOX_DIR"
}

# Stops whatever runs from the directory and deletes it, if it is ours.
wipe() {
  [[ -e $SANDBOX_DIR ]] || return 0
  if [[ ! -f $MARKER ]] && [[ -n $(ls -A "$SANDBOX_DIR" 2>/dev/null) ]]; then
    die "$SANDBOX_DIR exists but was not made by mariadb_sandbox.sh; refusing to delete it"
  fi
  local node
  for node in replica2 replica1 primary; do
    stop_node "$node" 2>/dev/null || true
  done
  remove_sandbox_dir
}

cmd_start() {
  local want_primary=$PRIMARY_PORT t0=$EPOCHREALTIME node port pid pids=()
  load_settings
  if [[ $want_primary == auto || $want_primary == "$PRIMARY_PORT" ]] && healthy; then
    log "already running and healthy in $SANDBOX_DIR"
    if [[ $(sql_value primary "select count(*) from mysql.db where Db = 'sluice\\\\_test\\\\_%' and User = '$APP_USER'") == 0 ]]; then
      log "granting $APP_USER the sluice_test_* databases (a sandbox from before that grant)"
      sql primary -e "$SCRATCH_GRANT"
    fi
    print_env
    return 0
  fi
  if [[ -e $SANDBOX_DIR ]]; then
    log "removing stale sandbox in $SANDBOX_DIR"
    wipe
  fi
  PRIMARY_PORT=$want_primary
  lock_ports
  pick_ports
  [[ -x $MARIADBD ]] || die "mariadbd not found at $MARIADBD (run integration/install-deps.sh)"
  command -v mariadb-install-db >/dev/null || die "mariadb-install-db not found (run integration/install-deps.sh)"
  if ((EUID == 0)); then
    id "$SERVER_USER" >/dev/null 2>&1 || die "no '$SERVER_USER' user (install mariadb-server)"
  fi
  ((${#RUN_DIR} + 14 < 108)) || die "SLUICE_MARIADB_DIR is too long for a unix socket path: $SANDBOX_DIR"
  for node in "${NODES[@]}"; do
    port=$(node_port "$node")
    if port_in_use "$port"; then
      ss -Hltnp "sport = :$port" >&2 || true
      die "port $port (for $node) is already in use; set SLUICE_MARIADB_PORT to move the sandbox"
    fi
  done

  mkdir -p "$SANDBOX_DIR" "$LOG_DIR" "$RUN_DIR"
  touch "$MARKER"
  for node in "${NODES[@]}"; do
    mkdir -p "$(node_dir "$node")/data" "$(node_dir "$node")/tmp"
    write_node_config "$node"
  done
  chown -R "$SERVER_USER:" "$SANDBOX_DIR"
  chmod 755 "$SANDBOX_DIR" "$LOG_DIR" "$RUN_DIR"
  if ((EUID == 0)); then
    runuser -u "$SERVER_USER" -- test -w "$RUN_DIR" ||
      die "user $SERVER_USER cannot write $RUN_DIR (a parent directory is closed to it?)"
  fi
  cat >"$SETTINGS" <<EOF
PRIMARY_PORT=$PRIMARY_PORT
REPLICA1_PORT=$REPLICA1_PORT
REPLICA2_PORT=$REPLICA2_PORT
EOF

  log "mariadb-install-db primary, replica1, replica2"
  for node in "${NODES[@]}"; do
    install_node "$node" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { tail -n 20 "$LOG_DIR"/install-*.log >&2; die "mariadb-install-db failed"; }
  done
  for node in "${NODES[@]}"; do
    start_node "$node"
  done
  for node in "${NODES[@]}"; do
    wait_node "$node"
  done
  unlock_ports
  log "users, database $DATABASE; replication"
  setup_users
  start_replication replica1
  start_replication replica2
  wait_for "both replicas to catch up with the primary (@@gtid_slave_pos = primary's @@gtid_binlog_pos)" \
    both_caught_up || { sql replica1 -e 'show slave status\G' >&2 || true; die "replication did not start"; }
  log "ready in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s:" \
    "primary :$PRIMARY_PORT, replicas :$REPLICA1_PORT :$REPLICA2_PORT ($(sql_value primary 'select version()'))"
  print_env
}

cmd_stop() {
  load_settings
  if [[ ! -e $SANDBOX_DIR ]]; then
    log "no sandbox in $SANDBOX_DIR"
    return 0
  fi
  [[ -f $MARKER ]] || die "$SANDBOX_DIR was not made by mariadb_sandbox.sh"
  local node
  for node in replica2 replica1 primary; do
    stop_node "$node"
  done
  if [[ ${KEEP:-0} == 1 ]]; then
    log "stopped; kept $SANDBOX_DIR (KEEP=1)"
  else
    remove_sandbox_dir
    log "stopped and removed $SANDBOX_DIR"
  fi
}

cmd_status() {
  load_settings
  if [[ ! -f $MARKER ]]; then
    echo "no sandbox in $SANDBOX_DIR"
    return 3
  fi
  local node pid role all_up=0 state
  for node in "${NODES[@]}"; do
    if pid=$(node_pid "$node"); then
      if state=$(sql_value "$node" "select if(@@read_only, 'read-only', 'read-write'), @@gtid_binlog_pos" 2>/dev/null); then
        role="$(cut -f1 <<<"$state") gtid_binlog_pos=$(cut -f2 <<<"$state")"
        if [[ $node != primary ]]; then
          role+=" $(sql "$node" -e 'show slave status\G' 2>/dev/null |
            awk '$1 ~ /^(Slave_IO_Running|Slave_SQL_Running|Seconds_Behind_Master|Gtid_IO_Pos):$/ { printf "%s%s=%s", sep, $1, $2; sep = " " }' |
            sed 's/://g')"
        fi
      else
        role="not accepting connections"
      fi
      printf '%-9s port %-5s pid %-7s %s\n' "$node" "$(node_port "$node")" "$pid" "$role"
    else
      printf '%-9s port %-5s stopped\n' "$node" "$(node_port "$node")"
      all_up=3
    fi
  done
  return "$all_up"
}

cmd_logs() {
  load_settings
  local files=("$LOG_DIR"/*.err)
  if (($#)); then
    node_port "$1" >/dev/null
    files=("$LOG_DIR/$1.err")
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
  stop-node | start-node)
    load_settings
    node=${1:?$cmd NAME}
    node_port "$node" >/dev/null
    [[ -f $MARKER ]] || die "no sandbox in $SANDBOX_DIR"
    if [[ $cmd == stop-node ]]; then
      stop_node "$node"
    else
      start_node "$node"
      wait_node "$node"
    fi
    ;;
  logs) cmd_logs "$@" ;;
  mariadb)
    load_settings
    node=${1:?mariadb NAME [args]}
    shift
    node_port "$node" >/dev/null
    exec mariadb --no-defaults -u "$ADMIN_USER" --socket="$(node_socket "$node")" "$@"
    ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
    ;;
esac
