// Log-linear duration histogram (see latency_histogram.hpp).
//
// Layout (the HdrHistogram idea with one significant "digit" of 16 steps): power p covers
// [2^p us, 2^(p+1) us) in 16 equal sub-buckets of 2^p / 16 us, so a bucket is at most 1/16 (6.25%)
// of its lower edge wide. Bucket index = 16 * p + sub-bucket. Working in units of 1/16 us,
// x = ns * 16 / 1000: for x >= 16, p = floor(log2 x) - 4 and the sub-bucket is (x >> p) - 16.
// Below 1 us: bucket 0; at or above 2^32 us: the last bucket. Exact zeros (immediate admissions in the
// queue-wait histograms) are counted apart so that a percentile falling on them reads 0, not 1 us.
#include "policies/latency_histogram.hpp"

#include <bit>
#include <cmath>

namespace sluice::policies {

namespace {

constexpr std::int64_t ns_per_us = 1'000;
constexpr std::int64_t units_per_us = latency_histogram::sub_buckets;  // x is in 1/16 us
constexpr std::int64_t tracked_ns = (std::int64_t{1} << latency_histogram::powers) * ns_per_us;

int bucket_of(std::int64_t ns) noexcept {
  if (ns >= tracked_ns) return latency_histogram::bucket_count - 1;
  const auto x = static_cast<std::uint64_t>(ns * units_per_us / ns_per_us);
  if (x < static_cast<std::uint64_t>(latency_histogram::sub_buckets)) return 0;
  const int power = static_cast<int>(std::bit_width(x)) - 1 - 4;  // log2(16) = 4
  const int sub = static_cast<int>(x >> power) - latency_histogram::sub_buckets;
  return power * latency_histogram::sub_buckets + sub;
}

// The exclusive upper edge of bucket `b`, rounded up to whole nanoseconds.
std::int64_t upper_edge_ns(int b) noexcept {
  const int power = b / latency_histogram::sub_buckets;
  const int sub = b % latency_histogram::sub_buckets;
  const std::int64_t units = std::int64_t{latency_histogram::sub_buckets + sub + 1} << power;
  return (units * ns_per_us + units_per_us - 1) / units_per_us;
}

}  // namespace

void latency_histogram::record(nanoseconds value) noexcept {
  const std::int64_t ns = value.count() > 0 ? value.count() : 0;
  ++count_;
  sum_ += nanoseconds(ns);
  if (ns == 0) {
    ++zero_count_;
    return;
  }
  ++buckets_[static_cast<std::size_t>(bucket_of(ns))];
}

nanoseconds latency_histogram::percentile(double q) const noexcept {
  if (count_ == 0) return nanoseconds(0);
  // The smallest recorded value with at least q * count values at or below it (nearest rank).
  double wanted = std::ceil(q * static_cast<double>(count_));
  if (!(wanted >= 1)) wanted = 1;  // also q <= 0 or NaN
  const auto rank = wanted >= static_cast<double>(count_) ? count_ : static_cast<std::uint64_t>(wanted);
  std::uint64_t seen = zero_count_;
  if (seen >= rank) return nanoseconds(0);
  for (int b = 0; b < bucket_count; ++b) {
    seen += buckets_[static_cast<std::size_t>(b)];
    if (seen >= rank) return nanoseconds(upper_edge_ns(b));
  }
  return nanoseconds(upper_edge_ns(bucket_count - 1));
}

void latency_histogram::clear() noexcept {
  buckets_.fill(0);
  zero_count_ = 0;
  count_ = 0;
  sum_ = nanoseconds(0);
}

}  // namespace sluice::policies
