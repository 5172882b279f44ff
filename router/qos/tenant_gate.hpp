// Tenant QoS on the data path: one policies::admission_controller for the whole proxy behind a mutex
// (so every limit is exact across worker threads), plus the waiting: a queued session sleeps on its
// own worker's timer and is woken by whichever thread admits it. See docs/qos.md.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "policies/admission_controller.hpp"
#include "policies/tenant_rules.hpp"
#include "router/config/config.hpp"

namespace sluice::router::qos {

namespace asio = boost::asio;

// The answer to a session that asked to start a unit of work.
struct gate_result {
  bool admitted = true;
  policies::limit_kind limit = policies::limit_kind::none;    // refused or waited: the limit that held it
  policies::limit_kind refusal = policies::limit_kind::none;  // max_queue: refused at once, queue full
  std::chrono::steady_clock::duration waited{};             // time spent queued
};

class tenant_gate {
 public:
  explicit tenant_gate(const config::qos_config& qos, std::chrono::milliseconds default_max_wait);
  ~tenant_gate();

  // False when no QoS is configured: sessions then skip the gate entirely (no lock per statement).
  bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }

  // The rules in force (swapped whole on reload). Sessions cache them and compare generation()
  // once per unit, which is one relaxed load.
  std::shared_ptr<const policies::tenant_rules> rules() const;
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  // Starts a unit (a transaction, or a statement outside one) for `tenant`. Returns at once when
  // admitted; otherwise the calling coroutine waits on a timer of `io` until admitted or refused.
  asio::awaitable<gate_result> admit(std::size_t tenant, asio::io_context& io);
  // The unit finished: servers were busy `db_time` on it.
  void release(std::size_t tenant, std::chrono::nanoseconds db_time, std::chrono::steady_clock::time_point admitted_at);

  // Applies new policies (SIGHUP, POST /reload). Control path.
  void reconfigure(const config::qos_config& qos);

  std::vector<policies::tenant_stats> snapshot() const;
  std::uint32_t active() const;
  std::uint32_t max_active() const;
  const std::string& tenant_name(std::size_t tenant) const;  // stable for the process lifetime
  policies::tenant_policy policy(std::size_t tenant) const;

 private:
  struct waiter {
    std::shared_ptr<asio::steady_timer> timer;  // on the waiting session's worker; shared so a late
                                                // cancel posted there never outlives it
    bool admitted = false;                      // set under mutex_ by whoever admits it
  };
  void remember_configured_locked(const policies::qos_policy& policy);
  void install_rules_locked();
  void wake_admitted_locked();
  void arm_wakeup_locked();
  void wakeup_loop();

  std::atomic<bool> enabled_;
  std::atomic<std::uint64_t> generation_{1};
  std::chrono::milliseconds default_max_wait_;
  mutable std::mutex mutex_;
  policies::admission_controller controller_;
  std::shared_ptr<const policies::tenant_rules> rules_;
  std::vector<policies::tenant_rule> rules_source_;  // as configured (by name)
  std::vector<std::string> configured_;              // tenant names in the current policy
  std::vector<std::unique_ptr<std::string>> names_;  // index -> name, never shrinks
  std::unordered_map<policies::waiter_id, waiter*> waiters_;
  policies::waiter_id next_id_ = 1;
  std::vector<policies::waiter_id> admitted_scratch_;
  // Rate and db-time waits end by the clock, not by a release: a thread sleeps until the earliest.
  std::thread timer_thread_;
  std::condition_variable wakeup_changed_;
  policies::time_point wakeup_at_ = policies::time_point::max();
  bool stopping_ = false;
};

}  // namespace sluice::router::qos
