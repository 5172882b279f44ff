// engine::unit_admission against a real worker's tenant gate and write gate, with fake front-end
// hooks: admission, queueing, refusal, cancel and a client that leaves while it waits.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "router/config/config.hpp"
#include "router/engine/unit_admission.hpp"
#include "router/shared_state.hpp"
#include "router/worker.hpp"
#include "tests/support/one_backend_config.hpp"

namespace asio = boost::asio;
using namespace sluice::router;
using tcp = asio::ip::tcp;

namespace {

const std::string config_text = sluice::testing::one_backend_config(R"(
[[users]]
name = "app"
auth = "trust"

[failover]
hold_timeout = "300ms"

[[tenant_rules]]
tag = "tenant"

[[tenants]]
name = "acme"
max_concurrency = 1
max_wait = "300ms"

[[tenants]]
name = "strict"
max_concurrency = 1
max_queue = 0
)");

// The front end's part: flushing always works; whether readable means gone is the test's choice.
struct fake_hooks final : engine::admission_hooks {
  bool left = false;
  int flushes = 0;
  asio::awaitable<bool> flush_client() override {
    ++flushes;
    co_return true;
  }
  bool client_left() override { return left; }
};

// A session's client connection on loopback: `session` is sluice's end, `peer` the client's.
struct connected_pair {
  tcp::socket session;
  tcp::socket peer;
  explicit connected_pair(asio::io_context& io) : session(io), peer(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(session);
  }
};

// One session's unit_admission with its socket and hooks.
struct session {
  connected_pair sockets;
  fake_hooks hooks;
  engine::unit_admission units;
  explicit session(worker& owner) : sockets(owner.io()), units(owner, sockets.session, hooks) {}
};

struct rig {
  shared_state shared{config::load_config_text(config_text, "test.toml")};
  worker owner{shared, 0};
  ~rig() { shared.tenants.stop(); }

  // Runs the worker's io_context until `done` or two seconds.
  void run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      owner.io().restart();
      owner.io().run_for(std::chrono::milliseconds(5));
    }
  }
  void run_for(std::chrono::milliseconds span) {
    const auto deadline = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < deadline) {
      owner.io().restart();
      owner.io().run_for(std::chrono::milliseconds(5));
    }
  }
};

// Starts admit() on the worker's io_context; the verdict and refusal land in the optionals.
struct admission_run {
  std::optional<engine::verdict> result;
  engine::refusal why;
};
void start_admit(rig& r, session& s, admission_run& run, std::string_view sql) {
  s.units.begin();
  asio::co_spawn(
      r.owner.io(),
      [&s, &run, sql]() -> asio::awaitable<void> {
        run.result = co_await s.units.admit({"app", "db", "test"}, sql, run.why);
      },
      asio::detached);
}

constexpr std::string_view acme_sql = "/* tenant=acme */ SELECT 1";

}  // namespace

TEST_CASE("unit_admission: a unit queued behind max_concurrency is admitted when the running one ends",
          "[engine][unit_admission]") {
  rig r;
  session a(r.owner), b(r.owner);
  admission_run first, second;
  start_admit(r, a, first, acme_sql);
  r.run_until([&] { return first.result.has_value(); });
  REQUIRE(first.result == engine::verdict::go);
  REQUIRE(a.units.tenant().has_value());
  CHECK(r.shared.tenants.tenant_name(*a.units.tenant()) == "acme");

  start_admit(r, b, second, acme_sql);
  r.run_for(std::chrono::milliseconds(50));
  CHECK_FALSE(second.result.has_value());
  CHECK(b.units.waiting());
  CHECK(b.hooks.flushes == 1);  // answers due went out before it waited

  a.units.end();
  r.run_until([&] { return second.result.has_value(); });
  CHECK(second.result == engine::verdict::go);
  CHECK_FALSE(b.units.waiting());
  b.units.end();
  CHECK(r.shared.tenants.active() == 0);
}

TEST_CASE("unit_admission: refusals say which limit and map to the protocol's codes", "[engine][unit_admission]") {
  rig r;
  session a(r.owner), b(r.owner);
  admission_run first, second;

  SECTION("max_wait passes: tenant_concurrency, 53300") {
    start_admit(r, a, first, acme_sql);
    r.run_until([&] { return first.result.has_value(); });
    start_admit(r, b, second, acme_sql);
    r.run_until([&] { return second.result.has_value(); });
    REQUIRE(second.result == engine::verdict::refused);
    CHECK(second.why.code == engine::refusal_code::tenant_concurrency);
    CHECK(second.why.message.find("sluice: tenant 'acme' exceeded max_concurrency=1; queued") == 0);
    CHECK(engine::pg_sqlstate(second.why) == "53300");
  }
  SECTION("max_queue = 0: refused at once") {
    constexpr std::string_view strict_sql = "/* tenant=strict */ SELECT 1";
    start_admit(r, a, first, strict_sql);
    r.run_until([&] { return first.result.has_value(); });
    start_admit(r, b, second, strict_sql);
    r.run_until([&] { return second.result.has_value(); });
    REQUIRE(second.result == engine::verdict::refused);
    CHECK(second.why.message.find("has max_queue=0 statements waiting already (held by max_concurrency=1)") !=
          std::string::npos);
    CHECK(b.hooks.flushes == 0);  // it never waited
  }
  SECTION("a cancel ends the wait: query_canceled, 57014") {
    start_admit(r, a, first, acme_sql);
    r.run_until([&] { return first.result.has_value(); });
    start_admit(r, b, second, acme_sql);
    r.run_for(std::chrono::milliseconds(30));
    REQUIRE(b.units.cancel_wait());
    r.run_until([&] { return second.result.has_value(); });
    REQUIRE(second.result == engine::verdict::refused);
    CHECK(second.why.code == engine::refusal_code::query_canceled);
    CHECK(engine::pg_sqlstate(second.why) == "57014");
    CHECK(engine::mysql_error_for(second.why.code).number == 1317);
    CHECK_FALSE(a.units.cancel_wait());  // running, not waiting: a cancel is the server's business
  }
  SECTION("the client leaves while queued: its place is given up, nothing to tell") {
    start_admit(r, a, first, acme_sql);
    r.run_until([&] { return first.result.has_value(); });
    start_admit(r, b, second, acme_sql);
    r.run_for(std::chrono::milliseconds(30));
    b.hooks.left = true;
    b.sockets.peer.close();
    r.run_until([&] { return second.result.has_value(); });
    CHECK(second.result == engine::verdict::client_gone);
    a.units.end();
    // The place was freed: a third unit is admitted at once.
    session c(r.owner);
    admission_run third;
    start_admit(r, c, third, acme_sql);
    r.run_until([&] { return third.result.has_value(); });
    CHECK(third.result == engine::verdict::go);
  }
}

TEST_CASE("unit_admission: the write gate counts units on the primary and holds them during a switchover",
          "[engine][unit_admission]") {
  rig r;
  session a(r.owner);
  auto& gate = r.shared.writes;
  a.units.begin();
  REQUIRE(a.units.write_gate_open_now());
  CHECK(gate.in_flight() == 1);
  CHECK(a.units.write_gate_open_now());  // counted once per unit
  CHECK(gate.in_flight() == 1);
  a.units.end();
  CHECK(gate.in_flight() == 0);

  gate.hold();
  a.units.begin();
  CHECK_FALSE(a.units.write_gate_open_now());
  CHECK(gate.in_flight() == 0);  // a held unit is not counted: the switchover does not wait for it

  std::optional<engine::verdict> passed;
  engine::refusal why;
  const auto pass = [&] {
    passed.reset();
    asio::co_spawn(
        r.owner.io(), [&]() -> asio::awaitable<void> { passed = co_await a.units.pass_write_gate(why); },
        asio::detached);
  };

  SECTION("opened: the unit goes on and is counted") {
    pass();
    r.run_for(std::chrono::milliseconds(30));
    CHECK(a.units.waiting());
    gate.open();
    r.run_until([&] { return passed.has_value(); });
    CHECK(passed == engine::verdict::go);
    CHECK(gate.in_flight() == 1);
    a.units.end();
    CHECK(gate.in_flight() == 0);
  }
  SECTION("cancelled") {
    pass();
    r.run_for(std::chrono::milliseconds(30));
    REQUIRE(a.units.cancel_wait());
    r.run_until([&] { return passed.has_value(); });
    CHECK(passed == engine::verdict::refused);
    CHECK(why.code == engine::refusal_code::query_canceled);
    CHECK(gate.in_flight() == 0);  // refused: not counted
    gate.open();
  }
  SECTION("held past failover.hold_timeout: writes_held, 57P03 / 1290") {
    pass();
    r.run_until([&] { return passed.has_value(); });
    CHECK(passed == engine::verdict::refused);
    CHECK(why.code == engine::refusal_code::writes_held);
    CHECK(why.message.find("failover.hold_timeout") != std::string::npos);
    CHECK(engine::pg_sqlstate(why) == "57P03");
    CHECK(engine::mysql_error_for(why.code).number == 1290);
    CHECK(r.owner.stats().writes_refused == 1);
    CHECK(gate.in_flight() == 0);
    gate.open();
  }
  a.units.end();
  CHECK(gate.in_flight() == 0);
}

TEST_CASE("unit_admission: what a unit holds is given back by end() and by the destructor, begin() or not",
          "[engine][unit_admission]") {
  rig r;
  auto& gate = r.shared.writes;
  {
    session a(r.owner);
    REQUIRE(a.units.write_gate_open_now());  // a front end that forgot begin()
    CHECK(gate.in_flight() == 1);
    a.units.end();
    CHECK(gate.in_flight() == 0);
  }
  {
    session b(r.owner);
    b.units.begin();
    REQUIRE(b.units.write_gate_open_now());
    admission_run run;
    start_admit(r, b, run, acme_sql);
    r.run_until([&] { return run.result.has_value(); });
    REQUIRE(run.result == engine::verdict::go);
    CHECK(r.shared.tenants.active() == 1);
  }  // the session goes without ending its unit (its worker stopped)
  CHECK(gate.in_flight() == 0);
  CHECK(r.shared.tenants.active() == 0);
}

TEST_CASE("refusal codes: each has a PostgreSQL SQLSTATE and a MySQL error", "[engine][refusal]") {
  using engine::refusal_code;
  for (int i = 0; i <= static_cast<int>(engine::last_refusal_code); ++i) {
    const auto code = static_cast<refusal_code>(i);
    INFO(engine::to_string(code));
    CHECK(engine::pg_sqlstate(code).size() == 5);
    CHECK(engine::pg_sqlstate(code) != "XX000");
    const auto mysql = engine::mysql_error_for(code);
    CHECK(mysql.number >= 1000);
    CHECK(mysql.sqlstate.size() == 5);
    CHECK(engine::to_string(code) != "unknown");
  }
  // A PostgreSQL backend's own SQLSTATE reaches a PostgreSQL client as it was.
  CHECK(engine::pg_sqlstate(engine::refusal{refusal_code::backend_unavailable, "x", "57P03"}) == "57P03");
  CHECK(engine::pg_sqlstate(engine::refusal{refusal_code::backend_unavailable, "x", ""}) == "08006");
  CHECK(engine::mysql_error_for(refusal_code::login_failed).number == 1045);
  CHECK(engine::mysql_error_for(refusal_code::too_many_clients).sqlstate == "08004");
}
