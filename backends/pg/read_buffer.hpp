// One reusable read buffer per connection: bytes arrive at the end, messages are consumed from the
// front, and the space is compacted in place rather than reallocated (STYLE.md "Hot path").
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstring>

#include "backends/pg/wire/codec.hpp"

namespace sluice::backends::pg {

class read_buffer {
 public:
  explicit read_buffer(std::size_t initial_capacity = 16 * 1024) : data_(initial_capacity) {}

  wire::bytes_view available() const noexcept {
    return wire::bytes_view(data_.data() + begin_, end_ - begin_);
  }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }

  void consume(std::size_t count) noexcept {
    begin_ += count;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Ensures room to read more, and that a message of `total_needed` bytes starting at the front fits.
  // Compacts first; grows only when the message itself is larger than the capacity.
  void prepare(std::size_t total_needed = 0) {
    const std::size_t want = std::max(total_needed, size() + min_read_);
    if (data_.size() - begin_ >= want && data_.size() - end_ >= min_read_) return;
    if (begin_ > 0) {
      std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (data_.size() < want) data_.resize(want);
  }

  boost::asio::mutable_buffer writable() noexcept {
    return boost::asio::buffer(data_.data() + end_, data_.size() - end_);
  }
  void commit(std::size_t count) noexcept { end_ += count; }

  // Returns the buffer to its initial size after an unusually large message, so one huge row does not
  // pin memory for the life of the connection.
  void shrink_if_idle(std::size_t initial_capacity = 16 * 1024) {
    if (empty() && data_.size() > 4 * initial_capacity) {
      wire::byte_buffer fresh(initial_capacity);
      data_.swap(fresh);
    }
  }

 private:
  static constexpr std::size_t min_read_ = 4096;
  wire::byte_buffer data_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace sluice::backends::pg
