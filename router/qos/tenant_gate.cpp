// Tenant QoS on the data path: the admission controller behind one mutex, the cross-thread wake-ups
// of queued sessions, and a timer thread for waits that end by the clock (token bucket, db-time debt).
#include "router/qos/tenant_gate.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>

namespace sluice::router::qos {

namespace {

policies::qos_policy effective_policy(const config::qos_config& qos) {
  if (qos.enabled) return qos.policy;
  // QoS off: one unrestricted default tenant, so anything still queued from before is let go.
  policies::qos_policy open;
  policies::tenant_policy fallback;
  fallback.name = "default";
  open.tenants.push_back(std::move(fallback));
  return open;
}

}  // namespace

tenant_gate::tenant_gate(const config::qos_config& qos, std::chrono::milliseconds default_max_wait)
    : enabled_(qos.enabled),
      default_max_wait_(default_max_wait),
      controller_(effective_policy(qos), policies::clock_type::now()) {
  std::lock_guard lock(mutex_);
  remember_configured_locked(effective_policy(qos));
  install_rules_locked();
  timer_thread_ = std::thread([this] { wakeup_loop(); });
}

tenant_gate::~tenant_gate() { stop(); }

void tenant_gate::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wakeup_changed_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
}

// The rules are built over the controller's tenant order (indexes are stable across reloads); a
// retired tenant keeps its slot under an empty name, so neither rules nor tags select it any more.
void tenant_gate::install_rules_locked() {
  policies::qos_policy ordered;
  ordered.max_active = controller_.max_active();
  for (std::size_t i = 0; i < controller_.tenant_count(); ++i) {
    ordered.tenants.push_back(controller_.policy(i));
    if (i >= names_.size()) names_.push_back(std::make_unique<std::string>(controller_.tenant_name(i)));
  }
  ordered.rules = rules_source_;
  for (auto& tenant : ordered.tenants) {
    const bool configured = std::any_of(configured_.begin(), configured_.end(),
                                        [&](const std::string& name) { return name == tenant.name; });
    if (!configured) tenant.name.clear();
  }
  rules_ = std::make_shared<const policies::tenant_rules>(ordered);
  generation_.fetch_add(1, std::memory_order_release);
}

void tenant_gate::remember_configured_locked(const policies::qos_policy& policy) {
  rules_source_ = policy.rules;
  configured_.clear();
  for (const auto& tenant : policy.tenants) configured_.push_back(tenant.name);
}

std::shared_ptr<const policies::tenant_rules> tenant_gate::rules() const {
  std::lock_guard lock(mutex_);
  return rules_;
}

gate_result tenant_gate::start(std::size_t tenant, asio::io_context& io, queued_admission& queued) {
  const auto now = policies::clock_type::now();
  std::lock_guard lock(mutex_);
  // Units that time alone has let go (a refilled bucket) go first, so a newcomer is judged against
  // the true state rather than one the timer thread has not caught up with yet.
  wake_admitted_locked();
  const policies::waiter_id id = next_id_++;
  const auto answer = controller_.request(tenant, id, now);
  if (answer.outcome == policies::verdict::admitted) return gate_result{};
  if (answer.outcome == policies::verdict::refused) {
    // The queue is full: name what keeps the queue from draining, too.
    return gate_result{false, controller_.last_limit(tenant), answer.limit, {}, true};
  }
  queued.id = id;
  queued.tenant = tenant;
  queued.started = now;
  queued.held_by = answer.limit;
  queued.entry = std::make_shared<queued_admission::waiter>(io);
  // Without max_wait a statement still does not wait forever: pool.query_wait_timeout bounds it,
  // as it bounds a wait for a server connection.
  const auto by_policy = controller_.deadline_for(tenant, now);
  const auto by_default = now + default_max_wait_;
  queued.bounded_by_max_wait = by_policy <= by_default;
  queued.deadline = std::min(by_policy, by_default);
  waiters_.emplace(id, queued.entry);
  arm_wakeup_locked();
  return gate_result{false, answer.limit, policies::limit_kind::none, {}, queued.bounded_by_max_wait};
}

queued_state tenant_gate::check(queued_admission& queued, gate_result& result) {
  std::lock_guard lock(mutex_);
  const auto now = policies::clock_type::now();
  result = gate_result{true, queued.held_by, policies::limit_kind::none, now - queued.started, queued.bounded_by_max_wait};
  if (queued.entry->admitted) {
    waiters_.erase(queued.id);
    queued = {};
    return queued_state::admitted;
  }
  if (now < queued.deadline) return queued_state::waiting;
  waiters_.erase(queued.id);
  if (!controller_.cancel(queued.tenant, queued.id, true, now)) {
    queued = {};
    return queued_state::admitted;  // admitted in the instant before this lock: take it
  }
  result.admitted = false;
  result.refusal = queued.held_by;
  queued = {};
  return queued_state::timed_out;
}

void tenant_gate::abandon(queued_admission& queued) {
  if (!queued.active()) return;
  std::lock_guard lock(mutex_);
  const auto now = policies::clock_type::now();
  waiters_.erase(queued.id);
  if (queued.entry->admitted || !controller_.cancel(queued.tenant, queued.id, false, now)) {
    // Admitted meanwhile: hand the place back unused.
    controller_.release(queued.tenant, std::chrono::nanoseconds(0), now, now);
  }
  queued = {};
  wake_admitted_locked();
  arm_wakeup_locked();
}

void tenant_gate::release(std::size_t tenant, std::chrono::nanoseconds db_time,
                          std::chrono::steady_clock::time_point admitted_at) {
  std::lock_guard lock(mutex_);
  const auto now = policies::clock_type::now();
  controller_.release(tenant, db_time, admitted_at, now);
  wake_admitted_locked();
  arm_wakeup_locked();
}

void tenant_gate::wake_admitted_locked() {
  // Stopped: the workers are going away with their sessions; nothing may be posted to them.
  if (stopping_) return;
  admitted_scratch_.clear();
  controller_.poll(policies::clock_type::now(), admitted_scratch_);
  for (const auto id : admitted_scratch_) {
    const auto found = waiters_.find(id);
    if (found == waiters_.end()) continue;  // cannot happen: every queued id has a waiter
    const auto entry = found->second.lock();
    if (!entry) continue;  // its session is gone (it abandons under this lock first)
    entry->admitted = true;
    // The timer belongs to the session's worker: cancel it there. A weak reference, so a session
    // that ended meanwhile (and its timer) is left alone.
    asio::post(entry->timer.get_executor(), [weak = found->second] {
      if (const auto alive = weak.lock()) alive->timer.cancel();
    });
  }
}

void tenant_gate::arm_wakeup_locked() {
  const auto next = controller_.next_wakeup();
  if (next < wakeup_at_) {
    wakeup_at_ = next;
    wakeup_changed_.notify_one();
  } else {
    wakeup_at_ = next;
  }
}

void tenant_gate::wakeup_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (wakeup_at_ == policies::time_point::max()) {
      wakeup_changed_.wait(lock);
      continue;
    }
    const auto until = wakeup_at_;
    wakeup_changed_.wait_until(lock, until);
    if (stopping_) break;
    if (policies::clock_type::now() >= wakeup_at_) {
      wakeup_at_ = policies::time_point::max();
      wake_admitted_locked();
      arm_wakeup_locked();
    }
  }
}

void tenant_gate::reconfigure(const config::qos_config& qos) {
  std::lock_guard lock(mutex_);
  const auto policy = effective_policy(qos);
  controller_.reconfigure(policy, policies::clock_type::now());
  remember_configured_locked(policy);
  install_rules_locked();
  enabled_.store(qos.enabled, std::memory_order_relaxed);
  wake_admitted_locked();
  arm_wakeup_locked();
}

std::vector<policies::tenant_stats> tenant_gate::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<policies::tenant_stats> out;
  out.reserve(controller_.tenant_count());
  for (std::size_t i = 0; i < controller_.tenant_count(); ++i) out.push_back(controller_.stats(i));
  return out;
}

std::uint32_t tenant_gate::active() const {
  std::lock_guard lock(mutex_);
  return controller_.active();
}

std::uint32_t tenant_gate::max_active() const {
  std::lock_guard lock(mutex_);
  return controller_.max_active();
}

policies::tenant_policy tenant_gate::policy(std::size_t tenant) const {
  std::lock_guard lock(mutex_);
  return controller_.policy(tenant);
}

const std::string& tenant_gate::tenant_name(std::size_t tenant) const {
  std::lock_guard lock(mutex_);
  return *names_[tenant];
}

}  // namespace sluice::router::qos
