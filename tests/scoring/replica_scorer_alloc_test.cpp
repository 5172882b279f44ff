// The per-statement path allocates nothing: choose() (with or without an explanation to fill),
// on_dispatch, on_complete and on_probe, including the calls that run outlier analysis, eject and
// return replicas.
#include <catch2/catch.hpp>

#include <memory>

#include "scoring/replica_scorer.hpp"
#include "scoring/xoshiro256_source.hpp"
#include "scoring_test_support.hpp"
#include "tests/support/counting_allocator.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

namespace {

template <typename F>
long allocations_in(F&& call) {
  return static_cast<long>(sluice::testing::allocations_in(call));
}

}  // namespace

TEST_CASE("choose and the signal handlers allocate nothing") {
  cluster c(8, scoring_config{});
  xoshiro256_source rng(5);
  auto why = std::make_unique<choice_explanation>();
  long total = 0;
  int ejected = 0;
  int returned = 0;
  std::array<outlier_event, 8> drained{};
  // 60 s of traffic: replica 7 is slow (ejected, returns, is ejected again), replica 6 fails.
  for (int step = 0; step < 6'000; ++step) {
    c.now += 10ms;
    const bool probe_due = c.now >= c.next_probe;
    for (std::size_t b = 0; b < 8 && probe_due; ++b) {
      const probe_result p = b == 0 ? primary_probe(c.now, c.primary_lsn, 500us)
                                    : replica_probe(c.now, c.primary_lsn - 100, 500us);
      total += allocations_in([&] { c.scorer.on_probe(b, p); });
    }
    if (probe_due) {
      c.next_probe = c.now + 250ms;
      c.primary_lsn += 100;  // a busy primary; replicas one probe behind
    }
    for (std::size_t b = 1; b < 8; ++b) {
      const auto latency = b == 7 ? 40ms : 5ms;
      const bool failed = b == 6 && step % 2 == 0;
      total += allocations_in([&] {
        c.scorer.on_dispatch(b);
        c.scorer.on_complete(b, c.now, latency, failed);
      });
    }
    std::optional<std::size_t> chosen;
    total += allocations_in([&] { chosen = c.scorer.choose(c.now, rng); });
    if (!chosen) {
      c.scorer.explain(c.now, *why);
      FAIL(to_string(*why));
    }
    total += allocations_in([&] { c.scorer.choose(c.now, rng, why.get()); });
    total += allocations_in([&] { c.scorer.explain(c.now, *why); });
    std::size_t n = 0;
    total += allocations_in([&] { n = c.scorer.take_events(drained); });
    for (std::size_t i = 0; i < n; ++i) {
      (drained[i].what == outlier_event::kind::ejected ? ejected : returned) += 1;
    }
  }
  CHECK(total == 0);
  CHECK(ejected >= 2);  // the paths that eject and return did run
  CHECK(returned >= 1);
}
