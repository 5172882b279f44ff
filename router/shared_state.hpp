// State shared by all worker threads: the published settings (config and users with precomputed SCRAM
// verifiers, replaced whole by a reload), the backends' addresses (read at connect time only) and the few
// cross-thread registries (cancel keys, client count, pool budgets). Nothing here is locked per message.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/pg/auth/scram.hpp"
#include "router/backend_addresses.hpp"
#include "router/cancel_registry.hpp"
#include "router/config/config.hpp"
#include "router/engine/read_your_writes.hpp"
#include "router/failover/write_gate.hpp"
#include "router/pool_budgets.hpp"
#include "router/qos/tenant_gate.hpp"

namespace sluice::router {

using engine::commit_mark;

struct user_entry {
  const config::user_config* config = nullptr;
  backends::pg::auth::scram_verifier verifier;  // for scram-sha-256 users; computed once (start, or the
                                                // reload that changed the user's password)
  std::string md5_stored;  // for md5 users with a password: "md5" + hex(md5(password + name)), computed
                           // with the snapshot, so that a login costs one MD5 (auth::md5_stored_password)
  commit_mark* commits = nullptr;  // read_your_writes marks of this user's sessions (kept by name across reloads)
};

// Operator decisions about one backend, read by every worker (relaxed atomics: a worker that reads a
// stale value for one more statement is harmless; switchover also holds writes while it changes them).
struct backend_control {
  std::atomic<bool> drained{false};  // admin drain: no new reads or transactions start here
  std::atomic<bool> fenced{false};   // an old primary after switchover/failover: never a write target again
};


// One published set of settings: a config and the users built from it. Immutable once published. A
// reload publishes a new one (router/reloader.cpp); every snapshot ever published is kept until the
// process exits (a few KB each, and reloads are rare), so a reference any thread took into one (a
// session's user_config, a coroutine's `const auto& routing`) stays valid, with no reference counting
// on the data path.
struct settings_snapshot {
  config::config cfg;
  std::vector<user_entry> users;
  std::unordered_map<std::string, std::size_t> user_index;

  const user_entry* find_user(std::string_view name) const;
};

struct shared_state {
  // `loaded`: with workers resolved and the client limit fitted (main.cpp). Throws std::runtime_error
  // for a user without a usable verifier or password.
  explicit shared_state(config::config loaded);

  // The settings in force: one acquire load (any thread, any time); the reference stays valid forever.
  const settings_snapshot& settings() const noexcept { return *current_.load(std::memory_order_acquire); }
  const config::config& cfg() const noexcept { return settings().cfg; }
  const user_entry* find_user(std::string_view name) const { return settings().find_user(name); }
  // Control path (reload, under reload_mutex): builds a snapshot of `next` (SCRAM verifiers carried over
  // from the settings in force for users whose credentials did not change) and publishes it. Throws
  // std::runtime_error (and publishes nothing) for a user without a usable verifier or password.
  const settings_snapshot& publish(config::config next);
  // Held for the whole of a reload (SIGHUP and POST /reload may come at once).
  std::mutex reload_mutex;
  // Backend slots for the life of the process (config::backend_capacity): per-backend arrays are this
  // long, and a reload may add backends until cfg().backends (removed ones included) fills them.
  const std::size_t backend_slots;

 private:
  std::unique_ptr<settings_snapshot> build(config::config next, const settings_snapshot* previous);
  // Builds and keeps a snapshot; `previous`: the one in force (null in the constructor, where current_
  // is not initialized yet).
  const settings_snapshot* publish_locked(config::config next, const settings_snapshot* previous);
  std::deque<std::unique_ptr<const settings_snapshot>> snapshots_;  // every one published (see above)
  // read_your_writes marks per user name, never removed (a user removed and added again finds its marks).
  std::unordered_map<std::string, std::unique_ptr<commit_mark>> commit_marks_;
  // Declared after the two above: the constructor publishes the first snapshot while initializing it.
  std::atomic<const settings_snapshot*> current_{nullptr};

 public:
  // For unknown users (see client_login, which asks for one only when it runs a mock exchange).
  backends::pg::auth::scram_mock_verifiers mock_verifiers;
  // Where each backend is (same index as cfg().backends): host names resolved at start, and again on
  // SIGHUP, after health.dns_ttl and after a failed connect (router/backend_addresses.hpp).
  backend_addresses addresses{cfg().backends, cfg().health.dns_ttl, backend_addresses::system_resolver(),
                              std::chrono::steady_clock::now, backend_slots};
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
  // read_your_writes (routing.consistency_scope): the commits of all sessions (a user's: user_entry::commits).
  commit_mark global_commits;
  // One per backend slot (same index as cfg().backends).
  std::unique_ptr<backend_control[]> control;
  // The backend switchover/failover promoted, until probes agree (-1: none); workers prefer it as the
  // write target over a stale probe picture.
  std::atomic<int> promoted_primary{-1};
  // Closed by switchover/failover: new units bound for the primary wait (router/failover/write_gate.hpp).
  failover::write_gate writes{cfg().failover.hold_timeout, cfg().failover.max_held};
  // Tenant QoS for the whole proxy (router/qos/tenant_gate.hpp); enabled() is false without policies.
  qos::tenant_gate tenants{cfg().qos, cfg().pool.query_wait_timeout};
};

}  // namespace sluice::router
