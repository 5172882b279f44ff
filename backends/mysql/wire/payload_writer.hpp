// Appends MySQL payload fields to a caller-owned, reused byte buffer: fixed-length little-endian
// integers, length-encoded integers and strings, NUL-terminated strings. Pair with packet.hpp's
// begin_packet/finish_packet to frame what was written.
#pragma once

#include "backends/mysql/wire/payload_reader.hpp"

#include <cstdint>
#include <string_view>

namespace sluice::backends::mysql::wire {

class payload_writer {
 public:
  explicit payload_writer(byte_buffer& out) noexcept : out_(out) {}

  payload_writer& u8(std::uint8_t value) { return fixed_int(value, 1); }
  payload_writer& u16(std::uint16_t value) { return fixed_int(value, 2); }
  payload_writer& u24(std::uint32_t value) { return fixed_int(value, 3); }
  payload_writer& u32(std::uint32_t value) { return fixed_int(value, 4); }
  payload_writer& u64(std::uint64_t value) { return fixed_int(value, 8); }
  payload_writer& fixed_int(std::uint64_t value, std::size_t size);  // the low `size` bytes, LE
  payload_writer& lenenc_int(std::uint64_t value);                    // shortest encoding
  payload_writer& lenenc_null() { return u8(wire::lenenc_null); }
  payload_writer& lenenc_string(std::string_view value) { return lenenc_bytes(as_bytes(value)); }
  payload_writer& lenenc_bytes(bytes_view value);
  // string<NUL>. A string cannot carry a NUL in this encoding: it is cut at its first NUL.
  payload_writer& nul_string(std::string_view value);
  payload_writer& bytes(bytes_view value);
  payload_writer& string(std::string_view value) { return bytes(as_bytes(value)); }
  payload_writer& zeros(std::size_t count);

  byte_buffer& buffer() noexcept { return out_; }

 private:
  byte_buffer& out_;
};

}  // namespace sluice::backends::mysql::wire
