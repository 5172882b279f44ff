// send_now: send(MSG_DONTWAIT) until done, the buffer is full, or the peer is gone.
#include "router/engine/send_now.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "backends/drained_read.hpp"

namespace sluice::router::engine {

write_state send_now(int fd, std::span<const std::uint8_t> bytes, std::size_t& written) noexcept {
  while (written < bytes.size()) {
    const auto sent = ::send(fd, bytes.data() + written, bytes.size() - written, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      written += static_cast<std::size_t>(sent);
      backends::note_sent(fd);  // the next read of this peer may wait for epoll at once (drained_read.hpp)
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return write_state::failed;
    return write_state::blocked;
  }
  return write_state::done;
}

}  // namespace sluice::router::engine
