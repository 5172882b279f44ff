// sluicectl's side of the admin API: where the API is (flags, environment, config file) and one
// blocking HTTP/1.1 request to it (Boost.Beast). Shared by every sluicectl command, the drill included.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::ctl {

struct admin_endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6481;
  std::string token;  // sent as "Authorization: Bearer <token>"
};

struct http_reply {
  int status = 0;        // HTTP status; 0 when the request could not be made (see error)
  std::string body;      // JSON
  std::string error;     // transport failure, for the user
};

// `method`: "GET" or "POST"; `target`: "/backends", ...; `body`: JSON or empty. Times out after
// `timeout_ms` (switchover and drill requests pass a long one).
http_reply admin_request(const admin_endpoint& admin, std::string_view method, std::string_view target,
                         std::string_view body = {}, int timeout_ms = 10'000);

}  // namespace sluice::ctl
