// Round-robin replica choice: rotation, skipping unavailable backends and the primary, exclusion.
#include <catch2/catch.hpp>

#include <array>

#include "scoring/replica_selector.hpp"

using sluice::scoring::backend_state;
using sluice::scoring::replica_selector;

TEST_CASE("round-robin rotates over available replicas only") {
  std::array<backend_state, 3> backends{{{false, true}, {true, true}, {true, true}}};
  replica_selector selector;
  CHECK(selector.choose(backends) == 1u);
  CHECK(selector.choose(backends) == 2u);
  CHECK(selector.choose(backends) == 1u);
  backends[2].available = false;
  CHECK(selector.choose(backends) == 1u);
  CHECK(selector.choose(backends) == 1u);
}

TEST_CASE("no available replica gives nullopt") {
  std::array<backend_state, 2> backends{{{false, true}, {true, false}}};
  replica_selector selector;
  CHECK_FALSE(selector.choose(backends).has_value());
}

TEST_CASE("exclusion skips the replica that just failed") {
  std::array<backend_state, 3> backends{{{false, true}, {true, true}, {true, true}}};
  replica_selector selector;
  CHECK(selector.choose(backends, 1u) == 2u);
  CHECK(selector.choose(backends, 2u) == 1u);
  std::array<backend_state, 2> single{{{false, true}, {true, true}}};
  CHECK_FALSE(selector.choose(single, 1u).has_value());
}
