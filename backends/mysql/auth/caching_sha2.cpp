// caching_sha2_password scramble and fast-path verification (see caching_sha2.hpp).
#include "backends/mysql/auth/caching_sha2.hpp"

#include "backends/mysql/wire/payload_reader.hpp"

namespace sluice::backends::mysql::auth {

bool caching_sha2_scramble(std::string_view password, bytes nonce, sha256_digest& out) noexcept {
  // MySQL's generate_sha2_scramble: stage1 = SHA256(pw), stage2 = SHA256(stage1),
  // mask = SHA256(stage2 || nonce), scramble = stage1 XOR mask.
  sha256_digest stage1{};
  sha256_digest stage2{};
  sha256_digest mask{};
  const wipe_on_exit wipe1(stage1), wipe2(stage2), wipe3(mask);
  if (!sha256({wire::as_bytes(password)}, stage1) || !sha256({stage1}, stage2) || !sha256({stage2, nonce}, mask)) {
    wipe(out);
    return false;
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(stage1[i] ^ mask[i]);
  return true;
}

bool caching_sha2_digest(std::string_view password, sha256_digest& out) noexcept {
  sha256_digest stage1{};
  const wipe_on_exit wipe1(stage1);
  return sha256({wire::as_bytes(password)}, stage1) && sha256({stage1}, out);
}

bool caching_sha2_verify(const sha256_digest& digest, bytes nonce, bytes response) noexcept {
  if (response.size() != sha256_size) return false;
  sha256_digest mask{};
  sha256_digest candidate{};
  sha256_digest check{};
  const wipe_on_exit wipe1(mask), wipe2(candidate), wipe3(check);
  if (!sha256({digest, nonce}, mask)) return false;
  for (std::size_t i = 0; i < sha256_size; ++i) candidate[i] = static_cast<std::uint8_t>(response[i] ^ mask[i]);
  if (!sha256({candidate}, check)) return false;
  return constant_time_equal(check, digest);
}

bool caching_sha2_matches(const sha256_digest& digest, std::string_view cleartext) noexcept {
  sha256_digest computed{};
  const wipe_on_exit wipe1(computed);
  return caching_sha2_digest(cleartext, computed) && constant_time_equal(computed, digest);
}

}  // namespace sluice::backends::mysql::auth
