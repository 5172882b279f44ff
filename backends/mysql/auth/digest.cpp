// OpenSSL digests over several pieces, constant-time compare and wiping (see digest.hpp).
#include "backends/mysql/auth/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

namespace sluice::backends::mysql::auth {

namespace {

struct md_ctx_free {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

bool digest(const EVP_MD* md, std::initializer_list<bytes> parts, std::uint8_t* out, std::size_t size) noexcept {
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  unsigned int written = 0;
  bool ok = ctx && md != nullptr && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1;
  for (const bytes part : parts) {
    if (!ok) break;
    ok = EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx.get(), out, &written) == 1 && written == size;
  if (!ok) OPENSSL_cleanse(out, size);
  return ok;
}

}  // namespace

bool sha1(std::initializer_list<bytes> parts, sha1_digest& out) noexcept {
  return digest(EVP_sha1(), parts, out.data(), out.size());
}
bool sha256(std::initializer_list<bytes> parts, sha256_digest& out) noexcept {
  return digest(EVP_sha256(), parts, out.data(), out.size());
}
bool sha512(std::initializer_list<bytes> parts, sha512_digest& out) noexcept {
  return digest(EVP_sha512(), parts, out.data(), out.size());
}

bool constant_time_equal(bytes a, bytes b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

}  // namespace sluice::backends::mysql::auth
