// Sans-IO state machine for a MySQL/MariaDB client logging in to sluice: HandshakeV10 out, (SSLRequest,)
// HandshakeResponse41 in, then mysql_native_password, the caching_sha2_password fast path (full path only
// over TLS), client_ed25519 or an AuthSwitchRequest, to OK or a 1045/28000 ERR (unknown user = wrong password).
#pragma once

#include "backends/errc.hpp"
#include "backends/mysql/auth/digest.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/handshake.hpp"
#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::backends::mysql::auth {

namespace wire = backends::mysql::wire;

// How a user's password is known to sluice (from the settings; any one is enough, several are fine).
struct client_credential {
  std::optional<std::string> password;      // cleartext ("" = a user without a password)
  std::optional<sha1_digest> native_stage2;  // SHA1(SHA1(pw)): the stored "*HEX" hash, parsed
  std::optional<sha256_digest> sha2_digest;  // SHA256(SHA256(pw)): caching_sha2_password's fast-path secret
  // MariaDB ed25519: the public key (parse_mariadb_ed25519_stored of mysql.user's authentication_string).
  // Checked only when nothing above is set: the client is switched to client_ed25519.
  std::optional<std::array<std::uint8_t, 32>> ed25519_key;
};

// Finds a user's credential; null for an unknown user. The credential must outlive the login.
class credential_lookup {
 public:
  virtual ~credential_lookup() = default;
  virtual const client_credential* find(std::string_view user) const = 0;
};

// Fills a span with random bytes (tests inject a fixed one). Defaults to OpenSSL's RAND_bytes.
using random_source = std::function<bool(std::span<std::uint8_t>)>;
bool openssl_random(std::span<std::uint8_t> out) noexcept;

// What sluice offers a client: the 4.1 protocol with plugin auth, connect attributes, multi-statements and
// -results, session tracking, DEPRECATE_EOF, FOUND_ROWS, LOCAL_FILES off, no compression; CLIENT_MYSQL set,
// so MariaDB's extended capabilities stay off.
inline constexpr wire::capabilities default_client_login_capabilities =
    wire::client_mysql | wire::client_found_rows | wire::client_long_flag | wire::client_connect_with_db |
    wire::client_no_schema | wire::client_odbc | wire::client_ignore_space | wire::client_protocol_41 |
    wire::client_interactive | wire::client_ignore_sigpipe | wire::client_transactions | wire::client_reserved |
    wire::client_secure_connection | wire::client_multi_statements | wire::client_multi_results |
    wire::client_ps_multi_results | wire::client_plugin_auth | wire::client_connect_attrs |
    wire::client_plugin_auth_lenenc_client_data | wire::client_can_handle_expired_passwords |
    wire::client_session_track | wire::client_deprecate_eof | wire::client_remember_options;

struct client_login_params {
  std::string server_version = "5.5.5-10.11.0-sluice";  // "5.5.5-" tells MariaDB clients a MariaDB server
  std::uint32_t thread_id = 0;                          // sluice's connection id for this client
  wire::capabilities capabilities = default_client_login_capabilities;  // CLIENT_SSL added iff tls_available
  bool tls_available = false;                   // a TLS context is configured: offer CLIENT_SSL
  bool local_infile = false;  // offer CLIENT_LOCAL_FILES: the front end relays servers' file requests
  std::string client_host = "127.0.0.1";        // for "Access denied for user 'u'@'host'"
  std::uint8_t character_set = wire::charset_utf8mb4_general_ci;  // announced in HandshakeV10
  std::uint16_t status_flags = wire::server_status_autocommit;    // in HandshakeV10 and the final OK
  // The plugin named in HandshakeV10, which most clients answer first: mysql_native_password (what every
  // client speaks) or caching_sha2_password (what MySQL 8 clients default to); anything else is taken as
  // mysql_native_password. Either way a client answering with the other one is handled.
  std::string auth_plugin = "mysql_native_password";
  random_source random = openssl_random;        // the scrambles
};

// Why a login was refused: the ERR packet is already in `out`.
struct client_login_refusal {
  errc code = errc::ok;          // client_auth_failed, client_protocol, or client_read (no entropy)
  std::uint16_t error_number = 0;  // 1045, 1043, 1156 ...
  std::string sqlstate;
  std::string message;
};

// Who logged in.
struct client_login_result {
  std::string user;
  std::string database;  // empty: none asked for
  wire::capabilities capabilities = 0;  // negotiated: the client's set AND sluice's offer
  std::uint8_t character_set = 0;       // the client's choice
  std::uint32_t max_packet_size = 0;
  std::string auth_plugin;              // the plugin that authenticated the client
  std::vector<std::pair<std::string, std::string>> connect_attributes;
};

class client_login {
 public:
  enum class step {
    read,           // send `out`, then read the client's next packet
    start_tls,      // the client sent an SSLRequest: run the TLS server handshake, then read
    authenticated,  // `out` ends with the OK packet: send it; result() says who logged in
    refused,        // `out` holds the ERR packet: send it, then close; refusal() says why
  };

  // `users` must outlive this object.
  client_login(client_login_params params, const credential_lookup& users);
  client_login(const client_login&) = delete;
  client_login& operator=(const client_login&) = delete;

  // Appends the HandshakeV10 (sequence id 0).
  step start(wire::byte_buffer& out);
  // Feeds one client packet (its sequence id and payload); may append a reply to `out`.
  step on_packet(std::uint8_t sequence_id, wire::bytes_view payload, wire::byte_buffer& out);
  step on_message(const wire::message_view& message, wire::byte_buffer& out);

  // COM_CHANGE_USER (sequence id 0) on a connection this machine logged in: the client authenticates
  // again, as `request.username`, against the scramble of the original handshake (what clients hash it
  // with), or is switched to another plugin with a new one, as a server does. Then on_message as at login;
  // result() names the new user, database and character set. Only after `authenticated`.
  step change_user(const wire::change_user& request, wire::byte_buffer& out);

  const client_login_result& result() const noexcept { return result_; }
  const client_login_refusal& refusal() const noexcept { return refusal_; }
  bool tls_active() const noexcept { return tls_active_; }

 private:
  enum class state {
    initial,                   // start() not called yet
    awaiting_response,         // HandshakeV10 sent: SSLRequest or HandshakeResponse41 next
    awaiting_tls_response,     // SSLRequest taken, TLS started: HandshakeResponse41 next
    awaiting_switch_response,  // AuthSwitchRequest sent: the client's auth data for the new plugin next
    awaiting_cleartext,        // caching_sha2_password full auth asked (over TLS): password + NUL next
    finished,                  // authenticated or refused; every later call fails
  };

  step refuse(wire::byte_buffer& out, errc code, std::uint16_t error_number, std::string_view sqlstate,
              std::string message);
  step deny(wire::byte_buffer& out);  // 1045 Access denied
  step protocol_error(wire::byte_buffer& out, std::string message);
  step on_response(wire::bytes_view payload, wire::byte_buffer& out);
  // Checks `data` for `plugin` against the credential; answers OK, ERR, AuthMoreData or AuthSwitchRequest.
  step authenticate(std::string_view plugin, wire::bytes_view data, wire::byte_buffer& out);
  step switch_to(std::string_view plugin, wire::byte_buffer& out);
  step accept(wire::byte_buffer& out);
  bool new_scramble();

  client_login_params params_;
  const credential_lookup& users_;
  const client_credential* credential_ = nullptr;  // null: unknown user
  state state_ = state::initial;
  std::uint8_t next_sequence_id_ = 0;  // the id the next packet (either way) must carry
  bool tls_active_ = false;
  bool using_password_ = false;        // the client sent a non-empty auth response
  std::array<std::uint8_t, 20> scramble_{};
  std::array<std::uint8_t, 21> switch_data_{};  // the AuthSwitchRequest's plugin data: scramble + NUL
  std::array<std::uint8_t, 32> ed25519_scramble_{};  // the nonce of a switch to client_ed25519
  client_login_result result_;
  client_login_refusal refusal_;
};

}  // namespace sluice::backends::mysql::auth
