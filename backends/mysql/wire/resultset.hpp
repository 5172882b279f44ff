// Result sets, sans-IO: the column count, ColumnDefinition41, text rows (length-encoded strings or 0xFB
// NULL), binary rows (NULL bitmap, then values sized by column type), and the classification of each
// packet in a result-set stream as a row or a terminator.
#pragma once

#include "backends/mysql/wire/codec_errc.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace sluice::backends::mysql::wire {

// Column count packet. With mariadb_client_cache_metadata a byte says whether the column definitions
// follow (0: the client reuses the ones it cached). sluice does not negotiate metadata caching, but the
// byte is decoded when the capability is passed.
struct column_count {
  std::uint64_t count = 0;
  bool metadata_follows = true;
};
codec_errc decode_column_count(bytes_view payload, capabilities caps, column_count& out) noexcept;
std::uint8_t encode_column_count(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const column_count& count);

struct column_definition {
  std::string_view catalog;  // always "def"
  std::string_view schema;
  std::string_view table;      // alias
  std::string_view org_table;  // physical table
  std::string_view name;       // alias
  std::string_view org_name;   // physical column
  bytes_view extended_metadata;  // mariadb_client_extended_metadata: the type-info block (data type name, format)
  std::uint16_t character_set = 0;
  std::uint32_t column_length = 0;
  std::uint8_t type = 0;  // mysql_type_*
  std::uint16_t flags = 0;
  std::uint8_t decimals = 0;
  bytes_view default_value;  // COM_FIELD_LIST responses only: what follows the fixed fields
};
// ColumnDefinition41. `caps` decides whether MariaDB's extended metadata block is present.
codec_errc decode_column_definition(bytes_view payload, capabilities caps, column_definition& out) noexcept;
std::uint8_t encode_column_definition(byte_buffer& out, std::uint8_t sequence_id, capabilities caps,
                                      const column_definition& column);

// A packet in a result set after the column definitions (and, without CLIENT_DEPRECATE_EOF, their EOF).
enum class resultset_packet {
  row,            // a text or binary row
  eof,            // EOF packet: the last row was sent (no client_deprecate_eof)
  ok_terminator,  // 0xFE-headed OK ending the result set (client_deprecate_eof)
  error,          // ERR: the statement failed part-way; the result set ends
  malformed,      // an empty payload
};
// `first_chunk` is the payload or its first chunk, `payload_size` the logical size: a row may start with
// 0xFE only as the 8-byte length prefix of a 16 MiB+ string, so a 0xFE packet shorter than 0xFFFFFF bytes
// is a terminator.
resultset_packet classify_resultset_packet(bytes_view first_chunk, std::size_t payload_size, capabilities caps) noexcept;

// One field of a row.
struct row_field {
  bool is_null = false;
  bytes_view value;  // without its length prefix; empty for NULL
};

// Iterates the fields of a text row: each a string<lenenc>, or 0xFB for NULL.
class text_row_reader {
 public:
  explicit text_row_reader(bytes_view payload) noexcept : reader_(payload) {}
  bool next(row_field& out) noexcept;  // false at the end or on error
  codec_errc error() const noexcept { return reader_.error(); }

 private:
  payload_reader reader_;
};

// Size on the wire of a binary-protocol value of `type` at the start of `data` (the same encoding rows and
// COM_STMT_EXECUTE parameters use): fixed for numbers, a 1-byte length for temporal types, int<lenenc>
// for strings. Sets prefix_size (the length prefix) and value_size (what follows it).
codec_errc binary_value_size(std::uint8_t type, bytes_view data, std::size_t& prefix_size, std::size_t& value_size) noexcept;

// Iterates the fields of a binary row (0x00, NULL bitmap with a 2-bit offset, values) given the column
// types in order (mysql_type_* per column, from the column definitions).
class binary_row_reader {
 public:
  binary_row_reader(bytes_view payload, std::span<const std::uint8_t> column_types) noexcept;
  bool next(row_field& out) noexcept;  // false after the last column or on error
  codec_errc error() const noexcept { return reader_.error(); }
  // After the last field: ok if every byte was used, else trailing_bytes (or the error).
  codec_errc finish() const noexcept { return reader_.finish(); }

 private:
  payload_reader reader_;
  std::span<const std::uint8_t> types_;
  bytes_view null_bitmap_;
  std::size_t column_ = 0;
};

// NULL bitmap size for `count` columns of a binary row (2 reserved bits) and for `count` parameters of
// COM_STMT_EXECUTE (no offset).
constexpr std::size_t binary_row_null_bitmap_size(std::size_t count) noexcept {
  return (count + binary_row_null_bitmap_offset + 7) / 8;
}
constexpr std::size_t parameter_null_bitmap_size(std::size_t count) noexcept { return (count + 7) / 8; }

}  // namespace sluice::backends::mysql::wire
