// The MySQL / MariaDB dialect's entry points, for classifier.cpp's classify(), classify_full() and
// find_tag() (sql_dialect::mysql). Internal to router/classify/: callers use classifier.hpp.
#pragma once

#include "router/classify/classifier.hpp"

#include <string_view>

namespace sluice::router::classify {

// classify_full for sql_dialect::mysql. Never allocates, never throws.
classification classify_mysql(std::string_view sql, const options& opts) noexcept;

// classify_fast for sql_dialect::mysql: one pass over the bytes for a plain SELECT (no comments, calls,
// subqueries, variables, locking or INTO clauses, several statements ...), which is a read; false for
// anything else. Whatever the sql_mode (nothing it changes is let through).
bool classify_mysql_fast(std::string_view sql, classification& out) noexcept;

// find_tag for sql_dialect::mysql: # comments carry tags too, executable comments are code.
std::string_view find_tag_mysql(std::string_view sql, std::string_view key) noexcept;

}  // namespace sluice::router::classify
