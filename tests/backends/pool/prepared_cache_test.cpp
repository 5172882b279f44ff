// prepared_cache: which of sluice's statements a server connection holds, bounded, least recently used first out.
#include "backends/pg/prepared_cache.hpp"

#include <catch2/catch.hpp>

using sluice::backends::pg::prepared_cache;

TEST_CASE("prepared_cache: below capacity nothing is evicted", "[prepared_cache]") {
  prepared_cache cache(3);
  CHECK(cache.insert(1) == 0);
  CHECK(cache.insert(2) == 0);
  CHECK(cache.insert(3) == 0);
  CHECK(cache.size() == 3);
  CHECK(cache.contains(1));
  CHECK(cache.insert(2) == 0);  // already there: no eviction, no growth
  CHECK(cache.size() == 3);
}

TEST_CASE("prepared_cache: past capacity the least recently used goes", "[prepared_cache]") {
  prepared_cache cache(3);
  cache.insert(1);
  cache.insert(2);
  cache.insert(3);
  cache.touch(1);  // 2 is now the oldest
  CHECK(cache.insert(4) == 2);
  CHECK_FALSE(cache.contains(2));
  CHECK(cache.contains(1));
  CHECK(cache.insert(5) == 3);
  CHECK(cache.insert(6) == 1);
  CHECK(cache.size() == 3);
}

TEST_CASE("prepared_cache: erase, clear and a capacity of zero", "[prepared_cache]") {
  prepared_cache cache(2);
  cache.insert(7);
  cache.insert(8);
  cache.erase(7);
  CHECK_FALSE(cache.contains(7));
  CHECK(cache.insert(9) == 0);  // the erased one freed its place
  cache.clear();
  CHECK(cache.size() == 0);
  cache.set_capacity(0);  // at least one
  CHECK(cache.capacity() == 1);
  CHECK(cache.insert(1) == 0);
  CHECK(cache.insert(2) == 1);
  cache.touch(42);  // absent: no effect
  CHECK(cache.size() == 1);
}
