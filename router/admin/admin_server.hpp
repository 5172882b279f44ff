// The admin HTTP API (JSON over HTTP/1.1, Boost.Beast) and the Prometheus endpoint, on a listen
// address of their own with a thread of their own. Every request needs the bearer token. Control
// path: exceptions are fine here; worker state is only ever read on the worker's thread (see
// cluster_snapshot.hpp). The endpoints are documented in docs/admin-api.md.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "router/admin/admin_actions.hpp"
#include "router/shared_state.hpp"
#include "router/worker.hpp"

namespace sluice::router::admin {

namespace asio = boost::asio;

struct http_request;
struct http_response;
struct action_job;

// Request counts, for sluice_admin_requests_total (written on the HTTP thread, read by /metrics on it).
struct admin_counters {
  std::uint64_t requests = 0;
  std::uint64_t unauthorized = 0;  // 401: missing or wrong token
  std::uint64_t client_errors = 0;  // other 4xx
  std::uint64_t server_errors = 0;  // 5xx
};

class admin_server {
 public:
  // Binds cfg.admin's listen address. Throws std::runtime_error when the token is empty or the
  // address cannot be bound (control path, at start-up: main reports it and exits).
  admin_server(shared_state& shared, std::vector<worker*> workers, admin_actions actions);
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  // Serves on a thread of its own until stop().
  void start();
  void stop();

  // The bound port (useful with port 0).
  std::uint16_t port() const noexcept { return port_; }

  // How long a request waits for the workers' answers before 503.
  static constexpr std::chrono::milliseconds worker_timeout{2'000};

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);
  asio::awaitable<http_response> handle(const http_request& request);
  asio::awaitable<http_response> run_action(action_job& job);
  bool authorized(const http_request& request, std::string& why) const;

  // Endpoints.
  http_response get_index() const;
  http_response get_status();
  http_response get_backends(const std::string& only);
  http_response get_tenants() const;
  http_response get_pools();
  http_response get_clients();
  http_response explain(const http_request& request);
  http_response set_drained(const std::string& name, bool drained);
  http_response get_metrics();
  http_response get_failover_status() const;

  shared_state& shared_;
  std::vector<worker*> workers_;
  admin_actions actions_;
  std::string token_;
  // Before io_: the connection coroutines' frames, destroyed with io_, uncount themselves here.
  std::size_t connections_ = 0;  // open HTTP connections (HTTP thread only)
  asio::io_context io_{1};
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  asio::thread_pool action_thread_{1};  // reload, switchover, failover run here, one at a time
  std::atomic<bool> exclusive_running_{false};  // a switchover or failover is running
  std::thread thread_;
  admin_counters counters_;
  std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
};

}  // namespace sluice::router::admin
