// One reusable read buffer per connection: bytes arrive at the end, messages are consumed from the
// front, and the space is compacted in place rather than reallocated (STYLE.md "Hot path"). The
// storage is left uninitialised, so an idle connection's resident memory is only what it has read.
#pragma once

#include <boost/asio/buffer.hpp>
#include <algorithm>
#include <cstring>
#include <memory>

#include "backends/pg/wire/codec.hpp"

namespace sluice::backends::pg {

class read_buffer {
 public:
  explicit read_buffer(std::size_t initial_capacity = 16 * 1024)
      : data_(std::make_unique_for_overwrite<std::uint8_t[]>(initial_capacity)),
        capacity_(initial_capacity),
        initial_capacity_(initial_capacity) {}

  wire::bytes_view available() const noexcept { return wire::bytes_view(data_.get() + begin_, end_ - begin_); }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }

  void consume(std::size_t count) noexcept {
    begin_ += count;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Ensures room to read more, and that a message of `total_needed` bytes starting at the front fits.
  // Compacts first; grows only when the message itself is larger than the capacity.
  void prepare(std::size_t total_needed = 0) {
    std::size_t want = std::max(total_needed, size() + min_read_);
    if (capacity_ - begin_ >= want && capacity_ - end_ >= min_read_) return;
    if (begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ < want) {
      if (small_) {
        // Outgrown: from now on, full-size reads (this happens once per connection at most).
        small_ = false;
        min_read_ = standard_min_read;
        want = std::max(total_needed, size() + min_read_);
      }
      replace_storage(std::max(want, initial_capacity_));
    }
  }

  // While nothing is buffered: switch to a buffer of `capacity` bytes read `capacity` at a time, for a
  // connection that may stay idle long (most application pools' connections do). It grows to the
  // initial capacity, once, when a message or a batch does not fit.
  void use_small(std::size_t capacity) {
    if (!empty()) return;
    replace_storage(capacity);
    min_read_ = capacity;
    small_ = true;
  }

  boost::asio::mutable_buffer writable() noexcept { return boost::asio::buffer(data_.get() + end_, capacity_ - end_); }
  void commit(std::size_t count) noexcept { end_ += count; }

  // Returns the buffer to its initial size after an unusually large message, so one huge row does not
  // pin memory for the life of the connection.
  void shrink_if_idle(std::size_t initial_capacity = 16 * 1024) {
    if (empty() && capacity_ > 4 * initial_capacity) replace_storage(initial_capacity);
  }

 private:
  void replace_storage(std::size_t capacity) {
    auto fresh = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
    if (end_ > begin_) std::memcpy(fresh.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    data_ = std::move(fresh);
    capacity_ = capacity;
  }

  static constexpr std::size_t standard_min_read = 4096;
  std::size_t min_read_ = standard_min_read;
  bool small_ = false;
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_ = 0;
  std::size_t initial_capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace sluice::backends::pg
