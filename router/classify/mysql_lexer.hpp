// SQL tokenizer for the MySQL / MariaDB dialect: the lexical rules of the servers' sql_lex.cc (comments,
// quoting, backslash escapes, executable comments lexed as code), with the same tokens as lexer.hpp.
// Header-only (the classifier includes it); sans-IO, allocation-free, every loop only moves forward.
#pragma once

#include "router/classify/lexer.hpp"

#include <cstddef>
#include <string_view>

namespace sluice::router::classify {

// The sql_mode flags that change how MySQL lexes (MySQL manual, "Server SQL Modes").
struct mysql_lex_modes {
  bool backslash_escapes = true;  // false under NO_BACKSLASH_ESCAPES: '\' is an ordinary character
  bool ansi_quotes = false;       // ANSI_QUOTES: "x" is an identifier, not a string
};

// Splits MySQL text into tokens, skipping whitespace:
// - '...' and "..." are strings (token_kind::string; "..." a quoted_ident under ANSI_QUOTES), in which
//   a doubled quote and, unless NO_BACKSLASH_ESCAPES, a backslash escape the next character
//   (MySQL manual, "String Literals"); X'..', B'..' and N'..' are strings too, the first two without
//   escapes; an introducer (_utf8mb4'..') is a word and then a string, as sql_lex.cc makes it.
// - `ident` is a quoted_ident, `` standing for one backtick (MySQL manual, "Schema Object Names").
// - '#' up to the end of the line, and "-- " (the second dash followed by whitespace, a control
//   character or the end of the input) are line comments: "--x" and "1--1" are operators (MySQL manual,
//   "Comments" and "'--' as the Start of a Comment"). /* */ comments do not nest: the first */ ends one.
// - Executable comments /*! ... */, /*!NNNNN ... */, /*M! ... */ and /*M!NNNNNN ... */ are code: their
//   opener and closer are skipped and what is between them is lexed as tokens (MariaDB KB, "Comment
//   Syntax": "executable comments"). The version is not compared with any server's: the content always
//   counts, which can only add statements and keywords. Inside one, /* */ is a comment and '*/' in a
//   string does not close it (as the server lexes); a second /*! inside is token_kind::other (the
//   server rejects it). /*+ optimizer hints */ are comments.
// - '@' and '@@' are operators of their own (user and system variables: @x, @@session.x, 'u'@'h'),
//   ':=' is one operator, '$' may start a word, '{' and '}' (ODBC escapes) are punctuation.
// No dollar quoting, no E'' strings, no nesting comments: those are PostgreSQL's.
class mysql_lexer {
 public:
  // `in_executable`: the text starts inside an executable comment (a statement cut out of one).
  explicit mysql_lexer(std::string_view sql, mysql_lex_modes modes = {}, bool in_executable = false) noexcept
      : sql_(sql), modes_(modes), in_executable_(in_executable) {}

  // The next token, comments included; token_kind::end (forever) once the input is used up.
  token next() noexcept {
    for (;;) {
      while (pos_ < sql_.size() && is_space(sql_[pos_])) {
        ++pos_;
      }
      if (pos_ >= sql_.size()) {
        return make(token_kind::end, pos_);
      }
      const char c = sql_[pos_];
      const char n = at(pos_ + 1);
      if (c == '*' && n == '/' && in_executable_) {
        pos_ += 2;  // the end of an executable comment: what follows is code as before
        in_executable_ = false;
        continue;
      }
      if (c == '/' && n == '*' && (at(pos_ + 2) == '!' || (at(pos_ + 2) == 'M' && at(pos_ + 3) == '!'))) {
        const std::size_t start = pos_;
        pos_ += at(pos_ + 2) == '!' ? 3 : 4;
        if (in_executable_) {
          return make(token_kind::other, start);  // nested executable comments are a syntax error
        }
        while (pos_ < sql_.size() && is_digit(sql_[pos_])) {
          ++pos_;  // the version (5 digits for MySQL, 5 or 6 for MariaDB): not compared, see above
        }
        in_executable_ = true;
        continue;
      }
      return token_at(pos_, c, n);
    }
  }

  // The last token next() gave was inside an executable comment (or, after token_kind::end, the input
  // ended inside one: an unterminated comment the server rejects).
  bool in_executable_comment() const noexcept { return in_executable_; }

 private:
  static constexpr bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  }
  static constexpr bool is_control(char c) noexcept {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  }
  static constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
  // Unquoted identifiers: letters, digits, '_', '$' and any byte of a multibyte character (MySQL
  // manual, "Schema Object Names"); they may start with a digit, which lexes as a number here.
  static constexpr bool is_ident_start(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u == '$' || u >= 0x80;
  }
  static constexpr bool is_ident_cont(char c) noexcept { return is_ident_start(c) || is_digit(c); }
  static constexpr bool is_self(char c) noexcept {
    return c == ',' || c == '(' || c == ')' || c == '[' || c == ']' || c == '.' || c == ';' || c == ':' ||
           c == '{' || c == '}';
  }
  static constexpr bool is_op_char(char c) noexcept {
    return std::string_view("~!^&|?+-*/%<>=").find(c) != std::string_view::npos;
  }

  char at(std::size_t i) const noexcept { return i < sql_.size() ? sql_[i] : '\0'; }

  token make(token_kind kind, std::size_t start, bool unterminated = false) const noexcept {
    return token{kind, sql_.substr(start, pos_ - start), unterminated};
  }

  // "-- " starts a comment: the second dash followed by whitespace, a control character or nothing.
  bool dash_comment_at(std::size_t i) const noexcept {
    return at(i) == '-' && at(i + 1) == '-' && (i + 2 >= sql_.size() || is_space(at(i + 2)) || is_control(at(i + 2)));
  }

  token token_at(std::size_t start, char c, char n) noexcept {
    if (c == '#' || dash_comment_at(start)) {
      pos_ = sql_.find('\n', start);
      if (pos_ == std::string_view::npos) {
        pos_ = sql_.size();
      }
      return make(token_kind::line_comment, start);
    }
    if (c == '/' && n == '*') {
      const std::size_t close = sql_.find("*/", start + 2);
      if (close == std::string_view::npos) {
        pos_ = sql_.size();
        return make(token_kind::block_comment, start, true);
      }
      pos_ = close + 2;
      return make(token_kind::block_comment, start);
    }
    if (c == '\'') {
      return quoted(token_kind::string, start, start + 1, '\'', modes_.backslash_escapes);
    }
    if (c == '"') {
      return modes_.ansi_quotes ? quoted(token_kind::quoted_ident, start, start + 1, '"', false)
                                : quoted(token_kind::string, start, start + 1, '"', modes_.backslash_escapes);
    }
    if (c == '`') {
      return quoted(token_kind::quoted_ident, start, start + 1, '`', false);
    }
    if (n == '\'') {
      if (c == 'x' || c == 'X' || c == 'b' || c == 'B') {
        return quoted(token_kind::string, start, start + 2, '\'', false);  // hex or bit digits only
      }
      if (c == 'n' || c == 'N') {
        return quoted(token_kind::string, start, start + 2, '\'', modes_.backslash_escapes);
      }
    }
    if (is_ident_start(c)) {
      ++pos_;
      while (pos_ < sql_.size() && is_ident_cont(sql_[pos_])) {
        ++pos_;
      }
      return make(token_kind::word, start);
    }
    if (is_digit(c) || (c == '.' && is_digit(n))) {
      return number(start);
    }
    if (c == '@') {
      pos_ = start + (n == '@' ? 2 : 1);
      return make(token_kind::op, start);
    }
    if (c == ':' && n == '=') {
      pos_ = start + 2;
      return make(token_kind::op, start);
    }
    if (is_self(c)) {
      pos_ = start + 1;
      return make(token_kind::punct, start);
    }
    if (is_op_char(c)) {
      std::size_t i = start + 1;
      while (i < sql_.size() && is_op_char(sql_[i]) && !dash_comment_at(i) &&
             !(sql_[i] == '/' && at(i + 1) == '*') && !(sql_[i] == '*' && at(i + 1) == '/' && in_executable_)) {
        ++i;
      }
      pos_ = i;
      return make(token_kind::op, start);
    }
    pos_ = start + 1;
    return make(token_kind::other, start);
  }

  token quoted(token_kind kind, std::size_t start, std::size_t body, char quote, bool backslash) noexcept {
    std::size_t i = body;
    while (i < sql_.size()) {
      const char ch = sql_[i];
      if (backslash && ch == '\\') {
        i += 2;  // the escaped character, whatever it is (a quote included)
      } else if (ch == quote) {
        if (at(i + 1) != quote) {
          pos_ = i + 1;
          return make(kind, start);
        }
        i += 2;  // a doubled quote stands for one
      } else {
        ++i;
      }
    }
    pos_ = sql_.size();
    return make(kind, start, true);
  }

  token number(std::size_t start) noexcept {
    std::size_t i = start;
    while (is_digit(at(i))) {
      ++i;
    }
    if (at(i) == '.') {
      ++i;
      while (is_digit(at(i))) {
        ++i;
      }
    }
    if ((at(i) == 'e' || at(i) == 'E') &&
        (is_digit(at(i + 1)) || ((at(i + 1) == '+' || at(i + 1) == '-') && is_digit(at(i + 2))))) {
      i += 2;
      while (is_digit(at(i))) {
        ++i;
      }
    }
    // 0x1F, 0b101, and identifiers that start with digits (1abc): all one token here.
    while (i < sql_.size() && is_ident_cont(sql_[i])) {
      ++i;
    }
    pos_ = i;
    return make(token_kind::number, start);
  }

  std::string_view sql_;
  mysql_lex_modes modes_;
  std::size_t pos_ = 0;
  bool in_executable_ = false;
};

}  // namespace sluice::router::classify
