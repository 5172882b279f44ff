// Peak EWMA: jumps up at once, decays toward lower samples with weight exp(-elapsed / tau), relaxes
// toward a floor when unobserved.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "scoring/peak_ewma.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

namespace {

struct sample {
  milliseconds at;  // after t0
  double value;
  double expected;  // value() after observing it
};

}  // namespace

TEST_CASE("peak EWMA follows its definition (tau = 1 s)") {
  const double e1 = std::exp(-1.0);
  const double e_half = std::exp(-0.5);
  struct row {
    const char* name;
    std::vector<sample> samples;
  };
  const auto r = GENERATE_COPY(values<row>({
      {"first sample is taken as is", {{0ms, 7.0, 7.0}}},
      {"a higher sample replaces the value at once", {{0ms, 10.0, 10.0}, {1ms, 50.0, 50.0}}},
      {"a lower sample after tau weighs 1 - 1/e",
       {{0ms, 10.0, 10.0}, {1'000ms, 2.0, 10.0 * e1 + 2.0 * (1 - e1)}}},
      {"after tau/2",
       {{0ms, 10.0, 10.0}, {500ms, 4.0, 10.0 * e_half + 4.0 * (1 - e_half)}}},
      {"same instant: a lower sample changes nothing", {{0ms, 10.0, 10.0}, {0ms, 1.0, 10.0}}},
      {"decay then peak",
       {{0ms, 10.0, 10.0},
        {1'000ms, 0.0, 10.0 * e1},
        {2'000ms, 0.0, 10.0 * e1 * e1},
        {2'001ms, 5.0, 5.0}}},
      {"an observation delivered late counts as the same instant",
       {{1'000ms, 10.0, 10.0}, {500ms, 2.0, 10.0}, {2'000ms, 2.0, 10.0 * e1 + 2.0 * (1 - e1)}}},
  }));
  INFO(r.name);
  peak_ewma ewma(1s);
  CHECK(ewma.empty());
  for (const sample& s : r.samples) {
    ewma.observe(t0() + s.at, s.value);
    CHECK(ewma.value() == Approx(s.expected).epsilon(1e-12));
  }
  CHECK_FALSE(ewma.empty());
}

TEST_CASE("unobserved, the value relaxes toward a floor with the same time constant") {
  peak_ewma ewma(2s);
  CHECK(ewma.decayed_toward(t0(), 3.0) == 3.0);  // empty: the floor
  ewma.observe(t0(), 100.0);
  CHECK(ewma.decayed_toward(t0(), 10.0) == Approx(100.0));
  CHECK(ewma.decayed_toward(t0() + 2s, 10.0) == Approx(10.0 + 90.0 * std::exp(-1.0)));
  CHECK(ewma.decayed_toward(t0() + 60s, 10.0) == Approx(10.0).epsilon(1e-6));
  CHECK(ewma.decayed_toward(t0() + 2s, 200.0) == 100.0);  // below the floor: unchanged
  CHECK(ewma.value() == 100.0);                           // reading does not modify
  ewma.reset();
  CHECK(ewma.empty());
}
