// Helpers for the scoring/ tests: a fake clock origin, a scripted random source, probe builders and a
// small cluster harness that probes every backend every 250 ms while a test advances time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <vector>

#include "scoring/probe_result.hpp"
#include "scoring/random_source.hpp"
#include "scoring/replica_scorer.hpp"

namespace sluice::scoring::testing {

using namespace std::chrono_literals;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// Fake clock origin, away from the epoch so that "never" (time_point{}) is distinguishable.
inline time_point t0() { return time_point{} + std::chrono::hours(100); }

// Wall clock of the fake servers at t0(), microseconds since the Unix epoch (2024-01-01).
inline constexpr std::int64_t wall_at_t0_us = 1'704'067'200'000'000;

inline std::int64_t wall_us(time_point at) {
  return wall_at_t0_us + std::chrono::duration_cast<microseconds>(at - t0()).count();
}

// Returns the given values in order, then starts over.
class scripted_source final : public random_source {
 public:
  scripted_source(std::initializer_list<std::uint64_t> values) : values_(values) {}
  std::uint64_t next() noexcept override {
    ++calls;
    const std::uint64_t value = values_[position_];
    position_ = (position_ + 1) % values_.size();
    return value;
  }
  std::size_t calls = 0;

 private:
  std::vector<std::uint64_t> values_;
  std::size_t position_ = 0;
};

inline probe_result primary_probe(time_point at, std::uint64_t lsn,
                                  microseconds rtt = microseconds(0)) {
  probe_result p;
  p.at = at;
  p.reachable = true;
  p.in_recovery = false;
  p.current_lsn = lsn;
  p.server_now_unix_us = wall_us(at - rtt / 2);
  p.rtt = rtt;
  return p;
}

inline probe_result replica_probe(time_point at, std::uint64_t replay_lsn,
                                  microseconds rtt = microseconds(0)) {
  probe_result p;
  p.at = at;
  p.reachable = true;
  p.in_recovery = true;
  p.current_lsn = replay_lsn;
  p.receive_lsn = replay_lsn;
  p.server_now_unix_us = wall_us(at - rtt / 2);
  p.rtt = rtt;
  return p;
}

inline probe_result down_probe(time_point at) {
  probe_result p;
  p.at = at;
  p.reachable = false;
  return p;
}

// A cluster of `count` backends, backend 0 the primary, the others replicas, all probed every
// 250 ms as time advances. Tests change the per-backend knobs between steps.
struct cluster {
  static constexpr milliseconds probe_interval{250};

  // `silent` backends are not probed until a test clears their flag.
  cluster(std::size_t count, const scoring_config& config, backend_set silent_backends = {})
      : scorer(count, config),
        reachable(count, true),
        in_recovery(count, true),
        silent(count, false),
        lag_bytes(count, 0),
        probe_rtt(count, microseconds(500)) {
    in_recovery[0] = false;
    for (std::size_t i = 0; i < count; ++i) silent[i] = silent_backends.test(i);
    probe_all();
  }

  void probe_all() {
    for (std::size_t i = 0; i < reachable.size(); ++i) {
      if (silent[i]) continue;
      if (!reachable[i]) {
        scorer.on_probe(i, down_probe(now));
      } else if (!in_recovery[i]) {
        scorer.on_probe(i, primary_probe(now, primary_lsn, probe_rtt[i]));
      } else {
        scorer.on_probe(i, replica_probe(now, primary_lsn - lag_bytes[i], probe_rtt[i]));
      }
    }
    next_probe = now + probe_interval;
  }

  // Advances the clock by `duration` in steps of `step`, probing when due and calling `each_step`
  // (if any) at every step.
  void advance(std::chrono::nanoseconds duration, std::chrono::nanoseconds step = 10ms,
               const std::function<void()>& each_step = {}) {
    const time_point end = now + duration;
    while (now < end) {
      now += step;
      if (now >= next_probe) probe_all();
      if (each_step) each_step();
    }
  }

  // `count` statements on `backend`, each taking `latency`, dispatched and completed at `now`.
  void statements(std::size_t backend, microseconds latency, int count = 1, bool failed = false) {
    for (int i = 0; i < count; ++i) {
      scorer.on_dispatch(backend);
      scorer.on_complete(backend, now, latency, failed);
    }
  }

  [[nodiscard]] choice_explanation explain() const {
    choice_explanation why;
    scorer.explain(now, why);
    return why;
  }

  replica_scorer scorer;
  time_point now = t0();
  time_point next_probe = t0();
  std::uint64_t primary_lsn = 1'000'000'000;
  std::vector<bool> reachable;
  std::vector<bool> in_recovery;
  std::vector<bool> silent;
  std::vector<std::uint64_t> lag_bytes;
  std::vector<microseconds> probe_rtt;
};

}  // namespace sluice::scoring::testing
