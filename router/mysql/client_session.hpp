// One MySQL/MariaDB client connection: the login (auth::client_login), then the loop that routes each
// transaction (or statement outside one) to the primary or a replica through the session engine, lends
// it a pooled MySQL server connection, replays the client's session state there, and relays the answer.
// The sans-IO pieces decide (client_login, classify in the MySQL dialect, response_tracker,
// session_variables, the engine); this file is where the awaits happen.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/mysql/auth/client_login.hpp"
#include "backends/mysql/pool_protocol.hpp"
#include "backends/mysql/server_connection.hpp"
#include "backends/mysql/session_variables.hpp"
#include "backends/mysql/wire/response_tracker.hpp"
#include "router/classify/classifier.hpp"
#include "router/config/config.hpp"
#include "router/engine/backend_view.hpp"
#include "router/engine/refusal.hpp"
#include "router/engine/unit_admission.hpp"
#include "router/front_end.hpp"

namespace sluice::router {
class worker;
}

namespace sluice::router::mysql {

namespace asio = boost::asio;
namespace wire = backends::mysql::wire;
namespace auth = backends::mysql::auth;
using tcp = asio::ip::tcp;

// The client capabilities that shape what a server answers: a pool per combination, so that no client
// gets an answer shaped for another's flags.
// CLIENT_LOCAL_FILES too: a server may ask only a client that can answer for a file.
inline constexpr wire::capabilities answer_shaping_flags =
    wire::client_found_rows | wire::client_deprecate_eof | wire::client_multi_statements | wire::client_local_files;

// The MySQL front end's state on one worker: its server pools (one per backend, database, user and the
// client flags that shape answers), which backends are marked down, and the users' credentials. MySQL
// backends have no probes yet (a follow-up brings them into scoring): a replica is chosen round-robin
// among those not marked down, and writes go to the configured primary.
class worker_state final : public worker_extension, public engine::backend_view, public auth::credential_lookup {
 public:
  explicit worker_state(worker& owner);
  ~worker_state() override;

  // The pool for (backend, database, user, flags), created on first use. `flags`: the client's
  // capabilities that change the server's answers (found rows, deprecate EOF, multi-statements).
  backends::mysql::server_pool& pool(std::size_t backend, const std::string& database,
                                     const config::mysql_user_config& user, wire::capabilities flags);
  // A backend that refused a connection is skipped for routing.retry_interval.
  void mark_down(std::size_t backend);
  bool available(std::size_t backend) const;
  // The configured primary (one that refused is retried).
  std::optional<std::size_t> primary() const noexcept { return primary_; }
  const config::mysql_user_config* find_user(std::string_view name) const;
  std::uint32_t next_connection_id() noexcept;

  // engine::backend_view (no replay positions for MySQL yet: read_your_writes is the follow-up's).
  std::optional<std::size_t> choose_replica(scoring::backend_set exclude, std::uint64_t min_position) override;
  std::optional<std::size_t> most_advanced_replica(scoring::backend_set exclude) const override;
  bool all_replicas_reached(std::uint64_t position) const override;
  std::uint64_t primary_probe_position() const override { return 0; }
  // auth::credential_lookup
  const auth::client_credential* find(std::string_view user) const override;
  // worker_extension
  void shutdown() noexcept override;
  void maintain(std::chrono::steady_clock::time_point now) override;

 private:
  worker& owner_;
  std::unordered_map<std::string, std::unique_ptr<backends::mysql::server_pool>> pools_;
  std::vector<std::chrono::steady_clock::time_point> down_until_;
  std::size_t next_replica_ = 0;  // round-robin position
  std::optional<std::size_t> primary_;
  std::unordered_map<std::string, auth::client_credential> credentials_;
};

class client_session final : public served_client,
                             public std::enable_shared_from_this<client_session>,
                             private engine::admission_hooks {
 public:
  client_session(worker& owner, worker_state& state, tcp::socket socket, const tcp::endpoint& peer);
  ~client_session();

  asio::awaitable<void> run();
  client_summary summary() const override;
  void shutdown_if_idle() override;

 private:
  // Login, bounded by limits.startup_timeout; false: refused or gone.
  asio::awaitable<bool> login();
  asio::awaitable<bool> login_steps();
  // Sends what the login machine wrote and feeds it the client's packets until it accepts (true) or
  // refuses (its ERR sent).
  asio::awaitable<bool> login_exchange(auth::client_login::step step);
  // The login's result becomes the session's user, database, flags and initial character set.
  bool adopt_login();
  asio::awaitable<bool> on_change_user(const wire::message_view& message);
  // COM_SET_OPTION: multi-statements on or off.
  asio::awaitable<bool> on_set_option(const wire::message_view& message);
  // KILL [QUERY] id and COM_PROCESS_KILL: `id` is sluice's connection id of a client, maybe on another
  // worker. Its running statement is stopped with KILL QUERY and the server's thread id, sent on another
  // connection to that backend; KILL CONNECTION also ends that client's session. Only its own user may.
  asio::awaitable<bool> on_kill(std::uint64_t id, bool query_only);
  // Sends KILL QUERY <thread_id> to `backend` on a connection opened for it (outside the pool, whose
  // last connection the statement may hold); false when it got no answer.
  asio::awaitable<bool> kill_on_server(std::size_t backend, std::uint32_t thread_id);

 public:
  // What a KILL found, decided on the target session's own worker thread (prepare_kill).
  struct kill_plan {
    bool found = false;        // the session still exists
    bool owner = false;        // the killer is the same user
    bool running = false;      // a statement of it is under way on a server connection
    std::size_t backend = 0;   // where (with running)
    std::uint32_t thread_id = 0;
  };
  // On this session's worker: what a KILL by `user` is to do. A running statement's server connection is
  // then not pooled again until kill_answered (a KILL QUERY that reached it late would stop another
  // client's statement); KILL CONNECTION of an idle session ends it now, of a busy one after its answer.
  kill_plan prepare_kill(std::string_view user, bool query_only);
  void kill_answered(std::size_t backend, std::uint32_t thread_id);

 private:
  asio::awaitable<void> serve();
  // One client command (a whole message at the front of client_in_); false: end the session.
  asio::awaitable<bool> on_command(const wire::message_view& message);
  enum class internal_result {
    ok,            // the server answered OK (or its result set ended)
    server_error,  // the server answered ERR (kept in internal_error_)
    io_failed,     // the connection failed: close it
  };
  // A statement a client prepared (COM_STMT_PREPARE), under the id sluice gave it. Server connections
  // know it by text_id and prepare it lazily (prepare_on_server), so a client's statements work on
  // whichever pooled connection runs its next execute.
  struct client_statement {
    std::string sql;
    std::uint64_t text_id = 0;  // worker::statement_id: its key on server connections
    classify::classification kind;
    std::uint16_t num_params = 0;
    std::vector<std::uint8_t> types;  // the parameter types the client bound last (2 bytes each)
    // COM_STMT_SEND_LONG_DATA pieces, kept until the next execute sends them ahead of it on the server
    // connection it runs on (that may not be the one attached now).
    std::vector<std::pair<std::uint16_t, std::vector<std::uint8_t>>> long_data;
    std::size_t long_data_bytes = 0;
    void drop_long_data() noexcept {
      long_data.clear();
      long_data_bytes = 0;
    }
  };

  // COM_QUERY: classified in the MySQL dialect, then run where the route decision says.
  asio::awaitable<bool> on_query(const wire::message_view& message);
  // COM_STMT_*: prepare (on a server connection, the answer relayed under sluice's id), execute (lazily
  // prepared on the connection that runs it), fetch and reset (on the attached connection), long data
  // (kept), close (local: no answer).
  asio::awaitable<bool> on_statement_command(const wire::message_view& message);
  // classify() in the MySQL dialect with the configured write functions.
  classify::classification classify_sql(std::string_view sql) const;
  // The route of a statement of this kind for this session now.
  classify::route route_for(const classify::classification& kind) const;
  // Runs the command on a server connection (attaching one for `target` if none is attached) and
  // relays the answer; false: end the session. `sql`: the text for tenant admission. `statement`: the
  // prepared statement a COM_STMT_EXECUTE / FETCH / RESET names (its id rewritten for the server).
  asio::awaitable<bool> run_on_server(const wire::message_view& message, classify::route target,
                                      const classify::classification& kind, std::string_view sql,
                                      client_statement* statement = nullptr);
  // After a command's answer: the unit ends unless a transaction is open, and the connection goes back
  // to the pool unless the session keeps it.
  void command_done();
  // Makes sure the attached connection has prepared `statement` (COM_STMT_PREPARE of sluice's own,
  // its answer swallowed).
  asio::awaitable<internal_result> prepare_on_server(client_statement& statement);
  // The command to send for a statement command: its id the server's, for an execute the parameter
  // types added when the connection has not seen the ones the client bound, long data first.
  void encode_statement_command(const wire::message_view& message, client_statement& statement);
  // Appends the COM_STMT_CLOSEs the attached connection owes the server (statements it forgot).
  void append_owed_closes(wire::byte_buffer& out);
  // Lends a server connection for `target` and gives it this session's state; false with the
  // refusal in client_out_ (or the session must end: `fatal_`).
  asio::awaitable<bool> attach(classify::route target, const classify::classification& kind);
  // Makes the attached connection's schema and variables this session's (tracking armed first on a
  // fresh one). False: the connection failed or refused (its ERR in internal_error_).
  asio::awaitable<bool> sync_state();

  // Sends one command of sluice's own on the attached connection and swallows its answer, learning
  // the session state its OKs report into the connection's state.
  asio::awaitable<internal_result> run_internal(std::uint8_t command, std::string_view body);
  // Sends `bytes` (encoding `command`) on `connection` and reads its whole answer through `tracker`,
  // calling visit(message) for each message before it is consumed. The loop run_internal and the KILL
  // QUERY connection share.
  template <class Visit>
  static asio::awaitable<internal_result> exchange(backends::mysql::server_connection& connection,
                                                   wire::response_tracker& tracker, std::uint8_t command,
                                                   wire::bytes_view bytes, Visit visit);
  // Relays the attached connection's answer to the command just sent; false: the server failed.
  asio::awaitable<bool> relay_answer();
  // LOAD DATA LOCAL INFILE (mysql.local_infile): after the server's file request went to the client, its
  // file's packets go to the server up to the empty one that ends it. False: either side failed.
  asio::awaitable<bool> relay_infile();
  void learn_from_ok(wire::bytes_view payload, bool to_client);
  // Relays the server's PREPARE_OK under a new id of this session's, and records the statement.
  void prepared_answer(const wire::message_view& message);
  // The pool of `backend` for this session's database, user and flags (cached per session).
  backends::mysql::server_pool& pool_for(std::size_t backend);
  void release_server(bool reusable);
  // SELECT ROW_COUNT() on its own, answered from the OK of the client's previous statement (its
  // connection may be another client's by now).
  static bool is_row_count_query(std::string_view sql) noexcept;
  void answer_row_count();
  // Keeps the session on its server connection from now on (counted in sessions_pinned).
  void pin();
  bool autocommit_off() const;  // the session SET autocommit = 0 (learnt from the session tracker)
  void refuse(const engine::refusal& why);
  void refuse(engine::refusal_code code, std::string_view message);
  void refuse_protocol(std::string_view message);  // protocol_violation: 1047 / 08S01
  void send_error(std::uint16_t number, std::string_view sqlstate, std::string_view message);
  void send_ok();
  // What the socket takes now (engine::send_now), then the rest with async_write.
  static asio::awaitable<bool> write_socket(tcp::socket& socket, wire::bytes_view bytes);
  asio::awaitable<bool> write_client(wire::bytes_view bytes);
  // engine::admission_hooks
  asio::awaitable<bool> flush_client() override;
  bool client_left() override;

  worker& owner_;
  worker_state& state_;
  tcp::socket client_;
  tcp::endpoint peer_;
  backends::mysql::read_buffer client_in_{4096};
  wire::byte_buffer client_out_;
  wire::byte_buffer server_out_;
  std::chrono::system_clock::time_point connected_at_{};
  std::uint32_t connection_id_ = 0;

  const config::mysql_user_config* user_ = nullptr;
  std::string user_name_;
  std::string database_;  // as logged in (pools are per database)
  wire::capabilities client_caps_ = 0;
  backends::mysql::session_variables vars_;  // this client's schema and variables
  bool pinned_ = false;        // session state that cannot move: stay on one primary connection
  bool session_mode_ = false;  // pool_mode = session
  bool fatal_ = false;         // the session must end after client_out_ is sent
  bool draining_told_ = false;
  bool registered_ = false;
  bool in_login_ = false;       // login() runs: its deadline may still cancel the client socket
  bool login_expired_ = false;  // limits.startup_timeout passed during the login

  std::vector<backends::mysql::server_pool*> pools_;  // by backend index, filled by pool_for
  std::unique_ptr<backends::mysql::server_connection> server_;  // attached for the current unit
  wire::response_tracker tracker_;
  std::vector<std::uint8_t> internal_error_;  // the ERR payload of sluice's own failed command
  std::uint8_t command_ = 0;                  // the client command under way
  wire::stmt_execute execute_;                // a COM_STMT_EXECUTE under way, decoded once
  std::optional<auth::client_login> login_;   // kept for COM_CHANGE_USER
  bool message_consumed_ = false;             // on_command consumed its message itself
  std::size_t command_size_ = 0;              // the client command's size in client_in_ (serve)
  wire::bytes_view payload_;                  // the client command's whole payload (on_command)
  wire::byte_buffer joined_payload_;          // ... joined when it came in 16 MiB chunks
  bool server_options_changed_ = false;       // COM_SET_OPTION reached the attached connection
  bool busy_ = false;                         // a client command is under way (serve)
  bool relayed_any_ = false;                  // part of the current answer went to client_out_
  // classification::uses_previous_result (LAST_INSERT_ID(), SHOW WARNINGS ...): from the OKs relayed,
  // the session's last generated id and the last statement's warning count; a statement with warnings
  // keeps its connection until the next one (held_for_next_), which uses it if it asks for them.
  std::uint64_t last_insert_id_ = 0;
  std::uint16_t last_warnings_ = 0;
  std::int64_t last_row_count_ = -1;  // ROW_COUNT() after the last statement relayed
  bool held_for_next_ = false;
  bool wants_previous_ = false;  // the command about to run reads what the previous one left
  // A KILL QUERY is on its way to this server connection (backend, thread id): it is not pooled again.
  std::optional<std::pair<std::size_t, std::uint32_t>> being_killed_;
  std::unordered_map<std::uint32_t, client_statement> statements_;  // by the id the client knows
  std::uint32_t next_statement_id_ = 1;
  std::uint32_t last_prepared_id_ = 0;  // MariaDB's id 0xFFFFFFFF ("the last one prepared") names it
  // During a COM_STMT_PREPARE: the statement that gets an id when the server's PREPARE_OK is relayed.
  std::optional<client_statement> preparing_;
  engine::unit_admission units_{owner_, client_, *this};
};

// The MySQL listener's protocol (worker::listen): a session per client, ERR packets for clients
// refused at accept, and worker_state per worker.
extern const front_end mysql_front_end;

}  // namespace sluice::router::mysql
