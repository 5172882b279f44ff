// State shared by all worker threads, fixed after start-up (config, users with precomputed SCRAM
// verifiers, resolved backend addresses) plus the few cross-thread registries (cancel keys, client
// count, pool budgets). Nothing here is locked per message.
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
#include "router/failover/write_gate.hpp"
#include "router/pool_budgets.hpp"
#include "router/qos/tenant_gate.hpp"

namespace sluice::router {

struct user_entry {
  const config::user_config* config = nullptr;
  backends::pg::auth::scram_verifier verifier;  // for scram-sha-256 users; computed once at start
};

// Operator decisions about one backend, read by every worker (relaxed atomics: a worker that reads a
// stale value for one more statement is harmless; switchover also holds writes while it changes them).
struct backend_control {
  std::atomic<bool> drained{false};  // admin drain: no new reads or transactions start here
  std::atomic<bool> fenced{false};   // an old primary after switchover/failover: never a write target again
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
  // Server connection budgets per (backend, database, user), shared by the workers' pools: pool.size
  // is the whole proxy's (locked only when a worker creates a pool and when a client has to wait).
  pool_budgets budgets;
  // Statement ids for all workers (worker::statement_id): never reused, so a server connection that
  // moves between workers, or outlives a forgotten id, never confuses two statements.
  std::atomic<std::uint64_t> next_statement_id{1};
  // Bumped by a session that ran CREATE/ALTER/DROP FUNCTION (or PROCEDURE, ROUTINE): every worker's
  // function_effects cache starts again.
  std::atomic<std::uint64_t> function_generation{0};
  // One per backend (same index as cfg.backends).
  std::unique_ptr<backend_control[]> control;
  // The backend switchover/failover promoted, until probes agree (-1: none); workers prefer it as the
  // write target over a stale probe picture.
  std::atomic<int> promoted_primary{-1};
  // Closed by switchover/failover: new units bound for the primary wait (router/failover/write_gate.hpp).
  failover::write_gate writes{cfg.failover.hold_timeout, cfg.failover.max_held};
  // Tenant QoS for the whole proxy (router/qos/tenant_gate.hpp); enabled() is false without policies.
  qos::tenant_gate tenants{cfg.qos, cfg.pool.query_wait_timeout};
};

}  // namespace sluice::router
