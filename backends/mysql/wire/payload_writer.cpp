// payload_writer: appends MySQL field encodings to a byte buffer.
#include "backends/mysql/wire/payload_writer.hpp"

namespace sluice::backends::mysql::wire {

payload_writer& payload_writer::fixed_int(std::uint64_t value, std::size_t size) {
  for (std::size_t i = 0; i < size && i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  return *this;
}

payload_writer& payload_writer::lenenc_int(std::uint64_t value) {
  switch (lenenc_int_size(value)) {
    case 1: return u8(static_cast<std::uint8_t>(value));
    case 3: return u8(lenenc_2_bytes).fixed_int(value, 2);
    case 4: return u8(lenenc_3_bytes).fixed_int(value, 3);
    default: return u8(lenenc_8_bytes).fixed_int(value, 8);
  }
}

payload_writer& payload_writer::lenenc_bytes(bytes_view value) {
  lenenc_int(value.size());
  return bytes(value);
}

payload_writer& payload_writer::nul_string(std::string_view value) {
  const auto nul = value.find('\0');
  if (nul != std::string_view::npos) value = value.substr(0, nul);
  string(value);
  return u8(0);
}

payload_writer& payload_writer::bytes(bytes_view value) {
  out_.insert(out_.end(), value.begin(), value.end());
  return *this;
}

payload_writer& payload_writer::zeros(std::size_t count) {
  out_.insert(out_.end(), count, std::uint8_t{0});
  return *this;
}

}  // namespace sluice::backends::mysql::wire
