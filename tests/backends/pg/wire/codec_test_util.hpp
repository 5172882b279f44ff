// Helpers shared by the PostgreSQL wire codec tests: byte literals, views, and a table of one encoded
// sample of every message the codec can encode.
#pragma once

#include "backends/pg/wire/codec.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::backends::pg::wire::test {

inline bytes_view as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

inline bytes_view as_bytes(const byte_buffer& buffer) { return {buffer.data(), buffer.size()}; }

inline std::string_view as_text(bytes_view bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Builds a byte buffer from a mix of integers (bytes) and characters, e.g. bytes_of({'Z', 0, 0, 0, 5, 'I'}).
inline byte_buffer bytes_of(std::initializer_list<int> values) {
  byte_buffer out;
  for (int value : values) out.push_back(static_cast<std::uint8_t>(value));
  return out;
}

// Appends text without a NUL (for building hand-made expected bytes and malformed payloads).
inline void append_text(byte_buffer& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
}

inline byte_buffer concat(std::initializer_list<byte_buffer> parts) {
  byte_buffer out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

inline std::vector<std::uint8_t> to_vector(bytes_view bytes) { return {bytes.begin(), bytes.end()}; }

// One sample of each message the codec encodes, with the framing it uses.
struct sample {
  std::string name;
  bool startup = false;  // untyped startup-phase packet (frame_startup) rather than typed (frame_message)
  std::function<void(byte_buffer&)> encode;
};

inline const std::vector<sample>& samples() {
  static const std::vector<sample> all = [] {
    static const std::array<std::string_view, 2> mechanisms{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
    static const std::array<startup_parameter, 3> parameters{{
        {"user", "alice"}, {"database", "app"}, {"application_name", "sluice test"}}};
    static const byte_buffer salt = bytes_of({0x01, 0x02, 0xfe, 0xff});
    static const byte_buffer parse_types = bytes_of({0, 0, 0, 23, 0, 0, 0, 25});
    // Bind rest: 1 format (text), 2 params ("42", NULL), 1 result format (binary).
    static const byte_buffer bind_rest =
        bytes_of({0, 1, 0, 0, 0, 2, 0, 0, 0, 2, '4', '2', 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 1});
    return std::vector<sample>{
        {"ErrorResponse", false,
         [](byte_buffer& b) { encode_error_response(b, "FATAL", "28P01", "password authentication failed"); }},
        {"NoticeResponse", false,
         [](byte_buffer& b) { encode_notice_response(b, "NOTICE", "00000", "relation exists, skipping"); }},
        {"AuthenticationOk", false, [](byte_buffer& b) { encode_authentication(b, auth_code::ok); }},
        {"AuthenticationCleartextPassword", false,
         [](byte_buffer& b) { encode_authentication(b, auth_code::cleartext_password); }},
        {"AuthenticationMD5Password", false,
         [](byte_buffer& b) { encode_authentication(b, auth_code::md5_password, salt); }},
        {"AuthenticationSASL", false, [](byte_buffer& b) { encode_auth_sasl_mechanisms(b, mechanisms); }},
        {"AuthenticationSASLContinue", false,
         [](byte_buffer& b) { encode_authentication(b, auth_code::sasl_continue, as_bytes("r=abc,s=c2FsdA==,i=4096")); }},
        {"AuthenticationSASLFinal", false,
         [](byte_buffer& b) { encode_authentication(b, auth_code::sasl_final, as_bytes("v=c2lnbmF0dXJl")); }},
        {"ParameterStatus", false, [](byte_buffer& b) { encode_parameter_status(b, "server_version", "15.5"); }},
        {"BackendKeyData", false, [](byte_buffer& b) { encode_backend_key_data(b, 4242, -123456789); }},
        {"ReadyForQuery", false, [](byte_buffer& b) { encode_ready_for_query(b, tx_status::in_transaction); }},
        {"ParseComplete", false, [](byte_buffer& b) { encode_parse_complete(b); }},
        {"BindComplete", false, [](byte_buffer& b) { encode_bind_complete(b); }},
        {"CloseComplete", false, [](byte_buffer& b) { encode_close_complete(b); }},
        {"CommandComplete", false, [](byte_buffer& b) { encode_command_complete(b, "INSERT 0 1"); }},
        {"StartupMessage", true, [](byte_buffer& b) { encode_startup_message(b, parameters); }},
        {"CancelRequest", true, [](byte_buffer& b) { encode_cancel_request(b, 77, 0x7eadbeef); }},
        {"SSLRequest", true, [](byte_buffer& b) { encode_ssl_request(b); }},
        {"PasswordMessage", false, [](byte_buffer& b) { encode_password_message(b, "s3cr3t"); }},
        {"SASLInitialResponse", false,
         [](byte_buffer& b) { encode_sasl_initial_response(b, "SCRAM-SHA-256", as_bytes("n,,n=,r=rOprNGfwEbeRWgbNEkqO")); }},
        {"SASLResponse", false, [](byte_buffer& b) { encode_sasl_response(b, as_bytes("c=biws,r=abc,p=xyz")); }},
        {"Query", false, [](byte_buffer& b) { encode_query(b, "SELECT 1; SELECT 2"); }},
        {"Parse", false, [](byte_buffer& b) { encode_parse(b, "stmt1", "SELECT $1::int, $2", 2, parse_types); }},
        {"Bind", false, [](byte_buffer& b) { encode_bind(b, "portal1", "stmt1", bind_rest); }},
        {"DescribeStatement", false, [](byte_buffer& b) { encode_describe(b, 'S', "stmt1"); }},
        {"DescribePortal", false, [](byte_buffer& b) { encode_describe(b, 'P', ""); }},
        {"CloseStatement", false, [](byte_buffer& b) { encode_close(b, 'S', "stmt1"); }},
        {"ClosePortal", false, [](byte_buffer& b) { encode_close(b, 'P', "portal1"); }},
        {"Sync", false, [](byte_buffer& b) { encode_sync(b); }},
        {"Terminate", false, [](byte_buffer& b) { encode_terminate(b); }},
    };
  }();
  return all;
}

inline byte_buffer encode_sample(const sample& s) {
  byte_buffer out;
  s.encode(out);
  return out;
}

inline std::size_t typed_sample_count() {
  std::size_t count = 0;
  for (const auto& s : samples()) count += s.startup ? 0 : 1;
  return count;
}

inline std::vector<const sample*> typed_samples() {
  std::vector<const sample*> out;
  for (const auto& s : samples())
    if (!s.startup) out.push_back(&s);
  return out;
}

inline std::vector<const sample*> startup_samples() {
  std::vector<const sample*> out;
  for (const auto& s : samples())
    if (s.startup) out.push_back(&s);
  return out;
}

}  // namespace sluice::backends::pg::wire::test
