#!/usr/bin/env bash
# Fault injection for a sandbox.sh cluster: CPU throttling, hung servers, paused WAL replay, crashes,
# promotion. Used by the scoring integration tests and the benchmarks in integration/bench/.
# Usage: faults.sh throttle NODE PERCENT | unthrottle NODE | throttled NODE | freeze NODE | thaw NODE
#                  | pause-replay NODE | resume-replay NODE | kill NODE | promote NODE
#        NODE: primary, replica1, replica2 (of the sandbox in SLUICE_SANDBOX_DIR, as sandbox.sh)
# throttle: caps the node's postmaster and all its processes, present and future, at PERCENT (1..100) of
# one CPU. It uses a cgroup under the cpu controller (v1 cpu.cfs_quota_us, or v2 cpu.max) that the
# processes are moved into; children forked later inherit it. Without a writable cgroup it falls back
# to a SIGSTOP/SIGCONT duty cycle (100 ms period) on the postmaster and its children. FAULTS_THROTTLE
# (auto, cgroup1, cgroup2, signal) forces one of the three. unthrottle moves the processes back to the
# cgroup they came from and removes the cgroup, or stops the duty cycle (and SIGCONTs everything).
# freeze: SIGSTOPs the node's postmaster and all its children (a hung server: the kernel still accepts
# TCP connections, nothing answers); thaw SIGCONTs them.
# pause-replay waits (up to 5 s) until the replica reports the pause is in effect.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX_SH=$here/sandbox.sh
SANDBOX_DIR=${SLUICE_SANDBOX_DIR:-/tmp/sluice-sandbox}
STATE_DIR=$SANDBOX_DIR/faults           # per node: how it is throttled (cgroup path or duty-cycle pid)
CGROUP_V1_CPU=/sys/fs/cgroup/cpu
CGROUP_ROOT=/sys/fs/cgroup
PERIOD_US=100000                        # CFS period and duty-cycle period: 100 ms
WAIT_TIMEOUT=5                          # seconds for any one wait

log() { printf 'faults: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

check_node() {
  case ${1:-} in
    primary | replica1 | replica2) ;;
    *) die "unknown node '${1:-}' (expected primary, replica1 or replica2)" ;;
  esac
}

# The postmaster's pid (fails when the node is not running).
postmaster_pid() { bash "$SANDBOX_SH" pid "$1" 2>/dev/null; }

# The postmaster's children: backends, WAL receiver, startup process... (PostgreSQL makes each child
# its own process group leader, so the postmaster's process group does not reach them.)
children_of() { pgrep -P "$1" || true; }

# One value from SQL as the postgres superuser on NODE.
sql_value() {
  local node=$1
  shift
  bash "$SANDBOX_SH" psql "$node" -v ON_ERROR_STOP=1 -Atq -c "$1"
}

# True when the process exists and is not a zombie (the duty-cycle loop outlives the faults.sh that
# started it, and PID 1 in a container may not reap it).
pid_alive() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# A name unique to this sandbox and node, so that two sandboxes never share a cgroup.
cgroup_name() {
  printf 'sluice-faults-%s-%s' "$(printf '%s' "$SANDBOX_DIR" | sha1sum | cut -c1-10)" "$1"
}

# Which throttling mechanism to use.
throttle_mode() {
  local want=${FAULTS_THROTTLE:-auto}
  case $want in
    cgroup1 | cgroup2 | signal) echo "$want"; return ;;
    auto) ;;
    *) die "FAULTS_THROTTLE must be auto, cgroup1, cgroup2 or signal, not '$want'" ;;
  esac
  if [[ -w $CGROUP_V1_CPU/cgroup.procs && -e $CGROUP_V1_CPU/cpu.cfs_quota_us ]]; then
    echo cgroup1
  elif [[ -r $CGROUP_ROOT/cgroup.controllers ]] && grep -qw cpu "$CGROUP_ROOT/cgroup.controllers" &&
    [[ -w $CGROUP_ROOT/cgroup.procs ]]; then
    echo cgroup2
  else
    echo signal
  fi
}

# The directory of the cgroup a process is in. v1: the line of the cpu controller ("N:cpu,cpuacct:/x");
# v2: the "0::/x" line.
process_cgroup_dir() {
  local pid=$1 mode=$2 path
  if [[ $mode == cgroup1 ]]; then
    path=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3; exit }' "/proc/$pid/cgroup")
    echo "$CGROUP_V1_CPU${path%/}"
  else
    path=$(awk -F: '$1 == "0" { print $3; exit }' "/proc/$pid/cgroup")
    echo "$CGROUP_ROOT${path%/}"
  fi
}

# Moves the postmaster, then its children, into cgroup directory $2. The postmaster first: a child it
# forks after that starts in the new cgroup; one it forked before is in the list read afterwards.
move_node_processes() {
  local pm=$1 dir=$2 c
  echo "$pm" >"$dir/cgroup.procs"
  for c in $(children_of "$pm"); do
    echo "$c" >"$dir/cgroup.procs" 2>/dev/null || true  # it may have exited meanwhile
  done
}

throttle_cgroup() {
  local node=$1 percent=$2 mode=$3 pm=$4 origin parent dir quota
  origin=$(process_cgroup_dir "$pm" "$mode")
  quota=$((PERIOD_US * percent / 100))
  if [[ $mode == cgroup1 ]]; then
    # v1 allows processes in any cgroup: the throttle cgroup is a child of the node's own.
    dir=$origin/$(cgroup_name "$node")
    mkdir -p "$dir" || return 1
    if ! { echo "$PERIOD_US" >"$dir/cpu.cfs_period_us" && echo "$quota" >"$dir/cpu.cfs_quota_us"; }; then
      rmdir "$dir"
      return 1
    fi
  else
    # v2's "no internal processes" rule: a cgroup with processes cannot give its children the cpu
    # controller (except the root). So the throttle cgroup is a sibling of the node's, under a parent
    # that already delegates cpu (its children have cpu.max), or a child of the root.
    if [[ $origin == "$CGROUP_ROOT" ]]; then
      parent=$CGROUP_ROOT
      grep -qw cpu "$parent/cgroup.subtree_control" || echo +cpu >"$parent/cgroup.subtree_control" || return 1
    else
      parent=$(dirname "$origin")
      [[ -e $origin/cpu.max ]] || { log "cgroup v2: $parent does not delegate the cpu controller"; return 1; }
    fi
    dir=$parent/$(cgroup_name "$node")
    mkdir -p "$dir" || return 1
    echo "$quota $PERIOD_US" >"$dir/cpu.max" || { rmdir "$dir"; return 1; }
  fi
  move_node_processes "$pm" "$dir" || { release_cgroup "$dir" "$origin"; return 1; }
  printf '%s\n%s\n%s\n' "$mode" "$dir" "$origin" >"$STATE_DIR/$node.throttle"
  log "$node (postmaster $pm) throttled to $percent% of a CPU with cgroup $dir"
}

# Moves every process of cgroup $1 back to $2 and removes $1. Repeats while processes remain (one may
# fork while we move the others).
release_cgroup() {
  local dir=$1 origin=$2 deadline=$((SECONDS + WAIT_TIMEOUT)) procs p
  [[ -d $dir ]] || return 0
  # (cgroup files report size 0: read them to know whether they are empty.)
  while procs=$(cat "$dir/cgroup.procs") && [[ -n $procs ]]; do
    for p in $procs; do
      echo "$p" >"$origin/cgroup.procs" 2>/dev/null || true  # it may have exited meanwhile
    done
    ((SECONDS < deadline)) || { log "processes remain in $dir: $(tr '\n' ' ' <"$dir/cgroup.procs")"; return 1; }
  done
  until rmdir "$dir" 2>/dev/null; do
    ((SECONDS < deadline)) || { log "cannot remove $dir"; return 1; }
    sleep 0.05
  done
}

# The fallback: a background loop stops the node's processes for (100 - PERCENT)% of each 100 ms. On
# exit (unthrottle's SIGTERM) it lets them run again.
throttle_signal() {
  local node=$1 percent=$2 pm=$3 run_s stop_s
  run_s=$(awk -v p="$percent" -v t="$PERIOD_US" 'BEGIN { printf "%.3f", t * p / 100 / 1e6 }')
  stop_s=$(awk -v p="$percent" -v t="$PERIOD_US" 'BEGIN { printf "%.3f", t * (100 - p) / 100 / 1e6 }')
  # shellcheck disable=SC2016 # expanded by the loop's shell
  setsid bash -c '
    pm=$1 run_s=$2 stop_s=$3
    procs() { echo "$pm"; pgrep -P "$pm" || true; }
    resume() { kill -CONT $(procs) 2>/dev/null || true; }
    trap "resume; exit 0" TERM INT
    alive() { local a b s; read -r a b s _ <"/proc/$pm/stat" 2>/dev/null && [[ $s != Z && $s != X ]]; }
    while alive; do
      kill -STOP $(procs) 2>/dev/null || true
      sleep "$stop_s"
      resume
      sleep "$run_s"
    done' faults-duty-cycle "$pm" "$run_s" "$stop_s" </dev/null >/dev/null 2>&1 &
  printf 'signal\n%s\n' "$!" >"$STATE_DIR/$node.throttle"
  log "$node (postmaster $pm) throttled to $percent% with a SIGSTOP/SIGCONT duty cycle (pid $!)"
}

cmd_throttle() {
  local node=$1 percent=$2 pm mode
  if ! [[ $percent =~ ^[0-9]+$ ]] || ((percent < 1 || percent > 100)); then
    die "PERCENT must be 1..100, not '$percent'"
  fi
  pm=$(postmaster_pid "$node") || die "$node is not running"
  mkdir -p "$STATE_DIR"
  [[ ! -e $STATE_DIR/$node.throttle ]] || cmd_unthrottle "$node"
  mode=$(throttle_mode)
  if [[ $mode != signal ]]; then
    throttle_cgroup "$node" "$percent" "$mode" "$pm" && return 0
    [[ ${FAULTS_THROTTLE:-auto} == auto ]] || die "cannot throttle $node with $mode"
    log "cannot throttle $node with $mode; falling back to SIGSTOP/SIGCONT"
  fi
  throttle_signal "$node" "$percent" "$pm"
}

cmd_unthrottle() {
  local node=$1 state mode what origin
  state=$STATE_DIR/$node.throttle
  [[ -e $state ]] || { log "$node is not throttled"; return 0; }
  { read -r mode; read -r what; read -r origin || true; } <"$state"
  if [[ $mode == signal ]]; then
    if kill -TERM "$what" 2>/dev/null; then
      local deadline=$((SECONDS + WAIT_TIMEOUT))
      while pid_alive "$what"; do
        ((SECONDS < deadline)) || { kill -KILL "$what" 2>/dev/null || true; break; }
        sleep 0.02
      done
    fi
    # Whatever happened to the loop, nothing of the node may stay stopped.
    local pm
    # shellcheck disable=SC2046 # one pid per word
    if pm=$(postmaster_pid "$node"); then kill -CONT "$pm" $(children_of "$pm") 2>/dev/null || true; fi
  else
    release_cgroup "$what" "$origin" || die "could not remove cgroup $what"
  fi
  rm -f "$state"
  log "$node unthrottled"
}

cmd_throttled() {
  local state=$STATE_DIR/$1.throttle
  if [[ -e $state ]]; then
    echo "$1: $(head -n 2 "$state" | tr '\n' ' ')"
  else
    echo "$1: not throttled"
    return 1
  fi
}

cmd_freeze() {
  local node=$1 pm
  pm=$(postmaster_pid "$node") || die "$node is not running"
  mkdir -p "$STATE_DIR"
  printf '%s\n' "$pm" >"$STATE_DIR/$node.frozen"
  # The postmaster first: stopped, it forks no new child while the children are being stopped.
  kill -STOP "$pm"
  # shellcheck disable=SC2046 # one pid per word
  kill -STOP $(children_of "$pm") 2>/dev/null || true
  log "$node (postmaster $pm) and its children stopped (SIGSTOP)"
}

cmd_thaw() {
  local node=$1 pm
  pm=$(cat "$STATE_DIR/$node.frozen" 2>/dev/null || postmaster_pid "$node") || die "$node is not running"
  # shellcheck disable=SC2046 # one pid per word
  kill -CONT $(children_of "$pm") 2>/dev/null || true
  kill -CONT "$pm" 2>/dev/null || true
  rm -f "$STATE_DIR/$node.frozen"
  log "$node (postmaster $pm) and its children resumed (SIGCONT)"
}

cmd_pause_replay() {
  local node=$1 deadline=$((SECONDS + WAIT_TIMEOUT)) state
  sql_value "$node" 'select pg_wal_replay_pause()' >/dev/null
  # 'pause requested' until the startup process acts on it.
  until state=$(sql_value "$node" 'select pg_get_wal_replay_pause_state()') && [[ $state == paused ]]; do
    ((SECONDS < deadline)) || { log "$node: replay pause still '$state' after ${WAIT_TIMEOUT}s"; return 0; }
    sleep 0.05
  done
  log "$node: WAL replay paused at $(sql_value "$node" 'select pg_last_wal_replay_lsn()')"
}

cmd_resume_replay() {
  sql_value "$1" 'select pg_wal_replay_resume()' >/dev/null
  log "$1: WAL replay resumed"
}

cmd_promote() {
  # pg_promote() waits (60 s by default) until the promotion is done.
  [[ $(sql_value "$1" 'select pg_promote()') == t ]] || die "pg_promote() on $1 did not complete"
  log "$1 promoted"
}

cmd=${1:-}
(($#)) && shift
case $cmd in
  throttle) check_node "${1:-}"; cmd_throttle "$1" "${2:?throttle NODE PERCENT}" ;;
  unthrottle) check_node "${1:-}"; cmd_unthrottle "$1" ;;
  throttled) check_node "${1:-}"; cmd_throttled "$1" ;;
  freeze) check_node "${1:-}"; cmd_freeze "$1" ;;
  thaw) check_node "${1:-}"; cmd_thaw "$1" ;;
  pause-replay) check_node "${1:-}"; cmd_pause_replay "$1" ;;
  resume-replay) check_node "${1:-}"; cmd_resume_replay "$1" ;;
  kill) check_node "${1:-}"; bash "$SANDBOX_SH" kill-node "$1" ;;
  promote) check_node "${1:-}"; cmd_promote "$1" ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
    ;;
esac
