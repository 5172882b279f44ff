// A pool of server connections for one (backend, database, user) on one worker thread, for any protocol
// (a Protocol traits type names the connection; backends/pg/pool_protocol.hpp is PostgreSQL's). Its
// idle list is the worker's own (no locks); the connection budget and the FIFO of waiting clients are
// shared with the same key's pool on every other worker (pool_budget.hpp), so pool.size is proxy-wide.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/pool/pool_budget.hpp"
#include "backends/pool/pool_member.hpp"

namespace sluice::backends::pool {

namespace asio = boost::asio;
using steady_clock = std::chrono::steady_clock;

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

// What a Protocol gives the pool (PostgreSQL's: backends/pg/pool_protocol.hpp):
//   connection       a server connection: constructible from (executor, backend index);
//                    connect(target) -> awaitable<connect_failure>; idle_and_healthy(); close();
//                    terminate(); rebind(executor); socket(); created_at(); a `last_used` member
//   connect_target   where and as whom to log in; members `addresses` (address_source*, may be null)
//                    and `endpoint`
//   connect_failure  a failed login or connect: a member `code` (sluice::errc)
//   learnt           what the pool learns from its first connection: learn(connection&), empty()
//   on_idle(connection&)            a connection goes back to the idle list (shrink its buffers)
//   pool_timeout(std::string text)  the failure acquire() returns when wait_timeout passes
template <class Protocol>
struct basic_acquire_result {
  std::unique_ptr<typename Protocol::connection> connection;  // set on success
  typename Protocol::connect_failure failure;                 // set when connection is null
};

template <class Protocol>
class basic_server_pool final : public pool_member {
 public:
  using connection_type = typename Protocol::connection;
  using connect_target = typename Protocol::connect_target;
  using acquire_result = basic_acquire_result<Protocol>;

  // `budget`: the key's proxy-wide budget shared with the other workers' pools; null makes a private
  // one of settings.max_size (a pool used alone, as in unit tests).
  basic_server_pool(asio::any_io_executor executor, std::size_t backend_index, pool_settings settings,
                    connect_target target, std::shared_ptr<pool_budget> budget = nullptr);
  ~basic_server_pool();

  // Lends a connection: an idle healthy one of this worker, a new one if the proxy-wide budget allows,
  // or the first one released (or slot freed) on any worker, in FIFO order, within wait_timeout.
  asio::awaitable<acquire_result> acquire();

  // acquire()'s common case without a coroutine frame: the most recently idle connection when it can be
  // lent as it is (no health check due), else null and the caller co_awaits acquire().
  std::unique_ptr<connection_type> take_idle();

  // Takes a connection back. `reusable` false closes it (server-side failure, unknown protocol state).
  void release(std::unique_ptr<connection_type> connection, bool reusable);

  // Closes idle connections past idle_timeout or lifetime. Called periodically by the worker.
  void reap(steady_clock::time_point now);

  // A reload (router/reloader.cpp), on this pool's thread: new settings (timeouts; max_size also
  // becomes the budget's max) and target (credentials, timeout) for the connections opened from now
  // on. `replace_open`: connections opened before now are closed instead of lent again (the server
  // user or database changed); idle ones at once, busy ones as they come back.
  void reconfigure(const pool_settings& settings, const connect_target& target, bool replace_open);
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

  // What the first successful login told (PostgreSQL: the ParameterStatus values greeting clients,
  // encoded once); empty until then.
  const typename Protocol::learnt& learnt() const noexcept { return learnt_; }

  const pool_stats& stats() const noexcept { return stats_; }
  const pool_settings& settings() const noexcept { return settings_; }
  std::size_t backend_index() const noexcept { return backend_index_; }
  const connect_target& target() const noexcept { return target_; }
  const pool_budget& budget() const noexcept { return *budget_; }

 private:
  // A client of this pool waiting in the budget's FIFO, and where a connection handed over lands.
  struct waiter : pool_waiter {
    using pool_waiter::pool_waiter;
    std::unique_ptr<connection_type> handed;  // a connection handed over by a release
  };
  // The budget's waiters of this key all belong to pools of this protocol (the key names the backend).
  static waiter* as_waiter(pool_waiter* w) noexcept { return static_cast<waiter*>(w); }
  static basic_server_pool* as_pool(pool_member* m) noexcept { return static_cast<basic_server_pool*>(m); }

  // Gives back one connection's budget; the first waiter on any worker, if any, gets it instead.
  void release_slot();
  // Hands a reusable connection of this pool to a popped waiter (rebinding it when on another worker).
  void hand_over(std::unique_ptr<connection_type> connection, pool_waiter* to);
  // Tells a popped waiter that a slot was reserved for it.
  static void grant_slot(pool_waiter* to, const pool_member* from);
  // On the waiter's thread: takes the handed connection into this pool's count and wakes the waiter.
  void receive(pool_waiter* to, std::unique_ptr<connection_type> connection);
  // An idle connection may be lent: recently used or checked healthy, and younger than lifetime.
  bool lendable(connection_type& connection, steady_clock::time_point now) const;
  // Closes every idle connection, returning budget without waking anyone (destruction, shutdown).
  void close_idle() noexcept;
  // Closes every idle connection and gives their budget to waiters, if any (reconfigure, retire).
  void close_idle_returning_budget();
  void offer_idle() override;
  // Asks the key's pools on other workers to offer their idle connections.
  void ask_other_workers();

  std::size_t backend_index_;
  pool_settings settings_;
  connect_target target_;
  std::vector<std::unique_ptr<connection_type>> idle_;  // LIFO: the most recently used is warmest
  std::shared_ptr<pool_budget> budget_;
  std::uint64_t member_id_ = 0;  // this pool's id among the budget's members
  typename Protocol::learnt learnt_;
  pool_stats stats_;
  std::size_t users_ = 0;
  bool retired_ = false;                          // retire(): nothing goes back to idle_
  steady_clock::time_point replace_before_{};     // connections created earlier are not lent again
};

}  // namespace sluice::backends::pool
