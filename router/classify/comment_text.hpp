// Hints and tenant tags in one comment's text (between its markers), the same in every dialect.
#pragma once

#include <string_view>

#include "router/classify/classifier.hpp"

namespace sluice::router::classify::comment_text {

// A comment whose text says only "sluice: primary" or "sluice: replica" (any case, any spacing).
hint parse_hint(std::string_view body) noexcept;
// The value of `key` among the text's `key=value` pairs (separated by spaces or commas; values may be
// sqlcommenter's quoted 'value'), or empty.
std::string_view tag_value(std::string_view body, std::string_view key) noexcept;

}  // namespace sluice::router::classify::comment_text
