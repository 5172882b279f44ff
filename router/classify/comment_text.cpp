// Hints and tenant tags in one comment's text, shared by both dialects' classifiers (classifier.cpp,
// mysql_classifier.cpp): `/* sluice: primary */`, `/* tenant=acme, app=web */`.
#include "router/classify/comment_text.hpp"

namespace sluice::router::classify::comment_text {

namespace {

constexpr bool is_hint_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

constexpr bool is_tag_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == ':';
}

// ASCII case-insensitive comparison with a lower-case word.
constexpr bool iequals(std::string_view text, std::string_view lower) noexcept {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace

hint parse_hint(std::string_view body) noexcept {
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < body.size() && is_hint_space(body[i])) {
      ++i;
    }
  };
  const auto word = [&] {
    const std::size_t start = i;
    while (i < body.size() && ((body[i] >= 'a' && body[i] <= 'z') || (body[i] >= 'A' && body[i] <= 'Z'))) {
      ++i;
    }
    return body.substr(start, i - start);
  };
  skip_space();
  if (!iequals(word(), "sluice")) {
    return hint::none;
  }
  skip_space();
  if (i >= body.size() || body[i] != ':') {
    return hint::none;
  }
  ++i;
  skip_space();
  const std::string_view target = word();
  skip_space();
  if (i != body.size()) {
    return hint::none;
  }
  if (iequals(target, "primary")) {
    return hint::primary;
  }
  if (iequals(target, "replica")) {
    return hint::replica;
  }
  return hint::none;
}

std::string_view tag_value(std::string_view body, std::string_view key) noexcept {
  std::size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && (is_hint_space(body[i]) || body[i] == ',')) {
      ++i;
    }
    const std::size_t key_start = i;
    while (i < body.size() && is_tag_char(body[i]) && body[i] != ':') {
      ++i;
    }
    const std::string_view found_key = body.substr(key_start, i - key_start);
    if (i < body.size() && body[i] == '=' && !found_key.empty()) {
      ++i;
      const bool quoted = i < body.size() && body[i] == '\'';
      if (quoted) {
        ++i;
      }
      const std::size_t value_start = i;
      while (i < body.size() && is_tag_char(body[i])) {
        ++i;
      }
      const std::string_view value = body.substr(value_start, i - value_start);
      if (quoted) {
        if (i >= body.size() || body[i] != '\'') {
          return {};  // an unterminated or unusual quoted value: not a tag we can read
        }
        ++i;
      }
      if (found_key == key) {
        return value;
      }
      continue;
    }
    // Not a key=value pair: skip the word.
    if (i == key_start) {
      ++i;
    }
  }
  return {};
}

}  // namespace sluice::router::classify::comment_text
