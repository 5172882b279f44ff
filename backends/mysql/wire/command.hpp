// Client commands of the command phase, sans-IO: the command byte and the simple bodies (COM_QUERY,
// COM_INIT_DB, COM_FIELD_LIST, COM_PROCESS_KILL, COM_SET_OPTION ...). Prepared-statement commands are in
// prepared_statement.hpp, COM_CHANGE_USER in handshake.hpp.
#pragma once

#include "backends/mysql/wire/codec_errc.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <cstdint>
#include <string_view>

namespace sluice::backends::mysql::wire {

// A command packet: its command byte and what follows it.
struct command_view {
  std::uint8_t command = 0;  // com_*
  bytes_view body;
};
codec_errc decode_command(bytes_view payload, command_view& out) noexcept;

// COM_QUERY / COM_STMT_PREPARE: the SQL text is the rest of the packet. (MySQL 8's query attributes,
// client_query_attributes, are not negotiated by sluice.)
codec_errc decode_query(bytes_view payload, std::string_view& sql) noexcept;
codec_errc decode_stmt_prepare(bytes_view payload, std::string_view& sql) noexcept;
// COM_INIT_DB: the schema name is the rest of the packet.
codec_errc decode_init_db(bytes_view payload, std::string_view& schema) noexcept;
// COM_PROCESS_KILL: a 4-byte connection id.
codec_errc decode_process_kill(bytes_view payload, std::uint32_t& connection_id) noexcept;
// COM_SET_OPTION: a 2-byte option (mysql_option_multi_statements_on / _off). Servers answer it with an EOF
// packet, not an OK, unless client_deprecate_eof is negotiated (seen with MariaDB 10.11).
codec_errc decode_set_option(bytes_view payload, std::uint16_t& option) noexcept;
// COM_FIELD_LIST: a NUL-terminated table name and a wildcard (the rest).
struct field_list {
  std::string_view table;
  std::string_view wildcard;
};
codec_errc decode_field_list(bytes_view payload, field_list& out) noexcept;

// Appends a command packet: the command byte and `body`. Returns the next sequence id (commands start a
// new exchange, so sequence_id is normally 0).
std::uint8_t encode_command(byte_buffer& out, std::uint8_t sequence_id, std::uint8_t command, bytes_view body = {});
std::uint8_t encode_query(byte_buffer& out, std::uint8_t sequence_id, std::string_view sql);
std::uint8_t encode_process_kill(byte_buffer& out, std::uint8_t sequence_id, std::uint32_t connection_id);
std::uint8_t encode_set_option(byte_buffer& out, std::uint8_t sequence_id, std::uint16_t option);

}  // namespace sluice::backends::mysql::wire
