// A listener's protocol: how a worker starts a session for an accepted connection, and how it refuses
// one before any session exists (too many clients, no file descriptor), in that protocol's words.
// The worker knows front ends only through this, so it includes no protocol's session.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "router/client_summary.hpp"
#include "router/engine/refusal.hpp"

namespace sluice::router {

class worker;

// What a front end keeps per worker (its server pools, which backends are marked down): made by the
// worker when it listens for that front end, destroyed after the worker's io_context (sessions
// suspended there still return connections to it).
class worker_extension {
 public:
  virtual ~worker_extension() = default;
  // The worker is stopping: close idle server connections while its io_context still exists.
  virtual void shutdown() noexcept {}
  // Once a second from the worker's maintenance timer: close idle connections past their time.
  virtual void maintain(std::chrono::steady_clock::time_point now) { (void)now; }
};

struct front_end {
  std::string_view protocol;  // "postgresql", "mysql": for logs
  // Spawns a session for `socket` on `owner`'s io_context.
  void (*start_session)(worker& owner, boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer);
  // The bytes a just-accepted client is sent when it is refused before its session starts (it has
  // sent nothing yet): PostgreSQL's FATAL ErrorResponse, MySQL's ERR packet in place of the handshake.
  void (*encode_refusal)(std::vector<std::uint8_t>& out, engine::refusal_code code, std::string_view message);
  // The front end's per-worker state, if it keeps any (nullptr: none).
  std::unique_ptr<worker_extension> (*make_extension)(worker& owner) = nullptr;
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
