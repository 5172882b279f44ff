// The write gate: open is a pass-through; held units wait and go ahead when it opens, or give up after
// hold_timeout; beyond max_held they are refused at once; in-flight counting and wait_idle.
#include "router/failover/write_gate.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

using sluice::router::failover::pass_result;
using sluice::router::failover::write_gate;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Starts one pass() on `io`; its outcome lands in `out`.
void start_pass(asio::io_context& io, write_gate& gate, std::optional<pass_result>& out) {
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await gate.pass(io); }, asio::detached);
}

// Runs `io` for `duration` (also when it runs out of work early).
void run_for(asio::io_context& io, std::chrono::milliseconds duration) {
  io.restart();
  io.run_for(duration);
}

// Runs `io` until `done()` or 5 s (slow machines, valgrind).
template <typename Done>
void run_until(asio::io_context& io, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done() && std::chrono::steady_clock::now() < deadline) run_for(io, 5ms);
}

}  // namespace

TEST_CASE("an open gate lets units through at once") {
  asio::io_context io;
  write_gate gate(1000ms, 10);
  std::optional<pass_result> out;
  start_pass(io, gate, out);
  io.run();
  REQUIRE(out == pass_result::open);
  CHECK(gate.totals().held == 0);
  CHECK_FALSE(gate.held());
}

TEST_CASE("held units wait and go ahead when the gate opens") {
  asio::io_context io;
  write_gate gate(5000ms, 10);
  gate.hold();
  REQUIRE(gate.held());
  std::vector<std::optional<pass_result>> outs(3);
  for (auto& out : outs) start_pass(io, gate, out);
  run_until(io, [&] { return gate.waiting() == 3; });
  run_for(io, 30ms);
  for (const auto& out : outs) CHECK_FALSE(out.has_value());
  CHECK(gate.waiting() == 3);
  gate.open();
  run_until(io, [&] { return outs[0] && outs[1] && outs[2]; });
  for (const auto& out : outs) CHECK(out == pass_result::open);
  CHECK(gate.waiting() == 0);
  CHECK(gate.held_this_time() == 3);
  const auto totals = gate.totals();
  CHECK(totals.holds == 1);
  CHECK(totals.held == 3);
  CHECK(totals.released == 3);
  CHECK(gate.hold_duration() >= 30ms);
}

TEST_CASE("a held unit gives up after hold_timeout") {
  asio::io_context io;
  write_gate gate(40ms, 10);
  gate.hold();
  std::optional<pass_result> out;
  const auto started = std::chrono::steady_clock::now();
  start_pass(io, gate, out);
  run_until(io, [&] { return out.has_value(); });
  REQUIRE(out == pass_result::timed_out);
  CHECK(std::chrono::steady_clock::now() - started >= 40ms);
  CHECK(gate.totals().timed_out == 1);
  CHECK(gate.waiting() == 0);
}

TEST_CASE("beyond max_held, units are refused at once") {
  asio::io_context io;
  write_gate gate(5000ms, 2);
  gate.hold();
  std::vector<std::optional<pass_result>> outs(4);
  for (auto& out : outs) start_pass(io, gate, out);
  run_until(io, [&] { return outs[2] && outs[3]; });
  CHECK_FALSE(outs[0].has_value());
  CHECK_FALSE(outs[1].has_value());
  CHECK(outs[2] == pass_result::queue_full);
  CHECK(outs[3] == pass_result::queue_full);
  CHECK(gate.totals().queue_full == 2);
  gate.open();
  run_until(io, [&] { return outs[0] && outs[1]; });
  CHECK(outs[0] == pass_result::open);
  CHECK(outs[1] == pass_result::open);
}

TEST_CASE("a second hold resets the per-hold count; hold and open are idempotent") {
  asio::io_context io;
  write_gate gate(5000ms, 10);
  gate.hold();
  gate.hold();
  std::optional<pass_result> out;
  start_pass(io, gate, out);
  run_until(io, [&] { return gate.waiting() == 1; });
  gate.open();
  gate.open();
  run_until(io, [&] { return out.has_value(); });
  CHECK(gate.held_this_time() == 1);
  gate.hold();
  CHECK(gate.held_this_time() == 0);
  CHECK(gate.totals().holds == 2);
  gate.open();
}

TEST_CASE("in-flight units are counted and wait_idle waits for them") {
  write_gate gate(1000ms, 10);
  CHECK(gate.wait_idle(0ms));
  gate.enter();
  gate.enter();
  CHECK(gate.in_flight() == 2);
  CHECK_FALSE(gate.wait_idle(10ms));
  std::thread leaver([&] {
    std::this_thread::sleep_for(20ms);
    gate.leave();
    gate.leave();
  });
  CHECK(gate.wait_idle(2000ms));
  leaver.join();
  CHECK(gate.in_flight() == 0);
}
