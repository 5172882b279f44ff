// client_login (a client authenticating to sluice), driven sans-IO: trust, md5 and SCRAM-SHA-256 with a
// real auth::scram_client on the other side, unknown users, and a malformed or unexpected message
// injected at each step of each exchange.
#include "router/pg/client_login.hpp"

#include "tests/backends/pg/wire/codec_test_util.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

using sluice::router::pg::client_login;
namespace auth = sluice::backends::pg::auth;
namespace config = sluice::router::config;
using namespace sluice::backends::pg::wire;
using namespace sluice::backends::pg::wire::test;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

using step = client_login::step;

// One backend message sluice wrote for the client, copied out of the buffer.
struct reply {
  char type = 0;
  byte_buffer payload;
};

std::vector<reply> take_replies(byte_buffer& out) {
  std::vector<reply> replies;
  bytes_view rest = as_bytes(out);
  while (!rest.empty()) {
    const auto framed = frame_message(rest, 1 << 20);
    REQUIRE(framed.status == frame_status::ok);
    replies.push_back({framed.message.type, to_vector(framed.message.payload)});
    rest = rest.subspan(framed.message.wire_size);
  }
  out.clear();
  return replies;
}

std::optional<authentication_message> auth_of(const reply& r) {
  if (r.type != be::authentication) return std::nullopt;
  return decode_authentication(as_bytes(r.payload));
}

// Checks that `out` holds exactly one FATAL ErrorResponse with `sqlstate`; returns its message text.
std::string expect_error(byte_buffer& out, std::string_view sqlstate) {
  const auto replies = take_replies(out);
  REQUIRE(replies.size() == 1);
  REQUIRE(replies[0].type == be::error_response);
  CHECK(error_sqlstate(as_bytes(replies[0].payload)) == sqlstate);
  std::string severity, text;
  CHECK(for_each_error_field(as_bytes(replies[0].payload), [&](char field, std::string_view value) {
    if (field == 'S') severity = value;
    if (field == 'M') text = value;
  }));
  CHECK(severity == "FATAL");
  return text;
}

void expect_auth_ok(byte_buffer& out) {
  const auto replies = take_replies(out);
  REQUIRE(replies.size() == 1);
  const auto request = auth_of(replies[0]);
  REQUIRE(request);
  CHECK(request->code == auth_code::ok);
}

step feed(client_login& login, const byte_buffer& wire_bytes, byte_buffer& out) {
  const auto framed = frame_message(as_bytes(wire_bytes), 1 << 20);
  REQUIRE(framed.status == frame_status::ok);
  REQUIRE(framed.message.wire_size == wire_bytes.size());
  return login.on_message(framed.message, out);
}

step feed_raw(client_login& login, char type, const byte_buffer& payload, byte_buffer& out) {
  const message_view message{type, as_bytes(payload), typed_header_size + payload.size()};
  return login.on_message(message, out);
}

byte_buffer text_bytes(std::string_view text) { return byte_buffer(text.begin(), text.end()); }

byte_buffer password_message(std::string_view password) {
  byte_buffer out;
  encode_password_message(out, password);
  return out;
}

byte_buffer sasl_initial(std::string_view mechanism, std::string_view data) {
  byte_buffer out;
  encode_sasl_initial_response(out, mechanism, as_bytes(data));
  return out;
}

byte_buffer sasl_response(std::string_view data) {
  byte_buffer out;
  encode_sasl_response(out, as_bytes(data));
  return out;
}

// A configured user and what the settings snapshot computes for it (router/shared_state.cpp).
struct test_user {
  config::user_config config;
  std::string md5_stored;  // md5 users with a password
  client_login::known_user known(const auth::scram_verifier* verifier = nullptr) const {
    return {&config, verifier, md5_stored};
  }
};

test_user make_user(config::auth_method method, std::optional<std::string> password = "secret") {
  test_user user;
  user.config.name = "alice";
  user.config.auth = method;
  user.config.password = std::move(password);
  if (method == config::auth_method::md5 && user.config.password) {
    user.md5_stored = auth::md5_stored_password(user.config.name, *user.config.password);
  }
  return user;
}

const auth::scram_verifier& alice_verifier() {
  static const auto verifier = auth::make_scram_verifier("secret", "alice-salt-16byt", 4096);
  return verifier;
}

const auth::scram_mock_verifiers& mocks() {
  static const auth::scram_mock_verifiers verifiers;
  return verifiers;
}

const std::string wrong_password_text = "password authentication failed for user \"alice\"";

// Starts an md5 login and returns the salt sluice sent.
std::string start_md5(client_login& login, byte_buffer& out) {
  REQUIRE(login.start(out) == step::read);
  const auto replies = take_replies(out);
  REQUIRE(replies.size() == 1);
  const auto request = auth_of(replies[0]);
  REQUIRE(request);
  REQUIRE(request->code == auth_code::md5_password);
  REQUIRE(request->data.size() == 4);
  return std::string(as_text(request->data));
}

// The outcome of a SCRAM exchange driven by a real scram_client.
struct scram_run {
  step last = step::read;
  bool client_verified_server = false;
  std::string server_first;
  byte_buffer final_out;  // what sluice wrote after the client's last message
};

scram_run run_scram(client_login& login, std::string_view password) {
  scram_run run;
  byte_buffer out;
  REQUIRE(login.start(out) == step::read);
  auto replies = take_replies(out);
  REQUIRE(replies.size() == 1);
  auto request = auth_of(replies[0]);
  REQUIRE(request);
  REQUIRE(request->code == auth_code::sasl);
  // The mechanism list: exactly SCRAM-SHA-256 (no -PLUS: sluice does not do channel binding).
  string_reader mechanisms(request->data);
  CHECK(mechanisms.next_string() == std::optional<std::string_view>(auth::scram_sha_256));
  CHECK(mechanisms.next_string() == std::optional<std::string_view>(""));
  CHECK(mechanisms.at_end());

  auth::scram_client client("alice", password);
  run.last = feed(login, sasl_initial(auth::scram_sha_256, client.client_first()), out);
  REQUIRE(run.last == step::read);
  replies = take_replies(out);
  REQUIRE(replies.size() == 1);
  request = auth_of(replies[0]);
  REQUIRE(request);
  REQUIRE(request->code == auth_code::sasl_continue);
  run.server_first = std::string(as_text(request->data));
  const auto client_final = client.handle_server_first(run.server_first);
  REQUIRE(client_final);

  run.last = feed(login, sasl_response(*client_final), out);
  run.final_out = out;
  if (run.last == step::done) {
    replies = take_replies(out);
    REQUIRE(replies.size() == 2);
    request = auth_of(replies[0]);
    REQUIRE(request);
    REQUIRE(request->code == auth_code::sasl_final);
    run.client_verified_server = client.verify_server_final(as_text(request->data));
    const auto ok = auth_of(replies[1]);
    REQUIRE(ok);
    CHECK(ok->code == auth_code::ok);
  }
  return run;
}

}  // namespace

TEST_CASE("client_login: trust is done at once with AuthenticationOk", "[client_login]") {
  const auto user = make_user(config::auth_method::trust, std::nullopt);
  client_login login(user.known(), mocks(), "alice");
  byte_buffer out;
  CHECK(login.start(out) == step::done);
  expect_auth_ok(out);
  // Anything more is out of place.
  CHECK(feed(login, password_message("secret"), out) == step::failed);
  expect_error(out, "08P01");
}

TEST_CASE("client_login: md5 with the right password", "[client_login][md5]") {
  const auto user = make_user(config::auth_method::md5);
  client_login login(user.known(), mocks(), "alice");
  byte_buffer out;
  const auto salt = start_md5(login, out);
  CHECK(feed(login, password_message(auth::md5_password_response("alice", "secret", salt)), out) == step::done);
  expect_auth_ok(out);
}

TEST_CASE("client_login: md5 checks the answer against the secret computed with the settings",
          "[client_login][md5]") {
  // The inner md5(password + name) comes from the settings snapshot, as PostgreSQL's rolpassword; a
  // user whose snapshot has none (no password, or no MD5 in OpenSSL) never gets in.
  auto user = make_user(config::auth_method::md5);
  CHECK(user.md5_stored == "md5" "4a0a68b43b6cd5cf266fa02f196e2371");  // md5("secretalice")
  {
    client_login login(user.known(), mocks(), "alice");
    byte_buffer out;
    const auto salt = start_md5(login, out);
    CHECK(feed(login, password_message(auth::md5_password_response("alice", "secret", salt)), out) == step::done);
  }
  user.md5_stored.clear();
  client_login login(user.known(), mocks(), "alice");
  byte_buffer out;
  const auto salt = start_md5(login, out);
  CHECK(feed(login, password_message(auth::md5_password_response("alice", "secret", salt)), out) == step::failed);
  CHECK(expect_error(out, "28P01") == wrong_password_text);
}

TEST_CASE("client_login: md5 salts differ between logins", "[client_login][md5]") {
  const auto user = make_user(config::auth_method::md5);
  client_login first(user.known(), mocks(), "alice"), second(user.known(), mocks(), "alice");
  byte_buffer out;
  CHECK(start_md5(first, out) != start_md5(second, out));
}

TEST_CASE("client_login: md5 with a wrong or malformed answer", "[client_login][md5]") {
  enum class answer { wrong_password, other_salt, other_user, cleartext, no_nul, empty, trailing_byte };
  const auto kind = GENERATE(answer::wrong_password, answer::other_salt, answer::other_user, answer::cleartext,
                             answer::no_nul, answer::empty, answer::trailing_byte);
  INFO("answer kind " << static_cast<int>(kind));
  const auto user = make_user(config::auth_method::md5);
  client_login login(user.known(), mocks(), "alice");
  byte_buffer out;
  const auto salt = start_md5(login, out);
  const auto right = auth::md5_password_response("alice", "secret", salt);
  byte_buffer payload = text_bytes(right);
  payload.push_back(0);
  switch (kind) {
    case answer::wrong_password:
      payload = text_bytes(auth::md5_password_response("alice", "wrong", salt) + '\0');
      break;
    case answer::other_salt:
      payload = text_bytes(auth::md5_password_response("alice", "secret", salt == "zzzz" ? "yyyy" : "zzzz") + '\0');
      break;
    case answer::other_user:
      payload = text_bytes(auth::md5_password_response("bob", "secret", salt) + '\0');
      break;
    case answer::cleartext:
      payload = text_bytes("secret"s + '\0');
      break;
    case answer::no_nul:
      payload.pop_back();
      break;
    case answer::empty:
      payload.clear();
      break;
    case answer::trailing_byte:
      payload.push_back('x');
      break;
  }
  CHECK(feed_raw(login, fe::password, payload, out) == step::failed);
  CHECK(expect_error(out, "28P01") == wrong_password_text);
}

TEST_CASE("client_login: md5 user without a configured password always fails", "[client_login][md5]") {
  const auto user = make_user(config::auth_method::md5, std::nullopt);
  client_login login(user.known(), mocks(), "alice");
  byte_buffer out;
  const auto salt = start_md5(login, out);
  CHECK(feed(login, password_message(auth::md5_password_response("alice", "", salt)), out) == step::failed);
  CHECK(expect_error(out, "28P01") == wrong_password_text);
}

TEST_CASE("client_login: SCRAM with the right password", "[client_login][scram]") {
  const auto user = make_user(config::auth_method::scram_sha_256);
  client_login login(user.known(&alice_verifier()), mocks(), "alice");
  const auto run = run_scram(login, "secret");
  CHECK(run.last == step::done);
  CHECK(run.client_verified_server);  // the server signature proves sluice holds the verifier
  CHECK(run.server_first.find(",s=" + auth::base64_encode("alice-salt-16byt") + ",i=4096") != std::string::npos);
}

TEST_CASE("client_login: SCRAM with a wrong password", "[client_login][scram]") {
  const auto user = make_user(config::auth_method::scram_sha_256);
  client_login login(user.known(&alice_verifier()), mocks(), "alice");
  auto run = run_scram(login, "wrong");
  CHECK(run.last == step::failed);
  CHECK(expect_error(run.final_out, "28P01") == wrong_password_text);
}

TEST_CASE("client_login: unknown user fails like a wrong password", "[client_login][scram]") {
  // Known user, wrong password.
  const auto user = make_user(config::auth_method::scram_sha_256);
  client_login known(user.known(&alice_verifier()), mocks(), "alice");
  auto known_run = run_scram(known, "wrong");
  REQUIRE(known_run.last == step::failed);

  // Unknown user with a mock verifier: the whole exchange happens, then the same failure.
  const auto password = GENERATE(as<std::string>{}, "secret", "not a password", "wrong");
  INFO("client password: " << password);
  client_login unknown({}, mocks(), "alice");
  auto unknown_run = run_scram(unknown, password);
  CHECK(unknown_run.last == step::failed);
  // The same bytes: same severity, SQLSTATE and text. Even the mock's own password does not get in.
  CHECK(unknown_run.final_out == known_run.final_out);
  CHECK(expect_error(unknown_run.final_out, "28P01") == wrong_password_text);
  // The server-first-message has the same shape (nonce, salt, iteration count).
  CHECK(unknown_run.server_first.find(",i=4096") != std::string::npos);
}

TEST_CASE("client_login: an unknown user gets the same salt at every login, another name another",
          "[client_login][scram]") {
  // PostgreSQL's scram_mock_salt: a salt that changed between logins would tell the name is unknown.
  const auto salt_of = [](std::string_view name) {
    client_login login({}, mocks(), name);
    byte_buffer out;
    REQUIRE(login.start(out) == step::read);
    out.clear();
    auth::scram_client client(name, "secret");
    REQUIRE(feed(login, sasl_initial(auth::scram_sha_256, client.client_first()), out) == step::read);
    const auto replies = take_replies(out);
    REQUIRE(replies.size() == 1);
    const auto request = auth_of(replies[0]);
    REQUIRE(request);
    const auto server_first = std::string(as_text(request->data));
    const auto start = server_first.find(",s=");
    REQUIRE(start != std::string::npos);
    const auto end = server_first.find(',', start + 3);
    return server_first.substr(start + 3, end - start - 3);
  };
  const auto first = salt_of("mallory");
  CHECK(salt_of("mallory") == first);
  CHECK(salt_of("trudy") != first);
  CHECK(auth::base64_decode(first).value_or("").size() == 16);  // as long as a real verifier's salt
}

TEST_CASE("client_login: a mock verifier is made only for the exchange of an unknown user",
          "[client_login][scram]") {
  // It costs an HMAC and three copies; md5, trust and known SCRAM logins never use it.
  const auth::scram_mock_verifiers counted;
  byte_buffer out;
  {
    const auto user = make_user(config::auth_method::trust, std::nullopt);
    client_login login(user.known(), counted, "alice");
    CHECK(login.start(out) == step::done);
  }
  out.clear();
  {
    const auto user = make_user(config::auth_method::md5);
    client_login login(user.known(), counted, "alice");
    const auto salt = start_md5(login, out);
    CHECK(feed(login, password_message(auth::md5_password_response("alice", "secret", salt)), out) == step::done);
  }
  out.clear();
  {
    const auto user = make_user(config::auth_method::scram_sha_256);
    client_login login(user.known(&alice_verifier()), counted, "alice");
    CHECK(login.start(out) == step::read);
  }
  out.clear();
  CHECK(counted.made() == 0);
  client_login unknown({}, counted, "nobody");
  CHECK(unknown.start(out) == step::read);
  CHECK(counted.made() == 1);
}

TEST_CASE("client_login: a message other than 'p' during authentication", "[client_login]") {
  const char type = GENERATE(fe::query, fe::parse, fe::sync, fe::terminate, 'x');
  const auto method = GENERATE(config::auth_method::md5, config::auth_method::scram_sha_256);
  const auto user = make_user(method);
  client_login login(user.known(&alice_verifier()), mocks(), "alice");
  byte_buffer out;
  REQUIRE(login.start(out) == step::read);
  out.clear();
  CHECK(feed_raw(login, type, {}, out) == step::failed);
  expect_error(out, "08P01");
}

TEST_CASE("client_login: SCRAM with a wrong mechanism name", "[client_login][scram]") {
  const auto mechanism = GENERATE("SCRAM-SHA-256-PLUS"sv, "SCRAM-SHA-1"sv, "scram-sha-256"sv, ""sv);
  const auto user = make_user(config::auth_method::scram_sha_256);
  client_login login(user.known(&alice_verifier()), mocks(), "alice");
  byte_buffer out;
  REQUIRE(login.start(out) == step::read);
  out.clear();
  auth::scram_client client("alice", "secret");
  CHECK(feed(login, sasl_initial(mechanism, client.client_first()), out) == step::failed);
  // PostgreSQL answers an invalid SASL mechanism with 08P01 (protocol violation).
  expect_error(out, "08P01");
}

TEST_CASE("client_login: SCRAM accepts a 'y' gs2 header (client could bind, thinks we cannot)",
          "[client_login][scram]") {
  const auto user = make_user(config::auth_method::scram_sha_256);
  client_login login(user.known(&alice_verifier()), mocks(), "alice");
  byte_buffer out;
  REQUIRE(login.start(out) == step::read);
  out.clear();
  CHECK(feed(login, sasl_initial(auth::scram_sha_256, "y,,n=,r=abcdefghijklmnopqrstuvwx"), out) == step::read);
}

TEST_CASE("client_login: a malformed message injected at each SCRAM step", "[client_login][scram][inject]") {
  const auto user = make_user(config::auth_method::scram_sha_256);
  // Unknown user too: the mock exchange must fail the same way on the same input.
  const bool known = GENERATE(true, false);
  INFO((known ? "known user" : "unknown user"));
  client_login login(known ? user.known(&alice_verifier()) : client_login::known_user{}, mocks(), "alice");
  byte_buffer out;
  REQUIRE(login.start(out) == step::read);
  out.clear();
  auth::scram_client client("alice", "secret");

  SECTION("step 1: SASLInitialResponse") {
    struct row {
      std::string name;
      byte_buffer payload;
      std::string_view sqlstate;
    };
    const auto first = client.client_first();
    const auto well_framed = to_vector(frame_message(as_bytes(sasl_initial(auth::scram_sha_256, first)), 1 << 20)
                                           .message.payload);
    auto cut = [&](std::size_t n) { return byte_buffer(well_framed.begin(), well_framed.begin() + static_cast<std::ptrdiff_t>(n)); };
    auto padded = well_framed;
    padded.push_back('x');
    const auto r = GENERATE_COPY(values<row>({
        {"empty", {}, "08P01"},
        {"mechanism without NUL", cut(5), "08P01"},
        {"length cut", cut(auth::scram_sha_256.size() + 3), "08P01"},
        {"data cut short", cut(well_framed.size() - 1), "08P01"},
        {"trailing byte", padded, "08P01"},
        {"no data (length -1)", concat({text_bytes(auth::scram_sha_256), bytes_of({0, 0xff, 0xff, 0xff, 0xff})}),
         "08P01"},
        {"client-first garbage", to_vector(frame_message(as_bytes(sasl_initial(auth::scram_sha_256, "garbage")),
                                                         1 << 20).message.payload), "08P01"},
        {"channel binding demanded",
         to_vector(frame_message(as_bytes(sasl_initial(auth::scram_sha_256, "p=tls-server-end-point,,n=,r=abcdefgh")),
                                 1 << 20).message.payload), "08P01"},
        {"NUL in client-first", to_vector(frame_message(as_bytes(sasl_initial(auth::scram_sha_256,
                                                                              std::string("n,,n=,r=ab\0cd", 13))),
                                                        1 << 20).message.payload), "08P01"},
    }));
    INFO(r.name);
    CHECK(feed_raw(login, fe::password, r.payload, out) == step::failed);
    expect_error(out, r.sqlstate);
  }

  SECTION("step 2: SASLResponse") {
    REQUIRE(feed(login, sasl_initial(auth::scram_sha_256, client.client_first()), out) == step::read);
    const auto replies = take_replies(out);
    REQUIRE(replies.size() == 1);
    const auto request = auth_of(replies[0]);
    REQUIRE(request);
    const auto client_final = client.handle_server_first(as_text(request->data));
    REQUIRE(client_final);
    const auto payload = GENERATE_COPY(
        byte_buffer{}, byte_buffer(client_final->begin(), client_final->begin() + 10),  // cut short
        byte_buffer(client_final->begin(), client_final->end() - 1),                    // proof cut
        concat({byte_buffer(client_final->begin(), client_final->end()), bytes_of({0})}),  // NUL
        text_bytes("c=biws,r=wrongnonce,p=" + auth::base64_encode(std::string(32, 'p'))));
    INFO("SASLResponse: " << as_text(as_bytes(payload)));
    CHECK(feed_raw(login, fe::password, payload, out) == step::failed);
    CHECK(expect_error(out, "28P01") == wrong_password_text);
    // And the exchange is over: a retry with the right message is refused.
    CHECK(feed(login, sasl_response(*client_final), out) == step::failed);
    expect_error(out, "08P01");
  }

  SECTION("step 2: a second SASLInitialResponse") {
    REQUIRE(feed(login, sasl_initial(auth::scram_sha_256, client.client_first()), out) == step::read);
    out.clear();
    CHECK(feed(login, sasl_initial(auth::scram_sha_256, client.client_first()), out) == step::failed);
    expect_error(out, "28P01");
  }

  SECTION("after the exchange failed, nothing more is accepted") {
    CHECK(feed(login, sasl_initial("OAUTHBEARER", client.client_first()), out) == step::failed);
    out.clear();
    CHECK(feed(login, sasl_initial(auth::scram_sha_256, client.client_first()), out) == step::failed);
    expect_error(out, "08P01");
  }
}

TEST_CASE("client_login: on_message before start is refused", "[client_login]") {
  const auto user = make_user(config::auth_method::md5);
  client_login login(user.known(), mocks(), "alice");
  byte_buffer out;
  CHECK(feed(login, password_message("secret"), out) == step::failed);
  expect_error(out, "08P01");
}
