// server_login (sluice logging in to a backend), driven sans-IO by scripted servers: the real MariaDB
// 10.11 greeting, mysql_native_password, caching_sha2_password fast and full (TLS only), an AuthSwitchRequest
// to client_ed25519 and to mysql_native_password, ERR at each point; then every script again with a
// wrong sequence id, garbage, and every truncation injected at each server packet in turn.
#include "backends/mysql/auth/ed25519.hpp"
#include "backends/mysql/auth/plugin_names.hpp"
#include "tests/backends/mysql/auth/auth_test_util.hpp"

#include <functional>

using namespace sluice::backends::mysql::auth;
using namespace sluice::backends::mysql::auth::test;
namespace wire = sluice::backends::mysql::wire;
using sluice::errc;
using step = server_login::step;

namespace {

byte_buffer scramble20() {
  byte_buffer s;
  for (int i = 1; i <= 20; ++i) s.push_back(static_cast<std::uint8_t>(i));
  return s;
}
byte_buffer scramble32() {
  byte_buffer s;
  for (int i = 0; i < 32; ++i) s.push_back(static_cast<std::uint8_t>(0x30 + i));
  return s;
}

// Server capabilities of a MySQL 8 server (client_mysql set) and of MariaDB 10.11 (unset, extended bits).
constexpr wire::capabilities mysql8_caps =
    wire::client_mysql | wire::client_found_rows | wire::client_long_flag | wire::client_connect_with_db |
    wire::client_protocol_41 | wire::client_transactions | wire::client_secure_connection | wire::client_ssl |
    wire::client_multi_statements | wire::client_multi_results | wire::client_ps_multi_results |
    wire::client_plugin_auth | wire::client_connect_attrs | wire::client_plugin_auth_lenenc_client_data |
    wire::client_session_track | wire::client_deprecate_eof | wire::client_compress;
constexpr wire::capabilities mariadb_caps = (mysql8_caps & ~wire::client_mysql) | wire::mariadb_client_progress |
                                            wire::mariadb_client_stmt_bulk_operations;

packet greeting(std::string_view plugin, const byte_buffer& scramble, wire::capabilities caps = mysql8_caps) {
  wire::handshake_v10 h;
  h.server_version = "8.0.36";
  h.connection_id = 777;
  h.auth_plugin_data_part1 = view(scramble).first(8);
  h.auth_plugin_data_part2 = view(scramble).subspan(8);
  h.server_capabilities = caps;
  h.character_set = 255;
  h.status_flags = wire::server_status_autocommit;
  h.auth_plugin_name = plugin;
  byte_buffer out;
  wire::encode_handshake_v10(out, 0, h);
  return take(out).at(0);
}

packet ok_packet(std::uint8_t seq) {
  // The minimal OK (7 bytes): every proper prefix is malformed.
  return {seq, wire::test::from_hex("00000002000000")};
}
packet err_packet(std::uint8_t seq, std::uint16_t code, std::string_view sqlstate, std::string_view message) {
  byte_buffer out;
  wire::encode_err(out, seq, wire::client_protocol_41, code, sqlstate, message);
  return take(out).at(0);
}
packet auth_switch(std::uint8_t seq, std::string_view plugin, const byte_buffer& data) {
  byte_buffer out;
  wire::encode_auth_switch_request(out, seq, plugin, view(data));
  return take(out).at(0);
}
packet more_data(std::uint8_t seq, std::uint8_t code) {
  byte_buffer out;
  const std::uint8_t data[] = {code};
  wire::encode_auth_more_data(out, seq, data);
  return take(out).at(0);
}

wire::handshake_response41 decode_response(const packet& p) {
  wire::handshake_response41 r;
  REQUIRE(wire::decode_handshake_response41(view(p), r) == wire::codec_errc::ok);
  return r;
}

// A scripted server: the packets it sends, each followed by a check of what sluice sent back.
struct scripted_step {
  packet from_server;
  step expect;
  std::function<void(const std::vector<packet>&)> check_reply;  // may be empty
};

struct script {
  std::string name;
  server_login_params params;
  std::vector<scripted_step> steps;
};

// Runs a script; with `inject` the packet at index `at` is replaced by what inject returns, and the run
// stops there, returning the machine's step.
step run(const script& s, std::size_t at = SIZE_MAX, const std::function<packet(const packet&)>& inject = {}) {
  server_login login(s.params);
  byte_buffer out;
  step last = step::read;
  for (std::size_t i = 0; i < s.steps.size(); ++i) {
    const auto& st = s.steps[i];
    if (i == at) {
      const packet bad = inject(st.from_server);
      return login.on_packet(bad.seq, view(bad), out);
    }
    last = login.on_packet(st.from_server.seq, view(st.from_server), out);
    REQUIRE(last == st.expect);
    if (last == step::start_tls) {
      const auto ssl = take(out);
      REQUIRE(ssl.size() == 1);
      CHECK(ssl[0].seq == 1);
      CHECK(wire::is_ssl_request(view(ssl[0])));
      last = login.continue_after_tls(out);
      REQUIRE(last == step::read);
    }
    const auto reply = take(out);
    if (st.check_reply) st.check_reply(reply);
  }
  return last;
}

std::vector<script> scripts() {
  std::vector<script> all;
  const byte_buffer s20 = scramble20();
  {
    script s{"mysql_native_password", test_server_params("app", "app_pw"), {}};
    s.steps.push_back({greeting(mysql_native_password, s20), step::read, [s20](const std::vector<packet>& reply) {
                         REQUIRE(reply.size() == 1);
                         CHECK(reply[0].seq == 1);
                         const auto r = decode_response(reply[0]);
                         CHECK(r.username == "app");
                         CHECK(r.database == "appdb");
                         CHECK(r.auth_plugin_name == mysql_native_password);
                         CHECK(r.character_set == wire::charset_utf8mb4_general_ci);
                         // python3 hashlib (see crypto_test.cpp): native response of app_pw to 01..14.
                         CHECK(wire::test::to_vector(r.auth_response) ==
                               wire::test::from_hex("8bb2dd0d2a7411fea31ad816d01e681069f63a43"));
                         CHECK((r.client_capabilities & wire::client_compress) == 0);
                         CHECK((r.client_capabilities & wire::client_ssl) == 0);
                         CHECK((r.client_capabilities & wire::client_connect_with_db) != 0);
                         CHECK((r.client_capabilities & wire::client_deprecate_eof) == 0);  // not asked for
                         wire::connect_attribute_reader attrs(r.connect_attributes);
                         std::string_view key, value;
                         REQUIRE(attrs.next(key, value));
                         CHECK(key == "program_name");
                         CHECK(value == "sluice");
                       }});
    s.steps.push_back({ok_packet(2), step::done, {}});
    all.push_back(s);
  }
  {
    script s{"caching_sha2_password fast path", test_server_params("app", "app_pw"), {}};
    s.steps.push_back({greeting(caching_sha2_password, s20), step::read, [](const std::vector<packet>& reply) {
                         REQUIRE(reply.size() == 1);
                         const auto r = decode_response(reply[0]);
                         CHECK(r.auth_plugin_name == caching_sha2_password);
                         CHECK(wire::test::to_vector(r.auth_response) ==
                               wire::test::from_hex("cf98a6d7b6fd67e9f6e4a5d82c104022ff9c3a394a884e5adcb2c37d2c3be94b"));
                       }});
    s.steps.push_back({more_data(2, caching_sha2_fast_auth_success), step::read,
                       [](const std::vector<packet>& reply) { CHECK(reply.empty()); }});
    s.steps.push_back({ok_packet(3), step::done, {}});
    all.push_back(s);
  }
  {
    script s{"caching_sha2_password full authentication over TLS", test_server_params("app", "app_pw", true), {}};
    s.steps.push_back({greeting(caching_sha2_password, s20), step::start_tls, [](const std::vector<packet>& reply) {
                         REQUIRE(reply.size() == 1);
                         CHECK(reply[0].seq == 2);
                         CHECK((decode_response(reply[0]).client_capabilities & wire::client_ssl) != 0);
                       }});
    s.steps.push_back({more_data(3, caching_sha2_perform_full_auth), step::read, [](const std::vector<packet>& reply) {
                         REQUIRE(reply.size() == 1);
                         CHECK(reply[0].seq == 4);
                         CHECK(wire::test::text(view(reply[0])) == std::string("app_pw\0", 7));
                       }});
    s.steps.push_back({ok_packet(5), step::done, {}});
    all.push_back(s);
  }
  {
    script s{"switch to client_ed25519 (MariaDB)", test_server_params("ed", "ed_pw"), {}};
    s.params.capabilities |= wire::mariadb_client_progress;
    const byte_buffer s32 = scramble32();
    s.steps.push_back({greeting(mysql_native_password, s20, mariadb_caps), step::read,
                       [](const std::vector<packet>& reply) {
                         const auto r = decode_response(reply.at(0));
                         // MariaDB's extended capabilities travel only between MariaDB peers.
                         CHECK((r.client_capabilities & wire::client_mysql) == 0);
                         CHECK((r.client_capabilities & wire::mariadb_client_progress) != 0);
                         CHECK((r.client_capabilities & wire::mariadb_client_stmt_bulk_operations) == 0);
                       }});
    s.steps.push_back({auth_switch(2, client_ed25519, s32), step::read, [s32](const std::vector<packet>& reply) {
                         REQUIRE(reply.size() == 1);
                         CHECK(reply[0].seq == 3);
                         REQUIRE(reply[0].payload.size() == 64);
                         const auto key = parse_mariadb_ed25519_stored(mariadb_ed25519_stored("ed_pw"));
                         REQUIRE(key);
                         CHECK(ed25519_verify(*key, view(s32), view(reply[0])));
                       }});
    s.steps.push_back({ok_packet(4), step::done, {}});
    all.push_back(s);
  }
  {
    script s{"switch to mysql_native_password (scramble + NUL)", test_server_params("app", "app_pw"), {}};
    byte_buffer data = s20;
    data.push_back(0);
    s.steps.push_back({greeting(caching_sha2_password, scramble32()), step::read, {}});
    s.steps.push_back({auth_switch(2, mysql_native_password, data), step::read, [](const std::vector<packet>& reply) {
                         REQUIRE(reply.size() == 1);
                         CHECK(reply[0].seq == 3);
                         CHECK(reply[0].payload == wire::test::from_hex("8bb2dd0d2a7411fea31ad816d01e681069f63a43"));
                       }});
    s.steps.push_back({ok_packet(4), step::done, {}});
    all.push_back(s);
  }
  {
    script s{"no password", test_server_params("app", ""), {}};
    s.steps.push_back({greeting(mysql_native_password, s20), step::read, [](const std::vector<packet>& reply) {
                         CHECK(decode_response(reply.at(0)).auth_response.empty());
                       }});
    s.steps.push_back({ok_packet(2), step::done, {}});
    all.push_back(s);
  }
  return all;
}

}  // namespace

TEST_CASE("server_login: scripted logins", "[mysql_auth][server_login]") {
  for (const auto& s : scripts()) {
    SECTION(s.name) { CHECK(run(s) == step::done); }
  }
}

TEST_CASE("server_login: the session it reports", "[mysql_auth][server_login]") {
  server_login login(test_server_params("app", "app_pw"));
  byte_buffer out;
  REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, scramble20())), out) == step::read);
  const packet ok = {2, wire::test::from_hex("0000000300000000")};  // autocommit + in trans, 0 warnings
  REQUIRE(login.on_packet(ok.seq, view(ok), out) == step::done);
  CHECK(login.session().thread_id == 777);
  CHECK(login.session().server_version == "8.0.36");
  CHECK(login.session().status_flags == 3);
  CHECK(login.session().auth_plugin == mysql_native_password);
  CHECK(login.session().server_capabilities == mysql8_caps);
  CHECK((login.session().capabilities & ~login.session().server_capabilities) == 0);
  // After done, anything more is refused.
  CHECK(login.on_packet(3, view(ok), out) == step::failed);
}

TEST_CASE("server_login: a real MariaDB 10.11 greeting", "[mysql_auth][server_login]") {
  const byte_buffer wire_bytes = wire::test::from_hex(wire::test::capture::handshake);
  const auto greeting_packet = split(wire_bytes).at(0);
  server_login login(test_server_params("sluice_app", "app_pw"));
  byte_buffer out;
  REQUIRE(login.on_packet(greeting_packet.seq, view(greeting_packet), out) == step::read);
  CHECK(login.session().server_version == "5.5.5-10.11.19-MariaDB-0+deb12u1");
  const auto reply = take(out);
  const auto r = decode_response(reply.at(0));
  CHECK(r.auth_plugin_name == mysql_native_password);
  CHECK(r.auth_response.size() == 20);
  CHECK((r.client_capabilities & wire::client_mysql) == 0);  // MariaDB server: CLIENT_MYSQL unset on both sides
}

TEST_CASE("server_login: refusals and failures", "[mysql_auth][server_login]") {
  const byte_buffer s20 = scramble20();
  byte_buffer out;
  SECTION("ERR instead of the greeting (too many connections)") {
    server_login login(test_server_params("app", "app_pw"));
    const auto err = err_packet(0, 1040, "08004", "Too many connections");
    REQUIRE(login.on_packet(0, view(err), out) == step::failed);
    CHECK(login.error().code == errc::server_error);
    CHECK(login.error().server_errno == 1040);
    CHECK(login.error().sqlstate == "08004");
    CHECK(login.error().message == "Too many connections");
  }
  SECTION("wrong password: 1045") {
    server_login login(test_server_params("app", "bad"));
    REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, s20)), out) == step::read);
    const auto err = err_packet(2, 1045, "28000", "Access denied for user 'app'@'localhost' (using password: YES)");
    REQUIRE(login.on_packet(2, view(err), out) == step::failed);
    CHECK(login.error().code == errc::server_auth_failed);
    CHECK(login.error().server_errno == 1045);
    CHECK(login.error().sqlstate == "28000");
  }
  SECTION("caching_sha2_password full authentication without TLS is refused clearly") {
    server_login login(test_server_params("app", "app_pw"));
    REQUIRE(login.on_packet(0, view(greeting(caching_sha2_password, s20)), out) == step::read);
    out.clear();
    const auto full = more_data(2, caching_sha2_perform_full_auth);
    REQUIRE(login.on_packet(2, view(full), out) == step::failed);
    CHECK(out.empty());  // the password is not sent
    CHECK(login.error().code == errc::server_unsupported_auth);
    CHECK(login.error().message.find("only over TLS") != std::string::npos);
    CHECK(login.error().message.find("RSA") != std::string::npos);
  }
  SECTION("TLS wanted but not offered") {
    server_login login(test_server_params("app", "app_pw", true));
    REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, s20, mysql8_caps & ~wire::client_ssl)), out) ==
            step::failed);
    CHECK(login.error().code == errc::server_unsupported_auth);
  }
  SECTION("a server without plugin auth") {
    server_login login(test_server_params("app", "app_pw"));
    REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, s20, mysql8_caps & ~wire::client_plugin_auth)),
                            out) == step::failed);
    CHECK(login.error().code == errc::server_unsupported_auth);
  }
  SECTION("an unknown plugin in the greeting: answered with mysql_native_password") {
    server_login login(test_server_params("app", "app_pw"));
    REQUIRE(login.on_packet(0, view(greeting("dialog", s20)), out) == step::read);
    CHECK(decode_response(take(out).at(0)).auth_plugin_name == mysql_native_password);
  }
  SECTION("switch to an unsupported plugin, to the old password, to cleartext without TLS; twice") {
    for (const auto& [plugin, code] : {std::pair{std::string("dialog"), errc::server_unsupported_auth},
                                       std::pair{std::string(mysql_clear_password), errc::server_unsupported_auth}}) {
      server_login login(test_server_params("app", "app_pw"));
      REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, s20)), out) == step::read);
      REQUIRE(login.on_packet(2, view(auth_switch(2, plugin, s20)), out) == step::failed);
      CHECK(login.error().code == code);
    }
    server_login old(test_server_params("app", "app_pw"));
    REQUIRE(old.on_packet(0, view(greeting(mysql_native_password, s20)), out) == step::read);
    const packet bare = {2, {0xfe}};
    REQUIRE(old.on_packet(2, view(bare), out) == step::failed);
    CHECK(old.error().code == errc::server_unsupported_auth);

    server_login twice(test_server_params("app", "app_pw"));
    REQUIRE(twice.on_packet(0, view(greeting(mysql_native_password, s20)), out) == step::read);
    REQUIRE(twice.on_packet(2, view(auth_switch(2, mysql_native_password, s20)), out) == step::read);
    REQUIRE(twice.on_packet(4, view(auth_switch(4, mysql_native_password, s20)), out) == step::failed);
    CHECK(twice.error().code == errc::server_protocol);
  }
  SECTION("switch with a scramble of the wrong size") {
    server_login login(test_server_params("ed", "ed_pw"));
    REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, s20)), out) == step::read);
    REQUIRE(login.on_packet(2, view(auth_switch(2, client_ed25519, s20)), out) == step::failed);
    CHECK(login.error().code == errc::server_protocol);
  }
  SECTION("AuthMoreData for mysql_native_password, or an unknown caching_sha2 status") {
    server_login login(test_server_params("app", "app_pw"));
    REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, s20)), out) == step::read);
    REQUIRE(login.on_packet(2, view(more_data(2, caching_sha2_fast_auth_success)), out) == step::failed);
    CHECK(login.error().code == errc::server_protocol);
    server_login sha2(test_server_params("app", "app_pw"));
    REQUIRE(sha2.on_packet(0, view(greeting(caching_sha2_password, s20)), out) == step::read);
    REQUIRE(sha2.on_packet(2, view(more_data(2, 0x07)), out) == step::failed);
    CHECK(sha2.error().code == errc::server_protocol);
  }
  SECTION("a packet while TLS is being set up, and continue_after_tls out of turn") {
    server_login login(test_server_params("app", "app_pw", true));
    REQUIRE(login.on_packet(0, view(greeting(mysql_native_password, s20)), out) == step::start_tls);
    REQUIRE(login.on_packet(2, view(ok_packet(2)), out) == step::failed);
    server_login early(test_server_params("app", "app_pw"));
    CHECK(early.continue_after_tls(out) == step::failed);
  }
}

TEST_CASE("server_login: an error injected at each server packet of each script", "[mysql_auth][server_login]") {
  for (const auto& s : scripts()) {
    for (std::size_t at = 0; at < s.steps.size(); ++at) {
      CAPTURE(s.name, at);
      SECTION("wrong sequence id: " + s.name + " #" + std::to_string(at)) {
        for (int delta : {1, 2, 255}) {
          const step got = run(s, at, [delta](const packet& p) {
            packet bad = p;
            bad.seq = static_cast<std::uint8_t>(p.seq + delta);
            return bad;
          });
          CHECK(got == step::failed);
        }
      }
      SECTION("garbage: " + s.name + " #" + std::to_string(at)) {
        for (const byte_buffer& junk : {byte_buffer{}, byte_buffer{0x42, 0x42}, byte_buffer{0xff},
                                        byte_buffer{0xff, 0x15, 0x04}, byte_buffer{0x0a}, byte_buffer{0x01}}) {
          CHECK(run(s, at, [&junk](const packet& p) { return packet{p.seq, junk}; }) == step::failed);
        }
      }
      SECTION("truncated: " + s.name + " #" + std::to_string(at)) {
        const std::size_t size = s.steps[at].from_server.payload.size();
        for (std::size_t cut = 0; cut < size; ++cut) {
          CAPTURE(cut);
          const step got = run(s, at, [cut](const packet& p) {
            return packet{p.seq, byte_buffer(p.payload.begin(), p.payload.begin() + static_cast<std::ptrdiff_t>(cut))};
          });
          // A cut packet never completes a login (a cut greeting may still be answerable: its trailing
          // fields are optional in the format).
          CHECK(got != step::done);
        }
      }
    }
  }
}
