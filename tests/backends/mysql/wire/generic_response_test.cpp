// OK, ERR, EOF and progress-report packets: real MariaDB 10.11 captures (OK packets with session-state
// blocks, the 0xFE-headed OK ending a result set under CLIENT_DEPRECATE_EOF), the OK/EOF length rules,
// info with and without CLIENT_SESSION_TRACK, the session-state iterator, and the encoders.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

namespace {

constexpr capabilities caps = sample_caps;
constexpr capabilities caps_with_eof = sample_caps & ~client_deprecate_eof;
constexpr capabilities caps_no_track = sample_caps & ~client_session_track;

struct entry {
  int type;
  std::string name;
  std::string value;
  bool operator==(const entry&) const = default;
};

std::vector<entry> entries_of(bytes_view block, codec_errc expected_end = codec_errc::ok) {
  std::vector<entry> out;
  session_state_reader reader(block);
  session_state_entry e;
  while (reader.next(e)) out.push_back({e.type, std::string(e.name), std::string(e.value)});
  CHECK(reader.error() == expected_end);
  return out;
}

// An OK packet decoded from hex, with the bytes its views point into.
struct decoded_ok_packet {
  byte_buffer wire;
  ok_packet ok;
};

decoded_ok_packet decoded_ok(const char* hex, capabilities c = caps) {
  decoded_ok_packet d{from_hex(hex), {}};
  REQUIRE(decode_ok(payload_of(d.wire), c, d.ok) == codec_errc::ok);
  return d;
}

}  // namespace

TEST_CASE("real OK after login: session-state block with schema, state change, transaction", "[mysql][ok][capture]") {
  const byte_buffer wire = from_hex(capture::ok_login);
  const bytes_view payload = payload_of(wire);
  CHECK(classify_response(payload, payload.size()) == response_kind::ok);
  CHECK(is_ok_packet(payload, caps));
  ok_packet ok;
  REQUIRE(decode_ok(payload, caps, ok) == codec_errc::ok);
  CHECK(ok.affected_rows == 0);
  CHECK(ok.last_insert_id == 0);
  CHECK(ok.status_flags == (server_status_autocommit | server_session_state_changed));
  CHECK(ok.warnings == 0);
  CHECK(ok.info.empty());
  CHECK_FALSE(ok.eof_header);
  CHECK(ok.session_state.size() == 0x19);
  const std::vector<entry> expected{{session_track_schema, "mysql", ""},
                                    {session_track_state_change, "", "1"},
                                    {session_track_transaction_state, "", "________"},
                                    {session_track_transaction_characteristics, "", ""}};
  CHECK(entries_of(ok.session_state) == expected);
  // Re-encoding gives the server's bytes back.
  byte_buffer out;
  CHECK(encode_ok(out, 2, caps, ok) == 3);
  CHECK(out == wire);
}

TEST_CASE("real OK for SET autocommit=0 and SET time_zone: system variables", "[mysql][ok][capture]") {
  const auto decoded_autocommit = decoded_ok(capture::ok_set_autocommit);
  const ok_packet& autocommit = decoded_autocommit.ok;
  CHECK(autocommit.status_flags == server_session_state_changed);  // autocommit now off
  CHECK(entries_of(autocommit.session_state) ==
        std::vector<entry>{{session_track_system_variables, "autocommit", "OFF"}, {session_track_state_change, "", "1"}});
  const auto decoded_time_zone = decoded_ok(capture::ok_set_time_zone);
  const ok_packet& time_zone = decoded_time_zone.ok;
  CHECK(entries_of(time_zone.session_state) ==
        std::vector<entry>{{session_track_system_variables, "time_zone", "+02:00"}, {session_track_state_change, "", "1"}});
  for (const char* hex : {capture::ok_set_autocommit, capture::ok_set_time_zone}) {
    byte_buffer out;
    encode_ok(out, 1, caps, decoded_ok(hex).ok);
    CHECK(out == from_hex(hex));
  }
}

TEST_CASE("real OK for START TRANSACTION READ ONLY: transaction flags", "[mysql][ok][capture]") {
  const auto decoded = decoded_ok(capture::ok_start_read_only);
  const ok_packet& ok = decoded.ok;
  CHECK(ok.status_flags ==
        (server_status_in_trans | server_status_in_trans_readonly | server_session_state_changed));
  CHECK(entries_of(ok.session_state) ==
        std::vector<entry>{{session_track_transaction_state, "", "T_______"},
                           {session_track_transaction_characteristics, "", "START TRANSACTION READ ONLY;"}});
}

TEST_CASE("real EOF and OK-as-EOF terminators", "[mysql][eof][capture]") {
  const byte_buffer eof_wire = from_hex(capture::select_eof);
  const bytes_view eof_payload = payload_of(eof_wire);
  eof_packet eof;
  REQUIRE(decode_eof(eof_payload, caps_with_eof, eof) == codec_errc::ok);
  CHECK(eof.warnings == 0);
  CHECK(eof.status_flags == 0);
  CHECK(classify_response(eof_payload, eof_payload.size()) == response_kind::eof);
  CHECK_FALSE(is_ok_packet(eof_payload, caps_with_eof));
  byte_buffer out;
  encode_eof(out, 5, caps_with_eof, eof);
  CHECK(out == eof_wire);

  const byte_buffer ok_wire = from_hex(capture::deprecate_eof_ok);
  const bytes_view ok_payload = payload_of(ok_wire);
  CHECK(is_ok_packet(ok_payload, caps));
  CHECK_FALSE(is_ok_packet(ok_payload, caps_with_eof));
  ok_packet ok;
  REQUIRE(decode_ok(ok_payload, caps, ok) == codec_errc::ok);
  CHECK(ok.eof_header);
  CHECK(ok.status_flags == server_status_autocommit);
  out.clear();
  encode_ok(out, 5, caps, ok);
  CHECK(out == ok_wire);
}

TEST_CASE("EOF length rules", "[mysql][eof]") {
  eof_packet eof;
  // 9 bytes or more with 0xFE is not an EOF.
  CHECK(decode_eof(view(from_hex("fe0000000000000000")), caps, eof) == codec_errc::bad_value);
  CHECK(decode_eof(view(from_hex("fe00000000ff")), caps, eof) == codec_errc::trailing_bytes);
  CHECK(decode_eof(view(from_hex("fe0000")), caps, eof) == codec_errc::truncated);
  CHECK(decode_eof(view(from_hex("00000000")), caps, eof) == codec_errc::unexpected_header);
  CHECK(decode_eof(bytes_view{}, caps, eof) == codec_errc::truncated);
  // Pre-4.1 EOF is the header byte alone.
  CHECK(decode_eof(view(from_hex("fe")), 0, eof) == codec_errc::ok);
  // A long 0xFE packet is an OK terminator under DEPRECATE_EOF but never past 16 MiB - 1.
  byte_buffer long_ok = from_hex("fe000002000000");
  long_ok.resize(100, 'x');
  CHECK(is_ok_packet(view(long_ok), caps));
  CHECK(classify_response(view(long_ok), long_ok.size()) == response_kind::eof);
  CHECK(classify_response(view(long_ok), max_packet_payload) == response_kind::malformed);
}

TEST_CASE("OK info with and without CLIENT_SESSION_TRACK", "[mysql][ok]") {
  ok_packet ok;
  ok.affected_rows = 251;        // the first 3-byte lenenc value
  ok.last_insert_id = 1ULL << 40;  // an 8-byte one
  ok.status_flags = server_status_autocommit;
  ok.warnings = 3;
  ok.info = "Records: 2  Duplicates: 0  Warnings: 0";
  for (const capabilities c : {caps, caps_no_track}) {
    byte_buffer out;
    encode_ok(out, 1, c, ok);
    ok_packet back;
    REQUIRE(decode_ok(payload_of(out), c, back) == codec_errc::ok);
    CHECK(back.affected_rows == 251);
    CHECK(back.last_insert_id == 1ULL << 40);
    CHECK(back.status_flags == ok.status_flags);
    CHECK(back.warnings == 3);
    CHECK(back.info == ok.info);
    CHECK(back.session_state.empty());
  }
  // Without SESSION_TRACK the documented string<EOF> form is accepted too.
  byte_buffer eof_info = from_hex("00010002000000");
  const std::string message = "Rows matched: 1";
  eof_info.insert(eof_info.end(), message.begin(), message.end());
  ok_packet back;
  REQUIRE(decode_ok(view(eof_info), caps_no_track, back) == codec_errc::ok);
  CHECK(back.info == message);
  // Empty info omitted entirely, with and without tracking.
  for (const capabilities c : {caps, caps_no_track}) {
    REQUIRE(decode_ok(view(from_hex("0000000200ffff")), c, back) == codec_errc::ok);
    CHECK(back.info.empty());
    CHECK(back.warnings == 0xffff);
  }
  // Before 4.1: status only with CLIENT_TRANSACTIONS, no warnings.
  const byte_buffer old_ok = from_hex("00050003004869");
  REQUIRE(decode_ok(view(old_ok), client_transactions, back) == codec_errc::ok);
  CHECK(back.affected_rows == 5);
  CHECK(back.status_flags == 3);
  CHECK(back.info == "Hi");
}

TEST_CASE("malformed OK packets", "[mysql][ok]") {
  ok_packet ok;
  CHECK(decode_ok(bytes_view{}, caps, ok) == codec_errc::truncated);
  CHECK(decode_ok(view(from_hex("ff000000000000")), caps, ok) == codec_errc::unexpected_header);
  CHECK(decode_ok(view(from_hex("00ff0000000000")), caps, ok) == codec_errc::bad_lenenc);
  CHECK(decode_ok(view(from_hex("00fb0000000000")), caps, ok) == codec_errc::bad_lenenc);
  CHECK(decode_ok(view(from_hex("00fc01")), caps, ok) == codec_errc::truncated);
  CHECK(decode_ok(view(from_hex("0000000200")), caps, ok) == codec_errc::truncated);
  // Info length beyond the packet.
  CHECK(decode_ok(view(from_hex("000000020000000561")), caps, ok) == codec_errc::truncated);
  // Session-state block length beyond the packet.
  CHECK(decode_ok(view(from_hex("00000000400000001901")), caps, ok) == codec_errc::truncated);
}

TEST_CASE("session-state iterator: GTIDs, unknown types skipped, malformed entries", "[mysql][ok][session]") {
  byte_buffer block;
  append_session_state_entry(block, session_track_gtids, view(from_hex("00 05 302d312d35")));  // encoding 0, "0-1-5"
  append_session_state_entry(block, 0x42, view(from_hex("010203")));                           // unknown: skipped
  append_session_track_schema(block, "app");
  append_session_track_variable(block, "sql_mode", "");
  const auto entries = entries_of(view(block));
  CHECK(entries == std::vector<entry>{{session_track_gtids, "", "0-1-5"},
                                      {session_track_schema, "app", ""},
                                      {session_track_system_variables, "sql_mode", ""}});
  session_state_reader reader(view(block));
  session_state_entry e;
  REQUIRE(reader.next(e));
  CHECK(e.gtid_encoding == 0);
  CHECK(e.data.size() == 7);

  // Entry length beyond the block; entry data too short for its type; bad lenenc.
  entries_of(view(from_hex("0105")), codec_errc::truncated);
  entries_of(view(from_hex("01020561")), codec_errc::truncated);
  entries_of(view(from_hex("00020a61")), codec_errc::truncated);
  entries_of(view(from_hex("00ff")), codec_errc::bad_lenenc);
  // An entry with a type and no length.
  entries_of(view(from_hex("01")), codec_errc::truncated);
  // Empty block.
  CHECK(entries_of(bytes_view{}).empty());
}

TEST_CASE("real ERR packet", "[mysql][err][capture]") {
  const byte_buffer wire = from_hex(capture::err_unknown_column);
  const bytes_view payload = payload_of(wire);
  CHECK(classify_response(payload, payload.size()) == response_kind::err);
  err_packet err;
  REQUIRE(decode_err(payload, caps, err) == codec_errc::ok);
  CHECK(err.error_code == 1054);
  CHECK(err.sqlstate == "42S22");
  CHECK(err.message == "Unknown column 'nosuchcol' in 'SELECT'");
  byte_buffer out;
  encode_err(out, 1, caps, err.error_code, err.sqlstate, err.message);
  CHECK(out == wire);
}

TEST_CASE("ERR without SQLSTATE marker, and sluice's own ERR", "[mysql][err]") {
  err_packet err;
  // Sent before the handshake (e.g. "Host is not allowed to connect"): no marker.
  const byte_buffer no_marker = from_hex("ff6a04486f7374");
  REQUIRE(decode_err(view(no_marker), caps, err) == codec_errc::ok);
  CHECK(err.error_code == 1130);
  CHECK(err.sqlstate.empty());
  CHECK(err.message == "Host");
  // A '#' without five characters after it is part of the message.
  const byte_buffer short_marker = from_hex("ff010023343230");
  REQUIRE(decode_err(view(short_marker), caps, err) == codec_errc::ok);
  CHECK(err.sqlstate.empty());
  CHECK(err.message == "#420");
  CHECK(decode_err(view(from_hex("ff01")), caps, err) == codec_errc::truncated);
  CHECK(decode_err(view(from_hex("0001")), caps, err) == codec_errc::unexpected_header);
  CHECK(decode_err(view(from_hex("ffffff01000000")), caps, err) == codec_errc::bad_value);  // a progress report

  byte_buffer out;
  CHECK(encode_err(out, 2, caps, 1040, "08004", "sluice: too many connections for tenant 'acme'") == 3);
  REQUIRE(decode_err(payload_of(out), caps, err) == codec_errc::ok);
  CHECK(err.error_code == 1040);
  CHECK(err.sqlstate == "08004");
  CHECK(err.message == "sluice: too many connections for tenant 'acme'");
  // SQLSTATE padded or cut to five characters; no marker without PROTOCOL_41.
  out.clear();
  encode_err(out, 0, caps, 1, "HY", "m");
  REQUIRE(decode_err(payload_of(out), caps, err) == codec_errc::ok);
  CHECK(err.sqlstate == "HY000");
  out.clear();
  encode_err(out, 0, 0, 1045, "28000", "denied");
  CHECK(out == concat({from_hex("090000 00 ff1504"), bytes_of({'d', 'e', 'n', 'i', 'e', 'd'})}));
}

TEST_CASE("MariaDB progress report", "[mysql][progress]") {
  byte_buffer out;
  encode_progress_report(out, 1, {2, 3, 51234, "copy to tmp table"});
  const bytes_view payload = payload_of(out);
  CHECK(is_progress_report(payload));
  CHECK(classify_response(payload, payload.size()) == response_kind::progress_report);
  progress_report report;
  REQUIRE(decode_progress_report(payload, report) == codec_errc::ok);
  CHECK(report.stage == 2);
  CHECK(report.max_stage == 3);
  CHECK(report.progress == 51234);
  CHECK(report.info == "copy to tmp table");
  // Layout: ff ffff, count 1, stage, max stage, int<3> progress, lenenc info.
  CHECK(to_vector(payload.first(9)) == to_vector(view(from_hex("ffffff010203 22c800"))));
  CHECK(decode_progress_report(view(from_hex("ffffff0102")), report) == codec_errc::truncated);
  CHECK(decode_progress_report(view(from_hex("ff1504")), report) == codec_errc::unexpected_header);
  CHECK(decode_progress_report(view(from_hex("ffff")), report) == codec_errc::truncated);
}

TEST_CASE("classify the first packet of a command's response", "[mysql][classify]") {
  CHECK(classify_response(view(from_hex("fb2f746d702f78")), 7) == response_kind::local_infile);
  CHECK(classify_response(view(from_hex("03")), 1) == response_kind::result_set);
  CHECK(classify_response(view(from_hex("fc0001")), 3) == response_kind::result_set);
  CHECK(classify_response(bytes_view{}, 0) == response_kind::malformed);
}

TEST_CASE("real OK without session tracking carries a length-encoded info", "[mysql][ok][capture]") {
  const byte_buffer wire = from_hex(capture::ok_info_no_tracking);
  ok_packet ok;
  REQUIRE(decode_ok(payload_of(wire), caps_no_track, ok) == codec_errc::ok);
  CHECK(ok.affected_rows == 1500000);
  CHECK(ok.status_flags == (server_status_autocommit | server_query_no_index_used | server_query_was_slow));
  CHECK(ok.info == "Records: 1500000  Duplicates: 0  Warnings: 0");
  byte_buffer out;
  encode_ok(out, 1, caps_no_track, ok);
  CHECK(out == wire);
}

TEST_CASE("real MariaDB progress reports", "[mysql][progress][capture]") {
  const byte_buffer copy = from_hex(capture::progress_copy);
  progress_report report;
  REQUIRE(decode_progress_report(payload_of(copy), report) == codec_errc::ok);
  CHECK(report.stage == 1);
  CHECK(report.max_stage == 2);
  CHECK(report.progress == 672);  // 0.672 %
  CHECK(report.info == "copy to tmp table");
  err_packet err;
  CHECK(decode_err(payload_of(copy), caps, err) == codec_errc::bad_value);
  byte_buffer out;
  CHECK(encode_progress_report(out, 1, report) == 2);
  CHECK(out == copy);
  const byte_buffer keys = from_hex(capture::progress_keys);
  REQUIRE(decode_progress_report(payload_of(keys), report) == codec_errc::ok);
  CHECK(report.stage == 2);
  CHECK(report.progress == 0);
  CHECK(report.info == "Enabling keys");
  CHECK(classify_response(payload_of(keys), payload_of(keys).size()) == response_kind::progress_report);
}
