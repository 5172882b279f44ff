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
  bool bounded_by_max_wait = true;                           // false: pool.query_wait_timeout ended the wait
};

// A queued admission, held by the waiting session. The session sleeps on `timer` (of its own worker)
// until the deadline; whoever admits it sets `admitted` under the gate's lock and posts a cancel of
// the timer to that worker.
struct queued_admission {
  struct waiter {
    explicit waiter(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
    bool admitted = false;  // under the gate's mutex
  };
  policies::waiter_id id = 0;  // 0: nothing queued
  std::size_t tenant = 0;
  policies::time_point started{};
  policies::time_point deadline{};
  policies::limit_kind held_by = policies::limit_kind::none;
  bool bounded_by_max_wait = true;
  std::shared_ptr<waiter> entry;
  bool active() const noexcept { return id != 0; }
};

enum class queued_state {
  waiting,    // not yet: sleep on the timer again
  admitted,   // go ahead; release() when the unit ends
  timed_out,  // refused: its deadline passed
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

  // Starts a unit (a transaction, or a statement outside one) for `tenant`: admitted now, refused
  // now, or queued (then `queued` is filled and the caller waits on its timer, calling check()).
  gate_result start(std::size_t tenant, asio::io_context& io, queued_admission& queued);
  // After the timer fires or is cancelled: admitted, still waiting, or timed out (then `result`
  // says why). `queued` is reset unless still waiting.
  queued_state check(queued_admission& queued, gate_result& result);
  // The waiting session gives up (its client left or cancelled): the place is freed; an admission
  // that raced with it is released unused. `queued` is reset.
  void abandon(queued_admission& queued);
  // The unit finished: servers were busy `db_time` on it.
  void release(std::size_t tenant, std::chrono::nanoseconds db_time, std::chrono::steady_clock::time_point admitted_at);

  // Applies new policies (SIGHUP, POST /reload). Control path.
  void reconfigure(const config::qos_config& qos);
  // Stops the timer thread (before the workers' io_contexts go away).
  void stop();

  std::vector<policies::tenant_stats> snapshot() const;
  std::uint32_t active() const;
  std::uint32_t max_active() const;
  const std::string& tenant_name(std::size_t tenant) const;  // stable for the process lifetime
  policies::tenant_policy policy(std::size_t tenant) const;

 private:
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
  std::unordered_map<policies::waiter_id, std::weak_ptr<queued_admission::waiter>> waiters_;
  policies::waiter_id next_id_ = 1;
  std::vector<policies::waiter_id> admitted_scratch_;
  // Rate and db-time waits end by the clock, not by a release: a thread sleeps until the earliest.
  std::thread timer_thread_;
  std::condition_variable wakeup_changed_;
  policies::time_point wakeup_at_ = policies::time_point::max();
  bool stopping_ = false;
};

}  // namespace sluice::router::qos
