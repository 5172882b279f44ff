// Pre-encoded ParameterStatus messages (see parameter_status_set.hpp).
#include "backends/pg/wire/parameter_status_set.hpp"

#include <algorithm>

namespace sluice::backends::pg::wire {

namespace {

constexpr char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

}  // namespace

parameter_status_set::parameter_status_set(std::span<const parameter> parameters) {
  entries_.reserve(parameters.size());
  for (const auto& [name, value] : parameters) {
    const std::size_t begin = encoded_.size();
    encode_parameter_status(encoded_, name, value);
    // Type byte and int32 length, then the name.
    entries_.push_back({begin, encoded_.size(), begin + typed_header_size, name.size()});
  }
}

std::size_t parameter_status_set::size_bound(std::span<const parameter> overrides) const noexcept {
  // Room for every override as if each one added a message.
  std::size_t bound = encoded_.size();
  for (const auto& [name, value] : overrides) bound += typed_header_size + name.size() + value.size() + 2;
  return bound;
}

void parameter_status_set::append_to(byte_buffer& out, std::span<const parameter> overrides) const {
  out.reserve(out.size() + size_bound(overrides));  // one allocation at most
  std::size_t copied_to = 0;  // encoded_ up to here is in `out`
  if (!overrides.empty()) {
    for (const auto& e : entries_) {
      const std::string* shown = nullptr;
      for (const auto& [name, value] : overrides) {
        if (iequals(name, name_of(e))) shown = &value;
      }
      if (shown == nullptr) continue;
      out.insert(out.end(), encoded_.begin() + static_cast<std::ptrdiff_t>(copied_to),
                 encoded_.begin() + static_cast<std::ptrdiff_t>(e.begin));
      encode_parameter_status(out, name_of(e), *shown);
      copied_to = e.end;
    }
  }
  out.insert(out.end(), encoded_.begin() + static_cast<std::ptrdiff_t>(copied_to), encoded_.end());
}

}  // namespace sluice::backends::pg::wire
