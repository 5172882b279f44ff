// The write gate: switchover and failover close it so that new units of work bound for the primary
// wait (bounded, in a queue that is only a counter) instead of failing, and count the units still
// running on the old primary so a switchover can wait for them to finish. Open, it costs one relaxed
// atomic load per unit.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>

namespace sluice::router::failover {

// What a session does with a unit of work after `pass()`.
enum class pass_result {
  open,       // go ahead: attach to the (possibly new) primary
  timed_out,  // held longer than hold_timeout: refuse with 57P03
  queue_full, // more than max_held already waiting: refuse with 57P03 at once
  cancelled,  // the client cancelled its statement while it waited: 57014
};

// Totals since start, for the admin API and the switchover report (relaxed counters, slow path only).
struct write_gate_totals {
  std::uint64_t holds = 0;       // times the gate was closed
  std::uint64_t held = 0;        // units that had to wait
  std::uint64_t released = 0;    // ... and went ahead when the gate opened
  std::uint64_t timed_out = 0;   // ... and gave up after hold_timeout
  std::uint64_t queue_full = 0;  // units refused because max_held were already waiting
};

class write_gate {
 public:
  write_gate(std::chrono::milliseconds hold_timeout, std::uint32_t max_held);
  write_gate(const write_gate&) = delete;
  write_gate& operator=(const write_gate&) = delete;

  // Sessions: before a unit of work that goes to the primary starts. Open: returns at once (callers
  // on the hottest path may test `held()` first and skip the coroutine entirely). Held: waits on a
  // timer of the caller's own io_context, re-checking every poll_interval, until the gate opens,
  // hold_timeout passes, or (at entry) max_held units are already waiting.
  // `cancelled`: polled while waiting; true ends the wait with pass_result::cancelled.
  boost::asio::awaitable<pass_result> pass(boost::asio::io_context& io, const bool* cancelled = nullptr);

  // Sessions: a unit is running on the primary between these calls (enter after attaching a server
  // connection to the primary, leave when it is released); switchover waits for zero.
  // enter() and held_now() are sequentially consistent, like hold() and in_flight(): a session that
  // enters and then finds the gate open is always seen by a switchover that holds and then counts.
  void enter() noexcept { in_flight_.fetch_add(1, std::memory_order_seq_cst); }
  void leave() noexcept { in_flight_.fetch_sub(1, std::memory_order_seq_cst); }
  bool held_now() const noexcept { return held_.load(std::memory_order_seq_cst); }

  // Orchestrator (any thread).
  void hold();   // close: new units wait from now on
  void open();   // open: waiting units go ahead within one poll_interval
  bool held() const noexcept { return held_.load(std::memory_order_relaxed); }
  std::uint32_t in_flight() const noexcept { return in_flight_.load(std::memory_order_seq_cst); }
  std::uint32_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }
  // Waits (blocking the calling thread, never a worker) until in_flight() is zero or `timeout`
  // passes; true when it reached zero.
  bool wait_idle(std::chrono::milliseconds timeout) const;
  // Units that waited during the current (or last) hold, and for how long the gate has been (was)
  // closed.
  std::uint64_t held_this_time() const noexcept { return held_this_time_.load(std::memory_order_relaxed); }
  std::chrono::milliseconds hold_duration() const noexcept;
  write_gate_totals totals() const noexcept;

  std::chrono::milliseconds hold_timeout() const noexcept { return hold_timeout_; }
  std::uint32_t max_held() const noexcept { return max_held_; }

  static constexpr std::chrono::milliseconds poll_interval{5};

 private:
  using clock = std::chrono::steady_clock;

  const std::chrono::milliseconds hold_timeout_;
  const std::uint32_t max_held_;
  std::atomic<bool> held_{false};
  std::atomic<std::uint32_t> in_flight_{0};
  std::atomic<std::uint32_t> waiting_{0};
  std::atomic<std::uint64_t> held_this_time_{0};
  std::atomic<clock::rep> held_since_{0};   // clock ticks; valid while held
  std::atomic<clock::rep> opened_at_{0};    // clock ticks; when the last hold ended
  std::atomic<std::uint64_t> holds_{0};
  std::atomic<std::uint64_t> held_total_{0};
  std::atomic<std::uint64_t> released_{0};
  std::atomic<std::uint64_t> timed_out_{0};
  std::atomic<std::uint64_t> queue_full_{0};
};

}  // namespace sluice::router::failover
