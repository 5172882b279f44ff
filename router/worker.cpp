// Worker thread: acceptor, per-worker pools, backend availability, maintenance timer.
#include "router/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "scoring/outlier_event.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

namespace sluice::router {

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto maintenance_period = std::chrono::seconds(1);
constexpr unsigned stats_log_ticks = 60;  // counters are logged once a minute
constexpr unsigned latency_window_ticks = 30;  // admin latency percentiles cover the last 30 to 60 s

// SO_REUSEPORT: every worker binds the same address; the kernel balances new connections.
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
}  // namespace

namespace {
scoring::scoring_config scoring_settings(const config::config& cfg) {
  scoring::scoring_config settings;
  settings.max_lag_bytes = cfg.routing.max_lag_bytes;
  settings.max_lag_time = cfg.routing.max_lag;
  // A probe is believed for two intervals plus its timeout: one lost probe does not make a backend
  // unknown, two do.
  settings.probe_staleness = 2 * cfg.health.probe_interval + cfg.health.probe_timeout;
  settings.evaluation_interval = cfg.health.probe_interval;
  return settings;
}
}  // namespace

worker::worker(shared_state& shared, unsigned index)
    : shared_(shared),
      index_(index),
      // Per-backend arrays have a place for every backend slot (shared_state::backend_slots), so a
      // backend a reload adds needs no resizing here: a slot no backend uses has no probe, and the
      // scorer never chooses a backend without one.
      pools_(shared.backend_slots),
      down_until_(shared.backend_slots),
      backend_states_(shared.backend_slots),
      scorer_(shared.backend_slots, scoring_settings(shared.cfg())),
      random_(std::random_device{}() ^ (std::uint64_t{index} << 32)),
      replay_lsn_(shared.backend_slots, 0),
      probed_replica_(shared.backend_slots, false),
      dispatched_(shared.backend_slots, 0),
      latencies_(shared.backend_slots),
      last_probe_(shared.backend_slots) {
  for (std::size_t i = 0; i < shared.backend_slots; ++i) {
    backend_states_[i].is_replica = i != shared.primary_index;
  }
}

worker::~worker() {
  if (spare_fd_ >= 0) ::close(spare_fd_);
  // Idle server sockets belong to io_: close them while it exists. Then io_ goes (and with it the
  // suspended sessions, which still reach their pools), then the pools.
  for (auto& by_key : pools_) {
    for (auto& [key, pool] : by_key) pool->shutdown();
  }
  for (auto& extension : extensions_) extension->shutdown();
}

void worker::listen(const asio::ip::tcp::endpoint& endpoint, const front_end& protocol) {
  auto& added = *listeners_.emplace_back(std::make_unique<listener>(io_, protocol));
  added.acceptor.open(endpoint.protocol());
  added.acceptor.set_option(asio::socket_base::reuse_address(true));
  added.acceptor.set_option(reuse_port(true));
  added.acceptor.bind(endpoint);
  added.acceptor.listen(asio::socket_base::max_listen_connections);
  if (protocol.make_extension != nullptr) {
    extensions_.push_back(protocol.make_extension(*this));
    added.extension = extensions_.back().get();
  }
  asio::co_spawn(io_, accept_loop(added), asio::detached);
  if (listeners_.size() > 1) return;
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  asio::co_spawn(io_, maintenance_loop(), asio::detached);
}

worker_extension* worker::extension(const front_end& protocol) const noexcept {
  for (const auto& open : listeners_) {
    if (open->protocol == &protocol) return open->extension;
  }
  return nullptr;
}

void worker::run() { io_.run(); }

void worker::stop() { io_.stop(); }

void worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  boost::system::error_code ignored;
  // Clients the kernel queued on an acceptor but nobody accepted yet are reset by the close (Linux
  // moves them to another listener of the port only with net.ipv4.tcp_migrate_req = 1); a client that
  // retries reaches the new process. accept_loop ends with operation_aborted.
  for (auto& open : listeners_) open->acceptor.close(ignored);
  // A copy: a session told to go may unregister itself before this loop is done (it does not today:
  // shutdown_if_idle only cancels its pending read, and the session runs later, from io_).
  const std::vector<served_client*> sessions(clients_.begin(), clients_.end());
  for (auto* session : sessions) session->shutdown_if_idle();
}

asio::awaitable<void> worker::accept_loop(listener& from) {
  for (;;) {
    // The peer's address comes with the accept (no getpeername() per connection).
    asio::ip::tcp::endpoint peer;
    auto [ec, socket] = co_await from.acceptor.async_accept(peer, use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !from.acceptor.is_open()) co_return;  // stop, or begin_drain
      co_await on_accept_error(from, ec);
      continue;
    }
    if (spare_lost_ && !reopen_spare()) {
      // Another thread took the spare's slot after an accept error: this client's descriptor becomes
      // the spare again, so that the next EMFILE can still be answered.
      ++stats_.clients_refused;
      refuse_client(from, socket, "sluice: out of file descriptors; try again later");
      reopen_spare();
      continue;
    }
    const auto count = shared_.clients.fetch_add(1, std::memory_order_relaxed) + 1;
    if (count > shared_.cfg().limits.max_client_connections) {
      shared_.clients.fetch_sub(1, std::memory_order_relaxed);
      ++stats_.clients_refused;
      // Answer as the server does when its connection limit is reached (PostgreSQL 53300, MySQL 1040),
      // without reading anything from the client.
      refuse_client(from, socket, "sluice: too many client connections (max_client_connections)");
      continue;
    }
    ++stats_.clients_accepted;
    from.protocol->start_session(*this, std::move(socket), peer);
  }
}

bool worker::reopen_spare() {
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (spare_fd_ >= 0) spare_lost_ = false;
  return spare_fd_ >= 0;
}

void worker::refuse_client(const listener& from, asio::ip::tcp::socket& socket, const char* message) {
  std::vector<std::uint8_t> out;
  from.protocol->encode_refusal(out, engine::refusal_code::too_many_clients, message);
  boost::system::error_code ignored;
  // A fresh socket's send buffer takes the few bytes at once: this does not block the worker.
  asio::write(socket, asio::buffer(out), ignored);
  socket.close(ignored);
}

asio::awaitable<void> worker::on_accept_error(listener& from, const boost::system::error_code& ec) {
  ++stats_.accept_errors;
  const bool out_of_descriptors = ec == asio::error::no_descriptors || ec.value() == ENFILE;
  std::uint64_t refused = 0;
  if (out_of_descriptors && (spare_fd_ >= 0 || (spare_lost_ && reopen_spare()))) {
    // The waiting client would hang in the backlog: give up the spare descriptor, take the client,
    // refuse it, and take the spare back (libev's and nginx's trick).
    ::close(spare_fd_);
    spare_fd_ = -1;
    boost::system::error_code accept_error;
    from.acceptor.non_blocking(true, accept_error);
    asio::ip::tcp::socket waiting(io_);
    from.acceptor.accept(waiting, accept_error);
    if (!accept_error) {
      refuse_client(from, waiting, "sluice: out of file descriptors; try again later");
      ++stats_.clients_refused;
      refused = 1;
    }
    from.acceptor.non_blocking(false, accept_error);
    spare_lost_ = true;
    reopen_spare();
  }
  std::uint64_t held_back = 0;
  if (accept_error_log_.allow(log_throttle::clock::now(), held_back)) {
    spdlog::warn(
        "worker {}: accept failed: {}{}; {} more accept errors in the last 10 s (at most one line per 10 s); "
        "raise the open-file limit or lower limits.max_client_connections",
        index_, ec.message(), refused != 0 ? " (the waiting client was refused: too many clients)" : "", held_back);
  }
  // Back off briefly instead of spinning on a backlog the process cannot take.
  asio::steady_timer pause(io_, out_of_descriptors ? std::chrono::milliseconds(10) : std::chrono::milliseconds(50));
  co_await pause.async_wait(use_tuple);
}

void worker::release_memory_after_storm() {
  const std::uint64_t clients = shared_.clients.load(std::memory_order_relaxed);
  const std::uint64_t high_water = std::max(trim_.high_water(), clients);
  if (!trim_.observe(clients)) return;
  const auto before = resident_memory_bytes();
  release_free_memory();
  const auto after = resident_memory_bytes();
  if (before && after) {
    spdlog::info("clients fell from {} to {}: freed memory returned to the system, resident {} MiB -> {} MiB",
                 high_water, clients, *before >> 20, *after >> 20);
  }
}

void worker::on_login_failure(const asio::ip::address& client, const std::string& user) {
  ++stats_.login_failures;
  const std::string address = client.to_string();
  std::uint64_t held_back = 0;
  if (!login_failure_log_.allow(address, log_throttle::clock::now(), held_back)) return;
  if (held_back == 0) {
    spdlog::warn("authentication failed: client {} as user '{}'", address, user);
  } else {
    spdlog::warn("authentication failed: client {} as user '{}' ({} more failures from {} not logged in the last 10 s)",
                 address, user, held_back, address);
  }
}

void worker::on_startup_timeout(const asio::ip::address& client) {
  ++stats_.startup_timeouts;
  std::uint64_t held_back = 0;
  if (!startup_timeout_log_.allow(log_throttle::clock::now(), held_back)) return;
  spdlog::warn(
      "worker {}: client {} did not finish startup and authentication within limits.startup_timeout ({} ms); "
      "{} more such clients in the last 10 s (at most one line per 10 s; {} in all on this worker)",
      index_, client.to_string(), shared_.cfg().limits.startup_timeout.count(), held_back, stats_.startup_timeouts);
}

spdlog::level::level_enum worker::connection_log_level() const noexcept {
  return shared_.cfg().logging.connections ? spdlog::level::info : spdlog::level::debug;
}

asio::awaitable<void> worker::maintenance_loop() {
  asio::steady_timer timer(io_);
  worker_stats logged{};
  for (unsigned tick = 1;; ++tick) {
    timer.expires_after(maintenance_period);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    const auto now = backends::pg::steady_clock::now();
    for (auto& by_key : pools_) {
      for (auto& [key, pool] : by_key) pool->reap(now);
      // Pools nobody uses that never logged in (a client trying database names) go away, and with
      // them their /metrics label sets.
      std::erase_if(by_key, [](const auto& entry) { return entry.second->droppable(); });
    }
    for (auto& extension : extensions_) extension->maintain(now);
    functions_.expire(now);
    if (index_ == 0) release_memory_after_storm();
    if (tick % latency_window_ticks == 0) {
      for (auto& window : latencies_) window.rotate();
    }
    // The counters, once a minute when they moved, until the admin API shows them live.
    if (tick % stats_log_ticks == 0 && std::memcmp(&logged, &stats_, sizeof stats_) != 0) {
      spdlog::info(
          "worker {} counters: clients {} accepted, {} refused; routed {} primary, {} replica; replica fallbacks "
          "{} to primary, {} refused; writes refused {}; sessions pinned {}; settings replayed {}; statements "
          "prepared {}; cancels {}; read_your_writes checks {}, primary reads {}",
          index_, stats_.clients_accepted, stats_.clients_refused, stats_.routed_primary, stats_.routed_replica,
          stats_.replica_fallbacks, stats_.fallback_errors, stats_.writes_refused, stats_.sessions_pinned,
          stats_.settings_replayed, stats_.statements_prepared, stats_.cancels_forwarded, stats_.causal_checks,
          stats_.causal_primary_reads);
      logged = stats_;
    }
  }
}

backends::pg::server_pool& worker::pool(std::size_t backend, const std::string& database,
                                          const config::user_config& user) {
  std::string key = database;
  key += '\0';
  key += user.name;
  auto& by_key = pools_[backend];
  auto found = by_key.find(key);
  if (found != by_key.end()) return *found->second;

  // The user as configured now (a session that logged in before a reload passes its own, older entry).
  const auto& cfg = shared_.cfg();
  const auto* current = shared_.find_user(user.name);
  const auto& settings_user = current != nullptr ? *current->config : user;
  const auto settings = pool_settings_for(cfg, settings_user.pool_size);
  auto target = connect_target_for(cfg, backend, database, settings_user);
  auto budget = shared_.budgets.get(backend, database, user.name, settings.max_size);
  auto pool = std::make_unique<backends::pg::server_pool>(io_.get_executor(), backend, settings, std::move(target),
                                                            std::move(budget));
  // Created for a user or a backend a reload removed (a session that logged in before): it serves that
  // session, connection by connection, and goes with it.
  if (current == nullptr || cfg.backends[backend].removed) pool->retire();
  auto& result = *pool;
  by_key.emplace(std::move(key), std::move(pool));
  return result;
}

backends::pool::pool_settings worker::pool_settings_for(const config::config& cfg,
                                                      std::optional<std::uint32_t> user_pool_size) {
  backends::pool::pool_settings settings;
  // pool.size (or the user's pool_size) is the whole proxy's: one budget shared by every worker's pool.
  settings.max_size = std::max<std::size_t>(1, user_pool_size.value_or(cfg.pool.size));
  settings.idle_timeout = cfg.pool.idle_timeout;
  settings.lifetime = cfg.pool.server_lifetime;
  settings.wait_timeout = cfg.pool.query_wait_timeout;
  settings.check_after = cfg.pool.server_check_delay;
  return settings;
}

backends::pg::connect_target worker::connect_target_for(const config::config& cfg, std::size_t backend,
                                                        const std::string& database,
                                                        const config::user_config& user) {
  backends::pg::connect_target target;
  target.endpoint = shared_.addresses.current(backend);
  target.addresses = &shared_.addresses;  // re-read at each connect: a host name may move
  target.credentials.user = user.server_user.empty() ? user.name : user.server_user;
  target.credentials.password = user.server_password ? user.server_password : user.password;
  target.credentials.database = database;
  target.timeout = cfg.pool.connect_timeout;
  return target;
}

void worker::on_reload(const settings_snapshot& next, const std::vector<std::size_t>& removed,
                       const std::vector<std::size_t>& moved) {
  const auto& cfg = next.cfg;
  for (std::size_t backend = 0; backend < pools_.size(); ++backend) {
    const bool gone = std::find(removed.begin(), removed.end(), backend) != removed.end();
    const bool elsewhere = std::find(moved.begin(), moved.end(), backend) != moved.end();
    for (auto& [key, pool] : pools_[backend]) {
      if (pool->retired()) continue;
      const auto separator = key.find('\0');  // database + '\0' + user (see pool())
      const auto database = key.substr(0, separator);
      const auto* user = next.find_user(std::string_view(key).substr(separator + 1));
      if (gone || user == nullptr) {
        pool->retire();
        continue;
      }
      auto target = connect_target_for(cfg, backend, database, *user->config);
      // Another server user, or another address: what is open belongs to the old one (closed when idle
      // or as it comes back). A new password alone: open connections stay, new ones use it.
      const bool replace = elsewhere || target.credentials.user != pool->target().credentials.user;
      pool->reconfigure(pool_settings_for(cfg, user->config->pool_size), target, replace);
    }
  }
}

bool worker::removed(std::size_t backend) const noexcept {
  const auto& backends = shared_.cfg().backends;
  return backend >= backends.size() || backends[backend].removed;
}

std::optional<std::size_t> worker::choose_replica(scoring::backend_set exclude, std::uint64_t min_replay_lsn) {
  const auto now = backends::pg::steady_clock::now();
  const std::size_t count = backend_states_.size();
  for (std::size_t i = 0; i < count; ++i) {
    if (down_until_[i] > now || shared_.control[i].drained.load(std::memory_order_relaxed) || removed(i)) exclude.set(i);
    if (min_replay_lsn != 0 && replay_lsn_[i] < min_replay_lsn) exclude.set(i);
  }
  if (shared_.cfg().routing.balance == config::balancer::round_robin) {
    const auto primary_index = primary().backend;
    for (std::size_t i = 0; i < count; ++i) {
      backend_states_[i].is_replica = !primary_index || i != *primary_index;
      backend_states_[i].available = !exclude.test(i);
    }
    return selector_.choose(backend_states_);
  }
#if SPDLOG_ACTIVE_LEVEL <= SPDLOG_LEVEL_DEBUG
  // Debug builds at log level debug: the reason for each choice (candidates, costs, exclusions).
  if (spdlog::should_log(spdlog::level::debug)) {
    if (!explanation_) explanation_ = std::make_unique<scoring::choice_explanation>();
    const auto chosen = scorer_.choose(now, random_, explanation_.get(), exclude);
    spdlog::debug("worker {}: replica choice: {}", index_, scoring::to_string(*explanation_));
    return chosen;
  }
#endif
  return scorer_.choose(now, random_, nullptr, exclude);
}

write_target worker::primary() const {
  // A backend that switchover or failover just promoted takes writes at once, before the probes
  // confirm it; a fenced backend (an old primary) never does, whatever it reports.
  const int promoted = shared_.promoted_primary.load(std::memory_order_acquire);
  if (promoted >= 0 && !shared_.control[static_cast<std::size_t>(promoted)].fenced.load(std::memory_order_relaxed)) {
    return {static_cast<std::size_t>(promoted), "", {}, std::nullopt};
  }
  const auto is_fenced = [this](std::size_t i) { return shared_.control[i].fenced.load(std::memory_order_relaxed); };
  const auto view = scorer_.topology(scoring::clock_type::now());
  switch (view.state) {
    case scoring::topology_state::unknown:
      if (is_fenced(shared_.primary_index)) break;
      return {shared_.primary_index, "", {}, std::nullopt};
    case scoring::topology_state::single_primary:
      if (view.primary && is_fenced(*view.primary)) break;
      return {view.primary, "", {}, std::nullopt};
    case scoring::topology_state::no_primary:
      break;
    case scoring::topology_state::split_brain: {
      std::string claimants;
      std::optional<std::size_t> unfenced;
      std::size_t unfenced_count = 0;
      for (std::size_t i = 0; i < shared_.cfg().backends.size(); ++i) {
        if (!view.claimants.test(i)) continue;
        if (!is_fenced(i)) {
          unfenced = i;
          ++unfenced_count;
        }
        if (!claimants.empty()) claimants += ", ";
        claimants += "'" + shared_.cfg().backends[i].name + "'";
      }
      if (unfenced_count == 1) return {unfenced, "", {}, std::nullopt};  // the others are old primaries, fenced
      return {std::nullopt, "57P03",
              "more than one backend reports being a primary (split brain: " + claimants +
                  "); writes are stopped until an operator resolves it",
              std::nullopt};
    }
  }
  write_target none{std::nullopt, "57P03", "no backend reports being a primary (primary down or failover in progress)",
                    std::nullopt};
  // The primary stopped answering probes without saying it is no primary any more (nor is another):
  // most likely a stall. Writes wait for it, or for a failover, rather than fail at once.
  if (last_seen_primary_ && last_primary_unreachable_since_ && !is_fenced(*last_seen_primary_)) {
    none.stalled_since = last_primary_unreachable_since_;
  }
  return none;
}

void worker::mark_down(std::size_t backend) {
  const auto now = backends::pg::steady_clock::now();
  down_until_[backend] = now + shared_.cfg().pool.retry_interval;
  scorer_.on_connect_failure(backend, now);
}

bool worker::is_available(std::size_t backend) const {
  return down_until_[backend] <= backends::pg::steady_clock::now();
}

void worker::on_probe(std::size_t backend, const backends::pg::probe_sample& sample) {
  const auto& probe = sample.probe;
  scorer_.on_probe(backend, probe);
  last_probe_[backend] = sample;
  if (probe.reachable) {
    probed_replica_[backend] = probe.in_recovery;
    replay_lsn_[backend] = probe.in_recovery ? probe.current_lsn : 0;
    if (!probe.in_recovery) primary_lsn_ = probe.current_lsn;
    if (!probe.in_recovery) {
      last_seen_primary_ = backend;
      last_primary_unreachable_since_.reset();
      last_primary_stalled_ = false;
    } else if (last_seen_primary_ == backend) {
      last_seen_primary_.reset();  // it says it is a replica now: it lost its role
    }
  } else if (last_seen_primary_ == backend) {
    // Only silence is a stall: a server that refuses connections or answers with an error (shutting
    // down, starting up) is down, and writes are refused at once as before.
    if (!sample.timed_out) {
      last_primary_unreachable_since_.reset();
      last_primary_stalled_ = false;
    } else if (!last_primary_stalled_) {
      last_primary_stalled_ = true;
      last_primary_unreachable_since_ = std::chrono::steady_clock::now();
    }
  }
  // Ejections and returns are rare and worth a line; only worker 0 logs them (every worker's scorer
  // sees the same probes, but its own traffic).
  std::array<scoring::outlier_event, 8> events;
  const auto count = scorer_.take_events(events);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& event = events[i];
    const auto& name = shared_.cfg().backends[event.backend].name;
    if (event.what == scoring::outlier_event::kind::ejected) {
      spdlog::info("worker {}: replica '{}' ejected ({}: observed {:.1f}, threshold {:.1f}) for {} ms (ejection #{})",
                   index_, name, scoring::to_string(event.reason), event.observed, event.threshold,
                   event.duration.count(), event.repeat);
    } else {
      spdlog::info("worker {}: replica '{}' returns to the pool (slow start)", index_, name);
    }
  }
}

std::optional<std::size_t> worker::most_advanced_replica(scoring::backend_set exclude) const {
  const auto now = backends::pg::steady_clock::now();
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < replay_lsn_.size(); ++i) {
    if (!probed_replica_[i] || exclude.test(i) || down_until_[i] > now) continue;
    if (shared_.control[i].drained.load(std::memory_order_relaxed) || removed(i)) continue;  // as choose_replica
    if (!best || replay_lsn_[i] > replay_lsn_[*best]) best = i;
  }
  return best;
}

bool worker::all_replicas_reached(std::uint64_t lsn) const {
  for (std::size_t i = 0; i < replay_lsn_.size(); ++i) {
    if (probed_replica_[i] && replay_lsn_[i] < lsn) return false;
  }
  return true;
}

std::uint64_t worker::statement_id(std::string_view query, backends::pg::wire::bytes_view parameter_types) {
  std::string key(query);
  key += '\0';
  key.append(reinterpret_cast<const char*>(parameter_types.data()), parameter_types.size());
  auto found = statement_ids_.find(key);
  if (found != statement_ids_.end()) return found->second;
  // Generations (as a two-segment LRU): a text seen in the previous generation moves to the current
  // one; when the current one is full, the previous one is forgotten. At most statement_id_cap texts.
  if (auto old = old_statement_ids_.extract(key)) {
    const auto id = old.mapped();
    if (statement_ids_.size() >= statement_id_cap / 2) old_statement_ids_ = std::exchange(statement_ids_, {});
    statement_ids_.insert(std::move(old));
    return id;
  }
  if (statement_ids_.size() >= statement_id_cap / 2) old_statement_ids_ = std::exchange(statement_ids_, {});
  const auto id = shared_.next_statement_id.fetch_add(1, std::memory_order_relaxed);
  statement_ids_.emplace(std::move(key), id);
  return id;
}

classify::classification worker::classify_statement(std::string_view query) {
  const auto& settings = shared_.settings();
  const classify::options options{settings.cfg.routing.write_functions};
  if (query.size() > classification_max_text) return classify::classify(query, options);
  if (classifications_for_ != &settings) {
    // A reload published new settings: routing.write_functions may have changed, and with it answers.
    classifications_.clear();
    old_classifications_.clear();
    classifications_for_ = &settings;
  }
  if (const auto found = classifications_.find(query); found != classifications_.end()) return found->second;
  // Generations, as in statement_id: a text of the previous generation moves to the current one.
  const auto rotate = [this] {
    if (classifications_.size() >= classification_cap / 2) old_classifications_ = std::exchange(classifications_, {});
  };
  if (const auto old = old_classifications_.find(query); old != old_classifications_.end()) {
    auto node = old_classifications_.extract(old);
    const auto kind = node.mapped();
    rotate();
    classifications_.insert(std::move(node));
    return kind;
  }
  const auto kind = classify::classify(query, options);
  rotate();
  classifications_.emplace(std::string(query), kind);
  return kind;
}

// --- Admin API (control path, on this worker's thread) ---------------------------------------------

std::vector<router::backend_figures> worker::backend_figures() const {
  const auto now = backends::pg::steady_clock::now();
  auto explanation = std::make_unique<scoring::choice_explanation>();
  scorer_.explain(scoring::clock_type::now(), *explanation);
  // Every slot (shared_state::backend_slots): reports taken around a reload have the same length.
  std::vector<router::backend_figures> out(shared_.backend_slots);
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto& figures = out[i];
    figures.scored = explanation->backends[i];
    if (last_probe_[i]) {
      figures.probed = true;
      figures.probe = last_probe_[i]->probe;
      figures.probe_error = last_probe_[i]->error;
    }
    figures.marked_down = down_until_[i] > now;
    figures.dispatched = dispatched_[i];
    figures.recent_latency = latencies_[i].recent();
    figures.latency_count = latencies_[i].total_count();
    figures.latency_sum_us = latencies_[i].total_sum_us();
  }
  return out;
}

std::vector<router::pool_figures> worker::pool_figures() const {
  std::vector<router::pool_figures> out;
  for (std::size_t backend = 0; backend < pools_.size(); ++backend) {
    for (const auto& [key, pool] : pools_[backend]) {
      router::pool_figures figures;
      figures.backend = backend;
      const auto separator = key.find('\0');  // the key is database + '\0' + user (see pool())
      figures.database = key.substr(0, separator);
      if (separator != std::string::npos) figures.user = key.substr(separator + 1);
      figures.max_size = pool->settings().max_size;
      figures.retired = pool->retired();
      figures.stats = pool->stats();
      out.push_back(std::move(figures));
    }
  }
  return out;
}

std::vector<client_summary> worker::client_summaries() const {
  std::vector<client_summary> out;
  out.reserve(clients_.size());
  for (const auto* session : clients_) {
    out.push_back(session->summary());
    out.back().worker = index_;
  }
  return out;
}

std::optional<std::size_t> worker::explain_read(scoring::choice_explanation& why) {
  const auto now = backends::pg::steady_clock::now();
  scoring::backend_set exclude;
  for (std::size_t i = 0; i < backend_states_.size(); ++i) {
    if (down_until_[i] > now || shared_.control[i].drained.load(std::memory_order_relaxed) || removed(i)) exclude.set(i);
  }
  if (shared_.cfg().routing.balance == config::balancer::round_robin) {
    // The rotation's next pick, on a copy so the real rotation does not move.
    scorer_.explain(now, why);
    auto states = backend_states_;
    const auto primary_index = primary().backend;
    for (std::size_t i = 0; i < states.size(); ++i) {
      states[i].is_replica = !primary_index || i != *primary_index;
      states[i].available = !exclude.test(i);
    }
    auto selector = selector_;
    why.chosen = selector.choose(states);
    return why.chosen;
  }
  // choose() draws from the worker's random source (harmless: it is only a random stream) and counts
  // nothing: a dispatch is counted by on_dispatch, which this does not call.
  return scorer_.choose(now, random_, &why, exclude);
}

void worker::register_client(served_client* session) { clients_.insert(session); }

void worker::unregister_client(served_client* session) { clients_.erase(session); }

}  // namespace sluice::router
