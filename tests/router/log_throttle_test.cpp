// log_throttle and keyed_log_throttle: one line per interval (per key), with the count held back.
#include "router/log_throttle.hpp"

#include <catch2/catch.hpp>

#include <string>

using sluice::router::keyed_log_throttle;
using sluice::router::log_throttle;
using namespace std::chrono_literals;

TEST_CASE("log_throttle: one line per interval, then the count of what was held back") {
  log_throttle throttle(10s);
  const auto t0 = log_throttle::clock::time_point{} + 1h;
  std::uint64_t held_back = 99;
  CHECK(throttle.allow(t0, held_back));
  CHECK(held_back == 0);
  for (int i = 0; i < 40; ++i) CHECK_FALSE(throttle.allow(t0 + 1s + i * 200ms, held_back));
  CHECK(throttle.allow(t0 + 10s, held_back));
  CHECK(held_back == 40);
  CHECK_FALSE(throttle.allow(t0 + 11s, held_back));
}

TEST_CASE("keyed_log_throttle: per key; over max_keys, expired keys go and new ones share one line") {
  keyed_log_throttle throttle(10s, 2);
  const auto t0 = log_throttle::clock::time_point{} + 1h;
  std::uint64_t held_back = 0;
  CHECK(throttle.allow("10.0.0.1", t0, held_back));
  CHECK_FALSE(throttle.allow("10.0.0.1", t0 + 1s, held_back));
  CHECK(throttle.allow("10.0.0.2", t0 + 1s, held_back));  // another address: its own line
  CHECK(throttle.tracked() == 2);
  // Full, nothing expired: new addresses share one throttle.
  CHECK(throttle.allow("10.0.0.3", t0 + 2s, held_back));
  CHECK_FALSE(throttle.allow("10.0.0.4", t0 + 3s, held_back));
  CHECK(throttle.tracked() == 2);
  // 10.0.0.1's interval is over: it is forgotten to make room.
  CHECK(throttle.allow("10.0.0.5", t0 + 10s, held_back));
  CHECK(throttle.tracked() == 2);
  CHECK(throttle.allow("10.0.0.2", t0 + 12s, held_back));
  CHECK(held_back == 0);
}
