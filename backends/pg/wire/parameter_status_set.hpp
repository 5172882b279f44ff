// ParameterStatus messages encoded once and sent to many clients: a pool's server parameters, the bulk
// of every greeting (router/pg/client_session.cpp greet), copied instead of encoded per connection.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backends/pg/wire/codec.hpp"

namespace sluice::backends::pg::wire {

class parameter_status_set {
 public:
  using parameter = std::pair<std::string, std::string>;  // name, value

  parameter_status_set() = default;
  // One ParameterStatus per parameter, in order.
  explicit parameter_status_set(std::span<const parameter> parameters);

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  // At least what append_to(out, overrides) appends (for a caller reserving room for more behind it).
  std::size_t size_bound(std::span<const parameter> overrides) const noexcept;

  // Appends every message to `out`, in order. A parameter named in `overrides` (names compared without
  // regard to case, the last one naming it wins) is shown with that value instead: a client's own
  // startup value. Names that match no parameter add nothing. Without overrides this is one copy.
  void append_to(byte_buffer& out, std::span<const parameter> overrides) const;

 private:
  // Offsets into encoded_, not views: the set may be copied or moved.
  struct entry {
    std::size_t begin;       // the message's type byte
    std::size_t end;         // one past its last byte
    std::size_t name_begin;  // the name (without its NUL)
    std::size_t name_size;
  };
  std::string_view name_of(const entry& e) const noexcept {
    return {reinterpret_cast<const char*>(encoded_.data()) + e.name_begin, e.name_size};
  }

  byte_buffer encoded_;
  std::vector<entry> entries_;
};

}  // namespace sluice::backends::pg::wire
