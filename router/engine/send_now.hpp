// Writing on a non-blocking socket at once, and waiting only for what its buffer cannot take: the one
// send loop of both front ends (issue 14: an answer nearly always fits, and this saves an asynchronous
// operation, its completion posted through the scheduler and the epoll_wait a queued completion costs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::router::engine {

enum class write_state {
  done,     // every byte is written
  blocked,  // the socket buffer is full: `written` bytes went, the rest needs an asynchronous write
  failed,   // the peer is gone
};

// What non-blocking socket `fd` takes now of bytes[written..] (written grows).
write_state send_now(int fd, std::span<const std::uint8_t> bytes, std::size_t& written) noexcept;

}  // namespace sluice::router::engine
