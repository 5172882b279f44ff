// Peak-sensitive EWMA (see peak_ewma.hpp).
#include "scoring/peak_ewma.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace sluice::scoring {

peak_ewma::peak_ewma(std::chrono::nanoseconds tau) noexcept
    : tau_ns_(static_cast<double>(std::max<std::int64_t>(tau.count(), 1))) {}

double peak_ewma::weight(time_point now) const noexcept {
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - stamp_).count();
  if (elapsed <= 0) return 1.0;  // same instant, or an observation delivered late
  return std::exp(-static_cast<double>(elapsed) / tau_ns_);
}

void peak_ewma::observe(time_point now, double sample) noexcept {
  if (!has_value_) {
    has_value_ = true;
    value_ = sample;
    stamp_ = now;
    return;
  }
  if (sample > value_) {
    value_ = sample;
  } else {
    const double w = weight(now);
    value_ = value_ * w + sample * (1.0 - w);
  }
  stamp_ = std::max(stamp_, now);
}

double peak_ewma::decayed_toward(time_point now, double floor) const noexcept {
  if (!has_value_) return floor;
  if (value_ <= floor) return value_;
  return floor + (value_ - floor) * weight(now);
}

}  // namespace sluice::scoring
