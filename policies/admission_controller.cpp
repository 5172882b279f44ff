// Tenant admission (see admission_controller.hpp): token bucket, database-time budget, concurrency,
// bounded queues and the weighted fair queue behind the proxy-wide capacity.
//
// Token bucket: GCRA, the generic cell rate algorithm in its virtual-scheduling form (ITU-T I.371
// Annex A; ATM Forum Traffic Management 4.0). With emission interval T = 1 s / max_qps and tolerance
// tau = (burst - 1) * T, the state is one theoretical arrival time TAT:
//     a unit at time t conforms  iff  t >= TAT - tau;   it then sets TAT = max(t, TAT) + T.
// A bucket that starts full (TAT = now) and is kept busy admits its n-th unit at the first t with
// t >= t0 + (n - 1) * T - tau, so by time t it has admitted exactly floor((t - t0 + tau) / T) + 1
// units: rate * elapsed + burst when burst is whole and elapsed a multiple of T. T and tau are kept in
// integer nanoseconds (T rounded to the nearest ns), so there is no drift from accumulating floats.
//
// Database-time budget: seconds of database time that may still be spent, refilled at
// max_db_time_per_s per second up to a cap of max(max_db_time_per_s * 1 s, 1 ms). Each admission
// reserves the tenant's expected unit cost (so that many units admitted at once cannot all spend the
// same budget) and release() replaces the reservation by the measured database time; the budget may
// go negative (debt). A unit may be admitted while the budget is not in debt (>= 0); a tenant in debt
// waits until refilling repays it, which is the time next_wakeup() reports. Over any long run a
// backlogged tenant therefore spends rate * elapsed + cap plus at most what was in flight.
//
// Fair queue: start-time fair queuing (Goyal, Vin, Cheng, "Start-time Fair Queuing: A Scheduling
// Algorithm for Integrated Services Packet Switching Networks", SIGCOMM 1996) on database time, with
// post-hoc charging because a unit's cost is known only when it finishes. Each tenant has a virtual
// time F (database seconds / db_time_share). Admitting a unit uses F as its start tag S, advances the
// system virtual time v = max(v, S), and charges expected_cost / share to F; release() corrects F by
// (measured - charged) / share. A tenant whose queue is empty when a unit arrives is not backlogged,
// so F = max(F, v) first: idle time is not banked as credit. When capacity frees, poll() admits,
// among tenants whose head unit their own limits let go, the one with the smallest F (ties: the
// longer-waiting head, then the lower index); FIFO within a tenant. Both tenants always backlogged,
// each gets database time in proportion to its share, whatever its statements cost.
//
// The expected cost is an EWMA (weight 1/8) of the tenant's measured unit database time, starting at
// 1 ms and replaced by the first measurement. The amount corrected at release is the average of what
// is reserved for the tenant's units in flight, so the reservations always sum back to zero exactly.
#include "policies/admission_controller.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sluice::policies {

namespace {

using seconds_d = std::chrono::duration<double>;

constexpr double initial_expected_cost = 0.001;  // s, until the tenant's first release
constexpr double min_expected_cost = 1e-6;       // s, so that every admission advances F
constexpr double cost_ewma_weight = 1.0 / 8.0;
constexpr double budget_window = 1.0;            // s of max_db_time_per_s that may be saved up
constexpr double min_budget_cap = 0.001;         // s
constexpr double longest_ns = 1e18;              // ~31 years: longer intervals are clamped

double to_seconds(nanoseconds d) noexcept { return std::chrono::duration_cast<seconds_d>(d).count(); }

nanoseconds clamp_ns(double ns) noexcept {
  if (!(ns > 0)) return nanoseconds(0);
  return nanoseconds(static_cast<std::int64_t>(std::min(ns, longest_ns)));
}

}  // namespace

admission_controller::admission_controller(const qos_policy& policy, time_point now)
    : max_active_(policy.max_active) {
  tenants_.reserve(policy.tenants.size());
  for (const auto& tenant : policy.tenants) {
    tenant_state& state = tenants_.emplace_back();
    state.bucket_tat = now;
    state.expected_cost = initial_expected_cost;
    apply_policy(state, tenant, now);
  }
}

void admission_controller::apply_policy(tenant_state& state, const tenant_policy& policy,
                                        time_point now) {
  state.policy = policy;
  state.share = policy.db_time_share > 0 && std::isfinite(policy.db_time_share) ? policy.db_time_share : 1.0;

  // Token bucket. A change of rate keeps the bucket's level: the part of the TAT still ahead of now
  // (spent emission intervals) is rescaled to the new interval. A tenant that was unlimited has a
  // TAT in the past, so max(t, TAT) gives it a full bucket.
  const bool was_open = state.bucket_limited && !state.bucket_closed;
  const nanoseconds old_interval = state.emission_interval;
  state.bucket_limited = policy.max_qps.has_value();
  state.bucket_closed = false;
  if (state.bucket_limited) {
    const double qps = *policy.max_qps;
    state.bucket_closed = !(qps > 0);
    if (!state.bucket_closed) {
      const double interval = std::max(1.0, std::round(std::min(1e9 / qps, longest_ns)));
      state.emission_interval = nanoseconds(static_cast<std::int64_t>(interval));
      double burst = policy.burst.value_or(std::max(1.0, qps / 10.0));
      if (!(burst >= 1.0)) burst = 1.0;
      state.bucket_tolerance = clamp_ns(std::round((burst - 1.0) * interval));
      if (was_open && state.bucket_tat > now && state.emission_interval != old_interval) {
        const double ahead = static_cast<double>((state.bucket_tat - now).count());
        state.bucket_tat = now + clamp_ns(std::round(ahead * interval /
                                                     static_cast<double>(old_interval.count())));
      }
    }
  }

  // Database-time budget: bring it up to date at the old rate, then clamp to the new cap. A tenant
  // that gets the limit now starts with a full budget.
  const bool was_limited = state.budget_limited;
  if (was_limited) refill_budget(state, now);
  state.budget_limited = policy.max_db_time_per_s.has_value();
  if (state.budget_limited) {
    const double rate = *policy.max_db_time_per_s;
    state.budget_rate = rate > 0 ? rate : 0.0;
    state.budget_cap = rate > 0 ? std::max(rate * budget_window, min_budget_cap) : 0.0;
    state.db_budget = was_limited ? std::min(state.db_budget, state.budget_cap) : state.budget_cap;
    state.db_budget_at = now;
  }
}

void admission_controller::reconfigure(const qos_policy& policy, time_point now) {
  max_active_ = policy.max_active;
  std::vector<bool> matched(policy.tenants.size(), false);
  for (auto& state : tenants_) {
    std::size_t found = npos;
    for (std::size_t j = 0; j < policy.tenants.size(); ++j) {
      if (policy.tenants[j].name == state.policy.name) {
        found = j;
        break;
      }
    }
    if (found != npos) {
      matched[found] = true;
      state.retired = false;
      apply_policy(state, policy.tenants[found], now);
    } else {
      // Gone from the policy: an unrestricted slot under the old name, so that its admissions in
      // flight can be released and its queued units go (subject to max_active).
      tenant_policy unrestricted;
      unrestricted.name = state.policy.name;
      state.retired = true;
      apply_policy(state, unrestricted, now);
    }
  }
  for (std::size_t j = 0; j < policy.tenants.size(); ++j) {
    if (matched[j] || tenant_index(policy.tenants[j].name) != npos) continue;  // (a duplicate name)
    tenant_state& state = tenants_.emplace_back();
    state.bucket_tat = now;
    state.expected_cost = initial_expected_cost;
    state.virtual_time = system_virtual_time_;
    apply_policy(state, policy.tenants[j], now);
  }
}

std::size_t admission_controller::tenant_index(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < tenants_.size(); ++i) {
    if (tenants_[i].policy.name == name) return i;
  }
  return npos;
}

void admission_controller::refill_budget(tenant_state& state, time_point now) noexcept {
  if (now <= state.db_budget_at) return;
  if (state.budget_rate > 0) {
    const double earned = state.budget_rate * to_seconds(now - state.db_budget_at);
    state.db_budget = std::min(state.db_budget + earned, state.budget_cap);
  }
  state.db_budget_at = now;
}

time_point admission_controller::bucket_ready(const tenant_state& state) noexcept {
  if (!state.bucket_limited) return time_point::min();
  if (state.bucket_closed) return time_point::max();
  return state.bucket_tat - state.bucket_tolerance;
}

time_point admission_controller::budget_ready(const tenant_state& state) noexcept {
  if (!state.budget_limited) return time_point::min();
  if (!(state.budget_rate > 0)) return time_point::max();  // a limit of zero admits nothing
  if (state.db_budget >= 0) return time_point::min();
  // The first whole nanosecond at which refilling has repaid the debt.
  const double wait_ns = std::ceil(-state.db_budget / state.budget_rate * 1e9);
  if (wait_ns >= longest_ns) return time_point::max();
  return state.db_budget_at + nanoseconds(static_cast<std::int64_t>(wait_ns));
}

time_point admission_controller::own_ready(const tenant_state& state) noexcept {
  const auto& limit = state.policy.max_concurrency;
  if (limit && state.in_flight >= *limit) return time_point::max();
  return std::max(bucket_ready(state), budget_ready(state));
}

limit_kind admission_controller::own_limit(const tenant_state& state, time_point now) noexcept {
  const auto& concurrency = state.policy.max_concurrency;
  if (concurrency && state.in_flight >= *concurrency) return limit_kind::max_concurrency;
  if (now < bucket_ready(state)) return limit_kind::max_qps;
  if (now < budget_ready(state)) return limit_kind::max_db_time_per_s;
  return limit_kind::none;
}

bool admission_controller::waiting_for_capacity(time_point now) const noexcept {
  if (max_active_ == 0 || queued_total_ == 0) return false;
  for (const auto& state : tenants_) {
    if (!state.queue.empty() && own_limit(state, now) == limit_kind::none) return true;
  }
  return false;
}

void admission_controller::admit(tenant_state& state, time_point now, nanoseconds waited) noexcept {
  if (state.bucket_limited) state.bucket_tat = std::max(state.bucket_tat, now) + state.emission_interval;
  const double cost = state.expected_cost;
  if (state.budget_limited) {
    refill_budget(state, now);
    // Eligible means repaid by now (budget_ready); clamp away rounding below zero.
    state.db_budget = std::max(state.db_budget, 0.0) - cost;
  }
  state.reserved_cost += cost;
  system_virtual_time_ = std::max(system_virtual_time_, state.virtual_time);
  state.virtual_time += cost / state.share;
  ++state.in_flight;
  ++active_;
  ++state.counters.admitted;
  state.queue_wait.record(waited);
}

admission admission_controller::request(std::size_t tenant, waiter_id id, time_point now) {
  tenant_state& state = tenants_[tenant];
  limit_kind limit = own_limit(state, now);
  // FIFO within a tenant; a newcomer never passes units waiting for capacity (the fair order in
  // poll() decides between them).
  if (limit == limit_kind::none &&
      (!state.queue.empty() || capacity_exhausted() || waiting_for_capacity(now))) {
    limit = limit_kind::max_active;
  }
  if (limit == limit_kind::none) {
    state.virtual_time = std::max(state.virtual_time, system_virtual_time_);  // (its queue is empty)
    admit(state, now, nanoseconds(0));
    return {verdict::admitted, limit_kind::none};
  }
  state.counters.last_limit = limit;
  if (state.policy.max_queue && state.queue.size() >= *state.policy.max_queue) {
    ++state.counters.refused_queue_full;
    return {verdict::refused, limit_kind::max_queue};
  }
  if (state.queue.empty()) state.virtual_time = std::max(state.virtual_time, system_virtual_time_);
  state.queue.push_back({id, now});
  ++queued_total_;
  return {verdict::queued, limit};
}

bool admission_controller::cancel(std::size_t tenant, waiter_id id, bool timed_out, time_point) {
  tenant_state& state = tenants_[tenant];
  const auto it = std::find_if(state.queue.begin(), state.queue.end(),
                               [id](const queued_unit& unit) { return unit.id == id; });
  if (it == state.queue.end()) return false;
  state.queue.erase(it);
  --queued_total_;
  ++(timed_out ? state.counters.refused_timeout : state.counters.abandoned);
  return true;
}

void admission_controller::release(std::size_t tenant, nanoseconds db_time, time_point admitted_at,
                                   time_point now) {
  tenant_state& state = tenants_[tenant];
  const nanoseconds measured = std::max(db_time, nanoseconds(0));
  const double actual = to_seconds(measured);
  const double charged = state.in_flight > 0 ? state.reserved_cost / state.in_flight : 0.0;
  if (state.in_flight > 0) {  // (a release without an admission frees nothing)
    --state.in_flight;
    if (active_ > 0) --active_;
  }
  state.reserved_cost = state.in_flight == 0 ? 0.0 : state.reserved_cost - charged;

  const double correction = actual - charged;
  if (state.budget_limited) {
    refill_budget(state, now);
    state.db_budget = std::min(state.db_budget - correction, state.budget_cap);
  }
  state.virtual_time += correction / state.share;

  state.expected_cost = state.cost_observed
                            ? state.expected_cost + (actual - state.expected_cost) * cost_ewma_weight
                            : actual;
  state.expected_cost = std::max(state.expected_cost, min_expected_cost);
  state.cost_observed = true;

  state.counters.db_time_total += measured;
  state.latency.record(now - admitted_at);
}

void admission_controller::poll(time_point now, std::vector<waiter_id>& admitted) {
  while (!capacity_exhausted()) {
    tenant_state* best = nullptr;
    for (auto& state : tenants_) {
      if (state.queue.empty() || own_limit(state, now) != limit_kind::none) continue;
      const bool better = best == nullptr || state.virtual_time < best->virtual_time ||
                          (state.virtual_time == best->virtual_time &&
                           state.queue.front().since < best->queue.front().since);
      if (better) best = &state;
    }
    if (best == nullptr) return;
    const queued_unit unit = best->queue.front();
    best->queue.pop_front();
    --queued_total_;
    ++best->counters.delayed;
    admit(*best, now, now - unit.since);
    admitted.push_back(unit.id);
  }
}

time_point admission_controller::next_wakeup() const noexcept {
  if (capacity_exhausted()) return time_point::max();  // a release comes first, and poll() after it
  time_point earliest = time_point::max();
  for (const auto& state : tenants_) {
    if (state.queue.empty()) continue;
    const time_point ready = own_ready(state);
    if (ready == time_point::max()) continue;
    // Not held at all (poll() not called since): due now, reported as when it was queued.
    earliest = std::min(earliest, std::max(ready, state.queue.front().since));
  }
  return earliest;
}

time_point admission_controller::deadline_for(std::size_t tenant, time_point queued_at) const noexcept {
  const auto& max_wait = tenants_[tenant].policy.max_wait;
  if (!max_wait) return time_point::max();
  const auto wait = std::chrono::duration_cast<nanoseconds>(*max_wait);
  if (wait <= nanoseconds(0)) return queued_at;
  if (queued_at > time_point::max() - wait) return time_point::max();
  return queued_at + wait;
}

tenant_stats admission_controller::stats(std::size_t tenant) const {
  const tenant_state& state = tenants_[tenant];
  tenant_stats out = state.counters;
  out.name = state.policy.name;
  out.policy = state.policy;
  out.in_flight = state.in_flight;
  out.queued = static_cast<std::uint32_t>(state.queue.size());
  out.queue_wait_p50 = state.queue_wait.percentile(0.5);
  out.queue_wait_p99 = state.queue_wait.percentile(0.99);
  out.latency_p50 = state.latency.percentile(0.5);
  out.latency_p99 = state.latency.percentile(0.99);
  out.virtual_time = state.virtual_time;
  return out;
}

}  // namespace sluice::policies
