// Proxy-wide connection budget and cross-worker waiter FIFO (see pool_budget.hpp).
#include "backends/pool/pool_budget.hpp"

#include <algorithm>

namespace sluice::backends::pool {

bool pool_budget::try_reserve() noexcept {
  auto current = count_.load(std::memory_order_seq_cst);
  while (current < max_.load(std::memory_order_seq_cst)) {
    if (count_.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst)) return true;
  }
  return false;
}

bool pool_budget::enqueue_or_reserve(pool_waiter* w) {
  std::lock_guard lock(mutex_);
  waiting_.fetch_add(1, std::memory_order_seq_cst);
  if (try_reserve()) {
    // Budget was freed between the caller's failed reservation and now, by a releaser that saw no
    // waiter (so nobody else was told of it): the caller takes it.
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    return false;
  }
  waiters_.push_back(w);
  return true;
}

bool pool_budget::remove(pool_waiter* w) {
  std::lock_guard lock(mutex_);
  const auto at = std::find(waiters_.begin(), waiters_.end(), w);
  if (at == waiters_.end()) return false;
  waiters_.erase(at);
  waiting_.fetch_sub(1, std::memory_order_seq_cst);
  return true;
}

pool_waiter* pool_budget::pop() {
  std::lock_guard lock(mutex_);
  if (waiters_.empty()) return nullptr;
  auto* w = waiters_.front();
  waiters_.pop_front();
  waiting_.fetch_sub(1, std::memory_order_seq_cst);
  return w;
}

pool_waiter* pool_budget::pop_with_slot() {
  std::lock_guard lock(mutex_);
  if (waiters_.empty() || !try_reserve()) return nullptr;
  auto* w = waiters_.front();
  waiters_.pop_front();
  waiting_.fetch_sub(1, std::memory_order_seq_cst);
  return w;
}

std::uint64_t pool_budget::join(pool_member* pool, asio::any_io_executor executor) {
  std::lock_guard lock(mutex_);
  const auto id = next_member_id_++;
  members_.push_back({pool, id, std::move(executor)});
  return id;
}

void pool_budget::leave(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  std::erase_if(members_, [id](const registered& m) { return m.id == id; });
}

bool pool_budget::is_member(const pool_member* pool, std::uint64_t id) {
  std::lock_guard lock(mutex_);
  return std::any_of(members_.begin(), members_.end(),
                     [&](const registered& m) { return m.id == id && m.pool == pool; });
}

}  // namespace sluice::backends::pool
