// Messages for the MySQL wire codec's result codes (codec_errc.hpp).
#include "backends/mysql/wire/codec_errc.hpp"

namespace sluice::backends::mysql::wire {
namespace {

class codec_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice.mysql.wire"; }
  std::string message(int value) const override {
    switch (static_cast<codec_errc>(value)) {
      case codec_errc::ok: return "ok";
      case codec_errc::need_more: return "incomplete packet: more bytes needed";
      case codec_errc::packet_too_large: return "packet exceeds the maximum message size";
      case codec_errc::out_of_order: return "packet sequence id out of order";
      case codec_errc::truncated: return "packet truncated: a field runs past its end";
      case codec_errc::bad_lenenc: return "invalid length-encoded integer";
      case codec_errc::missing_terminator: return "string without its NUL terminator";
      case codec_errc::trailing_bytes: return "unexpected bytes after the last field";
      case codec_errc::unexpected_header: return "unexpected packet header byte";
      case codec_errc::bad_value: return "field value out of range";
      case codec_errc::not_negotiated: return "packet uses a capability sluice does not negotiate";
    }
    return "unknown mysql wire error";
  }
};

}  // namespace

const std::error_category& codec_category() noexcept {
  static const codec_category_impl category;
  return category;
}

}  // namespace sluice::backends::mysql::wire
