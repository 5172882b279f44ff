// Field primitives: fixed-length integers, length-encoded integers at every size boundary (0xFB NULL,
// 0xFF invalid), length-encoded and NUL-terminated strings, the reader's sticky error, and the writer.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

TEST_CASE("length-encoded integers at every size boundary", "[mysql][primitives][lenenc]") {
  struct boundary {
    std::uint64_t value;
    std::size_t size;
    std::uint8_t prefix;  // first byte on the wire
  };
  const auto b = GENERATE(boundary{0, 1, 0x00}, boundary{1, 1, 0x01}, boundary{250, 1, 0xfa},
                          boundary{251, 3, 0xfc}, boundary{0xffff, 3, 0xfc}, boundary{0x10000, 4, 0xfd},
                          boundary{0xffffff, 4, 0xfd}, boundary{0x1000000, 9, 0xfe},
                          boundary{std::numeric_limits<std::uint64_t>::max(), 9, 0xfe});
  INFO("value " << b.value);
  byte_buffer out;
  payload_writer(out).lenenc_int(b.value);
  REQUIRE(out.size() == b.size);
  CHECK(lenenc_int_size(b.value) == b.size);
  CHECK(out[0] == b.prefix);
  payload_reader r(view(out));
  CHECK(r.lenenc_int() == b.value);
  CHECK(r.finish() == codec_errc::ok);
  // Every cut is truncated, and the cursor does not move.
  for (std::size_t size = 0; size < out.size(); ++size) {
    payload_reader cut(view(out).first(size));
    CHECK(cut.lenenc_int() == 0);
    CHECK(cut.error() == codec_errc::truncated);
    CHECK(cut.offset() == 0);
  }
}

TEST_CASE("0xFB and 0xFF as length-encoded integers", "[mysql][primitives][lenenc]") {
  const byte_buffer null_byte = from_hex("fb");
  payload_reader as_int(view(null_byte));
  CHECK(as_int.lenenc_int() == 0);
  CHECK(as_int.error() == codec_errc::bad_lenenc);
  payload_reader as_row(view(null_byte));
  bool is_null = false;
  CHECK(as_row.lenenc_int_or_null(is_null) == 0);
  CHECK(is_null);
  CHECK(as_row.finish() == codec_errc::ok);
  const byte_buffer invalid = from_hex("ff00");
  payload_reader ff(view(invalid));
  CHECK(ff.lenenc_int_or_null(is_null) == 0);
  CHECK(ff.error() == codec_errc::bad_lenenc);
  payload_reader ff_string(view(invalid));
  CHECK(ff_string.lenenc_string().empty());
  CHECK(ff_string.error() == codec_errc::bad_lenenc);
  // Non-canonical encodings (a small value in a wider form) are accepted, as servers accept them.
  const byte_buffer wide = from_hex("fc0500");
  payload_reader w(view(wide));
  CHECK(w.lenenc_int() == 5);
  CHECK(w.finish() == codec_errc::ok);
}

TEST_CASE("length-encoded strings", "[mysql][primitives][lenenc]") {
  byte_buffer out;
  payload_writer(out).lenenc_string("").lenenc_string("abc").lenenc_string(std::string(300, 'x')).lenenc_null();
  payload_reader r(view(out));
  CHECK(r.lenenc_string().empty());
  CHECK(r.lenenc_string() == "abc");
  CHECK(r.lenenc_string().size() == 300);
  bool is_null = false;
  CHECK(r.lenenc_bytes_or_null(is_null).empty());
  CHECK(is_null);
  CHECK(r.finish() == codec_errc::ok);
  // A length beyond the payload, including one near 2^64.
  const byte_buffer too_long = from_hex("0461");
  payload_reader t(view(too_long));
  CHECK(t.lenenc_string().empty());
  CHECK(t.error() == codec_errc::truncated);
  const byte_buffer huge = from_hex("feffffffffffffffff61");
  payload_reader h(view(huge));
  CHECK(h.lenenc_bytes().empty());
  CHECK(h.error() == codec_errc::truncated);
  // 0xFB is NULL, never a string, where NULL is not allowed.
  const byte_buffer null_prefix = from_hex("fb");
  payload_reader n(view(null_prefix));
  CHECK(n.lenenc_string().empty());
  CHECK(n.error() == codec_errc::bad_lenenc);
}

TEST_CASE("NUL-terminated, fixed and rest-of-packet strings", "[mysql][primitives]") {
  const byte_buffer data = from_hex("61620000636465");  // "ab" NUL, "" NUL, "cde"
  payload_reader r(view(data));
  CHECK(r.nul_string() == "ab");
  CHECK(r.nul_string().empty());
  CHECK(r.fixed_string(2) == "cd");
  CHECK(r.rest_string() == "e");
  CHECK(r.at_end());
  CHECK(r.finish() == codec_errc::ok);
  payload_reader missing(view(data).subspan(4));
  CHECK(missing.nul_string().empty());
  CHECK(missing.error() == codec_errc::missing_terminator);
  payload_reader tolerant(view(data).subspan(4));
  CHECK(tolerant.nul_string_or_rest() == "cde");
  CHECK(tolerant.finish() == codec_errc::ok);
  payload_reader empty(bytes_view{});
  CHECK(empty.nul_string().empty());
  CHECK(empty.error() == codec_errc::missing_terminator);
  CHECK(payload_reader(bytes_view{}).rest_string().empty());
}

TEST_CASE("fixed-length little-endian integers", "[mysql][primitives]") {
  const byte_buffer data = from_hex("01 0201 050403 09080706 1110 0f0e0d0c0b0a");
  payload_reader r(view(data));
  CHECK(r.u8() == 0x01);
  CHECK(r.u16() == 0x0102);
  CHECK(r.u24() == 0x030405);
  CHECK(r.u32() == 0x06070809);
  CHECK(r.u64() == 0x0a0b0c0d0e0f1011ULL);
  CHECK(r.finish() == codec_errc::ok);
  byte_buffer out;
  payload_writer(out).u8(0x01).u16(0x0102).u24(0x030405).u32(0x06070809).u64(0x0a0b0c0d0e0f1011ULL);
  CHECK(out == data);
}

TEST_CASE("the first error sticks and later reads do not move", "[mysql][primitives]") {
  const byte_buffer data = from_hex("0102");
  payload_reader r(view(data));
  CHECK(r.u32() == 0);
  CHECK(r.error() == codec_errc::truncated);
  CHECK(r.u8() == 0);  // would succeed on its own
  CHECK(r.offset() == 0);
  r.fail(codec_errc::bad_value);
  CHECK(r.error() == codec_errc::truncated);
  CHECK(r.finish() == codec_errc::truncated);
  payload_reader unread(view(data));
  CHECK(unread.u8() == 1);
  CHECK(unread.finish() == codec_errc::trailing_bytes);
  CHECK(unread.peek_u8() == 2);
  CHECK(unread.remaining() == 1);
}

TEST_CASE("the writer cuts a NUL-terminated string at an embedded NUL", "[mysql][primitives][writer]") {
  byte_buffer out;
  payload_writer(out).nul_string(std::string_view("ab\0cd", 5)).zeros(2).string("x");
  CHECK(out == from_hex("616200 0000 78"));
}

TEST_CASE("codec_errc is a std::error_code", "[mysql][primitives][errc]") {
  const std::error_code e = codec_errc::packet_too_large;
  CHECK(e.category().name() == std::string("sluice.mysql.wire"));
  CHECK(e.message() == "packet exceeds the maximum message size");
  CHECK(e);
  CHECK_FALSE(std::error_code(codec_errc::ok));
  for (int value = 0; value <= static_cast<int>(codec_errc::not_negotiated); ++value)
    CHECK(codec_category().message(value) != "unknown mysql wire error");
  CHECK(codec_category().message(999) == "unknown mysql wire error");
}
