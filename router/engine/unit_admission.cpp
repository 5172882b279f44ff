// unit_admission: tenant QoS admission, the write gate and the wait for a stalled primary, moved here
// from the PostgreSQL session so that every front end admits units the same way (docs/qos.md,
// docs/operations.md on switchovers).
#include "router/engine/unit_admission.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <string>

#include "router/classify/classifier.hpp"
#include "router/worker.hpp"

namespace sluice::router::engine {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Per docs/qos.md: a concurrency limit that held the unit is tenant_concurrency (53300), a rate or
// database-time budget tenant_rate (53400).
refusal_code refusal_for(policies::limit_kind limit) {
  switch (limit) {
    case policies::limit_kind::max_qps:
    case policies::limit_kind::max_db_time_per_s:
      return refusal_code::tenant_rate;
    case policies::limit_kind::none:
    case policies::limit_kind::max_concurrency:
    case policies::limit_kind::max_active:
    case policies::limit_kind::max_queue:
      break;
  }
  return refusal_code::tenant_concurrency;
}

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// "max_concurrency=8", ... : the limit and its configured value, for refusal messages.
std::string describe_limit(policies::limit_kind limit, const policies::tenant_policy& policy,
                           std::uint32_t max_active) {
  switch (limit) {
    case policies::limit_kind::max_qps:
      return "max_qps=" + format_number(policy.max_qps.value_or(0));
    case policies::limit_kind::max_db_time_per_s:
      return "max_db_time_per_s=" + format_number(policy.max_db_time_per_s.value_or(0));
    case policies::limit_kind::max_concurrency:
      return "max_concurrency=" + std::to_string(policy.max_concurrency.value_or(0));
    case policies::limit_kind::max_active:
      return "its share of qos.max_active=" + std::to_string(max_active) + " (db_time_share=" +
             format_number(policy.db_time_share) + ")";
    case policies::limit_kind::max_queue:
      return "max_queue=" + std::to_string(policy.max_queue.value_or(0));
    case policies::limit_kind::none:
      break;
  }
  return "its limits";
}

void canceled(refusal& why) {
  why = {refusal_code::query_canceled, "canceling statement due to user request", {}};
}

}  // namespace

unit_admission::unit_admission(worker& owner, asio::ip::tcp::socket& client, admission_hooks& hooks)
    : owner_(owner), client_(client), hooks_(hooks) {}

unit_admission::~unit_admission() {
  owner_.shared().tenants.abandon(queued_);
  end();
}

bool unit_admission::cancel_wait() {
  if (!waiting_) return false;
  // Queued by QoS or held by the write gate: the statement has not started; the wait ends with 57014.
  cancel_requested_ = true;
  if (queued_.active()) queued_.entry->timer.cancel();
  return true;
}

std::size_t unit_admission::resolve_tenant(const session_identity& who, std::string_view sql) {
  auto& gate = owner_.shared().tenants;
  const policies::tenant_rules::session_identity identity{who.user, who.database, who.application_name};
  if (const auto generation = gate.generation(); generation != tenant_rules_generation_) {
    // First unit, or the policies were reloaded: resolve the session's tenant again.
    tenant_rules_ = gate.rules();
    tenant_rules_generation_ = generation;
    session_tenant_ = tenant_rules_->resolve_session_only(identity);
  }
  if (session_tenant_ != policies::tenant_rules::npos) return session_tenant_;
  return tenant_rules_->resolve(identity, [sql](std::string_view key) { return classify::find_tag(sql, key); });
}

asio::awaitable<verdict> unit_admission::admit(const session_identity& who, std::string_view sql, refusal& why) {
  using namespace asio::experimental::awaitable_operators;
  auto& gate = owner_.shared().tenants;
  const std::size_t tenant = resolve_tenant(who, sql);  // before any suspension: `sql` is the client's buffer
  cancel_requested_ = false;
  auto result = gate.start(tenant, owner_.io(), queued_);
  if (queued_.active()) {
    // Queued. Sleep on the admission's timer until admitted or the deadline, and watch the client
    // meanwhile: one that leaves or cancels gives its place up, and nothing is run for it.
    waiting_ = true;
    if (!co_await hooks_.flush_client()) {
      gate.abandon(queued_);
      waiting_ = false;
      co_return verdict::client_gone;
    }
    bool watch_client = true;
    for (;;) {
      // Checked before each sleep: an admission or a cancel that came while this coroutine was
      // suspended elsewhere (the flush above) cancelled a timer nobody was waiting on yet.
      if (cancel_requested_) {
        gate.abandon(queued_);
        waiting_ = false;
        canceled(why);
        co_return verdict::refused;
      }
      if (gate.check(queued_, result) != qos::queued_state::waiting) break;
      auto& timer = queued_.entry->timer;
      timer.expires_at(queued_.deadline);
      if (watch_client) {
        const auto woke = co_await (timer.async_wait(use_tuple) ||
                                    client_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple));
        if (woke.index() == 1) {
          if (hooks_.client_left()) {
            gate.abandon(queued_);
            waiting_ = false;
            co_return verdict::client_gone;
          }
          watch_client = false;  // pipelined requests: they are read after this one is admitted
        }
      } else {
        co_await timer.async_wait(use_tuple);
      }
    }
    waiting_ = false;
  }
  if (!result.admitted) {
    const auto policy = gate.policy(tenant);
    const double waited = std::chrono::duration<double>(result.waited).count();
    std::string message = "sluice: tenant '" + gate.tenant_name(tenant) + "' ";
    if (result.refusal == policies::limit_kind::max_queue) {
      message += "has max_queue=" + std::to_string(policy.max_queue.value_or(0)) + " statements waiting already (held by " +
                 describe_limit(result.limit, policy, gate.max_active()) + ")";
    } else {
      message += "exceeded " + describe_limit(result.limit, policy, gate.max_active()) + "; queued " +
                 format_seconds(waited) + (result.bounded_by_max_wait ? " (max_wait)" : " (pool.query_wait_timeout)");
    }
    why = {refusal_for(result.limit), std::move(message), {}};
    co_return verdict::refused;
  }
  admitted_ = true;
  tenant_ = tenant;
  admitted_at_ = std::chrono::steady_clock::now();
  db_time_ = {};
  co_return verdict::go;
}

// The primary stopped answering probes without losing its role (a stall): the write waits, as it would
// at the write gate during a switchover, until a primary answers again (the same one, or one a failover
// promoted) or failover.hold_timeout has passed since the stall began. The worker's picture changes with
// each probe, so a short timer re-reads it; a cancel ends the wait with query_canceled.
asio::awaitable<stall_wait> unit_admission::wait_for_stalled_primary(std::chrono::steady_clock::time_point since,
                                                                     refusal& why) {
  const auto deadline = since + owner_.shared().cfg().failover.hold_timeout;
  asio::steady_timer tick(client_.get_executor());
  cancel_requested_ = false;
  waiting_ = true;
  auto result = stall_wait::timed_out;
  for (;;) {
    const auto writes = owner_.primary();
    if (writes.backend) {
      result = stall_wait::primary_back;
      break;
    }
    if (!writes.stalled_since || std::chrono::steady_clock::now() >= deadline) break;
    tick.expires_after(stall_poll_interval);
    co_await tick.async_wait(use_tuple);
    if (cancel_requested_ || hooks_.client_left()) {
      result = stall_wait::cancelled;
      break;
    }
  }
  waiting_ = false;
  if (result == stall_wait::cancelled) {
    cancel_requested_ = false;
    canceled(why);
  }
  co_return result;
}

bool unit_admission::write_gate_open_now() {
  if (on_primary_) return true;
  auto& gate = owner_.shared().writes;
  gate.enter();  // counted first, then the gate looked at: see pass_write_gate
  if (gate.held_now()) {
    gate.leave();
    return false;
  }
  on_primary_ = true;
  return true;
}

asio::awaitable<verdict> unit_admission::pass_write_gate(refusal& why) {
  if (on_primary_) co_return verdict::go;  // this unit is counted already
  auto& gate = owner_.shared().writes;
  // Count the unit first, then look at the gate: the orchestrator closes the gate first, then looks
  // at the count (both sequentially consistent), so one of the two always sees the other.
  gate.enter();
  while (gate.held_now()) {
    gate.leave();
    // A cancel counts for this wait only: left set, it would end every later wait at once.
    cancel_requested_ = false;
    waiting_ = true;
    const auto passed = co_await gate.pass(owner_.io(), &cancel_requested_);
    waiting_ = false;
    if (passed == failover::pass_result::cancelled) {
      cancel_requested_ = false;
      canceled(why);
      co_return verdict::refused;
    }
    if (passed != failover::pass_result::open) {
      ++owner_.stats().writes_refused;
      why = {refusal_code::writes_held,
             passed == failover::pass_result::timed_out
                 ? "sluice: writes are held for a switchover or failover that did not finish within "
                   "failover.hold_timeout"
                 : "sluice: writes are held for a switchover or failover and failover.max_held are waiting already",
             {}};
      co_return verdict::refused;
    }
    gate.enter();
  }
  on_primary_ = true;
  co_return verdict::go;
}

void unit_admission::end() {
  // Releases whatever is held even when begin() was not called (a front end that forgot it must not
  // leave a count behind that a switchover would wait for forever).
  open_ = false;
  if (admitted_) {
    admitted_ = false;
    owner_.shared().tenants.release(tenant_, db_time_, admitted_at_);
  }
  if (on_primary_) {
    on_primary_ = false;
    owner_.shared().writes.leave();
  }
  db_time_ = {};
}

std::optional<std::size_t> unit_admission::tenant() const noexcept {
  if (admitted_) return tenant_;
  if (session_tenant_ != policies::tenant_rules::npos) return session_tenant_;
  return std::nullopt;
}

}  // namespace sluice::router::engine
