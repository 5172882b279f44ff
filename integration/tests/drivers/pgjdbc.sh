#!/usr/bin/env bash
# Compiles PgjdbcPooling.java against Debian's pgjdbc (libpostgresql-jdbc-java) with the machine's JDK and
# runs it against the sandbox's sluice. Usage: pgjdbc.sh [CLASS_DIR] (default: a temporary directory).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
jar=${SLUICE_PGJDBC_JAR:-/usr/share/java/postgresql.jar}
[[ -r $jar ]] || { echo "not ok - pgjdbc not found at $jar (apt-get install libpostgresql-jdbc-java)"; exit 1; }
command -v javac >/dev/null || { echo "not ok - no javac on PATH (a JDK, e.g. openjdk-17-jdk-headless)"; exit 1; }

if [[ $# -ge 1 ]]; then
  classes=$1
  mkdir -p "$classes"
else
  classes=$(mktemp -d)
  trap 'rm -rf "$classes"' EXIT
fi
javac -nowarn -d "$classes" -cp "$jar" "$here/PgjdbcPooling.java"

# shellcheck source=/dev/null
source <(bash "${SLUICE_SOURCE_DIR:-$here/../../..}/integration/sandbox.sh" env)
export SLUICE_PORT PRIMARY_PORT REPLICA1_PORT REPLICA2_PORT
exec java -cp "$classes:$jar" PgjdbcPooling
