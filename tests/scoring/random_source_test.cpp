// Random sources: splitmix64 reference values, xoshiro256** determinism, helpers' ranges.
#include <catch2/catch.hpp>

#include <set>

#include "scoring/xoshiro256_source.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

TEST_CASE("splitmix64 matches its reference output") {
  std::uint64_t state = 0;
  CHECK(splitmix64(state) == 0xe220a8397b1dcdafULL);
  CHECK(splitmix64(state) == 0x6e789e6aa1b965f4ULL);
  CHECK(splitmix64(state) == 0x06c45d188009454fULL);
}

TEST_CASE("xoshiro256** is deterministic per seed and differs across seeds") {
  xoshiro256_source a(42);
  xoshiro256_source b(42);
  xoshiro256_source c(43);
  std::set<std::uint64_t> seen;
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const auto x = a.next();
    CHECK(x == b.next());
    differs = differs || x != c.next();
    seen.insert(x);
  }
  CHECK(differs);
  CHECK(seen.size() == 1000);
}

TEST_CASE("uniform helpers stay in range") {
  scripted_source extremes{0, ~0ULL, 1ULL << 63};
  CHECK(uniform01(extremes) == 0.0);
  const double top = uniform01(extremes);
  CHECK(top < 1.0);
  CHECK(top > 0.999999);
  CHECK(uniform01(extremes) == 0.5);
  xoshiro256_source rng(7);
  for (int i = 0; i < 10'000; ++i) CHECK(uniform_below(rng, 5) < 5);
}
