// A listener's protocol: how a worker starts a session for an accepted connection, and how it refuses
// one before any session exists (too many clients, no file descriptor), in that protocol's words.
// The worker knows front ends only through this, so it includes no protocol's session.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string_view>
#include <vector>

#include "router/client_summary.hpp"
#include "router/engine/refusal.hpp"

namespace sluice::router {

class worker;

struct front_end {
  std::string_view protocol;  // "postgresql", "mysql": for logs
  // Spawns a session for `socket` on `owner`'s io_context.
  void (*start_session)(worker& owner, boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer);
  // The bytes a just-accepted client is sent when it is refused before its session starts (it has
  // sent nothing yet): PostgreSQL's FATAL ErrorResponse, MySQL's ERR packet in place of the handshake.
  void (*encode_refusal)(std::vector<std::uint8_t>& out, engine::refusal_code code, std::string_view message);
};

// A session as its worker sees it: listed by the admin API, told to go at shutdown.
class served_client {
 public:
  // For the admin API (GET /clients); on the session's worker thread.
  virtual client_summary summary() const = 0;
  // Graceful shutdown (worker::begin_drain), on the session's worker thread: an idle session goes now,
  // the others when their unit is over.
  virtual void shutdown_if_idle() = 0;

 protected:
  ~served_client() = default;
};

}  // namespace sluice::router
