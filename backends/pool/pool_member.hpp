// What a pool budget knows of the pools that share it and of the clients waiting in its FIFO, whatever
// their protocol: a worker's pool (an executor, and a way to ask it for its idle connections) and a
// waiting client (its wake-up timer). basic_server_pool derives both for its connection type.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>

namespace sluice::backends::pool {

namespace asio = boost::asio;

class pool_member {
 public:
  explicit pool_member(asio::any_io_executor executor) : executor_(std::move(executor)) {}
  pool_member(const pool_member&) = delete;
  pool_member& operator=(const pool_member&) = delete;

  // The executor of the worker that owns this pool: everything that touches it runs there.
  const asio::any_io_executor& executor() const noexcept { return executor_; }
  // Posted here by a new waiter on another worker: hand idle connections to the FIFO's head.
  virtual void offer_idle() = 0;

 protected:
  ~pool_member() = default;
  asio::any_io_executor executor_;
};

// A client waiting for a connection. Lives in the waiting coroutine's frame (basic_server_pool::acquire)
// and sits in the budget's FIFO; the timer, on the waiter's worker, doubles as the wake-up signal.
// Whoever pops it from the FIFO must deliver (a connection or a slot), on the waiter's thread: posted
// when the popper runs on another worker. Once popped, the waiter does not leave before the delivery.
struct pool_waiter {
  pool_waiter(asio::any_io_executor executor, pool_member* owner) : timer(std::move(executor)), pool(owner) {}
  asio::steady_timer timer;
  pool_member* pool;    // the waiter's pool (its worker's)
  bool woken = false;   // delivered: either a connection (in the derived waiter) or a reserved slot
};

}  // namespace sluice::backends::pool
