// Session harness with Catch2: check_network_errors reruns a script (session_harness_core.hpp) with an
// I/O fault injected at each step in turn and reports every run that broke an invariant.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/router/pg/session_harness_core.hpp"

namespace sluice::testing {

struct coverage {
  std::size_t runs = 0;
  std::size_t failed = 0;
  std::size_t known = 0;  // runs left to the known-bug test (see known_bug)
};

// Recognises the runs a known, reported bug makes fail, so the main sweep stays strict for the rest
// and a test tagged [!mayfail] checks exactly those runs (it passes once the bug is fixed).
using known_bug = std::function<bool(const fault&, const run_report&)>;

// Runs are cached per (script, fault): the known-bug tests reuse the sweep's runs instead of
// repeating them.
inline const run_report& cached_run(const script& s, const fault& f) {
  static std::map<std::string, run_report> cache;
  const std::string key = s.name() + "|" + std::to_string(static_cast<int>(f.server)) + "|" +
                          std::to_string(f.server_step) + "|" + std::to_string(static_cast<int>(f.client)) + "|" +
                          std::to_string(f.client_step);
  auto found = cache.find(key);
  if (found == cache.end()) found = cache.emplace(key, run_isolated(s, f)).first;
  return found->second;
}

inline const std::vector<server_fault> all_server_faults = {server_fault::close, server_fault::reset,
                                                           server_fault::fatal, server_fault::partial};
inline const std::vector<client_fault> all_client_faults = {client_fault::leave_before, client_fault::leave_after,
                                                           client_fault::reset_after};

// The clean run first (its transcripts and server logs must match the script), then one run per
// (server message, fault mode) and per (client step, fault mode), each checked for the invariants.
// Runs `known` recognises are skipped (counted), or, with `only_known`, are the only ones checked.
inline coverage check_network_errors(const script& s, const known_bug& known = nullptr, bool only_known = false) {
  coverage result;
  const auto check = [&](const fault& f) -> const run_report& {
    const auto& report = cached_run(s, f);
    const bool is_known = known && !report.problems.empty() && known(f, report);
    if (is_known) ++result.known;
    if (only_known != is_known) return report;
    ++result.runs;
    if (!report.problems.empty()) {
      // The first few in full; the rest as one line each (a bug usually fails many runs alike).
      if (++result.failed <= 3) {
        FAIL_CHECK(describe(s, f, report));
      } else {
        FAIL_CHECK("script \"" << s.name() << "\", fault " << to_string(f.server) << "@" << f.server_step << " / "
                                << to_string(f.client) << "@" << f.client_step << ": " << report.problems.front());
      }
    }
    return report;
  };
  const auto& clean = check({});
  REQUIRE(clean.server_steps > 0);
  const auto server_steps = clean.server_steps;
  const auto client_steps = clean.client_steps;
  for (const auto mode : all_server_faults) {
    for (std::size_t i = 1; i <= server_steps; ++i) check({mode, i, client_fault::none, 0});
  }
  for (const auto mode : all_client_faults) {
    for (std::size_t i = 1; i <= client_steps; ++i) check({server_fault::none, 0, mode, i});
  }
  return result;
}

}  // namespace sluice::testing
