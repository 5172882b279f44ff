// read_your_writes: the requirement a read carries and the publication of commits (docs/scoring.md,
// "read your writes").
#include "router/engine/read_your_writes.hpp"

#include <algorithm>

namespace sluice::router::engine {

void read_your_writes::configure(bool enabled, commit_mark* user_commits, commit_mark* scope_commits,
                                 bool global_scope) noexcept {
  enabled_ = enabled;
  user_commits_ = user_commits;
  scope_commits_ = scope_commits;
  global_scope_ = global_scope;
}

read_requirement read_your_writes::requirement(classify::hint hint, const backend_view& view) noexcept {
  read_requirement need;
  need.unflushed_until = unflushed_until_;
  if (!enabled_ || hint == classify::hint::replica) return need;
  // Replicas known (from probes) to have replayed the position qualify with no extra round trip;
  // otherwise the engine checks one directly (backend_choice).
  need.position = required_;
  if (scope_commits_) {
    need.position = std::max(need.position, scope_commits_->lsn.load(std::memory_order_relaxed));
    const std::chrono::steady_clock::duration shared_unflushed{
        scope_commits_->unflushed_until.load(std::memory_order_relaxed)};
    need.unflushed_until = std::max(need.unflushed_until, std::chrono::steady_clock::time_point(shared_unflushed));
  }
  if (global_scope_) need.position = std::max(need.position, view.primary_probe_position());
  if (need.position != 0 && view.all_replicas_reached(need.position)) required_ = need.position = 0;
  return need;
}

void read_your_writes::publish(std::uint64_t position, std::uint64_t flushed, commit_mark& global,
                               std::chrono::steady_clock::time_point now) noexcept {
  if (position > required_) required_ = position;
  if (flushed < position) unflushed_until_ = now + unflushed_commit_window;
  const auto unflushed = flushed < position ? unflushed_until_.time_since_epoch().count() : 0;
  if (user_commits_) user_commits_->publish(position, unflushed);
  global.publish(position, unflushed);
}

}  // namespace sluice::router::engine
