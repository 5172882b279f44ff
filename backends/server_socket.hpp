// What every server connection sluice opens does with its socket, whatever its protocol (PostgreSQL,
// MySQL): keepalive, the idle health check, closing, and the move to another worker.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sluice::backends {

// TCP keepalive on a server socket. Without it a half-open backend (host gone, network partition, no
// RST) stalls a session waiting for a reply for ~15 minutes of kernel retransmits (the default
// tcp_retries2), and an idle pooled connection to it looks healthy until lent. A dead idle peer is
// found after 30 s + 3 x 10 s. No TCP_USER_TIMEOUT: Linux also applies it to a zero receive window, so a
// backend that legitimately stops reading for a while (a COPY FROM blocked on a lock while the client
// streams) would have its connection killed. Best effort: a socket without keepalive still works.
void enable_keepalive(boost::asio::ip::tcp::socket& socket) noexcept;

// An idle connection's socket, checked without consuming anything (a non-blocking MSG_PEEK): false when
// the server closed it or sent something unsolicited (an error before it closes) while it was idle.
bool idle_socket_healthy(boost::asio::ip::tcp::socket& socket) noexcept;

// Shutdown and close, errors ignored (the connection is being dropped).
void close_socket(boost::asio::ip::tcp::socket& socket) noexcept;

// Moves an idle socket's descriptor to `executor`'s reactor (the pools' cross-worker handover): released
// from this one, assigned there. Call on the thread that owns it, with nothing pending on it. A socket
// closed meanwhile (or one that fails to move) ends up closed on `executor`, so that use fails cleanly.
void move_socket(boost::asio::ip::tcp::socket& socket, const boost::asio::any_io_executor& executor) noexcept;

}  // namespace sluice::backends
