#!/usr/bin/env bash
# `cmake --install` gives a runnable service: into a fresh prefix it installs sluice and sluicectl
# (both answer --version), the documentation, the example config as etc/sluice/sluice.toml (kept on a
# second install) and a systemd unit whose paths follow the prefix, with LimitNOFILE. Then the unit's
# own ExecStartPre and ExecStart lines run against the sandbox (its sluice.toml in the prefix's
# etc/sluice, on a free port), and a query goes through.
# Usage: install.sh BUILD_DIR
set -euo pipefail
cd "${SLUICE_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}"
build=${1:?install.sh BUILD_DIR}
# shellcheck source=/dev/null
source <(bash integration/sandbox.sh env)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

prefix=$(mktemp -d /tmp/sluice-install-XXXXXX)
pid=
cleanup() {
  [[ -z $pid ]] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$prefix"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$prefix" >"$prefix.log" 2>&1 || { cat "$prefix.log"; exit 1; }
rm -f "$prefix.log"
version=$(sed -n 's/^project(sluice VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
check "bin/sluice --version says sluice $version" [ "$("$prefix/bin/sluice" --version)" = "sluice $version" ]
check "bin/sluicectl --version says sluicectl $version" [ "$("$prefix/bin/sluicectl" --version)" = "sluicectl $version" ]
for doc in README.md existing-cluster.md limitations.md configuration.md operations.md admin-api.md sluice.example.toml; do
  check "share/doc/sluice/$doc is installed" [ -s "$prefix/share/doc/sluice/$doc" ]
done
check "the example config is installed as etc/sluice/sluice.toml" cmp -s docs/sluice.example.toml "$prefix/etc/sluice/sluice.toml"
unit=$prefix/lib/systemd/system/sluice.service
check "the systemd unit is installed" [ -s "$unit" ]
check "its ExecStart runs the installed binary on etc/sluice/sluice.toml" \
  grep -qx "ExecStart=$prefix/bin/sluice --config $prefix/etc/sluice/sluice.toml" "$unit"
check "it sets LimitNOFILE" grep -qE '^LimitNOFILE=[0-9]+$' "$unit"
check "no placeholder is left in the unit" bash -c "! grep -q @ '$unit'"
if command -v systemd-analyze >/dev/null && systemd-analyze --version >/dev/null 2>&1; then
  # Unknown user "sluice" is only a warning; a syntax error fails.
  check "systemd-analyze verify accepts the unit" bash -c "systemd-analyze verify '$unit' 2>&1 | grep -vi 'user\\|group\\|sluice.toml\\|network-online' | { ! grep -qi error; }"
fi

# A second install keeps an edited config.
echo "# edited" >>"$prefix/etc/sluice/sluice.toml"
cmake --install "$build" --prefix "$prefix" >/dev/null
check "a second install keeps the edited etc/sluice/sluice.toml" grep -qx "# edited" "$prefix/etc/sluice/sluice.toml"

# Run the unit's own command lines against the sandbox: its config, on a free port, no admin API.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "0,/^listen = .*/s//listen = \"127.0.0.1:$port\"/" -e '/^\[admin\]/,/^$/d' "$SLUICE_CONFIG" >"$prefix/etc/sluice/sluice.toml"
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
start=$(sed -n 's/^ExecStart=//p' "$unit")
check "ExecStartPre (--check) passes on the config" bash -c "$pre >/dev/null"
$start >"$prefix/sluice.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$prefix/sluice.log" 2>/dev/null && break
  sleep 0.1
done
answer=$(PGPASSWORD=app_pw PGCONNECT_TIMEOUT=5 timeout 20 psql -X -qAt -h 127.0.0.1 -p "$port" -U app -d app -c 'select 41 + 1' 2>&1 || true)
check "the installed sluice, started as the unit starts it, answers a query (got: $answer)" [ "$answer" = 42 ]

echo "# $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
