// PostgreSQL wire decoders on truncated, padded and otherwise malformed payloads: each must say nullopt
// (or false / empty), never read past the payload, never throw. Also string_reader and the field walkers.
#include "codec_test_util.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <utility>
#include <vector>

using namespace sluice::backends::pg::wire;
using namespace sluice::backends::pg::wire::test;
using namespace std::literals;

namespace {

byte_buffer text(std::string_view s) { return byte_buffer(s.begin(), s.end()); }

// Every strict prefix of a good payload is malformed for decoders that consume the whole payload.
template <class Decode>
void check_every_prefix_rejected(const byte_buffer& good, Decode decode) {
  REQUIRE(decode(as_bytes(good)));
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("prefix of " << n << " of " << good.size() << " bytes");
    // Copy the prefix so that a decoder reading past it trips AddressSanitizer in sanitizer builds.
    const byte_buffer prefix(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_FALSE(decode(as_bytes(prefix)));
  }
}

// A good payload with trailing bytes is malformed for decoders that consume the whole payload.
template <class Decode>
void check_trailing_rejected(byte_buffer good, Decode decode) {
  REQUIRE(decode(as_bytes(good)));
  for (const int extra : {0, int{'x'}}) {
    byte_buffer padded = good;
    padded.push_back(static_cast<std::uint8_t>(extra));
    INFO("trailing byte " << extra);
    CHECK_FALSE(decode(as_bytes(padded)));
  }
}

byte_buffer payload_of(const byte_buffer& wire) {
  const auto framed = frame_message(as_bytes(wire), 1 << 20);
  REQUIRE(framed.status == frame_status::ok);
  return to_vector(framed.message.payload);
}

byte_buffer startup_payload_of(const byte_buffer& wire) {
  const auto framed = frame_startup(as_bytes(wire), 1 << 20);
  REQUIRE(framed.status == frame_status::ok);
  return to_vector(framed.packet.payload);
}

template <class Encode>
byte_buffer encoded_payload(Encode encode) {
  byte_buffer wire;
  encode(wire);
  return payload_of(wire);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Every strict prefix and trailing garbage, per decoder.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("truncated or padded: CancelRequest", "[wire][decode][malformed]") {
  byte_buffer wire;
  encode_cancel_request(wire, 1, 2);
  const byte_buffer good = startup_payload_of(wire);
  check_every_prefix_rejected(good, decode_cancel_request);
  check_trailing_rejected(good, decode_cancel_request);
}

TEST_CASE("truncated or padded: Query and CommandComplete", "[wire][decode][malformed]") {
  const byte_buffer good = encoded_payload([](byte_buffer& b) { encode_query(b, "SELECT 1"); });
  check_every_prefix_rejected(good, decode_query);
  check_trailing_rejected(good, decode_query);
  check_every_prefix_rejected(good, decode_command_complete);
  check_trailing_rejected(good, decode_command_complete);
  // An embedded NUL ends the string early, leaving trailing bytes.
  CHECK_FALSE(decode_query(as_bytes("SELECT\0 1\0"sv)));
}

TEST_CASE("truncated or padded: Parse", "[wire][decode][malformed]") {
  const byte_buffer types = bytes_of({0, 0, 0, 23, 0, 0, 0, 25});
  const byte_buffer good = encoded_payload([&](byte_buffer& b) { encode_parse(b, "s", "SELECT $1, $2", 2, types); });
  check_every_prefix_rejected(good, decode_parse);
  check_trailing_rejected(good, decode_parse);
}

TEST_CASE("Parse: parameter count disagreeing with the bytes present", "[wire][decode][malformed]") {
  const auto parse_payload = [](std::int16_t count, const byte_buffer& types) {
    byte_buffer p = text("s\0q\0"sv);
    p.push_back(static_cast<std::uint8_t>(static_cast<std::uint16_t>(count) >> 8));
    p.push_back(static_cast<std::uint8_t>(count));
    p.insert(p.end(), types.begin(), types.end());
    return p;
  };
  const byte_buffer one_oid = bytes_of({0, 0, 0, 23});
  CHECK(decode_parse(as_bytes(parse_payload(1, one_oid))));
  CHECK_FALSE(decode_parse(as_bytes(parse_payload(2, one_oid))));      // count larger than bytes present
  CHECK_FALSE(decode_parse(as_bytes(parse_payload(32767, one_oid))));  // far larger
  CHECK_FALSE(decode_parse(as_bytes(parse_payload(0, one_oid))));      // smaller: trailing bytes
  CHECK_FALSE(decode_parse(as_bytes(parse_payload(-1, {}))));          // 65535 (unsigned), no OIDs
  CHECK_FALSE(decode_parse(as_bytes(parse_payload(-32768, {}))));      // 32768, no OIDs
  CHECK_FALSE(decode_parse(as_bytes(parse_payload(1, bytes_of({0, 0, 23})))));  // partial OID
  const byte_buffer zero_payload = parse_payload(0, {});
  const auto zero = decode_parse(as_bytes(zero_payload));
  REQUIRE(zero);
  CHECK(zero->parameter_count == 0);
  CHECK(zero->parameter_types.empty());
  // PostgreSQL reads the count as unsigned: 32,768 to 65,535 parameter types are valid (issue 15).
  for (const int wanted : {32768, 40000, 65535}) {
    byte_buffer many;
    for (int i = 0; i < wanted; ++i) many.insert(many.end(), {0, 0, 0, 23});
    const byte_buffer payload = parse_payload(static_cast<std::int16_t>(static_cast<std::uint16_t>(wanted)), many);
    const auto decoded = decode_parse(as_bytes(payload));
    REQUIRE(decoded);
    CHECK(decoded->parameter_count == wanted);
    CHECK(decoded->parameter_types.size() == static_cast<std::size_t>(wanted) * 4);
  }
}

TEST_CASE("Bind: missing NULs", "[wire][decode][malformed]") {
  CHECK_FALSE(decode_bind({}));
  CHECK_FALSE(decode_bind(as_bytes(std::string_view("portal"))));               // portal without NUL
  CHECK_FALSE(decode_bind(as_bytes("portal\0"sv)));          // statement missing
  CHECK_FALSE(decode_bind(as_bytes("portal\0stmt"sv)));     // statement without NUL
  const auto minimal = decode_bind(as_bytes("\0\0"sv));
  REQUIRE(minimal);
  CHECK(minimal->portal.empty());
  CHECK(minimal->statement.empty());
  CHECK(minimal->rest.empty());
  // Bind's rest is forwarded untouched, so any bytes after the statement are accepted as-is.
  const auto garbage_rest = decode_bind(as_bytes("p\0s\0\xff"sv));
  REQUIRE(garbage_rest);
  CHECK(garbage_rest->rest.size() == 1);
}

TEST_CASE("Describe and Close: bad kinds, truncated, padded", "[wire][decode][malformed]") {
  const auto decode = GENERATE(&decode_describe, &decode_close);
  const int kind = GENERATE('X', 's', 'p', 0, 0xff);
  byte_buffer bad = bytes_of({kind});
  append_text(bad, "name\0"sv);
  CHECK_FALSE(decode(as_bytes(bad)));

  byte_buffer good = bytes_of({'P'});
  append_text(good, "name\0"sv);
  check_every_prefix_rejected(good, decode);
  check_trailing_rejected(good, decode);
}

TEST_CASE("truncated or padded: Execute", "[wire][decode][malformed]") {
  byte_buffer good = text("portal\0"sv);
  for (int b : {0, 0, 0, 10}) good.push_back(static_cast<std::uint8_t>(b));
  check_every_prefix_rejected(good, decode_execute);
  check_trailing_rejected(good, decode_execute);
}

TEST_CASE("truncated or padded: ParameterStatus", "[wire][decode][malformed]") {
  const byte_buffer good = encoded_payload([](byte_buffer& b) { encode_parameter_status(b, "DateStyle", "ISO, MDY"); });
  check_every_prefix_rejected(good, decode_parameter_status);
  check_trailing_rejected(good, decode_parameter_status);
}

TEST_CASE("truncated or padded: BackendKeyData", "[wire][decode][malformed]") {
  const byte_buffer good = encoded_payload([](byte_buffer& b) { encode_backend_key_data(b, 7, 8); });
  check_every_prefix_rejected(good, decode_backend_key_data);
  check_trailing_rejected(good, decode_backend_key_data);
}

TEST_CASE("ReadyForQuery: unknown status, empty, too long", "[wire][decode][malformed]") {
  const int status = GENERATE('Q', 'i', 't', 'e', 0, 0xff);
  CHECK_FALSE(decode_ready_for_query(bytes_of({status})));
  CHECK_FALSE(decode_ready_for_query({}));
  CHECK_FALSE(decode_ready_for_query(bytes_of({'I', 'I'})));
  CHECK_FALSE(decode_ready_for_query(bytes_of({'I', 0})));
}

TEST_CASE("Authentication: truncated code", "[wire][decode][malformed]") {
  const byte_buffer good = bytes_of({0, 0, 0, 0});
  check_every_prefix_rejected(good, decode_authentication);
}

TEST_CASE("Authentication: fixed-shape requests must have their exact size", "[wire][decode][malformed]") {
  // ok, KerberosV5, CleartextPassword, GSS, SSPI carry nothing; MD5Password carries exactly a 4-byte salt.
  const int code = GENERATE(0, 2, 3, 7, 9);
  CHECK(decode_authentication(bytes_of({0, 0, 0, code})));
  CHECK_FALSE(decode_authentication(bytes_of({0, 0, 0, code, 0})));
  CHECK_FALSE(decode_authentication(bytes_of({0, 0, 0, code, 1, 2, 3, 4})));

  const auto md5 = decode_authentication(bytes_of({0, 0, 0, 5, 1, 2, 3, 4}));
  REQUIRE(md5);
  CHECK(md5->code == auth_code::md5_password);
  CHECK(md5->data.size() == 4);
  const std::size_t salt = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{5}, std::size_t{8});
  byte_buffer bad = bytes_of({0, 0, 0, 5});
  bad.resize(4 + salt, 0xaa);
  CHECK_FALSE(decode_authentication(as_bytes(bad)));
}

TEST_CASE("Authentication: SASL data and unknown codes are passed through", "[wire][decode]") {
  const int code = GENERATE(8, 10, 11, 12, 6, 99, -1);
  byte_buffer payload = bytes_of({code < 0 ? 0xff : 0, code < 0 ? 0xff : 0, code < 0 ? 0xff : 0, code & 0xff});
  append_text(payload, "xyz");
  const auto decoded = decode_authentication(as_bytes(payload));
  REQUIRE(decoded);
  CHECK(static_cast<std::int32_t>(decoded->code) == code);
  CHECK(as_text(decoded->data) == "xyz");
}

TEST_CASE("SASLInitialResponse: bad lengths", "[wire][decode][malformed]") {
  const auto payload = [](std::string_view mechanism_with_nul, std::int32_t length, std::string_view data) {
    byte_buffer p = text(mechanism_with_nul);
    const auto u = static_cast<std::uint32_t>(length);
    for (int shift : {24, 16, 8, 0}) p.push_back(static_cast<std::uint8_t>(u >> shift));
    append_text(p, data);
    return p;
  };
  const std::string_view mech("SCRAM-SHA-256\0", 14);

  // Decoded views point into the payload, so each payload is kept alive while its result is checked.
  const byte_buffer good_payload = payload(mech, 3, "abc");
  const auto good = decode_sasl_initial_response(as_bytes(good_payload));
  REQUIRE(good);
  CHECK(as_text(good->data) == "abc");

  const byte_buffer none_payload = payload(mech, -1, "");
  const auto none = decode_sasl_initial_response(as_bytes(none_payload));
  REQUIRE(none);
  CHECK(none->mechanism == "SCRAM-SHA-256");
  CHECK(none->data.empty());

  const byte_buffer empty_payload = payload(mech, 0, "");
  const auto empty = decode_sasl_initial_response(as_bytes(empty_payload));
  REQUIRE(empty);
  CHECK(empty->data.empty());

  CHECK_FALSE(decode_sasl_initial_response(as_bytes(payload(mech, -2, ""))));
  CHECK_FALSE(decode_sasl_initial_response(as_bytes(payload(mech, -2, "ab"))));
  CHECK_FALSE(decode_sasl_initial_response(as_bytes(payload(mech, std::numeric_limits<std::int32_t>::min(), ""))));
  CHECK_FALSE(decode_sasl_initial_response(as_bytes(payload(mech, 4, "abc"))));   // longer than data
  CHECK_FALSE(decode_sasl_initial_response(as_bytes(payload(mech, std::numeric_limits<std::int32_t>::max(), "abc"))));
  CHECK_FALSE(decode_sasl_initial_response(as_bytes(payload(mech, 2, "abc"))));   // shorter: trailing bytes
  CHECK_FALSE(decode_sasl_initial_response(as_bytes(payload(mech, -1, "a"))));    // none, yet data follows
  CHECK_FALSE(decode_sasl_initial_response(as_bytes(text("SCRAM-SHA-256"))));       // mechanism without NUL
  CHECK_FALSE(decode_sasl_initial_response({}));

  byte_buffer wire;
  encode_sasl_initial_response(wire, "SCRAM-SHA-256", as_bytes("n,,n=,r=x"));
  check_every_prefix_rejected(payload_of(wire), decode_sasl_initial_response);
  check_trailing_rejected(payload_of(wire), decode_sasl_initial_response);
}

TEST_CASE("every decoder on an empty payload", "[wire][decode][malformed]") {
  const bytes_view empty;
  CHECK_FALSE(decode_cancel_request(empty));
  CHECK_FALSE(decode_query(empty));
  CHECK_FALSE(decode_parse(empty));
  CHECK_FALSE(decode_bind(empty));
  CHECK_FALSE(decode_describe(empty));
  CHECK_FALSE(decode_close(empty));
  CHECK_FALSE(decode_execute(empty));
  CHECK_FALSE(decode_authentication(empty));
  CHECK_FALSE(decode_parameter_status(empty));
  CHECK_FALSE(decode_backend_key_data(empty));
  CHECK_FALSE(decode_ready_for_query(empty));
  CHECK_FALSE(decode_command_complete(empty));
  CHECK_FALSE(decode_sasl_initial_response(empty));
  CHECK(error_sqlstate(empty).empty());
  CHECK_FALSE(for_each_error_field(empty, [](char, std::string_view) {}));
  CHECK_FALSE(for_each_startup_parameter(empty, [](std::string_view, std::string_view) {}));
}

// ---------------------------------------------------------------------------------------------------
// for_each_startup_parameter, for_each_error_field, error_sqlstate.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("for_each_startup_parameter: well-formed lists", "[wire][decode][startup]") {
  std::vector<std::pair<std::string, std::string>> seen;
  const auto collect = [&](std::string_view name, std::string_view value) {
    seen.emplace_back(std::string(name), std::string(value));
  };
  SECTION("no parameters") {
    CHECK(for_each_startup_parameter(bytes_of({0}), collect));
    CHECK(seen.empty());
  }
  SECTION("several, including an empty value") {
    CHECK(for_each_startup_parameter(as_bytes("user\0u\0options\0\0database\0d\0\0"sv), collect));
    CHECK(seen == std::vector<std::pair<std::string, std::string>>{{"user", "u"}, {"options", ""}, {"database", "d"}});
  }
}

TEST_CASE("for_each_startup_parameter: malformed lists", "[wire][decode][startup]") {
  const std::string_view payload = GENERATE("user\0u"sv,           // value without NUL
                                            "user\0u\0"sv,         // no terminator
                                            "user\0"sv,            // name without value
                                            "user"sv,              // name without NUL
                                            "user\0u\0\0x"sv,      // bytes after terminator
                                            "\0\0"sv);             // bytes after terminator
  CHECK_FALSE(for_each_startup_parameter(as_bytes(payload), [](std::string_view, std::string_view) {}));
}

TEST_CASE("for_each_error_field: well-formed and malformed", "[wire][decode][error]") {
  std::vector<std::pair<char, std::string>> seen;
  const auto collect = [&](char code, std::string_view value) { seen.emplace_back(code, std::string(value)); };
  SECTION("no fields") {
    CHECK(for_each_error_field(bytes_of({0}), collect));
    CHECK(seen.empty());
  }
  SECTION("fields in order, unknown codes included") {
    CHECK(for_each_error_field(as_bytes("SERROR\0C22012\0Mdivision by zero\0qextra\0\0"sv),
                               collect));
    CHECK(seen == std::vector<std::pair<char, std::string>>{
                      {'S', "ERROR"}, {'C', "22012"}, {'M', "division by zero"}, {'q', "extra"}});
  }
  SECTION("malformed") {
    const std::string_view payload = GENERATE("SERROR\0"sv,          // no terminator
                                              "SERROR"sv,            // value without NUL
                                              "S"sv,                 // code without value
                                              "SERROR\0\0x"sv,       // bytes after terminator
                                              "\0\0"sv);
    CHECK_FALSE(for_each_error_field(as_bytes(payload), collect));
  }
}

TEST_CASE("error_sqlstate", "[wire][decode][error]") {
  CHECK(error_sqlstate(as_bytes("SERROR\0C42P01\0Mmissing\0\0"sv)) == "42P01");
  CHECK(error_sqlstate(as_bytes("C42P01\0\0"sv)) == "42P01");
  CHECK(error_sqlstate(as_bytes("SERROR\0Mno code\0\0"sv)).empty());  // absent
  CHECK(error_sqlstate(as_bytes("C\0\0"sv)).empty());                  // present but empty
  // Malformed payloads yield empty, even when a 'C' field came before the damage.
  CHECK(error_sqlstate(as_bytes("C42P01\0"sv)).empty());               // no terminator
  CHECK(error_sqlstate(as_bytes("C42P01\0Mtrunc"sv)).empty());        // later field without NUL
  CHECK(error_sqlstate(as_bytes("C42P01\0\0junk"sv)).empty());        // bytes after terminator
  CHECK(error_sqlstate(as_bytes("C42P01"sv)).empty());
}

// ---------------------------------------------------------------------------------------------------
// string_reader.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("string_reader: reads in sequence and stops at the end", "[wire][decode][reader]") {
  const byte_buffer data = bytes_of({'a', 'b', 0, 0, 0xff, 0xfe, 0x80, 0, 0, 1, 7, 1, 2, 3});
  string_reader reader(data);
  CHECK(reader.next_string() == std::optional<std::string_view>("ab"));
  CHECK(reader.next_string() == std::optional<std::string_view>(""));
  CHECK(reader.next_int16() == std::optional<std::int16_t>(-2));
  CHECK(reader.next_int32() == std::optional<std::int32_t>(static_cast<std::int32_t>(0x80000001u)));
  CHECK(reader.next_byte() == std::optional<std::uint8_t>(7));
  CHECK_FALSE(reader.next_int32());  // only 3 left: fails without consuming
  CHECK(reader.rest().size() == 3);
  CHECK_FALSE(reader.next_bytes(4));
  CHECK_FALSE(reader.next_string());  // no NUL in what is left
  const auto tail = reader.next_bytes(3);
  REQUIRE(tail);
  CHECK(to_vector(*tail) == bytes_of({1, 2, 3}));
  CHECK(reader.at_end());
  CHECK_FALSE(reader.next_byte());
  CHECK_FALSE(reader.next_int16());
  CHECK_FALSE(reader.next_int32());
  CHECK_FALSE(reader.next_string());
  CHECK(reader.next_bytes(0));
  CHECK(reader.rest().empty());
}

TEST_CASE("string_reader: empty input", "[wire][decode][reader]") {
  string_reader reader{bytes_view{}};
  CHECK(reader.at_end());
  CHECK_FALSE(reader.next_string());
  CHECK_FALSE(reader.next_byte());
  CHECK_FALSE(reader.next_int16());
  CHECK_FALSE(reader.next_int32());
  CHECK_FALSE(reader.next_bytes(1));
  CHECK(reader.next_bytes(0));
  CHECK(reader.rest().empty());
}
