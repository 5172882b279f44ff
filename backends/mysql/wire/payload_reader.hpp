// Bounds-checked cursor over one MySQL packet payload: fixed-length little-endian integers,
// length-encoded integers and strings, NUL-terminated strings. The first failure sticks (later reads
// return zero/empty and do not move), so a decoder reads every field and checks error() once.
#pragma once

#include "backends/mysql/wire/codec_errc.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sluice::backends::mysql::wire {

using bytes_view = std::span<const std::uint8_t>;
using mutable_bytes = std::span<std::uint8_t>;
using byte_buffer = std::vector<std::uint8_t>;

// Length-encoded integer prefixes (MySQL "int<lenenc>").
inline constexpr std::uint8_t lenenc_null = 0xfb;       // NULL in a text row; invalid as a number
inline constexpr std::uint8_t lenenc_2_bytes = 0xfc;    // 2-byte integer follows
inline constexpr std::uint8_t lenenc_3_bytes = 0xfd;    // 3-byte integer follows
inline constexpr std::uint8_t lenenc_8_bytes = 0xfe;    // 8-byte integer follows
inline constexpr std::uint8_t lenenc_invalid = 0xff;    // never a valid prefix (an ERR header)
inline constexpr std::uint64_t lenenc_1_byte_max = 0xfa;  // largest value stored in the prefix byte itself

inline std::string_view as_text(bytes_view bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
inline bytes_view as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

class payload_reader {
 public:
  explicit payload_reader(bytes_view data) noexcept : data_(data) {}

  codec_errc error() const noexcept { return error_; }
  bool ok() const noexcept { return error_ == codec_errc::ok; }
  std::size_t offset() const noexcept { return offset_; }
  std::size_t remaining() const noexcept { return data_.size() - offset_; }
  bool at_end() const noexcept { return offset_ == data_.size(); }
  bytes_view rest() const noexcept { return data_.subspan(offset_); }

  // Records `e` unless an earlier error is already recorded.
  void fail(codec_errc e) noexcept {
    if (error_ == codec_errc::ok) error_ = e;
  }

  // The next byte without consuming it (0 and truncated at the end).
  std::uint8_t peek_u8() noexcept;

  // Fixed-length little-endian integers (int<1> .. int<8>).
  std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(fixed_int(1)); }
  std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(fixed_int(2)); }
  std::uint32_t u24() noexcept { return static_cast<std::uint32_t>(fixed_int(3)); }
  std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(fixed_int(4)); }
  std::uint64_t u64() noexcept { return fixed_int(8); }
  std::uint64_t fixed_int(std::size_t size) noexcept;  // size 1..8

  // int<lenenc>. 0xFB (NULL) and 0xFF fail with bad_lenenc.
  std::uint64_t lenenc_int() noexcept;
  // int<lenenc> where 0xFB means NULL (text rows): sets is_null and returns 0 for it.
  std::uint64_t lenenc_int_or_null(bool& is_null) noexcept;

  // string<lenenc>.
  std::string_view lenenc_string() noexcept { return as_text(lenenc_bytes()); }
  bytes_view lenenc_bytes() noexcept;
  // string<lenenc> or 0xFB NULL (text rows).
  bytes_view lenenc_bytes_or_null(bool& is_null) noexcept;

  // string<NUL>: the bytes before the next NUL, which is consumed too.
  std::string_view nul_string() noexcept;
  // string<NUL>, but a missing NUL at the end of the payload is accepted (the rest is the string).
  std::string_view nul_string_or_rest() noexcept;

  // string<fix> / the next `size` bytes.
  bytes_view fixed_bytes(std::size_t size) noexcept;
  std::string_view fixed_string(std::size_t size) noexcept { return as_text(fixed_bytes(size)); }

  // string<EOF>: everything left.
  bytes_view rest_bytes() noexcept;
  std::string_view rest_string() noexcept { return as_text(rest_bytes()); }

  void skip(std::size_t size) noexcept { (void)fixed_bytes(size); }

  // The sticky error, or trailing_bytes if the payload was not read to its end.
  codec_errc finish() const noexcept {
    if (error_ != codec_errc::ok) return error_;
    return at_end() ? codec_errc::ok : codec_errc::trailing_bytes;
  }

 private:
  bytes_view data_;
  std::size_t offset_ = 0;
  codec_errc error_ = codec_errc::ok;
};

// Size of `value` as an int<lenenc> on the wire (1, 3, 4 or 9 bytes).
constexpr std::size_t lenenc_int_size(std::uint64_t value) noexcept {
  if (value <= lenenc_1_byte_max) return 1;
  if (value <= 0xffff) return 3;
  if (value <= 0xffffff) return 4;
  return 9;
}

}  // namespace sluice::backends::mysql::wire
