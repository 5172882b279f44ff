// A pool of server connections for one (backend, database, user) on one worker thread. Its idle list
// is the worker's own (no locks); the connection budget and the FIFO of waiting clients are shared
// with the same key's pool on every other worker (pool_budget.hpp), so pool.size is proxy-wide.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/pg/server_connection.hpp"
#include "backends/pg/wire/parameter_status_set.hpp"
#include "backends/pool/pool_budget.hpp"

namespace sluice::backends::pool {

namespace asio = boost::asio;
using pg::server_connection;

struct pool_settings {
  std::size_t max_size = 10;                         // connections, whole proxy (the budget's max)
  std::chrono::milliseconds idle_timeout{60'000};    // close connections idle this long
  std::chrono::milliseconds lifetime{3'600'000};     // close connections this old when next idle
  std::chrono::milliseconds wait_timeout{120'000};   // how long acquire() may wait for a slot
  // An idle connection last used longer ago than this is checked (a non-blocking MSG_PEEK for a
  // close or a FATAL the server sent meanwhile) before it is lent; one used more recently is lent as
  // it is, saving a system call per transaction (PgBouncer's server_check_delay). 0: always check.
  std::chrono::milliseconds check_after{1'000};
};

struct pool_stats {
  std::size_t total = 0;        // open or opening connections of this worker
  std::size_t idle = 0;         // in the pool, ready to lend
  std::size_t waiting = 0;      // this worker's clients queued for a connection
  std::uint64_t connects = 0;   // successful logins
  std::uint64_t connect_failures = 0;
  std::uint64_t timeouts = 0;   // acquire() gave up after wait_timeout
};

// A client waiting for a connection. Lives in the waiting coroutine's frame (server_pool::acquire) and
// sits in the budget's FIFO; the timer, on the waiter's worker, doubles as the wake-up signal. Whoever
// pops it from the FIFO must deliver (a connection or a slot), on the waiter's thread: posted when
// the popper runs on another worker. Once popped, the waiter does not leave before the delivery.
struct pool_waiter {
  pool_waiter(asio::any_io_executor executor, server_pool* owner) : timer(std::move(executor)), pool(owner) {}
  asio::steady_timer timer;
  server_pool* pool;                          // the waiter's pool (its worker's)
  std::unique_ptr<server_connection> handed;  // a connection handed over by a release
  bool woken = false;                         // delivered: either `handed` or a reserved slot
};

struct acquire_result {
  std::unique_ptr<server_connection> connection;  // set on success
  pg::connect_failure failure;                     // set when connection is null
};

class server_pool {
 public:
  // `budget`: the key's proxy-wide budget shared with the other workers' pools; null makes a private
  // one of settings.max_size (a pool used alone, as in unit tests).
  server_pool(asio::any_io_executor executor, std::size_t backend_index, pool_settings settings,
              pg::connect_target target, std::shared_ptr<pool_budget> budget = nullptr);
  ~server_pool();
  server_pool(const server_pool&) = delete;
  server_pool& operator=(const server_pool&) = delete;

  // Lends a connection: an idle healthy one of this worker, a new one if the proxy-wide budget allows,
  // or the first one released (or slot freed) on any worker, in FIFO order, within wait_timeout.
  asio::awaitable<acquire_result> acquire();

  // acquire()'s common case without a coroutine frame: the most recently idle connection when it can be
  // lent as it is (no health check due), else null and the caller co_awaits acquire().
  std::unique_ptr<server_connection> take_idle();

  // Takes a connection back. `reusable` false closes it (server-side failure, unknown protocol state).
  void release(std::unique_ptr<server_connection> connection, bool reusable);

  // Closes idle connections past idle_timeout or lifetime. Called periodically by the worker.
  void reap(pg::steady_clock::time_point now);

  // A reload (router/reloader.cpp), on this pool's thread: new settings (timeouts; max_size also
  // becomes the budget's max) and target (credentials, timeout) for the connections opened from now
  // on. `replace_open`: connections opened before now are closed instead of lent again (the server
  // user or database changed); idle ones at once, busy ones as they come back.
  void reconfigure(const pool_settings& settings, const pg::connect_target& target, bool replace_open);
  // A reload removed this pool's backend or user: idle connections close now, busy ones as they come
  // back, and the worker drops the pool once no session uses it.
  void retire();
  bool retired() const noexcept { return retired_; }

  // Sessions using this pool (item: pools for database names nobody logs in to are dropped).
  void add_user() noexcept { ++users_; }
  void remove_user() noexcept { --users_; }
  std::size_t users() const noexcept { return users_; }
  // No user, no connection, never logged in: the worker may destroy it (a scan of database names
  // must not leave a pool, and a /metrics label set, per name).
  // Worker shutdown: closes idle connections while the io_context still exists.
  void shutdown() noexcept { close_idle(); }
  bool droppable() const noexcept {
    return users_ == 0 && stats_.total == 0 && stats_.waiting == 0 && (stats_.connects == 0 || retired_);
  }

  // ParameterStatus values from the first successful login, for greeting clients; empty until then.
  const std::vector<std::pair<std::string, std::string>>& server_parameters() const noexcept {
    return server_parameters_;
  }
  // The same, encoded once when they are learnt: a greeting copies them (issue 14: encoding them for
  // every client was about 9k instructions per connection).
  const pg::wire::parameter_status_set& greeting_parameters() const noexcept { return greeting_parameters_; }

  const pool_stats& stats() const noexcept { return stats_; }
  const pool_settings& settings() const noexcept { return settings_; }
  std::size_t backend_index() const noexcept { return backend_index_; }
  const pg::connect_target& target() const noexcept { return target_; }
  const pool_budget& budget() const noexcept { return *budget_; }

 private:
  // Gives back one connection's budget; the first waiter on any worker, if any, gets it instead.
  void release_slot();
  // Hands a reusable connection of this pool to a popped waiter (rebinding it when on another worker).
  void hand_over(std::unique_ptr<server_connection> connection, pool_waiter* to);
  // Tells a popped waiter that a slot was reserved for it.
  static void grant_slot(pool_waiter* to, const server_pool* from);
  // On the waiter's thread: takes the handed connection into this pool's count and wakes the waiter.
  void receive(pool_waiter* to, std::unique_ptr<server_connection> connection);
  // An idle connection may be lent: recently used or checked healthy, and younger than lifetime.
  bool lendable(server_connection& connection, pg::steady_clock::time_point now) const;
  // The first connection's ParameterStatus values become the pool's (server_parameters, encoded too).
  void learn_parameters(server_connection& connection);
  // Closes every idle connection, returning budget without waking anyone (destruction, shutdown).
  void close_idle() noexcept;
  // Closes every idle connection and gives their budget to waiters, if any (reconfigure, retire).
  void close_idle_returning_budget();
  // Posted here by a new waiter on another worker: hand idle connections to the FIFO's head.
  void offer_idle();
  // Asks the key's pools on other workers to offer their idle connections.
  void ask_other_workers();

  asio::any_io_executor executor_;
  std::size_t backend_index_;
  pool_settings settings_;
  pg::connect_target target_;
  std::vector<std::unique_ptr<server_connection>> idle_;  // LIFO: the most recently used is warmest
  std::shared_ptr<pool_budget> budget_;
  std::uint64_t member_id_ = 0;  // this pool's id among the budget's members
  std::vector<std::pair<std::string, std::string>> server_parameters_;
  pg::wire::parameter_status_set greeting_parameters_;  // server_parameters_, encoded
  pool_stats stats_;
  std::size_t users_ = 0;
  bool retired_ = false;                              // retire(): nothing goes back to idle_
  pg::steady_clock::time_point replace_before_{};     // connections created earlier are not lent again
};

}  // namespace sluice::backends::pool
