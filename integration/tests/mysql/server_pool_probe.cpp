// mysql::server_connection and MySQL's pool (backends/mysql/) on Asio against the real MariaDB sandbox's
// primary: lend, query, reuse, a KILLed connection found dead and replaced, pool_timeout, ed25519,
// refused logins, COM_QUIT. TAP output.
//
// Where: MARIADB_PRIMARY_PORT, MARIADB_APP_USER/_PASSWORD, MARIADB_ED_USER/_PASSWORD, MARIADB_DATABASE
// (from `integration/mariadb_sandbox.sh env`).
#include "backends/mysql/pool_protocol.hpp"
#include "backends/mysql/server_connection.hpp"
#include "backends/mysql/wire/command.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/resultset.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace mysql = sluice::backends::mysql;
namespace wire = sluice::backends::mysql::wire;
using sluice::errc;
using namespace std::chrono_literals;
using steady_clock = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

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
    std::cerr << "server_pool_probe: " << name << " is not set (source <(integration/mariadb_sandbox.sh env))\n";
    std::exit(2);
  }
  return value;
}

// A text result set (or an OK, or an ERR), read with the codec.
struct query_result {
  bool ok = false;                                        // OK or a whole result set
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::uint16_t server_errno = 0;                         // with an ERR
  std::string message;                                    // the ERR's, or what went wrong
  std::uint16_t status_flags = 0;                         // of the final OK or EOF
  bool eof_packets = false;                               // terminated by classic EOF packets
};

// Reads one whole message; on failure sets `result.message` and returns nullopt. The message stays at
// the front of the connection's input buffer until consume.
asio::awaitable<std::optional<wire::message_view>> next(mysql::server_connection& connection, query_result& result,
                                                        std::uint8_t& expected_sequence) {
  const auto [frame, ec] = co_await mysql::read_message(connection.socket(), connection.input(), 1 << 24);
  if (ec) {
    result.message = "read: " + ec.message();
    co_return std::nullopt;
  }
  if (frame.status != wire::codec_errc::ok || !frame.message.contiguous()) {
    result.message = "bad frame";
    co_return std::nullopt;
  }
  if (frame.message.first_sequence_id != expected_sequence) {
    result.message = "sequence id " + std::to_string(frame.message.first_sequence_id) + ", expected " +
                     std::to_string(expected_sequence);
    co_return std::nullopt;
  }
  expected_sequence = frame.message.next_sequence_id;
  co_return frame.message;
}

// COM_QUERY `sql` (one statement), answered by an OK, an ERR or one text result set.
asio::awaitable<query_result> query(mysql::server_connection& connection, const std::string& sql) {
  query_result result;
  const auto caps = connection.capabilities();
  wire::byte_buffer out;
  wire::encode_query(out, 0, sql);
  auto [write_ec, written] = co_await asio::async_write(connection.socket(), asio::buffer(out), use_tuple);
  if (write_ec) {
    result.message = "write: " + write_ec.message();
    co_return result;
  }
  std::uint8_t sequence = 1;
  auto first = co_await next(connection, result, sequence);
  if (!first) co_return result;
  const auto payload = first->payload();
  const auto size = first->wire.size();
  switch (wire::classify_response(payload, first->payload_size)) {
    case wire::response_kind::ok: {
      wire::ok_packet ok;
      result.ok = wire::decode_ok(payload, caps, ok) == wire::codec_errc::ok;
      result.status_flags = ok.status_flags;
      connection.input().consume(size);
      co_return result;
    }
    case wire::response_kind::err: {
      wire::err_packet err;
      if (wire::decode_err(payload, caps, err) == wire::codec_errc::ok) {
        result.server_errno = err.error_code;
        result.message = std::string(err.message);
      }
      connection.input().consume(size);
      co_return result;
    }
    case wire::response_kind::result_set:
      break;
    default:
      result.message = "unexpected first response packet";
      co_return result;
  }
  wire::column_count count;
  if (wire::decode_column_count(payload, caps, count) != wire::codec_errc::ok) {
    result.message = "bad column count";
    co_return result;
  }
  connection.input().consume(size);
  for (std::uint64_t i = 0; i < count.count; ++i) {
    auto column = co_await next(connection, result, sequence);
    if (!column) co_return result;
    wire::column_definition definition;
    if (wire::decode_column_definition(column->payload(), caps, definition) != wire::codec_errc::ok) {
      result.message = "bad column definition";
      co_return result;
    }
    connection.input().consume(column->wire.size());
  }
  if ((caps & wire::client_deprecate_eof) == 0) {
    auto eof = co_await next(connection, result, sequence);
    if (!eof) co_return result;
    connection.input().consume(eof->wire.size());
  }
  for (;;) {
    auto packet = co_await next(connection, result, sequence);
    if (!packet) co_return result;
    const auto body = packet->payload();
    const auto kind = wire::classify_resultset_packet(body, packet->payload_size, caps);
    if (kind == wire::resultset_packet::row) {
      wire::text_row_reader reader(body);
      std::vector<std::optional<std::string>> row;
      wire::row_field field;
      while (reader.next(field)) {
        row.push_back(field.is_null ? std::nullopt
                                    : std::optional<std::string>(std::string(field.value.begin(), field.value.end())));
      }
      result.rows.push_back(std::move(row));
    } else if (kind == wire::resultset_packet::eof) {
      wire::eof_packet eof;
      result.ok = wire::decode_eof(body, caps, eof) == wire::codec_errc::ok;
      result.status_flags = eof.status_flags;
      result.eof_packets = true;
    } else if (kind == wire::resultset_packet::ok_terminator) {
      wire::ok_packet ok;
      result.ok = wire::decode_ok(body, caps, ok) == wire::codec_errc::ok;
      result.status_flags = ok.status_flags;
    } else {
      result.message = "result set ended by an error or a malformed packet";
    }
    connection.input().consume(packet->wire.size());
    if (kind != wire::resultset_packet::row) co_return result;
  }
}

// The single value of a one-row, one-column result ("" when there is none).
std::string value_of(const query_result& result) {
  if (!result.ok || result.rows.size() != 1 || result.rows[0].size() != 1 || !result.rows[0][0]) return {};
  return *result.rows[0][0];
}

asio::awaitable<void> wait(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(use_tuple);
}

struct settings {
  std::uint16_t port = 0;
  std::string app_user, app_password, ed_user, ed_password, database;
};

mysql::connect_target target_of(const settings& s, std::string user, std::string password) {
  mysql::connect_target target;
  target.endpoint = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), s.port);
  target.user = std::move(user);
  target.password = std::move(password);
  target.database = s.database;
  target.timeout = 5000ms;
  return target;
}

asio::awaitable<void> pool_tests(const settings& s) {
  auto executor = co_await asio::this_coro::executor;
  sluice::backends::pool::pool_settings pool_settings;
  pool_settings.max_size = 2;
  pool_settings.wait_timeout = 500ms;
  pool_settings.check_after = 0ms;  // check every idle connection before lending it
  mysql::server_pool pool(executor, 0, pool_settings, target_of(s, s.app_user, s.app_password));

  auto first = co_await pool.acquire();
  check(first.connection != nullptr, "pool of 2 over the primary: acquire" + (first.connection ? "" : ": " + first.failure.message));
  if (!first.connection) co_return;
  check(pool.learnt().server_version.find("MariaDB") != std::string::npos,
        "the pool learnt the server version " + pool.learnt().server_version);
  check((pool.learnt().capabilities & wire::client_deprecate_eof) != 0 &&
            (pool.learnt().capabilities & wire::client_session_track) != 0 &&
            (pool.learnt().capabilities & wire::client_multi_statements) != 0,
        "negotiated CLIENT_DEPRECATE_EOF, SESSION_TRACK and MULTI_STATEMENTS with MariaDB");
  check(pool.learnt().character_set == wire::charset_utf8mb4_general_ci, "character set utf8mb4_general_ci (45)");

  const auto port = co_await query(*first.connection, "SELECT @@port");
  check(value_of(port) == std::to_string(s.port), "COM_QUERY SELECT @@port on a pooled connection: " + value_of(port) +
                                                      (port.message.empty() ? "" : " (" + port.message + ")"));
  check(!port.eof_packets, "the result set ended with an OK (DEPRECATE_EOF)");
  const auto id = co_await query(*first.connection, "SELECT CONNECTION_ID()");
  const auto thread_id = first.connection->thread_id();
  check(value_of(id) == std::to_string(thread_id), "thread_id() " + std::to_string(thread_id) +
                                                       " is the server's CONNECTION_ID() " + value_of(id));
  const auto charset = co_await query(*first.connection, "SELECT @@character_set_client, @@collation_connection");
  check(charset.ok && charset.rows.size() == 1 && charset.rows[0].size() == 2 && charset.rows[0][0] == "utf8mb4" &&
            charset.rows[0][1] == "utf8mb4_general_ci",
        "the server took character set 45: utf8mb4 / utf8mb4_general_ci");
  const auto database = co_await query(*first.connection, "SELECT DATABASE()");
  check(value_of(database) == s.database, "logged in to database " + value_of(database));

  const auto* released_address = first.connection.get();
  pool.release(std::move(first.connection), true);
  auto again = co_await pool.acquire();
  check(again.connection && again.connection->thread_id() == thread_id && again.connection.get() == released_address,
        "released and acquired again: the same server connection (thread id " + std::to_string(thread_id) + ")");
  if (!again.connection) co_return;

  auto second = co_await pool.acquire();
  check(second.connection && second.connection->thread_id() != thread_id,
        "a second acquire opens a second connection" + (second.connection ? "" : ": " + second.failure.message));
  if (!second.connection) co_return;

  // Both taken: a third waits wait_timeout and gets MySQL's "too many connections".
  const auto waited_from = steady_clock::now();
  auto third = co_await pool.acquire();
  const auto waited = steady_clock::now() - waited_from;
  check(!third.connection && third.failure.code == errc::pool_timeout && third.failure.server_errno == 1040 &&
            third.failure.sqlstate == "08004",
        "both taken: pool_timeout with 1040 / 08004 (" + third.failure.message + ")");
  check(waited >= 500ms && waited < 3000ms, "after wait_timeout (" +
                                                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
                                                " ms)");
  check(pool.stats().timeouts == 1, "the pool counted one timeout");

  // The server kills the first connection (KILL from the second); idle_and_healthy() sees it.
  check(again.connection->idle_and_healthy(), "idle_and_healthy() before the KILL");
  const auto kill = co_await query(*second.connection, "KILL " + std::to_string(thread_id));
  check(kill.ok, "KILL " + std::to_string(thread_id) + " from the second connection" +
                     (kill.message.empty() ? "" : ": " + kill.message));
  const auto give_up = steady_clock::now() + 5s;
  while (again.connection->idle_and_healthy() && steady_clock::now() < give_up) co_await wait(10ms);
  check(!again.connection->idle_and_healthy(), "idle_and_healthy() is false once the server killed the connection");

  // Both back: the killed one is checked before it is lent, and replaced by a new login.
  pool.release(std::move(again.connection), true);
  pool.release(std::move(second.connection), true);
  auto a = co_await pool.acquire();
  auto b = co_await pool.acquire();
  check(a.connection && b.connection && a.connection->thread_id() != thread_id && b.connection->thread_id() != thread_id,
        "the killed connection is not lent again: acquires get the live one and a replacement");
  check(pool.stats().connects == 3 && pool.stats().total == 2, "three logins, two connections open");
  if (a.connection && b.connection) {
    const auto port_a = co_await query(*a.connection, "SELECT @@port");
    const auto port_b = co_await query(*b.connection, "SELECT @@port");
    check(value_of(port_a) == std::to_string(s.port) && value_of(port_b) == std::to_string(s.port),
          "both answer queries");
  }

  // terminate(): COM_QUIT, so the server ends the session cleanly (Aborted_clients unchanged).
  if (a.connection && b.connection) {
    const auto aborted_before = co_await query(*b.connection, "SHOW GLOBAL STATUS LIKE 'Aborted_clients'");
    const auto quit_id = a.connection->thread_id();
    a.connection->terminate();
    pool.release(std::move(a.connection), false);
    const std::string gone = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + std::to_string(quit_id);
    std::string count = "1";
    const auto until = steady_clock::now() + 5s;
    for (;;) {
      count = value_of(co_await query(*b.connection, gone));
      if (count == "0" || steady_clock::now() >= until) break;
      co_await wait(10ms);
    }
    check(count == "0", "terminate(): the server ended thread " + std::to_string(quit_id));
    const auto aborted_after = co_await query(*b.connection, "SHOW GLOBAL STATUS LIKE 'Aborted_clients'");
    const auto aborted = [](const query_result& r) {
      return r.rows.size() == 1 && r.rows[0].size() == 2 && r.rows[0][1] ? *r.rows[0][1] : std::string("?");
    };
    check(aborted(aborted_before) != "?" && aborted(aborted_before) == aborted(aborted_after),
          "terminate() sent COM_QUIT: Aborted_clients stayed " + aborted(aborted_before));
    // The control: a close() without COM_QUIT is counted as aborted, so the check above can fail.
    mysql::server_connection dropped(executor, 0);
    const auto dropped_login = co_await dropped.connect(target_of(s, s.app_user, s.app_password));
    const auto dropped_id = dropped.thread_id();
    dropped.close();
    count = "1";
    const auto dropped_until = steady_clock::now() + 5s;
    for (;;) {
      count = value_of(co_await query(*b.connection, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " +
                                                         std::to_string(dropped_id)));
      if (count == "0" || steady_clock::now() >= dropped_until) break;
      co_await wait(10ms);
    }
    const auto aborted_dropped = co_await query(*b.connection, "SHOW GLOBAL STATUS LIKE 'Aborted_clients'");
    check(dropped_login.code == errc::ok && count == "0" && aborted(aborted_dropped) != aborted(aborted_after),
          "control: close() without COM_QUIT is counted (Aborted_clients " + aborted(aborted_after) + " -> " +
              aborted(aborted_dropped) + ")");
    pool.release(std::move(b.connection), true);
  }
}

asio::awaitable<void> connection_tests(const settings& s) {
  auto executor = co_await asio::this_coro::executor;
  {
    mysql::server_connection connection(executor, 0);
    const auto failure = co_await connection.connect(target_of(s, s.ed_user, s.ed_password));
    check(failure.code == errc::ok, "ed25519 user " + s.ed_user + " logs in" + (failure.message.empty() ? "" : ": " + failure.message));
    check(connection.session().auth_plugin == "client_ed25519", "authenticated by " + connection.session().auth_plugin);
    const auto user = co_await query(connection, "SELECT CURRENT_USER()");
    check(value_of(user).rfind(s.ed_user + "@", 0) == 0, "CURRENT_USER() " + value_of(user));
    connection.terminate();
  }
  {
    mysql::server_connection connection(executor, 0);
    const auto failure = co_await connection.connect(target_of(s, s.app_user, "wrong_pw"));
    check(failure.code == errc::server_auth_failed && failure.server_errno == 1045 && failure.sqlstate == "28000",
          "wrong password: server_auth_failed, 1045 / 28000 (" + failure.message + ")");
  }
  {
    auto target = target_of(s, s.app_user, s.app_password);
    target.database = "sluice_no_such_database";
    mysql::server_connection connection(executor, 0);
    const auto failure = co_await connection.connect(target);
    check(failure.code == errc::server_error && (failure.server_errno == 1044 || failure.server_errno == 1049),
          "unknown database: server_error, errno " + std::to_string(failure.server_errno) + " (" + failure.message + ")");
  }
  {
    // Without CLIENT_DEPRECATE_EOF the server ends result sets with EOF packets: the set is honoured.
    auto target = target_of(s, s.app_user, s.app_password);
    target.capabilities &= ~wire::client_deprecate_eof;
    mysql::server_connection connection(executor, 0);
    const auto failure = co_await connection.connect(target);
    check(failure.code == errc::ok && (connection.capabilities() & wire::client_deprecate_eof) == 0,
          "a login without CLIENT_DEPRECATE_EOF");
    const auto port = co_await query(connection, "SELECT @@port");
    check(value_of(port) == std::to_string(s.port) && port.eof_packets, "its result set ends with EOF packets");
    connection.terminate();
  }
  {
    // Nothing listening: server_connect.
    auto target = target_of(s, s.app_user, s.app_password);
    target.endpoint.port(1);
    mysql::server_connection connection(executor, 0);
    const auto failure = co_await connection.connect(target);
    check(failure.code == errc::server_connect, "nothing listening: server_connect (" + failure.message + ")");
  }
}

}  // namespace

int main() {
  settings s;
  s.port = static_cast<std::uint16_t>(std::stoi(env("MARIADB_PRIMARY_PORT")));
  s.app_user = env("MARIADB_APP_USER");
  s.app_password = env("MARIADB_APP_PASSWORD");
  s.ed_user = env("MARIADB_ED_USER");
  s.ed_password = env("MARIADB_ED_PASSWORD");
  s.database = env("MARIADB_DATABASE");

  asio::io_context io;
  bool finished = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await pool_tests(s);
    co_await connection_tests(s);
    finished = true;
  }, [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run_for(60s);
  check(finished, "every step finished within 60 s");
  std::cout << "1.." << test_number << std::endl;
  return failures == 0 ? 0 : 1;
}
