// Peak-sensitive exponentially weighted moving average over time (Finagle's PeakEwma, as in Linkerd
// and tower): reacts at once to a worse sample, forgets it gradually.
#pragma once

#include <chrono>

#include "scoring/common.hpp"

namespace sluice::scoring {

// observe(now, x): a sample above the current value replaces it at once; otherwise the value moves
// toward the sample with weight w = exp(-elapsed / tau), elapsed being the time since the previous
// observation:  value = value * w + x * (1 - w).
// Weighting by elapsed time rather than per sample (Eckner, "Algorithms for unevenly spaced time
// series") makes tau a time constant whatever the sample rate: after a change the old level's
// influence falls by 1/e every tau, however many samples arrive. Finagle: PeakEwma.scala
// (twitter/finagle, finagle-core loadbalancer); tower: tower::load::peak_ewma.
// Being pessimistic is the point: a backend that just got slower is avoided at once and rejoins
// slowly, which suits a load balancer (an overestimate costs a little share, an underestimate piles
// statements onto a stalled server).
class peak_ewma {
 public:
  explicit peak_ewma(std::chrono::nanoseconds tau) noexcept;

  void observe(time_point now, double sample) noexcept;

  [[nodiscard]] bool empty() const noexcept { return !has_value_; }
  // The value as of the last observation (0 when empty).
  [[nodiscard]] double value() const noexcept { return value_; }
  [[nodiscard]] time_point last_observed() const noexcept { return stamp_; }

  // The value with no observation since last_observed() read as evidence: it relaxes toward `floor`
  // with the same time constant, floor + (value - floor) * exp(-(now - last) / tau). Finagle lets an
  // unobserved cost decay toward zero so that an avoided backend is eventually retried; sluice decays
  // toward a floor measured by probes instead (see replica_scorer). Values at or below the floor are
  // returned unchanged. Empty: returns floor.
  [[nodiscard]] double decayed_toward(time_point now, double floor) const noexcept;

  void reset() noexcept {
    has_value_ = false;
    value_ = 0;
    stamp_ = {};
  }

 private:
  [[nodiscard]] double weight(time_point now) const noexcept;  // exp(-elapsed / tau)

  double tau_ns_;
  double value_ = 0;
  time_point stamp_{};
  bool has_value_ = false;
};

}  // namespace sluice::scoring
