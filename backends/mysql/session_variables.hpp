// A MySQL client's session state that must follow it from one pooled server connection to the next:
// the current schema and the tracked system variables (autocommit, character sets, sql_mode, time
// zone, isolation, ...). Learnt from the session-state tracker in the OK packets the client's own
// statements get (not by parsing SET), and replayed as one SET on a server connection whose state
// differs. Sans-IO: strings in, SQL text out.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backends/mysql/wire/generic_response.hpp"

namespace sluice::backends::mysql {


class session_variables {
 public:
  // What sluice asks servers to track (session_track_system_variables): every session variable ("*",
  // MariaDB 10.3 and MySQL 8), so that whatever a client SETs is reported in the OK packet and follows
  // it to the next server connection.
  static constexpr std::string_view default_tracked = "*";

  // What an OK packet's session-state block says changed (schema, system variables). False when the
  // block is malformed (the state is then unknown: the caller pins or closes). Variable names are kept
  // lower-cased; values as the server wrote them. `untracked_change`: set when the block says the
  // session state changed (SESSION_TRACK_STATE_CHANGE) but names no variable or schema: a user
  // variable, a temporary table, a prepared statement or a lock, which cannot move to another server
  // connection (the caller pins the session).
  bool learn(wire::bytes_view session_state, bool* untracked_change = nullptr);
  // Set directly (at login: the client's database and character set).
  void set_schema(std::string_view schema) { schema_.assign(schema); }
  void set(std::string_view name, std::string_view value);

  const std::string& schema() const noexcept { return schema_; }
  // Sorted by name.
  const std::vector<std::pair<std::string, std::string>>& variables() const noexcept { return variables_; }
  const std::string* find(std::string_view name) const noexcept;

  // The SET statement that gives a server connection in state `server` this session's variables
  // ("SET SESSION `a`='x', `b`=DEFAULT"), appended to `out`; false (nothing appended) when none differs.
  // A variable the server connection has (another client set it) that this session never set goes
  // back to DEFAULT. `backslash_escapes`: the server's sql_mode lacks NO_BACKSLASH_ESCAPES
  // (server_status_no_backslash_escapes unset), so a backslash in a value is escaped.
  bool replay_sql(const session_variables& server, bool backslash_escapes, std::string& out) const;
  // The same variables with the same values as `server` (a server connection's state; its tracking
  // marker not counted): replay_sql would have nothing to say.
  bool same_variables(const session_variables& server) const noexcept;
  // After replay_sql's statement succeeded on this (a server connection's) state: its variables are
  // the client's, the tracking marker kept.
  void adopt(const session_variables& client);
  // Set on a server connection once sluice has asked it to track the variables (not a client's).
  static constexpr std::string_view marker_variable = "session_track_system_variables";
  // The schema is changed with COM_INIT_DB, not SQL: true when `server`'s differs from this session's
  // (and this session has one).
  bool schema_differs(const session_variables& server) const noexcept {
    return !schema_.empty() && schema_ != server.schema_;
  }

  bool operator==(const session_variables&) const = default;

 private:
  std::string schema_;
  std::vector<std::pair<std::string, std::string>> variables_;  // sorted by name
};

}  // namespace sluice::backends::mysql
