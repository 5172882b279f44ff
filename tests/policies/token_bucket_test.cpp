// max_qps: the GCRA token bucket admits exactly floor((elapsed + tau) / T) + 1 units of a busy tenant
// (rate * elapsed + burst), refusing or queueing the rest, and wakes queued units exactly on time.
#include <catch2/catch.hpp>

#include <optional>
#include <vector>

#include "policies/admission_controller.hpp"
#include "policies_test_support.hpp"

using namespace sluice::policies;
using namespace sluice::policies::testing;

namespace {

struct bucket_row {
  const char* name;
  double max_qps;
  std::optional<double> burst;
  milliseconds offer_every;
  milliseconds duration;  // offers at 0, every, 2 * every, ... up to and including duration
  std::uint64_t expected;
};

const std::vector<bucket_row>& bucket_rows() {
  static const std::vector<bucket_row> rows = {
      {"200/s, burst 20: 200 * 10 + 20", 200, 20.0, 1ms, 10'000ms, 2'020},
      {"200/s, default burst (20)", 200, std::nullopt, 1ms, 10'000ms, 2'020},
      {"200/s, burst 1", 200, 1.0, 1ms, 10'000ms, 2'001},
      {"2.5/s (fractional), default burst 1", 2.5, std::nullopt, 1ms, 10'000ms, 26},
      {"0.5/s: one every 2 s", 0.5, std::nullopt, 1ms, 10'000ms, 6},
      {"3/s, burst 2: T rounds to 333333333 ns", 3, 2.0, 1ms, 10'000ms, 32},
      // With tau = 0 a unit arriving after its TAT restarts the schedule: arrivals on a 1 ms grid
      // lose up to 1 ms per interval (0, 334, 668, ... ms), so 30 go, not 31.
      {"3/s, burst 1, arrivals off the T grid", 3, std::nullopt, 1ms, 10'000ms, 30},
      {"10/s, fractional burst 2.5 (tau = 150 ms)", 10, 2.5, 1ms, 1'000ms, 12},
      {"1000/s offered at 1000/s: all pass", 1000, 1.0, 1ms, 10'000ms, 10'001},
      {"1000/s offered at 333/s: all pass", 1000, 1.0, 3ms, 9'000ms, 3'001},
      {"50/s offered every 7 ms, burst 5", 50, 5.0, 7ms, 7'000ms, 355},
  };
  return rows;
}

qos_policy bucket_policy(const bucket_row& r, std::optional<std::uint32_t> max_queue) {
  tenant_policy t = unrestricted("t");
  t.max_qps = r.max_qps;
  t.burst = r.burst;
  t.max_queue = max_queue;
  return make_policy({t});
}

}  // namespace

TEST_CASE("token bucket: a busy tenant gets exactly rate * elapsed + burst (refusing the rest)") {
  const auto r = GENERATE(from_range(bucket_rows()));
  INFO(r.name);
  admission_controller ac(bucket_policy(r, 0), t0());
  std::uint64_t admitted = 0;
  std::uint64_t refused = 0;
  waiter_id id = 0;
  for (auto at = t0(); at <= t0() + r.duration; at += r.offer_every) {
    const admission a = ac.request(1, ++id, at);
    if (a.outcome == verdict::admitted) {
      ++admitted;
      ac.release(1, 0ns, at, at);
    } else {
      CHECK(a.outcome == verdict::refused);
      CHECK(a.limit == limit_kind::max_queue);  // max_queue = 0: whatever holds it refuses it
      ++refused;
    }
  }
  CHECK(admitted == r.expected);
  const auto s = ac.stats(1);
  CHECK(s.admitted == r.expected);
  CHECK(s.refused_queue_full == refused);
  if (refused > 0) CHECK(s.last_limit == limit_kind::max_qps);
}

TEST_CASE("token bucket: queued units go at the same rate when polled") {
  const auto r = GENERATE(from_range(bucket_rows()));
  INFO(r.name);
  admission_controller ac(bucket_policy(r, std::nullopt), t0());
  std::uint64_t admitted = 0;
  std::vector<waiter_id> ids;
  waiter_id id = 0;
  for (auto at = t0(); at <= t0() + r.duration; at += r.offer_every) {
    ids.clear();
    ac.poll(at, ids);  // what became due first, in order
    admitted += ids.size();
    const admission a = ac.request(1, ++id, at);
    if (a.outcome == verdict::admitted) {
      ++admitted;
    } else {
      CHECK(a.outcome == verdict::queued);
      CHECK(a.limit == limit_kind::max_qps);
    }
  }
  CHECK(admitted == r.expected);
  CHECK(ac.stats(1).admitted == r.expected);
  CHECK(ac.stats(1).queued == id - r.expected);
}

TEST_CASE("token bucket: next_wakeup is the exact instant the next queued unit conforms") {
  tenant_policy t = unrestricted("t");
  t.max_qps = 200;  // T = 5 ms
  t.burst = 20;
  admission_controller ac(make_policy({t}), t0());
  int immediate = 0;
  for (waiter_id id = 1; id <= 100; ++id) {
    if (ac.request(1, id, t0()).outcome == verdict::admitted) ++immediate;
  }
  CHECK(immediate == 20);
  std::vector<waiter_id> ids;
  waiter_id expected_next = 21;
  for (int n = 1; n <= 80; ++n) {
    const time_point due = ac.next_wakeup();
    REQUIRE(due == t0() + n * 5ms);
    ids.clear();
    ac.poll(due - 1ns, ids);
    REQUIRE(ids.empty());
    ac.poll(due, ids);
    REQUIRE(ids.size() == 1);
    CHECK(ids[0] == expected_next++);  // FIFO
  }
  CHECK(ac.next_wakeup() == time_point::max());
  const auto s = ac.stats(1);
  CHECK(s.admitted == 100);
  CHECK(s.delayed == 80);
  CHECK(s.queued == 0);
  CHECK(s.last_limit == limit_kind::max_qps);
}

TEST_CASE("token bucket: an idle tenant's bucket refills to its burst, no further") {
  tenant_policy t = unrestricted("t");
  t.max_qps = 10;
  t.burst = 3;
  t.max_queue = 0;
  admission_controller ac(make_policy({t}), t0());
  auto burst_at = [&](time_point at) {
    int n = 0;
    while (ac.request(1, 0, at).outcome == verdict::admitted) ++n;
    return n;
  };
  CHECK(burst_at(t0()) == 3);
  CHECK(burst_at(t0() + 100ms) == 1);  // one interval later: one token
  CHECK(burst_at(t0() + 350ms) == 2);  // 250 ms more: two (and half of one)
  CHECK(burst_at(t0() + 1h) == 3);     // long idle: the burst, no more
}
