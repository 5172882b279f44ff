// Sample count, failure count and mean over a sliding exponential window: the evidence outlier
// ejection acts on. O(1) space, no buckets.
#pragma once

#include <chrono>

#include "scoring/common.hpp"

namespace sluice::scoring {

// Each sample counts with weight exp(-age / window), so count() is "about how many samples in the
// last `window`" and failure_rate() and mean() are rates and means over that window. Unlike
// peak_ewma it is not peak-sensitive, so ejection acts on sustained evidence while the load balancer
// (peak EWMA) still reacts at once. The scorer feeds it log(latency), making mean() a log of the
// geometric mean, which one heavy statement among many barely moves.
class decayed_stats {
 public:
  explicit decayed_stats(std::chrono::nanoseconds window) noexcept;

  void add_success(time_point now, double value) noexcept;  // a sample with a measured value
  void add_failure(time_point now) noexcept;                // a failed sample (no value)

  [[nodiscard]] double count(time_point now) const noexcept;     // all samples, decayed
  [[nodiscard]] double failures(time_point now) const noexcept;  // failed samples, decayed
  [[nodiscard]] double successes(time_point now) const noexcept; // samples with a value, decayed
  // failures / count; 0 with no samples. Time-invariant between samples (both decay alike).
  [[nodiscard]] double failure_rate() const noexcept;
  // Mean value of the successful samples; 0 with none. Time-invariant between samples.
  [[nodiscard]] double mean() const noexcept;

  void reset() noexcept;

 private:
  void decay_to(time_point now) noexcept;
  [[nodiscard]] double weight(time_point now) const noexcept;

  double window_ns_;
  time_point stamp_{};
  bool started_ = false;
  double count_ = 0;
  double failures_ = 0;
  double successes_ = 0;
  double sum_ = 0;
};

}  // namespace sluice::scoring
