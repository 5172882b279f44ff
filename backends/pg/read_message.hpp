// Reads from a socket into a read_buffer until one whole typed message is buffered: the loop every
// message-at-a-time exchange shares (logins, and the internal queries sluice runs itself). The framing
// stays sans-IO (wire::frame_message); this only moves bytes.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "backends/drained_read.hpp"
#include "backends/pg/read_buffer.hpp"

namespace sluice::backends::pg {

struct read_message_result {
  wire::frame_result frame;          // ok: frame.message is at the front of the buffer (not consumed)
  boost::system::error_code error;   // set when the read failed before a whole message arrived
};

// Returns at the first whole message, a bad frame (bad_length / too_large), or a read error.
template <class Socket>
boost::asio::awaitable<read_message_result> read_message(Socket& socket, read_buffer& buffer, std::size_t max_size) {
  for (;;) {
    auto frame = wire::frame_message(buffer.available(), max_size);
    if (frame.status != wire::frame_status::need_more) co_return read_message_result{frame, {}};
    buffer.prepare(frame.needed);
    auto [ec, count] =
        co_await async_read_some_drained(socket, buffer.writable(), boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return read_message_result{frame, ec};
    buffer.commit(count);
  }
}

}  // namespace sluice::backends::pg
