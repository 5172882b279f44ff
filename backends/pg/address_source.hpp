// Where a backend is now: asked each time a server connection is opened (never per message) and told
// when one could not be opened, so that a host name whose address moved is followed. router/'s
// backend_addresses implements it (re-resolving names off the data path).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>

namespace sluice::backends::pg {

class address_source {
 public:
  virtual ~address_source() = default;
  // The address to connect to for `backend` now. Called on the connecting worker's thread; must not
  // block (no resolution here: at most a request for one in the background).
  virtual boost::asio::ip::tcp::endpoint endpoint_for_connect(std::size_t backend) = 0;
  // A connection to `backend` could not be opened (network failure or timeout): its address may be stale.
  virtual void connect_failed(std::size_t backend) = 0;
};

}  // namespace sluice::backends::pg
