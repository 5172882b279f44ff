// backend_choice: replica choice with read_your_writes and routing.fallback, moved here from the
// PostgreSQL session's attach so that every front end places reads the same way.
#include "router/engine/backend_choice.hpp"

#include "router/worker.hpp"

namespace sluice::router::engine {

backend_choice::backend_choice(backend_view& view, const config::routing_config& routing, worker_stats& stats,
                               classify::route target, read_requirement need)
    : view_(view), routing_(routing), stats_(stats), target_(target), need_(need) {}

placement backend_choice::first() {
  if (target_ != classify::route::replica) return {};
  return pick_read();
}

placement backend_choice::replica_unreachable(std::size_t backend) {
  tried_.set(backend);
  return pick_read();
}

placement backend_choice::replica_behind() {
  ++stats_.causal_primary_reads;
  return {};
}

placement backend_choice::pick_read() {
  if (auto chosen = view_.choose_replica(tried_, need_.position)) return {placement::kind::replica, *chosen};
  if (need_.position != 0) {
    // No probe shows the commit replayed yet (it is younger than the last probe): check the replica
    // that was furthest along, the likeliest to have it within causal_wait. A commit whose WAL the
    // primary had not flushed yet (synchronous_commit = off) reaches no replica before the WAL
    // writer's next round: that replica is asked whether it has it already, without waiting.
    if (auto advanced = view_.most_advanced_replica(tried_)) {
      // The clock at this pick (a replica that failed before it may have taken connect_timeout).
      const bool unflushed = std::chrono::steady_clock::now() < need_.unflushed_until;
      const auto wait = unflushed ? std::chrono::milliseconds{0} : routing_.causal_wait;
      return {placement::kind::replica, *advanced, true, wait};
    }
  }
  return fall_back();
}

// Where a read goes when no replica can take it (routing.fallback).
placement backend_choice::fall_back() {
  if (routing_.fallback == config::read_fallback::error) {
    ++stats_.fallback_errors;
    return {placement::kind::refused};
  }
  ++stats_.replica_fallbacks;
  return {};
}

}  // namespace sluice::router::engine
