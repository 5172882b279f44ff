// What the admin API shows about one client connection (GET /clients); filled by the client session
// itself so the admin code needs nothing of its internals.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sluice::router {

struct client_summary {
  std::string user;
  std::string database;
  std::string application_name;
  std::string tenant;             // the session's tenant (per-statement tags may differ)
  std::string address;            // peer "ip:port"
  std::string state;              // "idle", "active", "idle in transaction", "waiting" (QoS/write hold)
  std::string backend;            // backend of the attached server connection, empty when none
  bool pinned = false;
  std::chrono::system_clock::time_point connected_at{};
  unsigned worker = 0;
};

}  // namespace sluice::router
