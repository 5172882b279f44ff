// payload_reader: the bounds-checked field reads every MySQL decoder is built from.
#include "backends/mysql/wire/payload_reader.hpp"

#include <cstring>

namespace sluice::backends::mysql::wire {

std::uint8_t payload_reader::peek_u8() noexcept {
  if (!ok()) return 0;
  if (at_end()) {
    fail(codec_errc::truncated);
    return 0;
  }
  return data_[offset_];
}

std::uint64_t payload_reader::fixed_int(std::size_t size) noexcept {
  if (!ok()) return 0;
  if (size == 0 || size > 8 || remaining() < size) {
    fail(codec_errc::truncated);
    return 0;
  }
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value |= std::uint64_t{data_[offset_ + i]} << (8 * i);
  offset_ += size;
  return value;
}

std::uint64_t payload_reader::lenenc_int_or_null(bool& is_null) noexcept {
  is_null = false;
  if (!ok()) return 0;
  if (at_end()) {
    fail(codec_errc::truncated);
    return 0;
  }
  const std::uint8_t first = data_[offset_];
  if (first <= lenenc_1_byte_max) {
    ++offset_;
    return first;
  }
  if (first == lenenc_null) {
    ++offset_;
    is_null = true;
    return 0;
  }
  if (first == lenenc_invalid) {
    fail(codec_errc::bad_lenenc);
    return 0;
  }
  const std::size_t size = first == lenenc_2_bytes ? 2 : first == lenenc_3_bytes ? 3 : 8;
  if (remaining() < 1 + size) {
    fail(codec_errc::truncated);
    return 0;
  }
  ++offset_;
  return fixed_int(size);
}

std::uint64_t payload_reader::lenenc_int() noexcept {
  if (!ok()) return 0;
  if (!at_end() && data_[offset_] == lenenc_null) {
    fail(codec_errc::bad_lenenc);
    return 0;
  }
  bool is_null = false;
  return lenenc_int_or_null(is_null);
}

bytes_view payload_reader::lenenc_bytes_or_null(bool& is_null) noexcept {
  const std::uint64_t length = lenenc_int_or_null(is_null);
  if (!ok() || is_null) return {};
  if (length > remaining()) {
    fail(codec_errc::truncated);
    return {};
  }
  return fixed_bytes(static_cast<std::size_t>(length));
}

bytes_view payload_reader::lenenc_bytes() noexcept {
  if (!ok()) return {};
  if (!at_end() && data_[offset_] == lenenc_null) {
    fail(codec_errc::bad_lenenc);
    return {};
  }
  bool is_null = false;
  return lenenc_bytes_or_null(is_null);
}

std::string_view payload_reader::nul_string() noexcept {
  if (!ok()) return {};
  const auto* begin = data_.data() + offset_;
  const void* nul = remaining() == 0 ? nullptr : std::memchr(begin, 0, remaining());
  if (nul == nullptr) {
    fail(codec_errc::missing_terminator);
    return {};
  }
  const auto length = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - begin);
  offset_ += length + 1;
  return {reinterpret_cast<const char*>(begin), length};
}

std::string_view payload_reader::nul_string_or_rest() noexcept {
  if (!ok()) return {};
  const auto* begin = data_.data() + offset_;
  const void* nul = remaining() == 0 ? nullptr : std::memchr(begin, 0, remaining());
  if (nul == nullptr) return rest_string();
  return nul_string();
}

bytes_view payload_reader::fixed_bytes(std::size_t size) noexcept {
  if (!ok()) return {};
  if (remaining() < size) {
    fail(codec_errc::truncated);
    return {};
  }
  const bytes_view out = data_.subspan(offset_, size);
  offset_ += size;
  return out;
}

bytes_view payload_reader::rest_bytes() noexcept {
  if (!ok()) return {};
  const bytes_view out = data_.subspan(offset_);
  offset_ = data_.size();
  return out;
}

}  // namespace sluice::backends::mysql::wire
