// The MySQL / MariaDB dialect of the classifier: statements split and analysed with mysql_lexer's
// tokens, MySQL's statements and built-ins. Its own translation unit, compiled through lexer.cpp (see
// there), so that the PostgreSQL classifier in classifier.cpp compiles exactly as it did.
#include "router/classify/comment_text.hpp"
#include "router/classify/mysql_classifier.hpp"

#include <array>

#include "router/classify/mysql_lexer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>

namespace sluice::router::classify {

namespace {

// ---- Small helpers: copies of classifier.cpp's, which stay private to the PostgreSQL translation unit
// (see lexer.cpp for why the dialects compile apart) -----------------------------------------------

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// `text`, in any case, equals the lower-case ASCII `lower`.
constexpr bool iequals(std::string_view text, std::string_view lower) noexcept {
  if (text.size() != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (ascii_lower(text[i]) != lower[i]) {
      return false;
    }
  }
  return true;
}

bool is_punct(const token& t, char c) noexcept {
  return t.kind == token_kind::punct && t.text.size() == 1 && t.text[0] == c;
}

bool is_name(const token& t) noexcept {
  return t.kind == token_kind::word || t.kind == token_kind::quoted_ident;
}

bool is_end(const token& t) noexcept { return t.kind == token_kind::end; }

// The text from the start of `first` to the end of `last` (both views into the same input).
std::string_view span_of(const token& first, const token& last) noexcept {
  const char* b = first.text.data();
  const char* e = last.text.data() + last.text.size();
  return {b, static_cast<std::size_t>(e - b)};
}

enum class tx_mode {
  unspecified,  // neither READ ONLY nor READ WRITE
  read_only,    // READ ONLY
  read_write,   // READ WRITE (wins over READ ONLY)
};

// The text of a terminated comment between its markers: /* */, -- or (MySQL) #.
std::string_view comment_body(const token& comment) noexcept {
  if (comment.kind == token_kind::block_comment) {
    return comment.text.substr(2, comment.text.size() - 4);
  }
  return comment.text.substr(comment.text[0] == '#' ? 1 : 2);
}

// ---- Statements -----------------------------------------------------------------------------------
//
// The questions classifier.cpp asks of PostgreSQL text, asked of MySQL and MariaDB text: mysql_lexer's
// tokens, the servers' statements (MySQL 8.0 Reference Manual, "SQL Statements"; MariaDB KB, "SQL
// Statements") and built-ins. No fast path: classify() goes straight to classify_mysql. Every function
// here makes a bounded number of forward passes over its statement, so classifying is linear in the
// input (tests/router/classify/mysql_dialect_test.cpp classifies hostile 1 MB inputs).

bool mysql_kw(const token& t, std::string_view kw) noexcept {
  return t.kind == token_kind::word && iequals(t.text, kw);
}

bool mysql_kw(const token& t, std::initializer_list<std::string_view> kws) noexcept {
  if (t.kind != token_kind::word) {
    return false;
  }
  for (const std::string_view kw : kws) {
    if (iequals(t.text, kw)) {
      return true;
    }
  }
  return false;
}

// The significant tokens of a MySQL statement (comments skipped), with one token of lookahead: the
// cursor of classifier.cpp, on mysql_lexer.
class mysql_cursor {
 public:
  explicit mysql_cursor(const mysql_lexer& lex) noexcept : lex_(lex) { advance(); }

  const token& peek() const noexcept { return next_; }
  bool at_end() const noexcept { return next_.kind == token_kind::end; }
  token take() noexcept {
    const token t = next_;
    advance();
    return t;
  }
  bool accept(std::string_view kw) noexcept {
    if (!mysql_kw(next_, kw)) {
      return false;
    }
    advance();
    return true;
  }

 private:
  void advance() noexcept {
    do {
      next_ = lex_.next();
    } while (next_.kind == token_kind::line_comment || next_.kind == token_kind::block_comment);
  }

  mysql_lexer lex_;
  token next_;
};

// Transaction characteristics: READ ONLY | READ WRITE, ISOLATION LEVEL ..., WITH CONSISTENT SNAPSHOT
// (MySQL manual, "START TRANSACTION, COMMIT, and ROLLBACK Statements", "SET TRANSACTION Statement").
tx_mode mysql_tx_modes(mysql_cursor& c) noexcept {
  tx_mode mode = tx_mode::unspecified;
  while (!c.at_end()) {
    if (!mysql_kw(c.take(), "read")) {
      continue;
    }
    if (mysql_kw(c.peek(), "write")) {
      mode = tx_mode::read_write;
    } else if (mysql_kw(c.peek(), "only") && mode == tx_mode::unspecified) {
      mode = tx_mode::read_only;
    }
  }
  return mode;
}

// WITH [RECURSIVE] name [(cols)] AS (query), ... main: the keyword of the main statement.
token mysql_with_main(mysql_cursor& c) noexcept {
  std::ptrdiff_t depth = 0;
  while (!c.at_end()) {
    const token t = c.take();
    if (is_punct(t, '(')) {
      ++depth;
    } else if (is_punct(t, ')')) {
      --depth;
    } else if (depth <= 0 && mysql_kw(t, {"select", "values", "table", "insert", "update", "delete", "replace"})) {
      return t;
    }
  }
  return c.peek();
}

mysql_lex_modes lex_modes(const options& opts) noexcept {
  return mysql_lex_modes{!opts.no_backslash_escapes, opts.ansi_quotes};
}

// The name a MySQL identifier token stands for, folded to lower case: function, variable and keyword
// names are case-insensitive, quoted (`x`, and "x" under ANSI_QUOTES) or not. A doubled quote inside is
// one. In a buffer: no allocation. Longer names (64 is MySQL's limit) are cut.
class mysql_name {
 public:
  static constexpr std::size_t max_size = 64;

  explicit mysql_name(const token& t) noexcept {
    std::string_view s = t.text;
    char quote = '\0';
    if (t.kind == token_kind::quoted_ident && !s.empty()) {
      quote = s[0];
      s = s.substr(1, s.size() - (t.unterminated || s.size() < 2 ? 1 : 2));
    } else if (t.kind != token_kind::word) {
      return;
    }
    for (std::size_t i = 0; i < s.size() && size_ < max_size; ++i) {
      bytes_[size_++] = ascii_lower(s[i]);
      if (quote != '\0' && s[i] == quote) {
        ++i;  // the doubled quote
      }
    }
  }

  std::string_view view() const noexcept { return {bytes_, size_}; }

 private:
  char bytes_[max_size];
  std::size_t size_ = 0;
};

bool is_op(const token& t, std::string_view op) noexcept { return t.kind == token_kind::op && t.text == op; }

// The token is '=' or ':=' (MySQL accepts both in SET and UPDATE ... SET).
bool is_assign(const token& t) noexcept { return is_op(t, "=") || is_op(t, ":="); }

// Yields the statements of a MySQL string (from the first to the last token before each top-level ';',
// empty statements skipped) and whether each starts inside an executable comment. The server parses
// a compound statement whole, so a ';' inside the BEGIN ... END body of CREATE PROCEDURE | FUNCTION |
// TRIGGER | EVENT, or of MariaDB's BEGIN NOT ATOMIC ... END, does not split (MySQL manual, "Compound
// Statement Syntax"; MariaDB KB, "BEGIN END": "NOT ATOMIC is required when used outside of a stored
// procedure"). Inside a body, BEGIN and CASE open a block, END closes one, END IF | LOOP | WHILE |
// REPEAT | FOR close what was not counted.
class mysql_statement_splitter {
 public:
  mysql_statement_splitter(std::string_view sql, mysql_lex_modes modes) noexcept : lex_(sql, modes) {}

  bool next(std::string_view& statement, bool& starts_in_executable) noexcept {
    token first;
    token last;
    bool any = false;
    std::size_t words = 0;
    std::size_t paren_depth = 0;
    std::size_t block_depth = 0;
    body_kind body = body_kind::unknown;
    bool after_end = false;  // the previous word was END inside a body
    bool first_is_begin = false;
    for (;;) {
      const token t = lex_.next();
      unterminated_ = unterminated_ || t.unterminated;
      if (is_end(t)) {
        unterminated_ = unterminated_ || lex_.in_executable_comment();  // /*! never closed
        break;
      }
      if (t.kind == token_kind::line_comment || t.kind == token_kind::block_comment) {
        continue;
      }
      if (after_end) {
        after_end = false;
        // END IF | LOOP | WHILE | REPEAT | FOR closes a block that was not counted; END CASE and a
        // bare END (before a label, ';' or anything else) close a counted one.
        if (!mysql_kw(t, {"if", "loop", "while", "repeat", "for"})) {
          block_depth -= block_depth > 0 ? 1 : 0;
        }
        if (mysql_kw(t, "case")) {
          last = t;
          continue;
        }
      }
      if (is_punct(t, ';') && block_depth == 0) {
        if (any) {
          break;
        }
        continue;
      }
      if (!any) {
        first = t;
        any = true;
        starts_in_executable = lex_.in_executable_comment();
      }
      last = t;
      if (is_punct(t, '(')) {
        ++paren_depth;
      } else if (is_punct(t, ')')) {
        paren_depth -= paren_depth > 0 ? 1 : 0;
      } else if (t.kind == token_kind::word && paren_depth == 0) {
        ++words;
        if (words == 1) {
          first_is_begin = mysql_kw(t, "begin");
          body = mysql_kw(t, "create") ? body_kind::create_prefix : body_kind::none;
        } else if (words == 2 && first_is_begin && mysql_kw(t, "not")) {
          body = body_kind::compound;  // BEGIN NOT ATOMIC: the first BEGIN opened the block
          block_depth = 1;
        } else if (body == body_kind::create_prefix) {
          if (mysql_kw(t, {"procedure", "function", "trigger", "event"})) {
            body = body_kind::compound;
          } else if (mysql_kw(t, {"table", "view", "index", "database", "schema", "user", "role", "server",
                               "sequence", "tablespace", "logfile", "temporary", "unique", "fulltext",
                               "spatial", "package", "resource"})) {
            body = body_kind::none;
          }
        } else if (body == body_kind::compound) {
          if (mysql_kw(t, "begin") || (block_depth > 0 && mysql_kw(t, "case"))) {
            ++block_depth;
          } else if (block_depth > 0 && mysql_kw(t, "end")) {
            after_end = true;
          }
        }
      }
    }
    if (after_end) {
      block_depth = 0;  // END was the last token
    }
    if (!any) {
      return false;
    }
    statement = span_of(first, last);
    return true;
  }

  // Some string, quoted identifier or comment ran off the end of the input, or an executable comment
  // was never closed.
  bool saw_unterminated() const noexcept { return unterminated_; }

 private:
  enum class body_kind {
    unknown,        // no word yet
    none,           // a statement without a compound body
    create_prefix,  // CREATE [OR REPLACE] [DEFINER = ...] [AGGREGATE] ...: the kind not seen yet
    compound,       // CREATE PROCEDURE | FUNCTION | TRIGGER | EVENT, or BEGIN NOT ATOMIC
  };

  mysql_lexer lex_;
  bool unterminated_ = false;
};

// Why a MySQL built-in sends its statement to the primary.
enum class mysql_effect : unsigned char {
  writes,    // changes data or server state (sequences: NEXTVAL, SETVAL)
  session,   // reads or writes state of this session's server connection (LASTVAL, LAST_INSERT_ID(x))
  pins,      // leaves state on the server connection: GET_LOCK's named lock, FOUND_ROWS' count
  previous,  // reads what the previous statement left (ROW_COUNT(), LAST_INSERT_ID())
  describes, // answers about locks held on that server (IS_FREE_LOCK, IS_USED_LOCK): the primary's
};

struct mysql_builtin {
  std::string_view name;  // lower case
  mysql_effect what;
};

// MySQL manual, "Locking Functions" (GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_FREE_LOCK,
// IS_USED_LOCK: named locks belong to the session that took them and are not replicated), "Information
// Functions" (LAST_INSERT_ID, ROW_COUNT, FOUND_ROWS); MariaDB KB, "Sequence Functions" (NEXTVAL,
// SETVAL, LASTVAL). Sorted by name (binary search).
constexpr mysql_builtin mysql_builtins[] = {
    {"found_rows", mysql_effect::pins},
    {"get_lock", mysql_effect::pins},
    {"is_free_lock", mysql_effect::describes},
    {"is_used_lock", mysql_effect::describes},
    {"last_insert_id", mysql_effect::previous},  // with an argument: mysql_effect::session (see mysql_body_scanner)
    {"lastval", mysql_effect::session},
    {"nextval", mysql_effect::writes},
    {"release_all_locks", mysql_effect::writes},
    {"release_lock", mysql_effect::writes},
    {"row_count", mysql_effect::previous},
    {"setval", mysql_effect::writes},
};
static_assert(std::is_sorted(std::begin(mysql_builtins), std::end(mysql_builtins),
                             [](const mysql_builtin& a, const mysql_builtin& b) { return a.name < b.name; }));

const mysql_builtin* find_mysql_builtin(std::string_view name) noexcept {
  const mysql_builtin* const it =
      std::lower_bound(std::begin(mysql_builtins), std::end(mysql_builtins), name,
                       [](const mysql_builtin& entry, std::string_view n) { return entry.name < n; });
  return it != std::end(mysql_builtins) && it->name == name ? it : nullptr;
}

// `fn`, called, is `name` from routing.write_functions: "f" matches f(...) in any database, "db.f"
// matches db.f(...) and an unqualified f(...) (the current database may be db). Case-insensitive,
// as MySQL's function names.
bool mysql_matches_configured(std::string_view fn, const token* qualifier, std::string_view name) noexcept {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) {
    return fn == name;
  }
  if (fn != name.substr(dot + 1)) {
    return false;
  }
  if (qualifier == nullptr) {
    return true;
  }
  std::string_view db = name.substr(0, dot);
  const std::size_t db_dot = db.rfind('.');
  if (db_dot != std::string_view::npos) {
    db = db.substr(db_dot + 1);
  }
  return mysql_name(*qualifier).view() == db;
}

// What a MySQL statement needs, found anywhere in it.
struct mysql_body_facts {
  bool primary = false;   // must run on the primary
  bool pins = false;      // see classification::pins_session
  bool previous = false;  // see classification::uses_previous_result
};

// The body checks, one significant token at a time with the one after it (token_kind::end at the end
// of the statement), remembering the two before it.
class mysql_body_scanner {
 public:
  mysql_body_scanner(bool select_like, const options& opts) noexcept : select_like_(select_like), opts_(opts) {}

  void step(const token& t, const token& n) noexcept {
    const token before = previous_;
    const token before_before = previous2_;
    previous2_ = previous_;
    previous_ = t;
    if (pending_last_insert_id_) {
      // LAST_INSERT_ID() reads the previous statement's id; LAST_INSERT_ID(expr) sets the session's
      // (MySQL manual, "Information Functions"): the OK packet carries it, nothing pins.
      pending_last_insert_id_ = false;
      b_.previous = b_.previous || is_punct(n, ')');
    }
    switch (t.kind) {
      case token_kind::other:
        b_.primary = true;  // a byte the server rejects: unparseable, so the primary reports the error
        return;
      case token_kind::op:
        if (t.text == ":=" && is_op(before_before, "@") &&
            (is_name(before) || before.kind == token_kind::string)) {
          b_.pins = true;  // @x := expr assigns a user variable (MySQL manual, "User-Defined Variables")
        }
        return;
      case token_kind::punct:
        if (t.text[0] == '.') {
          before_dot_ = before;
        }
        return;
      case token_kind::word:
      case token_kind::quoted_ident:
        if (is_punct(n, '(')) {
          call(t, before);
        } else if (t.kind == token_kind::word) {
          word(t, n, before, before_before);
        }
        return;
      default:
        return;
    }
  }

  const mysql_body_facts& facts() const noexcept { return b_; }

 private:
  void word(const token& t, const token& n, const token& before, const token& before_before) noexcept {
    if (mysql_kw(t, "for")) {
      // SELECT ... FOR UPDATE | FOR SHARE (MySQL manual, "Locking Reads"); FOR SYSTEM_TIME is a read.
      b_.primary = b_.primary || mysql_kw(n, {"update", "share"});
    } else if (mysql_kw(t, "in")) {
      b_.primary = b_.primary || (mysql_kw(before, "lock") && mysql_kw(n, "share"));  // LOCK IN SHARE MODE
    } else if (select_like_ && mysql_kw(t, "into")) {
      // SELECT ... INTO OUTFILE | DUMPFILE writes a file on the server; INTO @var sets a user variable
      // of this session (MySQL manual, "SELECT ... INTO Statement").
      b_.primary = true;
      b_.pins = b_.pins || is_op(n, "@");
    } else if (mysql_kw(t, "sql_calc_found_rows")) {
      b_.pins = true;  // the count is kept for FOUND_ROWS() on this connection
    } else if (mysql_kw(t, "value") && mysql_kw(before, {"next", "previous"}) && mysql_kw(n, "for")) {
      b_.primary = true;  // NEXT VALUE FOR s, PREVIOUS VALUE FOR s (MariaDB KB, "Sequences")
    } else if (mysql_kw(t, {"nextval", "currval", "lastval"}) && is_punct(before, '.')) {
      b_.primary = true;  // s.nextval, s.currval (MariaDB)
    } else if (is_op(before, "@@") || (is_punct(before, '.') && is_op(previous_at_dot_, "@@"))) {
      // @@warning_count, @@session.error_count, @@identity, @@last_insert_id
      if (mysql_kw(t, {"warning_count", "error_count"})) {
        b_.previous = true;
      } else if (mysql_kw(t, {"identity", "last_insert_id"})) {
        b_.previous = true;
        b_.primary = true;
      }
    } else if (mysql_kw(t, {"processlist", "performance_schema"})) {
      b_.primary = true;  // describes the server: through sluice the server is the cluster (its primary)
    }
    if (is_op(before_before, "@@") && is_punct(before, '.')) {
      previous_at_dot_ = token{};
    }
    if (is_op(before, "@@")) {
      previous_at_dot_ = before;  // @@session. ...: the scope, then '.', then the name
    }
  }

  void call(const token& t, const token& before) noexcept {
    const mysql_name name(t);
    const mysql_builtin* const found = find_mysql_builtin(name.view());
    if (found != nullptr) {
      b_.primary = true;
      b_.pins = b_.pins || found->what == mysql_effect::pins;
      pending_last_insert_id_ = found->name == "last_insert_id";
      b_.previous = b_.previous || (found->what == mysql_effect::previous && !pending_last_insert_id_);
      return;
    }
    const token* const qualifier = is_punct(before, '.') && is_name(before_dot_) ? &before_dot_ : nullptr;
    for (const std::string& configured : opts_.write_functions) {
      if (mysql_matches_configured(name.view(), qualifier, configured)) {
        b_.primary = true;
        return;
      }
    }
  }

  bool select_like_;
  const options& opts_;
  mysql_body_facts b_;
  token previous_;
  token previous2_;
  token before_dot_;                     // the token before the latest '.': a database, before a function
  token previous_at_dot_;                // the "@@" of @@scope.name
  bool pending_last_insert_id_ = false;  // LAST_INSERT_ID was called: its argument list decides
};

mysql_body_facts scan_mysql_body(std::string_view statement, bool in_executable, bool select_like,
                                 const options& opts) noexcept {
  mysql_body_scanner scanner(select_like, opts);
  mysql_cursor c(mysql_lexer(statement, lex_modes(opts), in_executable));
  while (!c.at_end()) {
    const token t = c.take();
    scanner.step(t, c.peek());
  }
  return scanner.facts();
}

// What one MySQL statement needs and does.
struct mysql_facts {
  route target = route::primary;
  bool pins = false;                    // see classification::pins_session
  bool session_set = false;             // see classification::has_session_set
  bool begins = false;                  // BEGIN [WORK] / START TRANSACTION
  bool set_transaction = false;         // SET TRANSACTION (the next transaction's characteristics)
  bool defines = false;                 // see classification::defines_function
  bool previous = false;                // see classification::uses_previous_result
  tx_mode mode = tx_mode::unspecified;  // the READ ONLY / READ WRITE of either
};

// The value token is false, off or 0 (quoted or not): MySQL's boolean system variables.
bool mysql_is_false(const token& t) noexcept {
  std::string_view v = t.text;
  if (t.kind == token_kind::string && !t.unterminated && v.size() >= 2 && (v.front() == '\'' || v.front() == '"')) {
    v = v.substr(1, v.size() - 2);
  } else if (t.kind != token_kind::word && t.kind != token_kind::number) {
    return false;
  }
  return iequals(v, "false") || iequals(v, "off") || v == "0";
}

// SET, after the keyword (MySQL manual, "SET Syntax for Variable Assignment", "SET NAMES", "SET
// CHARACTER SET", "SET TRANSACTION", "SET PASSWORD", "SET ROLE"; MariaDB KB, "SET STATEMENT" is
// handled by the caller). A list of assignments, each a user variable (@x: pins, the variable lives on
// the server connection), a system variable in the scope last named (GLOBAL | PERSIST | PERSIST_ONLY:
// the server's; SESSION | LOCAL, the default: has_session_set), or NAMES / CHARACTER SET / CHARSET.
// `SET sql_log_bin = 0` pins: the connection's later writes must not reach the binary log. SET
// TRANSACTION without a scope sets the characteristics of the session's next transaction.
void analyze_mysql_set(mysql_cursor& c, mysql_facts& f) noexcept {
  enum class scope {
    session,  // SESSION, LOCAL, or none named
    global,   // GLOBAL, PERSIST, PERSIST_ONLY: the server's, not this session's
  };
  scope current = scope::session;
  bool scoped = true;
  if (mysql_kw(c.peek(), {"global", "persist", "persist_only"})) {
    current = scope::global;
    c.take();
  } else if (mysql_kw(c.peek(), {"session", "local"})) {
    c.take();
  } else {
    scoped = false;
  }
  if (mysql_kw(c.peek(), "transaction")) {
    mysql_cursor probe = c;
    probe.take();
    if (!is_assign(probe.peek())) {
      c = probe;
      f.mode = mysql_tx_modes(c);
      if (!scoped) {
        // The next transaction's characteristics: as PostgreSQL's SET TRANSACTION, READ ONLY alone may
        // run on a replica, and after BEGIN in the same string it makes the transaction read-only.
        f.set_transaction = true;
        f.target = f.mode == tx_mode::read_only ? route::replica : route::primary;
      }
      // Session state until the next transaction starts (no scope), or for the session (SESSION).
      f.session_set = current == scope::session;
      return;
    }
  }
  if (mysql_kw(c.peek(), {"password", "default"})) {
    return;  // SET PASSWORD, SET DEFAULT ROLE: write the grant tables
  }
  if (mysql_kw(c.peek(), "role")) {
    f.pins = true;  // SET ROLE: the session's current role (as PostgreSQL's SET ROLE)
    return;
  }
  // One assignment per iteration; each ends at a top-level ',' or the end.
  while (!c.at_end()) {
    scope item = current;
    token t = c.take();
    if (mysql_kw(t, {"global", "persist", "persist_only"})) {
      current = item = scope::global;
      t = c.take();
    } else if (mysql_kw(t, {"session", "local"})) {
      current = item = scope::session;
      t = c.take();
    }
    bool user_variable = false;
    if (is_op(t, "@")) {
      user_variable = true;
    } else if (is_op(t, "@@")) {
      // @@global.x, @@session.x, @@local.x, @@persist.x or @@x (the session's)
      item = scope::session;
      mysql_cursor probe = c;
      const token s = probe.take();
      if (mysql_kw(s, {"global", "session", "local", "persist", "persist_only"}) && is_punct(probe.peek(), '.')) {
        item = mysql_kw(s, {"session", "local"}) ? scope::session : scope::global;
        probe.take();
        c = probe;
      }
      t = c.take();
    } else if (mysql_kw(t, {"names", "charset"}) || (mysql_kw(t, "character") && mysql_kw(c.peek(), "set"))) {
      f.session_set = true;  // the connection's character sets: the session's whatever the scope
      item = scope::global;  // counted: nothing more to look at in this item
    }
    if (user_variable) {
      f.pins = true;
    } else if (item == scope::session) {
      f.session_set = true;
      if (mysql_kw(t, "sql_log_bin") || (t.kind == token_kind::quoted_ident && mysql_name(t).view() == "sql_log_bin")) {
        if (is_assign(c.peek())) {
          c.take();
          f.pins = f.pins || mysql_is_false(c.peek());
        }
      }
    }
    // Skip the rest of the assignment: to the next ',' outside parentheses.
    std::size_t depth = 0;
    while (!c.at_end()) {
      const token u = c.peek();
      if (depth == 0 && is_punct(u, ',')) {
        c.take();
        break;
      }
      if (is_punct(u, '(')) {
        ++depth;
      } else if (is_punct(u, ')')) {
        depth -= depth > 0 ? 1 : 0;
      }
      c.take();
    }
  }
}

// SHOW, after the keyword: a replica answers, except for what describes one server (its threads,
// status counters, binary logs, replication, engine internals: through sluice the server is the
// cluster, whose primary answers) or what the previous statement left (SHOW WARNINGS | ERRORS,
// SHOW COUNT(*) WARNINGS, SHOW PROFILE[S]).
void analyze_mysql_show(mysql_cursor& c, mysql_facts& f) noexcept {
  f.target = route::replica;
  while (mysql_kw(c.peek(), {"full", "global", "session", "local", "all"})) {
    c.take();
  }
  const token w = c.peek();
  if (mysql_kw(w, {"processlist", "status", "master", "binary", "binlog", "slave", "slaves", "replica",
                "replicas", "relaylog", "engine", "innodb", "explain", "analyze", "open", "mutex"})) {
    f.target = route::primary;
  } else if (mysql_kw(w, {"warnings", "errors", "count", "profile", "profiles"})) {
    f.previous = true;
  }
}

// CREATE ...: the kind of object after the prefix (OR REPLACE, DEFINER = user, ALGORITHM = ...,
// SQL SECURITY ..., AGGREGATE). Pins for TEMPORARY tables and sequences (MySQL manual, "CREATE
// TEMPORARY TABLE Statement": visible only within the current session); defines for FUNCTION and
// PROCEDURE.
void analyze_mysql_create(mysql_cursor& c, mysql_facts& f) noexcept {
  while (!c.at_end()) {
    const token t = c.take();
    if (mysql_kw(t, "temporary")) {
      f.pins = true;
      return;
    }
    if (mysql_kw(t, {"function", "procedure"})) {
      f.defines = true;
      return;
    }
    if (mysql_kw(t, {"table", "view", "index", "database", "schema", "user", "role", "server", "sequence",
                  "tablespace", "logfile", "trigger", "event", "unique", "fulltext", "spatial", "package"})) {
      return;
    }
  }
}

// DESCRIBE | DESC | EXPLAIN, after the keyword: takes the options (EXTENDED, PARTITIONS, FORMAT =
// name, ANALYZE) and says whether the statement that follows runs (EXPLAIN ANALYZE: MySQL manual,
// "EXPLAIN Statement"). `explains` is set when a statement follows (not a table's columns).
bool mysql_explain_runs(mysql_cursor& c, bool& explains) noexcept {
  bool runs = false;
  for (;;) {
    if (c.accept("analyze")) {
      runs = true;
    } else if (c.accept("extended") || c.accept("partitions")) {
    } else if (mysql_kw(c.peek(), "format")) {
      c.take();
      if (is_op(c.peek(), "=")) {
        c.take();
      }
      c.take();
    } else {
      break;
    }
  }
  explains = is_punct(c.peek(), '(') ||
             mysql_kw(c.peek(), {"select", "with", "table", "values", "insert", "update", "delete", "replace", "for"});
  return runs;
}

mysql_facts analyze_mysql(std::string_view statement, bool in_executable, const options& opts) noexcept {
  mysql_facts f;
  mysql_cursor c(mysql_lexer(statement, lex_modes(opts), in_executable));
  bool select_like = false;
  bool plans_only = false;  // EXPLAIN without ANALYZE: planned, not run
  bool in_parens = false;
  bool at_start = true;
  for (;; at_start = false) {
    const token t = c.take();
    if (is_punct(t, '(')) {
      in_parens = true;  // (SELECT ...) UNION (SELECT ...)
      continue;
    }
    // TABLE t and VALUES (MySQL 8.0.19, MariaDB 10.3 for VALUES) read like SELECT.
    if (mysql_kw(t, {"select", "values", "table"})) {
      select_like = true;
      break;
    }
    if (mysql_kw(t, "with")) {
      select_like = mysql_kw(mysql_with_main(c), {"select", "values", "table"});
      break;
    }
    if (in_parens) {
      break;
    }
    if (mysql_kw(t, {"explain", "describe", "desc"})) {
      bool explains = false;
      if (mysql_explain_runs(c, explains)) {
        plans_only = false;  // EXPLAIN ANALYZE runs the statement: classified as the statement
      } else if (explains) {
        plans_only = true;
      }
      if (mysql_kw(c.peek(), "for")) {
        return f;  // EXPLAIN FOR CONNECTION n: another connection of one server
      }
      if (!explains) {
        f.target = route::replica;  // DESCRIBE t [column]: the table's columns
        return f;
      }
      continue;
    }
    if (mysql_kw(t, "analyze")) {
      // MariaDB's ANALYZE [FORMAT=JSON] statement runs it and reports; ANALYZE TABLE writes statistics.
      if (mysql_kw(c.peek(), {"table", "tables", "no_write_to_binlog", "local"})) {
        return f;
      }
      if (c.accept("format")) {
        if (is_op(c.peek(), "=")) {
          c.take();
        }
        c.take();
      }
      continue;
    }
    if (mysql_kw(t, "set") && mysql_kw(c.peek(), "statement")) {
      // MariaDB's SET STATEMENT var = value [, ...] FOR statement: the variables last one statement
      // (MariaDB KB, "SET STATEMENT"); the statement decides.
      std::size_t depth = 0;
      while (!c.at_end()) {
        const token u = c.take();
        if (is_punct(u, '(')) {
          ++depth;
        } else if (is_punct(u, ')')) {
          depth -= depth > 0 ? 1 : 0;
        } else if (depth == 0 && mysql_kw(u, "for")) {
          break;
        }
      }
      continue;
    }
    if (mysql_kw(t, {"show", "help"})) {
      if (mysql_kw(t, "show")) {
        analyze_mysql_show(c, f);
      } else {
        f.target = route::replica;
      }
    } else if (at_start && mysql_kw(t, "begin") && !mysql_kw(c.peek(), "not")) {
      f.begins = true;  // BEGIN [WORK] (MySQL manual, "START TRANSACTION, COMMIT, and ROLLBACK")
      return f;
    } else if (at_start && mysql_kw(t, "start") && c.accept("transaction")) {
      // START TRANSACTION [READ ONLY | READ WRITE | WITH CONSISTENT SNAPSHOT], ...
      f.begins = true;
      f.mode = mysql_tx_modes(c);
      return f;
    } else if (at_start && mysql_kw(t, "set")) {
      analyze_mysql_set(c, f);
      return f;
    } else if (mysql_kw(t, "use")) {
      f.session_set = true;  // the current database: session state (session_track_schema reports it)
      return f;
    } else if (mysql_kw(t, "create")) {
      analyze_mysql_create(c, f);
    } else if (mysql_kw(t, {"alter", "drop"}) && mysql_kw(c.peek(), {"function", "procedure"})) {
      f.defines = true;
    } else if (mysql_kw(t, "prepare")) {
      f.pins = true;  // SQL PREPARE: the statement lives on the server connection
    } else if (mysql_kw(t, "execute")) {
      if (mysql_kw(c.peek(), "immediate")) {
        f.session_set = true;  // MariaDB's EXECUTE IMMEDIATE 'sql': unseen SQL may change session state
      } else {
        f.pins = true;  // EXECUTE stmt: runs what PREPARE left on the connection
      }
    } else if (mysql_kw(t, "lock")) {
      f.pins = true;  // LOCK TABLE[S]: the locks are the session's until UNLOCK TABLES
    } else if (mysql_kw(t, "backup")) {
      f.pins = mysql_kw(c.peek(), {"lock", "stage"});  // MariaDB BACKUP LOCK t, BACKUP STAGE: the session's
    } else if (mysql_kw(t, "flush")) {
      // FLUSH TABLES [t, ...] WITH READ LOCK | FOR EXPORT: a lock held by the session
      while (!c.at_end()) {
        const token u = c.take();
        if ((mysql_kw(u, "with") && mysql_kw(c.peek(), "read")) ||
            (mysql_kw(u, "for") && mysql_kw(c.peek(), "export"))) {
          f.pins = true;
          break;
        }
      }
    } else if (mysql_kw(t, "xa")) {
      f.pins = mysql_kw(c.peek(), {"start", "begin"});  // the XA transaction belongs to the connection
    } else if (mysql_kw(t, "handler")) {
      // HANDLER t OPEN [AS alias]: an open handler of the session
      while (!c.at_end() && !mysql_kw(c.peek(), {"open", "read", "close"})) {
        c.take();
      }
      f.pins = mysql_kw(c.peek(), "open");
    } else if (mysql_kw(t, "get") && (mysql_kw(c.peek(), {"diagnostics", "current", "stacked"}))) {
      // GET [CURRENT | STACKED] DIAGNOSTICS: the previous statement's; into user variables, it pins.
      f.target = route::replica;
      f.previous = true;
      while (!c.at_end()) {
        const bool variable = is_op(c.take(), "@");
        f.pins = f.pins || variable;
      }
      if (f.pins) {
        f.target = route::primary;
      }
      return f;
    }
    break;
  }
  if (select_like) {
    f.target = route::replica;
  }
  const mysql_body_facts b = scan_mysql_body(statement, in_executable, select_like, opts);
  f.pins = f.pins || b.pins;
  f.previous = f.previous || b.previous;
  if (b.primary || f.pins) {
    f.target = route::primary;
  }
  if (plans_only) {
    f.pins = false;  // planned, not run: nothing pins, sets or reads a previous result
    f.session_set = false;
    f.previous = false;
  }
  return f;
}

// All comments before the first token may hold a hint (# comments too); if they disagree, primary
// wins. Executable comments are code.
hint leading_hint_mysql(std::string_view sql) noexcept {
  mysql_lexer lex(sql);
  hint found = hint::none;
  for (token t = lex.next(); t.kind == token_kind::line_comment || t.kind == token_kind::block_comment;
       t = lex.next()) {
    if (t.unterminated) {
      continue;
    }
    const hint h = comment_text::parse_hint(comment_body(t));
    if (h == hint::primary || (h == hint::replica && found == hint::none)) {
      found = h;
    }
  }
  return found;
}

}  // namespace

namespace {

// What each byte is to the fast path for a plain SELECT. Everything `other` (comments and hints, '(' for
// calls and subqueries, '@' for variables, ';', backslashes, ':', brackets and braces, non-ASCII) sends
// the text to the full path.
enum class fast_byte : std::uint8_t {
  other,  // not in a plain SELECT: the full path decides
  word,   // letters, digits, '_', '$': part of a word
  quote,  // ' " `: a string or quoted identifier, skipped to its closing quote
  plain,  // whitespace, ',', '.', and operator characters
};
constexpr auto fast_bytes = [] {
  std::array<fast_byte, 256> kind{};
  for (int c = 'a'; c <= 'z'; ++c) kind[static_cast<std::size_t>(c)] = fast_byte::word;
  for (int c = 'A'; c <= 'Z'; ++c) kind[static_cast<std::size_t>(c)] = fast_byte::word;
  for (int c = '0'; c <= '9'; ++c) kind[static_cast<std::size_t>(c)] = fast_byte::word;
  kind['_'] = kind['$'] = fast_byte::word;
  kind['\''] = kind['"'] = kind['`'] = fast_byte::quote;
  for (const char c : std::string_view(" \t\r\n,.=<>*+!%&|^~?")) kind[static_cast<unsigned char>(c)] = fast_byte::plain;
  return kind;
}();

fast_byte byte_kind(char c) noexcept { return fast_bytes[static_cast<unsigned char>(c)]; }

bool iequals_lower(std::string_view word, std::string_view lower) noexcept {
  return word.size() == lower.size() && std::equal(word.begin(), word.end(), lower.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
         });
}

// The words that make a SELECT anything but a plain read in mysql_body_scanner (locking reads, INTO,
// LOCK IN SHARE MODE, SQL_CALC_FOUND_ROWS, sequences, what describes the server): any of them, anywhere
// outside quotes, and the full path decides. By length first: most words are none of these.
bool fast_select_word(std::string_view word) noexcept {
  switch (word.size()) {
    case 2: return iequals_lower(word, "in");
    case 3: return iequals_lower(word, "for");
    case 4: return iequals_lower(word, "into") || iequals_lower(word, "lock");
    case 5: return iequals_lower(word, "value") || iequals_lower(word, "share");
    case 7: return iequals_lower(word, "nextval") || iequals_lower(word, "currval") || iequals_lower(word, "lastval");
    case 11: return iequals_lower(word, "processlist");
    case 18: return iequals_lower(word, "performance_schema");
    case 19: return iequals_lower(word, "sql_calc_found_rows");
    default: return false;
  }
}

}  // namespace

bool classify_mysql_fast(std::string_view sql, classification& out) noexcept {
  out = classification{};
  const std::size_t size = sql.size();
  std::size_t i = 0;
  while (i < size && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\r' || sql[i] == '\n')) ++i;
  const std::size_t verb = i;
  while (i < size && byte_kind(sql[i]) == fast_byte::word) ++i;
  if (!iequals_lower(sql.substr(verb, i - verb), "select")) return false;
  while (i < size) {
    switch (byte_kind(sql[i])) {
      case fast_byte::other:
        return false;
      case fast_byte::plain:
        ++i;
        break;
      case fast_byte::quote: {
        // To the closing quote (a doubled one stands for itself; no backslashes get here). Unterminated:
        // the full path's (it sends those to the primary).
        const char quote = sql[i++];
        for (;;) {
          if (i >= size || byte_kind(sql[i]) == fast_byte::other) return false;
          if (sql[i] != quote) {
            ++i;
          } else if (i + 1 < size && sql[i + 1] == quote) {
            i += 2;
          } else {
            ++i;
            break;
          }
        }
        break;
      }
      case fast_byte::word: {
        const std::size_t start = i;
        while (i < size && byte_kind(sql[i]) == fast_byte::word) ++i;
        if (fast_select_word(sql.substr(start, i - start))) return false;
        break;
      }
    }
  }
  out.target = route::replica;
  return true;
}

// classify_full for sql_dialect::mysql, in the shape of the PostgreSQL one.
classification classify_mysql(std::string_view sql, const options& opts) noexcept {
  classification out;
  out.routing_hint = leading_hint_mysql(sql);
  mysql_statement_splitter split(sql, lex_modes(opts));
  std::string_view statement;
  bool in_executable = false;
  std::size_t count = 0;
  bool primary = false;
  bool read_only = false;
  while (split.next(statement, in_executable)) {
    const mysql_facts f = analyze_mysql(statement, in_executable, opts);
    if (count == 0 && f.begins) {
      out.begins_transaction = true;
      read_only = f.mode == tx_mode::read_only;
    } else {
      if (out.begins_transaction && f.set_transaction && f.mode != tx_mode::unspecified) {
        read_only = f.mode == tx_mode::read_only;
      }
      primary = primary || f.target == route::primary;
    }
    out.pins_session = out.pins_session || f.pins;
    out.has_session_set = out.has_session_set || f.session_set;
    out.defines_function = out.defines_function || f.defines;
    out.uses_previous_result = out.uses_previous_result || f.previous;
    ++count;
  }
  out.empty = count == 0 && !split.saw_unterminated();
  out.statement_count_multiple = count > 1;
  out.read_only_transaction = out.begins_transaction && read_only;
  if ((out.begins_transaction && !read_only) || out.pins_session || split.saw_unterminated()) {
    primary = true;  // an unterminated literal or comment is an error the server should report
  }
  out.target = primary ? route::primary : route::replica;
  return out;
}


std::string_view find_tag_mysql(std::string_view sql, std::string_view key) noexcept {
  if (key.empty()) {
    return {};
  }
  mysql_lexer lex(sql);  // the quoting modes do not matter: only the leading comments are read
  for (token t = lex.next(); t.kind == token_kind::line_comment || t.kind == token_kind::block_comment;
       t = lex.next()) {
    if (t.unterminated) {
      continue;
    }
    const std::string_view value = comment_text::tag_value(comment_body(t), key);
    if (!value.empty()) {
      return value;
    }
  }
  return {};
}

}  // namespace sluice::router::classify
