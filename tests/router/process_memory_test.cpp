// Resident memory from /proc, and when freed memory is given back after a storm of clients.
#include "router/process_memory.hpp"

#include <catch2/catch.hpp>

using sluice::router::trim_policy;

TEST_CASE("trim_policy: after the client count fell by at least 1000 and by half from its peak") {
  trim_policy policy;
  CHECK_FALSE(policy.observe(0));
  CHECK_FALSE(policy.observe(15'000));
  CHECK_FALSE(policy.observe(20'000));
  CHECK_FALSE(policy.observe(12'000));  // not half yet
  CHECK(policy.observe(9'000));
  CHECK(policy.high_water() == 9'000);  // counted again from here
  CHECK_FALSE(policy.observe(8'500));
  CHECK(policy.observe(100));           // another 8,900 clients gone
  CHECK_FALSE(policy.observe(900));
  CHECK_FALSE(policy.observe(0));       // a drop of 900 from 900: too small to bother
}

TEST_CASE("resident_memory_bytes reads the resident set") {
  const auto resident = sluice::router::resident_memory_bytes();
  REQUIRE(resident.has_value());
  CHECK(*resident > 1024 * 1024);  // a test binary with Catch2 is more than a megabyte
  sluice::router::release_free_memory();
}
