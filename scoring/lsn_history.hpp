// The primary's recent WAL positions as sluice observed them, on sluice's own clock: the basis of a
// replica's time lag that needs no heartbeat writes and no comparison of two servers' clocks.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "scoring/common.hpp"

namespace sluice::scoring {

// A ring of (LSN, first seen, last seen) for the primary, one entry per distinct LSN. While the
// primary is idle its LSN does not move and its entry's last_seen advances, so the ring spans
// capacity probes of a busy primary (32 s at 250 ms) and much longer for an idle one.
//
// Why it gives time lag: a replica that has replayed up to LSN Y holds everything the primary had
// written the last time the primary was seen at an LSN <= Y. So its data is at most
// (now - that instant) old, within one probe interval, whatever the primary's commit pattern; an
// idle primary does not make it look late (pg_last_xact_replay_timestamp() alone does).
class lsn_history {
 public:
  static constexpr std::size_t capacity = 128;

  struct entry {
    std::uint64_t lsn = 0;
    time_point first_seen{};  // first observation of the primary at this LSN
    time_point last_seen{};   // latest observation of the primary at this LSN
  };

  enum class match {
    empty,               // nothing recorded yet
    at_or_below,         // `at` is the last instant the primary was seen at an LSN <= the one asked
    older_than_history,  // the primary was already past that LSN at the oldest entry, seen at `at`
  };

  struct lookup_result {
    match kind = match::empty;
    time_point at{};
  };

  // Records one observation of the primary (use server_instant() of its probe). Equal LSN extends the
  // newest entry; a higher one adds an entry (dropping the oldest when full); a lower one means a
  // different primary or timeline, so the history restarts. Observations older than the newest are
  // ignored.
  void record(time_point observed_at, std::uint64_t lsn) noexcept;

  // When was the primary last seen at or below `lsn`? See `match`.
  [[nodiscard]] lookup_result last_seen_at_or_below(std::uint64_t lsn) const noexcept;

  void clear() noexcept { size_ = 0; head_ = 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  // Entry `index` counted from the oldest (0) to the newest (size() - 1).
  [[nodiscard]] const entry& at(std::size_t index) const noexcept {
    return ring_[(head_ + index) % capacity];
  }

 private:
  entry& slot(std::size_t index) noexcept { return ring_[(head_ + index) % capacity]; }

  std::array<entry, capacity> ring_{};
  std::size_t head_ = 0;  // ring index of the oldest entry
  std::size_t size_ = 0;
};

}  // namespace sluice::scoring
