#!/usr/bin/env bash
# Configures a clang libFuzzer build in build-fuzz/, builds every tests/fuzz/*_fuzz.cpp and runs each for
# FUZZ_SECONDS (default 30). Exits non-zero if any fuzzer finds a crash, leak, timeout or UB.
#
#   tests/fuzz/run.sh                  # all fuzzers, 30 s each
#   FUZZ_SECONDS=300 tests/fuzz/run.sh codec_fuzz
#
# Corpora persist in build-fuzz/corpus/<fuzzer>/ (seeded from tests/fuzz/corpus/<fuzzer>/ if present);
# crashing inputs are written to build-fuzz/artifacts/<fuzzer>/ and can be replayed with
#   build-fuzz/tests/fuzz/<fuzzer> <artifact>
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-${root}/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
max_len=65536
cxx="${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || true)}"

if [[ -z "${cxx}" ]]; then
  echo "run.sh: clang++ not found (set FUZZ_CXX)" >&2
  exit 2
fi

cmake -S "${root}" -B "${build}" -G Ninja \
  -DCMAKE_CXX_COMPILER="${cxx}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSLUICE_FUZZ=ON \
  -DSLUICE_TESTS=OFF >/dev/null
fuzzers=("$@")
if [[ ${#fuzzers[@]} -eq 0 ]]; then
  cmake --build "${build}" --target sluice_fuzzers
else
  cmake --build "${build}" --target "${fuzzers[@]}"
fi
if [[ ${#fuzzers[@]} -eq 0 ]]; then
  for source in "${root}"/tests/fuzz/*_fuzz.cpp; do
    [[ -e "${source}" ]] || continue
    name="$(basename "${source}" .cpp)"
    # Skipped at configure time when its library does not exist yet.
    [[ -x "${build}/tests/fuzz/${name}" ]] && fuzzers+=("${name}")
  done
fi
if [[ ${#fuzzers[@]} -eq 0 ]]; then
  echo "run.sh: no fuzzers built" >&2
  exit 2
fi

failed=()
for name in "${fuzzers[@]}"; do
  binary="${build}/tests/fuzz/${name}"
  if [[ ! -x "${binary}" ]]; then
    echo "run.sh: ${name} was not built" >&2
    failed+=("${name}")
    continue
  fi
  corpus="${build}/corpus/${name}"
  artifacts="${build}/artifacts/${name}"
  mkdir -p "${corpus}" "${artifacts}"
  seeds=()
  [[ -d "${root}/tests/fuzz/corpus/${name}" ]] && seeds+=("${root}/tests/fuzz/corpus/${name}")

  echo "=== ${name}: ${seconds} s"
  if "${binary}" "${corpus}" "${seeds[@]}" \
      -max_total_time="${seconds}" -max_len="${max_len}" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="${artifacts}/" 2>"${build}/${name}.log"; then
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "${build}/${name}.log" || true
  else
    tail -n 60 "${build}/${name}.log" >&2
    echo "=== ${name}: FAILED (log: ${build}/${name}.log, artifacts: ${artifacts}/)" >&2
    failed+=("${name}")
  fi
done

if [[ ${#failed[@]} -ne 0 ]]; then
  echo "run.sh: failing fuzzers: ${failed[*]}" >&2
  exit 1
fi
echo "run.sh: all fuzzers clean: ${fuzzers[*]}"
