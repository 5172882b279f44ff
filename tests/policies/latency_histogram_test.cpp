// The log-linear histogram: bucket edges, the 1/16 relative error bound, percentiles by nearest
// rank, zeros, values out of range.
#include <catch2/catch.hpp>

#include <cstdint>

#include "policies/latency_histogram.hpp"

using namespace sluice::policies;
using namespace std::chrono_literals;

namespace {

nanoseconds single(nanoseconds value) {
  latency_histogram h;
  h.record(value);
  return h.percentile(1.0);
}

}  // namespace

TEST_CASE("a single value reads as the upper edge of its bucket") {
  struct row {
    const char* name;
    std::int64_t value_ns;
    std::int64_t expected_ns;
  };
  const auto r = GENERATE(values<row>({
      {"zero is exactly zero", 0, 0},
      {"negative counts as zero", -5, 0},
      {"below 1 us: bucket 0", 1, 1'063},
      {"500 ns: bucket 0", 500, 1'063},
      {"1 us: bucket 0 [1, 1.0625) us", 1'000, 1'063},
      {"1.0625 us starts bucket 1", 1'063, 1'125},
      {"1.99 us: last sub-bucket of the first power", 1'999, 2'000},
      {"2 us: first sub-bucket of the second power", 2'000, 2'125},
      {"1 ms lies in [992, 1024) us", 1'000'000, 1'024'000},
      {"10 ms lies in [9.728, 10.24) ms", 10'000'000, 10'240'000},
      {"2^32 us and above: the last bucket", 4'294'967'296'000, 4'294'967'296'000},
      {"a day: the last bucket", 86'400'000'000'000, 4'294'967'296'000},
  }));
  INFO(r.name);
  CHECK(single(nanoseconds(r.value_ns)).count() == r.expected_ns);
}

TEST_CASE("every value in range reads within one bucket (1/16) above itself") {
  for (std::int64_t v = 1'000; v < 4'000'000'000'000; v = v * 21 / 20 + 7) {
    const auto edge = single(nanoseconds(v)).count();
    INFO(v);
    REQUIRE(edge > v);
    REQUIRE(static_cast<double>(edge) <= static_cast<double>(v) * (1.0 + 1.0 / 16) + 1);
  }
}

TEST_CASE("percentiles by nearest rank") {
  latency_histogram h;
  CHECK(h.percentile(0.5) == 0ns);  // empty
  for (int ms = 1; ms <= 100; ++ms) h.record(std::chrono::milliseconds(ms));
  CHECK(h.count() == 100);
  CHECK(h.sum() == 5'050ms);
  // The 50th value is 50 ms, in [49.152, 51.2) ms; the 99th is 99 ms, in [98.304, 102.4) ms.
  CHECK(h.percentile(0.5) == 51'200us);
  CHECK(h.percentile(0.99) == 102'400us);
  CHECK(h.percentile(1.0) == 102'400us);
  CHECK(h.percentile(0.01) == 1'024us);  // 1 ms
  CHECK(h.percentile(0.0) == 1'024us);   // q <= 0: the smallest
  h.clear();
  CHECK(h.count() == 0);
  CHECK(h.sum() == 0ns);
  CHECK(h.percentile(0.99) == 0ns);
}

TEST_CASE("zeros (immediate admissions) count toward the percentiles as zero") {
  latency_histogram h;
  for (int i = 0; i < 60; ++i) h.record(0ns);
  for (int i = 0; i < 40; ++i) h.record(5ms);
  CHECK(h.percentile(0.5) == 0ns);
  CHECK(h.percentile(0.59) == 0ns);
  CHECK(h.percentile(0.61) == 5'120us);  // 5 ms is in [4.864, 5.12) ms
  CHECK(h.percentile(0.99) == 5'120us);
  CHECK(h.count() == 100);
  CHECK(h.sum() == 200ms);
}
