// Counts every heap allocation in a test binary, for the "no allocation on the hot path" tests:
// replacement global allocation functions that forward to malloc/free and bump a counter. Include this
// header in exactly ONE translation unit per test binary (replacement functions may not be inline);
// the rest of the binary, Catch2 included, is unaffected. Measure the difference around the code
// under test with allocations_so_far().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace sluice::testing {

inline std::atomic<std::size_t> allocation_counter{0};

inline std::size_t allocations_so_far() noexcept { return allocation_counter.load(std::memory_order_relaxed); }

// Allocations made by `call` (nothing else may run meanwhile: tests are single-threaded).
template <class Call>
std::size_t allocations_in(Call&& call) {
  const std::size_t before = allocations_so_far();
  call();
  return allocations_so_far() - before;
}

namespace detail {
inline void* counted_alloc(std::size_t size) {
  allocation_counter.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
inline void* counted_aligned_alloc(std::size_t size, std::align_val_t align) {
  allocation_counter.fetch_add(1, std::memory_order_relaxed);
  const auto alignment = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)) return p;
  throw std::bad_alloc();
}
inline void* counted_alloc_nothrow(std::size_t size) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
}  // namespace detail

}  // namespace sluice::testing

void* operator new(std::size_t size) { return sluice::testing::detail::counted_alloc(size); }
void* operator new[](std::size_t size) { return sluice::testing::detail::counted_alloc(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return sluice::testing::detail::counted_alloc_nothrow(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return sluice::testing::detail::counted_alloc_nothrow(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
  return sluice::testing::detail::counted_aligned_alloc(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return sluice::testing::detail::counted_aligned_alloc(size, align);
}
// GCC cannot see that these pair with the operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
