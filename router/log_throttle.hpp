// Rate limits for log lines that clients can cause at will (failed logins, startup timeouts, accept
// errors): at most one line per interval, per key, with a count of what was held back in between.
// Single-threaded: one per worker.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace sluice::router {

class log_throttle {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(clock::duration interval) : interval_(interval) {}

  // True when a line may be logged at `now`; `held_back` then says how many events were not logged
  // since the previous line. False: this event is counted and not logged.
  bool allow(clock::time_point now, std::uint64_t& held_back) noexcept {
    if (logged_once_ && now - last_ < interval_) {
      ++held_back_;
      return false;
    }
    held_back = held_back_;
    held_back_ = 0;
    last_ = now;
    logged_once_ = true;
    return true;
  }

 private:
  clock::duration interval_;
  clock::time_point last_{};
  bool logged_once_ = false;
  std::uint64_t held_back_ = 0;
};

// One log_throttle per key (a client address), for at most max_keys keys: when that many are
// tracked, the ones whose interval has passed are forgotten, and if none has, new keys share one
// throttle (an attacker spreading over many addresses still gets one line per interval).
class keyed_log_throttle {
 public:
  using clock = log_throttle::clock;

  keyed_log_throttle(clock::duration interval, std::size_t max_keys) : interval_(interval), max_keys_(max_keys),
                                                                       overflow_(interval) {}

  bool allow(const std::string& key, clock::time_point now, std::uint64_t& held_back) {
    auto found = by_key_.find(key);
    if (found == by_key_.end()) {
      if (by_key_.size() >= max_keys_) {
        std::erase_if(by_key_, [&](const auto& tracked_key) { return now - tracked_key.second.last >= interval_; });
      }
      if (by_key_.size() >= max_keys_) return overflow_.allow(now, held_back);
      found = by_key_.emplace(key, entry{}).first;
    } else if (now - found->second.last < interval_) {
      ++found->second.held_back;
      return false;
    }
    held_back = found->second.held_back;
    found->second.held_back = 0;
    found->second.last = now;
    return true;
  }

  [[nodiscard]] std::size_t tracked() const noexcept { return by_key_.size(); }

 private:
  struct entry {
    clock::time_point last{};
    std::uint64_t held_back = 0;
  };

  clock::duration interval_;
  std::size_t max_keys_;
  std::unordered_map<std::string, entry> by_key_;
  log_throttle overflow_;
};

}  // namespace sluice::router
