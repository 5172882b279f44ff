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
inline constexpr wire::capabilities answer_shaping_flags =
    wire::client_found_rows | wire::client_deprecate_eof | wire::client_multi_statements;

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
  std::optional<std::size_t> primary() const;  // the configured primary (one that refused is retried)
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
  asio::awaitable<void> serve();
  // One client command (a whole message at the front of client_in_); false: end the session.
  asio::awaitable<bool> on_command(const wire::message_view& message);
  // Runs the command on a server connection (attaching one for `target` if none is attached) and
  // relays the answer; false: end the session.
  asio::awaitable<bool> run_on_server(const wire::message_view& message, classify::route target,
                                      const classify::classification& kind);
  // Lends a server connection for `target` and gives it this session's state; false with the
  // refusal in client_out_ (or the session must end: `fatal_`).
  asio::awaitable<bool> attach(classify::route target, const classify::classification& kind);
  // Makes the attached connection's schema and variables this session's (tracking armed first on a
  // fresh one). False: the connection failed or refused (its ERR in internal_error_).
  asio::awaitable<bool> sync_state();
  enum class internal_result {
    ok,            // the server answered OK (or its result set ended)
    server_error,  // the server answered ERR (kept in internal_error_)
    io_failed,     // the connection failed: close it
  };
  // Sends one command of sluice's own on the attached connection and swallows its answer, learning
  // the session state its OKs report into the connection's state.
  asio::awaitable<internal_result> run_internal(std::uint8_t command, std::string_view body);
  // Relays the attached connection's answer to the command just sent; false: the server failed.
  asio::awaitable<bool> relay_answer();
  void learn_from_ok(wire::bytes_view payload, bool to_client);
  // The pool of `backend` for this session's database, user and flags (cached per session).
  backends::mysql::server_pool& pool_for(std::size_t backend);
  void release_server(bool reusable);
  bool autocommit_off() const;  // the session SET autocommit = 0 (learnt from the session tracker)
  void refuse(const engine::refusal& why);
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

  std::vector<backends::mysql::server_pool*> pools_;  // by backend index, filled by pool_for
  std::unique_ptr<backends::mysql::server_connection> server_;  // attached for the current unit
  wire::response_tracker tracker_;
  std::vector<std::uint8_t> internal_error_;  // the ERR payload of sluice's own failed command
  engine::unit_admission units_{owner_, client_, *this};
};

// The MySQL listener's protocol (worker::listen): a session per client, ERR packets for clients
// refused at accept, and worker_state per worker.
extern const front_end mysql_front_end;

}  // namespace sluice::router::mysql
