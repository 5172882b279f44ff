// The write gate (see write_gate.hpp). Held sessions poll: switchovers are rare and short, and a poll
// on the session's own io_context needs no cross-thread wake-up list.
#include "router/failover/write_gate.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

namespace sluice::router::failover {

namespace asio = boost::asio;

write_gate::write_gate(std::chrono::milliseconds hold_timeout, std::uint32_t max_held)
    : hold_timeout_(hold_timeout), max_held_(max_held) {}

asio::awaitable<pass_result> write_gate::pass(asio::io_context& io, const bool* cancelled) {
  if (!held_.load(std::memory_order_relaxed)) co_return pass_result::open;
  if (waiting_.fetch_add(1, std::memory_order_relaxed) >= max_held_) {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    queue_full_.fetch_add(1, std::memory_order_relaxed);
    co_return pass_result::queue_full;
  }
  // Leaves the queue however the wait ends (also when the worker stops and destroys the coroutine).
  struct leave_queue {
    std::atomic<std::uint32_t>& waiting;
    ~leave_queue() { waiting.fetch_sub(1, std::memory_order_relaxed); }
  } guard{waiting_};
  held_this_time_.fetch_add(1, std::memory_order_relaxed);
  held_total_.fetch_add(1, std::memory_order_relaxed);
  const auto deadline = clock::now() + hold_timeout_;
  asio::steady_timer timer(io);
  while (held_.load(std::memory_order_acquire)) {
    if (cancelled != nullptr && *cancelled) co_return pass_result::cancelled;
    const auto now = clock::now();
    if (now >= deadline) {
      timed_out_.fetch_add(1, std::memory_order_relaxed);
      co_return pass_result::timed_out;
    }
    timer.expires_after(std::min<clock::duration>(poll_interval, deadline - now));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  released_.fetch_add(1, std::memory_order_relaxed);
  co_return pass_result::open;
}

void write_gate::hold() {
  if (held_.load(std::memory_order_acquire)) return;
  held_this_time_.store(0, std::memory_order_relaxed);
  held_since_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  holds_.fetch_add(1, std::memory_order_relaxed);
  held_.store(true, std::memory_order_seq_cst);
}

void write_gate::open() {
  if (!held_.load(std::memory_order_acquire)) return;
  opened_at_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  held_.store(false, std::memory_order_seq_cst);
}

bool write_gate::wait_idle(std::chrono::milliseconds timeout) const {
  const auto deadline = clock::now() + timeout;
  while (in_flight() != 0) {
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::chrono::milliseconds write_gate::hold_duration() const noexcept {
  if (holds_.load(std::memory_order_relaxed) == 0) return std::chrono::milliseconds(0);
  const clock::duration since(held_since_.load(std::memory_order_relaxed));
  const clock::duration until = held() ? clock::now().time_since_epoch()
                                       : clock::duration(opened_at_.load(std::memory_order_relaxed));
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::max(until - since, clock::duration::zero()));
}

write_gate_totals write_gate::totals() const noexcept {
  return {holds_.load(std::memory_order_relaxed), held_total_.load(std::memory_order_relaxed),
          released_.load(std::memory_order_relaxed), timed_out_.load(std::memory_order_relaxed),
          queue_full_.load(std::memory_order_relaxed)};
}

}  // namespace sluice::router::failover
