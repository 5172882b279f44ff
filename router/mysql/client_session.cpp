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
#include <mutex>

#include "backends/drained_read.hpp"
#include "backends/mysql/auth/native_password.hpp"
#include "backends/mysql/wire/command.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/prepared_statement.hpp"
#include "backends/mysql/wire/resultset.hpp"
#include "router/engine/backend_choice.hpp"
#include "router/engine/route_decision.hpp"
#include "router/engine/send_now.hpp"
#include "router/mysql/kill_statement.hpp"
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

// Every MySQL client session by its connection id, across workers: a KILL names one from any client
// connection. Control path: one lock per login, logout and KILL.
class session_registry {
 public:
  struct entry {
    std::weak_ptr<client_session> session;
    asio::any_io_executor executor;
  };
  void add(std::uint32_t id, entry e) {
    const std::lock_guard lock(mutex_);
    entries_[id] = std::move(e);
  }
  void remove(std::uint32_t id) {
    const std::lock_guard lock(mutex_);
    entries_.erase(id);
  }
  std::optional<entry> find(std::uint64_t id) {
    const std::lock_guard lock(mutex_);
    const auto found = id <= UINT32_MAX ? entries_.find(static_cast<std::uint32_t>(id)) : entries_.end();
    if (found == entries_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::uint32_t, entry> entries_;
};

session_registry& sessions() {
  static session_registry registry;
  return registry;
}

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
  // [mysql] changes need a restart: the configured primary is this one for the process's life.
  const auto& backends = owner.shared().cfg().mysql.backends;
  for (std::size_t i = 0; i < backends.size() && !primary_; ++i) {
    if (backends[i].role == config::backend_role::primary) primary_ = i;
  }
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
  // Per flag set too: pools sharing a budget hand idle connections to each other's waiters, and a
  // connection logged in with other flags would shape its answers wrongly. So pool_size caps each flag
  // set's connections (docs/limitations.md).
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
  if (registered_) {
    owner_.unregister_client(this);
    sessions().remove(connection_id_);
  }
  owner_.shared().clients.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<void> client_session::run() {
  boost::system::error_code ignored;
  client_.set_option(tcp::no_delay(true), ignored);
  backends::enable_drained_reads(client_);
  connection_id_ = state_.next_connection_id();
  if (!co_await login()) {
    client_.close(ignored);
    co_return;
  }
  owner_.register_client(this);
  registered_ = true;
  sessions().add(connection_id_, {weak_from_this(), client_.get_executor()});
  co_await serve();
  client_.close(ignored);
}

asio::awaitable<bool> client_session::login() {
  // The deadline cancels the client socket's pending read or write (login_steps waits on nothing else)
  // rather than racing login_steps with awaitable operator ||, which cost two coroutines and a parallel
  // group per connection (as the PostgreSQL front end's startup).
  asio::steady_timer deadline(client_.get_executor());
  deadline.expires_after(owner_.shared().cfg().limits.startup_timeout);
  in_login_ = true;
  deadline.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || !self->in_login_) return;  // cancelled, or queued after the login ended
    self->login_expired_ = true;
    boost::system::error_code ignored;
    self->client_.cancel(ignored);
  });
  const bool logged_in = co_await login_steps();
  in_login_ = false;
  deadline.cancel();
  if (login_expired_ && !logged_in) {
    ++owner_.stats().startup_timeouts;
    co_return false;
  }
  co_return logged_in;
}

asio::awaitable<bool> client_session::login_steps() {
  const auto& cfg = owner_.shared().cfg();
  auth::client_login_params params;
  params.server_version = cfg.mysql.server_version;
  params.thread_id = connection_id_;
  params.client_host = peer_.address().to_string();
  params.local_infile = cfg.mysql.local_infile;
  // Kept for COM_CHANGE_USER, which authenticates against this handshake's scramble.
  login_.emplace(params, state_);
  client_out_.clear();
  if (!co_await login_exchange(login_->start(client_out_))) {
    co_return false;
  }
  co_return adopt_login();
}

asio::awaitable<bool> client_session::login_exchange(auth::client_login::step step) {
  for (;;) {
    if (!client_out_.empty() && !co_await write_client(client_out_)) co_return false;
    client_out_.clear();
    if (step == auth::client_login::step::authenticated) co_return true;
    if (step == auth::client_login::step::refused) {
      ++owner_.stats().login_failures;
      co_return false;
    }
    if (step != auth::client_login::step::read) co_return false;  // start_tls: TLS is not offered
    auto read = co_await backends::mysql::read_message(client_, client_in_, max_login_message);
    if (read.error || read.frame.status != wire::codec_errc::ok) co_return false;
    step = login_->on_message(read.frame.message, client_out_);
    client_in_.consume(read.frame.message.wire.size());
  }
}

bool client_session::adopt_login() {
  const auto& who = login_->result();
  user_ = state_.find_user(who.user);
  if (user_ == nullptr) return false;
  user_name_ = who.user;
  database_ = who.database;
  client_caps_ = who.capabilities;
  session_mode_ = user_->mode.value_or(owner_.shared().cfg().pool.mode) == config::pool_mode::session;
  vars_ = {};
  if (!database_.empty()) vars_.set_schema(database_);
  for (const auto& known : collations) {
    if (known.id != who.character_set) continue;
    vars_.set("character_set_client", known.charset);
    vars_.set("character_set_connection", known.charset);
    vars_.set("character_set_results", known.charset);
    vars_.set("collation_connection", known.collation);
  }
  return true;
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
      refuse_protocol(read.frame.status == wire::codec_errc::packet_too_large
                          ? "sluice: packet larger than limits.max_message_size"
                          : "sluice: malformed packet");
      co_await flush_client();
      co_return;
    }
    const auto message = read.frame.message;
    message_consumed_ = false;
    command_size_ = message.wire.size();
    busy_ = true;
    const bool keep = co_await on_command(message);
    busy_ = false;
    if (!message_consumed_) client_in_.consume(message.wire.size());
    if (!keep || fatal_) {
      co_await flush_client();
      co_return;
    }
    if (!co_await flush_client()) co_return;
  }
}

asio::awaitable<bool> client_session::on_command(const wire::message_view& message) {
  if (message.chunk_count == 1) {
    payload_ = message.payload();
  } else {
    // A command of 16 MiB or more came in chunks: the handlers read it whole (a copy, for these rare
    // messages only); it goes to the server as it came, chunks and all.
    joined_payload_.clear();
    wire::append_payload(message, joined_payload_);
    payload_ = joined_payload_;
  }
  const auto payload = payload_;
  if (payload.empty() || message.first_sequence_id != 0) {
    refuse_protocol(payload.empty() ? "sluice: empty command packet" : "sluice: a command must start with sequence id 0");
    co_return false;
  }
  const std::uint8_t command = payload[0];
  classify::classification primary_kind;
  primary_kind.target = classify::route::primary;
  switch (command) {
    case wire::com_quit:
      co_return false;
    case wire::com_ping:
      send_ok();
      co_return true;
    case wire::com_query:
      co_return co_await on_query(message);
    case wire::com_process_kill: {
      std::uint32_t id = 0;
      if (wire::decode_process_kill(payload, id) != wire::codec_errc::ok) {
        refuse_protocol("sluice: malformed COM_PROCESS_KILL");
        co_return false;
      }
      co_return co_await on_kill(id, false);
    }
    case wire::com_stmt_prepare:
    case wire::com_stmt_execute:
    case wire::com_stmt_send_long_data:
    case wire::com_stmt_close:
    case wire::com_stmt_reset:
    case wire::com_stmt_fetch:
      co_return co_await on_statement_command(message);
    case wire::com_init_db:
    case wire::com_statistics:
    case wire::com_field_list:
      // Session commands: where the session is (or the primary); COM_INIT_DB's new schema comes back in
      // the OK's session-state block.
      co_return co_await run_on_server(message, classify::route::primary, primary_kind, {});
    case wire::com_change_user:
      co_return co_await on_change_user(message);
    case wire::com_set_option:
      co_return co_await on_set_option(message);
    case wire::com_reset_connection:
      // Back to the state of a fresh login: the session's variables are forgotten and a connection it
      // kept (pinned, session mode) is closed rather than reused in an unknown state.
      vars_ = {};
      if (!database_.empty()) vars_.set_schema(database_);
      statements_.clear();  // as the server deallocates them
      last_prepared_id_ = 0;
      pinned_ = false;
      if (server_) release_server(false);
      units_.end();
      send_ok();
      co_return true;
    default: {
      refuse_protocol("sluice: this command is not supported (MySQL's deprecated or replication commands)");
      co_return true;
    }
  }
}

asio::awaitable<bool> client_session::on_query(const wire::message_view& message) {
  const auto payload = payload_;
  const std::string_view sql(reinterpret_cast<const char*>(payload.data() + 1), payload.size() - 1);
  const auto kind = classify_sql(sql);
  if (kind.target == classify::route::primary) {
    // KILL names sluice's connection ids (the clients' handshakes gave them), not the servers' threads.
    const auto kill = parse_kill_statement(sql);
    if (kill.what == kill_statement::kind::kill) co_return co_await on_kill(kill.id, kill.query_only);
    if (kill.what == kill_statement::kind::unsupported) {
      send_error(1235, "42000",
                 "sluice: only KILL [HARD|SOFT] [CONNECTION|QUERY] <connection id> is supported (the ids are "
                 "sluice's, as the handshake gave them)");
      co_return true;
    }
  }
  if (kind.pins_session) pin();
  if (kind.uses_previous_result && !server_ && is_row_count_query(sql)) {
    // The previous statement's connection went back to the pool: its OK said how many rows it changed.
    answer_row_count();
    co_return true;
  }
  wants_previous_ = kind.uses_previous_result;
  co_return co_await run_on_server(message, route_for(kind), kind, sql);
}

classify::classification client_session::classify_sql(std::string_view sql) const {
  classify::options options{owner_.shared().cfg().routing.write_functions};
  options.dialect = classify::sql_dialect::mysql;
  return classify::classify(sql, options);
}

classify::route client_session::route_for(const classify::classification& kind) const {
  // autocommit = 0: every statement opens a transaction that a later write may need, and the first
  // statement decides its backend, so the session's units start on the primary.
  if (autocommit_off()) return classify::route::primary;
  return engine::decide_route(owner_.shared().cfg().routing.read_write_split, pinned_, kind).route;
}

asio::awaitable<bool> client_session::on_statement_command(const wire::message_view& message) {
  const auto payload = payload_;
  const std::uint8_t command = payload[0];
  const auto malformed = [&] { refuse_protocol("sluice: malformed prepared-statement command"); };
  if (command == wire::com_stmt_prepare) {
    // MariaDB's max_prepared_stmt_count default: a client cannot make sluice hold statements without end.
    constexpr std::size_t max_client_statements = 16382;
    if (statements_.size() >= max_client_statements) {
      send_error(1461, "42000", "Can't create more than max_prepared_stmt_count statements (current value: 16382)");
      co_return true;
    }
    const std::string_view sql(reinterpret_cast<const char*>(payload.data() + 1), payload.size() - 1);
    preparing_.emplace();
    preparing_->sql = sql;
    preparing_->text_id = owner_.statement_id(sql, {});
    preparing_->kind = classify_sql(sql);
    // Prepared where a statement of its kind would run now (the metadata is the same everywhere); its
    // executes go where their route says then.
    const auto kind = preparing_->kind;
    const bool keep = co_await run_on_server(message, route_for(kind), kind, sql);
    preparing_.reset();
    co_return keep;
  }
  std::uint32_t id = 0;
  if (wire::read_statement_id(payload, id) != wire::codec_errc::ok) {
    malformed();
    co_return false;
  }
  if (id == wire::last_prepared_statement_id && command == wire::com_stmt_execute) id = last_prepared_id_;
  const auto found = statements_.find(id);
  if (command == wire::com_stmt_close) {
    // Answered locally (the command has no answer): the server connections keep the statement for the
    // other clients that prepare the same text, within pool.max_prepared_statements.
    if (found != statements_.end()) statements_.erase(found);
    co_return true;
  }
  if (found == statements_.end()) {
    if (command == wire::com_stmt_send_long_data) co_return true;  // no answer; the execute reports it
    send_error(1243, "HY000", "Unknown prepared statement handler (" + std::to_string(id) + ") given to sluice");
    co_return true;
  }
  auto& statement = found->second;
  switch (command) {
    case wire::com_stmt_send_long_data: {
      wire::stmt_send_long_data piece;
      if (wire::decode_stmt_send_long_data(payload, piece) != wire::codec_errc::ok) {
        malformed();
        co_return false;
      }
      // Kept until the execute, which may run on another server connection than one attached now.
      statement.long_data_bytes += piece.data.size();
      if (statement.long_data_bytes <= owner_.shared().cfg().limits.max_message_size) {
        statement.long_data.emplace_back(piece.param_id,
                                         std::vector<std::uint8_t>(piece.data.begin(), piece.data.end()));
      }
      co_return true;
    }
    case wire::com_stmt_execute: {
      if (statement.long_data_bytes > owner_.shared().cfg().limits.max_message_size) {
        statement.drop_long_data();
        send_error(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes (sluice: long data over "
                                  "limits.max_message_size)");
        co_return true;
      }
      // Decoded once: encode_statement_command reads execute_ (its views point into payload_).
      if (wire::decode_stmt_execute(payload, statement.num_params, execute_) != wire::codec_errc::ok) {
        malformed();
        co_return false;
      }
      if (execute_.new_params_bound) {
        statement.types.assign(execute_.param_types.begin(), execute_.param_types.end());
      }
      // A cursor stays open on the server connection (COM_STMT_FETCH follows there), as does what a
      // statement that pins leaves behind.
      if (execute_.flags != wire::cursor_type_no_cursor || statement.kind.pins_session) pin();
      wants_previous_ = statement.kind.uses_previous_result;
      co_return co_await run_on_server(message, route_for(statement.kind), statement.kind, statement.sql, &statement);
    }
    case wire::com_stmt_reset:
      statement.drop_long_data();
      if (!server_ || server_->statements.find(statement.text_id) == nullptr) {
        // Nothing of it on a server connection this session holds: there is nothing else to reset.
        send_ok();
        co_return true;
      }
      co_return co_await run_on_server(message, route_for(statement.kind), statement.kind, statement.sql, &statement);
    case wire::com_stmt_fetch:
      if (!server_ || server_->statements.find(statement.text_id) == nullptr) {
        send_error(1421, "HY000", "The statement (" + std::to_string(id) + ") has no open cursor.");
        co_return true;
      }
      co_return co_await run_on_server(message, route_for(statement.kind), statement.kind, statement.sql, &statement);
    default:
      malformed();
      co_return false;
  }
}

asio::awaitable<bool> client_session::on_change_user(const wire::message_view& message) {
  wire::change_user request;
  if (wire::decode_change_user(payload_, client_caps_, request) != wire::codec_errc::ok) {
    refuse_protocol("sluice: malformed COM_CHANGE_USER");
    co_return false;
  }
  // As on a server: whatever the session held ends (an open transaction is rolled back with the
  // server connection, which is not reused in that state), then the client logs in again.
  if (server_) release_server(false);
  units_.end();
  statements_.clear();
  last_prepared_id_ = 0;
  pinned_ = false;
  pools_.clear();  // per user and database
  const auto step = login_->change_user(request, client_out_);
  client_in_.consume(message.wire.size());  // the exchange reads the client's next packets
  message_consumed_ = true;
  if (!co_await login_exchange(step) || !adopt_login()) {
    // A refused change of user ends the connection (its ERR is sent): it has no user any more.
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> client_session::on_set_option(const wire::message_view& message) {
  std::uint16_t option = 0;
  if (wire::decode_set_option(payload_, option) != wire::codec_errc::ok ||
      (option != wire::mysql_option_multi_statements_on && option != wire::mysql_option_multi_statements_off)) {
    send_error(1047, "08S01", "Unknown command");
    co_return true;
  }
  // Multi-statements shape the server's answers, so the session now borrows from the pools of its new
  // flag set. A connection it keeps (transaction, pin) is told too and not pooled again afterwards.
  if (option == wire::mysql_option_multi_statements_on) {
    client_caps_ |= wire::client_multi_statements;
  } else {
    client_caps_ &= ~wire::client_multi_statements;
  }
  if (!server_) pools_.clear();
  if (server_) {
    server_options_changed_ = true;  // release_server forgets the old pools once this one is back
    co_return co_await run_on_server(message, classify::route::primary, {}, {});
  }
  if ((client_caps_ & wire::client_deprecate_eof) != 0) {
    send_ok();
  } else {
    wire::eof_packet eof;
    eof.status_flags = wire::server_status_autocommit;
    wire::encode_eof(client_out_, 1, client_caps_, eof);
  }
  co_return true;
}

namespace {

// Runs on the target session's worker. A coroutine function, not a lambda with captures: its arguments
// live in the coroutine frame (GCC 12 frees a capturing coroutine lambda's members too early).
asio::awaitable<client_session::kill_plan> plan_kill(std::weak_ptr<client_session> target, std::string user,
                                                     bool query_only) {
  const auto session = target.lock();
  co_return session ? session->prepare_kill(user, query_only) : client_session::kill_plan{};
}

}  // namespace

asio::awaitable<bool> client_session::on_kill(std::uint64_t id, bool query_only) {
  const auto unknown = [&] { send_error(1094, "HY000", "Unknown thread id: " + std::to_string(id)); };
  if (id == connection_id_) {
    if (query_only) {
      send_ok();  // its own statement is this one
      co_return true;
    }
    send_error(1927, "70100", "Connection was killed");
    co_return false;
  }
  const auto target = sessions().find(id);
  if (!target) {
    unknown();
    co_return true;
  }
  const auto plan =
      co_await asio::co_spawn(target->executor, plan_kill(target->session, user_name_, query_only),
                              asio::use_awaitable);
  if (!plan.found) {
    unknown();
    co_return true;
  }
  if (!plan.owner) {
    send_error(1095, "HY000", "You are not owner of thread " + std::to_string(id));
    co_return true;
  }
  if (plan.running) {
    const bool killed = co_await kill_on_server(plan.backend, plan.thread_id);
    asio::post(target->executor, [weak = target->session, backend = plan.backend, thread = plan.thread_id] {
      if (const auto session = weak.lock()) session->kill_answered(backend, thread);
    });
    if (!killed) {
      send_error(1094, "HY000",
                 "sluice: could not stop the statement of connection " + std::to_string(id) + " on its server");
      co_return true;
    }
  }
  send_ok();
  co_return true;
}

client_session::kill_plan client_session::prepare_kill(std::string_view user, bool query_only) {
  kill_plan plan;
  if (!registered_) return plan;
  plan.found = true;
  plan.owner = user == user_name_;
  if (!plan.owner) return plan;
  if (busy_ && server_) {
    plan.running = true;
    plan.backend = server_->backend_index();
    plan.thread_id = server_->thread_id();
    being_killed_.emplace(plan.backend, plan.thread_id);
  }
  if (!query_only) {
    // KILL CONNECTION: a busy session ends once its statement's (interrupted) answer is relayed; an
    // idle one now, its pending read cancelled (what it held is not reused).
    fatal_ = true;
    if (!busy_) {
      if (server_) release_server(false);
      boost::system::error_code ignored;
      client_.cancel(ignored);
    }
  }
  return plan;
}

void client_session::kill_answered(std::size_t backend, std::uint32_t thread_id) {
  if (being_killed_ && being_killed_->first == backend && being_killed_->second == thread_id) being_killed_.reset();
}

asio::awaitable<bool> client_session::kill_on_server(std::size_t backend, std::uint32_t thread_id) {
  // A connection of its own, outside the pool and its size: the statement to stop may hold the pool's
  // last connection (as PgBouncer's cancel connections are outside its pools). The pool's target has
  // this user's server credentials, as KILL QUERY needs.
  backends::mysql::server_connection connection(client_.get_executor(), backend);
  if (const auto failure = co_await connection.connect(pool_for(backend).target()); failure.code != errc::ok) {
    spdlog::warn("MySQL backend '{}': could not connect to send KILL QUERY: {}",
                 owner_.shared().cfg().mysql.backends[backend].name, failure.message);
    co_return false;
  }
  wire::byte_buffer out;
  wire::encode_query(out, 0, "KILL QUERY " + std::to_string(thread_id));
  // A tracker of its own: the session's follows its own connection's transaction.
  wire::response_tracker tracker;
  const auto result = co_await exchange(connection, tracker, wire::com_query, out, [](const wire::message_view&) {});
  connection.terminate();
  // An ERR (1094 unknown thread) means the statement ended and its connection closed first: nothing is
  // left to stop.
  co_return result != internal_result::io_failed;
}

asio::awaitable<bool> client_session::run_on_server(const wire::message_view& message, classify::route target,
                                                    const classify::classification& kind, std::string_view sql,
                                                    client_statement* statement) {
  const bool previous_held = std::exchange(held_for_next_, false) && server_ != nullptr;
  const bool wants_previous = std::exchange(wants_previous_, false);
  // Held after a statement with warnings: SHOW WARNINGS (and the like) runs where they are; anything
  // else lets the connection go first.
  if (previous_held && !wants_previous) release_server(true);
  const bool on_previous = previous_held && wants_previous;
  if (!units_.open()) {
    // A unit starts: a transaction, or a statement outside one (also on a connection the session keeps).
    units_.begin();
    if (owner_.shared().tenants.enabled()) {
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
  command_ = payload_[0];
  for (int attempt = 0;; ++attempt) {
    const bool fresh = !server_;
    if (!server_ && !co_await attach(target, kind)) {
      units_.end();
      co_return !fatal_;
    }
    relayed_any_ = false;
    auto ready = internal_result::ok;  // sluice's own commands this one needs first
    if (wants_previous && !on_previous) {
      // Another connection than the previous statement's: the session's LAST_INSERT_ID() is set there
      // first (DO sets it without a result; MySQL manual, LAST_INSERT_ID(expr)), and what another
      // client's statement left in its diagnostics area (SHOW WARNINGS, @@warning_count) is cleared.
      // The subquery reads a table, which is what makes MariaDB clear the warnings (sql_parse.cc resets
      // them for statements that use tables); DO itself reads none.
      ready = co_await run_internal(wire::com_query,
                                    "DO LAST_INSERT_ID(" + std::to_string(last_insert_id_) +
                                        "), (SELECT 1 FROM information_schema.ENGINES LIMIT 0)");
    }
    if (ready == internal_result::ok && statement != nullptr) ready = co_await prepare_on_server(*statement);
    if (ready == internal_result::server_error) {
      // Refused by this connection's server (say, a statement that does not prepare on a replica without
      // the table yet): the client's command gets the server's ERR.
      wire::write_message(client_out_, internal_error_, 1);
      command_done();
      co_return true;
    }
    bool sent = ready == internal_result::ok;
    wire::bytes_view command_bytes = message.wire;
    if (sent && statement != nullptr) {
      encode_statement_command(message, *statement);
      command_bytes = server_out_;
    } else if (sent && !server_->statements.owed_closes().empty()) {
      server_out_.clear();
      append_owed_closes(server_out_);
      sent = co_await write_socket(server_->socket(), server_out_);
    }
    // The client's command as it came (sequence id 0): the server's answer then carries the ids the
    // client expects.
    tracker_.set_capabilities(server_->capabilities());
    const bool answered = tracker_.on_command(command_);
    sent = sent && co_await write_socket(server_->socket(), command_bytes);
    if (sent && (!answered || co_await relay_answer())) break;
    const auto backend = server_->backend_index();
    const auto& name = owner_.shared().cfg().mysql.backends[backend].name;
    const bool in_transaction = tracker_.in_transaction() || pinned_ || session_mode_;
    // A replica's connection lost before any of the answer reached the client, on a connection lent for
    // this statement alone: a read, so it runs again elsewhere (the replica is skipped for
    // pool.retry_interval: its pooled connections are likely gone too).
    const bool retry = attempt == 0 && fresh && !relayed_any_ && !in_transaction &&
                       state_.primary() != std::optional<std::size_t>(backend);
    release_server(false);
    if (retry) {
      spdlog::warn("MySQL backend '{}': lost a connection before its answer; the read runs again elsewhere", name);
      state_.mark_down(backend);
      continue;
    }
    units_.end();
    refuse(engine::refusal_code::replica_check_lost,
           "sluice: lost the connection to backend '" + name + "' while running the statement" +
               (in_transaction ? "; the transaction or session state is gone" : ""));
    fatal_ = in_transaction;
    co_return !fatal_;
  }
  command_done();
  co_return true;
}

void client_session::command_done() {
  server_->status_flags = tracker_.status();
  if (!tracker_.in_transaction()) {
    // The unit is over; the connection goes back to the pool unless the session keeps it.
    units_.end();
    if (pinned_ || session_mode_) return;
    if (last_warnings_ != 0 && !owner_.draining()) {
      // Pinned until the next statement: a SHOW WARNINGS then reads them where they are.
      held_for_next_ = true;
      return;
    }
    release_server(true);
  }
}

asio::awaitable<client_session::internal_result> client_session::prepare_on_server(client_statement& statement) {
  auto& prepared = server_->statements;
  prepared.set_capacity(owner_.shared().cfg().pool.max_prepared_statements);
  if (prepared.find(statement.text_id) != nullptr) co_return internal_result::ok;
  const auto result = co_await run_internal(wire::com_stmt_prepare, statement.sql);
  if (result == internal_result::ok) {
    const auto& ok = tracker_.prepared();
    prepared.insert(statement.text_id, ok.statement_id, ok.num_params);
  }
  co_return result;
}

void client_session::encode_statement_command(const wire::message_view& message, client_statement& statement) {
  auto* on_server = server_->statements.find(statement.text_id);
  server_out_.clear();
  append_owed_closes(server_out_);
  const auto payload = payload_;
  if (payload[0] == wire::com_stmt_execute) {
    for (const auto& [param, data] : statement.long_data) {
      wire::encode_stmt_send_long_data(server_out_, 0, {on_server->server_id, param, data});
    }
    statement.drop_long_data();
    auto execute = execute_;  // decoded by on_statement_command
    const bool types_missing = statement.num_params != 0 && !execute.new_params_bound &&
                               !statement.types.empty() && on_server->types_sent != statement.types;
    if (types_missing) {
      // The client bound its types on another server connection: they go along now.
      execute.statement_id = on_server->server_id;
      execute.param_types = statement.types;
      wire::encode_stmt_execute(server_out_, 0, execute, statement.num_params);
      on_server->types_sent = statement.types;
      return;
    }
    if (execute.new_params_bound) on_server->types_sent.assign(execute.param_types.begin(), execute.param_types.end());
  }
  const auto start = server_out_.size();
  server_out_.insert(server_out_.end(), message.wire.begin(), message.wire.end());
  (void)wire::rewrite_statement_id(wire::mutable_bytes(server_out_.data() + start + wire::packet_header_size,
                                                       message.wire.size() - wire::packet_header_size),
                                   on_server->server_id);
}

void client_session::append_owed_closes(wire::byte_buffer& out) {
  auto& owed = server_->statements.owed_closes();
  for (const auto id : owed) wire::encode_stmt_close(out, 0, id);
  owed.clear();
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
  append_owed_closes(server_out_);
  wire::encode_command(server_out_, 0, command,
                       wire::bytes_view(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
  const auto result = co_await exchange(*server_, tracker_, command, server_out_, [this](const wire::message_view& message) {
    const auto payload = message.payload();
    if (!payload.empty() && payload[0] == wire::err_header && tracker_.failed()) {
      internal_error_.assign(payload.begin(), payload.end());
    } else if (tracker_.last_was_ok()) {
      learn_from_ok(payload, false);
    }
  });
  if (result != internal_result::io_failed) server_->status_flags = tracker_.status();
  co_return result;
}

template <class Visit>
asio::awaitable<client_session::internal_result> client_session::exchange(
    backends::mysql::server_connection& connection, wire::response_tracker& tracker, std::uint8_t command,
    wire::bytes_view bytes, Visit visit) {
  tracker.set_capabilities(connection.capabilities());
  tracker.on_command(command);
  if (!co_await write_socket(connection.socket(), bytes)) co_return internal_result::io_failed;
  for (;;) {
    auto read = co_await backends::mysql::read_message(connection.socket(), connection.input(), max_server_message);
    if (read.error || read.frame.status != wire::codec_errc::ok) co_return internal_result::io_failed;
    const auto& message = read.frame.message;
    const auto step = tracker.on_packet(message.first_chunk(), message.payload_size);
    visit(message);
    connection.input().consume(message.wire.size());
    if (step == wire::response_tracker::step::done) {
      co_return tracker.failed() ? internal_result::server_error : internal_result::ok;
    }
    if (step != wire::response_tracker::step::more) co_return internal_result::io_failed;
  }
}

void client_session::learn_from_ok(wire::bytes_view payload, bool to_client) {
  wire::ok_packet ok;
  if (wire::decode_ok(payload, server_->capabilities(), ok) != wire::codec_errc::ok) return;
  if (to_client) {
    // ROW_COUNT(): a statement's affected rows; -1 after a result set (MySQL manual, ROW_COUNT()).
    last_row_count_ = payload[0] == wire::eof_header ? -1 : static_cast<std::int64_t>(ok.affected_rows);
    // What LAST_INSERT_ID() and SHOW WARNINGS of the client's next statement must see (see
    // classification::uses_previous_result): an id stays until another statement generates one.
    if (ok.last_insert_id != 0) last_insert_id_ = ok.last_insert_id;
    last_warnings_ = ok.warnings;
  }
  if ((ok.status_flags & wire::server_session_state_changed) == 0 || ok.session_state.empty()) return;
  server_->state.learn(ok.session_state);
  if (!to_client) return;
  bool untracked = false;
  if (!vars_.learn(ok.session_state, &untracked) || untracked) {
    // State that cannot move (a user variable, a temporary table, a lock, ...), whatever the
    // classifier saw: this client keeps its connection from now on.
    pin();
  }
}

asio::awaitable<bool> client_session::relay_answer() {
  const bool client_tracks = (client_caps_ & wire::client_session_track) != 0;
  for (;;) {
    auto read = co_await backends::mysql::read_message(server_->socket(), server_->input(), max_server_message);
    if (read.error || read.frame.status != wire::codec_errc::ok) co_return false;
    const auto& message = read.frame.message;
    const auto step = tracker_.on_packet(message.first_chunk(), message.payload_size);
    if (step == wire::response_tracker::step::error) co_return false;  // a server sluice cannot follow
    if (step == wire::response_tracker::step::local_infile) {
      // Asked only of connections whose clients offered CLIENT_LOCAL_FILES (a pool per flag set).
      if ((client_caps_ & wire::client_local_files) == 0) co_return false;
      client_out_.insert(client_out_.end(), message.wire.begin(), message.wire.end());
      relayed_any_ = true;
      server_->input().consume(message.wire.size());
      if (!co_await flush_client() || !co_await relay_infile()) co_return false;
      tracker_.on_infile_sent();
      continue;
    }
    bool relayed = false;
    if (preparing_ && command_ == wire::com_stmt_prepare && !message.payload().empty() &&
        message.payload()[0] == 0x00) {
      // PREPARE_OK: the client gets sluice's id for the statement, which any server connection can run.
      prepared_answer(message);
      relayed = true;
    } else if (tracker_.last_was_ok()) {
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
    } else if (const auto payload = message.payload();
               payload.size() < 9 && !payload.empty() && payload[0] == wire::eof_header) {
      // An EOF (a result set's end without CLIENT_DEPRECATE_EOF): its warnings are the statement's.
      wire::eof_packet eof;
      if (wire::decode_eof(payload, server_->capabilities(), eof) == wire::codec_errc::ok) {
        last_warnings_ = eof.warnings;
        last_row_count_ = -1;
      }
    } else if (!payload.empty() && payload[0] == wire::err_header && tracker_.failed()) {
      last_row_count_ = -1;
    }
    if (!relayed) client_out_.insert(client_out_.end(), message.wire.begin(), message.wire.end());
    relayed_any_ = true;
    server_->input().consume(message.wire.size());
    if (client_out_.size() >= 64 * 1024 && !co_await flush_client()) co_return false;
    if (step == wire::response_tracker::step::done) co_return true;
  }
}

void client_session::prepared_answer(const wire::message_view& message) {
  const auto& ok = tracker_.prepared();
  std::uint32_t id = 0;
  do {
    id = next_statement_id_++;  // wraps after 4 billion prepares; ids still open are skipped
  } while (id == 0 || id == wire::last_prepared_statement_id || statements_.contains(id));
  server_->statements.set_capacity(owner_.shared().cfg().pool.max_prepared_statements);
  server_->statements.insert(preparing_->text_id, ok.statement_id, ok.num_params);
  preparing_->num_params = ok.num_params;
  statements_.emplace(id, std::move(*preparing_));
  preparing_.reset();
  last_prepared_id_ = id;
  auto relayed = ok;
  relayed.statement_id = id;
  wire::encode_stmt_prepare_ok(client_out_, message.first_sequence_id, relayed);
}

asio::awaitable<bool> client_session::relay_infile() {
  // The command is answered; the client's next packets are the file's (its message leaves the buffer
  // first). Physical packets, not joined messages: the empty packet that ends the file may follow a full
  // 16 MiB - 1 one, which frame_message would take for its continuation.
  if (!message_consumed_) {
    client_in_.consume(command_size_);
    message_consumed_ = true;
  }
  const auto max_file = owner_.shared().cfg().limits.max_message_size;
  std::size_t total = 0;
  for (;;) {
    const auto frame = wire::frame_packet(client_in_.available());
    if (frame.status != wire::codec_errc::ok) {
      client_in_.prepare(std::max<std::size_t>(frame.needed, 16 * 1024));
      auto [ec, count] = co_await backends::async_read_some_drained(client_, client_in_.writable(), use_tuple);
      if (ec) {
        fatal_ = true;  // the client left mid-file: the server still waits for the rest
        co_return false;
      }
      client_in_.commit(count);
      continue;
    }
    const auto& packet = frame.packet;
    total += packet.payload.size();
    if (total > max_file) {
      fatal_ = true;  // sluice's limit on what one command may carry, files included
      co_return false;
    }
    const bool last = packet.payload.empty();
    const bool sent = co_await write_socket(server_->socket(), client_in_.available().first(packet.wire_size));
    client_in_.consume(packet.wire_size);
    if (!sent) co_return false;
    if (last) co_return true;
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
  // Its multi-statements option is not its pool's any more (COM_SET_OPTION while attached).
  const bool options_changed = std::exchange(server_options_changed_, false);
  if (options_changed) reusable = false;
  if (being_killed_ && being_killed_->first == server_->backend_index() &&
      being_killed_->second == server_->thread_id()) {
    reusable = false;  // a KILL QUERY on its way could stop the next borrower's statement
    being_killed_.reset();
  }
  pool_for(server_->backend_index()).release(std::move(server_), reusable);
  if (options_changed) pools_.clear();
}

bool client_session::is_row_count_query(std::string_view sql) noexcept {
  // Exactly SELECT ROW_COUNT() (any case and spacing, one ';' at the end): other uses of it run on a
  // server connection (docs/limitations.md).
  const auto skip_space = [&](std::size_t i) {
    while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\r' || sql[i] == '\n')) ++i;
    return i;
  };
  const auto word = [&](std::size_t& i, std::string_view lower) {
    i = skip_space(i);
    if (sql.size() - i < lower.size()) return false;
    for (std::size_t k = 0; k < lower.size(); ++k) {
      char c = sql[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != lower[k]) return false;
    }
    i += lower.size();
    return true;
  };
  std::size_t i = 0;
  if (!word(i, "select") || i >= sql.size() || (sql[i] != ' ' && sql[i] != '\t' && sql[i] != '\n' && sql[i] != '\r')) {
    return false;
  }
  if (!word(i, "row_count") || !word(i, "(") || !word(i, ")")) return false;
  i = skip_space(i);
  if (i < sql.size() && sql[i] == ';') i = skip_space(i + 1);
  return i == sql.size();
}

void client_session::answer_row_count() {
  // A one-column text result set, shaped for this client's flags, as the server would send it.
  std::uint8_t sequence = 1;
  sequence = wire::encode_column_count(client_out_, sequence, client_caps_, {1, true});
  wire::column_definition column;
  column.catalog = "def";
  column.name = "ROW_COUNT()";
  column.character_set = wire::charset_binary;
  column.column_length = 21;
  column.type = wire::mysql_type_longlong;
  column.flags = wire::not_null_flag | wire::binary_flag;
  sequence = wire::encode_column_definition(client_out_, sequence, client_caps_, column);
  const bool deprecate_eof = (client_caps_ & wire::client_deprecate_eof) != 0;
  wire::eof_packet eof;
  eof.status_flags = wire::server_status_autocommit;
  if (!deprecate_eof) sequence = wire::encode_eof(client_out_, sequence, client_caps_, eof);
  const auto text = std::to_string(last_row_count_);
  std::uint8_t row[32];
  row[0] = static_cast<std::uint8_t>(text.size());  // string<lenenc>: one length byte below 251
  std::copy(text.begin(), text.end(), row + 1);
  sequence = wire::write_message(client_out_, wire::bytes_view(row, text.size() + 1), sequence);
  if (deprecate_eof) {
    wire::ok_packet end;
    end.status_flags = wire::server_status_autocommit;
    end.eof_header = true;
    wire::encode_ok(client_out_, sequence, client_caps_, end);
  } else {
    wire::encode_eof(client_out_, sequence, client_caps_, eof);
  }
  last_row_count_ = -1;  // this statement returned a result set
}

void client_session::pin() {
  if (pinned_) return;
  pinned_ = true;
  ++owner_.stats().sessions_pinned;  // sluice_sessions_pinned_total, shared with PostgreSQL's sessions
}

bool client_session::autocommit_off() const {
  const auto* autocommit = vars_.find("autocommit");
  return autocommit != nullptr && (*autocommit == "OFF" || *autocommit == "0");
}

void client_session::refuse(const engine::refusal& why) { refuse(why.code, why.message); }

void client_session::refuse(engine::refusal_code code, std::string_view message) {
  const auto error = engine::mysql_error_for(code);
  send_error(error.number, error.sqlstate, message);
}

void client_session::refuse_protocol(std::string_view message) {
  refuse(engine::refusal_code::protocol_violation, message);
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
  if (!ec) backends::note_sent(socket.native_handle());
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
  if (held_for_next_ && !busy_) {
    held_for_next_ = false;
    release_server(true);
  }
  if (server_) return;  // told at its next command, once its unit is over
  boost::system::error_code ignored;
  client_.cancel(ignored);
}

}  // namespace sluice::router::mysql
