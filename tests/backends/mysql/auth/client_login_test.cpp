// client_login (a client logging in to sluice), driven sans-IO: scripted clients for every method and
// credential form (cleartext, stored native hash, caching_sha2 digest), the caching_sha2 fast path, full
// authentication over TLS, auth switches, unknown users answered like wrong passwords, SSLRequest,
// compression; a wrong sequence id, garbage and every truncation injected at each client packet; and
// server_login against client_login end to end.
#include "backends/mysql/auth/caching_sha2.hpp"
#include "backends/mysql/auth/ed25519.hpp"
#include "backends/mysql/auth/plugin_names.hpp"
#include "tests/backends/mysql/auth/auth_test_util.hpp"

#include <functional>

using namespace sluice::backends::mysql::auth;
using namespace sluice::backends::mysql::auth::test;
namespace wire = sluice::backends::mysql::wire;
using sluice::errc;
using step = client_login::step;

namespace {

constexpr wire::capabilities client_caps =
    wire::client_long_password | wire::client_long_flag | wire::client_connect_with_db | wire::client_protocol_41 |
    wire::client_transactions | wire::client_secure_connection | wire::client_multi_statements |
    wire::client_multi_results | wire::client_plugin_auth | wire::client_connect_attrs |
    wire::client_plugin_auth_lenenc_client_data | wire::client_session_track;

user_table& users() {
  static user_table table = [] {
    user_table t;
    t.users["alice"] = cleartext("secret");
    t.users["hashed"] = native_hash("secret");
    t.users["digest"] = sha2_only("secret");
    t.users["nopass"] = cleartext("");
    t.users["ed"] = ed25519_only("secret");  // MariaDB's stored ed25519 key only
    return t;
  }();
  return table;
}

// The greeting's scramble.
byte_buffer scramble_of(const packet& greeting) {
  wire::handshake_v10 h;
  REQUIRE(wire::decode_handshake_v10(view(greeting), h) == wire::codec_errc::ok);
  byte_buffer s(32);
  s.resize(wire::copy_scramble(h, s));
  return s;
}

byte_buffer native(std::string_view password, const byte_buffer& scramble) {
  if (password.empty()) return {};
  sha1_digest d{};
  REQUIRE(native_password_response(password, view(scramble).first(20), d));
  return byte_buffer(d.begin(), d.end());
}
byte_buffer sha2(std::string_view password, const byte_buffer& scramble) {
  if (password.empty()) return {};
  sha256_digest d{};
  REQUIRE(caching_sha2_scramble(password, view(scramble).first(20), d));
  return byte_buffer(d.begin(), d.end());
}

byte_buffer ed_sign(std::string_view password, const byte_buffer& nonce) {
  ed25519_signature sig{};
  REQUIRE(mariadb_ed25519_sign(password, view(nonce), sig));
  return byte_buffer(sig.begin(), sig.end());
}

packet response(std::uint8_t seq, std::string_view user, std::string_view plugin, const byte_buffer& auth,
                wire::capabilities caps = client_caps) {
  byte_buffer attrs;
  wire::append_connect_attribute(attrs, "_client_name", "test");
  wire::append_connect_attribute(attrs, "program_name", "client_login_test");
  wire::handshake_response41 r;
  r.client_capabilities = caps;
  r.max_packet_size = 1 << 24;
  r.character_set = 33;
  r.username = user;
  r.auth_response = view(auth);
  r.database = "appdb";
  r.auth_plugin_name = plugin;
  r.connect_attributes = view(attrs);
  byte_buffer out;
  wire::encode_handshake_response41(out, seq, r);
  return take(out).at(0);
}

packet raw(std::uint8_t seq, const byte_buffer& payload) { return {seq, payload}; }

// What sluice sent, as kinds: "OK", "ERR", "MORE:<hex>", "SWITCH:<plugin>".
std::vector<std::string> kinds(const std::vector<packet>& packets) {
  std::vector<std::string> out;
  for (const auto& p : packets) {
    REQUIRE(!p.payload.empty());
    switch (p.payload[0]) {
      case wire::ok_header: out.push_back("OK"); break;
      case wire::err_header: out.push_back("ERR"); break;
      case wire::auth_more_data_header: out.push_back("MORE:" + std::to_string(p.payload.at(1))); break;
      case wire::auth_switch_header: {
        wire::auth_switch_request r;
        REQUIRE(wire::decode_auth_switch_request(view(p), r) == wire::codec_errc::ok);
        out.push_back("SWITCH:" + std::string(r.plugin_name));
        break;
      }
      default: out.push_back("?");
    }
  }
  return out;
}

std::string err_message(const packet& p, std::uint16_t expected_code, std::string_view expected_state) {
  wire::err_packet e;
  REQUIRE(wire::decode_err(view(p), wire::client_protocol_41, e) == wire::codec_errc::ok);
  CHECK(e.error_code == expected_code);
  CHECK(e.sqlstate == expected_state);
  return std::string(e.message);
}

// A scripted client: each step is a function of the packets sluice sent so far (the scrambles), giving
// the next packet to send, and what sluice must answer.
struct scripted_step {
  std::function<packet(const std::vector<packet>& sent_by_sluice)> make;
  step expect;
  std::vector<std::string> answer;  // kinds() of what sluice sends in reply
};

struct script {
  std::string name;
  bool tls = false;
  std::vector<scripted_step> steps;
};

struct run_result {
  step last = step::read;
  std::vector<packet> sent;  // every packet sluice sent, greeting first
  client_login_result result;
  client_login_refusal refusal;
};

// With `inject`, the packet at `at` is replaced and the run stops there. `must_refuse`: the replaced packet
// must end the login with exactly one ERR; otherwise (a truncation, which may leave a valid packet) the
// answer need only be well-formed.
run_result run(const script& s, std::size_t at = SIZE_MAX, const std::function<packet(const packet&)>& inject = {},
               bool must_refuse = true) {
  client_login login(test_client_params(s.tls), users());
  byte_buffer out;
  run_result r;
  REQUIRE(login.start(out) == step::read);
  r.sent = take(out);
  REQUIRE(r.sent.size() == 1);
  CHECK(r.sent[0].seq == 0);
  for (std::size_t i = 0; i < s.steps.size(); ++i) {
    const auto& st = s.steps[i];
    packet p = st.make(r.sent);
    if (i == at) p = inject(p);
    r.last = login.on_packet(p.seq, view(p), out);
    auto reply = take(out);
    // Every reply continues the sequence: the client's id + 1, + 2 ...
    for (std::size_t k = 0; k < reply.size(); ++k) CHECK(reply[k].seq == static_cast<std::uint8_t>(p.seq + 1 + k));
    r.sent.insert(r.sent.end(), reply.begin(), reply.end());
    if (i == at) {
      if (must_refuse) {
        CHECK(r.last == step::refused);
        CHECK(kinds(reply) == std::vector<std::string>{"ERR"});
      } else {
        CHECK((r.last == step::start_tls || !kinds(reply).empty()));  // some well-formed answer
      }
      break;
    }
    CHECK(r.last == st.expect);
    CHECK(kinds(reply) == st.answer);
  }
  r.result = login.result();
  r.refusal = login.refusal();
  return r;
}

const packet& greeting_of(const std::vector<packet>& sent) { return sent.at(0); }
// The scramble of the last AuthSwitchRequest sluice sent.
byte_buffer switch_scramble(const std::vector<packet>& sent) {
  wire::auth_switch_request r;
  REQUIRE(wire::decode_auth_switch_request(view(sent.back()), r) == wire::codec_errc::ok);
  return byte_buffer(r.plugin_data.begin(), r.plugin_data.end());
}

script one_step(std::string name, std::string user, std::string plugin, std::string password, bool use_sha2,
                step expect, std::vector<std::string> answer) {
  script s{std::move(name), false, {}};
  s.steps.push_back({[=](const std::vector<packet>& sent) {
                       const byte_buffer scramble = scramble_of(greeting_of(sent));
                       return response(1, user, plugin, use_sha2 ? sha2(password, scramble) : native(password, scramble));
                     },
                     expect, std::move(answer)});
  return s;
}

std::vector<script> scripts() {
  std::vector<script> all;
  const std::string native_plugin(mysql_native_password), sha2_plugin(caching_sha2_password);
  all.push_back(one_step("native, cleartext credential", "alice", native_plugin, "secret", false, step::authenticated, {"OK"}));
  all.push_back(one_step("native, stored hash", "hashed", native_plugin, "secret", false, step::authenticated, {"OK"}));
  all.push_back(one_step("native, no password", "nopass", native_plugin, "", false, step::authenticated, {"OK"}));
  all.push_back(one_step("caching_sha2 fast path, cleartext credential", "alice", sha2_plugin, "secret", true,
                         step::authenticated, {"MORE:3", "OK"}));
  all.push_back(one_step("caching_sha2 fast path, digest credential", "digest", sha2_plugin, "secret", true,
                         step::authenticated, {"MORE:3", "OK"}));
  {
    script s = one_step("caching_sha2 client, native hash only: switch to native", "hashed", sha2_plugin, "secret", true,
                        step::read, {"SWITCH:mysql_native_password"});
    s.steps.push_back({[](const std::vector<packet>& sent) { return raw(3, native("secret", switch_scramble(sent))); },
                       step::authenticated, {"OK"}});
    all.push_back(s);
  }
  {
    script s = one_step("native client, digest only: switch to caching_sha2", "digest", native_plugin, "secret", false,
                        step::read, {"SWITCH:caching_sha2_password"});
    s.steps.push_back({[](const std::vector<packet>& sent) { return raw(3, sha2("secret", switch_scramble(sent))); },
                       step::authenticated, {"MORE:3", "OK"}});
    all.push_back(s);
  }
  for (const std::string& first : {native_plugin, sha2_plugin, std::string("dialog")}) {
    // An ed25519 key only: switched to client_ed25519 with a 32-byte nonce (as MariaDB does).
    script s = one_step("stored ed25519 key, client starts with " + first, "ed", first, "secret", first == sha2_plugin,
                        step::read, {"SWITCH:client_ed25519"});
    s.steps.push_back({[](const std::vector<packet>& sent) {
                         const byte_buffer nonce = switch_scramble(sent);
                         REQUIRE(nonce.size() == 32);
                         return raw(3, ed_sign("secret", nonce));
                       },
                       step::authenticated, {"OK"}});
    all.push_back(s);
  }
  {
    // PyMySQL 1.0 hashes the switch's plugin data whole, trailing NUL included, into the nonce.
    script s = one_step("switch to caching_sha2, nonce with the NUL (PyMySQL 1.0)", "digest", native_plugin, "secret",
                        false, step::read, {"SWITCH:caching_sha2_password"});
    s.steps.push_back({[](const std::vector<packet>& sent) {
                         byte_buffer nonce = switch_scramble(sent);
                         REQUIRE(nonce.size() == 21);
                         sha256_digest d{};
                         REQUIRE(caching_sha2_scramble("secret", view(nonce), d));
                         return raw(3, byte_buffer(d.begin(), d.end()));
                       },
                       step::authenticated, {"MORE:3", "OK"}});
    all.push_back(s);
  }
  {
    script s = one_step("client_ed25519 client: switch to native", "alice", std::string(client_ed25519), "secret", false, step::read,
                        {"SWITCH:mysql_native_password"});
    s.steps.push_back({[](const std::vector<packet>& sent) { return raw(3, native("secret", switch_scramble(sent))); },
                       step::authenticated, {"OK"}});
    all.push_back(s);
  }
  {
    script s{"caching_sha2 full authentication over TLS (native hash only)", true, {}};
    s.steps.push_back({[](const std::vector<packet>&) {
                         byte_buffer out;
                         wire::encode_ssl_request(out, 1, {client_caps | wire::client_ssl, 1 << 24, 45});
                         return take(out).at(0);
                       },
                       step::start_tls, {}});
    s.steps.push_back({[](const std::vector<packet>& sent) {
                         return response(2, "hashed", caching_sha2_password, sha2("secret", scramble_of(sent.at(0))),
                                         client_caps | wire::client_ssl);
                       },
                       step::read, {"MORE:4"}});
    s.steps.push_back({[](const std::vector<packet>&) { return raw(4, byte_buffer{'s', 'e', 'c', 'r', 'e', 't', 0}); },
                       step::authenticated, {"OK"}});
    all.push_back(s);
  }
  return all;
}

}  // namespace

TEST_CASE("client_login: the greeting", "[mysql_auth][client_login]") {
  client_login_params params = test_client_params();
  params.server_version = "5.5.5-10.11.0-sluice";
  client_login login(params, users());
  byte_buffer out;
  REQUIRE(login.start(out) == step::read);
  const auto sent = take(out);
  REQUIRE(sent.size() == 1);
  wire::handshake_v10 h;
  REQUIRE(wire::decode_handshake_v10(view(sent[0]), h) == wire::codec_errc::ok);
  CHECK(h.server_version == "5.5.5-10.11.0-sluice");
  CHECK(h.connection_id == 4242);
  CHECK(h.auth_plugin_name == mysql_native_password);
  CHECK(h.character_set == wire::charset_utf8mb4_general_ci);
  CHECK((h.server_capabilities & wire::client_mysql) != 0);  // no MariaDB extended capabilities
  CHECK((h.server_capabilities >> 32) == 0);
  CHECK((h.server_capabilities & wire::client_compress) == 0);
  CHECK((h.server_capabilities & wire::client_ssl) == 0);
  CHECK((h.server_capabilities & wire::client_local_files) == 0);
  const byte_buffer scramble = scramble_of(sent[0]);
  REQUIRE(scramble.size() == 20);
  for (const auto b : scramble) {
    CHECK(b != 0);
    CHECK(b != '$');
    CHECK(b < 0x80);
  }
  // caching_sha2_password can be announced instead; other names fall back to mysql_native_password.
  for (const auto& [asked, announced] : {std::pair{"caching_sha2_password", "caching_sha2_password"},
                                         std::pair{"client_ed25519", "mysql_native_password"}}) {
    client_login_params p = test_client_params();
    p.auth_plugin = asked;
    client_login other(p, users());
    REQUIRE(other.start(out) == step::read);
    const auto greeting = take(out);  // h points into it
    REQUIRE(wire::decode_handshake_v10(view(greeting.at(0)), h) == wire::codec_errc::ok);
    CHECK(h.auth_plugin_name == announced);
  }
  // With TLS configured, CLIENT_SSL is offered.
  client_login tls(test_client_params(true), users());
  REQUIRE(tls.start(out) == step::read);
  REQUIRE(wire::decode_handshake_v10(view(take(out).at(0)), h) == wire::codec_errc::ok);
  CHECK((h.server_capabilities & wire::client_ssl) != 0);
}

TEST_CASE("client_login: scripted logins", "[mysql_auth][client_login]") {
  for (const auto& s : scripts()) {
    SECTION(s.name) {
      const auto r = run(s);
      CHECK(r.last == step::authenticated);
    }
  }
}

TEST_CASE("client_login: what the client gets to see", "[mysql_auth][client_login]") {
  const auto r = run(scripts().at(0));
  REQUIRE(r.last == step::authenticated);
  CHECK(r.result.user == "alice");
  CHECK(r.result.database == "appdb");
  CHECK(r.result.character_set == 33);
  CHECK(r.result.auth_plugin == mysql_native_password);
  CHECK(r.result.capabilities == (client_caps & default_client_login_capabilities));
  REQUIRE(r.result.connect_attributes.size() == 2);
  CHECK(r.result.connect_attributes[1] == std::pair<std::string, std::string>{"program_name", "client_login_test"});
  wire::ok_packet ok;
  REQUIRE(wire::decode_ok(view(r.sent.back()), r.result.capabilities, ok) == wire::codec_errc::ok);
  CHECK(ok.status_flags == wire::server_status_autocommit);
}

TEST_CASE("client_login: a real libmariadb HandshakeResponse41 (root, no password, db mysql)", "[mysql_auth][client_login]") {
  user_table root;
  root.users["root"] = cleartext("");
  client_login login(test_client_params(), root);
  byte_buffer out;
  REQUIRE(login.start(out) == step::read);
  out.clear();
  const auto p = split(wire::test::from_hex(wire::test::capture::handshake_response)).at(0);
  REQUIRE(login.on_packet(p.seq, view(p), out) == step::authenticated);
  CHECK(login.result().user == "root");
  CHECK(login.result().database == "mysql");
  CHECK(login.result().connect_attributes.size() == 2);
}

TEST_CASE("client_login: refusals never tell an unknown user from a wrong password", "[mysql_auth][client_login]") {
  const std::string native_plugin(mysql_native_password), sha2_plugin(caching_sha2_password);
  struct refused_case {
    script s;
    std::string message;
  };
  auto denied = [](std::string user, bool yes) {
    return "Access denied for user '" + user + "'@'127.0.0.1' (using password: " + (yes ? "YES" : "NO") + ")";
  };
  std::vector<refused_case> cases = {
      {one_step("native, wrong password", "alice", native_plugin, "wrong", false, step::refused, {"ERR"}), denied("alice", true)},
      {one_step("native, unknown user", "mallory", native_plugin, "wrong", false, step::refused, {"ERR"}), denied("mallory", true)},
      {one_step("native, stored hash, wrong", "hashed", native_plugin, "wrong", false, step::refused, {"ERR"}), denied("hashed", true)},
      {one_step("native, empty password for a user with one", "alice", native_plugin, "", false, step::refused, {"ERR"}), denied("alice", false)},
      {one_step("native, unknown user, no password", "mallory", native_plugin, "", false, step::refused, {"ERR"}), denied("mallory", false)},
      {one_step("native, password for a user without one", "nopass", native_plugin, "x", false, step::refused, {"ERR"}), denied("nopass", true)},
      {one_step("caching_sha2, wrong password", "alice", sha2_plugin, "wrong", true, step::refused, {"ERR"}), denied("alice", true)},
      {one_step("caching_sha2, digest, wrong", "digest", sha2_plugin, "wrong", true, step::refused, {"ERR"}), denied("digest", true)},
      {one_step("caching_sha2, unknown user", "mallory", sha2_plugin, "wrong", true, step::refused, {"ERR"}), denied("mallory", true)},
  };
  {
    // An unknown user with another plugin: switched like a real user, then refused.
    script s = one_step("ed25519 client, unknown user", "mallory", std::string(client_ed25519), "x", false, step::read,
                        {"SWITCH:mysql_native_password"});
    s.steps.push_back({[](const std::vector<packet>& sent) { return raw(3, native("x", switch_scramble(sent))); },
                       step::refused, {"ERR"}});
    cases.push_back({s, denied("mallory", true)});
    script w = one_step("ed25519 client, wrong password", "alice", std::string(client_ed25519), "x", false, step::read,
                        {"SWITCH:mysql_native_password"});
    w.steps.push_back({[](const std::vector<packet>& sent) { return raw(3, native("x", switch_scramble(sent))); },
                       step::refused, {"ERR"}});
    cases.push_back({w, denied("alice", true)});
    script ed = one_step("ed25519 key, wrong password", "ed", native_plugin, "x", false, step::read, {"SWITCH:client_ed25519"});
    ed.steps.push_back({[](const std::vector<packet>& sent) { return raw(3, ed_sign("x", switch_scramble(sent))); },
                        step::refused, {"ERR"}});
    cases.push_back({ed, denied("ed", true)});
    script sw = one_step("caching_sha2 client, native hash, wrong password after the switch", "hashed", sha2_plugin,
                         "x", true, step::read, {"SWITCH:mysql_native_password"});
    sw.steps.push_back({[](const std::vector<packet>& sent) { return raw(3, native("x", switch_scramble(sent))); },
                        step::refused, {"ERR"}});
    cases.push_back({sw, denied("hashed", true)});
  }
  for (const auto& c : cases) {
    SECTION(c.s.name) {
      const auto r = run(c.s);
      REQUIRE(r.last == step::refused);
      CHECK(err_message(r.sent.back(), 1045, "28000") == c.message);
      CHECK(r.refusal.code == errc::client_auth_failed);
      CHECK(r.refusal.error_number == 1045);
      CHECK(r.refusal.message == c.message);
    }
  }
  SECTION("caching_sha2 full authentication over TLS with a wrong password") {
    script s = scripts().back();
    s.steps.back().make = [](const std::vector<packet>&) { return raw(4, byte_buffer{'n', 'o', 0}); };
    s.steps.back().expect = step::refused;
    s.steps.back().answer = {"ERR"};
    const auto r = run(s);
    CHECK(r.last == step::refused);
    CHECK(err_message(r.sent.back(), 1045, "28000") == denied("hashed", true));
  }
}

TEST_CASE("client_login: SSLRequest, compression, old clients", "[mysql_auth][client_login]") {
  byte_buffer out;
  SECTION("SSLRequest when TLS is not configured") {
    client_login login(test_client_params(false), users());
    REQUIRE(login.start(out) == step::read);
    out.clear();
    byte_buffer ssl;
    wire::encode_ssl_request(ssl, 1, {client_caps | wire::client_ssl, 1 << 24, 45});
    const auto p = take(ssl).at(0);
    REQUIRE(login.on_packet(p.seq, view(p), out) == step::refused);
    CHECK(err_message(take(out).at(0), 1043, "08S01").find("TLS is not configured") != std::string::npos);
  }
  SECTION("compression requested") {
    client_login login(test_client_params(), users());
    REQUIRE(login.start(out) == step::read);
    const byte_buffer scramble = scramble_of(take(out).at(0));
    const auto p = response(1, "alice", mysql_native_password, native("secret", scramble), client_caps | wire::client_compress);
    REQUIRE(login.on_packet(p.seq, view(p), out) == step::refused);
    CHECK(err_message(take(out).at(0), 1043, "08S01").find("compressed protocol") != std::string::npos);
    CHECK(login.refusal().code == errc::client_protocol);
  }
  SECTION("a client without CLIENT_PLUGIN_AUTH logs in with the 4.1 scramble") {
    client_login login(test_client_params(), users());
    REQUIRE(login.start(out) == step::read);
    const byte_buffer scramble = scramble_of(take(out).at(0));
    const auto p = response(1, "alice", "", native("secret", scramble),
                            client_caps & ~wire::client_plugin_auth & ~wire::client_plugin_auth_lenenc_client_data);
    REQUIRE(login.on_packet(p.seq, view(p), out) == step::authenticated);
  }
  SECTION("a client without CLIENT_PROTOCOL_41") {
    client_login login(test_client_params(), users());
    REQUIRE(login.start(out) == step::read);
    out.clear();
    const auto p = response(1, "alice", mysql_native_password, byte_buffer{}, client_caps & ~wire::client_protocol_41);
    REQUIRE(login.on_packet(p.seq, view(p), out) == step::refused);
    CHECK(err_message(take(out).at(0), 1043, "08S01").find("CLIENT_PROTOCOL_41") != std::string::npos);
  }
  SECTION("packets before start() or after the end") {
    client_login login(test_client_params(), users());
    const auto p = response(1, "alice", mysql_native_password, byte_buffer{});
    CHECK(login.on_packet(p.seq, view(p), out) == step::refused);
    CHECK(login.start(out) == step::refused);
  }
  SECTION("no entropy") {
    client_login_params params = test_client_params();
    params.random = [](std::span<std::uint8_t>) { return false; };
    client_login login(params, users());
    CHECK(login.start(out) == step::refused);
  }
}

TEST_CASE("client_login: an error injected at each client packet of each script", "[mysql_auth][client_login]") {
  for (const auto& s : scripts()) {
    for (std::size_t at = 0; at < s.steps.size(); ++at) {
      SECTION("wrong sequence id: " + s.name + " #" + std::to_string(at)) {
        for (int delta : {1, 2, 255}) {
          const auto r = run(s, at, [delta](const packet& p) { return packet{static_cast<std::uint8_t>(p.seq + delta), p.payload}; });
          CHECK(r.refusal.error_number == 1156);
          CHECK(r.refusal.code == sluice::errc::client_protocol);
        }
      }
      SECTION("garbage: " + s.name + " #" + std::to_string(at)) {
        // A first packet of garbage is a bad handshake; later ones are wrong auth data (refused either way).
        for (const byte_buffer& junk : {byte_buffer{}, byte_buffer{0x42}, byte_buffer(40, 0xff), byte_buffer{0x02}}) {
          const auto r = run(s, at, [&junk](const packet& p) { return packet{p.seq, junk}; });
          CHECK(r.last == step::refused);
        }
      }
      SECTION("truncated: " + s.name + " #" + std::to_string(at)) {
        // Every cut of the packet: refused, except cuts that leave a valid packet (the HandshakeResponse41
        // without its optional trailing fields, the password without its NUL), which must then log in
        // the same user as the whole packet, or be refused.
        const auto whole = run(s);
        for (std::size_t cut = 0;; ++cut) {
          std::size_t size = 0;
          const auto r = run(
              s, at,
              [&](const packet& p) {
                size = p.payload.size();
                return packet{p.seq, byte_buffer(p.payload.begin(), p.payload.begin() + static_cast<std::ptrdiff_t>(std::min(cut, size)))};
              },
              false);
          if (cut >= size) break;
          CAPTURE(cut);
          if (r.last == step::authenticated) CHECK(r.result.user == whole.result.user);
        }
      }
    }
  }
}

TEST_CASE("server_login against client_login", "[mysql_auth][client_login][server_login][loopback]") {
  struct loop_case {
    std::string name;
    std::string user;
    std::string password;
    bool tls = false;
    bool expect_ok = true;
    std::string plugin;  // the plugin that authenticated
  };
  const std::vector<loop_case> cases = {
      {"cleartext user", "alice", "secret", false, true, "mysql_native_password"},
      {"stored native hash", "hashed", "secret", false, true, "mysql_native_password"},
      {"sha2 digest only: switched to caching_sha2_password", "digest", "secret", false, true, "caching_sha2_password"},
      {"no password", "nopass", "", false, true, "mysql_native_password"},
      {"over TLS", "alice", "secret", true, true, "mysql_native_password"},
      {"wrong password", "alice", "nope", false, false, ""},
      {"unknown user", "mallory", "secret", false, false, ""},
      {"sha2 digest, wrong password", "digest", "nope", false, false, ""},
      {"ed25519 key only: switched to client_ed25519", "ed", "secret", false, true, "client_ed25519"},
      {"ed25519 key, wrong password", "ed", "nope", false, false, ""},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      client_login cl(test_client_params(c.tls), users());
      server_login sl(test_server_params(c.user, c.password, c.tls));
      const auto r = loopback(sl, cl);
      CHECK(r.tls_started == c.tls);
      if (c.expect_ok) {
        CHECK(r.front_side == step::authenticated);
        REQUIRE(r.backend_side == server_login::step::done);
        CHECK(sl.session().auth_plugin == c.plugin);
        CHECK(cl.result().auth_plugin == c.plugin);
        CHECK(sl.session().thread_id == 4242);
        CHECK(cl.result().user == c.user);
        CHECK(cl.result().database == "appdb");
        CHECK(cl.result().capabilities == sl.session().capabilities);
        CHECK(cl.result().connect_attributes ==
              std::vector<std::pair<std::string, std::string>>{{"program_name", "sluice"}});
      } else {
        CHECK(r.front_side == step::refused);
        REQUIRE(r.backend_side == server_login::step::failed);
        CHECK(sl.error().code == errc::server_auth_failed);
        CHECK(sl.error().server_errno == 1045);
        CHECK(sl.error().sqlstate == "28000");
        CHECK(sl.error().message == cl.refusal().message);
      }
    }
  }
}

namespace {

// A logged-in machine (alice, native password) and its greeting's scramble.
struct logged_in {
  client_login login{test_client_params(), users()};
  byte_buffer scramble;
  logged_in() {
    byte_buffer out;
    REQUIRE(login.start(out) == step::read);
    scramble = scramble_of(take(out).at(0));
    const auto hello = response(1, "alice", mysql_native_password, native("secret", scramble));
    REQUIRE(login.on_packet(hello.seq, view(hello), out) == step::authenticated);
    take(out);
  }
};

packet change_user_packet(std::string_view user, std::string_view plugin, const byte_buffer& auth,
                          std::string_view database = "otherdb") {
  wire::change_user request;
  request.username = user;
  request.auth_response = view(auth);
  request.database = database;
  request.has_character_set = true;
  request.character_set = 45;
  request.auth_plugin_name = plugin;
  byte_buffer out;
  wire::encode_change_user(out, 0, client_caps & default_client_login_capabilities, request);
  return take(out).at(0);
}

}  // namespace

TEST_CASE("client_login: COM_CHANGE_USER authenticates against the login's scramble", "[mysql_auth][client_login]") {
  logged_in session;
  byte_buffer out;
  wire::change_user request;
  const auto caps = session.login.result().capabilities;

  SECTION("the right password for another user: OK (sequence id 1), the new user and database") {
    const auto p = change_user_packet("hashed", mysql_native_password, native("secret", session.scramble));
    REQUIRE(wire::decode_change_user(view(p), caps, request) == wire::codec_errc::ok);
    REQUIRE(session.login.change_user(request, out) == step::authenticated);
    const auto sent = take(out);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].seq == 1);
    CHECK(kinds(sent) == std::vector<std::string>{"OK"});
    CHECK(session.login.result().user == "hashed");
    CHECK(session.login.result().database == "otherdb");
    CHECK(session.login.result().character_set == 45);
  }
  SECTION("a wrong password or an unknown user: 1045, and the machine accepts nothing more") {
    for (const auto* user : {"alice", "nobody"}) {
      logged_in other;
      const auto p = change_user_packet(user, mysql_native_password, native("wrong", other.scramble));
      REQUIRE(wire::decode_change_user(view(p), caps, request) == wire::codec_errc::ok);
      REQUIRE(other.login.change_user(request, out) == step::refused);
      const auto sent = take(out);
      REQUIRE(sent.size() == 1);
      CHECK(sent[0].seq == 1);
      CHECK(err_message(sent[0], 1045, "28000").find("Access denied") != std::string::npos);
      REQUIRE(other.login.change_user(request, out) == step::refused);  // not after a refusal
      take(out);
    }
  }
  SECTION("a user whose credential is another plugin's is switched, with a new scramble") {
    const auto p = change_user_packet("digest", mysql_native_password, native("secret", session.scramble));
    REQUIRE(wire::decode_change_user(view(p), caps, request) == wire::codec_errc::ok);
    REQUIRE(session.login.change_user(request, out) == step::read);
    const auto sent = take(out);
    REQUIRE(kinds(sent) == std::vector<std::string>{"SWITCH:caching_sha2_password"});
    CHECK(sent[0].seq == 1);
    const auto nonce = switch_scramble(sent);
    const auto answer = raw(2, sha2("secret", nonce));
    REQUIRE(session.login.on_packet(answer.seq, view(answer), out) == step::authenticated);
    CHECK(kinds(take(out)) == std::vector<std::string>{"MORE:3", "OK"});
    CHECK(session.login.result().user == "digest");
  }
}
