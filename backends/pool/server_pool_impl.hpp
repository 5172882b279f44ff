// basic_server_pool's definitions (see server_pool.hpp and pool_budget.hpp). Included by the one file
// per protocol that instantiates it (backends/pg/pool_protocol.cpp), not by the pool's users.
#pragma once

#include "backends/pool/server_pool.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace sluice::backends::pool {

template <class Protocol>
basic_server_pool<Protocol>::basic_server_pool(asio::any_io_executor executor, std::size_t backend_index, pool_settings settings,
                         connect_target target, std::shared_ptr<pool_budget> budget)
    : pool_member(std::move(executor)),
      backend_index_(backend_index),
      settings_(settings),
      target_(std::move(target)),
      budget_(budget ? std::move(budget) : std::make_shared<pool_budget>(settings.max_size)) {
  settings_.max_size = budget_->max();
  member_id_ = budget_->join(this, executor_);
}

template <class Protocol>
basic_server_pool<Protocol>::~basic_server_pool() {
  close_idle();
  budget_->leave(member_id_);
}

template <class Protocol>
void basic_server_pool<Protocol>::close_idle() noexcept {
  for (auto& connection : idle_) {
    connection->terminate();
    budget_->unreserve();
    --stats_.total;
  }
  idle_.clear();
  stats_.idle = 0;
}

template <class Protocol>
bool basic_server_pool<Protocol>::lendable(connection_type& connection, steady_clock::time_point now) const {
  const bool recently_used = now - connection.last_used < settings_.check_after;
  return (recently_used || connection.idle_and_healthy()) && now - connection.created_at() < settings_.lifetime &&
         connection.created_at() >= replace_before_;
}

template <class Protocol>
void basic_server_pool<Protocol>::reconfigure(const pool_settings& settings, const connect_target& target, bool replace_open) {
  const auto before = budget_->max();
  settings_ = settings;
  budget_->set_max(settings.max_size);
  settings_.max_size = budget_->max();
  const auto addresses = target_.addresses;
  target_ = target;
  if (target_.addresses == nullptr) target_.addresses = addresses;
  if (replace_open) {
    replace_before_ = steady_clock::now();
    close_idle_returning_budget();
  }
  // A larger size: clients queued for the old one get the new slots now rather than at their timeout.
  for (auto added = settings_.max_size > before ? settings_.max_size - before : 0; added > 0; --added) {
    auto* to = budget_->pop_with_slot();
    if (to == nullptr) break;
    grant_slot(to, this);
  }
}

template <class Protocol>
void basic_server_pool<Protocol>::retire() {
  retired_ = true;
  close_idle_returning_budget();
}

template <class Protocol>
void basic_server_pool<Protocol>::close_idle_returning_budget() {
  const auto closed = idle_.size();
  for (auto& connection : idle_) connection->terminate();
  idle_.clear();
  stats_.total -= closed;
  stats_.idle = 0;
  for (std::size_t i = 0; i < closed; ++i) release_slot();
}

template <class Protocol>
std::unique_ptr<typename Protocol::connection> basic_server_pool<Protocol>::take_idle() {
  if (idle_.empty()) return nullptr;
  const auto now = steady_clock::now();
  auto& newest = *idle_.back();
  // Lent without a look at its socket only when used within check_after; anything else is acquire()'s,
  // which checks it (closing and replacing it if the server closed it).
  if (now - newest.last_used >= settings_.check_after || !lendable(newest, now)) return nullptr;
  auto connection = std::move(idle_.back());
  idle_.pop_back();
  stats_.idle = idle_.size();
  return connection;
}

template <class Protocol>
asio::awaitable<basic_acquire_result<Protocol>> basic_server_pool<Protocol>::acquire() {
  const auto deadline = steady_clock::now() + settings_.wait_timeout;
  // One connection's budget is ours: reserved by us, taken over from a closed idle connection, or
  // reserved for us by whoever freed it (which keeps FIFO order).
  bool reserved = false;
  for (;;) {
    // Fast path: this worker's idle connections, no shared state touched.
    while (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      stats_.idle = idle_.size();
      if (lendable(*connection, steady_clock::now())) {
        if (reserved) release_slot();  // served after all: the reserved budget goes to the next in line
        co_return acquire_result{std::move(connection), {}};
      }
      connection->close();
      --stats_.total;
      // Its budget becomes ours, to open a replacement; one we held already goes back.
      if (reserved) release_slot();
      reserved = true;
    }
    if (reserved || budget_->try_reserve()) {
      reserved = false;
      ++stats_.total;
      auto connection = std::make_unique<connection_type>(executor_, backend_index_);
      // A backend named by host name: its address now (backends/pg/address_source.hpp).
      if (target_.addresses != nullptr) target_.endpoint = target_.addresses->endpoint_for_connect(backend_index_);
      auto failure = co_await connection->connect(target_);
      if (failure.code != errc::ok) {
        // Unreachable or timed out (not refused by the server): the name may point elsewhere now.
        if (target_.addresses != nullptr && failure.code == errc::server_connect) {
          target_.addresses->connect_failed(backend_index_);
        }
        --stats_.total;
        ++stats_.connect_failures;
        release_slot();
        co_return acquire_result{nullptr, std::move(failure)};
      }
      ++stats_.connects;
      if (learnt_.empty()) learnt_.learn(*connection);
      co_return acquire_result{std::move(connection), {}};
    }
    // Slow path: the proxy-wide budget is spent. Queue (FIFO over all workers) until a connection is
    // released or a slot freed on any worker, or the wait times out.
    waiter self(executor_, this);
    if (!budget_->enqueue_or_reserve(&self)) {
      reserved = true;
      continue;
    }
    ++stats_.waiting;
    ask_other_workers();
    self.timer.expires_at(deadline);
    for (;;) {
      co_await self.timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (self.woken) break;
      if (budget_->remove(&self)) {
        --stats_.waiting;
        ++stats_.timeouts;
        co_return acquire_result{
            nullptr, Protocol::pool_timeout("timed out after " + std::to_string(settings_.wait_timeout.count()) +
                                            " ms waiting for a server connection (pool size " +
                                            std::to_string(settings_.max_size) +
                                            " for this backend, database and user, whole proxy)")};
      }
      // Popped just before the deadline by a worker whose delivery is posted here: wait for it.
      self.timer.expires_at(steady_clock::time_point::max());
    }
    --stats_.waiting;
    if (self.handed) co_return acquire_result{std::move(self.handed), {}};
    reserved = true;  // a slot was freed and reserved for us: open a connection in it
  }
}

template <class Protocol>
void basic_server_pool<Protocol>::release(std::unique_ptr<connection_type> connection, bool reusable) {
  // After a reload: a retired pool, a connection opened before its credentials changed, or more
  // connections open than the (lowered) size allows: closed as it comes back, not cut while busy.
  if (retired_ || connection->created_at() < replace_before_ || budget_->over()) reusable = false;
  if (!reusable || !connection->socket().is_open()) {
    connection->close();
    --stats_.total;
    release_slot();
    return;
  }
  connection->last_used = steady_clock::now();
  Protocol::on_idle(*connection);
  if (budget_->has_waiters()) {
    if (auto* to = budget_->pop()) {
      hand_over(std::move(connection), to);
      return;
    }
  }
  idle_.push_back(std::move(connection));
  stats_.idle = idle_.size();
}

template <class Protocol>
void basic_server_pool<Protocol>::release_slot() {
  budget_->unreserve();
  if (!budget_->has_waiters()) return;
  if (auto* to = budget_->pop_with_slot()) grant_slot(to, this);
}

template <class Protocol>
void basic_server_pool<Protocol>::hand_over(std::unique_ptr<connection_type> connection, pool_waiter* to) {
  --stats_.total;
  basic_server_pool* target = as_pool(to->pool);
  if (target == this) {
    receive(to, std::move(connection));
    return;
  }
  // Another worker: the descriptor moves to its reactor here (nothing is pending on the connection,
  // it is idle), and the connection object follows through its io_context's queue.
  connection->rebind(target->executor_);
  asio::post(target->executor_, [target, to, moved = std::move(connection)]() mutable {
    target->receive(to, std::move(moved));
  });
}

template <class Protocol>
void basic_server_pool<Protocol>::receive(pool_waiter* to, std::unique_ptr<connection_type> connection) {
  ++stats_.total;
  // A pool whose first connection came from another worker greets clients with its parameters.
  if (learnt_.empty()) learnt_.learn(*connection);
  as_waiter(to)->handed = std::move(connection);
  to->woken = true;
  to->timer.cancel();
}

template <class Protocol>
void basic_server_pool<Protocol>::grant_slot(pool_waiter* to, const pool_member* from) {
  if (to->pool == from) {
    to->woken = true;
    to->timer.cancel();
    return;
  }
  asio::post(to->pool->executor(), [to] {
    to->woken = true;
    to->timer.cancel();
  });
}

template <class Protocol>
void basic_server_pool<Protocol>::ask_other_workers() {
  budget_->for_each_other(this, [this](pool_member* pool, std::uint64_t id, const asio::any_io_executor& executor) {
    asio::post(executor, [budget = budget_, pool, id] {
      // Runs on the pool's own thread, the only one that destroys it: a member now is alive now.
      if (budget->is_member(pool, id)) pool->offer_idle();
    });
  });
}

template <class Protocol>
void basic_server_pool<Protocol>::offer_idle() {
  while (!idle_.empty() && budget_->has_waiters()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    stats_.idle = idle_.size();
    if (!lendable(*connection, steady_clock::now())) {
      connection->close();
      --stats_.total;
      release_slot();
      continue;
    }
    auto* to = budget_->pop();
    if (to == nullptr) {
      idle_.push_back(std::move(connection));
      stats_.idle = idle_.size();
      return;
    }
    hand_over(std::move(connection), to);
  }
}

template <class Protocol>
void basic_server_pool<Protocol>::reap(steady_clock::time_point now) {
  const auto expired = [&](const std::unique_ptr<connection_type>& connection) {
    return now - connection->last_used >= settings_.idle_timeout ||
           now - connection->created_at() >= settings_.lifetime || !connection->idle_and_healthy();
  };
  const auto old_size = idle_.size();
  for (auto& connection : idle_) {
    if (expired(connection)) {
      connection->terminate();
      connection.reset();
    }
  }
  std::erase(idle_, nullptr);
  const auto closed = old_size - idle_.size();
  stats_.total -= closed;
  stats_.idle = idle_.size();
  for (std::size_t i = 0; i < closed; ++i) release_slot();
}

}  // namespace sluice::backends::pool
