// Session fuzzing in CI: a few thousand random scripts (session_fuzz.hpp) from fixed seeds, each run
// through the session harness and checked for leaked server connections, malformed or missing or
// extra answers, and data crossing between clients. SLUICE_SESSION_FUZZ_SEED and
// SLUICE_SESSION_FUZZ_RUNS override the seed and the number of scripts (to explore further by hand);
// SLUICE_SESSION_FUZZ_ISOLATED=1 runs each in a child process (a crash is then one failed script).
#include "tests/router/pg/session_fuzz.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using namespace sluice::testing;

namespace {

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

}  // namespace

TEST_CASE("session fuzz: random client scripts and server faults keep every invariant", "[session_harness][session_fuzz]") {
  const std::uint64_t seed = env_number("SLUICE_SESSION_FUZZ_SEED", 15);
  const std::uint64_t runs = env_number("SLUICE_SESSION_FUZZ_RUNS", 3000);
  const bool isolated = env_number("SLUICE_SESSION_FUZZ_ISOLATED", 0) != 0;  // each script in a child process
  std::size_t failed = 0;
  std::size_t exact = 0;
  // SLUICE_SESSION_FUZZ_ONLY=<n>: script n alone (to replay a failure).
  const std::uint64_t only = env_number("SLUICE_SESSION_FUZZ_ONLY", ~std::uint64_t{0});
  for (std::uint64_t i = 0; i < runs && failed < 5; ++i) {
    if (only != ~std::uint64_t{0} && i != only) continue;
    fuzz::choices in(seed * 1'000'003 + i);
    const auto c = fuzz::make_case(in);
    if (c.exact) ++exact;
    // In this process (a fork per script costs four times the script): a crash names the script.
    INFO("session fuzz seed " << seed << ", script " << i);
    const auto report = isolated ? run_isolated(c.s, c.f) : run_script(c.s, c.f);
    if (!report.problems.empty()) {
      ++failed;
      FAIL_CHECK("seed " << seed << ", script " << i << " (SLUICE_SESSION_FUZZ_SEED=" << seed << "):\n"
                         << fuzz::render(c) << describe(c.s, c.f, report));
    }
  }
  INFO(runs << " scripts, " << exact << " with exact answer counts");
  CHECK(failed == 0);
}
