// Command-phase client packets with simple bodies (see command.hpp).
#include "backends/mysql/wire/command.hpp"

#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_writer.hpp"

namespace sluice::backends::mysql::wire {
namespace {

// Checks the command byte and returns a reader positioned after it.
codec_errc expect_command(bytes_view payload, std::uint8_t command, payload_reader& body) noexcept {
  if (payload.empty()) return codec_errc::truncated;
  if (payload[0] != command) return codec_errc::unexpected_header;
  body = payload_reader(payload.subspan(1));
  return codec_errc::ok;
}

codec_errc decode_text_body(bytes_view payload, std::uint8_t command, std::string_view& text) noexcept {
  text = {};
  payload_reader r({});
  const codec_errc e = expect_command(payload, command, r);
  if (e != codec_errc::ok) return e;
  text = r.rest_string();
  return codec_errc::ok;
}

}  // namespace

codec_errc decode_command(bytes_view payload, command_view& out) noexcept {
  out = command_view{};
  if (payload.empty()) return codec_errc::truncated;
  out.command = payload[0];
  out.body = payload.subspan(1);
  return codec_errc::ok;
}

codec_errc decode_query(bytes_view payload, std::string_view& sql) noexcept {
  return decode_text_body(payload, com_query, sql);
}

codec_errc decode_stmt_prepare(bytes_view payload, std::string_view& sql) noexcept {
  return decode_text_body(payload, com_stmt_prepare, sql);
}

codec_errc decode_init_db(bytes_view payload, std::string_view& schema) noexcept {
  return decode_text_body(payload, com_init_db, schema);
}

codec_errc decode_process_kill(bytes_view payload, std::uint32_t& connection_id) noexcept {
  connection_id = 0;
  payload_reader r({});
  const codec_errc e = expect_command(payload, com_process_kill, r);
  if (e != codec_errc::ok) return e;
  connection_id = r.u32();
  return r.finish();
}

codec_errc decode_set_option(bytes_view payload, std::uint16_t& option) noexcept {
  option = 0;
  payload_reader r({});
  const codec_errc e = expect_command(payload, com_set_option, r);
  if (e != codec_errc::ok) return e;
  option = r.u16();
  return r.finish();
}

codec_errc decode_field_list(bytes_view payload, field_list& out) noexcept {
  out = field_list{};
  payload_reader r({});
  const codec_errc e = expect_command(payload, com_field_list, r);
  if (e != codec_errc::ok) return e;
  out.table = r.nul_string();
  out.wildcard = r.rest_string();
  return r.error();
}

std::uint8_t encode_command(byte_buffer& out, std::uint8_t sequence_id, std::uint8_t command, bytes_view body) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(command).bytes(body);
  return finish_packet(out, header, sequence_id);
}

std::uint8_t encode_query(byte_buffer& out, std::uint8_t sequence_id, std::string_view sql) {
  return encode_command(out, sequence_id, com_query, as_bytes(sql));
}

std::uint8_t encode_process_kill(byte_buffer& out, std::uint8_t sequence_id, std::uint32_t connection_id) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(com_process_kill).u32(connection_id);
  return finish_packet(out, header, sequence_id);
}

std::uint8_t encode_set_option(byte_buffer& out, std::uint8_t sequence_id, std::uint16_t option) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(com_set_option).u16(option);
  return finish_packet(out, header, sequence_id);
}

}  // namespace sluice::backends::mysql::wire
