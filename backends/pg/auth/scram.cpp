// SCRAM-SHA-256 (RFC 5802, RFC 7677) client and server exchanges and PostgreSQL md5 password hashes,
// on OpenSSL primitives. No I/O: callers move the messages (SASLInitialResponse, SASLResponse, ...).
#include "backends/pg/auth/scram.hpp"

#include "backends/pg/auth/saslprep.hpp"

#include <openssl/crypto.h>

#include <cstring>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <climits>
#include <utility>
#include <vector>

namespace sluice::backends::pg::auth {

namespace {

// RFC 5802 section 3, with H = SHA-256 (RFC 7677):
//   SaltedPassword  = Hi(Normalize(password), salt, i)          Hi is PBKDF2-HMAC-SHA-256
//   ClientKey       = HMAC(SaltedPassword, "Client Key")
//   StoredKey       = H(ClientKey)
//   AuthMessage     = client-first-message-bare + "," + server-first-message + "," +
//                     client-final-message-without-proof
//   ClientSignature = HMAC(StoredKey, AuthMessage)
//   ClientProof     = ClientKey XOR ClientSignature
//   ServerKey       = HMAC(SaltedPassword, "Server Key")
//   ServerSignature = HMAC(ServerKey, AuthMessage)
// The server keeps only StoredKey and ServerKey; it recovers ClientKey = ClientProof XOR
// ClientSignature and accepts when H(ClientKey) == StoredKey.
constexpr std::size_t key_length = 32;  // SHA-256 output, and the length of every SCRAM key
constexpr std::string_view client_key_label = "Client Key";
constexpr std::string_view server_key_label = "Server Key";
// Random bytes in a nonce before base64, as PostgreSQL and libpq (SCRAM_RAW_NONCE_LEN).
constexpr std::size_t nonce_random_length = 18;
// gs2-header for "no channel binding" (RFC 5802 section 7); c= carries it base64'd ("biws").
constexpr std::string_view gs2_header_no_binding = "n,,";
constexpr std::string_view verifier_prefix = "SCRAM-SHA-256$";
// PostgreSQL's md5 scheme: "md5" + 32 lowercase hex digits (MD5_PASSWD_LEN = 35).
constexpr std::string_view md5_prefix = "md5";
constexpr std::size_t md5_hex_length = 32;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::optional<std::string> sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != key_length) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

std::optional<std::string> hmac_sha256(std::string_view key, std::string_view data) {
  if (key.empty() || key.size() > static_cast<std::size_t>(INT_MAX)) {
    return std::nullopt;  // every SCRAM key is 32 bytes; empty means an earlier step failed
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(),
           out.data(), &length) == nullptr ||
      length != key_length) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

// Hi() of RFC 5802 is PBKDF2 (RFC 8018) with HMAC-SHA-256 and a one-block output.
std::optional<std::string> salted_password(std::string_view password, std::string_view salt,
                                           int iterations) {
  if (iterations < 1 || salt.empty() || password.size() > static_cast<std::size_t>(INT_MAX) ||
      salt.size() > static_cast<std::size_t>(INT_MAX)) {
    return std::nullopt;
  }
  std::array<unsigned char, key_length> out{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes(salt),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (std::size_t i = 0; i < out.size() && i < b.size(); ++i) {
    out[i] = static_cast<char>(out[i] ^ b[i]);
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Normalize(password) of RFC 5802 is SASLprep (RFC 4013), done as PostgreSQL does it (pg_saslprep,
// used by both the server and libpq): ASCII and invalid UTF-8 are used as they are, and a password
// SASLprep rejects (prohibited or unassigned code points, bidi rules) falls back to its raw bytes.
// Used for every key derived from a plaintext password: the verifier built for a configured user
// (make_scram_verifier) and sluice's own proof to a backend (scram_client). md5 does not SASLprep.
std::string normalize_password(std::string_view password) { return saslprep(password); }

// RFC 5802 "printable": %x21-2B / %x2D-7E (visible ASCII except ','); PostgreSQL's
// is_scram_printable. Nonces must be non-empty runs of these.
bool is_valid_nonce(std::string_view nonce) {
  if (nonce.empty()) {
    return false;
  }
  for (const char c : nonce) {
    if (c < 0x21 || c > 0x7E || c == ',') {
      return false;
    }
  }
  return true;
}

// Every attribute value in SCRAM is free of ',' (saslname escapes it, base64 and nonces exclude
// it), so a message splits exactly into its attributes on ','. Empty fields are kept ("n,,n=,r=").
std::vector<std::string_view> split_fields(std::string_view message) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = message.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(message.substr(start));
      return fields;
    }
    fields.push_back(message.substr(start, comma - start));
    start = comma + 1;
  }
}

// The value of `field` if it is "<name>=<value>".
std::optional<std::string_view> attribute(std::string_view field, char name) {
  if (field.size() < 2 || field[0] != name || field[1] != '=') {
    return std::nullopt;
  }
  return field.substr(2);
}

// RFC 5802 extensions: attr-val, the attribute a single ASCII letter.
bool is_extension(std::string_view field) {
  if (field.size() < 2 || field[1] != '=') {
    return false;
  }
  const char name = field[0];
  return (name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z');
}

// A positive decimal int, digits only (no sign, no spaces), at most `max`.
std::optional<int> parse_positive_int(std::string_view text, int max) {
  if (text.empty() || text[0] < '0' || text[0] > '9') {
    return std::nullopt;
  }
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 1 || value > max) {
    return std::nullopt;
  }
  return value;
}

// saslname of RFC 5802 section 5.1: ',' and '=' are written "=2C" and "=3D".
std::string escape_saslname(std::string_view user) {
  std::string out;
  out.reserve(user.size());
  for (const char c : user) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

std::string fresh_nonce() { return base64_encode(random_bytes(nonce_random_length)); }

bool is_usable(const scram_verifier& verifier) {
  return verifier.iterations >= 1 && !verifier.salt.empty() &&
         verifier.stored_key.size() == key_length && verifier.server_key.size() == key_length;
}

// MD5, looked up in OpenSSL's providers once for the process. EVP_md5() is a legacy handle: with it,
// OpenSSL 3 fetches the algorithm again inside every EVP_Digest (about 5k instructions, twice per md5
// login). Null when no provider has MD5 (FIPS).
const EVP_MD* md5_algorithm() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return fetched;
#else
  return EVP_md5();
#endif
}

// One digest context per thread, reused for every md5 digest (EVP_Digest makes and frees one each time).
EVP_MD_CTX* md5_context() {
  struct holder {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    ~holder() { EVP_MD_CTX_free(context); }
  };
  thread_local holder held;
  return held.context;
}

// "md5" + the lowercase hex of MD5(the parts, one after the other): PostgreSQL's md5 strings, both the
// stored hash and the challenge response. Empty if OpenSSL refuses MD5 (FIPS provider).
std::string md5_prefixed_hex(std::initializer_list<std::string_view> parts) {
  const EVP_MD* md5 = md5_algorithm();
  EVP_MD_CTX* context = md5_context();
  if (md5 == nullptr || context == nullptr || EVP_DigestInit_ex(context, md5, nullptr) != 1) {
    return {};
  }
  for (const auto part : parts) {
    if (EVP_DigestUpdate(context, part.data(), part.size()) != 1) {
      return {};
    }
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context, digest.data(), &length) != 1) {
    return {};
  }
  static constexpr std::string_view digits = "0123456789abcdef";
  std::string out;
  out.reserve(md5_prefix.size() + 2 * length);
  out += md5_prefix;
  for (unsigned int i = 0; i < length; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 0x0F];
  }
  return out;
}

// PostgreSQL's md5 challenge response (pg_md5_encrypt): "md5" + hex(md5(inner_hex + salt)).
std::string md5_salted(std::string_view inner_hex, std::string_view salt4) {
  return md5_prefixed_hex({inner_hex, salt4});
}

constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char base64_pad = '=';

// Index of `c` in base64_alphabet, or -1.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Primitives

bool random_fill(void* out, std::size_t count) {
  constexpr std::size_t pool_size = 4096;
  struct pool {
    unsigned char bytes[pool_size];
    std::size_t left = 0;
  };
  thread_local pool cache;
  auto* target = static_cast<unsigned char*>(out);
  if (count > pool_size / 4) {
    // Large requests (start-up salts and keys) go straight to OpenSSL.
    return count <= static_cast<std::size_t>(INT_MAX) && RAND_bytes(target, static_cast<int>(count)) == 1;
  }
  if (cache.left < count) {
    if (RAND_bytes(cache.bytes, static_cast<int>(pool_size)) != 1) return false;
    cache.left = pool_size;
  }
  // Hand out from the end and wipe what was handed out: no byte is ever given twice.
  cache.left -= count;
  std::memcpy(target, cache.bytes + cache.left, count);
  OPENSSL_cleanse(cache.bytes + cache.left, count);
  return true;
}

std::string random_bytes(std::size_t count) {
  std::string out(count, '\0');
  if (count == 0) {
    return out;
  }
  if (!random_fill(out.data(), count)) return {};
  return out;
}

std::string base64_encode(std::string_view raw) {
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    const auto group = (std::uint32_t{static_cast<unsigned char>(raw[i])} << 16) |
                       (std::uint32_t{static_cast<unsigned char>(raw[i + 1])} << 8) |
                       std::uint32_t{static_cast<unsigned char>(raw[i + 2])};
    out += base64_alphabet[(group >> 18) & 0x3F];
    out += base64_alphabet[(group >> 12) & 0x3F];
    out += base64_alphabet[(group >> 6) & 0x3F];
    out += base64_alphabet[group & 0x3F];
  }
  const std::size_t left = raw.size() - i;
  if (left == 1) {
    const auto group = std::uint32_t{static_cast<unsigned char>(raw[i])} << 16;
    out += base64_alphabet[(group >> 18) & 0x3F];
    out += base64_alphabet[(group >> 12) & 0x3F];
    out += base64_pad;
    out += base64_pad;
  } else if (left == 2) {
    const auto group = (std::uint32_t{static_cast<unsigned char>(raw[i])} << 16) |
                       (std::uint32_t{static_cast<unsigned char>(raw[i + 1])} << 8);
    out += base64_alphabet[(group >> 18) & 0x3F];
    out += base64_alphabet[(group >> 12) & 0x3F];
    out += base64_alphabet[(group >> 6) & 0x3F];
    out += base64_pad;
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::size_t padding = 0;
  if (!text.empty() && text.back() == base64_pad) {
    padding = (text[text.size() - 2] == base64_pad) ? 2 : 1;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t symbols = last ? 4 - padding : 4;
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      int value = 0;
      if (j < symbols) {
        value = base64_value(text[i + j]);
        if (value < 0) {
          return std::nullopt;  // bad character, or '=' before the final padding
        }
      }
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    out += static_cast<char>((group >> 16) & 0xFF);
    if (symbols == 4) {
      out += static_cast<char>((group >> 8) & 0xFF);
      out += static_cast<char>(group & 0xFF);
    } else if (symbols == 3) {
      if ((group & 0xFF) != 0) {
        return std::nullopt;  // non-zero unused bits: not a canonical encoding
      }
      out += static_cast<char>((group >> 8) & 0xFF);
    } else if ((group & 0xFFFF) != 0) {
      return std::nullopt;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verifiers

std::optional<scram_verifier> parse_scram_verifier(std::string_view text) {
  // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (PostgreSQL's parse_scram_secret)
  if (text.substr(0, verifier_prefix.size()) != verifier_prefix) {
    return std::nullopt;
  }
  text.remove_prefix(verifier_prefix.size());
  const std::size_t dollar = text.find('$');
  if (dollar == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view salt_part = text.substr(0, dollar);
  const std::string_view key_part = text.substr(dollar + 1);
  const std::size_t colon1 = salt_part.find(':');
  const std::size_t colon2 = key_part.find(':');
  if (colon1 == std::string_view::npos || colon2 == std::string_view::npos) {
    return std::nullopt;
  }
  const auto iterations = parse_positive_int(salt_part.substr(0, colon1), INT_MAX);
  auto salt = base64_decode(salt_part.substr(colon1 + 1));
  auto stored_key = base64_decode(key_part.substr(0, colon2));
  auto server_key = base64_decode(key_part.substr(colon2 + 1));
  if (!iterations || !salt || salt->empty() || !stored_key || stored_key->size() != key_length ||
      !server_key || server_key->size() != key_length) {
    return std::nullopt;  // also catches a stray '$' or ':' (not in the base64 alphabet)
  }
  return scram_verifier{*iterations, std::move(*salt), std::move(*stored_key),
                        std::move(*server_key)};
}

scram_verifier make_scram_verifier(std::string_view password, std::string_view salt,
                                   int iterations) {
  scram_verifier verifier;
  verifier.iterations = iterations;
  verifier.salt = std::string(salt);
  const auto salted = salted_password(normalize_password(password), salt, iterations);
  if (!salted) {
    return verifier;
  }
  const auto client_key = hmac_sha256(*salted, client_key_label);
  const auto stored_key = client_key ? sha256(*client_key) : std::nullopt;
  const auto server_key = hmac_sha256(*salted, server_key_label);
  if (stored_key && server_key) {
    verifier.stored_key = *stored_key;
    verifier.server_key = *server_key;
  }
  return verifier;
}

std::string format_scram_verifier(const scram_verifier& verifier) {
  std::string out(verifier_prefix);
  out += std::to_string(verifier.iterations);
  out += ':';
  out += base64_encode(verifier.salt);
  out += '$';
  out += base64_encode(verifier.stored_key);
  out += ':';
  out += base64_encode(verifier.server_key);
  return out;
}

// ---------------------------------------------------------------------------------------------
// md5

std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4) {
  const std::string stored = md5_stored_password(user, password);
  if (stored.empty()) {
    return {};
  }
  return md5_salted(std::string_view(stored).substr(md5_prefix.size()), salt4);
}

std::string md5_stored_password(std::string_view user, std::string_view password) {
  return md5_prefixed_hex({password, user});
}

std::string md5_response_from_stored(std::string_view stored_md5, std::string_view salt4) {
  // Runs on every md5 login: the hex digits are tested by range (find_first_not_of with a set of
  // digits is a memchr per character, about 900 instructions here).
  if (stored_md5.size() != md5_prefix.size() + md5_hex_length ||
      stored_md5.substr(0, md5_prefix.size()) != md5_prefix ||
      !std::all_of(stored_md5.begin() + static_cast<std::ptrdiff_t>(md5_prefix.size()), stored_md5.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    return {};
  }
  return md5_salted(stored_md5.substr(md5_prefix.size()), salt4);
}

// ---------------------------------------------------------------------------------------------
// Client side

scram_client::scram_client(std::string_view user, std::string_view password,
                           std::string_view nonce, scram_user_field user_field)
    : user_(user), password_(password), client_nonce_(nonce.empty() ? fresh_nonce() : nonce) {
  client_first_bare_ = "n=";
  if (user_field == scram_user_field::send_user) {
    client_first_bare_ += escape_saslname(user_);
  }
  client_first_bare_ += ",r=";
  client_first_bare_ += client_nonce_;
}

std::string scram_client::client_first() const {
  return std::string(gs2_header_no_binding) + client_first_bare_;
}

std::optional<std::string> scram_client::handle_server_first(std::string_view server_first) {
  if (step_ != step::awaiting_server_first) {
    return std::nullopt;
  }
  step_ = step::failed;  // until the message is accepted below
  if (!is_valid_nonce(client_nonce_) || server_first.find('\0') != std::string_view::npos) {
    return std::nullopt;  // no usable nonce (RNG failure or a bad fixed one), or a NUL byte
  }
  // server-first-message = nonce "," salt "," iteration-count. PostgreSQL sends no extensions and
  // libpq rejects anything after i=; so do we (and so a leading reserved "m=" fails too).
  const auto fields = split_fields(server_first);
  if (fields.size() != 3) {
    return std::nullopt;
  }
  const auto nonce = attribute(fields[0], 'r');
  const auto salt_b64 = attribute(fields[1], 's');
  const auto iterations_text = attribute(fields[2], 'i');
  if (!nonce || !salt_b64 || !iterations_text) {
    return std::nullopt;
  }
  // The server must extend our nonce, not replace or merely echo it.
  if (!is_valid_nonce(*nonce) || nonce->size() <= client_nonce_.size() ||
      nonce->substr(0, client_nonce_.size()) != client_nonce_) {
    return std::nullopt;
  }
  const auto salt = base64_decode(*salt_b64);
  const auto iterations = parse_positive_int(*iterations_text, max_scram_iterations);
  if (!salt || salt->empty() || !iterations) {
    return std::nullopt;
  }

  auto salted = salted_password(normalize_password(password_), *salt, *iterations);
  if (!salted) {
    return std::nullopt;
  }
  const auto client_key = hmac_sha256(*salted, client_key_label);
  const auto stored_key = client_key ? sha256(*client_key) : std::nullopt;
  if (!stored_key) {
    return std::nullopt;
  }
  std::string final_message = "c=" + base64_encode(gs2_header_no_binding) + ",r=";
  final_message += *nonce;
  std::string auth_message = client_first_bare_;
  auth_message += ',';
  auth_message += server_first;
  auth_message += ',';
  auth_message += final_message;
  const auto client_signature = hmac_sha256(*stored_key, auth_message);
  if (!client_signature) {
    return std::nullopt;
  }
  final_message += ",p=";
  final_message += base64_encode(xor_bytes(*client_key, *client_signature));

  auth_message_ = std::move(auth_message);
  salted_password_ = std::move(*salted);
  step_ = step::awaiting_server_final;
  return final_message;
}

bool scram_client::verify_server_final(std::string_view server_final) const {
  if (step_ != step::awaiting_server_final) {
    return false;
  }
  // server-final-message = server-error ("e=...") / verifier ("v=..."); like libpq, nothing after.
  const auto signature_b64 = attribute(server_final, 'v');
  if (!signature_b64) {
    return false;  // includes "e=<error>"
  }
  const auto signature = base64_decode(*signature_b64);
  if (!signature || signature->size() != key_length) {
    return false;  // includes a trailing ",ext=..." (',' is not base64)
  }
  const auto server_key = hmac_sha256(salted_password_, server_key_label);
  const auto expected = server_key ? hmac_sha256(*server_key, auth_message_) : std::nullopt;
  return expected && equal_constant_time(*signature, *expected);
}

// ---------------------------------------------------------------------------------------------
// Server side

scram_server::scram_server(scram_verifier verifier, std::string_view nonce)
    : verifier_(std::move(verifier)), server_nonce_(nonce.empty() ? fresh_nonce() : nonce) {}

std::optional<std::string> scram_server::handle_client_first(std::string_view client_first) {
  if (step_ != step::awaiting_client_first) {
    return std::nullopt;
  }
  step_ = step::done;  // until the message is accepted below
  if (!is_usable(verifier_) || !is_valid_nonce(server_nonce_) ||
      client_first.find('\0') != std::string_view::npos) {
    return std::nullopt;  // broken verifier, no usable nonce, or a NUL (PostgreSQL refuses too)
  }
  // client-first-message = gs2-header client-first-message-bare
  //   gs2-header = gs2-cbind-flag "," [authzid] ","
  //   client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  const auto fields = split_fields(client_first);
  if (fields.size() < 4) {
    return std::nullopt;
  }
  // "n": client does not do channel binding; "y": it does but thinks we do not, which is true (we
  // never offer SCRAM-SHA-256-PLUS). "p=<type>" demands channel binding: refused. Anything else is
  // malformed.
  if (fields[0] != "n" && fields[0] != "y") {
    return std::nullopt;
  }
  // authzid ("a=..."): PostgreSQL does not support it either.
  if (!fields[1].empty()) {
    return std::nullopt;
  }
  // The username is ignored, as PostgreSQL does (the startup packet's user counts; libpq sends an
  // empty one). Any value is accepted, but the attribute must be there; "m=" fails here.
  if (!attribute(fields[2], 'n')) {
    return std::nullopt;
  }
  const auto client_nonce = attribute(fields[3], 'r');
  if (!client_nonce || !is_valid_nonce(*client_nonce)) {
    return std::nullopt;
  }
  for (std::size_t i = 4; i < fields.size(); ++i) {
    if (!is_extension(fields[i])) {
      return std::nullopt;
    }
  }

  gs2_header_ = std::string(fields[0]) + ",,";
  client_first_bare_ = std::string(client_first.substr(gs2_header_.size()));
  combined_nonce_ = std::string(*client_nonce) + server_nonce_;
  server_first_ = "r=" + combined_nonce_;
  server_first_ += ",s=";
  server_first_ += base64_encode(verifier_.salt);
  server_first_ += ",i=";
  server_first_ += std::to_string(verifier_.iterations);
  step_ = step::awaiting_client_final;
  return server_first_;
}

std::optional<std::string> scram_server::handle_client_final(std::string_view client_final) {
  if (step_ != step::awaiting_client_final) {
    return std::nullopt;
  }
  step_ = step::done;  // one proof per exchange, right or wrong
  if (client_final.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  const auto fields = split_fields(client_final);
  if (fields.size() < 3) {
    return std::nullopt;
  }
  // c= must repeat the gs2-header of the client-first-message (no channel-binding data).
  const auto binding_b64 = attribute(fields[0], 'c');
  if (!binding_b64) {
    return std::nullopt;
  }
  const auto binding = base64_decode(*binding_b64);
  if (!binding || *binding != gs2_header_) {
    return std::nullopt;
  }
  const auto nonce = attribute(fields[1], 'r');
  if (!nonce || *nonce != combined_nonce_) {
    return std::nullopt;
  }
  for (std::size_t i = 2; i + 1 < fields.size(); ++i) {
    if (!is_extension(fields[i]) || fields[i][0] == 'p') {
      return std::nullopt;
    }
  }
  const std::string_view proof_field = fields.back();
  const auto proof_b64 = attribute(proof_field, 'p');
  if (!proof_b64) {
    return std::nullopt;
  }
  const auto proof = base64_decode(*proof_b64);
  if (!proof || proof->size() != key_length) {
    return std::nullopt;
  }

  const std::string_view without_proof =
      client_final.substr(0, client_final.size() - proof_field.size() - 1);
  std::string auth_message = client_first_bare_;
  auth_message += ',';
  auth_message += server_first_;
  auth_message += ',';
  auth_message += without_proof;

  const auto client_signature = hmac_sha256(verifier_.stored_key, auth_message);
  if (!client_signature) {
    return std::nullopt;
  }
  const auto client_key_hash = sha256(xor_bytes(*proof, *client_signature));
  if (!client_key_hash || !equal_constant_time(*client_key_hash, verifier_.stored_key)) {
    return std::nullopt;  // wrong password
  }
  const auto server_signature = hmac_sha256(verifier_.server_key, auth_message);
  if (!server_signature) {
    return std::nullopt;
  }
  return "v=" + base64_encode(*server_signature);
}

// ---------------------------------------------------------------------------------------------
// Unknown users

scram_mock_verifiers::scram_mock_verifiers()
    : base_(make_scram_verifier(random_bytes(16), random_bytes(16), default_scram_iterations)),
      salt_secret_(random_bytes(32)) {}

scram_verifier scram_mock_verifiers::for_user(std::string_view user_name) const {
  made_.fetch_add(1, std::memory_order_relaxed);
  scram_verifier verifier = base_;
  // 16 bytes of HMAC-SHA-256(secret, name), the length of a real verifier's salt. If OpenSSL fails,
  // the base's random salt stays: the exchange still fails, as it always does.
  if (auto digest = hmac_sha256(salt_secret_, user_name)) verifier.salt = digest->substr(0, 16);
  return verifier;
}

}  // namespace sluice::backends::pg::auth
