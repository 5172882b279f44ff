// Sans-IO state machine for sluice logging in to a MySQL or MariaDB backend: HandshakeV10 in,
// (SSLRequest,) HandshakeResponse41 out, then whatever the server's plugin asks (mysql_native_password,
// caching_sha2_password fast or full, client_ed25519, an AuthSwitchRequest) up to OK or ERR.
#pragma once

#include "backends/errc.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sluice::backends::mysql::auth {

namespace wire = backends::mysql::wire;

// What sluice asks a backend for unless told otherwise: the 4.1 protocol with plugin auth and connect
// attributes, multi-statements and -results, session tracking (the session state it carries across
// pooled connections). CLIENT_DEPRECATE_EOF and CLIENT_FOUND_ROWS are the engine's choice per pool.
inline constexpr wire::capabilities default_server_login_capabilities =
    wire::client_long_flag | wire::client_protocol_41 | wire::client_transactions | wire::client_secure_connection |
    wire::client_multi_statements | wire::client_multi_results | wire::client_ps_multi_results |
    wire::client_plugin_auth | wire::client_connect_attrs | wire::client_plugin_auth_lenenc_client_data |
    wire::client_session_track;

struct server_login_params {
  std::string user;
  std::string password;  // empty: log in without a password (wiped when the server_login ends)
  std::string database;  // empty: none (CLIENT_CONNECT_WITH_DB is not asked for)
  wire::capabilities capabilities = default_server_login_capabilities;  // wanted; the server's set bounds it
  std::uint8_t character_set = wire::charset_utf8mb4_general_ci;
  std::uint32_t max_packet_size = 1U << 24;
  // The caller will run TLS on this connection: sluice sends an SSLRequest first (step::start_tls), and
  // the password may then travel in cleartext (caching_sha2_password full auth, mysql_clear_password).
  bool tls = false;
  std::vector<std::pair<std::string, std::string>> connect_attributes = {{"program_name", "sluice"}};
};

// What the backend told sluice, once logged in.
struct server_session {
  wire::capabilities server_capabilities = 0;  // as offered in HandshakeV10
  wire::capabilities capabilities = 0;         // negotiated: what both sides use from now on
  std::uint32_t thread_id = 0;                 // the server's connection id (what KILL takes)
  std::string server_version;
  std::uint16_t status_flags = 0;              // from the final OK
  std::uint8_t character_set = 0;              // the one sluice asked for
  std::string auth_plugin;                     // the plugin that authenticated sluice
};

// Why the login failed.
struct server_login_error {
  errc code = errc::ok;         // server_auth_failed, server_unsupported_auth, server_error, server_protocol
  std::uint16_t server_errno = 0;  // from the server's ERR packet; 0 if sluice itself gave up
  std::string sqlstate;         // the ERR's SQLSTATE, or sluice's own ("08S01" protocol, "28000" auth)
  std::string message;
};

class server_login {
 public:
  enum class step {
    read,       // send whatever is in `out` (may be empty), then read the next server packet
    start_tls,  // send `out` (an SSLRequest), run the TLS client handshake, then call continue_after_tls
    done,       // OK received: logged in (session()); nothing left to send
    failed,     // login failed (error()); close the connection
  };

  explicit server_login(server_login_params params);
  ~server_login();  // wipes the password and any auth response still held
  server_login(const server_login&) = delete;
  server_login& operator=(const server_login&) = delete;

  // Feeds one server packet (its sequence id and payload); may append the reply to `out`.
  step on_packet(std::uint8_t sequence_id, wire::bytes_view payload, wire::byte_buffer& out);
  // The same for a framed message (a split 16 MiB message is a protocol error here).
  step on_message(const wire::message_view& message, wire::byte_buffer& out);
  // After step::start_tls, once TLS is up: appends the HandshakeResponse41 to `out` (then read).
  step continue_after_tls(wire::byte_buffer& out);

  const server_session& session() const noexcept { return session_; }
  const server_login_error& error() const noexcept { return error_; }

 private:
  enum class state {
    awaiting_handshake,  // nothing received yet: the server speaks first (HandshakeV10 or ERR)
    awaiting_tls,        // SSLRequest sent: continue_after_tls() is next
    awaiting_result,     // an auth response was sent: OK, ERR, AuthSwitchRequest or AuthMoreData next
    awaiting_ok,         // caching_sha2_password said fast auth succeeded: OK (or ERR) next
    finished,            // done or failed; every later call fails
  };

  step fail(errc code, std::string sqlstate, std::string message, std::uint16_t server_errno = 0);
  step on_handshake(wire::bytes_view payload, wire::byte_buffer& out);
  step on_auth_switch(wire::bytes_view payload, wire::byte_buffer& out);
  step on_auth_more_data(wire::bytes_view payload, wire::byte_buffer& out);
  step on_ok(wire::bytes_view payload);
  step on_err(wire::bytes_view payload);
  // Appends the HandshakeResponse41 with the current plugin's response.
  step send_handshake_response(wire::byte_buffer& out);
  // Computes the current plugin's response to scramble_ into response_; false with error() set.
  bool make_auth_response();
  void send(wire::byte_buffer& out, wire::bytes_view payload);

  server_login_params params_;
  state state_ = state::awaiting_handshake;
  std::uint8_t next_sequence_id_ = 0;  // the id the next packet (either way) must carry
  bool switched_ = false;              // an AuthSwitchRequest was followed (only one is allowed)
  std::array<std::uint8_t, 32> scramble_{};
  std::size_t scramble_size_ = 0;
  std::vector<std::uint8_t> response_;  // the current auth response (wiped after sending)
  server_session session_;
  server_login_error error_;
};

}  // namespace sluice::backends::mysql::auth
