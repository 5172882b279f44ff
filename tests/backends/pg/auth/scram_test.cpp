// SCRAM-SHA-256 and md5 auth: RFC 7677 test vector on both sides, verifiers made by a real
// PostgreSQL 15, round trips, and malformed or hostile messages on every field.
#include "backends/pg/auth/scram.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using namespace sluice::backends::pg::auth;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

// RFC 7677 section 3.
constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view rfc_salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// StoredKey and ServerKey for "pencil" with the RFC salt and 4096 iterations, computed
// independently with Python's hashlib.pbkdf2_hmac and hmac.
constexpr std::string_view rfc_verifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

// Made by PostgreSQL 15.x (Debian 12): CREATE ROLE x PASSWORD 'secret' with the default
// password_encryption = scram-sha-256, then SELECT rolpassword FROM pg_authid.
constexpr std::string_view pg15_scram_secret =
    "SCRAM-SHA-256$4096:YPdhPqyWgekWjEOZRcd/wQ==$swi/2Fq3J/zNxIaVc9uMFfbcoGWJfMx4JuVXhXmGAag=:"
    "z4IjEZWqp0ijgOK317l6RV7Id1+q11r3Y1VI5cm2y3w=";
// Same server: SET password_encryption = 'md5'; CREATE ROLE y PASSWORD 'secret'.
constexpr std::string_view pg15_md5_y_secret = "md5d18bf5f8eddaae3aed1d69b23a252748";

std::string b64(std::string_view raw) { return base64_encode(raw); }

scram_verifier rfc_pencil_verifier() {
  return make_scram_verifier("pencil", *base64_decode(rfc_salt_b64), 4096);
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), length);
}

// A client-final-message computed here, independently of scram_client, for a chosen
// client-final-message-without-proof (so tests can use "y,," and extensions).
std::string hand_made_final(std::string_view password, const scram_verifier& verifier,
                            std::string_view client_first_bare, std::string_view server_first,
                            std::string_view without_proof) {
  unsigned char salted[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(verifier.salt.data()),
                    static_cast<int>(verifier.salt.size()), verifier.iterations, EVP_sha256(), 32,
                    salted);
  const std::string client_key = hmac(std::string_view(reinterpret_cast<char*>(salted), 32),
                                      "Client Key");
  const std::string auth_message = std::string(client_first_bare) + "," +
                                   std::string(server_first) + "," + std::string(without_proof);
  const std::string signature = hmac(sha256(client_key), auth_message);
  std::string proof = client_key;
  for (std::size_t i = 0; i < proof.size(); ++i) {
    proof[i] = static_cast<char>(proof[i] ^ signature[i]);
  }
  return std::string(without_proof) + ",p=" + b64(proof);
}

// Fixed nonces make the server-first-message predictable.
constexpr std::string_view test_client_nonce = "clientNONCE";
constexpr std::string_view test_server_nonce = "serverNONCE";
constexpr std::string_view test_combined_nonce = "clientNONCEserverNONCE";

std::string flip_last_b64_symbol(std::string message) {
  // Changes a base64 symbol in the middle of the last attribute, keeping the encoding valid.
  const std::size_t at = message.size() - 10;
  message[at] = message[at] == 'A' ? 'B' : 'A';
  return message;
}

}  // namespace

TEST_CASE("base64 encodes and decodes the RFC 4648 vectors", "[scram][base64]") {
  const auto [raw, text] = GENERATE(table<std::string, std::string>({
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
      {"\xff\xfe\x00\x7f"s, "//4Afw=="},
      {"n,,", "biws"},
  }));
  CAPTURE(raw, text);
  CHECK(base64_encode(raw) == text);
  const auto decoded = base64_decode(text);
  REQUIRE(decoded);
  CHECK(*decoded == raw);
}

TEST_CASE("base64_decode is strict", "[scram][base64]") {
  const std::string bad = GENERATE(as<std::string>{},
                                   "Z",          // not a multiple of 4
                                   "Zg=",        // ditto
                                   "Zg===",      // ditto
                                   "Zh==",       // non-zero unused bits
                                   "Zm9=",       // ditto
                                   "Z===",       // three padding characters
                                   "====",       // all padding
                                   "=Zg=",       // padding first
                                   "Zg=a",       // padding in the middle
                                   "Zg==Zg==",   // padding before the end
                                   "Zm9v!A==",   // bad character
                                   "Zm9-",       // base64url is not accepted
                                   "Zm9_",       // ditto
                                   "Zm9v\n",     // whitespace
                                   "Zm 9v",      // ditto
                                   "Zm9v\0\0\0\0"s);
  CAPTURE(bad);
  CHECK_FALSE(base64_decode(bad));
}

TEST_CASE("base64 round-trips random bytes of every length up to 64", "[scram][base64]") {
  const std::size_t length = GENERATE(range(0, 65));
  const std::string raw = random_bytes(length);
  REQUIRE(raw.size() == length);
  const auto decoded = base64_decode(base64_encode(raw));
  REQUIRE(decoded);
  CHECK(*decoded == raw);
}

TEST_CASE("random_bytes returns different bytes each call", "[scram]") {
  CHECK(random_bytes(18) != random_bytes(18));
  CHECK(random_bytes(0).empty());
}

TEST_CASE("scram_client reproduces the RFC 7677 test vector", "[scram][client][rfc7677]") {
  scram_client client("user", "pencil", rfc_client_nonce, scram_user_field::send_user);
  CHECK(client.client_first() == rfc_client_first);
  const auto final_message = client.handle_server_first(rfc_server_first);
  REQUIRE(final_message);
  CHECK(*final_message == rfc_client_final);
  CHECK(client.verify_server_final(rfc_server_final));

  SECTION("a tampered server signature is rejected") {
    CHECK_FALSE(client.verify_server_final(flip_last_b64_symbol(std::string(rfc_server_final))));
  }
  SECTION("other server-final messages are rejected") {
    const std::string bad = GENERATE(as<std::string>{}, "", "e=invalid-proof",
                                     "e=other-error", "v=", "v=6rriTRBi23WpRR",
                                     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=1",
                                     "V=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
                                     " v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
                                     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
                                     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=\0"s);
    CAPTURE(bad);
    CHECK_FALSE(client.verify_server_final(bad));
  }
}

TEST_CASE("scram_client in PostgreSQL style sends an empty n= and a random nonce",
          "[scram][client]") {
  const scram_client a("alice", "pw");
  const scram_client b("alice", "pw");
  const std::string first = a.client_first();
  CHECK(first.rfind("n,,n=,r=", 0) == 0);
  const std::string nonce = first.substr(8);
  CHECK(nonce.size() == 24);  // 18 random bytes in base64, as libpq
  CHECK(base64_decode(nonce));
  CHECK(a.client_first() != b.client_first());

  // With the RFC nonce the only change from the RFC message is the username.
  const scram_client fixed("user", "pencil", rfc_client_nonce);
  CHECK(fixed.client_first() == "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
}

TEST_CASE("scram_client escapes ',' and '=' in a sent username", "[scram][client]") {
  const scram_client client("a,b=c", "pw", "nonce", scram_user_field::send_user);
  CHECK(client.client_first() == "n,,n=a=2Cb=3Dc,r=nonce");
}

TEST_CASE("scram_server reproduces the RFC 7677 test vector", "[scram][server][rfc7677]") {
  scram_server server(rfc_pencil_verifier(), rfc_server_nonce);
  const auto server_first = server.handle_client_first(rfc_client_first);
  REQUIRE(server_first);
  CHECK(*server_first == rfc_server_first);
  const auto server_final = server.handle_client_final(rfc_client_final);
  REQUIRE(server_final);
  CHECK(*server_final == rfc_server_final);
}

TEST_CASE("scram_server rejects the RFC exchange with one bit of the proof changed",
          "[scram][server][rfc7677]") {
  scram_server server(rfc_pencil_verifier(), rfc_server_nonce);
  REQUIRE(server.handle_client_first(rfc_client_first));
  CHECK_FALSE(server.handle_client_final(flip_last_b64_symbol(std::string(rfc_client_final))));
}

TEST_CASE("make_scram_verifier and format/parse match independent values",
          "[scram][verifier]") {
  const scram_verifier verifier = rfc_pencil_verifier();
  CHECK(format_scram_verifier(verifier) == rfc_verifier);
  const auto parsed = parse_scram_verifier(rfc_verifier);
  REQUIRE(parsed);
  CHECK(parsed->iterations == 4096);
  CHECK(parsed->salt == verifier.salt);
  CHECK(parsed->stored_key == verifier.stored_key);
  CHECK(parsed->server_key == verifier.server_key);
  CHECK(make_scram_verifier("pencil", verifier.salt, 4095).stored_key != verifier.stored_key);
}

TEST_CASE("a SCRAM verifier made by PostgreSQL 15 works", "[scram][verifier][postgresql]") {
  const auto verifier = parse_scram_verifier(pg15_scram_secret);
  REQUIRE(verifier);
  CHECK(verifier->iterations == 4096);
  CHECK(verifier->salt.size() == 16);
  CHECK(format_scram_verifier(*verifier) == pg15_scram_secret);

  const scram_verifier ours = make_scram_verifier("secret", verifier->salt, verifier->iterations);
  CHECK(ours.stored_key == verifier->stored_key);
  CHECK(ours.server_key == verifier->server_key);

  SECTION("the right password logs in and the server is verified") {
    scram_client client("x", "secret");
    scram_server server(*verifier);
    const auto server_first = server.handle_client_first(client.client_first());
    REQUIRE(server_first);
    const auto client_final = client.handle_server_first(*server_first);
    REQUIRE(client_final);
    const auto server_final = server.handle_client_final(*client_final);
    REQUIRE(server_final);
    CHECK(client.verify_server_final(*server_final));
  }
  SECTION("a wrong password is refused") {
    scram_client client("x", "wrong");
    scram_server server(*verifier);
    const auto server_first = server.handle_client_first(client.client_first());
    REQUIRE(server_first);
    const auto client_final = client.handle_server_first(*server_first);
    REQUIRE(client_final);
    CHECK_FALSE(server.handle_client_final(*client_final));
  }
}

TEST_CASE("parse_scram_verifier rejects malformed secrets", "[scram][verifier]") {
  const std::string bad = GENERATE(
      as<std::string>{}, "",
      "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "scram-sha-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      // iterations: zero, negative, signed, non-numeric, overflowing, empty
      "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$+4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$4k:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==$"
      "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      // empty or bad salt
      "SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      // keys of the wrong length
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$W22ZaJ0SNY7soEsUEjb6gQ==:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:",
      // missing or extra separators
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
      "SCRAM-SHA-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=$",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=:",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU= ",
      "md5d18bf5f8eddaae3aed1d69b23a252748");
  CAPTURE(bad);
  CHECK_FALSE(parse_scram_verifier(bad));
}

TEST_CASE("scram_client and scram_server agree with random nonces", "[scram][roundtrip]") {
  const std::string password = GENERATE(as<std::string>{}, "secret", "", "p,a=s$s:w\\o\"rd",
                                        "caf\xc3\xa9", "\xff\xfe not utf-8");
  const int iterations = GENERATE(1, 4096);
  CAPTURE(password, iterations);
  const scram_verifier verifier = make_scram_verifier(password, random_bytes(16), iterations);
  REQUIRE(parse_scram_verifier(format_scram_verifier(verifier)));

  scram_client client("user", password);
  scram_server server(verifier);
  const auto server_first = server.handle_client_first(client.client_first());
  REQUIRE(server_first);
  const auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final);
  const auto server_final = server.handle_client_final(*client_final);
  REQUIRE(server_final);
  CHECK(client.verify_server_final(*server_final));
  CHECK_FALSE(client.verify_server_final(flip_last_b64_symbol(*server_final)));
}

TEST_CASE("scram_server refuses a wrong password", "[scram][roundtrip]") {
  const std::string wrong = GENERATE(as<std::string>{}, "Secret", "secret ", "", "secre");
  CAPTURE(wrong);
  scram_client client("user", wrong);
  scram_server server(make_scram_verifier("secret", random_bytes(16), 4096));
  const auto server_first = server.handle_client_first(client.client_first());
  REQUIRE(server_first);
  const auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final);
  CHECK_FALSE(server.handle_client_final(*client_final));
}

TEST_CASE("scram_client refuses a server that does not know the password", "[scram][client]") {
  // The RFC 7677 AuthMessage, signed with the right ServerKey and with one for another password.
  const std::string auth_message = std::string(rfc_client_first.substr(3)) + "," +
                                   std::string(rfc_server_first) + "," +
                                   std::string(rfc_client_final.substr(0, rfc_client_final.find(",p=")));
  const std::string salt = *base64_decode(rfc_salt_b64);
  const std::string right = "v=" + b64(hmac(rfc_pencil_verifier().server_key, auth_message));
  const std::string wrong =
      "v=" + b64(hmac(make_scram_verifier("other", salt, 4096).server_key, auth_message));
  CHECK(right == rfc_server_final);

  scram_client client("user", "pencil", rfc_client_nonce, scram_user_field::send_user);
  REQUIRE(client.handle_server_first(rfc_server_first));
  CHECK(client.verify_server_final(right));
  CHECK_FALSE(client.verify_server_final(wrong));
  CHECK_FALSE(client.verify_server_final("v=" + b64(std::string(32, '\0'))));
}

TEST_CASE("scram_server accepts gs2 header y,, with a matching c=, and any username",
          "[scram][server]") {
  const scram_verifier verifier = make_scram_verifier("secret", "saltsaltsalt", 4096);
  const std::string server_first_expected =
      "r="s + std::string(test_combined_nonce) + ",s=" + b64("saltsaltsalt") + ",i=4096";

  SECTION("y,, with c=eSws") {
    scram_server server(verifier, test_server_nonce);
    const auto server_first = server.handle_client_first("y,,n=someone,r=clientNONCE");
    REQUIRE(server_first);
    CHECK(*server_first == server_first_expected);
    const std::string final_message = hand_made_final(
        "secret", verifier, "n=someone,r=clientNONCE", *server_first,
        "c=" + b64("y,,") + ",r=" + std::string(test_combined_nonce));
    CHECK(server.handle_client_final(final_message));
  }
  SECTION("y,, with c=biws is a downgrade mismatch") {
    scram_server server(verifier, test_server_nonce);
    const auto server_first = server.handle_client_first("y,,n=,r=clientNONCE");
    REQUIRE(server_first);
    const std::string final_message =
        hand_made_final("secret", verifier, "n=,r=clientNONCE", *server_first,
                        "c=biws,r=" + std::string(test_combined_nonce));
    CHECK_FALSE(server.handle_client_final(final_message));
  }
  SECTION("n,, with c=eSws is a mismatch") {
    scram_server server(verifier, test_server_nonce);
    const auto server_first = server.handle_client_first("n,,n=,r=clientNONCE");
    REQUIRE(server_first);
    const std::string final_message =
        hand_made_final("secret", verifier, "n=,r=clientNONCE", *server_first,
                        "c=eSws,r=" + std::string(test_combined_nonce));
    CHECK_FALSE(server.handle_client_final(final_message));
  }
  SECTION("extensions in both client messages are accepted and authenticated") {
    scram_server server(verifier, test_server_nonce);
    const auto server_first = server.handle_client_first("n,,n=u,r=clientNONCE,x=1,Y=a=b");
    REQUIRE(server_first);
    const std::string without_proof = "c=biws,r=" + std::string(test_combined_nonce) + ",z=ext";
    const std::string final_message = hand_made_final("secret", verifier,
                                                      "n=u,r=clientNONCE,x=1,Y=a=b",
                                                      *server_first, without_proof);
    CHECK(server.handle_client_final(final_message));
  }
}

TEST_CASE("scram_server rejects malformed client-first messages", "[scram][server]") {
  const std::string bad = GENERATE(
      as<std::string>{}, "", "n", "n,,", "n,,n=", "n,,r=clientNONCE",  // missing n=
      "n,,n=,r=",                                                       // empty nonce
      "n,,n=,x=clientNONCE",                                            // no r=
      "n,,r=clientNONCE,n=",                                            // swapped
      "p=tls-server-end-point,,n=,r=clientNONCE",                       // channel binding
      "p=tls-unique,,n=,r=clientNONCE",                                 // ditto
      "x,,n=,r=clientNONCE", "N,,n=,r=clientNONCE", ",,n=,r=clientNONCE",
      "n,a=admin,n=,r=clientNONCE",      // authzid
      "n,,m=ext,n=,r=clientNONCE",       // mandatory extension
      "n,,n=,r=client\x7fNONCE",         // non-printable nonce
      "n,,n=,r=client NONCE",            // ditto
      "n,,n=,r=clientNONCE,",            // trailing comma
      "n,,n=,r=clientNONCE,1=x",         // extension name not a letter
      "n,,n=,r=clientNONCE,xy",          // not attr=value
      "n,,n=,r=clientNONCE\0"s,          // NUL
      "n,,n=\0,r=clientNONCE"s);
  CAPTURE(bad);
  scram_server server(make_scram_verifier("secret", "salt", 4096), test_server_nonce);
  CHECK_FALSE(server.handle_client_first(bad));
  // ... and the exchange is over.
  CHECK_FALSE(server.handle_client_first("n,,n=,r=clientNONCE"));
}

TEST_CASE("scram_server rejects malformed client-final messages", "[scram][server]") {
  const scram_verifier verifier = make_scram_verifier("secret", "saltsalt", 4096);
  scram_client client("user", "secret", test_client_nonce);
  scram_server server(verifier, test_server_nonce);
  const auto server_first = server.handle_client_first(client.client_first());
  REQUIRE(server_first);
  const auto good = client.handle_server_first(*server_first);
  REQUIRE(good);
  const std::string proof = good->substr(good->find(",p=") + 1);
  const std::string nonce = std::string(test_combined_nonce);

  SECTION("the unmodified message passes (so the cases below can fail)") {
    CHECK(server.handle_client_final(*good));
  }
  SECTION("each malformed variant fails") {
    const std::string bad = GENERATE_COPY(
        as<std::string>{}, std::string(), "c=biws,r=" + nonce,             // no proof
        "c=biws,r=" + nonce + ",p=",                                        // empty proof
        "c=biws,r=" + nonce + ",p=" + b64(std::string(31, 'a')),            // short proof
        "c=biws,r=" + nonce + ",p=" + b64(std::string(33, 'a')),            // long proof
        "c=biws,r=" + nonce + ",p=!!!!" + proof.substr(6),                  // bad base64
        "c=biws,r=" + nonce + "," + proof + ",x=1",                         // proof not last
        "c=biws,r=" + nonce + "," + proof + ",",                            // trailing comma
        "c=biws," + proof,                                                  // no nonce
        "r=" + nonce + "," + proof,                                         // no c=
        "r=" + nonce + ",c=biws," + proof,                                  // swapped
        "c=biws,r=" + std::string(test_client_nonce) + "," + proof,         // client nonce only
        "c=biws,r=" + nonce + "X," + proof,                                 // wrong nonce
        "c=biws,r=clientNONCEserverNONCF," + proof,                         // ditto
        "c=eSws,r=" + nonce + "," + proof,                                  // y,, vs n,,
        "c=cD10bHMtdW5pcXVlLCw=,r=" + nonce + "," + proof,                  // p=tls-unique,,
        "c=biw,r=" + nonce + "," + proof,                                   // bad base64
        "c=,r=" + nonce + "," + proof,                                      // empty
        "c=biws,r=" + nonce + ",p=x," + proof,                              // two proofs
        "c=biws,r=" + nonce + ",1=x," + proof,                              // bad extension
        *good + "\0"s,                                                      // NUL
        flip_last_b64_symbol(*good));                                       // wrong proof
    CAPTURE(bad);
    CHECK_FALSE(server.handle_client_final(bad));
    // One proof per exchange: the right one now fails too.
    CHECK_FALSE(server.handle_client_final(*good));
  }
}

TEST_CASE("scram_server checks r= and p= placement even when the proof is right",
          "[scram][server]") {
  // These finals carry a correct proof over their own text, so only the nonce and layout checks
  // can refuse them (a client that knows the password but replays or splices another exchange).
  const scram_verifier verifier = make_scram_verifier("secret", "saltsalt", 4096);
  const std::string without_proof = GENERATE(as<std::string>{},
                                             "c=biws,r=clientNONCE",              // our part only
                                             "c=biws,r=clientNONCEserverNONCEX",  // longer
                                             "c=biws,r=clientNONCEotherNONCE",    // another server's
                                             "c=biws,r=clientNONCEserverNONCE,p=x");  // two proofs
  CAPTURE(without_proof);
  scram_server server(verifier, test_server_nonce);
  const auto server_first = server.handle_client_first("n,,n=,r=clientNONCE");
  REQUIRE(server_first);
  CHECK_FALSE(server.handle_client_final(
      hand_made_final("secret", verifier, "n=,r=clientNONCE", *server_first, without_proof)));

  scram_server control(verifier, test_server_nonce);
  REQUIRE(control.handle_client_first("n,,n=,r=clientNONCE"));
  CHECK(control.handle_client_final(hand_made_final("secret", verifier, "n=,r=clientNONCE",
                                                    *server_first,
                                                    "c=biws,r=clientNONCEserverNONCE")));
}

TEST_CASE("scram_server enforces the order of messages", "[scram][server]") {
  const scram_verifier verifier = make_scram_verifier("secret", "saltsalt", 4096);
  scram_server server(verifier, test_server_nonce);
  CHECK_FALSE(server.handle_client_final("c=biws,r=clientNONCEserverNONCE,p=" +
                                         b64(std::string(32, 'a'))));
  REQUIRE(server.handle_client_first("n,,n=,r=clientNONCE"));
  CHECK_FALSE(server.handle_client_first("n,,n=,r=clientNONCE"));
}

TEST_CASE("scram_server refuses to run with a broken verifier or nonce", "[scram][server]") {
  scram_verifier broken = make_scram_verifier("secret", "saltsalt", 4096);
  SECTION("short StoredKey") { broken.stored_key.pop_back(); }
  SECTION("empty ServerKey") { broken.server_key.clear(); }
  SECTION("no salt") { broken.salt.clear(); }
  SECTION("zero iterations") { broken.iterations = 0; }
  SECTION("make_scram_verifier with zero iterations") {
    broken = make_scram_verifier("secret", "saltsalt", 0);
    CHECK(broken.stored_key.empty());
  }
  scram_server server(broken, test_server_nonce);
  CHECK_FALSE(server.handle_client_first("n,,n=,r=clientNONCE"));

  scram_server bad_nonce(make_scram_verifier("secret", "saltsalt", 4096), "a,b");
  CHECK_FALSE(bad_nonce.handle_client_first("n,,n=,r=clientNONCE"));
}

TEST_CASE("scram_client rejects malformed server-first messages", "[scram][client]") {
  const std::string salt = "s=" + b64("saltsalt");
  SECTION("the baseline passes (so the cases below can fail)") {
    scram_client client("user", "secret", test_client_nonce);
    CHECK(client.handle_server_first("r=clientNONCEserverNONCE," + salt + ",i=1"));
  }
  SECTION("each malformed variant fails") {
    const std::string bad = GENERATE_COPY(
        as<std::string>{}, std::string(),
        "r=clientNONCE," + salt + ",i=4096",                     // nonce not extended
        "r=clientNONC," + salt + ",i=4096",                      // shorter
        "r=xclientNONCEserver," + salt + ",i=4096",              // does not start with ours
        "r=CLIENTNONCEserver," + salt + ",i=4096",               // ditto (case)
        "r=clientNONCEser ver," + salt + ",i=4096",              // non-printable
        "r=clientNONCEserver,i=4096",                            // no salt
        "r=clientNONCEserver," + salt,                           // no iterations
        salt + ",i=4096",                                        // no nonce
        salt + ",r=clientNONCEserver,i=4096",                    // swapped
        "r=clientNONCEserver,s=,i=4096",                         // empty salt
        "r=clientNONCEserver,s=c2FsdHNhbHQ,i=4096",              // bad base64
        "r=clientNONCEserver,s=c2Fs!HNhbHQ=,i=4096",             // ditto
        "r=clientNONCEserver," + salt + ",i=0",                  // too few iterations
        "r=clientNONCEserver," + salt + ",i=-1",                 // ditto
        "r=clientNONCEserver," + salt + ",i=+4096",              // sign
        "r=clientNONCEserver," + salt + ",i= 4096",              // space
        "r=clientNONCEserver," + salt + ",i=4096 ",              // ditto
        "r=clientNONCEserver," + salt + ",i=40x6",               // not a number
        "r=clientNONCEserver," + salt + ",i=",                   // empty
        "r=clientNONCEserver," + salt + ",i=1000001",            // above max_scram_iterations
        "r=clientNONCEserver," + salt + ",i=99999999999999999",  // overflow
        "r=clientNONCEserver," + salt + ",i=4096,x=ext",         // trailing attribute
        "r=clientNONCEserver," + salt + ",i=4096,",              // trailing comma
        "m=ext,r=clientNONCEserver," + salt + ",i=4096",         // mandatory extension
        "e=other-error",                                         // server error
        "r=clientNONCEserver\0," + salt + ",i=4096"s);           // NUL
    CAPTURE(bad);
    scram_client client("user", "secret", test_client_nonce);
    CHECK_FALSE(client.handle_server_first(bad));
    // The exchange is over: a good message now fails as well.
    CHECK_FALSE(client.handle_server_first("r=clientNONCEserverNONCE," + salt + ",i=1"));
  }
}

TEST_CASE("scram_client enforces the order of messages", "[scram][client]") {
  scram_client client("user", "pencil", rfc_client_nonce, scram_user_field::send_user);
  CHECK_FALSE(client.verify_server_final(rfc_server_final));  // before server-first
  REQUIRE(client.handle_server_first(rfc_server_first));
  CHECK_FALSE(client.handle_server_first(rfc_server_first));  // twice
  CHECK(client.verify_server_final(rfc_server_final));
}

TEST_CASE("scram_client with an unusable fixed nonce refuses to run", "[scram][client]") {
  scram_client client("user", "secret", "bad,nonce");
  CHECK_FALSE(client.handle_server_first("r=bad,nonceXYZ,s=" + b64("salt") + ",i=1"));
}

TEST_CASE("md5 responses match PostgreSQL", "[md5]") {
  const std::string salt = "\x01\x02\x03\x04";
  // Expected value computed independently with Python's hashlib.
  CHECK(md5_password_response("y", "secret", salt) == "md59d5a65ea29a0dfa6decb3ca37621c86c");
  CHECK(md5_password_response("bar", "foo", "abcd") == "md5f159bdced6a9f4c4c195caf229b6154e");
  // The hash PostgreSQL 15 stored for y/secret gives the same response.
  CHECK(md5_response_from_stored(pg15_md5_y_secret, salt) ==
        md5_password_response("y", "secret", salt));
  CHECK(md5_response_from_stored(pg15_md5_y_secret, salt) !=
        md5_password_response("y", "wrong", salt));
  CHECK(md5_response_from_stored(pg15_md5_y_secret, "abcd") !=
        md5_response_from_stored(pg15_md5_y_secret, salt));
}

TEST_CASE("md5_response_from_stored rejects what is not an md5 hash", "[md5]") {
  const std::string bad = GENERATE(as<std::string>{}, "", "md5", "secret",
                                   "md5d18bf5f8eddaae3aed1d69b23a25274",     // short
                                   "md5d18bf5f8eddaae3aed1d69b23a2527488",   // long
                                   "MD5d18bf5f8eddaae3aed1d69b23a252748",    // prefix case
                                   "md5D18BF5F8EDDAAE3AED1D69B23A252748",    // upper hex
                                   "md5d18bf5f8eddaae3aed1d69b23a25274g",    // not hex
                                   "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==");
  CAPTURE(bad);
  CHECK(md5_response_from_stored(bad, "abcd").empty());
}

TEST_CASE("md5_stored_password is what PostgreSQL stores in rolpassword", "[md5]") {
  CHECK(md5_stored_password("y", "secret") == pg15_md5_y_secret);
  CHECK(md5_response_from_stored(md5_stored_password("bar", "foo"), "abcd") == "md5f159bdced6a9f4c4c195caf229b6154e");
}

TEST_CASE("scram_mock_verifiers: a salt per name, the same every time; keys nobody can prove", "[scram][mock]") {
  const scram_mock_verifiers mocks;
  const auto alice = mocks.for_user("alice");
  CHECK(mocks.for_user("alice").salt == alice.salt);
  CHECK(mocks.for_user("bob").salt != alice.salt);
  CHECK(alice.salt.size() == 16);
  CHECK(alice.iterations == default_scram_iterations);
  CHECK(alice.stored_key.size() == 32);
  CHECK(alice.server_key.size() == 32);
  CHECK(mocks.made() == 3);
  // Another process (another instance) has other random keys and salts.
  const scram_mock_verifiers other;
  CHECK(other.for_user("alice").salt != alice.salt);
  CHECK(other.for_user("alice").stored_key != alice.stored_key);
  // No password opens it: the keys come from a random password.
  for (const char* password : {"", "alice", "secret"}) {
    CHECK(make_scram_verifier(password, alice.salt, alice.iterations).stored_key != alice.stored_key);
  }
}
