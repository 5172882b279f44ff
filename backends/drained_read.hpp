// async_read_some for a TCP socket that knows when a read emptied the socket, so the next read after
// sluice sent that peer something waits for epoll instead of first trying a recv that returns EAGAIN
// (issue 14: one wasted system call per read of a request/answer exchange, two per transaction).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

// Asio's epoll reactor (the default on Linux, edge-triggered) keeps, per socket and direction, a flag
// "try the operation before waiting" (try_speculative_). Every epoll event sets it; only a read that
// returns end of file clears it. So after each answer is read, the next read tries recv first and gets
// EAGAIN, because the peer has not answered yet.
//
// The read below is Asio's receive with one change: recvmsg with TCP_INQ (Linux 4.18; set on the socket
// by enable_drained_reads) reports how much the socket still holds after the read, counting a received
// FIN as 1 (tcp_inq_hint). When that is 0, the read reports done_and_exhausted, which clears the flag, in
// the same step as the recv, so no epoll event can fall between them. Anything that arrives later raises
// a new edge-triggered event, which sets the flag again. One case is not covered: a reset (RST) that
// arrived with the data is not counted by TCP_INQ, and it raises no further event. So the next read skips
// its first recv only if sluice sent the peer something since the last read (note_sent): a send to a
// reset connection fails, so a send that succeeded proves no reset was waiting. Any other read tries
// recv first, as Asio does.
//
// Built on Asio's detail interface, so this is used only with the Boost release it was written against
// (Debian 12's 1.81) and the epoll reactor. Anything else gets Asio's own async_read_some.
#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    !defined(BOOST_ASIO_DISABLE_EPOLL)
#define SLUICE_DRAINED_READ 1
#include <cerrno>
#include <cstring>

#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#else
#define SLUICE_DRAINED_READ 0
#endif

namespace sluice::backends {

// Whether sluice sent anything on each socket since it last read from it, by descriptor (0 to 65535; a
// higher descriptor is never skipped). Written by note_sent, read and cleared by each drained read. A
// descriptor belongs to one worker at a time; relaxed atomics make a reused descriptor's byte well-defined
// across threads, and a stale 1 does no harm (a new socket's first read always tries recv).
inline constexpr int sent_since_read_slots = 65536;
inline std::atomic<std::uint8_t> sent_since_read[sent_since_read_slots];

// After a send on `fd` that the kernel accepted (see above): the next read on it may skip its first recv.
inline void note_sent(int fd) noexcept {
  if (fd >= 0 && fd < sent_since_read_slots) sent_since_read[fd].store(1, std::memory_order_relaxed);
}

// TCP_INQ on a socket sluice reads with async_read_some_drained (best effort: without it every read
// tries recv first, as Asio's own). One setsockopt per connection.
inline void enable_drained_reads(boost::asio::ip::tcp::socket& socket) noexcept {
#ifdef TCP_INQ
  const int on = 1;
  (void)::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INQ, &on, static_cast<socklen_t>(sizeof on));
#else
  (void)socket;
#endif
}

#if SLUICE_DRAINED_READ
namespace drained_read_detail {

namespace asio = boost::asio;
namespace detail = boost::asio::detail;

// basic_socket keeps its implementation (the descriptor and the reactor's per-descriptor state) in a
// protected member; a pointer to it formed in a derived class may be applied to any socket.
struct socket_access : asio::ip::tcp::socket {
  static auto& implementation(asio::ip::tcp::socket& socket) noexcept {
    return (socket.*(&socket_access::impl_)).get_implementation();
  }
};

// The reactor a socket is registered with is kept in the socket's per-descriptor state, in a private
// member. An explicit instantiation may name private members ([temp.explicit]: access checking does not
// apply to its template arguments), so the pointer to that member is taken there and handed out
// through a friend function. (Looking the reactor up with use_service takes a lock and a list walk per
// read; caching it per thread and io_context goes wrong when a new io_context takes a freed one's address.)
struct descriptor_reactor_tag {
  using type = detail::epoll_reactor* detail::epoll_reactor::descriptor_state::*;
  friend type member_pointer(descriptor_reactor_tag);
};
template <typename Tag, typename Tag::type Member>
struct expose_member {
  friend typename Tag::type member_pointer(Tag) { return Member; }
};
template struct expose_member<descriptor_reactor_tag, &detail::epoll_reactor::descriptor_state::reactor_>;

struct try_first_tag {
  using type = bool (detail::epoll_reactor::descriptor_state::*)[detail::epoll_reactor::max_ops];
  friend type member_pointer(try_first_tag);
};
template struct expose_member<try_first_tag, &detail::epoll_reactor::descriptor_state::try_speculative_>;

// The socket's reactor; nullptr if the socket is not open (not registered with one).
inline detail::reactor* reactor_of(asio::ip::tcp::socket& socket) noexcept {
  auto* state = socket_access::implementation(socket).reactor_data_;
  return state == nullptr ? nullptr : state->*member_pointer(descriptor_reactor_tag{});
}

// Makes the next read try recv before waiting, as Asio does after any event. The descriptor state has no
// lock to take: sluice's workers run their io_context on one thread with BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO.
inline void try_read_first(detail::epoll_reactor::descriptor_state* state) noexcept {
  (state->*member_pointer(try_first_tag{}))[detail::reactor::read_op] = true;
}

// The bytes the socket still holds after a recvmsg, from its TCP_CM_INQ message; -1 if there is none (the
// socket has no TCP_INQ).
inline int bytes_left(const msghdr& message) noexcept {
  for (auto* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(const_cast<msghdr*>(&message), header)) {
    if (header->cmsg_level == SOL_TCP && header->cmsg_type == TCP_CM_INQ) {
      int left = 0;
      std::memcpy(&left, CMSG_DATA(header), sizeof left);
      return left;
    }
  }
  return -1;
}

// Per-operation cancellation (a read raced against a timer with ||): the same as Asio's own, which is a
// protected class of its socket service.
class cancel_receive {
 public:
  cancel_receive(detail::reactor* reactor, detail::reactor::per_descriptor_data* data, int descriptor)
      : reactor_(reactor), data_(data), descriptor_(descriptor) {}
  void operator()(asio::cancellation_type_t type) {
    if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                   asio::cancellation_type::total))) {
      reactor_->cancel_ops_by_key(descriptor_, *data_, detail::reactor::read_op, this);
    }
  }

 private:
  detail::reactor* reactor_;
  detail::reactor::per_descriptor_data* data_;
  int descriptor_;
};

template <typename Handler, typename IoExecutor>
class receive_op : public detail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(receive_op);

  receive_op(detail::socket_type socket, asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : detail::reactor_op(boost::system::error_code(), &receive_op::do_perform, &receive_op::do_complete),
        socket_(socket),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  // One recvmsg. EAGAIN: not done (wait for epoll). Data: done, and exhausted when the socket holds
  // nothing more (see above). End of file: done and exhausted, as Asio's own read. An error: done.
  static status do_perform(detail::reactor_op* base) {
    auto* self = static_cast<receive_op*>(base);
    alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
    iovec vector{self->buffer_.data(), self->buffer_.size()};
    msghdr message{};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    for (;;) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      const auto received = ::recvmsg(self->socket_, &message, 0);
      if (received > 0) {
        self->ec_ = boost::system::error_code();
        self->bytes_transferred_ = static_cast<std::size_t>(received);
        return bytes_left(message) == 0 ? done_and_exhausted : done;
      }
      self->bytes_transferred_ = 0;
      if (received == 0) {
        self->ec_ = asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      self->ec_ = boost::system::error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // As Asio's reactive_socket_recv_op: free the operation's memory, then call the handler.
  static void do_complete(void* owner, detail::operation* base, const boost::system::error_code& /*ec*/,
                          std::size_t /*bytes_transferred*/) {
    auto* self = static_cast<receive_op*>(base);
    ptr p = {detail::addressof(self->handler_), self, self};
    detail::handler_work<Handler, IoExecutor> work(std::move(self->work_));
    detail::binder2<Handler, boost::system::error_code, std::size_t> handler(self->handler_, self->ec_,
                                                                             self->bytes_transferred_);
    p.h = detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      detail::fenced_block block(detail::fenced_block::half);
      work.complete(handler, handler.handler_);
    }
  }

 private:
  detail::socket_type socket_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  detail::handler_work<Handler, IoExecutor> work_;
};

// As reactive_socket_service_base::async_receive with a single buffer and no flags.
struct initiate_receive {
  template <typename Handler>
  void operator()(Handler&& handler, asio::ip::tcp::socket* socket, asio::mutable_buffer buffer,
                  detail::reactor* reactor_pointer) const {
    using handler_type = std::decay_t<Handler>;
    using op = receive_op<handler_type, asio::ip::tcp::socket::executor_type>;
    auto& impl = socket_access::implementation(*socket);
    auto& reactor = *reactor_pointer;
    // Skip the first recv only after a send since the last read; otherwise try it, as Asio does.
    const int fd = impl.socket_;
    if (fd >= 0 && fd < sent_since_read_slots && sent_since_read[fd].load(std::memory_order_relaxed) != 0) {
      sent_since_read[fd].store(0, std::memory_order_relaxed);
    } else {
      try_read_first(impl.reactor_data_);
    }
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    auto slot = asio::get_associated_cancellation_slot(handler);
    typename op::ptr p = {detail::addressof(handler), op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) op(impl.socket_, buffer, handler, socket->get_executor());
    if (slot.is_connected()) {
      p.p->cancellation_key_ = &slot.template emplace<cancel_receive>(&reactor, &impl.reactor_data_, impl.socket_);
    }
    // An empty buffer completes at once, as Asio's receive does.
    if (buffer.size() != 0 &&
        ((impl.state_ & detail::socket_ops::non_blocking) ||
         detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_))) {
      reactor.start_op(detail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation, true);
    } else {
      reactor.post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = nullptr;
  }
};

}  // namespace drained_read_detail
#endif

// Reads what `socket` has into `buffer`, as socket.async_read_some(buffer, token) does, and remembers a
// read that emptied the socket (see above). Completion: void(error_code, std::size_t). A socket of
// another type (a test's fake) gets its own async_read_some.
template <class Socket, typename CompletionToken>
auto async_read_some_drained(Socket& socket, boost::asio::mutable_buffer buffer, CompletionToken&& token) {
#if SLUICE_DRAINED_READ
  if constexpr (std::is_same_v<Socket, boost::asio::ip::tcp::socket>) {
    // A closed socket has no reactor: Asio's own read reports bad_descriptor.
    auto* reactor = drained_read_detail::reactor_of(socket);
    if (reactor == nullptr) return socket.async_read_some(buffer, std::forward<CompletionToken>(token));
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        drained_read_detail::initiate_receive{}, token, &socket, buffer, reactor);
  } else {
    return socket.async_read_some(buffer, std::forward<CompletionToken>(token));
  }
#else
  return socket.async_read_some(buffer, std::forward<CompletionToken>(token));
#endif
}

}  // namespace sluice::backends
