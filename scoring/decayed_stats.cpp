// Exponentially decaying window statistics (see decayed_stats.hpp).
#include "scoring/decayed_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace sluice::scoring {

decayed_stats::decayed_stats(std::chrono::nanoseconds window) noexcept
    : window_ns_(static_cast<double>(std::max<std::int64_t>(window.count(), 1))) {}

double decayed_stats::weight(time_point now) const noexcept {
  if (!started_) return 1.0;
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - stamp_).count();
  if (elapsed <= 0) return 1.0;
  return std::exp(-static_cast<double>(elapsed) / window_ns_);
}

void decayed_stats::decay_to(time_point now) noexcept {
  const double w = weight(now);
  count_ *= w;
  failures_ *= w;
  successes_ *= w;
  sum_ *= w;
  stamp_ = started_ ? std::max(stamp_, now) : now;
  started_ = true;
}

void decayed_stats::add_success(time_point now, double value) noexcept {
  decay_to(now);
  count_ += 1;
  successes_ += 1;
  sum_ += value;
}

void decayed_stats::add_failure(time_point now) noexcept {
  decay_to(now);
  count_ += 1;
  failures_ += 1;
}

double decayed_stats::count(time_point now) const noexcept { return count_ * weight(now); }

double decayed_stats::failures(time_point now) const noexcept { return failures_ * weight(now); }

double decayed_stats::successes(time_point now) const noexcept {
  return successes_ * weight(now);
}

double decayed_stats::failure_rate() const noexcept {
  return count_ > 0 ? failures_ / count_ : 0.0;
}

double decayed_stats::mean() const noexcept { return successes_ > 0 ? sum_ / successes_ : 0.0; }

void decayed_stats::reset() noexcept {
  started_ = false;
  stamp_ = {};
  count_ = failures_ = successes_ = sum_ = 0;
}

}  // namespace sluice::scoring
