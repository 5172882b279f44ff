// Connection-phase packets: HandshakeV10, SSLRequest, HandshakeResponse41, AuthSwitchRequest,
// AuthMoreData, COM_CHANGE_USER (see handshake.hpp).
#include "backends/mysql/wire/handshake.hpp"

#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_writer.hpp"

#include <algorithm>

namespace sluice::backends::mysql::wire {
namespace {

constexpr unsigned extended_capabilities_shift = 32;  // MariaDB's caps are the high half of `capabilities`
constexpr unsigned upper_capabilities_shift = 16;     // the handshake's second int<2> of capability flags
constexpr std::size_t max_auth_plugin_data_size = 0xff;
constexpr std::size_t max_short_auth_response = 0xff;  // 1-byte length (client_secure_connection)

// Capabilities from the 32-bit MySQL flags and the 4 filler bytes MariaDB uses when client_mysql is unset.
capabilities combine_capabilities(std::uint32_t mysql_flags, std::uint32_t filler) noexcept {
  capabilities caps = mysql_flags;
  if ((caps & client_mysql) == 0) caps |= capabilities{filler} << extended_capabilities_shift;
  return caps;
}

std::uint32_t extended_part(capabilities caps) noexcept {
  return (caps & client_mysql) != 0 ? 0U : static_cast<std::uint32_t>(caps >> extended_capabilities_shift);
}

// The fixed 32-byte head shared by SSLRequest and HandshakeResponse41.
void read_response_head(payload_reader& r, capabilities& caps, std::uint32_t& max_packet, std::uint8_t& charset) {
  const std::uint32_t flags = r.u32();
  max_packet = r.u32();
  charset = r.u8();
  r.skip(handshake_response_filler_size);
  caps = combine_capabilities(flags, r.u32());
}

void write_response_head(payload_writer& w, capabilities caps, std::uint32_t max_packet, std::uint8_t charset) {
  w.u32(static_cast<std::uint32_t>(caps)).u32(max_packet).u8(charset).zeros(handshake_response_filler_size);
  w.u32(extended_part(caps));
}

}  // namespace

codec_errc decode_handshake_v10(bytes_view payload, handshake_v10& out) noexcept {
  out = handshake_v10{};
  payload_reader r(payload);
  const std::uint8_t version = r.u8();
  if (!r.ok()) return r.error();
  if (version != protocol_version_10) return codec_errc::bad_value;
  out.server_version = r.nul_string();
  out.connection_id = r.u32();
  out.auth_plugin_data_part1 = r.fixed_bytes(auth_plugin_data_part1_size);
  r.skip(1);  // filler
  std::uint32_t flags = r.u16();
  if (!r.ok() || r.at_end()) {
    out.server_capabilities = flags;
    return r.error();
  }
  out.character_set = r.u8();
  out.status_flags = r.u16();
  flags |= std::uint32_t{r.u16()} << upper_capabilities_shift;
  const std::uint8_t auth_data_size = r.u8();
  r.skip(handshake_reserved_size);
  out.server_capabilities = combine_capabilities(flags, r.u32());
  if (!r.ok()) return r.error();
  if ((out.server_capabilities & client_secure_connection) != 0) {
    const std::size_t declared = auth_data_size > auth_plugin_data_part1_size
                                     ? std::size_t{auth_data_size} - auth_plugin_data_part1_size
                                     : 0;
    bytes_view part2 = r.fixed_bytes(std::max(auth_plugin_data_part2_min_size + 1, declared));
    if (!part2.empty() && part2.back() == 0) part2 = part2.first(part2.size() - 1);
    out.auth_plugin_data_part2 = part2;
  }
  if ((out.server_capabilities & client_plugin_auth) != 0) out.auth_plugin_name = r.nul_string_or_rest();
  return r.error();
}

std::uint8_t encode_handshake_v10(byte_buffer& out, std::uint8_t sequence_id, const handshake_v10& handshake) {
  const capabilities caps = handshake.server_capabilities;
  const bytes_view part1 = handshake.auth_plugin_data_part1.first(
      std::min(handshake.auth_plugin_data_part1.size(), auth_plugin_data_part1_size));
  // part2 + its NUL must fit the 1-byte auth-plugin-data length together with part1.
  const bytes_view part2 = handshake.auth_plugin_data_part2.first(std::min(
      handshake.auth_plugin_data_part2.size(), max_auth_plugin_data_size - auth_plugin_data_part1_size - 1));
  const std::size_t part2_padded = std::max(part2.size(), auth_plugin_data_part2_min_size);

  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.u8(protocol_version_10).nul_string(handshake.server_version).u32(handshake.connection_id);
  w.bytes(part1).zeros(auth_plugin_data_part1_size - part1.size());
  w.u8(0);  // filler
  w.u16(static_cast<std::uint16_t>(caps)).u8(handshake.character_set).u16(handshake.status_flags);
  w.u16(static_cast<std::uint16_t>(caps >> upper_capabilities_shift));
  w.u8((caps & client_plugin_auth) != 0
           ? static_cast<std::uint8_t>(auth_plugin_data_part1_size + part2_padded + 1)
           : std::uint8_t{0});
  w.zeros(handshake_reserved_size).u32(extended_part(caps));
  if ((caps & client_secure_connection) != 0) w.bytes(part2).zeros(part2_padded - part2.size()).u8(0);
  if ((caps & client_plugin_auth) != 0) w.nul_string(handshake.auth_plugin_name);
  return finish_packet(out, header, sequence_id);
}

std::size_t copy_scramble(const handshake_v10& handshake, std::span<std::uint8_t> out) noexcept {
  std::size_t written = 0;
  for (const bytes_view part : {handshake.auth_plugin_data_part1, handshake.auth_plugin_data_part2}) {
    const std::size_t count = std::min(part.size(), out.size() - written);
    std::copy_n(part.begin(), count, out.begin() + static_cast<std::ptrdiff_t>(written));
    written += count;
  }
  return written;
}

bool is_ssl_request(bytes_view payload) noexcept {
  return payload.size() == ssl_request_size && (payload[1] & (client_ssl >> 8)) != 0;
}

codec_errc decode_ssl_request(bytes_view payload, ssl_request& out) noexcept {
  out = ssl_request{};
  payload_reader r(payload);
  read_response_head(r, out.client_capabilities, out.max_packet_size, out.character_set);
  if (!r.ok()) return r.error();
  if ((out.client_capabilities & client_ssl) == 0) return codec_errc::bad_value;
  return r.finish();
}

std::uint8_t encode_ssl_request(byte_buffer& out, std::uint8_t sequence_id, const ssl_request& request) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  write_response_head(w, request.client_capabilities | client_ssl, request.max_packet_size, request.character_set);
  return finish_packet(out, header, sequence_id);
}

codec_errc decode_handshake_response41(bytes_view payload, handshake_response41& out) noexcept {
  out = handshake_response41{};
  payload_reader r(payload);
  read_response_head(r, out.client_capabilities, out.max_packet_size, out.character_set);
  const capabilities caps = out.client_capabilities;
  if (!r.ok()) return r.error();
  if ((caps & client_protocol_41) == 0) return codec_errc::not_negotiated;  // a 3.20 HandshakeResponse
  out.username = r.nul_string();
  if ((caps & client_plugin_auth_lenenc_client_data) != 0) {
    out.auth_response = r.lenenc_bytes();
  } else if ((caps & client_secure_connection) != 0) {
    out.auth_response = r.fixed_bytes(r.u8());
  } else {
    out.auth_response = as_bytes(r.nul_string());
  }
  if ((caps & client_connect_with_db) != 0 && r.ok() && !r.at_end()) out.database = r.nul_string();
  if ((caps & client_plugin_auth) != 0 && r.ok() && !r.at_end()) out.auth_plugin_name = r.nul_string_or_rest();
  if ((caps & client_connect_attrs) != 0 && r.ok() && !r.at_end()) out.connect_attributes = r.lenenc_bytes();
  return r.error();
}

std::uint8_t encode_handshake_response41(byte_buffer& out, std::uint8_t sequence_id,
                                         const handshake_response41& response) {
  const capabilities caps = response.client_capabilities;
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  write_response_head(w, caps, response.max_packet_size, response.character_set);
  w.nul_string(response.username);
  if ((caps & client_plugin_auth_lenenc_client_data) != 0) {
    w.lenenc_bytes(response.auth_response);
  } else if ((caps & client_secure_connection) != 0) {
    const bytes_view auth = response.auth_response.first(std::min(response.auth_response.size(), max_short_auth_response));
    w.u8(static_cast<std::uint8_t>(auth.size())).bytes(auth);
  } else {
    w.nul_string(as_text(response.auth_response));
  }
  if ((caps & client_connect_with_db) != 0) w.nul_string(response.database);
  if ((caps & client_plugin_auth) != 0) w.nul_string(response.auth_plugin_name);
  if ((caps & client_connect_attrs) != 0) w.lenenc_bytes(response.connect_attributes);
  return finish_packet(out, header, sequence_id);
}

bool connect_attribute_reader::next(std::string_view& key, std::string_view& value) noexcept {
  if (!reader_.ok() || reader_.at_end()) return false;
  key = reader_.lenenc_string();
  value = reader_.lenenc_string();
  return reader_.ok();
}

void append_connect_attribute(byte_buffer& block, std::string_view key, std::string_view value) {
  payload_writer(block).lenenc_string(key).lenenc_string(value);
}

codec_errc decode_auth_switch_request(bytes_view payload, auth_switch_request& out) noexcept {
  out = auth_switch_request{};
  payload_reader r(payload);
  const std::uint8_t header = r.u8();
  if (!r.ok()) return r.error();
  if (header != auth_switch_header) return codec_errc::unexpected_header;
  if (r.at_end()) {
    out.old_password = true;
    return codec_errc::ok;
  }
  out.plugin_name = r.nul_string();
  out.plugin_data = r.rest_bytes();
  return r.error();
}

std::uint8_t encode_auth_switch_request(byte_buffer& out, std::uint8_t sequence_id, std::string_view plugin_name,
                                        bytes_view plugin_data) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(auth_switch_header).nul_string(plugin_name).bytes(plugin_data);
  return finish_packet(out, header, sequence_id);
}

codec_errc decode_auth_more_data(bytes_view payload, bytes_view& data) noexcept {
  data = {};
  if (payload.empty()) return codec_errc::truncated;
  if (payload[0] != auth_more_data_header) return codec_errc::unexpected_header;
  data = payload.subspan(1);
  return codec_errc::ok;
}

std::uint8_t encode_auth_more_data(byte_buffer& out, std::uint8_t sequence_id, bytes_view data) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(auth_more_data_header).bytes(data);
  return finish_packet(out, header, sequence_id);
}

codec_errc decode_change_user(bytes_view payload, capabilities caps, change_user& out) noexcept {
  out = change_user{};
  payload_reader r(payload);
  const std::uint8_t command = r.u8();
  if (!r.ok()) return r.error();
  if (command != com_change_user) return codec_errc::unexpected_header;
  out.username = r.nul_string();
  if ((caps & client_secure_connection) != 0) {
    out.auth_response = r.fixed_bytes(r.u8());
  } else {
    out.auth_response = as_bytes(r.nul_string());
  }
  if (r.ok() && !r.at_end()) out.database = r.nul_string();
  if (r.ok() && !r.at_end()) {
    out.has_character_set = true;
    out.character_set = r.u16();
    if ((caps & client_plugin_auth) != 0 && r.ok() && !r.at_end()) out.auth_plugin_name = r.nul_string_or_rest();
    if ((caps & client_connect_attrs) != 0 && r.ok() && !r.at_end()) out.connect_attributes = r.lenenc_bytes();
  }
  return r.error();
}

std::uint8_t encode_change_user(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const change_user& request) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.u8(com_change_user).nul_string(request.username);
  if ((caps & client_secure_connection) != 0) {
    const bytes_view auth = request.auth_response.first(std::min(request.auth_response.size(), max_short_auth_response));
    w.u8(static_cast<std::uint8_t>(auth.size())).bytes(auth);
  } else {
    w.nul_string(as_text(request.auth_response));
  }
  w.nul_string(request.database);
  if (request.has_character_set) {
    w.u16(request.character_set);
    if ((caps & client_plugin_auth) != 0) w.nul_string(request.auth_plugin_name);
    if ((caps & client_connect_attrs) != 0) w.lenenc_bytes(request.connect_attributes);
  }
  return finish_packet(out, header, sequence_id);
}

}  // namespace sluice::backends::mysql::wire
