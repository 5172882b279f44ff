// session_variables: learnt from session-state blocks as MariaDB writes them, replayed as one SET whose
// forms the real server accepts (checked by hand against MariaDB 10.11: backtick names, 'ON', bare
// numbers, NULL for character_set_results).
#include <catch2/catch.hpp>

#include <string>

#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/session_variables.hpp"

using sluice::backends::mysql::session_variables;
namespace wire = sluice::backends::mysql::wire;

TEST_CASE("session_variables: learnt from the session-state tracker", "[mysql][session_variables]") {
  wire::byte_buffer block;
  wire::append_session_track_variable(block, "autocommit", "OFF");
  wire::append_session_track_schema(block, "shop");
  wire::append_session_track_variable(block, "SQL_MODE", "ANSI_QUOTES");
  wire::append_session_track_variable(block, "last_gtid", "0-1-7");  // read-only: never replayed
  wire::append_session_state_entry(block, wire::session_track_state_change, wire::bytes_view{});  // ignored
  session_variables state;
  REQUIRE(state.learn(block));
  CHECK(state.schema() == "shop");
  REQUIRE(state.variables().size() == 2);
  CHECK(state.variables()[0].first == "autocommit");  // sorted, lower-cased
  CHECK(state.variables()[1].first == "sql_mode");
  CHECK(*state.find("sql_mode") == "ANSI_QUOTES");

  // A later change replaces the value.
  wire::byte_buffer later;
  wire::append_session_track_variable(later, "autocommit", "ON");
  REQUIRE(state.learn(later));
  CHECK(*state.find("autocommit") == "ON");
  CHECK(state.variables().size() == 2);

  // A state change with nothing named (a user variable, a temporary table): untracked.
  wire::byte_buffer unnamed;
  const std::uint8_t one[] = {'1'};
  wire::append_session_state_entry(unnamed, wire::session_track_state_change, one);
  bool untracked = false;
  REQUIRE(state.learn(unnamed, &untracked));
  CHECK(untracked);
  untracked = false;
  wire::append_session_track_variable(unnamed, "time_zone", "+01:00");  // ... but a named variable explains it
  REQUIRE(state.learn(unnamed, &untracked));
  CHECK_FALSE(untracked);

  // A malformed block says so.
  const wire::byte_buffer broken = {wire::session_track_system_variables, 0x20, 0x03};
  CHECK_FALSE(state.learn(broken));
}

TEST_CASE("session_variables: the SET that brings a server connection to the session's state",
          "[mysql][session_variables]") {
  session_variables client, server;
  client.set("autocommit", "OFF");
  client.set("sql_mode", "STRICT_TRANS_TABLES,NO_ZERO_DATE");
  client.set("max_statement_time", "1.500000");
  client.set("sql_select_limit", "18446744073709551615");
  client.set("character_set_results", "");
  client.set("time_zone", "+02:00");
  server.set("autocommit", "OFF");  // already the same: not repeated
  server.set("sql_mode", "STRICT_TRANS_TABLES");
  server.set("wait_timeout", "30");  // another client's, never set by this one: back to the default
  server.set(session_variables::marker_variable, "autocommit");  // sluice's own: left alone

  std::string sql;
  REQUIRE(client.replay_sql(server, true, sql));
  CHECK(sql ==
        "SET SESSION `wait_timeout`=DEFAULT, `character_set_results`=NULL, `max_statement_time`=1.500000, "
        "`sql_mode`='STRICT_TRANS_TABLES,NO_ZERO_DATE', `sql_select_limit`=18446744073709551615, "
        "`time_zone`='+02:00'");
  server.adopt(client);
  CHECK(server.find("wait_timeout") == nullptr);
  CHECK(*server.find("time_zone") == "+02:00");
  CHECK(server.find(session_variables::marker_variable) != nullptr);
  std::string nothing;
  CHECK_FALSE(client.replay_sql(server, true, nothing));

  std::string none;
  CHECK_FALSE(client.replay_sql(client, true, none));
  CHECK(none.empty());
}

TEST_CASE("session_variables: values and names cannot break out of the statement", "[mysql][session_variables]") {
  session_variables client, server;
  client.set("time_zone", "x'; DROP TABLE t; -- \\");
  client.set("odd`name", "-");
  std::string escaped;
  REQUIRE(client.replay_sql(server, true, escaped));
  CHECK(escaped == "SET SESSION `odd``name`='-', `time_zone`='x''; DROP TABLE t; -- \\\\'");
  std::string literal;  // NO_BACKSLASH_ESCAPES: a backslash is itself
  REQUIRE(client.replay_sql(server, false, literal));
  CHECK(literal == "SET SESSION `odd``name`='-', `time_zone`='x''; DROP TABLE t; -- \\'");
}

TEST_CASE("session_variables: the schema goes by COM_INIT_DB", "[mysql][session_variables]") {
  session_variables client, server;
  CHECK_FALSE(client.schema_differs(server));  // no schema chosen: nothing to do
  client.set_schema("shop");
  CHECK(client.schema_differs(server));
  server.set_schema("shop");
  CHECK_FALSE(client.schema_differs(server));
}

TEST_CASE("session_variables: same_variables is replay_sql's 'nothing to say', found in one pass",
          "[mysql][session_variables]") {
  session_variables client, server;
  client.set("autocommit", "ON");
  client.set("time_zone", "+00:00");
  server.set("autocommit", "ON");
  server.set("time_zone", "+00:00");
  server.set(session_variables::marker_variable, "*");  // not counted, wherever it sorts
  CHECK(client.same_variables(server));
  std::string sql;
  CHECK_FALSE(client.replay_sql(server, true, sql));

  server.set("zzz_other", "1");  // another client's variable after the marker
  CHECK_FALSE(client.same_variables(server));
  CHECK(client.replay_sql(server, true, sql));
  CHECK(sql == "SET SESSION `zzz_other`=DEFAULT");

  session_variables fewer;
  fewer.set("autocommit", "ON");
  CHECK_FALSE(fewer.same_variables(client));  // the client has one more
  session_variables other_value;
  other_value.set("autocommit", "ON");
  other_value.set("time_zone", "+01:00");
  CHECK_FALSE(other_value.same_variables(client));
  CHECK(session_variables{}.same_variables(session_variables{}));
}
