// The proxy-wide pool budget across workers: two server_pools on two io_contexts (each run by its own
// thread, as two workers) share one pool_budget; a scripted trust-login server runs on a third. A
// client waiting on one worker is served by a release, a close or an idle connection on the other.
#include "backends/pool/pool_budget.hpp"
#include "backends/pg/pool_protocol.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>

using sluice::errc;
using sluice::backends::pg::connect_target;
using sluice::backends::pg::login_credentials;
using sluice::backends::pg::server_connection;
using sluice::backends::pg::acquire_result;
using sluice::backends::pool::pool_budget;
using sluice::backends::pool::pool_settings;
using sluice::backends::pg::server_pool;
namespace asio = boost::asio;
namespace wire = sluice::backends::pg::wire;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC PR 109224 (see server_pool_test.cpp)
#endif

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Answers every connection with a trust login, then waits for the client to close.
class login_server {
 public:
  explicit login_server(asio::io_context& io)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
  std::atomic<int> accepts{0};

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      const int pid = 1000 + ++accepts;
      asio::co_spawn(io_, session(std::move(socket), pid), asio::detached);
    }
  }
  static asio::awaitable<void> session(tcp::socket socket, std::int32_t pid) {
    wire::byte_buffer startup(4);
    auto [ec, n] = co_await asio::async_read(socket, asio::buffer(startup), use_tuple);
    if (ec) co_return;
    const std::size_t length = (std::size_t{startup[0]} << 24) | (std::size_t{startup[1]} << 16) |
                               (std::size_t{startup[2]} << 8) | std::size_t{startup[3]};
    if (length < 8 || length > 10000) co_return;
    startup.resize(length);
    std::tie(ec, n) = co_await asio::async_read(socket, asio::buffer(startup.data() + 4, length - 4), use_tuple);
    if (ec) co_return;
    wire::byte_buffer out;
    wire::encode_authentication(out, wire::auth_code::ok);
    wire::encode_parameter_status(out, "server_version", "15.5");
    wire::encode_backend_key_data(out, pid, 777);
    wire::encode_ready_for_query(out, wire::tx_status::idle);
    std::tie(ec, n) = co_await asio::async_write(socket, asio::buffer(out), use_tuple);
    if (ec) co_return;
    std::uint8_t scratch[256];
    for (;;) {
      auto [read_ec, count] = co_await socket.async_read_some(asio::buffer(scratch), use_tuple);
      if (read_ec) co_return;
    }
  }
  asio::io_context& io_;
  tcp::acceptor acceptor_;
};

// Two workers (a, b) and the server, each an io_context on its own thread.
struct two_workers {
  explicit two_workers(std::size_t max, std::chrono::milliseconds wait_timeout = 2000ms)
      : budget(std::make_shared<pool_budget>(max)) {
    pool_settings settings;
    settings.max_size = max;
    settings.wait_timeout = wait_timeout;
    settings.check_after = 0ms;
    const connect_target target{server.endpoint(), login_credentials{"alice", std::nullopt, "app"}, 1000ms};
    pool_a.emplace(a.get_executor(), 0, settings, target, budget);
    pool_b.emplace(b.get_executor(), 0, settings, target, budget);
    for (auto* io : {&srv, &a, &b}) threads.emplace_back([io] { io->run(); });
  }
  ~two_workers() {
    // Each pool goes on its own worker's thread, then the threads stop.
    asio::post(a, asio::use_future([this] { pool_a.reset(); })).get();
    asio::post(b, asio::use_future([this] { pool_b.reset(); })).get();
    for (auto* guard : {&guard_srv, &guard_a, &guard_b}) guard->reset();
    for (auto* io : {&srv, &a, &b}) io->stop();
    for (auto& t : threads) t.join();
  }

  // Runs `f` on worker `io`'s thread and returns its result.
  template <class F>
  static auto on(asio::io_context& io, F f) {
    return asio::post(io, asio::use_future(std::move(f))).get();
  }
  // Starts pool.acquire() on its worker; the future is ready when it returns.
  static std::future<acquire_result> start_acquire(asio::io_context& io, server_pool& pool) {
    return asio::co_spawn(io, pool.acquire(), asio::use_future);
  }

  asio::io_context srv, a, b;
  asio::executor_work_guard<asio::io_context::executor_type> guard_srv{srv.get_executor()},
      guard_a{a.get_executor()}, guard_b{b.get_executor()};
  login_server server{srv};
  std::shared_ptr<pool_budget> budget;
  std::optional<server_pool> pool_a, pool_b;
  std::vector<std::thread> threads;
};

// Waits (1 ms steps, up to `limit`) for `condition`.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 2000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  return condition();
}

}  // namespace

TEST_CASE("pool_budget: reservations stop at max", "[pool_budget]") {
  pool_budget budget(2);
  CHECK(budget.try_reserve());
  CHECK(budget.try_reserve());
  CHECK_FALSE(budget.try_reserve());
  CHECK(budget.in_use() == 2);
  budget.unreserve();
  CHECK(budget.try_reserve());
  CHECK_FALSE(budget.has_waiters());
  CHECK(pool_budget(0).max() == 1);
}

TEST_CASE("pool_budget: a waiter on one worker gets the connection released on the other",
          "[pool_budget][threads]") {
  two_workers w(1);
  auto held = w.start_acquire(w.a, *w.pool_a).get();
  REQUIRE(held.connection);
  auto waiting = w.start_acquire(w.b, *w.pool_b);
  REQUIRE(eventually([&] { return w.budget->has_waiters(); }));
  CHECK(waiting.wait_for(50ms) == std::future_status::timeout);
  const auto* identity = held.connection.get();
  w.on(w.a, [&] { w.pool_a->release(std::move(held.connection), true); });
  auto got = waiting.get();
  REQUIRE(got.connection);
  CHECK(got.connection.get() == identity);
  CHECK(w.server.accepts == 1);
  CHECK(w.budget->in_use() == 1);
  // It works on its new worker: healthy there, counted there, and goes back to b's idle list.
  CHECK(w.on(w.b, [&] { return got.connection->idle_and_healthy(); }));
  CHECK(w.on(w.a, [&] { return w.pool_a->stats().total; }) == 0);
  w.on(w.b, [&] { w.pool_b->release(std::move(got.connection), true); });
  CHECK(w.on(w.b, [&] { return std::make_pair(w.pool_b->stats().total, w.pool_b->stats().idle); }) ==
        std::make_pair(std::size_t{1}, std::size_t{1}));
}

TEST_CASE("pool_budget: a waiter opens its own connection when one closes on the other worker",
          "[pool_budget][threads]") {
  two_workers w(1);
  auto held = w.start_acquire(w.a, *w.pool_a).get();
  REQUIRE(held.connection);
  auto waiting = w.start_acquire(w.b, *w.pool_b);
  REQUIRE(eventually([&] { return w.budget->has_waiters(); }));
  w.on(w.a, [&] { w.pool_a->release(std::move(held.connection), false); });
  auto got = waiting.get();
  REQUIRE(got.connection);
  CHECK(w.server.accepts == 2);
  CHECK(w.budget->in_use() == 1);
  w.on(w.b, [&] { w.pool_b->release(std::move(got.connection), true); });
}

TEST_CASE("pool_budget: an idle connection on the other worker is handed over", "[pool_budget][threads]") {
  two_workers w(1);
  auto first = w.start_acquire(w.a, *w.pool_a).get();
  REQUIRE(first.connection);
  w.on(w.a, [&] { w.pool_a->release(std::move(first.connection), true); });  // idle on a
  auto got = w.start_acquire(w.b, *w.pool_b).get();
  REQUIRE(got.connection);
  CHECK(w.server.accepts == 1);
  CHECK(w.on(w.a, [&] { return w.pool_a->stats().idle; }) == 0);
  w.on(w.b, [&] { w.pool_b->release(std::move(got.connection), true); });
}

TEST_CASE("pool_budget: waiters on both workers are served in FIFO order", "[pool_budget][threads]") {
  two_workers w(1);
  auto held = w.start_acquire(w.a, *w.pool_a).get();
  REQUIRE(held.connection);
  auto first = w.start_acquire(w.b, *w.pool_b);
  REQUIRE(eventually([&] { return w.on(w.b, [&] { return w.pool_b->stats().waiting; }) == 1; }));
  auto second = w.start_acquire(w.a, *w.pool_a);
  REQUIRE(eventually([&] { return w.on(w.a, [&] { return w.pool_a->stats().waiting; }) == 1; }));
  w.on(w.a, [&] { w.pool_a->release(std::move(held.connection), true); });
  auto got = first.get();  // b's waiter queued first, so it wins over a's own
  REQUIRE(got.connection);
  CHECK(second.wait_for(50ms) == std::future_status::timeout);
  w.on(w.b, [&] { w.pool_b->release(std::move(got.connection), true); });
  auto later = second.get();
  REQUIRE(later.connection);
  CHECK(w.server.accepts == 1);
  w.on(w.a, [&] { w.pool_a->release(std::move(later.connection), true); });
}

TEST_CASE("pool_budget: the wait is bounded by wait_timeout with 53300", "[pool_budget][threads]") {
  two_workers w(1, 150ms);
  auto held = w.start_acquire(w.a, *w.pool_a).get();
  REQUIRE(held.connection);
  const auto start = std::chrono::steady_clock::now();
  auto timed_out = w.start_acquire(w.b, *w.pool_b).get();
  CHECK(std::chrono::steady_clock::now() - start >= 140ms);
  CHECK_FALSE(timed_out.connection);
  CHECK(timed_out.failure.code == errc::pool_timeout);
  CHECK(timed_out.failure.sqlstate == "53300");
  CHECK(timed_out.failure.message.find("whole proxy") != std::string::npos);
  CHECK_FALSE(w.budget->has_waiters());
  CHECK(w.on(w.b, [&] { return w.pool_b->stats().timeouts; }) == 1);
  w.on(w.a, [&] { w.pool_a->release(std::move(held.connection), true); });
}

TEST_CASE("pool_budget: many clients on two workers never exceed the budget", "[pool_budget][threads]") {
  two_workers w(3);
  std::atomic<int> done{0}, failed{0};
  std::atomic<std::size_t> peak{0};
  const auto client = [&](server_pool& pool) -> asio::awaitable<void> {
    for (int i = 0; i < 20; ++i) {
      auto got = co_await pool.acquire();
      if (!got.connection) {
        ++failed;
        continue;
      }
      const auto in_use = w.budget->in_use();
      for (auto seen = peak.load(); in_use > seen && !peak.compare_exchange_weak(seen, in_use);) {
      }
      asio::steady_timer pause(co_await asio::this_coro::executor, 1ms);
      co_await pause.async_wait(use_tuple);
      pool.release(std::move(got.connection), i % 7 != 3);  // now and then close instead
    }
    ++done;
  };
  for (int i = 0; i < 6; ++i) {
    asio::co_spawn(w.a, client(*w.pool_a), asio::detached);
    asio::co_spawn(w.b, client(*w.pool_b), asio::detached);
  }
  REQUIRE(eventually([&] { return done == 12; }, 10'000ms));
  CHECK(failed == 0);
  CHECK(peak <= 3);
  CHECK(w.budget->in_use() <= 3);
  CHECK_FALSE(w.budget->has_waiters());
}
