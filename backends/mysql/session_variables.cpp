// session_variables: the session-state tracker's entries (MariaDB "OK_Packet", session state info;
// MySQL "Session state information") folded into one state, and the SET that reproduces it.
#include "backends/mysql/session_variables.hpp"

#include <algorithm>

namespace sluice::backends::mysql {

namespace {

std::string lowered(std::string_view name) {
  std::string out(name);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A value as a quoted string literal: quotes doubled; backslashes doubled where they escape.
void append_literal(std::string& out, std::string_view value, bool backslash_escapes) {
  out += '\'';
  for (const char c : value) {
    if (c == '\'') out += '\'';
    if (c == '\\' && backslash_escapes) out += '\\';
    out += c;
  }
  out += '\'';
}

// A variable name as a quoted identifier (backticks doubled), so that no name can break the statement.
void append_identifier(std::string& out, std::string_view name) {
  out += '`';
  for (const char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  out += '`';
}

// Numeric variables refuse a string literal ("Incorrect argument type to variable"): a number is
// written as one. Booleans take 'ON'/'OFF' as strings, and strings stay quoted.
bool is_number(std::string_view value) {
  if (!value.empty() && value.front() == '-') value.remove_prefix(1);
  if (value.empty()) return false;
  bool dot = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '.' && !dot && i != 0 && i + 1 < value.size()) {
      dot = true;
    } else if (value[i] < '0' || value[i] > '9') {
      return false;
    }
  }
  return true;
}

// character_set_results (and its kin) may be NULL ("send results unconverted"): the tracker reports
// it as empty or as NULL, and the statement must say NULL, not a character set named 'NULL'.
bool is_null_charset(std::string_view name, std::string_view value) {
  return (name.starts_with("character_set_") || name.starts_with("collation_")) && (value.empty() || value == "NULL");
}

// Variables the tracker reports that no SET can give back: read-only ones the server updates itself
// (MariaDB reports last_gtid after each write when everything is tracked). Not carried.
bool read_only_variable(std::string_view name) {
  constexpr std::string_view names[] = {"last_gtid", "in_transaction", "warning_count", "error_count", "identity"};
  for (const auto candidate : names) {
    if (name.size() == candidate.size() &&
        std::equal(name.begin(), name.end(), candidate.begin(), [](char a, char b) {
          return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
        })) {
      return true;
    }
  }
  return false;
}

}  // namespace

void session_variables::adopt(const session_variables& client) {
  std::string marker;
  if (const auto* armed = find(marker_variable)) marker = *armed;
  variables_ = client.variables_;
  if (!marker.empty()) set(marker_variable, marker);
}

void session_variables::set(std::string_view name, std::string_view value) {
  auto key = lowered(name);
  const auto at = std::lower_bound(variables_.begin(), variables_.end(), key,
                                   [](const auto& entry, const std::string& k) { return entry.first < k; });
  if (at != variables_.end() && at->first == key) {
    at->second.assign(value);
    return;
  }
  variables_.emplace(at, std::move(key), std::string(value));
}

const std::string* session_variables::find(std::string_view name) const noexcept {
  const auto at = std::lower_bound(variables_.begin(), variables_.end(), name,
                                   [](const auto& entry, std::string_view k) { return entry.first < k; });
  if (at != variables_.end() && at->first == name) return &at->second;
  return nullptr;
}

bool session_variables::learn(wire::bytes_view session_state, bool* untracked_change) {
  wire::session_state_reader reader(session_state);
  wire::session_state_entry entry;
  bool state_changed = false;
  bool explained = false;
  while (reader.next(entry)) {
    switch (entry.type) {
      case wire::session_track_system_variables:
        if (!read_only_variable(entry.name)) set(entry.name, entry.value);
        explained = true;
        break;
      case wire::session_track_schema:
        schema_.assign(entry.name);
        explained = true;
        break;
      case wire::session_track_state_change:
        state_changed = true;
        break;
      default:
        break;  // GTIDs, transaction characteristics/state: not carried here
    }
  }
  if (untracked_change != nullptr && state_changed && !explained) *untracked_change = true;
  return reader.error() == wire::codec_errc::ok;
}

bool session_variables::same_variables(const session_variables& server) const noexcept {
  // Both lists are sorted by name: one pass, the server's tracking marker skipped.
  auto theirs = server.variables_.begin();
  for (const auto& mine : variables_) {
    if (theirs != server.variables_.end() && theirs->first == marker_variable) ++theirs;
    if (theirs == server.variables_.end() || theirs->first != mine.first || theirs->second != mine.second) {
      return false;
    }
    ++theirs;
  }
  if (theirs != server.variables_.end() && theirs->first == marker_variable) ++theirs;
  return theirs == server.variables_.end();
}

bool session_variables::replay_sql(const session_variables& server, bool backslash_escapes, std::string& out) const {
  // The common case, a connection already in this session's state (the last borrower's were the same):
  // nothing to say, found without a lookup per variable.
  if (same_variables(server)) return false;
  bool any = false;
  // What another client set there that this one never did: back to the server's default (the global
  // value, which a fresh connection of this client would have had).
  for (const auto& [name, value] : server.variables_) {
    if (name == marker_variable || find(name) != nullptr) continue;
    out += any ? ", " : "SET SESSION ";
    append_identifier(out, name);
    out += "=DEFAULT";
    any = true;
  }
  for (const auto& [name, value] : variables_) {
    const auto* theirs = server.find(name);
    if (theirs != nullptr && *theirs == value) continue;
    out += any ? ", " : "SET SESSION ";
    append_identifier(out, name);
    out += '=';
    if (is_number(value)) {
      out += value;
    } else if (is_null_charset(name, value)) {
      out += "NULL";
    } else {
      append_literal(out, value, backslash_escapes);
    }
    any = true;
  }
  return any;
}

}  // namespace sluice::backends::mysql
