// Prepared-statement packets and statement-id rewriting (see prepared_statement.hpp).
#include "backends/mysql/wire/prepared_statement.hpp"

#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_writer.hpp"
#include "backends/mysql/wire/resultset.hpp"

#include <algorithm>

namespace sluice::backends::mysql::wire {
namespace {

constexpr std::size_t statement_id_offset = 1;  // right after the command byte
constexpr std::size_t statement_id_size = 4;
constexpr std::size_t param_type_size = 2;

// Reads the command byte and the statement id of a command that has nothing else (CLOSE, RESET).
codec_errc decode_id_only(bytes_view payload, std::uint8_t command, std::uint32_t& statement_id) noexcept {
  statement_id = 0;
  payload_reader r(payload);
  const std::uint8_t got = r.u8();
  if (!r.ok()) return r.error();
  if (got != command) return codec_errc::unexpected_header;
  statement_id = r.u32();
  return r.finish();
}

std::uint8_t encode_id_only(byte_buffer& out, std::uint8_t sequence_id, std::uint8_t command, std::uint32_t statement_id) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(command).u32(statement_id);
  return finish_packet(out, header, sequence_id);
}

}  // namespace

codec_errc decode_stmt_prepare_ok(bytes_view payload, stmt_prepare_ok& out) noexcept {
  out = stmt_prepare_ok{};
  payload_reader r(payload);
  const std::uint8_t header = r.u8();
  if (!r.ok()) return r.error();
  if (header != ok_header) return codec_errc::unexpected_header;
  out.statement_id = r.u32();
  out.num_columns = r.u16();
  out.num_params = r.u16();
  r.skip(1);  // reserved
  if (r.ok() && !r.at_end()) out.warnings = r.u16();
  return r.error();
}

std::uint8_t encode_stmt_prepare_ok(byte_buffer& out, std::uint8_t sequence_id, const stmt_prepare_ok& ok) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(ok_header).u32(ok.statement_id).u16(ok.num_columns).u16(ok.num_params).u8(0).u16(ok.warnings);
  return finish_packet(out, header, sequence_id);
}

bool carries_statement_id(std::uint8_t command) noexcept {
  switch (command) {
    case com_stmt_execute:
    case com_stmt_send_long_data:
    case com_stmt_close:
    case com_stmt_reset:
    case com_stmt_fetch:
    case com_stmt_bulk_execute: return true;
    default: return false;
  }
}

codec_errc read_statement_id(bytes_view payload, std::uint32_t& statement_id) noexcept {
  statement_id = 0;
  if (payload.empty()) return codec_errc::truncated;
  if (!carries_statement_id(payload[0])) return codec_errc::unexpected_header;
  if (payload.size() < statement_id_offset + statement_id_size) return codec_errc::truncated;
  payload_reader r(payload.subspan(statement_id_offset, statement_id_size));
  statement_id = r.u32();
  return codec_errc::ok;
}

codec_errc rewrite_statement_id(mutable_bytes payload, std::uint32_t statement_id) noexcept {
  std::uint32_t old_id = 0;
  const codec_errc checked = read_statement_id(payload, old_id);
  if (checked != codec_errc::ok) return checked;
  for (std::size_t i = 0; i < statement_id_size; ++i)
    payload[statement_id_offset + i] = static_cast<std::uint8_t>(statement_id >> (8 * i));
  return codec_errc::ok;
}

codec_errc decode_stmt_execute(bytes_view payload, std::uint16_t num_params, stmt_execute& out) noexcept {
  out = stmt_execute{};
  payload_reader r(payload);
  const std::uint8_t command = r.u8();
  if (!r.ok()) return r.error();
  if (command != com_stmt_execute) return codec_errc::unexpected_header;
  out.statement_id = r.u32();
  out.flags = r.u8();
  out.iteration_count = r.u32();
  if (!r.ok()) return r.error();
  if ((out.flags & parameter_count_available) != 0) return codec_errc::not_negotiated;
  if (num_params > 0) {
    out.null_bitmap = r.fixed_bytes(parameter_null_bitmap_size(num_params));
    out.new_params_bound = r.u8() != 0;
    if (out.new_params_bound) out.param_types = r.fixed_bytes(std::size_t{num_params} * param_type_size);
  }
  out.values = r.rest_bytes();
  return r.error();
}

std::uint8_t encode_stmt_execute(byte_buffer& out, std::uint8_t sequence_id, const stmt_execute& execute,
                                 std::uint16_t num_params) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.u8(com_stmt_execute).u32(execute.statement_id).u8(execute.flags).u32(execute.iteration_count);
  if (num_params > 0) {
    const std::size_t bitmap_size = parameter_null_bitmap_size(num_params);
    const bytes_view bitmap = execute.null_bitmap.first(std::min(bitmap_size, execute.null_bitmap.size()));
    w.bytes(bitmap).zeros(bitmap_size - bitmap.size());
    const std::size_t types_size = std::size_t{num_params} * param_type_size;
    if (execute.param_types.empty()) {
      w.u8(0);
    } else {
      const bytes_view types = execute.param_types.first(std::min(types_size, execute.param_types.size()));
      w.u8(1).bytes(types).zeros(types_size - types.size());
    }
  }
  w.bytes(execute.values);
  return finish_packet(out, header, sequence_id);
}

codec_errc decode_stmt_send_long_data(bytes_view payload, stmt_send_long_data& out) noexcept {
  out = stmt_send_long_data{};
  payload_reader r(payload);
  const std::uint8_t command = r.u8();
  if (!r.ok()) return r.error();
  if (command != com_stmt_send_long_data) return codec_errc::unexpected_header;
  out.statement_id = r.u32();
  out.param_id = r.u16();
  out.data = r.rest_bytes();
  return r.error();
}

std::uint8_t encode_stmt_send_long_data(byte_buffer& out, std::uint8_t sequence_id, const stmt_send_long_data& data) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(com_stmt_send_long_data).u32(data.statement_id).u16(data.param_id).bytes(data.data);
  return finish_packet(out, header, sequence_id);
}

codec_errc decode_stmt_fetch(bytes_view payload, stmt_fetch& out) noexcept {
  out = stmt_fetch{};
  payload_reader r(payload);
  const std::uint8_t command = r.u8();
  if (!r.ok()) return r.error();
  if (command != com_stmt_fetch) return codec_errc::unexpected_header;
  out.statement_id = r.u32();
  out.num_rows = r.u32();
  return r.finish();
}

std::uint8_t encode_stmt_fetch(byte_buffer& out, std::uint8_t sequence_id, const stmt_fetch& fetch) {
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(com_stmt_fetch).u32(fetch.statement_id).u32(fetch.num_rows);
  return finish_packet(out, header, sequence_id);
}

codec_errc decode_stmt_close(bytes_view payload, std::uint32_t& statement_id) noexcept {
  return decode_id_only(payload, com_stmt_close, statement_id);
}
codec_errc decode_stmt_reset(bytes_view payload, std::uint32_t& statement_id) noexcept {
  return decode_id_only(payload, com_stmt_reset, statement_id);
}
std::uint8_t encode_stmt_close(byte_buffer& out, std::uint8_t sequence_id, std::uint32_t statement_id) {
  return encode_id_only(out, sequence_id, com_stmt_close, statement_id);
}
std::uint8_t encode_stmt_reset(byte_buffer& out, std::uint8_t sequence_id, std::uint32_t statement_id) {
  return encode_id_only(out, sequence_id, com_stmt_reset, statement_id);
}

}  // namespace sluice::backends::mysql::wire
