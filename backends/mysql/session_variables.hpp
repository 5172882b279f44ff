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
  // The variables sluice asks servers to track (session_track_system_variables) by default: what
  // drivers set at connect and what changes a statement's meaning. A config list may add more.
  static constexpr std::string_view default_tracked =
      "autocommit,character_set_client,character_set_connection,character_set_results,collation_connection,"
      "sql_mode,time_zone,tx_isolation,tx_read_only,max_statement_time,sql_select_limit,group_concat_max_len,"
      "div_precision_increment,sql_auto_is_null,foreign_key_checks,unique_checks";

  // What an OK packet's session-state block says changed (schema, system variables). False when the
  // block is malformed (the state is then unknown: the caller pins or closes). Variable names are kept
  // lower-cased; values as the server wrote them.
  bool learn(wire::bytes_view session_state);
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
