// Server connection pool (see server_pool.hpp).
#include "backends/pool/server_pool.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace sluice::backends::pool {

server_pool::server_pool(asio::any_io_executor executor, std::size_t backend_index, pool_settings settings,
                         pg::connect_target target)
    : executor_(std::move(executor)),
      backend_index_(backend_index),
      settings_(settings),
      target_(std::move(target)) {
  idle_.reserve(settings_.max_size);
}

server_pool::~server_pool() {
  for (auto& connection : idle_) connection->close();
}

asio::awaitable<acquire_result> server_pool::acquire() {
  const auto deadline = pg::steady_clock::now() + settings_.wait_timeout;
  bool reserved = false;  // a releaser freed a slot and counted it as ours (keeps FIFO order)
  for (;;) {
    while (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      stats_.idle = idle_.size();
      const auto now = pg::steady_clock::now();
      const bool recently_used = now - connection->last_used < settings_.check_after;
      if ((recently_used || connection->idle_and_healthy()) && now - connection->created_at() < settings_.lifetime) {
        if (reserved) {
          // An idle connection serves us after all: hand the reserved slot to the next waiter.
          --stats_.total;
          wake_one_for_capacity();
        }
        co_return acquire_result{std::move(connection), {}};
      }
      connection->close();
      --stats_.total;
    }
    if (reserved || stats_.total < settings_.max_size) {
      if (!reserved) ++stats_.total;
      reserved = false;
      auto connection = std::make_unique<server_connection>(executor_, backend_index_);
      auto failure = co_await connection->connect(target_);
      if (failure.code != errc::ok) {
        --stats_.total;
        ++stats_.connect_failures;
        wake_one_for_capacity();
        co_return acquire_result{nullptr, std::move(failure)};
      }
      ++stats_.connects;
      if (server_parameters_.empty()) server_parameters_ = connection->startup_parameters();
      co_return acquire_result{std::move(connection), {}};
    }
    // Full: queue until a connection is released, a slot frees up, or the wait times out.
    waiter self(executor_);
    self.timer.expires_at(deadline);
    waiters_.push_back(&self);
    stats_.waiting = waiters_.size();
    co_await self.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!self.woken) {
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
      stats_.waiting = waiters_.size();
      ++stats_.timeouts;
      co_return acquire_result{
          nullptr, {errc::pool_timeout, "53300",
                    "timed out after " + std::to_string(settings_.wait_timeout.count()) +
                        " ms waiting for a server connection (pool size " +
                        std::to_string(settings_.max_size) + " per worker)"}};
    }
    if (self.handed) co_return acquire_result{std::move(self.handed), {}};
    // A slot was freed and reserved for us: open a connection in it.
    reserved = true;
  }
}

void server_pool::release(std::unique_ptr<server_connection> connection, bool reusable) {
  if (!reusable || !connection->socket().is_open()) {
    connection->close();
    --stats_.total;
    wake_one_for_capacity();
    return;
  }
  connection->last_used = pg::steady_clock::now();
  connection->input().shrink_if_idle();
  if (!waiters_.empty()) {
    waiter* next = waiters_.front();
    waiters_.pop_front();
    stats_.waiting = waiters_.size();
    next->handed = std::move(connection);
    next->woken = true;
    next->timer.cancel();
    return;
  }
  idle_.push_back(std::move(connection));
  stats_.idle = idle_.size();
}

void server_pool::wake_one_for_capacity() {
  if (waiters_.empty()) return;
  waiter* next = waiters_.front();
  waiters_.pop_front();
  stats_.waiting = waiters_.size();
  // The freed slot is counted for the waiter now, so a newcomer cannot take it before the waiter runs.
  ++stats_.total;
  next->woken = true;
  next->timer.cancel();
}

void server_pool::reap(pg::steady_clock::time_point now) {
  const auto expired = [&](const std::unique_ptr<server_connection>& connection) {
    return now - connection->last_used >= settings_.idle_timeout ||
           now - connection->created_at() >= settings_.lifetime || !connection->idle_and_healthy();
  };
  const auto old_size = idle_.size();
  for (auto& connection : idle_) {
    if (expired(connection)) {
      connection->close();
      connection.reset();
    }
  }
  std::erase(idle_, nullptr);
  const auto closed = old_size - idle_.size();
  stats_.total -= closed;
  stats_.idle = idle_.size();
  for (std::size_t i = 0; i < closed; ++i) wake_one_for_capacity();
}

}  // namespace sluice::backends::pool
