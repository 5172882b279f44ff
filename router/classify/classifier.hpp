// Sans-IO SQL read/write classifier: a real lexer (comments, quoted identifiers, string, E'' and
// dollar-quoted literals; MySQL's backticks, backslash escapes and executable comments) decides whether
// a query may run on a replica or must run on the primary, in the PostgreSQL or the MySQL dialect.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::router::classify {

enum class route {
  replica,  // read-only: may run on any replica (or the primary)
  primary,  // writes, locks, sequences, or anything not known to be read-only
};

// Which server's SQL a string is: how it is lexed and which statements and functions mean what.
enum class sql_dialect {
  postgresql,  // PostgreSQL: scan.l's lexer, gram.y's statements (the default)
  mysql,       // MySQL and MariaDB: sql_lex.cc's lexer (mysql_lexer.hpp), their statements and built-ins
};

enum class hint {
  none,     // no routing hint comment
  primary,  // leading /* sluice: primary */
  replica,  // leading /* sluice: replica */
};

// What the router needs to know about one Query string (which may hold several statements).
struct classification {
  route target = route::primary;       // where the whole string must run: primary if any part writes,
                                       // or asks about the server (pg_is_in_recovery(), pg_stat_*)
  hint routing_hint = hint::none;      // a leading hint comment, which overrides `target`
  bool begins_transaction = false;     // first statement is BEGIN / START TRANSACTION
  bool read_only_transaction = false;  // that transaction is READ ONLY (BEGIN READ ONLY, START
                                       // TRANSACTION READ ONLY, or a following SET TRANSACTION READ ONLY)
  bool pins_session = false;           // creates state that cannot move between server connections:
                                       // LISTEN, CREATE TEMP TABLE, session pg_advisory_lock*,
                                       // pg_backup_start, pg_replication_origin_session_setup,
                                       // DECLARE ... WITH HOLD, SQL PREPARE, SET SESSION AUTHORIZATION,
                                       // SET ROLE, DISCARD (but not DISCARD ALL, which resets)
  bool has_session_set = false;        // contains SET (not LOCAL) or RESET of a session variable, or
                                       // calls set_config() (which may set one for the session)
  bool resets_server_state = false;    // DISCARD ALL or DEALLOCATE ALL: every prepared statement on
                                       // the server connection is gone afterwards
  bool calls_functions = false;        // names a function call other than the built-ins sluice knows
                                       // (a name followed by '('; table names in INSERT INTO t (...) too)
  bool defines_function = false;       // CREATE / ALTER / DROP FUNCTION, PROCEDURE or ROUTINE
  bool statement_count_multiple = false;  // more than one statement in the string
  bool empty = false;                  // no statement at all (only whitespace / comments)
  bool uses_previous_result = false;   // MySQL only: reads what the previous statement left on its
                                       // server connection (LAST_INSERT_ID(), ROW_COUNT(), SHOW
                                       // WARNINGS / ERRORS, @@warning_count, @@error_count, @@identity,
                                       // GET DIAGNOSTICS): the session runs it where the previous
                                       // statement ran, or answers it from the OK packet it relayed

  bool operator==(const classification&) const = default;  // every field (fast path vs full path, cache)
};

struct options {
  // Lower-case names of functions that write, beyond the built-ins (docs/configuration.md lists
  // those). "f" matches f(...) in any schema; "s.f" matches s.f(...) and an unqualified f(...).
  std::span<const std::string> write_functions;
  sql_dialect dialect = sql_dialect::postgresql;  // the flags below matter only for sql_dialect::mysql
  bool no_backslash_escapes = false;  // MySQL sql_mode NO_BACKSLASH_ESCAPES: a backslash escapes nothing
  bool ansi_quotes = false;           // MySQL sql_mode ANSI_QUOTES: "x" is an identifier, not a string
};

// Classifies `sql`. Never allocates, never throws; unknown statements classify as primary.
// classify_fast when it knows the statement, classify_full otherwise.
classification classify(std::string_view sql, const options& opts) noexcept;

// The fast path. PostgreSQL: one table-driven pass for a single SELECT, INSERT, UPDATE or DELETE (or a
// bare BEGIN, END, COMMIT, ROLLBACK) without dollar quotes or prefixed literals. MySQL: one pass over
// the bytes of a plain SELECT (classify_mysql_fast). True when it classified `sql` into `out`, with the
// answer classify_full gives; false when `sql` is not one it knows (then `out` means nothing). Exposed
// for the differential tests and the fuzz target.
bool classify_fast(std::string_view sql, const options& opts, classification& out) noexcept;

// The full path, the reference: splits statements with the dialect's lexer and analyses each. Linear
// in the size of `sql` in both dialects.
classification classify_full(std::string_view sql, const options& opts) noexcept;

// The value of tag `key` in the comments before the first token of `sql`: `/* tenant=acme */`,
// `/* app=web, tenant=acme */`, `-- tenant=acme`, or sqlcommenter's quoted `tenant='acme'`; in the
// MySQL dialect `# tenant=acme` too (and /*! executable comments */ are code, not comments). Keys
// match exactly; values are letters, digits, '_', '-', '.' and ':'. Empty when absent. A view into
// `sql`: never allocates, never throws.
std::string_view find_tag(std::string_view sql, std::string_view key,
                          sql_dialect dialect = sql_dialect::postgresql) noexcept;

enum class set_kind {
  set,        // SET [SESSION] name {TO | =} value
  reset,      // RESET name  /  SET name TO DEFAULT
  reset_all,  // RESET ALL
};

struct session_set {
  set_kind kind = set_kind::set;
  std::string name;   // lower-cased variable name; "timezone" for SET TIME ZONE
  std::string value;  // the value as SQL text, exactly as written (may be a list: 'a', b)
};

// The session-level SET / RESET statements in `sql`, in order (SET LOCAL and SET TRANSACTION are
// not included). PostgreSQL syntax (a MySQL session learns its state from the server's session-state
// tracker instead). Control-path only: allocates.
std::vector<session_set> extract_session_sets(std::string_view sql);

// The names of custom (dotted, "myapp.tenant") settings that `sql` may set: those of its SET / RESET
// statements and the literal first arguments of its set_config() calls, lower-cased. PostgreSQL does
// not list custom settings in pg_settings, so a session asks for these by name. Control path: allocates.
// `dynamic`, when given, is set when `sql` may set settings whose names it does not spell out: a
// set_config() whose name is not a literal, a DO block, or dynamic SQL (EXECUTE, in function sources).
std::vector<std::string> custom_setting_names(std::string_view sql, bool* dynamic = nullptr);

// Calls visit(context, name) for each name followed by '(' in `sql` that may be a function call (the
// same names that make calls_functions true): the name as PostgreSQL resolves it (unquoted folded to
// lower case, truncated to 63 bytes), in a buffer valid during the call. Never allocates.
void for_each_called_function(std::string_view sql, void (*visit)(void* context, std::string_view name),
                              void* context) noexcept;

// For a string that is exactly one `DEALLOCATE [PREPARE] name` (not ALL): the statement name as
// PostgreSQL resolves it (unquoted folded to lower case). Empty otherwise. Drivers (psycopg 3) drop
// protocol-level prepared statements this way, by the name they gave at Parse. Control path: allocates.
std::string deallocate_name(std::string_view sql);

}  // namespace sluice::router::classify
