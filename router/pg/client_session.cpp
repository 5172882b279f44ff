// The PostgreSQL client session loop (see client_session.hpp and docs/architecture.md).
#include "router/pg/client_session.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "backends/drained_read.hpp"
#include "backends/pg/read_message.hpp"
#include "router/engine/backend_choice.hpp"
#include "router/engine/route_decision.hpp"
#include "router/pg/client_login.hpp"
#include "router/worker.hpp"
#include "scoring/wal_position.hpp"

namespace sluice::router::pg {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// PostgreSQL's own limit for a startup packet (src/include/libpq/pqcomm.h MAX_STARTUP_PACKET_LENGTH).
constexpr std::size_t max_startup_packet = 10000;
// Messages during authentication are small.
constexpr std::size_t max_auth_message = 64 * 1024;
// How much of an extended batch without Sync or Flush sluice buffers to route it whole; past this it
// goes to the primary and is streamed with backpressure (a pipeline of 700,000 statements or of 1 MiB
// parameters is not held in memory).
constexpr std::size_t max_routing_lookahead = 1024 * 1024;
// Servers are trusted; a field may be 1 GB, so a DataRow may be a little more.
constexpr std::size_t max_server_message = (std::size_t{1} << 30) + (64u << 20);

// Bytes classify_extended_batch has looked at on this thread (extended_batch_bytes_scanned).
thread_local std::uint64_t batch_bytes_scanned = 0;

// The server-side name of a statement sluice prepares: "sluice_" + hex id, built without allocating.
struct server_statement_name {
  explicit server_statement_name(std::uint64_t id) noexcept {
    constexpr std::string_view prefix = "sluice_";
    std::copy(prefix.begin(), prefix.end(), text.begin());
    std::size_t length = prefix.size();
    char digits[16];
    std::size_t count = 0;
    do {
      digits[count++] = "0123456789abcdef"[id & 0xf];
      id >>= 4;
    } while (id != 0);
    while (count > 0) text[length++] = digits[--count];
    size = length;
  }
  std::string_view view() const noexcept { return {text.data(), size}; }
  std::array<char, 32> text{};
  std::size_t size = 0;
};

// SQLSTATEs that say the backend failed the statement for reasons of its own (shutdown, crash,
// resources, recovery conflicts), not the statement's fault: they count against the backend's score.
bool is_backend_fault(std::string_view sqlstate) {
  if (sqlstate.size() != 5) return false;
  return sqlstate.starts_with("57P") || sqlstate.starts_with("53") || sqlstate.starts_with("58") ||
         sqlstate == "XX000" || sqlstate == "40001" || sqlstate.starts_with("08");
}

// Messages that start work on a server (as opposed to Sync, Flush, COPY data or Terminate).
bool starts_work(char type) {
  return type == wire::fe::query || type == wire::fe::parse || type == wire::fe::bind || type == wire::fe::describe ||
         type == wire::fe::execute || type == wire::fe::close || type == wire::fe::function_call;
}

// True for an ErrorResponse of severity FATAL or PANIC: the server ends the connection after it.
bool is_fatal(wire::bytes_view payload) {
  std::string_view severity;
  wire::for_each_error_field(payload, [&](char field, std::string_view value) {
    if (field == 'V' || (field == 'S' && severity.empty())) severity = value;
  });
  return severity == "FATAL" || severity == "PANIC";
}

std::string error_text(wire::bytes_view payload) {
  std::string text;
  wire::for_each_error_field(payload, [&](char field, std::string_view value) {
    if (field == 'M') text = std::string(value);
  });
  return text;
}

std::string to_lower(std::string_view text) {
  std::string lowered(text);
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// A SQL string literal; with backslashes, an E'' literal, so that it means the same whatever the
// session's standard_conforming_strings (as PostgreSQL's quote_literal does).
std::string quote_literal(std::string_view value) {
  const bool escaped = value.find('\\') != std::string_view::npos;
  std::string quoted = escaped ? "E'" : "'";
  for (char c : value) {
    if (c == '\'' || (escaped && c == '\\')) quoted += c;
    quoted += c;
  }
  quoted += '\'';
  return quoted;
}

// 'a', 'b', ...: the elements of an ARRAY[...] of text.
std::string literal_list(const std::vector<std::string>& values) {
  std::string list;
  for (const auto& value : values) {
    if (!list.empty()) list += ", ";
    list += quote_literal(value);
  }
  return list;
}

// `DEALLOCATE` is the first word of `sql` (the cheap test before deallocate_name parses it).
bool starts_with_deallocate(std::string_view sql) {
  constexpr std::string_view keyword = "deallocate";
  const auto start = sql.find_first_not_of(" \t\r\n");
  return start != std::string_view::npos && iequals(sql.substr(start, keyword.size()), keyword);
}

// GUC names are plain identifiers, possibly dotted (custom options); anything else is double-quoted.
std::string quote_setting_name(std::string_view name) {
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
  if (plain) return std::string(name);
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

void upsert_setting(std::vector<setting>& settings, std::string name, std::string value) {
  auto at = std::lower_bound(settings.begin(), settings.end(), name,
                             [](const setting& s, const std::string& n) { return s.first < n; });
  if (at != settings.end() && at->first == name) {
    at->second = std::move(value);
  } else {
    settings.emplace(at, std::move(name), std::move(value));
  }
}


// Splits a StartupMessage "options" value ("-c a=b --c=d", backslash escapes spaces) into settings.
void parse_options(std::string_view options, std::vector<setting>& out) {
  std::vector<std::string> words;
  std::string word;
  bool escaped = false;
  for (char c : options) {
    if (escaped) {
      word += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string_view assignment;
    if (words[i] == "-c" && i + 1 < words.size()) {
      assignment = words[++i];
    } else if (words[i].starts_with("--")) {
      assignment = std::string_view(words[i]).substr(2);
    } else if (words[i].starts_with("-c")) {
      assignment = std::string_view(words[i]).substr(2);
    } else {
      continue;
    }
    const auto equals = assignment.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    std::string name = to_lower(assignment.substr(0, equals));
    std::replace(name.begin(), name.end(), '-', '_');
    upsert_setting(out, std::move(name), std::string(assignment.substr(equals + 1)));
  }
}

// A server's ErrorResponse relayed to the client as the server wrote it (SQLSTATE, message, hint,
// position...), with `severity` in place of the server's and sluice's `context` added to DETAIL.
void encode_server_error(wire::byte_buffer& out, std::string_view severity, wire::bytes_view server_payload,
                         std::string_view context) {
  std::string detail;
  wire::message_builder b(out, wire::be::error_response);
  b.add_byte('S').add_string(severity).add_byte('V').add_string(severity);
  wire::for_each_error_field(server_payload, [&](char field, std::string_view value) {
    if (field == 'S' || field == 'V') return;
    if (field == 'D') {
      detail = std::string(value);
      return;
    }
    b.add_byte(static_cast<std::uint8_t>(field)).add_string(value);
  });
  if (!detail.empty()) detail += '\n';
  detail += context;
  b.add_byte('D').add_string(detail);
  b.add_byte(0);
  b.finish();
}

// An error sluice reports about a connection it lost, in PostgreSQL's fields, with its context in DETAIL.
void encode_error_with_detail(wire::byte_buffer& out, std::string_view severity, std::string_view sqlstate,
                              std::string_view message, std::string_view detail) {
  wire::message_builder b(out, wire::be::error_response);
  b.add_byte('S').add_string(severity).add_byte('V').add_string(severity);
  b.add_byte('C').add_string(sqlstate).add_byte('M').add_string(message).add_byte('D').add_string(detail);
  b.add_byte(0);
  b.finish();
}

// Stamps for clients' unnamed statements, unique across the proxy (server connections may move between
// workers): the worker's index in the top bits, a per-thread counter below.
std::uint64_t next_unnamed_stamp(unsigned worker_index) {
  thread_local std::uint64_t counter = 0;
  return (std::uint64_t{worker_index} << 48) | (++counter & ((std::uint64_t{1} << 48) - 1));
}

// server_connection::unnamed_stamp when the server's unnamed statement is unknown (a Parse that may or
// may not have run): never equal to a client's stamp, and not "none".
constexpr std::uint64_t unknown_unnamed = ~std::uint64_t{0};

// The session settings PostgreSQL keeps per session that sluice carries between server connections:
// every setting whose source is the session (SET, set_config(..., false), including sluice's own
// replay), except those that are transaction state or pin the session (SET ROLE and SESSION
// AUTHORIZATION pin: they cannot be replayed as a plain setting).
//
// The client's own statement_timeout would apply to this query too (a client with 1ms would have its
// settings lost to 57014), so the first statement reads it and turns it off for this Query only (a
// Query of several statements is one implicit transaction, docs 55.2.2); its session value is then
// known from that first row, and from the row marked below whether it differs from the default.
constexpr std::string_view capture_settings_sql =
    "SELECT pg_catalog.current_setting('statement_timeout'), pg_catalog.set_config('statement_timeout', '0', true); "
    "SELECT pg_catalog.lower(name), pg_catalog.current_setting(name) FROM pg_catalog.pg_settings WHERE source = 'session' "
    "AND name NOT IN ('role', 'session_authorization', 'transaction_isolation', 'transaction_read_only', "
    "'transaction_deferrable', 'statement_timeout') "
    "UNION ALL SELECT ' statement_timeout reset', reset_val FROM pg_catalog.pg_settings WHERE name = 'statement_timeout'";
constexpr std::string_view statement_timeout_reset_marker = " statement_timeout reset";

// A time setting in milliseconds: as current_setting() shows it ("30s", "1min", "500ms", "0") or as
// pg_settings.reset_val holds it (a number of the setting's unit, ms for statement_timeout).
std::optional<std::int64_t> setting_milliseconds(std::string_view text) {
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc{}) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (unit.empty() || unit == "ms") return number;
  if (unit == "s") return number * 1000;
  if (unit == "min") return number * 60'000;
  if (unit == "h") return number * 3'600'000;
  if (unit == "d") return number * 86'400'000;
  return std::nullopt;
}

void merge_kind(classify::classification& into, const classify::classification& from) {
  if (from.target == classify::route::primary) into.target = classify::route::primary;
  if (into.routing_hint == classify::hint::none) into.routing_hint = from.routing_hint;
  into.pins_session = into.pins_session || from.pins_session;
  into.begins_transaction = into.begins_transaction || from.begins_transaction;
  into.has_session_set = into.has_session_set || from.has_session_set;
}

}  // namespace

client_session::client_session(worker& owner, tcp::socket socket, const tcp::endpoint& peer)
    : owner_(owner), client_(std::move(socket)), peer_endpoint_(peer) {
  // Output buffers grow to what the session needs on first use and are reused after that; nothing
  // is reserved up front, so an idle client costs little memory.
}

client_session::~client_session() {
  // A session's admission, queue place and write-gate count are given back by ~unit_admission (units_),
  // also when a worker stops with this session suspended.
  if (registered_cancel_) owner_.shared().cancels.remove(cancel_key_.process_id);
  owner_.shared().clients.fetch_sub(1, std::memory_order_relaxed);
  for (auto* pool : pools_) pool->remove_user();
}

void start_client_session(worker& owner, tcp::socket socket, const tcp::endpoint& peer) {
  auto session = std::make_shared<client_session>(owner, std::move(socket), peer);
  asio::co_spawn(owner.io(), [session]() -> asio::awaitable<void> { co_await session->run(); },
                 asio::detached);
}

namespace {
void encode_refusal(std::vector<std::uint8_t>& out, engine::refusal_code code, std::string_view message) {
  wire::encode_error_response(out, "FATAL", engine::pg_sqlstate(code), message);
}
}  // namespace

const front_end postgresql_front_end{"postgresql", start_client_session, encode_refusal};

// ---------------------------------------------------------------------------------------------------
// Startup phase

asio::awaitable<void> client_session::run() {
  boost::system::error_code ignored;
  client_.set_option(tcp::no_delay(true), ignored);
  backends::enable_drained_reads(client_);
  const auto& peer = peer_endpoint_;
  connected_at_ = std::chrono::system_clock::now();
  if (co_await startup()) {
    // The address is formatted only when the line is logged (at info with logging.connections, else debug).
    const auto level = owner_.connection_log_level();
    if (spdlog::should_log(level))
      spdlog::log(level, "client {}:{} connected as user '{}' database '{}'", peer.address().to_string(), peer.port(),
                  user_name_, database_);
    owner_.register_client(this);  // listed by GET /clients until it leaves
    co_await serve();
    owner_.unregister_client(this);
    if (spdlog::should_log(level))
      spdlog::log(level, "client {}:{} (user '{}') disconnected", peer.address().to_string(), peer.port(), user_name_);
  }
  // Give server connections back: clean ones to the pool, ones carrying session state after a reset.
  if (server_) finish_dispatch(false);
  units_.end();
  if (server_) {
    // Extended messages without their Sync leave the server inside an implicit transaction (docs
    // 55.2.3): the next Query on that connection would commit them. Such a connection is closed, and
    // so is one whose last unit changed settings that were not captured yet (the client left while
    // the unit's end was being handled): its settings are not what the pool believes.
    const bool clean = tracker_.empty() && tx_ == wire::tx_status::idle && !copy_in_ && !awaiting_server_ &&
                       !extended_unsynced_ && !unit_changed_settings_ && unit_unknown_functions_.empty();
    if (clean && (pinned_ || session_mode_)) {
      held_[server_->backend_index()] = std::move(server_);
    } else {
      release_server(clean);
    }
  }
  for (auto& held : held_) {
    if (!held) continue;
    server_ = std::move(held);
    const bool reset = co_await reset_server_state(server_->backend_index() == owner_.shared().primary_index);
    release_server(reset);
  }
  // A connection whose cancel is still unanswered could be cancelled in its next borrower's query:
  // with nobody left to wait for the answer, close it.
  for (auto& canceling : canceling_) pools_[canceling->backend_index()]->release(std::move(canceling), false);
  canceling_.clear();
  client_.close(ignored);
}

// Before a connection that a session kept (session mode, or pinned) serves anyone else: drop what the
// session left on it. DISCARD ALL does not release advisory locks, hence the unlock on the primary;
// they are separate Query messages because DISCARD ALL refuses to run in a transaction block.
asio::awaitable<bool> client_session::reset_server_state(bool on_primary) {
  server_out_.clear();
  std::size_t owed = 1;
  if (on_primary) {
    wire::encode_query(server_out_, "SELECT pg_advisory_unlock_all()");
    ++owed;
  }
  wire::encode_query(server_out_, "DISCARD ALL");
  const bool ok = co_await run_internal_queries(owed) == internal_result::ok;
  if (ok) {
    server_->prepared().clear();
    server_->applied_settings().clear();
    server_->settings_unknown = false;
  }
  co_return ok;
}

// Sends server_out_ (queries sluice issues itself) and swallows the answers up to the `owed`-th
// ReadyForQuery. A server that does not answer within pool.connect_timeout counts as failed: the
// caller closes the connection rather than leave the session waiting on a half-open backend.
asio::awaitable<client_session::internal_result> client_session::run_internal_queries(std::size_t owed,
                                                                                      std::string* first_value,
                                                                                      std::vector<setting>* rows) {
  using namespace asio::experimental::awaitable_operators;
  // A simple Query destroys the server's unnamed statement (docs 55.2.3).
  server_->unnamed_stamp = 0;
  asio::steady_timer deadline(client_.get_executor());
  deadline.expires_after(owner_.shared().cfg().pool.connect_timeout);
  auto result = co_await (run_internal_queries_unbounded(owed, first_value, rows) || deadline.async_wait(use_tuple));
  if (result.index() == 1) {
    spdlog::warn("user '{}': backend '{}' did not answer sluice's internal query within pool.connect_timeout",
                 user_name_, owner_.shared().cfg().backends[server_->backend_index()].name);
    co_return internal_result::io_failed;
  }
  co_return std::get<0>(result);
}

// One internal Query: encoded now (not a coroutine: `sql` need not outlive the call), then run.
asio::awaitable<client_session::internal_result> client_session::run_internal_query(std::string_view sql,
                                                                                    std::string* first_value,
                                                                                    std::vector<setting>* rows) {
  server_out_.clear();
  wire::encode_query(server_out_, sql);
  return run_internal_queries(1, first_value, rows);
}

asio::awaitable<client_session::internal_result> client_session::run_internal_queries_unbounded(
    std::size_t owed, std::string* first_value, std::vector<setting>* rows) {
  if (!co_await write_server()) co_return internal_result::io_failed;
  auto& input = server_->input();
  bool failed = false;
  // DataRow: int16 column count, then per column int32 length (-1: NULL) and the bytes (text format).
  const auto read_column = [](wire::string_reader& row) -> std::optional<std::string> {
    const auto length = row.next_int32();
    if (!length) return std::nullopt;
    if (*length < 0) return std::string();
    auto bytes = row.next_bytes(static_cast<std::size_t>(*length));
    if (!bytes) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  };
  while (owed > 0) {
    const auto [frame, read_error] = co_await backends::pg::read_message(server_->socket(), input, max_server_message);
    if (read_error || frame.status != wire::frame_status::ok) co_return internal_result::io_failed;
    if (frame.message.type == wire::be::error_response) {
      if (!failed) internal_error_.assign(frame.message.payload.begin(), frame.message.payload.end());
      failed = true;
      if (is_fatal(frame.message.payload)) co_return internal_result::io_failed;
    }
    if (frame.message.type == wire::be::data_row && (first_value != nullptr || rows != nullptr)) {
      wire::string_reader row(frame.message.payload);
      const auto columns = row.next_int16();
      if (columns && *columns > 0) {
        auto first = read_column(row);
        if (first && first_value != nullptr && first_value->empty()) *first_value = *first;
        if (first && rows != nullptr && *columns > 1) {
          if (auto second = read_column(row)) rows->emplace_back(std::move(*first), std::move(*second));
        }
      }
    }
    if (frame.message.type == wire::be::ready_for_query) --owed;
    input.consume(frame.message.wire_size);
  }
  co_return failed ? internal_result::server_error : internal_result::ok;
}

asio::awaitable<bool> client_session::startup() {
  // The deadline cancels what startup_sequence waits for on the client socket (a read, or a write the
  // client does not take) instead of racing the sequence with awaitable operator ||, which cost two
  // coroutines and a parallel group per connection. The one other wait, greet's acquire on a pool's first
  // login, races the same deadline itself.
  startup_deadline_ = std::chrono::steady_clock::now() + owner_.shared().cfg().limits.startup_timeout;
  asio::steady_timer deadline(client_.get_executor(), startup_deadline_);
  in_startup_ = true;
  deadline.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    // Cancelled, or fired after startup ended (its handler was already queued): the session is past it.
    if (ec || !self || !self->in_startup_) return;
    self->startup_expired_ = true;
    boost::system::error_code ignored;
    self->client_.cancel(ignored);
  });
  const bool started = co_await startup_sequence();
  in_startup_ = false;
  deadline.cancel();
  // A sequence that finished although the deadline passed meanwhile (its handler was queued behind the
  // last step) has greeted the client: it goes on.
  if (startup_expired_ && !started) {
    owner_.on_startup_timeout(peer_endpoint_.address());
    client_out_.clear();
    send_error("FATAL", "08P01", "sluice: startup and authentication not completed in time");
    co_await flush_client();
    co_return false;
  }
  co_return started;
}

asio::awaitable<bool> client_session::startup_sequence() {
  // One allocation each for what a login writes (the authentication request, the greeting: about 500
  // bytes) and for the few startup parameters, instead of a growth per append (issue 14: allocations
  // were a tenth of a connection's instructions). greet gives client_out_'s memory back.
  client_out_.reserve(startup_output_reserve);
  startup_settings_.reserve(4);
  startup_reported_.reserve(4);
  for (;;) {
    const auto frame = wire::frame_startup(client_in_.available(), max_startup_packet);
    if (frame.status == wire::frame_status::need_more) {
      client_in_.prepare(frame.needed);
      auto [ec, count] = co_await backends::async_read_some_drained(client_, client_in_.writable(), use_tuple);
      if (ec) co_return false;
      client_in_.commit(count);
      continue;
    }
    if (frame.status != wire::frame_status::ok) {
      // PostgreSQL logs "invalid length of startup packet" and closes without an answer (a COMMERROR):
      // what such a packet usually is (a Terminate before any StartupMessage, a port scanner) expects
      // no reply, and a driver would raise one as an unhandled error.
      spdlog::debug("client {}: invalid length of startup packet; closing", peer_endpoint_.address().to_string());
      co_return false;
    }
    const auto code = frame.packet.code;
    if (code == wire::ssl_request_code || code == wire::gssenc_request_code) {
      client_in_.consume(frame.packet.wire_size);
      if (!client_in_.empty()) {
        // Bytes after SSLRequest before our answer could be injected by a man in the middle
        // (CVE-2021-23214 in PostgreSQL); refuse them.
        send_error("FATAL", "08P01", "received unencrypted data after SSL request");
        co_await flush_client();
        co_return false;
      }
      static constexpr std::uint8_t no_encryption[] = {'N'};
      if (!co_await write_client(no_encryption)) co_return false;
      continue;
    }
    if (code == wire::cancel_request_code) {
      if (auto request = wire::decode_cancel_request(frame.packet.payload)) {
        owner_.shared().cancels.cancel({request->process_id, request->secret_key});
      }
      co_return false;  // PostgreSQL closes a cancel connection without an answer
    }
    const auto major = code >> 16;
    const auto minor = code & 0xffff;
    if (major != 3) {
      send_error("FATAL", "0A000",
                 "unsupported frontend protocol " + std::to_string(major) + "." + std::to_string(minor) +
                     ": server supports 3.0 to 3.0");
      co_await flush_client();
      co_return false;
    }
    if (!parse_startup_parameters(frame.packet.payload)) {
      co_await flush_client();
      co_return false;
    }
    client_in_.consume(frame.packet.wire_size);
    if (minor > 0) {
      // Protocol 3.x with x > 0: say we speak 3.0 (NegotiateProtocolVersion, docs 55.7).
      wire::message_builder b(client_out_, wire::be::negotiate_protocol_version);
      b.add_int32(static_cast<std::int32_t>(wire::protocol_v3)).add_int32(0);
      b.finish();
    }
    break;
  }
  if (!co_await authenticate()) co_return false;
  co_return co_await greet();
}

bool client_session::parse_startup_parameters(wire::bytes_view payload) {
  bool replication = false;
  const bool well_formed = wire::for_each_startup_parameter(payload, [&](std::string_view name, std::string_view value) {
    if (name == "user") {
      user_name_ = std::string(value);
    } else if (name == "database") {
      database_ = std::string(value);
    } else if (name == "options") {
      parse_options(value, startup_settings_);
    } else if (name == "replication") {
      replication = !(value == "false" || value == "0" || value == "off" || value == "no");
    } else if (name.starts_with("_pq_.")) {
      // Protocol extensions: none supported; ignored (a 3.0 server would refuse them, we answer with
      // NegotiateProtocolVersion only for the minor version).
    } else if (name == "client_encoding" && iequals(value, "auto")) {
      // libpq resolves "auto" itself; keep the server's default if a client sends it raw.
    } else {
      if (name == "application_name") application_name_ = std::string(value);
      upsert_setting(startup_settings_, to_lower(name), std::string(value));
      startup_reported_.emplace_back(std::string(name), std::string(value));
    }
  });
  if (!well_formed) {
    send_error("FATAL", "08P01", "invalid startup packet layout: expected terminator as last byte");
    return false;
  }
  if (user_name_.empty()) {
    send_error("FATAL", "28000", "no PostgreSQL user name specified in startup packet");
    return false;
  }
  if (replication) {
    send_error("FATAL", "0A000", "sluice does not proxy replication connections");
    return false;
  }
  if (database_.empty()) database_ = user_name_;
  settings_ = startup_settings_;
  return true;
}

asio::awaitable<bool> client_session::authenticate() {
  auto& shared = owner_.shared();
  const user_entry* entry = shared.find_user(user_name_);
  client_login::known_user known;
  if (entry != nullptr) known = {entry->config, &entry->verifier, entry->md5_stored};
  client_login login(known, shared.mock_verifiers, user_name_);
  auto step = login.start(client_out_);
  while (step == client_login::step::read) {
    if (!co_await flush_client()) co_return false;
    const auto [frame, read_error] = co_await backends::pg::read_message(client_, client_in_, max_auth_message);
    if (read_error) co_return false;
    if (frame.status != wire::frame_status::ok) {
      send_error("FATAL", "08P01", "invalid message length during authentication");
      co_await flush_client();
      co_return false;
    }
    step = login.on_message(frame.message, client_out_);
    client_in_.consume(frame.message.wire_size);
  }
  if (step == client_login::step::failed) {
    owner_.on_login_failure(peer_endpoint_.address(), user_name_);
    co_await flush_client();
    co_return false;
  }
  user_ = entry->config;
  const auto mode = user_->mode.value_or(shared.cfg().pool.mode);
  session_mode_ = mode == config::pool_mode::session;
  // Every read_your_writes session publishes its commits for its user's sessions and for everyone's;
  // its reads consult what its scope names.
  const auto scope = user_->scope.value_or(shared.cfg().routing.scope);
  read_your_writes_.configure(
      user_->consistency.value_or(shared.cfg().routing.consistency) == config::consistency_mode::read_your_writes,
      entry->commits,
      scope == config::consistency_scope::user     ? entry->commits
      : scope == config::consistency_scope::global ? &shared.global_commits
                                                   : nullptr,
      scope == config::consistency_scope::global);
  co_return true;
}

void client_session::ensure_pool(std::size_t backend) {
  // A backend a reload added after this client logged in: its pool joins this session's now.
  while (pools_.size() <= backend) {
    const auto next = pools_.size();
    pools_.push_back(&owner_.pool(next, database_, *user_));
    pools_.back()->add_user();
    held_.resize(pools_.size());
  }
}

asio::awaitable<bool> client_session::greet() {
  using namespace asio::experimental::awaitable_operators;
  auto& shared = owner_.shared();
  const std::size_t backend_count = shared.cfg().backends.size();
  pools_.resize(backend_count);
  held_.resize(backend_count);
  for (std::size_t i = 0; i < backend_count; ++i) {
    pools_[i] = &owner_.pool(i, database_, *user_);
    pools_[i]->add_user();  // until ~client_session: the worker keeps a pool while someone uses it
  }

  // The ParameterStatus set comes from a real server login (cached per pool, encoded once), so clients
  // see the server's version, encoding and settings. Try the primary first, then replicas.
  const backends::pg::wire::parameter_status_set* parameters = nullptr;
  const std::size_t primary_index = owner_.primary().backend.value_or(shared.primary_index);
  const auto known = [&](std::size_t index) {
    if (pools_[index]->learnt().greeting.empty()) return false;
    parameters = &pools_[index]->learnt().greeting;
    return true;
  };
  // The usual case, a pool that has logged in before, costs no allocation.
  if (!known(primary_index)) {
    for (std::size_t i = 0; i < backend_count; ++i) {
      if (i != primary_index && !owner_.removed(i) && known(i)) break;
    }
  }
  if (parameters == nullptr) {
    backends::pg::connect_failure failure{errc::no_backend, "08006", "no backend configured"};
    std::vector<std::size_t> order{primary_index};
    for (std::size_t i = 0; i < backend_count; ++i) {
      if (i != primary_index && !owner_.removed(i)) order.push_back(i);
    }
    for (std::size_t attempt = 0; parameters == nullptr && attempt < order.size(); ++attempt) {
      const auto index = order[attempt];
      if (!owner_.is_available(index)) continue;
      // Within the startup deadline (startup() cancels only the client socket's operations).
      asio::steady_timer deadline(client_.get_executor(), startup_deadline_);
      auto raced = co_await (pools_[index]->acquire() || deadline.async_wait(use_tuple));
      if (raced.index() == 1) {
        startup_expired_ = true;
        co_return false;
      }
      auto acquired = std::move(std::get<0>(raced));
      if (!acquired.connection) {
        if (acquired.failure.code == errc::server_connect) owner_.mark_down(index);
        failure = std::move(acquired.failure);
        // Authentication or database errors are the same on every backend: report them at once.
        if (failure.code != errc::server_connect && failure.code != errc::pool_timeout) break;
        continue;
      }
      pools_[index]->release(std::move(acquired.connection), true);
      parameters = &pools_[index]->learnt().greeting;  // empty if the server reported none
    }
    if (parameters == nullptr) {
      send_error("FATAL", failure.sqlstate.empty() ? "08006" : failure.sqlstate,
                 "sluice: cannot log in to any backend: " + failure.message);
      co_await flush_client();
      co_return false;
    }
  }
  // The client's own startup values (application_name, client_encoding...) replace the server's. The
  // whole greeting is written into one allocation (BackendKeyData and ReadyForQuery follow).
  client_out_.reserve(client_out_.size() + parameters->size_bound(startup_reported_) + 64);
  parameters->append_to(client_out_, startup_reported_);
  cancel_key_ = shared.cancels.add(weak_from_this(), client_.get_executor());
  registered_cancel_ = true;
  wire::encode_backend_key_data(client_out_, cancel_key_.process_id, cancel_key_.secret_key);
  wire::encode_ready_for_query(client_out_, wire::tx_status::idle);
  if (!co_await flush_client()) co_return false;
  // Many clients connect and then sit idle (application pools): such a client holds a small read
  // buffer (a typical single statement fits it; a larger request grows it once) and no output buffer.
  client_in_.use_small(small_read_buffer_size);
  client_out_ = wire::byte_buffer();
  co_return true;
}

// ---------------------------------------------------------------------------------------------------
// Serving phase

// Graceful shutdown (worker::begin_drain): PostgreSQL's smart/fast shutdown tells its clients the same.
bool client_session::between_units() const {
  return !units_.open() && !units_.waiting() && tx_ == wire::tx_status::idle && tracker_.empty() && !awaiting_server_ &&
         !copy_in_ && client_out_.empty();
}

void client_session::shutdown_if_idle() {
  boost::system::error_code ignored;
  if (between_units()) client_.cancel(ignored);  // on_client_input (or serve's wait) wakes and refuses
}

asio::awaitable<client_session::outcome> client_session::refuse_shutting_down() {
  send_error("FATAL", "57P01", "sluice is shutting down");
  co_await flush_client();
  co_return outcome::close;
}

asio::awaitable<void> client_session::serve() {
  using namespace asio::experimental::awaitable_operators;
  for (;;) {
    outcome result = outcome::proceed;
    if (server_ && awaiting_server_ && !copy_in_) {
      result = co_await relay_from_server();
    } else if (server_ && (pinned_ || !tracker_.empty()) && !copy_in_ &&
               wire::frame_message(client_in_.available(), owner_.shared().cfg().limits.max_message_size).status ==
                   wire::frame_status::need_more) {
      // A pinned session may LISTEN: relay notifications while the client is idle, too. And in the
      // middle of a batch the client is still sending (a long pipeline), the server may answer what
      // it has already: relay that rather than let the server block on its output.
      auto ready = co_await (client_.async_wait(tcp::socket::wait_read, use_tuple) ||
                             server_->socket().async_wait(tcp::socket::wait_read, use_tuple));
      result = ready.index() == 1 ? co_await relay_from_server() : co_await on_client_input();
    } else {
      result = co_await on_client_input();
    }
    if (result == outcome::close) co_return;
  }
}

bool client_session::reads_may_leave_primary() const {
  const auto& settings = owner_.shared().cfg();
  if (!settings.routing.read_write_split) return false;
  return std::any_of(settings.backends.begin(), settings.backends.end(),
                     [](const auto& backend) { return backend.role == config::backend_role::replica; });
}

classify::route client_session::effective_route(const classify::classification& kind) const {
  return engine::decide_route(owner_.shared().cfg().routing.read_write_split, pinned_, kind).route;
}

// Scans the extended batch at the front of client_in_ up to its Sync or Flush, merging the
// classifications of the statements it parses or binds. A batch arrives over many reads: each call
// goes on from where the last one stopped (batch_scan_, reset when client_in_ is consumed), so every
// byte is classified once, not once per read (which made a 4 MiB batch without Sync cost seconds).
std::optional<classify::classification> client_session::classify_extended_batch(bool& complete) const {
  auto& scan = batch_scan_;
  if (!scan.started) {
    scan = {};
    scan.started = true;
    scan.batch.target = classify::route::replica;
    // An unnamed statement the client has not parsed in this batch: the server reports it.
    if (unnamed_.exists) {
      scan.unnamed = unnamed_.kind;
      route_writing_functions(scan.unnamed, unnamed_.query);
    }
  }
  auto& batch = scan.batch;
  auto& unnamed = scan.unnamed;
  auto rest = client_in_.available().subspan(std::min(scan.scanned, client_in_.size()));
  complete = false;
  while (!rest.empty()) {
    const auto frame = wire::frame_message(rest, owner_.shared().cfg().limits.max_message_size);
    if (frame.status == wire::frame_status::need_more) break;
    if (frame.status != wire::frame_status::ok) {
      // Malformed: the batch ends before it; on_client_input forwards what precedes it, then
      // refuses it (waiting for the rest of such a batch would wait forever).
      batch.target = classify::route::primary;
      complete = true;
      return batch;
    }
    const auto& message = frame.message;
    switch (message.type) {
      case wire::fe::parse:
        if (auto parse = wire::decode_parse(message.payload)) {
          const auto kind = owner_.classify_statement(parse->query);
          auto routed = kind;
          route_writing_functions(routed, parse->query);
          merge_kind(batch, routed);
          if (parse->statement.empty()) {
            unnamed = routed;
            // forward_message reuses this for the same bytes in this pass (see routed_unnamed_).
            routed_unnamed_ = {parse->query.data(), parse->query.size(), kind};
          }
        }
        break;
      case wire::fe::bind:
        if (auto bind = wire::decode_bind(message.payload)) {
          if (bind->statement.empty()) {
            merge_kind(batch, unnamed);
          } else if (auto found = statements_.find(bind->statement); found != statements_.end()) {
            auto routed = found->second.kind;
            route_writing_functions(routed, found->second.query);
            merge_kind(batch, routed);
          } else {
            batch.target = classify::route::primary;  // unknown: the server will report the error
          }
        }
        break;
      case wire::fe::describe:
        if (auto describe = wire::decode_describe(message.payload); describe && describe->kind == 'S') {
          if (auto found = statements_.find(describe->name); found != statements_.end()) {
            merge_kind(batch, found->second.kind);
          }
        }
        break;
      case wire::fe::close:
      case wire::fe::execute:
        break;
      case wire::fe::sync:
      case wire::fe::flush:
        // Everything up to here runs on one server connection (one implicit transaction until Sync),
        // so the batch is routed as a whole: one write anywhere in it sends it to the primary. The scan
        // stays before this message: calling again until the batch is consumed gives the same answer.
        complete = true;
        return batch;
      default:  // a Query or anything else in the middle of a batch: route conservatively
        batch.target = classify::route::primary;
        complete = true;
        return batch;
    }
    batch_bytes_scanned += message.wire_size;
    scan.scanned += message.wire_size;
    rest = rest.subspan(message.wire_size);
  }
  return batch;
}

void client_session::consume_client(std::size_t size) {
  client_in_.consume(size);
  batch_scan_.started = false;  // the batch it scanned starts elsewhere now (or is gone)
}

std::uint64_t extended_batch_bytes_scanned() noexcept { return batch_bytes_scanned; }

asio::awaitable<client_session::outcome> client_session::on_client_input() {
  routed_unnamed_ = {};  // from an earlier pass: the buffer may hold other text at those bytes now
  if (owner_.draining() && between_units()) co_return co_await refuse_shutting_down();
  if (batch_incomplete_ || wire::frame_message(client_in_.available(), owner_.shared().cfg().limits.max_message_size)
                                   .status == wire::frame_status::need_more) {
    batch_incomplete_ = false;
    client_in_.prepare();
    auto [ec, count] = co_await backends::async_read_some_drained(client_, client_in_.writable(), use_tuple);
    if (ec == asio::error::operation_aborted && owner_.draining()) co_return outcome::proceed;  // shutdown_if_idle
    if (ec) co_return outcome::close;
    client_in_.commit(count);
  }
  const auto max_message = owner_.shared().cfg().limits.max_message_size;
  const classify::options options{owner_.shared().cfg().routing.write_functions};
  for (;;) {
    const auto frame = wire::frame_message(client_in_.available(), max_message);
    if (frame.status == wire::frame_status::need_more) {
      client_in_.prepare(frame.needed);
      break;
    }
    if (frame.status != wire::frame_status::ok) {
      send_error("FATAL", "08P01",
                 frame.status == wire::frame_status::too_large
                     ? "message of " + std::to_string(frame.needed) + " bytes exceeds max_message_size (" +
                           std::to_string(max_message) + ")"
                     : std::string("invalid message length"));
      co_await flush_client();
      co_return outcome::close;
    }
    const auto& message = frame.message;
    if (discard_until_sync_) {
      if (message.type == wire::fe::sync) {
        discard_until_sync_ = false;
        wire::encode_ready_for_query(client_out_, tx_);
      }
      consume_client(message.wire_size);
      continue;
    }
    if (server_ && tracker_.skipping() && message.type != wire::fe::sync && message.type != wire::fe::terminate) {
      // An extended request failed and the server ignores everything up to Sync (a Query,
      // FunctionCall or Flush too): so does sluice. Forwarded, such a request would wait for an answer
      // that never comes, the session blocked on a silent server and deaf to its client.
      consume_client(message.wire_size);
      continue;
    }
    if ((message.type == wire::fe::query || message.type == wire::fe::parse) && !statements_.empty() &&
        tracker_.empty() && !awaiting_server_ && !copy_in_ && tx_ != wire::tx_status::failed) {
      if (message.type == wire::fe::query && answer_deallocate_locally(message.payload)) {
        consume_client(message.wire_size);
        continue;
      }
      if (message.type == wire::fe::parse && answer_deallocate_batch_locally()) continue;
    }
    // A Query routed just now was classified for routing; forward_message reuses that.
    std::optional<classify::classification> query_kind;
    if (!server_) {
      classify::classification kind;
      bool extended = false;
      switch (message.type) {
        case wire::fe::terminate:
          co_await flush_client();
          co_return outcome::close;
        case wire::fe::copy_data:
        case wire::fe::copy_done:
        case wire::fe::copy_fail:
        case wire::fe::flush:
          consume_client(message.wire_size);  // nothing to copy into or flush
          continue;
        case wire::fe::sync:
          wire::encode_ready_for_query(client_out_, tx_);
          consume_client(message.wire_size);
          continue;
        case wire::fe::query: {
          auto sql = wire::decode_query(message.payload);
          if (!sql) {
            send_error("FATAL", "08P01", "malformed Query message");
            co_await flush_client();
            co_return outcome::close;
          }
          kind = classify::classify(*sql, options);
          query_kind = kind;
          route_writing_functions(kind, *sql);
          if (kind.empty) {
            wire::message_builder(client_out_, wire::be::empty_query_response).finish();
            wire::encode_ready_for_query(client_out_, tx_);
            consume_client(message.wire_size);
            continue;
          }
          break;
        }
        case wire::fe::parse:
          if (answer_parses_locally()) continue;
          [[fallthrough]];
        case wire::fe::bind:
        case wire::fe::describe:
        case wire::fe::execute:
        case wire::fe::close: {
          bool complete = false;
          kind = *classify_extended_batch(complete);
          if (!complete) {
            if (client_in_.size() < std::min<std::size_t>(max_message, max_routing_lookahead)) {
              batch_incomplete_ = true;  // read the rest of the batch, then route it
              client_in_.prepare();
              break;
            }
            // A batch whose first max_routing_lookahead bytes hold no Sync or Flush: it is streamed
            // (with backpressure) rather than buffered whole, and what is not seen yet may write.
            kind.target = classify::route::primary;
          }
          extended = true;
          break;
        }
        case wire::fe::function_call:
          kind.target = classify::route::primary;
          break;
        default:
          send_error("FATAL", "08P01", std::string("unexpected message type '") + message.type + "'");
          co_await flush_client();
          co_return outcome::close;
      }
      if (batch_incomplete_) break;
      bool admitted = true;
      if (!units_.open()) {
        units_.begin();
        if (owner_.shared().tenants.enabled()) admitted = co_await admit_unit(unit_sql(message));
      }
      if (admitted && co_await attach(effective_route(kind), kind) == outcome::close) co_return outcome::close;
      if (!server_) {
        units_.end();
        // No backend could take it (or QoS refused it): the error is in client_out_.
        if (extended) {
          discard_until_sync_ = true;
        } else {
          wire::encode_ready_for_query(client_out_, tx_);
          consume_client(message.wire_size);
        }
        continue;
      }
    }
    if (batch_ended_ && awaiting_server_ && starts_work(message.type) && tx_ == wire::tx_status::idle && !pinned_ &&
        owner_.primary().backend != server_->backend_index() && next_batch_needs_primary(message)) {
      // A batch pipelined behind one that runs on a replica, outside a transaction, that must run on
      // the primary (a write): it waits in the buffer for the replica's ReadyForQuery and is routed on
      // its own then. Batches that can run where the current one does stay pipelined.
      break;
    }
    if (units_.open() && awaiting_server_ && starts_work(message.type) && owner_.shared().tenants.enabled()) {
      // Tenant QoS admits each unit on its own: a request pipelined behind a complete batch waits in
      // the buffer for that batch's ReadyForQuery, which says whether it opened a transaction (then it
      // belongs to the same unit) or ended the unit (then it must be admitted itself).
      break;
    }
    if (!units_.open() && starts_work(message.type)) {
      // A pinned session (or one holding its connection) starts a unit on the connection it has.
      units_.begin();
      bool admitted = true;
      if (owner_.shared().tenants.enabled()) admitted = co_await admit_unit(unit_sql(message));
      if (admitted && owner_.primary().backend == server_->backend_index()) {
        admitted = units_.write_gate_open_now() || co_await pass_write_gate();
      }
      if (!admitted) {
        units_.end();
        if (message.type == wire::fe::query || message.type == wire::fe::function_call) {
          wire::encode_ready_for_query(client_out_, tx_);
          consume_client(message.wire_size);
        } else {
          discard_until_sync_ = true;
        }
        continue;
      }
    }
    if (forward_message(message, query_kind ? &*query_kind : nullptr) == outcome::close) {
      co_await flush_client();
      co_return outcome::close;
    }
    consume_client(message.wire_size);
  }
  if (server_ && !server_out_.empty()) {
    if (!dispatched_) {
      dispatched_ = true;
      dispatched_at_ = std::chrono::steady_clock::now();
      owner_.on_dispatch(server_->backend_index());
    }
    // All of it at once, as nearly always: no frame for send_relaying. Else (or with a batch's end
    // owed) send_relaying waits for the socket while relaying the server's answers.
    if (!send_server_now() || batch_end_pending_) {
      switch (co_await send_relaying()) {
        case send_result::sent:
          break;
        case send_result::failed:
          co_return co_await server_failed({}, "could not send data to server");
        case send_result::session_over:
          co_return outcome::close;
        case send_result::server_lost:
          co_return outcome::proceed;  // the client was told (server_failed); the rest is discarded
      }
    }
  }
  tracker_.drain_synthesized([&](request_kind kind) {
    if (kind == request_kind::parse) wire::encode_parse_complete(client_out_);
    if (kind == request_kind::close) wire::encode_close_complete(client_out_);
  });
  // A Flush with nothing outstanding (or only answers sluice gave itself) gets nothing from the
  // server, nor do requests after the last Sync, Query or Flush: waiting for them would hang the
  // client (and leave the session deaf to it).
  if (!tracker_.answer_due() && !copy_in_) awaiting_server_ = false;
  client_in_.shrink_if_idle(client_read_buffer_size);  // after a huge message, give the memory back
  if (!client_out_.empty() && !co_await flush_client()) co_return outcome::close;  // no frame when empty
  co_return outcome::proceed;
}

// A batch of named Parse messages ended by Sync or Flush, outside a transaction (what libpq's
// PQprepare sends): remember the statements and answer ParseComplete without a server. Statements are
// prepared lazily on whichever server connection first executes them anyway, so this saves a round
// trip, and a client never waits for a pool slot just to prepare (pgbench -M prepared prepares
// lazily, synchronously, while its other clients hold every slot in open transactions). The server
// still checks the SQL: errors surface at the first Bind or Describe.
bool client_session::answer_parses_locally() {
  auto rest = client_in_.available();
  std::size_t parses = 0;
  std::size_t batch_size = 0;
  for (;;) {
    const auto frame = wire::frame_message(rest, owner_.shared().cfg().limits.max_message_size);
    if (frame.status != wire::frame_status::ok) return false;
    const auto& message = frame.message;
    batch_size += message.wire_size;
    rest = rest.subspan(message.wire_size);
    if (message.type == wire::fe::sync || message.type == wire::fe::flush) break;
    if (message.type != wire::fe::parse) return false;
    auto parse = wire::decode_parse(message.payload);
    if (!parse || parse->statement.empty()) return false;
    ++parses;
  }
  if (parses == 0) return false;
  rest = client_in_.available().first(batch_size);
  while (!rest.empty()) {
    const auto message = wire::frame_message(rest, owner_.shared().cfg().limits.max_message_size).message;
    rest = rest.subspan(message.wire_size);
    if (message.type == wire::fe::parse) {
      const auto parse = *wire::decode_parse(message.payload);
      remember_statement(parse, owner_.classify_statement(parse.query));
      wire::encode_parse_complete(client_out_);
    } else if (message.type == wire::fe::sync) {
      wire::encode_ready_for_query(client_out_, tx_);
    }
  }
  consume_client(batch_size);
  return true;
}

// `DEALLOCATE name` of a statement the client prepared with the protocol (psycopg 3 drops them so):
// on the server it has sluice's name, shared with other clients, so sluice forgets the client's name
// and answers as PostgreSQL would. Any other DEALLOCATE goes to the server.
bool client_session::answer_deallocate_locally(wire::bytes_view payload) {
  const auto sql = wire::decode_query(payload);
  if (!sql || !starts_with_deallocate(*sql)) return false;
  const auto name = classify::deallocate_name(*sql);
  if (name.empty()) return false;
  const auto found = statements_.find(name);
  if (found == statements_.end()) return false;
  statements_.erase(found);
  wire::encode_command_complete(client_out_, "DEALLOCATE");
  wire::encode_ready_for_query(client_out_, tx_);
  return true;
}

// The same DEALLOCATE sent with the extended protocol (libpq's PQsendQueryParams, which psycopg 3
// uses): Parse(""), Bind, [Describe portal], Execute, Sync, answered with what the server would send.
bool client_session::answer_deallocate_batch_locally() {
  const auto max_message = owner_.shared().cfg().limits.max_message_size;
  auto rest = client_in_.available();
  std::size_t batch_size = 0;
  std::string name;
  bool described = false;
  const auto next = [&]() -> std::optional<wire::message_view> {
    const auto frame = wire::frame_message(rest, max_message);
    if (frame.status != wire::frame_status::ok) return std::nullopt;
    batch_size += frame.message.wire_size;
    rest = rest.subspan(frame.message.wire_size);
    return frame.message;
  };
  auto message = next();
  if (!message || message->type != wire::fe::parse) return false;
  const auto parse = wire::decode_parse(message->payload);
  if (!parse || !parse->statement.empty() || parse->parameter_count != 0) return false;
  if (!starts_with_deallocate(parse->query)) return false;
  name = classify::deallocate_name(parse->query);
  if (name.empty() || !statements_.contains(name)) return false;
  message = next();
  if (!message || message->type != wire::fe::bind) return false;
  const auto bind = wire::decode_bind(message->payload);
  if (!bind || !bind->statement.empty() || !bind->portal.empty()) return false;
  message = next();
  if (message && message->type == wire::fe::describe) {
    const auto describe = wire::decode_describe(message->payload);
    if (!describe || describe->kind != 'P' || !describe->name.empty()) return false;
    described = true;
    message = next();
  }
  if (!message || message->type != wire::fe::execute) return false;
  message = next();
  if (!message || message->type != wire::fe::sync) return false;
  statements_.erase(statements_.find(name));
  unnamed_.exists = false;  // the client's unnamed statement was this DEALLOCATE: nothing to run again
  wire::encode_parse_complete(client_out_);
  wire::encode_bind_complete(client_out_);
  if (described) wire::message_builder(client_out_, wire::be::no_data).finish();
  wire::encode_command_complete(client_out_, "DEALLOCATE");
  wire::encode_ready_for_query(client_out_, tx_);
  consume_client(batch_size);
  return true;
}

// Would the batch starting with `message` (at the front of client_in_) be routed to the primary?
bool client_session::next_batch_needs_primary(const wire::message_view& message) const {
  if (message.type == wire::fe::query) {
    const auto sql = wire::decode_query(message.payload);
    if (!sql) return false;  // malformed: forward_message reports it
    return effective_route(classify::classify(*sql, {owner_.shared().cfg().routing.write_functions})) ==
           classify::route::primary;
  }
  if (message.type == wire::fe::function_call) return true;
  bool complete = false;
  const auto kind = classify_extended_batch(complete);
  return !complete || !kind || effective_route(*kind) == classify::route::primary;
}

client_statement& client_session::remember_statement(const wire::parse_message& parse,
                                                     const classify::classification& kind, std::uint32_t serial) {
  const auto id = owner_.statement_id(parse.query, parse.parameter_types);
  client_statement statement{id, std::string(parse.query),
                             std::string(reinterpret_cast<const char*>(parse.parameter_types.data()),
                                         parse.parameter_types.size()),
                             parse.parameter_count, kind};
  if (auto found = statements_.find(parse.statement); found != statements_.end()) {
    found->second = std::move(statement);  // not created by this Parse: a skip leaves it defined
    return found->second;
  }
  statement.created_by = serial;
  return statements_.emplace(std::string(parse.statement), std::move(statement)).first->second;
}

asio::awaitable<client_session::outcome> client_session::attach(classify::route target,
                                                               const classify::classification& kind) {
  auto& shared = owner_.shared();
  auto& stats = owner_.stats();
  const auto& routing = shared.cfg().routing;
  // read_your_writes: reads must see this client's last commit (and, by consistency_scope, its user's
  // or everyone's through this sluice).
  const auto need = read_your_writes_.requirement(kind.routing_hint, owner_);
  engine::backend_choice choice(owner_, routing, stats, target, need);
  auto place = choice.first();
  if (place.what == engine::placement::kind::refused) {
    refuse(no_replica_refusal());
    co_return outcome::proceed;
  }
  backends::pg::connect_failure failure;
  std::size_t chosen = 0;
  for (std::size_t attempt = 0; attempt <= shared.cfg().backends.size() + 1; ++attempt) {
    const bool is_read = place.what == engine::placement::kind::replica;
    std::size_t index = place.backend;
    if (!is_read) {
      if (!units_.write_gate_open_now() && !co_await pass_write_gate()) co_return outcome::proceed;
      auto writes = owner_.primary();
      if (!writes.backend && writes.stalled_since) {
        engine::refusal why;
        if (co_await units_.wait_for_stalled_primary(*writes.stalled_since, why) == engine::stall_wait::cancelled) {
          refuse(why);
          co_return outcome::proceed;
        }
        writes = owner_.primary();
      }
      if (!writes.backend) {
        ++stats.writes_refused;
        refuse({engine::refusal_code::no_primary, "sluice: cannot run this statement: " + writes.reason, writes.sqlstate});
        co_return outcome::proceed;
      }
      index = *writes.backend;
    }
    chosen = index;
    ensure_pool(chosen);
    if (held_[chosen] && !held_[chosen]->idle_and_healthy()) {
      // Session mode: the connection this client keeps got something while the client was idle. A
      // notification or notice is relayed; the end of the connection (the server's FATAL, or a close)
      // ends the session as it would a direct one: silently moving the client to another server
      // connection would lose its LISTENs, settings and everything else it relies on.
      server_ = std::move(held_[chosen]);
      if (!co_await drain_unsolicited()) {
        co_await flush_client();
        co_return outcome::close;
      }
    }
    if (server_) {
      // kept from above
    } else if (held_[chosen]) {
      server_ = std::move(held_[chosen]);
    } else if (auto idle = pools_[chosen]->take_idle()) {
      server_ = std::move(idle);  // the common case, with no coroutine frame for acquire()
    } else {
      auto acquired = co_await pools_[chosen]->acquire();
      if (acquired.connection) {
        server_ = std::move(acquired.connection);
      } else {
        failure = std::move(acquired.failure);
        spdlog::warn("backend '{}': {}", shared.cfg().backends[chosen].name, failure.message);
        // Network failures and servers refusing connections (57P03 shutting down or starting up,
        // 53300 too many connections) take the backend out for retry_interval.
        if (failure.code == errc::server_connect || failure.code == errc::server_error) owner_.mark_down(chosen);
        if (is_read) {
          // A replica that cannot be reached: try another, then the fallback.
          place = choice.replica_unreachable(chosen);
          if (place.what == engine::placement::kind::refused) break;
          continue;
        }
        break;
      }
    }
    server_->prepared().set_capacity(shared.cfg().pool.max_prepared_statements);
    const auto replayed = settings_in_place() ? internal_result::ok : co_await replay_settings();
    if (replayed == internal_result::server_error) {
      // The server refuses this session's settings (a startup parameter it does not know, a value it
      // rejects, a custom setting that a library loaded since has reserved): the session cannot be what
      // its client set up, so it ends, once, with the server's own error, as a direct login would.
      // Not the backend's fault, and the connection is unharmed: the replay is one implicit
      // transaction, rolled back whole.
      release_server(true);
      encode_server_error(client_out_, "FATAL", internal_error_,
                          "sluice: restoring this session's settings on backend '" + shared.cfg().backends[chosen].name +
                              "' failed; the session is closed");
      co_await flush_client();
      co_return outcome::close;
    }
    if (replayed != internal_result::ok) {
      failure = {errc::server_error, "08006", "could not restore session settings on the server connection"};
      release_server(false);
      break;
    }
    if (is_read && place.causal_check) {
      ++stats.causal_checks;
      const auto reached = co_await wait_for_replay(need.position, place.causal_wait.count());
      if (!server_) co_return outcome::proceed;  // the replica failed while checking: error sent
      if (!reached) {
        // Not replayed within causal_wait: this read goes to the primary, which has the commit.
        release_server(true);
        place = choice.replica_behind();
        continue;
      }
    }
    if (is_read) {
      ++stats.routed_replica;
    } else {
      ++stats.routed_primary;
      // read_your_writes: remember to take the commit's WAL position when this work ends, where a
      // later read may go to a replica (not with read_write_split off or no replica configured: there
      // it would be a round trip per transaction for nothing).
      if (read_your_writes_.enabled() && target == classify::route::primary && reads_may_leave_primary()) {
        read_your_writes_.note_write();
      }
    }
    SPDLOG_DEBUG("user '{}': {} -> backend '{}'", user_name_, is_read ? "read" : "write",
                 shared.cfg().backends[chosen].name);
    co_return outcome::proceed;
  }
  if (place.what == engine::placement::kind::refused) {
    refuse(no_replica_refusal());
    co_return outcome::proceed;
  }
  refuse({failure.code == errc::pool_timeout ? engine::refusal_code::pool_timeout : engine::refusal_code::backend_unavailable,
          "sluice: backend '" + shared.cfg().backends[chosen].name + "' is unavailable: " + failure.message,
          std::move(failure.sqlstate)});
  co_return outcome::proceed;
}

// read_your_writes: waits until the attached replica has replayed `lsn`, for at most `wait_ms`. The
// wait runs on the replica in one round trip (PostgreSQL 15 has no wait-for-LSN function): a recursive
// query re-reads pg_last_wal_replay_lsn() after each pg_sleep of about a millisecond and stops as soon
// as it is reached, so a read pays the replay delay itself, not a network round trip per check. The
// answer comes from the connection the read will use, so a yes cannot go stale.
asio::awaitable<bool> client_session::wait_for_replay(std::uint64_t lsn, long long wait_ms) {
  // The client's statement_timeout (replayed on this connection) must not cut the wait short: it is
  // switched off for this implicit transaction only, by a statement whose row has no column.
  char sql[448];
  std::snprintf(sql, sizeof sql,
                "SELECT FROM pg_catalog.set_config('statement_timeout', '0', true); "
                "WITH RECURSIVE w(n, ok) AS (SELECT 0, pg_catalog.pg_last_wal_replay_lsn() >= '%X/%X'::pg_lsn "
                "UNION ALL SELECT n + 1, pg_catalog.pg_last_wal_replay_lsn() >= '%X/%X'::pg_lsn FROM w "
                "WHERE NOT ok AND n < %lld AND pg_catalog.pg_sleep(0.001) IS NOT NULL) SELECT bool_or(ok) FROM w",
                static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu),
                static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu), wait_ms);
  std::string answer;
  const auto result = co_await run_internal_query(sql, &answer);
  if (result != internal_result::ok) {
    release_server(result != internal_result::io_failed);
    refuse({engine::refusal_code::replica_check_lost, "sluice: lost the replica while checking its replay position", {}});
    co_return false;
  }
  co_return answer == "t";
}

// The attached connection already has this session's settings (the common case): nothing to replay.
bool client_session::settings_in_place() const {
  return !server_->settings_unknown && server_->applied_settings() == settings_;
}

// Makes the attached server connection's session settings the client's. Values are replayed as the
// server reported them (current_setting, captured after the unit that set them) through set_config(),
// which takes a value as the GUC's own input syntax: a list setting such as search_path or DateStyle
// ('ISO, YMD') comes back whole, which `SET name TO 'a, b'` would not do.
asio::awaitable<client_session::internal_result> client_session::replay_settings() {
  auto& applied = server_->applied_settings();
  if (settings_in_place()) co_return internal_result::ok;
  std::string sql;
  const auto reset = [&](const std::string& name) { sql += "RESET " + quote_setting_name(name) + "; "; };
  std::string calls;
  const auto set = [&](const setting& wanted) {
    calls += calls.empty() ? "SELECT " : ", ";
    calls += "pg_catalog.set_config(" + quote_literal(wanted.first) + ", " + quote_literal(wanted.second) + ", false)";
  };
  if (server_->settings_unknown) {
    sql = "RESET ALL; ";
    for (const auto& wanted : settings_) set(wanted);
  } else {
    for (const auto& [name, value] : applied) {
      const bool kept = std::any_of(settings_.begin(), settings_.end(), [&](const setting& s) { return s.first == name; });
      if (!kept) reset(name);
    }
    for (const auto& wanted : settings_) {
      if (std::find(applied.begin(), applied.end(), wanted) == applied.end()) set(wanted);
    }
  }
  sql += calls;
  ++owner_.stats().settings_replayed;
  const auto result = co_await run_internal_query(sql);
  if (result == internal_result::server_error) {
    spdlog::warn("user '{}': the server refused this session's settings: {}", user_name_, error_text(internal_error_));
  }
  if (result == internal_result::ok) {
    applied = settings_;
    server_->settings_unknown = false;
  }
  co_return result;
}

asio::awaitable<bool> client_session::capture_settings() {
  unit_changed_settings_ = false;
  // Custom settings (myapp.x) are not in pg_settings: ask for those the session has or may have set.
  std::vector<std::string> custom = std::move(unit_custom_settings_);
  unit_custom_settings_.clear();
  for (const auto& [name, value] : settings_) {
    if (name.find('.') != std::string::npos) custom.push_back(name);
  }
  std::sort(custom.begin(), custom.end());
  custom.erase(std::unique(custom.begin(), custom.end()), custom.end());
  std::string sql(capture_settings_sql);
  if (!custom.empty()) {
    sql += " UNION ALL SELECT n, pg_catalog.current_setting(n, true) FROM pg_catalog.unnest(ARRAY[" +
           literal_list(custom) + "]::text[]) AS n";
  }
  std::vector<setting> captured;
  const auto result = co_await run_internal_query(sql, nullptr, &captured);
  if (result == internal_result::io_failed) co_return false;
  if (result != internal_result::ok) {
    // Cannot tell what the unit left: carrying on would run the client's next statements with
    // settings it may not have; the caller ends the session.
    server_->settings_unknown = true;
    co_return false;
  }
  // The first row: statement_timeout as the session had it; the marked row: its default.
  if (!captured.empty()) {
    const std::string timeout = std::move(captured.front().first);
    captured.erase(captured.begin());
    const auto reset_row = std::find_if(captured.begin(), captured.end(),
                                        [](const setting& c) { return c.first == statement_timeout_reset_marker; });
    if (reset_row != captured.end()) {
      // Formats differ ("30s" against "30000"): compare the durations.
      const auto now_ms = setting_milliseconds(timeout);
      const auto default_ms = setting_milliseconds(reset_row->second);
      if (!now_ms || !default_ms || *now_ms != *default_ms) captured.emplace_back("statement_timeout", timeout);
      captured.erase(std::find_if(captured.begin(), captured.end(),
                                  [](const setting& c) { return c.first == statement_timeout_reset_marker; }));
    }
  }
  // An unset custom setting reads as NULL (or '' once RESET): not in force.
  std::erase_if(captured, [](const setting& c) { return c.second.empty() && c.first.find('.') != std::string::npos; });
  std::sort(captured.begin(), captured.end());
  captured.erase(std::unique(captured.begin(), captured.end(),
                             [](const setting& a, const setting& b) { return a.first == b.first; }),
                 captured.end());
  // A startup setting that is no longer in force as a session value was RESET: the client's session
  // goes back to its startup value (as a direct session would), the server connection to its default.
  std::vector<setting> wanted = captured;
  for (const auto& startup : startup_settings_) {
    const bool present = std::any_of(captured.begin(), captured.end(), [&](const setting& c) { return c.first == startup.first; });
    if (!present) upsert_setting(wanted, startup.first, startup.second);
  }
  settings_ = std::move(wanted);
  server_->applied_settings() = std::move(captured);
  server_->settings_unknown = false;
  co_return true;
}

void client_session::route_writing_functions(classify::classification& kind, std::string_view sql) const {
  if (kind.target != classify::route::replica || !kind.calls_functions ||
      !owner_.shared().cfg().routing.volatile_functions_on_primary) {
    return;
  }
  // Only the route depends on what follows (kind.target), and effective_route sends everything to the
  // primary without read_write_split or once the session is pinned (pinned_ is never cleared): the
  // functions' lookups and the second lexing of `sql` would change nothing (issue 14). What else the
  // classification says (pins, settings, calls noted by note_kind, hints for read_your_writes) is
  // computed by classify() and kept.
  if (!owner_.shared().cfg().routing.read_write_split || pinned_) return;
  struct lookup {
    const client_session* session;
    bool may_write;
  } state{this, false};
  classify::for_each_called_function(
      sql,
      [](void* context, std::string_view name) {
        auto& found = *static_cast<lookup*>(context);
        if (found.may_write) return;
        const auto* effect = found.session->owner_.functions().find(found.session->database_, name);
        found.may_write = effect == nullptr || effect->is_volatile;
      },
      &state);
  if (state.may_write) kind.target = classify::route::primary;
}

void client_session::note_function_calls(std::string_view sql) {
  classify::for_each_called_function(
      sql, [](void* self, std::string_view name) { static_cast<client_session*>(self)->note_function_call(name); },
      this);
}

void client_session::note_function_call(std::string_view name) {
  if (const auto* effect = owner_.functions().find(database_, name)) {
    if (!effect->may_set_settings) return;
    unit_changed_settings_ = true;
    if (effect->dynamic_names) unit_dynamic_settings_ = true;
    unit_custom_settings_.insert(unit_custom_settings_.end(), effect->custom_names.begin(), effect->custom_names.end());
    return;
  }
  if (std::find(unit_unknown_functions_.begin(), unit_unknown_functions_.end(), name) == unit_unknown_functions_.end()) {
    unit_unknown_functions_.emplace_back(name);
  }
}

asio::awaitable<bool> client_session::learn_functions() {
  // A function may change session settings when its source calls set_config, starts a statement with
  // SET or RESET, or runs dynamic SQL (EXECUTE); built-ins and C functions are taken not to. Names
  // that are no function of the user's (built-ins, table names before a column list) are cached as
  // harmless too. The value column is 'v' when some function of that name is VOLATILE (it may write:
  // pgpool-II routes by the same pg_proc column), else 's', followed by that source when it may set
  // settings.
  //
  // The answer is shared by every user of the database on this worker, so the query must mean the
  // same whatever the client's settings: search_path is pinned for its own implicit transaction (the
  // first statement runs before the second is analysed), and the pattern has no backslashes, whose
  // meaning standard_conforming_strings would change (the whole Query is lexed at once).
  std::string sql =
      "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true); "
      "SELECT p.proname::text, CASE WHEN bool_or(p.provolatile = 'v') THEN 'v' ELSE 's' END || "
      "coalesce(string_agg(CASE WHEN l.lanname NOT IN ('c', 'internal') AND p.prosrc ~* "
      "'(set_config|(^|;|[[:<:]]begin|[[:<:]]then|[[:<:]]else|[[:<:]]loop)[[:space:]]*(set|reset)[[:space:]]|"
      "[[:<:]]execute[[:>:]])' "
      "THEN 'x ' || p.prosrc END, ' '), '') FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang "
      "WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) AND p.proname = ANY (ARRAY[";
  sql += literal_list(unit_unknown_functions_) + "]::name[]) GROUP BY p.proname";
  std::vector<setting> found;
  const auto result = co_await run_internal_query(sql, nullptr, &found);
  if (result == internal_result::io_failed) co_return false;
  if (result != internal_result::ok) {
    // Could not tell: capture this unit's settings, learn nothing.
    unit_unknown_functions_.clear();
    unit_changed_settings_ = true;
    co_return true;
  }
  auto& cache = owner_.functions();
  for (auto& name : unit_unknown_functions_) {
    function_effect effect;
    const auto row = std::find_if(found.begin(), found.end(), [&](const setting& f) { return f.first == name; });
    if (row != found.end()) effect.is_volatile = row->second.starts_with('v');
    if (row != found.end() && row->second.size() > 1) {
      effect.may_set_settings = true;
      effect.custom_names = classify::custom_setting_names(std::string_view(row->second).substr(1), &effect.dynamic_names);
      unit_changed_settings_ = true;
      if (effect.dynamic_names) unit_dynamic_settings_ = true;
      unit_custom_settings_.insert(unit_custom_settings_.end(), effect.custom_names.begin(), effect.custom_names.end());
    }
    cache.learn(database_, std::move(name), std::move(effect));
  }
  unit_unknown_functions_.clear();
  co_return true;
}

asio::awaitable<bool> client_session::drain_unsolicited() {
  auto& input = server_->input();
  std::vector<std::uint8_t> fatal;
  bool closed = false;
  for (;;) {
    for (;;) {
      const auto frame = wire::frame_message(input.available(), max_server_message);
      if (frame.status == wire::frame_status::need_more) break;
      if (frame.status != wire::frame_status::ok) {
        closed = true;
        break;
      }
      const auto& message = frame.message;
      if (message.type == wire::be::error_response && is_fatal(message.payload)) {
        fatal.assign(message.payload.begin(), message.payload.end());
      } else if (message.type == wire::be::notification_response || message.type == wire::be::notice_response ||
                 message.type == wire::be::parameter_status) {
        const auto* begin = message.payload.data() - wire::typed_header_size;
        client_out_.insert(client_out_.end(), begin, begin + message.wire_size);
      }
      input.consume(message.wire_size);
    }
    if (closed || !fatal.empty()) break;
    if (server_->idle_and_healthy()) co_return true;  // all relayed; nothing else pending, still open
    input.prepare();
    auto [ec, count] = co_await backends::async_read_some_drained(server_->socket(), input.writable(), use_tuple);
    if (ec) {
      closed = true;
      break;
    }
    input.commit(count);
  }
  const auto& name = owner_.shared().cfg().backends[server_->backend_index()].name;
  spdlog::warn("user '{}': the server connection to backend '{}' kept for this session ended while the client was idle",
               user_name_, name);
  const std::string context = "sluice: the server connection to backend '" + name +
                              "' that this session keeps (pool_mode = session) ended while the client was idle";
  if (!fatal.empty()) {
    encode_server_error(client_out_, "FATAL", fatal, context);
  } else {
    encode_error_with_detail(client_out_, "FATAL", "08006", "server closed the connection unexpectedly", context);
  }
  release_server(false);
  co_return false;
}

// Records that statement `id` is being prepared on the attached server connection; when that evicts
// the least recently used one (pool.max_prepared_statements), a Close for it goes out first, its
// CloseComplete swallowed.
void client_session::note_prepared(std::uint64_t id) {
  const auto evicted = server_->prepared().insert(id);
  if (evicted == 0) return;
  const server_statement_name name(evicted);
  wire::encode_close(server_out_, 'S', name.view());
  tracker_.push({request_kind::close, request_action::swallow, evicted});
}

void client_session::ensure_prepared(const client_statement& statement) {
  if (server_->prepared().contains(statement.id)) {
    server_->prepared().touch(statement.id);
    return;
  }
  note_prepared(statement.id);
  const server_statement_name name(statement.id);
  wire::encode_parse(server_out_, name.view(), statement.query, statement.parameter_count,
                     wire::bytes_view(reinterpret_cast<const std::uint8_t*>(statement.parameter_types.data()),
                                      statement.parameter_types.size()));
  tracker_.push({request_kind::parse, request_action::swallow, statement.id});
  ++owner_.stats().statements_prepared;
}

void client_session::remember_unnamed(const wire::parse_message& parse, const classify::classification& kind) {
  unnamed_.exists = true;
  unnamed_.stamp = next_unnamed_stamp(owner_.index());
  unnamed_.query.assign(parse.query);
  unnamed_.parameter_types.assign(reinterpret_cast<const char*>(parse.parameter_types.data()),
                                  parse.parameter_types.size());
  unnamed_.parameter_count = parse.parameter_count;
  unnamed_.kind = kind;
}

// Before a Bind or Describe of the unnamed statement: the server connection must hold this client's
// unnamed statement, or none when the client has none (then the server reports 26000, as PostgreSQL
// would), never one another client parsed there.
void client_session::ensure_unnamed() {
  if (!unnamed_.exists) {
    if (server_->unnamed_stamp != 0) {
      wire::encode_close(server_out_, 'S', "");
      tracker_.push({request_kind::close, request_action::swallow, 0});
      server_->unnamed_stamp = 0;
    }
    return;
  }
  if (server_->unnamed_stamp == unnamed_.stamp) return;
  wire::encode_parse(server_out_, "", unnamed_.query, unnamed_.parameter_count,
                     wire::bytes_view(reinterpret_cast<const std::uint8_t*>(unnamed_.parameter_types.data()),
                                      unnamed_.parameter_types.size()));
  tracker_.push({request_kind::parse, request_action::swallow, 0});
  server_->unnamed_stamp = unnamed_.stamp;
  ++owner_.stats().statements_prepared;
}

client_session::outcome client_session::forward_message(const wire::message_view& message,
                                                        const classify::classification* query_kind) {
  const auto raw = [&] {
    const auto* begin = message.payload.data() - wire::typed_header_size;
    server_out_.insert(server_out_.end(), begin, begin + message.wire_size);
  };
  const auto protocol_error = [&](std::string_view what) {
    send_error("FATAL", "08P01", std::string("malformed ") + std::string(what) + " message");
    return outcome::close;
  };
  const classify::options options{owner_.shared().cfg().routing.write_functions};
  // What a statement does to the session, noted when it is executed (a simple Query, or the Bind of
  // a prepared statement, named or unnamed), whichever protocol carries it.
  const auto note_kind = [&](const classify::classification& kind, std::string_view sql) {
    if (kind.pins_session && !pinned_) {
      pinned_ = true;
      ++owner_.stats().sessions_pinned;
      spdlog::info("user '{}': session pinned to its server connection (session state that cannot move)",
                   user_name_);
    }
    if (kind.has_session_set) {
      unit_changed_settings_ = true;
      bool dynamic = false;
      for (auto& name : classify::custom_setting_names(sql, &dynamic)) unit_custom_settings_.push_back(std::move(name));
      if (dynamic) unit_dynamic_settings_ = true;
    }
    // A function of the user's may call set_config() itself: those that may are known per worker
    // (learnt from pg_proc once), and a unit calling one has its settings captured too.
    if (kind.defines_function) {
      owner_.shared().function_generation.fetch_add(1, std::memory_order_relaxed);
      unit_defined_function_ = true;  // and again when the unit ends (the definition commits then)
    }
    if (kind.calls_functions && !pinned_) note_function_calls(sql);
    if (kind.resets_server_state) {
      server_state_reset_ = true;
      unit_changed_settings_ = true;  // DISCARD ALL resets every setting too
    }
  };
  ready_ = false;
  // A Query, FunctionCall or Sync ends a batch: what follows may be routed on its own.
  batch_ended_ = message.type == wire::fe::query || message.type == wire::fe::function_call ||
                 (message.type == wire::fe::sync && !copy_in_);
  if (message.type == wire::fe::sync && !copy_in_) {
    extended_unsynced_ = false;
  } else if (message.type == wire::fe::parse || message.type == wire::fe::bind || message.type == wire::fe::describe ||
             message.type == wire::fe::execute || message.type == wire::fe::close) {
    extended_unsynced_ = true;
  }
  switch (message.type) {
    case wire::fe::query: {
      auto sql = wire::decode_query(message.payload);
      if (!sql) return protocol_error("Query");
      note_kind(query_kind != nullptr ? *query_kind : classify::classify(*sql, options), *sql);
      raw();
      // A simple Query destroys the unnamed statement, the client's and the server's (docs 55.2.3).
      unnamed_.exists = false;
      server_->unnamed_stamp = 0;
      tracker_.push({request_kind::query, request_action::forward, 0});
      awaiting_server_ = true;
      return outcome::proceed;
    }
    case wire::fe::parse: {
      auto parse = wire::decode_parse(message.payload);
      if (!parse) return protocol_error("Parse");
      const bool routed = routed_unnamed_.query == parse->query.data() && routed_unnamed_.size == parse->query.size();
      auto kind = routed ? routed_unnamed_.kind : owner_.classify_statement(parse->query);
      if (parse->statement.empty()) {
        remember_unnamed(*parse, kind);
        raw();
        server_->unnamed_stamp = unnamed_.stamp;
        tracker_.push({request_kind::parse, request_action::forward, 0});
        return outcome::proceed;
      }
      if (++parse_serial_ == 0) parse_serial_ = 1;
      const auto id = remember_statement(*parse, kind, parse_serial_).id;
      if (server_->prepared().contains(id)) {
        server_->prepared().touch(id);
        tracker_.push({request_kind::parse, request_action::synthesize, id, parse_serial_});
      } else {
        note_prepared(id);
        const server_statement_name name(id);
        wire::encode_parse(server_out_, name.view(), parse->query, parse->parameter_count, parse->parameter_types);
        tracker_.push({request_kind::parse, request_action::forward, id, parse_serial_});
      }
      return outcome::proceed;
    }
    case wire::fe::bind: {
      auto bind = wire::decode_bind(message.payload);
      if (!bind) return protocol_error("Bind");
      if (bind->statement.empty()) {
        ensure_unnamed();
        if (unnamed_.exists) note_kind(unnamed_.kind, unnamed_.query);
        raw();
      } else if (auto found = statements_.find(bind->statement); found == statements_.end()) {
        raw();  // unknown: the server reports 26000 as PostgreSQL would
      } else {
        ensure_prepared(found->second);
        note_kind(found->second.kind, found->second.query);
        const server_statement_name name(found->second.id);
        wire::encode_bind(server_out_, bind->portal, name.view(), bind->rest);
      }
      tracker_.push({request_kind::bind, request_action::forward, 0});
      return outcome::proceed;
    }
    case wire::fe::describe: {
      auto describe = wire::decode_describe(message.payload);
      if (!describe) return protocol_error("Describe");
      if (describe->kind == 'S' && describe->name.empty()) {
        ensure_unnamed();
        raw();
      } else if (auto found = describe->kind == 'S' ? statements_.find(describe->name) : statements_.end();
                 found == statements_.end()) {
        raw();
      } else {
        ensure_prepared(found->second);
        const server_statement_name name(found->second.id);
        wire::encode_describe(server_out_, 'S', name.view());
      }
      tracker_.push({request_kind::describe, request_action::forward, 0});
      return outcome::proceed;
    }
    case wire::fe::close: {
      auto close = wire::decode_close(message.payload);
      if (!close) return protocol_error("Close");
      if (close->kind == 'S' && !close->name.empty()) {
        // The server keeps its copy for other clients; the client's name is forgotten.
        if (auto found = statements_.find(close->name); found != statements_.end()) statements_.erase(found);
        tracker_.push({request_kind::close, request_action::synthesize, 0});
      } else {
        if (close->kind == 'S') {
          // Closing the unnamed statement: the client's is gone, and the server's after this.
          unnamed_.exists = false;
          server_->unnamed_stamp = 0;
        }
        raw();
        tracker_.push({request_kind::close, request_action::forward, 0});
      }
      return outcome::proceed;
    }
    case wire::fe::execute:
      raw();
      tracker_.push({request_kind::execute, request_action::forward, 0});
      return outcome::proceed;
    case wire::fe::sync:
      raw();
      if (copy_in_) return outcome::proceed;  // ignored by a server in copy-in mode (see response_tracker)
      tracker_.push({request_kind::sync, request_action::forward, 0});
      awaiting_server_ = true;
      return outcome::proceed;
    case wire::fe::flush:
      raw();
      tracker_.flush_point();
      awaiting_server_ = true;
      return outcome::proceed;
    case wire::fe::function_call:
      raw();
      tracker_.push({request_kind::query, request_action::forward, 0});
      awaiting_server_ = true;
      return outcome::proceed;
    case wire::fe::copy_data:
      raw();
      return outcome::proceed;
    case wire::fe::copy_done:
    case wire::fe::copy_fail:
      raw();
      // Outside COPY the server ignores them (postgres.c: "Accept but ignore these messages, per
      // protocol spec"): nothing to wait for. A COPY run by a simple Query answers now; one run by
      // Execute answers at the client's next Sync (libpq sends it right after).
      if (copy_in_) {
        copy_in_ = false;
        if (!tracker_.empty() && tracker_.front_kind() == request_kind::query) awaiting_server_ = true;
      } else {
        // Maybe pipelined ahead of the CopyInResponse of a COPY that is about to start: the tracker
        // marks where that COPY ends (the Syncs before it are ignored by the server).
        tracker_.push({request_kind::copy_end, request_action::forward, 0});
      }
      return outcome::proceed;
    case wire::fe::terminate:
      return outcome::close;
    default:
      send_error("FATAL", "08P01", std::string("unexpected message type '") + message.type + "'");
      return outcome::close;
  }
}

asio::awaitable<client_session::outcome> client_session::relay_from_server() {
  auto& input = server_->input();
  input.prepare();
  auto [ec, count] = co_await backends::async_read_some_drained(server_->socket(), input.writable(), use_tuple);
  if (ec) {
    // A named local, not a temporary in the co_await's arguments: GCC 12 destroys a temporary built
    // by ?: there twice (a double free that took the whole proxy down on any lost server connection).
    std::string what = "server closed the connection unexpectedly";
    if (ec != asio::error::eof) what = "could not receive data from server: " + ec.message();
    co_return co_await server_failed({}, what);
  }
  input.commit(count);

  const auto available = input.available();
  std::size_t offset = 0;     // first unprocessed byte
  std::size_t run_begin = 0;  // forwarded bytes not yet copied anywhere: [run_begin, offset)
  std::size_t needed = 0;
  const auto flush_run = [&] {
    client_out_.insert(client_out_.end(), available.begin() + static_cast<std::ptrdiff_t>(run_begin),
                       available.begin() + static_cast<std::ptrdiff_t>(offset));
    run_begin = offset;
  };
  const auto emit_synthesized = [&](request_kind kind) {
    flush_run();
    if (kind == request_kind::parse) wire::encode_parse_complete(client_out_);
    if (kind == request_kind::close) wire::encode_close_complete(client_out_);
  };
  bool batch_done = false;
  bool server_fatal = false;
  std::vector<std::uint8_t> fatal_payload;  // the server's FATAL, relayed as it is
  while (offset < available.size()) {
    const auto frame = wire::frame_message(available.subspan(offset), max_server_message);
    if (frame.status == wire::frame_status::need_more) {
      needed = frame.needed;
      break;
    }
    if (frame.status != wire::frame_status::ok) {
      client_out_.clear();
      co_return co_await server_failed({}, "malformed message from the server");
    }
    const auto& message = frame.message;
    tracker_.drain_synthesized(emit_synthesized);
    const auto verdict = tracker_.on_server_message(message.type, [&](const request& skipped) {
      if (skipped.kind == request_kind::close) {
        if (skipped.statement_id != 0) {
          // An eviction's Close the server skipped: the statement is still there.
          server_->prepared().restore(skipped.statement_id);
        } else if (skipped.action != request_action::synthesize) {
          server_->unnamed_stamp = unknown_unnamed;  // a Close of the unnamed statement (or a portal) skipped
        }
      } else if (skipped.statement_id != 0) {
        // A client's named Parse the server skipped (an earlier request of its batch failed): as in
        // PostgreSQL the name stays undefined, so a later Bind of it fails (26000) rather than running.
        if (skipped.client_parse != 0) {
          for (auto it = statements_.begin(); it != statements_.end(); ++it) {
            if (it->second.created_by == skipped.client_parse) {
              statements_.erase(it);
              break;
            }
          }
        }
        // Forwarded or injected by sluice (swallow): not prepared on the server. Answered by sluice
        // (synthesize): prepared there before, and still is.
        if (skipped.action != request_action::synthesize) server_->prepared().erase(skipped.statement_id);
      } else {
        // An unnamed Parse that failed or was skipped: what the server holds now is unknown.
        server_->unnamed_stamp = unknown_unnamed;
        if (skipped.action == request_action::forward) unnamed_.exists = false;
      }
    });
    switch (message.type) {
      case wire::be::ready_for_query:
        if (auto status = wire::decode_ready_for_query(message.payload)) tx_ = *status;
        copy_in_ = false;  // whatever COPY ran is over (a client may pipeline its CopyDone ahead of it)
        if (tracker_.empty()) batch_done = true;
        break;
      case wire::be::error_response:
        batch_failed_ = true;
        if (is_backend_fault(wire::error_sqlstate(message.payload))) batch_backend_fault_ = true;
        if (is_fatal(message.payload)) {
          // The server is about to close this connection (shutdown 57P01, crash 57P02, admin kill).
          // Handled after the loop: no co_await inside this switch (GCC 12 mis-compiles locals of a
          // coroutine that are live across a suspension in a switch inside a loop).
          fatal_payload.assign(message.payload.begin(), message.payload.end());
          server_fatal = true;
        }
        break;
      case wire::be::copy_in_response:
        // The client may have sent its CopyDone/CopyFail already (pipelined): then no copy-in follows.
        copy_in_ = !tracker_.copy_ended_early();
        break;
      default:
        break;
    }
    if (server_fatal) break;
    if (verdict == response_verdict::swallow) {
      flush_run();
      offset += message.wire_size;
      run_begin = offset;
    } else {
      offset += message.wire_size;
    }
  }
  if (server_fatal) {
    // Everything before the FATAL goes to the client; then it is a lost connection, which keeps the
    // client connected when it was not in a transaction.
    flush_run();
    const bool written_ok = co_await flush_client();
    input.consume(input.size());
    if (!written_ok) co_return outcome::close;
    co_return co_await server_failed(fatal_payload, "the server ended the connection");
  }
  if (offset == available.size() || needed != 0) tracker_.drain_synthesized(emit_synthesized);
  // read_your_writes shared by a user's sessions (or all): the client learns that its write committed
  // only once the commit's position is published (below), one round trip later; otherwise a read it
  // sent at once on another connection could miss the commit.
  const bool hold_answer =
      batch_done && read_your_writes_.holds_answer() && tx_ == wire::tx_status::idle && !pinned_;
  bool written = true;
  if (hold_answer) {
    flush_run();  // into client_out_, sent after the capture
  } else if (client_out_.empty()) {
    // The server's bytes as they are, straight from the read buffer (write_client, without its frame).
    const auto run = available.subspan(run_begin, offset - run_begin);
    std::size_t sent = 0;
    const auto state = write_client_now(run, sent);
    written = state == write_state::done || (state == write_state::blocked && co_await write_client_rest(run, sent));
  } else {
    flush_run();
    written = co_await flush_client();
  }
  input.consume(offset);
  // Always: a partial header at the very end of a full buffer has needed == 0 but still needs room.
  input.prepare(needed);
  if (!written) co_return outcome::close;
  if (batch_done && !server_out_.empty()) {
    // Called by send_relaying with bytes still to send that no answer waits for (a Flush, copy data
    // outside COPY): the batch's end (sluice's own queries, the release of the connection) waits
    // until they are out, or a message would be cut in two on the connection.
    batch_end_pending_ = true;
    batch_end_hold_ = hold_answer;
    co_return outcome::proceed;
  }
  if (batch_done) {
    if (!end_batch_queries_due()) {
      end_batch_now();  // the common case, with no coroutine frame
      co_return outcome::proceed;
    }
    co_return co_await end_batch(hold_answer);
  }
  // What the server was to send has come (a Flush was answered, or a Sync/Query with requests after
  // it): the client speaks next.
  if (!tracker_.answer_due() && !copy_in_) awaiting_server_ = false;
  co_return outcome::proceed;
}

// The batch's last ReadyForQuery was relayed (`hold_answer`: its answer waits in client_out_ for the
// commit position): end-of-unit work, then the connection goes back to the pool if it can.
bool client_session::end_batch_queries_due() const {
  // The unit is over (committed, rolled back, or a statement outside a transaction): nothing is
  // outstanding (batch_done) and no transaction is open.
  if (tx_ != wire::tx_status::idle) return false;
  return (read_your_writes_.position_due() && !pinned_) || !unit_unknown_functions_.empty() || (unit_changed_settings_ && !pinned_);
}

void client_session::end_batch_now() {
  ready_ = true;
  awaiting_server_ = false;
  finish_dispatch(false);
  const bool unit_over = tx_ == wire::tx_status::idle;
  note_defined_functions(unit_over);
  if (unit_changed_settings_ && unit_over) forget_unit_settings();  // pinned: nothing to carry
  end_batch_tail(unit_over);
}

void client_session::note_defined_functions(bool unit_over) {
  if (unit_defined_function_ && unit_over) {
    unit_defined_function_ = false;
    owner_.shared().function_generation.fetch_add(1, std::memory_order_relaxed);
  }
}

void client_session::forget_unit_settings() {
  unit_changed_settings_ = false;
  unit_custom_settings_.clear();
  // Settings whose names nothing spelled out (a DO block, set_config(expr)) may be custom ones
  // pg_settings does not list: the next borrower starts from RESET ALL, which clears those too.
  if (unit_dynamic_settings_ && server_) server_->settings_unknown = true;
  unit_dynamic_settings_ = false;
}

void client_session::end_batch_tail(bool unit_over) {
  if (server_state_reset_) {
    // DISCARD ALL / DEALLOCATE ALL dropped every prepared statement on this server connection, unless
    // the batch failed (BEGIN; DISCARD ALL is refused): then which are left is unknown, and the
    // connection is not pooled again.
    server_state_reset_ = false;
    server_->prepared().clear();
    server_->unnamed_stamp = unknown_unnamed;
    if (batch_failed_) discard_server_ = true;
  }
  batch_failed_ = false;
  if (unit_over) units_.end();
  detach_if_done();
}

asio::awaitable<client_session::outcome> client_session::end_batch(bool hold_answer) {
  ready_ = true;
  awaiting_server_ = false;
  finish_dispatch(false);
  // The unit is over (committed, rolled back, or a statement outside a transaction): nothing is
  // outstanding (batch_done) and no transaction is open.
  const bool unit_over = tx_ == wire::tx_status::idle;
  if (read_your_writes_.position_due() && unit_over && !pinned_) {
    // read_your_writes: the WAL insert position after the commit is at or past the commit record,
    // so a replica that has replayed up to it shows this client's writes. Taken on the commit's own
    // connection (one round trip per write transaction, only for read_your_writes users).
    //
    // With synchronous_commit = off the commit's WAL is written out only by the WAL writer's next
    // round (wal_writer_delay, 200 ms by default): while the flush position is behind, no replica can
    // have the commit and waiting on one is waiting in vain. (With it on, the commit itself is
    // flushed; WAL beyond the flush position is others', which a replica waits for as usual.)
    read_your_writes_.clear_due();
    std::vector<setting> positions;
    const auto result = co_await run_internal_query(
        "SELECT (pg_catalog.pg_current_wal_insert_lsn() - '0/0')::int8::text, "
        "CASE WHEN pg_catalog.current_setting('synchronous_commit') = 'off' "
        "THEN (pg_catalog.pg_current_wal_flush_lsn() - '0/0')::int8::text END",
        nullptr, &positions);
    if (result == internal_result::io_failed) {
      // The client has its answer (or is about to get it); only the position is unknown (its next
      // read may miss this commit if it lands on a lagging replica: logged).
      const bool settings_pending = unit_changed_settings_ || !unit_unknown_functions_.empty();
      if (lost_after_unit("lost while reading the WAL position", settings_pending) == outcome::close) {
        co_await flush_client();
        co_return outcome::close;
      }
      if (hold_answer && !co_await flush_client()) co_return outcome::close;
      co_return outcome::proceed;
    }
    std::uint64_t lsn = 0;
    std::uint64_t flushed = 0;
    if (!positions.empty()) {
      const auto& [insert_text, flush_text] = positions.front();
      std::from_chars(insert_text.data(), insert_text.data() + insert_text.size(), lsn);
      // Not the next record's start past a page header, which replicas never reach on an idle primary:
      // every later read of this user would wait causal_wait and go to the primary.
      lsn = scoring::end_of_last_record(lsn);
      // NULL (empty): synchronous_commit is on, the commit is flushed.
      flushed = lsn;
      if (!flush_text.empty()) std::from_chars(flush_text.data(), flush_text.data() + flush_text.size(), flushed);
    }
    read_your_writes_.publish(lsn, flushed, owner_.shared().global_commits, std::chrono::steady_clock::now());
    if (hold_answer && !co_await flush_client()) co_return outcome::close;
  }
  note_defined_functions(unit_over);
  if (!unit_unknown_functions_.empty() && unit_over) {
    if (!co_await learn_functions()) {
      lost_after_unit("lost while looking up the functions the unit called", true);
      co_await flush_client();
      co_return outcome::close;
    }
  }
  if (unit_changed_settings_ && unit_over) {
    // What the unit left in force is what the server now reports, SET LOCAL and rolled-back SETs
    // gone, two-part values such as DateStyle merged. A pinned session never moves, so there is
    // nothing to carry.
    if (!pinned_ && !co_await capture_settings()) {
      lost_after_unit("lost while reading the session's settings", true);
      co_await flush_client();
      co_return outcome::close;
    }
    forget_unit_settings();  // captured (capture_settings cleared the flag and names), or pinned
  }
  end_batch_tail(unit_over);
  co_return outcome::proceed;
}

// The scorer counts statements in flight per backend and learns their latency: a batch is dispatched
// when its first bytes go to the server and finishes at its ReadyForQuery (or when the connection fails).
void client_session::finish_dispatch(bool failed) {
  if (!dispatched_ || !server_) return;
  dispatched_ = false;
  const auto elapsed = std::chrono::steady_clock::now() - dispatched_at_;
  units_.add_db_time(elapsed);
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(elapsed);
  owner_.on_complete(server_->backend_index(), latency, failed || batch_backend_fault_);
  batch_backend_fault_ = false;
}

void client_session::detach_if_done() {
  if (!server_ || !ready_ || !tracker_.empty() || tx_ != wire::tx_status::idle || copy_in_ || awaiting_server_) {
    return;
  }
  // A connection this client keeps (pinned, session mode) stays its own whatever state it is in; one
  // that goes back to the pool in an unknown state is closed instead.
  if (pinned_) return;
  if (session_mode_) {
    const auto index = server_->backend_index();
    held_[index] = std::move(server_);
    discard_server_ = false;
    return;
  }
  release_server(!std::exchange(discard_server_, false));
}

void client_session::release_server(bool reusable) {
  if (!server_) return;
  // Bytes still unsent would leave a message cut in two on the connection: never lend it again.
  if (!server_out_.empty()) reusable = false;
  server_out_.clear();
  if (reusable && server_->cancels_in_flight > 0) {
    // Not lent to anyone until the cancel is answered (on_cancel_answered), or the signal could
    // cancel the next borrower's query (PgBouncer's SV_BEING_CANCELED).
    canceling_.push_back(std::move(server_));
    return;
  }
  auto* pool = pools_[server_->backend_index()];
  pool->release(std::move(server_), reusable);
}

asio::awaitable<client_session::outcome> client_session::server_failed(wire::bytes_view server_error,
                                                                      std::string_view what) {
  const auto& name = owner_.shared().cfg().backends[server_->backend_index()].name;
  const std::string server_text = server_error.empty() ? std::string(what) : error_text(server_error);
  spdlog::warn("user '{}': lost server connection to backend '{}': {}", user_name_, name, server_text);
  owner_.mark_down(server_->backend_index());
  finish_dispatch(true);
  // Outside a transaction only the statements in flight are lost: the client gets an ERROR and the
  // ReadyForQuery messages it is owed, and carries on. Inside one (or with session state on that
  // connection) there is nothing sound to carry on with.
  const bool in_transaction = tx_ != wire::tx_status::idle;
  const bool fatal = in_transaction || pinned_ || session_mode_;
  // The ERROR sent below stands for the request at the head: after an extended one the client expects
  // everything up to Sync skipped (a Query there included), as the server would have skipped it.
  const std::size_t pending_ready = tracker_.ready_for_query_owed_after_error();
  // The client is in the middle of a batch (extended requests after its last Sync, or a batch whose
  // first part was answered after a Flush): the rest of it, up to its Sync, is skipped as the server
  // skips a failed batch, and that Sync answered by sluice.
  const bool mid_batch = tracker_.unsynced_tail() || (tracker_.empty() && extended_unsynced_);
  tracker_.clear();
  release_server(false);
  awaiting_server_ = false;
  copy_in_ = false;
  ready_ = false;
  forget_unit_server_state();
  // The server's own words reach the client (its SQLSTATE and message, as a direct connection would
  // show them); what sluice knows goes into DETAIL.
  std::string context = "sluice: the connection to backend '" + name + "' was lost ";
  if (in_transaction) {
    context += "in a transaction; the session is closed";
  } else if (fatal) {
    context += "while this session kept state on it (pinned or pool_mode = session); the session is closed";
  } else {
    context += "while running a statement outside a transaction; the session carries on";
  }
  const std::string_view severity = fatal ? "FATAL" : "ERROR";
  if (!server_error.empty()) {
    encode_server_error(client_out_, severity, server_error, context);
  } else {
    encode_error_with_detail(client_out_, severity, "08006", what, context);
  }
  if (fatal) {
    co_await flush_client();
    co_return outcome::close;
  }
  // Exactly the ReadyForQuery messages the client is owed (none after a Flush: it sends a Sync).
  for (std::size_t i = 0; i < pending_ready; ++i) wire::encode_ready_for_query(client_out_, wire::tx_status::idle);
  if (mid_batch) discard_until_sync_ = true;
  tx_ = wire::tx_status::idle;
  units_.end();
  co_return co_await flush_client() ? outcome::proceed : outcome::close;
}

// What the current unit and batch noted about the attached server connection, which is gone.
void client_session::forget_unit_server_state() {
  unit_changed_settings_ = false;
  unit_custom_settings_.clear();
  unit_unknown_functions_.clear();
  unit_dynamic_settings_ = false;
  server_state_reset_ = false;
  batch_failed_ = false;
  discard_server_ = false;
  extended_unsynced_ = false;
  batch_end_pending_ = false;
}

// The server connection failed during sluice's own query after a unit, whose answers the client has
// all had. `state_lost`: what the unit did to the session's settings is unknown now; carrying on could
// run the client's next statements with settings it did not choose, so the session ends (FATAL), as
// it would had the connection failed in a transaction. Otherwise the client never notices.
client_session::outcome client_session::lost_after_unit(std::string_view what, bool state_lost) {
  const auto& name = owner_.shared().cfg().backends[server_->backend_index()].name;
  spdlog::warn("user '{}': lost server connection to backend '{}': {}", user_name_, name, what);
  owner_.mark_down(server_->backend_index());
  tracker_.clear();
  release_server(false);
  awaiting_server_ = false;
  ready_ = false;
  forget_unit_server_state();
  units_.end();
  if (!state_lost) return outcome::proceed;
  encode_error_with_detail(client_out_, "FATAL", "08006", "server closed the connection unexpectedly",
                           "sluice: the connection to backend '" + name + "' was " + std::string(what) +
                               ", so this session's settings are unknown; the session is closed");
  return outcome::close;  // the FATAL is in client_out_: the caller flushes it
}

void client_session::cancel_running_query() {
  if (units_.cancel_wait()) return;  // it waited to start: nothing runs on a server
  if (!server_ || tracker_.empty()) return;
  const auto index = server_->backend_index();
  const auto key = server_->key();
  ++owner_.stats().cancels_forwarded;
  ++server_->cancels_in_flight;
  auto executor = client_.get_executor();
  asio::co_spawn(
      executor,
      [weak = weak_from_this(), executor, endpoint = server_->endpoint(), key, index,
       timeout = owner_.shared().cfg().pool.connect_timeout]() -> asio::awaitable<void> {
        const bool answered = co_await backends::pg::send_cancel_request(executor, endpoint, key, timeout);
        if (auto self = weak.lock()) self->on_cancel_answered(index, key, answered);
      },
      asio::detached);
}

// The server closed the cancel connection (or it failed or timed out): the backend has been signalled,
// so the server connection may serve others again. Connections are found by their backend key: the
// one cancelled may be attached, kept for the session, parked here, or gone already.
// `answered` false: the cancel failed or timed out, so the signal may still land later; that
// connection is closed rather than lent to anyone.
void client_session::on_cancel_answered(std::size_t backend, wire::backend_key_data key, bool answered) {
  const auto matches = [&](const std::unique_ptr<server_connection>& connection) {
    return connection && connection->backend_index() == backend && connection->key().process_id == key.process_id &&
           connection->key().secret_key == key.secret_key;
  };
  const auto done = [](server_connection& connection) {
    if (connection.cancels_in_flight > 0) --connection.cancels_in_flight;
  };
  if (matches(server_)) {
    done(*server_);
    if (!answered) discard_server_ = true;
  }
  for (auto& held : held_) {
    if (matches(held)) done(*held);
  }
  for (auto it = canceling_.begin(); it != canceling_.end(); ++it) {
    if (!matches(*it)) continue;
    done(**it);
    if ((*it)->cancels_in_flight == 0 || !answered) {
      auto connection = std::move(*it);
      canceling_.erase(it);
      pools_[connection->backend_index()]->release(std::move(connection), answered);
    }
    break;
  }
}

// ---------------------------------------------------------------------------------------------------
// Units of work: tenant QoS and the write gate (engine::unit_admission), rendered for PostgreSQL

// The SQL a unit starts with, for tenant tags: a Query's text, a Parse's, or a named statement's.
std::string_view client_session::unit_sql(const wire::message_view& message) const {
  switch (message.type) {
    case wire::fe::query:
      if (auto sql = wire::decode_query(message.payload)) return *sql;
      break;
    case wire::fe::parse:
      if (auto parse = wire::decode_parse(message.payload)) return parse->query;
      break;
    case wire::fe::bind:
      if (auto bind = wire::decode_bind(message.payload); bind && !bind->statement.empty()) {
        if (auto found = statements_.find(bind->statement); found != statements_.end()) return found->second.query;
      }
      break;
    default:
      break;
  }
  return {};
}

// True when the client has gone while a unit waited: the peer closed, reset, or sent Terminate
// (libpq, psycopg2 and JDBC send one before closing). Other bytes are pipelined requests: not gone.
bool client_session::client_left() {
  std::uint8_t first = 0;
  const auto received = ::recv(client_.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  if (received == 0) return true;
  if (received < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return first == static_cast<std::uint8_t>(wire::fe::terminate);
}

asio::awaitable<bool> client_session::admit_unit(std::string_view sql) {
  engine::refusal why;
  const auto result = co_await units_.admit({user_name_, database_, application_name_}, sql, why);
  if (result == engine::verdict::refused) refuse(why);
  co_return result == engine::verdict::go;
}

asio::awaitable<bool> client_session::pass_write_gate() {
  engine::refusal why;
  const auto result = co_await units_.pass_write_gate(why);
  if (result == engine::verdict::refused) refuse(why);
  co_return result == engine::verdict::go;
}

engine::refusal client_session::no_replica_refusal() {
  return {engine::refusal_code::no_replica,
          "sluice: no replica can serve this read (down, ejected or lagging) and routing.fallback = \"error\"", {}};
}

client_summary client_session::summary() const {
  client_summary out;
  out.user = user_name_;
  out.database = database_;
  out.application_name = application_name_;
  if (const auto tenant = units_.tenant()) out.tenant = owner_.shared().tenants.tenant_name(*tenant);
  out.address = peer_endpoint_.address().to_string() + ':' + std::to_string(peer_endpoint_.port());
  if (units_.waiting()) {
    out.state = "waiting";
  } else if (tx_ != wire::tx_status::idle) {
    out.state = "idle in transaction";
  } else if (awaiting_server_) {
    out.state = "active";
  } else {
    out.state = "idle";
  }
  if (server_) out.backend = owner_.shared().cfg().backends[server_->backend_index()].name;
  out.pinned = pinned_;
  out.connected_at = connected_at_;
  out.worker = owner_.index();
  return out;
}

// ---------------------------------------------------------------------------------------------------
// I/O helpers

void client_session::send_error(std::string_view severity, std::string_view sqlstate, std::string_view message) {
  wire::encode_error_response(client_out_, severity, sqlstate, message);
}

void client_session::refuse(const engine::refusal& why) { send_error("ERROR", engine::pg_sqlstate(why), why.message); }

client_session::write_state client_session::write_client_now(wire::bytes_view bytes, std::size_t& written) {
  return engine::send_now(client_.native_handle(), bytes, written);
}

asio::awaitable<bool> client_session::write_client_rest(wire::bytes_view bytes, std::size_t written) {
  auto [ec, count] =
      co_await asio::async_write(client_, asio::buffer(bytes.data() + written, bytes.size() - written), use_tuple);
  if (!ec) backends::note_sent(client_.native_handle());
  co_return !ec;
}

asio::awaitable<bool> client_session::write_client(wire::bytes_view bytes) {
  std::size_t written = 0;
  const auto state = write_client_now(bytes, written);
  if (state != write_state::blocked) co_return state == write_state::done;
  co_return co_await write_client_rest(bytes, written);
}

asio::awaitable<bool> client_session::flush_client() {
  if (client_out_.empty()) co_return true;
  std::size_t written = 0;
  const auto state = write_client_now(client_out_, written);
  const bool ok = state == write_state::done || (state == write_state::blocked && co_await write_client_rest(client_out_, written));
  client_out_.clear();
  co_return ok;
}

bool client_session::send_server_now() {
  std::size_t written = 0;
  // Blocked or failed: send_relaying waits for the socket, or meets the error again.
  engine::send_now(server_->socket().native_handle(), server_out_, written);
  server_out_.erase(server_out_.begin(), server_out_.begin() + static_cast<std::ptrdiff_t>(written));
  return server_out_.empty();
}

// Writes server_out_ to the server while relaying what the server sends meanwhile: a large pipeline's
// answers fill the server's output while sluice still writes its input, and a proxy that only wrote
// would wait for the server while the server waits for it (libpq does the same: pqSendSome reads when
// it cannot write). Each direction is bounded by its socket buffers and sluice's read buffer.
asio::awaitable<client_session::send_result> client_session::send_relaying() {
  using namespace asio::experimental::awaitable_operators;
  std::size_t written = 0;
  while (written < server_out_.size()) {
    const auto state = engine::send_now(server_->socket().native_handle(), server_out_, written);
    if (state == write_state::done) break;
    if (state == write_state::failed) {
      server_out_.clear();
      co_return send_result::failed;
    }
    // Full: wait until the server reads some, or sends something to relay.
    auto ready = co_await (server_->socket().async_wait(tcp::socket::wait_write, use_tuple) ||
                           server_->socket().async_wait(tcp::socket::wait_read, use_tuple));
    if (ready.index() == 1) {
      // relay_from_server leaves server_out_ alone: its own queries run only at a batch's end, and
      // the bytes still unsent here belong to requests the tracker is still waiting on.
      if (co_await relay_from_server() == outcome::close) co_return send_result::session_over;
      if (!server_) co_return send_result::server_lost;
    }
  }
  server_out_.clear();
  if (std::exchange(batch_end_pending_, false) && co_await end_batch(batch_end_hold_) == outcome::close) {
    co_return send_result::session_over;
  }
  co_return send_result::sent;
}

asio::awaitable<bool> client_session::write_server() {
  auto [ec, written] = co_await asio::async_write(server_->socket(), asio::buffer(server_out_), use_tuple);
  server_out_.clear();
  if (!ec) backends::note_sent(server_->socket().native_handle());
  co_return !ec;
}

}  // namespace sluice::router::pg
