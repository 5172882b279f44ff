// Known-answer tests of the MySQL auth plugins' crypto: mysql_native_password and caching_sha2_password
// (expected values computed independently with python3 hashlib and checked against MariaDB 10.11's
// PASSWORD()), Ed25519 against RFC 8032's test vectors, and MariaDB's password-derived ed25519 key
// against the authentication_string a real MariaDB 10.11 stored for CREATE USER ... ed25519 USING
// PASSWORD('ed_pw').
#include "backends/mysql/auth/caching_sha2.hpp"
#include "backends/mysql/auth/ed25519.hpp"
#include "backends/mysql/auth/native_password.hpp"

#include "tests/backends/mysql/wire/wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace sluice::backends::mysql::auth;
using sluice::backends::mysql::wire::test::from_hex;
using sluice::backends::mysql::wire::byte_buffer;

namespace {

template <class Array>
std::string hex(const Array& a) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const auto b : a) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

// The scramble 01 02 .. 14 used by the known answers below.
byte_buffer counting_scramble() {
  byte_buffer s;
  for (int i = 1; i <= 20; ++i) s.push_back(static_cast<std::uint8_t>(i));
  return s;
}

bytes view(const byte_buffer& b) { return {b.data(), b.size()}; }

}  // namespace

TEST_CASE("mysql_native_password known answers", "[mysql_auth][native]") {
  // python3: s1 = sha1(b"app_pw"); s2 = sha1(s1); m = sha1(bytes(range(1, 21)) + s2); s1 XOR m
  const byte_buffer scramble = counting_scramble();
  sha1_digest response{};
  REQUIRE(native_password_response("app_pw", view(scramble), response));
  CHECK(hex(response) == "8bb2dd0d2a7411fea31ad816d01e681069f63a43");

  // MariaDB 10.11: SELECT PASSWORD('app_pw') (also mysql.user.authentication_string of sluice_app).
  CHECK(native_password_hash("app_pw") == "*95BE1A04B76EE9AB97CEE8436421F2D15539B738");
  CHECK(native_password_hash("").empty());  // SELECT PASSWORD('') is ''

  const auto stage2 = parse_native_password_hash("*95BE1A04B76EE9AB97CEE8436421F2D15539B738");
  REQUIRE(stage2);
  CHECK(parse_native_password_hash("*95be1a04b76ee9ab97cee8436421f2d15539b738") == stage2);
  CHECK(native_password_verify(*stage2, view(scramble), response));
  CHECK(native_password_matches(*stage2, "app_pw"));
  CHECK_FALSE(native_password_matches(*stage2, "app_pX"));

  SECTION("every single-bit change of the response, scramble or hash fails") {
    for (std::size_t i = 0; i < 20 * 8; ++i) {
      sha1_digest bad = response;
      bad[i / 8] = static_cast<std::uint8_t>(bad[i / 8] ^ (1U << (i % 8)));
      CHECK_FALSE(native_password_verify(*stage2, view(scramble), bad));
      byte_buffer other_scramble = scramble;
      other_scramble[i % 20] = static_cast<std::uint8_t>(other_scramble[i % 20] ^ 0x40);
      CHECK_FALSE(native_password_verify(*stage2, view(other_scramble), response));
    }
  }
  SECTION("a response of the wrong size fails") {
    CHECK_FALSE(native_password_verify(*stage2, view(scramble), bytes(response).first(19)));
    CHECK_FALSE(native_password_verify(*stage2, view(scramble), bytes{}));
  }
  SECTION("malformed stored hashes are refused") {
    CHECK_FALSE(parse_native_password_hash(""));
    CHECK_FALSE(parse_native_password_hash("95BE1A04B76EE9AB97CEE8436421F2D15539B738"));
    CHECK_FALSE(parse_native_password_hash("*95BE1A04B76EE9AB97CEE8436421F2D15539B73"));
    CHECK_FALSE(parse_native_password_hash("*95BE1A04B76EE9AB97CEE8436421F2D15539B7380"));
    CHECK_FALSE(parse_native_password_hash("*95BE1A04B76EE9AB97CEE8436421F2D15539B73G"));
  }
}

TEST_CASE("caching_sha2_password known answers", "[mysql_auth][sha2]") {
  // python3: s1 = sha256(b"app_pw"); s2 = sha256(s1); m = sha256(s2 + bytes(range(1, 21))); s1 XOR m
  const byte_buffer nonce = counting_scramble();
  sha256_digest scramble{};
  REQUIRE(caching_sha2_scramble("app_pw", view(nonce), scramble));
  CHECK(hex(scramble) == "cf98a6d7b6fd67e9f6e4a5d82c104022ff9c3a394a884e5adcb2c37d2c3be94b");
  sha256_digest digest{};
  REQUIRE(caching_sha2_digest("app_pw", digest));
  CHECK(hex(digest) == "70d704fdb79ed76adb5ce50094c6f4eb0bd3c17d4c192702e6d8e2e0798a26de");
  CHECK(caching_sha2_verify(digest, view(nonce), scramble));
  CHECK(caching_sha2_matches(digest, "app_pw"));
  CHECK_FALSE(caching_sha2_matches(digest, "app_pw "));
  for (std::size_t i = 0; i < 32 * 8; i += 7) {
    sha256_digest bad = scramble;
    bad[i / 8] = static_cast<std::uint8_t>(bad[i / 8] ^ (1U << (i % 8)));
    CHECK_FALSE(caching_sha2_verify(digest, view(nonce), bad));
  }
  CHECK_FALSE(caching_sha2_verify(digest, view(nonce), bytes(scramble).first(31)));
  sha256_digest other{};
  REQUIRE(caching_sha2_scramble("app_pX", view(nonce), other));
  CHECK_FALSE(caching_sha2_verify(digest, view(nonce), other));
}

TEST_CASE("Ed25519 signs RFC 8032 section 7.1 test vectors 1-3 from az = SHA-512(seed)", "[mysql_auth][ed25519]") {
  struct vector {
    const char* seed;
    const char* public_key;
    const char* message;
    const char* signature;
  };
  // RFC 8032 section 7.1, TEST 1, TEST 2, TEST 3 (also reproduced with python3 cryptography's Ed25519).
  const vector vectors[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
      {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
       "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
       "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.seed);
    const byte_buffer seed = from_hex(v.seed);
    const byte_buffer message = from_hex(v.message);
    sha512_digest az{};
    REQUIRE(sha512({view(seed)}, az));
    ed25519_public_key public_key{};
    REQUIRE(ed25519_public_key_expanded(az, public_key));
    CHECK(hex(public_key) == v.public_key);
    ed25519_signature signature{};
    REQUIRE(ed25519_sign_expanded(az, view(message), signature));
    CHECK(hex(signature) == v.signature);

    CHECK(ed25519_verify(public_key, view(message), signature));
    // Any flipped bit in the signature or the message, or another key, fails.
    for (std::size_t i = 0; i < 64 * 8; i += 37) {
      ed25519_signature bad = signature;
      bad[i / 8] = static_cast<std::uint8_t>(bad[i / 8] ^ (1U << (i % 8)));
      CHECK_FALSE(ed25519_verify(public_key, view(message), bad));
    }
    byte_buffer other_message = message;
    other_message.push_back(0);
    CHECK_FALSE(ed25519_verify(public_key, view(other_message), signature));
    ed25519_public_key other_key = public_key;
    other_key[0] = static_cast<std::uint8_t>(other_key[0] ^ 1);
    CHECK_FALSE(ed25519_verify(other_key, view(message), signature));
    CHECK_FALSE(ed25519_verify(public_key, view(message), bytes(signature).first(63)));
  }
}

TEST_CASE("Ed25519 verification refuses S >= L and non-canonical points", "[mysql_auth][ed25519]") {
  const byte_buffer seed = from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  sha512_digest az{};
  REQUIRE(sha512({view(seed)}, az));
  ed25519_public_key public_key{};
  REQUIRE(ed25519_public_key_expanded(az, public_key));
  ed25519_signature signature{};
  REQUIRE(ed25519_sign_expanded(az, {}, signature));
  // S + L: the same point equation, but S is not reduced (RFC 8032 5.1.7 step 1 rejects it).
  // L = 2^252 + 27742317777372353535851937790883648493, little-endian:
  const byte_buffer order = from_hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  ed25519_signature malleated = signature;
  unsigned carry = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const unsigned sum = malleated[32 + i] + order[i] + carry;
    malleated[32 + i] = static_cast<std::uint8_t>(sum & 0xff);
    carry = sum >> 8;
  }
  CHECK_FALSE(ed25519_verify(public_key, {}, malleated));
  // y = p (non-canonical encoding of y = 0) as R.
  ed25519_signature bad_r = signature;
  const byte_buffer p = from_hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
  for (std::size_t i = 0; i < 32; ++i) bad_r[i] = p[i];
  CHECK_FALSE(ed25519_verify(public_key, {}, bad_r));
  // A y with no x on the curve (y = 2).
  ed25519_public_key off_curve{};
  off_curve[0] = 2;
  CHECK_FALSE(ed25519_verify(off_curve, {}, signature));
}

TEST_CASE("MariaDB client_ed25519: the key comes from SHA-512(password)", "[mysql_auth][ed25519]") {
  // MariaDB 10.11, CREATE USER sluice_ed IDENTIFIED VIA ed25519 USING PASSWORD('ed_pw'):
  // mysql.user.authentication_string is the unpadded base64 of the public key.
  CHECK(mariadb_ed25519_stored("ed_pw") == "Ja9tPNgS2M8rVcnVPVLbVfVStJ9vZg0uPIwwjFYhnfI");
  const auto stored = parse_mariadb_ed25519_stored("Ja9tPNgS2M8rVcnVPVLbVfVStJ9vZg0uPIwwjFYhnfI");
  REQUIRE(stored);
  ed25519_public_key derived{};
  REQUIRE(mariadb_ed25519_public_key("ed_pw", derived));
  CHECK(*stored == derived);

  // A signature of a 32-byte scramble verifies with the stored key, and not with another password's.
  byte_buffer scramble;
  for (int i = 0; i < 32; ++i) scramble.push_back(static_cast<std::uint8_t>(0xa0 + i));
  ed25519_signature signature{};
  REQUIRE(mariadb_ed25519_sign("ed_pw", view(scramble), signature));
  CHECK(ed25519_verify(*stored, view(scramble), signature));
  ed25519_signature wrong{};
  REQUIRE(mariadb_ed25519_sign("ed_pX", view(scramble), wrong));
  CHECK_FALSE(ed25519_verify(*stored, view(scramble), wrong));
  // A long password works too (az is a hash of any length, unlike an RFC 8032 seed).
  const std::string long_password(300, 'x');
  REQUIRE(mariadb_ed25519_sign(long_password, view(scramble), signature));
  ed25519_public_key long_key{};
  REQUIRE(mariadb_ed25519_public_key(long_password, long_key));
  CHECK(ed25519_verify(long_key, view(scramble), signature));

  CHECK_FALSE(parse_mariadb_ed25519_stored(""));
  CHECK_FALSE(parse_mariadb_ed25519_stored("Ja9tPNgS2M8rVcnVPVLbVfVStJ9vZg0uPIwwjFYhnfI="));
  CHECK_FALSE(parse_mariadb_ed25519_stored("Ja9tPNgS2M8rVcnVPVLbVfVStJ9vZg0uPIwwjFYhnf*"));
}
