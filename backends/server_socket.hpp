// Socket options every server connection sluice opens gets, whatever its protocol (PostgreSQL, MySQL).
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace sluice::backends {

// TCP keepalive on a server socket. Without it a half-open backend (host gone, network partition, no
// RST) stalls a session waiting for a reply for ~15 minutes of kernel retransmits (the default
// tcp_retries2), and an idle pooled connection to it looks healthy until lent. A dead idle peer is
// found after 30 s + 3 x 10 s. No TCP_USER_TIMEOUT: Linux also applies it to a zero receive window, so a
// backend that legitimately stops reading for a while (a COPY FROM blocked on a lock while the client
// streams) would have its connection killed. Best effort: a socket without keepalive still works.
void enable_keepalive(boost::asio::ip::tcp::socket& socket) noexcept;

}  // namespace sluice::backends
