// sluicectl: the command-line client of sluice's admin API (docs/admin-api.md). Aligned tables for
// people, --json for scripts; exit status 0 ok, 1 failed (including 401), 2 usage.
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <toml++/toml.h>
#include <vector>

#include "router/admin/json_text.hpp"
#include "router/ctl/admin_client.hpp"
#include "router/ctl/drill.hpp"

namespace {

namespace json = boost::json;
using sluice::ctl::admin_endpoint;
using sluice::ctl::admin_request;
using sluice::ctl::http_reply;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

constexpr int default_timeout_ms = 10'000;
constexpr int action_timeout_ms = 300'000;  // switchover and failover block until done

// --- Usage -----------------------------------------------------------------------------------------

constexpr const char* global_usage =
    "usage: sluicectl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  status                 the proxy, its backends and tenants at a glance\n"
    "  ping [--count N]       each backend's health-probe round trip (repeat N times)\n"
    "  backends               backends: role, state, lag, latency, in flight, score, share of reads\n"
    "  tenants                tenants: policy, usage, queue, refusals\n"
    "  pools                  server connection pools\n"
    "  clients                client connections\n"
    "  explain \"SQL\"          how SQL would be routed right now, and why\n"
    "  drain NAME             no new reads to backend NAME; running transactions finish\n"
    "  undrain NAME           let backend NAME serve reads again\n"
    "  reload                 re-read the config file and apply what can change (as SIGHUP does)\n"
    "  switchover --to NAME   planned promotion of replica NAME\n"
    "  failover               promote the best replica now (the primary is gone)\n"
    "  drill [ARGS]           a canary workload through a switchover, with a report\n"
    "  metrics                the Prometheus metrics, as served on /metrics\n"
    "\n"
    "Options (before or after the command):\n"
    "  --admin HOST:PORT      the admin API (default: env SLUICE_ADMIN, else the config's [admin] listen,\n"
    "                         else 127.0.0.1:6481)\n"
    "  --token TOKEN          the bearer token (default: env SLUICE_ADMIN_TOKEN, else the config's)\n"
    "  --config FILE          read [admin] listen and token / token_env from a sluice config\n"
    "                         (default: env SLUICE_CONFIG)\n"
    "  --json                 print the API's JSON instead of tables\n"
    "  --timeout SECONDS      request timeout (default 10; switchover and failover 300)\n"
    "  -h, --help             this help; COMMAND --help for a command's\n"
    "  --version              print sluicectl's version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 failed (unreachable, refused, 401, or the operation failed), 2 usage.\n";

const std::map<std::string, std::string>& command_usage() {
  static const std::map<std::string, std::string> usage{
      {"status", "usage: sluicectl status [--json]\n"
                 "The proxy (version, uptime, clients, topology, where writes go), then the backends and\n"
                 "tenants tables.\n"},
      {"ping", "usage: sluicectl ping [--count N] [--interval SECONDS] [--json]\n"
               "Each backend's latest health-probe round trip, as sluice measures it (one libpq query per\n"
               "probe_interval). With --count N, asks N times, --interval apart (default 1 s), and ends with\n"
               "min/avg/max per backend. Exit status 1 when a backend is unreachable in the last round.\n"},
      {"backends", "usage: sluicectl backends [NAME] [--json]\n"
                   "Role and state from the probes, replication lag (bytes, ms), latency (EWMA, p99 over the\n"
                   "last 30-60 s), statements in flight, the scorer's cost (lower wins), share of reads and\n"
                   "outlier ejections. With NAME, that backend only.\n"},
      {"tenants", "usage: sluicectl tenants [--json]\n"
                  "Each tenant's policy (max_qps, max_concurrency, ...), usage, queue and refusals.\n"},
      {"pools", "usage: sluicectl pools [--json]\n"
                "Server connection pools per backend, database and user, summed over the workers.\n"},
      {"clients", "usage: sluicectl clients [--json]\nThe client connections: user, database, state, backend.\n"},
      {"explain", "usage: sluicectl explain [--user U] [--database D] [--application-name A] \"SQL\" [--json]\n"
                  "How sluice would route SQL right now: the classifier's verdict, primary or replica and\n"
                  "why, the backend the scorer would pick with its reasoning, and the tenant (QoS on).\n"},
      {"drain", "usage: sluicectl drain NAME [--json]\n"
                "No new reads or read transactions start on replica NAME; those running finish. The\n"
                "primary cannot be drained (switch over first).\n"},
      {"undrain", "usage: sluicectl undrain NAME [--json]\nBackend NAME serves reads again.\n"},
      {"reload",
       "usage: sluicectl reload [--json]\nRe-reads sluice's config file (as SIGHUP does) and applies what can change while it\n"
       "runs: users and passwords, backends added, removed or moved, pool sizes and timeouts, limits, logging,\n"
       "routing (but the lag limits) and tenant policies. Prints what was applied and the changed keys that\n"
       "need a restart (listen address, workers, [admin], [health], [failover], ...; docs/configuration.md).\n"
       "A broken file changes nothing: the error names file, line and key (exit status 1).\n"},
      {"switchover", "usage: sluicectl switchover --to NAME [--json]\n"
                     "Planned switchover: holds new writes, lets running ones finish, waits until replica NAME\n"
                     "has replayed everything, promotes it and fences the old primary. Blocks until done.\n"},
      {"failover", "usage: sluicectl failover [--json]\n"
                   "Unplanned failover: promotes the most advanced replica now. Blocks until done.\n"},
      {"metrics", "usage: sluicectl metrics\nPrints GET /metrics (Prometheus text format).\n"},
  };
  return usage;
}

// --- Arguments -------------------------------------------------------------------------------------

struct usage_error {
  std::string message;
};

struct options {
  std::optional<std::string> admin;   // --admin
  std::optional<std::string> token;   // --token
  std::optional<std::string> config;  // --config
  bool json = false;
  bool help = false;
  bool version = false;  // --version
  std::optional<int> timeout_ms;
  std::string command;
  std::vector<std::string> args;  // the command's own words and flags
};

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Splits global options from the command and its arguments; drill keeps everything it does not
// recognise as global.
options parse_arguments(int argc, char** argv) {
  options out;
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    std::optional<std::string> inline_value;
    if (starts_with(word, "--") && word.find('=') != std::string::npos) {
      inline_value = word.substr(word.find('=') + 1);
      word = word.substr(0, word.find('='));
    }
    const auto value = [&](const char* name) -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw usage_error{std::string(name) + " needs a value"};
      return argv[++i];
    };
    if (word == "--admin") {
      out.admin = value("--admin");
    } else if (word == "--token") {
      out.token = value("--token");
    } else if (word == "--config") {
      out.config = value("--config");
    } else if (word == "--json") {
      out.json = true;
    } else if (word == "--timeout") {
      const auto text = value("--timeout");
      char* end = nullptr;
      const double seconds = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !(seconds > 0)) throw usage_error{"--timeout needs seconds > 0"};
      out.timeout_ms = static_cast<int>(seconds * 1000);
    } else if ((word == "--help" || word == "-h") && out.command != "drill") {
      out.help = true;
    } else if (word == "--version" && out.command.empty()) {
      out.version = true;
    } else if (out.command.empty() && !starts_with(word, "-")) {
      out.command = word;
    } else if (out.command.empty()) {
      throw usage_error{"unknown option " + word};
    } else {
      out.args.push_back(inline_value ? word + "=" + *inline_value : word);
    }
  }
  return out;
}

// "host:port" or "[v6]:port".
std::optional<std::pair<std::string, std::uint16_t>> split_address(std::string_view text) {
  std::string host;
  std::string_view port;
  if (starts_with(text, "[")) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty()) return std::nullopt;
  unsigned long number = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    number = number * 10 + static_cast<unsigned long>(c - '0');
    if (number > 65535) return std::nullopt;
  }
  if (number == 0) return std::nullopt;
  return std::pair{host, static_cast<std::uint16_t>(number)};
}

struct config_admin {
  std::optional<std::string> listen;
  std::optional<std::string> token;
};

// The [admin] section of a sluice config: listen, and token or the variable token_env names.
config_admin read_config(const std::string& path) {
  config_admin out;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw std::runtime_error("cannot read " + path + ": " + std::string(error.description()));
  }
  const auto* admin = root["admin"].as_table();
  if (admin == nullptr) throw std::runtime_error(path + " has no [admin] section");
  if (auto listen = (*admin)["listen"].value<std::string>()) out.listen = *listen;
  if (auto token = (*admin)["token"].value<std::string>(); token && !token->empty()) {
    out.token = *token;
  } else {
    const auto variable = (*admin)["token_env"].value<std::string>().value_or("SLUICE_ADMIN_TOKEN");
    if (const char* from_env = std::getenv(variable.c_str()); from_env != nullptr && *from_env != '\0') {
      out.token = from_env;
    }
  }
  return out;
}

// Flags first, then an explicit --config, then the environment (SLUICE_ADMIN, SLUICE_ADMIN_TOKEN),
// then the config named by SLUICE_CONFIG, then the default address.
admin_endpoint resolve_endpoint(const options& opts) {
  const auto env = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
  config_admin explicit_config;
  if (opts.config) explicit_config = read_config(*opts.config);
  config_admin env_config;
  const auto env_config_path = env("SLUICE_CONFIG");
  const bool need_env_config = !opts.config && env_config_path && (!env("SLUICE_ADMIN") || !env("SLUICE_ADMIN_TOKEN"));
  if (need_env_config) {
    try {
      env_config = read_config(*env_config_path);
    } catch (const std::exception&) {  // an unrelated or section-less file: ignore it
    }
  }
  std::string address = opts.admin.value_or(
      explicit_config.listen.value_or(env("SLUICE_ADMIN").value_or(env_config.listen.value_or("127.0.0.1:6481"))));
  admin_endpoint out;
  const auto split = split_address(address);
  if (!split) throw usage_error{"bad admin address '" + address + "': HOST:PORT"};
  out.host = split->first;
  out.port = split->second;
  out.token = opts.token.value_or(
      explicit_config.token.value_or(env("SLUICE_ADMIN_TOKEN").value_or(env_config.token.value_or(""))));
  return out;
}

// --- Output helpers --------------------------------------------------------------------------------

const json::value* member(const json::value& value, std::string_view path) {
  const json::value* at = &value;
  while (!path.empty()) {
    const auto dot = path.find('.');
    const auto key = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    if (!at->is_object()) return nullptr;
    at = at->as_object().if_contains(key);
    if (at == nullptr) return nullptr;
  }
  return at;
}

// A value for a table cell: numbers without trailing zeros, null and absent as "-".
std::string cell(const json::value* value, int decimals = 2) {
  if (value == nullptr || value->is_null()) return "-";
  if (value->is_string()) return std::string(value->as_string());
  if (value->is_bool()) return value->as_bool() ? "yes" : "no";
  if (value->is_int64()) return std::to_string(value->as_int64());
  if (value->is_uint64()) return std::to_string(value->as_uint64());
  if (value->is_double()) {
    auto text = fmt::format("{:.{}f}", value->as_double(), decimals);
    if (text.find('.') != std::string::npos) {
      while (text.back() == '0') text.pop_back();
      if (text.back() == '.') text.pop_back();
    }
    return text;
  }
  return json::serialize(*value);
}

std::string cell(const json::value& root, std::string_view path, int decimals = 2) {
  return cell(member(root, path), decimals);
}

double number_of(const json::value* value) {
  if (value == nullptr) return 0;
  if (value->is_double()) return value->as_double();
  if (value->is_int64()) return static_cast<double>(value->as_int64());
  if (value->is_uint64()) return static_cast<double>(value->as_uint64());
  return 0;
}

class table {
 public:
  // A column name starting with '>' is right-aligned (numbers).
  explicit table(std::vector<std::string> headers) {
    for (auto& h : headers) {
      right_.push_back(!h.empty() && h.front() == '>');
      if (right_.back()) h.erase(0, 1);
    }
    rows_.push_back(std::move(headers));
  }
  void add(std::vector<std::string> row) {
    row.resize(right_.size());
    rows_.push_back(std::move(row));
  }
  void print() const {
    std::vector<std::size_t> widths(right_.size(), 0);
    for (const auto& row : rows_) {
      for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        const auto pad = std::string(widths[i] - row[i].size(), ' ');
        if (i > 0) line += "  ";
        line += right_[i] ? pad + row[i] : (i + 1 == row.size() ? row[i] : row[i] + pad);
      }
      std::puts(line.c_str());
    }
  }

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// Indented JSON for people (the API sends it compact).
void pretty(std::string& out, const json::value& value, int indent = 0) {
  const auto pad = [&](int n) { out.append(static_cast<std::size_t>(n) * 2, ' '); };
  if (value.is_object()) {
    const auto& object = value.as_object();
    if (object.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    std::size_t i = 0;
    for (const auto& [key, item] : object) {
      pad(indent + 1);
      out += json::serialize(json::string(key));
      out += ": ";
      pretty(out, item, indent + 1);
      out += ++i < object.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += '}';
  } else if (value.is_array()) {
    const auto& array = value.as_array();
    if (array.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < array.size(); ++i) {
      pad(indent + 1);
      pretty(out, array[i], indent + 1);
      out += i + 1 < array.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += ']';
  } else {
    out += sluice::router::admin::json_text(value);
  }
}

void print_json(const json::value& value) { std::puts(sluice::router::admin::json_text(value).c_str()); }

// --- Requests --------------------------------------------------------------------------------------

struct context {
  admin_endpoint admin;
  bool json = false;
  std::optional<int> timeout_ms;
};

class request_failed {
 public:
  int exit_code = exit_failed;
};

// Makes the request; on failure prints why (and, with --json, the error body on stdout) and throws
// request_failed. Returns the parsed JSON body (or the raw text in a json::string for /metrics).
json::value call(const context& ctx, std::string_view method, std::string_view target, std::string_view body = {},
                 int timeout_ms = default_timeout_ms, bool raw = false) {
  const auto reply = admin_request(ctx.admin, method, target, body, ctx.timeout_ms.value_or(timeout_ms));
  if (reply.status == 0) {
    std::fprintf(stderr, "sluicectl: %s\n", reply.error.c_str());
    throw request_failed{};
  }
  boost::system::error_code ec;
  json::value parsed = raw && reply.status < 400 ? json::value(json::string(reply.body)) : json::parse(reply.body, ec);
  if (reply.status >= 400) {
    std::string message = reply.body;
    if (!ec && parsed.is_object()) {
      if (const auto* error = parsed.as_object().if_contains("error"); error != nullptr && error->is_string()) {
        message = std::string(error->as_string());
      }
    }
    std::fprintf(stderr, "sluicectl: %.*s %.*s: HTTP %d: %s\n", static_cast<int>(method.size()), method.data(),
                 static_cast<int>(target.size()), target.data(), reply.status, message.c_str());
    if (reply.status == 401) {
      std::fprintf(stderr, "sluicectl: give the token with --token, SLUICE_ADMIN_TOKEN or --config\n");
    }
    if (ctx.json && !ec) print_json(parsed);
    throw request_failed{};
  }
  if (ec) {
    std::fprintf(stderr, "sluicectl: %.*s: the answer is not JSON: %s\n", static_cast<int>(target.size()), target.data(),
                 ec.message().c_str());
    throw request_failed{};
  }
  return parsed;
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}


// --- Commands --------------------------------------------------------------------------------------

void print_backends_table(const json::value& answer) {
  table t({"BACKEND", "ROLE", "STATE", ">PROBE MS", ">LAG BYTES", ">LAG MS", ">EWMA MS", ">P99 MS", ">IN FLIGHT",
           ">SCORE", ">READS %", ">EJECTIONS"});
  if (const auto* list = member(answer, "backends"); list != nullptr && list->is_array()) {
    for (const auto& b : list->as_array()) {
      std::string role = cell(b, "role");
      if (const auto* primary = member(b, "is_primary"); primary != nullptr && primary->is_bool() && primary->as_bool()) {
        role += "*";
      }
      const double share = number_of(member(b, "read_share")) * 100.0;
      t.add({cell(b, "name"), role, cell(b, "state"), cell(b, "probe.rtt_ms"), cell(b, "lag.bytes"), cell(b, "lag.ms"),
             cell(b, "latency.ewma_ms"), cell(b, "latency.p99_ms"), cell(b, "in_flight"), cell(b, "score", 0),
             cell(b, "role") == "replica" ? fmt::format("{:.1f}", share) : "-", cell(b, "ejections")});
    }
  }
  t.print();
}

void print_tenants_table(const json::value& answer) {
  if (const auto* enabled = member(answer, "enabled"); enabled != nullptr && enabled->is_bool() && !enabled->as_bool()) {
    std::puts("tenant QoS is off (no [qos], [[tenants]] or [[tenant_rules]] in the config)");
  }
  table t({"TENANT", ">MAX QPS", ">MAX CONC", ">SHARE", ">ADMITTED", ">IN FLIGHT", ">QUEUED", ">WAIT P99 MS",
           ">P99 MS", ">DB TIME S", ">REFUSED", "LAST LIMIT"});
  if (const auto* list = member(answer, "tenants"); list != nullptr && list->is_array()) {
    for (const auto& tenant : list->as_array()) {
      t.add({cell(tenant, "name"), cell(tenant, "policy.max_qps"), cell(tenant, "policy.max_concurrency"),
             cell(tenant, "policy.db_time_share"), cell(tenant, "usage.admitted"), cell(tenant, "usage.in_flight"),
             cell(tenant, "queue.queued"), cell(tenant, "queue.wait_p99_ms"), cell(tenant, "usage.latency_p99_ms"),
             cell(tenant, "usage.db_time_s", 3), cell(tenant, "refusals.total"), cell(tenant, "queue.last_limit")});
    }
  }
  t.print();
}

int cmd_status(const context& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) throw usage_error{"status takes no arguments"};
  const auto status = call(ctx, "GET", "/status");
  const auto backends = call(ctx, "GET", "/backends");
  const auto tenants = call(ctx, "GET", "/tenants");
  if (ctx.json) {
    print_json(json::object{{"status", status}, {"backends", backends}, {"tenants", tenants}});
    return exit_ok;
  }
  const auto uptime = static_cast<long long>(number_of(member(status, "uptime_s")));
  std::printf("sluice %s on %s, up %lldh%02lldm%02llds, %s workers, %s clients\n", cell(status, "version").c_str(),
              cell(status, "listen").c_str(), uptime / 3600, uptime / 60 % 60, uptime % 60,
              cell(status, "workers").c_str(), cell(status, "clients").c_str());
  std::string writes = "writes go to " + cell(status, "writes.primary");
  if (member(status, "writes.primary") == nullptr || member(status, "writes.primary")->is_null()) {
    writes = "writes refused: " + cell(status, "writes.error");
  }
  if (cell(status, "writes.gate.held") == "yes") writes += " (held: " + cell(status, "writes.gate.waiting") + " waiting)";
  std::printf("topology %s; %s\n\n", cell(status, "topology").c_str(), writes.c_str());
  print_backends_table(backends);
  std::puts("");
  print_tenants_table(tenants);
  return exit_ok;
}

int cmd_backends(const context& ctx, const std::vector<std::string>& args) {
  if (args.size() > 1) throw usage_error{"backends takes at most one NAME"};
  if (args.size() == 1) {
    const auto answer = call(ctx, "GET", "/backends/" + url_encode(args[0]));
    if (ctx.json) {
      print_json(answer);
    } else {
      std::string out;
      pretty(out, answer);
      std::puts(out.c_str());
    }
    return exit_ok;
  }
  const auto answer = call(ctx, "GET", "/backends");
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  std::printf("topology %s, primary %s, balance %s (* = takes writes)\n", cell(answer, "topology").c_str(),
              cell(answer, "primary").c_str(), cell(answer, "balance").c_str());
  print_backends_table(answer);
  return exit_ok;
}

int cmd_tenants(const context& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) throw usage_error{"tenants takes no arguments"};
  const auto answer = call(ctx, "GET", "/tenants");
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  print_tenants_table(answer);
  return exit_ok;
}

int cmd_pools(const context& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) throw usage_error{"pools takes no arguments"};
  const auto answer = call(ctx, "GET", "/pools");
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  table t({"BACKEND", "DATABASE", "USER", ">SIZE", ">IN USE", ">IDLE", ">WAITING", ">CONNECTS", ">FAILURES",
           ">TIMEOUTS"});
  if (const auto* list = member(answer, "pools"); list != nullptr && list->is_array()) {
    for (const auto& p : list->as_array()) {
      t.add({cell(p, "backend"), cell(p, "database"), cell(p, "user"), cell(p, "max_size"), cell(p, "in_use"),
             cell(p, "idle"), cell(p, "waiting"), cell(p, "connects"), cell(p, "connect_failures"),
             cell(p, "wait_timeouts")});
    }
  }
  t.print();
  return exit_ok;
}

int cmd_clients(const context& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) throw usage_error{"clients takes no arguments"};
  const auto answer = call(ctx, "GET", "/clients");
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  table t({"ADDRESS", "USER", "DATABASE", "APPLICATION", "TENANT", "STATE", "BACKEND", ">WORKER", "CONNECTED"});
  if (const auto* list = member(answer, "clients"); list != nullptr && list->is_array()) {
    for (const auto& c : list->as_array()) {
      t.add({cell(c, "address"), cell(c, "user"), cell(c, "database"), cell(c, "application_name"), cell(c, "tenant"),
             cell(c, "state"), cell(c, "backend"), cell(c, "worker"), cell(c, "connected_at")});
    }
  }
  t.print();
  return exit_ok;
}

int cmd_ping(const context& ctx, const std::vector<std::string>& args) {
  int count = 1;
  double interval = 1.0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string word = args[i];
    std::optional<std::string> value;
    if (const auto eq = word.find('='); eq != std::string::npos) {
      value = word.substr(eq + 1);
      word = word.substr(0, eq);
    }
    const auto next = [&]() -> std::string {
      if (value) return *value;
      if (i + 1 >= args.size()) throw usage_error{word + " needs a value"};
      return args[++i];
    };
    if (word == "--count" || word == "-c") {
      const auto text = next();
      char* end = nullptr;
      const long n = std::strtol(text.c_str(), &end, 10);
      if (end == text.c_str() || *end != '\0' || n < 1) throw usage_error{"--count needs a number >= 1"};
      count = static_cast<int>(n);
    } else if (word == "--interval" || word == "-i") {
      const auto text = next();
      char* end = nullptr;
      interval = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || interval < 0) throw usage_error{"--interval needs seconds >= 0"};
    } else {
      throw usage_error{"ping: unknown argument " + args[i]};
    }
  }
  struct series {
    std::string name;
    std::string address;
    std::vector<double> rtts_ms;
    unsigned failures = 0;
    bool last_ok = false;
  };
  std::vector<series> all;
  for (int round = 0; round < count; ++round) {
    if (round > 0) std::this_thread::sleep_for(std::chrono::duration<double>(interval));
    const auto answer = call(ctx, "GET", "/backends");
    const auto* list = member(answer, "backends");
    if (list == nullptr || !list->is_array()) continue;
    for (const auto& b : list->as_array()) {
      const auto name = cell(b, "name");
      auto found = std::find_if(all.begin(), all.end(), [&](const series& s) { return s.name == name; });
      if (found == all.end()) {
        all.push_back({name, cell(b, "host") + ":" + cell(b, "port"), {}, 0, false});
        found = all.end() - 1;
      }
      const bool reachable = member(b, "reachable") && member(b, "reachable")->is_bool() &&
                             member(b, "reachable")->as_bool();
      found->last_ok = reachable;
      const double rtt = number_of(member(b, "probe.rtt_ms"));
      if (reachable) {
        found->rtts_ms.push_back(rtt);
      } else {
        ++found->failures;
      }
      if (!ctx.json) {
        if (reachable) {
          std::printf("%s (%s, %s): probe %.3f ms, %s ms ago\n", name.c_str(), found->address.c_str(),
                      cell(b, "role").c_str(), rtt, cell(b, "probe.age_ms").c_str());
        } else {
          std::printf("%s (%s): unreachable: %s\n", name.c_str(), found->address.c_str(),
                      cell(b, "probe.error").c_str());
        }
      }
    }
    std::fflush(stdout);
  }
  bool all_ok = !all.empty();
  json::array out;
  for (const auto& s : all) {
    all_ok = all_ok && s.last_ok;
    double min = 0;
    double max = 0;
    double sum = 0;
    for (std::size_t i = 0; i < s.rtts_ms.size(); ++i) {
      const double v = s.rtts_ms[i];
      min = i == 0 ? v : std::min(min, v);
      max = i == 0 ? v : std::max(max, v);
      sum += v;
    }
    const double avg = s.rtts_ms.empty() ? 0 : sum / static_cast<double>(s.rtts_ms.size());
    if (ctx.json) {
      json::array samples;
      for (const double v : s.rtts_ms) samples.push_back(v);
      out.push_back(json::object{{"name", s.name},
                                 {"address", s.address},
                                 {"reachable", s.last_ok},
                                 {"samples_ms", std::move(samples)},
                                 {"failures", s.failures},
                                 {"min_ms", s.rtts_ms.empty() ? json::value(nullptr) : json::value(min)},
                                 {"avg_ms", s.rtts_ms.empty() ? json::value(nullptr) : json::value(avg)},
                                 {"max_ms", s.rtts_ms.empty() ? json::value(nullptr) : json::value(max)}});
    } else if (count > 1) {
      std::printf("--- %s: %zu probes seen, %u unreachable; min/avg/max = %.3f/%.3f/%.3f ms\n", s.name.c_str(),
                  s.rtts_ms.size(), s.failures, min, avg, max);
    }
  }
  if (ctx.json) print_json(json::object{{"backends", std::move(out)}});
  return all_ok ? exit_ok : exit_failed;
}

int cmd_explain(const context& ctx, const std::vector<std::string>& args) {
  json::object request;
  std::optional<std::string> sql;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& word = args[i];
    const auto take = [&](const char* key) {
      if (i + 1 >= args.size()) throw usage_error{word + " needs a value"};
      request[key] = args[++i];
    };
    if (word == "--user") {
      take("user");
    } else if (word == "--database") {
      take("database");
    } else if (word == "--application-name") {
      take("application_name");
    } else if (!sql) {
      sql = word;
    } else {
      throw usage_error{"explain takes one SQL text (quote it)"};
    }
  }
  if (!sql || sql->empty()) throw usage_error{"explain needs the SQL text: sluicectl explain \"SELECT ...\""};
  request["sql"] = *sql;
  const auto answer = call(ctx, "POST", "/explain", json::serialize(request));
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  std::printf("route:    %s\n", cell(answer, "route").c_str());
  std::printf("why:      %s\n", cell(answer, "reason").c_str());
  std::printf("backend:  %s\n", cell(answer, "backend").c_str());
  if (member(answer, "tenant")) std::printf("tenant:   %s\n", cell(answer, "tenant").c_str());
  std::string flags;
  if (const auto* c = member(answer, "classification"); c != nullptr && c->is_object()) {
    for (const auto& [key, value] : c->as_object()) {
      if (value.is_bool() && !value.as_bool()) continue;
      if (!flags.empty()) flags += ", ";
      flags += std::string(key) + (value.is_bool() ? "" : "=" + cell(&value));
    }
  }
  std::printf("classify: %s\n", flags.c_str());
  if (const auto* text = member(answer, "choice.text"); text != nullptr && text->is_string()) {
    std::printf("choice:\n%s\n", std::string(text->as_string()).c_str());
  } else if (const auto* error = member(answer, "choice.error"); error != nullptr) {
    std::printf("choice:   refused (%s): %s\n", cell(answer, "choice.sqlstate").c_str(), cell(error).c_str());
  }
  return exit_ok;
}

int cmd_drain(const context& ctx, const std::vector<std::string>& args, bool drain) {
  const char* verb = drain ? "drain" : "undrain";
  if (args.size() != 1) throw usage_error{std::string(verb) + " needs exactly one backend NAME"};
  const auto answer = call(ctx, "POST", "/backends/" + url_encode(args[0]) + "/" + verb);
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  if (drain) {
    std::printf("backend '%s' drained%s: no new reads start there; %s statement(s) in flight finish normally\n",
                args[0].c_str(), cell(answer, "changed") == "yes" ? "" : " (it already was)",
                cell(answer, "in_flight").c_str());
  } else {
    std::printf("backend '%s' serves reads again%s\n", args[0].c_str(),
                cell(answer, "changed") == "yes" ? "" : " (it was not drained)");
  }
  return exit_ok;
}

// A blocking action; people see `done` and, with show_report, the API's report indented.
int cmd_action(const context& ctx, std::string_view target, std::string_view body, const std::string& done,
               bool show_report = true) {
  const auto answer = call(ctx, "POST", target, body, action_timeout_ms);
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  std::puts(done.c_str());
  if (show_report && answer.is_object() && !answer.as_object().empty()) {
    std::string out;
    pretty(out, answer);
    std::puts(out.c_str());
  }
  return exit_ok;
}

// POST /reload: what was applied, and what needs a restart.
int cmd_reload(const context& ctx) {
  const auto answer = call(ctx, "POST", "/reload", {}, action_timeout_ms);
  if (ctx.json) {
    print_json(answer);
    return exit_ok;
  }
  std::puts("reloaded");
  const auto print_list = [&answer](const char* key, const char* heading) {
    if (!answer.is_object()) return;
    const auto* list = answer.as_object().if_contains(key);
    if (list == nullptr || !list->is_array() || list->as_array().empty()) return;
    std::puts(heading);
    for (const auto& line : list->as_array()) {
      if (line.is_string()) std::printf("  %s\n", std::string(line.as_string()).c_str());
    }
  };
  print_list("applied", "applied:");
  print_list("needs_restart", "needs a restart (kept as before):");
  return exit_ok;
}

int cmd_switchover(const context& ctx, const std::vector<std::string>& args) {
  std::optional<std::string> to;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--to" && i + 1 < args.size()) {
      to = args[++i];
    } else if (starts_with(args[i], "--to=")) {
      to = args[i].substr(5);
    } else {
      throw usage_error{"switchover: unknown argument " + args[i]};
    }
  }
  if (!to || to->empty()) throw usage_error{"switchover needs --to NAME"};
  return cmd_action(ctx, "/switchover", json::serialize(json::object{{"to", *to}}), "switchover to '" + *to + "' done");
}

int run(const options& opts) {
  if (opts.version) {
    std::printf("sluicectl %s\n", SLUICE_VERSION);
    return exit_ok;
  }
  if (opts.command.empty()) {
    if (opts.help) {
      std::fputs(global_usage, stdout);
      return exit_ok;
    }
    throw usage_error{"no command given"};
  }
  if (opts.command == "help") {
    if (!opts.args.empty() && command_usage().count(opts.args[0]) != 0) {
      std::fputs(command_usage().at(opts.args[0]).c_str(), stdout);
    } else {
      std::fputs(global_usage, stdout);
    }
    return exit_ok;
  }
  const bool known = command_usage().count(opts.command) != 0 || opts.command == "drill";
  if (!known) throw usage_error{"unknown command '" + opts.command + "'"};
  if (opts.help) {
    std::fputs(command_usage().at(opts.command).c_str(), stdout);
    return exit_ok;
  }
  context ctx;
  try {
    ctx.admin = resolve_endpoint(opts);
  } catch (const std::runtime_error& error) {
    std::fprintf(stderr, "sluicectl: %s\n", error.what());
    return exit_usage;
  }
  ctx.json = opts.json;
  ctx.timeout_ms = opts.timeout_ms;
  const auto& c = opts.command;
  const auto& args = opts.args;
  if (c == "drill") return sluice::ctl::run_drill(ctx.admin, args, ctx.json);
  if (c == "status") return cmd_status(ctx, args);
  if (c == "ping") return cmd_ping(ctx, args);
  if (c == "backends") return cmd_backends(ctx, args);
  if (c == "tenants") return cmd_tenants(ctx, args);
  if (c == "pools") return cmd_pools(ctx, args);
  if (c == "clients") return cmd_clients(ctx, args);
  if (c == "explain") return cmd_explain(ctx, args);
  if (c == "drain") return cmd_drain(ctx, args, true);
  if (c == "undrain") return cmd_drain(ctx, args, false);
  if (c == "switchover") return cmd_switchover(ctx, args);
  if (c == "reload") {
    if (!args.empty()) throw usage_error{"reload takes no arguments"};
    return cmd_reload(ctx);
  }
  if (c == "failover") {
    if (!args.empty()) throw usage_error{"failover takes no arguments"};
    return cmd_action(ctx, "/failover", {}, "failover done");
  }
  if (c == "metrics") {
    if (!args.empty()) throw usage_error{"metrics takes no arguments"};
    const auto text = call(ctx, "GET", "/metrics", {}, default_timeout_ms, true);
    std::fputs(std::string(text.as_string()).c_str(), stdout);
    return exit_ok;
  }
  throw usage_error{"unknown command '" + c + "'"};
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  try {
    opts = parse_arguments(argc, argv);
    return run(opts);
  } catch (const usage_error& error) {
    std::fprintf(stderr, "sluicectl: %s\n", error.message.c_str());
    if (!opts.command.empty() && command_usage().count(opts.command) != 0) {
      std::fputs(command_usage().at(opts.command).c_str(), stderr);
    } else {
      std::fputs("run 'sluicectl --help' for the commands and options\n", stderr);
    }
    return exit_usage;
  } catch (const request_failed& failed) {
    return failed.exit_code;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sluicectl: %s\n", error.what());
    return exit_failed;
  }
}
