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
  mariadb-server mariadb-client python3-pymysql sysbench libmysqlcppconn7v5 libmariadb-dev
)
# prometheus: for promtool, which checks sluice's /metrics in the admin tests.
# libicu-dev: NFKC normalization for SASLprep of SCRAM passwords (backends/pg/auth/saslprep.cpp).
# python3-psycopg (psycopg 3), libpostgresql-jdbc-java (pgjdbc) and a JDK (javac compiles the pgjdbc test
# at test time): the real-driver tests in integration/tests/drivers/.
# postgresql-server-dev-15 (server headers: regress.so), bzip2 (the source tarball) and curl (admin API):
# PostgreSQL's regression suite through sluice, integration/regress/run.sh. Installing the headers may
# upgrade postgresql-15 to the same point release.
# mariadb-server, mariadb-client (the mariadb CLI, mariadb-admin, mariadb-dump): the MariaDB 10.11
# sandbox, integration/mariadb_sandbox.sh, which runs mariadbd itself (the package's own server is
# stopped below). python3-pymysql (PyMySQL) and sysbench: the MySQL-protocol tests and benchmarks.
# libmysqlcppconn7v5: MySQL Connector/C++ 1.1 (the legacy JDBC-like API) at run time, for the C++ test
# client integration/tests/mysql/cppconn_client.cpp. Not libmysqlcppconn-dev: in Debian 12 it depends on
# libboost-dev (1.74), which conflicts with libboost1.81-dev. Its headers (which need only Boost's
# shared_ptr and scoped_ptr, in 1.81 too) are unpacked from the .deb below instead.
# libmariadb-dev: MariaDB Connector/C's headers, for integration/tests/mysql/statements_probe.cpp (prepared
# statements, cursors, long data, COM_CHANGE_USER through the C API that sysbench and the CLI run on).

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

# Debian's mariadb-server package enables a server on /var/lib/mysql, port 3306. In a container its
# policy-rc.d (exit 101) keeps it from starting at install; where systemd runs, it starts. The sandbox
# runs its own servers and needs neither: only stop it (its data is kept), as 15/main above. Found by
# the package's service or pid file, never by process name (the sandbox's servers are mariadbd too).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mariadb 2>/dev/null; then
  if ((EUID == 0)); then
    log "stopping the mariadb service (started by the mariadb-server package; its data is kept)"
    systemctl stop mariadb >/dev/null 2>&1 || log "warning: could not stop the mariadb service"
  else
    log "note: the mariadb service is running on port 3306 (not stopped: not root)"
  fi
elif [[ -r /run/mysqld/mysqld.pid ]] && read -r pkg_pid </run/mysqld/mysqld.pid && [[ $pkg_pid =~ ^[0-9]+$ ]] &&
  kill -0 "$pkg_pid" 2>/dev/null; then
  if ((EUID == 0)); then
    log "stopping the package's mariadb server (pid $pkg_pid; its data is kept)"
    mariadb-admin --no-defaults --socket=/run/mysqld/mysqld.sock -u root shutdown >/dev/null 2>&1 ||
      kill -TERM "$pkg_pid" 2>/dev/null || log "warning: could not stop the package's mariadb server"
  else
    log "note: the package's mariadb server is running on port 3306 (not stopped: not root)"
  fi
fi

# Connector/C++ headers without the libmysqlcppconn-dev package (see above): its .deb, of the same
# version as the installed runtime, unpacked into SLUICE_MYSQLCPPCONN_DIR (/var/cache/sluice/
# mysqlcppconn-dev; integration/CMakeLists.txt looks there), with its dangling libmysqlcppconn.so link
# pointed at the installed runtime library. Done again only when the runtime's version changes.
cppconn_dir=${SLUICE_MYSQLCPPCONN_DIR:-/var/cache/sluice/mysqlcppconn-dev}
cppconn_version=$(dpkg-query -W -f='${Version}' libmysqlcppconn7v5 2>/dev/null || true)
if [[ -n $cppconn_version && $(cat "$cppconn_dir/.version" 2>/dev/null || true) != "$cppconn_version" ]]; then
  if ((EUID != 0)); then
    log "note: Connector/C++ headers missing in $cppconn_dir; run this script as root to unpack them"
  else
    log "unpacking libmysqlcppconn-dev $cppconn_version into $cppconn_dir"
    cppconn_tmp=$(mktemp -d)
    chmod 755 "$cppconn_tmp"
    id _apt >/dev/null 2>&1 && chown _apt "$cppconn_tmp"  # apt downloads as _apt
    download() { (cd "$cppconn_tmp" && apt-get download -q "libmysqlcppconn-dev=$cppconn_version" >/dev/null); }
    # The package lists may predate the installed version when nothing else needed apt.
    download || { apt-get update -q && download; } || { log "error: could not download libmysqlcppconn-dev"; exit 1; }
    rm -rf "$cppconn_dir.new"
    mkdir -p "$(dirname "$cppconn_dir")"
    dpkg-deb -x "$cppconn_tmp"/libmysqlcppconn-dev_*.deb "$cppconn_dir.new"
    rm -rf "$cppconn_tmp"
    runtime_so=$(dpkg -L libmysqlcppconn7v5 | grep -E '/libmysqlcppconn\.so\.[0-9]+$' | head -n 1)
    dev_link=$(find "$cppconn_dir.new/usr/lib" -name libmysqlcppconn.so | head -n 1)
    [[ -n $runtime_so && -e $runtime_so && -n $dev_link ]] ||
      { log "error: libmysqlcppconn.so or its runtime library not found"; exit 1; }
    ln -sfn "$runtime_so" "$dev_link"
    echo "$cppconn_version" >"$cppconn_dir.new/.version"
    rm -rf "$cppconn_dir"
    mv "$cppconn_dir.new" "$cppconn_dir"
  fi
fi

# Node's mysql2 driver for integration/tests/mysql/node_mysql2_test.js, from the npm registry into
# SLUICE_NODE_DIR (/var/cache/sluice/node; the test finds it through NODE_PATH). Node and npm: the
# machine's if it has them (the nodejs package from elsewhere brings npm), else Debian's. A pinned
# version, installed again only when the pin changes; into a fresh directory moved into place at the
# end, so that an interrupted install is not taken for a finished one.
node_dir=${SLUICE_NODE_DIR:-/var/cache/sluice/node}
mysql2_version=3.24.5
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if ((EUID != 0)); then
    log "note: node or npm missing; run this script as root to install them (the mysql2 test needs them)"
  else
    log "installing nodejs and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends nodejs npm || { apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; }
  fi
fi
if command -v npm >/dev/null 2>&1 && [[ $(cat "$node_dir/.mysql2-version" 2>/dev/null || true) != "$mysql2_version" ]]; then
  if ((EUID != 0)); then
    log "note: mysql2 missing in $node_dir; run this script as root to install it"
  else
    log "npm install mysql2@$mysql2_version into $node_dir"
    rm -rf "$node_dir.new"
    mkdir -p "$node_dir.new"
    npm install --prefix "$node_dir.new" --no-audit --no-fund --loglevel=error "mysql2@$mysql2_version" >&2 ||
      { log "error: npm install mysql2 failed"; exit 1; }
    echo "$mysql2_version" >"$node_dir.new/.mysql2-version"
    rm -rf "$node_dir"
    mv "$node_dir.new" "$node_dir"
  fi
fi
