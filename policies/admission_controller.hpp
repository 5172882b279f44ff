// Tenant admission: the pure core of QoS. Every transaction (or statement outside one) asks to be
// admitted for its tenant; the controller admits it now, queues it, or refuses it, by the tenant's
// token bucket (max_qps), database-time budget (max_db_time_per_s), concurrency (max_concurrency),
// queue bounds (max_queue, max_wait) and, when the proxy-wide capacity (max_active) is reached, by
// weighted fair order of the database time each tenant used (db_time_share). Not thread-safe: the
// router wraps one instance in a mutex, which makes every limit exact across worker threads.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "policies/common.hpp"
#include "policies/latency_histogram.hpp"
#include "policies/tenant_policy.hpp"

namespace sluice::policies {

using waiter_id = std::uint64_t;

// Which limit held or refused an admission.
enum class limit_kind {
  none,               // nothing held it
  max_qps,            // the token bucket was empty
  max_db_time_per_s,  // the database-time budget was spent
  max_concurrency,    // the tenant had max_concurrency admissions running
  max_active,         // the proxy-wide capacity was in use (fair queue)
  max_queue,          // refused: the tenant's queue was full
};

enum class verdict {
  admitted,  // go ahead now; call release() when done
  queued,    // wait; the id will come back from poll() (or call cancel() on giving up)
  refused,   // do not run it (max_queue reached); nothing to release
};

struct admission {
  verdict outcome = verdict::admitted;
  limit_kind limit = limit_kind::none;  // queued/refused: the limit that held it
};

// Per-tenant counters and gauges, copied out for the admin API and logs.
struct tenant_stats {
  std::string name;
  tenant_policy policy;
  std::uint64_t admitted = 0;        // all admissions, immediate or after waiting
  std::uint64_t delayed = 0;         // admissions that waited first
  std::uint64_t refused_queue_full = 0;  // max_queue
  std::uint64_t refused_timeout = 0;     // max_wait (or the caller's deadline) passed while queued
  std::uint64_t abandoned = 0;       // the client left while queued
  std::uint32_t in_flight = 0;       // admitted, not yet released
  std::uint32_t queued = 0;          // waiting now
  nanoseconds db_time_total{0};      // database time of released admissions
  nanoseconds queue_wait_p50{0}, queue_wait_p99{0};   // over admissions (0 for immediate ones)
  nanoseconds latency_p50{0}, latency_p99{0};         // admission to release
  double virtual_time = 0;           // fair-queue position (seconds of db time / share)
  limit_kind last_limit = limit_kind::none;  // what held its most recent queued admission
};

class admission_controller {
 public:
  explicit admission_controller(const qos_policy& policy, time_point now);

  // Applies new policies. Tenants keep their index (a name that disappears stays as an unrestricted,
  // retired slot so admissions in flight can still be released); new names are appended; counters,
  // in-flight counts, queues and fair-queue positions survive. Indexes match tenant_rules built from
  // the same policy only if callers build the rules with tenant_index() of this controller; see
  // tenant_names().
  void reconfigure(const qos_policy& policy, time_point now);

  std::size_t tenant_count() const noexcept { return tenants_.size(); }
  std::size_t tenant_index(std::string_view name) const noexcept;  // npos when unknown
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // Asks to admit one unit for `tenant`. When queued, `id` identifies it later. Never allocates when
  // the answer is `admitted` or `refused`.
  admission request(std::size_t tenant, waiter_id id, time_point now);

  // A queued unit gives up: `timed_out` (counted as refused_timeout) or the client left (abandoned).
  // Returns false when `id` is not queued (it was admitted meanwhile: the caller must release it).
  bool cancel(std::size_t tenant, waiter_id id, bool timed_out, time_point now);

  // An admitted unit finished. `db_time`: how long servers were busy on it (sum over its statements);
  // `admitted_at`: when it was admitted (for the latency percentiles).
  void release(std::size_t tenant, nanoseconds db_time, time_point admitted_at, time_point now);

  // Admits queued units that may go now, in fair order, appending their ids to `admitted`. Call after
  // release(), reconfigure(), and when next_wakeup() passes.
  void poll(time_point now, std::vector<waiter_id>& admitted);

  // When a queued unit held only by time (token bucket or db-time budget) becomes admissible;
  // time_point::max() when none is.
  time_point next_wakeup() const noexcept;

  // When queued unit `id` must be refused (its tenant's max_wait); time_point::max() without max_wait.
  // (Callers may impose a shorter deadline of their own.)
  time_point deadline_for(std::size_t tenant, time_point queued_at) const noexcept;

  tenant_stats stats(std::size_t tenant) const;
  const std::string& tenant_name(std::size_t tenant) const { return tenants_[tenant].policy.name; }
  const tenant_policy& policy(std::size_t tenant) const { return tenants_[tenant].policy; }
  // True when the tenant's name vanished in a reconfigure (its slot stays, unrestricted).
  bool retired(std::size_t tenant) const noexcept { return tenants_[tenant].retired; }
  // What held the tenant's most recent queued unit (stats().last_limit without copying anything).
  limit_kind last_limit(std::size_t tenant) const noexcept { return tenants_[tenant].counters.last_limit; }
  std::uint32_t active() const noexcept { return active_; }
  std::uint32_t max_active() const noexcept { return max_active_; }

 private:
  // Implementation detail: the helper that writes admission_controller.cpp owns this section.
  struct queued_unit {
    waiter_id id;
    time_point since;
  };
  struct tenant_state {
    tenant_policy policy;
    bool retired = false;
    // GCRA token bucket (theoretical arrival time), integer nanoseconds so it is exact.
    bool bucket_limited = false;        // max_qps set
    bool bucket_closed = false;         // max_qps <= 0: nothing conforms
    nanoseconds emission_interval{0};   // T = 1 s / max_qps
    nanoseconds bucket_tolerance{0};    // tau = (burst - 1) * T
    time_point bucket_tat{};
    // Database-time budget: seconds of db time that may still be spent (negative: in debt).
    bool budget_limited = false;        // max_db_time_per_s set
    double budget_rate = 0;             // refill, db seconds per second (<= 0: closed)
    double budget_cap = 0;              // most that can be saved up, seconds
    double db_budget = 0;
    time_point db_budget_at{};          // when db_budget was last brought up to date
    std::uint32_t in_flight = 0;
    std::deque<queued_unit> queue;
    double virtual_time = 0;
    double share = 1.0;                 // db_time_share, sanitised
    // EWMA of a unit's db time, seconds: charged at admission, corrected at release.
    double expected_cost = 0;
    bool cost_observed = false;         // expected_cost is still the initial guess until the first release
    double reserved_cost = 0;           // sum of expected costs charged for the units in flight, seconds
    latency_histogram queue_wait;
    latency_histogram latency;
    tenant_stats counters;
  };

  void apply_policy(tenant_state& state, const tenant_policy& policy, time_point now);
  void admit(tenant_state& state, time_point now, nanoseconds waited) noexcept;
  bool capacity_exhausted() const noexcept { return max_active_ != 0 && active_ >= max_active_; }
  // Some queued unit that its own limits let go waits for capacity (poll() has not run since a
  // release or a wakeup): a newcomer queues too, so that the fair order decides.
  bool waiting_for_capacity(time_point now) const noexcept;
  // The tenant's own limit that holds its next unit at `now` (none: its limits let it go).
  static limit_kind own_limit(const tenant_state& state, time_point now) noexcept;
  // From when its own limits let the tenant's next unit go: time_point::min() if nothing time-based
  // holds it, time_point::max() if time alone will not (concurrency, a limit of zero).
  static time_point own_ready(const tenant_state& state) noexcept;
  static time_point bucket_ready(const tenant_state& state) noexcept;
  static time_point budget_ready(const tenant_state& state) noexcept;
  static void refill_budget(tenant_state& state, time_point now) noexcept;

  std::vector<tenant_state> tenants_;
  std::uint32_t max_active_ = 0;
  std::uint32_t active_ = 0;
  std::size_t queued_total_ = 0;    // units queued over all tenants
  double system_virtual_time_ = 0;  // start tag of the latest admission (SFQ's v(t)), never decreases
};

}  // namespace sluice::policies
