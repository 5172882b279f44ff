// A stand-in for PostgreSQL on 127.0.0.1 for session tests without a server: it logs sluice in (trust),
// then emulates just enough of a backend (simple and extended query, transactions, settings, sluice's
// internal queries) to answer what sluice sends, and fails on command at the n-th message it receives.
// Where a client can tell, it behaves as PostgreSQL 15's postgres.c does: after an error in an extended
// batch every message but Sync is ignored (Query, FunctionCall and Flush too); a Query or FunctionCall
// ends the batch's implicit transaction; CopyData/CopyDone/CopyFail outside COPY are ignored; errors
// are flushed at once (elog.c), other extended answers only at Sync, Flush or a full buffer.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/pg/wire/codec.hpp"

namespace sluice::testing {

namespace asio = boost::asio;
namespace wire = backends::pg::wire;
using tcp = asio::ip::tcp;

// How a fake server fails when the fault plan's step comes.
enum class server_fault {
  none,
  close,    // closes the socket instead of answering (sluice reads EOF)
  reset,    // closes with SO_LINGER 0 (sluice reads ECONNRESET)
  fatal,    // sends FATAL 57P01 (administrator shutdown), then closes
  partial,  // answers the message, writes only the first half of what it owes, then closes
  slow,     // answers the message, but only after slow_answer_delay (the connection stays up)
};

// How long a `slow` answer takes: long enough for the client to give up or leave meanwhile.
inline constexpr std::chrono::milliseconds slow_answer_delay{10};

inline const char* to_string(server_fault fault) {
  switch (fault) {
    case server_fault::none: return "none";
    case server_fault::close: return "close";
    case server_fault::reset: return "reset";
    case server_fault::fatal: return "fatal";
    case server_fault::partial: return "partial";
    case server_fault::slow: return "slow";
  }
  return "?";
}

// Shared by the fake servers of one run: numbers every message they receive (startup packets
// included) in arrival order, and fires the fault at step `fail_at` (1-based; 0: never).
struct fault_plan {
  std::size_t fail_at = 0;
  server_fault mode = server_fault::none;
  std::size_t steps = 0;
  std::string fired_at;  // what the fault hit, for failure reports
  // Called at once when the fault fires (the harness records it before sluice can crash on it).
  std::function<void(const std::string&)> on_fire;

  server_fault on_message(const std::string& what) {
    ++steps;
    if (fail_at == 0 || steps != fail_at || mode == server_fault::none) return server_fault::none;
    fired_at = what;
    if (on_fire) on_fire(what);
    return mode;
  }
};

// --- small SQL helpers, shared with the test client (it predicts which texts the server echoes) ---

inline std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lowercase(text.substr(0, prefix.size())) == lowercase(prefix);
}

inline std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// Statements of a simple Query, split at semicolons outside single quotes, trimmed, empty ones dropped.
inline std::vector<std::string> split_statements(std::string_view sql) {
  std::vector<std::string> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= sql.size(); ++i) {
    if (i < sql.size() && sql[i] == '\'') quoted = !quoted;
    if (i == sql.size() || (sql[i] == ';' && !quoted)) {
      const auto piece = trim(sql.substr(start, i - start));
      if (!piece.empty()) out.emplace_back(piece);
      start = i + 1;
    }
  }
  return out;
}

// The single-quoted literals in `text`, in order ('' is a quote inside one).
inline std::vector<std::string> quoted_literals(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\'') continue;
    std::string value;
    for (++i; i < text.size(); ++i) {
      if (text[i] == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        value += '\'';
        ++i;
      } else if (text[i] == '\'') {
        break;
      } else {
        value += text[i];
      }
    }
    out.push_back(std::move(value));
  }
  return out;
}

// --- backend messages the fake server writes that sluice's codec has no encoder for ---

inline void encode_row_description(wire::byte_buffer& out, const std::vector<std::string>& columns) {
  wire::message_builder b(out, wire::be::row_description);
  b.add_int16(static_cast<std::int16_t>(columns.size()));
  for (const auto& name : columns) {
    b.add_string(name).add_int32(0).add_int16(0).add_int32(25).add_int16(-1).add_int32(-1).add_int16(0);
  }
  b.finish();
}

inline void encode_data_row(wire::byte_buffer& out, const std::vector<std::string>& values) {
  wire::message_builder b(out, wire::be::data_row);
  b.add_int16(static_cast<std::int16_t>(values.size()));
  for (const auto& value : values) {
    b.add_int32(static_cast<std::int32_t>(value.size())).add_raw(value);
  }
  b.finish();
}

inline void encode_data_row(wire::byte_buffer& out, const std::vector<std::optional<std::string>>& values) {
  wire::message_builder b(out, wire::be::data_row);
  b.add_int16(static_cast<std::int16_t>(values.size()));
  for (const auto& value : values) {
    if (!value) {
      b.add_int32(-1);
    } else {
      b.add_int32(static_cast<std::int32_t>(value->size())).add_raw(*value);
    }
  }
  b.finish();
}

// The items of a SELECT list, split at commas outside parentheses and quotes.
inline std::vector<std::string> select_items(std::string_view list) {
  std::vector<std::string> out;
  int depth = 0;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size()) {
      const char ch = list[i];
      if (ch == '\'') quoted = !quoted;
      if (!quoted && ch == '(') ++depth;
      if (!quoted && ch == ')') --depth;
      if (quoted || depth > 0 || ch != ',') continue;
    }
    out.emplace_back(trim(list.substr(start, i - start)));
    start = i + 1;
  }
  return out;
}

inline void encode_empty(wire::byte_buffer& out, char type) { wire::message_builder(out, type).finish(); }

// One server connection as the fake backend sees it.
struct fake_connection {
  fake_connection(tcp::socket s, int connection_id) : socket(std::move(s)), id(connection_id) {}
  tcp::socket socket;
  int id;
  bool open = true;            // neither side has closed it
  wire::tx_status tx = wire::tx_status::idle;
  bool in_batch = false;       // extended-protocol messages received since the last Sync
  bool skipping = false;       // an error in the batch: messages are ignored until Sync
  std::map<std::string, std::string> statements;  // prepared statement name -> query text
  std::map<std::string, std::string> portals;     // portal -> query text
  std::map<std::string, std::string> settings;    // session settings in force (SET, set_config)
  wire::byte_buffer in;
  wire::byte_buffer out;
};

class fake_pg_server {
 public:
  // Binds 127.0.0.1 on an ephemeral port at once (the port goes into sluice's config before the
  // io_context that serves it exists); start() then serves it on `io`.
  // `replica`: refuses writes with 25006, as a hot standby does.
  fake_pg_server(std::string name, bool replica, fault_plan& plan)
      : name_(std::move(name)), replica_(replica), plan_(plan) {
    asio::io_context bootstrap;
    tcp::acceptor bound(bootstrap, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port_ = bound.local_endpoint().port();
    native_ = bound.release();
  }
  ~fake_pg_server() {
    boost::system::error_code ignored;
    for (auto& c : connections_) c->socket.close(ignored);
    if (acceptor_) acceptor_->close(ignored);
  }
  fake_pg_server(const fake_pg_server&) = delete;
  fake_pg_server& operator=(const fake_pg_server&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  const std::string& name() const noexcept { return name_; }

  void start(asio::io_context& io) {
    acceptor_.emplace(io, tcp::v4(), native_);
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  // Every message received, "<connection id>|<what>", in arrival order.
  const std::vector<std::string>& log() const noexcept { return log_; }
  const std::vector<std::shared_ptr<fake_connection>>& connections() const noexcept { return connections_; }
  std::size_t open_connections() const {
    return static_cast<std::size_t>(
        std::count_if(connections_.begin(), connections_.end(), [](const auto& c) { return c->open; }));
  }

 private:
  static constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(use_tuple);
      if (ec) co_return;
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // answers in several writes: no Nagle delay
      auto connection = std::make_shared<fake_connection>(std::move(socket), static_cast<int>(connections_.size()) + 1);
      connections_.push_back(connection);
      asio::co_spawn(acceptor_->get_executor(), serve(connection), asio::detached);
    }
  }

  // Reads more bytes into c.in; false at EOF or error (the connection is then marked closed).
  static asio::awaitable<bool> read_more(fake_connection& c) {
    std::uint8_t chunk[4096];
    auto [ec, count] = co_await c.socket.async_read_some(asio::buffer(chunk), use_tuple);
    if (ec) {
      close(c);
      co_return false;
    }
    c.in.insert(c.in.end(), chunk, chunk + count);
    co_return true;
  }

  static asio::awaitable<bool> flush(fake_connection& c) {
    if (c.out.empty()) co_return true;
    auto [ec, written] = co_await asio::async_write(c.socket, asio::buffer(c.out), use_tuple);
    c.out.clear();
    co_return !ec;
  }

  static void close(fake_connection& c) {
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.open = false;
  }

  // Applies an injected fault (other than partial) to `c`; the connection is closed afterwards.
  static asio::awaitable<void> fail(fake_connection& c, server_fault mode) {
    c.out.clear();  // what was buffered but not sent is lost with the "crash"
    boost::system::error_code ignored;
    if (mode == server_fault::reset) {
      c.socket.set_option(asio::socket_base::linger(true, 0), ignored);
    } else if (mode == server_fault::fatal) {
      wire::encode_error_response(c.out, "FATAL", "57P01", "terminating connection due to administrator command");
      co_await flush(c);
    }
    close(c);
  }

  asio::awaitable<void> serve(std::shared_ptr<fake_connection> connection) {
    auto& c = *connection;
    // Startup: one untyped packet (sluice never asks for TLS from backends).
    for (;;) {
      const auto frame = wire::frame_startup(c.in, 10000);
      if (frame.status == wire::frame_status::ok) {
        c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(frame.packet.wire_size));
        break;
      }
      if (frame.status != wire::frame_status::need_more) {
        close(c);
        co_return;
      }
      if (!co_await read_more(c)) co_return;
    }
    const std::string what = std::to_string(c.id) + "|startup";
    log_.push_back(what);
    if (const auto fault = plan_.on_message(name_ + " " + what); fault != server_fault::none) {
      if (fault == server_fault::partial) {
        login(c);
        c.out.resize(c.out.size() / 2);
        co_await flush(c);
        close(c);
      } else {
        co_await fail(c, fault);
      }
      co_return;
    }
    login(c);
    if (!co_await flush(c)) {
      close(c);
      co_return;
    }

    for (;;) {
      for (;;) {
        const auto frame = wire::frame_message(c.in, std::size_t{1} << 30);
        if (frame.status == wire::frame_status::need_more) break;
        if (frame.status != wire::frame_status::ok) {
          close(c);
          co_return;
        }
        const auto message = frame.message;
        const std::string entry = std::to_string(c.id) + "|" + describe(message);
        log_.push_back(entry);
        const auto fault = plan_.on_message(name_ + " " + entry);
        if (fault != server_fault::none && fault != server_fault::partial && fault != server_fault::slow) {
          co_await fail(c, fault);
          co_return;
        }
        const bool terminate = message.type == wire::fe::terminate;
        const bool answer_now = handle(c, message);
        c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(message.wire_size));
        if (terminate) {
          close(c);
          co_return;
        }
        if (fault == server_fault::partial) {
          c.out.resize(c.out.size() / 2);
          co_await flush(c);
          close(c);
          co_return;
        }
        if (fault == server_fault::slow) {
          asio::steady_timer delay(c.socket.get_executor(), slow_answer_delay);
          co_await delay.async_wait(use_tuple);
        }
        if (answer_now && !co_await flush(c)) {
          close(c);
          co_return;
        }
      }
      if (!co_await read_more(c)) co_return;
    }
  }

  void login(fake_connection& c) {
    wire::encode_authentication(c.out, wire::auth_code::ok);
    wire::encode_parameter_status(c.out, "server_version", "15.99");
    wire::encode_parameter_status(c.out, "client_encoding", "UTF8");
    wire::encode_backend_key_data(c.out, 1000 + c.id, 4242);
    wire::encode_ready_for_query(c.out, wire::tx_status::idle);
  }

  // "Q:<sql>", "P:<name>:<sql>", "B:<portal>:<statement>", "D:<kind><name>", "E:<portal>",
  // "C:<kind><name>", "S", "H", "X", or the type character.
  static std::string describe(const wire::message_view& m) {
    switch (m.type) {
      case wire::fe::query:
        if (auto sql = wire::decode_query(m.payload)) return "Q:" + std::string(*sql);
        break;
      case wire::fe::parse:
        if (auto p = wire::decode_parse(m.payload)) return "P:" + std::string(p->statement) + ":" + std::string(p->query);
        break;
      case wire::fe::bind:
        if (auto b = wire::decode_bind(m.payload)) return "B:" + std::string(b->portal) + ":" + std::string(b->statement);
        break;
      case wire::fe::describe:
        if (auto d = wire::decode_describe(m.payload)) return "D:" + std::string(1, d->kind) + std::string(d->name);
        break;
      case wire::fe::close:
        if (auto d = wire::decode_close(m.payload)) return "C:" + std::string(1, d->kind) + std::string(d->name);
        break;
      case wire::fe::execute:
        if (auto e = wire::decode_execute(m.payload)) return "E:" + std::string(e->portal);
        break;
      default:
        break;
    }
    return std::string(1, m.type);
  }

  // A setting's value when the session has not set it.
  static std::string default_setting(const std::string& name) { return name == "statement_timeout" ? "0" : ""; }

  // "SELECT f(...), g(...)" where every item is pg_catalog.current_setting('x') or
  // pg_catalog.set_config('x', 'v', is_local): their values, set_config(..., false) applied.
  static std::optional<std::vector<std::string>> setting_functions(fake_connection& c, const std::string& sql) {
    if (!starts_with_ci(sql, "SELECT ")) return std::nullopt;
    std::vector<std::string> values;
    for (const auto& item : select_items(std::string_view(sql).substr(7))) {
      const auto literals = quoted_literals(item);
      if (item.starts_with("pg_catalog.current_setting(") && literals.size() == 1) {
        const auto found = c.settings.find(literals[0]);
        values.push_back(found == c.settings.end() ? default_setting(literals[0]) : found->second);
      } else if (item.starts_with("pg_catalog.set_config(") && literals.size() == 2) {
        const bool local = lowercase(item).find("true)") != std::string::npos;
        if (!local) c.settings[lowercase(literals[0])] = literals[1];
        values.push_back(literals[1]);
      } else {
        return std::nullopt;
      }
    }
    return values;
  }

  static void error(fake_connection& c, std::string_view sqlstate, std::string_view text) {
    wire::encode_error_response(c.out, "ERROR", sqlstate, text);
    if (c.tx == wire::tx_status::in_transaction) c.tx = wire::tx_status::failed;
  }

  // Runs one statement; false when it failed (an ErrorResponse is in c.out). `describe_rows`: a
  // simple Query sends RowDescription itself (an Execute relies on Describe for it).
  bool run_statement(fake_connection& c, const std::string& text, bool describe_rows) {
    // A leading /* ... */ (sluice's routing hints) does not change what the statement is.
    std::string_view body = text;
    if (body.starts_with("/*")) {
      const auto end = body.find("*/");
      body = trim(end == std::string_view::npos ? std::string_view{} : body.substr(end + 2));
    }
    const std::string sql(body);
    const auto rows = [&](const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& data,
                          std::string_view tag) {
      if (describe_rows) encode_row_description(c.out, columns);
      for (const auto& row : data) encode_data_row(c.out, row);
      wire::encode_command_complete(c.out, std::string(tag) + " " + std::to_string(data.size()));
    };
    const bool ends_transaction = starts_with_ci(sql, "COMMIT") || starts_with_ci(sql, "END") ||
                                  starts_with_ci(sql, "ROLLBACK");
    if (c.tx == wire::tx_status::failed && !ends_transaction) {
      wire::encode_error_response(c.out, "ERROR", "25P02",
                                  "current transaction is aborted, commands ignored until end of transaction block");
      return false;
    }
    if (starts_with_ci(sql, "BEGIN") || starts_with_ci(sql, "START TRANSACTION")) {
      c.tx = wire::tx_status::in_transaction;
      wire::encode_command_complete(c.out, "BEGIN");
    } else if (ends_transaction) {
      const bool rolled_back = c.tx == wire::tx_status::failed || starts_with_ci(sql, "ROLLBACK");
      c.tx = wire::tx_status::idle;
      wire::encode_command_complete(c.out, rolled_back ? "ROLLBACK" : "COMMIT");
    } else if (starts_with_ci(sql, "SELECT pg_catalog.lower(name)")) {
      // sluice's settings capture: the session's settings but those NOT IN (...), then each UNION ALL
      // part: "SELECT '<label>', reset_val ... WHERE name = '<n>'" (the default of n) or
      // "SELECT n, ... unnest(ARRAY[...])" (custom settings, NULL when unset).
      std::vector<std::vector<std::optional<std::string>>> data;
      const auto union_at = sql.find(" UNION ALL ");
      const std::string head = sql.substr(0, union_at);
      std::vector<std::string> excluded;
      if (const auto in = head.find("NOT IN ("); in != std::string::npos) {
        excluded = quoted_literals(head.substr(in, head.find(')', in) - in));
      }
      for (const auto& [name, value] : c.settings) {
        if (std::find(excluded.begin(), excluded.end(), name) == excluded.end()) data.push_back({name, value});
      }
      for (auto at = union_at; at != std::string::npos;) {
        const auto next = sql.find(" UNION ALL ", at + 1);
        const std::string part = sql.substr(at, next == std::string::npos ? std::string::npos : next - at);
        const auto literals = quoted_literals(part);
        if (part.find("reset_val") != std::string::npos && literals.size() >= 2) {
          data.push_back({literals.front(), default_setting(literals.back())});
        } else if (part.find("unnest(ARRAY[") != std::string::npos) {
          for (const auto& name : literals) {
            const auto found = c.settings.find(name);
            data.push_back({name, found == c.settings.end() ? std::nullopt : std::optional<std::string>(found->second)});
          }
        }
        at = next;
      }
      if (describe_rows) encode_row_description(c.out, {"lower", "current_setting"});
      for (const auto& row : data) encode_data_row(c.out, row);
      wire::encode_command_complete(c.out, "SELECT " + std::to_string(data.size()));
    } else if (auto values = setting_functions(c, sql)) {
      // SELECT of current_setting() / set_config() calls (sluice's replay and its statement_timeout
      // guard): one row, one column per call.
      std::vector<std::string> columns(values->size(), "setting");
      rows(columns, {*values}, "SELECT");
    } else if (starts_with_ci(sql, "SELECT pg_advisory_unlock_all()")) {
      rows({"pg_advisory_unlock_all"}, {{"t"}}, "SELECT");
    } else if (sql.find("fail_me") != std::string::npos) {
      error(c, "42P01", "relation \"fail_me\" does not exist");
      return false;
    } else if (starts_with_ci(sql, "SET LOCAL ")) {
      wire::encode_command_complete(c.out, "SET");
    } else if (starts_with_ci(sql, "SET ")) {
      // SET [SESSION] name TO|= value
      std::string_view rest = trim(std::string_view(sql).substr(4));
      if (starts_with_ci(rest, "SESSION ")) rest = trim(rest.substr(8));
      const auto name_end = rest.find_first_of(" =");
      const std::string name = lowercase(rest.substr(0, name_end));
      std::string_view value = name_end == std::string_view::npos ? std::string_view{} : trim(rest.substr(name_end));
      if (starts_with_ci(value, "TO ")) value = trim(value.substr(3));
      if (!value.empty() && value.front() == '=') value = trim(value.substr(1));
      const auto literals = quoted_literals(value);
      c.settings[name] = literals.empty() ? std::string(value) : literals.front();
      wire::encode_command_complete(c.out, "SET");
    } else if (starts_with_ci(sql, "RESET ALL")) {
      c.settings.clear();
      wire::encode_command_complete(c.out, "RESET");
    } else if (starts_with_ci(sql, "RESET ")) {
      c.settings.erase(lowercase(trim(std::string_view(sql).substr(6))));
      wire::encode_command_complete(c.out, "RESET");
    } else if (starts_with_ci(sql, "DISCARD ALL")) {
      c.settings.clear();
      c.statements.clear();
      c.portals.clear();
      wire::encode_command_complete(c.out, "DISCARD ALL");
    } else if (starts_with_ci(sql, "SHOW ")) {
      const std::string name = lowercase(trim(std::string_view(sql).substr(5)));
      const auto found = c.settings.find(name);
      if (describe_rows) encode_row_description(c.out, {name});
      encode_data_row(c.out, std::vector<std::string>{"show:" + name + "=" + (found == c.settings.end() ? "" : found->second)});
      wire::encode_command_complete(c.out, "SHOW");
    } else if (starts_with_ci(sql, "SELECT")) {
      // Any other SELECT answers one row: its own text, so a client can tell whose answer it got.
      rows({"echo"}, {{text}}, "SELECT");
    } else if (replica_) {
      error(c, "25006", "cannot execute " + sql.substr(0, sql.find(' ')) + " in a read-only transaction");
      return false;
    } else {
      wire::encode_command_complete(c.out, "INSERT 0 1");
    }
    return true;
  }

  // Handles one message; true when the server answers now (Query, FunctionCall, Sync, Flush, an
  // error), as PostgreSQL flushes its output only then.
  bool handle(fake_connection& c, const wire::message_view& m) {
    if (m.type == wire::fe::sync) {
      c.in_batch = false;
      c.skipping = false;
      c.portals.erase("");
      wire::encode_ready_for_query(c.out, c.tx);
      return true;
    }
    if (m.type == wire::fe::terminate) return false;
    // postgres.c: "ignore it if we're skipping till Sync" (everything but Sync, Query included).
    if (c.skipping) return false;
    if (m.type == wire::fe::flush) return true;
    if (m.type == wire::fe::copy_data || m.type == wire::fe::copy_done || m.type == wire::fe::copy_fail) {
      return false;  // outside COPY: "Accept but ignore these messages, per protocol spec"
    }
    if (m.type == wire::fe::query) {
      const auto sql = wire::decode_query(m.payload);
      const auto statements = split_statements(sql ? *sql : std::string_view{});
      if (statements.empty()) encode_empty(c.out, wire::be::empty_query_response);
      for (const auto& statement : statements) {
        if (!run_statement(c, statement, true)) break;
      }
      c.statements.erase("");
      c.portals.erase("");
      c.in_batch = false;  // the extended messages before it ran in its transaction, committed with it
      wire::encode_ready_for_query(c.out, c.tx);
      return true;
    }
    if (m.type == wire::fe::function_call) {
      // Any function: a NULL result (-1), as a simple query would, then ReadyForQuery.
      if (c.tx == wire::tx_status::failed) {
        wire::encode_error_response(c.out, "ERROR", "25P02",
                                    "current transaction is aborted, commands ignored until end of transaction block");
      } else {
        wire::message_builder(c.out, wire::be::function_call_response).add_int32(-1).finish();
      }
      // Outside a transaction block the call commits its transaction (the extended messages before it
      // ran in it), and a commit drops the portals (portalmem.c AtCommit_Portals).
      if (c.tx == wire::tx_status::idle) c.portals.erase("");
      c.in_batch = false;
      wire::encode_ready_for_query(c.out, c.tx);
      return true;
    }
    c.in_batch = true;
    bool flush_now = false;  // an error is sent at once (elog.c flushes it)
    const auto batch_error = [&](std::string_view sqlstate, std::string_view text) {
      error(c, sqlstate, text);
      c.skipping = true;
      flush_now = true;
    };
    if (m.type == wire::fe::parse) {
      const auto p = wire::decode_parse(m.payload);
      if (!p) return false;
      const std::string name(p->statement);
      if (!name.empty() && c.statements.count(name) != 0) {
        batch_error("42P05", "prepared statement \"" + name + "\" already exists");
      } else if (p->query.find("parse_error_here") != std::string_view::npos) {
        // Text PostgreSQL rejects at Parse (syntax, or a relation that does not exist): the statement
        // is not defined; an unnamed one is dropped first (postgres.c exec_parse_message).
        if (name.empty()) c.statements.erase("");
        batch_error("42601", "syntax error at or near \"parse_error_here\"");
      } else {
        c.statements[name] = std::string(p->query);
        wire::encode_parse_complete(c.out);
      }
    } else if (m.type == wire::fe::bind) {
      const auto b = wire::decode_bind(m.payload);
      if (!b) return false;
      const auto found = c.statements.find(std::string(b->statement));
      if (found == c.statements.end()) {
        batch_error("26000", "prepared statement \"" + std::string(b->statement) + "\" does not exist");
      } else {
        c.portals[std::string(b->portal)] = found->second;
        wire::encode_bind_complete(c.out);
      }
    } else if (m.type == wire::fe::describe) {
      const auto d = wire::decode_describe(m.payload);
      if (!d) return false;
      const auto& table = d->kind == 'S' ? c.statements : c.portals;
      const auto found = table.find(std::string(d->name));
      if (found == table.end()) {
        batch_error(d->kind == 'S' ? "26000" : "34000", "unknown statement or portal");
      } else {
        if (d->kind == 'S') {
          wire::message_builder(c.out, wire::be::parameter_description).add_int16(0).finish();
        }
        if (starts_with_ci(found->second, "SELECT") || starts_with_ci(found->second, "SHOW")) {
          encode_row_description(c.out, {"echo"});
        } else {
          encode_empty(c.out, wire::be::no_data);
        }
      }
    } else if (m.type == wire::fe::execute) {
      const auto e = wire::decode_execute(m.payload);
      if (!e) return false;
      const auto found = c.portals.find(std::string(e->portal));
      if (found == c.portals.end()) {
        batch_error("34000", "portal \"" + std::string(e->portal) + "\" does not exist");
      } else if (!run_statement(c, found->second, false)) {
        c.skipping = true;
        flush_now = true;
      }
    } else if (m.type == wire::fe::close) {
      const auto d = wire::decode_close(m.payload);
      if (!d) return false;
      (d->kind == 'S' ? c.statements : c.portals).erase(std::string(d->name));
      wire::encode_close_complete(c.out);
    } else {
      batch_error("08P01", "unexpected message type");
    }
    return flush_now;
  }

  std::string name_;
  bool replica_;
  fault_plan& plan_;
  std::uint16_t port_ = 0;
  tcp::acceptor::native_handle_type native_ = -1;
  std::optional<tcp::acceptor> acceptor_;
  std::vector<std::shared_ptr<fake_connection>> connections_;
  std::vector<std::string> log_;
};

}  // namespace sluice::testing
