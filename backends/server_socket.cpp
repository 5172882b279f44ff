// Server sockets: SO_KEEPALIVE with the Linux TCP_KEEP* timings, the MSG_PEEK health check, close, and
// the descriptor's move to another worker's reactor.
#include "backends/server_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace sluice::backends {

namespace {
constexpr int keepalive_idle_seconds = 30;      // TCP_KEEPIDLE: idle time before the first probe
constexpr int keepalive_interval_seconds = 10;  // TCP_KEEPINTVL: time between probes
constexpr int keepalive_probe_count = 3;        // TCP_KEEPCNT: unanswered probes before giving up
}  // namespace

void enable_keepalive(boost::asio::ip::tcp::socket& socket) noexcept {
  boost::system::error_code ignored;
  socket.set_option(boost::asio::socket_base::keep_alive(true), ignored);
  const int fd = socket.native_handle();
  const auto set_tcp_int = [fd](int name, int value) {
    (void)::setsockopt(fd, IPPROTO_TCP, name, &value, static_cast<socklen_t>(sizeof(value)));
  };
  set_tcp_int(TCP_KEEPIDLE, keepalive_idle_seconds);
  set_tcp_int(TCP_KEEPINTVL, keepalive_interval_seconds);
  set_tcp_int(TCP_KEEPCNT, keepalive_probe_count);
}

bool idle_socket_healthy(boost::asio::ip::tcp::socket& socket) noexcept {
  if (!socket.is_open()) return false;
  std::uint8_t probe = 0;
  const auto received = ::recv(socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (received == 0) return false;                 // EOF: the server closed
  if (received > 0) return false;                  // unsolicited bytes: an error before a close
  return errno == EAGAIN || errno == EWOULDBLOCK;  // nothing waiting: healthy
}

void close_socket(boost::asio::ip::tcp::socket& socket) noexcept {
  boost::system::error_code ignored;
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void move_socket(boost::asio::ip::tcp::socket& socket, const boost::asio::any_io_executor& executor) noexcept {
  boost::system::error_code ec;
  const auto protocol = socket.local_endpoint(ec).protocol();
  if (ec || !socket.is_open()) {
    close_socket(socket);
    socket = boost::asio::ip::tcp::socket(executor);
    return;
  }
  const auto handle = socket.release(ec);
  socket = boost::asio::ip::tcp::socket(executor);
  if (!ec) {
    socket.assign(protocol, handle, ec);
    if (ec) ::close(handle);  // not registered with the new reactor: the connection reads as closed
  }
}

}  // namespace sluice::backends
