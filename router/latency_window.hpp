// Statement latencies of one backend on one worker, for the admin API's percentiles: a log-linear
// histogram over a sliding window of two periods (the worker rotates it), plus all-time count and
// sum for Prometheus. Recording is an index computation and two increments: no allocation, no lock.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sluice::router {

// Bucket counts of a latency_window (or of several merged): what crosses threads to the admin API.
struct latency_counts {
  // 8 linear sub-buckets per power of two from 1 us: bucket edges are within 12.5% of each other,
  // and so is any percentile. 28 powers reach 2^30 us (about 18 minutes); longer lands in the last.
  static constexpr std::size_t sub_buckets = 8;
  static constexpr std::size_t powers = 28;
  static constexpr std::size_t bucket_count = sub_buckets * powers;

  std::array<std::uint64_t, bucket_count> buckets{};
  std::uint64_t count = 0;

  void merge(const latency_counts& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) buckets[i] += other.buckets[i];
    count += other.count;
  }

  // The q-quantile (0 < q <= 1) as its bucket's upper edge, in microseconds; 0 when empty.
  [[nodiscard]] double quantile_us(double q) const noexcept {
    if (count == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count));
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += buckets[i];
      if (seen >= rank) return upper_edge_us(i);
    }
    return upper_edge_us(bucket_count - 1);
  }

  // Bucket index of a latency. Values below 8 us get a bucket each (power 0 spans 0..7 us); from
  // there, bucket = 8 * (power) + the next three bits below the leading one.
  [[nodiscard]] static std::size_t bucket_of(std::uint64_t us) noexcept {
    if (us < sub_buckets) return static_cast<std::size_t>(us);
    const auto top = static_cast<std::size_t>(std::bit_width(us)) - 1;  // >= 3
    const std::size_t power = top - 2;                                   // 1 for 8..15 us
    if (power >= powers) return bucket_count - 1;
    const auto sub = static_cast<std::size_t>((us >> (top - 3)) & (sub_buckets - 1));
    return power * sub_buckets + sub;
  }

  [[nodiscard]] static double upper_edge_us(std::size_t bucket) noexcept {
    const std::size_t power = bucket / sub_buckets;
    const std::size_t sub = bucket % sub_buckets;
    if (power == 0) return static_cast<double>(sub + 1);
    const double width = static_cast<double>(std::uint64_t{1} << (power - 1));  // 8 us span / 8 at power 1
    return static_cast<double>((sub_buckets + sub + 1)) * width;
  }
};

class latency_window {
 public:
  void record(std::chrono::microseconds latency) noexcept {
    const auto us = latency.count() < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(latency.count());
    auto& current = periods_[current_];
    ++current.buckets[latency_counts::bucket_of(us)];
    ++current.count;
    ++total_count_;
    total_sum_us_ += us;
  }

  // Starts a new period: percentiles then cover the period that just ended and the new one.
  void rotate() noexcept {
    current_ ^= 1u;
    periods_[current_] = latency_counts{};
  }

  // Both periods merged (the recent window).
  [[nodiscard]] latency_counts recent() const noexcept {
    latency_counts merged = periods_[0];
    merged.merge(periods_[1]);
    return merged;
  }
  [[nodiscard]] std::uint64_t total_count() const noexcept { return total_count_; }
  [[nodiscard]] std::uint64_t total_sum_us() const noexcept { return total_sum_us_; }

 private:
  std::array<latency_counts, 2> periods_{};
  unsigned current_ = 0;
  std::uint64_t total_count_ = 0;
  std::uint64_t total_sum_us_ = 0;
};

}  // namespace sluice::router
