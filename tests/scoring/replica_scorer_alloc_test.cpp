// The per-statement path allocates nothing: choose() (with or without an explanation to fill),
// on_dispatch, on_complete and on_probe, including the calls that run outlier analysis, eject and
// return replicas.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>

#include "scoring/replica_scorer.hpp"
#include "scoring/xoshiro256_source.hpp"
#include "scoring_test_support.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* counted_alloc(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void* counted_aligned_alloc(std::size_t size, std::align_val_t align) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  const auto alignment = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace

// Replacement global allocation functions for the whole sluice_scoring_tests binary (that is how
// replacement works): they forward to malloc/free and count only while `counting` is set, so Catch2
// and the other tests are unaffected.
void* operator new(std::size_t size) { return counted_alloc(size); }
void* operator new[](std::size_t size) { return counted_alloc(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) { return counted_aligned_alloc(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return counted_aligned_alloc(size, align); }
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

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

namespace {

template <typename F>
long allocations_in(F&& call) {
  allocations = 0;
  counting = true;
  call();
  counting = false;
  return allocations.load();
}

}  // namespace

TEST_CASE("choose and the signal handlers allocate nothing") {
  cluster c(8, scoring_config{});
  xoshiro256_source rng(5);
  auto why = std::make_unique<choice_explanation>();
  long total = 0;
  int ejected = 0;
  int returned = 0;
  std::array<outlier_event, 8> drained{};
  // 60 s of traffic: replica 7 is slow (ejected, returns, is ejected again), replica 6 fails.
  for (int step = 0; step < 6'000; ++step) {
    c.now += 10ms;
    const bool probe_due = c.now >= c.next_probe;
    for (std::size_t b = 0; b < 8 && probe_due; ++b) {
      const probe_result p = b == 0 ? primary_probe(c.now, c.primary_lsn, 500us)
                                    : replica_probe(c.now, c.primary_lsn - 100, 500us);
      total += allocations_in([&] { c.scorer.on_probe(b, p); });
    }
    if (probe_due) {
      c.next_probe = c.now + 250ms;
      c.primary_lsn += 100;  // a busy primary; replicas one probe behind
    }
    for (std::size_t b = 1; b < 8; ++b) {
      const auto latency = b == 7 ? 40ms : 5ms;
      const bool failed = b == 6 && step % 2 == 0;
      total += allocations_in([&] {
        c.scorer.on_dispatch(b);
        c.scorer.on_complete(b, c.now, latency, failed);
      });
    }
    std::optional<std::size_t> chosen;
    total += allocations_in([&] { chosen = c.scorer.choose(c.now, rng); });
    if (!chosen) {
      c.scorer.explain(c.now, *why);
      FAIL(to_string(*why));
    }
    total += allocations_in([&] { c.scorer.choose(c.now, rng, why.get()); });
    total += allocations_in([&] { c.scorer.explain(c.now, *why); });
    std::size_t n = 0;
    total += allocations_in([&] { n = c.scorer.take_events(drained); });
    for (std::size_t i = 0; i < n; ++i) {
      (drained[i].what == outlier_event::kind::ejected ? ejected : returned) += 1;
    }
  }
  CHECK(total == 0);
  CHECK(ejected >= 2);  // the paths that eject and return did run
  CHECK(returned >= 1);
}
