// Prepared statements: a real MariaDB 10.11 COM_STMT_PREPARE_OK and COM_STMT_EXECUTE, statement-id
// rewriting in place for every command that carries one (also in the first chunk of a split message),
// and re-emitting an execute with its parameter types for a connection that has not seen them.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

TEST_CASE("real COM_STMT_PREPARE_OK", "[mysql][prepared][capture]") {
  const byte_buffer wire = from_hex(capture::prepare_ok);
  stmt_prepare_ok ok;
  REQUIRE(decode_stmt_prepare_ok(payload_of(wire), ok) == codec_errc::ok);
  CHECK(ok.statement_id == 1);
  CHECK(ok.num_columns == 2);
  CHECK(ok.num_params == 2);
  CHECK(ok.warnings == 0);
  byte_buffer out;
  encode_stmt_prepare_ok(out, 1, ok);
  CHECK(out == wire);
  // The parameter definitions that follow are ordinary column definitions.
  const byte_buffer param = from_hex(capture::prepare_param);
  column_definition c;
  REQUIRE(decode_column_definition(payload_of(param), sample_caps, c) == codec_errc::ok);
  CHECK(c.name == "?");
  // Without warnings (old servers), and malformed.
  REQUIRE(decode_stmt_prepare_ok(payload_of(wire).first(10), ok) == codec_errc::ok);
  CHECK(ok.num_params == 2);
  CHECK(decode_stmt_prepare_ok(payload_of(wire).first(9), ok) == codec_errc::truncated);
  CHECK(decode_stmt_prepare_ok(view(from_hex("ff")), ok) == codec_errc::unexpected_header);
}

TEST_CASE("real COM_STMT_EXECUTE with bound types", "[mysql][prepared][capture]") {
  const byte_buffer wire = from_hex(capture::execute);
  CHECK(sequence_id_of(view(wire)) == 0);
  stmt_execute e;
  REQUIRE(decode_stmt_execute(payload_of(wire), 2, e) == codec_errc::ok);
  CHECK(e.statement_id == 1);
  CHECK(e.flags == cursor_type_no_cursor);
  CHECK(e.iteration_count == 1);
  CHECK(to_vector(e.null_bitmap) == from_hex("00"));
  CHECK(e.new_params_bound);
  CHECK(to_vector(e.param_types) == from_hex("0800fd00"));
  CHECK(to_vector(e.values) == from_hex("2900000000000000026869"));
  byte_buffer out;
  encode_stmt_execute(out, 0, e, 2);
  CHECK(out == wire);

  // The parameter values walk with binary_value_size, as the types say.
  bytes_view values = e.values;
  for (std::size_t i = 0; i < 2; ++i) {
    std::size_t prefix = 0;
    std::size_t size = 0;
    REQUIRE(binary_value_size(e.param_types[2 * i], values, prefix, size) == codec_errc::ok);
    values = values.subspan(prefix + size);
  }
  CHECK(values.empty());
}

TEST_CASE("COM_STMT_EXECUTE without types is re-emitted with the types bound", "[mysql][prepared]") {
  // What a client sends on its second execute: new-params-bound = 0, types omitted.
  byte_buffer second;
  payload_writer(second).u8(com_stmt_execute).u32(1).u8(0).u32(1).u8(0x02).u8(0).u64(7);
  stmt_execute e;
  REQUIRE(decode_stmt_execute(view(second), 2, e) == codec_errc::ok);
  CHECK_FALSE(e.new_params_bound);
  CHECK(e.param_types.empty());
  CHECK(to_vector(e.null_bitmap) == from_hex("02"));  // parameter 1 is NULL
  CHECK(e.values.size() == 8);

  // On a server connection that never saw the types: rename the statement and bind the types.
  const byte_buffer types = from_hex("0880fd00");  // unsigned LONGLONG, VAR_STRING
  stmt_execute again = e;
  again.statement_id = 91;
  again.param_types = view(types);
  byte_buffer out;
  CHECK(encode_stmt_execute(out, 0, again, 2) == 1);
  stmt_execute back;
  REQUIRE(decode_stmt_execute(payload_of(out), 2, back) == codec_errc::ok);
  CHECK(back.statement_id == 91);
  CHECK(back.new_params_bound);
  CHECK(to_vector(back.param_types) == types);
  CHECK(to_vector(back.null_bitmap) == from_hex("02"));
  CHECK(to_vector(back.values) == to_vector(e.values));
  // Without parameters nothing follows the iteration count.
  out.clear();
  stmt_execute none;
  none.statement_id = 3;
  none.iteration_count = 1;
  encode_stmt_execute(out, 0, none, 0);
  CHECK(out == from_hex("0a00000017030000000001000000"));
  REQUIRE(decode_stmt_execute(payload_of(out), 0, back) == codec_errc::ok);
  CHECK(back.values.empty());
}

TEST_CASE("COM_STMT_EXECUTE malformed", "[mysql][prepared]") {
  const byte_buffer wire = from_hex(capture::execute);
  const bytes_view payload = payload_of(wire);
  stmt_execute e;
  // Cut inside the fixed part, the bitmap, the bound flag or the types: truncated.
  for (std::size_t size = 0; size < 1 + 4 + 1 + 4 + 1 + 1 + 4; ++size)
    CHECK(decode_stmt_execute(payload.first(size), 2, e) != codec_errc::ok);
  // Read as 9 parameters: a 2-byte bitmap, then 0x08 as new-params-bound and 18 bytes of types that
  // are not there.
  CHECK(decode_stmt_execute(payload, 9, e) == codec_errc::truncated);
  CHECK(decode_stmt_execute(view(from_hex("160100000000010000")), 0, e) == codec_errc::unexpected_header);
  // MySQL 8's PARAMETER_COUNT_AVAILABLE (query attributes) is not negotiated.
  CHECK(decode_stmt_execute(view(from_hex("17010000000801000000")), 0, e) == codec_errc::not_negotiated);
}

TEST_CASE("statement ids are read and rewritten in place", "[mysql][prepared][rewrite]") {
  std::vector<byte_buffer> packets;
  packets.push_back(from_hex(capture::execute));
  for (int i = 0; i < 4; ++i) packets.emplace_back();
  encode_stmt_send_long_data(packets[1], 0, {1, 0, as_bytes("blob")});
  encode_stmt_close(packets[2], 0, 1);
  encode_stmt_reset(packets[3], 0, 1);
  encode_stmt_fetch(packets[4], 0, {1, 50});
  for (auto& wire : packets) {
    const mutable_bytes payload(wire.data() + packet_header_size, wire.size() - packet_header_size);
    CHECK(carries_statement_id(payload[0]));
    std::uint32_t id = 0;
    REQUIRE(read_statement_id(payload, id) == codec_errc::ok);
    CHECK(id == 1);
    REQUIRE(rewrite_statement_id(payload, 0x0a0b0c0d) == codec_errc::ok);
    REQUIRE(read_statement_id(payload, id) == codec_errc::ok);
    CHECK(id == 0x0a0b0c0d);
    CHECK(to_vector(payload.subspan(1, 4)) == from_hex("0d0c0b0a"));
  }
  stmt_send_long_data d;
  REQUIRE(decode_stmt_send_long_data(payload_of(packets[1]), d) == codec_errc::ok);
  CHECK(d.statement_id == 0x0a0b0c0d);
  CHECK(text(d.data) == "blob");
  std::uint32_t id = 0;
  REQUIRE(decode_stmt_close(payload_of(packets[2]), id) == codec_errc::ok);
  CHECK(id == 0x0a0b0c0d);
  REQUIRE(decode_stmt_reset(payload_of(packets[3]), id) == codec_errc::ok);
  CHECK(id == 0x0a0b0c0d);
  stmt_fetch f;
  REQUIRE(decode_stmt_fetch(payload_of(packets[4]), f) == codec_errc::ok);
  CHECK(f.statement_id == 0x0a0b0c0d);
  CHECK(f.num_rows == 50);

  // Other commands and short packets are refused and left alone.
  byte_buffer query = from_hex("0353454c454354");
  CHECK_FALSE(carries_statement_id(com_query));
  CHECK(rewrite_statement_id(mutable_bytes(query.data(), query.size()), 5) == codec_errc::unexpected_header);
  CHECK(query == from_hex("0353454c454354"));
  byte_buffer short_close = from_hex("19010000");
  CHECK(rewrite_statement_id(mutable_bytes(short_close.data(), short_close.size()), 5) == codec_errc::truncated);
  CHECK(short_close == from_hex("19010000"));
  CHECK(read_statement_id(bytes_view{}, id) == codec_errc::truncated);
  CHECK(decode_stmt_close(view(from_hex("1a01000000")), id) == codec_errc::unexpected_header);
  CHECK(decode_stmt_close(view(from_hex("190100000000")), id) == codec_errc::trailing_bytes);
}

TEST_CASE("statement id rewritten in the first chunk of a 16 MiB COM_STMT_SEND_LONG_DATA", "[mysql][prepared][large]") {
  const byte_buffer blob(max_packet_payload + 100, 0x5a);
  byte_buffer wire;
  encode_stmt_send_long_data(wire, 0, {7, 2, view(blob)});
  const auto framed = frame_message(view(wire), 2 * max_packet_payload);
  REQUIRE(framed.status == codec_errc::ok);
  REQUIRE(framed.message.chunk_count == 2);
  const bytes_view first = framed.message.first_chunk();
  const mutable_bytes first_chunk(wire.data() + (first.data() - wire.data()), first.size());
  REQUIRE(rewrite_statement_id(first_chunk, 99) == codec_errc::ok);
  byte_buffer joined;
  append_payload(framed.message, joined);
  stmt_send_long_data d;
  REQUIRE(decode_stmt_send_long_data(view(joined), d) == codec_errc::ok);
  CHECK(d.statement_id == 99);
  CHECK(d.param_id == 2);
  CHECK(d.data.size() == blob.size());
}
