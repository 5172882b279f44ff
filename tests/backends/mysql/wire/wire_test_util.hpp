// Helpers shared by the MySQL wire codec tests: hex and byte literals, framing a single encoded packet,
// real byte captures from a MariaDB 10.11 server, and a table of one encoded sample of every packet the
// codec can encode with the decoder that reads it back.
#pragma once

#include "backends/mysql/wire/command.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/handshake.hpp"
#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_writer.hpp"
#include "backends/mysql/wire/prepared_statement.hpp"
#include "backends/mysql/wire/resultset.hpp"

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::backends::mysql::wire::test {

// "0a35 2e" -> bytes; spaces ignored.
inline byte_buffer from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("bad hex digit");
  };
  byte_buffer out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ' || c == '\n') continue;
    if (high < 0) {
      high = nibble(c);
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + nibble(c)));
      high = -1;
    }
  }
  if (high >= 0) throw std::invalid_argument("odd number of hex digits");
  return out;
}

inline byte_buffer bytes_of(std::initializer_list<int> values) {
  byte_buffer out;
  for (int value : values) out.push_back(static_cast<std::uint8_t>(value));
  return out;
}

inline bytes_view view(const byte_buffer& buffer) { return {buffer.data(), buffer.size()}; }
inline std::string text(bytes_view bytes) { return std::string(as_text(bytes)); }
inline std::vector<std::uint8_t> to_vector(bytes_view bytes) { return {bytes.begin(), bytes.end()}; }

inline byte_buffer concat(std::initializer_list<byte_buffer> parts) {
  byte_buffer out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// The payload of the single contiguous packet in `wire` (throws if there is not exactly one).
inline bytes_view payload_of(const byte_buffer& wire) {
  const auto framed = frame_message(view(wire), wire.size());
  if (framed.status != codec_errc::ok || framed.message.wire.size() != wire.size() || !framed.message.contiguous())
    throw std::logic_error("not exactly one contiguous packet");
  return framed.message.payload();
}

// ---- real captures: MariaDB 10.11.19 (Debian 12), taken with a raw-socket client on loopback ----
namespace capture {
// Server greeting (HandshakeV10) with sequence id 0.
inline const char* const handshake =
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310003000000405053323c74593f00fef7"
    "080240ff81150000000000001d0000006f34542868555321482a356d006d7973716c5f6e61746976655f70617373776f726400";
// HandshakeResponse41 (seq 1): user root, empty auth, db mysql, two connection attributes.
inline const char* const handshake_response =
    "620000010da2bf00000000012d0000000000000000000000000000000000000000000000726f6f7400006d7973716c006d7973716c"
    "5f6e61746976655f70617373776f7264001f0c5f636c69656e745f6e616d650763617074757265035f6f73054c696e7578";
// OK after login with a session-state block: schema "mysql", state change, transaction state, characteristics.
inline const char* const ok_login = "220000020000000240000000190106056d7973716c0201310509085f5f5f5f5f5f5f5f040100";
// OK for SET autocommit=0 with session_track_system_variables: autocommit=OFF, state change.
inline const char* const ok_set_autocommit = "1d000001000000004000000014000f0a6175746f636f6d6d6974034f4646020131";
// OK for SET time_zone='+02:00'.
inline const char* const ok_set_time_zone = "1f00000100000000400000001600110974696d655f7a6f6e65062b30323a3030020131";
// OK for START TRANSACTION READ ONLY: in transaction, read-only, transaction state and characteristics.
inline const char* const ok_start_read_only =
    "3300000100000001600000002a050908545f5f5f5f5f5f5f041d1c5354415254205452414e53414354494f4e2052454144204f4e"
    "4c593b";
// Without CLIENT_SESSION_TRACK, for CREATE TABLE big AS SELECT ... (1,500,000 rows): the info is a
// length-encoded string all the same.
inline const char* const ok_info_no_tracking =
    "3700000100fd60e31600220800002c5265636f7264733a203135303030303020204475706c6963617465733a2030202057"
    "61726e696e67733a2030";
// MariaDB progress reports during ALTER TABLE ... ALGORITHM=COPY (client with MARIADB_CLIENT_PROGRESS,
// progress_report_time=1): stage 1 of 2 at 0.672 %, then stage 2 of 2.
inline const char* const progress_copy = "1b000001ffffff010102a0020011636f707920746f20746d70207461626c65";
inline const char* const progress_keys = "17000003ffffff0102020000000d456e61626c696e67206b657973";
// SELECT 1 AS a, NULL AS b, 'x' AS c: column count, three column definitions, EOF, one row, EOF.
inline const char* const select_column_count = "0100000103";
inline const char* const select_column_a = "17000002036465660000000161000c3f0001000000038100000000";
inline const char* const select_column_b = "17000003036465660000000162000c3f0000000000068000000000";
inline const char* const select_column_c = "17000004036465660000000163000c2d0004000000fd0100270000";
inline const char* const select_eof = "05000005fe00000000";
inline const char* const select_row = "050000060131fb0178";
inline const char* const select_last_eof = "05000007fe00000000";
// With CLIENT_DEPRECATE_EOF: the result set of SELECT 1 AS a, NULL AS b ends with a 0xFE-headed OK.
inline const char* const deprecate_eof_row = "030000040131fb";
inline const char* const deprecate_eof_ok = "07000005fe000002000000";
// ERR for SELECT nosuchcol.
inline const char* const err_unknown_column =
    "2f000001ff1e04233432533232556e6b6e6f776e20636f6c756d6e20276e6f73756368636f6c2720696e202753454c45435427";
// COM_STMT_PREPARE_OK for "SELECT ? + 1 AS s, CAST(? AS CHAR) AS t" and its parameter definition.
inline const char* const prepare_ok = "0c000001000100000002000200000000";
inline const char* const prepare_param = "1700000203646566000000013f000c3f0000000000068000000000";
// COM_STMT_EXECUTE of statement 1 with LONGLONG 41 and VAR_STRING "hi" (types bound).
inline const char* const execute = "1b0000001701000000000100000000010800fd002900000000000000026869";
// The execute's result: columns s (LONGLONG) and t (VAR_STRING), then the binary row 42, "hi".
inline const char* const execute_column_s = "17000002036465660000000173000c3f0016000000088000000000";
inline const char* const execute_column_t = "17000003036465660000000174000c2d0008000000fd0000000000";
inline const char* const execute_row = "0d00000400002a00000000000000026869";
}  // namespace capture

// One sample of each packet the codec encodes, and the decoder that reads it.
struct sample {
  std::string name;
  std::function<void(byte_buffer&)> encode;              // appends one whole packet, sequence id 0
  std::function<codec_errc(bytes_view payload)> decode;  // decodes a payload of this kind
  // Every proper prefix of the payload fails to decode (no optional trailing fields, no string<EOF>).
  bool strict_prefix = false;
};

// The negotiated capability set the samples use: what a MariaDB 10.11 server and a modern client share.
inline constexpr capabilities sample_caps =
    client_long_flag | client_connect_with_db | client_protocol_41 | client_transactions | client_secure_connection |
    client_multi_statements | client_multi_results | client_ps_multi_results | client_plugin_auth |
    client_connect_attrs | client_plugin_auth_lenenc_client_data | client_session_track | client_deprecate_eof;

inline const std::vector<sample>& samples() {
  static const std::vector<sample> all = [] {
    static const byte_buffer scramble = bytes_of({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
    static const byte_buffer session_block = [] {
      byte_buffer b;
      append_session_track_variable(b, "autocommit", "OFF");
      append_session_track_schema(b, "app");
      return b;
    }();
    static const byte_buffer attributes = [] {
      byte_buffer b;
      append_connect_attribute(b, "_client_name", "libmariadb");
      append_connect_attribute(b, "_pid", "4242");
      return b;
    }();
    static const byte_buffer param_types = bytes_of({mysql_type_longlong, 0, mysql_type_var_string, 0});
    static const byte_buffer param_values = bytes_of({41, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'});
    static const byte_buffer null_bitmap = bytes_of({0});
    const capabilities caps = sample_caps;
    const capabilities mariadb_caps = sample_caps | mariadb_client_progress | mariadb_client_extended_metadata;
    return std::vector<sample>{
        {"OK", [=](byte_buffer& b) {
           ok_packet ok;
           ok.affected_rows = 3;
           ok.last_insert_id = 70000;
           ok.status_flags = server_status_autocommit | server_session_state_changed;
           ok.warnings = 1;
           ok.info = "Rows matched: 3  Changed: 3  Warnings: 1";
           ok.session_state = view(session_block);
           encode_ok(b, 0, caps, ok);
         },
         [=](bytes_view p) { ok_packet ok; return decode_ok(p, caps, ok); }},
        {"OK as EOF", [=](byte_buffer& b) {
           ok_packet ok;
           ok.eof_header = true;
           ok.status_flags = server_status_in_trans;
           encode_ok(b, 0, caps, ok);
         },
         [=](bytes_view p) { ok_packet ok; return decode_ok(p, caps, ok); }},
        {"ERR", [=](byte_buffer& b) { encode_err(b, 0, caps, 1045, "28000", "Access denied for user 'app'"); },
         [=](bytes_view p) { err_packet e; return decode_err(p, caps, e); }},
        {"EOF", [=](byte_buffer& b) { encode_eof(b, 0, caps, {2, server_status_autocommit}); },
         [=](bytes_view p) { eof_packet e; return decode_eof(p, caps, e); }, true},
        {"progress report", [](byte_buffer& b) { encode_progress_report(b, 0, {1, 2, 45000, "copy to tmp table"}); },
         [](bytes_view p) { progress_report r; return decode_progress_report(p, r); }, true},
        {"HandshakeV10", [=](byte_buffer& b) {
           handshake_v10 h;
           h.server_version = "5.5.5-10.11.19-MariaDB-sluice";
           h.connection_id = 77;
           h.auth_plugin_data_part1 = view(scramble).first(8);
           h.auth_plugin_data_part2 = view(scramble).subspan(8);
           h.server_capabilities = (mariadb_caps & ~client_mysql) | mariadb_client_cache_metadata;
           h.character_set = charset_utf8mb4_general_ci;
           h.status_flags = server_status_autocommit;
           h.auth_plugin_name = "mysql_native_password";
           encode_handshake_v10(b, 0, h);
         },
         [](bytes_view p) { handshake_v10 h; return decode_handshake_v10(p, h); }},
        {"SSLRequest", [=](byte_buffer& b) { encode_ssl_request(b, 1, {caps | client_ssl, 1 << 24, charset_utf8mb4_general_ci}); },
         [](bytes_view p) { ssl_request r; return decode_ssl_request(p, r); }, true},
        {"HandshakeResponse41", [=](byte_buffer& b) {
           handshake_response41 r;
           r.client_capabilities = mariadb_caps;
           r.max_packet_size = 1 << 24;
           r.character_set = charset_utf8mb4_general_ci;
           r.username = "app";
           r.auth_response = view(scramble);
           r.database = "appdb";
           r.auth_plugin_name = "mysql_native_password";
           r.connect_attributes = view(attributes);
           encode_handshake_response41(b, 1, r);
         },
         [](bytes_view p) { handshake_response41 r; return decode_handshake_response41(p, r); }},
        {"AuthSwitchRequest", [](byte_buffer& b) { encode_auth_switch_request(b, 2, "mysql_native_password", view(scramble)); },
         [](bytes_view p) { auth_switch_request r; return decode_auth_switch_request(p, r); }},
        {"AuthMoreData", [](byte_buffer& b) { encode_auth_more_data(b, 2, bytes_of({3})); },
         [](bytes_view p) { bytes_view d; return decode_auth_more_data(p, d); }},
        {"COM_CHANGE_USER", [=](byte_buffer& b) {
           change_user c;
           c.username = "other";
           c.auth_response = view(scramble);
           c.database = "otherdb";
           c.has_character_set = true;
           c.character_set = charset_utf8mb4_general_ci;
           c.auth_plugin_name = "mysql_native_password";
           c.connect_attributes = view(attributes);
           encode_change_user(b, 0, caps, c);
         },
         [=](bytes_view p) { change_user c; return decode_change_user(p, caps, c); }},
        {"column count", [=](byte_buffer& b) { encode_column_count(b, 1, caps, {300, true}); },
         [=](bytes_view p) { column_count c; return decode_column_count(p, caps, c); }, true},
        {"ColumnDefinition41", [=](byte_buffer& b) {
           column_definition c;
           c.catalog = "def";
           c.schema = "app";
           c.table = "u";
           c.org_table = "users";
           c.name = "id";
           c.org_name = "id";
           c.character_set = charset_binary;
           c.column_length = 20;
           c.type = mysql_type_longlong;
           c.flags = not_null_flag | pri_key_flag | auto_increment_flag | num_flag;
           encode_column_definition(b, 2, caps, c);
         },
         [=](bytes_view p) { column_definition c; return decode_column_definition(p, caps, c); }, true},
        {"COM_STMT_PREPARE_OK", [](byte_buffer& b) { encode_stmt_prepare_ok(b, 1, {7, 2, 2, 0}); },
         [](bytes_view p) { stmt_prepare_ok o; return decode_stmt_prepare_ok(p, o); }},
        {"COM_STMT_EXECUTE", [](byte_buffer& b) {
           stmt_execute e;
           e.statement_id = 7;
           e.iteration_count = 1;
           e.null_bitmap = view(null_bitmap);
           e.param_types = view(param_types);
           e.values = view(param_values);
           encode_stmt_execute(b, 0, e, 2);
         },
         [](bytes_view p) { stmt_execute e; return decode_stmt_execute(p, 2, e); }},
        {"COM_STMT_SEND_LONG_DATA", [](byte_buffer& b) { encode_stmt_send_long_data(b, 0, {7, 1, as_bytes("chunk")}); },
         [](bytes_view p) { stmt_send_long_data d; return decode_stmt_send_long_data(p, d); }},
        {"COM_STMT_FETCH", [](byte_buffer& b) { encode_stmt_fetch(b, 0, {7, 100}); },
         [](bytes_view p) { stmt_fetch f; return decode_stmt_fetch(p, f); }, true},
        {"COM_STMT_CLOSE", [](byte_buffer& b) { encode_stmt_close(b, 0, 7); },
         [](bytes_view p) { std::uint32_t id = 0; return decode_stmt_close(p, id); }, true},
        {"COM_STMT_RESET", [](byte_buffer& b) { encode_stmt_reset(b, 0, 7); },
         [](bytes_view p) { std::uint32_t id = 0; return decode_stmt_reset(p, id); }, true},
        {"COM_QUERY", [](byte_buffer& b) { encode_query(b, 0, "SELECT * FROM t WHERE id = 1"); },
         [](bytes_view p) { std::string_view sql; return decode_query(p, sql); }},
        {"COM_PROCESS_KILL", [](byte_buffer& b) { encode_process_kill(b, 0, 12345); },
         [](bytes_view p) { std::uint32_t id = 0; return decode_process_kill(p, id); }, true},
        {"COM_SET_OPTION", [](byte_buffer& b) { encode_set_option(b, 0, mysql_option_multi_statements_off); },
         [](bytes_view p) { std::uint16_t o = 0; return decode_set_option(p, o); }, true},
        {"COM_INIT_DB", [](byte_buffer& b) { encode_command(b, 0, com_init_db, as_bytes("app")); },
         [](bytes_view p) { std::string_view s; return decode_init_db(p, s); }},
        {"COM_PING", [](byte_buffer& b) { encode_command(b, 0, com_ping); },
         [](bytes_view p) { command_view c; return decode_command(p, c); }},
    };
  }();
  return all;
}

inline byte_buffer encode_sample(const sample& s) {
  byte_buffer out;
  s.encode(out);
  return out;
}

}  // namespace sluice::backends::mysql::wire::test
