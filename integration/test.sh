#!/usr/bin/env bash
# The test suite: installs dependencies, builds everything with tests in build/test and runs ctest (unit
# tests, and the integration tests against the sandbox cluster). Extra arguments go to ctest, e.g.
# `integration/test.sh -R smoke`. Exits with ctest's status, or 1 when a sanitizer reported anything.
#
# The tests run on an AddressSanitizer + UndefinedBehaviorSanitizer build (SLUICE_SANITIZE; set
# SLUICE_TEST_SANITIZE=0 for a plain one): every process the suite starts (sluice, sluicectl, the unit
# test binaries, the libpq test clients) writes its reports into build/test/sanitizer/, and any report
# fails the run, also from a sluice the tests stop gracefully (leaks are checked at exit). The Release
# configuration the README's demo uses (build/release) is built too, so it cannot break unseen.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash integration/install-deps.sh
sanitize=ON
[[ ${SLUICE_TEST_SANITIZE:-1} == 0 ]] && sanitize=OFF
cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TESTS=ON -DSLUICE_SANITIZE=$sanitize
cmake --build build/test
# The Release build the README's demo uses, at the lowest priority while the tests run (they leave most
# of the CPU idle, waiting on servers); its result is checked after them.
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF
nice -n 19 cmake --build build/release --target sluice sluicectl >build/release/build.log 2>&1 &
release_build=$!

reports=$PWD/build/test/sanitizer
rm -rf "$reports"
mkdir -p "$reports"
# halt_on_error: an ASan report stops the process (a test then fails too); UBSan aborts where
# -fno-sanitize-recover (CMakeLists.txt) makes it. detect_leaks: LeakSanitizer at a normal exit.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/integration/lsan.supp:print_suppressions=0"
status=0
# --timeout applies to tests without a TIMEOUT of their own; the integration tests set theirs.
ctest --test-dir build/test --output-on-failure --no-tests=error --timeout 900 -j "$(nproc)" "$@" || status=$?

if ! wait "$release_build"; then
  echo "the Release build failed (build/release/build.log):" >&2
  tail -n 60 build/release/build.log >&2
  ((status == 0)) && status=1
fi

shopt -s nullglob
found=("$reports"/*)
if ((${#found[@]})); then
  echo "sanitizer reports (${#found[@]} files in $reports):" >&2
  for report in "${found[@]}"; do
    echo "==== $report" >&2
    head -n 60 "$report" >&2
  done
  ((status == 0)) && status=1
fi
exit "$status"
