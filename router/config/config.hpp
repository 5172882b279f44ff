// sluice's configuration: the validated structs a TOML file loads into. Loading is control-path code:
// errors throw config_error with a message naming the file, line and key.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "policies/tenant_policy.hpp"

namespace sluice::router::config {

using milliseconds = std::chrono::milliseconds;

enum class backend_role {
  primary,  // configured to take writes (issue 3 lets the servers' own reports override this)
  replica,  // configured as a streaming replica that serves reads
};

enum class pool_mode {
  transaction,  // a server connection is lent for one transaction (or one statement outside one)
  session,      // a server connection stays with the client until it disconnects
};

enum class auth_method {
  trust,          // no password asked
  md5,            // PostgreSQL md5 challenge (needs `password`)
  scram_sha_256,  // SCRAM-SHA-256 (needs `password` or `scram_verifier`)
};

enum class read_fallback {
  primary,  // no replica qualifies: the read runs on the primary (counted)
  error,    // no replica qualifies: the read fails with SQLSTATE 57P03 (counted)
};

enum class consistency_mode {
  eventual,          // reads may see a replica that has not replayed the client's latest commit
  read_your_writes,  // after a commit (whose, see consistency_scope), reads go only where it is visible
};

// Whose commits a read_your_writes read must see (MaxScale's causal_reads local/global, per user).
enum class consistency_scope {
  session,  // the same client connection's own commits
  user,     // any commit by a session of the same user through this sluice (a per-user high-water mark)
  global,   // every commit through this sluice, and the primary's position at its latest probe
};

enum class balancer {
  score,        // power of two choices on latency x (in flight + 1) with lag penalty (scoring/)
  round_robin,  // rotate over replicas that accept connections (baseline for comparisons)
};

struct backend_config {
  std::string name;
  std::string host;
  std::uint16_t port = 5432;
  backend_role role = backend_role::replica;
  // Set by a reload that removed this backend (config::plan_reload): its slot (index) stays, so indexes
  // held by workers and sessions stay valid, but it gets no new work and is not shown. Never in a file.
  bool removed = false;
  bool operator==(const backend_config&) const = default;
};

struct user_config {
  std::string name;
  auth_method auth = auth_method::scram_sha_256;
  std::optional<std::string> password;        // plaintext; used for md5/scram and as server_password default
  std::optional<std::string> scram_verifier;  // "SCRAM-SHA-256$iter:salt$stored:server"
  std::optional<pool_mode> mode;              // overrides pool.mode for this user
  std::optional<consistency_mode> consistency;  // overrides routing.consistency for this user
  std::optional<consistency_scope> scope;       // overrides routing.consistency_scope for this user
  std::optional<std::uint32_t> pool_size;     // overrides pool.size for this user's pools
  std::string server_user;                    // credentials sluice uses towards backends;
  std::optional<std::string> server_password; // default: name and password
  bool operator==(const user_config&) const = default;
};

// A user of the MySQL listener. MySQL credentials are not PostgreSQL's: a user may exist on both
// sides with different passwords, so [[mysql.users]] is a list of its own.
struct mysql_user_config {
  std::string name;
  std::optional<std::string> password;       // cleartext: every client auth method works
  // The mysql_native_password stored hash, "*" + 40 hex digits (SELECT authentication_string FROM
  // mysql.user): no cleartext in the file; clients log in with mysql_native_password only.
  std::optional<std::string> password_hash;
  std::optional<pool_mode> mode;               // overrides pool.mode for this user
  std::optional<std::uint32_t> pool_size;      // overrides pool.size for this user's pools
  std::string server_user;                     // credentials sluice uses towards the MySQL backends;
  std::optional<std::string> server_password;  // default: name and password
  bool operator==(const mysql_user_config&) const = default;
};

struct pool_config {
  pool_mode mode = pool_mode::transaction;
  std::uint32_t size = 20;                     // server connections per (backend, database, user), whole proxy
  milliseconds idle_timeout{60'000};           // close a server connection idle this long
  milliseconds server_lifetime{3'600'000};     // close a server connection this old when it is next idle
  milliseconds connect_timeout{5'000};         // TCP connect + startup to a backend
  milliseconds query_wait_timeout{120'000};    // how long a client may wait for a free server connection
  milliseconds retry_interval{1'000};          // how long a backend that refused a connection is skipped
  milliseconds server_check_delay{1'000};      // idle longer than this: checked before it is lent
  std::uint32_t max_prepared_statements = 200;  // per server connection; least recently used are closed
  bool operator==(const pool_config&) const = default;
};

struct limits_config {
  std::uint32_t max_message_size = 64u * 1024u * 1024u;  // bytes; larger client messages are refused
  milliseconds startup_timeout{10'000};                  // a client must finish startup+auth in this time
  std::uint32_t max_client_connections = 20'000;          // beyond this, new clients get 53300
  bool operator==(const limits_config&) const = default;
};

struct routing_config {
  std::vector<std::string> write_functions;  // lower-cased function names that write
  // A SELECT calling a VOLATILE function of the user's (outside pg_catalog) may write: primary, unless
  // "replica" says the application's volatile functions only read (learnt from pg_proc, cached).
  bool volatile_functions_on_primary = true;
  bool read_write_split = true;              // false: everything goes to the primary
  balancer balance = balancer::score;
  read_fallback fallback = read_fallback::primary;
  consistency_mode consistency = consistency_mode::read_your_writes;
  consistency_scope scope = consistency_scope::user;
  milliseconds causal_wait{50};               // read_your_writes: how long a read may wait for a replica
  std::uint64_t max_lag_bytes = 16u * 1024u * 1024u;  // replicas further behind get no reads
  milliseconds max_lag{10'000};               // ... nor replicas further behind in time
  bool operator==(const routing_config&) const = default;
};

struct health_config {
  milliseconds probe_interval{250};  // how often each backend is probed
  milliseconds probe_timeout{500};   // connect and query, each; a probe past it counts as unreachable
  milliseconds dns_ttl{5'000};       // a backend host name's address is trusted this long (backend_addresses)
  bool heartbeat = false;            // write a sluice_heartbeat row on the primary: exact lag in time
  std::optional<std::string> user;      // default: the first user's server_user
  std::optional<std::string> password;  // default: that user's server password
  std::string database = "postgres";
  bool operator==(const health_config&) const = default;
};

struct logging_config {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  bool connections = false;    // each client's connect and disconnect at info (false: at debug)
  bool operator==(const logging_config&) const = default;
};

// [admin]: the HTTP admin API (docs/operations.md). Enabled when the section is present.
struct admin_config {
  bool enabled = false;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 6481;
  std::string token;                          // bearer token: `token`, else the environment variable below
  std::string token_env = "SLUICE_ADMIN_TOKEN";
  bool operator==(const admin_config&) const = default;
};

// [failover]: switchover, failover and the write hold (docs/operations.md).
struct failover_config {
  bool auto_failover = false;                 // promote a replica when the primary is gone failover_timeout
  milliseconds failover_timeout{10'000};      // primary unreachable this long: it has failed
  milliseconds hold_timeout{15'000};          // a held write waits at most this long, then 57P03
  std::uint32_t max_held = 10'000;            // held writes beyond this are refused (57P03)
  milliseconds drain_timeout{10'000};         // switchover: in-flight writes get this long to finish
  milliseconds catchup_timeout{30'000};       // switchover: the target must replay everything in this time
  std::string rejoin_command;                 // optional: run to turn an old primary into a replica
  bool operator==(const failover_config&) const = default;
};

// [qos] plus [[tenants]] and [[tenant_rules]] (docs/qos.md). `policy_file` may hold the tenants and
// rules instead; it is what SIGHUP reloads.
struct qos_config {
  bool enabled = false;                       // any tenant, rule or [qos] key present
  std::string policy_file;                    // resolved relative to the main config's folder
  policies::qos_policy policy;
};

// [mysql]: the MySQL/MariaDB listener and the cluster behind it (issue 12). Absent: no MySQL listener.
// [pool], [limits] and [routing] apply to both protocols.
struct mysql_config {
  bool enabled = false;  // the [mysql] table is present
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 3307;
  // The version clients are told in the handshake. MariaDB clients read "5.5.5-" + version as MariaDB
  // (the prefix MariaDB servers send for old clients' sake).
  std::string server_version = "5.5.5-10.11.0-sluice";
  bool local_infile = false;  // LOAD DATA LOCAL INFILE: off unless set (then the file request is relayed)
  std::vector<backend_config> backends;  // exactly one primary; port 3306 by default
  std::vector<mysql_user_config> users;
  bool operator==(const mysql_config&) const = default;
};

struct config {
  std::string source_path;  // the file it was loaded from (for reloads)
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 6432;
  unsigned workers = 0;  // 0: default_workers(usable_cpus())
  // SIGTERM/SIGINT: running transactions get this long to finish before the rest are cut (main.cpp).
  milliseconds shutdown_timeout{30'000};
  pool_config pool;
  limits_config limits;
  routing_config routing;
  logging_config logging;
  health_config health;
  admin_config admin;
  failover_config failover;
  qos_config qos;
  std::vector<backend_config> backends;
  std::vector<user_config> users;
  mysql_config mysql;
  // Valid but risky settings, each "file:line:column: key '...': why" (--check prints them, start-up
  // logs them).
  std::vector<std::string> warnings;
};

// A token shorter than this on an admin API reachable beyond loopback is warned about.
inline constexpr std::size_t min_exposed_token_length = 16;

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `workers = 0`: one worker per two usable CPUs, at least one. Measured (docs/benchmarks.md, "Worker
// count"): on 2 cores one worker serves as many transactions as two, for less CPU each, since the
// kernel's share of every transaction (loopback or NIC, both directions) runs beside it; beyond that,
// one thread per two cores leaves the other half to the kernel and to the processes sharing the host.
constexpr unsigned default_workers(unsigned cpus) noexcept { return cpus / 2 > 1 ? cpus / 2 : 1; }
// The CPUs this process may run on (its affinity mask: taskset, cpusets), else the online count.
unsigned usable_cpus() noexcept;
// `configured`, or default_workers(usable_cpus()) for 0.
unsigned resolve_workers(unsigned configured) noexcept;

// Loads and validates a TOML file. Throws config_error naming file, line and key.
config load_config_file(const std::string& path);
// Same, from text (`source_name` appears in messages).
config load_config_text(std::string_view text, const std::string& source_name);
// Loads only the QoS part of `path` (its [qos], [[tenants]] and [[tenant_rules]], or the policy file
// it names): what SIGHUP and POST /reload apply. Throws config_error naming file, line and key.
qos_config load_qos_policy(const std::string& path);

}  // namespace sluice::router::config
