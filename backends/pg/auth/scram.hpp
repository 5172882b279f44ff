// SCRAM-SHA-256 (RFC 5802, RFC 7677) and PostgreSQL md5 password authentication, sans-IO: both the
// client side (sluice logging in to a backend) and the server side (a client logging in to sluice).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::backends::pg::auth {

inline constexpr std::string_view scram_sha_256 = "SCRAM-SHA-256";
inline constexpr int default_scram_iterations = 4096;
// Highest iteration count scram_client accepts from a server. PostgreSQL's default is 4096 and 16+
// lets a DBA raise it (scram_iterations); past this, one login would burn a second or more of CPU
// on a proxy worker, so we treat it as a hostile or broken server rather than wait.
inline constexpr int max_scram_iterations = 1'000'000;

// A stored SCRAM verifier in PostgreSQL's rolpassword format:
//   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
struct scram_verifier {
  int iterations = default_scram_iterations;
  std::string salt;        // raw bytes
  std::string stored_key;  // raw 32 bytes
  std::string server_key;  // raw 32 bytes
};
std::optional<scram_verifier> parse_scram_verifier(std::string_view text);
// Keys come out empty if OpenSSL fails or iterations < 1 (scram_server then refuses every login).
scram_verifier make_scram_verifier(std::string_view password, std::string_view salt, int iterations);
std::string format_scram_verifier(const scram_verifier& verifier);

// md5 password hash as PostgreSQL sends it: "md5" + hex(md5(hex(md5(password + user)) + salt)).
std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4);
// What PostgreSQL stores for an md5 password (pg_authid.rolpassword): "md5" + hex(md5(password + user)).
// Computed once per user when the settings are loaded, so that checking a login costs one MD5, not two.
// Empty if OpenSSL has no MD5 (FIPS).
std::string md5_stored_password(std::string_view user, std::string_view password);
// When only the stored hash "md5" + hex(md5(password + user)) is known (pg_authid.rolpassword).
// Empty if `stored_md5` is not "md5" + 32 lowercase hex digits (PostgreSQL's own test), or if
// OpenSSL has no MD5 (FIPS).
std::string md5_response_from_stored(std::string_view stored_md5, std::string_view salt4);

// What scram_client puts in the client-first-message's n= attribute.
enum class scram_user_field {
  empty,      // "n=": what libpq sends; PostgreSQL ignores it and uses the startup packet's user
  send_user,  // "n=<user>" (escaped per RFC 5802): for other servers and the RFC 7677 test vector
};

// Client side: sluice authenticating to a PostgreSQL server.
class scram_client {
 public:
  // `nonce` empty: a fresh random nonce is generated (tests pass a fixed one).
  scram_client(std::string_view user, std::string_view password, std::string_view nonce = {},
               scram_user_field user_field = scram_user_field::empty);
  // client-first-message, to send in SASLInitialResponse.
  std::string client_first() const;
  // Takes server-first-message; returns client-final-message, or nullopt if it is malformed
  // (bad nonce, too few iterations, bad base64).
  std::optional<std::string> handle_server_first(std::string_view server_first);
  // Takes server-final-message; true when the server's signature verifies.
  bool verify_server_final(std::string_view server_final) const;

 private:
  enum class step {
    awaiting_server_first,  // client_first() may be sent; handle_server_first() is next
    awaiting_server_final,  // client-final-message sent; verify_server_final() is next
    failed,                 // a server message was rejected; every later call fails
  };
  step step_ = step::awaiting_server_first;
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
  enum class step {
    awaiting_client_first,  // handle_client_first() is next
    awaiting_client_final,  // server-first-message sent; handle_client_final() is next
    done,                   // exchange over (success or failure); every later call fails
  };
  step step_ = step::awaiting_client_first;
  scram_verifier verifier_;
  std::string server_nonce_;
  std::string gs2_header_;  // "n,," or "y,,": what the client's c= must decode to
  std::string client_first_bare_;
  std::string server_first_;
  std::string combined_nonce_;
};

// Verifiers for users that do not exist, so that a client cannot tell an unknown user from a wrong
// password (PostgreSQL's scram_mock_salt): the keys are random, so no proof ever verifies, and the salt
// is a keyed hash of the name, so the same name gets the same salt every time and two names differ, as
// real users do. One per process; for_user() is thread-safe.
class scram_mock_verifiers {
 public:
  scram_mock_verifiers();  // random keys and salt secret
  scram_verifier for_user(std::string_view user_name) const;
  // How many for_user() made (tests: a login that runs no mock exchange must not pay for one).
  std::uint64_t made() const noexcept { return made_.load(std::memory_order_relaxed); }

 private:
  scram_verifier base_;      // random keys; the salt is replaced per name
  std::string salt_secret_;  // HMAC key of the per-name salt
  mutable std::atomic<std::uint64_t> made_{0};
};

// Random bytes from OpenSSL (control path). Empty if the CSPRNG fails: scram_client and scram_server
// then refuse to run rather than use a predictable nonce.
std::string random_bytes(std::size_t count);
// Fills `out` with `count` cryptographically random bytes (OpenSSL's RAND_bytes, drawn 4 KiB at a time
// per thread: a connection needs a few bytes (cancel key, salt, nonce) and each RAND_bytes call
// costs a getpid() system call for its fork check). False when OpenSSL has no entropy.
bool random_fill(void* out, std::size_t count);
// Standard alphabet with padding (RFC 4648 section 4). Decoding is strict: length a multiple of 4,
// no whitespace, '=' only as final padding, unused bits of the last symbol zero.
std::string base64_encode(std::string_view raw);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sluice::backends::pg::auth
