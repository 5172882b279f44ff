// Result-set packets: column count, column definitions, text and binary rows (see resultset.hpp).
#include "backends/mysql/wire/resultset.hpp"

#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/payload_writer.hpp"

namespace sluice::backends::mysql::wire {
namespace {

constexpr std::size_t column_filler_size = 2;  // two zero bytes end the fixed fields
constexpr std::size_t temporal_length_prefix = 1;

}  // namespace

codec_errc decode_column_count(bytes_view payload, capabilities caps, column_count& out) noexcept {
  out = column_count{};
  payload_reader r(payload);
  out.count = r.lenenc_int();
  if ((caps & mariadb_client_cache_metadata) != 0) out.metadata_follows = r.u8() != 0;
  if (r.ok() && out.count == 0) return codec_errc::bad_value;  // 0x00 is an OK packet, not a column count
  return r.finish();
}

std::uint8_t encode_column_count(byte_buffer& out, std::uint8_t sequence_id, capabilities caps, const column_count& count) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.lenenc_int(count.count);
  if ((caps & mariadb_client_cache_metadata) != 0) w.u8(count.metadata_follows ? 1 : 0);
  return finish_packet(out, header, sequence_id);
}

codec_errc decode_column_definition(bytes_view payload, capabilities caps, column_definition& out) noexcept {
  out = column_definition{};
  payload_reader r(payload);
  out.catalog = r.lenenc_string();
  out.schema = r.lenenc_string();
  out.table = r.lenenc_string();
  out.org_table = r.lenenc_string();
  out.name = r.lenenc_string();
  out.org_name = r.lenenc_string();
  if ((caps & mariadb_client_extended_metadata) != 0) out.extended_metadata = r.lenenc_bytes();
  const std::uint64_t fixed_size = r.lenenc_int();
  if (r.ok() && fixed_size != column_fixed_fields_size) return codec_errc::bad_value;
  out.character_set = r.u16();
  out.column_length = r.u32();
  out.type = r.u8();
  out.flags = r.u16();
  out.decimals = r.u8();
  r.skip(column_filler_size);
  out.default_value = r.rest_bytes();
  return r.error();
}

std::uint8_t encode_column_definition(byte_buffer& out, std::uint8_t sequence_id, capabilities caps,
                                      const column_definition& column) {
  const std::size_t header = begin_packet(out);
  payload_writer w(out);
  w.lenenc_string(column.catalog).lenenc_string(column.schema).lenenc_string(column.table);
  w.lenenc_string(column.org_table).lenenc_string(column.name).lenenc_string(column.org_name);
  if ((caps & mariadb_client_extended_metadata) != 0) w.lenenc_bytes(column.extended_metadata);
  w.lenenc_int(column_fixed_fields_size).u16(column.character_set).u32(column.column_length).u8(column.type);
  w.u16(column.flags).u8(column.decimals).zeros(column_filler_size).bytes(column.default_value);
  return finish_packet(out, header, sequence_id);
}

resultset_packet classify_resultset_packet(bytes_view first_chunk, std::size_t payload_size, capabilities caps) noexcept {
  if (first_chunk.empty()) return resultset_packet::malformed;
  if (first_chunk[0] == err_header) return resultset_packet::error;
  if (first_chunk[0] == eof_header && payload_size < max_packet_payload)
    return (caps & client_deprecate_eof) != 0 ? resultset_packet::ok_terminator : resultset_packet::eof;
  return resultset_packet::row;
}

bool text_row_reader::next(row_field& out) noexcept {
  out = row_field{};
  if (!reader_.ok() || reader_.at_end()) return false;
  out.value = reader_.lenenc_bytes_or_null(out.is_null);
  return reader_.ok();
}

codec_errc binary_value_size(std::uint8_t type, bytes_view data, std::size_t& prefix_size, std::size_t& value_size) noexcept {
  prefix_size = 0;
  value_size = 0;
  switch (type) {
    case mysql_type_null: return codec_errc::ok;
    case mysql_type_tiny: value_size = 1; return codec_errc::ok;
    case mysql_type_short:
    case mysql_type_year: value_size = 2; return codec_errc::ok;
    case mysql_type_int24:
    case mysql_type_long:
    case mysql_type_float: value_size = 4; return codec_errc::ok;
    case mysql_type_longlong:
    case mysql_type_double: value_size = 8; return codec_errc::ok;
    case mysql_type_date:
    case mysql_type_datetime:
    case mysql_type_timestamp:
    case mysql_type_time:
    case mysql_type_newdate:
    case mysql_type_timestamp2:
    case mysql_type_datetime2:
    case mysql_type_time2:
      if (data.empty()) return codec_errc::truncated;
      prefix_size = temporal_length_prefix;
      value_size = data[0];
      return codec_errc::ok;
    case mysql_type_decimal:
    case mysql_type_newdecimal:
    case mysql_type_varchar:
    case mysql_type_bit:
    case mysql_type_json:
    case mysql_type_enum:
    case mysql_type_set:
    case mysql_type_tiny_blob:
    case mysql_type_medium_blob:
    case mysql_type_long_blob:
    case mysql_type_blob:
    case mysql_type_var_string:
    case mysql_type_string:
    case mysql_type_geometry: {
      payload_reader r(data);
      const std::uint64_t length = r.lenenc_int();
      if (!r.ok()) return r.error();
      if (length > r.remaining()) return codec_errc::truncated;
      prefix_size = r.offset();
      value_size = static_cast<std::size_t>(length);
      return codec_errc::ok;
    }
    default: return codec_errc::bad_value;
  }
}

binary_row_reader::binary_row_reader(bytes_view payload, std::span<const std::uint8_t> column_types) noexcept
    : reader_(payload), types_(column_types) {
  const std::uint8_t header = reader_.u8();
  if (reader_.ok() && header != binary_row_header) reader_.fail(codec_errc::unexpected_header);
  null_bitmap_ = reader_.fixed_bytes(binary_row_null_bitmap_size(types_.size()));
}

bool binary_row_reader::next(row_field& out) noexcept {
  out = row_field{};
  if (!reader_.ok() || column_ >= types_.size()) return false;
  const std::size_t bit = column_ + binary_row_null_bitmap_offset;
  const std::uint8_t type = types_[column_++];
  if ((null_bitmap_[bit / 8] >> (bit % 8)) & 1U) {
    out.is_null = true;
    return true;
  }
  std::size_t prefix = 0;
  std::size_t size = 0;
  const codec_errc sized = binary_value_size(type, reader_.rest(), prefix, size);
  if (sized != codec_errc::ok) {
    reader_.fail(sized);
    return false;
  }
  reader_.skip(prefix);
  out.value = reader_.fixed_bytes(size);
  return reader_.ok();
}

}  // namespace sluice::backends::mysql::wire
