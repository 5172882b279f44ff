// State shared by all worker threads, fixed after start-up (config, users with precomputed SCRAM
// verifiers) plus the backends' addresses (re-resolved, read at connect time only) and the few cross-thread registries (cancel keys, client
// count, pool budgets). Nothing here is locked per message.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/pg/auth/scram.hpp"
#include "router/backend_addresses.hpp"
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

// read_your_writes state shared by the sessions of one consistency_scope (a user's, or everyone's):
// written once per write unit, read with a few loads per read (no lock).
struct commit_mark {
  std::atomic<std::uint64_t> lsn{0};        // the latest commit position published (raised as a max)
  std::atomic<std::int64_t> unflushed_until{0};  // steady_clock ticks: until then the latest commit may
                                                 // not be flushed (synchronous_commit = off), so no
                                                 // replica can have it and reads go to the primary

  void publish(std::uint64_t position, std::int64_t unflushed_deadline) noexcept {
    auto seen = lsn.load(std::memory_order_relaxed);
    while (seen < position && !lsn.compare_exchange_weak(seen, position, std::memory_order_relaxed)) {
    }
    auto until = unflushed_until.load(std::memory_order_relaxed);
    while (until < unflushed_deadline &&
           !unflushed_until.compare_exchange_weak(until, unflushed_deadline, std::memory_order_relaxed)) {
    }
  }
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
  // Where each backend is (same index as cfg.backends): host names resolved at start, and again on
  // SIGHUP, after health.dns_ttl and after a failed connect (router/backend_addresses.hpp).
  backend_addresses addresses{cfg.backends, cfg.health.dns_ttl};
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
  // read_your_writes (routing.consistency_scope): the commits of a user's sessions (same index as
  // `users`) and of all sessions.
  std::unique_ptr<commit_mark[]> user_commits;
  commit_mark global_commits;
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
