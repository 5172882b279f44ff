// The per-admission path allocates nothing when the answer is `admitted` or `refused`: request(),
// release(), poll() with nothing to admit, next_wakeup() and deadline_for(), over every limit.
#include <catch2/catch.hpp>

#include <vector>

#include "policies/admission_controller.hpp"
#include "policies/tenant_rules.hpp"
#include "policies_test_support.hpp"
#include "tests/support/counting_allocator.hpp"

using namespace sluice::policies;
using namespace sluice::policies::testing;

TEST_CASE("admitting, refusing and releasing allocate nothing") {
  const std::uint32_t max_active = GENERATE(0u, 3u);
  INFO("max_active " << max_active);
  tenant_policy qps = unrestricted("qps");
  qps.max_qps = 500;
  qps.burst = 5;
  qps.max_queue = 0;
  tenant_policy slots = unrestricted("slots");
  slots.max_concurrency = 1;
  slots.max_queue = 0;
  tenant_policy budget = unrestricted("budget");
  budget.max_db_time_per_s = 0.2;
  budget.max_queue = 0;
  budget.max_wait = std::chrono::milliseconds(100);
  tenant_policy open = unrestricted("open");
  open.max_queue = 0;
  admission_controller ac(make_policy({qps, slots, budget, open}, max_active), t0());
  std::vector<waiter_id> ids;
  ids.reserve(16);

  struct running_unit {
    std::size_t tenant;
    time_point admitted_at;
  };
  std::vector<running_unit> running;
  running.reserve(64);

  std::size_t total = 0;
  std::uint64_t admitted = 0;
  std::uint64_t refused = 0;
  auto now = t0();
  for (int step = 0; step < 5'000; ++step) {
    now += 1ms;
    // Each unit runs 2 ms, so that concurrency and capacity limits refuse some requests.
    for (std::size_t i = 0; i < running.size();) {
      if (now - running[i].admitted_at < 2ms) {
        ++i;
        continue;
      }
      total += sluice::testing::allocations_in(
          [&] { ac.release(running[i].tenant, 2ms, running[i].admitted_at, now); });
      running[i] = running.back();
      running.pop_back();
    }
    for (std::size_t tenant = 1; tenant <= 4; ++tenant) {
      admission a;
      total += sluice::testing::allocations_in([&] { a = ac.request(tenant, step, now); });
      if (a.outcome == verdict::admitted) {
        ++admitted;
        running.push_back({tenant, now});
      } else {
        REQUIRE(a.outcome == verdict::refused);
        ++refused;
      }
    }
    total += sluice::testing::allocations_in([&] {
      ac.poll(now, ids);
      (void)ac.next_wakeup();
      (void)ac.deadline_for(3, now);
      (void)ac.tenant_index("budget");
    });
  }
  CHECK(total == 0);
  CHECK(admitted > 2'500);
  CHECK(refused > 2'500);
}

TEST_CASE("resolving a tenant allocates nothing") {
  qos_policy p = make_policy({unrestricted("acme"), unrestricted("web")});
  tenant_rule tag;
  tag.kind = rule_kind::tag;
  tag.pattern = "tenant";
  tenant_rule user;
  user.kind = rule_kind::user;
  user.pattern = "acme_*";
  user.tenant = "acme";
  p.rules = {tag, user};
  const tenant_rules rules(p);
  std::size_t found = 0;
  const auto total = sluice::testing::allocations_in([&] {
    for (int i = 0; i < 1'000; ++i) {
      found += rules.resolve({"acme_reporting", "db", "psql"}, [](std::string_view key) {
        return key == "tenant" ? std::string_view("web") : std::string_view();
      });
      found += rules.resolve_session_only({"acme_reporting", "db", "psql"}) == tenant_rules::npos ? 1 : 0;
    }
  });
  CHECK(total == 0);
  CHECK(found == 3'000);  // web (2) + npos, each time
}
