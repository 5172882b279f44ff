// The authentication plugin names sluice speaks, as they travel in HandshakeV10, HandshakeResponse41 and
// AuthSwitchRequest, and the AuthMoreData codes of caching_sha2_password.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::backends::mysql::auth {

inline constexpr std::string_view mysql_native_password = "mysql_native_password";
inline constexpr std::string_view caching_sha2_password = "caching_sha2_password";
inline constexpr std::string_view client_ed25519 = "client_ed25519";  // MariaDB's auth_ed25519, client side
inline constexpr std::string_view mysql_clear_password = "mysql_clear_password";

// Every plugin above works on a 20-byte scramble, but client_ed25519 signs 32 bytes.
inline constexpr std::size_t scramble_size = 20;
inline constexpr std::size_t ed25519_scramble_size = 32;

// caching_sha2_password's AuthMoreData bytes (MySQL sql/auth/sha2_password.cc).
inline constexpr std::uint8_t caching_sha2_request_public_key = 0x02;  // client -> server: send me your RSA key
inline constexpr std::uint8_t caching_sha2_fast_auth_success = 0x03;   // server -> client: OK follows
inline constexpr std::uint8_t caching_sha2_perform_full_auth = 0x04;   // server -> client: send the password

}  // namespace sluice::backends::mysql::auth
