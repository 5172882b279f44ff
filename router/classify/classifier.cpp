// Sans-IO SQL read/write classifier: splits a Query string into statements with the lexer and decides,
// statement by statement, whether a replica may run it. What it does not recognise goes to the primary.
// PostgreSQL's dialect; the MySQL one is in mysql_classifier.cpp, where classify() sends MySQL text.
#include "router/classify/classifier.hpp"

#include "router/classify/comment_text.hpp"

#include "router/classify/lexer.hpp"
#include "router/classify/mysql_classifier.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <utility>

namespace sluice::router::classify {

namespace {

// ---- Tokens ---------------------------------------------------------------------------------------

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// `text`, in any case, equals the lower-case ASCII `lower`: keywords are compared in place.
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

bool is_kw(const token& t, std::string_view kw) noexcept {
  return t.kind == token_kind::word && iequals(t.text, kw);
}

bool is_kw(const token& t, std::initializer_list<std::string_view> kws) noexcept {
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

// The significant tokens of a statement (comments skipped), with one token of lookahead. Copy it to
// look further ahead: it is two views and an index.
class cursor {
 public:
  explicit cursor(std::string_view sql) noexcept : lex_(sql) { advance(); }

  const token& peek() const noexcept { return next_; }
  bool at_end() const noexcept { return next_.kind == token_kind::end; }
  token take() noexcept {
    const token t = next_;
    advance();
    return t;
  }
  // Takes the next token if it is the keyword `kw`.
  bool accept(std::string_view kw) noexcept {
    if (!is_kw(next_, kw)) {
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

  lexer lex_;
  token next_;
};

// ---- Identifiers ----------------------------------------------------------------------------------

// The bytes of an identifier as PostgreSQL sees it: unquoted words folded to lower case (ASCII, as
// PostgreSQL does for multibyte encodings), "" in quoted identifiers as one ", U&"" escapes decoded to
// UTF-8. next() gives a byte (0..255), end_of_name, or bad_escape.
class ident_reader {
 public:
  static constexpr int end_of_name = -1;
  static constexpr int bad_escape = -2;

  explicit ident_reader(const token& t) noexcept {
    if (t.kind == token_kind::quoted_ident) {
      quoted_ = true;
      unicode_ = t.text.size() >= 3 && t.text[0] != '"';  // U&"..."
      const std::size_t open = unicode_ ? 3 : 1;
      const std::size_t close = t.unterminated ? 0 : 1;
      s_ = t.text.size() >= open + close ? t.text.substr(open, t.text.size() - open - close)
                                         : std::string_view{};
    } else {
      s_ = t.text;
    }
  }

  int next() noexcept {
    if (pending_i_ < pending_n_) {
      return static_cast<unsigned char>(pending_[pending_i_++]);
    }
    if (i_ >= s_.size()) {
      return end_of_name;
    }
    const char c = s_[i_];
    if (!quoted_) {
      ++i_;
      return static_cast<unsigned char>(ascii_lower(c));
    }
    if (c == '"') {
      i_ += 2;  // "" inside a quoted identifier
      return '"';
    }
    if (unicode_ && c == '\\') {
      return escape();
    }
    ++i_;
    return static_cast<unsigned char>(c);
  }

 private:
  // U&"" escapes: \\, \XXXX or \+XXXXXX; a surrogate pair of \XXXX makes one code point.
  int escape() noexcept {
    if (i_ + 1 < s_.size() && s_[i_ + 1] == '\\') {
      i_ += 2;
      return '\\';
    }
    std::uint32_t cp = 0;
    if (!hex(cp)) {
      return fail();
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      std::uint32_t low = 0;
      if (i_ >= s_.size() || s_[i_] != '\\' || !hex(low) || low < 0xDC00 || low > 0xDFFF) {
        return fail();
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0 || cp > 0x10FFFF) {
      return fail();
    }
    encode_utf8(cp);
    return static_cast<unsigned char>(pending_[pending_i_++]);
  }

  // Reads \XXXX or \+XXXXXX at i_ (which is at the backslash).
  bool hex(std::uint32_t& cp) noexcept {
    std::size_t j = i_ + 1;
    std::size_t digits = 4;
    if (j < s_.size() && s_[j] == '+') {
      digits = 6;
      ++j;
    }
    if (j + digits > s_.size()) {
      return false;
    }
    cp = 0;
    for (std::size_t k = 0; k < digits; ++k) {
      const char h = s_[j + k];
      std::uint32_t v = 0;
      if (h >= '0' && h <= '9') {
        v = static_cast<std::uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v = static_cast<std::uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v = static_cast<std::uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
      cp = cp * 16 + v;
    }
    i_ = j + digits;
    return true;
  }

  void encode_utf8(std::uint32_t cp) noexcept {
    pending_i_ = 0;
    if (cp < 0x80) {
      pending_[0] = static_cast<char>(cp);
      pending_n_ = 1;
    } else if (cp < 0x800) {
      pending_[0] = static_cast<char>(0xC0 | (cp >> 6));
      pending_[1] = static_cast<char>(0x80 | (cp & 0x3F));
      pending_n_ = 2;
    } else if (cp < 0x10000) {
      pending_[0] = static_cast<char>(0xE0 | (cp >> 12));
      pending_[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      pending_[2] = static_cast<char>(0x80 | (cp & 0x3F));
      pending_n_ = 3;
    } else {
      pending_[0] = static_cast<char>(0xF0 | (cp >> 18));
      pending_[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      pending_[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      pending_[3] = static_cast<char>(0x80 | (cp & 0x3F));
      pending_n_ = 4;
    }
  }

  int fail() noexcept {
    i_ = s_.size();
    return bad_escape;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  bool quoted_ = false;
  bool unicode_ = false;
  char pending_[4] = {};
  std::size_t pending_n_ = 0;
  std::size_t pending_i_ = 0;
};

// Identifier `t` names `name` (a lower-case function name): unquoted case-insensitively, quoted
// exactly. With `prefix`, `name` need only start it.
bool ident_matches(const token& t, std::string_view name, bool prefix = false) noexcept {
  if (t.kind == token_kind::word && (prefix ? t.text.size() < name.size() : t.text.size() != name.size())) {
    return false;
  }
  ident_reader r(t);
  for (const char ch : name) {
    if (r.next() != static_cast<unsigned char>(ch)) {
      return false;
    }
  }
  return prefix || r.next() == ident_reader::end_of_name;
}

// ---- Statements -----------------------------------------------------------------------------------

// Yields the statements of a Query string: from the first to the last token before each top-level
// ';', empty statements skipped. As psql's psqlscan.l does, a ';' inside the BEGIN ... END body of
// CREATE [OR REPLACE] FUNCTION|PROCEDURE (SQL-standard bodies, PostgreSQL 14) does not split.
class statement_splitter {
 public:
  explicit statement_splitter(std::string_view sql) noexcept : lex_(sql) {}

  bool next(std::string_view& statement) noexcept {
    token first;
    token last;
    bool any = false;
    prefix_word words[4] = {};
    std::size_t word_count = 0;
    std::size_t paren_depth = 0;
    std::size_t begin_depth = 0;
    for (;;) {
      const token t = lex_.next();
      unterminated_ = unterminated_ || t.unterminated;
      if (is_end(t)) {
        break;
      }
      if (t.kind == token_kind::line_comment || t.kind == token_kind::block_comment) {
        continue;
      }
      if (is_punct(t, ';') && begin_depth == 0) {
        if (any) {
          break;
        }
        continue;
      }
      if (!any) {
        first = t;
        any = true;
      }
      last = t;
      if (is_punct(t, '(')) {
        ++paren_depth;
      } else if (is_punct(t, ')')) {
        paren_depth -= paren_depth > 0 ? 1 : 0;
      } else if (t.kind == token_kind::word) {
        if (word_count < 4) {
          words[word_count] = classify_word(t);
        }
        ++word_count;
        if (paren_depth == 0 && is_routine(words)) {
          if (is_kw(t, "begin")) {
            ++begin_depth;
          } else if (is_kw(t, "case")) {
            begin_depth += begin_depth > 0 ? 1 : 0;  // CASE ... END inside the body
          } else if (is_kw(t, "end")) {
            begin_depth -= begin_depth > 0 ? 1 : 0;
          }
        }
      }
    }
    if (!any) {
      return false;
    }
    statement = span_of(first, last);
    return true;
  }

  // Some string, quoted identifier, comment or dollar quote ran off the end of the input.
  bool saw_unterminated() const noexcept { return unterminated_; }

 private:
  enum class prefix_word {
    other,      // any word but those below
    create,     // CREATE
    or_,        // OR
    replace,    // REPLACE
    function,   // FUNCTION
    procedure,  // PROCEDURE
  };

  static prefix_word classify_word(const token& t) noexcept {
    if (is_kw(t, "create")) {
      return prefix_word::create;
    }
    if (is_kw(t, "or")) {
      return prefix_word::or_;
    }
    if (is_kw(t, "replace")) {
      return prefix_word::replace;
    }
    if (is_kw(t, "function")) {
      return prefix_word::function;
    }
    if (is_kw(t, "procedure")) {
      return prefix_word::procedure;
    }
    return prefix_word::other;
  }

  // CREATE [OR REPLACE] {FUNCTION | PROCEDURE}
  static bool is_routine(const prefix_word (&w)[4]) noexcept {
    const auto routine = [](prefix_word p) {
      return p == prefix_word::function || p == prefix_word::procedure;
    };
    return w[0] == prefix_word::create &&
           (routine(w[1]) || (w[1] == prefix_word::or_ && w[2] == prefix_word::replace && routine(w[3])));
  }

  lexer lex_;
  bool unterminated_ = false;
};

enum class tx_mode {
  unspecified,  // neither READ ONLY nor READ WRITE
  read_only,    // READ ONLY
  read_write,   // READ WRITE (wins over READ ONLY: PostgreSQL rejects both together anyway)
};

// Transaction modes, comma-separated or not: ISOLATION LEVEL ..., READ ONLY | READ WRITE, [NOT] DEFERRABLE.
tx_mode scan_tx_modes(cursor& c) noexcept {
  tx_mode mode = tx_mode::unspecified;
  while (!c.at_end()) {
    if (!is_kw(c.take(), "read")) {
      continue;
    }
    if (is_kw(c.peek(), "write")) {
      mode = tx_mode::read_write;
    } else if (is_kw(c.peek(), "only") && mode == tx_mode::unspecified) {
      mode = tx_mode::read_only;
    }
  }
  return mode;
}

// The rest of the statement as written, from its next token to its last (empty if none).
std::string_view rest_text(cursor& c) noexcept {
  if (c.at_end()) {
    return {};
  }
  const token first = c.peek();
  token last = first;
  while (!c.at_end()) {
    last = c.take();
  }
  return span_of(first, last);
}

// The rest of the statement is just the keyword `kw`.
bool rest_is(const cursor& c, std::string_view kw) noexcept {
  cursor probe = c;
  return probe.accept(kw) && probe.at_end();
}

// A possibly dotted variable name (myapp.tenant, "Quoted".x), as written.
bool take_var_name(cursor& c, std::string_view& name) noexcept {
  const token first = c.take();
  if (!is_name(first)) {
    return false;
  }
  token last = first;
  while (is_punct(c.peek(), '.')) {
    c.take();
    last = c.take();
    if (!is_name(last)) {
      return false;
    }
  }
  name = span_of(first, last);
  return true;
}

enum class set_outcome {
  none,         // not SET/RESET, or one that changes no session state we track (SET LOCAL, SET
                // CONSTRAINTS, SET SESSION CHARACTERISTICS, RESET ROLE, malformed ...)
  session,      // a session variable: kind, name, value
  transaction,  // SET TRANSACTION ...: mode
  pin,          // SET [SESSION] ROLE, SET SESSION AUTHORIZATION
};

struct set_statement {
  set_outcome outcome = set_outcome::none;
  set_kind kind = set_kind::set;
  std::string_view canonical_name;  // set when the syntax names the variable (TIME ZONE: "timezone")
  std::string_view name;            // otherwise the name as written, possibly dotted and quoted
  std::string_view value;           // the value as written (empty for resets)
  tx_mode mode = tx_mode::unspecified;
  bool imports_snapshot = false;    // SET TRANSACTION SNAPSHOT 'id'
};

// `value` is the rest of the statement: DEFAULT (or one of `also_reset`) resets, nothing is malformed.
set_statement session_value(cursor& c, std::string_view canonical, std::string_view name,
                            bool empty_resets = false, std::string_view also_reset = {}) noexcept {
  set_statement s;
  s.canonical_name = canonical;
  s.name = name;
  if (rest_is(c, "default") || (!also_reset.empty() && rest_is(c, also_reset)) ||
      (empty_resets && c.at_end())) {
    s.outcome = set_outcome::session;
    s.kind = set_kind::reset;
    return s;
  }
  s.value = rest_text(c);
  if (!s.value.empty()) {
    s.outcome = set_outcome::session;
  }
  return s;
}

// RESET {name | ALL | TIME ZONE | SESSION AUTHORIZATION | ROLE | TRANSACTION ISOLATION LEVEL}
set_statement parse_reset(cursor& c) noexcept {
  set_statement s;
  const token v = c.peek();
  cursor probe = c;
  probe.take();
  const token w = probe.peek();
  if (is_kw(v, "all") && is_end(w)) {
    s.outcome = set_outcome::session;
    s.kind = set_kind::reset_all;
    return s;
  }
  if (is_kw(v, "time") && is_kw(w, "zone")) {
    probe.take();
    if (probe.at_end()) {
      s.outcome = set_outcome::session;
      s.kind = set_kind::reset;
      s.canonical_name = "timezone";
    }
    return s;
  }
  if (is_kw(v, {"role", "session", "transaction"}) || ident_matches(v, "session_authorization")) {
    return s;  // undoes a pin, or transaction-scoped
  }
  std::string_view name;
  if (take_var_name(c, name) && c.at_end()) {
    s.outcome = set_outcome::session;
    s.kind = set_kind::reset;
    s.name = name;
  }
  return s;
}

// SET / RESET, per the VariableSetStmt and VariableResetStmt rules of PostgreSQL's gram.y.
set_statement parse_set(std::string_view statement) noexcept {
  cursor c(statement);
  const token verb = c.take();
  if (is_kw(verb, "reset")) {
    return parse_reset(c);
  }
  set_statement s;
  if (!is_kw(verb, "set")) {
    return s;
  }
  if (is_kw(c.peek(), "local")) {
    return s;  // SET LOCAL lasts until the end of the transaction
  }
  bool session = false;
  if (is_kw(c.peek(), "session")) {
    cursor probe = c;
    probe.take();
    if (is_kw(probe.peek(), "characteristics")) {
      return s;  // SET SESSION CHARACTERISTICS AS TRANSACTION ...
    }
    if (is_kw(probe.peek(), "authorization")) {
      s.outcome = set_outcome::pin;
      return s;
    }
    if (!is_kw(probe.peek(), "to") && !(probe.peek().kind == token_kind::op && probe.peek().text == "=")) {
      c = probe;  // SET SESSION name ...: SESSION is the scope, not a variable named "session"
      session = true;
    }
  }
  if (!session && is_kw(c.peek(), "transaction")) {
    c.take();
    s.outcome = set_outcome::transaction;
    s.imports_snapshot = is_kw(c.peek(), "snapshot");
    s.mode = scan_tx_modes(c);
    return s;
  }
  cursor probe = c;
  const token v = probe.take();
  const token w = probe.peek();
  const bool assigns = is_kw(w, "to") || (w.kind == token_kind::op && w.text == "=");
  if (!session && is_kw(v, "constraints") && !assigns) {
    return s;  // SET CONSTRAINTS lasts until the end of the transaction
  }
  if (is_kw(v, "role") || (is_kw(v, "session") && is_kw(w, "authorization"))) {
    s.outcome = set_outcome::pin;  // SET ROLE, SET SESSION ROLE, SET SESSION SESSION AUTHORIZATION
    return s;
  }
  if (is_kw(v, "time") && is_kw(w, "zone")) {
    probe.take();
    return session_value(probe, "timezone", {}, false, "local");
  }
  if (is_kw(v, "names") && !assigns) {
    return session_value(probe, "client_encoding", {}, true);
  }
  if (is_kw(v, "schema") && !assigns) {
    return session_value(probe, "search_path", {});
  }
  if (is_kw(v, "xml") && is_kw(w, "option")) {
    probe.take();
    return session_value(probe, "xmloption", {});
  }
  std::string_view name;
  if (!take_var_name(c, name)) {
    return s;
  }
  const token assign = c.take();
  if (!is_kw(assign, "to") && !(assign.kind == token_kind::op && assign.text == "=")) {
    return s;  // SET name FROM CURRENT (meaningful only in CREATE FUNCTION), or malformed
  }
  const token only = cursor(name).peek();
  if (only.text.size() == name.size() &&
      (ident_matches(only, "role") || ident_matches(only, "session_authorization"))) {
    s.outcome = set_outcome::pin;  // SET role = x is SET ROLE x
    return s;
  }
  return session_value(c, {}, name);
}

// What one statement needs and does.
struct statement_facts {
  route target = route::primary;
  bool pins = false;                    // see classification::pins_session
  bool resets = false;                  // see classification::resets_server_state
  bool session_set = false;             // a session-level SET / RESET
  bool begins = false;                  // BEGIN / START TRANSACTION
  bool set_transaction = false;         // SET TRANSACTION
  bool calls = false;                   // see classification::calls_functions
  bool defines = false;                 // see classification::defines_function
  tx_mode mode = tx_mode::unspecified;  // the READ ONLY / READ WRITE of either
};

// WITH [RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (query) [SEARCH ...] [CYCLE ...], ... main:
// returns the keyword of the main statement, the first statement keyword outside the parentheses.
token with_main(cursor& c) noexcept {
  std::ptrdiff_t depth = 0;
  while (!c.at_end()) {
    const token t = c.take();
    if (is_punct(t, '(')) {
      ++depth;
    } else if (is_punct(t, ')')) {
      --depth;
    } else if (depth <= 0 && is_kw(t, {"select", "values", "table", "insert", "update", "delete", "merge"})) {
      return t;
    }
  }
  return c.peek();
}

// PostgreSQL's defGetBoolean: false, off and 0 (quoted or not) are false.
bool is_false(const token& t) noexcept {
  std::string_view v = t.text;
  if (t.kind == token_kind::string && !t.unterminated && v.size() >= 2 && v.front() == '\'') {
    v = v.substr(1, v.size() - 2);
  } else if (t.kind != token_kind::word && t.kind != token_kind::number) {
    return false;
  }
  return iequals(v, "false") || iequals(v, "off") || v == "0";
}

// After EXPLAIN: takes the options, leaving the cursor at the explained statement, and says whether
// it will run (ANALYZE). EXPLAIN ANALYZE [VERBOSE] stmt | EXPLAIN VERBOSE stmt
// | EXPLAIN (option [value], ...) stmt.
bool explain_runs(cursor& c) noexcept {
  if (c.accept("analyze") || c.accept("analyse")) {
    c.accept("verbose");
    return true;
  }
  if (c.accept("verbose") || !is_punct(c.peek(), '(')) {
    return false;
  }
  c.take();
  bool runs = false;
  for (;;) {
    const token option = c.take();
    if (is_end(option)) {
      return true;  // malformed: play safe
    }
    token value;
    std::size_t values = 0;
    std::size_t depth = 0;
    token t;
    for (;;) {
      t = c.take();
      if (is_end(t)) {
        return true;
      }
      if (depth == 0 && (is_punct(t, ',') || is_punct(t, ')'))) {
        break;
      }
      if (is_punct(t, '(')) {
        ++depth;
      } else if (is_punct(t, ')')) {
        --depth;
      }
      value = t;
      ++values;
    }
    if (is_kw(option, {"analyze", "analyse"})) {
      runs = !(values == 1 && is_false(value));
    }
    if (is_punct(t, ')')) {
      return runs;
    }
  }
}

// What a statement's body needs, found anywhere in it: calls of built-in or configured functions that
// must run on the primary, names of server-describing relations, data-modifying statements in
// parentheses (CTE bodies), row locks, SELECT ... INTO, and bytes PostgreSQL rejects.
struct body_facts {
  bool primary = false;  // must run on the primary: it writes, or its answer is the primary's to give
  bool pins = false;
  bool sets = false;   // calls set_config(): may change a session setting, as SET does
  bool calls = false;  // calls something that may be a user's function (see may_be_user_function)
};

// ---- Built-in functions and relations that need the primary ---------------------------------------

// Why a built-in name sends its statement to the primary.
enum class effect : unsigned char {
  writes,     // changes data, catalogs, files or the server's state, or takes a transaction id: a
              // standby refuses it (or would do it to itself, not to the primary)
  session,    // uses this session's state on its server (currval, lastval): wrong on another server
  pins,       // leaves state on the server connection (session advisory locks, a backup in progress,
              // a replication origin set up for the session): the session is pinned to the primary
  sets,       // set_config(): may change a session setting, as SET does
  describes,  // describes the server: recovery state, WAL positions, snapshots, statistics, locks.
              // Through sluice the server is the cluster, and its primary is not in recovery
};

// Where a name counts.
enum class match : unsigned char {
  call,      // only called: name(...)
  anywhere,  // any name token: a relation (FROM pg_catalog.pg_locks), or a function of that name
};

struct builtin {
  std::string_view name;  // the name as PostgreSQL resolves it (lower case); a family's prefix
  effect what;
  match where = match::call;
};

constexpr effect W = effect::writes;
constexpr effect D = effect::describes;

// Built-ins that must run on the primary, sorted by name (binary search). docs/configuration.md lists
// them with a reason each; keep the two in step. A snapshot exported by pg_export_snapshot() inside
// BEGIN READ ONLY is a known limitation: a transaction's server is chosen at its first statement, and a
// read-only transaction goes to a replica by design (SET TRANSACTION SNAPSHOT, below, goes to the
// primary), so the session has to notice the export.
constexpr builtin builtins[] = {
    {"brin_desummarize_range", W},
    {"brin_summarize_new_values", W},
    {"brin_summarize_range", W},
    {"currval", effect::session},
    {"gin_clean_pending_list", W},
    {"lastval", effect::session},
    {"lo_creat", W},
    {"lo_create", W},
    {"lo_export", W},  // writes a file on the server
    {"lo_from_bytea", W},
    {"lo_import", W},
    {"lo_open", W},  // may open for writing (INV_WRITE); the descriptor lives in the transaction
    {"lo_put", W},
    {"lo_truncate", W},
    {"lo_truncate64", W},
    {"lo_unlink", W},
    {"lowrite", W},
    {"nextval", W},
    {"pg_advisory_lock", effect::pins},
    {"pg_advisory_lock_shared", effect::pins},
    {"pg_backup_start", effect::pins},  // the backup belongs to the session: pg_backup_stop there
    {"pg_backup_stop", W},
    {"pg_blocking_pids", D},
    {"pg_cancel_backend", W},  // the pid is one of the primary's (pg_stat_activity is answered there)
    {"pg_clear_attribute_stats", W},
    {"pg_clear_relation_stats", W},
    {"pg_conf_load_time", D},
    {"pg_copy_logical_replication_slot", W},
    {"pg_copy_physical_replication_slot", W},
    {"pg_current_logfile", D},
    {"pg_current_snapshot", D},
    {"pg_current_xact_id", W},  // assigns a transaction id
    {"pg_drop_replication_slot", W},
    {"pg_export_snapshot", D},  // the importer (SET TRANSACTION SNAPSHOT) must be on the same server
    {"pg_get_replication_slots", D},
    {"pg_get_wal_replay_pause_state", D},
    {"pg_import_system_collations", W},
    {"pg_is_in_recovery", D},  // pg_dump asks, and skips unlogged tables' data if told true
    {"pg_is_wal_replay_paused", D},
    {"pg_is_xlog_replay_paused", D},
    {"pg_last_committed_xact", D},
    {"pg_last_xact_replay_timestamp", D},
    {"pg_lock_status", D},
    {"pg_log_backend_memory_contexts", W},
    {"pg_notify", W},
    {"pg_postmaster_start_time", D},
    {"pg_prepared_xact", D},
    {"pg_promote", W},
    {"pg_reload_conf", W},
    {"pg_replication_origin_session_setup", effect::pins},
    {"pg_replication_slot_advance", W},
    {"pg_restore_attribute_stats", W},
    {"pg_restore_relation_stats", W},
    {"pg_rotate_logfile", W},
    {"pg_start_backup", effect::pins},  // before PostgreSQL 15; non-exclusive backups are the session's
    {"pg_stat_statements_reset", W},
    {"pg_stop_backup", W},
    {"pg_switch_wal", W},
    {"pg_switch_xlog", W},
    {"pg_terminate_backend", W},
    {"pg_try_advisory_lock", effect::pins},
    {"pg_try_advisory_lock_shared", effect::pins},
    {"pg_walfile_name", D},  // refused during recovery
    {"pg_walfile_name_offset", D},
    {"pg_xact_commit_timestamp", D},
    {"pg_xact_commit_timestamp_origin", D},
    {"pg_xact_status", D},  // a replica may not know the transaction yet
    {"set_config", effect::sets},
    {"setval", W},
    {"txid_current", W},
    {"txid_current_snapshot", D},
    {"txid_status", D},
};
static_assert(std::is_sorted(std::begin(builtins), std::end(builtins),
                             [](const builtin& a, const builtin& b) { return a.name < b.name; }));

// Families of built-ins, by prefix, tried in order after the names above. pg_stat_ and pg_statio_ cover
// the statistics views (pg_stat_activity, pg_stat_replication, pg_stat_user_tables, pg_statio_*,
// pg_stat_statements ...) and functions (pg_stat_get_*, pg_stat_reset*), but not pg_stats or
// pg_statistic, which hold the planner's statistics and are replicated like any catalog.
constexpr builtin builtin_families[] = {
    {"pg_stat_reset", W},              // pg_stat_reset, pg_stat_reset_shared, _single_table_counters ...
    {"pg_stat_", D, match::anywhere},  // statistics: a replica's are its own, not the primary's
    {"pg_statio_", D, match::anywhere},
    {"pg_advisory_", W},  // the _xact_ locks and the unlocks: locks taken on a replica lock nothing on
    {"pg_try_advisory_", W},  //   the primary (the session-level lock functions, above, also pin)
    {"pg_create_", W},         // pg_create_restore_point, pg_create_{physical,logical}_replication_slot
    {"pg_logical_", W},        // pg_logical_emit_message, pg_logical_slot_{get,peek}_*: slots on the primary
    {"pg_replication_origin_", W},
    {"pg_current_wal_", D},  // pg_current_wal_lsn, _insert_lsn, _flush_lsn: refused during recovery
    {"pg_current_xlog_", D},
    {"pg_last_wal_", D},  // pg_last_wal_receive_lsn, pg_last_wal_replay_lsn: NULL on a primary
    {"pg_last_xlog_", D},
    {"pg_wal_replay_", W},  // pause and resume a standby's replay: the primary says it is not one
    {"pg_xlog_replay_", W},
    {"pg_control_", D},  // pg_control_checkpoint, _recovery, _system, _init
};

// Relations named anywhere (not only called) that describe the server.
constexpr builtin builtin_relations[] = {
    {"pg_locks", D, match::anywhere},
    {"pg_prepared_xacts", D, match::anywhere},
    {"pg_replication_origin_status", D, match::anywhere},
    {"pg_replication_slots", D, match::anywhere},
};
// find_builtin looks at relations and families only for names starting pg_ (and so does
// may_be_builtin_relation).
static_assert(std::all_of(std::begin(builtin_relations), std::end(builtin_relations),
                          [](const builtin& b) { return b.name.starts_with("pg_"); }));
static_assert(std::all_of(std::begin(builtin_families), std::end(builtin_families),
                          [](const builtin& b) { return b.name.starts_with("pg_"); }));

// The name of identifier `t` as PostgreSQL resolves it (see ident_reader), truncated as PostgreSQL
// truncates it, in a buffer: no allocation.
class resolved_name {
 public:
  static constexpr std::size_t max_size = 63;  // NAMEDATALEN - 1

  explicit resolved_name(const token& t) noexcept {
    if (t.kind == token_kind::word) {  // the common case: fold ASCII letters, nothing to unescape
      size_ = t.text.size() < max_size ? t.text.size() : max_size;
      for (std::size_t i = 0; i < size_; ++i) {
        bytes_[i] = ascii_lower(t.text[i]);
      }
      return;
    }
    ident_reader r(t);
    for (int b = r.next(); b >= 0 && size_ < max_size; b = r.next()) {
      bytes_[size_++] = static_cast<char>(b);
    }
  }

  std::string_view view() const noexcept { return {bytes_, size_}; }

 private:
  char bytes_[max_size];
  std::size_t size_ = 0;
};

// The built-in that identifier `t` names, if it needs the primary; `called` when '(' follows it.
// The first letters of the names in builtins: a called word starting otherwise is none of them (nor a
// relation or a family, which start with pg_).
constexpr std::uint32_t builtin_initials = [] {
  std::uint32_t mask = 0;
  for (const builtin& b : builtins) {
    mask |= std::uint32_t{1} << (b.name[0] - 'a');
  }
  return mask;
}();
static_assert(std::all_of(std::begin(builtins), std::end(builtins),
                          [](const builtin& b) { return b.name[0] >= 'a' && b.name[0] <= 'z'; }));

const builtin* find_builtin(const token& t, bool called) noexcept {
  if (t.kind == token_kind::word) {
    const char first = ascii_lower(t.text[0]);
    if (first < 'a' || first > 'z' || (builtin_initials & (std::uint32_t{1} << (first - 'a'))) == 0) {
      return nullptr;  // '_' or a multibyte character, or a letter no built-in starts with
    }
  }
  const resolved_name resolved(t);
  const std::string_view name = resolved.view();
  if (called) {
    const builtin* const it =
        std::lower_bound(std::begin(builtins), std::end(builtins), name,
                         [](const builtin& entry, std::string_view n) { return entry.name < n; });
    if (it != std::end(builtins) && it->name == name) {
      return it;
    }
  }
  if (!name.starts_with("pg_")) {
    return nullptr;  // as every relation and family below
  }
  for (const builtin& relation : builtin_relations) {
    if (relation.name == name) {
      return &relation;
    }
  }
  for (const builtin& family : builtin_families) {
    if ((called || family.where == match::anywhere) && name.starts_with(family.name)) {
      return &family;
    }
  }
  return nullptr;
}

// A cheap test for a name that is not called: only names starting pg_ can be built-in relations, and
// most names do not ("pg_x" is exact; a U&"" identifier is resolved to see).
bool may_be_builtin_relation(const token& t) noexcept {
  if (t.kind == token_kind::word) {
    const std::string_view w = t.text;
    return w.size() > 3 && (w[0] == 'p' || w[0] == 'P') && (w[1] == 'g' || w[1] == 'G') && w[2] == '_';
  }
  return t.kind == token_kind::quoted_ident && (t.text.starts_with("\"pg_") || t.text.starts_with("U&") ||
                                                t.text.starts_with("u&"));
}

void apply(const builtin* found, body_facts& b) noexcept {
  if (found == nullptr) {
    return;
  }
  b.primary = true;
  b.pins = b.pins || found->what == effect::pins;
  b.sets = b.sets || found->what == effect::sets;  // the session captures what set_config() set
}

// ---- Users' functions -----------------------------------------------------------------------------

// Names before '(' that are syntax or common built-ins, not calls of a user's function: checked
// first so that most statements never look a function up. Anything else is looked up once (and
// cached) by the session, so this list only saves work; it decides nothing. The built-ins above count
// as known too. Sorted (binary search).
constexpr std::string_view not_user_functions[] = {
    "abs", "all", "any", "array", "array_agg", "as", "avg", "bigint", "bit", "bool", "bool_and", "bool_or",
    "boolean", "cast", "char", "character", "coalesce", "concat", "count", "current_setting", "date",
    "date_trunc", "decimal", "dense_rank", "every", "exists", "extract", "filter", "first_value", "float",
    "format", "generate_series", "greatest", "group", "in", "inet_server_port", "int", "integer",
    "interval", "json", "json_build_object", "jsonb", "jsonb_build_object", "lag", "last_value", "lead",
    "least", "length", "lower", "max", "min", "now", "ntile", "nullif", "numeric", "on", "over",
    "percent_rank", "pg_backend_pid", "pg_sleep", "position", "rank", "round", "row", "row_number",
    "smallint", "some", "string_agg", "substr", "substring", "sum", "text", "time", "timestamp",
    "timestamptz", "to_char", "to_date", "to_timestamp", "trim", "unnest", "upper", "using", "uuid",
    "values", "varchar",
};
static_assert(std::is_sorted(std::begin(not_user_functions), std::end(not_user_functions)));

// A name followed by '(' that may call a user's function, the built-ins aside: not a keyword construct
// or common built-in, and not right after INTO / TABLE / REFERENCES / UPDATE / JOIN (column lists,
// table names).
bool user_call_candidate(const token& fn, const token& previous) noexcept {
  if (is_kw(previous, {"into", "table", "references", "update", "join", "index", "only"})) {
    return false;
  }
  if (fn.kind == token_kind::word) {
    // Unquoted: its folded name (63 bytes at most, longer than any entry) is looked up.
    const resolved_name resolved(fn);
    return !std::binary_search(std::begin(not_user_functions), std::end(not_user_functions), resolved.view());
  }
  for (const std::string_view name : not_user_functions) {
    if (ident_matches(fn, name)) {  // a quoted name: exact, and a bad U&"" escape matches nothing
      return false;
    }
  }
  return true;
}

// A name followed by '(' that may call a user's function: see user_call_candidate, and not one of the
// built-ins that need the primary.
bool may_be_user_function(const token& fn, const token& previous) noexcept {
  return user_call_candidate(fn, previous) && find_builtin(fn, true) == nullptr;
}

// Identifier `fn`, called, is `name` from routing.write_functions (lower case, as configured). "f"
// matches f(...) in any schema. "s.f" matches s.f(...), and an unqualified f(...), which the
// search_path may resolve to it; `qualifier` is the schema written before `fn`, if any.
bool matches_configured(const token& fn, const token* qualifier, std::string_view name) noexcept {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) {
    return ident_matches(fn, name);
  }
  if (!ident_matches(fn, name.substr(dot + 1))) {
    return false;
  }
  if (qualifier == nullptr) {
    return true;
  }
  std::string_view schema = name.substr(0, dot);
  const std::size_t schema_dot = schema.rfind('.');  // database.schema.f
  if (schema_dot != std::string_view::npos) {
    schema = schema.substr(schema_dot + 1);
  }
  return ident_matches(*qualifier, schema);
}

// The body checks of scan_body, one significant token at a time with the one after it (token_kind::end
// at the end of the statement): shared by the full path (scan_body) and the fast path (classify_fast),
// so both decide alike on the same tokens.
class body_scanner {
 public:
  body_scanner(bool select_like, const options& opts) noexcept : select_like_(select_like), opts_(opts) {}

  [[gnu::always_inline]] void step(const token& t, const token& n) noexcept {
    const token before = previous_;
    previous_ = t;
    switch (t.kind) {
      case token_kind::other:
        b_.primary = true;  // a byte PostgreSQL will reject: unparseable, so the primary reports the error
        return;
      case token_kind::punct:
        if (t.text[0] == '(') {
          b_.primary = b_.primary || is_kw(n, {"insert", "update", "delete", "merge"});
        } else if (t.text[0] == '.') {
          before_dot_ = before;
        }
        return;
      case token_kind::word:
      case token_kind::quoted_ident:
        if (is_punct(n, '(')) {
          call(t, before);
        } else if (t.kind == token_kind::quoted_ident) {
          if (may_be_builtin_relation(t)) {
            apply(find_builtin(t, false), b_);
          }
        } else if (t.text.size() == 3) {
          // FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE
          b_.primary = b_.primary || (iequals(t.text, "for") && is_kw(n, {"update", "share", "no", "key"}));
        } else if (t.text.size() == 4 && select_like_ && iequals(t.text, "into")) {
          // SELECT ... INTO [TEMP | TEMPORARY | LOCAL TEMP | GLOBAL TEMP | UNLOGGED] [TABLE] name
          b_.primary = true;
          b_.pins = b_.pins || is_kw(n, {"temp", "temporary", "local", "global"});
        } else if (may_be_builtin_relation(t)) {
          apply(find_builtin(t, false), b_);  // FROM pg_stat_activity, JOIN pg_catalog.pg_locks ...
        }
        return;
      default:
        return;
    }
  }

  const body_facts& facts() const noexcept { return b_; }

 private:
  // Name `t` followed by '(' (schema.fn( matches on fn, the token before the '(').
  void call(const token& t, const token& before) noexcept {
    const builtin* const found = find_builtin(t, true);
    apply(found, b_);
    if (found == nullptr) {
      const token* const qualifier = is_punct(before, '.') && is_name(before_dot_) ? &before_dot_ : nullptr;
      for (const std::string& name : opts_.write_functions) {
        if (matches_configured(t, qualifier, name)) {
          b_.primary = true;
          break;
        }
      }
    }
    b_.calls = b_.calls || (found == nullptr && user_call_candidate(t, before));
  }

  bool select_like_;
  const options& opts_;
  body_facts b_;
  token previous_;
  token before_dot_;  // the token before the latest '.': a schema, when a function name follows
};

body_facts scan_body(std::string_view statement, bool select_like, const options& opts) noexcept {
  body_scanner scanner(select_like, opts);
  cursor c(statement);
  while (!c.at_end()) {
    const token t = c.take();
    scanner.step(t, c.peek());
  }
  return scanner.facts();
}

// CREATE [OR REPLACE] [GLOBAL | LOCAL] {TEMP | TEMPORARY} ..., or anything created in pg_temp.
bool creates_temp(cursor& c) noexcept {
  if (c.accept("or")) {
    c.accept("replace");
  }
  if (!c.accept("global")) {
    c.accept("local");
  }
  if (is_kw(c.peek(), {"temp", "temporary"})) {
    return true;
  }
  while (!c.at_end()) {
    const token t = c.take();
    if (is_punct(c.peek(), '.') && (ident_matches(t, "pg_temp") || ident_matches(t, "pg_temp_", true))) {
      return true;
    }
  }
  return false;
}

// DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query
bool declares_held_cursor(cursor& c) noexcept {
  while (!c.at_end()) {
    const token t = c.take();
    if (is_kw(t, "for")) {
      return false;
    }
    if (is_kw(t, "with") && is_kw(c.peek(), "hold")) {
      return true;
    }
  }
  return false;
}

// COPY t [(cols)] {FROM | TO} ... | COPY (query) TO ...: FROM and TO are reserved words, so the first
// one outside parentheses decides. Only COPY ... TO STDOUT reads without side effects.
bool copy_reads(cursor& c) noexcept {
  std::size_t depth = 0;
  while (!c.at_end()) {
    const token t = c.take();
    if (is_punct(t, '(')) {
      ++depth;
    } else if (is_punct(t, ')')) {
      depth -= depth > 0 ? 1 : 0;
    } else if (depth == 0 && is_kw(t, "from")) {
      return false;
    } else if (depth == 0 && is_kw(t, "to")) {
      return is_kw(c.peek(), "stdout");
    }
  }
  return false;
}

statement_facts analyze(std::string_view statement, const options& opts) noexcept {
  statement_facts f;
  cursor c(statement);
  bool select_like = false;  // SELECT, VALUES, TABLE, WITH ... SELECT: replica unless the body writes
  bool runs_explained = false;  // EXPLAIN ANALYZE
  bool plans_only = false;      // EXPLAIN without ANALYZE
  bool at_start = true;
  bool in_parens = false;
  for (;; at_start = false) {
    const token t = c.take();
    if (is_punct(t, '(')) {
      in_parens = true;  // (SELECT ...) UNION (SELECT ...)
      continue;
    }
    if (is_kw(t, {"select", "values", "table"})) {
      select_like = true;
      break;
    }
    if (is_kw(t, "with")) {
      select_like = is_kw(with_main(c), {"select", "values", "table"});
      break;
    }
    if (in_parens) {
      break;
    }
    if (is_kw(t, "explain")) {
      // EXPLAIN ANALYZE runs the statement: classify it, then go to the primary. Plain EXPLAIN goes
      // where the statement would go: a data-modifying statement (INSERT ... ON CONFLICT, UPDATE,
      // DELETE, MERGE, a CTE that writes, CREATE TABLE AS, SELECT INTO, EXECUTE) is planned on the
      // primary, against the tables, indexes and statistics it would run against there.
      if (explain_runs(c)) {
        runs_explained = true;
      } else {
        plans_only = true;
      }
      continue;
    }
    if (is_kw(t, {"show", "fetch", "move"})) {
      f.target = route::replica;
    } else if (at_start && (is_kw(t, "begin") || (is_kw(t, "start") && c.accept("transaction")))) {
      f.begins = true;  // BEGIN [WORK | TRANSACTION] [modes] | START TRANSACTION [modes]
      if (!c.accept("work")) {
        c.accept("transaction");
      }
      f.mode = scan_tx_modes(c);
      return f;
    } else if (at_start && is_kw(t, {"set", "reset"})) {
      const set_statement s = parse_set(statement);
      f.pins = s.outcome == set_outcome::pin;
      f.session_set = s.outcome == set_outcome::session;
      f.set_transaction = s.outcome == set_outcome::transaction;
      f.mode = s.mode;
      if (f.set_transaction && f.mode == tx_mode::read_only) {
        f.target = route::replica;
      }
      if (s.imports_snapshot) {
        // The snapshot must come from the same server, and pg_export_snapshot() runs on the primary.
        // Inside BEGIN READ ONLY, whose server (a replica) was chosen at its first statement, the
        // session, not the classifier, has to deal with it.
        f.target = route::primary;
      }
      return f;
    } else if (is_kw(t, "listen")) {
      f.pins = true;
    } else if (is_kw(t, "create")) {
      cursor probe = c;
      if (probe.accept("or")) {
        probe.accept("replace");
      }
      f.defines = is_kw(probe.peek(), {"function", "procedure"});
      f.pins = creates_temp(c);
    } else if (is_kw(t, {"alter", "drop"}) && is_kw(c.peek(), {"function", "procedure", "routine"})) {
      f.defines = true;
    } else if (is_kw(t, "do")) {
      f.session_set = true;  // a DO block may SET or set_config(): captured afterwards
    } else if (is_kw(t, "declare")) {
      f.pins = declares_held_cursor(c);
    } else if (is_kw(t, "prepare")) {
      // PREPARE name [(types)] AS statement pins; PREPARE TRANSACTION 'gid' does not.
      cursor probe = c;
      f.pins = !(probe.accept("transaction") && probe.peek().kind == token_kind::string);
    } else if (is_kw(t, "discard")) {
      f.pins = is_kw(c.peek(), {"plans", "sequences", "temp", "temporary"});  // DISCARD ALL resets
      f.resets = is_kw(c.peek(), "all");
    } else if (is_kw(t, "deallocate")) {
      // DEALLOCATE [PREPARE] ALL drops protocol-level statements too, sluice's among them.
      c.accept("prepare");
      f.resets = is_kw(c.peek(), "all");
    } else if (is_kw(t, "copy")) {
      f.target = copy_reads(c) ? route::replica : route::primary;
    }
    break;
  }
  if (select_like) {
    f.target = route::replica;
  }
  const body_facts b = scan_body(statement, select_like, opts);
  f.pins = f.pins || b.pins;
  f.session_set = f.session_set || b.sets;
  f.calls = b.calls && !f.defines;  // a function's definition calls nothing now
  if (b.primary || f.pins || runs_explained) {
    f.target = route::primary;
  }
  if (plans_only && !runs_explained) {
    // Planned, not run: the plan is made where the statement would run, but nothing pins, sets,
    // resets or calls anything.
    f.pins = false;
    f.session_set = false;
    f.resets = false;
    f.calls = false;
  }
  return f;
}

// ---- Hints ----------------------------------------------------------------------------------------

constexpr bool is_hint_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// A comment that says only "sluice: primary" or "sluice: replica" (any case, any spacing).
hint parse_hint(const token& comment) noexcept {
  if (comment.unterminated) {
    return hint::none;
  }
  return comment_text::parse_hint(comment.kind == token_kind::block_comment
                                      ? comment.text.substr(2, comment.text.size() - 4)
                                      : comment.text.substr(2));
}

// All comments before the first token may hold a hint; if they disagree, primary wins.
hint leading_hint(std::string_view sql) noexcept {
  lexer lex(sql);
  hint found = hint::none;
  for (token t = lex.next(); t.kind == token_kind::line_comment || t.kind == token_kind::block_comment;
       t = lex.next()) {
    const hint h = parse_hint(t);
    if (h == hint::primary || (h == hint::replica && found == hint::none)) {
      found = h;
    }
  }
  return found;
}

// ---- Fast path ------------------------------------------------------------------------------------
//
// classify() first tries classify_fast: one pass over the bytes, table-driven, for the statements that
// make up most traffic (a single SELECT, INSERT, UPDATE or DELETE, or a bare BEGIN / END / COMMIT /
// ROLLBACK; issue 14: the full path cost about 85 instructions per byte on pgbench's SELECT). It makes
// the same tokens as the lexer and hands them to the same body_scanner, so it decides what the full
// path decides; whatever it does not know (dollar quotes, E'' B'' X'' N'' U&'' literals, bytes
// PostgreSQL rejects, anything unterminated, several statements, other first keywords) it gives up on,
// and the full path runs. tests/router/classify/fast_path_test.cpp and the fuzz target compare the two.

// Byte classes of the fast scanner (scan.l's character classes).
enum class byte_class : unsigned char {
  other,   // anything the fast path gives up on (lexer: token_kind::other)
  space,   // scan.l space
  ident,   // ident_start: letters, '_', bytes of multibyte characters
  digit,   // 0-9
  quote,   // '
  dquote,  // "
  dollar,  // $
  self,    // , ( ) [ ] . ; :
  op,      // op_chars
};

constexpr std::array<byte_class, 256> byte_classes = [] {
  std::array<byte_class, 256> t{};
  for (std::size_t c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    byte_class k = byte_class::other;
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
      k = byte_class::space;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80) {
      k = byte_class::ident;
    } else if (c >= '0' && c <= '9') {
      k = byte_class::digit;
    } else if (ch == '\'') {
      k = byte_class::quote;
    } else if (ch == '"') {
      k = byte_class::dquote;
    } else if (ch == '$') {
      k = byte_class::dollar;
    } else if (std::string_view(",()[].;:").find(ch) != std::string_view::npos) {
      k = byte_class::self;
    } else if (std::string_view("~!@#^&|`?+-*/%<>=").find(ch) != std::string_view::npos) {
      k = byte_class::op;
    }
    t[c] = k;
  }
  return t;
}();

// scan.l ident_cont: ident_start, digits and '$'.
constexpr std::array<bool, 256> ident_cont = [] {
  std::array<bool, 256> t{};
  for (std::size_t c = 0; c < 256; ++c) {
    t[c] = byte_classes[c] == byte_class::ident || byte_classes[c] == byte_class::digit || c == '$';
  }
  return t;
}();

// The operator characters that let an operator end in + or - (scan.l).
constexpr std::array<bool, 256> op_special = [] {
  std::array<bool, 256> t{};
  for (const char c : std::string_view("~!@#^&|`?%")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}();

// The lexer's tokens (comments skipped) for the inputs the fast path handles; next() is false where
// the fast path gives up.
class fast_scanner {
 public:
  explicit fast_scanner(std::string_view sql) noexcept
      : p_(sql.data()), end_(sql.data() + sql.size()) {}

  [[nodiscard, gnu::always_inline]] bool next(token& t) noexcept {
    const char* p = p_;  // a local: the loops below keep it in a register
    const char* const end = end_;
    for (;;) {
      while (p != end && cls(*p) == byte_class::space) {
        ++p;
      }
      if (p == end) {
        p_ = p;
        t = token{token_kind::end, std::string_view(end, 0), false};
        return true;
      }
      const char* const start = p;
      const char c = *p;
      const char n = p + 1 != end ? p[1] : '\0';
      switch (cls(c)) {
        case byte_class::ident:
          if (n == '\'' || (n == '&' && (c == 'u' || c == 'U'))) {
            // E'' B'' X'' N'' U&'' U&"": prefixed literals (and "u&" before anything else)
            if (c == 'e' || c == 'E' || c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N' ||
                c == 'u' || c == 'U') {
              return false;
            }
          }
          ++p;
          while (p != end && is_ident_cont(*p)) {
            ++p;
          }
          return make(t, token_kind::word, start, p);
        case byte_class::digit:
          return number(t, start);
        case byte_class::quote:
        case byte_class::dquote:
          // '' and "" stand for one quote; a backslash is an ordinary character (standard strings).
          for (++p;; p += 2) {
            while (p != end && *p != c) {
              ++p;
            }
            if (p == end) {
              return false;  // unterminated
            }
            if (p + 1 == end || p[1] != c) {
              break;
            }
          }
          ++p;
          return make(t, c == '\'' ? token_kind::string : token_kind::quoted_ident, start, p);
        case byte_class::dollar:
          if (cls(n) != byte_class::digit) {
            return false;  // a dollar quote, or a lone '$'
          }
          ++p;
          while (p != end && cls(*p) == byte_class::digit) {
            ++p;
          }
          return make(t, token_kind::param, start, p);
        case byte_class::self:
          if (c == '.' && cls(n) == byte_class::digit) {
            return number(t, start);
          }
          return make(t, token_kind::punct, start, p + 1);
        case byte_class::op:
          if (c == '-' && n == '-') {
            while (p != end && *p != '\n' && *p != '\r') {
              ++p;
            }
            continue;
          }
          if (c == '/' && n == '*') {
            p = block_comment(p);
            if (p == nullptr) {
              return false;
            }
            continue;
          }
          return oper(t, start);
        default:
          return false;
      }
    }
  }

 private:
  static byte_class cls(char c) noexcept { return byte_classes[static_cast<unsigned char>(c)]; }
  static bool is_ident_cont(char c) noexcept { return ident_cont[static_cast<unsigned char>(c)]; }
  char at(const char* q) const noexcept { return q < end_ ? *q : '\0'; }

  // The token from `start` to `stop`, where the next one starts.
  bool make(token& t, token_kind kind, const char* start, const char* stop) noexcept {
    p_ = stop;
    t = token{kind, std::string_view(start, static_cast<std::size_t>(stop - start)), false};
    return true;
  }

  // The comment at `p`, nested as PostgreSQL nests them: where it ends, or nullptr when unterminated.
  const char* block_comment(const char* p) const noexcept {
    std::size_t depth = 1;
    p += 2;
    while (p != end_) {
      if (*p == '/' && at(p + 1) == '*') {
        ++depth;
        p += 2;
      } else if (*p == '*' && at(p + 1) == '/') {
        p += 2;
        if (--depth == 0) {
          return p;
        }
      } else {
        ++p;
      }
    }
    return nullptr;
  }

  // As lexer::number.
  bool number(token& t, const char* start) noexcept {
    const auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
    const char* i = start;
    while (digit(at(i))) {
      ++i;
    }
    if (at(i) == '.' && at(i + 1) != '.') {
      ++i;
      while (digit(at(i))) {
        ++i;
      }
    }
    if ((at(i) == 'e' || at(i) == 'E') &&
        (digit(at(i + 1)) || ((at(i + 1) == '+' || at(i + 1) == '-') && digit(at(i + 2))))) {
      i += 2;
      while (digit(at(i))) {
        ++i;
      }
    }
    while (i < end_ && ident_cont[static_cast<unsigned char>(*i)]) {
      ++i;
    }
    return make(t, token_kind::number, start, i);
  }

  // As lexer::oper.
  bool oper(token& t, const char* start) noexcept {
    const char* i = start;
    bool has_special = false;
    while (i != end_ && cls(*i) == byte_class::op) {
      const char ch = *i;
      if (i > start && ((ch == '-' && at(i + 1) == '-') || (ch == '/' && at(i + 1) == '*'))) {
        break;
      }
      has_special = has_special || op_special[static_cast<unsigned char>(ch)];
      ++i;
    }
    if (!has_special) {
      while (i - start > 1 && (i[-1] == '+' || i[-1] == '-')) {
        --i;
      }
    }
    return make(t, token_kind::op, start, i);
  }

  const char* p_;
  const char* end_;
};

// The first keyword of a statement the fast path knows.
enum class fast_verb {
  unknown,  // any other: the full path decides
  select,   // SELECT: a replica unless its body needs the primary
  modify,   // INSERT, UPDATE, DELETE: the primary; the body still pins, sets or calls
  bare,     // BEGIN, END, COMMIT, ROLLBACK with nothing after them
};

fast_verb verb_of(const token& t) noexcept {
  if (t.kind != token_kind::word) {
    return fast_verb::unknown;
  }
  if (iequals(t.text, "select")) {
    return fast_verb::select;
  }
  if (iequals(t.text, "insert") || iequals(t.text, "update") || iequals(t.text, "delete")) {
    return fast_verb::modify;
  }
  if (iequals(t.text, "begin") || iequals(t.text, "end") || iequals(t.text, "commit") ||
      iequals(t.text, "rollback")) {
    return fast_verb::bare;
  }
  return fast_verb::unknown;
}

// `key=value` pairs in one comment's body, separated by spaces or commas; the value of `key` or empty.
std::string_view tag_in_comment(const token& comment, std::string_view key) noexcept {
  if (comment.unterminated) {
    return {};
  }
  return comment_text::tag_value(comment.kind == token_kind::block_comment
                                     ? comment.text.substr(2, comment.text.size() - 4)
                                     : comment.text.substr(2),
                                 key);
}

// The name of a session variable as PostgreSQL stores it: unquoted parts lower-cased, quoted parts
// unescaped, joined by '.'.
std::string normalize_name(std::string_view written) {
  std::string out;
  cursor c(written);
  while (!c.at_end()) {
    const token t = c.take();
    if (is_punct(t, '.')) {
      out += '.';
      continue;
    }
    ident_reader r(t);
    for (int b = r.next(); b >= 0; b = r.next()) {
      out += static_cast<char>(b);
    }
  }
  return out;
}

}  // namespace

std::string_view find_tag(std::string_view sql, std::string_view key, sql_dialect dialect) noexcept {
  if (dialect != sql_dialect::postgresql) {
    return find_tag_mysql(sql, key);
  }
  if (key.empty()) {
    return {};
  }
  lexer lex(sql);
  for (token t = lex.next(); t.kind == token_kind::line_comment || t.kind == token_kind::block_comment;
       t = lex.next()) {
    const std::string_view value = tag_in_comment(t, key);
    if (!value.empty()) {
      return value;
    }
  }
  return {};
}

namespace {

// classify_fast for PostgreSQL, which classify calls as it called classify_fast before there were
// dialects (not inlined, so that the PostgreSQL path compiles as it did).
[[gnu::noinline]] bool fast_path(std::string_view sql, const options& opts, classification& out) noexcept {
  out = classification{};
  std::size_t lead = 0;
  while (lead < sql.size() && is_hint_space(sql[lead])) {
    ++lead;
  }
  if (lead + 1 < sql.size() && ((sql[lead] == '-' && sql[lead + 1] == '-') || (sql[lead] == '/' && sql[lead + 1] == '*'))) {
    out.routing_hint = leading_hint(sql);  // comments before the first token: a hint may be among them
  }
  fast_scanner scan(sql);
  token t;
  if (!scan.next(t)) {
    return false;
  }
  const fast_verb verb = verb_of(t);
  if (verb == fast_verb::unknown) {
    return false;
  }
  token n;
  if (!scan.next(n)) {
    return false;
  }
  if (verb == fast_verb::bare) {
    // BEGIN with no modes: a read-write transaction, on the primary; END, COMMIT, ROLLBACK: the primary.
    out.begins_transaction = iequals(t.text, "begin");
  } else {
    body_scanner body(verb == fast_verb::select, opts);
    while (!is_end(n) && !is_punct(n, ';')) {
      body.step(t, n);
      t = n;
      if (!scan.next(n)) {
        return false;
      }
    }
    body.step(t, token{});  // the statement's last token: nothing follows it in the statement
    const body_facts& b = body.facts();
    out.pins_session = b.pins;
    out.has_session_set = b.sets;
    out.calls_functions = b.calls;
    out.target = verb == fast_verb::select && !b.primary && !b.pins ? route::replica : route::primary;
  }
  // Then nothing but empty statements: more than one statement is the full path's.
  while (is_punct(n, ';')) {
    if (!scan.next(n)) {
      return false;
    }
  }
  return is_end(n);
}

classification full_path(std::string_view sql, const options& opts) noexcept;

}  // namespace

bool classify_fast(std::string_view sql, const options& opts, classification& out) noexcept {
  if (opts.dialect != sql_dialect::postgresql) return classify_mysql_fast(sql, out);
  return fast_path(sql, opts, out);
}

classification classify(std::string_view sql, const options& opts) noexcept {
  if (opts.dialect != sql_dialect::postgresql) {
    classification out;
    if (classify_mysql_fast(sql, out)) return out;
    return classify_mysql(sql, opts);
  }
  classification out;
  if (fast_path(sql, opts, out)) {
    return out;
  }
  return full_path(sql, opts);
}

classification classify_full(std::string_view sql, const options& opts) noexcept {
  if (opts.dialect != sql_dialect::postgresql) {
    return classify_mysql(sql, opts);
  }
  return full_path(sql, opts);
}

namespace {

// classify_full for PostgreSQL (not inlined: see fast_path).
[[gnu::noinline]] classification full_path(std::string_view sql, const options& opts) noexcept {
  classification out;
  out.routing_hint = leading_hint(sql);
  statement_splitter split(sql);
  std::string_view statement;
  std::size_t count = 0;
  bool primary = false;
  bool read_only = false;
  while (split.next(statement)) {
    const statement_facts f = analyze(statement, opts);
    if (count == 0 && f.begins) {
      // Where BEGIN goes depends on the rest of the string: a later SET TRANSACTION READ ONLY counts.
      out.begins_transaction = true;
      read_only = f.mode == tx_mode::read_only;
    } else {
      if (out.begins_transaction && f.set_transaction && f.mode != tx_mode::unspecified) {
        read_only = f.mode == tx_mode::read_only;
      }
      primary = primary || f.target == route::primary;
    }
    out.pins_session = out.pins_session || f.pins;
    out.resets_server_state = out.resets_server_state || f.resets;
    out.has_session_set = out.has_session_set || f.session_set;
    out.calls_functions = out.calls_functions || f.calls;
    out.defines_function = out.defines_function || f.defines;
    ++count;
  }
  out.empty = count == 0 && !split.saw_unterminated();
  out.statement_count_multiple = count > 1;
  out.read_only_transaction = out.begins_transaction && read_only;
  if ((out.begins_transaction && !read_only) || out.pins_session || split.saw_unterminated()) {
    primary = true;  // an unterminated literal or comment is an error PostgreSQL should report
  }
  out.target = primary ? route::primary : route::replica;
  return out;
}

}  // namespace

std::vector<session_set> extract_session_sets(std::string_view sql) {
  std::vector<session_set> out;
  statement_splitter split(sql);
  std::string_view statement;
  while (split.next(statement)) {
    const set_statement s = parse_set(statement);
    if (s.outcome != set_outcome::session) {
      continue;
    }
    session_set item;
    item.kind = s.kind;
    item.name = s.canonical_name.empty() ? normalize_name(s.name) : std::string(s.canonical_name);
    item.value = std::string(s.value);
    out.push_back(std::move(item));
  }
  return out;
}

void for_each_called_function(std::string_view sql, void (*visit)(void* context, std::string_view name),
                              void* context) noexcept {
  constexpr std::size_t max_name = 63;  // NAMEDATALEN - 1: PostgreSQL truncates longer names
  cursor c(sql);
  token previous;
  while (!c.at_end()) {
    const token before = previous;
    const token t = c.take();
    previous = t;
    if (!is_name(t) || !is_punct(c.peek(), '(') || !may_be_user_function(t, before)) {
      continue;
    }
    char name[max_name];
    std::size_t size = 0;
    ident_reader r(t);
    for (int b = r.next(); b >= 0 && size < max_name; b = r.next()) {
      name[size++] = static_cast<char>(b);
    }
    if (size > 0) {
      visit(context, std::string_view(name, size));
    }
  }
}

std::string deallocate_name(std::string_view sql) {
  statement_splitter split(sql);
  std::string_view statement;
  if (!split.next(statement) || split.saw_unterminated()) {
    return {};
  }
  std::string_view second;
  if (split.next(second)) {
    return {};  // more than one statement
  }
  cursor c(statement);
  if (!c.accept("deallocate")) {
    return {};
  }
  c.accept("prepare");
  const token name = c.take();
  if (!is_name(name) || !c.at_end() || (name.kind == token_kind::word && is_kw(name, "all"))) {
    return {};
  }
  std::string out;
  ident_reader r(name);
  for (int b = r.next(); b >= 0; b = r.next()) {
    out += static_cast<char>(b);
  }
  return out;
}

std::vector<std::string> custom_setting_names(std::string_view sql, bool* dynamic) {
  std::vector<std::string> names;
  for (const session_set& change : extract_session_sets(sql)) {
    if (change.name.find('.') != std::string::npos) names.push_back(change.name);
  }
  const auto unknown_names = [&] {
    if (dynamic != nullptr) *dynamic = true;
  };
  cursor c(sql);
  while (!c.at_end()) {
    const token t = c.take();
    if (is_kw(t, "do") && (c.peek().kind == token_kind::string || c.peek().kind == token_kind::dollar_string ||
                           is_kw(c.peek(), "language"))) {
      unknown_names();  // DO block: its body runs now, unseen
      continue;
    }
    if (is_kw(t, "execute")) {
      unknown_names();  // dynamic SQL (in a function's source)
      continue;
    }
    if (!is_name(t) || !ident_matches(t, "set_config") || !is_punct(c.peek(), '(')) {
      continue;
    }
    c.take();
    const token name = c.peek();
    // A plain 'literal' (no E'' escapes): the text between the quotes, '' meaning one quote.
    if (name.kind != token_kind::string || name.unterminated || name.text.size() < 2 || name.text.front() != '\'') {
      unknown_names();
      continue;
    }
    std::string value;
    const std::string_view body = name.text.substr(1, name.text.size() - 2);
    for (std::size_t i = 0; i < body.size(); ++i) {
      value += ascii_lower(body[i]);
      if (body[i] == '\'' && i + 1 < body.size() && body[i + 1] == '\'') ++i;
    }
    if (value.find('.') != std::string::npos) names.push_back(std::move(value));
  }
  return names;
}

}  // namespace sluice::router::classify
