// max_active and db_time_share: start-time fair queuing on database time. Backlogged tenants split
// database time by share whatever their statements cost; idle time is not banked; FIFO within a
// tenant; newcomers do not pass queued units.
#include <catch2/catch.hpp>

#include <vector>

#include "policies/admission_controller.hpp"
#include "policies_test_support.hpp"

using namespace sluice::policies;
using namespace sluice::policies::testing;

namespace {

tenant_policy weighted(const char* name, double share) {
  tenant_policy p = unrestricted(name);
  p.db_time_share = share;
  return p;
}

}  // namespace

TEST_CASE("fair queue: backlogged tenants split database time by share, whatever their costs") {
  struct row {
    const char* name;
    std::uint32_t max_active;
    double share_a, share_b;
    nanoseconds cost_a, cost_b;
    double expected_a;        // A's fraction of the database time
    double expected_turns;    // B's admissions / A's
  };
  const auto r = GENERATE(values<row>({
      {"equal shares, A's statements 10x dearer: B gets 10x the turns", 1, 1, 1, 10ms, 1ms, 0.5, 10},
      {"shares 3:1, A's statements 10x dearer", 1, 3, 1, 10ms, 1ms, 0.75, 10.0 / 3},
      {"shares 3:1, equal costs", 1, 3, 1, 2ms, 2ms, 0.75, 1.0 / 3},
      {"shares 1:4, A 5x cheaper", 1, 1, 4, 1ms, 5ms, 0.2, 0.8},
      {"four slots, equal shares, 10x costs", 4, 1, 1, 10ms, 1ms, 0.5, 10},
  }));
  INFO(r.name);
  const auto policy = make_policy({weighted("a", r.share_a), weighted("b", r.share_b)}, r.max_active);
  admission_controller ac(policy, t0());
  simulator sim(ac, t0());
  sim.add_clients(1, 8, r.cost_a);  // more clients than slots: both always have units queued
  sim.add_clients(2, 8, r.cost_b);
  sim.run_until(t0() + 20s);
  const double a = to_seconds(sim.of(1).db_time);
  const double b = to_seconds(sim.of(2).db_time);
  CHECK(a + b == Approx(20.0 * r.max_active).epsilon(0.01));  // work-conserving
  CHECK(a / (a + b) == Approx(r.expected_a).epsilon(0.02));
  const double turns = static_cast<double>(sim.of(2).admissions) / static_cast<double>(sim.of(1).admissions);
  CHECK(turns == Approx(r.expected_turns).epsilon(0.02));
  CHECK(ac.stats(1).last_limit == limit_kind::max_active);
}

TEST_CASE("fair queue: a tenant idle for a while gets its share from then on, not the time it missed") {
  admission_controller ac(make_policy({weighted("a", 1), weighted("b", 1)}, 1), t0());
  simulator sim(ac, t0());
  sim.add_clients(1, 4, 5ms);
  sim.run_until(t0() + 10s);  // A alone: 10 s of database time
  CHECK(to_seconds(sim.of(1).db_time) == Approx(10.0).epsilon(0.001));
  const double a_before = to_seconds(sim.of(1).db_time);
  sim.add_clients(2, 4, 5ms, t0() + 10s);
  sim.run_until(t0() + 12s);
  const double a = to_seconds(sim.of(1).db_time) - a_before;
  const double b = to_seconds(sim.of(2).db_time);
  // Had B banked the 10 s A used, it would hold the server for the whole 2 s.
  CHECK(b / (a + b) == Approx(0.5).epsilon(0.02));
}

TEST_CASE("fair queue: the smallest virtual time goes first, FIFO within a tenant, ties to the longer wait") {
  admission_controller ac(make_policy({unrestricted("a"), unrestricted("b")}, 1), t0());
  std::vector<waiter_id> ids;
  REQUIRE(ac.request(0, 100, t0()).outcome == verdict::admitted);  // default takes the slot
  const admission a1 = ac.request(1, 11, t0() + 1ms);
  CHECK(a1.outcome == verdict::queued);
  CHECK(a1.limit == limit_kind::max_active);
  CHECK(ac.request(1, 12, t0() + 2ms).outcome == verdict::queued);
  CHECK(ac.request(2, 21, t0() + 3ms).outcome == verdict::queued);
  CHECK(ac.next_wakeup() == time_point::max());  // held by capacity, not by time

  // A and B have the same virtual time: A's unit has waited longer.
  ac.release(0, 1ms, t0(), t0() + 5ms);
  ac.poll(t0() + 5ms, ids);
  CHECK(ids == std::vector<waiter_id>{11});
  CHECK(ac.stats(1).queue_wait_p99 >= 4ms);
  // A was charged for its unit: B is behind now.
  ids.clear();
  ac.release(1, 1ms, t0() + 5ms, t0() + 6ms);
  ac.poll(t0() + 6ms, ids);
  CHECK(ids == std::vector<waiter_id>{21});
  ids.clear();
  ac.release(2, 1ms, t0() + 6ms, t0() + 7ms);
  ac.poll(t0() + 7ms, ids);
  CHECK(ids == std::vector<waiter_id>{12});
  // Charged 1 ms (the initial expected cost) per admission, corrected by the measured 1 ms.
  CHECK(ac.stats(1).virtual_time == Approx(0.002));
  CHECK(ac.stats(2).virtual_time == Approx(0.001));
  CHECK(ac.active() == 1);
  CHECK(ac.stats(1).delayed == 2);
  CHECK(ac.stats(2).delayed == 1);
}

TEST_CASE("fair queue: a newcomer does not pass queued units") {
  admission_controller ac(make_policy({unrestricted("a"), unrestricted("b")}, 2), t0());
  std::vector<waiter_id> ids;
  REQUIRE(ac.request(1, 1, t0()).outcome == verdict::admitted);
  REQUIRE(ac.request(1, 2, t0()).outcome == verdict::admitted);
  CHECK(ac.request(1, 3, t0()).limit == limit_kind::max_active);  // capacity exhausted
  // A slot frees, but before poll() runs B asks: the queued unit of A is ahead.
  ac.release(1, 1ms, t0(), t0() + 1ms);
  const admission b = ac.request(2, 4, t0() + 1ms);
  CHECK(b.outcome == verdict::queued);
  CHECK(b.limit == limit_kind::max_active);
  CHECK(ac.next_wakeup() <= t0() + 1ms);  // a queued unit can go: poll now
  ac.poll(t0() + 1ms, ids);
  // One slot, fair order: B (which has used nothing) before A.
  CHECK(ids == std::vector<waiter_id>{4});
  CHECK(ac.active() == 2);
  // A's own later unit queues behind its first (FIFO), even with a slot free.
  ids.clear();
  ac.release(2, 1ms, t0() + 1ms, t0() + 2ms);
  ac.poll(t0() + 2ms, ids);
  CHECK(ids == std::vector<waiter_id>{3});
}

TEST_CASE("fair queue: a tenant's own limits hold its units even when capacity is free") {
  tenant_policy limited = unrestricted("limited");
  limited.max_concurrency = 1;
  admission_controller ac(make_policy({limited, unrestricted("other")}, 4), t0());
  std::vector<waiter_id> ids;
  REQUIRE(ac.request(1, 1, t0()).outcome == verdict::admitted);
  const admission held = ac.request(1, 2, t0());
  CHECK(held.outcome == verdict::queued);
  CHECK(held.limit == limit_kind::max_concurrency);
  // The held unit does not block others: it waits for its own slot, not for capacity.
  CHECK(ac.request(2, 3, t0()).outcome == verdict::admitted);
  ac.poll(t0(), ids);
  CHECK(ids.empty());
  ac.release(1, 1ms, t0(), t0() + 1ms);
  ac.poll(t0() + 1ms, ids);
  CHECK(ids == std::vector<waiter_id>{2});
}
