#!/usr/bin/env bash
# Starts sluice in the background against the sandbox's sluice.toml, and stops it; a crash shows up
# as a failed stop with the end of sluice's log.
# Usage: sluice-ctl.sh start|stop|status
# Settings (environment): SLUICE_BIN (build/test/router/sluice), the sandbox's (see sandbox.sh),
# SLUICE_START_TIMEOUT (20 s until sluice's port accepts TCP).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
eval "$(bash "$here/sandbox.sh" env)"
SLUICE_BIN=${SLUICE_BIN:-$here/../build/test/router/sluice}
PIDFILE=$SANDBOX_DIR/sluice.pid        # sluice's own pid (sandbox.sh stops a stray one too)
STATUSFILE=$SANDBOX_DIR/sluice.status  # its exit status, written when it exits
LOG=$LOG_DIR/sluice.log
START_TIMEOUT=${SLUICE_START_TIMEOUT:-20}
STOP_TIMEOUT=10

log() { printf 'sluice-ctl: %s\n' "$*" >&2; }

show_log() {
  log "last lines of $LOG:"
  tail -n "${LINES_PER_LOG:-40}" "$LOG" >&2 2>/dev/null || true
}

running_pid() {
  local pid state
  [[ -r $PIDFILE ]] || return 1
  read -r pid <"$PIDFILE" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$SLUICE_PORT") 2>/dev/null; }

# Describes an exit status the way a shell reports it (128 + signal number for a signal).
describe_status() {
  local s=$1
  if ((s > 128)); then
    echo "killed by signal $((s - 128)) ($(kill -l "$((s - 128))" 2>/dev/null || echo '?'))"
  else
    echo "exit status $s"
  fi
}

cmd_start() {
  local pid deadline
  [[ -d $SANDBOX_DIR ]] || { log "no sandbox in $SANDBOX_DIR: run sandbox.sh start first"; exit 1; }
  [[ -x $SLUICE_BIN ]] || { log "no sluice binary at $SLUICE_BIN (set SLUICE_BIN)"; exit 1; }
  if pid=$(running_pid); then
    port_open && { log "already running (pid $pid) on port $SLUICE_PORT"; return 0; }
    log "sluice (pid $pid) runs but its port $SLUICE_PORT is closed; restarting it"
    cmd_stop || true
  fi
  if port_open; then
    ss -Hltnp "sport = :$SLUICE_PORT" >&2 || true
    log "port $SLUICE_PORT is already taken by another process"
    exit 1
  fi
  rm -f "$PIDFILE" "$STATUSFILE"
  # A small supervisor shell records sluice's pid and, later, its exit status; setsid and the
  # redirections detach both from the caller (ctest waits for its test's output pipes to close).
  # shellcheck disable=SC2016 # expanded by the supervisor
  setsid bash -c 'pidfile=$1 statusfile=$2; shift 2
    "$@" & echo $! >"$pidfile"; wait $!; echo $? >"$statusfile.tmp"; mv "$statusfile.tmp" "$statusfile"' \
    sluice-supervisor "$PIDFILE" "$STATUSFILE" "$SLUICE_BIN" --config "$SLUICE_CONFIG" </dev/null >>"$LOG" 2>&1 &
  deadline=$((SECONDS + START_TIMEOUT))
  until port_open; do
    if [[ -f $STATUSFILE ]]; then
      log "sluice exited during start-up: $(describe_status "$(cat "$STATUSFILE")")"
      show_log
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "sluice did not accept TCP on 127.0.0.1:$SLUICE_PORT within ${START_TIMEOUT}s"
      show_log
      cmd_stop || true
      exit 1
    fi
    sleep 0.1
  done
  log "sluice (pid $(cat "$PIDFILE")) accepts connections on 127.0.0.1:$SLUICE_PORT"
}

cmd_stop() {
  local pid status deadline
  if [[ ! -f $PIDFILE ]]; then
    log "sluice is not running (no $PIDFILE)"
    return 0
  fi
  if ! pid=$(running_pid); then
    # It exited before it was asked to: a crash or a fatal error while the tests ran.
    status=$(cat "$STATUSFILE" 2>/dev/null || echo unknown)
    log "sluice had already exited on its own: $(describe_status "$status")"
    show_log
    rm -f "$PIDFILE"
    return 1
  fi
  # The first SIGTERM drains (running transactions finish, for at most shutdown_timeout); a second one,
  # halfway to the deadline, cuts what is left (docs/operations.md, "Stopping and restarting").
  kill -TERM "$pid"
  deadline=$((SECONDS + STOP_TIMEOUT))
  second=$((SECONDS + STOP_TIMEOUT / 2))
  until [[ -f $STATUSFILE ]]; do
    if ((second > 0 && SECONDS >= second)); then
      log "sluice (pid $pid) still drains after $((STOP_TIMEOUT / 2))s; sending SIGTERM again"
      kill -TERM "$pid" 2>/dev/null || true
      second=0
    fi
    if ((SECONDS >= deadline)); then
      log "sluice (pid $pid) did not exit within ${STOP_TIMEOUT}s of SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      show_log
      rm -f "$PIDFILE"
      return 1
    fi
    sleep 0.1
  done
  status=$(cat "$STATUSFILE")
  rm -f "$PIDFILE"
  case $status in
    0) log "sluice stopped" ;;
    143) log "sluice stopped (by SIGTERM's default action: it has no handler for it)" ;;
    *)
      log "sluice stopped with $(describe_status "$status")"
      show_log
      return 1
      ;;
  esac
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "sluice running (pid $pid) on 127.0.0.1:$SLUICE_PORT"
  else
    echo "sluice not running"
    return 3
  fi
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
    ;;
esac
