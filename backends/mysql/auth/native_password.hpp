// mysql_native_password (MySQL sql/auth/password.cc, scramble_411 / check_scramble_sha1): the client
// proves it knows SHA1(password) without sending it; the server keeps only SHA1(SHA1(password)).
#pragma once

#include "backends/mysql/auth/digest.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace sluice::backends::mysql::auth {

// Client side: SHA1(password) XOR SHA1(scramble || SHA1(SHA1(password))), 20 bytes. An empty password
// is sent as an empty response, not through this (as every client does). False if OpenSSL fails.
bool native_password_response(std::string_view password, bytes scramble, sha1_digest& out) noexcept;

// SHA1(SHA1(password)): what the server keeps ("stage 2").
bool native_password_stage2(std::string_view password, sha1_digest& out) noexcept;

// The stored form MariaDB's mysql.user and `SELECT PASSWORD('x')` show: "*" + 40 uppercase hex digits of
// SHA1(SHA1(password)); empty for an empty password (MySQL's convention for "no password").
std::string native_password_hash(std::string_view password);

// Parses "*" + 40 hex digits (either case) back into the stage-2 digest; nullopt for anything else.
std::optional<sha1_digest> parse_native_password_hash(std::string_view stored) noexcept;

// Server side: recovers candidate = response XOR SHA1(scramble || stage2) (= SHA1(password) if right) and
// checks SHA1(candidate) == stage2 in constant time. A response that is not 20 bytes fails.
bool native_password_verify(const sha1_digest& stage2, bytes scramble, bytes response) noexcept;

// Server side with only SHA1(password) known to be compared (full caching_sha2 auth over TLS hands sluice
// the cleartext): true if SHA1(SHA1(cleartext)) == stage2, in constant time.
bool native_password_matches(const sha1_digest& stage2, std::string_view cleartext) noexcept;

}  // namespace sluice::backends::mysql::auth
