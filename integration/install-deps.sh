#!/usr/bin/env bash
# Installs what building and testing sluice needs on Debian 12, as root. Idempotent: when every package
# is already installed it does not touch apt at all.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libspdlog-dev libfmt-dev libtomlplusplus-dev catch2
  libpq-dev libssl-dev libicu-dev
  postgresql-15 postgresql-client-15 postgresql-contrib
  python3 python3-psycopg2
  procps iproute2
  prometheus
  python3-psycopg libpostgresql-jdbc-java openjdk-17-jdk-headless
  postgresql-server-dev-15 bzip2 curl
)
# prometheus: for promtool, which checks sluice's /metrics in the admin tests.
# libicu-dev: NFKC normalization for SASLprep of SCRAM passwords (backends/pg/auth/saslprep.cpp).
# python3-psycopg (psycopg 3), libpostgresql-jdbc-java (pgjdbc) and a JDK (javac compiles the pgjdbc test
# at test time): the real-driver tests in integration/tests/drivers/.
# postgresql-server-dev-15 (server headers: regress.so), bzip2 (the source tarball) and curl (admin API):
# PostgreSQL's regression suite through sluice, integration/regress/run.sh. Installing the headers may
# upgrade postgresql-15 to the same point release.
# Not libmysqlcppconn-dev: in Debian 12 it depends on libboost-dev (1.74), which conflicts with
# libboost1.81-dev.

log() { printf 'install-deps: %s\n' "$*" >&2; }

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  log "all ${#packages[@]} packages already installed"
else
  if ((EUID != 0)); then
    log "missing: ${missing[*]}; run this script as root to install them"
    exit 1
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian's postgresql-15 package creates and starts a default cluster 15/main on port 5432. The
# integration sandbox runs its own clusters, so do not leave that one running. Only stop it; its data
# is left alone.
if command -v pg_lsclusters >/dev/null 2>&1; then
  if pg_lsclusters --no-header 2>/dev/null | awk '$1 == "15" && $2 == "main" && $4 ~ /^online/ { found = 1 } END { exit !found }'; then
    if ((EUID == 0)); then
      log "stopping the default cluster 15/main (created by the postgresql-15 package; its data is kept)"
      pg_ctlcluster 15 main stop || log "warning: could not stop cluster 15/main"
    else
      log "note: the default cluster 15/main is running on port 5432 (not stopped: not root)"
    fi
  fi
fi

# Debian's prometheus package (wanted for promtool only) enables and starts a Prometheus server on
# port 9090 where systemd runs. The tests do not need it: stop and disable it (its data is kept).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  if ((EUID == 0)); then
    log "stopping and disabling the prometheus service (installed for promtool; not needed running)"
    systemctl disable --now prometheus >/dev/null 2>&1 || log "warning: could not stop the prometheus service"
  else
    log "note: the prometheus service is running on port 9090 (not stopped: not root)"
  fi
fi
