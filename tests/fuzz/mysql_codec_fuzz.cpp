// libFuzzer target for the MySQL/MariaDB wire codec: frames arbitrary bytes as packets (joining chunks),
// runs every decoder and iterator on every payload under several capability sets, and checks that what a
// decoder accepts re-encodes to a packet that decodes to the same fields. Never crashes, never throws, for
// any input.
#include "backends/mysql/wire/command.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/handshake.hpp"
#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_writer.hpp"
#include "backends/mysql/wire/prepared_statement.hpp"
#include "backends/mysql/wire/response_tracker.hpp"
#include "backends/mysql/wire/resultset.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace wire = sluice::backends::mysql::wire;
using wire::bytes_view;
using wire::codec_errc;

namespace {

// Small, so that length fields from the fuzzer hit packet_too_large as well as ok and need_more.
constexpr std::size_t max_message_size = 4096;

constexpr wire::capabilities full_caps =
    wire::client_long_flag | wire::client_connect_with_db | wire::client_protocol_41 | wire::client_transactions |
    wire::client_secure_connection | wire::client_multi_statements | wire::client_multi_results |
    wire::client_ps_multi_results | wire::client_plugin_auth | wire::client_connect_attrs |
    wire::client_plugin_auth_lenenc_client_data | wire::client_session_track | wire::client_deprecate_eof |
    wire::mariadb_client_progress | wire::mariadb_client_extended_metadata | wire::mariadb_client_cache_metadata;
constexpr wire::capabilities classic_caps = wire::client_protocol_41 | wire::client_secure_connection |
                                            wire::client_plugin_auth | wire::client_transactions;
constexpr wire::capabilities cap_sets[] = {full_caps, classic_caps, 0};

void require(bool condition) {
  if (!condition) std::abort();
}

bool same(bytes_view a, bytes_view b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

// The payload of the single packet `encode` wrote into `out` (which must hold exactly one).
bytes_view reframed(const wire::byte_buffer& out) {
  const auto framed = wire::frame_message(out, out.size());
  require(framed.status == codec_errc::ok && framed.message.wire.size() == out.size());
  require(framed.message.contiguous());
  return framed.message.payload();
}

void check_generic(bytes_view p, wire::capabilities caps, wire::byte_buffer& scratch) {
  wire::ok_packet ok;
  if (wire::decode_ok(p, caps, ok) == codec_errc::ok) {
    scratch.clear();
    wire::encode_ok(scratch, 0, caps, ok);
    wire::ok_packet again;
    require(wire::decode_ok(reframed(scratch), caps, again) == codec_errc::ok);
    require(again.affected_rows == ok.affected_rows && again.last_insert_id == ok.last_insert_id);
    require(again.status_flags == ok.status_flags && again.warnings == ok.warnings);
    require(again.info == ok.info && again.eof_header == ok.eof_header);
    if ((caps & wire::client_session_track) != 0) require(same(again.session_state, ok.session_state));
    wire::session_state_reader reader(ok.session_state);
    wire::session_state_entry entry;
    while (reader.next(entry)) require(entry.type <= wire::session_track_transaction_state);
  }
  wire::err_packet err;
  if (wire::decode_err(p, caps, err) == codec_errc::ok) {
    require(err.sqlstate.empty() || err.sqlstate.size() == wire::sqlstate_size);
    scratch.clear();
    wire::encode_err(scratch, 0, caps, err.error_code, err.sqlstate, err.message);
    wire::err_packet again;
    require(wire::decode_err(reframed(scratch), caps, again) == codec_errc::ok);
    require(again.error_code == err.error_code);
    if (!err.sqlstate.empty() && (caps & wire::client_protocol_41) != 0)
      require(again.sqlstate == err.sqlstate && again.message == err.message);
  }
  wire::eof_packet eof;
  if (wire::decode_eof(p, caps, eof) == codec_errc::ok) {
    require(p.size() < wire::eof_max_payload);
    scratch.clear();
    wire::encode_eof(scratch, 0, caps, eof);
    require(same(reframed(scratch), p));
  }
  wire::progress_report progress;
  if (wire::decode_progress_report(p, progress) == codec_errc::ok) {
    scratch.clear();
    wire::encode_progress_report(scratch, 0, progress);
    wire::progress_report again;
    require(wire::decode_progress_report(reframed(scratch), again) == codec_errc::ok);
    require(again.stage == progress.stage && again.max_stage == progress.max_stage);
    require(again.progress == progress.progress && again.info == progress.info);
  }
  (void)wire::is_ok_packet(p, caps);
  (void)wire::classify_response(p, p.size());
  (void)wire::classify_resultset_packet(p, p.size(), caps);
}

void check_handshake(bytes_view p, wire::capabilities caps, wire::byte_buffer& scratch) {
  wire::handshake_v10 h;
  if (wire::decode_handshake_v10(p, h) == codec_errc::ok) {
    require(h.auth_plugin_data_part1.size() == wire::auth_plugin_data_part1_size);
    std::uint8_t scramble[wire::native_password_scramble_size];
    require(wire::copy_scramble(h, scramble) <= sizeof scramble);
    scratch.clear();
    wire::encode_handshake_v10(scratch, 0, h);
    wire::handshake_v10 again;
    require(wire::decode_handshake_v10(reframed(scratch), again) == codec_errc::ok);
    require(again.server_version == h.server_version && again.connection_id == h.connection_id);
    require(again.server_capabilities == h.server_capabilities);
    require(same(again.auth_plugin_data_part1, h.auth_plugin_data_part1));
    require(again.auth_plugin_name == h.auth_plugin_name);
  }
  wire::ssl_request ssl;
  if (wire::decode_ssl_request(p, ssl) == codec_errc::ok) {
    require(wire::is_ssl_request(p));
    scratch.clear();
    wire::encode_ssl_request(scratch, 1, ssl);
    wire::ssl_request again;
    require(wire::decode_ssl_request(reframed(scratch), again) == codec_errc::ok);
    require(again.client_capabilities == ssl.client_capabilities && again.max_packet_size == ssl.max_packet_size);
    require(again.character_set == ssl.character_set);
  }
  wire::handshake_response41 r;
  if (wire::decode_handshake_response41(p, r) == codec_errc::ok) {
    scratch.clear();
    wire::encode_handshake_response41(scratch, 1, r);
    wire::handshake_response41 again;
    require(wire::decode_handshake_response41(reframed(scratch), again) == codec_errc::ok);
    require(again.client_capabilities == r.client_capabilities && again.username == r.username);
    require(same(again.auth_response, r.auth_response) && again.database == r.database);
    require(again.auth_plugin_name == r.auth_plugin_name);
    require(same(again.connect_attributes, r.connect_attributes));
    wire::connect_attribute_reader attrs(r.connect_attributes);
    std::string_view key;
    std::string_view value;
    while (attrs.next(key, value)) {
    }
  }
  wire::auth_switch_request s;
  if (wire::decode_auth_switch_request(p, s) == codec_errc::ok && !s.old_password) {
    scratch.clear();
    wire::encode_auth_switch_request(scratch, 2, s.plugin_name, s.plugin_data);
    require(same(reframed(scratch), p));
  }
  bytes_view more;
  if (wire::decode_auth_more_data(p, more) == codec_errc::ok) {
    scratch.clear();
    wire::encode_auth_more_data(scratch, 2, more);
    require(same(reframed(scratch), p));
  }
  wire::change_user c;
  if (wire::decode_change_user(p, caps, c) == codec_errc::ok) {
    scratch.clear();
    wire::encode_change_user(scratch, 0, caps, c);
    wire::change_user again;
    require(wire::decode_change_user(reframed(scratch), caps, again) == codec_errc::ok);
    require(again.username == c.username && same(again.auth_response, c.auth_response));
    require(again.database == c.database && again.has_character_set == c.has_character_set);
    require(again.character_set == c.character_set && again.auth_plugin_name == c.auth_plugin_name);
    require(same(again.connect_attributes, c.connect_attributes));
  }
}

void check_resultset(bytes_view p, wire::capabilities caps, wire::byte_buffer& scratch) {
  wire::column_count count;
  if (wire::decode_column_count(p, caps, count) == codec_errc::ok) {
    scratch.clear();
    wire::encode_column_count(scratch, 1, caps, count);
    wire::column_count again;
    require(wire::decode_column_count(reframed(scratch), caps, again) == codec_errc::ok);
    require(again.count == count.count && again.metadata_follows == count.metadata_follows);
  }
  wire::column_definition column;
  if (wire::decode_column_definition(p, caps, column) == codec_errc::ok) {
    scratch.clear();
    wire::encode_column_definition(scratch, 2, caps, column);
    wire::column_definition again;
    require(wire::decode_column_definition(reframed(scratch), caps, again) == codec_errc::ok);
    require(again.catalog == column.catalog && again.schema == column.schema && again.table == column.table);
    require(again.org_table == column.org_table && again.name == column.name && again.org_name == column.org_name);
    require(same(again.extended_metadata, column.extended_metadata) && same(again.default_value, column.default_value));
    require(again.character_set == column.character_set && again.column_length == column.column_length);
    require(again.type == column.type && again.flags == column.flags && again.decimals == column.decimals);
  }
  wire::row_field field;
  wire::text_row_reader text_row(p);
  std::size_t total = 0;
  while (text_row.next(field)) total += field.value.size();
  require(total <= p.size());
  // Binary row with column types taken from the payload itself.
  const std::size_t columns = p.empty() ? 0 : p.back() % 24;
  std::uint8_t types[24];
  for (std::size_t i = 0; i < columns; ++i) types[i] = i < p.size() ? p[p.size() - 1 - i] : wire::mysql_type_tiny;
  wire::binary_row_reader binary_row(p, std::span<const std::uint8_t>(types, columns));
  std::size_t fields = 0;
  while (binary_row.next(field)) ++fields;
  require(fields <= columns);
  if (binary_row.error() == codec_errc::ok) require(fields == columns);
}

void check_commands(bytes_view p, wire::byte_buffer& scratch) {
  wire::stmt_prepare_ok prepared;
  if (wire::decode_stmt_prepare_ok(p, prepared) == codec_errc::ok) {
    scratch.clear();
    wire::encode_stmt_prepare_ok(scratch, 1, prepared);
    wire::stmt_prepare_ok again;
    require(wire::decode_stmt_prepare_ok(reframed(scratch), again) == codec_errc::ok);
    require(again.statement_id == prepared.statement_id && again.num_columns == prepared.num_columns);
    require(again.num_params == prepared.num_params && again.warnings == prepared.warnings);
  }
  const std::uint16_t num_params = p.size() > 5 ? static_cast<std::uint16_t>(p[5] % 40) : 0;
  wire::stmt_execute execute;
  if (wire::decode_stmt_execute(p, num_params, execute) == codec_errc::ok) {
    require(execute.null_bitmap.size() == (num_params + 7u) / 8u);
    require(execute.param_types.empty() || execute.param_types.size() == num_params * 2u);
    scratch.clear();
    wire::encode_stmt_execute(scratch, 0, execute, num_params);
    wire::stmt_execute again;
    require(wire::decode_stmt_execute(reframed(scratch), num_params, again) == codec_errc::ok);
    require(again.statement_id == execute.statement_id && again.flags == execute.flags);
    require(again.iteration_count == execute.iteration_count && same(again.null_bitmap, execute.null_bitmap));
    require(same(again.param_types, execute.param_types) && same(again.values, execute.values));
  }
  std::uint32_t id = 0;
  if (wire::read_statement_id(p, id) == codec_errc::ok) {
    scratch.assign(p.begin(), p.end());
    require(wire::rewrite_statement_id(wire::mutable_bytes(scratch.data(), scratch.size()), ~id) == codec_errc::ok);
    std::uint32_t rewritten = 0;
    require(wire::read_statement_id(scratch, rewritten) == codec_errc::ok && rewritten == ~id);
    require(same(bytes_view(scratch).subspan(5), p.subspan(5)));
  }
  wire::stmt_send_long_data long_data;
  (void)wire::decode_stmt_send_long_data(p, long_data);
  wire::stmt_fetch fetch;
  if (wire::decode_stmt_fetch(p, fetch) == codec_errc::ok) {
    scratch.clear();
    wire::encode_stmt_fetch(scratch, 0, fetch);
    require(same(reframed(scratch), p));
  }
  (void)wire::decode_stmt_close(p, id);
  (void)wire::decode_stmt_reset(p, id);
  wire::command_view command;
  std::string_view text;
  std::uint16_t option = 0;
  wire::field_list field_list;
  (void)wire::decode_command(p, command);
  (void)wire::decode_query(p, text);
  (void)wire::decode_stmt_prepare(p, text);
  (void)wire::decode_init_db(p, text);
  (void)wire::decode_process_kill(p, id);
  (void)wire::decode_set_option(p, option);
  (void)wire::decode_field_list(p, field_list);
}

void decode_all(bytes_view p, wire::byte_buffer& scratch) {
  for (const wire::capabilities caps : cap_sets) {
    check_generic(p, caps, scratch);
    check_handshake(p, caps, scratch);
    check_resultset(p, caps, scratch);
  }
  check_commands(p, scratch);
}

// Frames `input` as a stream of logical messages until it runs out or framing stops.
void consume(bytes_view input, wire::byte_buffer& joined, wire::byte_buffer& scratch) {
  while (!input.empty()) {
    const auto framed = wire::frame_message(input, max_message_size);
    if (framed.status != codec_errc::ok) {
      if (framed.status == codec_errc::need_more) require(framed.needed > input.size());
      if (framed.status == codec_errc::packet_too_large) require(framed.needed > max_message_size);
      return;
    }
    const auto& m = framed.message;
    require(m.wire.data() == input.data() && m.wire.size() <= input.size());
    require(m.chunk_count >= 1 && m.payload_size <= max_message_size);
    require(m.wire.size() == m.payload_size + m.chunk_count * wire::packet_header_size);
    require(m.next_sequence_id == static_cast<std::uint8_t>(m.first_sequence_id + m.chunk_count));
    joined.clear();
    wire::append_payload(m, joined);
    require(joined.size() == m.payload_size);
    // The joined payload re-encodes to the same chunks.
    scratch.clear();
    require(wire::write_message(scratch, joined, m.first_sequence_id) == m.next_sequence_id);
    require(same(scratch, m.wire));
    decode_all(joined, scratch);
    input = input.subspan(m.wire.size());
  }
}

// The response tracker fed the input's messages as a server's answers: the first byte picks the command
// and the capability set, and a command starts again whenever a response is done. Whatever the bytes,
// it ends in a defined step and never reads past a message.
void track_responses(bytes_view input) {
  if (input.empty()) return;
  const std::uint8_t command = input[0];
  wire::response_tracker tracker(cap_sets[command % std::size(cap_sets)]);
  tracker.on_command(command);
  input = input.subspan(1);
  while (!input.empty()) {
    const auto framed = wire::frame_message(input, max_message_size);
    if (framed.status != codec_errc::ok) return;
    const auto& m = framed.message;
    const auto result = tracker.on_packet(m.first_chunk(), m.payload_size);
    if (result == wire::response_tracker::step::done || result == wire::response_tracker::step::error) {
      require(result == wire::response_tracker::step::error || tracker.idle());
      tracker.on_command(command);
    } else if (result == wire::response_tracker::step::local_infile) {
      tracker.on_infile_sent();
    }
    input = input.subspan(m.wire.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static wire::byte_buffer joined;
  static wire::byte_buffer scratch;
  const bytes_view input(data, size);
  consume(input, joined, scratch);
  // Decoders must also cope with any bytes, not just framed payloads.
  decode_all(input, scratch);
  track_responses(input);
  return 0;
}
