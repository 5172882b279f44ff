// Result codes of the MySQL/MariaDB wire codec: what a decoder or the framer found wrong with the bytes.
// A std::error_category (no Boost) so the codec stays standard-library only; callers map these to
// sluice::errc (client_protocol / server_protocol, client_too_large / server_too_large).
#pragma once

#include <string>
#include <system_error>

namespace sluice::backends::mysql::wire {

enum class codec_errc {
  ok = 0,              // decoded; the output is valid
  need_more,           // not an error: the buffer holds only part of a packet or message; read more
  packet_too_large,    // a logical message would exceed the caller's max size
  out_of_order,        // a continuation chunk of a split message has the wrong sequence id
  truncated,           // a field runs past the end of the payload
  bad_lenenc,          // 0xFF (or 0xFB where a number is required) as a length-encoded integer prefix
  missing_terminator,  // a NUL-terminated string has no NUL before the end of the payload
  trailing_bytes,      // bytes after the last field where the format allows none
  unexpected_header,   // the first byte is not the one this packet type starts with
  bad_value,           // a field holds a value outside its domain (protocol version, fixed-field length)
  not_negotiated,      // the packet needs a capability this codec does not implement (see the decoder)
};

const std::error_category& codec_category() noexcept;

inline std::error_code make_error_code(codec_errc e) noexcept {
  return {static_cast<int>(e), codec_category()};
}

}  // namespace sluice::backends::mysql::wire

template <>
struct std::is_error_code_enum<sluice::backends::mysql::wire::codec_errc> : std::true_type {};
