// Prepared-statement packets, sans-IO: COM_STMT_PREPARE_OK, COM_STMT_EXECUTE (decoded given the
// statement's parameter count; re-encoded with its parameter types for a server connection that has not
// seen them), the other COM_STMT_* commands, and in-place statement-id rewriting for a proxy that maps
// client statement ids to each server connection's own.
#pragma once

#include "backends/mysql/wire/codec_errc.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <cstdint>
#include <string_view>

namespace sluice::backends::mysql::wire {

// COM_STMT_PREPARE_OK: 0x00, statement id, column count, parameter count, a reserved 0, warnings. The
// parameter definitions (then EOF without client_deprecate_eof) and the column definitions (likewise)
// follow when their counts are not zero.
struct stmt_prepare_ok {
  std::uint32_t statement_id = 0;
  std::uint16_t num_columns = 0;
  std::uint16_t num_params = 0;
  std::uint16_t warnings = 0;
};
// A packet that ends after the reserved byte (pre-4.1 servers) has no warnings. A MySQL 8
// metadata_follows byte (client_optional_resultset_metadata, not negotiated) is ignored.
codec_errc decode_stmt_prepare_ok(bytes_view payload, stmt_prepare_ok& out) noexcept;
std::uint8_t encode_stmt_prepare_ok(byte_buffer& out, std::uint8_t sequence_id, const stmt_prepare_ok& ok);

// COM_STMT_PREPARE carries the SQL text after the command byte; encode it with encode_command (command.hpp).

// ---- statement ids in client commands ----

// True for the commands that carry a statement id right after the command byte: COM_STMT_EXECUTE,
// COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_FETCH (and MariaDB's
// COM_STMT_BULK_EXECUTE).
bool carries_statement_id(std::uint8_t command) noexcept;
// The statement id of such a command. `payload` may be only the first chunk of a split message: the id is
// in its first five bytes. unexpected_header for other commands, truncated if too short.
codec_errc read_statement_id(bytes_view payload, std::uint32_t& statement_id) noexcept;
// Rewrites the statement id in place (in the payload; for a framed packet pass the bytes after its
// header). Same checks as read_statement_id; nothing is written on failure.
codec_errc rewrite_statement_id(mutable_bytes payload, std::uint32_t statement_id) noexcept;

// MariaDB: statement id 0xFFFFFFFF in COM_STMT_EXECUTE means "the statement prepared last on this
// connection" (pipelined prepare + execute). A proxy must resolve it before rewriting.
inline constexpr std::uint32_t last_prepared_statement_id = 0xffffffff;

// ---- COM_STMT_EXECUTE ----

struct stmt_execute {
  std::uint32_t statement_id = 0;
  std::uint8_t flags = 0;            // cursor_type_*
  std::uint32_t iteration_count = 0; // always 1
  bytes_view null_bitmap;            // (num_params + 7) / 8 bytes, bit i = parameter i is NULL
  bool new_params_bound = false;     // the types follow; else the server uses the last ones it saw
  bytes_view param_types;            // 2 bytes per parameter (mysql_type_*, param_flag_unsigned) when bound
  bytes_view values;                 // the binary-protocol values of the non-NULL parameters
};
// Decodes given the statement's parameter count (from its COM_STMT_PREPARE_OK): with zero parameters
// nothing follows the iteration count (anything that does is left in `values`). Fails with not_negotiated
// for the MySQL 8 PARAMETER_COUNT_AVAILABLE flag (query attributes, not negotiated by sluice).
codec_errc decode_stmt_execute(bytes_view payload, std::uint16_t num_params, stmt_execute& out) noexcept;
// Writes a COM_STMT_EXECUTE for `num_params` parameters. With `param_types` non-empty (2 * num_params
// bytes) new-params-bound is 1 and the types are sent: how a proxy re-sends types a client bound on
// another server connection. null_bitmap must be (num_params + 7) / 8 bytes (cut or zero-padded).
std::uint8_t encode_stmt_execute(byte_buffer& out, std::uint8_t sequence_id, const stmt_execute& execute,
                                 std::uint16_t num_params);

// ---- the other COM_STMT_* commands ----

struct stmt_send_long_data {
  std::uint32_t statement_id = 0;
  std::uint16_t param_id = 0;
  bytes_view data;
};
codec_errc decode_stmt_send_long_data(bytes_view payload, stmt_send_long_data& out) noexcept;
std::uint8_t encode_stmt_send_long_data(byte_buffer& out, std::uint8_t sequence_id, const stmt_send_long_data& data);

struct stmt_fetch {
  std::uint32_t statement_id = 0;
  std::uint32_t num_rows = 0;
};
codec_errc decode_stmt_fetch(bytes_view payload, stmt_fetch& out) noexcept;
std::uint8_t encode_stmt_fetch(byte_buffer& out, std::uint8_t sequence_id, const stmt_fetch& fetch);

// COM_STMT_CLOSE and COM_STMT_RESET: the command byte (checked) and a statement id.
codec_errc decode_stmt_close(bytes_view payload, std::uint32_t& statement_id) noexcept;
codec_errc decode_stmt_reset(bytes_view payload, std::uint32_t& statement_id) noexcept;
std::uint8_t encode_stmt_close(byte_buffer& out, std::uint8_t sequence_id, std::uint32_t statement_id);
std::uint8_t encode_stmt_reset(byte_buffer& out, std::uint8_t sequence_id, std::uint32_t statement_id);

}  // namespace sluice::backends::mysql::wire
