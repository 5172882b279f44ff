// PostgreSQL frontend/backend protocol v3 codec, sans-IO: framing, decoders that return views into the
// caller's buffer, and encoders that append to a caller-owned reusable buffer. Never touches a socket.
// Reference: PostgreSQL 15 documentation, chapter 55 "Frontend/Backend Protocol" (55.7 Message Formats).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sluice::backends::pg::wire {

using bytes_view = std::span<const std::uint8_t>;
using byte_buffer = std::vector<std::uint8_t>;

// Startup-phase request codes (first int32 after the length of an untyped startup packet).
inline constexpr std::uint32_t protocol_v3 = 196608;            // 3.0
inline constexpr std::uint32_t ssl_request_code = 80877103;     // 1234.5679
inline constexpr std::uint32_t gssenc_request_code = 80877104;  // 1234.5680
inline constexpr std::uint32_t cancel_request_code = 80877102;  // 1234.5678

// Header sizes.
inline constexpr std::size_t typed_header_size = 5;    // type byte + int32 length
inline constexpr std::size_t startup_header_size = 8;  // int32 length + int32 code

// Frontend (client -> server) message types.
namespace fe {
inline constexpr char query = 'Q';
inline constexpr char parse = 'P';
inline constexpr char bind = 'B';
inline constexpr char describe = 'D';
inline constexpr char execute = 'E';
inline constexpr char close = 'C';
inline constexpr char sync = 'S';
inline constexpr char flush = 'H';
inline constexpr char terminate = 'X';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char copy_fail = 'f';
inline constexpr char function_call = 'F';
inline constexpr char password = 'p';  // also SASLInitialResponse / SASLResponse
}  // namespace fe

// Backend (server -> client) message types.
namespace be {
inline constexpr char authentication = 'R';
inline constexpr char backend_key_data = 'K';
inline constexpr char bind_complete = '2';
inline constexpr char close_complete = '3';
inline constexpr char command_complete = 'C';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char copy_in_response = 'G';
inline constexpr char copy_out_response = 'H';
inline constexpr char copy_both_response = 'W';
inline constexpr char data_row = 'D';
inline constexpr char empty_query_response = 'I';
inline constexpr char error_response = 'E';
inline constexpr char function_call_response = 'V';
inline constexpr char negotiate_protocol_version = 'v';
inline constexpr char no_data = 'n';
inline constexpr char notice_response = 'N';
inline constexpr char notification_response = 'A';
inline constexpr char parameter_description = 't';
inline constexpr char parameter_status = 'S';
inline constexpr char parse_complete = '1';
inline constexpr char portal_suspended = 's';
inline constexpr char ready_for_query = 'Z';
inline constexpr char row_description = 'T';
}  // namespace be

// Authentication request codes carried in an 'R' message.
enum class auth_code : std::int32_t {
  ok = 0,                  // AuthenticationOk
  kerberos_v5 = 2,         // AuthenticationKerberosV5 (unsupported)
  cleartext_password = 3,  // AuthenticationCleartextPassword
  md5_password = 5,        // AuthenticationMD5Password, 4-byte salt follows
  gss = 7,                 // AuthenticationGSS (unsupported)
  gss_continue = 8,        // AuthenticationGSSContinue (unsupported)
  sspi = 9,                // AuthenticationSSPI (unsupported)
  sasl = 10,               // AuthenticationSASL, mechanism list follows
  sasl_continue = 11,      // AuthenticationSASLContinue, server-first-message follows
  sasl_final = 12,         // AuthenticationSASLFinal, server-final-message follows
};

// Transaction status byte of ReadyForQuery.
enum class tx_status : char {
  idle = 'I',            // not in a transaction block
  in_transaction = 'T',  // in a transaction block
  failed = 'E',          // in a failed transaction block; statements are rejected until it ends
};

enum class frame_status {
  ok,         // a whole message is available
  need_more,  // the buffer holds only part of a message; `needed` says how many bytes in total
  bad_length, // the length field is impossible (below its own size)
  too_large,  // the length field exceeds the caller's limit
};

// One typed message: `type`, the payload after the length field, and its total size on the wire.
struct message_view {
  char type = 0;
  bytes_view payload;
  std::size_t wire_size = 0;
};

struct frame_result {
  frame_status status = frame_status::need_more;
  message_view message;
  std::size_t needed = 0;  // with need_more: total bytes needed for the message (0 if header incomplete)
};

// Frames one typed message at the start of `buffer`. `max_size` bounds the whole message size.
frame_result frame_message(bytes_view buffer, std::size_t max_size) noexcept;

// One untyped startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
struct startup_view {
  std::uint32_t code = 0;  // protocol version or request code
  bytes_view payload;      // bytes after the code
  std::size_t wire_size = 0;
};
struct startup_result {
  frame_status status = frame_status::need_more;
  startup_view packet;
  std::size_t needed = 0;
};
startup_result frame_startup(bytes_view buffer, std::size_t max_size) noexcept;

// ---- decoders: all return std::nullopt on malformed payloads; views point into the payload ----

// Reads NUL-terminated strings one after another from a payload.
class string_reader {
 public:
  explicit string_reader(bytes_view data) noexcept : data_(data) {}
  std::optional<std::string_view> next_string() noexcept;
  std::optional<std::int32_t> next_int32() noexcept;
  std::optional<std::int16_t> next_int16() noexcept;
  std::optional<std::uint8_t> next_byte() noexcept;
  std::optional<bytes_view> next_bytes(std::size_t count) noexcept;
  bytes_view rest() const noexcept { return data_.subspan(offset_); }
  bool at_end() const noexcept { return offset_ == data_.size(); }

 private:
  bytes_view data_;
  std::size_t offset_ = 0;
};

// StartupMessage parameters: pairs of strings terminated by an empty string. Calls
// visit(name, value) for each pair; returns false on malformed input.
template <class Visitor>
bool for_each_startup_parameter(bytes_view payload, Visitor&& visit) {
  string_reader reader(payload);
  for (;;) {
    auto name = reader.next_string();
    if (!name) return false;
    if (name->empty()) return reader.at_end();
    auto value = reader.next_string();
    if (!value) return false;
    visit(*name, *value);
  }
}

struct cancel_request {
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};
std::optional<cancel_request> decode_cancel_request(bytes_view payload) noexcept;

std::optional<std::string_view> decode_query(bytes_view payload) noexcept;

struct parse_message {
  std::string_view statement;  // "" is the unnamed statement
  std::string_view query;
  bytes_view parameter_types;  // count * 4 bytes of OIDs
  // The count is an Int16 on the wire, which PostgreSQL reads as unsigned (pq_getmsgint(msg, 2)):
  // up to 65,535 parameter types.
  std::uint16_t parameter_count = 0;
};
std::optional<parse_message> decode_parse(bytes_view payload) noexcept;

struct bind_message {
  std::string_view portal;
  std::string_view statement;
  bytes_view rest;  // formats, parameters and result formats, untouched
};
std::optional<bind_message> decode_bind(bytes_view payload) noexcept;

// Describe and Close share a shape: 'S' (statement) or 'P' (portal) and a name.
struct target_message {
  char kind = 0;
  std::string_view name;
};
std::optional<target_message> decode_describe(bytes_view payload) noexcept;
std::optional<target_message> decode_close(bytes_view payload) noexcept;

struct execute_message {
  std::string_view portal;
  std::int32_t max_rows = 0;
};
std::optional<execute_message> decode_execute(bytes_view payload) noexcept;

struct authentication_message {
  auth_code code = auth_code::ok;
  bytes_view data;  // whatever follows the code (salt, mechanism list, SASL data)
};
std::optional<authentication_message> decode_authentication(bytes_view payload) noexcept;

struct parameter_status {
  std::string_view name;
  std::string_view value;
};
std::optional<parameter_status> decode_parameter_status(bytes_view payload) noexcept;

struct backend_key_data {
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};
std::optional<backend_key_data> decode_backend_key_data(bytes_view payload) noexcept;

std::optional<tx_status> decode_ready_for_query(bytes_view payload) noexcept;

std::optional<std::string_view> decode_command_complete(bytes_view payload) noexcept;

// ErrorResponse / NoticeResponse fields: calls visit(field_code, value) per field.
template <class Visitor>
bool for_each_error_field(bytes_view payload, Visitor&& visit) {
  string_reader reader(payload);
  for (;;) {
    auto code = reader.next_byte();
    if (!code) return false;
    if (*code == 0) return reader.at_end();
    auto value = reader.next_string();
    if (!value) return false;
    visit(static_cast<char>(*code), *value);
  }
}

// SQLSTATE ('C' field) of an ErrorResponse, or empty if absent/malformed.
std::string_view error_sqlstate(bytes_view payload) noexcept;

// SASLInitialResponse: mechanism name, then int32 length (-1 = none) and the data.
struct sasl_initial_response {
  std::string_view mechanism;
  bytes_view data;
};
std::optional<sasl_initial_response> decode_sasl_initial_response(bytes_view payload) noexcept;

// ---- encoders: append one whole message to `out` ----

// Builds one message in place: begin() writes the header, end() patches the length.
class message_builder {
 public:
  // type == 0 starts an untyped (startup-phase) packet.
  message_builder(byte_buffer& out, char type);
  message_builder& add_byte(std::uint8_t value);
  message_builder& add_int16(std::int16_t value);
  message_builder& add_int32(std::int32_t value);
  message_builder& add_string(std::string_view value);  // with terminating NUL
  message_builder& add_bytes(bytes_view value);
  message_builder& add_raw(std::string_view value);     // without NUL
  void finish();

 private:
  byte_buffer& out_;
  std::size_t start_;
  std::size_t length_offset_;
  bool finished_ = false;
};

// Backend messages sluice originates.
void encode_error_response(byte_buffer& out, std::string_view severity, std::string_view sqlstate,
                           std::string_view message);
void encode_notice_response(byte_buffer& out, std::string_view severity, std::string_view sqlstate,
                            std::string_view message);
void encode_authentication(byte_buffer& out, auth_code code, bytes_view data = {});
void encode_auth_sasl_mechanisms(byte_buffer& out, std::span<const std::string_view> mechanisms);
void encode_parameter_status(byte_buffer& out, std::string_view name, std::string_view value);
void encode_backend_key_data(byte_buffer& out, std::int32_t process_id, std::int32_t secret_key);
void encode_ready_for_query(byte_buffer& out, tx_status status);
void encode_parse_complete(byte_buffer& out);
void encode_bind_complete(byte_buffer& out);
void encode_close_complete(byte_buffer& out);
void encode_command_complete(byte_buffer& out, std::string_view tag);

// Frontend messages sluice originates (to servers).
struct startup_parameter {
  std::string_view name;
  std::string_view value;
};
void encode_startup_message(byte_buffer& out, std::span<const startup_parameter> parameters);
void encode_cancel_request(byte_buffer& out, std::int32_t process_id, std::int32_t secret_key);
void encode_ssl_request(byte_buffer& out);
void encode_password_message(byte_buffer& out, std::string_view password);
void encode_sasl_initial_response(byte_buffer& out, std::string_view mechanism, bytes_view data);
void encode_sasl_response(byte_buffer& out, bytes_view data);
void encode_query(byte_buffer& out, std::string_view sql);
void encode_parse(byte_buffer& out, std::string_view statement, std::string_view query,
                  std::uint16_t parameter_count, bytes_view parameter_types);
void encode_bind(byte_buffer& out, std::string_view portal, std::string_view statement, bytes_view rest);
void encode_describe(byte_buffer& out, char kind, std::string_view name);
void encode_close(byte_buffer& out, char kind, std::string_view name);
void encode_sync(byte_buffer& out);
void encode_terminate(byte_buffer& out);

}  // namespace sluice::backends::pg::wire
