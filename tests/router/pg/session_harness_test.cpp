// Client session logic without a PostgreSQL server: scripted clients and fake backends around a real
// worker (session_harness.hpp), each script rerun with a server or client I/O fault at every step and
// checked for leaked server connections and malformed answers (sluice issue 10, "Tests").
// GCC 12 false positive on Asio's coroutine frames once test_client::start is inlined (GCC PR 109224;
// see tests/backends/pool/server_pool_test.cpp). Before the include: the warning points into the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "tests/router/pg/session_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>

using sluice::testing::check_network_errors;
using sluice::testing::fe_messages;
using sluice::testing::script;
using sluice::testing::server_fault;

namespace {

constexpr const char* greeting = "R:0 S S K Z:I";

fe_messages q(std::string_view sql) { return fe_messages().query(sql); }

// A read goes to the replica, a write to the primary; an empty query and an error leave the session
// usable.
script simple_query() {
  script s("simple query");
  s.backends(2)
      .connect(0).expect(greeting)
      .query(0, "SELECT 'A-1'").expect("T D:SELECT 'A-1' C:SELECT 1 Z:I")
      .query(0, "INSERT INTO t VALUES ('A-2')").expect("C:INSERT 0 1 Z:I")
      .query(0, "").expect("I Z:I")
      .query(0, "SELECT fail_me").expect("E:ERROR:42P01 Z:I")
      .query(0, "SELECT 'A-3'; SELECT 'A-4'").expect("T D:SELECT 'A-3' C:SELECT 1 T D:SELECT 'A-4' C:SELECT 1 Z:I");
  return s;
}

// Unnamed and named statements; a named Parse + Sync is answered by sluice, the Bind gets the Parse
// injected on the server; Describe, Close, and an error in the middle of a batch.
script extended_query() {
  script s("extended Parse/Bind/Execute/Sync");
  s.connect(0).expect(greeting)
      .run(0, fe_messages().parse("", "SELECT 'A-1'").bind().describe('P').execute().sync())
      .expect("1 2 T D:SELECT 'A-1' C:SELECT 1 Z:I")
      .run(0, fe_messages().parse("s1", "SELECT 'A-2'").sync()).expect("1 Z:I")
      .run(0, fe_messages().bind("", "s1").execute().sync()).expect("2 D:SELECT 'A-2' C:SELECT 1 Z:I")
      .run(0, fe_messages().describe('S', "s1").sync()).expect("t T Z:I")
      .run(0, fe_messages().close('S', "s1").sync()).expect("3 Z:I")
      .run(0, fe_messages().parse("", "SELECT fail_me").bind().execute().sync()).expect("1 2 E:ERROR:42P01 Z:I")
      .run(0, fe_messages().parse("", "SELECT 'A-3'").bind().execute().sync()).expect("1 2 D:SELECT 'A-3' C:SELECT 1 Z:I");
  return s;
}

// Two batches in one write, then two Bind/Execute/Sync batches of named statements in one write.
script pipeline() {
  script s("pipeline of two batches");
  s.connect(0).expect(greeting)
      .run(0, fe_messages()
                  .parse("", "SELECT 'A-1'").bind().execute().sync()
                  .parse("", "SELECT 'A-2'").bind().execute().sync())
      .expect("1 2 D:SELECT 'A-1' C:SELECT 1 Z:I 1 2 D:SELECT 'A-2' C:SELECT 1 Z:I")
      .run(0, fe_messages().parse("s1", "SELECT 'A-3'").parse("s2", "INSERT INTO t VALUES ('A-4')").sync())
      .expect("1 1 Z:I")
      .run(0, fe_messages().bind("", "s1").execute().sync().bind("", "s2").execute().sync())
      .expect("2 D:SELECT 'A-3' C:SELECT 1 Z:I 2 C:INSERT 0 1 Z:I");
  return s;
}

// A read batch pipelined with a write batch, with a replica configured: each batch must run where it
// can (a replica refuses the write with 25006).
script pipeline_read_then_write() {
  script s("pipeline: read batch then write batch, with a replica");
  s.backends(2)
      .connect(0).expect(greeting)
      .run(0, fe_messages()
                  .parse("", "SELECT 'A-1'").bind().execute().sync()
                  .parse("", "INSERT INTO t VALUES ('A-2')").bind().execute().sync())
      .expect("1 2 D:SELECT 'A-1' C:SELECT 1 Z:I 1 2 C:INSERT 0 1 Z:I");
  return s;
}

// BEGIN..COMMIT over several Query messages, then a transaction that fails and is rolled back.
script transaction() {
  script s("transaction over several Query messages");
  s.connect(0).expect(greeting)
      .query(0, "BEGIN").expect("C:BEGIN Z:T")
      .query(0, "INSERT INTO t VALUES ('A-1')").expect("C:INSERT 0 1 Z:T")
      .query(0, "SELECT 'A-2'").expect("T D:SELECT 'A-2' C:SELECT 1 Z:T")
      .query(0, "COMMIT").expect("C:COMMIT Z:I")
      .query(0, "BEGIN").expect("C:BEGIN Z:T")
      .query(0, "SELECT fail_me").expect("E:ERROR:42P01 Z:E")
      .query(0, "SELECT 'A-3'").expect("E:ERROR:25P02 Z:E")
      .query(0, "ROLLBACK").expect("C:ROLLBACK Z:I")
      .query(0, "SELECT 'A-4'").expect("T D:SELECT 'A-4' C:SELECT 1 Z:I");
  return s;
}

// A session SET is captured after its unit (sluice's own pg_settings query), replayed with
// set_config() on another server connection, and a RESET is replayed as RESET.
script session_set() {
  script s("session SET, captured and replayed");
  s.backends(2)
      .startup_parameter("application_name", "A-app")
      .connect(0).expect(greeting)
      .query(0, "SET search_path TO 'A-path'").expect("C:SET Z:I")
      .query(0, "SHOW search_path").expect("T D:show:search_path=A-path C:SHOW Z:I")
      .query(0, "/* sluice: primary */ SHOW search_path").expect("T D:show:search_path=A-path C:SHOW Z:I")
      .query(0, "RESET search_path").expect("C:RESET Z:I")
      .query(0, "/* sluice: primary */ SHOW search_path").expect("T D:show:search_path= C:SHOW Z:I")
      .query(0, "/* sluice: primary */ SHOW application_name").expect("T D:show:application_name=A-app C:SHOW Z:I");
  return s;
}

// Two clients over a pool of one connection: B queues while A's transaction holds it, then gets it
// with A's SET undone; statements of the same name, and unnamed ones, never cross between them.
script two_clients_one_connection() {
  script s("two clients interleaved over a pool of one connection");
  s.user_options("pool_size = 1")
      .connect(0).expect(greeting)
      .connect(1).expect(greeting)
      .query(0, "BEGIN").expect("C:BEGIN Z:T")
      .query(0, "SET search_path TO 'A-path'").expect("C:SET Z:T")
      .send(1, q("SELECT 'B-1'"))
      .settle(1)
      .query(0, "SELECT 'A-1'").expect("T D:SELECT 'A-1' C:SELECT 1 Z:T")
      .query(0, "COMMIT").expect("C:COMMIT Z:I")
      .wait(1).expect("T D:SELECT 'B-1' C:SELECT 1 Z:I")
      .query(1, "SHOW search_path").expect("T D:show:search_path= C:SHOW Z:I")
      .send(0, fe_messages().parse("", "SELECT 'A-2'").bind().execute().sync())
      .send(1, q("SELECT 'B-2'"))
      .wait(0).expect("1 2 D:SELECT 'A-2' C:SELECT 1 Z:I")
      .wait(1).expect("T D:SELECT 'B-2' C:SELECT 1 Z:I")
      .query(0, "SHOW search_path").expect("T D:show:search_path=A-path C:SHOW Z:I")
      .run(0, fe_messages().parse("s1", "SELECT 'A-3'").sync()).expect("1 Z:I")
      .run(1, fe_messages().parse("s1", "SELECT 'B-3'").sync()).expect("1 Z:I")
      .run(0, fe_messages().bind("", "s1").execute().sync()).expect("2 D:SELECT 'A-3' C:SELECT 1 Z:I")
      .run(1, fe_messages().bind("", "s1").execute().sync()).expect("2 D:SELECT 'B-3' C:SELECT 1 Z:I")
      .run(0, fe_messages().parse("", "SELECT 'A-4'").sync()).expect("1 Z:I")
      .run(1, fe_messages().parse("", "SELECT 'B-4'").sync()).expect("1 Z:I")
      .run(0, fe_messages().bind().execute().sync()).expect("2 D:SELECT 'A-4' C:SELECT 1 Z:I")
      .run(1, fe_messages().bind().execute().sync()).expect("2 D:SELECT 'B-4' C:SELECT 1 Z:I");
  return s;
}

// --- Bugs the harness found, now fixed; the strict sweeps below fail on either again.
// 1. A server read error or EOF while an answer was due (relay_from_server) aborted the whole process:
//    "free(): double free" destroying the std::string temporaries of a `?:` inside
//    `co_return co_await server_failed(..., ec == eof ? std::string(...) : "..." + ec.message())`.
//    GCC 12 destroys such temporaries twice in a coroutine; every connection loss without a FATAL
//    (crash, kill -9, network reset, half an answer) took the proxy down.
// 2. The connection failing during the settings capture that follows a unit with SET (sluice's own
//    "SELECT pg_catalog.lower(name) ..." after the unit's ReadyForQuery was relayed): server_failed
//    sent ERROR 08006 and one more ReadyForQuery the client never asked for, so every answer after
//    it was off by one. Now the session ends with FATAL (its settings are unknown).

// Found by a 20,000-script session fuzz run (seed 15, script 8430): a named Parse pipelined behind a
// request that failed is skipped by the server, so the name stays undefined (a later Bind of it fails
// with 26000), but sluice had already recorded it and prepared it again at the Bind, which then ran.
// Both ways: forwarded to the server (its text not prepared there yet), and answered by sluice (the
// text already prepared there under another name, its ParseComplete held behind the failed Bind).
script skipped_named_parse() {
  script s("a named Parse skipped after an error stays undefined");
  s.connect(0).expect(greeting)
      .run(0, fe_messages().bind("", "nope").parse("s2", "SELECT 'A-1'").sync()).expect("E:ERROR:26000 Z:I")
      .run(0, fe_messages().bind("", "s2").execute().sync()).expect("E:ERROR:26000 Z:I")
      .run(0, fe_messages().parse("s1", "SELECT 'A-2'").bind("", "s1").execute().sync())
      .expect("1 2 D:SELECT 'A-2' C:SELECT 1 Z:I")
      .run(0, fe_messages().bind("", "nope").parse("s3", "SELECT 'A-2'").sync()).expect("E:ERROR:26000 Z:I")
      .run(0, fe_messages().bind("", "s3").execute().sync()).expect("E:ERROR:26000 Z:I")
      .run(0, fe_messages().parse("s2", "SELECT 'A-3'").bind("", "s2").execute().sync())
      .expect("1 2 D:SELECT 'A-3' C:SELECT 1 Z:I")
      // A Parse sluice injects before a Bind (the statement was answered locally) and the server fails
      // is not prepared there: the next Bind injects it again and gets the server's own error, not
      // 26000 for sluice's name (the first version of the fix above kept it marked prepared).
      .run(0, fe_messages().parse("s4", "SELECT parse_error_here").sync()).expect("1 Z:I")
      .run(0, fe_messages().bind("", "s4").execute().sync()).expect("E:ERROR:42601 Z:I")
      .run(0, fe_messages().bind("", "s4").execute().sync()).expect("E:ERROR:42601 Z:I");
  return s;
}

bool no_known_bug(const sluice::testing::fault&, const sluice::testing::run_report&) { return false; }

void sweep(const script& s) {
  const auto result = check_network_errors(s, no_known_bug);
  CHECK(result.known == 0);
  CHECK(result.runs > 0);
}

}  // namespace

TEST_CASE("session harness: simple query, with a fault at every step", "[session_harness]") { sweep(simple_query()); }

TEST_CASE("session harness: extended query, with a fault at every step", "[session_harness]") {
  sweep(extended_query());
}

TEST_CASE("session harness: pipeline of two batches, with a fault at every step", "[session_harness]") {
  sweep(pipeline());
}

TEST_CASE("session harness: a named Parse the server skipped stays undefined, with a fault at every step",
          "[session_harness]") {
  sweep(skipped_named_parse());
}

TEST_CASE("session harness: transaction over several Query messages, with a fault at every step",
          "[session_harness]") {
  sweep(transaction());
}

TEST_CASE("session harness: session SET, with a fault at every step", "[session_harness]") { sweep(session_set()); }

TEST_CASE("session harness: two clients over a pool of one, with a fault at every step", "[session_harness]") {
  sweep(two_clients_one_connection());
}

// 3. classify_extended_batch routed on the first batch only (it stops at the first Sync), and the
//    batches pipelined behind it rode along on the same server connection: a write batch sent behind
//    a read batch ran on the replica (a hot standby refuses it: 25006). Now such a batch waits for the
//    replica's ReadyForQuery and is routed on its own.
TEST_CASE("session harness: a write batch pipelined behind a read batch goes to the primary",
          "[session_harness]") {
  check_network_errors(pipeline_read_then_write());
}

// Item 12 of issue 10: a CancelRequest that ends a wait at the write gate (held for a switchover)
// counted for that wait only; it stayed set, and every later wait of the session ended at once with
// 57014 (when tenant QoS, which cleared it, was off).
namespace {

using sluice::testing::tcp;
namespace asio = boost::asio;
using namespace std::chrono_literals;

// One fake backend and a worker in front of it, driven by hand (no script): for tests that act on the
// worker or the shared state between a client's messages.
struct hand_driven_worker {
  // `backends`: the first is the primary, the others replicas; `routing`: more [routing] lines.
  explicit hand_driven_worker(const char* name, std::size_t backends = 1, std::string_view routing = {}) {
    for (std::size_t i = 0; i < backends; ++i) {
      servers.push_back(std::make_unique<sluice::testing::fake_pg_server>("pg" + std::to_string(i + 1), i != 0, plan));
    }
    const sluice::testing::script s(name);
    shared = std::make_unique<sluice::router::shared_state>(sluice::router::config::load_config_text(
        sluice::testing::config_text(s, servers, routing), "harness.toml"));
    owner = std::make_unique<sluice::router::worker>(*shared, 0);
    for (auto& server : servers) server->start(owner->io());
    front.emplace(owner->io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  }

  // The fake servers run on the worker's io_context: they close their sockets before it goes (ASan
  // found the reverse order: a socket closed through a destroyed reactor).
  ~hand_driven_worker() {
    front.reset();
    servers.clear();
  }
  hand_driven_worker(const hand_driven_worker&) = delete;
  hand_driven_worker& operator=(const hand_driven_worker&) = delete;

  // Connects `client` through a session of the worker's and logs it in (greeting checked).
  void connect(sluice::testing::test_client& client) {
    client.socket.connect(front->local_endpoint());
    tcp::endpoint peer;
    auto accepted = front->accept(peer);
    shared->clients.fetch_add(1);
    sluice::router::pg::start_client_session(*owner, std::move(accepted), peer);
    client.connected();
    client.start();
    client.send_startup({{"user", "app"}, {"database", "appdb"}});
    REQUIRE(sluice::testing::run_until(owner->io(), [&] { return client.settled(); }, 2s));
    CHECK(client.take_transcript() == greeting);
  }

  sluice::testing::fault_plan plan{};
  std::vector<std::unique_ptr<sluice::testing::fake_pg_server>> servers;
  std::unique_ptr<sluice::router::shared_state> shared;
  std::unique_ptr<sluice::router::worker> owner;
  std::optional<tcp::acceptor> front;
};

}  // namespace

TEST_CASE("session harness: a cancel ends one write-gate wait, not the later ones", "[session_harness]") {
  using namespace sluice::testing;
  quiet_logs quiet;
  std::signal(SIGPIPE, SIG_IGN);
  hand_driven_worker rig("write gate");
  auto& shared = *rig.shared;
  auto& io = rig.owner->io();
  {
    test_client client(io, "A", "A-", "");
    rig.connect(client);

    shared.writes.hold();
    client.send(q("INSERT INTO t VALUES ('A-1')"));
    run_until(io, [] { return false; }, 100ms);
    REQUIRE_FALSE(client.settled());  // held at the gate
    const auto key = client.backend_key();
    CHECK(shared.cancels.cancel({key.process_id, key.secret_key}));
    REQUIRE(run_until(io, [&] { return client.settled(); }, 2s));
    CHECK(client.take_transcript() == "E:ERROR:57014 Z:I");

    client.send(q("INSERT INTO t VALUES ('A-2')"));
    run_until(io, [] { return false; }, 200ms);
    CHECK_FALSE(client.settled());  // waits again (the bug: 57014 at once)
    CHECK(client.take_transcript().empty());
    shared.writes.open();
    REQUIRE(run_until(io, [&] { return client.settled(); }, 3s));
    CHECK(client.take_transcript() == "C:INSERT 0 1 Z:I");
    CHECK(client.problems().empty());
    client.leave(false);
    run_until(io, [&] { return shared.clients.load() == 0; }, 2s);
  }
}

// --- Issue 15, item 2: sessions and server connections kept by valid but unusual sequences. The
// session waited on the server alone for answers the server never sends, deaf to its client: its Sync
// was never read, and a client that left kept its server connection for good. Each sweep adds a client
// that leaves (or resets) at every step.

namespace {

// A Query (and a FunctionCall, a Flush) after an extended request failed, before Sync: PostgreSQL skips
// it (postgres.c skips everything but Sync), and so must sluice, or it waits for its answer for ever.
script query_in_failed_batch() {
  script s("a Query inside a failed extended batch");
  s.connect(0).expect(greeting)
      .send(0, fe_messages().bind("", "nope").flush()).settle().wait(0).expect("E:ERROR:26000")
      .run(0, fe_messages().query("SELECT 'A-1'").not_answered().function_call(1598).not_answered().flush())
      .expect("")
      .run(0, fe_messages().sync()).expect("Z:I")
      .query(0, "SELECT 'A-2'").expect("T D:SELECT 'A-2' C:SELECT 1 Z:I");
  return s;
}

// Issue 15, item 7: losing a replica sent an extra ReadyForQuery ("message type 0x5a arrived from
// server while idle"). A Query sent after the batch's error was seen counted as owed an answer: the
// Sync's ReadyForQuery completed it, the Sync stayed owed, and when the connection was lost
// server_failed sent the client a ReadyForQuery for it too. The sweep loses the replica at every step.
script replica_lost_after_skipped_query() {
  script s("replica lost after a Query skipped in a failed batch");
  s.backends(2)
      .connect(0).expect(greeting)
      .send(0, fe_messages().describe('S', "nope").flush()).settle().wait(0).expect("E:ERROR:26000")
      .run(0, fe_messages().query("SELECT 'A-1'").not_answered().sync()).expect("Z:I")
      .query(0, "SELECT 'A-2'").expect("T D:SELECT 'A-2' C:SELECT 1 Z:I");
  return s;
}

// CopyFail (or CopyDone) outside COPY, in the middle of a batch: the server ignores it, so it does not
// answer the batch's requests before their Sync.
script copy_fail_outside_copy() {
  script s("CopyFail outside COPY, in an unfinished batch");
  s.connect(0).expect(greeting)
      .run(0, fe_messages().parse("", "SELECT 'A-1'").bind().execute().copy_fail("A-no copy")).expect("")
      .run(0, fe_messages().sync()).expect("1 2 D:SELECT 'A-1' C:SELECT 1 Z:I")
      .run(0, fe_messages().copy_data("A-x").copy_done().query("SELECT 'A-2'")).expect("T D:SELECT 'A-2' C:SELECT 1 Z:I");
  return s;
}

// A Describe (and a Parse) pipelined behind a Query, without Sync: the Query's ReadyForQuery comes, the
// Describe's answer only at the client's Sync.
script describe_without_sync() {
  script s("Describe without Sync behind a Query");
  s.connect(0).expect(greeting)
      .run(0, fe_messages().query("SELECT 'A-1'").parse("", "SELECT 'A-2'").describe('S'))
      .expect("T D:SELECT 'A-1' C:SELECT 1 Z:I")
      .run(0, fe_messages().sync()).expect("1 t T Z:I")
      .run(0, fe_messages().bind().execute().sync()).expect("2 D:SELECT 'A-2' C:SELECT 1 Z:I");
  return s;
}

// A malformed message after the start of a batch: sluice waited for the rest of the batch for ever
// instead of refusing the message (FATAL 08P01, as for one on its own).
script malformed_after_batch_start() {
  script s("a malformed message after the start of a batch");
  s.connect(0).expect(greeting)
      .send(0, fe_messages().parse("", "SELECT 'A-1'").bind().raw({'Q', 0, 0, 0, 2})).settle().wait(0)
      .expect("E:FATAL:08P01");
  return s;
}

}  // namespace

TEST_CASE("session harness: losing a replica after a skipped Query sends no extra ReadyForQuery",
          "[session_harness]") {
  sweep(replica_lost_after_skipped_query());
}

TEST_CASE("session harness: a Query inside a failed extended batch is skipped, as the server skips it",
          "[session_harness]") {
  sweep(query_in_failed_batch());
}

TEST_CASE("session harness: CopyFail and CopyDone outside COPY wait for nothing", "[session_harness]") {
  sweep(copy_fail_outside_copy());
}

TEST_CASE("session harness: a Describe without Sync behind a Query waits for the client's Sync",
          "[session_harness]") {
  sweep(describe_without_sync());
}

TEST_CASE("session harness: a malformed message after the start of a batch is refused", "[session_harness]") {
  sweep(malformed_after_batch_start());
}

// Issue 15, item 6: an extended batch without Sync was classified again from its start at every read
// (quadratic: 4 MiB cost 3.7 s of CPU). 300 reads of a growing batch, then its Sync: the bytes
// classified must stay within a small multiple of the batch's size (before: ~150 times it).
TEST_CASE("session harness: an extended batch arriving over many reads is classified once",
          "[session_harness]") {
  using namespace sluice::testing;
  script s("a batch over many reads");
  s.connect(0).expect(greeting);
  s.send(0, fe_messages().parse("", "SELECT 'A-1'")).settle();
  std::size_t batch_bytes = 0;
  constexpr std::size_t reads = 300;
  for (std::size_t i = 0; i < reads; ++i) {
    fe_messages more;
    more.bind().execute();
    batch_bytes += more.bytes.size();
    s.send(0, std::move(more)).settle();
  }
  s.run(0, fe_messages().sync());
  const auto before = sluice::router::pg::extended_batch_bytes_scanned();
  const auto report = run_script(s, {});
  const auto scanned = sluice::router::pg::extended_batch_bytes_scanned() - before;
  INFO(describe(s, {}, report));
  CHECK(report.problems.empty());
  INFO("batch of " << batch_bytes << " bytes in " << reads << " reads; classified " << scanned << " bytes");
  CHECK(scanned >= batch_bytes);
  CHECK(scanned < 3 * batch_bytes);
}

// Issue 15, item 12: graceful shutdown. When the worker drains (SIGTERM), a client idle between units
// is told FATAL 57P01 at once; a client in a transaction runs it to its end, gets its COMMIT answered,
// and is told 57P01 right after; neither loses an answer, and every server connection is returned.
TEST_CASE("session harness: draining tells idle clients 57P01 at once, the others when their transaction ends",
          "[session_harness][shutdown]") {
  using namespace sluice::testing;
  quiet_logs quiet;
  std::signal(SIGPIPE, SIG_IGN);
  hand_driven_worker rig("shutdown");
  auto& shared = *rig.shared;
  auto& owner = *rig.owner;
  auto& io = owner.io();
  {
    test_client idle(io, "idle", "I-", "T-");
    test_client in_tx(io, "in_tx", "T-", "I-");
    for (auto* client : {&idle, &in_tx}) rig.connect(*client);
    idle.send(q("SELECT 'I-1'"));
    in_tx.send(q("BEGIN"));
    REQUIRE(run_until(io, [&] { return idle.settled() && in_tx.settled(); }, 2s));
    CHECK(idle.take_transcript() == "T D:SELECT 'I-1' C:SELECT 1 Z:I");
    CHECK(in_tx.take_transcript() == "C:BEGIN Z:T");

    owner.begin_drain();
    REQUIRE(run_until(io, [&] { return idle.closed(); }, 2s));
    CHECK(idle.take_transcript() == "E:FATAL:57P01");
    run_until(io, [] { return false; }, 50ms);
    CHECK_FALSE(in_tx.closed());  // its transaction is still open: it may go on
    CHECK(in_tx.take_transcript().empty());

    in_tx.send(q("INSERT INTO t VALUES ('T-1')"));
    REQUIRE(run_until(io, [&] { return in_tx.settled(); }, 2s));
    CHECK(in_tx.take_transcript() == "C:INSERT 0 1 Z:T");
    in_tx.send(q("COMMIT"));
    REQUIRE(run_until(io, [&] { return in_tx.closed(); }, 2s));
    CHECK(in_tx.take_transcript() == "C:COMMIT Z:I E:FATAL:57P01");
    CHECK(idle.problems().empty());
    CHECK(in_tx.problems().empty());
    REQUIRE(run_until(io, [&] { return shared.clients.load() == 0; }, 2s));
    for (const auto& pool : owner.pool_figures()) {
      CHECK(pool.stats.idle == pool.stats.total);  // every server connection back in its pool
    }
  }
}

// Issue 14: read_your_writes took the primary's WAL position after every unit that ran on the primary,
// one more round trip per transaction, also where no read can ever go to a replica: with
// read_write_split off (every read runs on the primary), and with no replica configured.
TEST_CASE("session harness: the WAL position is read only where a later read may go to a replica",
          "[session_harness][read_your_writes]") {
  using namespace sluice::testing;
  quiet_logs quiet;
  std::signal(SIGPIPE, SIG_IGN);
  const auto wal_position_reads = [](const fake_pg_server& server) {
    return std::count_if(server.log().begin(), server.log().end(),
                         [](const std::string& entry) { return entry.find("pg_current_wal_insert_lsn") != std::string::npos; });
  };
  struct setup {
    const char* name;
    std::size_t backends;
    const char* routing;
    long expected;  // WAL position reads for the two units below
  };
  for (const auto& [name, backends, routing, expected] :
       {setup{"split on, a replica", 2, "", 2}, setup{"split off", 2, "read_write_split = false\n", 0},
        setup{"no replica", 1, "", 0}}) {
    INFO(name);
    hand_driven_worker rig(name, backends, routing);
    auto& io = rig.owner->io();
    test_client client(io, "A", "A-", "");
    rig.connect(client);
    client.send(q("INSERT INTO t VALUES ('A-1')"));
    REQUIRE(run_until(io, [&] { return client.settled(); }, 2s));
    CHECK(client.take_transcript() == "C:INSERT 0 1 Z:I");
    client.send(q("SELECT 'A-2' FOR UPDATE"));
    REQUIRE(run_until(io, [&] { return client.settled(); }, 2s));
    CHECK(client.take_transcript() == "T D:SELECT 'A-2' FOR UPDATE C:SELECT 1 Z:I");
    CHECK(wal_position_reads(*rig.servers[0]) == expected);
    CHECK(client.problems().empty());
    client.leave(false);
    run_until(io, [&] { return rig.shared->clients.load() == 0; }, 2s);
  }
}
