// SQL tokenizer: the lexical rules of PostgreSQL's scan.l (comments, quoting, dollar quotes,
// operators) without its error reporting. Every loop only moves forward, so lexing is linear.
#include "router/classify/lexer.hpp"

namespace sluice::router::classify {

namespace {

constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// scan.l ident_start: letters, underscore and any byte of a multibyte character.
constexpr bool is_ident_start(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}

// scan.l ident_cont: identifiers may also hold digits and dollar signs.
constexpr bool is_ident_cont(char c) noexcept { return is_ident_start(c) || is_digit(c) || c == '$'; }

// scan.l dolq_cont: a dollar-quote tag is an identifier without '$'.
constexpr bool is_tag_cont(char c) noexcept { return is_ident_start(c) || is_digit(c); }

// scan.l self: characters that are always a token of their own.
constexpr bool is_self(char c) noexcept {
  return c == ',' || c == '(' || c == ')' || c == '[' || c == ']' || c == '.' || c == ';' || c == ':';
}

// scan.l op_chars.
constexpr bool is_op_char(char c) noexcept {
  return std::string_view("~!@#^&|`?+-*/%<>=").find(c) != std::string_view::npos;
}

}  // namespace

token lexer::make(token_kind kind, std::size_t start, bool unterminated) noexcept {
  return token{kind, sql_.substr(start, pos_ - start), unterminated};
}

token lexer::next() noexcept {
  while (pos_ < sql_.size() && is_space(sql_[pos_])) {
    ++pos_;
  }
  const std::size_t start = pos_;
  if (pos_ >= sql_.size()) {
    return make(token_kind::end, start);
  }
  const char c = sql_[pos_];
  const char n = at(pos_ + 1);

  if (c == '-' && n == '-') {
    pos_ = sql_.find_first_of("\r\n", pos_ + 2);
    if (pos_ == std::string_view::npos) {
      pos_ = sql_.size();
    }
    return make(token_kind::line_comment, start);
  }
  if (c == '/' && n == '*') {
    return block_comment(start);
  }
  if (c == '\'') {
    return quoted(token_kind::string, start, start + 1, '\'', false);
  }
  if (c == '"') {
    return quoted(token_kind::quoted_ident, start, start + 1, '"', false);
  }
  if (n == '\'') {
    // E'' takes backslash escapes; B'' X'' N'' quote like a standard string.
    if (c == 'e' || c == 'E') {
      return quoted(token_kind::string, start, start + 2, '\'', true);
    }
    if (c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') {
      return quoted(token_kind::string, start, start + 2, '\'', false);
    }
  }
  if ((c == 'u' || c == 'U') && n == '&') {
    // U&'' and U&"": backslash escapes are Unicode code points and cannot hide the closing quote.
    const char q = at(pos_ + 2);
    if (q == '\'') {
      return quoted(token_kind::string, start, start + 3, q, false);
    }
    if (q == '"') {
      return quoted(token_kind::quoted_ident, start, start + 3, q, false);
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
  if (c == '$') {
    return dollar(start);
  }
  if (is_self(c)) {
    ++pos_;
    return make(token_kind::punct, start);
  }
  if (is_op_char(c)) {
    return oper(start);
  }
  ++pos_;
  return make(token_kind::other, start);
}

token lexer::quoted(token_kind kind, std::size_t start, std::size_t body, char quote,
                    bool backslash) noexcept {
  std::size_t i = body;
  while (i < sql_.size()) {
    const char c = sql_[i];
    if (backslash && c == '\\') {
      i += 2;  // the escaped character, whatever it is (a quote included)
    } else if (c == quote) {
      if (at(i + 1) != quote) {
        pos_ = i + 1;
        return make(kind, start);
      }
      i += 2;  // '' or "" stands for one quote
    } else {
      ++i;
    }
  }
  pos_ = sql_.size();
  return make(kind, start, true);
}

token lexer::block_comment(std::size_t start) noexcept {
  // Unlike the SQL standard's, PostgreSQL's block comments nest: /* a /* b */ still a comment */.
  std::size_t depth = 1;
  std::size_t i = start + 2;
  while (i < sql_.size()) {
    if (sql_[i] == '/' && at(i + 1) == '*') {
      ++depth;
      i += 2;
    } else if (sql_[i] == '*' && at(i + 1) == '/') {
      i += 2;
      if (--depth == 0) {
        pos_ = i;
        return make(token_kind::block_comment, start);
      }
    } else {
      ++i;
    }
  }
  pos_ = sql_.size();
  return make(token_kind::block_comment, start, true);
}

token lexer::dollar(std::size_t start) noexcept {
  std::size_t i = start + 1;
  if (is_digit(at(i))) {
    while (is_digit(at(i))) {
      ++i;
    }
    pos_ = i;
    return make(token_kind::param, start);
  }
  if (is_ident_start(at(i))) {
    while (i < sql_.size() && is_tag_cont(sql_[i])) {
      ++i;
    }
  }
  if (at(i) != '$') {
    pos_ = start + 1;  // a lone '$': scan.l would report a syntax error later
    return make(token_kind::other, start);
  }
  const std::string_view tag = sql_.substr(start, i + 1 - start);  // "$$" or "$tag$"
  // Find the closing tag: try each '$'. The tag holds no '$' but its ends, so every failed attempt
  // stops at or before the next '$' and the search stays linear.
  std::size_t p = i + 1;
  for (;;) {
    p = sql_.find('$', p);
    if (p == std::string_view::npos) {
      pos_ = sql_.size();
      return make(token_kind::dollar_string, start, true);
    }
    std::size_t k = 0;
    while (k < tag.size() && p + k < sql_.size() && sql_[p + k] == tag[k]) {
      ++k;
    }
    if (k == tag.size()) {
      pos_ = p + k;
      return make(token_kind::dollar_string, start);
    }
    ++p;
  }
}

token lexer::number(std::size_t start) noexcept {
  std::size_t i = start;
  while (is_digit(at(i))) {
    ++i;
  }
  if (at(i) == '.' && at(i + 1) != '.') {  // "1..2" is 1 then an operator, as in scan.l
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
  // 0x1F, 0o17, 0b101, 1_000 (PostgreSQL 16), and junk such as 123abc: all part of the number here.
  while (i < sql_.size() && is_ident_cont(sql_[i])) {
    ++i;
  }
  pos_ = i;
  return make(token_kind::number, start);
}

token lexer::oper(std::size_t start) noexcept {
  std::size_t i = start;
  bool has_special = false;  // scan.l: only operators holding one of ~!@#^&|`?% may end in + or -
  while (i < sql_.size() && is_op_char(sql_[i])) {
    const char c = sql_[i];
    if (i > start && ((c == '-' && at(i + 1) == '-') || (c == '/' && at(i + 1) == '*'))) {
      break;  // a comment starts inside the run
    }
    if (std::string_view("~!@#^&|`?%").find(c) != std::string_view::npos) {
      has_special = true;
    }
    ++i;
  }
  if (!has_special) {
    while (i - start > 1 && (sql_[i - 1] == '+' || sql_[i - 1] == '-')) {
      --i;  // "=-1" is "=" then "-1"
    }
  }
  pos_ = i;
  return make(token_kind::op, start);
}

}  // namespace sluice::router::classify
