// enable_keepalive: SO_KEEPALIVE and the Linux TCP_KEEP* timings for server sockets.
#include "backends/server_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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

}  // namespace sluice::backends
