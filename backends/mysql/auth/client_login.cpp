// Client login state machine (see client_login.hpp). Server side of MySQL's connection phase
// (sql/auth/sql_authentication.cc: server_mpvio_*, and sha2_password.cc for caching_sha2_password).
#include "backends/mysql/auth/client_login.hpp"

#include "backends/mysql/auth/caching_sha2.hpp"
#include "backends/mysql/auth/ed25519.hpp"
#include "backends/mysql/auth/native_password.hpp"
#include "backends/mysql/auth/plugin_names.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/handshake.hpp"

#include <openssl/rand.h>

namespace sluice::backends::mysql::auth {

namespace {

// MySQL's error numbers (include/mysqld_error.h) for what a login can end with.
constexpr std::uint16_t er_access_denied = 1045;          // 28000
constexpr std::uint16_t er_handshake_error = 1043;        // 08S01 "Bad handshake"
constexpr std::uint16_t er_net_packets_out_of_order = 1156;  // 08S01
constexpr std::uint16_t er_out_of_resources = 1041;       // HY000

constexpr std::string_view sqlstate_access_denied = "28000";
constexpr std::string_view sqlstate_protocol = "08S01";

}  // namespace

bool openssl_random(std::span<std::uint8_t> out) noexcept {
  return out.empty() || RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

client_login::client_login(client_login_params params, const credential_lookup& users)
    : params_(std::move(params)), users_(users) {}

bool client_login::new_scramble() {
  if (!params_.random || !params_.random(scramble_)) return false;
  // Printable 7-bit bytes without NUL or '$', as MySQL's generate_user_salt: the scramble travels
  // NUL-terminated in HandshakeV10 and AuthSwitchRequest.
  for (auto& b : scramble_) {
    b = static_cast<std::uint8_t>(b & 0x7f);
    if (b == 0 || b == '$') b = static_cast<std::uint8_t>(b + 1);
  }
  return true;
}

client_login::step client_login::refuse(wire::byte_buffer& out, errc code, std::uint16_t error_number,
                                        std::string_view sqlstate, std::string message) {
  // Before a HandshakeResponse41 is decoded, nothing is negotiated: every client sluice accepts speaks
  // the 4.1 protocol, so the ERR carries its SQLSTATE either way.
  const wire::capabilities caps = result_.capabilities != 0 ? result_.capabilities : wire::client_protocol_41;
  next_sequence_id_ = wire::encode_err(out, next_sequence_id_, caps, error_number, sqlstate, message);
  state_ = state::finished;
  refusal_ = client_login_refusal{code, error_number, std::string(sqlstate), std::move(message)};
  return step::refused;
}

client_login::step client_login::deny(wire::byte_buffer& out) {
  return refuse(out, errc::client_auth_failed, er_access_denied, sqlstate_access_denied,
                "Access denied for user '" + result_.user + "'@'" + params_.client_host + "' (using password: " +
                    (using_password_ ? "YES" : "NO") + ")");
}

client_login::step client_login::protocol_error(wire::byte_buffer& out, std::string message) {
  return refuse(out, errc::client_protocol, er_handshake_error, sqlstate_protocol, std::move(message));
}

client_login::step client_login::start(wire::byte_buffer& out) {
  if (state_ != state::initial) return protocol_error(out, "Bad handshake");
  if (!new_scramble()) {
    return refuse(out, errc::client_read, er_out_of_resources, "HY000", "sluice has no entropy for a scramble");
  }
  wire::capabilities offered = (params_.capabilities | wire::client_mysql) & ~wire::client_compress & ~wire::client_ssl &
                               ~wire::client_local_files & 0xffffffffULL;
  if (params_.tls_available) offered |= wire::client_ssl;
  if (params_.local_infile) offered |= wire::client_local_files;
  params_.capabilities = offered;
  wire::handshake_v10 handshake;
  handshake.server_version = params_.server_version;
  handshake.connection_id = params_.thread_id;
  handshake.auth_plugin_data_part1 = wire::bytes_view(scramble_).first(8);
  handshake.auth_plugin_data_part2 = wire::bytes_view(scramble_).subspan(8);
  handshake.server_capabilities = offered;
  handshake.character_set = params_.character_set;
  handshake.status_flags = params_.status_flags;
  if (params_.auth_plugin != caching_sha2_password) params_.auth_plugin = std::string(mysql_native_password);
  handshake.auth_plugin_name = params_.auth_plugin;
  next_sequence_id_ = wire::encode_handshake_v10(out, 0, handshake);
  state_ = state::awaiting_response;
  return step::read;
}

client_login::step client_login::on_message(const wire::message_view& message, wire::byte_buffer& out) {
  if (!message.contiguous()) return protocol_error(out, "Bad handshake");
  return on_packet(message.first_sequence_id, message.payload(), out);
}

client_login::step client_login::on_packet(std::uint8_t sequence_id, wire::bytes_view payload, wire::byte_buffer& out) {
  if (state_ == state::initial || state_ == state::finished) return protocol_error(out, "Bad handshake");
  if (sequence_id != next_sequence_id_) {
    next_sequence_id_ = static_cast<std::uint8_t>(sequence_id + 1);
    return refuse(out, errc::client_protocol, er_net_packets_out_of_order, sqlstate_protocol,
                  "Got packets out of order");
  }
  next_sequence_id_ = static_cast<std::uint8_t>(sequence_id + 1);
  switch (state_) {
    case state::awaiting_response:
      if (wire::is_ssl_request(payload)) {
        wire::ssl_request request;
        if (wire::decode_ssl_request(payload, request) != wire::codec_errc::ok) return protocol_error(out, "Bad handshake");
        if (!params_.tls_available) {
          // sluice did not offer CLIENT_SSL: the client asks for what it was not offered.
          return protocol_error(out, "TLS is not configured on this sluice listener");
        }
        tls_active_ = true;
        state_ = state::awaiting_tls_response;
        return step::start_tls;
      }
      return on_response(payload, out);
    case state::awaiting_tls_response:
      if (wire::is_ssl_request(payload)) return protocol_error(out, "Bad handshake");
      return on_response(payload, out);
    case state::awaiting_switch_response:
      using_password_ = !payload.empty();
      return authenticate(result_.auth_plugin, payload, out);
    case state::awaiting_cleartext: {
      // caching_sha2_password full authentication: the password and a NUL, over TLS only.
      wire::bytes_view data = payload;
      if (!data.empty() && data.back() == 0) data = data.first(data.size() - 1);
      using_password_ = !data.empty();
      const std::string_view cleartext = wire::as_text(data);
      bool ok = false;
      if (credential_ != nullptr && credential_->native_stage2) {
        ok = native_password_matches(*credential_->native_stage2, cleartext);
      }
      return ok ? accept(out) : deny(out);
    }
    case state::initial:
    case state::finished:
      break;
  }
  return protocol_error(out, "Bad handshake");
}

client_login::step client_login::on_response(wire::bytes_view payload, wire::byte_buffer& out) {
  wire::handshake_response41 response;
  const wire::codec_errc decoded = wire::decode_handshake_response41(payload, response);
  const wire::capabilities caps = response.client_capabilities;
  if (payload.size() >= 4 && (caps & wire::client_protocol_41) == 0) {
    // The decoder fills the capabilities before refusing a pre-4.1 packet, so the reason can be named.
    return protocol_error(out, "sluice needs the 4.1 client/server protocol (CLIENT_PROTOCOL_41)");
  }
  if (decoded != wire::codec_errc::ok) return protocol_error(out, "Bad handshake");
  if ((caps & wire::client_compress) != 0) {
    return protocol_error(out, "sluice does not support the compressed protocol; connect without compression");
  }
  if (tls_active_ && (caps & wire::client_ssl) == 0) return protocol_error(out, "Bad handshake");
  result_.capabilities = caps & params_.capabilities;
  result_.user = std::string(response.username);
  result_.database = (result_.capabilities & wire::client_connect_with_db) != 0 ? std::string(response.database) : std::string();
  result_.character_set = response.character_set;
  result_.max_packet_size = response.max_packet_size;
  if ((result_.capabilities & wire::client_connect_attrs) != 0) {
    wire::connect_attribute_reader reader(response.connect_attributes);
    std::string_view key, value;
    while (reader.next(key, value)) result_.connect_attributes.emplace_back(std::string(key), std::string(value));
    if (reader.error() != wire::codec_errc::ok) return protocol_error(out, "Bad handshake");
  }
  credential_ = users_.find(result_.user);
  using_password_ = !response.auth_response.empty();
  // A client without CLIENT_PLUGIN_AUTH speaks mysql_native_password's 4.1 scramble.
  std::string_view plugin = response.auth_plugin_name;
  if ((result_.capabilities & wire::client_plugin_auth) == 0 || plugin.empty()) plugin = mysql_native_password;
  result_.auth_plugin = std::string(plugin);
  return authenticate(plugin, response.auth_response, out);
}

namespace {

// The plugin whose answer a credential can check, in order of preference (a cleartext password can check
// any; mysql_native_password is what every client speaks).
std::string_view checkable_plugin(const client_credential& c) noexcept {
  if (c.password || c.native_stage2) return mysql_native_password;
  if (c.sha2_digest) return caching_sha2_password;
  if (c.ed25519_key) return client_ed25519;
  return mysql_native_password;
}

}  // namespace

client_login::step client_login::authenticate(std::string_view plugin, wire::bytes_view data, wire::byte_buffer& out) {
  const client_credential* c = credential_;
  const bool switched = state_ == state::awaiting_switch_response;
  const wire::bytes_view scramble(scramble_);
  if (c != nullptr && switched && plugin == client_ed25519) {
    // MariaDB's ed25519: the signature of the 32-byte switch scramble, checked with the stored public key.
    return c->ed25519_key && ed25519_verify(*c->ed25519_key, ed25519_scramble_, data) ? accept(out) : deny(out);
  }
  if (plugin == mysql_native_password) {
    if (c == nullptr) {
      // Unknown user: the same work and the same answer as a wrong password.
      sha1_digest dummy{};
      (void)native_password_verify(dummy, scramble, data);
      return deny(out);
    }
    if (c->password) {
      if (c->password->empty()) return data.empty() ? accept(out) : deny(out);
      sha1_digest stage2{};
      const wipe_on_exit wipe_stage2(stage2);
      if (!native_password_stage2(*c->password, stage2)) return deny(out);
      return native_password_verify(stage2, scramble, data) ? accept(out) : deny(out);
    }
    if (c->native_stage2) return native_password_verify(*c->native_stage2, scramble, data) ? accept(out) : deny(out);
    // Only a caching_sha2_password digest or an ed25519 key: the client must answer that plugin instead.
    if (!switched && (c->sha2_digest || c->ed25519_key)) return switch_to(checkable_plugin(*c), out);
    return deny(out);
  }
  if (plugin == caching_sha2_password) {
    if (c == nullptr) {
      sha256_digest dummy{};
      (void)caching_sha2_verify(dummy, scramble, data);
      return deny(out);
    }
    if (c->password || c->sha2_digest) {
      bool ok = false;
      if (c->password && c->password->empty()) {
        ok = data.empty();
      } else {
        sha256_digest digest{};
        const wipe_on_exit wipe_digest(digest);
        if (c->sha2_digest) digest = *c->sha2_digest;
        ok = (c->sha2_digest || caching_sha2_digest(*c->password, digest)) &&
             (caching_sha2_verify(digest, scramble, data) ||
              // PyMySQL 1.0 (Debian 12's) hashes the AuthSwitchRequest's trailing NUL into the nonce.
              (switched && caching_sha2_verify(digest, wire::bytes_view(switch_data_), data)));
      }
      if (!ok) return deny(out);
      // Fast authentication succeeded: AuthMoreData 0x03, then OK.
      const std::uint8_t fast[] = {caching_sha2_fast_auth_success};
      next_sequence_id_ = wire::encode_auth_more_data(out, next_sequence_id_, fast);
      return accept(out);
    }
    if (switched) return deny(out);
    // Only the native hash: the fast path cannot be checked against it. Over TLS, ask for the password
    // itself (full authentication) and check it against the hash; otherwise switch to native. Without TLS
    // sluice never asks for full authentication (it does not do caching_sha2's RSA key exchange).
    if (c->native_stage2 && tls_active_) {
      const std::uint8_t full[] = {caching_sha2_perform_full_auth};
      next_sequence_id_ = wire::encode_auth_more_data(out, next_sequence_id_, full);
      state_ = state::awaiting_cleartext;
      return step::read;
    }
    return switch_to(checkable_plugin(*c), out);
  }
  // Another plugin (client_ed25519 unasked, dialog, mysql_clear_password ...): switch to one sluice can check.
  if (switched) return deny(out);
  return switch_to(c == nullptr ? mysql_native_password : checkable_plugin(*c), out);
}

client_login::step client_login::switch_to(std::string_view plugin, wire::byte_buffer& out) {
  if ((result_.capabilities & wire::client_plugin_auth) == 0) return deny(out);  // cannot switch an old client
  if (!new_scramble() || (plugin == client_ed25519 && !params_.random(ed25519_scramble_))) {
    return refuse(out, errc::client_read, er_out_of_resources, "HY000", "sluice has no entropy for a scramble");
  }
  result_.auth_plugin = std::string(plugin);
  if (plugin == client_ed25519) {
    // MariaDB's auth_ed25519 sends exactly 32 random bytes (libmariadb refuses any other length).
    next_sequence_id_ = wire::encode_auth_switch_request(out, next_sequence_id_, plugin, ed25519_scramble_);
  } else {
    // The scramble with the NUL that MySQL servers append (clients take the first 20 bytes).
    switch_data_.fill(0);
    std::copy(scramble_.begin(), scramble_.end(), switch_data_.begin());
    next_sequence_id_ = wire::encode_auth_switch_request(out, next_sequence_id_, plugin, switch_data_);
  }
  state_ = state::awaiting_switch_response;
  return step::read;
}

client_login::step client_login::change_user(const wire::change_user& request, wire::byte_buffer& out) {
  next_sequence_id_ = 1;  // the command was packet 0
  if (state_ != state::finished || refusal_.code != errc::ok) {
    return protocol_error(out, "COM_CHANGE_USER before a login finished");
  }
  result_.user = std::string(request.username);
  result_.database = std::string(request.database);
  if (request.has_character_set) result_.character_set = static_cast<std::uint8_t>(request.character_set);
  result_.connect_attributes.clear();
  credential_ = users_.find(result_.user);
  using_password_ = !request.auth_response.empty();
  std::string_view plugin = request.auth_plugin_name;
  if ((result_.capabilities & wire::client_plugin_auth) == 0 || plugin.empty()) plugin = mysql_native_password;
  result_.auth_plugin = std::string(plugin);
  state_ = state::awaiting_response;  // not a switch: authenticate may still ask for one
  return authenticate(plugin, request.auth_response, out);
}

client_login::step client_login::accept(wire::byte_buffer& out) {
  wire::ok_packet ok;
  ok.status_flags = params_.status_flags;
  next_sequence_id_ = wire::encode_ok(out, next_sequence_id_, result_.capabilities, ok);
  state_ = state::finished;
  return step::authenticated;
}

}  // namespace sluice::backends::mysql::auth
