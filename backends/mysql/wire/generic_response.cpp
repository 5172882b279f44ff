// OK, ERR, EOF, progress report and session-state decoding and encoding (see generic_response.hpp).
#include "backends/mysql/wire/generic_response.hpp"

#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_writer.hpp"

namespace sluice::backends::mysql::wire {
namespace {

// A MariaDB progress report's fixed part after errno: count, stage, max stage, int<3> progress.
constexpr std::uint8_t progress_report_string_count = 1;
constexpr std::size_t progress_fixed_size = 6;
constexpr std::size_t err_fixed_size = 3;  // 0xFF and the int<2> error number

}  // namespace

response_kind classify_response(bytes_view first_chunk, std::size_t payload_size) noexcept {
  if (first_chunk.empty()) return response_kind::malformed;
  switch (first_chunk[0]) {
    case ok_header: return response_kind::ok;
    case err_header: return is_progress_report(first_chunk) ? response_kind::progress_report : response_kind::err;
    case eof_header: return payload_size < max_packet_payload ? response_kind::eof : response_kind::malformed;
    case local_infile_header: return response_kind::local_infile;
    default: return response_kind::result_set;
  }
}

bool is_ok_packet(bytes_view payload, capabilities caps) noexcept {
  if (payload.empty()) return false;
  if (payload[0] == ok_header) return true;
  return payload[0] == eof_header && (caps & client_deprecate_eof) != 0 && payload.size() < max_packet_payload;
}

codec_errc decode_ok(bytes_view payload, capabilities caps, ok_packet& out) noexcept {
  out = ok_packet{};
  payload_reader r(payload);
  const std::uint8_t header = r.u8();
  if (!r.ok()) return r.error();
  if (header != ok_header && header != eof_header) return codec_errc::unexpected_header;
  out.eof_header = header == eof_header;
  out.affected_rows = r.lenenc_int();
  out.last_insert_id = r.lenenc_int();
  if ((caps & client_protocol_41) != 0) {
    out.status_flags = r.u16();
    out.warnings = r.u16();
  } else if ((caps & client_transactions) != 0) {
    out.status_flags = r.u16();
  }
  if (!r.ok()) return r.error();
  if ((caps & client_session_track) != 0) {
    if (!r.at_end()) out.info = r.lenenc_string();
    if ((out.status_flags & server_session_state_changed) != 0 && !r.at_end()) out.session_state = r.lenenc_bytes();
    return r.error();
  }
  if (r.at_end()) return codec_errc::ok;
  // Without session tracking: a length-encoded info when its prefix spans exactly the rest, else string<EOF>.
  payload_reader probe(r.rest());
  const std::string_view lenenc_info = probe.lenenc_string();
  out.info = probe.ok() && probe.at_end() ? lenenc_info : r.rest_string();
  return codec_errc::ok;
}

bool is_progress_report(bytes_view payload) noexcept {
  if (payload.size() < err_fixed_size || payload[0] != err_header) return false;
  payload_reader r(payload.subspan(1, 2));
  return r.u16() == progress_report_errno;
}

codec_errc decode_err(bytes_view payload, capabilities caps, err_packet& out) noexcept {
  out = err_packet{};
  payload_reader r(payload);
  const std::uint8_t header = r.u8();
  if (!r.ok()) return r.error();
  if (header != err_header) return codec_errc::unexpected_header;
  out.error_code = r.u16();
  if (!r.ok()) return r.error();
  if (out.error_code == progress_report_errno) return codec_errc::bad_value;
  (void)caps;  // the marker decides: servers send it with client_protocol_41 and omit it otherwise
  if (r.remaining() >= 1 + sqlstate_size && r.peek_u8() == static_cast<std::uint8_t>(sqlstate_marker)) {
    r.skip(1);
    out.sqlstate = r.fixed_string(sqlstate_size);
  }
  out.message = r.rest_string();
  return r.error();
}

codec_errc decode_progress_report(bytes_view payload, progress_report& out) noexcept {
  out = progress_report{};
  if (!is_progress_report(payload))
    return payload.size() < err_fixed_size ? codec_errc::truncated : codec_errc::unexpected_header;
  payload_reader r(payload.subspan(err_fixed_size));
  if (r.remaining() < progress_fixed_size) return codec_errc::truncated;
  r.skip(1);  // number of strings (always 1)
  out.stage = r.u8();
  out.max_stage = r.u8();
  out.progress = r.u24();
  out.info = r.lenenc_string();
  return r.finish();
}

codec_errc decode_eof(bytes_view payload, capabilities caps, eof_packet& out) noexcept {
  out = eof_packet{};
  if (payload.empty()) return codec_errc::truncated;
  if (payload[0] != eof_header) return codec_errc::unexpected_header;
  if (payload.size() >= eof_max_payload) return codec_errc::bad_value;
  payload_reader r(payload.subspan(1));
  if ((caps & client_protocol_41) != 0) {
    out.warnings = r.u16();
    out.status_flags = r.u16();
  }
  return r.finish();
}

bool session_state_reader::next(session_state_entry& out) noexcept {
  for (;;) {
    if (!reader_.ok() || reader_.at_end()) return false;
    out = session_state_entry{};
    out.type = reader_.u8();
    out.data = reader_.lenenc_bytes();
    if (!reader_.ok()) return false;
    payload_reader data(out.data);
    switch (out.type) {
      case session_track_system_variables:
        out.name = data.lenenc_string();
        out.value = data.lenenc_string();
        break;
      case session_track_schema:
        out.name = data.lenenc_string();
        break;
      case session_track_state_change:
        // The entry's data is the flag itself ("1"), with no length of its own (real MariaDB 10.11 bytes:
        // 02 01 31), unlike every other type.
        out.value = as_text(out.data);
        data.skip(out.data.size());
        break;
      case session_track_transaction_characteristics:
      case session_track_transaction_state:
        out.value = data.lenenc_string();
        break;
      case session_track_gtids:
        out.gtid_encoding = data.u8();
        out.value = data.lenenc_string();
        break;
      default:
        continue;  // a type this codec does not know: skip it
    }
    // Trailing bytes inside an entry are tolerated (room for future fields); a short one is not.
    if (!data.ok()) {
      reader_.fail(data.error());
      return false;
    }
    return true;
  }
}

void append_session_state_entry(byte_buffer& block, std::uint8_t type, bytes_view data) {
  payload_writer(block).u8(type).lenenc_bytes(data);
}

void append_session_track_variable(byte_buffer& block, std::string_view name, std::string_view value) {
  payload_writer w(block);
  w.u8(session_track_system_variables)
      .lenenc_int(lenenc_int_size(name.size()) + name.size() + lenenc_int_size(value.size()) + value.size());
  w.lenenc_string(name).lenenc_string(value);
}

void append_session_track_schema(byte_buffer& block, std::string_view schema) {
  payload_writer w(block);
  w.u8(session_track_schema).lenenc_int(lenenc_int_size(schema.size()) + schema.size());
  w.lenenc_string(schema);
}

std::uint8_t encode_ok(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const ok_packet& ok) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.u8(ok.eof_header ? eof_header : ok_header).lenenc_int(ok.affected_rows).lenenc_int(ok.last_insert_id);
  if ((caps & client_protocol_41) != 0) {
    w.u16(ok.status_flags).u16(ok.warnings);
  } else if ((caps & client_transactions) != 0) {
    w.u16(ok.status_flags);
  }
  if ((caps & client_session_track) != 0) {
    const bool state = (ok.status_flags & server_session_state_changed) != 0;
    if (!ok.info.empty() || state) w.lenenc_string(ok.info);
    if (state) w.lenenc_bytes(ok.session_state);
  } else if (!ok.info.empty()) {
    w.lenenc_string(ok.info);
  }
  return finish_packet(out, header, sequence_id);
}

std::uint8_t encode_err(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, std::uint16_t error_code,
                        std::string_view sqlstate, std::string_view message) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.u8(err_header).u16(error_code);
  if ((caps & client_protocol_41) != 0) {
    w.u8(static_cast<std::uint8_t>(sqlstate_marker));
    const std::string_view state = sqlstate.substr(0, sqlstate_size);
    w.string(state);
    for (std::size_t i = state.size(); i < sqlstate_size; ++i) w.u8('0');
  }
  w.string(message);
  return finish_packet(out, header, sequence_id);
}

std::uint8_t encode_eof(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const eof_packet& eof) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.u8(eof_header);
  if ((caps & client_protocol_41) != 0) w.u16(eof.warnings).u16(eof.status_flags);
  return finish_packet(out, header, sequence_id);
}

std::uint8_t encode_progress_report(byte_buffer& out, std::uint8_t sequence_id, const progress_report& report) {
  const std::size_t header = begin_packet(out);
  payload_writer(out)
      .u8(err_header)
      .u16(progress_report_errno)
      .u8(progress_report_string_count)
      .u8(report.stage)
      .u8(report.max_stage)
      .u24(report.progress)
      .lenenc_string(report.info);
  return finish_packet(out, header, sequence_id);
}

}  // namespace sluice::backends::mysql::wire
