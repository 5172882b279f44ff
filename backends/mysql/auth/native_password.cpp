// mysql_native_password scramble, stored hash and verification (see native_password.hpp).
#include "backends/mysql/auth/native_password.hpp"

#include "backends/mysql/wire/payload_reader.hpp"

namespace sluice::backends::mysql::auth {

namespace {

bytes text_bytes(std::string_view text) noexcept { return wire::as_bytes(text); }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool native_password_response(std::string_view password, bytes scramble, sha1_digest& out) noexcept {
  sha1_digest stage1{};
  sha1_digest stage2{};
  sha1_digest mask{};
  const wipe_on_exit wipe1(stage1), wipe2(stage2), wipe3(mask);
  if (!sha1({text_bytes(password)}, stage1) || !sha1({stage1}, stage2) || !sha1({scramble, stage2}, mask)) {
    wipe(out);
    return false;
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(stage1[i] ^ mask[i]);
  return true;
}

bool native_password_stage2(std::string_view password, sha1_digest& out) noexcept {
  sha1_digest stage1{};
  const wipe_on_exit wipe1(stage1);
  return sha1({text_bytes(password)}, stage1) && sha1({stage1}, out);
}

std::string native_password_hash(std::string_view password) {
  if (password.empty()) return {};
  sha1_digest stage2{};
  if (!native_password_stage2(password, stage2)) return {};
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out = "*";
  for (const std::uint8_t b : stage2) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

std::optional<sha1_digest> parse_native_password_hash(std::string_view stored) noexcept {
  if (stored.size() != 1 + 2 * sha1_size || stored[0] != '*') return std::nullopt;
  sha1_digest out{};
  for (std::size_t i = 0; i < sha1_size; ++i) {
    const int high = hex_value(stored[1 + 2 * i]);
    const int low = hex_value(stored[2 + 2 * i]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return out;
}

bool native_password_verify(const sha1_digest& stage2, bytes scramble, bytes response) noexcept {
  if (response.size() != sha1_size) return false;
  sha1_digest mask{};
  sha1_digest candidate{};
  sha1_digest check{};
  const wipe_on_exit wipe1(mask), wipe2(candidate), wipe3(check);
  if (!sha1({scramble, stage2}, mask)) return false;
  for (std::size_t i = 0; i < sha1_size; ++i) candidate[i] = static_cast<std::uint8_t>(response[i] ^ mask[i]);
  if (!sha1({candidate}, check)) return false;
  return constant_time_equal(check, stage2);
}

bool native_password_matches(const sha1_digest& stage2, std::string_view cleartext) noexcept {
  sha1_digest computed{};
  const wipe_on_exit wipe1(computed);
  return native_password_stage2(cleartext, computed) && constant_time_equal(computed, stage2);
}

}  // namespace sluice::backends::mysql::auth
