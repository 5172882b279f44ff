// PostgreSQL wire codec: every message the codec encodes, framed and decoded back whole, and exact bytes
// checked against hand-written wire images (PostgreSQL 15 docs, 55.7 "Message Formats").
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

constexpr std::size_t max_size = 1 << 20;

// Frames exactly one typed message that fills `wire`.
message_view frame_whole(const byte_buffer& wire, char type) {
  const auto framed = frame_message(as_bytes(wire), max_size);
  REQUIRE(framed.status == frame_status::ok);
  REQUIRE(framed.message.type == type);
  REQUIRE(framed.message.wire_size == wire.size());
  REQUIRE(framed.message.payload.size() == wire.size() - typed_header_size);
  REQUIRE(framed.message.payload.data() == wire.data() + typed_header_size);
  return framed.message;
}

// Frames exactly one startup packet that fills `wire`.
startup_view frame_whole_startup(const byte_buffer& wire, std::uint32_t code) {
  const auto framed = frame_startup(as_bytes(wire), max_size);
  REQUIRE(framed.status == frame_status::ok);
  REQUIRE(framed.packet.code == code);
  REQUIRE(framed.packet.wire_size == wire.size());
  REQUIRE(framed.packet.payload.size() == wire.size() - startup_header_size);
  REQUIRE(framed.packet.payload.data() == wire.data() + startup_header_size);
  return framed.packet;
}

std::vector<std::pair<char, std::string>> error_fields(bytes_view payload) {
  std::vector<std::pair<char, std::string>> fields;
  const bool ok = for_each_error_field(payload, [&](char code, std::string_view value) {
    fields.emplace_back(code, std::string(value));
  });
  REQUIRE(ok);
  return fields;
}

std::vector<std::pair<std::string, std::string>> startup_parameters(bytes_view payload) {
  std::vector<std::pair<std::string, std::string>> pairs;
  const bool ok = for_each_startup_parameter(payload, [&](std::string_view name, std::string_view value) {
    pairs.emplace_back(std::string(name), std::string(value));
  });
  REQUIRE(ok);
  return pairs;
}

using field_list = std::vector<std::pair<char, std::string>>;
using parameter_list = std::vector<std::pair<std::string, std::string>>;

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Exact wire images.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("exact bytes: ReadyForQuery for each status", "[wire][encode][bytes]") {
  const auto [status, letter] = GENERATE(std::pair{tx_status::idle, 'I'}, std::pair{tx_status::in_transaction, 'T'},
                                         std::pair{tx_status::failed, 'E'});
  byte_buffer out;
  encode_ready_for_query(out, status);
  CHECK(out == bytes_of({'Z', 0, 0, 0, 5, letter}));
}

TEST_CASE("exact bytes: SSLRequest", "[wire][encode][bytes]") {
  byte_buffer out;
  encode_ssl_request(out);
  CHECK(out == bytes_of({0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f}));
}

TEST_CASE("exact bytes: CancelRequest", "[wire][encode][bytes]") {
  byte_buffer out;
  encode_cancel_request(out, 0x01020304, -2);
  CHECK(out == bytes_of({0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe}));
}

TEST_CASE("exact bytes: StartupMessage", "[wire][encode][bytes]") {
  const std::array<startup_parameter, 2> parameters{{{"user", "bob"}, {"database", "db"}}};
  byte_buffer out;
  encode_startup_message(out, parameters);
  byte_buffer expected = bytes_of({0, 0, 0, 30, 0, 3, 0, 0});
  append_text(expected, "user\0bob\0database\0db\0\0"sv);
  CHECK(out == expected);
}

TEST_CASE("exact bytes: StartupMessage without parameters", "[wire][encode][bytes]") {
  byte_buffer out;
  encode_startup_message(out, {});
  CHECK(out == bytes_of({0, 0, 0, 9, 0, 3, 0, 0, 0}));
}

TEST_CASE("exact bytes: empty-bodied messages", "[wire][encode][bytes]") {
  byte_buffer out;
  encode_parse_complete(out);
  encode_bind_complete(out);
  encode_close_complete(out);
  encode_sync(out);
  encode_terminate(out);
  CHECK(out == bytes_of({'1', 0, 0, 0, 4, '2', 0, 0, 0, 4, '3', 0, 0, 0, 4, 'S', 0, 0, 0, 4, 'X', 0, 0, 0, 4}));
}

TEST_CASE("exact bytes: Authentication variants", "[wire][encode][bytes]") {
  byte_buffer out;
  SECTION("Ok") {
    encode_authentication(out, auth_code::ok);
    CHECK(out == bytes_of({'R', 0, 0, 0, 8, 0, 0, 0, 0}));
  }
  SECTION("CleartextPassword") {
    encode_authentication(out, auth_code::cleartext_password);
    CHECK(out == bytes_of({'R', 0, 0, 0, 8, 0, 0, 0, 3}));
  }
  SECTION("MD5Password with salt") {
    encode_authentication(out, auth_code::md5_password, bytes_of({0xde, 0xad, 0xbe, 0xef}));
    CHECK(out == bytes_of({'R', 0, 0, 0, 12, 0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef}));
  }
  SECTION("SASL mechanism list") {
    const std::array<std::string_view, 1> mechanisms{"SCRAM-SHA-256"};
    encode_auth_sasl_mechanisms(out, mechanisms);
    byte_buffer expected = bytes_of({'R', 0, 0, 0, 23, 0, 0, 0, 10});
    append_text(expected, "SCRAM-SHA-256\0\0"sv);
    CHECK(out == expected);
  }
  SECTION("SASL with an empty mechanism list") {
    encode_auth_sasl_mechanisms(out, {});
    CHECK(out == bytes_of({'R', 0, 0, 0, 9, 0, 0, 0, 10, 0}));
  }
  SECTION("SASLFinal") {
    encode_authentication(out, auth_code::sasl_final, as_bytes("v=x"));
    CHECK(out == bytes_of({'R', 0, 0, 0, 11, 0, 0, 0, 12, 'v', '=', 'x'}));
  }
}

TEST_CASE("exact bytes: ErrorResponse and NoticeResponse", "[wire][encode][bytes]") {
  const auto [type, encode] = GENERATE(std::pair{'E', &encode_error_response}, std::pair{'N', &encode_notice_response});
  byte_buffer out;
  encode(out, "ERROR", "42P01", "no t");
  byte_buffer expected = bytes_of({type, 0, 0, 0, 32});
  append_text(expected, "SERROR\0VERROR\0C42P01\0Mno t\0\0"sv);
  CHECK(out == expected);
}

TEST_CASE("exact bytes: ParameterStatus, BackendKeyData, CommandComplete", "[wire][encode][bytes]") {
  byte_buffer out;
  SECTION("ParameterStatus") {
    encode_parameter_status(out, "TimeZone", "UTC");
    byte_buffer expected = bytes_of({'S', 0, 0, 0, 17});
    append_text(expected, "TimeZone\0UTC\0"sv);
    CHECK(out == expected);
  }
  SECTION("BackendKeyData") {
    encode_backend_key_data(out, -1, 0x01020304);
    CHECK(out == bytes_of({'K', 0, 0, 0, 12, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}));
  }
  SECTION("CommandComplete") {
    encode_command_complete(out, "SELECT 1");
    byte_buffer expected = bytes_of({'C', 0, 0, 0, 13});
    append_text(expected, "SELECT 1\0"sv);
    CHECK(out == expected);
  }
}

TEST_CASE("exact bytes: frontend extended-protocol and auth messages", "[wire][encode][bytes]") {
  byte_buffer out;
  SECTION("Query") {
    encode_query(out, "SELECT 1");
    byte_buffer expected = bytes_of({'Q', 0, 0, 0, 13});
    append_text(expected, "SELECT 1\0"sv);
    CHECK(out == expected);
  }
  SECTION("Parse with one parameter type") {
    encode_parse(out, "s1", "SELECT $1", 1, bytes_of({0, 0, 0, 23}));
    byte_buffer expected = bytes_of({'P', 0, 0, 0, 23});
    append_text(expected, "s1\0SELECT $1\0"sv);
    for (int b : {0, 1, 0, 0, 0, 23}) expected.push_back(static_cast<std::uint8_t>(b));
    CHECK(out == expected);
  }
  SECTION("Bind") {
    encode_bind(out, "", "s1", bytes_of({0, 0, 0, 0, 0, 0}));
    byte_buffer expected = bytes_of({'B', 0, 0, 0, 14, 0, 's', '1', 0, 0, 0, 0, 0, 0, 0});
    CHECK(out == expected);
  }
  SECTION("Describe statement") {
    encode_describe(out, 'S', "s1");
    CHECK(out == bytes_of({'D', 0, 0, 0, 8, 'S', 's', '1', 0}));
  }
  SECTION("Close portal, unnamed") {
    encode_close(out, 'P', "");
    CHECK(out == bytes_of({'C', 0, 0, 0, 6, 'P', 0}));
  }
  SECTION("PasswordMessage") {
    encode_password_message(out, "secret");
    byte_buffer expected = bytes_of({'p', 0, 0, 0, 11});
    append_text(expected, "secret\0"sv);
    CHECK(out == expected);
  }
  SECTION("SASLInitialResponse") {
    encode_sasl_initial_response(out, "SCRAM-SHA-256", as_bytes("n,,n=,r=abc"));
    byte_buffer expected = bytes_of({'p', 0, 0, 0, 33});
    append_text(expected, "SCRAM-SHA-256\0"sv);
    for (int b : {0, 0, 0, 11}) expected.push_back(static_cast<std::uint8_t>(b));
    append_text(expected, "n,,n=,r=abc");
    CHECK(out == expected);
  }
  SECTION("SASLResponse") {
    encode_sasl_response(out, as_bytes("c=biws"));
    CHECK(out == bytes_of({'p', 0, 0, 0, 10, 'c', '=', 'b', 'i', 'w', 's'}));
  }
}

TEST_CASE("encoders append after existing bytes", "[wire][encode]") {
  byte_buffer out = bytes_of({0xaa, 0xbb, 0xcc});
  encode_sync(out);
  encode_ready_for_query(out, tx_status::idle);
  CHECK(out == bytes_of({0xaa, 0xbb, 0xcc, 'S', 0, 0, 0, 4, 'Z', 0, 0, 0, 5, 'I'}));
}

TEST_CASE("message_builder: integers are big-endian, finish is idempotent", "[wire][encode]") {
  byte_buffer out;
  message_builder b(out, 'x');
  b.add_int16(-2).add_int16(0x1234).add_int32(std::numeric_limits<std::int32_t>::min()).add_byte(0xff).add_raw("ab");
  b.add_string("").add_bytes(bytes_of({9}));
  b.finish();
  const byte_buffer expected =
      bytes_of({'x', 0, 0, 0, 17, 0xff, 0xfe, 0x12, 0x34, 0x80, 0, 0, 0, 0xff, 'a', 'b', 0, 9});
  CHECK(out == expected);
  b.finish();
  CHECK(out == expected);
}

TEST_CASE("message_builder: untyped packet has no type byte", "[wire][encode]") {
  byte_buffer out = bytes_of({7});
  message_builder b(out, 0);
  b.add_int32(static_cast<std::int32_t>(gssenc_request_code));
  b.finish();
  CHECK(out == bytes_of({7, 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}));
  const auto framed = frame_startup(bytes_view(out).subspan(1), max_size);
  REQUIRE(framed.status == frame_status::ok);
  CHECK(framed.packet.code == gssenc_request_code);
}

// ---------------------------------------------------------------------------------------------------
// Encode -> frame -> decode round trips, backend messages.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("round trip: ErrorResponse / NoticeResponse fields and SQLSTATE", "[wire][roundtrip]") {
  const auto [type, encode] = GENERATE(std::pair{'E', &encode_error_response}, std::pair{'N', &encode_notice_response});
  const std::string message = GENERATE(std::string(""), std::string("tenant 'acme' exceeded max_concurrency=8"),
                                       std::string(300, 'm'));
  byte_buffer out;
  encode(out, "FATAL", "53300", message);
  const auto framed = frame_whole(out, type);
  CHECK(error_fields(framed.payload) ==
        field_list{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "53300"}, {'M', message}});
  CHECK(error_sqlstate(framed.payload) == "53300");
}

TEST_CASE("round trip: Authentication with fixed and opaque data", "[wire][roundtrip]") {
  const auto code = GENERATE(auth_code::ok, auth_code::cleartext_password, auth_code::md5_password,
                             auth_code::sasl_continue, auth_code::sasl_final);
  byte_buffer data;
  if (code == auth_code::md5_password) data = bytes_of({0x00, 0x7f, 0x80, 0xff});
  if (code == auth_code::sasl_continue) append_text(data, "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096");
  if (code == auth_code::sasl_final) append_text(data, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
  byte_buffer out;
  encode_authentication(out, code, data);
  const auto decoded = decode_authentication(frame_whole(out, be::authentication).payload);
  REQUIRE(decoded);
  CHECK(decoded->code == code);
  CHECK(to_vector(decoded->data) == data);
}

TEST_CASE("round trip: AuthenticationSASL mechanism list", "[wire][roundtrip]") {
  const std::vector<std::string_view> mechanisms = GENERATE(std::vector<std::string_view>{},
                                                            std::vector<std::string_view>{"SCRAM-SHA-256"},
                                                            std::vector<std::string_view>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  byte_buffer out;
  encode_auth_sasl_mechanisms(out, mechanisms);
  const auto decoded = decode_authentication(frame_whole(out, be::authentication).payload);
  REQUIRE(decoded);
  CHECK(decoded->code == auth_code::sasl);
  // The list is NUL-terminated names ending with an empty name.
  string_reader reader(decoded->data);
  std::vector<std::string_view> names;
  for (;;) {
    const auto name = reader.next_string();
    REQUIRE(name);
    if (name->empty()) break;
    names.push_back(*name);
  }
  CHECK(reader.at_end());
  CHECK(names == mechanisms);
}

TEST_CASE("round trip: ParameterStatus", "[wire][roundtrip]") {
  const auto [name, value] = GENERATE(std::pair<std::string_view, std::string_view>{"client_encoding", "UTF8"},
                                      std::pair<std::string_view, std::string_view>{"application_name", ""},
                                      std::pair<std::string_view, std::string_view>{"", ""});
  byte_buffer out;
  encode_parameter_status(out, name, value);
  const auto decoded = decode_parameter_status(frame_whole(out, be::parameter_status).payload);
  REQUIRE(decoded);
  CHECK(decoded->name == name);
  CHECK(decoded->value == value);
}

TEST_CASE("round trip: BackendKeyData", "[wire][roundtrip]") {
  const auto [pid, key] = GENERATE(std::pair{0, 0}, std::pair{12345, -987654321},
                                   std::pair{std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::min()});
  byte_buffer out;
  encode_backend_key_data(out, pid, key);
  const auto decoded = decode_backend_key_data(frame_whole(out, be::backend_key_data).payload);
  REQUIRE(decoded);
  CHECK(decoded->process_id == pid);
  CHECK(decoded->secret_key == key);
}

TEST_CASE("round trip: ReadyForQuery with each status", "[wire][roundtrip]") {
  const auto status = GENERATE(tx_status::idle, tx_status::in_transaction, tx_status::failed);
  byte_buffer out;
  encode_ready_for_query(out, status);
  const auto decoded = decode_ready_for_query(frame_whole(out, be::ready_for_query).payload);
  REQUIRE(decoded);
  CHECK(*decoded == status);
}

TEST_CASE("round trip: ParseComplete, BindComplete, CloseComplete", "[wire][roundtrip]") {
  const auto [type, encode] = GENERATE(std::pair{be::parse_complete, &encode_parse_complete},
                                       std::pair{be::bind_complete, &encode_bind_complete},
                                       std::pair{be::close_complete, &encode_close_complete});
  byte_buffer out;
  encode(out);
  CHECK(frame_whole(out, type).payload.empty());
}

TEST_CASE("round trip: CommandComplete", "[wire][roundtrip]") {
  const std::string tag = GENERATE(std::string("SELECT 5"), std::string("INSERT 0 1"), std::string(""),
                                   std::string("UPDATE 4294967295"));
  byte_buffer out;
  encode_command_complete(out, tag);
  const auto decoded = decode_command_complete(frame_whole(out, be::command_complete).payload);
  REQUIRE(decoded);
  CHECK(*decoded == tag);
}

// ---------------------------------------------------------------------------------------------------
// Round trips, frontend messages.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("round trip: StartupMessage with parameters", "[wire][roundtrip]") {
  const std::array<startup_parameter, 4> parameters{{{"user", "alice"},
                                                     {"database", "orders"},
                                                     {"options", "-c search_path=app"},
                                                     {"application_name", ""}}};
  const std::size_t used = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{4});
  byte_buffer out;
  encode_startup_message(out, std::span(parameters).first(used));
  const auto packet = frame_whole_startup(out, protocol_v3);
  parameter_list expected;
  for (std::size_t i = 0; i < used; ++i)
    expected.emplace_back(std::string(parameters[i].name), std::string(parameters[i].value));
  CHECK(startup_parameters(packet.payload) == expected);
}

TEST_CASE("round trip: CancelRequest", "[wire][roundtrip]") {
  const auto [pid, key] = GENERATE(std::pair{1, 2}, std::pair{-1, std::numeric_limits<std::int32_t>::min()});
  byte_buffer out;
  encode_cancel_request(out, pid, key);
  const auto packet = frame_whole_startup(out, cancel_request_code);
  const auto decoded = decode_cancel_request(packet.payload);
  REQUIRE(decoded);
  CHECK(decoded->process_id == pid);
  CHECK(decoded->secret_key == key);
}

TEST_CASE("round trip: SSLRequest", "[wire][roundtrip]") {
  byte_buffer out;
  encode_ssl_request(out);
  CHECK(frame_whole_startup(out, ssl_request_code).payload.empty());
}

TEST_CASE("round trip: PasswordMessage", "[wire][roundtrip]") {
  const std::string password = GENERATE(std::string("hunter2"), std::string(""),
                                        std::string("md5a3556571e93b0d20722ba62be61e8c2d"));
  byte_buffer out;
  encode_password_message(out, password);
  // A password message is a single NUL-terminated string, the same shape as Query.
  const auto decoded = decode_query(frame_whole(out, fe::password).payload);
  REQUIRE(decoded);
  CHECK(*decoded == password);
}

TEST_CASE("round trip: SASLInitialResponse", "[wire][roundtrip]") {
  const std::string data = GENERATE(std::string("n,,n=,r=rOprNGfwEbeRWgbNEkqO"), std::string(""),
                                    std::string("\0\xff binary\0", 10));
  byte_buffer out;
  encode_sasl_initial_response(out, "SCRAM-SHA-256", as_bytes(data));
  const auto decoded = decode_sasl_initial_response(frame_whole(out, fe::password).payload);
  REQUIRE(decoded);
  CHECK(decoded->mechanism == "SCRAM-SHA-256");
  CHECK(as_text(decoded->data) == data);
}

TEST_CASE("round trip: SASLResponse is the raw payload", "[wire][roundtrip]") {
  const std::string data = GENERATE(std::string("c=biws,r=abc,p=dHJ1c3Q="), std::string(""));
  byte_buffer out;
  encode_sasl_response(out, as_bytes(data));
  CHECK(as_text(frame_whole(out, fe::password).payload) == data);
}

TEST_CASE("round trip: Query", "[wire][roundtrip]") {
  const std::string sql = GENERATE(std::string("SELECT 1"), std::string(""), std::string("BEGIN; COMMIT;"),
                                   std::string(5000, 'x'));
  byte_buffer out;
  encode_query(out, sql);
  const auto decoded = decode_query(frame_whole(out, fe::query).payload);
  REQUIRE(decoded);
  CHECK(*decoded == sql);
}

TEST_CASE("round trip: Parse with parameter types", "[wire][roundtrip]") {
  const std::int16_t count = GENERATE(std::int16_t{0}, std::int16_t{1}, std::int16_t{3}, std::int16_t{200});
  byte_buffer types;
  for (std::int16_t i = 0; i < count; ++i) {
    const auto oid = static_cast<std::uint32_t>(16 + i * 7919);
    for (int shift : {24, 16, 8, 0}) types.push_back(static_cast<std::uint8_t>(oid >> shift));
  }
  const std::string statement = GENERATE(std::string(""), std::string("get_user"));
  byte_buffer out;
  encode_parse(out, statement, "SELECT * FROM t WHERE id = $1", count, types);
  const auto decoded = decode_parse(frame_whole(out, fe::parse).payload);
  REQUIRE(decoded);
  CHECK(decoded->statement == statement);
  CHECK(decoded->query == "SELECT * FROM t WHERE id = $1");
  CHECK(decoded->parameter_count == count);
  CHECK(to_vector(decoded->parameter_types) == types);
}

TEST_CASE("round trip: Bind with a non-trivial rest", "[wire][roundtrip]") {
  // 2 formats (text, binary), 3 params ("abc", NULL, 4-byte int 7 binary), 2 result formats.
  const byte_buffer rest = bytes_of({0, 2, 0, 0, 0, 1, 0, 3, 0, 0, 0, 3, 'a', 'b', 'c', 0xff, 0xff, 0xff, 0xff,
                                     0, 0, 0, 4, 0, 0, 0, 7, 0, 2, 0, 0, 0, 1});
  const auto [portal, statement] = GENERATE(std::pair<std::string_view, std::string_view>{"", ""},
                                            std::pair<std::string_view, std::string_view>{"p1", "s1"},
                                            std::pair<std::string_view, std::string_view>{"", "stmt"});
  byte_buffer out;
  encode_bind(out, portal, statement, rest);
  const auto decoded = decode_bind(frame_whole(out, fe::bind).payload);
  REQUIRE(decoded);
  CHECK(decoded->portal == portal);
  CHECK(decoded->statement == statement);
  CHECK(to_vector(decoded->rest) == rest);
  // `rest` is a view into the caller's buffer, not a copy.
  CHECK(decoded->rest.data() + decoded->rest.size() == out.data() + out.size());
}

TEST_CASE("round trip: Describe and Close, statement and portal", "[wire][roundtrip]") {
  const char kind = GENERATE('S', 'P');
  const std::string name = GENERATE(std::string(""), std::string("name_1"));
  byte_buffer out;
  SECTION("Describe") {
    encode_describe(out, kind, name);
    const auto decoded = decode_describe(frame_whole(out, fe::describe).payload);
    REQUIRE(decoded);
    CHECK(decoded->kind == kind);
    CHECK(decoded->name == name);
  }
  SECTION("Close") {
    encode_close(out, kind, name);
    const auto decoded = decode_close(frame_whole(out, fe::close).payload);
    REQUIRE(decoded);
    CHECK(decoded->kind == kind);
    CHECK(decoded->name == name);
  }
}

TEST_CASE("round trip: Execute built with message_builder", "[wire][roundtrip]") {
  const std::int32_t rows = GENERATE(0, 1, 100, std::numeric_limits<std::int32_t>::max());
  byte_buffer out;
  message_builder b(out, fe::execute);
  b.add_string("portal").add_int32(rows);
  b.finish();
  const auto decoded = decode_execute(frame_whole(out, fe::execute).payload);
  REQUIRE(decoded);
  CHECK(decoded->portal == "portal");
  CHECK(decoded->max_rows == rows);
}

TEST_CASE("round trip: Sync and Terminate", "[wire][roundtrip]") {
  byte_buffer out;
  encode_sync(out);
  CHECK(frame_whole(out, fe::sync).payload.empty());
  out.clear();
  encode_terminate(out);
  CHECK(frame_whole(out, fe::terminate).payload.empty());
}

TEST_CASE("every sample frames whole with its own framing", "[wire][roundtrip]") {
  const auto index = GENERATE(range(std::size_t{0}, samples().size()));
  const auto& s = samples()[index];
  INFO(s.name);
  const byte_buffer wire = encode_sample(s);
  if (s.startup) {
    const auto framed = frame_startup(as_bytes(wire), max_size);
    REQUIRE(framed.status == frame_status::ok);
    CHECK(framed.packet.wire_size == wire.size());
  } else {
    const auto framed = frame_message(as_bytes(wire), max_size);
    REQUIRE(framed.status == frame_status::ok);
    CHECK(framed.message.wire_size == wire.size());
    CHECK(framed.message.type == static_cast<char>(wire[0]));
  }
}
