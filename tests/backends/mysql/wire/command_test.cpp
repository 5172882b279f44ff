// Command-phase packets with simple bodies: COM_QUERY, COM_INIT_DB, COM_FIELD_LIST, COM_PROCESS_KILL,
// COM_SET_OPTION, COM_STMT_PREPARE, and the command bytes themselves.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

TEST_CASE("COM_QUERY and COM_STMT_PREPARE carry the SQL as the rest of the packet", "[mysql][command]") {
  byte_buffer out;
  CHECK(encode_query(out, 0, "SELECT 1") == 1);
  CHECK(out == from_hex("090000000353454c4543542031"));
  std::string_view sql;
  REQUIRE(decode_query(payload_of(out), sql) == codec_errc::ok);
  CHECK(sql == "SELECT 1");
  command_view c;
  REQUIRE(decode_command(payload_of(out), c) == codec_errc::ok);
  CHECK(c.command == com_query);
  CHECK(text(c.body) == "SELECT 1");
  CHECK(decode_stmt_prepare(payload_of(out), sql) == codec_errc::unexpected_header);
  out.clear();
  encode_command(out, 0, com_stmt_prepare, as_bytes("SELECT ?"));
  REQUIRE(decode_stmt_prepare(payload_of(out), sql) == codec_errc::ok);
  CHECK(sql == "SELECT ?");
  // An empty query is a query.
  REQUIRE(decode_query(view(from_hex("03")), sql) == codec_errc::ok);
  CHECK(sql.empty());
  CHECK(decode_query(bytes_view{}, sql) == codec_errc::truncated);
  CHECK(decode_command(bytes_view{}, c) == codec_errc::truncated);
}

TEST_CASE("COM_INIT_DB, COM_FIELD_LIST, COM_PROCESS_KILL, COM_SET_OPTION", "[mysql][command]") {
  std::string_view schema;
  const byte_buffer init_db = from_hex("02617070");
  REQUIRE(decode_init_db(view(init_db), schema) == codec_errc::ok);
  CHECK(schema == "app");

  const byte_buffer field_list_wire = from_hex("04757365727300696425");  // table "users", wildcard "id%"
  field_list fl;
  REQUIRE(decode_field_list(view(field_list_wire), fl) == codec_errc::ok);
  CHECK(fl.table == "users");
  CHECK(fl.wildcard == "id%");
  CHECK(decode_field_list(view(from_hex("0475")), fl) == codec_errc::missing_terminator);

  byte_buffer out;
  encode_process_kill(out, 0, 0x01020304);
  CHECK(out == from_hex("050000000c04030201"));
  std::uint32_t id = 0;
  REQUIRE(decode_process_kill(payload_of(out), id) == codec_errc::ok);
  CHECK(id == 0x01020304);
  CHECK(decode_process_kill(view(from_hex("0c0102")), id) == codec_errc::truncated);
  CHECK(decode_process_kill(view(from_hex("0c010203040506")), id) == codec_errc::trailing_bytes);

  out.clear();
  encode_set_option(out, 0, mysql_option_multi_statements_on);
  CHECK(out == from_hex("030000001b0000"));
  std::uint16_t option = 9;
  REQUIRE(decode_set_option(payload_of(out), option) == codec_errc::ok);
  CHECK(option == mysql_option_multi_statements_on);
  CHECK(decode_set_option(view(from_hex("1b00")), option) == codec_errc::truncated);
  CHECK(decode_set_option(view(from_hex("0e0000")), option) == codec_errc::unexpected_header);
}

TEST_CASE("command bytes are the protocol's", "[mysql][command]") {
  CHECK(com_quit == 0x01);
  CHECK(com_init_db == 0x02);
  CHECK(com_query == 0x03);
  CHECK(com_field_list == 0x04);
  CHECK(com_statistics == 0x09);
  CHECK(com_process_kill == 0x0c);
  CHECK(com_ping == 0x0e);
  CHECK(com_change_user == 0x11);
  CHECK(com_stmt_prepare == 0x16);
  CHECK(com_stmt_execute == 0x17);
  CHECK(com_stmt_send_long_data == 0x18);
  CHECK(com_stmt_close == 0x19);
  CHECK(com_stmt_reset == 0x1a);
  CHECK(com_set_option == 0x1b);
  CHECK(com_stmt_fetch == 0x1c);
  CHECK(com_reset_connection == 0x1f);
  byte_buffer out;
  encode_command(out, 0, com_reset_connection);
  CHECK(out == from_hex("010000001f"));
}
