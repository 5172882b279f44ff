// response_tracker, table-driven: requests pushed as a client session would, a scripted sequence of server
// message types, and the exact stream the client sees (forwarded messages and synthesized
// ParseComplete/CloseComplete in order), the statements reported as failed and what is left pending.
#include "router/pg/response_tracker.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace sluice::router::pg;

namespace {

// Shorthands for building request lists.
request fwd(request_kind kind, std::uint64_t id = 0) { return {kind, request_action::forward, id}; }
request swallowed(request_kind kind, std::uint64_t id = 0) { return {kind, request_action::swallow, id}; }
request synthesized(request_kind kind, std::uint64_t id = 0) { return {kind, request_action::synthesize, id}; }

struct outcome {
  std::string client;                 // what the client sees: forwarded type bytes; '+1' / '+3' synthesized
  std::vector<std::uint64_t> failed;  // statement ids reported by failed_parse, in order
  std::vector<std::size_t> pending;   // tracker.pending() after each server message
};

// Drives the tracker the way client_session does: before each server message, drain the synthesized
// answers due at the head; classify the message; at the end of the input, drain again.
outcome drive(response_tracker& tracker, std::string_view server) {
  outcome result;
  const auto emit = [&](request_kind kind) {
    if (kind == request_kind::parse) result.client += "+1";
    else if (kind == request_kind::close) result.client += "+3";
    else result.client += "+?";
  };
  for (const char type : server) {
    tracker.drain_synthesized(emit);
    const auto verdict = tracker.on_server_message(type, [&](const request& failed) {
      if (failed.kind == request_kind::parse) result.failed.push_back(failed.statement_id);
    });
    if (verdict == response_verdict::forward) result.client += type;
    result.pending.push_back(tracker.pending());
  }
  tracker.drain_synthesized(emit);
  return result;
}

struct scenario {
  std::string name;
  std::vector<request> requests;
  std::string server;                 // server message types in order
  std::string client;                 // expected client stream
  std::vector<std::uint64_t> failed;  // expected failed parse ids
  std::size_t pending_after = 0;      // expected pending() at the end
};

}  // namespace

TEST_CASE("response_tracker: scripted sequences", "[response_tracker]") {
  using enum request_kind;
  const auto s = GENERATE(values<scenario>({
      // ---- simple query ----
      {"simple query: T, D*, C, Z all forwarded", {fwd(query)}, "TDDDCZ", "TDDDCZ", {}, 0},
      {"simple query, two statements", {fwd(query)}, "TDCTDDCZ", "TDCTDDCZ", {}, 0},
      {"simple query with notices and parameter status", {fwd(query)}, "NTDSCZ", "NTDSCZ", {}, 0},
      {"simple query: EmptyQueryResponse", {fwd(query)}, "IZ", "IZ", {}, 0},
      {"simple query: error mid-result", {fwd(query)}, "TDEZ", "TDEZ", {}, 0},
      {"simple query: COPY FROM STDIN", {fwd(query)}, "GCZ", "GCZ", {}, 0},
      {"simple query: COPY TO STDOUT", {fwd(query)}, "HdddcCZ", "HdddcCZ", {}, 0},
      {"function call", {fwd(query)}, "VZ", "VZ", {}, 0},
      {"two queries pipelined", {fwd(query), fwd(query)}, "TDCZCZ", "TDCZCZ", {}, 0},
      {"first query answered, second pending", {fwd(query), fwd(query)}, "CZ", "CZ", {}, 1},

      // ---- extended protocol, everything forwarded ----
      {"Parse/Bind/Describe/Execute/Sync",
       {fwd(parse, 1), fwd(bind), fwd(describe), fwd(execute), fwd(sync)}, "12TDDCZ", "12TDDCZ", {}, 0},
      {"Describe portal with NoData",
       {fwd(bind), fwd(describe), fwd(execute), fwd(sync)}, "2nCZ", "2nCZ", {}, 0},
      {"Describe statement: t then T pops once",
       {fwd(parse, 1), fwd(describe), fwd(sync)}, "1tTZ", "1tTZ", {}, 0},
      {"Describe statement: t then n",
       {fwd(parse, 1), fwd(describe), fwd(sync)}, "1tnZ", "1tnZ", {}, 0},
      {"PortalSuspended completes an Execute",
       {fwd(bind), fwd(execute), fwd(sync), fwd(execute), fwd(sync)}, "2DDsZDCZ", "2DDsZDCZ", {}, 0},
      {"extended EmptyQueryResponse",
       {fwd(parse, 1), fwd(bind), fwd(execute), fwd(sync)}, "12IZ", "12IZ", {}, 0},
      {"extended COPY FROM STDIN", {fwd(parse), fwd(bind), fwd(execute), fwd(sync)}, "12GCZ", "12GCZ", {}, 0},
      {"Close forwarded", {fwd(close), fwd(sync)}, "3Z", "3Z", {}, 0},
      {"notice inside an Execute", {fwd(bind), fwd(execute), fwd(sync)}, "2NDCZ", "2NDCZ", {}, 0},
      {"Flush without Sync leaves nothing owed", {fwd(parse, 1), fwd(bind)}, "12", "12", {}, 0},

      // ---- injected Parse (swallowed) ----
      {"swallowed Parse: '1' dropped, '2' forwarded",
       {swallowed(parse, 7), fwd(bind), fwd(execute), fwd(sync)}, "12DCZ", "2DCZ", {}, 0},
      {"two swallowed Parses before a Bind",
       {swallowed(parse, 7), swallowed(parse, 8), fwd(bind), fwd(execute), fwd(sync)}, "112CZ", "2CZ", {}, 0},

      // ---- synthesized answers ----
      {"synthesized Parse at the head comes before the server's first message",
       {synthesized(parse, 5), fwd(bind), fwd(describe), fwd(execute), fwd(sync)}, "2TDCZ", "+12TDCZ", {}, 0},
      {"synthesized Parse between forwarded ones keeps request order",
       {fwd(parse, 1), synthesized(parse, 2), fwd(parse, 3), fwd(sync)}, "11Z", "1+11Z", {}, 0},
      {"synthesized Close in the middle",
       {fwd(parse, 1), fwd(bind), synthesized(close), fwd(execute), fwd(sync)}, "12CZ", "12+3CZ", {}, 0},
      {"synthesized Close before Sync is emitted before ReadyForQuery",
       {fwd(bind), fwd(execute), synthesized(close), fwd(sync)}, "2CZ", "2C+3Z", {}, 0},
      {"synthesized answers at the end are drained when the input ends",
       {fwd(bind), fwd(execute), synthesized(close), synthesized(parse, 9)}, "2C", "2C+3+1", {}, 0},
      {"only synthesized requests before a Sync",
       {synthesized(parse, 4), synthesized(close), fwd(sync)}, "Z", "+1+3Z", {}, 0},

      // ---- ErrorResponse in the extended protocol: skip to Sync ----
      {"error on the first Parse drops the batch up to Sync",
       {fwd(parse, 1), fwd(bind), fwd(execute), fwd(sync)}, "EZ", "EZ", {1}, 0},
      {"error mid-batch drops synthesized entries without emitting them and reports failed parses",
       {fwd(parse, 1), swallowed(parse, 2), synthesized(parse, 3), fwd(parse, 4), fwd(bind), synthesized(close),
        fwd(execute), fwd(sync)},
       "1EZ", "1EZ", {2, 4}, 0},
      {"error on an injected Parse is forwarded so the client learns why",
       {swallowed(parse, 7), fwd(bind), fwd(execute), fwd(sync)}, "EZ", "EZ", {7}, 0},
      {"error on Execute: parses already completed are not reported",
       {fwd(parse, 1), fwd(bind), fwd(execute), fwd(sync)}, "12EZ", "12EZ", {}, 0},
      {"synthesized Parse before the failing Bind is still emitted, first",
       {synthesized(parse, 3), fwd(bind), fwd(execute), fwd(sync)}, "EZ", "+1EZ", {}, 0},
      {"error stops at the first Sync; the next batch is intact",
       {fwd(parse, 1), fwd(bind), fwd(sync), fwd(parse, 2), fwd(bind), fwd(sync)}, "EZ12Z", "EZ12Z", {1}, 0},
      {"synthesized entries after the Sync survive an error before it",
       {fwd(parse, 1), fwd(sync), synthesized(close), fwd(sync)}, "EZZ", "EZ+3Z", {1}, 0},
      {"error at Sync (commit failed) is forwarded, Sync popped by Z",
       {fwd(parse, 1), fwd(bind), fwd(execute), fwd(sync)}, "12CEZ", "12CEZ", {}, 0},
      {"error without Sync (after Flush) empties the queue",
       {fwd(parse, 1), fwd(bind), fwd(execute)}, "E", "E", {1}, 0},
      {"error with a Query queued behind (no Sync between): the server skips it too",
       {fwd(parse, 1), fwd(bind), fwd(query), fwd(sync)}, "EZ", "EZ", {1}, 0},

      // ---- COPY FROM STDIN with the client's messages pipelined ahead of the CopyInResponse ----
      // (a Sync sent in copy-in mode is ignored by the server; the CopyDone/CopyFail the client sent
      // ahead ends the COPY: found by hostile_unusual_sequences, where such a session hung for good)
      {"simple COPY: Sync and CopyDone pipelined ahead, then a Sync that counts",
       {fwd(query), fwd(sync), fwd(copy_end), fwd(sync)}, "GCZZ", "GCZZ", {}, 0},
      {"simple COPY: Sync pipelined, no CopyDone yet: the Sync is ignored",
       {fwd(query), fwd(sync)}, "G", "G", {}, 1},
      {"extended COPY: Execute, Sync, CopyDone, Sync all pipelined",
       {fwd(bind), fwd(execute), fwd(sync), fwd(copy_end), fwd(sync)}, "2GCZ", "2GCZ", {}, 0},
      {"CopyDone outside COPY behind a pending query is dropped when it reaches the head",
       {fwd(query), fwd(copy_end), fwd(query)}, "CZCZ", "CZCZ", {}, 0},
      {"a COPY that failed before starting: the pipelined Sync is answered",
       {fwd(query), fwd(sync), fwd(copy_end)}, "EZZ", "EZZ", {}, 0},
      {"extended COPY failing on its data: the Sync after CopyDone ends the skip",
       {fwd(bind), fwd(execute), fwd(sync), fwd(copy_end), fwd(sync)}, "2GEZ", "2GEZ", {}, 0},

      // ---- asynchronous messages ----
      {"NoticeResponse with nothing pending", {}, "N", "N", {}, 0},
      {"ParameterStatus with nothing pending", {}, "S", "S", {}, 0},
      {"NotificationResponse with nothing pending", {}, "A", "A", {}, 0},
      {"async messages between batches", {fwd(query)}, "CZANS", "CZANS", {}, 0},
  }));
  INFO(s.name);
  response_tracker tracker;
  for (const auto& entry : s.requests) tracker.push(entry);
  const auto result = drive(tracker, s.server);
  CHECK(result.client == s.client);
  CHECK(result.failed == s.failed);
  CHECK(tracker.pending() == s.pending_after);
  CHECK(tracker.empty() == (s.pending_after == 0));
}

TEST_CASE("response_tracker: copy_end is not queued when nothing is pending or the server skips", "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  tracker.push(fwd(copy_end));
  CHECK(tracker.empty());
  tracker.push(fwd(parse, 1));
  tracker.push(fwd(execute));
  CHECK(drive(tracker, "E").client == "E");
  REQUIRE(tracker.skipping());
  tracker.push(fwd(copy_end));
  CHECK(tracker.empty());
}

TEST_CASE("response_tracker: copy_ended_early tells whether the client already ended the COPY", "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  tracker.push(fwd(query));
  tracker.push(fwd(copy_end));
  drive(tracker, "G");
  CHECK(tracker.copy_ended_early());
  CHECK(tracker.pending() == 1);
  drive(tracker, "CZ");
  tracker.push(fwd(query));
  drive(tracker, "G");
  CHECK_FALSE(tracker.copy_ended_early());
}

TEST_CASE("response_tracker: simple query entry is popped at ReadyForQuery, not before", "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  tracker.push(fwd(query));
  const auto result = drive(tracker, "TDDCZ");
  CHECK(result.pending == std::vector<std::size_t>{1, 1, 1, 1, 0});
}

TEST_CASE("response_tracker: extended batch pops one entry per completion message", "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  for (const auto& entry : {fwd(parse, 1), fwd(bind), fwd(describe), fwd(execute), fwd(sync)}) tracker.push(entry);
  const auto result = drive(tracker, "12TDDCZ");
  CHECK(result.pending == std::vector<std::size_t>{4, 3, 2, 2, 2, 1, 0});
}

TEST_CASE("response_tracker: ErrorResponse leaves exactly the Sync", "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  for (const auto& entry : {fwd(parse, 1), synthesized(close), fwd(bind), fwd(execute), fwd(sync), fwd(query)}) {
    tracker.push(entry);
  }
  CHECK(tracker.ready_for_query_owed() == 2);
  const auto result = drive(tracker, "E");
  CHECK(result.pending == std::vector<std::size_t>{2});  // Sync and Query
  CHECK(result.failed == std::vector<std::uint64_t>{1});
  CHECK(tracker.ready_for_query_owed() == 2);
}

TEST_CASE("response_tracker: a client's named Parse dropped by an error is reported, answered by sluice or not",
          "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  // Bind fails; behind it a client's Parse answered by sluice (serial 7) and one forwarded (serial 8),
  // then sluice's own Parse (no serial, answered by sluice): only the client's two are reported.
  tracker.push(fwd(bind));
  tracker.push({parse, request_action::synthesize, 3, 7});
  tracker.push({parse, request_action::forward, 4, 8});
  tracker.push({parse, request_action::synthesize, 5, 0});
  tracker.push(fwd(sync));
  std::vector<std::pair<std::uint64_t, std::uint32_t>> reported;
  tracker.on_server_message('E', [&](const request& skipped) { reported.emplace_back(skipped.statement_id, skipped.client_parse); });
  CHECK(reported == std::vector<std::pair<std::uint64_t, std::uint32_t>>{{3, 7}, {4, 8}});
  CHECK(tracker.pending() == 1);
}

TEST_CASE("response_tracker: ready_for_query_owed counts pending Syncs and Queries", "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  CHECK(tracker.ready_for_query_owed() == 0);
  for (const auto& entry : {fwd(query), fwd(parse, 1), fwd(bind), fwd(sync), swallowed(parse, 2), fwd(execute),
                            synthesized(close), fwd(sync), fwd(query)}) {
    tracker.push(entry);
  }
  CHECK(tracker.pending() == 9);
  CHECK(tracker.ready_for_query_owed() == 4);
  const auto steps = std::string("CZ12Z1CZCZ");
  std::vector<std::size_t> owed;
  for (const char type : steps) {
    tracker.drain_synthesized([](request_kind) {});
    (void)tracker.on_server_message(type, [](const request&) {});
    owed.push_back(tracker.ready_for_query_owed());
  }
  CHECK(owed == std::vector<std::size_t>{4, 3, 3, 3, 2, 2, 2, 1, 1, 0});
  CHECK(tracker.ready_for_query_owed() == 0);
}

TEST_CASE("response_tracker: clear() and reuse after the queue empties", "[response_tracker]") {
  using enum request_kind;
  response_tracker tracker;
  tracker.push(fwd(query));
  tracker.push(fwd(query));
  tracker.clear();
  CHECK(tracker.empty());
  CHECK(tracker.ready_for_query_owed() == 0);
  CHECK(tracker.on_server_message('N', [](const request&) {}) == response_verdict::forward);

  // Many batches in a row: the queue compacts when it empties, and state never leaks between batches.
  for (int i = 0; i < 100; ++i) {
    tracker.push(swallowed(parse, static_cast<std::uint64_t>(i)));
    tracker.push(fwd(bind));
    tracker.push(fwd(sync));
    const auto result = drive(tracker, "12Z");
    REQUIRE(result.client == "2Z");
    REQUIRE(tracker.empty());
  }
}

TEST_CASE("response_tracker: messages inside a swallowed Parse's answer are swallowed", "[response_tracker]") {
  using enum request_kind;
  // Documents current behaviour: a NoticeResponse the server sends while executing an injected Parse
  // belongs to sluice's request, so the client does not see it.
  response_tracker tracker;
  tracker.push(swallowed(parse, 7));
  tracker.push(fwd(bind));
  tracker.push(fwd(sync));
  const auto result = drive(tracker, "N12Z");
  CHECK(result.client == "2Z");
}

// Issue 15, items 2 and 7: what the server skips after an extended request fails, and which answers it
// sends without more input.
TEST_CASE("response_tracker: an extended error with no Sync queued leaves the server skipping until one",
          "[response_tracker]") {
  response_tracker tracker;
  tracker.push(fwd(request_kind::bind));
  tracker.flush_point();
  CHECK(tracker.answer_due());
  CHECK_FALSE(tracker.skipping());
  tracker.on_server_message('E', [](const request&) {});
  CHECK(tracker.empty());
  CHECK(tracker.skipping());  // a Query sent now is ignored by the server: the session must not push it
  CHECK_FALSE(tracker.answer_due());
  tracker.push(fwd(request_kind::sync));
  CHECK_FALSE(tracker.skipping());
  CHECK(tracker.answer_due());
  tracker.on_server_message('Z', [](const request&) {});
  CHECK(tracker.empty());
}

TEST_CASE("response_tracker: an error with a Sync queued ends skipping at that Sync", "[response_tracker]") {
  response_tracker tracker;
  tracker.push(fwd(request_kind::execute));
  tracker.push(fwd(request_kind::query));
  tracker.push(fwd(request_kind::sync));
  tracker.on_server_message('E', [](const request&) {});
  CHECK_FALSE(tracker.skipping());
  CHECK(tracker.pending() == 1);
}

TEST_CASE("response_tracker: answers after the last Sync, Query or Flush are not due", "[response_tracker]") {
  response_tracker tracker;
  tracker.push(fwd(request_kind::query));  // a FunctionCall or Query: flushed with its ReadyForQuery
  tracker.push(fwd(request_kind::parse));
  tracker.push(fwd(request_kind::describe));  // Describe without Sync or Flush: stays in the server's buffer
  CHECK(tracker.answer_due());
  tracker.on_server_message('Z', [](const request&) {});
  CHECK(tracker.pending() == 2);
  CHECK_FALSE(tracker.answer_due());
  tracker.flush_point();
  CHECK(tracker.answer_due());
}

TEST_CASE("response_tracker: a lost connection owes no ReadyForQuery for a Query its failed batch skips",
          "[response_tracker]") {
  response_tracker tracker;
  tracker.push(fwd(request_kind::bind));
  tracker.push(fwd(request_kind::query));
  tracker.push(fwd(request_kind::sync));
  tracker.push(fwd(request_kind::query));
  tracker.push(fwd(request_kind::parse));
  tracker.push(fwd(request_kind::sync));
  CHECK(tracker.ready_for_query_owed() == 4);
  CHECK(tracker.ready_for_query_owed_after_error() == 3);  // the first Query is skipped, not answered
  response_tracker simple;
  simple.push(fwd(request_kind::query));
  simple.push(fwd(request_kind::sync));
  CHECK(simple.ready_for_query_owed_after_error() == 2);
}
