// Hashes, constant-time comparison and wiping for the MySQL auth plugins: thin wrappers over OpenSSL's
// EVP one-shot digests taking several input pieces (a scramble is always hashed after something else).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace sluice::backends::mysql::auth {

using bytes = std::span<const std::uint8_t>;

inline constexpr std::size_t sha1_size = 20;
inline constexpr std::size_t sha256_size = 32;
inline constexpr std::size_t sha512_size = 64;

using sha1_digest = std::array<std::uint8_t, sha1_size>;
using sha256_digest = std::array<std::uint8_t, sha256_size>;
using sha512_digest = std::array<std::uint8_t, sha512_size>;

// Digest of the concatenation of `parts`. False (and `out` zeroed) if OpenSSL fails.
bool sha1(std::initializer_list<bytes> parts, sha1_digest& out) noexcept;
bool sha256(std::initializer_list<bytes> parts, sha256_digest& out) noexcept;
bool sha512(std::initializer_list<bytes> parts, sha512_digest& out) noexcept;

// CRYPTO_memcmp: equal sizes and contents, in time independent of the contents.
bool constant_time_equal(bytes a, bytes b) noexcept;

// OPENSSL_cleanse: overwrite a secret so the compiler cannot drop the store.
void wipe(void* data, std::size_t size) noexcept;
template <class T, std::size_t N>
void wipe(std::array<T, N>& a) noexcept {
  wipe(a.data(), sizeof(T) * N);
}

// Wipes a secret array when it goes out of scope.
template <class Array>
class wipe_on_exit {
 public:
  explicit wipe_on_exit(Array& a) noexcept : a_(a) {}
  ~wipe_on_exit() { wipe(a_); }
  wipe_on_exit(const wipe_on_exit&) = delete;
  wipe_on_exit& operator=(const wipe_on_exit&) = delete;

 private:
  Array& a_;
};

}  // namespace sluice::backends::mysql::auth
