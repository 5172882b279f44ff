#!/usr/bin/env bash
# The demo: installs dependencies, builds a Release sluice, starts the sandbox clusters (PostgreSQL and
# MariaDB, each a primary and two replicas) and runs sluice in front of both until Ctrl-C, then stops
# everything. Run as root on Debian 12.
# `demo.sh --instructions` only prints how to use a running sandbox (psql, sluicectl); tests use it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SLUICECTL=build/release/router/sluicectl

# How to use the sandbox in SLUICE_SANDBOX_DIR: the DSN, and sluicectl with the admin API's address
# and token (both from "sandbox.sh env").
instructions() {
  eval "$(bash integration/sandbox.sh env)"
  if [[ $SLUICE_ADMIN_PORT == auto || -z $SLUICE_ADMIN_TOKEN ]]; then
    echo "demo: no sandbox has been started in $SANDBOX_DIR (run integration/demo.sh)" >&2
    return 1
  fi
  cat <<MESSAGE

sluice listens on 127.0.0.1:$SLUICE_PORT: writes go to the primary (:$PRIMARY_PORT), reads to the
replicas (:$REPLICA1_PORT, :$REPLICA2_PORT). Connect from another terminal with:

  psql "postgres://app:app_pw@127.0.0.1:$SLUICE_PORT/app"

The admin CLI (docs/operations.md, docs/admin-api.md) finds the admin API and its token through these
variables; the drill runs a canary workload through a switchover to a replica:

  export SLUICE_ADMIN=$SLUICE_ADMIN SLUICE_ADMIN_TOKEN=$SLUICE_ADMIN_TOKEN SLUICE_DRILL_DSN="host=127.0.0.1 port=$SLUICE_PORT user=app password=app_pw dbname=app"
  $SLUICECTL status
  $SLUICECTL backends
  $SLUICECTL drill --duration 30s

Ctrl-C stops sluice and the sandbox (KEEP=1 keeps the sandbox's files in $SANDBOX_DIR).

MESSAGE
  # The MariaDB side, when the demo started it (the MySQL front end is a first part: docs/limitations.md).
  if [[ -f $SANDBOX_DIR/sluice-demo.toml ]] && bash integration/mariadb_sandbox.sh status >/dev/null 2>&1; then
    source <(bash integration/mariadb_sandbox.sh env)
    cat <<MESSAGE
MySQL and MariaDB clients: sluice listens on 127.0.0.1:$MYSQL_PORT in front of a MariaDB primary
(:$MARIADB_PRIMARY_PORT) and two replicas (:$MARIADB_REPLICA1_PORT, :$MARIADB_REPLICA2_PORT):

  mysql://$MARIADB_APP_USER:$MARIADB_APP_PASSWORD@127.0.0.1:$MYSQL_PORT/$MARIADB_DATABASE
  mariadb --no-defaults -h 127.0.0.1 -P $MYSQL_PORT -u $MARIADB_APP_USER -p$MARIADB_APP_PASSWORD $MARIADB_DATABASE

MESSAGE
  fi
}

# sluice's MySQL listener in the demo (SLUICE_MYSQL_PORT to use another).
MYSQL_PORT=${SLUICE_MYSQL_PORT:-16306}

if [[ ${1:-} == --instructions ]]; then
  instructions
  exit 0
fi

bash integration/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF
cmake --build build/release

sluice_pid=
# shellcheck disable=SC2317 # invoked by the traps
cleanup() {
  trap - EXIT INT TERM
  if [[ -n $sluice_pid ]] && kill -0 "$sluice_pid" 2>/dev/null; then
    kill -TERM "$sluice_pid" 2>/dev/null || true
    wait "$sluice_pid" 2>/dev/null || true
  fi
  bash integration/mariadb_sandbox.sh stop >/dev/null 2>&1 || true
  bash integration/sandbox.sh stop || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash integration/sandbox.sh start >/dev/null
eval "$(bash integration/sandbox.sh env)"
if (exec 3<>"/dev/tcp/127.0.0.1/$SLUICE_PORT") 2>/dev/null; then
  echo "demo: port $SLUICE_PORT is already taken (another demo running?); set SLUICE_PORT to use another" >&2
  exit 1
fi

# The MariaDB sandbox, and the sandbox's config with a [mysql] section in front of it (a copy: the tests
# use the sandbox's own sluice.toml).
bash integration/mariadb_sandbox.sh start >/dev/null
source <(bash integration/mariadb_sandbox.sh env)
demo_config=$SANDBOX_DIR/sluice-demo.toml
cp "$SLUICE_CONFIG" "$demo_config"
cat >>"$demo_config" <<TOML

[mysql]
listen = "127.0.0.1:$MYSQL_PORT"

[[mysql.backends]]
name = "maria-primary"
host = "127.0.0.1"
port = $MARIADB_PRIMARY_PORT
role = "primary"

[[mysql.backends]]
name = "maria-replica1"
host = "127.0.0.1"
port = $MARIADB_REPLICA1_PORT

[[mysql.backends]]
name = "maria-replica2"
host = "127.0.0.1"
port = $MARIADB_REPLICA2_PORT

[[mysql.users]]
name = "$MARIADB_APP_USER"
password = "$MARIADB_APP_PASSWORD"
TOML

instructions
# In the background with `wait`, so that INT and TERM reach the traps at once.
build/release/router/sluice --config "$demo_config" &
sluice_pid=$!
status=0
wait "$sluice_pid" || status=$?
sluice_pid=
echo "demo: sluice exited with status $status" >&2
exit "$status"
