// response_tracker: every response shape ends where the protocol says, with and without
// CLIENT_DEPRECATE_EOF, and keeps the status flags of its last OK or EOF.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/response_tracker.hpp"

using namespace sluice::backends::mysql::wire;
using step = response_tracker::step;
using bytes = std::vector<std::uint8_t>;

namespace {

constexpr capabilities base_caps = client_protocol_41 | client_transactions | client_multi_results;
constexpr capabilities eof_less = base_caps | client_deprecate_eof;

bytes ok(std::uint16_t status) {
  return {ok_header, 0, 0, static_cast<std::uint8_t>(status & 0xff), static_cast<std::uint8_t>(status >> 8), 0, 0};
}
bytes ok_terminator(std::uint16_t status) {
  return {eof_header, 0, 0, static_cast<std::uint8_t>(status & 0xff), static_cast<std::uint8_t>(status >> 8), 0, 0};
}
bytes eof(std::uint16_t status) {
  return {eof_header, 0, 0, static_cast<std::uint8_t>(status & 0xff), static_cast<std::uint8_t>(status >> 8)};
}
bytes err() { return {err_header, 0x28, 0x04, '#', '4', '2', '0', '0', '0', 'b', 'a', 'd'}; }
bytes column_count(std::uint8_t n) { return {n}; }
bytes column() { return {0x03, 'd', 'e', 'f', 0x00, 0x00, 0x00, 0x01, 'a', 0x01, 'a', 0x0c}; }
bytes row() { return {0x01, '1'}; }
bytes prepare_ok(std::uint16_t columns, std::uint16_t params) {
  return {ok_header, 7, 0, 0, 0, static_cast<std::uint8_t>(columns), 0, static_cast<std::uint8_t>(params), 0, 0, 0, 0};
}

// Feeds `packets`; every one but the last must be `more`; returns the last step.
step feed(response_tracker& t, const std::vector<bytes>& packets) {
  for (std::size_t i = 0; i + 1 < packets.size(); ++i) {
    INFO("packet " << i);
    REQUIRE(t.on_packet(packets[i], packets[i].size()) == step::more);
  }
  return t.on_packet(packets.back(), packets.back().size());
}

constexpr std::uint16_t idle_status = server_status_autocommit;
constexpr std::uint16_t in_trans = server_status_autocommit | server_status_in_trans;
constexpr std::uint16_t more = server_more_results_exists;

}  // namespace

TEST_CASE("response_tracker: COM_QUERY answered by OK, ERR, or a result set", "[mysql][response_tracker]") {
  SECTION("OK: the status is the transaction state") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_query));
    CHECK(feed(t, {ok(in_trans)}) == step::done);
    CHECK(t.in_transaction());
    CHECK(t.idle());
    CHECK_FALSE(t.failed());
  }
  SECTION("ERR: done, failed, status as before") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_query));
    REQUIRE(feed(t, {ok(in_trans)}) == step::done);
    REQUIRE(t.on_command(com_query));
    CHECK(feed(t, {err()}) == step::done);
    CHECK(t.failed());
    CHECK(t.in_transaction());  // a failed statement leaves the transaction open
  }
  SECTION("result set with EOF packets") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_query));
    CHECK(feed(t, {column_count(2), column(), column(), eof(idle_status), row(), row(), eof(in_trans)}) == step::done);
    CHECK(t.status() == in_trans);
  }
  SECTION("result set with CLIENT_DEPRECATE_EOF: no EOF after the columns, an OK terminator") {
    response_tracker t(eof_less);
    REQUIRE(t.on_command(com_query));
    CHECK(feed(t, {column_count(1), column()}) == step::more);
    const bytes empty_string_row = {0x00};  // SELECT '': a row that starts like an OK packet
    CHECK(t.on_packet(empty_string_row, 1) == step::more);
    CHECK_FALSE(t.last_was_ok());
    const auto end = ok_terminator(idle_status);
    CHECK(t.on_packet(end, end.size()) == step::done);
    CHECK(t.last_was_ok());
    CHECK_FALSE(t.in_transaction());
  }
  SECTION("empty result set") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_query));
    CHECK(feed(t, {column_count(1), column(), eof(idle_status), eof(idle_status)}) == step::done);
  }
  SECTION("ERR in the middle of the rows ends the response") {
    response_tracker t(eof_less);
    REQUIRE(t.on_command(com_query));
    CHECK(feed(t, {column_count(1), column(), row(), err()}) == step::done);
    CHECK(t.failed());
  }
}

TEST_CASE("response_tracker: multi-statements and multi-results continue while MORE_RESULTS_EXISTS",
          "[mysql][response_tracker]") {
  for (const auto caps : {base_caps, eof_less}) {
    response_tracker t(caps);
    REQUIRE(t.on_command(com_query));
    const bool eof_packets = (caps & client_deprecate_eof) == 0;
    std::vector<bytes> packets = {ok(in_trans | more), column_count(1), column()};
    if (eof_packets) packets.push_back(eof(in_trans | more));
    packets.push_back(row());
    packets.push_back(eof_packets ? eof(in_trans | more) : ok_terminator(in_trans | more));
    packets.push_back(ok(idle_status));  // START TRANSACTION; SELECT 1; COMMIT
    CHECK(feed(t, packets) == step::done);
    CHECK_FALSE(t.in_transaction());

    // A statement that fails stops the rest: the ERR ends the response.
    REQUIRE(t.on_command(com_query));
    CHECK(feed(t, {ok(in_trans | more), err()}) == step::done);
    CHECK(t.failed());
  }
}

TEST_CASE("response_tracker: a 0xFE row of 16 MiB or more is a row, not a terminator", "[mysql][response_tracker]") {
  response_tracker t(eof_less);
  REQUIRE(t.on_command(com_query));
  REQUIRE(feed(t, {column_count(1), column()}) == step::more);
  const bytes first_chunk = {eof_header, 0, 0, 0, 1, 0, 0, 0, 0};  // lenenc 8-byte prefix of a 16 MiB string
  CHECK(t.on_packet(first_chunk, max_packet_payload + 10) == step::more);
  const auto end = ok_terminator(idle_status);
  CHECK(t.on_packet(end, end.size()) == step::done);
}

TEST_CASE("response_tracker: prepared statements", "[mysql][response_tracker]") {
  SECTION("PREPARE with parameters and columns, EOF after each block") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_stmt_prepare));
    CHECK(feed(t, {prepare_ok(1, 2), column(), column(), eof(idle_status), column(), eof(idle_status)}) == step::done);
    CHECK(t.prepared().statement_id == 7);
    CHECK(t.prepared().num_params == 2);
    CHECK(t.prepared().num_columns == 1);
  }
  SECTION("PREPARE with CLIENT_DEPRECATE_EOF") {
    response_tracker t(eof_less);
    REQUIRE(t.on_command(com_stmt_prepare));
    CHECK(feed(t, {prepare_ok(1, 2), column(), column(), column()}) == step::done);
  }
  SECTION("PREPARE of a statement without parameters or columns: PREPARE_OK alone") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_stmt_prepare));
    CHECK(feed(t, {prepare_ok(0, 0)}) == step::done);
  }
  SECTION("PREPARE refused") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_stmt_prepare));
    CHECK(feed(t, {err()}) == step::done);
    CHECK(t.failed());
  }
  SECTION("EXECUTE returning rows, then one that opens a cursor, then FETCH") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_stmt_execute));
    CHECK(feed(t, {column_count(1), column(), eof(idle_status), bytes{0x00, 0x00, 0x01}, eof(idle_status)}) ==
          step::done);
    REQUIRE(t.on_command(com_stmt_execute));
    CHECK(feed(t, {column_count(1), column(), eof(idle_status | server_status_cursor_exists)}) == step::done);
    REQUIRE(t.on_command(com_stmt_fetch));
    CHECK(feed(t, {bytes{0x00, 0x00, 0x01}, eof(idle_status | server_status_cursor_exists |
                                                 server_status_last_row_sent)}) == step::done);
  }
  SECTION("CLOSE and SEND_LONG_DATA have no answer") {
    response_tracker t(base_caps);
    CHECK_FALSE(t.on_command(com_stmt_close));
    CHECK(t.idle());
    CHECK_FALSE(t.on_command(com_stmt_send_long_data));
    CHECK_FALSE(t.on_command(com_quit));
    const auto stray = ok(idle_status);
    CHECK(t.on_packet(stray, stray.size()) == step::error);  // nothing was owed
  }
}

TEST_CASE("response_tracker: LOAD DATA LOCAL, simple commands, statistics, field list, progress reports",
          "[mysql][response_tracker]") {
  SECTION("LOCAL INFILE: the client's file, then OK") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_query));
    const bytes request = {local_infile_header, '/', 't', 'm', 'p', '/', 'x'};
    CHECK(t.on_packet(request, request.size()) == step::local_infile);
    const auto early = ok(idle_status);
    CHECK(t.on_packet(early, early.size()) == step::error);  // the server waits for the file first
    t.on_infile_sent();
    CHECK(feed(t, {ok(idle_status)}) == step::done);
  }
  SECTION("PING, INIT_DB, RESET_CONNECTION: OK or ERR") {
    response_tracker t(base_caps);
    for (const auto command : {com_ping, com_init_db, com_reset_connection, com_stmt_reset, com_process_kill}) {
      REQUIRE(t.on_command(command));
      CHECK(feed(t, {ok(idle_status)}) == step::done);
      REQUIRE(t.on_command(command));
      CHECK(feed(t, {err()}) == step::done);
    }
  }
  SECTION("SET_OPTION: an EOF packet without CLIENT_DEPRECATE_EOF") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_set_option));
    CHECK(feed(t, {eof(idle_status)}) == step::done);
  }
  SECTION("STATISTICS: one string") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_statistics));
    const bytes text = {'U', 'p', 't', 'i', 'm', 'e', ':', ' ', '1'};
    CHECK(feed(t, {text}) == step::done);
  }
  SECTION("FIELD_LIST: definitions until EOF") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_field_list));
    CHECK(feed(t, {column(), column(), eof(idle_status)}) == step::done);
  }
  SECTION("a progress report changes nothing") {
    response_tracker t(base_caps);
    REQUIRE(t.on_command(com_query));
    byte_buffer packet;
    encode_progress_report(packet, 1, progress_report{1, 2, 5000, "stage"});
    const bytes payload(packet.begin() + 4, packet.end());
    CHECK(t.on_packet(payload, payload.size()) == step::more);
    CHECK(feed(t, {ok(idle_status)}) == step::done);
  }
}

TEST_CASE("response_tracker: packets the protocol does not allow are errors", "[mysql][response_tracker]") {
  response_tracker t(base_caps);
  REQUIRE(t.on_command(com_query));
  const bytes empty;
  CHECK(t.on_packet(empty, 0) == step::error);
  REQUIRE(t.on_command(com_query));
  const auto stray_eof = eof(idle_status);
  CHECK(t.on_packet(stray_eof, stray_eof.size()) == step::error);  // EOF where a result must start
  REQUIRE(t.on_command(com_query));
  REQUIRE(feed(t, {column_count(1), column()}) == step::more);
  const auto not_eof = row();
  CHECK(t.on_packet(not_eof, not_eof.size()) == step::error);  // the EOF after the columns is missing
  REQUIRE(t.on_command(com_query));
  const bytes zero_columns = {0x00 + 0xfc, 0x00, 0x00};  // a column count of 0 (lenenc 0xFC 0x0000)
  CHECK(t.on_packet(zero_columns, zero_columns.size()) == step::error);
}
