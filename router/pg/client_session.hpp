// One PostgreSQL client connection: startup, authentication, then the loop that routes each
// transaction (or statement outside one) to the primary or a replica, lends it a pooled server
// connection, and relays bytes both ways. Sans-IO pieces (classifier, codec, response_tracker,
// client_login) decide; this file is where the awaits happen.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/pg/read_buffer.hpp"
#include "backends/pg/server_connection.hpp"
#include "backends/pg/pool_protocol.hpp"
#include "policies/tenant_rules.hpp"
#include "router/cancel_registry.hpp"
#include "router/client_summary.hpp"
#include "router/classify/classifier.hpp"
#include "router/config/config.hpp"
#include "router/front_end.hpp"
#include "router/engine/read_your_writes.hpp"
#include "router/engine/refusal.hpp"
#include "router/engine/send_now.hpp"
#include "router/engine/unit_admission.hpp"
#include "router/pg/response_tracker.hpp"
#include "router/qos/tenant_gate.hpp"

namespace sluice::router {
class worker;
}

namespace sluice::router::pg {

namespace asio = boost::asio;
namespace wire = backends::pg::wire;
using tcp = asio::ip::tcp;
using backends::pg::server_connection;
using backends::pg::setting;

// Heterogeneous lookup so a std::string_view from the wire finds a std::string key without allocating.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

// A client's named prepared statement, remembered so it can be prepared lazily on whichever server
// connection runs it.
struct client_statement {
  std::uint64_t id = 0;               // worker-wide id; the server-side name is derived from it
  std::string query;
  std::string parameter_types;        // raw int32 OIDs as sent
  std::uint16_t parameter_count = 0;
  classify::classification kind;      // classified once, at Parse
  std::uint32_t created_by = 0;       // the serial of the Parse that defined this name (request::client_parse)
};

// The client's unnamed prepared statement (Parse with an empty name), carried like a named one: the
// server connection that runs its Bind may not be the one that saw its Parse, and another client's
// Parse may have replaced it there since. Docs 55.2.3: it lasts until the next unnamed Parse, and a
// simple Query destroys it.
struct client_unnamed_statement {
  bool exists = false;       // parsed, and not destroyed since (Query, Close, or a failed Parse)
  std::uint64_t stamp = 0;   // unique per Parse(""): compared with server_connection::unnamed_stamp
  std::string query;         // reused: assign() keeps the capacity
  std::string parameter_types;
  std::uint16_t parameter_count = 0;
  classify::classification kind;
};

class client_session final : public cancel_target,
                             public served_client,
                             public std::enable_shared_from_this<client_session>,
                             private engine::admission_hooks {
 public:
  client_session(worker& owner, tcp::socket socket, const tcp::endpoint& peer);
  ~client_session() override;

  asio::awaitable<void> run();
  void cancel_running_query() override;
  // served_client: for the admin API (GET /clients); call on this session's worker thread.
  client_summary summary() const override;
  // Graceful shutdown (worker::begin_drain), on this session's worker thread: a session waiting for
  // its client between units is woken (its read cancelled) to be told FATAL 57P01 at once; the others
  // are told when their unit is over (on_client_input checks worker::draining()).
  void shutdown_if_idle() override;

 private:
  enum class outcome {
    proceed,  // keep serving this client
    close,    // end the session (error already sent, or the client left)
  };

  // No unit is open and nothing is owed either way: a client may be told to go without losing work.
  bool between_units() const;
  // Sends FATAL 57P01 "sluice is shutting down" and ends the session (always outcome::close).
  asio::awaitable<outcome> refuse_shutting_down();

  // Startup phase.
  asio::awaitable<bool> startup();
  asio::awaitable<bool> startup_sequence();
  asio::awaitable<bool> authenticate();
  // Makes pools_ and held_ reach `backend` (one a reload added after this client logged in).
  void ensure_pool(std::size_t backend);
  asio::awaitable<bool> greet();
  bool parse_startup_parameters(wire::bytes_view payload);

  // Serving phase.
  asio::awaitable<void> serve();
  asio::awaitable<outcome> on_client_input();
  asio::awaitable<outcome> relay_from_server();
  asio::awaitable<outcome> end_batch(bool hold_answer);
  asio::awaitable<outcome> attach(classify::route target, const classify::classification& kind);
  // After a unit that may have changed session settings: reads what the server now has in force for
  // this session and makes it the client's settings (false: the connection failed).
  asio::awaitable<bool> capture_settings();
  // The server sent something while the client was idle (session mode, held connection): relays
  // notifications, notices and parameter changes; false when it was the end of the connection (a
  // FATAL or a close), which the client is told as FATAL with the server's own error.
  asio::awaitable<bool> drain_unsolicited();
  // routing.volatile_functions = "primary": a read that calls a function of the user's that is VOLATILE
  // (SELECT my_func() where my_func inserts), or one not looked up yet, goes to the primary. Names are
  // learnt after the unit that first calls them (learn_functions), so the next call is routed by what
  // they are: a cache per worker, never a round trip per statement.
  void route_writing_functions(classify::classification& kind, std::string_view sql) const;
  // What the functions a statement calls may do to session settings, from the worker's cache.
  void note_function_calls(std::string_view sql);
  void note_function_call(std::string_view name);
  // Looks the unit's unknown functions up in pg_proc on the attached connection and caches what they
  // may do (false: the connection failed).
  asio::awaitable<bool> learn_functions();
  // `query_kind`: the Query's classification when routing already computed it (else classified here).
  outcome forward_message(const wire::message_view& message, const classify::classification* query_kind = nullptr);
  void ensure_prepared(const client_statement& statement);
  void ensure_unnamed();
  void note_prepared(std::uint64_t id);
  void remember_unnamed(const wire::parse_message& parse, const classify::classification& kind);
  bool answer_parses_locally();
  bool answer_deallocate_locally(wire::bytes_view query_payload);
  bool answer_deallocate_batch_locally();
  // `serial`: the Parse's request::client_parse (0: answered here, it cannot be skipped).
  client_statement& remember_statement(const wire::parse_message& parse, const classify::classification& kind,
                                       std::uint32_t serial = 0);
  void detach_if_done();
  void release_server(bool reusable);
  // The attached server connection failed: `server_error` is the server's own FATAL ErrorResponse
  // payload when it sent one (its SQLSTATE and text reach the client as they are), else `what`
  // describes the network failure.
  asio::awaitable<outcome> server_failed(wire::bytes_view server_error, std::string_view what);
  void on_cancel_answered(std::size_t backend, wire::backend_key_data key, bool answered);
  outcome lost_after_unit(std::string_view what, bool state_lost);
  void forget_unit_server_state();
  asio::awaitable<bool> reset_server_state(bool on_primary);
  enum class internal_result {
    ok,            // every internal query succeeded
    server_error,  // the server answered with an ErrorResponse
    io_failed,     // the connection failed: it must be closed
  };
  // `first_value`: receives the first column of the first row, as text. `rows`: receives the first
  // two columns of every row. Bounded by pool.connect_timeout (io_failed when it passes).
  asio::awaitable<internal_result> run_internal_queries(std::size_t owed, std::string* first_value = nullptr,
                                                        std::vector<setting>* rows = nullptr);
  asio::awaitable<internal_result> run_internal_query(std::string_view sql, std::string* first_value = nullptr,
                                                     std::vector<setting>* rows = nullptr);
  asio::awaitable<internal_result> run_internal_queries_unbounded(std::size_t owed, std::string* first_value,
                                                                  std::vector<setting>* rows);
  asio::awaitable<bool> wait_for_replay(std::uint64_t lsn, long long wait_ms);
  // Makes the attached connection's settings the client's (server_error: the server refused them; its
  // ErrorResponse is in internal_error_).
  asio::awaitable<internal_result> replay_settings();
  void finish_dispatch(bool failed);

  // Units of work: a transaction, or a statement (batch) outside one. Tenant QoS admits units and the
  // write gate holds those bound for the primary during a switchover (engine::unit_admission); both
  // act only at a unit's start, so a transaction already running is never stopped midway. These render
  // its refusals as ErrorResponses in client_out_ (false: refused or the client left).
  asio::awaitable<bool> admit_unit(std::string_view sql);
  asio::awaitable<bool> pass_write_gate();
  static engine::refusal no_replica_refusal();
  void refuse(const engine::refusal& why);  // an ERROR ErrorResponse with its SQLSTATE
  // engine::admission_hooks
  asio::awaitable<bool> flush_client() override;
  // The client has gone while a unit waited: the peer closed, reset, or sent Terminate.
  bool client_left() override;
  std::string_view unit_sql(const wire::message_view& message) const;
  // Routing helpers.
  std::optional<classify::classification> classify_extended_batch(bool& complete) const;
  classify::route effective_route(const classify::classification& kind) const;
  bool reads_may_leave_primary() const;  // read_write_split on and a replica configured
  bool next_batch_needs_primary(const wire::message_view& message) const;

  // I/O helpers.
  asio::awaitable<bool> write_client(wire::bytes_view bytes);
  // write_client in two halves, so that the common case (the socket takes it all) needs no coroutine
  // frame: what the socket takes now (engine::send_now), then (blocked) the rest with async_write.
  using write_state = engine::write_state;
  write_state write_client_now(wire::bytes_view bytes, std::size_t& written);
  asio::awaitable<bool> write_client_rest(wire::bytes_view bytes, std::size_t written);
  bool send_server_now();  // send_relaying's common case, no frame: true when all of server_out_ went
  bool settings_in_place() const;  // the attached connection has this session's settings: no replay
  // end_batch in parts: the synchronous head and tail, and whether anything between needs a query
  // (else end_batch_now does it all without a coroutine frame).
  bool end_batch_queries_due() const;
  void end_batch_now();
  void note_defined_functions(bool unit_over);
  void forget_unit_settings();
  void end_batch_tail(bool unit_over);
  asio::awaitable<bool> write_server();
  enum class send_result {
    sent,          // all of server_out_ went out
    failed,        // the write failed: the caller reports the lost connection
    session_over,  // relaying meanwhile ended the session
    server_lost,   // relaying meanwhile found the server gone (the client was told)
  };
  asio::awaitable<send_result> send_relaying();
  void send_error(std::string_view severity, std::string_view sqlstate, std::string_view message);

  // Enough for any startup message and a typical batch; larger batches grow it (and it shrinks back).
  static constexpr std::size_t client_read_buffer_size = 8 * 1024;
  static constexpr std::size_t small_read_buffer_size = 256;  // after login, until outgrown
  static constexpr std::size_t startup_output_reserve = 1024;  // a login's output, greeting included

  worker& owner_;
  tcp::socket client_;
  backends::pg::read_buffer client_in_{client_read_buffer_size};
  wire::byte_buffer client_out_;   // bytes sluice composes for the client (reused)
  wire::byte_buffer server_out_;   // bytes to send to the attached server (reused)

  // Identity and settings.
  std::string user_name_;
  std::string database_;
  const config::user_config* user_ = nullptr;
  std::vector<setting> startup_settings_;  // from the StartupMessage, sorted by name
  std::vector<setting> settings_;          // what this client has SET, sorted by name
  std::vector<std::pair<std::string, std::string>> startup_reported_;  // client values for greeting
  cancel_registry::key cancel_key_{};
  bool registered_cancel_ = false;
  bool session_mode_ = false;  // pool_mode = session: keep server connections until disconnect
  bool pinned_ = false;        // session state that cannot move: stay on one primary connection
  bool in_startup_ = false;        // startup() runs: its deadline may still cancel the client socket
  bool startup_expired_ = false;   // limits.startup_timeout passed before the greeting was sent
  std::chrono::steady_clock::time_point startup_deadline_{};  // when limits.startup_timeout passes
  engine::read_your_writes read_your_writes_;  // what reads must see, and this session's commits

  // Pools and connections, by backend index.
  std::vector<backends::pg::server_pool*> pools_;  // per backend slot in use at login; more added by ensure_pool
  std::vector<std::unique_ptr<server_connection>> held_;  // session mode: parked idle connections
  // Done with, but a CancelRequest for them is unanswered: pooled once it is (see on_cancel_answered).
  std::vector<std::unique_ptr<server_connection>> canceling_;
  std::unique_ptr<server_connection> server_;             // attached for the current transaction
  response_tracker tracker_;
  // The first ErrorResponse of the latest internal queries (run_internal_queries), as the server sent it.
  std::vector<std::uint8_t> internal_error_;
  wire::tx_status tx_ = wire::tx_status::idle;
  bool ready_ = false;            // the last server message was ReadyForQuery: nothing is in flight
  bool awaiting_server_ = false;  // a Sync/Flush/Query went out: the server owes us bytes
  bool copy_in_ = false;          // COPY FROM STDIN in progress: read the client
  bool batch_incomplete_ = false;  // an extended batch is not all buffered yet: read before routing
  bool batch_ended_ = false;       // the last message forwarded ended a batch (Query, FunctionCall, Sync)
  bool extended_unsynced_ = false;  // extended messages forwarded since the last Sync (implicit transaction open)
  bool batch_failed_ = false;      // an ErrorResponse came back in the current batch
  bool batch_end_pending_ = false;  // the batch ended while send_relaying still had bytes to send
  bool batch_end_hold_ = false;     // ... and its answer is held for the commit position (end_batch)
  bool discard_server_ = false;    // the attached connection's state is unknown: close it when done
  bool discard_until_sync_ = false;  // an extended batch failed before reaching a server
  bool batch_backend_fault_ = false;  // ... one that is the backend's fault (counts against its score)
  bool dispatched_ = false;       // the scorer counts a batch in flight on the attached backend
  std::chrono::steady_clock::time_point dispatched_at_{};
  bool tx_at_batch_start_idle_ = true;
  bool unit_changed_settings_ = false;  // the unit ran SET/RESET/set_config/DISCARD: capture at its end
  std::vector<std::string> unit_custom_settings_;  // dotted setting names the unit may have set
  std::vector<std::string> unit_unknown_functions_;  // called, not yet in the worker's function_effects
  bool unit_dynamic_settings_ = false;  // may have set settings whose names are not known (DO, set_config(expr))
  bool unit_defined_function_ = false;  // ran CREATE/ALTER/DROP FUNCTION: caches are cleared again at its end
  bool server_state_reset_ = false;  // DISCARD ALL / DEALLOCATE ran: server-side statements are gone

  // Tenant QoS and the write gate (see admit_unit).
  std::string application_name_;   // from the StartupMessage (tenant rules match it)
  tcp::endpoint peer_endpoint_;    // the client's address, from accept
  std::chrono::system_clock::time_point connected_at_{};
  engine::unit_admission units_{owner_, client_, *this};

  // Named prepared statements by the client's name, and the unnamed one.
  std::unordered_map<std::string, client_statement, string_hash, std::equal_to<>> statements_;
  std::uint32_t parse_serial_ = 0;  // the last request::client_parse given
  client_unnamed_statement unnamed_;
  // The classification routing gave an unnamed Parse's query in this pass over client_in_, by the
  // address of its bytes (valid until the pass ends: the buffer is not compacted within it), so the
  // statement is not classified twice.
  struct routed_unnamed {
    const char* query = nullptr;
    std::size_t size = 0;
    classify::classification kind;
  };
  mutable routed_unnamed routed_unnamed_;
  // How far classify_extended_batch got in the batch at the front of client_in_ and what it merged so
  // far: a batch that arrives over many reads is scanned once, not again from its start per read.
  // Reset whenever client_in_ is consumed (consume_client).
  struct batch_scan {
    bool started = false;
    std::size_t scanned = 0;  // bytes of client_in_.available() already classified
    classify::classification batch;    // merged over those bytes
    classify::classification unnamed;  // the unnamed statement as of those bytes
  };
  mutable batch_scan batch_scan_;
  void consume_client(std::size_t size);
};

// Bytes of extended batches classified for routing on this thread, for tests that the scan is linear.
std::uint64_t extended_batch_bytes_scanned() noexcept;

// Spawns a session for an accepted socket on `owner`'s io_context.
void start_client_session(worker& owner, tcp::socket socket, const tcp::endpoint& peer);

// The PostgreSQL listener's protocol (worker::listen): start_client_session, and FATAL ErrorResponses
// for clients refused at accept.
extern const front_end postgresql_front_end;

}  // namespace sluice::router::pg
