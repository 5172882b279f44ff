// PostgreSQL protocol v3 framing, decoders and encoders (see codec.hpp). All integers are big-endian.
#include "backends/pg/wire/codec.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace sluice::backends::pg::wire {
namespace {

constexpr std::size_t md5_salt_size = 4;  // AuthenticationMD5Password: int32 code, then a 4-byte salt
constexpr char error_field_sqlstate = 'C';

std::uint32_t read_u32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void put_u32(byte_buffer& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 24));
  out.push_back(static_cast<std::uint8_t>(value >> 16));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void patch_u32(byte_buffer& out, std::size_t offset, std::uint32_t value) {
  out[offset] = static_cast<std::uint8_t>(value >> 24);
  out[offset + 1] = static_cast<std::uint8_t>(value >> 16);
  out[offset + 2] = static_cast<std::uint8_t>(value >> 8);
  out[offset + 3] = static_cast<std::uint8_t>(value);
}

void append(byte_buffer& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
}

}  // namespace

frame_result frame_message(bytes_view buffer, std::size_t max_size) noexcept {
  frame_result result;
  if (buffer.size() < typed_header_size) {
    result.status = frame_status::need_more;
    return result;
  }
  const std::uint32_t length = read_u32(buffer.data() + 1);
  if (length < 4) {
    result.status = frame_status::bad_length;
    return result;
  }
  // Computed in 64 bits: length 0xFFFFFFFF plus the type byte must not wrap where size_t is 32 bits.
  const std::uint64_t total64 = std::uint64_t{length} + 1;
  if (total64 > max_size) {
    result.status = frame_status::too_large;
    result.needed = static_cast<std::size_t>(std::min<std::uint64_t>(total64, SIZE_MAX));
    return result;
  }
  const auto total = static_cast<std::size_t>(total64);
  if (buffer.size() < total) {
    result.status = frame_status::need_more;
    result.needed = total;
    return result;
  }
  result.status = frame_status::ok;
  result.message.type = static_cast<char>(buffer[0]);
  result.message.payload = buffer.subspan(typed_header_size, total - typed_header_size);
  result.message.wire_size = total;
  return result;
}

startup_result frame_startup(bytes_view buffer, std::size_t max_size) noexcept {
  startup_result result;
  if (buffer.size() < 4) return result;
  const std::uint32_t length = read_u32(buffer.data());
  if (length < startup_header_size) {
    result.status = frame_status::bad_length;
    return result;
  }
  if (length > max_size) {
    result.status = frame_status::too_large;
    result.needed = length;
    return result;
  }
  if (buffer.size() < length) {
    result.needed = length;
    return result;
  }
  result.status = frame_status::ok;
  result.packet.code = read_u32(buffer.data() + 4);
  result.packet.payload = buffer.subspan(startup_header_size, length - startup_header_size);
  result.packet.wire_size = length;
  return result;
}

std::optional<std::string_view> string_reader::next_string() noexcept {
  if (offset_ >= data_.size()) return std::nullopt;
  const auto* begin = data_.data() + offset_;
  const void* nul = std::memchr(begin, 0, data_.size() - offset_);
  if (nul == nullptr) return std::nullopt;
  const auto length = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - begin);
  offset_ += length + 1;
  return std::string_view(reinterpret_cast<const char*>(begin), length);
}

std::optional<std::int32_t> string_reader::next_int32() noexcept {
  if (data_.size() - offset_ < 4) return std::nullopt;
  const auto value = static_cast<std::int32_t>(read_u32(data_.data() + offset_));
  offset_ += 4;
  return value;
}

std::optional<std::int16_t> string_reader::next_int16() noexcept {
  if (data_.size() - offset_ < 2) return std::nullopt;
  const auto value = static_cast<std::int16_t>((data_[offset_] << 8) | data_[offset_ + 1]);
  offset_ += 2;
  return value;
}

std::optional<std::uint8_t> string_reader::next_byte() noexcept {
  if (offset_ >= data_.size()) return std::nullopt;
  return data_[offset_++];
}

std::optional<bytes_view> string_reader::next_bytes(std::size_t count) noexcept {
  if (data_.size() - offset_ < count) return std::nullopt;
  auto view = data_.subspan(offset_, count);
  offset_ += count;
  return view;
}

std::optional<cancel_request> decode_cancel_request(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto pid = reader.next_int32();
  auto key = reader.next_int32();
  if (!pid || !key || !reader.at_end()) return std::nullopt;
  return cancel_request{*pid, *key};
}

std::optional<std::string_view> decode_query(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto sql = reader.next_string();
  if (!sql || !reader.at_end()) return std::nullopt;
  return sql;
}

std::optional<parse_message> decode_parse(bytes_view payload) noexcept {
  string_reader reader(payload);
  parse_message message;
  auto name = reader.next_string();
  auto query = name ? reader.next_string() : std::nullopt;
  const auto signed_count = query ? reader.next_int16() : std::nullopt;
  if (!signed_count) return std::nullopt;
  const auto count = static_cast<std::uint16_t>(*signed_count);  // unsigned on the wire (see codec.hpp)
  auto types = reader.next_bytes(std::size_t{count} * 4);
  if (!types || !reader.at_end()) return std::nullopt;
  message.statement = *name;
  message.query = *query;
  message.parameter_count = count;
  message.parameter_types = *types;
  return message;
}

std::optional<bind_message> decode_bind(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto portal = reader.next_string();
  auto statement = portal ? reader.next_string() : std::nullopt;
  if (!statement) return std::nullopt;
  return bind_message{*portal, *statement, reader.rest()};
}

namespace {
std::optional<target_message> decode_target(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto kind = reader.next_byte();
  if (!kind || (*kind != 'S' && *kind != 'P')) return std::nullopt;
  auto name = reader.next_string();
  if (!name || !reader.at_end()) return std::nullopt;
  return target_message{static_cast<char>(*kind), *name};
}
}  // namespace

std::optional<target_message> decode_describe(bytes_view payload) noexcept {
  return decode_target(payload);
}
std::optional<target_message> decode_close(bytes_view payload) noexcept {
  return decode_target(payload);
}

std::optional<execute_message> decode_execute(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto portal = reader.next_string();
  auto rows = portal ? reader.next_int32() : std::nullopt;
  if (!rows || !reader.at_end()) return std::nullopt;
  return execute_message{*portal, *rows};
}

std::optional<authentication_message> decode_authentication(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto code = reader.next_int32();
  if (!code) return std::nullopt;
  const auto data = reader.rest();
  // Requests with a fixed shape are checked here so that no caller reads a salt that is not there.
  switch (static_cast<auth_code>(*code)) {
    case auth_code::ok:
    case auth_code::kerberos_v5:
    case auth_code::cleartext_password:
    case auth_code::gss:
    case auth_code::sspi:
      if (!data.empty()) return std::nullopt;
      break;
    case auth_code::md5_password:
      if (data.size() != md5_salt_size) return std::nullopt;
      break;
    default:  // SASL, SASLContinue, SASLFinal, GSSContinue and unknown codes: data is opaque here
      break;
  }
  return authentication_message{static_cast<auth_code>(*code), data};
}

std::optional<parameter_status> decode_parameter_status(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto name = reader.next_string();
  auto value = name ? reader.next_string() : std::nullopt;
  if (!value || !reader.at_end()) return std::nullopt;
  return parameter_status{*name, *value};
}

std::optional<backend_key_data> decode_backend_key_data(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto pid = reader.next_int32();
  auto key = reader.next_int32();
  if (!pid || !key || !reader.at_end()) return std::nullopt;
  return backend_key_data{*pid, *key};
}

std::optional<tx_status> decode_ready_for_query(bytes_view payload) noexcept {
  if (payload.size() != 1) return std::nullopt;
  switch (payload[0]) {
    case 'I': return tx_status::idle;
    case 'T': return tx_status::in_transaction;
    case 'E': return tx_status::failed;
    default: return std::nullopt;
  }
}

std::optional<std::string_view> decode_command_complete(bytes_view payload) noexcept {
  return decode_query(payload);
}

std::string_view error_sqlstate(bytes_view payload) noexcept {
  std::string_view code;
  const bool well_formed = for_each_error_field(payload, [&](char field, std::string_view value) {
    if (field == error_field_sqlstate) code = value;
  });
  return well_formed ? code : std::string_view{};
}

std::optional<sasl_initial_response> decode_sasl_initial_response(bytes_view payload) noexcept {
  string_reader reader(payload);
  auto mechanism = reader.next_string();
  auto length = mechanism ? reader.next_int32() : std::nullopt;
  if (!length) return std::nullopt;
  if (*length == -1) {
    if (!reader.at_end()) return std::nullopt;
    return sasl_initial_response{*mechanism, {}};
  }
  if (*length < 0) return std::nullopt;
  auto data = reader.next_bytes(static_cast<std::size_t>(*length));
  if (!data || !reader.at_end()) return std::nullopt;
  return sasl_initial_response{*mechanism, *data};
}

// ---- encoders ----

message_builder::message_builder(byte_buffer& out, char type) : out_(out), start_(out.size()) {
  if (type != 0) out_.push_back(static_cast<std::uint8_t>(type));
  length_offset_ = out_.size();
  put_u32(out_, 0);
}

message_builder& message_builder::add_byte(std::uint8_t value) {
  out_.push_back(value);
  return *this;
}
message_builder& message_builder::add_int16(std::int16_t value) {
  out_.push_back(static_cast<std::uint8_t>(static_cast<std::uint16_t>(value) >> 8));
  out_.push_back(static_cast<std::uint8_t>(value));
  return *this;
}
message_builder& message_builder::add_int32(std::int32_t value) {
  put_u32(out_, static_cast<std::uint32_t>(value));
  return *this;
}
message_builder& message_builder::add_string(std::string_view value) {
  append(out_, value);
  out_.push_back(0);
  return *this;
}
message_builder& message_builder::add_bytes(bytes_view value) {
  out_.insert(out_.end(), value.begin(), value.end());
  return *this;
}
message_builder& message_builder::add_raw(std::string_view value) {
  append(out_, value);
  return *this;
}
void message_builder::finish() {
  if (finished_) return;
  finished_ = true;
  patch_u32(out_, length_offset_, static_cast<std::uint32_t>(out_.size() - length_offset_));
}

namespace {
void encode_fields(byte_buffer& out, char type, std::string_view severity, std::string_view sqlstate,
                   std::string_view message) {
  message_builder b(out, type);
  b.add_byte('S').add_string(severity);
  b.add_byte('V').add_string(severity);
  b.add_byte('C').add_string(sqlstate);
  b.add_byte('M').add_string(message);
  b.add_byte(0);
  b.finish();
}
}  // namespace

void encode_error_response(byte_buffer& out, std::string_view severity, std::string_view sqlstate,
                           std::string_view message) {
  encode_fields(out, be::error_response, severity, sqlstate, message);
}
void encode_notice_response(byte_buffer& out, std::string_view severity, std::string_view sqlstate,
                            std::string_view message) {
  encode_fields(out, be::notice_response, severity, sqlstate, message);
}

void encode_authentication(byte_buffer& out, auth_code code, bytes_view data) {
  message_builder b(out, be::authentication);
  b.add_int32(static_cast<std::int32_t>(code)).add_bytes(data);
  b.finish();
}

void encode_auth_sasl_mechanisms(byte_buffer& out, std::span<const std::string_view> mechanisms) {
  message_builder b(out, be::authentication);
  b.add_int32(static_cast<std::int32_t>(auth_code::sasl));
  for (auto mechanism : mechanisms) b.add_string(mechanism);
  b.add_byte(0);
  b.finish();
}

void encode_parameter_status(byte_buffer& out, std::string_view name, std::string_view value) {
  message_builder b(out, be::parameter_status);
  b.add_string(name).add_string(value);
  b.finish();
}

void encode_backend_key_data(byte_buffer& out, std::int32_t process_id, std::int32_t secret_key) {
  message_builder b(out, be::backend_key_data);
  b.add_int32(process_id).add_int32(secret_key);
  b.finish();
}

void encode_ready_for_query(byte_buffer& out, tx_status status) {
  message_builder b(out, be::ready_for_query);
  b.add_byte(static_cast<std::uint8_t>(status));
  b.finish();
}

namespace {
void encode_empty(byte_buffer& out, char type) {
  message_builder b(out, type);
  b.finish();
}
}  // namespace

void encode_parse_complete(byte_buffer& out) { encode_empty(out, be::parse_complete); }
void encode_bind_complete(byte_buffer& out) { encode_empty(out, be::bind_complete); }
void encode_close_complete(byte_buffer& out) { encode_empty(out, be::close_complete); }

void encode_command_complete(byte_buffer& out, std::string_view tag) {
  message_builder b(out, be::command_complete);
  b.add_string(tag);
  b.finish();
}

void encode_startup_message(byte_buffer& out, std::span<const startup_parameter> parameters) {
  message_builder b(out, 0);
  b.add_int32(static_cast<std::int32_t>(protocol_v3));
  for (const auto& p : parameters) b.add_string(p.name).add_string(p.value);
  b.add_byte(0);
  b.finish();
}

void encode_cancel_request(byte_buffer& out, std::int32_t process_id, std::int32_t secret_key) {
  message_builder b(out, 0);
  b.add_int32(static_cast<std::int32_t>(cancel_request_code)).add_int32(process_id).add_int32(secret_key);
  b.finish();
}

void encode_ssl_request(byte_buffer& out) {
  message_builder b(out, 0);
  b.add_int32(static_cast<std::int32_t>(ssl_request_code));
  b.finish();
}

void encode_password_message(byte_buffer& out, std::string_view password) {
  message_builder b(out, fe::password);
  b.add_string(password);
  b.finish();
}

void encode_sasl_initial_response(byte_buffer& out, std::string_view mechanism, bytes_view data) {
  message_builder b(out, fe::password);
  b.add_string(mechanism).add_int32(static_cast<std::int32_t>(data.size())).add_bytes(data);
  b.finish();
}

void encode_sasl_response(byte_buffer& out, bytes_view data) {
  message_builder b(out, fe::password);
  b.add_bytes(data);
  b.finish();
}

void encode_query(byte_buffer& out, std::string_view sql) {
  message_builder b(out, fe::query);
  b.add_string(sql);
  b.finish();
}

void encode_parse(byte_buffer& out, std::string_view statement, std::string_view query,
                  std::uint16_t parameter_count, bytes_view parameter_types) {
  message_builder b(out, fe::parse);
  b.add_string(statement).add_string(query).add_int16(static_cast<std::int16_t>(parameter_count)).add_bytes(parameter_types);
  b.finish();
}

void encode_bind(byte_buffer& out, std::string_view portal, std::string_view statement, bytes_view rest) {
  message_builder b(out, fe::bind);
  b.add_string(portal).add_string(statement).add_bytes(rest);
  b.finish();
}

void encode_describe(byte_buffer& out, char kind, std::string_view name) {
  message_builder b(out, fe::describe);
  b.add_byte(static_cast<std::uint8_t>(kind)).add_string(name);
  b.finish();
}

void encode_close(byte_buffer& out, char kind, std::string_view name) {
  message_builder b(out, fe::close);
  b.add_byte(static_cast<std::uint8_t>(kind)).add_string(name);
  b.finish();
}

void encode_sync(byte_buffer& out) { encode_empty(out, fe::sync); }
void encode_terminate(byte_buffer& out) { encode_empty(out, fe::terminate); }

}  // namespace sluice::backends::pg::wire
