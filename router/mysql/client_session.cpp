// The MySQL front end: a session per client on the protocol-neutral engine (route decision, unit
// admission, backend choice), pooled MySQL server connections, session state carried by the session
// tracker (see client_session.hpp).
#include "router/mysql/client_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>

#include "backends/mysql/auth/native_password.hpp"
#include "backends/mysql/wire/command.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "router/engine/backend_choice.hpp"
#include "router/engine/route_decision.hpp"
#include "router/engine/send_now.hpp"
#include "router/worker.hpp"

namespace sluice::router::mysql {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Servers are trusted; a row may be 1 GB, so a message may be a little more.
constexpr std::size_t max_server_message = (std::size_t{1} << 30) + (64u << 20);
// Login packets are small.
constexpr std::size_t max_login_message = 64 * 1024;

// The character set and collation a handshake's collation id names, for the session variables a
// server connection must be given (it logs in as utf8mb4_general_ci). The ids clients send.
struct collation_name {
  std::uint8_t id;
  const char* charset;
  const char* collation;
};
constexpr collation_name collations[] = {
    {8, "latin1", "latin1_swedish_ci"},         {33, "utf8mb3", "utf8mb3_general_ci"},
    {45, "utf8mb4", "utf8mb4_general_ci"},      {46, "utf8mb4", "utf8mb4_bin"},
    {63, "binary", "binary"},                   {83, "utf8mb3", "utf8mb3_bin"},
    {192, "utf8mb3", "utf8mb3_unicode_ci"},     {224, "utf8mb4", "utf8mb4_unicode_ci"},
    {255, "utf8mb4", "utf8mb4_general_ci"},  // MySQL 8's utf8mb4_0900_ai_ci: MariaDB's nearest
};

std::atomic<std::uint32_t> connection_ids{0};

void encode_refusal(std::vector<std::uint8_t>& out, engine::refusal_code code, std::string_view message) {
  // Before the handshake: an ERR with sequence id 0, which clients read in its place.
  const auto error = engine::mysql_error_for(code);
  wire::encode_err(out, 0, wire::client_protocol_41, error.number, error.sqlstate, message);
}

void start_session(worker& owner, tcp::socket socket, const tcp::endpoint& peer);

std::unique_ptr<worker_extension> make_state(worker& owner) { return std::make_unique<worker_state>(owner); }

}  // namespace

const front_end mysql_front_end{"mysql", start_session, encode_refusal, make_state};

namespace {

void start_session(worker& owner, tcp::socket socket, const tcp::endpoint& peer) {
  auto* state = static_cast<worker_state*>(owner.extension(mysql_front_end));
  auto session = std::make_shared<client_session>(owner, *state, std::move(socket), peer);
  asio::co_spawn(owner.io(), [session]() -> asio::awaitable<void> { co_await session->run(); }, asio::detached);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// worker_state

worker_state::worker_state(worker& owner) : owner_(owner), down_until_(owner.shared().cfg().mysql.backends.size()) {
  for (const auto& user : owner.shared().cfg().mysql.users) {
    auth::client_credential credential;
    if (user.password) credential.password = *user.password;
    if (user.password_hash) credential.native_stage2 = auth::parse_native_password_hash(*user.password_hash);
    credentials_.emplace(user.name, std::move(credential));
  }
}

worker_state::~worker_state() = default;

backends::mysql::server_pool& worker_state::pool(std::size_t backend, const std::string& database,
                                                 const config::mysql_user_config& user, wire::capabilities flags) {
  std::string key = std::to_string(backend);
  key += '\0';
  key += database;
  key += '\0';
  key += user.name;
  key += '\0';
  key += std::to_string(flags);
  if (auto found = pools_.find(key); found != pools_.end()) return *found->second;
  const auto& cfg = owner_.shared().cfg();
  const auto settings = worker::pool_settings_for(cfg, user.pool_size);
  backends::mysql::connect_target target;
  const auto& configured = cfg.mysql.backends[backend];
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(configured.host, ec);
  // A host name is resolved once here (MySQL backends have no address_source yet).
  if (ec) {
    asio::ip::tcp::resolver resolver(owner_.io());
    const auto results = resolver.resolve(configured.host, std::to_string(configured.port), ec);
    if (!ec && !results.empty()) target.endpoint = results.begin()->endpoint();
  } else {
    target.endpoint = tcp::endpoint(address, configured.port);
  }
  target.user = user.server_user;
  target.password = user.server_password.value_or("");
  target.database = database;
  target.capabilities = (backends::mysql::default_capabilities & ~answer_shaping_flags) | flags;
  target.timeout = cfg.pool.connect_timeout;
  // The budget is proxy-wide per key; "mysql:" keeps MySQL backends apart from PostgreSQL's indexes.
  auto budget = owner_.shared().budgets.get(backend, database, "mysql:" + user.name + ":" + std::to_string(flags),
                                            settings.max_size);
  auto pool = std::make_unique<backends::mysql::server_pool>(owner_.io().get_executor(), backend, settings,
                                                             std::move(target), std::move(budget));
  auto& result = *pool;
  pools_.emplace(std::move(key), std::move(pool));
  return result;
}

void worker_state::mark_down(std::size_t backend) {
  down_until_[backend] = std::chrono::steady_clock::now() + owner_.shared().cfg().pool.retry_interval;
}

bool worker_state::available(std::size_t backend) const {
  return down_until_[backend] <= std::chrono::steady_clock::now();
}

std::optional<std::size_t> worker_state::primary() const {
  const auto& backends = owner_.shared().cfg().mysql.backends;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].role == config::backend_role::primary) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> worker_state::choose_replica(scoring::backend_set exclude, std::uint64_t) {
  const auto& backends = owner_.shared().cfg().mysql.backends;
  for (std::size_t step = 0; step < backends.size(); ++step) {
    const auto i = (next_replica_ + step) % backends.size();
    if (backends[i].role != config::backend_role::replica || exclude.test(i) || !available(i)) continue;
    next_replica_ = i + 1;
    return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> worker_state::most_advanced_replica(scoring::backend_set) const { return std::nullopt; }

bool worker_state::all_replicas_reached(std::uint64_t) const { return true; }

const auth::client_credential* worker_state::find(std::string_view user) const {
  const auto found = credentials_.find(std::string(user));
  return found == credentials_.end() ? nullptr : &found->second;
}

const config::mysql_user_config* worker_state::find_user(std::string_view name) const {
  for (const auto& user : owner_.shared().cfg().mysql.users) {
    if (user.name == name) return &user;
  }
  return nullptr;
}

std::uint32_t worker_state::next_connection_id() noexcept {
  return connection_ids.fetch_add(1, std::memory_order_relaxed) + 1;
}

void worker_state::shutdown() noexcept {
  for (auto& [key, pool] : pools_) pool->shutdown();
}

void worker_state::maintain(std::chrono::steady_clock::time_point now) {
  for (auto& [key, pool] : pools_) pool->reap(now);
}

// ---------------------------------------------------------------------------------------------------
// The session

client_session::client_session(worker& owner, worker_state& state, tcp::socket socket, const tcp::endpoint& peer)
    : owner_(owner), state_(state), client_(std::move(socket)), peer_(peer), connected_at_(std::chrono::system_clock::now()) {}

client_session::~client_session() {
  if (server_) release_server(false);
  if (registered_) owner_.unregister_client(this);
  owner_.shared().clients.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<void> client_session::run() {
  boost::system::error_code ignored;
  client_.set_option(tcp::no_delay(true), ignored);
  connection_id_ = state_.next_connection_id();
  if (!co_await login()) {
    client_.close(ignored);
    co_return;
  }
  owner_.register_client(this);
  registered_ = true;
  co_await serve();
  client_.close(ignored);
}

asio::awaitable<bool> client_session::login() {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(client_.get_executor());
  deadline.expires_after(owner_.shared().cfg().limits.startup_timeout);
  const auto result = co_await (login_steps() || deadline.async_wait(use_tuple));
  if (result.index() == 1) {
    ++owner_.stats().startup_timeouts;
    co_return false;
  }
  co_return std::get<0>(result);
}

asio::awaitable<bool> client_session::login_steps() {
  const auto& cfg = owner_.shared().cfg();
  auth::client_login_params params;
  params.server_version = cfg.mysql.server_version;
  params.thread_id = connection_id_;
  params.client_host = peer_.address().to_string();
  auth::client_login machine(params, state_);
  client_out_.clear();
  auto step = machine.start(client_out_);
  for (;;) {
    if (!client_out_.empty() && !co_await write_client(client_out_)) co_return false;
    client_out_.clear();
    if (step == auth::client_login::step::authenticated) break;
    if (step == auth::client_login::step::refused) {
      ++owner_.stats().login_failures;
      co_return false;
    }
    if (step != auth::client_login::step::read) co_return false;  // start_tls: TLS is not offered
    auto read = co_await backends::mysql::read_message(client_, client_in_, max_login_message);
    if (read.error || read.frame.status != wire::codec_errc::ok) co_return false;
    step = machine.on_message(read.frame.message, client_out_);
    client_in_.consume(read.frame.message.wire.size());
  }
  const auto& who = machine.result();
  user_ = state_.find_user(who.user);
  if (user_ == nullptr) co_return false;
  user_name_ = who.user;
  database_ = who.database;
  client_caps_ = who.capabilities;
  session_mode_ = user_->mode.value_or(cfg.pool.mode) == config::pool_mode::session;
  if (!database_.empty()) vars_.set_schema(database_);
  for (const auto& known : collations) {
    if (known.id != who.character_set) continue;
    vars_.set("character_set_client", known.charset);
    vars_.set("character_set_connection", known.charset);
    vars_.set("character_set_results", known.charset);
    vars_.set("collation_connection", known.collation);
  }
  co_return true;
}

asio::awaitable<void> client_session::serve() {
  const auto max_message = owner_.shared().cfg().limits.max_message_size;
  for (;;) {
    if (owner_.draining() && !server_) {
      send_error(1053, "08S01", "sluice is shutting down");
      co_await flush_client();
      co_return;
    }
    auto read = co_await backends::mysql::read_message(client_, client_in_, max_message);
    if (read.error) {
      if (owner_.draining() && client_.is_open()) {
        // shutdown_if_idle cancelled the read: the client is told why it goes.
        send_error(1053, "08S01", "sluice is shutting down");
        co_await flush_client();
      }
      co_return;
    }
    if (read.frame.status != wire::codec_errc::ok) {
      const auto error = engine::mysql_error_for(engine::refusal_code::protocol_violation);
      send_error(error.number, error.sqlstate,
                 read.frame.status == wire::codec_errc::packet_too_large
                     ? "sluice: packet larger than limits.max_message_size"
                     : "sluice: malformed packet");
      co_await flush_client();
      co_return;
    }
    const auto message = read.frame.message;
    const bool keep = co_await on_command(message);
    client_in_.consume(message.wire.size());
    if (!keep || fatal_) {
      co_await flush_client();
      co_return;
    }
    if (!co_await flush_client()) co_return;
  }
}

asio::awaitable<bool> client_session::on_command(const wire::message_view& message) {
  const auto payload = message.payload();
  if (message.chunk_count != 1 || payload.empty() || message.first_sequence_id != 0) {
    const auto error = engine::mysql_error_for(engine::refusal_code::protocol_violation);
    send_error(error.number, error.sqlstate,
               message.chunk_count != 1 ? "sluice: commands of 16 MiB or more are not supported yet"
               : payload.empty()        ? "sluice: empty command packet"
                                        : "sluice: a command must start with sequence id 0");
    co_return false;
  }
  const std::uint8_t command = payload[0];
  const auto& cfg = owner_.shared().cfg();
  classify::classification primary_kind;
  primary_kind.target = classify::route::primary;
  switch (command) {
    case wire::com_quit:
      co_return false;
    case wire::com_ping:
      send_ok();
      co_return true;
    case wire::com_query: {
      const std::string_view sql(reinterpret_cast<const char*>(payload.data() + 1), payload.size() - 1);
      classify::options options{cfg.routing.write_functions};
      options.dialect = classify::sql_dialect::mysql;
      const auto kind = classify::classify(sql, options);
      if (kind.pins_session) pinned_ = true;
      auto route = engine::decide_route(cfg.routing.read_write_split, pinned_, kind).route;
      // autocommit = 0: every statement opens a transaction that a later write may need, and the first
      // statement decides its backend, so the session's units start on the primary.
      if (autocommit_off()) route = classify::route::primary;
      co_return co_await run_on_server(message, route, kind);
    }
    case wire::com_init_db:
    case wire::com_statistics:
    case wire::com_field_list:
      // Session commands: where the session is (or the primary); COM_INIT_DB's new schema comes back in
      // the OK's session-state block.
      co_return co_await run_on_server(message, classify::route::primary, primary_kind);
    case wire::com_reset_connection:
      // Back to the state of a fresh login: the session's variables are forgotten and a connection it
      // kept (pinned, session mode) is closed rather than reused in an unknown state.
      vars_ = {};
      if (!database_.empty()) vars_.set_schema(database_);
      pinned_ = false;
      if (server_) release_server(false);
      units_.end();
      send_ok();
      co_return true;
    default: {
      const auto error = engine::mysql_error_for(engine::refusal_code::protocol_violation);
      send_error(error.number, error.sqlstate,
                 "sluice: this command is not supported yet (prepared statements, COM_CHANGE_USER, "
                 "COM_SET_OPTION and COM_PROCESS_KILL come with the rest of issue 12)");
      co_return true;
    }
  }
}

asio::awaitable<bool> client_session::run_on_server(const wire::message_view& message, classify::route target,
                                                    const classify::classification& kind) {
  if (!units_.open()) {
    // A unit starts: a transaction, or a statement outside one (also on a connection the session keeps).
    units_.begin();
    if (owner_.shared().tenants.enabled()) {
      const std::string_view sql(reinterpret_cast<const char*>(message.payload().data() + 1),
                                 message.payload().size() - 1);
      engine::refusal why;
      const auto verdict = co_await units_.admit({user_name_, database_, ""}, sql, why);
      if (verdict != engine::verdict::go) {
        units_.end();
        if (verdict == engine::verdict::client_gone) co_return false;
        refuse(why);
        co_return true;
      }
    }
    if (server_ && state_.primary() == server_->backend_index() && !units_.write_gate_open_now()) {
      engine::refusal why;
      if (co_await units_.pass_write_gate(why) != engine::verdict::go) {
        units_.end();
        refuse(why);
        co_return true;
      }
    }
  }
  if (!server_ && !co_await attach(target, kind)) {
    units_.end();
    co_return !fatal_;
  }
  // The client's command as it came (sequence id 0): the server's answer then carries the ids the
  // client expects.
  const std::uint8_t command = message.payload()[0];
  tracker_.set_capabilities(server_->capabilities());
  const bool answered = tracker_.on_command(command);
  const bool sent = co_await write_socket(server_->socket(), message.wire);
  if (!sent || (answered && !co_await relay_answer())) {
    const auto& name = owner_.shared().cfg().mysql.backends[server_->backend_index()].name;
    const bool in_transaction = tracker_.in_transaction() || pinned_ || session_mode_;
    release_server(false);
    units_.end();
    const auto error = engine::mysql_error_for(engine::refusal_code::replica_check_lost);
    send_error(error.number, error.sqlstate,
               "sluice: lost the connection to backend '" + name + "' while running the statement" +
                   (in_transaction ? "; the transaction or session state is gone" : ""));
    fatal_ = in_transaction;
    co_return !fatal_;
  }
  server_->status_flags = tracker_.status();
  if (!tracker_.in_transaction()) {
    // The unit is over; the connection goes back to the pool unless the session keeps it.
    units_.end();
    if (!pinned_ && !session_mode_) release_server(true);
  }
  co_return true;
}

asio::awaitable<bool> client_session::attach(classify::route target, const classify::classification& kind) {
  (void)kind;
  auto& stats = owner_.stats();
  const auto& cfg = owner_.shared().cfg();
  engine::backend_choice choice(state_, cfg.routing, stats, target, {});
  auto place = choice.first();
  if (place.what == engine::placement::kind::refused) {
    refuse({engine::refusal_code::no_replica,
            "sluice: no replica can serve this read (down) and routing.fallback = \"error\"", {}});
    co_return false;
  }
  backends::mysql::connect_failure failure;
  std::size_t chosen = 0;
  for (std::size_t attempt = 0; attempt <= cfg.mysql.backends.size() + 1; ++attempt) {
    const bool is_read = place.what == engine::placement::kind::replica;
    if (!is_read) {
      if (!units_.write_gate_open_now()) {
        engine::refusal why;
        if (co_await units_.pass_write_gate(why) != engine::verdict::go) {
          refuse(why);
          co_return false;
        }
      }
      const auto primary = state_.primary();
      if (!primary) {
        refuse({engine::refusal_code::no_primary, "sluice: the MySQL primary is unavailable (marked down)", {}});
        co_return false;
      }
      chosen = *primary;
    } else {
      chosen = place.backend;
    }
    auto& pool = pool_for(chosen);
    if (auto idle = pool.take_idle()) {
      server_ = std::move(idle);
    } else {
      auto acquired = co_await pool.acquire();
      if (!acquired.connection) {
        failure = std::move(acquired.failure);
        spdlog::warn("MySQL backend '{}': {}", cfg.mysql.backends[chosen].name, failure.message);
        if (failure.code == errc::server_connect || failure.code == errc::server_error) state_.mark_down(chosen);
        if (is_read && failure.code != errc::pool_timeout) {
          place = choice.replica_unreachable(chosen);
          if (place.what == engine::placement::kind::refused) break;
          continue;
        }
        break;
      }
      server_ = std::move(acquired.connection);
    }
    if (!co_await sync_state()) {
      if (server_ && !internal_error_.empty()) {
        // The server refuses this session's state (a schema or a value it does not accept): the
        // session cannot be what its client set up, so it ends with the server's own error.
        wire::err_packet err;
        if (wire::decode_err(internal_error_, server_->capabilities(), err) == wire::codec_errc::ok) {
          send_error(err.error_code, err.sqlstate, err.message);
        } else {
          send_error(1105, "HY000", "sluice: restoring this session's state failed");
        }
        release_server(true);
        fatal_ = true;
        co_return false;
      }
      release_server(false);
      failure = {errc::server_error, 0, "08S01", "could not restore the session's state on the server connection"};
      break;
    }
    if (is_read) {
      ++stats.routed_replica;
    } else {
      ++stats.routed_primary;
    }
    co_return true;
  }
  if (place.what == engine::placement::kind::refused) {
    refuse({engine::refusal_code::no_replica,
            "sluice: no replica can serve this read (down) and routing.fallback = \"error\"", {}});
    co_return false;
  }
  refuse({failure.code == errc::pool_timeout ? engine::refusal_code::pool_timeout : engine::refusal_code::backend_unavailable,
          "sluice: backend '" + cfg.mysql.backends[chosen].name + "' is unavailable: " + failure.message, {}});
  co_return false;
}

asio::awaitable<bool> client_session::sync_state() {
  internal_error_.clear();
  auto& server_state = server_->state;
  if (server_state.find(backends::mysql::session_variables::marker_variable) == nullptr) {
    // A fresh connection: the server is asked to report what sluice carries, whatever its defaults.
    std::string arm = "SET SESSION session_track_system_variables='";
    arm += backends::mysql::session_variables::default_tracked;
    arm += "', session_track_schema=ON, session_track_state_change=ON";
    if (co_await run_internal(wire::com_query, arm) != internal_result::ok) co_return false;
    server_state.set(backends::mysql::session_variables::marker_variable,
                     backends::mysql::session_variables::default_tracked);
  }
  if (vars_.schema_differs(server_state)) {
    if (co_await run_internal(wire::com_init_db, vars_.schema()) != internal_result::ok) co_return false;
    server_state.set_schema(vars_.schema());
  }
  std::string sql;
  const bool backslash_escapes = (server_->status_flags & wire::server_status_no_backslash_escapes) == 0;
  if (vars_.replay_sql(server_state, backslash_escapes, sql)) {
    if (co_await run_internal(wire::com_query, sql) != internal_result::ok) co_return false;
    server_state.adopt(vars_);
  }
  co_return true;
}

asio::awaitable<client_session::internal_result> client_session::run_internal(std::uint8_t command,
                                                                            std::string_view body) {
  server_out_.clear();
  wire::encode_command(server_out_, 0, command,
                       wire::bytes_view(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
  tracker_.set_capabilities(server_->capabilities());
  tracker_.on_command(command);
  if (!co_await write_socket(server_->socket(), server_out_)) co_return internal_result::io_failed;
  for (;;) {
    auto read = co_await backends::mysql::read_message(server_->socket(), server_->input(), max_server_message);
    if (read.error || read.frame.status != wire::codec_errc::ok) co_return internal_result::io_failed;
    const auto& message = read.frame.message;
    const auto step = tracker_.on_packet(message.first_chunk(), message.payload_size);
    const auto payload = message.payload();
    if (!payload.empty() && payload[0] == wire::err_header && tracker_.failed()) {
      internal_error_.assign(payload.begin(), payload.end());
    } else if (tracker_.last_was_ok()) {
      learn_from_ok(payload, false);
    }
    server_->input().consume(message.wire.size());
    if (step == wire::response_tracker::step::done) {
      server_->status_flags = tracker_.status();
      co_return tracker_.failed() ? internal_result::server_error : internal_result::ok;
    }
    if (step != wire::response_tracker::step::more) co_return internal_result::io_failed;
  }
}

void client_session::learn_from_ok(wire::bytes_view payload, bool to_client) {
  wire::ok_packet ok;
  if (wire::decode_ok(payload, server_->capabilities(), ok) != wire::codec_errc::ok) return;
  if ((ok.status_flags & wire::server_session_state_changed) == 0 || ok.session_state.empty()) return;
  server_->state.learn(ok.session_state);
  if (!to_client) return;
  bool untracked = false;
  if (!vars_.learn(ok.session_state, &untracked) || untracked) {
    // State that cannot move (a user variable, a temporary table, a lock, ...), whatever the
    // classifier saw: this client keeps its connection from now on.
    pinned_ = true;
  }
}

asio::awaitable<bool> client_session::relay_answer() {
  const bool client_tracks = (client_caps_ & wire::client_session_track) != 0;
  for (;;) {
    auto read = co_await backends::mysql::read_message(server_->socket(), server_->input(), max_server_message);
    if (read.error || read.frame.status != wire::codec_errc::ok) co_return false;
    const auto& message = read.frame.message;
    const auto step = tracker_.on_packet(message.first_chunk(), message.payload_size);
    if (step == wire::response_tracker::step::error || step == wire::response_tracker::step::local_infile) {
      // LOCAL INFILE is not offered to servers; anything else here is a server sluice cannot follow.
      co_return false;
    }
    bool relayed = false;
    if (tracker_.last_was_ok()) {
      const auto payload = message.payload();
      learn_from_ok(payload, true);
      if (!client_tracks) {
        // Shaped for a client that asked for no session tracking: the same OK without the block.
        wire::ok_packet ok;
        if (wire::decode_ok(payload, server_->capabilities(), ok) == wire::codec_errc::ok) {
          ok.status_flags = static_cast<std::uint16_t>(ok.status_flags & ~wire::server_session_state_changed);
          ok.session_state = {};
          ok.eof_header = payload[0] == wire::eof_header;
          wire::encode_ok(client_out_, message.first_sequence_id, client_caps_, ok);
          relayed = true;
        }
      }
    }
    if (!relayed) client_out_.insert(client_out_.end(), message.wire.begin(), message.wire.end());
    server_->input().consume(message.wire.size());
    if (client_out_.size() >= 64 * 1024 && !co_await flush_client()) co_return false;
    if (step == wire::response_tracker::step::done) co_return true;
  }
}

backends::mysql::server_pool& client_session::pool_for(std::size_t backend) {
  // Looked up once per backend for the session (the key is this session's database, user and flags).
  if (pools_.size() <= backend) pools_.resize(backend + 1, nullptr);
  if (pools_[backend] == nullptr) pools_[backend] = &state_.pool(backend, database_, *user_, client_caps_ & answer_shaping_flags);
  return *pools_[backend];
}

void client_session::release_server(bool reusable) {
  if (!server_) return;
  // A pool without a database cannot take back a connection a client moved to one (MySQL has no way
  // back to "no database"): the next borrower would find itself there.
  if (database_.empty() && !server_->state.schema().empty()) reusable = false;
  pool_for(server_->backend_index()).release(std::move(server_), reusable);
}

bool client_session::autocommit_off() const {
  const auto* autocommit = vars_.find("autocommit");
  return autocommit != nullptr && (*autocommit == "OFF" || *autocommit == "0");
}

void client_session::refuse(const engine::refusal& why) {
  const auto error = engine::mysql_error_for(why.code);
  send_error(error.number, error.sqlstate, why.message);
}

void client_session::send_error(std::uint16_t number, std::string_view sqlstate, std::string_view message) {
  // The answer to a command (sequence id 0): id 1.
  wire::encode_err(client_out_, 1, client_caps_ | wire::client_protocol_41, number, sqlstate, message);
}

void client_session::send_ok() {
  wire::ok_packet ok;
  ok.status_flags = server_ ? server_->status_flags : wire::server_status_autocommit;
  wire::encode_ok(client_out_, 1, client_caps_, ok);
}

asio::awaitable<bool> client_session::write_socket(tcp::socket& socket, wire::bytes_view bytes) {
  std::size_t written = 0;
  const auto state = engine::send_now(socket.native_handle(), bytes, written);
  if (state != engine::write_state::blocked) co_return state == engine::write_state::done;
  auto [ec, count] =
      co_await asio::async_write(socket, asio::buffer(bytes.data() + written, bytes.size() - written), use_tuple);
  co_return !ec;
}

asio::awaitable<bool> client_session::write_client(wire::bytes_view bytes) { return write_socket(client_, bytes); }

asio::awaitable<bool> client_session::flush_client() {
  if (client_out_.empty()) co_return true;
  const bool ok = co_await write_client(client_out_);
  client_out_.clear();
  co_return ok;
}

bool client_session::client_left() {
  std::uint8_t first[5] = {};
  const auto received = ::recv(client_.native_handle(), first, sizeof first, MSG_PEEK | MSG_DONTWAIT);
  if (received == 0) return true;
  if (received < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return received == 5 && first[4] == wire::com_quit;
}

client_summary client_session::summary() const {
  client_summary out;
  out.user = user_name_;
  out.database = database_;
  if (const auto tenant = units_.tenant()) out.tenant = owner_.shared().tenants.tenant_name(*tenant);
  out.address = peer_.address().to_string() + ':' + std::to_string(peer_.port());
  out.state = units_.waiting() ? "waiting" : server_ ? (tracker_.in_transaction() ? "idle in transaction" : "active") : "idle";
  if (server_) out.backend = owner_.shared().cfg().mysql.backends[server_->backend_index()].name;
  out.pinned = pinned_;
  out.connected_at = connected_at_;
  out.worker = owner_.index();
  return out;
}

void client_session::shutdown_if_idle() {
  if (server_) return;  // told at its next command, once its unit is over
  boost::system::error_code ignored;
  client_.cancel(ignored);
}

}  // namespace sluice::router::mysql
