// A fixed-size log-linear histogram of durations (1 us .. ~1 h) for per-tenant queue-wait and
// statement-latency percentiles: recording never allocates, percentiles are within one bucket
// (about 6%) of the true value.
#pragma once

#include <array>
#include <cstdint>

#include "policies/common.hpp"

namespace sluice::policies {

class latency_histogram {
 public:
  void record(nanoseconds value) noexcept;
  // The q-quantile (0 < q <= 1) of what was recorded, as the upper edge of its bucket; 0 when empty.
  nanoseconds percentile(double q) const noexcept;
  std::uint64_t count() const noexcept { return count_; }
  nanoseconds sum() const noexcept { return sum_; }
  void clear() noexcept;

  // Bucket layout: 16 linear sub-buckets per power of two, from 1 us up.
  static constexpr int sub_buckets = 16;
  static constexpr int powers = 32;  // 1 us * 2^32 ~ 71 min; longer values land in the last bucket
  static constexpr int bucket_count = sub_buckets * powers;

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t zero_count_ = 0;  // exact zeros (and negatives): their percentile reads 0
  std::uint64_t count_ = 0;
  nanoseconds sum_{0};
};

}  // namespace sluice::policies
