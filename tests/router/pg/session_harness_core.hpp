// Session harness, the part without Catch2 (the session fuzzer links it too): a real worker runs real
// client sessions (pg::start_client_session) against fake PostgreSQL servers (fake_pg_server.hpp),
// driven by scripted raw clients that check every answer, and run_script checks that every server
// connection was returned or closed. session_harness.hpp adds check_network_errors.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <csignal>
#include <map>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "router/config/config.hpp"
#include "router/pg/client_session.hpp"
#include "router/shared_state.hpp"
#include "router/worker.hpp"
#include "tests/router/pg/fake_pg_server.hpp"

namespace sluice::testing {

using namespace std::chrono_literals;

// Frontend messages of one script step, and how many ReadyForQuery they are owed (one per Query or
// Sync): `requests` certainly, and up to `maybe_requests` more (a Query or FunctionCall that the server
// skips when an extended batch before it failed). `texts`: the statement texts the fake server may
// echo back in a DataRow. `ends_session`: a Terminate is among them.
class fe_messages {
 public:
  fe_messages& query(std::string_view sql) {
    wire::encode_query(bytes, sql);
    ++requests;
    for (auto& statement : split_statements(sql)) texts.push_back(std::move(statement));
    return *this;
  }
  fe_messages& parse(std::string_view name, std::string_view sql) {
    wire::encode_parse(bytes, name, sql, 0, {});
    texts.emplace_back(sql);
    return *this;
  }
  fe_messages& bind(std::string_view portal = "", std::string_view statement = "") {
    static constexpr std::uint8_t no_parameters[6] = {0, 0, 0, 0, 0, 0};  // formats, values, result formats
    wire::encode_bind(bytes, portal, statement, no_parameters);
    return *this;
  }
  fe_messages& describe(char kind, std::string_view name = "") {
    wire::encode_describe(bytes, kind, name);
    return *this;
  }
  fe_messages& execute(std::string_view portal = "") {
    wire::message_builder(bytes, wire::fe::execute).add_string(portal).add_int32(0).finish();
    return *this;
  }
  fe_messages& close(char kind, std::string_view name) {
    wire::encode_close(bytes, kind, name);
    return *this;
  }
  fe_messages& sync() {
    wire::encode_sync(bytes);
    ++requests;
    return *this;
  }
  fe_messages& flush() {
    wire::message_builder(bytes, wire::fe::flush).finish();
    return *this;
  }
  // FunctionCall of function `oid` without arguments (the fake server answers NULL).
  fe_messages& function_call(std::int32_t oid) {
    wire::message_builder(bytes, wire::fe::function_call).add_int32(oid).add_int16(0).add_int16(0).add_int16(0).finish();
    ++requests;
    return *this;
  }
  fe_messages& copy_data(std::string_view data) {
    wire::message_builder(bytes, wire::fe::copy_data).add_raw(data).finish();
    return *this;
  }
  fe_messages& copy_done() {
    wire::message_builder(bytes, wire::fe::copy_done).finish();
    return *this;
  }
  fe_messages& copy_fail(std::string_view reason) {
    wire::message_builder(bytes, wire::fe::copy_fail).add_string(reason).finish();
    return *this;
  }
  fe_messages& terminate() {
    wire::encode_terminate(bytes);
    ends_session = true;
    return *this;
  }
  // Bytes as they are (a malformed message, a truncated one).
  fe_messages& raw(std::initializer_list<std::uint8_t> data) {
    bytes.insert(bytes.end(), data.begin(), data.end());
    return *this;
  }
  // The last Query or FunctionCall added may be skipped by the server: owed maybe, not certainly.
  fe_messages& maybe_answered() {
    --requests;
    ++maybe_requests;
    return *this;
  }
  // The last Query or FunctionCall added is certainly skipped by the server: owed nothing.
  fe_messages& not_answered() {
    --requests;
    return *this;
  }

  wire::byte_buffer bytes;
  std::size_t requests = 0;
  std::size_t maybe_requests = 0;
  bool ends_session = false;
  std::vector<std::string> texts;
};

// A raw PostgreSQL client on a socket of the worker's io_context. It checks what it receives as it
// arrives: framing, one ReadyForQuery per Query/Sync and never one it is not owed, a SQLSTATE in
// every ErrorResponse, nothing after a FATAL, and DataRows only from its own statements.
class test_client {
 public:
  test_client(asio::io_context& io, std::string name, std::string own_tag, std::string other_tag)
      : socket(io), name_(std::move(name)), tag_(std::move(own_tag)), other_tag_(std::move(other_tag)) {}

  void start() { asio::co_spawn(socket.get_executor(), read_loop(), asio::detached); }

  // Still talking to sluice: neither left, nor closed on, nor told FATAL, nor said Terminate.
  bool usable() const noexcept { return connected_ && !left_ && !closed_ && !fatal_ && !terminated_; }
  // Nothing more to wait for: every answer owed arrived, or the conversation is over.
  bool settled() const noexcept { return left_ || closed_ || (!fatal_ && ready_ >= owed_); }
  bool closed() const noexcept { return closed_; }
  std::size_t owed() const noexcept { return owed_; }
  std::size_t owed_at_most() const noexcept { return owed_ + maybe_owed_; }
  std::size_t ready() const noexcept { return ready_; }
  const std::vector<std::string>& problems() const noexcept { return problems_; }
  const std::string& name() const noexcept { return name_; }

  void connected() { connected_ = true; }

  void send_startup(const std::vector<std::pair<std::string, std::string>>& parameters) {
    std::vector<wire::startup_parameter> list;
    for (const auto& [key, value] : parameters) list.push_back({key, value});
    fe_messages startup;
    wire::encode_startup_message(startup.bytes, list);
    startup.requests = 1;  // the greeting ends with ReadyForQuery
    send(startup);
  }

  void send(const fe_messages& messages) {
    if (!usable()) return;
    owed_ += messages.requests;
    maybe_owed_ += messages.maybe_requests;
    texts_.insert(texts_.end(), messages.texts.begin(), messages.texts.end());
    if (messages.ends_session) terminated_ = true;
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(messages.bytes), ec);  // small: fits the socket buffer
  }

  void terminate() {
    if (!usable()) return;
    fe_messages bye;
    wire::encode_terminate(bye.bytes);
    terminated_ = true;
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(bye.bytes), ec);
  }

  // The client goes away: FIN, or RST when `reset`.
  void leave(bool reset) {
    if (left_) return;
    left_ = true;
    boost::system::error_code ignored;
    if (reset) socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }

  // What arrived since the last call, as tokens: "R:0 S K Z:I T D:<value> C:<tag> E:<severity>:<code> ...".
  std::string take_transcript() { return std::exchange(transcript_, std::string()); }
  // The BackendKeyData sluice sent at login (for CancelRequests).
  const wire::backend_key_data& backend_key() const noexcept { return key_; }

  void problem(std::string text) { problems_.push_back(std::move(text)); }

 private:
  static constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

  asio::awaitable<void> read_loop() {
    std::vector<std::uint8_t> in;
    std::uint8_t chunk[4096];
    for (;;) {
      auto [ec, count] = co_await socket.async_read_some(asio::buffer(chunk), use_tuple);
      if (ec) break;
      in.insert(in.end(), chunk, chunk + count);
      std::size_t offset = 0;
      for (;;) {
        const auto frame = wire::frame_message(wire::bytes_view(in).subspan(offset), std::size_t{1} << 30);
        if (frame.status == wire::frame_status::need_more) break;
        if (frame.status != wire::frame_status::ok) {
          problem("malformed message framing from sluice");
          offset = in.size();
          break;
        }
        on_message(frame.message);
        offset += frame.message.wire_size;
      }
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(offset));
    }
    if (left_) co_return;
    closed_ = true;
    if (!fatal_ && !terminated_) {
      problem("sluice closed the connection without a FATAL (" + std::to_string(ready_) + " of " +
              std::to_string(owed_) + " ReadyForQuery received)");
    }
    if (!in.empty()) problem("connection closed in the middle of a message");
  }

  void token(std::string text) {
    if (!transcript_.empty()) transcript_ += ' ';
    transcript_ += text;
  }

  void on_message(const wire::message_view& m) {
    if (fatal_) problem(std::string("message '") + m.type + "' after a FATAL");
    switch (m.type) {
      case wire::be::ready_for_query: {
        const auto status = wire::decode_ready_for_query(m.payload);
        if (!status) problem("malformed ReadyForQuery");
        if (ready_ >= owed_ + maybe_owed_) {
          problem("ReadyForQuery while idle (all " + std::to_string(owed_ + maybe_owed_) + " owed were received)");
        }
        ++ready_;
        token(std::string("Z:") + (status ? static_cast<char>(*status) : '?'));
        break;
      }
      case wire::be::error_response: {
        std::string severity;
        std::string code;
        const bool well_formed = wire::for_each_error_field(m.payload, [&](char field, std::string_view value) {
          if (field == 'V' || (field == 'S' && severity.empty())) severity = std::string(value);
          if (field == 'C') code = std::string(value);
        });
        if (!well_formed) problem("malformed ErrorResponse");
        if (code.size() != 5) problem("ErrorResponse without a SQLSTATE");
        if (severity.empty()) problem("ErrorResponse without a severity");
        if (severity == "FATAL" || severity == "PANIC") fatal_ = true;
        token("E:" + severity + ":" + code);
        break;
      }
      case wire::be::data_row: {
        wire::string_reader row(m.payload);
        std::string value;
        const auto columns = row.next_int16();
        if (columns && *columns > 0) {
          if (const auto length = row.next_int32(); length && *length >= 0) {
            if (const auto bytes = row.next_bytes(static_cast<std::size_t>(*length))) {
              value.assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
            }
          }
        }
        if (!other_tag_.empty() && value.find(other_tag_) != std::string::npos) {
          problem("received another client's data: " + value);
        } else if (!value.starts_with("show:") && std::find(texts_.begin(), texts_.end(), value) == texts_.end()) {
          problem("received a row from no statement of this client: " + value);
        }
        token("D:" + value);
        break;
      }
      case wire::be::command_complete:
        token("C:" + std::string(wire::decode_command_complete(m.payload).value_or("?")));
        break;
      case wire::be::backend_key_data:
        if (const auto key = wire::decode_backend_key_data(m.payload)) key_ = *key;
        token("K");
        break;
      case wire::be::authentication: {
        const auto auth = wire::decode_authentication(m.payload);
        token("R:" + std::to_string(auth ? static_cast<int>(auth->code) : -1));
        break;
      }
      default:
        token(std::string(1, m.type));
        break;
    }
  }

 public:
  tcp::socket socket;

 private:
  std::string name_;
  std::string tag_;
  std::string other_tag_;
  std::vector<std::string> texts_;
  std::string transcript_;
  wire::backend_key_data key_{};
  std::vector<std::string> problems_;
  std::size_t owed_ = 0;
  std::size_t maybe_owed_ = 0;
  std::size_t ready_ = 0;
  bool connected_ = false;
  bool left_ = false;
  bool closed_ = false;
  bool fatal_ = false;
  bool terminated_ = false;
};

enum class client_fault {
  none,
  leave_before,  // the client closes instead of sending the step's messages
  leave_after,   // sends them, then closes at once (FIN) without reading the answer
  reset_after,   // sends them, then resets (RST)
};

inline const char* to_string(client_fault fault) {
  switch (fault) {
    case client_fault::none: return "none";
    case client_fault::leave_before: return "leave_before";
    case client_fault::leave_after: return "leave_after";
    case client_fault::reset_after: return "reset_after";
  }
  return "?";
}

struct fault {
  server_fault server = server_fault::none;
  std::size_t server_step = 0;  // 1-based message number over all fake servers
  client_fault client = client_fault::none;
  std::size_t client_step = 0;  // 1-based number of the client step (connect or send)
  bool clean() const noexcept { return server == server_fault::none && client == client_fault::none; }
};

struct step {
  enum class kind { connect, send, wait, settle, leave } what = kind::send;
  std::size_t client = 0;
  fe_messages messages;
  std::string expect;          // wait: the clean run's transcript since this client's last wait
  std::size_t pool_waiting = 0;  // settle: clients queued for a pool connection (checked in the clean run)
  bool check_waiting = false;
  bool reset = false;            // leave: with RST instead of FIN
};

// A conversation: clients 0 ("A") and 1 ("B") connect, send and wait, in this order. Rows the fake
// server echoes carry the statement text, so texts should contain the client's tag ("A-", "B-").
class script {
 public:
  explicit script(std::string name) : name_(std::move(name)) {}

  script& backends(std::size_t count) {
    backends_ = count;
    return *this;
  }
  // Extra lines for the [[users]] entry of the user "app" (e.g. "pool_size = 1").
  script& user_options(std::string toml) {
    user_options_ = std::move(toml);
    return *this;
  }
  script& startup_parameter(std::string key, std::string value) {
    startup_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  script& connect(std::size_t client) {
    clients_ = std::max(clients_, client + 1);
    steps_.push_back({step::kind::connect, client, {}, {}, 0, false});
    return wait(client);
  }
  script& send(std::size_t client, fe_messages messages) {
    steps_.push_back({step::kind::send, client, std::move(messages), {}, 0, false});
    return *this;
  }
  script& wait(std::size_t client) {
    steps_.push_back({step::kind::wait, client, {}, {}, 0, false});
    return *this;
  }
  script& run(std::size_t client, fe_messages messages) { return send(client, std::move(messages)).wait(client); }
  script& query(std::size_t client, std::string_view sql) { return run(client, fe_messages().query(sql)); }
  // The clean run's transcript at the last wait.
  script& expect(std::string transcript) {
    steps_.back().expect = std::move(transcript);
    return *this;
  }
  // Runs the io_context until nothing is ready to run; in the clean run, `waiting` clients must then
  // be queued for a pool connection.
  script& settle(std::size_t waiting) {
    steps_.push_back({step::kind::settle, 0, {}, {}, waiting, true});
    return *this;
  }
  // Runs the io_context until nothing is ready to run, checking nothing.
  script& settle() {
    steps_.push_back({step::kind::settle, 0, {}, {}, 0, false});
    return *this;
  }
  // The client goes away without a Terminate: FIN, or RST when `reset`.
  script& leave(std::size_t client, bool reset) {
    steps_.push_back({step::kind::leave, client, {}, {}, 0, false, reset});
    return *this;
  }
  // pool.query_wait_timeout (default 2 s).
  script& query_wait_timeout(std::chrono::milliseconds timeout) {
    query_wait_timeout_ = timeout;
    return *this;
  }
  // What backend `index` receives in the clean run, "<connection>|<message>", each a prefix.
  script& server_receives(std::size_t index, std::vector<std::string> entries) {
    if (server_expect_.size() <= index) server_expect_.resize(index + 1);
    server_expect_[index] = std::move(entries);
    return *this;
  }

  const std::string& name() const noexcept { return name_; }
  std::size_t backend_count() const noexcept { return backends_; }
  std::size_t client_count() const noexcept { return clients_; }
  const std::string& user_options_text() const noexcept { return user_options_; }
  std::chrono::milliseconds query_wait_timeout_value() const noexcept { return query_wait_timeout_; }
  const std::vector<std::pair<std::string, std::string>>& startup() const noexcept { return startup_; }
  const std::vector<step>& steps() const noexcept { return steps_; }
  const std::vector<std::vector<std::string>>& server_expect() const noexcept { return server_expect_; }

 private:
  std::string name_;
  std::size_t backends_ = 1;
  std::size_t clients_ = 0;
  std::string user_options_;
  std::chrono::milliseconds query_wait_timeout_{2000};
  std::vector<std::pair<std::string, std::string>> startup_;
  std::vector<step> steps_;
  std::vector<std::vector<std::string>> server_expect_;
};

struct run_report {
  std::vector<std::string> problems;
  std::size_t server_steps = 0;  // messages the fake servers received
  std::size_t client_steps = 0;  // connect and send steps
  std::string fired_at;          // the message the server fault hit
  std::string server_log;        // every fake server's log, for failure reports
};

// Runs the io_context until `done` or `limit` passes (a safety net: a hang is reported, not waited
// out). False when the limit passed.
template <class Done>
bool run_until(asio::io_context& io, Done&& done, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    io.run_one_for(10ms);
    if (io.stopped()) io.restart();
  }
  return true;
}

// Runs whatever is ready until nothing is (loopback writes are readable at once, so everything a
// step set off has happened), bounded in case something keeps itself busy.
inline void settle(asio::io_context& io) {
  for (int round = 0; round < 10000 && io.poll() > 0; ++round) {
    if (io.stopped()) io.restart();
  }
  if (io.stopped()) io.restart();
}

// Silences sluice's logging for a run (failures are expected and would flood the output).
struct quiet_logs {
  quiet_logs() : previous(spdlog::get_level()) { spdlog::set_level(spdlog::level::off); }
  ~quiet_logs() { spdlog::set_level(previous); }
  spdlog::level::level_enum previous;
};

// `routing`: more [routing] lines ("key = value\n"), for tests that change a routing setting.
inline std::string config_text(const script& s, const std::vector<std::unique_ptr<fake_pg_server>>& servers,
                               std::string_view routing = {}) {
  std::ostringstream text;
  text << "listen = \"127.0.0.1:6432\"\n"  // never bound: the harness hands sockets to sessions itself
       << "workers = 1\n"
       << "[pool]\nsize = 4\nconnect_timeout = \"2s\"\nquery_wait_timeout = \"" << s.query_wait_timeout_value().count()
       << "ms\"\nretry_interval = \"1ms\"\n"
       << "[routing]\nbalance = \"round_robin\"\n" << routing;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    text << "[[backends]]\nname = \"" << servers[i]->name() << "\"\nhost = \"127.0.0.1\"\nport = " << servers[i]->port()
         << "\nrole = \"" << (i == 0 ? "primary" : "replica") << "\"\n";
  }
  text << "[[users]]\nname = \"app\"\nauth = \"trust\"\n" << s.user_options_text() << "\n";
  return text.str();
}

// One run of `s` with `f` injected; every invariant that failed is a line in the report.
// `on_fire`: told at once when the server fault fires.
inline run_report run_script(const script& s, const fault& f,
                             std::function<void(const std::string&)> on_fire = nullptr) {
  std::optional<quiet_logs> quiet; if (!std::getenv("SLUICE_HARNESS_LOGS")) quiet.emplace();
  std::signal(SIGPIPE, SIG_IGN);
  run_report report;
  fault_plan plan{f.server_step, f.server, 0, {}, std::move(on_fire)};
  // Destroyed in reverse: clients and fake servers (sockets of the worker's io_context) before the
  // worker, the worker (its sessions) before the shared state.
  std::unique_ptr<router::shared_state> shared;
  std::unique_ptr<router::worker> owner;
  std::vector<std::unique_ptr<fake_pg_server>> servers;
  for (std::size_t i = 0; i < s.backend_count(); ++i) {
    servers.push_back(std::make_unique<fake_pg_server>("pg" + std::to_string(i + 1), i != 0, plan));
  }
  shared = std::make_unique<router::shared_state>(router::config::load_config_text(config_text(s, servers), "harness.toml"));
  owner = std::make_unique<router::worker>(*shared, 0);
  auto& io = owner->io();
  for (auto& server : servers) server->start(io);
  tcp::acceptor front(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<std::unique_ptr<test_client>> clients;
  for (std::size_t i = 0; i < s.client_count(); ++i) {
    const std::string tag = i == 0 ? "A-" : "B-";
    const std::string other = s.client_count() > 1 ? (i == 0 ? "B-" : "A-") : "";
    clients.push_back(std::make_unique<test_client>(io, i == 0 ? "A" : "B", tag, other));
  }
  const auto problem = [&](std::string text) { report.problems.push_back(std::move(text)); };
  const auto pools_waiting = [&] {
    std::size_t waiting = 0;
    for (const auto& figures : owner->pool_figures()) waiting += figures.stats.waiting;
    return waiting;
  };

  std::size_t client_step = 0;
  for (const auto& st : s.steps()) {
    auto& client = *clients[st.client];
    if (st.what == step::kind::connect || st.what == step::kind::send) {
      ++client_step;
      const bool faulty = f.client != client_fault::none && f.client_step == client_step;
      if (st.what == step::kind::connect) {
        boost::system::error_code ec;
        client.socket.connect(front.local_endpoint(), ec);
        client.socket.set_option(tcp::no_delay(true), ec);
        tcp::endpoint peer;
        auto accepted = front.accept(peer, ec);
        if (ec) {
          problem("cannot connect the test client: " + ec.message());
          break;
        }
        shared->clients.fetch_add(1);  // as worker::accept_loop counts it
        router::pg::start_client_session(*owner, std::move(accepted), peer);
        client.connected();
        client.start();
      }
      if (faulty && f.client == client_fault::leave_before) {
        client.leave(false);
        continue;
      }
      if (st.what == step::kind::connect) {
        auto parameters = s.startup();
        parameters.insert(parameters.begin(), {{"user", "app"}, {"database", "appdb"}});
        client.send_startup(parameters);
      } else {
        client.send(st.messages);
      }
      if (faulty) client.leave(f.client == client_fault::reset_after);
    } else if (st.what == step::kind::leave) {
      client.leave(st.reset);
    } else if (st.what == step::kind::wait) {
      if (!run_until(io, [&] { return client.settled(); }, 3000ms)) {
        problem("client " + client.name() + ": timed out waiting: " + std::to_string(client.ready()) + " of " +
                std::to_string(client.owed()) + " ReadyForQuery");
      }
      const auto transcript = client.take_transcript();
      if (f.clean() && !st.expect.empty() && transcript != st.expect) {
        problem("client " + client.name() + ": expected \"" + st.expect + "\"\n      got \"" + transcript + "\"");
      }
    } else {
      settle(io);
      if (f.clean() && st.check_waiting && pools_waiting() != st.pool_waiting) {
        problem("expected " + std::to_string(st.pool_waiting) + " client(s) waiting for a pool connection, found " +
                std::to_string(pools_waiting()));
      }
    }
  }
  report.client_steps = client_step;

  // The end: clients still talking are owed nothing more, then say goodbye.
  for (auto& client : clients) {
    if (client->usable() && (client->ready() < client->owed() || client->ready() > client->owed_at_most())) {
      client->problem("owed " + std::to_string(client->owed()) +
                      (client->owed_at_most() != client->owed() ? " to " + std::to_string(client->owed_at_most()) : "") +
                      " ReadyForQuery, received " + std::to_string(client->ready()));
    }
    client->terminate();
  }
  if (!run_until(io, [&] {
        return std::all_of(clients.begin(), clients.end(), [](const auto& c) { return !c->usable(); }) &&
               std::all_of(clients.begin(), clients.end(), [](const auto& c) { return c->settled(); });
      }, 3000ms)) {
    problem("a session did not close its client connection after Terminate or FATAL");
  }
  for (auto& client : clients) client->leave(false);
  if (!run_until(io, [&] { return shared->clients.load() == 0; }, 3000ms)) {
    problem(std::to_string(shared->clients.load()) + " session(s) did not end");
  }
  // Every server connection is back in its pool or closed: the fake servers see exactly the pools'
  // idle connections still open, each in a clean state.
  const auto idle_of = [&](std::size_t backend) {
    std::size_t idle = 0;
    for (const auto& figures : owner->pool_figures()) {
      if (figures.backend == backend) idle += figures.stats.idle;
    }
    return idle;
  };
  // An idle connection the server closed after sluice took it back is found by the worker's periodic
  // reap (maintenance_loop, not run here), as in the process: reap now, as that loop would.
  const auto reap_pools = [&] {
    for (const auto& figures : owner->pool_figures()) {
      if (const auto* user = shared->find_user(figures.user)) {
        owner->pool(figures.backend, figures.database, *user->config).reap(sluice::backends::pg::steady_clock::now());
      }
    }
  };
  run_until(io, [&] {
    reap_pools();
    for (std::size_t b = 0; b < servers.size(); ++b) {
      if (servers[b]->open_connections() != idle_of(b)) return false;
    }
    return true;
  }, 2000ms);
  for (const auto& figures : owner->pool_figures()) {
    const std::string pool = "pool (" + servers[figures.backend]->name() + ", " + figures.database + ", " + figures.user + ")";
    if (figures.stats.total != figures.stats.idle) {
      problem(pool + ": " + std::to_string(figures.stats.total - figures.stats.idle) +
              " connection(s) still lent out (total " + std::to_string(figures.stats.total) + ", idle " +
              std::to_string(figures.stats.idle) + ")");
    }
    if (figures.stats.waiting != 0) problem(pool + ": " + std::to_string(figures.stats.waiting) + " waiting");
    const auto* user = shared->find_user(figures.user);
    if (user != nullptr) {
      const auto in_use = owner->pool(figures.backend, figures.database, *user->config).budget().in_use();
      if (in_use != figures.stats.total) {
        problem(pool + ": budget counts " + std::to_string(in_use) + " connection(s), the pool has " +
                std::to_string(figures.stats.total));
      }
    }
  }
  for (std::size_t b = 0; b < servers.size(); ++b) {
    const auto open = servers[b]->open_connections();
    if (open != idle_of(b)) {
      problem(servers[b]->name() + ": " + std::to_string(open) + " server connection(s) open, but " +
              std::to_string(idle_of(b)) + " idle in the pool (leaked or closed without sluice noticing)");
    }
    for (const auto& c : servers[b]->connections()) {
      if (!c->open) continue;
      if (c->tx != wire::tx_status::idle || c->in_batch) {
        problem(servers[b]->name() + " connection " + std::to_string(c->id) +
                ": pooled in the middle of a transaction or batch");
      }
    }
  }
  for (const auto& client : clients) {
    for (const auto& text : client->problems()) problem("client " + client->name() + ": " + text);
  }
  for (std::size_t b = 0; b < servers.size(); ++b) {
    for (const auto& entry : servers[b]->log()) report.server_log += servers[b]->name() + " " + entry + "\n";
  }
  if (f.clean()) {
    for (std::size_t b = 0; b < s.server_expect().size() && b < servers.size(); ++b) {
      const auto& expected = s.server_expect()[b];
      const auto& got = servers[b]->log();
      bool same = expected.size() == got.size();
      for (std::size_t i = 0; same && i < expected.size(); ++i) same = got[i].starts_with(expected[i]);
      if (!same) problem(servers[b]->name() + " did not receive what the script expects");
    }
  }
  report.server_steps = plan.steps;
  report.fired_at = plan.fired_at;
  return report;
}

// --- process isolation: a run that crashes sluice is reported as a failure, not the end of the binary ---

inline void put_record(std::string& out, char tag, std::string_view value) {
  out += tag;
  out += std::to_string(value.size());
  out += ':';
  out += value;
}

inline void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

// run_script in a child process (fork: the parent never starts threads). The child streams its
// report through a pipe; a child killed by a signal (sluice aborting on a double free, say) becomes
// a problem in the report, with the fault that set it off.
inline run_report run_isolated(const script& s, const fault& f) {
  int fds[2];
  if (::pipe(fds) != 0) return run_script(s, f);
  std::FILE* errors = std::tmpfile();  // the child's stderr (glibc's abort message), for the report
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    if (errors != nullptr) std::fclose(errors);
    return run_script(s, f);
  }
  if (child == 0) {
    ::close(fds[0]);
    if (errors != nullptr) ::dup2(::fileno(errors), STDERR_FILENO);
    // Catch2's handlers would report the crash as the parent's own; let the signal kill the child.
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) std::signal(sig, SIG_DFL);
    const rlimit no_core{0, 0};  // a crash is reported by the parent; no core file per run
    ::setrlimit(RLIMIT_CORE, &no_core);
    const int out = fds[1];
    const auto report = run_script(s, f, [out](const std::string& what) {
      std::string record;
      put_record(record, 'f', what);
      write_all(out, record);
    });
    std::string records;
    for (const auto& p : report.problems) put_record(records, 'p', p);
    put_record(records, 's', std::to_string(report.server_steps));
    put_record(records, 'c', std::to_string(report.client_steps));
    put_record(records, 'l', report.server_log);
    write_all(out, records);
    ::close(out);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string bytes;
  char chunk[65536];
  for (;;) {
    const auto count = ::read(fds[0], chunk, sizeof chunk);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    bytes.append(chunk, static_cast<std::size_t>(count));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  run_report report;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const char tag = bytes[at];
    const auto colon = bytes.find(':', at);
    if (colon == std::string::npos) break;
    const auto length = std::stoul(bytes.substr(at + 1, colon - at - 1));
    std::string value = bytes.substr(colon + 1, length);
    at = colon + 1 + length;
    if (tag == 'p') report.problems.push_back(std::move(value));
    if (tag == 'f') report.fired_at = std::move(value);
    if (tag == 's') report.server_steps = std::stoul(value);
    if (tag == 'c') report.client_steps = std::stoul(value);
    if (tag == 'l') report.server_log = std::move(value);
  }
  std::string stderr_text;
  if (errors != nullptr) {
    std::rewind(errors);
    char line[512];
    while (std::fgets(line, sizeof line, errors) != nullptr) stderr_text = line;  // the last line
    std::fclose(errors);
    while (!stderr_text.empty() && stderr_text.back() == '\n') stderr_text.pop_back();
  }
  if (WIFSIGNALED(status)) {
    report.problems.push_back(std::string("the run crashed: signal ") + std::to_string(WTERMSIG(status)) + " (" +
                              ::strsignal(WTERMSIG(status)) + ")" +
                              (stderr_text.empty() ? "" : ", stderr: " + stderr_text));
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    report.problems.push_back("the run's process failed (status " + std::to_string(status) + ")");
  }
  return report;
}

inline std::string describe(const script& s, const fault& f, const run_report& r) {
  std::ostringstream text;
  text << "script \"" << s.name() << "\"";
  if (f.server != server_fault::none) {
    text << ", server fault '" << to_string(f.server) << "' at message " << f.server_step << " (" << r.fired_at << ")";
  }
  if (f.client != client_fault::none) {
    text << ", client fault '" << to_string(f.client) << "' at client step " << f.client_step;
  }
  text << ":\n";
  for (const auto& p : r.problems) text << "  - " << p << "\n";
  text << "fake servers received:\n" << r.server_log;
  return text.str();
}

}  // namespace sluice::testing
