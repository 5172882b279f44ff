// The admin HTTP server: accept loop, one coroutine per connection (keep-alive), bearer-token check,
// routing to the endpoints, the action thread for blocking operations, and the JSON views.
#include "router/admin/admin_server.hpp"

#include "router/process_memory.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <array>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <tuple>

#include "router/admin/cluster_snapshot.hpp"
#include "router/admin/json_text.hpp"
#include "router/admin/metrics.hpp"
#include "router/classify/classifier.hpp"
#include "router/engine/route_decision.hpp"

namespace sluice::router::admin {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

struct http_request {
  http::request<http::string_body> message;
  std::string peer;                          // "address:port"
  std::string path;                          // target before '?', percent-decoded
  std::map<std::string, std::string> query;  // decoded query parameters
};

// A blocking action (reload, switchover, failover) on its way to the action thread.
struct action_job {
  std::string label;
  bool exclusive = false;  // at most one exclusive job at a time
  std::function<action_result()> run;
  action_result result;
};

struct http_response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_body = 1024 * 1024;           // explain and action bodies
constexpr std::size_t max_connections = 64;             // more are closed at once
constexpr auto idle_timeout = std::chrono::seconds(30);  // a request must arrive (and be read) within it
constexpr auto write_timeout = std::chrono::seconds(30);

// --- Small helpers --------------------------------------------------------------------------------

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int high = hex(text[i + 1]);
      const int low = hex(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out += static_cast<char>(high * 16 + low);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      out[percent_decode(pair, true)] = "";
    } else {
      out[percent_decode(pair.substr(0, eq), true)] = percent_decode(pair.substr(eq + 1), true);
    }
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    parts.push_back(percent_decode(path.substr(0, slash), false));
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  }
  return parts;
}

// Compares in time that depends only on the expected token's length, not on where they differ.
bool equal_constant_time(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    difference = static_cast<unsigned char>(difference | static_cast<unsigned char>(g ^ expected[i]));
  }
  return difference == 0;
}

http_response json_response(int status, const json::value& body) {
  http_response response;
  response.status = status;
  write_json(response.body, body);
  response.body += '\n';
  return response;
}

http_response error_response(int status, std::string_view message) {
  return json_response(status, json::object{{"error", message}});
}

// Doubles rounded for reading (3 decimals); non-finite values become null.
json::value number(double value, double scale = 1000.0) {
  if (!std::isfinite(value)) return nullptr;
  return std::round(value * scale) / scale;
}

double ms_from_us(double us) { return us / 1000.0; }

std::string iso8601(std::chrono::system_clock::time_point at) {
  const auto seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

const char* limit_name(policies::limit_kind kind) {
  switch (kind) {
    case policies::limit_kind::none: return "none";
    case policies::limit_kind::max_qps: return "max_qps";
    case policies::limit_kind::max_db_time_per_s: return "max_db_time_per_s";
    case policies::limit_kind::max_concurrency: return "max_concurrency";
    case policies::limit_kind::max_active: return "max_active";
    case policies::limit_kind::max_queue: return "max_queue";
  }
  return "?";
}

const char* backend_state(const backend_view& view) {
  if (view.fenced) return "fenced";
  if (view.drained) return "drained";
  if (!view.probed) return "unknown";
  if (!view.reachable) return "down";
  if (view.marked_down) return "refusing";
  if (view.outlier == scoring::outlier_state::ejected) return "ejected";
  if (view.outlier == scoring::outlier_state::suspect) return "suspect";
  return "up";
}

json::object backend_json(const config::backend_config& config, const backend_view& view) {
  json::object out;
  out["name"] = config.name;
  out["host"] = config.host;
  out["port"] = config.port;
  out["configured_role"] = config.role == config::backend_role::primary ? "primary" : "replica";
  out["role"] = view.role;
  out["state"] = backend_state(view);
  out["is_primary"] = view.is_primary;
  out["reachable"] = view.reachable;
  out["drained"] = view.drained;
  out["fenced"] = view.fenced;
  out["marked_down"] = view.marked_down;
  out["read_candidate"] = view.exclusion == "candidate" && !view.drained && !view.marked_down;
  out["exclusion"] = view.drained ? "drained" : view.exclusion;
  json::object probe;
  probe["rtt_ms"] = number(static_cast<double>(view.probe_rtt.count()) / 1000.0);
  probe["age_ms"] = view.probe_age ? json::value(view.probe_age->count()) : json::value(nullptr);
  probe["error"] = view.probe_error;
  probe["lsn"] = view.current_lsn;
  out["probe"] = std::move(probe);
  json::object lag;
  if (view.lag_measured) {
    lag["bytes"] = view.lag.bytes;
    lag["unreplayed_bytes"] = view.lag.unreplayed_bytes;
    lag["ms"] = view.lag.time_known ? json::value(view.lag.time.count()) : json::value(nullptr);
    lag["source"] = scoring::to_string(view.lag.time_source);
  } else {
    lag["bytes"] = nullptr;
    lag["ms"] = nullptr;
  }
  out["lag"] = std::move(lag);
  json::object latency;
  latency["ewma_ms"] = number(ms_from_us(view.latency_ewma_us));
  latency["statement_ewma_ms"] = number(ms_from_us(view.statement_latency_ewma_us));
  latency["probe_ewma_ms"] = number(ms_from_us(view.probe_rtt_ewma_us));
  latency["p50_ms"] = number(ms_from_us(view.recent_latency.quantile_us(0.5)));
  latency["p99_ms"] = number(ms_from_us(view.recent_latency.quantile_us(0.99)));
  latency["recent_samples"] = view.recent_latency.count;
  out["latency"] = std::move(latency);
  out["in_flight"] = view.in_flight;
  out["score"] = number(view.cost);
  out["dispatched"] = view.dispatched;
  out["read_share"] = number(view.read_share, 1e4);
  json::object outlier;
  outlier["state"] = scoring::to_string(view.outlier);
  outlier["ejected_on_workers"] = view.ejected_on_workers;
  outlier["last_ejection"] = scoring::to_string(view.last_ejection);
  outlier["ejections"] = view.ejections;
  outlier["consecutive_failures"] = view.consecutive_failures;
  outlier["slow_start_factor"] = number(view.slow_start_factor);
  out["outlier"] = std::move(outlier);
  out["ejections"] = view.ejections;
  return out;
}

json::value optional_number(const std::optional<double>& value) {
  return value ? number(*value) : json::value(nullptr);
}

json::object tenant_json(const policies::tenant_stats& stats) {
  const auto ms = [](std::chrono::nanoseconds value) { return number(static_cast<double>(value.count()) / 1e6); };
  json::object policy;
  policy["max_qps"] = optional_number(stats.policy.max_qps);
  policy["burst"] = optional_number(stats.policy.burst);
  policy["max_concurrency"] =
      stats.policy.max_concurrency ? json::value(*stats.policy.max_concurrency) : json::value(nullptr);
  policy["db_time_share"] = number(stats.policy.db_time_share);
  policy["max_db_time_per_s"] = optional_number(stats.policy.max_db_time_per_s);
  policy["max_queue"] = stats.policy.max_queue ? json::value(*stats.policy.max_queue) : json::value(nullptr);
  policy["max_wait_ms"] = stats.policy.max_wait ? json::value(stats.policy.max_wait->count()) : json::value(nullptr);
  json::object usage;
  usage["admitted"] = stats.admitted;
  usage["delayed"] = stats.delayed;
  usage["in_flight"] = stats.in_flight;
  usage["db_time_s"] = number(std::chrono::duration<double>(stats.db_time_total).count());
  usage["latency_p50_ms"] = ms(stats.latency_p50);
  usage["latency_p99_ms"] = ms(stats.latency_p99);
  usage["virtual_time"] = number(stats.virtual_time);
  json::object queue;
  queue["queued"] = stats.queued;
  queue["wait_p50_ms"] = ms(stats.queue_wait_p50);
  queue["wait_p99_ms"] = ms(stats.queue_wait_p99);
  queue["last_limit"] = limit_name(stats.last_limit);
  json::object refusals;
  refusals["queue_full"] = stats.refused_queue_full;
  refusals["timeout"] = stats.refused_timeout;
  refusals["abandoned"] = stats.abandoned;
  refusals["total"] = stats.refused_queue_full + stats.refused_timeout;
  json::object out;
  out["name"] = stats.name;
  out["policy"] = std::move(policy);
  out["usage"] = std::move(usage);
  out["queue"] = std::move(queue);
  out["refusals"] = std::move(refusals);
  return out;
}

json::object counters_json(const worker_stats& stats) {
  return json::object{
      {"clients_accepted", stats.clients_accepted},
      {"clients_refused", stats.clients_refused},
      {"routed_primary", stats.routed_primary},
      {"routed_replica", stats.routed_replica},
      {"replica_fallbacks", stats.replica_fallbacks},
      {"reads_refused", stats.fallback_errors},
      {"writes_refused", stats.writes_refused},
      {"sessions_pinned", stats.sessions_pinned},
      {"settings_replayed", stats.settings_replayed},
      {"statements_prepared", stats.statements_prepared},
      {"cancels_forwarded", stats.cancels_forwarded},
      {"causal_checks", stats.causal_checks},
      {"causal_primary_reads", stats.causal_primary_reads},
      {"login_failures", stats.login_failures},
      {"startup_timeouts", stats.startup_timeouts},
      {"accept_errors", stats.accept_errors},
  };
}

json::object writes_json(const shared_state& shared, const write_target& writes) {
  json::object out;
  if (writes.backend) {
    out["primary"] = shared.cfg().backends[*writes.backend].name;
  } else {
    out["primary"] = nullptr;
    out["sqlstate"] = writes.sqlstate;
    out["error"] = writes.reason;
  }
  const auto& gate = shared.writes;
  const auto totals = gate.totals();
  out["gate"] = json::object{
      {"held", gate.held()},
      {"waiting", gate.waiting()},
      {"in_flight", gate.in_flight()},
      {"held_this_time", gate.held_this_time()},
      {"hold_ms", gate.hold_duration().count()},
      {"holds", totals.holds},
      {"held_total", totals.held},
      {"released", totals.released},
      {"timed_out", totals.timed_out},
      {"queue_full", totals.queue_full},
  };
  return out;
}

std::optional<std::size_t> find_backend(const shared_state& shared, std::string_view name) {
  const auto& backends = shared.cfg().backends;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].name == name && !backends[i].removed) return i;
  }
  return std::nullopt;
}

// What a body or query parameter says: JSON object members first, else query parameters.
std::optional<std::string> parameter(const http_request& request, const json::object* body, std::string_view name) {
  if (body != nullptr) {
    if (const auto* found = body->if_contains(name); found != nullptr && found->is_string()) {
      return std::string(found->as_string());
    }
  }
  if (auto found = request.query.find(std::string(name)); found != request.query.end()) return found->second;
  return std::nullopt;
}

}  // namespace

std::string json_string(std::string_view text) { return json::serialize(json::string(text)); }

namespace {
std::string json_string_object(std::string_view key, std::string_view text) {
  return "{" + json_string(key) + ":" + json_string(text) + "}";
}
}  // namespace

// --- Life cycle -------------------------------------------------------------------------------------

admin_server::admin_server(shared_state& shared, std::vector<worker*> workers, admin_actions actions)
    : shared_(shared), workers_(std::move(workers)), actions_(std::move(actions)), acceptor_(io_) {
  const auto& admin = shared_.cfg().admin;
  token_ = admin.token;
  if (token_.empty()) {
    if (const char* from_env = std::getenv(admin.token_env.c_str()); from_env != nullptr) token_ = from_env;
  }
  if (token_.empty()) {
    throw std::runtime_error("the admin API needs a bearer token: set [admin] token, or the environment variable " +
                             admin.token_env);
  }
  const tcp::endpoint endpoint(asio::ip::make_address(admin.listen_host), admin.listen_port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  // SO_REUSEPORT, as the client listeners: a new sluice started with the same config binds beside this
  // one (restart by hand-over, docs/operations.md); this one closes its listener when it drains.
  acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

admin_server::~admin_server() { stop(); }

void admin_server::start() {
  asio::co_spawn(io_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
  spdlog::info("admin API listening on {}:{}", shared_.cfg().admin.listen_host, port_);
}

void admin_server::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
  action_thread_.stop();
  action_thread_.join();
}

// --- HTTP -------------------------------------------------------------------------------------------

asio::awaitable<void> admin_server::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("admin API: accept failed: {}", ec.message());
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (connections_ >= max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++connections_;
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> admin_server::serve(tcp::socket socket) {
  struct counted {  // connections_ was counted by accept_loop; uncount however this ends
    std::size_t& count;
    ~counted() { --count; }
  } guard{connections_};
  std::string peer;
  {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    peer = ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port());
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(max_body);
    stream.expires_after(idle_timeout);
    auto [read_error, header_bytes] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    if (!read_error) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // curl asks before sending a body over 1 KiB; without an answer it waits a second.
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        auto [continue_error, continue_bytes] = co_await http::async_write(stream, go_on, use_tuple);
        if (continue_error) break;
      }
      auto [body_error, body_bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
      read_error = body_error;
    }
    if (read_error) {
      if (read_error == http::error::body_limit) {
        http::response<http::string_body> too_large{http::status::payload_too_large, 11};
        too_large.set(http::field::content_type, "application/json");
        too_large.body() = R"({"error":"request body over 1 MiB"})" "\n";
        too_large.keep_alive(false);
        too_large.prepare_payload();
        stream.expires_after(write_timeout);
        co_await http::async_write(stream, too_large, use_tuple);
        // Lingering close: read what the client still sends, so that closing with unread bytes does
        // not reset the connection before the client has read the answer.
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(std::chrono::seconds(2));
        std::array<char, 16 * 1024> sink;
        for (std::size_t discarded = 0; discarded < 16 * max_body;) {
          auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
          if (ec) break;
          discarded += n;
        }
      }
      break;
    }
    http_request request;
    request.message = parser.release();
    request.peer = peer;
    const std::string_view target(request.message.target().data(), request.message.target().size());
    const auto question = target.find('?');
    request.path = percent_decode(target.substr(0, question), false);
    if (question != std::string_view::npos) request.query = parse_query(target.substr(question + 1));

    http_response reply;
    try {
      reply = co_await handle(request);
    } catch (const gather_timeout& error) {
      reply = error_response(503, error.what());
    } catch (const std::exception& error) {
      spdlog::error("admin API: {} {}: {}", std::string(request.message.method_string()), request.path, error.what());
      reply = error_response(500, error.what());
    }
    ++counters_.requests;
    if (reply.status == 401) {
      ++counters_.unauthorized;
    } else if (reply.status >= 500) {
      ++counters_.server_errors;
    } else if (reply.status >= 400) {
      ++counters_.client_errors;
    }
    SPDLOG_DEBUG("admin API: {} {} from {}: {}", std::string(request.message.method_string()), request.path, peer,
                 reply.status);

    http::response<http::string_body> response{static_cast<http::status>(reply.status), request.message.version()};
    response.set(http::field::server, "sluice");
    response.set(http::field::content_type, reply.content_type);
    response.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : reply.headers) response.set(name, value);
    response.keep_alive(request.message.keep_alive());
    response.body() = std::move(reply.body);
    response.prepare_payload();
    stream.expires_after(write_timeout);
    auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
    if (write_error || !response.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

bool admin_server::authorized(const http_request& request, std::string& why) const {
  const auto header = request.message.find(http::field::authorization);
  if (header == request.message.end()) {
    why = "missing bearer token";
    return false;
  }
  std::string_view value(header->value().data(), header->value().size());
  constexpr std::string_view scheme = "bearer ";
  if (value.size() < scheme.size() || !beast::iequals(value.substr(0, scheme.size()), scheme)) {
    why = "the Authorization header is not a bearer token";
    return false;
  }
  value.remove_prefix(scheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (!equal_constant_time(value, token_)) {
    why = "wrong bearer token";
    return false;
  }
  return true;
}

asio::awaitable<http_response> admin_server::handle(const http_request& request) {
  const auto method = request.message.method();
  const std::string method_name(request.message.method_string());
  std::string why;
  if (!authorized(request, why)) {
    // The path only: a query string may hold SQL (explain).
    spdlog::warn("admin API: 401 unauthorized: {} {} from {}: {}", method_name, request.path, request.peer, why);
    auto reply = error_response(401, why);
    reply.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="sluice")");
    co_return reply;
  }

  const auto parts = split_path(request.path);
  const bool get = method == http::verb::get;
  const bool post = method == http::verb::post;
  const auto not_allowed = [&](std::string_view allow) {
    auto reply = error_response(405, "method " + method_name + " is not allowed on " + request.path + " (allowed: " +
                                         std::string(allow) + ")");
    reply.headers.emplace_back("Allow", std::string(allow));
    return reply;
  };
  // A JSON object body, when there is one.
  std::optional<json::object> body;
  if (!request.message.body().empty()) {
    boost::system::error_code ec;
    auto parsed = json::parse(request.message.body(), ec);
    if (!ec && parsed.is_object()) body = std::move(parsed.as_object());
  }

  if (parts.empty()) co_return get ? get_index() : not_allowed("GET");
  const auto& head = parts[0];
  if (parts.size() == 1) {
    if (head == "status") co_return get ? get_status() : not_allowed("GET");
    if (head == "backends") co_return get ? get_backends({}) : not_allowed("GET");
    if (head == "tenants") co_return get ? get_tenants() : not_allowed("GET");
    if (head == "pools") co_return get ? get_pools() : not_allowed("GET");
    if (head == "clients") co_return get ? get_clients() : not_allowed("GET");
    if (head == "metrics") co_return get ? get_metrics() : not_allowed("GET");
    if (head == "explain") co_return (get || post) ? explain(request) : not_allowed("GET, POST");
    if (head == "reload") {
      if (!post) co_return not_allowed("POST");
      spdlog::info("admin API: reload requested from {}", request.peer);
      action_job job{"reload", false, actions_.reload, {}};
      http_response reply = co_await run_action(job);
      co_return reply;
    }
    if (head == "switchover") {
      if (!post) co_return not_allowed("POST");
      const auto target = parameter(request, body ? &*body : nullptr, "to");
      if (!target || target->empty()) co_return error_response(400, R"(switchover needs a target: {"to": "NAME"})");
      if (!find_backend(shared_, *target)) co_return error_response(404, "no backend named '" + *target + "'");
      if (!actions_.switchover) co_return error_response(501, "switchover is not available (no failover orchestrator)");
      spdlog::info("admin API: switchover to '{}' requested from {}", *target, request.peer);
      action_job job{"switchover", true, [fn = actions_.switchover, to = *target] { return fn(to); }, {}};
      http_response reply = co_await run_action(job);
      co_return reply;
    }
    if (head == "failover") {
      if (get) co_return get_failover_status();
      if (!post) co_return not_allowed("GET, POST");
      spdlog::info("admin API: failover requested from {}", request.peer);
      action_job job{"failover", true, actions_.failover, {}};
      http_response reply = co_await run_action(job);
      co_return reply;
    }
  }
  if (head == "backends" && parts.size() == 2) co_return get ? get_backends(parts[1]) : not_allowed("GET");
  if (head == "backends" && parts.size() == 3 && (parts[2] == "drain" || parts[2] == "undrain")) {
    if (!post) co_return not_allowed("POST");
    co_return set_drained(parts[1], parts[2] == "drain");
  }
  co_return error_response(404, "no such endpoint: " + request.path + " (GET / lists them)");
}

asio::awaitable<http_response> admin_server::run_action(action_job& job) {
  if (!job.run) co_return error_response(501, job.label + " is not available in this sluice (no handler configured)");
  if (job.exclusive && exclusive_running_.exchange(true)) {
    co_return error_response(409, "a switchover or failover is already running; wait for it to finish");
  }
  // The action blocks (seconds, for a switchover): it runs on the action thread while this
  // coroutine waits, so the HTTP thread keeps serving GET requests. The job lives in the caller's
  // frame and only a reference to it travels: GCC 12 mishandles non-trivial objects passed through
  // coroutine parameters and lambda captures here (they were freed twice).
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [this, &job](auto handler) {
        asio::post(action_thread_, [handler = std::move(handler), &job]() mutable {
          try {
            job.result = job.run();
          } catch (const std::exception& error) {
            spdlog::error("admin API: {} failed: {}", job.label, error.what());
            job.result = action_result{500, json_string_object("error", error.what())};
          }
          auto executor = asio::get_associated_executor(handler);
          asio::post(executor, std::move(handler));
        });
      },
      asio::use_awaitable);
  const auto& result = job.result;
  if (job.exclusive) exclusive_running_.store(false);
  http_response reply;
  reply.status = result.status;
  boost::system::error_code ec;
  auto parsed = json::parse(result.body, ec);
  if (!ec && parsed.is_object()) {
    reply = json_response(result.status, parsed);
  } else if (result.status >= 400) {
    reply = error_response(result.status, result.body);
  } else {
    reply = json_response(result.status, json::object{{"result", result.body}});
  }
  co_return reply;
}

// --- Endpoints --------------------------------------------------------------------------------------

http_response admin_server::get_index() const {
  json::array endpoints{
      "GET /status",
      "GET /backends",
      "GET /backends/NAME",
      "POST /backends/NAME/drain",
      "POST /backends/NAME/undrain",
      "GET /tenants",
      "GET /pools",
      "GET /clients",
      "GET /explain?sql=...",
      "POST /explain {\"sql\": ...}",
      "GET /metrics",
      "POST /reload",
      "POST /switchover {\"to\": NAME}",
      "POST /failover",
      "GET /failover",
  };
  return json_response(200, json::object{{"service", "sluice admin API"}, {"version", SLUICE_VERSION},
                                         {"endpoints", std::move(endpoints)}});
}

http_response admin_server::get_status() {
  const auto cluster = gather(shared_, workers_, {.backends = true}, worker_timeout);
  json::object out;
  out["version"] = SLUICE_VERSION;
  out["started_at"] = iso8601(started_at_);
  out["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - started_at_).count();
  out["workers"] = workers_.size();
  out["clients"] = shared_.clients.load(std::memory_order_relaxed);
  out["max_client_connections"] = shared_.cfg().limits.max_client_connections;  // as fitted to the open-file limit
  const auto resident = resident_memory_bytes();
  out["resident_memory_bytes"] = resident ? json::value(*resident) : json::value(nullptr);
  out["listen"] = shared_.cfg().listen_host + ":" + std::to_string(shared_.cfg().listen_port);
  out["topology"] = scoring::to_string(cluster.topology.state);
  out["writes"] = writes_json(shared_, cluster.writes);
  json::object backends;
  std::size_t up = 0;
  std::size_t candidates = 0;
  std::size_t configured = 0;
  for (const auto& view : cluster.backends) {
    if (view.removed) continue;
    ++configured;
    if (view.reachable) ++up;
    if (view.exclusion == "candidate" && !view.drained && !view.marked_down) ++candidates;
  }
  backends["configured"] = configured;
  backends["reachable"] = up;
  backends["read_candidates"] = candidates;
  out["backends"] = std::move(backends);
  out["qos_enabled"] = shared_.tenants.enabled();
  out["counters"] = counters_json(cluster.totals);
  return json_response(200, out);
}

http_response admin_server::get_backends(const std::string& only) {
  std::optional<std::size_t> index;
  if (!only.empty()) {
    index = find_backend(shared_, only);
    if (!index) return error_response(404, "no backend named '" + only + "'");
  }
  const auto cluster = gather(shared_, workers_, {.backends = true}, worker_timeout);
  if (index) return json_response(200, backend_json(shared_.cfg().backends[*index], cluster.backends[*index]));
  json::array list;
  for (const auto& view : cluster.backends) {
    if (!view.removed) list.push_back(backend_json(shared_.cfg().backends[view.index], view));
  }
  json::object out;
  out["topology"] = scoring::to_string(cluster.topology.state);
  out["primary"] = cluster.writes.backend ? json::value(shared_.cfg().backends[*cluster.writes.backend].name)
                                          : json::value(nullptr);
  out["balance"] = shared_.cfg().routing.balance == config::balancer::score ? "score" : "round_robin";
  out["backends"] = std::move(list);
  return json_response(200, out);
}

http_response admin_server::get_tenants() const {
  const auto& gate = shared_.tenants;
  json::array list;
  for (const auto& stats : gate.snapshot()) {
    if (stats.name.empty()) continue;
    list.push_back(tenant_json(stats));
  }
  json::object out;
  out["enabled"] = gate.enabled();
  out["active"] = gate.active();
  out["max_active"] = gate.max_active();
  out["tenants"] = std::move(list);
  return json_response(200, out);
}

http_response admin_server::get_pools() {
  const auto cluster = gather(shared_, workers_, {.backends = false, .pools = true}, worker_timeout);
  // Summed over workers per (backend, database, user); per-worker figures alongside. max_size is the
  // proxy-wide budget every worker's pool of the key shares, so it is not summed.
  struct entry {
    std::size_t max_size = 0;
    bool retired = false;
    backends::pool::pool_stats stats;
    json::array workers;
  };
  std::map<std::tuple<std::size_t, std::string, std::string>, entry> merged;
  for (const auto& report : cluster.workers) {
    for (const auto& pool : report.pools) {
      auto& e = merged[{pool.backend, pool.database, pool.user}];
      e.max_size = std::max(e.max_size, pool.max_size);
      e.retired = e.retired || pool.retired;
      e.stats.total += pool.stats.total;
      e.stats.idle += pool.stats.idle;
      e.stats.waiting += pool.stats.waiting;
      e.stats.connects += pool.stats.connects;
      e.stats.connect_failures += pool.stats.connect_failures;
      e.stats.timeouts += pool.stats.timeouts;
      e.workers.push_back(json::object{{"worker", report.index},
                                       {"max_size", pool.max_size},
                                       {"total", pool.stats.total},
                                       {"idle", pool.stats.idle},
                                       {"waiting", pool.stats.waiting}});
    }
  }
  json::array list;
  for (auto& [key, e] : merged) {
    json::object pool;
    pool["backend"] = shared_.cfg().backends[std::get<0>(key)].name;
    pool["database"] = std::get<1>(key);
    pool["user"] = std::get<2>(key);
    pool["max_size"] = e.max_size;
    pool["retired"] = e.retired;
    pool["total"] = e.stats.total;
    pool["idle"] = e.stats.idle;
    pool["in_use"] = e.stats.total - std::min(e.stats.total, e.stats.idle);
    pool["waiting"] = e.stats.waiting;
    pool["connects"] = e.stats.connects;
    pool["connect_failures"] = e.stats.connect_failures;
    pool["wait_timeouts"] = e.stats.timeouts;
    pool["workers"] = std::move(e.workers);
    list.push_back(std::move(pool));
  }
  json::object out;
  out["mode"] = shared_.cfg().pool.mode == config::pool_mode::transaction ? "transaction" : "session";
  out["size"] = shared_.cfg().pool.size;
  out["pools"] = std::move(list);
  return json_response(200, out);
}

http_response admin_server::get_clients() {
  const auto cluster = gather(shared_, workers_, {.backends = false, .clients = true}, worker_timeout);
  json::array list;
  for (const auto& report : cluster.workers) {
    for (const auto& client : report.clients) {
      list.push_back(json::object{
          {"user", client.user},
          {"database", client.database},
          {"application_name", client.application_name},
          {"tenant", client.tenant},
          {"address", client.address},
          {"state", client.state},
          {"backend", client.backend.empty() ? json::value(nullptr) : json::value(client.backend)},
          {"pinned", client.pinned},
          {"connected_at", iso8601(client.connected_at)},
          {"worker", client.worker},
      });
    }
  }
  json::object out;
  out["count"] = list.size();
  out["clients"] = std::move(list);
  return json_response(200, out);
}

http_response admin_server::explain(const http_request& request) {
  // The SQL: ?sql=..., a JSON body {"sql": ...}, or a plain-text body.
  std::optional<json::object> body;
  std::string sql;
  if (!request.message.body().empty()) {
    boost::system::error_code ec;
    auto parsed = json::parse(request.message.body(), ec);
    if (!ec && parsed.is_object()) {
      body = std::move(parsed.as_object());
    } else {
      sql = request.message.body();
    }
  }
  if (auto from = parameter(request, body ? &*body : nullptr, "sql")) sql = *from;
  if (sql.empty()) return error_response(400, R"(explain needs SQL text: GET /explain?sql=... or POST {"sql": "..."})");

  const auto& routing = shared_.cfg().routing;
  const classify::options options{routing.write_functions};
  const auto kind = classify::classify(sql, options);
  json::object classification{
      {"target", kind.target == classify::route::replica ? "replica" : "primary"},
      {"hint", kind.routing_hint == classify::hint::none      ? "none"
               : kind.routing_hint == classify::hint::primary ? "primary"
                                                               : "replica"},
      {"begins_transaction", kind.begins_transaction},
      {"read_only_transaction", kind.read_only_transaction},
      {"pins_session", kind.pins_session},
      {"has_session_set", kind.has_session_set},
      {"resets_server_state", kind.resets_server_state},
      {"multiple_statements", kind.statement_count_multiple},
      {"empty", kind.empty},
  };

  // The route, as engine::decide_route decides it for a session that is not pinned.
  const auto decision = engine::decide_route(routing.read_write_split, false, kind);
  const classify::route route = decision.route;
  std::string reason;
  if (decision.reason != engine::route_reason::classified) {
    reason = engine::describe(decision.reason);
  } else if (kind.target == classify::route::replica) {
    reason = kind.begins_transaction ? "a read-only transaction begins: the whole transaction runs on one replica"
                                     : "read-only: may run on a replica";
  } else if (kind.begins_transaction) {
    reason = "a read-write transaction begins: the whole transaction runs on the primary";
  } else {
    // Would it be a read without the configured write functions? Then one of them is why.
    const auto plain = classify::classify(sql, classify::options{});
    if (plain.target == classify::route::replica) {
      reason = "it calls a function listed in routing.write_functions";
    } else if (kind.empty) {
      reason = "no statement (comments or whitespace only): the primary answers";
    } else {
      reason = "it writes, locks, uses a sequence or session-level function, or is not known to be read-only";
    }
  }

  const auto preview = preview_choice(workers_, worker_timeout);
  json::object out;
  out["sql"] = sql;
  out["classification"] = std::move(classification);
  out["route"] = route == classify::route::replica ? "replica" : "primary";
  out["reason"] = reason;
  out["note"] = "for a session that is not pinned; a pinned one (LISTEN, temporary tables, session advisory "
                "locks, ...) sends everything to the primary";

  json::object choice;
  if (route == classify::route::replica) {
    if (preview.read_backend) {
      out["backend"] = shared_.cfg().backends[*preview.read_backend].name;
      choice["outcome"] = "replica";
    } else if (routing.fallback == config::read_fallback::primary) {
      out["backend"] = preview.writes.backend ? json::value(shared_.cfg().backends[*preview.writes.backend].name)
                                              : json::value(nullptr);
      choice["outcome"] = "fallback_primary";
      out["reason"] = reason + "; but no replica qualifies now, so routing.fallback = primary sends it to the primary";
    } else {
      out["backend"] = nullptr;
      choice["outcome"] = "refused";
      out["reason"] = reason + "; but no replica qualifies now and routing.fallback = error: refused with 57P03";
    }
    const auto& why = *preview.read;
    choice["balance"] = routing.balance == config::balancer::score ? "score" : "round_robin";
    choice["candidates"] = why.candidate_count;
    const auto name_of = [&](const std::optional<std::size_t>& index) {
      return index ? json::value(shared_.cfg().backends[*index].name) : json::value(nullptr);
    };
    choice["first_sample"] = name_of(why.first_sample);
    choice["second_sample"] = name_of(why.second_sample);
    choice["chosen"] = name_of(why.chosen);
    choice["slow_start_deferred"] = why.slow_start_deferred;
    json::array per_backend;
    for (std::size_t i = 0; i < shared_.cfg().backends.size() && i < why.backend_count; ++i) {
      const auto& b = why.backends[i];
      std::string reason_text = scoring::to_string(b.reason);
      if (b.reason == scoring::exclusion_reason::excluded_by_caller &&
          shared_.control[i].drained.load(std::memory_order_relaxed)) {
        reason_text = "drained";
      } else if (b.reason == scoring::exclusion_reason::excluded_by_caller) {
        reason_text = "marked_down";
      }
      per_backend.push_back(json::object{
          {"name", shared_.cfg().backends[i].name},
          {"exclusion", reason_text},
          {"is_primary", b.is_primary},
          {"latency_ms", number(ms_from_us(b.latency_us))},
          {"in_flight", b.in_flight},
          {"lag_bytes", b.lag_measured ? json::value(b.lag.bytes) : json::value(nullptr)},
          {"lag_penalty", number(b.lag_penalty)},
          {"slow_start_factor", number(b.slow_start_factor)},
          {"cost", number(b.cost)},
          {"outlier", scoring::to_string(b.outlier)},
      });
    }
    choice["backends"] = std::move(per_backend);
    choice["text"] = scoring::to_string(why);
  } else {
    if (preview.writes.backend) {
      out["backend"] = shared_.cfg().backends[*preview.writes.backend].name;
      choice["outcome"] = "primary";
    } else {
      out["backend"] = nullptr;
      choice["outcome"] = "refused";
      choice["sqlstate"] = preview.writes.sqlstate;
      choice["error"] = preview.writes.reason;
    }
    choice["write_gate_held"] = shared_.writes.held();
  }
  out["choice"] = std::move(choice);

  // The tenant the statement would be admitted under, when tenant QoS is on (session identity from
  // optional user / database / application_name parameters, tags from the statement's comment).
  if (shared_.tenants.enabled()) {
    const auto user = parameter(request, body ? &*body : nullptr, "user").value_or("");
    const auto database = parameter(request, body ? &*body : nullptr, "database").value_or("");
    const auto application = parameter(request, body ? &*body : nullptr, "application_name").value_or("");
    const auto rules = shared_.tenants.rules();
    if (rules) {
      const auto index = rules->resolve({user, database, application},
                                        [&](std::string_view key) { return classify::find_tag(sql, key); });
      out["tenant"] = shared_.tenants.tenant_name(index);
    }
  }
  return json_response(200, out);
}

http_response admin_server::set_drained(const std::string& name, bool drained) {
  const auto index = find_backend(shared_, name);
  if (!index) return error_response(404, "no backend named '" + name + "'");
  if (drained) {
    const auto preview = preview_choice(workers_, worker_timeout);
    if (preview.writes.backend && *preview.writes.backend == *index) {
      return error_response(409, "backend '" + name +
                                     "' is the primary: drain stops reads to a replica; to take the primary out, "
                                     "switch over to a replica first (POST /switchover)");
    }
  }
  const bool was = shared_.control[*index].drained.exchange(drained, std::memory_order_relaxed);
  if (was != drained) {
    spdlog::info("admin API: backend '{}' {}", name,
                 drained ? "drained: no new reads start there; running transactions finish" : "undrained");
  }
  const auto cluster = gather(shared_, workers_, {.backends = true}, worker_timeout);
  json::object out;
  out["backend"] = name;
  out["drained"] = drained;
  out["changed"] = was != drained;
  out["in_flight"] = cluster.backends[*index].in_flight;
  return json_response(200, out);
}

http_response admin_server::get_metrics() {
  const auto cluster = gather(shared_, workers_, {.backends = true, .pools = true}, worker_timeout);
  metrics_input input;
  input.shared = &shared_;
  input.cluster = &cluster;
  input.qos_enabled = shared_.tenants.enabled();
  for (auto& stats : shared_.tenants.snapshot()) {
    if (!stats.name.empty()) input.tenants.push_back(std::move(stats));
  }
  input.qos_active = shared_.tenants.active();
  input.qos_max_active = shared_.tenants.max_active();
  input.admin = &counters_;
  input.started_at = started_at_;
  http_response reply;
  reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
  reply.body = render_metrics(input);
  return reply;
}

http_response admin_server::get_failover_status() const {
  if (!actions_.failover_status) {
    return error_response(501, "failover status is not available (no failover orchestrator)");
  }
  const auto text = actions_.failover_status();
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return json_response(200, json::object{{"status", text}});
  return json_response(200, parsed);
}

}  // namespace sluice::router::admin
