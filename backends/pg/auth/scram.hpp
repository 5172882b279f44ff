// SCRAM-SHA-256 (RFC 5802, RFC 7677) and PostgreSQL md5 password authentication, sans-IO: both the
// client side (sluice logging in to a backend) and the server side (a client logging in to sluice).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::backends::pg::auth {

inline constexpr std::string_view scram_sha_256 = "SCRAM-SHA-256";
inline constexpr int default_scram_iterations = 4096;

// A stored SCRAM verifier in PostgreSQL's rolpassword format:
//   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
struct scram_verifier {
  int iterations = default_scram_iterations;
  std::string salt;        // raw bytes
  std::string stored_key;  // raw 32 bytes
  std::string server_key;  // raw 32 bytes
};
std::optional<scram_verifier> parse_scram_verifier(std::string_view text);
scram_verifier make_scram_verifier(std::string_view password, std::string_view salt, int iterations);
std::string format_scram_verifier(const scram_verifier& verifier);

// md5 password hash as PostgreSQL sends it: "md5" + hex(md5(hex(md5(password + user)) + salt)).
std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4);
// When only the stored hash "md5" + hex(md5(password + user)) is known.
std::string md5_response_from_stored(std::string_view stored_md5, std::string_view salt4);

// Client side: sluice authenticating to a PostgreSQL server.
class scram_client {
 public:
  // `nonce` empty: a fresh random nonce is generated (tests pass a fixed one).
  scram_client(std::string_view user, std::string_view password, std::string_view nonce = {});
  // client-first-message, to send in SASLInitialResponse.
  std::string client_first() const;
  // Takes server-first-message; returns client-final-message, or nullopt if it is malformed
  // (bad nonce, too few iterations, bad base64).
  std::optional<std::string> handle_server_first(std::string_view server_first);
  // Takes server-final-message; true when the server's signature verifies.
  bool verify_server_final(std::string_view server_final) const;

 private:
  std::string user_;
  std::string password_;
  std::string client_nonce_;
  std::string client_first_bare_;
  std::string auth_message_;
  std::string salted_password_;
};

// Server side: a client authenticating to sluice.
class scram_server {
 public:
  // `nonce` empty: random server nonce (tests pass a fixed one).
  explicit scram_server(scram_verifier verifier, std::string_view nonce = {});
  // Takes client-first-message (the SASLInitialResponse data); returns server-first-message, or
  // nullopt if malformed or if channel binding is demanded ("p=").
  std::optional<std::string> handle_client_first(std::string_view client_first);
  // Takes client-final-message; returns server-final-message ("v=...") when the proof verifies,
  // nullopt otherwise (wrong password or malformed).
  std::optional<std::string> handle_client_final(std::string_view client_final);

 private:
  scram_verifier verifier_;
  std::string server_nonce_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string combined_nonce_;
};

// Random bytes from OpenSSL (control path).
std::string random_bytes(std::size_t count);
std::string base64_encode(std::string_view raw);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sluice::backends::pg::auth
