// sluice's configuration: the validated structs a TOML file loads into. Loading is control-path code:
// errors throw config_error with a message naming the file, line and key.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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
  read_your_writes,  // after a client's commit, its reads go only where that commit is visible
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
};

struct user_config {
  std::string name;
  auth_method auth = auth_method::scram_sha_256;
  std::optional<std::string> password;        // plaintext; used for md5/scram and as server_password default
  std::optional<std::string> scram_verifier;  // "SCRAM-SHA-256$iter:salt$stored:server"
  std::optional<pool_mode> mode;              // overrides pool.mode for this user
  std::optional<consistency_mode> consistency;  // overrides routing.consistency for this user
  std::string server_user;                    // credentials sluice uses towards backends;
  std::optional<std::string> server_password; // default: name and password
};

struct pool_config {
  pool_mode mode = pool_mode::transaction;
  std::uint32_t size = 20;                     // server connections per (backend, database, user), whole proxy
  milliseconds idle_timeout{60'000};           // close a server connection idle this long
  milliseconds server_lifetime{3'600'000};     // close a server connection this old when it is next idle
  milliseconds connect_timeout{5'000};         // TCP connect + startup to a backend
  milliseconds query_wait_timeout{120'000};    // how long a client may wait for a free server connection
  milliseconds retry_interval{1'000};          // how long a backend that refused a connection is skipped
};

struct limits_config {
  std::uint32_t max_message_size = 64u * 1024u * 1024u;  // bytes; larger client messages are refused
  milliseconds startup_timeout{10'000};                  // a client must finish startup+auth in this time
  std::uint32_t max_client_connections = 20'000;          // beyond this, new clients get 53300
};

struct routing_config {
  std::vector<std::string> write_functions;  // lower-cased function names that write
  bool read_write_split = true;              // false: everything goes to the primary
  balancer balance = balancer::score;
  read_fallback fallback = read_fallback::primary;
  consistency_mode consistency = consistency_mode::eventual;
  milliseconds causal_wait{50};               // read_your_writes: how long a read may wait for a replica
  std::uint64_t max_lag_bytes = 16u * 1024u * 1024u;  // replicas further behind get no reads
  milliseconds max_lag{10'000};               // ... nor replicas further behind in time
};

struct health_config {
  milliseconds probe_interval{250};  // how often each backend is probed
  milliseconds probe_timeout{500};   // connect and query, each; a probe past it counts as unreachable
  bool heartbeat = false;            // write a sluice_heartbeat row on the primary: exact lag in time
  std::optional<std::string> user;      // default: the first user's server_user
  std::optional<std::string> password;  // default: that user's server password
  std::string database = "postgres";
};

struct logging_config {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
};

struct config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 6432;
  unsigned workers = 0;  // 0: one per core
  pool_config pool;
  limits_config limits;
  routing_config routing;
  logging_config logging;
  health_config health;
  std::vector<backend_config> backends;
  std::vector<user_config> users;
};

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Loads and validates a TOML file. Throws config_error naming file, line and key.
config load_config_file(const std::string& path);
// Same, from text (`source_name` appears in messages).
config load_config_text(std::string_view text, const std::string& source_name);

}  // namespace sluice::router::config
