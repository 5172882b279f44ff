// server_login against a real MariaDB 10.11 (the sandbox's primary) over a blocking socket: native and
// client_ed25519 logins, wrong passwords refused with 1045, a COM_QUERY answered after login. TAP output.
//
// Where: MARIADB_PRIMARY_PORT, MARIADB_APP_USER/_PASSWORD, MARIADB_ED_USER/_PASSWORD, MARIADB_DATABASE
// (from `integration/mariadb_sandbox.sh env`).
#include "backends/mysql/auth/server_login.hpp"
#include "backends/mysql/wire/command.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "integration/tests/mysql/probe_socket.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

namespace auth = sluice::backends::mysql::auth;
namespace wire = sluice::backends::mysql::wire;
using sluice::probe::read_one;

int failures = 0;
int test_number = 0;

void check(bool ok, const std::string& what) {
  ++test_number;
  std::cout << (ok ? "ok " : "not ok ") << test_number << " - " << what << std::endl;
  if (!ok) ++failures;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    std::cerr << "login_probe: " << name << " is not set (source <(integration/mariadb_sandbox.sh env))\n";
    std::exit(2);
  }
  return value;
}

struct login_outcome {
  auth::server_login::step step = auth::server_login::step::failed;
  auth::server_session session;
  auth::server_login_error error;
  int fd = -1;  // open after done
  wire::byte_buffer buffer;  // bytes read past the login
  double milliseconds = 0;
};

// Connects and runs server_login to its end, moving bytes for it.
login_outcome login(std::uint16_t port, const std::string& user, const std::string& password, const std::string& db) {
  login_outcome out;
  out.fd = sluice::probe::connect_loopback(port);
  if (out.fd < 0) {
    out.error.message = "connect failed";
    return out;
  }
  auth::server_login_params params;
  params.user = user;
  params.password = password;
  params.database = db;
  auth::server_login machine(params);
  wire::byte_buffer send;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto packet = read_one(out.fd, out.buffer);
    if (!packet) {
      out.error.message = "connection closed during login";
      break;
    }
    out.step = machine.on_packet(packet->sequence_id, wire::bytes_view(packet->payload.data(), packet->payload.size()), send);
    if (!send.empty() && !sluice::probe::write_all(out.fd, send)) {
      out.error.message = "write failed";
      out.step = auth::server_login::step::failed;
      break;
    }
    send.clear();
    if (out.step != auth::server_login::step::read) break;
  }
  out.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  out.session = machine.session();
  if (out.step == auth::server_login::step::failed) out.error = machine.error();
  if (out.step != auth::server_login::step::done) {
    close(out.fd);
    out.fd = -1;
  }
  return out;
}

// COM_QUERY with a one-row, one-column text result; returns the value ("" and ok=false on any surprise).
std::string query_one_value(login_outcome& conn, const std::string& sql, bool& ok) {
  ok = false;
  wire::byte_buffer send;
  wire::encode_query(send, 0, sql);
  if (!sluice::probe::write_all(conn.fd, send)) return {};
  const bool deprecate_eof = (conn.session.capabilities & wire::client_deprecate_eof) != 0;
  auto count = read_one(conn.fd, conn.buffer);
  if (!count || count->payload.empty() || count->payload[0] != 1) return {};
  if (!read_one(conn.fd, conn.buffer)) return {};  // the column definition
  if (!deprecate_eof && !read_one(conn.fd, conn.buffer)) return {};  // EOF after the columns
  auto row = read_one(conn.fd, conn.buffer);
  if (!row) return {};
  wire::payload_reader reader(wire::bytes_view(row->payload.data(), row->payload.size()));
  const std::string value(reader.lenenc_string());
  auto end = read_one(conn.fd, conn.buffer);  // EOF or OK
  ok = reader.finish() == wire::codec_errc::ok && end && !end->payload.empty() && end->payload[0] == wire::eof_header &&
       end->sequence_id == (deprecate_eof ? 4 : 5);
  return value;
}

}  // namespace

int main() {
  const auto port = static_cast<std::uint16_t>(std::stoi(env("MARIADB_PRIMARY_PORT")));
  const std::string app_user = env("MARIADB_APP_USER"), app_password = env("MARIADB_APP_PASSWORD");
  const std::string ed_user = env("MARIADB_ED_USER"), ed_password = env("MARIADB_ED_PASSWORD");
  const std::string database = env("MARIADB_DATABASE");

  {
    auto conn = login(port, app_user, app_password, database);
    check(conn.step == auth::server_login::step::done,
          "mysql_native_password login as " + app_user + (conn.step == auth::server_login::step::done ? "" : ": " + conn.error.message));
    check(conn.session.auth_plugin == "mysql_native_password", "authenticated by mysql_native_password");
    check(conn.session.server_version.find("MariaDB") != std::string::npos, "server version " + conn.session.server_version);
    check(conn.session.thread_id != 0, "thread id " + std::to_string(conn.session.thread_id));
    check((conn.session.status_flags & wire::server_status_autocommit) != 0, "autocommit in the OK's status flags");
    if (conn.fd >= 0) {
      bool ok = false;
      const std::string value = query_one_value(conn, "SELECT @@port", ok);
      check(ok && value == std::to_string(port), "COM_QUERY SELECT @@port answered " + value);
      bool db_ok = false;
      const std::string db = query_one_value(conn, "SELECT DATABASE()", db_ok);
      check(db_ok && db == database, "connected to database " + db);
      close(conn.fd);
    } else {
      check(false, "COM_QUERY SELECT @@port (no connection)");
    }
  }
  {
    auto conn = login(port, ed_user, ed_password, database);
    check(conn.step == auth::server_login::step::done,
          "client_ed25519 login as " + ed_user + (conn.step == auth::server_login::step::done ? "" : ": " + conn.error.message));
    check(conn.session.auth_plugin == "client_ed25519", "authenticated by client_ed25519 (after an AuthSwitchRequest)");
    std::cout << "# ed25519 login took " << conn.milliseconds << " ms" << std::endl;
    if (conn.fd >= 0) {
      bool ok = false;
      const std::string value = query_one_value(conn, "SELECT CURRENT_USER()", ok);
      check(ok && value.rfind(ed_user + "@", 0) == 0, "CURRENT_USER() is " + value);
      close(conn.fd);
    }
  }
  for (const auto& [user, what] : {std::pair{app_user, "mysql_native_password"}, std::pair{ed_user, "client_ed25519"}}) {
    auto conn = login(port, user, "wrong_pw", database);
    check(conn.step == auth::server_login::step::failed && conn.error.server_errno == 1045 &&
              conn.error.sqlstate == "28000" && conn.error.code == sluice::errc::server_auth_failed,
          std::string("wrong password for ") + what + " refused: " + std::to_string(conn.error.server_errno) + " " +
              conn.error.sqlstate + " " + conn.error.message);
  }
  {
    auto conn = login(port, "sluice_nobody", "x", database);
    check(conn.step == auth::server_login::step::failed && conn.error.server_errno == 1045,
          "unknown user refused: " + std::to_string(conn.error.server_errno) + " " + conn.error.message);
  }
  {
    auto conn = login(port, app_user, app_password, "sluice_no_such_db");
    check(conn.step == auth::server_login::step::failed && conn.error.server_errno != 1045 &&
              conn.error.code == sluice::errc::server_error,
          "unknown database: server error " + std::to_string(conn.error.server_errno) + " " + conn.error.message);
  }
  std::cout << "1.." << test_number << std::endl;
  return failures == 0 ? 0 : 1;
}
