// SASLprep of SCRAM passwords: RFC 4013 section 3 examples, PostgreSQL's fall-back to the raw bytes
// (invalid UTF-8, prohibited or unassigned code points, bidi failures), and SCRAM keys that agree
// for a password and its SASLprep form.
#include "backends/pg/auth/saslprep.hpp"

#include "backends/pg/auth/scram.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using namespace sluice::backends::pg::auth;
using namespace std::string_literals;

namespace {

// "IX-" + U+2168 ROMAN NUMERAL NINE, whose NFKC form is "IX".
const std::string roman_nine_password = "IX-\u2168";

}  // namespace

TEST_CASE("saslprep reproduces the examples of RFC 4013 section 3", "[saslprep][rfc4013]") {
  CHECK(saslprep("I\u00ADX") == "IX");   // 1: SOFT HYPHEN mapped to nothing
  CHECK(saslprep("user") == "user");     // 2: no transformation
  CHECK(saslprep("USER") == "USER");     // 3: case preserved, will not match #2
  CHECK(saslprep("\u00AA") == "a");      // 4: output is NFKC, input in ISO 8859-1
  CHECK(saslprep("\u2168") == "IX");     // 5: output is NFKC, will match #1
  // 6: U+0007 is prohibited by the RFC, but PostgreSQL takes pure ASCII as it is.
  CHECK(saslprep("\x07") == "\x07");
  // 7: bidi check fails ("<U+0627><U+0031>": RandALCat not last): the original is kept.
  CHECK(saslprep("\u0627\u0031") == "\u0627\u0031");
}

TEST_CASE("saslprep maps U+2168 so both spellings of the password agree", "[saslprep]") {
  CHECK(saslprep(roman_nine_password) == "IX-IX");
  CHECK(saslprep("IX-IX") == "IX-IX");
}

TEST_CASE("saslprep keeps ASCII and empty passwords as they are", "[saslprep]") {
  CHECK(saslprep("") == "");
  CHECK(saslprep("pencil") == "pencil");
  CHECK(saslprep("tab\there, space ") == "tab\there, space ");
}

TEST_CASE("saslprep keeps a password that is not valid UTF-8", "[saslprep][utf8]") {
  const auto invalid = GENERATE(as<std::string>{},
                                "\xFF\xFE",           // bytes that never occur in UTF-8
                                "abc\xC3",            // truncated 2-byte sequence
                                "\xC3\x28",           // bad continuation byte
                                "\xC0\xAF",           // overlong '/'
                                "\xE0\x80\xAF",       // overlong 3-byte form
                                "\xED\xA0\x80",       // UTF-16 surrogate U+D800
                                "\xF4\x90\x80\x80",   // above U+10FFFF
                                "\xF8\x88\x80\x80\x80",  // 5-byte form
                                "\x80 lone continuation",
                                "\u2168\xFF");        // valid prefix, invalid tail
  CHECK(saslprep(invalid) == invalid);
}

TEST_CASE("saslprep keeps a password with prohibited or unassigned code points", "[saslprep][prohibit]") {
  const auto original = GENERATE(as<std::string>{},
                                 "\u00E9\x07",        // C.2.1 ASCII control, next to non-ASCII
                                 "a\u0085b\u00E9",    // C.2.2 non-ASCII control (NEL)
                                 "x\u200Ey",          // C.8 LEFT-TO-RIGHT MARK
                                 "pw\uE000",          // C.3 private use
                                 "pw\uFDD0",          // C.4 non-character
                                 "pw\uFFFD",          // C.6 REPLACEMENT CHARACTER
                                 "pw\u2FF0",          // C.7 ideographic description character
                                 "pw\U000E0041",      // C.9 tag
                                 "pw\u0221",          // A.1: unassigned in Unicode 3.2
                                 "pw\U0001F600");     // A.1: emoji (Unicode 6.1)
  CHECK(saslprep(original) == original);
}

TEST_CASE("saslprep checks before NFKC, as PostgreSQL does", "[saslprep][postgres]") {
  // U+1F100 DIGIT ZERO FULL STOP (Unicode 5.2) is unassigned in 3.2: PostgreSQL keeps the raw bytes
  // although NFKC would make it "0.".
  CHECK(saslprep("pw\U0001F100") == "pw\U0001F100");
}

TEST_CASE("saslprep removes B.1 code points", "[saslprep][map]") {
  CHECK(saslprep("pass\u200Dword") == "password");        // ZERO WIDTH JOINER
  CHECK(saslprep("\uFEFFpass\uFE0Fword") == "password");  // BOM, variation selector
  CHECK(saslprep("\u00E9\u034F") == "\u00E9");            // COMBINING GRAPHEME JOINER
  // Nothing left: PostgreSQL refuses an empty result and uses the original.
  CHECK(saslprep("\u00AD") == "\u00AD");
  CHECK(saslprep("\u00AD\u200C") == "\u00AD\u200C");
}

TEST_CASE("saslprep maps C.1.2 spaces to U+0020", "[saslprep][map]") {
  CHECK(saslprep("a\u00A0b") == "a b");
  CHECK(saslprep("a\u3000b\u2003c") == "a b c");
  CHECK(saslprep("a\u1680b") == "a b");
  // U+200B is in both C.1.2 and B.1; PostgreSQL checks C.1.2 first.
  CHECK(saslprep("a\u200Bb") == "a b");
}

TEST_CASE("saslprep normalizes with NFKC", "[saslprep][nfkc]") {
  CHECK(saslprep("e\u0301") == "\u00E9");         // composition
  CHECK(saslprep("\uFF21\uFF22\uFF23") == "ABC");  // full-width letters
  CHECK(saslprep("\u00BD") == "1\u20442");         // VULGAR FRACTION ONE HALF
  CHECK(saslprep("\uFB01") == "fi");               // ligature
  // U+FDFA grows to 18 code points: more than the first output buffer for a 1-character input.
  CHECK(saslprep("\uFDFA") ==
        "\u0635\u0644\u0649 \u0627\u0644\u0644\u0647 \u0639\u0644\u064A\u0647 \u0648\u0633\u0644\u0645");
  CHECK(saslprep("\U0001D400") == "A");  // MATHEMATICAL BOLD CAPITAL A (astral, in Unicode 3.2)
}

TEST_CASE("saslprep applies the bidi rules of RFC 3454 section 6", "[saslprep][bidi]") {
  CHECK(saslprep("\u0627\u0628") == "\u0627\u0628");                      // all RandALCat: fine
  CHECK(saslprep("\u05D0 1 \u05D1") == "\u05D0 1 \u05D1");                // neutral inside: fine
  CHECK(saslprep("\uFB21\u05D1") == "\u05D0\u05D1");                      // passes, then NFKC
  CHECK(saslprep("1\u0627") == "1\u0627");                                // does not start with R
  CHECK(saslprep("\u0627a\u0628") == "\u0627a\u0628");                    // R and L mixed
  CHECK(saslprep("\u0627\u0628\u00AA") == "\u0627\u0628\u00AA");          // L (U+00AA) at the end
}

TEST_CASE("SCRAM keys agree for a password and its SASLprep form", "[saslprep][scram]") {
  const std::string salt = "0123456789abcdef";
  const auto prepped = make_scram_verifier("IX-IX", salt, 4096);
  const auto original = make_scram_verifier(roman_nine_password, salt, 4096);
  REQUIRE(prepped.stored_key.size() == 32);
  CHECK(original.stored_key == prepped.stored_key);
  CHECK(original.server_key == prepped.server_key);
  // A password that differs after SASLprep still gives different keys.
  CHECK(make_scram_verifier("IX-Ix", salt, 4096).stored_key != prepped.stored_key);

  // A client typing either form logs in against a verifier made from the other.
  const auto client_form = GENERATE(as<std::string>{}, "IX-IX", "IX-\u2168");
  scram_server server(original);
  scram_client client("user", client_form);
  const auto server_first = server.handle_client_first(client.client_first());
  REQUIRE(server_first);
  const auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final);
  const auto server_final = server.handle_client_final(*client_final);
  REQUIRE(server_final);
  CHECK(client.verify_server_final(*server_final));
}

TEST_CASE("SCRAM keys match a verifier PostgreSQL 15 made for the U+2168 password", "[saslprep][scram][postgres]") {
  // Made by PostgreSQL 15 (Debian 12, integration/tests/saslprep.py): SET password_encryption =
  // 'scram-sha-256'; CREATE ROLE sasl_user LOGIN PASSWORD U&'IX-\2168'; SELECT rolpassword ...
  const auto pg = parse_scram_verifier(
      "SCRAM-SHA-256$4096:yikFAfEMwlB7RltRFWM7Ag==$DtG+eDXR0qGZ28hET7ZAIOJG2EJwxB107X29xeHcIgM=:"
      "marF0BZBVrLv6zRHoSWfAozNGFtOekdw6c1DiBgfMZU=");
  REQUIRE(pg);
  const auto password = GENERATE(as<std::string>{}, "IX-IX", "IX-\u2168");
  const auto ours = make_scram_verifier(password, pg->salt, pg->iterations);
  CHECK(ours.stored_key == pg->stored_key);
  CHECK(ours.server_key == pg->server_key);
}

TEST_CASE("md5 responses do not SASLprep", "[saslprep][md5]") {
  CHECK(md5_password_response("u", roman_nine_password, "salt") !=
        md5_password_response("u", "IX-IX", "salt"));
}
