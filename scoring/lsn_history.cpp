// Ring of the primary's observed LSNs (see lsn_history.hpp).
#include "scoring/lsn_history.hpp"

namespace sluice::scoring {

void lsn_history::record(time_point observed_at, std::uint64_t lsn) noexcept {
  if (size_ > 0) {
    entry& newest = slot(size_ - 1);
    if (observed_at < newest.last_seen) return;  // out of order: we already know better
    if (lsn == newest.lsn) {
      newest.last_seen = observed_at;
      return;
    }
    if (lsn < newest.lsn) clear();  // LSN went back: another primary or timeline
  }
  if (size_ == capacity) {
    head_ = (head_ + 1) % capacity;
    --size_;
  }
  slot(size_) = entry{lsn, observed_at, observed_at};
  ++size_;
}

lsn_history::lookup_result lsn_history::last_seen_at_or_below(std::uint64_t lsn) const noexcept {
  if (size_ == 0) return {match::empty, {}};
  if (lsn < at(0).lsn) return {match::older_than_history, at(0).first_seen};
  // Entries are strictly increasing in LSN: binary search for the last one <= lsn.
  std::size_t low = 0;       // at(low).lsn <= lsn
  std::size_t high = size_;  // at(high).lsn > lsn, or past the end
  while (high - low > 1) {
    const std::size_t middle = low + (high - low) / 2;
    if (at(middle).lsn <= lsn) {
      low = middle;
    } else {
      high = middle;
    }
  }
  return {match::at_or_below, at(low).last_seen};
}

}  // namespace sluice::scoring
