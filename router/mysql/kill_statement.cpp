// KILL statement recognition (see kill_statement.hpp): MariaDB KB "KILL [HARD | SOFT] [CONNECTION |
// QUERY [ID]] [thread_id | USER user_name | query_id]".
#include "router/mysql/kill_statement.hpp"

#include "router/classify/mysql_lexer.hpp"

namespace sluice::router::mysql {

namespace {

bool word_is(const classify::token& t, std::string_view keyword) noexcept {
  if (t.kind != classify::token_kind::word || t.text.size() != keyword.size()) return false;
  for (std::size_t i = 0; i < keyword.size(); ++i) {
    char c = t.text[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != keyword[i]) return false;
  }
  return true;
}

// The next token that is not a comment.
classify::token next_code(classify::mysql_lexer& lexer) noexcept {
  for (;;) {
    const auto t = lexer.next();
    if (t.kind != classify::token_kind::line_comment && t.kind != classify::token_kind::block_comment) return t;
  }
}

}  // namespace

kill_statement parse_kill_statement(std::string_view sql) noexcept {
  classify::mysql_lexer lexer(sql);
  kill_statement out;
  auto t = next_code(lexer);
  if (!word_is(t, "KILL")) return out;
  out.what = kill_statement::kind::unsupported;
  t = next_code(lexer);
  if (word_is(t, "HARD") || word_is(t, "SOFT")) t = next_code(lexer);  // soft: the default; hard is not waited for
  if (word_is(t, "CONNECTION")) {
    t = next_code(lexer);
  } else if (word_is(t, "QUERY")) {
    out.query_only = true;
    t = next_code(lexer);
  }
  if (t.kind != classify::token_kind::number || t.text.empty() || t.text.size() > 19) return out;
  std::uint64_t id = 0;
  for (const char c : t.text) {
    if (c < '0' || c > '9') return out;  // 1e3, 0x10, 1.5: not a connection id
    id = id * 10 + static_cast<std::uint64_t>(c - '0');
  }
  t = next_code(lexer);
  if (t.kind == classify::token_kind::punct && t.text == ";") t = next_code(lexer);
  if (t.kind != classify::token_kind::end) return out;
  out.what = kill_statement::kind::kill;
  out.id = id;
  return out;
}

}  // namespace sluice::router::mysql
