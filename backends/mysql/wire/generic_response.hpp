// The generic server responses, sans-IO: OK (0x00, and the 0xFE-headed OK that ends a result set under
// CLIENT_DEPRECATE_EOF), ERR (with SQLSTATE; MariaDB's progress report), EOF, and the session-state
// tracker block inside an OK. Decoders return views into the payload; encoders append whole packets.
#pragma once

#include "backends/mysql/wire/codec_errc.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <cstdint>
#include <string_view>

namespace sluice::backends::mysql::wire {

// What the first byte (and length) of a command's response says it is.
enum class response_kind {
  ok,               // OK packet (0x00); also COM_STMT_PREPARE_OK for a prepare
  err,              // ERR packet (0xFF), not a progress report
  progress_report,  // MariaDB progress report (ERR header with errno 0xFFFF); more packets follow
  eof,              // 0xFE packet shorter than 9 bytes: EOF, or OK-as-EOF under CLIENT_DEPRECATE_EOF
  local_infile,     // LOCAL INFILE request (0xFB + file name)
  result_set,       // a column count: column definitions and rows follow
  malformed,        // empty payload, or a 0xFE packet too long for EOF where no row can be
};
// `first_chunk` is the payload (or its first chunk); `payload_size` the logical size.
response_kind classify_response(bytes_view first_chunk, std::size_t payload_size) noexcept;

struct ok_packet {
  std::uint64_t affected_rows = 0;
  std::uint64_t last_insert_id = 0;
  std::uint16_t status_flags = 0;  // server_status_* / server_session_state_changed
  std::uint16_t warnings = 0;
  std::string_view info;           // human-readable, often empty
  bytes_view session_state;        // the session-state block (entries), empty if absent
  bool eof_header = false;         // 0xFE-headed (ends a result set under CLIENT_DEPRECATE_EOF)
};

// OK packet, header 0x00 or 0xFE. `caps` is the negotiated capability set. With client_session_track the
// info string and then (if server_session_state_changed) the session-state block are length-encoded and
// each optional at the end of the packet (servers omit an empty info). Without it the documented format
// is string<EOF>, but MariaDB and MySQL servers write a length-encoded string there too: a length prefix
// that spans exactly the rest is taken as one, anything else as string<EOF>. Bytes after the session-state
// block are ignored, as clients ignore them.
codec_errc decode_ok(bytes_view payload, capabilities caps, ok_packet& out) noexcept;

// True if `payload` is an OK packet by its header: 0x00, or 0xFE with client_deprecate_eof and a size
// below 0xFFFFFF (a row that starts with 0xFE is at least 16 MiB long).
bool is_ok_packet(bytes_view payload, capabilities caps) noexcept;

struct err_packet {
  std::uint16_t error_code = 0;
  std::string_view sqlstate;  // 5 characters, or empty when the server sent no '#' marker
  std::string_view message;
};
// ERR packet (0xFF). The SQLSTATE marker is optional (servers omit it for errors sent before the
// handshake, and without client_protocol_41). A progress report (errno 0xFFFF) fails with bad_value:
// use decode_progress_report for those.
codec_errc decode_err(bytes_view payload, capabilities caps, err_packet& out) noexcept;

// MariaDB progress report: ERR header, errno 0xFFFF, a count byte (always 1), stage, max stage,
// progress in thousandths of a percent (int<3>), and a length-encoded info string. Sent only to
// clients with mariadb_client_progress; forward or drop, never treat as the command's result.
struct progress_report {
  std::uint8_t stage = 0;
  std::uint8_t max_stage = 0;
  std::uint32_t progress = 0;  // 0 .. 100000
  std::string_view info;
};
bool is_progress_report(bytes_view payload) noexcept;
codec_errc decode_progress_report(bytes_view payload, progress_report& out) noexcept;

struct eof_packet {
  std::uint16_t warnings = 0;
  std::uint16_t status_flags = 0;
};
// EOF packet: 0xFE, and (client_protocol_41) warnings and status; shorter than 9 bytes.
codec_errc decode_eof(bytes_view payload, capabilities caps, eof_packet& out) noexcept;

// ---- session state tracker (the block inside an OK packet) ----

struct session_state_entry {
  std::uint8_t type = 0;     // session_track_*
  bytes_view data;           // the entry's raw data
  std::string_view name;     // system variable name; schema name
  std::string_view value;    // system variable value; "1" for state change (the raw entry data); GTIDs;
                             // transaction characteristics; the 8-character transaction state
  std::uint8_t gtid_encoding = 0;  // session_track_gtids: the encoding specification byte
};

// Iterates the entries of a session-state block: each is a type byte and a length-encoded data field.
// Entries of unknown types are skipped. next() returns false at the end or on malformed input; error()
// tells which.
class session_state_reader {
 public:
  explicit session_state_reader(bytes_view block) noexcept : reader_(block) {}
  bool next(session_state_entry& out) noexcept;
  codec_errc error() const noexcept { return reader_.error(); }

 private:
  payload_reader reader_;
};

// Appends one entry to a session-state block being built in `block` (for encode_ok).
void append_session_state_entry(byte_buffer& block, std::uint8_t type, bytes_view data);
void append_session_track_variable(byte_buffer& block, std::string_view name, std::string_view value);
void append_session_track_schema(byte_buffer& block, std::string_view schema);

// ---- encoders: append one whole packet to `out`, return the next sequence id ----

// Writes what decode_ok reads back: with client_session_track, info if non-empty or a session-state block
// follows, and the block if server_session_state_changed is set; without it, info if non-empty.
std::uint8_t encode_ok(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const ok_packet& ok);
// sqlstate must be 5 characters (it is padded with '0' or cut); written with its '#' marker when
// client_protocol_41 is negotiated.
std::uint8_t encode_err(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, std::uint16_t error_code,
                        std::string_view sqlstate, std::string_view message);
std::uint8_t encode_eof(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const eof_packet& eof);
std::uint8_t encode_progress_report(byte_buffer& out, std::uint8_t sequence_id, const progress_report& report);

}  // namespace sluice::backends::mysql::wire
