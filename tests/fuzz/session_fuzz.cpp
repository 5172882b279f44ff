// libFuzzer target for the session logic: the input's bytes are the choices of one harness script
// (tests/router/pg/session_fuzz.hpp): clients sending valid and invalid message sequences and leaving
// at random points, fake backends failing or answering slowly at a random message. Any broken
// invariant (a server connection not returned or closed, a missing or extra ReadyForQuery, a row from
// another client, a session that does not end) aborts with the script and what went wrong.
//
// Built only with -DSLUICE_FUZZ_SESSION=ON: with clang 14, sluice_router's dependencies do not compile
// yet (backends/pg/server_login.cpp: "redefinition of 'wire'" for its namespace alias, and "Cannot
// represent a difference across sections" in coroutine code under -fsanitize=fuzzer-no-link,address).
// Until then the same generator runs in CI as sluice_router_tests "[session_fuzz]".
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/router/pg/session_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice::testing;
  fuzz::choices in(data, size);
  const auto c = fuzz::make_case(in);
  const auto report = run_script(c.s, c.f);
  if (!report.problems.empty()) {
    std::fprintf(stderr, "%s%s", fuzz::render(c).c_str(), describe(c.s, c.f, report).c_str());
    std::abort();
  }
  return 0;
}
