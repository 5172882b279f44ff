// Error codes for the data path. Each code says which side failed, because that decides whether a
// server connection may go back to the pool (client-side failures leave the server usable).
#pragma once
#include <boost/system/error_code.hpp>
#include <string>

namespace sluice {

enum class errc {
  ok = 0,                 // no error
  client_read,            // reading from the client socket failed or hit EOF
  client_write,           // writing to the client socket failed
  client_protocol,        // the client sent bytes that violate the protocol (08P01)
  client_too_large,       // a client message exceeded max_message_size (08P01)
  client_timeout,         // the client did not finish startup in time
  client_auth_failed,     // wrong password / unknown user (28P01 / 28000)
  server_connect,         // TCP connect to a backend failed or timed out (08006)
  server_read,            // reading from a server connection failed or hit EOF (08006)
  server_write,           // writing to a server connection failed (08006)
  server_protocol,        // the server sent bytes sluice cannot parse (08P01)
  server_auth_failed,     // the backend refused sluice's credentials (28P01)
  server_unsupported_auth,// the backend asked for an auth method sluice does not speak
  server_error,           // the backend answered startup with an ErrorResponse (e.g. 57P03)
  server_too_large,       // a server message exceeded the limit for messages sluice must inspect
  pool_timeout,           // no server connection became free within query_wait_timeout (53300)
  no_backend,             // no backend can take this statement (08006)
  cancelled,              // the operation was cancelled by sluice itself (shutdown)
};

const boost::system::error_category& sluice_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), sluice_category()};
}

// True when the failure was on the server side: the server connection must not be reused.
constexpr bool is_server_side(errc e) noexcept {
  return e >= errc::server_connect && e <= errc::server_too_large;
}

}  // namespace sluice

template <>
struct boost::system::is_error_code_enum<sluice::errc> : std::true_type {};
