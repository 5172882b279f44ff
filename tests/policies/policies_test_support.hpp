// Helpers for the policies/ tests: a fake clock origin, policy builders, and a closed-loop simulator
// that drives an admission_controller through simulated time (clients that ask, wait, run for their
// unit's database time, release and ask again), jumping from event to event.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "policies/admission_controller.hpp"
#include "policies/tenant_policy.hpp"

namespace sluice::policies::testing {

using namespace std::chrono_literals;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Fake clock origin, away from the epoch so that "never" (time_point{}) is distinguishable.
inline time_point t0() { return time_point{} + std::chrono::hours(100); }

inline tenant_policy unrestricted(std::string name) {
  tenant_policy p;
  p.name = std::move(name);
  return p;
}

inline qos_policy make_policy(std::initializer_list<tenant_policy> tenants, std::uint32_t max_active = 0) {
  qos_policy p;
  p.max_active = max_active;
  p.tenants.push_back(unrestricted("default"));
  for (const auto& t : tenants) p.tenants.push_back(t);
  return p;
}

inline double to_seconds(nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Closed-loop clients: each asks for admission, runs `cost` of wall-clock and database time once
// admitted, releases, and asks again at once. After each batch of releases the simulator polls
// (as the router does under its lock), then the finished clients ask again.
class simulator {
 public:
  struct totals {
    std::uint64_t admissions = 0;
    nanoseconds db_time{0};  // of units released within the run
  };

  simulator(admission_controller& controller, time_point start) : ac_(controller), now_(start) {}

  // `count` clients for `tenant`, each unit costing `cost`, starting at `start` (default: now).
  void add_clients(std::size_t tenant, int count, nanoseconds cost, std::optional<time_point> start = {}) {
    for (int i = 0; i < count; ++i) {
      client c;
      c.tenant = tenant;
      c.cost = cost;
      c.start = start.value_or(now_);
      clients_.push_back(c);
    }
    if (totals_.size() < ac_.tenant_count()) totals_.resize(ac_.tenant_count());
  }

  void run_until(time_point end) {
    for (;;) {
      time_point next = std::min(ac_.next_wakeup(), end);
      for (const auto& c : clients_) {
        if (c.state == client_state::idle) next = std::min(next, std::max(c.start, now_));
        if (c.state == client_state::running) next = std::min(next, c.done_at);
      }
      if (next > end) break;
      now_ = std::max(now_, next);
      std::vector<std::size_t> finished;
      for (std::size_t i = 0; i < clients_.size(); ++i) {
        auto& c = clients_[i];
        if (c.state == client_state::running && c.done_at <= now_) {
          ac_.release(c.tenant, c.cost, c.admitted_at, now_);
          totals_[c.tenant].db_time += c.cost;
          c.state = client_state::idle;
          finished.push_back(i);
        }
      }
      poll();
      for (std::size_t i = 0; i < clients_.size(); ++i) {
        auto& c = clients_[i];
        if (c.state == client_state::idle && c.start <= now_) ask(i);
      }
      if (now_ >= end) break;
    }
  }

  const totals& of(std::size_t tenant) const { return totals_[tenant]; }
  time_point now() const { return now_; }

 private:
  enum class client_state { idle, queued, running };
  struct client {
    std::size_t tenant = 0;
    nanoseconds cost{0};
    time_point start{};
    client_state state = client_state::idle;
    time_point admitted_at{};
    time_point done_at{};
  };

  void ask(std::size_t i) {
    auto& c = clients_[i];
    const admission a = ac_.request(c.tenant, i, now_);
    if (a.outcome == verdict::admitted) {
      run(i);
    } else if (a.outcome == verdict::queued) {
      c.state = client_state::queued;
    } else {
      c.start = now_ + 1ms;  // refused: try again a little later
    }
  }

  void poll() {
    ids_.clear();
    ac_.poll(now_, ids_);
    for (const waiter_id id : ids_) run(static_cast<std::size_t>(id));
  }

  void run(std::size_t i) {
    auto& c = clients_[i];
    c.state = client_state::running;
    c.admitted_at = now_;
    c.done_at = now_ + c.cost;
    ++totals_[c.tenant].admissions;
  }

  admission_controller& ac_;
  time_point now_;
  std::vector<client> clients_;
  std::vector<totals> totals_;
  std::vector<waiter_id> ids_;
};

}  // namespace sluice::policies::testing
