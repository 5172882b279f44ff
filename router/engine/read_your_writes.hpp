// read_your_writes for one session: which commit position its reads must see, and the publication of
// its own commits to the sessions of its consistency_scope. Protocol-neutral: a position is a
// PostgreSQL WAL position (LSN) here, and a GTID sequence number for MariaDB.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "router/classify/classifier.hpp"
#include "router/engine/backend_view.hpp"

namespace sluice::router::engine {

// read_your_writes state shared by the sessions of one consistency_scope (a user's, or everyone's):
// written once per write unit, read with a few loads per read (no lock).
struct commit_mark {
  std::atomic<std::uint64_t> lsn{0};        // the latest commit position published (raised as a max)
  std::atomic<std::int64_t> unflushed_until{0};  // steady_clock ticks: until then the latest commit may
                                                 // not be flushed (synchronous_commit = off), so no
                                                 // replica can have it and reads go to the primary

  void publish(std::uint64_t position, std::int64_t unflushed_deadline) noexcept {
    auto seen = lsn.load(std::memory_order_relaxed);
    while (seen < position && !lsn.compare_exchange_weak(seen, position, std::memory_order_relaxed)) {
    }
    auto until = unflushed_until.load(std::memory_order_relaxed);
    while (until < unflushed_deadline &&
           !unflushed_until.compare_exchange_weak(until, unflushed_deadline, std::memory_order_relaxed)) {
    }
  }
};

// What a read must see.
struct read_requirement {
  std::uint64_t position = 0;  // a replica must have replayed this far (0: any replica will do)
  // Until then the latest commit may not be flushed on the primary: a replica is asked whether it has
  // it already, without waiting for it.
  std::chrono::steady_clock::time_point unflushed_until{};
};

class read_your_writes {
 public:
  // How long after a commit that was not flushed yet (synchronous_commit = off) no replica can have
  // it: the WAL writer flushes within wal_writer_delay (200 ms by default).
  static constexpr std::chrono::milliseconds unflushed_commit_window{200};

  // At login. `user_commits`: where this session's commits are published for its user's sessions
  // (they are published proxy-wide too); `scope_commits`: the mark its reads must reach as well
  // (nullptr for consistency_scope = "session"); `global_scope`: ... and the primary's position at its
  // latest probe.
  void configure(bool enabled, commit_mark* user_commits, commit_mark* scope_commits, bool global_scope) noexcept;
  bool enabled() const noexcept { return enabled_; }

  // What a read classified with `hint` must see. A `/* sluice: replica */` hint reads whatever a
  // replica has. A requirement every replica meets is forgotten.
  read_requirement requirement(classify::hint hint, const backend_view& view) noexcept;

  // Work went to the primary where a later read may leave it: its commit position is due at the
  // unit's end.
  void note_write() noexcept { position_due_ = enabled_; }
  bool position_due() const noexcept { return position_due_; }
  // The position is shared with other sessions: the client's answer waits for its publication, so a
  // read it sends at once on another connection cannot miss the commit.
  bool holds_answer() const noexcept { return position_due_ && scope_commits_ != nullptr; }
  // The position is being taken (or cannot be): not due any more.
  void clear_due() noexcept { position_due_ = false; }
  // The commit's position on the primary; `flushed` < `position` when it was not flushed yet.
  void publish(std::uint64_t position, std::uint64_t flushed, commit_mark& global,
               std::chrono::steady_clock::time_point now) noexcept;

 private:
  bool enabled_ = false;        // consistency = read_your_writes for this user
  bool position_due_ = false;   // work routed to the primary since the last commit position taken
  std::uint64_t required_ = 0;  // this session's own reads must see at least this position
  commit_mark* user_commits_ = nullptr;
  commit_mark* scope_commits_ = nullptr;
  bool global_scope_ = false;
  // Until then this session's last commit may not be flushed on the primary (synchronous_commit = off):
  // a replica checked for it is asked without waiting (see read_requirement::unflushed_until).
  std::chrono::steady_clock::time_point unflushed_until_{};
};

}  // namespace sluice::router::engine
