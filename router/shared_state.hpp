// State shared by all worker threads, fixed after start-up (config, users with precomputed SCRAM
// verifiers, resolved backend addresses) plus the few cross-thread registries (cancel keys, client
// count). Nothing here is touched per message.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/pg/auth/scram.hpp"
#include "router/cancel_registry.hpp"
#include "router/config/config.hpp"

namespace sluice::router {

struct user_entry {
  const config::user_config* config = nullptr;
  backends::pg::auth::scram_verifier verifier;  // for scram-sha-256 users; computed once at start
};

struct shared_state {
  explicit shared_state(config::config loaded);

  const user_entry* find_user(std::string_view name) const;

  config::config cfg;
  std::vector<user_entry> users;
  std::unordered_map<std::string, std::size_t> user_index;
  // For unknown users (see client_login): a per-name salt over random keys.
  backends::pg::auth::scram_verifier mock_verifier_for(std::string_view user_name) const;
  backends::pg::auth::scram_verifier mock_verifier;
  std::string mock_salt_secret;
  std::vector<boost::asio::ip::tcp::endpoint> backend_endpoints;
  std::size_t primary_index = 0;
  cancel_registry cancels;
  std::atomic<std::uint64_t> clients{0};
};

}  // namespace sluice::router
