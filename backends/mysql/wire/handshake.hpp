// Connection-phase packets, sans-IO: HandshakeV10 (server greeting), SSLRequest, HandshakeResponse41,
// AuthSwitchRequest, AuthMoreData, and COM_CHANGE_USER (which restarts authentication). Both directions:
// sluice greets its clients and logs in to its servers. The auth state machines build on these.
#pragma once

#include "backends/mysql/wire/codec_errc.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <cstdint>
#include <string_view>

namespace sluice::backends::mysql::wire {

// HandshakeV10, the server's first packet.
struct handshake_v10 {
  std::string_view server_version;    // MariaDB prefixes "5.5.5-" for old clients
  std::uint32_t connection_id = 0;    // the server's thread id (what KILL takes)
  bytes_view auth_plugin_data_part1;  // first 8 bytes of the scramble
  bytes_view auth_plugin_data_part2;  // the rest (12 bytes for the usual 20-byte scramble), without its NUL
  capabilities server_capabilities = 0;  // MySQL's 32 bits and, when client_mysql is unset, MariaDB's 32
  std::uint8_t character_set = 0;
  std::uint16_t status_flags = 0;
  std::string_view auth_plugin_name;  // with client_plugin_auth, else empty
};
// Decodes a HandshakeV10 (protocol version 10, else bad_value). The fields after the low capability
// flags are optional in the format and read only if present; a plugin name without its NUL (MySQL 5.5.7
// bug) is accepted.
codec_errc decode_handshake_v10(bytes_view payload, handshake_v10& out) noexcept;
// Writes a HandshakeV10. part1 is written as 8 bytes (cut or zero-padded), part2 as at least 12 bytes
// plus a NUL; MariaDB's extended capabilities go into the last filler bytes when client_mysql is unset.
std::uint8_t encode_handshake_v10(byte_buffer& out, std::uint8_t sequence_id, const handshake_v10& handshake);
// Copies the scramble (part1 then part2) into `out`; returns how many bytes were written.
std::size_t copy_scramble(const handshake_v10& handshake, std::span<std::uint8_t> out) noexcept;

// SSLRequest: the first 32 bytes of a HandshakeResponse41, with client_ssl set; TLS starts after it.
struct ssl_request {
  capabilities client_capabilities = 0;
  std::uint32_t max_packet_size = 0;
  std::uint8_t character_set = 0;
};
// True if a client's first packet is an SSLRequest rather than a HandshakeResponse41.
bool is_ssl_request(bytes_view payload) noexcept;
codec_errc decode_ssl_request(bytes_view payload, ssl_request& out) noexcept;
std::uint8_t encode_ssl_request(byte_buffer& out, std::uint8_t sequence_id, const ssl_request& request);

// HandshakeResponse41, the client's login packet.
struct handshake_response41 {
  capabilities client_capabilities = 0;  // MariaDB's extended 32 bits when the client leaves client_mysql unset
  std::uint32_t max_packet_size = 0;
  std::uint8_t character_set = 0;
  std::string_view username;
  bytes_view auth_response;          // opaque, plugin-specific
  std::string_view database;         // with client_connect_with_db, else empty
  std::string_view auth_plugin_name; // with client_plugin_auth, else empty
  bytes_view connect_attributes;     // with client_connect_attrs: the key/value block (connect_attribute_reader)
};
// The auth response is length-encoded with client_plugin_auth_lenenc_client_data, 1-byte-length with
// client_secure_connection, NUL-terminated otherwise. Database, plugin name and attributes are read only
// when their capability is set, and a packet that ends before one of them is accepted as without it (as
// servers do). A MySQL 8 zstd level byte (client_zstd_compression_algorithm) after them is ignored. A
// client without client_protocol_41 (the 3.20 HandshakeResponse) fails with not_negotiated, with
// client_capabilities, max_packet_size and character_set filled so the caller can say why it refuses.
codec_errc decode_handshake_response41(bytes_view payload, handshake_response41& out) noexcept;
std::uint8_t encode_handshake_response41(byte_buffer& out, std::uint8_t sequence_id,
                                         const handshake_response41& response);

// Iterates the key/value pairs of a connection-attribute block (both length-encoded strings).
class connect_attribute_reader {
 public:
  explicit connect_attribute_reader(bytes_view block) noexcept : reader_(block) {}
  bool next(std::string_view& key, std::string_view& value) noexcept;  // false at the end or on error
  codec_errc error() const noexcept { return reader_.error(); }

 private:
  payload_reader reader_;
};
// Appends one key/value pair to an attribute block being built in `block`.
void append_connect_attribute(byte_buffer& block, std::string_view key, std::string_view value);

// AuthSwitchRequest (0xFE): the server asks for another auth plugin. plugin_data is the rest of the packet
// as sent (mysql_native_password's 20-byte scramble is followed by a NUL). A bare 0xFE is the pre-4.1
// "old password" switch: decoded with old_password set and both fields empty.
struct auth_switch_request {
  std::string_view plugin_name;
  bytes_view plugin_data;
  bool old_password = false;
};
codec_errc decode_auth_switch_request(bytes_view payload, auth_switch_request& out) noexcept;
std::uint8_t encode_auth_switch_request(byte_buffer& out, std::uint8_t sequence_id, std::string_view plugin_name,
                                        bytes_view plugin_data);

// AuthMoreData (0x01 + plugin data), e.g. caching_sha2_password's fast-auth result or a public key.
codec_errc decode_auth_more_data(bytes_view payload, bytes_view& data) noexcept;
std::uint8_t encode_auth_more_data(byte_buffer& out, std::uint8_t sequence_id, bytes_view data);

// COM_CHANGE_USER: user, auth response (1-byte length with client_secure_connection, else NUL-terminated),
// database, and when more follows: character set, plugin name (client_plugin_auth), attributes
// (client_connect_attrs). `caps` is the connection's negotiated set.
struct change_user {
  std::string_view username;
  bytes_view auth_response;
  std::string_view database;
  bool has_character_set = false;
  std::uint16_t character_set = 0;
  std::string_view auth_plugin_name;
  bytes_view connect_attributes;
};
codec_errc decode_change_user(bytes_view payload, capabilities caps, change_user& out) noexcept;
std::uint8_t encode_change_user(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const change_user& request);

}  // namespace sluice::backends::mysql::wire
