// Admission bookkeeping: concurrency with clients leaving while queued, cancel after admission,
// max_queue refusals, max_wait deadlines, queue-wait and latency statistics, and reconfigure.
#include <catch2/catch.hpp>

#include <vector>

#include "policies/admission_controller.hpp"
#include "policies_test_support.hpp"

using namespace sluice::policies;
using namespace sluice::policies::testing;

TEST_CASE("max_concurrency: clients leaving while queued, cancel after admission, release") {
  tenant_policy t = unrestricted("t");
  t.max_concurrency = 2;
  admission_controller ac(make_policy({t}), t0());
  std::vector<waiter_id> ids;

  CHECK(ac.request(1, 1, t0()).outcome == verdict::admitted);
  CHECK(ac.request(1, 2, t0()).outcome == verdict::admitted);
  const admission held = ac.request(1, 3, t0());
  CHECK(held.outcome == verdict::queued);
  CHECK(held.limit == limit_kind::max_concurrency);
  CHECK(ac.request(1, 4, t0()).outcome == verdict::queued);
  CHECK(ac.request(1, 5, t0()).outcome == verdict::queued);
  CHECK(ac.next_wakeup() == time_point::max());  // only a release frees it

  // The client of unit 4 disconnects; unit 5 times out.
  CHECK(ac.cancel(1, 4, false, t0() + 1ms));
  CHECK(ac.cancel(1, 5, true, t0() + 2ms));
  CHECK_FALSE(ac.cancel(1, 5, true, t0() + 2ms));  // no longer queued
  CHECK_FALSE(ac.cancel(1, 99, false, t0()));       // never was
  auto s = ac.stats(1);
  CHECK(s.in_flight == 2);
  CHECK(s.queued == 1);
  CHECK(s.abandoned == 1);
  CHECK(s.refused_timeout == 1);
  CHECK(ac.active() == 2);

  // A release lets unit 3 go; cancelling it now says so (the caller must release it instead).
  ac.release(1, 1ms, t0(), t0() + 3ms);
  ac.poll(t0() + 3ms, ids);
  CHECK(ids == std::vector<waiter_id>{3});
  CHECK_FALSE(ac.cancel(1, 3, false, t0() + 3ms));
  s = ac.stats(1);
  CHECK(s.in_flight == 2);
  CHECK(s.queued == 0);
  CHECK(s.admitted == 3);
  CHECK(s.delayed == 1);
  CHECK(s.abandoned == 1);

  ac.release(1, 1ms, t0(), t0() + 4ms);
  ac.release(1, 1ms, t0(), t0() + 4ms);
  s = ac.stats(1);
  CHECK(s.in_flight == 0);
  CHECK(s.db_time_total == 3ms);
  CHECK(ac.active() == 0);
  CHECK(ac.request(1, 6, t0() + 5ms).outcome == verdict::admitted);
}

TEST_CASE("max_queue: a full queue refuses, and a refusal leaves nothing to release") {
  tenant_policy t = unrestricted("t");
  t.max_concurrency = 1;
  t.max_queue = 2;
  admission_controller ac(make_policy({t}), t0());
  CHECK(ac.request(1, 1, t0()).outcome == verdict::admitted);
  CHECK(ac.request(1, 2, t0()).outcome == verdict::queued);
  CHECK(ac.request(1, 3, t0()).outcome == verdict::queued);
  const admission refused = ac.request(1, 4, t0());
  CHECK(refused.outcome == verdict::refused);
  CHECK(refused.limit == limit_kind::max_queue);
  const auto s = ac.stats(1);
  CHECK(s.refused_queue_full == 1);
  CHECK(s.last_limit == limit_kind::max_concurrency);  // what held it
  CHECK(s.queued == 2);
  CHECK(s.in_flight == 1);
  CHECK(s.admitted == 1);
  CHECK_FALSE(ac.cancel(1, 4, false, t0()));
  // Room again once one leaves the queue.
  CHECK(ac.cancel(1, 2, false, t0()));
  CHECK(ac.request(1, 5, t0()).outcome == verdict::queued);
}

TEST_CASE("deadline_for: queued_at + max_wait, or never") {
  tenant_policy waits = unrestricted("waits");
  waits.max_wait = std::chrono::milliseconds(2'500);
  tenant_policy zero = unrestricted("zero");
  zero.max_wait = std::chrono::milliseconds(0);
  admission_controller ac(make_policy({waits, zero}), t0());
  CHECK(ac.deadline_for(1, t0() + 1s) == t0() + 3'500ms);
  CHECK(ac.deadline_for(0, t0() + 1s) == time_point::max());
  CHECK(ac.deadline_for(2, t0()) == t0());
  CHECK(ac.deadline_for(1, time_point::max() - 1s) == time_point::max());  // no overflow
}

TEST_CASE("queue wait is recorded for every admission (0 when immediate); latency at release") {
  tenant_policy t = unrestricted("t");
  t.max_concurrency = 1;
  admission_controller ac(make_policy({t}), t0());
  std::vector<waiter_id> ids;
  // 60 immediate admissions, then 40 that wait 5 ms each.
  for (int i = 0; i < 60; ++i) {
    REQUIRE(ac.request(1, 0, t0()).outcome == verdict::admitted);
    ac.release(1, 1ms, t0(), t0() + 2ms);
  }
  auto now = t0();
  REQUIRE(ac.request(1, 0, now).outcome == verdict::admitted);
  for (waiter_id id = 1; id <= 40; ++id) {
    REQUIRE(ac.request(1, id, now).outcome == verdict::queued);
    now += 5ms;
    ac.release(1, 1ms, now - 5ms, now);
    ids.clear();
    ac.poll(now, ids);
    REQUIRE(ids == std::vector<waiter_id>{id});
  }
  ac.release(1, 1ms, now, now + 5ms);
  const auto s = ac.stats(1);
  CHECK(s.admitted == 101);
  CHECK(s.delayed == 40);
  CHECK(s.queue_wait_p50 == 0ns);
  CHECK(s.queue_wait_p99 == 5'120us);  // 5 ms, in [4.864, 5.12) ms
  CHECK(s.latency_p50 == 2'048us);     // 2 ms, in [1.984, 2.048) ms
  CHECK(s.latency_p99 == 5'120us);
}

TEST_CASE("reconfigure keeps counters, in-flight units and queues; retires vanished tenants") {
  tenant_policy a = unrestricted("a");
  a.max_concurrency = 1;
  tenant_policy b = unrestricted("b");
  b.max_qps = 1;  // T = 1 s
  b.burst = 1;
  admission_controller ac(make_policy({a, b}, 0), t0());
  std::vector<waiter_id> ids;
  REQUIRE(ac.request(1, 11, t0()).outcome == verdict::admitted);
  REQUIRE(ac.request(1, 12, t0()).outcome == verdict::queued);
  REQUIRE(ac.request(1, 13, t0()).outcome == verdict::queued);
  REQUIRE(ac.request(2, 21, t0()).outcome == verdict::admitted);
  REQUIRE(ac.request(2, 22, t0()).outcome == verdict::queued);
  ac.release(2, 4ms, t0(), t0() + 4ms);

  // "a" disappears, "b" is loosened to 100/s, "c" is new, and capacity becomes 3.
  tenant_policy b2 = unrestricted("b");
  b2.max_qps = 100;  // T = 10 ms, burst 10
  const time_point later = t0() + 10ms;
  ac.reconfigure(make_policy({b2, unrestricted("c")}, 3), later);
  CHECK(ac.tenant_count() == 4);
  CHECK(ac.max_active() == 3);
  CHECK(ac.tenant_index("a") == 1);
  CHECK(ac.retired(1));
  CHECK_FALSE(ac.policy(1).max_concurrency.has_value());  // unrestricted now
  CHECK(ac.tenant_name(1) == "a");
  CHECK(ac.tenant_index("b") == 2);
  CHECK_FALSE(ac.retired(2));
  CHECK(ac.policy(2).max_qps == 100);
  CHECK(ac.tenant_index("c") == 3);
  CHECK(ac.tenant_index("zzz") == admission_controller::npos);

  auto sa = ac.stats(1);
  CHECK(sa.name == "a");
  CHECK(sa.admitted == 1);
  CHECK(sa.in_flight == 1);
  CHECK(sa.queued == 2);
  auto sb = ac.stats(2);
  CHECK(sb.admitted == 1);
  CHECK(sb.db_time_total == 4ms);
  CHECK(sb.queued == 1);

  // The looser limits let queued units go, up to the new capacity (1 in flight + 2).
  ac.poll(later, ids);
  CHECK(ids.size() == 2);
  CHECK(ac.active() == 3);
  ids.clear();
  ac.release(1, 1ms, t0(), later);  // a unit admitted under the old policy
  ac.poll(later, ids);
  CHECK(ids.size() == 1);
  CHECK(ac.stats(1).queued + ac.stats(2).queued == 0);
  CHECK(ac.stats(1).admitted == 3);
  CHECK(ac.stats(2).admitted == 2);

  // A retired name that comes back is live again, in its old slot.
  tenant_policy a2 = unrestricted("a");
  a2.max_concurrency = 5;
  ac.reconfigure(make_policy({a2, b2, unrestricted("c")}, 3), later + 1ms);
  CHECK(ac.tenant_count() == 4);
  CHECK_FALSE(ac.retired(1));
  CHECK(ac.policy(1).max_concurrency == 5u);
  CHECK(ac.stats(1).admitted == 3);
}

TEST_CASE("reconfigure: a rate change keeps the bucket's level; a new db-time limit starts full") {
  tenant_policy t = unrestricted("t");
  t.max_qps = 10;  // T = 100 ms
  t.burst = 1;
  t.max_queue = 0;
  admission_controller ac(make_policy({t}), t0());
  REQUIRE(ac.request(1, 1, t0()).outcome == verdict::admitted);  // TAT = t0 + 100 ms
  CHECK(ac.request(1, 2, t0() + 50ms).outcome == verdict::refused);
  // Half an interval still to go at 10/s is half an interval at 1/s: 500 ms.
  t.max_qps = 1;
  t.max_db_time_per_s = 0.5;
  ac.reconfigure(make_policy({t}), t0() + 50ms);
  CHECK(ac.request(1, 3, t0() + 549ms).outcome == verdict::refused);
  CHECK(ac.request(1, 4, t0() + 550ms).outcome == verdict::admitted);
}

TEST_CASE("stats: a snapshot of counters, gauges and the policy") {
  tenant_policy t = unrestricted("t");
  t.max_concurrency = 3;
  t.db_time_share = 2;
  admission_controller ac(make_policy({t}), t0());
  REQUIRE(ac.request(1, 1, t0()).outcome == verdict::admitted);
  ac.release(1, 8ms, t0(), t0() + 10ms);
  const auto s = ac.stats(1);
  CHECK(s.name == "t");
  CHECK(s.policy.max_concurrency == 3u);
  CHECK(s.admitted == 1);
  CHECK(s.delayed == 0);
  CHECK(s.db_time_total == 8ms);
  CHECK(s.virtual_time == Approx(0.004));  // 8 ms of database time at share 2
  CHECK(s.last_limit == limit_kind::none);
  CHECK(s.latency_p50 == 10'240us);        // 10 ms, in [9.728, 10.24) ms
  CHECK(ac.stats(0).name == "default");
}
