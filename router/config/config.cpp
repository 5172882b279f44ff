// Loads a TOML file into the validated structs of config.hpp. Every problem found is collected with
// its position; loading then fails with all of them, earliest first, one per line:
// "<source>:<line>:<column>: key '<dotted.key>': <what is wrong>".
#include "router/config/config.hpp"

#include <sched.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>

namespace sluice::router::config {
namespace {

constexpr std::int64_t min_port = 1;
constexpr std::int64_t max_port = 65535;
constexpr std::int64_t max_workers = 256;
constexpr std::int64_t max_u32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t min_message_size = 1024;
// PostgreSQL itself refuses messages longer than MaxAllocSize (1 GiB - 1) in pq_getmessage.
constexpr std::int64_t max_message_size_limit = std::int64_t{1} << 30;
// Keeps `now() + duration` far from overflowing a nanosecond clock.
constexpr std::int64_t max_duration_ms = std::int64_t{365} * 24 * 3600 * 1000;
// Unknown keys within this edit distance of a known key get a "did you mean" hint.
constexpr std::size_t max_suggestion_distance = 2;
constexpr std::string_view scram_prefix = "SCRAM-SHA-256$";

// -----------------------------------------------------------------------------------------------
// Problems: collected, then reported together in file order.

struct problem {
  toml::source_position where;
  std::string text;  // "key '<path>': <what>"
};

class problems {
 public:
  void add(const toml::source_region& at, std::string_view path, std::string_view what) {
    std::string text = "key '";
    text.append(path).append("': ").append(what);
    list_.push_back({at.begin, std::move(text)});
  }

  bool empty() const { return list_.empty(); }

  [[noreturn]] void raise(const std::string& source) {
    std::stable_sort(list_.begin(), list_.end(), [](const problem& a, const problem& b) {
      return std::pair{a.where.line, a.where.column} < std::pair{b.where.line, b.where.column};
    });
    std::string message;
    for (const auto& p : list_) {
      if (!message.empty()) message += '\n';
      message += position(source, p.where);
      message += p.text;
    }
    throw config_error(message);
  }

  static std::string position(const std::string& source, const toml::source_position& at) {
    // A region toml++ did not fill in (line 0) is reported at the start of the file.
    const auto line = at.line == 0 ? 1u : at.line;
    const auto column = at.column == 0 ? 1u : at.column;
    return source + ':' + std::to_string(line) + ':' + std::to_string(column) + ": ";
  }

 private:
  std::vector<problem> list_;
};

// -----------------------------------------------------------------------------------------------
// Small helpers.

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out += '"';
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

bool has_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
  });
}

// Parses a non-empty run of decimal digits; nullopt on anything else or above `limit`.
std::optional<std::int64_t> parse_digits(std::string_view s, std::int64_t limit) {
  if (s.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (char ch : s) {
    if (!is_digit(ch)) return std::nullopt;
    const std::int64_t digit = ch - '0';
    if (value > (limit - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// Levenshtein distance (Wagner-Fischer, one row), for "did you mean" hints on misspelt keys.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "a string (\"x\")", "an integer (-1)", "a table", ...: what the file has where something else was
// expected.
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string (" + quoted(node.as_string()->get()) + ")";
    case toml::node_type::integer:
      return "an integer (" + std::to_string(node.as_integer()->get()) + ")";
    case toml::node_type::floating_point: {
      std::ostringstream out;
      out << node.as_floating_point()->get();
      return "a floating-point number (" + out.str() + ")";
    }
    case toml::node_type::boolean:
      return std::string("a boolean (") + (node.as_boolean()->get() ? "true" : "false") + ")";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// -----------------------------------------------------------------------------------------------
// table_reader: hands out the values of one table by key, remembering which keys the schema knows,
// so that whatever is left over can be reported as unknown.

class table_reader {
 public:
  table_reader(const toml::table& table, std::string path, problems& found)
      : table_(table), path_(std::move(path)), problems_(found) {}

  // The value under `key`, or nullptr when absent. Declares `key` as known.
  const toml::node* find(std::string_view key) {
    known_.push_back(key);
    return table_.get(key);
  }

  std::string path_of(std::string_view key) const {
    if (path_.empty()) return std::string(key);
    std::string out = path_;
    out += '.';
    out.append(key);
    return out;
  }

  const toml::table& table() const { return table_; }
  problems& found() { return problems_; }

  // Reports every key that no find() asked for. Call after all find()s.
  void report_unknown_keys() {
    for (auto&& [key, value] : table_) {
      const std::string_view name = key.str();
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
      std::string what = "unknown key";
      std::string_view best;
      std::size_t best_distance = max_suggestion_distance + 1;
      const std::string lowered = ascii_lower(name);
      for (auto candidate : known_) {
        const std::size_t d = edit_distance(lowered, candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) what += "; did you mean '" + std::string(best) + "'?";
      problems_.add(key.source(), path_of(name), what);
    }
  }

 private:
  const toml::table& table_;
  std::string path_;
  problems& problems_;
  std::vector<std::string_view> known_;
};

// -----------------------------------------------------------------------------------------------
// Typed reads. Each returns nullopt after recording a problem.

std::optional<std::string> read_string(const toml::node& node, const std::string& path,
                                       problems& found, bool allow_empty = false) {
  const auto* s = node.as_string();
  if (s == nullptr) {
    found.add(node.source(), path, "expected a string, got " + describe(node));
    return std::nullopt;
  }
  if (!allow_empty && s->get().empty()) {
    found.add(node.source(), path, "must not be empty");
    return std::nullopt;
  }
  return s->get();
}

// "between 1 and 65535", or "at least 1" when only the type limits the top.
std::string range_text(std::int64_t min, std::int64_t max) {
  if (max == max_u32) return "at least " + std::to_string(min);
  return "between " + std::to_string(min) + " and " + std::to_string(max);
}

std::optional<std::int64_t> read_integer(const toml::node& node, const std::string& path,
                                         problems& found, std::int64_t min, std::int64_t max) {
  const auto* i = node.as_integer();
  if (i == nullptr) {
    found.add(node.source(), path,
              "expected an integer " + range_text(min, max) + ", got " + describe(node));
    return std::nullopt;
  }
  const std::int64_t value = i->get();
  if (value < min || value > max) {
    found.add(node.source(), path,
              "must be " + range_text(min, max) + ", got " + std::to_string(value));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> read_bool(const toml::node& node, const std::string& path, problems& found) {
  const auto* b = node.as_boolean();
  if (b == nullptr) {
    found.add(node.source(), path, "expected true or false, got " + describe(node));
    return std::nullopt;
  }
  return b->get();
}

template <class E>
struct enum_name {
  std::string_view name;
  E value;
};

template <class E>
std::optional<E> read_enum(const toml::node& node, const std::string& path, problems& found,
                           std::span<const enum_name<E>> names) {
  std::string allowed;
  for (const auto& n : names) {
    if (!allowed.empty()) allowed += ", ";
    allowed += quoted(n.name);
  }
  const auto* s = node.as_string();
  if (s == nullptr) {
    found.add(node.source(), path, "expected one of " + allowed + ", got " + describe(node));
    return std::nullopt;
  }
  for (const auto& n : names) {
    if (s->get() == n.name) return n.value;
  }
  found.add(node.source(), path, "must be one of " + allowed + ", got " + quoted(s->get()));
  return std::nullopt;
}

// Durations are strings: a whole number and a unit, "250ms", "5s", "2m", "1h". Must be > 0.
std::optional<milliseconds> read_duration(const toml::node& node, const std::string& path,
                                          problems& found) {
  static constexpr std::string_view format =
      "expected a duration: a whole number and a unit ms, s, m or h, like \"250ms\", \"5s\", "
      "\"2m\", \"1h\"";
  const auto* s = node.as_string();
  if (s == nullptr) {
    found.add(node.source(), path, std::string(format) + ", got " + describe(node));
    return std::nullopt;
  }
  const std::string_view text = s->get();
  std::size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  const std::string_view unit = text.substr(digits);
  std::int64_t unit_ms = 0;
  if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1'000;
  } else if (unit == "m") {
    unit_ms = 60'000;
  } else if (unit == "h") {
    unit_ms = 3'600'000;
  }
  const auto number = parse_digits(text.substr(0, digits), max_duration_ms);
  if (unit_ms == 0 || !number) {
    found.add(node.source(), path, std::string(format) + ", got " + quoted(text));
    return std::nullopt;
  }
  if (*number == 0) {
    found.add(node.source(), path, "must be greater than zero, got " + quoted(text));
    return std::nullopt;
  }
  if (*number > max_duration_ms / unit_ms) {
    found.add(node.source(), path, "must be at most 8760h (one year), got " + quoted(text));
    return std::nullopt;
  }
  return milliseconds{*number * unit_ms};
}

// Sizes are integers (bytes) or strings with a binary unit: "4096B", "512KiB", "64MiB", "1GiB".
std::optional<std::int64_t> read_size(const toml::node& node, const std::string& path,
                                      problems& found, std::int64_t min, std::int64_t max,
                                      std::string_view max_text) {
  static constexpr std::string_view format =
      "expected a size: an integer number of bytes or a string with a unit B, KiB, MiB or GiB, "
      "like "
      "\"512KiB\" or \"64MiB\"";
  std::int64_t bytes = 0;
  if (const auto* i = node.as_integer()) {
    bytes = i->get();
  } else if (const auto* s = node.as_string()) {
    const std::string_view text = s->get();
    std::size_t digits = 0;
    while (digits < text.size() && is_digit(text[digits])) ++digits;
    const std::string_view unit = text.substr(digits);
    std::int64_t multiplier = 0;
    if (unit == "B") {
      multiplier = 1;
    } else if (unit == "KiB") {
      multiplier = std::int64_t{1} << 10;
    } else if (unit == "MiB") {
      multiplier = std::int64_t{1} << 20;
    } else if (unit == "GiB") {
      multiplier = std::int64_t{1} << 30;
    }
    // Anything that fits an int64 after scaling; the range check below gives the useful message.
    const auto number = parse_digits(text.substr(0, digits), std::int64_t{1} << 32);
    if (multiplier == 0 || !number) {
      std::string what = std::string(format) + ", got " + quoted(text);
      const std::string lowered = ascii_lower(unit);
      for (std::string_view decimal : {"k", "kb", "m", "mb", "g", "gb"}) {
        if (number && lowered == decimal) {
          what += std::string("; did you mean \"") + std::string(text.substr(0, digits)) +
                  static_cast<char>(decimal[0] - 'a' + 'A') + "iB\"?";
        }
      }
      found.add(node.source(), path, what);
      return std::nullopt;
    }
    bytes = *number * multiplier;
  } else {
    found.add(node.source(), path, std::string(format) + ", got " + describe(node));
    return std::nullopt;
  }
  if (bytes < min || bytes > max) {
    found.add(node.source(), path,
              "must be between " + std::to_string(min) + " bytes and " + std::string(max_text) +
                  ", got " + std::to_string(bytes) + " bytes");
    return std::nullopt;
  }
  return bytes;
}

// The table under `key`, or nullptr when absent or not a table (which is recorded).
const toml::table* find_table(table_reader& reader, std::string_view key) {
  const toml::node* node = reader.find(key);
  if (node == nullptr) return nullptr;
  const auto* table = node->as_table();
  if (table == nullptr) {
    reader.found().add(node->source(), reader.path_of(key),
                       "expected a table ([" + reader.path_of(key) + "]), got " + describe(*node));
  }
  return table;
}

// Reads an optional value: calls `read(node, path)` when `key` is present and stores its result.
template <class T, class Read>
void optional_field(table_reader& reader, std::string_view key, T& out, Read read) {
  if (const toml::node* node = reader.find(key)) {
    if (auto value = read(*node, reader.path_of(key))) out = static_cast<T>(*value);
  }
}

// -----------------------------------------------------------------------------------------------
// Sections.

constexpr enum_name<pool_mode> pool_modes[] = {
    {"transaction", pool_mode::transaction},
    {"session", pool_mode::session},
};
// The replica scorer keeps fixed-size per-backend arrays (scoring::max_backends).
constexpr std::size_t max_backends = 64;

constexpr enum_name<read_fallback> read_fallbacks[] = {
    {"primary", read_fallback::primary},
    {"error", read_fallback::error},
};
constexpr enum_name<consistency_mode> consistency_modes[] = {
    {"eventual", consistency_mode::eventual},
    {"read_your_writes", consistency_mode::read_your_writes},
};
constexpr enum_name<bool> volatile_function_routes[] = {
    {"primary", true},
    {"replica", false},
};
constexpr enum_name<consistency_scope> consistency_scopes[] = {
    {"session", consistency_scope::session},
    {"user", consistency_scope::user},
    {"global", consistency_scope::global},
};
constexpr enum_name<balancer> balancers[] = {
    {"score", balancer::score},
    {"round_robin", balancer::round_robin},
};
constexpr enum_name<backend_role> backend_roles[] = {
    {"primary", backend_role::primary},
    {"replica", backend_role::replica},
};
constexpr enum_name<auth_method> auth_methods[] = {
    {"scram-sha-256", auth_method::scram_sha_256},
    {"md5", auth_method::md5},
    {"trust", auth_method::trust},
};
constexpr std::string_view log_levels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};

// "host:port" or "[v6-address]:port".
void read_listen(const toml::node& node, const std::string& path, problems& found,
                 std::string& host_out, std::uint16_t& port_out) {
  const auto text = read_string(node, path, found);
  if (!text) return;
  const std::string_view s = *text;
  static constexpr std::string_view format =
      "expected \"host:port\" (IPv6 as \"[::1]:6432\"), got ";
  std::string_view host;
  std::string_view port;
  if (s.starts_with('[')) {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      found.add(node.source(), path, std::string(format) + quoted(s));
      return;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      found.add(node.source(), path, std::string(format) + quoted(s));
      return;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      found.add(node.source(), path,
                "an IPv6 address needs brackets, like \"[::1]:6432\", got " + quoted(s));
      return;
    }
  }
  if (host.empty() || has_space(host)) {
    found.add(node.source(), path, "the host part is empty or has spaces: " + quoted(s));
    return;
  }
  const auto number = parse_digits(port, max_port);
  if (!number || *number < min_port) {
    found.add(node.source(), path, "the port must be a number between 1 and 65535: " + quoted(s));
    return;
  }
  host_out = std::string(host);
  port_out = static_cast<std::uint16_t>(*number);
}

void read_pool(table_reader reader, pool_config& pool) {
  auto& found = reader.found();
  auto duration = [&](const toml::node& n, const std::string& p) {
    return read_duration(n, p, found);
  };
  optional_field(reader, "mode", pool.mode, [&](const toml::node& n, const std::string& p) {
    return read_enum<pool_mode>(n, p, found, pool_modes);
  });
  optional_field(reader, "size", pool.size, [&](const toml::node& n, const std::string& p) {
    return read_integer(n, p, found, 1, max_u32);
  });
  optional_field(reader, "max_prepared_statements", pool.max_prepared_statements,
                 [&](const toml::node& n, const std::string& p) { return read_integer(n, p, found, 1, max_u32); });
  optional_field(reader, "idle_timeout", pool.idle_timeout, duration);
  optional_field(reader, "server_lifetime", pool.server_lifetime, duration);
  optional_field(reader, "connect_timeout", pool.connect_timeout, duration);
  optional_field(reader, "query_wait_timeout", pool.query_wait_timeout, duration);
  optional_field(reader, "retry_interval", pool.retry_interval, duration);
  optional_field(reader, "server_check_delay", pool.server_check_delay, duration);
  reader.report_unknown_keys();
}

void read_limits(table_reader reader, limits_config& limits) {
  auto& found = reader.found();
  optional_field(reader, "max_message_size", limits.max_message_size,
                 [&](const toml::node& n, const std::string& p) {
                   return read_size(n, p, found, min_message_size, max_message_size_limit, "1GiB");
                 });
  optional_field(
      reader, "startup_timeout", limits.startup_timeout,
      [&](const toml::node& n, const std::string& p) { return read_duration(n, p, found); });
  optional_field(reader, "max_client_connections", limits.max_client_connections,
                 [&](const toml::node& n, const std::string& p) {
                   return read_integer(n, p, found, 1, max_u32);
                 });
  reader.report_unknown_keys();
}

void read_routing(table_reader reader, routing_config& routing) {
  auto& found = reader.found();
  auto duration = [&](const toml::node& n, const std::string& p) {
    return read_duration(n, p, found);
  };
  optional_field(reader, "read_write_split", routing.read_write_split,
                 [&](const toml::node& n, const std::string& p) { return read_bool(n, p, found); });
  optional_field(reader, "balance", routing.balance, [&](const toml::node& n, const std::string& p) {
    return read_enum<balancer>(n, p, found, balancers);
  });
  optional_field(reader, "fallback", routing.fallback, [&](const toml::node& n, const std::string& p) {
    return read_enum<read_fallback>(n, p, found, read_fallbacks);
  });
  optional_field(reader, "consistency", routing.consistency,
                 [&](const toml::node& n, const std::string& p) {
                   return read_enum<consistency_mode>(n, p, found, consistency_modes);
                 });
  optional_field(reader, "consistency_scope", routing.scope, [&](const toml::node& n, const std::string& p) {
    return read_enum<consistency_scope>(n, p, found, consistency_scopes);
  });
  optional_field(reader, "volatile_functions", routing.volatile_functions_on_primary,
                 [&](const toml::node& n, const std::string& p) {
                   return read_enum<bool>(n, p, found, volatile_function_routes);
                 });
  optional_field(reader, "causal_wait", routing.causal_wait, duration);
  optional_field(reader, "max_lag", routing.max_lag, duration);
  optional_field(reader, "max_lag_bytes", routing.max_lag_bytes,
                 [&](const toml::node& n, const std::string& p) -> std::optional<std::uint64_t> {
                   auto bytes = read_size(n, p, found, 1, std::int64_t{1} << 40, "1024GiB");
                   if (!bytes) return std::nullopt;
                   return static_cast<std::uint64_t>(*bytes);
                 });
  if (const toml::node* node = reader.find("write_functions")) {
    const std::string path = reader.path_of("write_functions");
    if (const auto* array = node->as_array()) {
      std::vector<std::string> names;
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const std::string element_path = path + '[' + std::to_string(i) + ']';
        auto name = read_string(element, element_path, found);
        if (!name) continue;
        if (has_space(*name) || name->front() == '.' || name->back() == '.') {
          found.add(element.source(), element_path,
                    "expected a function name like \"audit_log\" or \"app.bump_counter\", got " +
                        quoted(*name));
          continue;
        }
        names.push_back(ascii_lower(*name));
      }
      routing.write_functions = std::move(names);
    } else {
      found.add(
          node->source(), path,
          "expected an array of function names, like [\"audit_log\"], got " + describe(*node));
    }
  }
  reader.report_unknown_keys();
}

void read_health(table_reader reader, health_config& health) {
  auto& found = reader.found();
  auto duration = [&](const toml::node& n, const std::string& p) {
    return read_duration(n, p, found);
  };
  auto string_field = [&](const toml::node& n, const std::string& p) -> std::optional<std::string> {
    auto text = read_string(n, p, found);
    if (text && text->empty()) {
      found.add(n.source(), p, "must not be empty");
      return std::nullopt;
    }
    return text;
  };
  optional_field(reader, "probe_interval", health.probe_interval, duration);
  optional_field(reader, "probe_timeout", health.probe_timeout, duration);
  optional_field(reader, "dns_ttl", health.dns_ttl, duration);
  optional_field(reader, "heartbeat", health.heartbeat,
                 [&](const toml::node& n, const std::string& p) { return read_bool(n, p, found); });
  optional_field(reader, "user", health.user, string_field);
  optional_field(reader, "password", health.password, string_field);
  optional_field(reader, "database", health.database, string_field);
  reader.report_unknown_keys();
}

void read_logging(table_reader reader, logging_config& logging) {
  auto& found = reader.found();
  if (const toml::node* node = reader.find("level")) {
    const std::string path = reader.path_of("level");
    std::string allowed;
    for (auto level : log_levels) {
      if (!allowed.empty()) allowed += ", ";
      allowed += quoted(level);
    }
    if (const auto* s = node->as_string()) {
      if (std::find(std::begin(log_levels), std::end(log_levels), s->get()) !=
          std::end(log_levels)) {
        logging.level = s->get();
      } else {
        found.add(node->source(), path, "must be one of " + allowed + ", got " + quoted(s->get()));
      }
    } else {
      found.add(node->source(), path, "expected one of " + allowed + ", got " + describe(*node));
    }
  }
  optional_field(reader, "connections", logging.connections,
                 [&](const toml::node& n, const std::string& p) { return read_bool(n, p, found); });
  reader.report_unknown_keys();
}

// The elements of the array of tables under `key` ([[backends]], [[users]]), each with its path
// ("backends[0]"). Records a problem when the key is missing or not an array of tables, and when it
// is empty unless `required` is false.
std::vector<std::pair<const toml::table*, std::string>> find_entries(table_reader& reader,
                                                                     std::string_view key, bool required = true) {
  std::vector<std::pair<const toml::table*, std::string>> entries;
  const std::string path = reader.path_of(key);
  const std::string required_text = "at least one [[" + path + "]] entry is required";
  const toml::node* node = reader.find(key);
  if (node == nullptr) {
    reader.found().add(reader.table().source(), path, "missing; " + required_text);
    return entries;
  }
  const auto* array = node->as_array();
  if (array == nullptr) {
    reader.found().add(node->source(), path,
                       "expected an array of tables ([[" + path + "]]), got " + describe(*node));
    return entries;
  }
  if (array->empty()) {
    if (required) reader.found().add(node->source(), path, required_text);
    return entries;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string element_path = path + '[' + std::to_string(i) + ']';
    if (const auto* table = element.as_table()) {
      entries.emplace_back(table, std::move(element_path));
    } else {
      reader.found().add(element.source(), element_path,
                         "expected a table ([[" + path + "]]), got " + describe(element));
    }
  }
  return entries;
}

// A required string member of an array-of-tables entry; the entry's own position when missing.
std::optional<std::string> required_string(table_reader& reader, std::string_view key) {
  const toml::node* node = reader.find(key);
  if (node == nullptr) {
    reader.found().add(reader.table().source(), reader.path_of(key), "missing");
    return std::nullopt;
  }
  return read_string(*node, reader.path_of(key), reader.found());
}

// Reports a second entry with the same name. `seen` maps names to the first entry's path.
void check_unique_name(const toml::node& name_node, const std::string& name,
                       const std::string& path, std::string_view entry_path,
                       std::map<std::string, std::string>& seen, problems& found) {
  const auto [it, inserted] = seen.emplace(name, std::string(entry_path));
  if (!inserted) {
    found.add(name_node.source(), path,
              "duplicate name " + quoted(name) + " (already used by " + it->second + ")");
  }
}

// [[backends]] of `root` ("backends", "mysql.backends"): names unique, exactly one primary.
void read_backend_list(table_reader& root, std::uint16_t default_port, std::vector<backend_config>& out) {
  auto& found = root.found();
  const auto entries = find_entries(root, "backends");
  std::map<std::string, std::string> names;
  std::optional<std::string> primary;  // path of the first primary
  bool role_unreadable = false;
  for (const auto& [table, entry_path] : entries) {
    table_reader reader(*table, entry_path, found);
    backend_config backend;
    backend.port = default_port;
    if (auto name = required_string(reader, "name")) {
      check_unique_name(*table->get("name"), *name, reader.path_of("name"), entry_path, names,
                        found);
      backend.name = std::move(*name);
    }
    if (auto host = required_string(reader, "host")) {
      // An IPv6 address may be written with or without brackets here: the port is separate.
      std::string_view h = *host;
      if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
      if (has_space(h)) {
        found.add(table->get("host")->source(), reader.path_of("host"),
                  "must be a host name or address, got " + quoted(*host));
      }
      backend.host = std::string(h);
    }
    optional_field(reader, "port", backend.port, [&](const toml::node& n, const std::string& p) {
      return read_integer(n, p, found, min_port, max_port);
    });
    if (const toml::node* node = reader.find("role")) {
      const auto role =
          read_enum<backend_role>(*node, reader.path_of("role"), found, backend_roles);
      if (!role) {
        role_unreadable = true;
      } else {
        backend.role = *role;
        if (*role == backend_role::primary) {
          if (primary) {
            found.add(node->source(), reader.path_of("role"),
                      "a second primary (" + *primary +
                          " is primary already); exactly one backend must have role = \"primary\"");
          } else {
            primary = entry_path;
          }
        }
      }
    }
    reader.report_unknown_keys();
    out.push_back(std::move(backend));
  }
  if (!entries.empty() && !primary && !role_unreadable) {
    found.add(root.table().get("backends")->source(), root.path_of("backends"),
              "no backend has role = \"primary\"; exactly one must (role defaults to \"replica\")");
  }
  if (out.size() > max_backends) {
    found.add(root.table().get("backends")->source(), root.path_of("backends"),
              "at most " + std::to_string(max_backends) + " backends are supported, got " +
                  std::to_string(out.size()));
  }
}

void read_backends(table_reader& root, config& out) { read_backend_list(root, 5432, out.backends); }

// The number of bytes `part` decodes to if it is padded base64 (RFC 4648 section 4), else nullopt.
std::optional<std::size_t> base64_decoded_size(std::string_view part) {
  if (part.empty() || part.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && part[part.size() - 1 - padding] == '=') ++padding;
  const bool alphabet =
      std::all_of(part.begin(), part.end() - static_cast<std::ptrdiff_t>(padding), [](char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '+' ||
               ch == '/';
      });
  if (!alphabet) return std::nullopt;
  return part.size() / 4 * 3 - padding;
}

// Shape check of a stored SCRAM verifier, as PostgreSQL's parse_scram_secret reads pg_authid's
// rolpassword: "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", salt and keys in
// base64, keys of SHA-256 size. The keys themselves cannot be checked without the password.
bool looks_like_scram_verifier(std::string_view s) {
  constexpr std::size_t sha256_size = 32;
  constexpr std::int64_t max_iterations = std::numeric_limits<std::int32_t>::max();
  if (!s.starts_with(scram_prefix)) return false;
  s.remove_prefix(scram_prefix.size());
  const auto dollar = s.find('$');
  if (dollar == std::string_view::npos) return false;
  const auto split = [](std::string_view part) -> std::pair<std::string_view, std::string_view> {
    const auto colon = part.find(':');
    if (colon == std::string_view::npos) return {};
    return {part.substr(0, colon), part.substr(colon + 1)};
  };
  const auto [iterations, salt] = split(s.substr(0, dollar));
  const auto [stored_key, server_key] = split(s.substr(dollar + 1));
  const auto count = parse_digits(iterations, max_iterations);
  const auto salt_size = base64_decoded_size(salt);
  return count && *count > 0 && salt_size && *salt_size > 0 &&
         base64_decoded_size(stored_key) == sha256_size &&
         base64_decoded_size(server_key) == sha256_size;
}

void read_users(table_reader& root, config& out) {
  auto& found = root.found();
  const auto entries = find_entries(root, "users");
  std::map<std::string, std::string> names;
  for (const auto& [table, entry_path] : entries) {
    table_reader reader(*table, entry_path, found);
    user_config user;
    const auto string_field = [&](const toml::node& n, const std::string& p) {
      return read_string(n, p, found);
    };
    if (auto name = required_string(reader, "name")) {
      check_unique_name(*table->get("name"), *name, reader.path_of("name"), entry_path, names,
                        found);
      user.name = std::move(*name);
    }
    bool auth_known = true;
    if (const toml::node* node = reader.find("auth")) {
      const auto auth = read_enum<auth_method>(*node, reader.path_of("auth"), found, auth_methods);
      if (auth) user.auth = *auth;
      auth_known = auth.has_value();
    }
    const bool password_given = reader.table().contains("password");
    const bool verifier_given = reader.table().contains("scram_verifier");
    optional_field(reader, "password", user.password, string_field);
    if (const toml::node* node = reader.find("scram_verifier")) {
      const std::string path = reader.path_of("scram_verifier");
      if (auto verifier = read_string(*node, path, found)) {
        if (!looks_like_scram_verifier(*verifier)) {
          found.add(node->source(), path,
                    "expected \"SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>\" (as in "
                    "pg_authid.rolpassword, salt and keys in base64, keys of 32 bytes)");
        } else if (auth_known && user.auth != auth_method::scram_sha_256) {
          found.add(node->source(), path, "only used with auth = \"scram-sha-256\"");
        } else {
          user.scram_verifier = std::move(*verifier);
        }
      }
    }
    if (auth_known) {
      if (user.auth == auth_method::scram_sha_256 && !password_given && !verifier_given) {
        found.add(table->source(), reader.path_of("password"),
                  "missing; auth = \"scram-sha-256\" needs password or scram_verifier");
      } else if (user.auth == auth_method::md5 && !password_given) {
        found.add(table->source(), reader.path_of("password"),
                  "missing; auth = \"md5\" needs password");
      }
    }
    optional_field(reader, "pool_mode", user.mode, [&](const toml::node& n, const std::string& p) {
      return read_enum<pool_mode>(n, p, found, pool_modes);
    });
    optional_field(reader, "consistency", user.consistency,
                   [&](const toml::node& n, const std::string& p) {
                     return read_enum<consistency_mode>(n, p, found, consistency_modes);
                   });
    optional_field(reader, "consistency_scope", user.scope, [&](const toml::node& n, const std::string& p) {
      return read_enum<consistency_scope>(n, p, found, consistency_scopes);
    });
    optional_field(reader, "pool_size", user.pool_size, [&](const toml::node& n, const std::string& p) {
      return read_integer(n, p, found, 1, max_u32);
    });
    user.server_user = user.name;
    optional_field(reader, "server_user", user.server_user, string_field);
    user.server_password = user.password;
    optional_field(reader, "server_password", user.server_password, string_field);
    reader.report_unknown_keys();
    out.users.push_back(std::move(user));
  }
}

// "*" + 40 hex digits: mysql_native_password's stored hash, SHA1(SHA1(password)) as MariaDB and MySQL
// keep it in mysql.user (PASSWORD('...') prints it).
bool looks_like_native_password_hash(std::string_view s) {
  constexpr std::size_t sha1_hex = 40;
  return s.size() == sha1_hex + 1 && s.front() == '*' &&
         std::all_of(s.begin() + 1, s.end(), [](char ch) {
           return is_digit(ch) || (ch >= 'A' && ch <= 'F') || (ch >= 'a' && ch <= 'f');
         });
}

void read_mysql_users(table_reader& root, std::vector<mysql_user_config>& out) {
  auto& found = root.found();
  const auto entries = find_entries(root, "users");
  std::map<std::string, std::string> names;
  for (const auto& [table, entry_path] : entries) {
    table_reader reader(*table, entry_path, found);
    mysql_user_config user;
    const auto string_field = [&](const toml::node& n, const std::string& p) { return read_string(n, p, found); };
    if (auto name = required_string(reader, "name")) {
      check_unique_name(*table->get("name"), *name, reader.path_of("name"), entry_path, names, found);
      user.name = std::move(*name);
    }
    optional_field(reader, "password", user.password, string_field);
    if (const toml::node* node = reader.find("password_hash")) {
      const std::string path = reader.path_of("password_hash");
      if (auto hash = read_string(*node, path, found)) {
        if (!looks_like_native_password_hash(*hash)) {
          found.add(node->source(), path,
                    "expected \"*\" and 40 hex digits (mysql_native_password's hash, as in "
                    "mysql.user.authentication_string or PASSWORD('...')), got " + quoted(*hash));
        } else if (user.password) {
          found.add(node->source(), path, "give password or password_hash, not both");
        } else {
          user.password_hash = std::move(*hash);
        }
      }
    }
    if (!reader.table().contains("password") && !reader.table().contains("password_hash")) {
      found.add(table->source(), reader.path_of("password"), "missing; a MySQL user needs password or password_hash");
    }
    optional_field(reader, "pool_mode", user.mode, [&](const toml::node& n, const std::string& p) {
      return read_enum<pool_mode>(n, p, found, pool_modes);
    });
    optional_field(reader, "pool_size", user.pool_size, [&](const toml::node& n, const std::string& p) {
      return read_integer(n, p, found, 1, max_u32);
    });
    user.server_user = user.name;
    optional_field(reader, "server_user", user.server_user, string_field);
    user.server_password = user.password;
    optional_field(reader, "server_password", user.server_password, string_field);
    if (!user.server_password && user.password_hash) {
      // The hash logs a client in, but cannot log sluice in to a backend.
      found.add(table->source(), reader.path_of("server_password"),
                "missing; with password_hash, sluice needs server_password to log in to the backends");
    }
    reader.report_unknown_keys();
    out.push_back(std::move(user));
  }
}

void read_mysql(table_reader& reader, mysql_config& mysql) {
  auto& found = reader.found();
  mysql.enabled = true;
  if (const toml::node* node = reader.find("listen")) {
    read_listen(*node, reader.path_of("listen"), found, mysql.listen_host, mysql.listen_port);
  }
  optional_field(reader, "server_version", mysql.server_version, [&](const toml::node& n, const std::string& p) {
    auto version = read_string(n, p, found);
    if (version && (version->empty() || version->find('\0') != std::string::npos || version->size() > 64)) {
      found.add(n.source(), p,
                "expected a version string of 1 to 64 bytes without NUL, like \"5.5.5-10.11.6-MariaDB\"");
      return std::optional<std::string>{};
    }
    return version;
  });
  optional_field(reader, "local_infile", mysql.local_infile,
                 [&](const toml::node& n, const std::string& p) { return read_bool(n, p, found); });
  read_backend_list(reader, 3306, mysql.backends);
  read_mysql_users(reader, mysql.users);
  reader.report_unknown_keys();
}

// A number (integer or floating point) greater than zero and at most `max`.
std::optional<double> read_positive_number(const toml::node& node, const std::string& path,
                                           problems& found, double max) {
  double value = 0;
  if (const auto* i = node.as_integer()) {
    value = static_cast<double>(i->get());
  } else if (const auto* f = node.as_floating_point()) {
    value = f->get();
  } else {
    found.add(node.source(), path, "expected a number greater than zero, got " + describe(node));
    return std::nullopt;
  }
  if (!(value > 0) || !(value <= max)) {
    std::ostringstream text;
    text << "must be greater than zero and at most " << max << ", got " << value;
    found.add(node.source(), path, text.str());
    return std::nullopt;
  }
  return value;
}

// Loopback addresses: 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

void read_admin(table_reader reader, admin_config& admin, const std::string& source,
                std::vector<std::string>& warnings) {
  auto& found = reader.found();
  admin.enabled = true;
  const toml::node* listen = reader.find("listen");
  if (listen != nullptr) read_listen(*listen, reader.path_of("listen"), found, admin.listen_host, admin.listen_port);
  optional_field(reader, "token", admin.token, [&](const toml::node& n, const std::string& p) {
    return read_string(n, p, found);
  });
  optional_field(reader, "token_env", admin.token_env, [&](const toml::node& n, const std::string& p) {
    return read_string(n, p, found);
  });
  if (admin.token.empty()) {
    // The token stays out of the file when it comes from the environment (read once, at load).
    const char* from_env = std::getenv(admin.token_env.c_str());
    if (from_env != nullptr && *from_env != '\0') {
      admin.token = from_env;
    } else {
      found.add(reader.table().source(), reader.path_of("token"),
                "missing; the admin API needs a bearer token: set token, or the environment variable " +
                    admin.token_env + " (token_env)");
    }
  }
  if (!admin.token.empty() && admin.token.size() < min_exposed_token_length && !is_loopback(admin.listen_host)) {
    const toml::source_region& at = listen != nullptr ? listen->source() : reader.table().source();
    warnings.push_back(problems::position(source, at.begin) + "key '" + reader.path_of("listen") +
                       "': the admin API listens beyond loopback (" + admin.listen_host + ") with a token of " +
                       std::to_string(admin.token.size()) + " characters; use at least " +
                       std::to_string(min_exposed_token_length) + " random ones (openssl rand -hex 16)");
  }
  reader.report_unknown_keys();
}

void read_failover(table_reader reader, failover_config& failover) {
  auto& found = reader.found();
  auto duration = [&](const toml::node& n, const std::string& p) { return read_duration(n, p, found); };
  optional_field(reader, "auto_failover", failover.auto_failover,
                 [&](const toml::node& n, const std::string& p) { return read_bool(n, p, found); });
  optional_field(reader, "failover_timeout", failover.failover_timeout, duration);
  optional_field(reader, "hold_timeout", failover.hold_timeout, duration);
  optional_field(reader, "max_held", failover.max_held, [&](const toml::node& n, const std::string& p) {
    return read_integer(n, p, found, 1, max_u32);
  });
  optional_field(reader, "drain_timeout", failover.drain_timeout, duration);
  optional_field(reader, "catchup_timeout", failover.catchup_timeout, duration);
  optional_field(reader, "rejoin_command", failover.rejoin_command,
                 [&](const toml::node& n, const std::string& p) { return read_string(n, p, found); });
  reader.report_unknown_keys();
}

// Every element of an optional array of tables ([[tenants]], [[tenant_rules]]), with its path.
std::vector<std::pair<const toml::table*, std::string>> find_optional_entries(table_reader& reader,
                                                                              std::string_view key) {
  if (!reader.table().contains(key)) {
    reader.find(key);  // known, absent
    return {};
  }
  return find_entries(reader, key, /*required=*/false);
}

bool is_tag_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' || ch == '-' || ch == '.';
  });
}

constexpr std::string_view default_tenant_name = "default";

// [[tenants]] and [[tenant_rules]] of `root` (the main config or a policy file) into `policy`.
void read_tenants(table_reader& root, policies::qos_policy& policy) {
  auto& found = root.found();
  std::map<std::string, std::string> names;
  for (const auto& [table, entry_path] : find_optional_entries(root, "tenants")) {
    table_reader reader(*table, entry_path, found);
    policies::tenant_policy tenant;
    if (auto name = required_string(reader, "name")) {
      check_unique_name(*table->get("name"), *name, reader.path_of("name"), entry_path, names, found);
      if (!is_tag_key(*name)) {
        found.add(table->get("name")->source(), reader.path_of("name"),
                  "a tenant name may use letters, digits, '_', '-' and '.', got " + quoted(*name));
      }
      tenant.name = std::move(*name);
    }
    auto number = [&](double max) {
      return [&found, max](const toml::node& n, const std::string& p) { return read_positive_number(n, p, found, max); };
    };
    optional_field(reader, "max_qps", tenant.max_qps, number(1e9));
    optional_field(reader, "burst", tenant.burst, number(1e9));
    if (tenant.burst && *tenant.burst < 1) {
      found.add(table->get("burst")->source(), reader.path_of("burst"), "must be at least 1 (one statement)");
    }
    if (tenant.burst && !tenant.max_qps) {
      found.add(table->get("burst")->source(), reader.path_of("burst"), "only used with max_qps");
    }
    optional_field(reader, "max_concurrency", tenant.max_concurrency, [&](const toml::node& n, const std::string& p) {
      return read_integer(n, p, found, 1, max_u32);
    });
    optional_field(reader, "db_time_share", tenant.db_time_share, number(1e6));
    optional_field(reader, "max_db_time_per_s", tenant.max_db_time_per_s, number(1e6));
    optional_field(reader, "max_queue", tenant.max_queue, [&](const toml::node& n, const std::string& p) {
      return read_integer(n, p, found, 0, max_u32);
    });
    optional_field(reader, "max_wait", tenant.max_wait, [&](const toml::node& n, const std::string& p) {
      return read_duration(n, p, found);
    });
    reader.report_unknown_keys();
    policy.tenants.push_back(std::move(tenant));
  }
  if (names.find(std::string(default_tenant_name)) == names.end()) {
    policies::tenant_policy fallback;
    fallback.name = std::string(default_tenant_name);
    policy.tenants.push_back(std::move(fallback));
  }
  static constexpr std::pair<std::string_view, policies::rule_kind> selectors[] = {
      {"user", policies::rule_kind::user},
      {"database", policies::rule_kind::database},
      {"application_name", policies::rule_kind::application_name},
      {"tag", policies::rule_kind::tag},
  };
  for (const auto& [table, entry_path] : find_optional_entries(root, "tenant_rules")) {
    table_reader reader(*table, entry_path, found);
    policies::tenant_rule rule;
    rule.line = static_cast<int>(table->source().begin.line);
    int selectors_given = 0;
    for (const auto& [key, kind] : selectors) {
      if (const toml::node* node = reader.find(key)) {
        ++selectors_given;
        if (auto pattern = read_string(*node, reader.path_of(key), found)) {
          rule.kind = kind;
          rule.pattern = std::move(*pattern);
          if (kind == policies::rule_kind::tag && !is_tag_key(rule.pattern)) {
            found.add(node->source(), reader.path_of(key),
                      "a tag key may use letters, digits, '_', '-' and '.', got " + quoted(rule.pattern));
          }
        }
      }
    }
    if (selectors_given != 1) {
      found.add(table->source(), entry_path,
                "each rule needs exactly one of user, database, application_name or tag, got " +
                    std::to_string(selectors_given));
    }
    const toml::node* tenant_node = reader.find("tenant");
    if (rule.kind == policies::rule_kind::tag) {
      if (tenant_node != nullptr) {
        found.add(tenant_node->source(), reader.path_of("tenant"),
                  "a tag rule takes the tenant from the tag's value; remove tenant");
      }
    } else if (tenant_node == nullptr) {
      if (selectors_given == 1) found.add(table->source(), reader.path_of("tenant"), "missing");
    } else if (auto tenant = read_string(*tenant_node, reader.path_of("tenant"), found)) {
      const bool known = std::any_of(policy.tenants.begin(), policy.tenants.end(),
                                     [&](const policies::tenant_policy& t) { return t.name == *tenant; });
      if (!known) {
        found.add(tenant_node->source(), reader.path_of("tenant"),
                  "no [[tenants]] entry is named " + quoted(*tenant));
      }
      rule.tenant = std::move(*tenant);
    }
    reader.report_unknown_keys();
    policy.rules.push_back(std::move(rule));
  }
}

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

toml::table parse_toml_file(const std::string& path);

// A policy file: [qos] max_active, [[tenants]], [[tenant_rules]]; nothing else.
void read_policy_file(const std::string& path, qos_config& qos) {
  const toml::table root_table = parse_toml_file(path);
  problems found;
  table_reader root(root_table, "", found);
  if (const auto* t = find_table(root, "qos")) {
    table_reader reader(*t, "qos", found);
    optional_field(reader, "max_active", qos.policy.max_active, [&](const toml::node& n, const std::string& p) {
      return read_integer(n, p, found, 0, max_u32);
    });
    reader.report_unknown_keys();
  }
  read_tenants(root, qos.policy);
  root.report_unknown_keys();
  if (!found.empty()) found.raise(path);
}

// [qos], [[tenants]] and [[tenant_rules]] of the main file; `config_path` locates a policy_file.
void read_qos(table_reader& root, const std::string& config_path, qos_config& qos) {
  auto& found = root.found();
  const bool has_entries = root.table().contains("tenants") || root.table().contains("tenant_rules");
  if (const auto* t = find_table(root, "qos")) {
    qos.enabled = true;
    table_reader reader(*t, "qos", found);
    optional_field(reader, "policy_file", qos.policy_file, [&](const toml::node& n, const std::string& p) {
      return read_string(n, p, found);
    });
    if (!qos.policy_file.empty()) {
      if (t->contains("max_active")) {
        found.add(t->get("max_active")->source(), "qos.max_active",
                  "with policy_file, max_active belongs in the policy file's [qos] section");
      }
      reader.find("max_active");
    } else {
      optional_field(reader, "max_active", qos.policy.max_active, [&](const toml::node& n, const std::string& p) {
        return read_integer(n, p, found, 0, max_u32);
      });
    }
    reader.report_unknown_keys();
  }
  if (!qos.policy_file.empty()) {
    if (has_entries) {
      const auto* node = root.table().get(root.table().contains("tenants") ? "tenants" : "tenant_rules");
      found.add(node->source(), root.table().contains("tenants") ? "tenants" : "tenant_rules",
                "tenants and rules are read from qos.policy_file; move them there");
      root.find("tenants");
      root.find("tenant_rules");
    }
    if (!qos.policy_file.starts_with('/')) qos.policy_file = folder_of(config_path) + '/' + qos.policy_file;
    // A broken policy file is reported as itself (its own path and lines), not as the main file.
    read_policy_file(qos.policy_file, qos);
    return;
  }
  if (has_entries) qos.enabled = true;
  read_tenants(root, qos.policy);
}

config read_config(const toml::table& root_table, const std::string& source, problems& found) {
  config out;
  table_reader root(root_table, "", found);
  if (const toml::node* node = root.find("listen")) {
    read_listen(*node, "listen", found, out.listen_host, out.listen_port);
  }
  optional_field(root, "workers", out.workers, [&](const toml::node& n, const std::string& p) {
    return read_integer(n, p, found, 0, max_workers);
  });
  optional_field(root, "shutdown_timeout", out.shutdown_timeout,
                 [&](const toml::node& n, const std::string& p) { return read_duration(n, p, found); });
  if (const auto* t = find_table(root, "pool"))
    read_pool(table_reader(*t, "pool", found), out.pool);
  if (const auto* t = find_table(root, "limits")) {
    read_limits(table_reader(*t, "limits", found), out.limits);
  }
  if (const auto* t = find_table(root, "routing")) {
    read_routing(table_reader(*t, "routing", found), out.routing);
  }
  if (const auto* t = find_table(root, "health")) {
    read_health(table_reader(*t, "health", found), out.health);
  }
  if (const auto* t = find_table(root, "logging")) {
    read_logging(table_reader(*t, "logging", found), out.logging);
  }
  if (const auto* t = find_table(root, "admin")) {
    read_admin(table_reader(*t, "admin", found), out.admin, source, out.warnings);
  }
  if (const auto* t = find_table(root, "failover")) {
    read_failover(table_reader(*t, "failover", found), out.failover);
  }
  read_qos(root, source, out.qos);
  read_backends(root, out);
  read_users(root, out);
  if (const auto* t = find_table(root, "mysql")) {
    table_reader mysql(*t, "mysql", found);
    read_mysql(mysql, out.mysql);
    // Every listener sets SO_REUSEPORT: two on one address would both bind, and the kernel would
    // split clients between the PostgreSQL and the MySQL listener.
    const auto same_address = [&](const std::string& host, std::uint16_t port) {
      const auto wildcard = [](const std::string& h) { return h == "0.0.0.0" || h == "::" || h == "*"; };
      return port == out.mysql.listen_port &&
             (host == out.mysql.listen_host || wildcard(host) || wildcard(out.mysql.listen_host));
    };
    const toml::node* at = t->get("listen");
    const auto clash = [&](std::string_view other) {
      found.add(at != nullptr ? at->source() : t->source(), "mysql.listen",
                "the same address as " + std::string(other) + "; the MySQL listener needs a port of its own");
    };
    if (same_address(out.listen_host, out.listen_port)) {
      clash("listen (PostgreSQL clients)");
    } else if (out.admin.enabled && same_address(out.admin.listen_host, out.admin.listen_port)) {
      clash("admin.listen");
    }
  }
  root.report_unknown_keys();
  return out;
}

}  // namespace

config load_config_text(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view{source_name});
  } catch (const toml::parse_error& err) {
    throw config_error(problems::position(source_name, err.source().begin) +
                       "TOML syntax error: " + std::string(err.description()));
  }
  problems found;
  config out = read_config(root, source_name, found);
  if (!found.empty()) found.raise(source_name);
  out.source_path = source_name;
  return out;
}

namespace {

toml::table parse_toml_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error(path + ": cannot read: " + std::strerror(errno));
  try {
    return toml::parse(text.str(), std::string_view{path});
  } catch (const toml::parse_error& err) {
    throw config_error(problems::position(path, err.source().begin) + "TOML syntax error: " +
                       std::string(err.description()));
  }
}

}  // namespace

qos_config load_qos_policy(const std::string& path) {
  const toml::table root_table = parse_toml_file(path);
  problems found;
  table_reader root(root_table, "", found);
  qos_config qos;
  read_qos(root, path, qos);
  // Other sections are not this function's business: no unknown-key report at the top level.
  if (!found.empty()) found.raise(path);
  return qos;
}

config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error(path + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw config_error(path + ": cannot read: " + std::strerror(errno));
  }
  return load_config_text(text.str(), path);
}

unsigned usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<unsigned>(count);
  }
  const unsigned online = std::thread::hardware_concurrency();
  return online > 0 ? online : 1;
}

unsigned resolve_workers(unsigned configured) noexcept {
  return configured != 0 ? configured : default_workers(usable_cpus());
}

}  // namespace sluice::router::config
