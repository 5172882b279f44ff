// caching_sha2_password (MySQL 8 sql/auth/sha2_password.cc, generate_sha2_scramble / validate_scramble):
// the fast path proves knowledge of SHA256(password) against a stored SHA256(SHA256(password)); the full
// path sends the cleartext password, which sluice does only over TLS (no RSA key exchange).
#pragma once

#include "backends/mysql/auth/digest.hpp"

#include <string_view>

namespace sluice::backends::mysql::auth {

// Client side: XOR(SHA256(password), SHA256(SHA256(SHA256(password)) || nonce)), 32 bytes. The nonce is
// the 20-byte scramble. An empty password is sent as an empty response (as clients do).
bool caching_sha2_scramble(std::string_view password, bytes nonce, sha256_digest& out) noexcept;

// SHA256(SHA256(password)): what a server can keep to check the fast path (MySQL's cache entry).
bool caching_sha2_digest(std::string_view password, sha256_digest& out) noexcept;

// Server side, fast path: candidate = response XOR SHA256(digest || nonce) (= SHA256(password) if right);
// true if SHA256(candidate) == digest, in constant time. A response that is not 32 bytes fails.
bool caching_sha2_verify(const sha256_digest& digest, bytes nonce, bytes response) noexcept;

// Server side, full path (cleartext received over TLS): SHA256(SHA256(cleartext)) == digest.
bool caching_sha2_matches(const sha256_digest& digest, std::string_view cleartext) noexcept;

}  // namespace sluice::backends::mysql::auth
