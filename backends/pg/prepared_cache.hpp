// Which of sluice's named prepared statements exist on one server connection, bounded: past
// `capacity`, the least recently used is evicted and the caller Closes it on the server (as
// PgBouncer's max_prepared_statements). Sans-IO, std only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>
#include <unordered_map>

namespace sluice::backends::pg {

class prepared_cache {
 public:
  explicit prepared_cache(std::size_t capacity = 200) : capacity_(capacity == 0 ? 1 : capacity) {}

  bool contains(std::uint64_t id) const { return where_.contains(id); }

  // Marks `id` used now (it is evicted last). No-op when absent. No allocation.
  void touch(std::uint64_t id) {
    if (auto found = where_.find(id); found != where_.end()) order_.splice(order_.begin(), order_, found->second);
  }

  // Records `id` as prepared on the server. Returns the id evicted to make room (the caller must
  // Close it on the server), or 0 when nothing was evicted. Ids are never 0.
  std::uint64_t insert(std::uint64_t id) {
    if (auto found = where_.find(id); found != where_.end()) {
      order_.splice(order_.begin(), order_, found->second);
      return 0;
    }
    std::uint64_t evicted = 0;
    if (where_.size() >= capacity_) {
      evicted = order_.back();
      where_.erase(evicted);
      order_.pop_back();
    }
    order_.push_front(id);
    where_.emplace(id, order_.begin());
    return evicted;
  }

  // Puts back a statement whose eviction did not happen on the server (its Close was skipped after an
  // error), as the least recently used; may exceed the capacity by the ones put back until the next
  // insert evicts.
  void restore(std::uint64_t id) {
    if (where_.contains(id)) return;
    order_.push_back(id);
    where_.emplace(id, std::prev(order_.end()));
  }

  void erase(std::uint64_t id) {
    if (auto found = where_.find(id); found != where_.end()) {
      order_.erase(found->second);
      where_.erase(found);
    }
  }

  void clear() {
    order_.clear();
    where_.clear();
  }

  std::size_t size() const noexcept { return where_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }
  void set_capacity(std::size_t capacity) noexcept { capacity_ = capacity == 0 ? 1 : capacity; }

 private:
  std::size_t capacity_;
  std::list<std::uint64_t> order_;  // most recently used first
  std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> where_;
};

}  // namespace sluice::backends::pg
