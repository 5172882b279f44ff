// One worker thread: its own io_context, its own acceptor on the shared listen port (SO_REUSEPORT
// lets the kernel spread new clients across workers), its own server pools and statement ids. Nothing
// on the per-message path is locked; the pools' connection budgets are proxy-wide (pool_budget.hpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/common.h>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backends/pg/prober.hpp"
#include "backends/pg/pool_protocol.hpp"
#include "router/latency_window.hpp"
#include "router/worker_snapshot.hpp"
#include "router/classify/classifier.hpp"
#include "router/client_summary.hpp"
#include "router/engine/backend_view.hpp"
#include "router/front_end.hpp"
#include "router/function_effects.hpp"
#include "router/log_throttle.hpp"
#include "router/process_memory.hpp"
#include "router/shared_state.hpp"
#include "scoring/choice_explanation.hpp"
#include "scoring/replica_scorer.hpp"
#include "scoring/replica_selector.hpp"
#include "scoring/xoshiro256_source.hpp"

namespace sluice::router {

namespace asio = boost::asio;

// Per-worker counters; plain integers because only this worker's thread writes them.
struct worker_stats {
  std::uint64_t clients_accepted = 0;
  std::uint64_t clients_refused = 0;       // over max_client_connections
  std::uint64_t routed_primary = 0;        // batches/statements sent to the primary
  std::uint64_t routed_replica = 0;        // ... to a replica
  std::uint64_t replica_fallbacks = 0;     // reads sent to the primary because no replica could take them
  std::uint64_t sessions_pinned = 0;       // clients pinned to one primary connection
  std::uint64_t settings_replayed = 0;     // SET batches sent before lending a server connection
  std::uint64_t statements_prepared = 0;   // lazy Parse messages sluice injected
  std::uint64_t cancels_forwarded = 0;
  std::uint64_t fallback_errors = 0;       // reads refused because no replica qualified (fallback = error)
  std::uint64_t writes_refused = 0;        // writes refused: no primary, or split brain
  std::uint64_t causal_checks = 0;         // read_your_writes: replica replay positions checked directly
  std::uint64_t causal_primary_reads = 0;  // read_your_writes: reads sent to the primary to see a commit
  std::uint64_t login_failures = 0;        // clients whose authentication failed
  std::uint64_t startup_timeouts = 0;      // clients that did not finish startup within limits.startup_timeout
  std::uint64_t accept_errors = 0;         // accept() failures (EMFILE, ENFILE, ...)
};

// Where writes may go right now.
struct write_target {
  std::optional<std::size_t> backend;  // the primary, when there is exactly one
  const char* sqlstate = "";           // otherwise why not, for the client
  std::string reason;                  // (empty when there is a primary: nothing allocated)
  // No primary because the one the probes last saw stopped answering them, without being seen to lose
  // its role (a stall, a pause, a network blip): writes wait for it (failover.hold_timeout from then)
  // instead of being refused at once.
  std::optional<std::chrono::steady_clock::time_point> stalled_since;
};

class worker final : public engine::backend_view {
 public:
  // Statement texts a worker remembers ids for (worker::statement_id).
  static constexpr std::size_t statement_id_cap = 10'000;

  worker(shared_state& shared, unsigned index);
  ~worker();

  // Opens an acceptor on `endpoint` (SO_REUSEPORT: every worker listens on the same port) for clients
  // of `protocol`; throws on failure (control path, at start-up). Each listener has its own protocol:
  // one process may serve PostgreSQL and MySQL clients on two ports.
  void listen(const asio::ip::tcp::endpoint& endpoint, const front_end& protocol);
  // The per-worker state of front end `protocol` (made when listening for it); nullptr if it has none.
  worker_extension* extension(const front_end& protocol) const noexcept;
  void run();
  void stop();
  // Graceful shutdown (SIGTERM/SIGINT, main.cpp), on this worker's thread (post to io()): closes the
  // acceptor, so new clients go to another process listening on the same port (SO_REUSEPORT
  // hand-over) or are refused by the kernel, and has every session end at its next unit boundary:
  // idle clients now, the others once their transaction (or statement) is over, each told
  // FATAL 57P01 (client_session::shutdown_if_idle).
  void begin_drain();
  // True once begin_drain ran: sessions refuse to start new units.
  bool draining() const noexcept { return draining_; }

  asio::io_context& io() noexcept { return io_; }
  shared_state& shared() noexcept { return shared_; }
  worker_stats& stats() noexcept { return stats_; }
  unsigned index() const noexcept { return index_; }

  // A pool's settings from [pool], with a user's own pool_size in place of pool.size (either front end).
  static backends::pool::pool_settings pool_settings_for(const config::config& cfg,
                                                         std::optional<std::uint32_t> user_pool_size);
  // The pool for (backend, database, user), created on first use.
  backends::pg::server_pool& pool(std::size_t backend, const std::string& database,
                                    const config::user_config& user);

  // A reload published `next` (router/reloader.cpp), on this worker's thread (post to io()): every pool
  // takes the new sizes, timeouts and credentials; pools of removed users and of the `removed` backends
  // retire (connections close as they come back); those of `moved` backends (new host or port) replace
  // their connections the same way.
  void on_reload(const settings_snapshot& next, const std::vector<std::size_t>& removed,
                 const std::vector<std::size_t>& moved);
  // A slot no configured backend uses now (removed by a reload, or never used): no new work goes there.
  bool removed(std::size_t backend) const noexcept;

  // A replica for the next read, or nullopt (the caller applies routing.fallback). `exclude`: backends
  // to skip this time. `min_replay_lsn`: only replicas whose last probe shows they replayed at least
  // this far (read_your_writes).
  std::optional<std::size_t> choose_replica(scoring::backend_set exclude, std::uint64_t min_replay_lsn) override;
  // The backend that takes writes: the single backend whose probes say it is not in recovery; the
  // configured primary until the first probes arrive.
  write_target primary() const;
  // Skips `backend` for retry_interval after a failed connection, and tells the scorer.
  void mark_down(std::size_t backend);
  bool is_available(std::size_t backend) const;

  // Passive signals from the data path, for the scorer.
  void on_dispatch(std::size_t backend) {
    scorer_.on_dispatch(backend);
    ++dispatched_[backend];
  }
  void on_complete(std::size_t backend, std::chrono::microseconds latency, bool failed) {
    scorer_.on_complete(backend, scoring::clock_type::now(), latency, failed);
    latencies_[backend].record(latency);
  }
  // A probe result (posted here from the prober's thread).
  void on_probe(std::size_t backend, const backends::pg::probe_sample& sample);
  // The replay position of each replica at its last probe (0 when unknown).
  std::uint64_t replay_lsn(std::size_t backend) const { return replay_lsn_[backend]; }
  bool all_replicas_reached(std::uint64_t lsn) const override;
  // The WAL position the primary reported at its latest probe (consistency_scope = "global"); 0 before.
  std::uint64_t primary_probe_position() const override { return primary_lsn_; }
  // read_your_writes: the replica whose last probe shows the furthest replay position, skipping
  // `exclude` and backends marked down; the one most likely to have replayed a fresh commit.
  std::optional<std::size_t> most_advanced_replica(scoring::backend_set exclude) const override;
  scoring::replica_scorer& scorer() noexcept { return scorer_; }
  // Which functions clients call may change session settings (see function_effects.hpp).
  function_effects& functions() noexcept { return functions_; }

  // Sluice's id for a statement text + parameter types, the same for every client of this worker, so
  // server connections can share one prepared statement among clients. Ids come from a proxy-wide
  // counter and are never reused; the map remembers at most statement_id_cap texts (two generations:
  // a text not seen for a generation is forgotten and gets a new id when seen again).
  std::uint64_t statement_id(std::string_view query, backends::pg::wire::bytes_view parameter_types);

  // The classification of a statement text a client parses (extended protocol), the same for every
  // client of this worker (it depends on the text and routing.write_functions only; a reload empties
  // it): a text seen before costs a hash lookup and no allocation. Two generations of at most
  // classification_cap / 2 texts each, as statement_id's; texts longer than classification_max_text
  // are classified every time.
  classify::classification classify_statement(std::string_view query);
  static constexpr std::size_t classification_cap = 10'000;
  static constexpr std::size_t classification_max_text = 4096;

  // --- Admin API: control path, to be called on this worker's thread only (post to io()) -------
  // Per backend: the scorer's picture, the latest probe, dispatch counts, latency percentiles.
  std::vector<router::backend_figures> backend_figures() const;
  // Per pool (backend, database, user) of this worker; max_size is the proxy-wide size.
  std::vector<router::pool_figures> pool_figures() const;
  // --- Logs a client can cause at will: rate limited (router/log_throttle.hpp) -----------------
  // A failed login: one line per client address per 10 s (with how many were held back). The line
  // names the address and the user and says nothing of whether the user exists.
  void on_login_failure(const asio::ip::address& client, const std::string& user);
  // A client that did not finish startup and authentication within limits.startup_timeout (a slow
  // client, or a slowloris holding connections open): counted, one line per 10 s per worker.
  void on_startup_timeout(const asio::ip::address& client);
  // Whether a client's connect and disconnect are logged at info (logging.connections) or debug.
  [[nodiscard]] spdlog::level::level_enum connection_log_level() const noexcept;

  // Every registered client session's summary.
  std::vector<client_summary> client_summaries() const;
  // The replica the next read would get now, with the scorer's full explanation; nothing is
  // dispatched or counted. nullopt: no replica qualifies (routing.fallback applies).
  std::optional<std::size_t> explain_read(scoring::choice_explanation& why);
  // Client sessions register themselves (on this worker's thread) for GET /clients.
  void register_client(served_client* session);
  void unregister_client(served_client* session);

 private:
  backends::pg::connect_target connect_target_for(const config::config& cfg, std::size_t backend,
                                                  const std::string& database, const config::user_config& user);
  // One listening socket and the protocol of its clients.
  struct listener {
    listener(asio::io_context& io, const front_end& served) : acceptor(io), protocol(&served) {}
    asio::ip::tcp::acceptor acceptor;
    const front_end* protocol;
    worker_extension* extension = nullptr;  // the front end's per-worker state (extensions_)
  };
  asio::awaitable<void> accept_loop(listener& from);
  // accept() failed with `ec`: counts it, refuses one waiting client (too_many_clients) when
  // descriptors ran out (through the spare descriptor), logs at most one line per 10 s, and pauses.
  asio::awaitable<void> on_accept_error(listener& from, const boost::system::error_code& ec);
  // Opens the spare descriptor again; false when there is no slot for it (EMFILE).
  bool reopen_spare();
  // Sends a client sluice will not serve its protocol's refusal (too_many_clients) and closes it.
  void refuse_client(const listener& from, asio::ip::tcp::socket& socket, const char* message);
  asio::awaitable<void> maintenance_loop();
  // Worker 0, once a second: after the client count fell a lot (trim_policy), malloc_trim.
  void release_memory_after_storm();

  shared_state& shared_;
  unsigned index_;
  // Declared before io_: destroying io_ destroys the suspended sessions, which let go of their pools.
  // ~worker() closes the idle connections first, while io_ still exists.
  std::vector<std::unordered_map<std::string, std::unique_ptr<backends::pg::server_pool>>> pools_;
  // Front ends' per-worker state (front_end::make_extension), declared before io_ like pools_.
  std::vector<std::unique_ptr<worker_extension>> extensions_;
  // One thread runs it and only that thread touches its sockets and timers (other threads post), so
  // the reactor's per-socket locks are not needed (Asio: BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO).
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::vector<std::unique_ptr<listener>> listeners_;
  std::vector<backends::pg::steady_clock::time_point> down_until_;
  std::vector<scoring::backend_state> backend_states_;
  scoring::replica_selector selector_;  // routing.balance = "round_robin"
  scoring::replica_scorer scorer_;      // routing.balance = "score"
  scoring::xoshiro256_source random_;
  std::vector<std::uint64_t> replay_lsn_;
  std::uint64_t primary_lsn_ = 0;  // the latest probe of a backend not in recovery
  std::vector<bool> probed_replica_;    // last reachable probe said in recovery
  // The backend whose last reachable probe said it is the primary, and since when its probes get no
  // answer in time (a stall; a refusal or an error ends it: the primary is down, not stalled).
  std::optional<std::size_t> last_seen_primary_;
  std::optional<std::chrono::steady_clock::time_point> last_primary_unreachable_since_;
  bool last_primary_stalled_ = false;
  std::unique_ptr<scoring::choice_explanation> explanation_;  // debug logging only (about 13 KB)
  function_effects functions_{shared_.function_generation, std::chrono::seconds(60)};
  std::unordered_map<std::string, std::uint64_t> statement_ids_;      // current generation
  std::unordered_map<std::string, std::uint64_t> old_statement_ids_;  // previous generation
  // Heterogeneous lookup: a std::string_view finds a std::string key without building one.
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };
  using classification_map = std::unordered_map<std::string, classify::classification, text_hash, std::equal_to<>>;
  classification_map classifications_;      // current generation (classify_statement)
  classification_map old_classifications_;  // previous generation
  const settings_snapshot* classifications_for_ = nullptr;  // the settings they were computed with
  worker_stats stats_;
  // For the admin API, per backend: batches dispatched, statement latencies, the latest probe.
  std::vector<std::uint64_t> dispatched_;
  std::vector<latency_window> latencies_;
  std::vector<std::optional<backends::pg::probe_sample>> last_probe_;
  std::unordered_set<served_client*> clients_;  // registered sessions
  bool draining_ = false;  // begin_drain ran: no new clients, no new units
  // A descriptor kept open (on /dev/null) and given up when accept() fails for lack of descriptors,
  // so that the waiting client can be accepted and refused (too many clients) instead of hanging in the backlog.
  int spare_fd_ = -1;
  bool spare_lost_ = false;  // given up for an accept error and not yet reopened (another thread took its slot)
  trim_policy trim_;  // worker 0: when to give freed memory back after a storm of clients
  log_throttle accept_error_log_{std::chrono::seconds(10)};
  keyed_log_throttle login_failure_log_{std::chrono::seconds(10), 4096};
  log_throttle startup_timeout_log_{std::chrono::seconds(10)};
};

}  // namespace sluice::router
