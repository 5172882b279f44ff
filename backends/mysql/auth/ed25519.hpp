// Ed25519 (RFC 8032) as MariaDB's client_ed25519 uses it: the secret scalar and nonce prefix come from
// SHA-512 of the password itself (any length), not of a 32-byte seed, so OpenSSL's EVP Ed25519 (seed
// keys only) cannot sign; the curve arithmetic is done here on OpenSSL BIGNUMs.
#pragma once

#include "backends/mysql/auth/digest.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::backends::mysql::auth {

inline constexpr std::size_t ed25519_public_key_size = 32;
inline constexpr std::size_t ed25519_signature_size = 64;
using ed25519_public_key = std::array<std::uint8_t, ed25519_public_key_size>;
using ed25519_signature = std::array<std::uint8_t, ed25519_signature_size>;

// RFC 8032 section 5.1.6 from the expanded secret `az` (what the RFC computes as SHA-512(seed)): the
// scalar is az[0..32) clamped, the nonce prefix az[32..64). With az = SHA-512(seed) this is standard
// Ed25519 (the RFC's test vectors check it); MariaDB's ref10 crypto_sign uses az = SHA-512(password).
// False if OpenSSL fails (the outputs are then zeroed).
bool ed25519_sign_expanded(const sha512_digest& az, bytes message, ed25519_signature& signature) noexcept;
bool ed25519_public_key_expanded(const sha512_digest& az, ed25519_public_key& out) noexcept;

// RFC 8032 section 5.1.7 (cofactorless: [S]B == R + [k]A, compared encoded): true if `signature` is a
// valid signature of `message` by `public_key`. Rejects S >= L and non-canonical or off-curve points.
bool ed25519_verify(const ed25519_public_key& public_key, bytes message, bytes signature) noexcept;

// MariaDB's client_ed25519: the signature of the server's 32-byte scramble with az = SHA-512(password).
bool mariadb_ed25519_sign(std::string_view password, bytes scramble, ed25519_signature& out) noexcept;
// The public key of a password, and the form MariaDB keeps in mysql.user (and `SELECT
// ed25519_password('pw')` returns): base64 of the 32 bytes without padding, 43 characters.
bool mariadb_ed25519_public_key(std::string_view password, ed25519_public_key& out) noexcept;
std::string mariadb_ed25519_stored(std::string_view password);
std::optional<ed25519_public_key> parse_mariadb_ed25519_stored(std::string_view stored) noexcept;

// Speed: a signature is two variable-base double-and-add scalar multiplications on BIGNUMs (about a
// millisecond); only logins pay it. Timing is not constant: the secret is a password-derived key sluice
// uses toward its own backends, not something a client can probe.

}  // namespace sluice::backends::mysql::auth
