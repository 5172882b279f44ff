// SQL tokenizer after PostgreSQL's src/backend/parser/scan.l: just enough to find statement
// boundaries, keywords, identifiers and function calls without being fooled by quotes or comments.
// Sans-IO and allocation-free: tokens are views into the input.
#pragma once

#include <cstddef>
#include <string_view>

namespace sluice::router::classify {

// The kinds of tokens, as this lexer makes them; mysql_lexer.hpp makes the same kinds from MySQL's rules
// (its forms in brackets).
enum class token_kind {
  end,            // no more input (text is empty, at the end of the input)
  word,           // unquoted identifier or keyword: compare case-insensitively
  quoted_ident,   // "identifier" or U&"identifier": compare exactly, after unescaping [`ident`]
  string,         // 'x', E'x', B'x', X'x', N'x', U&'x' ['x' and "x" with backslash escapes, X'', B'', N'']
  dollar_string,  // $$x$$ or $tag$x$tag$ [none]
  number,         // 42, 3.14, .5, 1e-9, 0x1F, 1_000
  param,          // $1 [none: ? is an op]
  op,             // operator: a run of + - * / < > = ~ ! @ # % ^ & | ` ? [@, @@ and := on their own]
  punct,          // one of , ( ) [ ] . ; : [and { }]
  line_comment,   // -- up to (not including) the end of the line [# and "-- " comments]
  block_comment,  // /* */, nested as PostgreSQL nests them [not nested; /*! */ is code, not a comment]
  other,          // any other byte (PostgreSQL would reject it), or a '$' that starts nothing
};

struct token {
  token_kind kind = token_kind::end;
  std::string_view text;      // the whole lexeme, quotes, prefixes and comment markers included
  bool unterminated = false;  // a string, identifier, comment or dollar quote that runs off the end
};

// Splits SQL text into tokens, skipping whitespace. Assumes standard_conforming_strings = on (the
// default since PostgreSQL 9.1): backslashes escape only in E'' strings.
class lexer {
 public:
  explicit lexer(std::string_view sql) noexcept : sql_(sql) {}

  // The next token, comments included; token_kind::end (forever) once the input is used up.
  token next() noexcept;

 private:
  char at(std::size_t i) const noexcept { return i < sql_.size() ? sql_[i] : '\0'; }
  token make(token_kind kind, std::size_t start, bool unterminated = false) noexcept;
  token quoted(token_kind kind, std::size_t start, std::size_t body, char quote, bool backslash) noexcept;
  token block_comment(std::size_t start) noexcept;
  token dollar(std::size_t start) noexcept;
  token number(std::size_t start) noexcept;
  token oper(std::size_t start) noexcept;

  std::string_view sql_;
  std::size_t pos_ = 0;
};

}  // namespace sluice::router::classify
