// Result sets: real MariaDB 10.11 column definitions, text and binary rows, the classification of each
// packet of a result-set stream with and without CLIENT_DEPRECATE_EOF, MariaDB's extended metadata and
// metadata cache byte, and binary value sizes for every column type.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

namespace {

constexpr capabilities caps = sample_caps;
constexpr capabilities caps_with_eof = sample_caps & ~client_deprecate_eof;

// Fields of a row as strings, "NULL" for NULL.
std::vector<std::string> text_fields(bytes_view payload, codec_errc expected_end = codec_errc::ok) {
  std::vector<std::string> out;
  text_row_reader reader(payload);
  row_field f;
  while (reader.next(f)) out.push_back(f.is_null ? "NULL" : text(f.value));
  CHECK(reader.error() == expected_end);
  return out;
}

}  // namespace

TEST_CASE("real text result set: SELECT 1 AS a, NULL AS b, 'x' AS c", "[mysql][resultset][capture]") {
  const byte_buffer count_wire = from_hex(capture::select_column_count);
  CHECK(classify_response(payload_of(count_wire), 1) == response_kind::result_set);
  column_count count;
  REQUIRE(decode_column_count(payload_of(count_wire), caps_with_eof, count) == codec_errc::ok);
  CHECK(count.count == 3);
  CHECK(count.metadata_follows);

  struct expected_column {
    const char* hex;
    const char* name;
    std::uint16_t charset;
    std::uint32_t length;
    std::uint8_t type;
    std::uint16_t flags;
    std::uint8_t decimals;
  };
  const expected_column columns[] = {
      {capture::select_column_a, "a", charset_binary, 1, mysql_type_long, not_null_flag | binary_flag, 0},
      {capture::select_column_b, "b", charset_binary, 0, mysql_type_null, binary_flag, 0},
      {capture::select_column_c, "c", charset_utf8mb4_general_ci, 4, mysql_type_var_string, not_null_flag, 39},
  };
  for (const auto& expected : columns) {
    const byte_buffer wire = from_hex(expected.hex);
    column_definition c;
    REQUIRE(decode_column_definition(payload_of(wire), caps_with_eof, c) == codec_errc::ok);
    CHECK(c.catalog == "def");
    CHECK(c.schema.empty());
    CHECK(c.table.empty());
    CHECK(c.org_table.empty());
    CHECK(c.name == expected.name);
    CHECK(c.org_name.empty());
    CHECK(c.character_set == expected.charset);
    CHECK(c.column_length == expected.length);
    CHECK(c.type == expected.type);
    CHECK(c.flags == expected.flags);
    CHECK(c.decimals == expected.decimals);
    CHECK(c.default_value.empty());
    byte_buffer out;
    encode_column_definition(out, sequence_id_of(view(wire)), caps_with_eof, c);
    CHECK(out == wire);
  }

  const byte_buffer eof = from_hex(capture::select_eof);
  const byte_buffer row = from_hex(capture::select_row);
  const byte_buffer last = from_hex(capture::select_last_eof);
  CHECK(classify_resultset_packet(payload_of(row), 5, caps_with_eof) == resultset_packet::row);
  CHECK(classify_resultset_packet(payload_of(last), 5, caps_with_eof) == resultset_packet::eof);
  CHECK(classify_resultset_packet(payload_of(eof), 5, caps_with_eof) == resultset_packet::eof);
  CHECK(text_fields(payload_of(row)) == std::vector<std::string>{"1", "NULL", "x"});
}

TEST_CASE("real result set under CLIENT_DEPRECATE_EOF ends with a 0xFE OK", "[mysql][resultset][capture]") {
  const byte_buffer row = from_hex(capture::deprecate_eof_row);
  const byte_buffer ok = from_hex(capture::deprecate_eof_ok);
  CHECK(classify_resultset_packet(payload_of(row), 3, caps) == resultset_packet::row);
  CHECK(classify_resultset_packet(payload_of(ok), 7, caps) == resultset_packet::ok_terminator);
  CHECK(text_fields(payload_of(row)) == std::vector<std::string>{"1", "NULL"});
  const byte_buffer err = from_hex(capture::err_unknown_column);
  CHECK(classify_resultset_packet(payload_of(err), payload_of(err).size(), caps) == resultset_packet::error);
  CHECK(classify_resultset_packet(bytes_view{}, 0, caps) == resultset_packet::malformed);
}

TEST_CASE("a row starting with 0xFE (a 16 MiB+ string) is not a terminator", "[mysql][resultset][large]") {
  // A text row whose first field is 2^24 bytes: prefix 0xFE and an 8-byte length.
  const std::size_t field = std::size_t{1} << 24;
  byte_buffer payload;
  payload_writer(payload).lenenc_int(field);
  REQUIRE(payload[0] == lenenc_8_bytes);
  payload.resize(payload.size() + field, 'z');
  byte_buffer wire;
  write_message(wire, view(payload), 4);
  const auto framed = frame_message(view(wire), 2 * field);
  REQUIRE(framed.status == codec_errc::ok);
  CHECK(framed.message.chunk_count == 2);
  for (const capabilities c : {caps, caps_with_eof})
    CHECK(classify_resultset_packet(framed.message.first_chunk(), framed.message.payload_size, c) == resultset_packet::row);
  byte_buffer joined;
  append_payload(framed.message, joined);
  text_row_reader reader(view(joined));
  row_field f;
  REQUIRE(reader.next(f));
  CHECK(f.value.size() == field);
  CHECK_FALSE(reader.next(f));
  CHECK(reader.error() == codec_errc::ok);
}

TEST_CASE("text rows: empty strings, long lengths, malformed", "[mysql][resultset][text]") {
  byte_buffer row;
  payload_writer w(row);
  w.lenenc_string("").lenenc_null().lenenc_string(std::string(251, 'a')).lenenc_string(std::string(70000, 'b'));
  const auto fields = text_fields(view(row));
  REQUIRE(fields.size() == 4);
  CHECK(fields[0].empty());
  CHECK(fields[1] == "NULL");
  CHECK(fields[2].size() == 251);
  CHECK(fields[3].size() == 70000);
  text_fields(view(row).first(row.size() - 1), codec_errc::truncated);
  text_fields(view(from_hex("0131ff")), codec_errc::bad_lenenc);
  text_fields(view(from_hex("fc01")), codec_errc::truncated);
  CHECK(text_fields(bytes_view{}).empty());
}

TEST_CASE("real binary row from COM_STMT_EXECUTE", "[mysql][resultset][binary][capture]") {
  std::vector<std::uint8_t> types;
  for (const char* hex : {capture::execute_column_s, capture::execute_column_t}) {
    const byte_buffer wire = from_hex(hex);
    column_definition c;
    REQUIRE(decode_column_definition(payload_of(wire), caps, c) == codec_errc::ok);
    types.push_back(c.type);
  }
  CHECK(types == std::vector<std::uint8_t>{mysql_type_longlong, mysql_type_var_string});
  const byte_buffer row = from_hex(capture::execute_row);
  const bytes_view payload = payload_of(row);
  CHECK(classify_resultset_packet(payload, payload.size(), caps) == resultset_packet::row);
  binary_row_reader reader(payload, types);
  row_field f;
  REQUIRE(reader.next(f));
  CHECK_FALSE(f.is_null);
  CHECK(to_vector(f.value) == from_hex("2a00000000000000"));  // 42
  REQUIRE(reader.next(f));
  CHECK(text(f.value) == "hi");
  CHECK_FALSE(reader.next(f));
  CHECK(reader.finish() == codec_errc::ok);
}

TEST_CASE("binary rows: NULL bitmap offset, every type's size, malformed", "[mysql][resultset][binary]") {
  // Columns: TINY, NULL-valued LONG, DATETIME (7-byte form), DOUBLE, NEWDECIMAL, TIME (0-byte form),
  // NULL-typed, YEAR, STRING, INT24, FLOAT.
  const std::vector<std::uint8_t> types{mysql_type_tiny,   mysql_type_long, mysql_type_datetime, mysql_type_double,
                                        mysql_type_newdecimal, mysql_type_time, mysql_type_null, mysql_type_year,
                                        mysql_type_string, mysql_type_int24, mysql_type_float};
  byte_buffer row;
  payload_writer w(row);
  w.u8(binary_row_header);
  // 11 columns + 2 offset bits = 13 bits -> 2 bytes; column 1 (LONG) is NULL: bit 3.
  w.u8(1U << 3).u8(0);
  w.u8(0x7f);                                    // TINY
  w.u8(7).u16(2024).u8(2).u8(29).u8(23).u8(59).u8(58);  // DATETIME
  w.u64(0x3ff0000000000000ULL);                  // DOUBLE 1.0
  w.lenenc_string("12.50");                      // NEWDECIMAL
  w.u8(0);                                       // TIME, zero length
  w.u16(1999);                                   // YEAR
  w.lenenc_string("fixed");                      // STRING
  w.u32(0x00123456);                             // INT24 (4 bytes on the wire)
  w.u32(0x3f800000);                             // FLOAT 1.0f
  binary_row_reader reader(view(row), types);
  std::vector<std::size_t> sizes;
  std::vector<bool> nulls;
  row_field f;
  while (reader.next(f)) {
    sizes.push_back(f.value.size());
    nulls.push_back(f.is_null);
  }
  CHECK(reader.finish() == codec_errc::ok);
  CHECK(sizes == std::vector<std::size_t>{1, 0, 7, 8, 5, 0, 0, 2, 5, 4, 4});
  CHECK(nulls == std::vector<bool>{false, true, false, false, false, false, false, false, false, false, false});

  // Every cut of the row fails (the bitmap is required and every value is needed).
  for (std::size_t size = 0; size < row.size(); ++size) {
    binary_row_reader cut(view(row).first(size), types);
    while (cut.next(f)) {
    }
    CHECK(cut.finish() != codec_errc::ok);
  }
  // Trailing bytes after the last column.
  byte_buffer longer = row;
  longer.push_back(0);
  binary_row_reader extra(view(longer), types);
  while (extra.next(f)) {
  }
  CHECK(extra.finish() == codec_errc::trailing_bytes);
  // Wrong header byte; unknown column type.
  const byte_buffer wrong_header = from_hex("fe0000");
  const std::vector<std::uint8_t> tiny{mysql_type_tiny};
  binary_row_reader wrong(view(wrong_header), tiny);
  CHECK_FALSE(wrong.next(f));
  CHECK(wrong.error() == codec_errc::unexpected_header);
  const byte_buffer one_column = from_hex("000001");
  const std::vector<std::uint8_t> unknown{0x20};
  binary_row_reader bad_type(view(one_column), unknown);
  CHECK_FALSE(bad_type.next(f));
  CHECK(bad_type.error() == codec_errc::bad_value);
}

TEST_CASE("binary value sizes", "[mysql][resultset][binary]") {
  std::size_t prefix = 0;
  std::size_t size = 0;
  const byte_buffer eight = from_hex("0b00000000000000000000000000");
  struct fixed_case {
    std::uint8_t type;
    std::size_t size;
  };
  for (const auto& c : {fixed_case{mysql_type_tiny, 1}, {mysql_type_short, 2}, {mysql_type_year, 2},
                        {mysql_type_int24, 4}, {mysql_type_long, 4}, {mysql_type_float, 4},
                        {mysql_type_longlong, 8}, {mysql_type_double, 8}, {mysql_type_null, 0}}) {
    REQUIRE(binary_value_size(c.type, view(eight), prefix, size) == codec_errc::ok);
    CHECK(prefix == 0);
    CHECK(size == c.size);
  }
  for (const std::uint8_t t : {mysql_type_date, mysql_type_datetime, mysql_type_timestamp, mysql_type_time}) {
    REQUIRE(binary_value_size(t, view(eight), prefix, size) == codec_errc::ok);
    CHECK(prefix == 1);
    CHECK(size == 11);
    CHECK(binary_value_size(t, bytes_view{}, prefix, size) == codec_errc::truncated);
  }
  for (const std::uint8_t t : {mysql_type_varchar, mysql_type_var_string, mysql_type_string, mysql_type_blob,
                               mysql_type_tiny_blob, mysql_type_medium_blob, mysql_type_long_blob, mysql_type_json,
                               mysql_type_decimal, mysql_type_newdecimal, mysql_type_bit, mysql_type_enum,
                               mysql_type_set, mysql_type_geometry}) {
    const byte_buffer v = from_hex("fc0300616263");
    REQUIRE(binary_value_size(t, view(v), prefix, size) == codec_errc::ok);
    CHECK(prefix == 3);
    CHECK(size == 3);
    CHECK(binary_value_size(t, view(v).first(5), prefix, size) == codec_errc::truncated);
    CHECK(binary_value_size(t, view(from_hex("fb")), prefix, size) == codec_errc::bad_lenenc);
  }
}

TEST_CASE("column count and MariaDB metadata extensions", "[mysql][resultset]") {
  column_count count;
  CHECK(decode_column_count(view(from_hex("00")), caps, count) == codec_errc::bad_value);
  CHECK(decode_column_count(view(from_hex("fb")), caps, count) == codec_errc::bad_lenenc);
  CHECK(decode_column_count(view(from_hex("0300")), caps, count) == codec_errc::trailing_bytes);
  CHECK(decode_column_count(bytes_view{}, caps, count) == codec_errc::truncated);
  const capabilities cache = caps | mariadb_client_cache_metadata;
  REQUIRE(decode_column_count(view(from_hex("0300")), cache, count) == codec_errc::ok);
  CHECK(count.count == 3);
  CHECK_FALSE(count.metadata_follows);
  CHECK(decode_column_count(view(from_hex("03")), cache, count) == codec_errc::truncated);
  byte_buffer out;
  encode_column_count(out, 1, cache, {1000, true});
  CHECK(out == from_hex("04000001fce80301"));

  // MariaDB extended metadata: a length-encoded block after org_name.
  const capabilities extended = caps | mariadb_client_extended_metadata;
  column_definition c;
  c.catalog = "def";
  c.name = "doc";
  c.type = mysql_type_blob;
  const byte_buffer metadata = from_hex("00046a736f6e");  // type 0 (data type name) "json"
  c.extended_metadata = view(metadata);
  out.clear();
  encode_column_definition(out, 2, extended, c);
  column_definition back;
  REQUIRE(decode_column_definition(payload_of(out), extended, back) == codec_errc::ok);
  CHECK(to_vector(back.extended_metadata) == metadata);
  CHECK(back.name == "doc");
  // Read without the capability the block is taken for the fixed-field length: refused.
  CHECK(decode_column_definition(payload_of(out), caps, back) != codec_errc::ok);
  // Fixed-field length other than 0x0c.
  byte_buffer wrong = from_hex(capture::select_column_a);
  wrong[4 + 10] = 0x0b;
  CHECK(decode_column_definition(payload_of(wrong), caps, back) == codec_errc::bad_value);
  // COM_FIELD_LIST adds a default value after the fixed fields.
  c.extended_metadata = {};
  c.default_value = as_bytes("\x01" "0");
  out.clear();
  encode_column_definition(out, 2, caps, c);
  REQUIRE(decode_column_definition(payload_of(out), caps, back) == codec_errc::ok);
  CHECK(text(back.default_value) == "\x01" "0");
}
