// One blocking HTTP/1.1 request to the admin API (see admin_client.hpp): resolve, connect, write, read,
// all under one deadline, on a private io_context.
#include "router/ctl/admin_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>

namespace sluice::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr int http_version = 11;

// One request. Everything is passed by reference to objects on admin_request's stack: GCC 12
// mishandles non-trivial objects passed by value into coroutines.
struct exchange_spec {
  http::verb method = http::verb::get;
  std::string target;
  std::string body;
  std::chrono::milliseconds timeout{0};
};

asio::awaitable<void> exchange(const admin_endpoint& admin, const exchange_spec& spec, http_reply& reply) {
  const auto timeout = spec.timeout;
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  beast::tcp_stream stream(executor);
  stream.expires_after(timeout);
  const auto where = admin.host + ":" + std::to_string(admin.port);
  const auto service = std::to_string(admin.port);  // named: no temporaries in a co_await (GCC 12)
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(admin.host, service, use_tuple);
  if (resolve_error) {
    reply.error = "cannot resolve " + admin.host + ": " + resolve_error.message();
    co_return;
  }
  auto [connect_error, connected] = co_await stream.async_connect(endpoints, use_tuple);
  if (connect_error) {
    reply.error = "cannot connect to the admin API at " + where + ": " + connect_error.message();
    co_return;
  }
  http::request<http::string_body> request{spec.method, spec.target, http_version};
  request.set(http::field::host, admin.host);
  request.set(http::field::user_agent, "sluicectl");
  request.set(http::field::accept, "application/json");
  if (!admin.token.empty()) request.set(http::field::authorization, "Bearer " + admin.token);
  if (!spec.body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = spec.body;
  request.keep_alive(false);
  request.prepare_payload();
  auto [write_error, written] = co_await http::async_write(stream, request, use_tuple);
  if (write_error) {
    reply.error = "sending the request to " + where + " failed: " + write_error.message();
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
  if (read_error) {
    reply.error = read_error == beast::error::timeout
                      ? "no answer from " + where + " within " + std::to_string(timeout.count()) + " ms"
                      : "reading the answer from " + where + " failed: " + read_error.message();
    co_return;
  }
  auto response = parser.release();
  reply.status = static_cast<int>(response.result_int());
  reply.body = std::move(response.body());
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace

http_reply admin_request(const admin_endpoint& admin, std::string_view method, std::string_view target,
                         std::string_view body, int timeout_ms) {
  http_reply reply;
  const auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    reply.error = "unknown HTTP method " + std::string(method);
    return reply;
  }
  asio::io_context io;
  const exchange_spec spec{verb, std::string(target), std::string(body), std::chrono::milliseconds(timeout_ms)};
  asio::co_spawn(io, exchange(admin, spec, reply),
                 [&reply](std::exception_ptr error) {
                   if (!error) return;
                   try {
                     std::rethrow_exception(error);
                   } catch (const std::exception& e) {
                     reply.status = 0;
                     reply.error = e.what();
                   }
                 });
  io.run();
  return reply;
}

}  // namespace sluice::ctl
