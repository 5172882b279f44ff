// max_db_time_per_s: the database-time budget is charged by measured time, may go into debt, and
// throttles a heavy tenant to its ceiling over time; next_wakeup() says when a debt is repaid.
#include <catch2/catch.hpp>

#include <vector>

#include "policies/admission_controller.hpp"
#include "policies_test_support.hpp"

using namespace sluice::policies;
using namespace sluice::policies::testing;

TEST_CASE("db-time budget: busy clients are throttled to the ceiling over simulated time") {
  struct row {
    const char* name;
    double ceiling;  // db seconds per second
    nanoseconds cost;
    int clients;
    seconds run;
  };
  const auto r = GENERATE(values<row>({
      {"heavy units: 100 ms each, 0.5 s/s, 8 clients", 0.5, 100ms, 8, 1'000s},
      {"short units: 5 ms each, 0.2 s/s, 4 clients", 0.2, 5ms, 4, 200s},
      {"units longer than the budget: 2 s each, 0.25 s/s", 0.25, 2s, 3, 4'000s},
      {"ceiling above one server: 3 s/s, 20 ms units, 10 clients", 3.0, 20ms, 10, 200s},
  }));
  INFO(r.name);
  tenant_policy t = unrestricted("heavy");
  t.max_db_time_per_s = r.ceiling;
  admission_controller ac(make_policy({t}), t0());
  simulator sim(ac, t0());
  sim.add_clients(1, r.clients, r.cost);
  sim.run_until(t0() + r.run);
  const double rate = to_seconds(sim.of(1).db_time) / to_seconds(r.run);
  CHECK(rate == Approx(r.ceiling).epsilon(0.01));
  CHECK(ac.stats(1).last_limit == limit_kind::max_db_time_per_s);
}

TEST_CASE("db-time budget: an unlimited neighbour is not slowed down") {
  tenant_policy heavy = unrestricted("heavy");
  heavy.max_db_time_per_s = 0.5;
  admission_controller ac(make_policy({heavy, unrestricted("free")}), t0());
  simulator sim(ac, t0());
  sim.add_clients(1, 4, 50ms);
  sim.add_clients(2, 2, 10ms);
  sim.run_until(t0() + 400s);
  CHECK(to_seconds(sim.of(1).db_time) / 400 == Approx(0.5).epsilon(0.01));
  CHECK(to_seconds(sim.of(2).db_time) / 400 == Approx(2.0).epsilon(0.001));  // two clients, always busy
}

TEST_CASE("db-time budget: a debt holds the tenant until repaid, and next_wakeup says when") {
  tenant_policy t = unrestricted("t");
  t.max_db_time_per_s = 1.0;  // cap: 1 s
  admission_controller ac(make_policy({t}), t0());

  REQUIRE(ac.request(1, 1, t0()).outcome == verdict::admitted);  // reserves 1 ms (the initial guess)
  // One 5 s unit, finished at t0 + 5 s: the budget refilled to its cap of 1 s, then paid the 5 s
  // less the 1 ms reserved: a debt of 3.999 s.
  ac.release(1, 5s, t0(), t0() + 5s);
  const admission a = ac.request(1, 2, t0() + 5s);
  CHECK(a.outcome == verdict::queued);
  CHECK(a.limit == limit_kind::max_db_time_per_s);
  CHECK(ac.stats(1).last_limit == limit_kind::max_db_time_per_s);
  // Repaid at 1 s/s.
  const time_point due = ac.next_wakeup();
  CHECK(std::chrono::abs(due - (t0() + 8'999ms)) <= 1us);
  std::vector<waiter_id> ids;
  ac.poll(due - 1ns, ids);
  CHECK(ids.empty());
  ac.poll(due, ids);
  CHECK(ids == std::vector<waiter_id>{2});
  CHECK(ac.next_wakeup() == time_point::max());
  CHECK(ac.stats(1).delayed == 1);
}

TEST_CASE("db-time budget: reservations stop a burst of admissions from spending the budget many times") {
  tenant_policy t = unrestricted("t");
  t.max_db_time_per_s = 0.1;  // cap 0.1 s
  admission_controller ac(make_policy({t}), t0());
  // Learn the unit cost: 30 ms.
  REQUIRE(ac.request(1, 0, t0()).outcome == verdict::admitted);
  ac.release(1, 30ms, t0(), t0());
  // Later, with a full budget, many arrive at once: admitted while the budget is not in debt,
  // i.e. about cap / cost of them, not all.
  int admitted = 0;
  for (waiter_id id = 1; id <= 50; ++id) {
    if (ac.request(1, id, t0() + 10s).outcome == verdict::admitted) ++admitted;
  }
  CHECK(admitted == 4);  // 100 ms, then 70, 40, 10 ms left: each admits; then -20 ms: in debt
  CHECK(ac.stats(1).queued == 46);
}

TEST_CASE("a limit of zero admits nothing and sets no wakeup") {
  tenant_policy no_db = unrestricted("no_db");
  no_db.max_db_time_per_s = 0.0;
  tenant_policy no_qps = unrestricted("no_qps");
  no_qps.max_qps = 0.0;
  tenant_policy no_slots = unrestricted("no_slots");
  no_slots.max_concurrency = 0;
  admission_controller ac(make_policy({no_db, no_qps, no_slots}), t0());
  CHECK(ac.request(1, 1, t0()).limit == limit_kind::max_db_time_per_s);
  CHECK(ac.request(2, 2, t0()).limit == limit_kind::max_qps);
  CHECK(ac.request(3, 3, t0()).limit == limit_kind::max_concurrency);
  CHECK(ac.next_wakeup() == time_point::max());
  std::vector<waiter_id> ids;
  ac.poll(t0() + 1h, ids);
  CHECK(ids.empty());
}
