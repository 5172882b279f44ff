// client_login serving real clients: logs each connection on 127.0.0.1 in with client_login, then answers
// COM_QUERY with one row naming the user, database and plugin (SET gets an OK), COM_PING with OK, COM_QUIT
// by closing. Driven by client_login_test.py with the mariadb CLI and PyMySQL.
//
// Usage: login_server_probe [mysql_native_password|caching_sha2_password]; prints "port N" (ephemeral).
// Users: sluice_app (the stored hash of app_pw, as MariaDB's mysql.user holds it), clear_user (cleartext
// clear_pw), sha2_user (only the caching_sha2_password digest of sha2_pw), ed_user (only the ed25519 key
// of ed_pw, as MariaDB's mysql.user holds it).
#include "backends/mysql/auth/caching_sha2.hpp"
#include "backends/mysql/auth/client_login.hpp"
#include "backends/mysql/auth/ed25519.hpp"
#include "backends/mysql/auth/native_password.hpp"
#include "backends/mysql/wire/command.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/payload_writer.hpp"
#include "backends/mysql/wire/resultset.hpp"
#include "integration/tests/mysql/probe_socket.hpp"

#include <cctype>
#include <iostream>
#include <map>
#include <string>

namespace {

namespace auth = sluice::backends::mysql::auth;
namespace wire = sluice::backends::mysql::wire;

struct users_table : auth::credential_lookup {
  std::map<std::string, auth::client_credential, std::less<>> users;
  const auth::client_credential* find(std::string_view user) const override {
    const auto it = users.find(user);
    return it == users.end() ? nullptr : &it->second;
  }
};

void answer_row(wire::byte_buffer& out, wire::capabilities caps, const std::string& value) {
  std::uint8_t seq = 1;
  seq = wire::encode_column_count(out, seq, caps, {1, true});
  wire::column_definition column;
  column.catalog = "def";
  column.name = "probe";
  column.org_name = "probe";
  column.character_set = wire::charset_utf8mb4_general_ci;
  column.column_length = 1024;
  column.type = wire::mysql_type_var_string;
  seq = wire::encode_column_definition(out, seq, caps, column);
  const bool deprecate_eof = (caps & wire::client_deprecate_eof) != 0;
  if (!deprecate_eof) seq = wire::encode_eof(out, seq, caps, {0, wire::server_status_autocommit});
  wire::byte_buffer row;
  wire::payload_writer(row).lenenc_string(value);
  seq = wire::write_message(out, wire::bytes_view(row.data(), row.size()), seq);
  if (deprecate_eof) {
    wire::ok_packet ok;
    ok.eof_header = true;
    ok.status_flags = wire::server_status_autocommit;
    wire::encode_ok(out, seq, caps, ok);
  } else {
    wire::encode_eof(out, seq, caps, {0, wire::server_status_autocommit});
  }
}

void serve(int fd, const auth::client_login_params& params, const users_table& users) {
  auth::client_login login(params, users);
  wire::byte_buffer out, buffer;
  auto step = login.start(out);
  for (;;) {
    if (!out.empty() && !sluice::probe::write_all(fd, out)) return;
    out.clear();
    if (step == auth::client_login::step::refused) {
      std::cout << "refused " << login.refusal().error_number << " " << login.refusal().message << std::endl;
      return;
    }
    if (step == auth::client_login::step::authenticated) break;
    if (step == auth::client_login::step::start_tls) return;  // no TLS in this probe
    const auto packet = sluice::probe::read_one(fd, buffer);
    if (!packet) return;
    step = login.on_packet(packet->sequence_id, wire::bytes_view(packet->payload.data(), packet->payload.size()), out);
  }
  const auto& who = login.result();
  std::cout << "authenticated " << who.user << " plugin " << who.auth_plugin << std::endl;
  const std::string value = "user=" + who.user + " db=" + who.database + " plugin=" + who.auth_plugin;
  for (;;) {
    const auto packet = sluice::probe::read_one(fd, buffer);
    if (!packet) return;
    wire::command_view command;
    if (wire::decode_command(wire::bytes_view(packet->payload.data(), packet->payload.size()), command) !=
        wire::codec_errc::ok)
      return;
    if (command.command == wire::com_quit) return;
    if (command.command == wire::com_query) {
      const std::string sql(wire::as_text(command.body));
      std::string head;
      for (char c : sql.substr(0, 3)) head.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      if (head == "SET") {
        wire::encode_ok(out, 1, who.capabilities, {0, 0, wire::server_status_autocommit, 0, {}, {}, false});
      } else {
        answer_row(out, who.capabilities, value);
      }
    } else if (command.command == wire::com_ping || command.command == wire::com_init_db) {
      wire::encode_ok(out, 1, who.capabilities, {0, 0, wire::server_status_autocommit, 0, {}, {}, false});
    } else {
      wire::encode_err(out, 1, who.capabilities, 1047, "08S01", "Unknown command");
    }
    if (!sluice::probe::write_all(fd, out)) return;
    out.clear();
  }
}

}  // namespace

int main(int argc, char** argv) {
  users_table users;
  auth::client_credential app;
  app.native_stage2 = auth::parse_native_password_hash("*95BE1A04B76EE9AB97CEE8436421F2D15539B738");  // app_pw
  users.users["sluice_app"] = app;
  auth::client_credential clear;
  clear.password = "clear_pw";
  users.users["clear_user"] = clear;
  auth::client_credential sha2;
  auth::sha256_digest digest{};
  if (!auth::caching_sha2_digest("sha2_pw", digest)) return 2;
  sha2.sha2_digest = digest;
  users.users["sha2_user"] = sha2;
  auth::client_credential ed;
  ed.ed25519_key = auth::parse_mariadb_ed25519_stored("Ja9tPNgS2M8rVcnVPVLbVfVStJ9vZg0uPIwwjFYhnfI");  // ed_pw
  users.users["ed_user"] = ed;

  auth::client_login_params params;
  params.server_version = "5.5.5-10.11.0-sluice-probe";
  if (argc > 1) params.auth_plugin = argv[1];

  std::uint16_t port = 0;
  const int listener = sluice::probe::listen_loopback(port);
  if (listener < 0) {
    std::cerr << "login_server_probe: cannot listen\n";
    return 2;
  }
  std::cout << "port " << port << std::endl;
  for (std::uint32_t id = 1;; ++id) {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    sluice::probe::set_timeouts(fd, 10);
    params.thread_id = id;
    serve(fd, params, users);
    close(fd);
  }
}
