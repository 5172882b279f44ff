// Backend login state machine (see server_login.hpp). Protocol: MySQL's "Connection Phase" documentation
// (sql-common/client.cc: client_mpvio_write_packet, run_plugin_auth) and MariaDB's libmariadb
// (plugins/auth/my_auth.c); caching_sha2_password: sql/auth/sha2_password.cc.
#include "backends/mysql/auth/server_login.hpp"

#include "backends/mysql/auth/caching_sha2.hpp"
#include "backends/mysql/auth/ed25519.hpp"
#include "backends/mysql/auth/native_password.hpp"
#include "backends/mysql/auth/plugin_names.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/handshake.hpp"

namespace sluice::backends::mysql::auth {

namespace {

// MySQL's ER_ACCESS_DENIED_ERROR and ER_ACCESS_DENIED_NO_PASSWORD_ERROR: the server refused the
// credentials (anything else in an ERR during login is the server's own trouble, e.g. 1040 too many
// connections, 1049 unknown database).
constexpr std::uint16_t er_access_denied = 1045;
constexpr std::uint16_t er_access_denied_no_password = 1698;

constexpr const char* sqlstate_protocol = "08S01";   // communication link failure
constexpr const char* sqlstate_auth = "28000";       // invalid authorization specification

// The plugins sluice can answer, and the size of the scramble each signs.
bool supported(std::string_view plugin) noexcept {
  return plugin == mysql_native_password || plugin == caching_sha2_password || plugin == client_ed25519 ||
         plugin == mysql_clear_password;
}

std::size_t scramble_size_of(std::string_view plugin) noexcept {
  return plugin == client_ed25519 ? ed25519_scramble_size : scramble_size;
}

}  // namespace

server_login::server_login(server_login_params params) : params_(std::move(params)) {}

server_login::~server_login() {
  wipe(params_.password.data(), params_.password.size());
  wipe(response_.data(), response_.size());
  wipe(scramble_);
}

server_login::step server_login::fail(errc code, std::string sqlstate, std::string message,
                                      std::uint16_t server_errno) {
  state_ = state::finished;
  wipe(response_.data(), response_.size());
  response_.clear();
  error_ = server_login_error{code, server_errno, std::move(sqlstate), std::move(message)};
  return step::failed;
}

void server_login::send(wire::byte_buffer& out, wire::bytes_view payload) {
  next_sequence_id_ = wire::write_message(out, payload, next_sequence_id_);
}

server_login::step server_login::on_message(const wire::message_view& message, wire::byte_buffer& out) {
  if (!message.contiguous()) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent a 16 MiB packet during login");
  }
  return on_packet(message.first_sequence_id, message.payload(), out);
}

server_login::step server_login::on_packet(std::uint8_t sequence_id, wire::bytes_view payload, wire::byte_buffer& out) {
  if (state_ == state::finished) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent a packet after the login ended");
  }
  if (state_ == state::awaiting_tls) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent a packet before the TLS handshake");
  }
  if (sequence_id != next_sequence_id_) {
    return fail(errc::server_protocol, sqlstate_protocol,
                "backend sent a login packet out of order (sequence id " + std::to_string(sequence_id) +
                    ", expected " + std::to_string(next_sequence_id_) + ")");
  }
  next_sequence_id_ = static_cast<std::uint8_t>(sequence_id + 1);
  if (payload.empty()) return fail(errc::server_protocol, sqlstate_protocol, "backend sent an empty login packet");
  const std::uint8_t header = payload[0];
  // An ERR may come at any point, even instead of the greeting (1040 too many connections, 1129 host
  // blocked).
  if (header == wire::err_header) return on_err(payload);
  switch (state_) {
    case state::awaiting_handshake:
      return on_handshake(payload, out);
    case state::awaiting_result:
      if (header == wire::ok_header) return on_ok(payload);
      if (header == wire::auth_switch_header) return on_auth_switch(payload, out);
      if (header == wire::auth_more_data_header) return on_auth_more_data(payload, out);
      break;
    case state::awaiting_ok:
      if (header == wire::ok_header) return on_ok(payload);
      break;
    case state::awaiting_tls:
    case state::finished:
      break;
  }
  return fail(errc::server_protocol, sqlstate_protocol,
              "backend sent an unexpected packet during login (header 0x" + [&] {
                static constexpr char digits[] = "0123456789abcdef";
                return std::string{digits[header >> 4], digits[header & 0x0f]};
              }() + ")");
}

server_login::step server_login::on_handshake(wire::bytes_view payload, wire::byte_buffer& out) {
  wire::handshake_v10 handshake;
  if (wire::decode_handshake_v10(payload, handshake) != wire::codec_errc::ok) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent a malformed HandshakeV10");
  }
  const wire::capabilities offered = handshake.server_capabilities;
  const wire::capabilities required = wire::client_protocol_41 | wire::client_secure_connection | wire::client_plugin_auth;
  if ((offered & required) != required) {
    return fail(errc::server_unsupported_auth, sqlstate_protocol,
                "backend does not speak the 4.1 protocol with pluggable authentication (MySQL 5.5+ or MariaDB)");
  }
  wire::capabilities wanted = (params_.capabilities | required) & ~wire::client_compress & ~wire::client_ssl;
  if (!params_.database.empty()) wanted |= wire::client_connect_with_db;
  else wanted &= ~wire::client_connect_with_db;
  if (params_.connect_attributes.empty()) wanted &= ~wire::client_connect_attrs;
  if (params_.tls) {
    if ((offered & wire::client_ssl) == 0) {
      return fail(errc::server_unsupported_auth, sqlstate_protocol, "backend does not offer TLS");
    }
    wanted |= wire::client_ssl;
  }
  if (!params_.database.empty() && (offered & wire::client_connect_with_db) == 0) {
    return fail(errc::server_unsupported_auth, sqlstate_protocol, "backend cannot take a database at login");
  }
  // MariaDB's extended capabilities exist only between a MariaDB server (client_mysql unset) and a client
  // that leaves it unset too; the AND keeps them only then.
  session_.server_capabilities = offered;
  session_.capabilities = wanted & offered;
  session_.thread_id = handshake.connection_id;
  session_.server_version = std::string(handshake.server_version);
  session_.character_set = params_.character_set;

  scramble_size_ = wire::copy_scramble(handshake, scramble_);
  // Answer with the server's default plugin if sluice speaks it, else with mysql_native_password (the
  // server then switches to what the user needs, as it does for any client with another default).
  std::string_view plugin = handshake.auth_plugin_name;
  if (!supported(plugin) || (plugin == mysql_clear_password && !params_.tls)) plugin = mysql_native_password;
  session_.auth_plugin = std::string(plugin);
  if (!make_auth_response()) return step::failed;

  if (params_.tls) {
    const wire::ssl_request request{session_.capabilities, params_.max_packet_size, params_.character_set};
    next_sequence_id_ = wire::encode_ssl_request(out, next_sequence_id_, request);
    state_ = state::awaiting_tls;
    return step::start_tls;
  }
  return send_handshake_response(out);
}

server_login::step server_login::continue_after_tls(wire::byte_buffer& out) {
  if (state_ != state::awaiting_tls) {
    return fail(errc::server_protocol, sqlstate_protocol, "continue_after_tls without a TLS handshake pending");
  }
  return send_handshake_response(out);
}

bool server_login::make_auth_response() {
  const std::string_view plugin = session_.auth_plugin;
  const std::size_t needed = scramble_size_of(plugin);
  wipe(response_.data(), response_.size());
  response_.clear();
  if (plugin == mysql_clear_password) {
    // Only chosen over TLS (checked by the callers).
    response_.assign(params_.password.begin(), params_.password.end());
    response_.push_back(0);
    return true;
  }
  if (scramble_size_ < needed) {
    fail(errc::server_protocol, sqlstate_protocol,
         "backend sent a " + std::to_string(scramble_size_) + "-byte scramble for " + std::string(plugin));
    return false;
  }
  const wire::bytes_view scramble(scramble_.data(), needed);
  bool ok = true;
  if (plugin == client_ed25519) {
    ed25519_signature signature{};
    ok = mariadb_ed25519_sign(params_.password, scramble, signature);
    response_.assign(signature.begin(), signature.end());
    wipe(signature);
  } else if (params_.password.empty()) {
    // mysql_native_password and caching_sha2_password send nothing for an empty password.
  } else if (plugin == caching_sha2_password) {
    sha256_digest digest{};
    ok = caching_sha2_scramble(params_.password, scramble, digest);
    response_.assign(digest.begin(), digest.end());
    wipe(digest);
  } else {
    sha1_digest digest{};
    ok = native_password_response(params_.password, scramble, digest);
    response_.assign(digest.begin(), digest.end());
    wipe(digest);
  }
  if (!ok) {
    fail(errc::server_auth_failed, sqlstate_auth, "OpenSSL failed to compute the " + std::string(plugin) + " response");
    return false;
  }
  return true;
}

server_login::step server_login::send_handshake_response(wire::byte_buffer& out) {
  wire::byte_buffer attributes;
  for (const auto& [key, value] : params_.connect_attributes) wire::append_connect_attribute(attributes, key, value);
  wire::handshake_response41 response;
  response.client_capabilities = session_.capabilities;
  response.max_packet_size = params_.max_packet_size;
  response.character_set = params_.character_set;
  response.username = params_.user;
  response.auth_response = wire::bytes_view(response_.data(), response_.size());
  response.database = params_.database;
  response.auth_plugin_name = session_.auth_plugin;
  response.connect_attributes = wire::bytes_view(attributes.data(), attributes.size());
  next_sequence_id_ = wire::encode_handshake_response41(out, next_sequence_id_, response);
  wipe(response_.data(), response_.size());
  response_.clear();
  state_ = state::awaiting_result;
  return step::read;
}

server_login::step server_login::on_auth_switch(wire::bytes_view payload, wire::byte_buffer& out) {
  wire::auth_switch_request request;
  if (wire::decode_auth_switch_request(payload, request) != wire::codec_errc::ok) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent a malformed AuthSwitchRequest");
  }
  if (switched_) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend asked to switch authentication plugins twice");
  }
  switched_ = true;
  if (request.old_password) {
    return fail(errc::server_unsupported_auth, sqlstate_auth,
                "backend asks for the pre-4.1 password hash (mysql_old_password), which sluice does not support");
  }
  const std::string_view plugin = request.plugin_name;
  if (!supported(plugin)) {
    return fail(errc::server_unsupported_auth, sqlstate_auth,
                "backend asks for authentication plugin '" + std::string(plugin) + "', which sluice does not support");
  }
  if (plugin == mysql_clear_password && !params_.tls) {
    return fail(errc::server_unsupported_auth, sqlstate_auth,
                "backend asks for mysql_clear_password; sluice sends a cleartext password only over TLS");
  }
  // The plugin data is the new scramble; servers append a NUL to a 20-byte one.
  wire::bytes_view data = request.plugin_data;
  const std::size_t needed = scramble_size_of(plugin);
  if (plugin != mysql_clear_password) {
    if (data.size() == needed + 1 && data.back() == 0) data = data.first(needed);
    if (data.size() != needed) {
      return fail(errc::server_protocol, sqlstate_protocol,
                  "backend's AuthSwitchRequest for " + std::string(plugin) + " carries " +
                      std::to_string(data.size()) + " bytes of scramble, expected " + std::to_string(needed));
    }
  }
  scramble_size_ = std::min(data.size(), scramble_.size());
  std::copy_n(data.begin(), scramble_size_, scramble_.begin());
  session_.auth_plugin = std::string(plugin);
  if (!make_auth_response()) return step::failed;
  send(out, wire::bytes_view(response_.data(), response_.size()));
  wipe(response_.data(), response_.size());
  response_.clear();
  return step::read;
}

server_login::step server_login::on_auth_more_data(wire::bytes_view payload, wire::byte_buffer& out) {
  wire::bytes_view data;
  if (wire::decode_auth_more_data(payload, data) != wire::codec_errc::ok || data.size() != 1 ||
      session_.auth_plugin != caching_sha2_password) {
    return fail(errc::server_protocol, sqlstate_protocol,
                "backend sent unexpected AuthMoreData for " + session_.auth_plugin);
  }
  if (data[0] == caching_sha2_fast_auth_success) {
    state_ = state::awaiting_ok;
    return step::read;
  }
  if (data[0] != caching_sha2_perform_full_auth) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent an unknown caching_sha2_password status");
  }
  if (!params_.tls) {
    // Refused, not attempted: over plain TCP the password would have to be RSA-encrypted with the
    // server's public key, which sluice does not do.
    return fail(errc::server_unsupported_auth, sqlstate_auth,
                "backend asks for full caching_sha2_password authentication (its cache does not hold user '" +
                    params_.user +
                    "' yet); sluice sends the password only over TLS and does not do the RSA key exchange: "
                    "enable TLS to this backend, or use mysql_native_password for this user");
  }
  response_.assign(params_.password.begin(), params_.password.end());
  response_.push_back(0);
  send(out, wire::bytes_view(response_.data(), response_.size()));
  wipe(response_.data(), response_.size());
  response_.clear();
  return step::read;
}

server_login::step server_login::on_ok(wire::bytes_view payload) {
  wire::ok_packet ok;
  if (wire::decode_ok(payload, session_.capabilities, ok) != wire::codec_errc::ok) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent a malformed OK packet");
  }
  session_.status_flags = ok.status_flags;
  state_ = state::finished;
  return step::done;
}

server_login::step server_login::on_err(wire::bytes_view payload) {
  wire::err_packet err;
  // Before the greeting nothing is negotiated; servers still send the SQLSTATE marker after it.
  const wire::capabilities caps = state_ == state::awaiting_handshake ? wire::client_protocol_41 : session_.capabilities;
  if (wire::decode_err(payload, caps, err) != wire::codec_errc::ok) {
    return fail(errc::server_protocol, sqlstate_protocol, "backend sent a malformed ERR packet");
  }
  const bool denied = err.error_code == er_access_denied || err.error_code == er_access_denied_no_password;
  return fail(denied ? errc::server_auth_failed : errc::server_error,
              err.sqlstate.empty() ? std::string(denied ? sqlstate_auth : "HY000") : std::string(err.sqlstate),
              std::string(err.message), err.error_code);
}

}  // namespace sluice::backends::mysql::auth
