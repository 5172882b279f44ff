// The MySQL wire codec on the hot path allocates nothing: framing and decoding a stream of real packets
// (rows, OK with session state, column definitions, prepared-statement traffic), rewriting ids in place,
// and encoding into a buffer that already has the capacity. Counted with a replacement operator new.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

#include "tests/support/counting_allocator.hpp"

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

namespace {

// Every real capture of the command phase, back to back.
byte_buffer capture_stream() {
  byte_buffer out;
  for (const char* hex : {capture::ok_set_autocommit, capture::ok_set_time_zone, capture::ok_start_read_only,
                          capture::select_column_count, capture::select_column_a, capture::select_column_b,
                          capture::select_column_c, capture::select_eof, capture::select_row, capture::select_last_eof,
                          capture::err_unknown_column, capture::prepare_ok, capture::prepare_param,
                          capture::execute_column_s, capture::execute_column_t, capture::execute_row}) {
    const byte_buffer one = from_hex(hex);
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

// Frames and decodes everything in `wire` as a proxy would; returns a checksum so nothing is optimised away.
std::size_t walk(mutable_bytes wire) {
  const capabilities caps = sample_caps & ~client_deprecate_eof;
  const std::uint8_t types[] = {mysql_type_longlong, mysql_type_var_string};
  std::size_t sum = 0;
  std::size_t offset = 0;
  while (offset < wire.size()) {
    const auto framed = frame_message(bytes_view(wire).subspan(offset), 1 << 20);
    if (framed.status != codec_errc::ok) break;
    const bytes_view p = framed.message.payload();
    ok_packet ok;
    err_packet err;
    column_definition column;
    stmt_prepare_ok prepared;
    if (decode_ok(p, caps, ok) == codec_errc::ok) {
      session_state_reader reader(ok.session_state);
      session_state_entry entry;
      while (reader.next(entry)) sum += entry.name.size() + entry.value.size();
    }
    if (decode_err(p, caps, err) == codec_errc::ok) sum += err.message.size();
    if (decode_column_definition(p, caps, column) == codec_errc::ok) sum += column.name.size();
    if (decode_stmt_prepare_ok(p, prepared) == codec_errc::ok) sum += prepared.statement_id;
    text_row_reader text_row(p);
    row_field field;
    while (text_row.next(field)) sum += field.value.size();
    binary_row_reader binary_row(p, types);
    while (binary_row.next(field)) sum += field.value.size();
    sum += static_cast<std::size_t>(classify_resultset_packet(p, p.size(), caps));
    std::uint8_t next = 0;
    (void)renumber_message(wire.subspan(offset, framed.message.wire.size()), 3, next);
    offset += framed.message.wire.size();
  }
  return sum;
}

}  // namespace

TEST_CASE("decoding a stream of real packets allocates nothing", "[mysql][alloc]") {
  byte_buffer wire = capture_stream();
  const mutable_bytes bytes(wire.data(), wire.size());
  const std::size_t first = walk(bytes);  // warm-up
  CHECK(first > 0);
  std::size_t sum = 0;
  const std::size_t allocations = sluice::testing::allocations_in([&] {
    for (int i = 0; i < 1000; ++i) sum += walk(bytes);
  });
  CHECK(allocations == 0);
  CHECK(sum == 1000 * first);
}

TEST_CASE("encoding into a reused buffer allocates nothing", "[mysql][alloc]") {
  byte_buffer out;
  out.reserve(1 << 16);
  const byte_buffer types = from_hex("0800fd00");
  const byte_buffer values = from_hex("2900000000000000026869");
  const byte_buffer bitmap = from_hex("00");
  const std::size_t allocations = sluice::testing::allocations_in([&] {
    for (int i = 0; i < 1000; ++i) {
      out.clear();
      std::uint8_t seq = encode_query(out, 0, "SELECT 1");
      ok_packet ok;
      ok.status_flags = server_status_autocommit;
      seq = encode_ok(out, seq, sample_caps, ok);
      seq = encode_err(out, seq, sample_caps, 1040, "08004", "too many connections");
      stmt_execute e;
      e.statement_id = 5;
      e.iteration_count = 1;
      e.null_bitmap = view(bitmap);
      e.param_types = view(types);
      e.values = view(values);
      seq = encode_stmt_execute(out, seq, e, 2);
      encode_stmt_close(out, seq, 5);
    }
  });
  CHECK(allocations == 0);
  CHECK(!out.empty());
}
