// Blocking loopback TCP for the MySQL login probes: connect, listen/accept, write all, and read one
// framed packet (the sans-IO machines under test do the rest). Test code only: errors end the program.
#pragma once

#include "backends/mysql/wire/packet.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace sluice::probe {

namespace wire = backends::mysql::wire;

inline void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline int connect_loopback(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  set_timeouts(fd, 10);
  return fd;
}

// Listens on 127.0.0.1 on an ephemeral port; returns the fd and sets `port`.
inline int listen_loopback(std::uint16_t& port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

inline bool write_all(int fd, const wire::byte_buffer& out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until `buffer` starts with one whole packet; returns its sequence id and payload (copied), and
// removes it from the buffer. nullopt on EOF, error or timeout.
struct read_packet {
  std::uint8_t sequence_id = 0;
  wire::byte_buffer payload;
};
inline std::optional<read_packet> read_one(int fd, wire::byte_buffer& buffer) {
  for (;;) {
    const auto framed = wire::frame_message(wire::bytes_view(buffer.data(), buffer.size()), 1 << 24);
    if (framed.status == wire::codec_errc::ok) {
      read_packet p;
      p.sequence_id = framed.message.first_sequence_id;
      const auto payload = framed.message.payload();
      p.payload.assign(payload.begin(), payload.end());
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(framed.message.wire.size()));
      return p;
    }
    if (framed.status != wire::codec_errc::need_more) return std::nullopt;
    std::uint8_t chunk[4096];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer.insert(buffer.end(), chunk, chunk + n);
  }
}

}  // namespace sluice::probe
