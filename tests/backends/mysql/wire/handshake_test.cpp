// Connection phase: a real MariaDB 10.11 HandshakeV10 and HandshakeResponse41 decoded and re-encoded byte
// for byte, MariaDB's extended capabilities, SSLRequest detection, the three auth-response encodings,
// connection attributes, AuthSwitchRequest, AuthMoreData and COM_CHANGE_USER.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <utility>
#include <vector>

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

namespace {

std::vector<std::pair<std::string, std::string>> attributes_of(bytes_view block, codec_errc expected_end = codec_errc::ok) {
  std::vector<std::pair<std::string, std::string>> out;
  connect_attribute_reader reader(block);
  std::string_view key;
  std::string_view value;
  while (reader.next(key, value)) out.emplace_back(key, value);
  CHECK(reader.error() == expected_end);
  return out;
}

}  // namespace

TEST_CASE("real MariaDB 10.11 HandshakeV10", "[mysql][handshake][capture]") {
  const byte_buffer wire = from_hex(capture::handshake);
  const auto framed = frame_message(view(wire), 1 << 16);
  REQUIRE(framed.status == codec_errc::ok);
  CHECK(framed.message.first_sequence_id == 0);
  handshake_v10 h;
  REQUIRE(decode_handshake_v10(framed.message.payload(), h) == codec_errc::ok);
  CHECK(h.server_version == "5.5.5-10.11.19-MariaDB-0+deb12u1");
  CHECK(h.connection_id == 3);
  CHECK(text(h.auth_plugin_data_part1) == "@PS2<tY?");
  CHECK(text(h.auth_plugin_data_part2) == "o4T(hUS!H*5m");
  CHECK(h.character_set == 8);  // latin1_swedish_ci, the server default
  CHECK(h.status_flags == (server_status_autocommit | server_session_state_changed));
  CHECK(h.auth_plugin_name == "mysql_native_password");
  // A MariaDB server leaves CLIENT_MYSQL unset and sends its extended capabilities in the filler.
  const capabilities caps = h.server_capabilities;
  CHECK((caps & client_mysql) == 0);
  CHECK(static_cast<std::uint32_t>(caps) == 0x81fff7fe);
  for (const capabilities flag : {client_protocol_41, client_secure_connection, client_plugin_auth, client_connect_attrs,
                                  client_plugin_auth_lenenc_client_data, client_session_track, client_deprecate_eof,
                                  client_multi_statements, client_multi_results, client_ps_multi_results,
                                  client_connect_with_db, client_compress, client_local_files,
                                  client_found_rows, client_transactions})
    CHECK((caps & flag) != 0);
  CHECK((caps & client_ssl) == 0);  // this server has no TLS configured
  CHECK((caps >> 32) == 0x1d);
  CHECK((caps & mariadb_client_progress) != 0);
  CHECK((caps & mariadb_client_stmt_bulk_operations) != 0);
  CHECK((caps & mariadb_client_extended_metadata) != 0);
  CHECK((caps & mariadb_client_cache_metadata) != 0);
  CHECK((caps & mariadb_client_com_multi) == 0);

  std::array<std::uint8_t, native_password_scramble_size> scramble{};
  CHECK(copy_scramble(h, scramble) == native_password_scramble_size);
  CHECK(std::string(scramble.begin(), scramble.end()) == "@PS2<tY?o4T(hUS!H*5m");

  byte_buffer out;
  CHECK(encode_handshake_v10(out, 0, h) == 1);
  CHECK(out == wire);
}

TEST_CASE("HandshakeV10 of a MySQL server: no extended capabilities, short variants", "[mysql][handshake]") {
  handshake_v10 h;
  const byte_buffer scramble = from_hex("0102030405060708090a0b0c0d0e0f1011121314");
  h.server_version = "8.0.36";
  h.connection_id = 0xdeadbeef;
  h.auth_plugin_data_part1 = view(scramble).first(8);
  h.auth_plugin_data_part2 = view(scramble).subspan(8);
  h.server_capabilities = client_mysql | client_protocol_41 | client_secure_connection | client_plugin_auth | (1ULL << 33);
  h.character_set = 255;
  h.auth_plugin_name = "caching_sha2_password";
  byte_buffer out;
  encode_handshake_v10(out, 0, h);
  handshake_v10 back;
  REQUIRE(decode_handshake_v10(payload_of(out), back) == codec_errc::ok);
  // With CLIENT_MYSQL set the filler is not capabilities: bit 33 is not sent.
  CHECK(back.server_capabilities == (client_mysql | client_protocol_41 | client_secure_connection | client_plugin_auth));
  CHECK(back.connection_id == 0xdeadbeef);
  CHECK(to_vector(back.auth_plugin_data_part2) == to_vector(view(scramble).subspan(8)));
  CHECK(back.auth_plugin_name == "caching_sha2_password");

  // A plugin name without its NUL (MySQL 5.5.7) is accepted.
  const bytes_view payload = payload_of(out);
  REQUIRE(decode_handshake_v10(payload.first(payload.size() - 1), back) == codec_errc::ok);
  CHECK(back.auth_plugin_name == "caching_sha2_password");
  // A greeting that ends after the low capability flags (pre-4.1) is complete.
  const std::size_t low_caps_end = 1 + h.server_version.size() + 1 + 4 + 8 + 1 + 2;
  REQUIRE(decode_handshake_v10(payload.first(low_caps_end), back) == codec_errc::ok);
  CHECK(back.server_capabilities == (client_mysql | client_protocol_41 | client_secure_connection));
  CHECK(back.auth_plugin_name.empty());
  // Cut in the middle of the optional part: truncated.
  CHECK(decode_handshake_v10(payload.first(low_caps_end + 3), back) == codec_errc::truncated);
  // Protocol version 9 is refused; so is an ERR sent instead of a greeting.
  byte_buffer v9(payload.begin(), payload.end());
  v9[0] = 9;
  CHECK(decode_handshake_v10(view(v9), back) == codec_errc::bad_value);
  CHECK(decode_handshake_v10(view(from_hex("ff6a04486f7374")), back) == codec_errc::bad_value);
}

TEST_CASE("real HandshakeResponse41 with connection attributes", "[mysql][handshake][capture]") {
  const byte_buffer wire = from_hex(capture::handshake_response);
  const bytes_view payload = payload_of(wire);
  CHECK_FALSE(is_ssl_request(payload));
  handshake_response41 r;
  REQUIRE(decode_handshake_response41(payload, r) == codec_errc::ok);
  const capabilities expected_caps = client_mysql | client_long_flag | client_connect_with_db | client_protocol_41 |
                                     client_transactions | client_secure_connection | client_multi_statements |
                                     client_multi_results | client_ps_multi_results | client_plugin_auth |
                                     client_connect_attrs | client_plugin_auth_lenenc_client_data | client_session_track;
  CHECK(r.client_capabilities == expected_caps);
  CHECK(r.max_packet_size == 1 << 24);
  CHECK(r.character_set == charset_utf8mb4_general_ci);
  CHECK(r.username == "root");
  CHECK(r.auth_response.empty());
  CHECK(r.database == "mysql");
  CHECK(r.auth_plugin_name == "mysql_native_password");
  CHECK(attributes_of(r.connect_attributes) ==
        std::vector<std::pair<std::string, std::string>>{{"_client_name", "capture"}, {"_os", "Linux"}});
  byte_buffer out;
  CHECK(encode_handshake_response41(out, 1, r) == 2);
  CHECK(out == wire);
}

TEST_CASE("HandshakeResponse41: the three auth-response encodings", "[mysql][handshake]") {
  const byte_buffer scramble = from_hex("00ff0102030405060708090a0b0c0d0e0f101112");  // starts with a NUL byte
  struct encoding {
    capabilities flags;
    bool keeps_nul;  // the NUL-terminated form cannot carry a NUL
  };
  const auto e = GENERATE(encoding{client_plugin_auth_lenenc_client_data | client_secure_connection, true},
                          encoding{client_secure_connection, true}, encoding{0, false});
  handshake_response41 r;
  r.client_capabilities = client_protocol_41 | client_plugin_auth | client_connect_with_db | e.flags;
  r.max_packet_size = 16777215;
  r.character_set = charset_utf8mb4_general_ci;
  r.username = "app";
  const byte_buffer auth = e.keeps_nul ? scramble : from_hex("6162632d7061737377");  // "abc-passw"
  r.auth_response = view(auth);
  r.database = "appdb";
  r.auth_plugin_name = "mysql_native_password";
  byte_buffer out;
  encode_handshake_response41(out, 1, r);
  handshake_response41 back;
  REQUIRE(decode_handshake_response41(payload_of(out), back) == codec_errc::ok);
  CHECK(back.client_capabilities == r.client_capabilities);
  CHECK(back.username == "app");
  CHECK(to_vector(back.auth_response) == auth);
  CHECK(back.database == "appdb");
  CHECK(back.auth_plugin_name == "mysql_native_password");
  CHECK(back.connect_attributes.empty());
  // The packet ends early: missing optional fields are absent, a missing username is an error.
  const bytes_view payload = payload_of(out);
  const std::size_t after_auth = payload.size() - (6 + 22);
  REQUIRE(decode_handshake_response41(payload.first(after_auth), back) == codec_errc::ok);
  CHECK(back.database.empty());
  CHECK(back.auth_plugin_name.empty());
  CHECK(decode_handshake_response41(payload.first(ssl_request_size + 2), back) == codec_errc::missing_terminator);
  CHECK(decode_handshake_response41(payload.first(ssl_request_size), back) == codec_errc::missing_terminator);
  CHECK(decode_handshake_response41(payload.first(20), back) == codec_errc::truncated);
  // A pre-4.1 client is refused rather than misread.
  byte_buffer old_client(payload.begin(), payload.end());
  old_client[1] = static_cast<std::uint8_t>(old_client[1] & ~(client_protocol_41 >> 8));
  CHECK(decode_handshake_response41(view(old_client), back) == codec_errc::not_negotiated);
  CHECK(back.client_capabilities == (r.client_capabilities & ~client_protocol_41));
}

TEST_CASE("HandshakeResponse41 from a MariaDB client carries extended capabilities", "[mysql][handshake]") {
  handshake_response41 r;
  r.client_capabilities = client_protocol_41 | client_secure_connection | mariadb_client_progress |
                          mariadb_client_stmt_bulk_operations;  // client_mysql unset: a MariaDB client
  r.username = "u";
  byte_buffer out;
  encode_handshake_response41(out, 1, r);
  const bytes_view payload = payload_of(out);
  CHECK(to_vector(payload.subspan(28, 4)) == to_vector(view(from_hex("05000000"))));
  handshake_response41 back;
  REQUIRE(decode_handshake_response41(payload, back) == codec_errc::ok);
  CHECK(back.client_capabilities == r.client_capabilities);
}

TEST_CASE("SSLRequest is told apart from a HandshakeResponse41", "[mysql][handshake][ssl]") {
  byte_buffer out;
  encode_ssl_request(out, 1, {client_protocol_41 | client_secure_connection | client_plugin_auth, 1 << 24, 45});
  CHECK(out.size() == packet_header_size + ssl_request_size);
  const bytes_view payload = payload_of(out);
  CHECK(is_ssl_request(payload));
  ssl_request r;
  REQUIRE(decode_ssl_request(payload, r) == codec_errc::ok);
  CHECK((r.client_capabilities & client_ssl) != 0);
  CHECK(r.max_packet_size == 1 << 24);
  CHECK(r.character_set == 45);
  // Without CLIENT_SSL it is neither.
  byte_buffer no_ssl(payload.begin(), payload.end());
  no_ssl[1] = static_cast<std::uint8_t>(no_ssl[1] & ~(client_ssl >> 8));
  CHECK_FALSE(is_ssl_request(view(no_ssl)));
  CHECK(decode_ssl_request(view(no_ssl), r) == codec_errc::bad_value);
  CHECK(decode_ssl_request(payload.first(31), r) == codec_errc::truncated);
  // A HandshakeResponse41 with CLIENT_SSL is longer than 32 bytes.
  const byte_buffer response = from_hex(capture::handshake_response);
  CHECK_FALSE(is_ssl_request(payload_of(response)));
}

TEST_CASE("connection attribute blocks", "[mysql][handshake][attrs]") {
  byte_buffer block;
  append_connect_attribute(block, "_client_name", "libmariadb");
  append_connect_attribute(block, "program_name", std::string(300, 'p'));  // a 3-byte lenenc length
  append_connect_attribute(block, "", "");
  const auto attrs = attributes_of(view(block));
  REQUIRE(attrs.size() == 3);
  CHECK(attrs[1].second.size() == 300);
  CHECK(attrs[2] == std::pair<std::string, std::string>{"", ""});
  attributes_of(view(block).first(block.size() - 1), codec_errc::truncated);
  attributes_of(view(from_hex("03616263")), codec_errc::truncated);  // key without value
  attributes_of(view(from_hex("ff")), codec_errc::bad_lenenc);
}

TEST_CASE("AuthSwitchRequest and AuthMoreData", "[mysql][handshake][auth]") {
  const byte_buffer scramble = concat({from_hex("3a2b1c0d0e0f10111213141516171819202122"), bytes_of({0x23, 0})});
  byte_buffer out;
  CHECK(encode_auth_switch_request(out, 2, "mysql_native_password", view(scramble)) == 3);
  auth_switch_request s;
  REQUIRE(decode_auth_switch_request(payload_of(out), s) == codec_errc::ok);
  CHECK(s.plugin_name == "mysql_native_password");
  CHECK(to_vector(s.plugin_data) == scramble);
  CHECK_FALSE(s.old_password);
  CHECK(classify_response(payload_of(out), payload_of(out).size()) == response_kind::eof);  // 0xFE: context decides

  const byte_buffer old_switch = from_hex("fe");
  REQUIRE(decode_auth_switch_request(view(old_switch), s) == codec_errc::ok);
  CHECK(s.old_password);
  CHECK(decode_auth_switch_request(view(from_hex("fe6d7973716c")), s) == codec_errc::missing_terminator);
  CHECK(decode_auth_switch_request(view(from_hex("00")), s) == codec_errc::unexpected_header);
  CHECK(decode_auth_switch_request(bytes_view{}, s) == codec_errc::truncated);

  out.clear();
  encode_auth_more_data(out, 3, view(from_hex("03")));  // caching_sha2_password: fast auth succeeded
  CHECK(out == from_hex("0200000301" "03"));
  bytes_view data;
  REQUIRE(decode_auth_more_data(payload_of(out), data) == codec_errc::ok);
  CHECK(to_vector(data) == from_hex("03"));
  CHECK(decode_auth_more_data(view(from_hex("0203")), data) == codec_errc::unexpected_header);
  CHECK(decode_auth_more_data(bytes_view{}, data) == codec_errc::truncated);
}

TEST_CASE("COM_CHANGE_USER", "[mysql][handshake][change_user]") {
  const capabilities caps = sample_caps;
  const byte_buffer scramble = from_hex("0102030405060708090a0b0c0d0e0f1011121314");
  byte_buffer attrs;
  append_connect_attribute(attrs, "_os", "Linux");
  change_user c;
  c.username = "other";
  c.auth_response = view(scramble);
  c.database = "otherdb";
  c.has_character_set = true;
  c.character_set = 224;
  c.auth_plugin_name = "mysql_native_password";
  c.connect_attributes = view(attrs);
  byte_buffer out;
  encode_change_user(out, 0, caps, c);
  change_user back;
  REQUIRE(decode_change_user(payload_of(out), caps, back) == codec_errc::ok);
  CHECK(back.username == "other");
  CHECK(to_vector(back.auth_response) == scramble);
  CHECK(back.database == "otherdb");
  CHECK(back.has_character_set);
  CHECK(back.character_set == 224);
  CHECK(back.auth_plugin_name == "mysql_native_password");
  CHECK(attributes_of(back.connect_attributes) == std::vector<std::pair<std::string, std::string>>{{"_os", "Linux"}});

  // The short form (user, auth, database) of old clients.
  const capabilities old_caps = client_protocol_41;
  change_user brief;
  brief.username = "u";
  brief.auth_response = as_bytes("pw");
  brief.database = "d";
  out.clear();
  encode_change_user(out, 0, old_caps, brief);
  CHECK(out == from_hex("0800000011" "7500" "707700" "6400"));
  REQUIRE(decode_change_user(payload_of(out), old_caps, back) == codec_errc::ok);
  CHECK(back.username == "u");
  CHECK(text(back.auth_response) == "pw");
  CHECK(back.database == "d");
  CHECK_FALSE(back.has_character_set);

  CHECK(decode_change_user(view(from_hex("0375")), caps, back) == codec_errc::unexpected_header);
  CHECK(decode_change_user(view(from_hex("1175")), caps, back) == codec_errc::missing_terminator);
  CHECK(decode_change_user(view(from_hex("11750005")), caps, back) == codec_errc::truncated);
}
