#!/usr/bin/env bash
# The test suite: installs dependencies, builds everything with tests in build/test and runs ctest (unit
# tests, and the integration tests against the sandbox cluster). Extra arguments go to ctest, e.g.
# `integration/test.sh -R smoke`. Exits with ctest's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash integration/install-deps.sh
cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TESTS=ON
cmake --build build/test
# --timeout applies to tests without a TIMEOUT of their own; the integration tests set theirs.
exec ctest --test-dir build/test --output-on-failure --no-tests=error --timeout 900 -j "$(nproc)" "$@"
