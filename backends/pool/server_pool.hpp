// A pool of server connections for one (backend, database, user) on one worker thread. Single-
// threaded by construction (each worker owns its pools), so no locks: waiting clients queue in FIFO
// order and a released connection is handed straight to the first of them.
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

namespace sluice::backends::pool {

namespace asio = boost::asio;
using pg::server_connection;

struct pool_settings {
  std::size_t max_size = 10;                         // connections, this worker's share
  std::chrono::milliseconds idle_timeout{60'000};    // close connections idle this long
  std::chrono::milliseconds lifetime{3'600'000};     // close connections this old when next idle
  std::chrono::milliseconds wait_timeout{120'000};   // how long acquire() may wait for a slot
  // An idle connection last used longer ago than this is checked (a non-blocking MSG_PEEK for a
  // close or a FATAL the server sent meanwhile) before it is lent; one used more recently is lent as
  // it is, saving a system call per transaction (PgBouncer's server_check_delay). 0: always check.
  std::chrono::milliseconds check_after{1'000};
};

struct pool_stats {
  std::size_t total = 0;        // open or opening connections
  std::size_t idle = 0;         // in the pool, ready to lend
  std::size_t waiting = 0;      // clients queued for a connection
  std::uint64_t connects = 0;   // successful logins
  std::uint64_t connect_failures = 0;
  std::uint64_t timeouts = 0;   // acquire() gave up after wait_timeout
};

struct acquire_result {
  std::unique_ptr<server_connection> connection;  // set on success
  pg::connect_failure failure;                     // set when connection is null
};

class server_pool {
 public:
  server_pool(asio::any_io_executor executor, std::size_t backend_index, pool_settings settings,
              pg::connect_target target);
  ~server_pool();
  server_pool(const server_pool&) = delete;
  server_pool& operator=(const server_pool&) = delete;

  // Lends a connection: an idle healthy one, a new one if below max_size, or the next one released.
  asio::awaitable<acquire_result> acquire();

  // Takes a connection back. `reusable` false closes it (server-side failure, unknown protocol state).
  void release(std::unique_ptr<server_connection> connection, bool reusable);

  // Closes idle connections past idle_timeout or lifetime. Called periodically by the worker.
  void reap(pg::steady_clock::time_point now);

  // ParameterStatus values from the first successful login, for greeting clients; empty until then.
  const std::vector<std::pair<std::string, std::string>>& server_parameters() const noexcept {
    return server_parameters_;
  }

  const pool_stats& stats() const noexcept { return stats_; }
  const pool_settings& settings() const noexcept { return settings_; }
  std::size_t backend_index() const noexcept { return backend_index_; }
  const pg::connect_target& target() const noexcept { return target_; }

 private:
  // A client waiting for a connection. Lives in the waiting coroutine's frame; the timer doubles as
  // the wake-up signal (cancel() wakes it early).
  struct waiter {
    explicit waiter(asio::any_io_executor executor) : timer(executor) {}
    asio::steady_timer timer;
    std::unique_ptr<server_connection> handed;  // a connection given directly by release()
    bool woken = false;                         // woken early: either `handed` or a free slot
  };

  void wake_one_for_capacity();

  asio::any_io_executor executor_;
  std::size_t backend_index_;
  pool_settings settings_;
  pg::connect_target target_;
  std::vector<std::unique_ptr<server_connection>> idle_;  // LIFO: the most recently used is warmest
  std::deque<waiter*> waiters_;
  std::vector<std::pair<std::string, std::string>> server_parameters_;
  pool_stats stats_;
};

}  // namespace sluice::backends::pool
