// Exponentially decaying window: counts, failure rate and mean.
#include <catch2/catch.hpp>

#include <cmath>

#include "scoring/decayed_stats.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

TEST_CASE("samples decay with exp(-age / window)") {
  decayed_stats s(10s);
  CHECK(s.count(t0()) == 0);
  CHECK(s.mean() == 0);
  CHECK(s.failure_rate() == 0);
  for (int i = 0; i < 10; ++i) s.add_success(t0(), 5.0);
  CHECK(s.count(t0()) == Approx(10));
  CHECK(s.count(t0() + 10s) == Approx(10 * std::exp(-1.0)));
  CHECK(s.successes(t0() + 10s) == Approx(10 * std::exp(-1.0)));
  CHECK(s.mean() == Approx(5.0));

  s.add_failure(t0() + 10s);
  s.add_failure(t0() + 10s);
  const double decayed = 10 * std::exp(-1.0);
  CHECK(s.count(t0() + 10s) == Approx(decayed + 2));
  CHECK(s.failures(t0() + 10s) == Approx(2));
  CHECK(s.failure_rate() == Approx(2 / (decayed + 2)));
  CHECK(s.mean() == Approx(5.0));  // failures carry no value

  s.add_success(t0() + 10s, 5.0 + 10 * (decayed + 1));  // mean over decayed weights
  CHECK(s.mean() == Approx(15.0));
  s.reset();
  CHECK(s.count(t0() + 20s) == 0);
}

TEST_CASE("a lone outlier moves the arithmetic mean several-fold, the mean of logs barely") {
  decayed_stats plain(10s);
  decayed_stats logs(10s);
  for (int ms = 0; ms < 10'000; ms += 100) {  // 10 statements a second of 1 ms
    plain.add_success(t0() + milliseconds(ms), 1'000.0);
    logs.add_success(t0() + milliseconds(ms), std::log(1'000.0));
  }
  plain.add_success(t0() + 10s, 1'000'000.0);  // then one of 1 s
  logs.add_success(t0() + 10s, std::log(1'000'000.0));
  CHECK(plain.mean() > 10 * 1'000.0);               // what an arithmetic mean would report
  CHECK(std::exp(logs.mean()) < 1.15 * 1'000.0);  // the geometric mean ejection compares
}
