// The proxy-wide connection budget of one (backend, database, user): shared by that key's server_pool
// on every worker, so pool.size bounds the whole proxy's server connections, and a client waiting on
// one worker is served by a connection released (or a slot freed) on any worker, in FIFO order.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "backends/pool/pool_member.hpp"

namespace sluice::backends::pool {

namespace asio = boost::asio;


// The fast paths cost what a per-worker pool did: lending an idle connection of the same worker
// touches nothing shared; opening a connection reserves budget with one CAS loop; a release checks
// one atomic (are there waiters?). The mutex guards only the waiter FIFO and the member list, touched
// when a client has to wait (budget exhausted, no idle connection on its worker) and when a worker's
// pool for the key is created or destroyed.
//
// Lost wake-ups: a waiter increments `waiting_` and then retries the reservation, both under the
// mutex; whoever frees budget decrements `count_` and then loads `waiting_`. With sequentially
// consistent operations on both sides at least one of them sees the other (Dekker's pattern), so a
// freed slot never goes unnoticed by a waiter. An idle connection parked on another worker is found
// because a new waiter asks every other member (posted to its io_context) to hand one over.
class pool_budget {
 public:
  explicit pool_budget(std::size_t max) noexcept : max_(max == 0 ? 1 : max) {}
  pool_budget(const pool_budget&) = delete;
  pool_budget& operator=(const pool_budget&) = delete;

  std::size_t max() const noexcept { return max_.load(std::memory_order_relaxed); }
  // A reload changed the pool size (router/reloader.cpp): a smaller max stops new reservations until
  // enough connections are closed as they come back (server_pool::release); a larger one lets waiters
  // in (server_pool::reconfigure grants them slots).
  void set_max(std::size_t max) noexcept { max_.store(max == 0 ? 1 : max, std::memory_order_seq_cst); }
  // More connections open than the budget allows (after a reload lowered it).
  bool over() const noexcept { return count_.load(std::memory_order_seq_cst) > max(); }
  // Connections open or opening for this key on all workers (including slots granted to waiters).
  std::size_t in_use() const noexcept { return count_.load(std::memory_order_relaxed); }

  // Reserves one connection's worth of budget if any is left.
  bool try_reserve() noexcept;
  // Gives one back. The caller then checks has_waiters() and, if so, pop_with_slot().
  void unreserve() noexcept { count_.fetch_sub(1, std::memory_order_seq_cst); }
  bool has_waiters() const noexcept { return waiting_.load(std::memory_order_seq_cst) != 0; }

  // Queues `w` at the back, unless budget freed up meanwhile: then reserves it for the caller instead
  // and returns false (the caller opens a connection).
  bool enqueue_or_reserve(pool_waiter* w);
  // Takes `w` out of the queue (timed out). False: someone already popped it and a connection or a
  // slot is on its way to it (posted to its worker), so it must keep waiting for that.
  bool remove(pool_waiter* w);
  // The first waiter, to hand a connection to; nullptr when none.
  pool_waiter* pop();
  // The first waiter with one connection's budget reserved for it; nullptr when none or none left.
  pool_waiter* pop_with_slot();

  // Worker pools of this key, for cross-worker offers (control path). A member's id is never reused,
  // so a task posted to a pool that has been destroyed since can tell, even if another pool got its
  // address.
  std::uint64_t join(pool_member* pool, asio::any_io_executor executor);
  void leave(std::uint64_t id);
  bool is_member(const pool_member* pool, std::uint64_t id);
  // Calls f(pool, id, executor) for every member but `except`, under the mutex (f only posts).
  template <typename F>
  void for_each_other(const pool_member* except, F&& f) {
    std::lock_guard lock(mutex_);
    for (const auto& m : members_) {
      if (m.pool != except) f(m.pool, m.id, m.executor);
    }
  }

 private:
  struct registered {
    pool_member* pool;
    std::uint64_t id;
    asio::any_io_executor executor;
  };

  std::atomic<std::size_t> max_;
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> waiting_{0};
  std::mutex mutex_;
  std::deque<pool_waiter*> waiters_;  // FIFO over all workers
  std::vector<registered> members_;
  std::uint64_t next_member_id_ = 1;
};

}  // namespace sluice::backends::pool
