// Primary election from probes: one primary, a promoted replica, none, split brain, and claims that
// do not count (unreachable, stale).
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "scoring/replica_scorer.hpp"
#include "scoring/topology.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

namespace {

// One letter per backend: P primary, R replica, D down (unreachable primary claim), S stale primary
// claim, s stale replica, - no probe.
std::vector<std::optional<probe_result>> probes(const char* layout) {
  std::vector<std::optional<probe_result>> out;
  for (const char* c = layout; *c != '\0'; ++c) {
    switch (*c) {
      case 'P': out.emplace_back(primary_probe(t0(), 100)); break;
      case 'R': out.emplace_back(replica_probe(t0(), 100)); break;
      case 'D': {
        auto p = down_probe(t0());
        p.in_recovery = false;  // an unreachable probe's fields are unset; must not count as a claim
        out.emplace_back(p);
        break;
      }
      case 'S': out.emplace_back(primary_probe(t0() - 5s, 100)); break;
      case 's': out.emplace_back(replica_probe(t0() - 5s, 100)); break;
      default: out.emplace_back(std::nullopt); break;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("the primary is whoever says it is not in recovery") {
  struct row {
    const char* layout;
    topology_state state;
    std::optional<std::size_t> primary;
    std::size_t claimants;
    std::size_t fresh;
  };
  const auto r = GENERATE_COPY(values<row>({
      {"PRR", topology_state::single_primary, 0, 1, 3},
      {"RPR", topology_state::single_primary, 1, 1, 3},   // promoted replica (config said 0)
      {"RRR", topology_state::no_primary, std::nullopt, 0, 3},  // configured primary in recovery
      {"PPR", topology_state::split_brain, std::nullopt, 2, 3},
      {"PRP", topology_state::split_brain, std::nullopt, 2, 3},
      {"DRP", topology_state::single_primary, 2, 1, 3},   // old primary unreachable: ignored
      {"DRR", topology_state::no_primary, std::nullopt, 0, 3},
      {"SRP", topology_state::single_primary, 2, 1, 2},   // stale claim ignored
      {"SRR", topology_state::no_primary, std::nullopt, 0, 2},
      {"Ss-", topology_state::unknown, std::nullopt, 0, 0},
      {"---", topology_state::unknown, std::nullopt, 0, 0},
      {"", topology_state::unknown, std::nullopt, 0, 0},
  }));
  INFO(r.layout);
  const auto view = decide_topology(probes(r.layout), t0(), 1s);
  CHECK(view.state == r.state);
  CHECK(view.primary == r.primary);
  CHECK(view.claimants.count() == r.claimants);
  CHECK(view.fresh == r.fresh);
}

TEST_CASE("split brain names the claimants") {
  const auto view = decide_topology(probes("RPRP"), t0(), 1s);
  REQUIRE(view.state == topology_state::split_brain);
  CHECK(view.claimants.test(1));
  CHECK(view.claimants.test(3));
  CHECK_FALSE(view.claimants.test(0));
  CHECK(std::string(to_string(view.state)) == "split_brain");
}

TEST_CASE("staleness is measured at the given instant") {
  const auto list = probes("PR");
  CHECK(decide_topology(list, t0() + 1s, 1s).state == topology_state::single_primary);
  CHECK(decide_topology(list, t0() + 1001ms, 1s).state == topology_state::unknown);
}

// replica_scorer::topology keeps its last answer while it stays right (issue 14). Random probes at
// random times, and questions at times going forward, standing still and going back: every answer
// must be decide_topology's over the same probes.
TEST_CASE("replica_scorer::topology answers as decide_topology does, at every instant") {
  std::mt19937_64 rng(14);
  scoring_config config;
  config.probe_failures_to_down = 1;  // every probe the test sends is stored (none held back)
  for (int round = 0; round < 200; ++round) {
    const std::size_t count = 1 + rng() % 4;
    replica_scorer scorer(count, config);
    std::vector<std::optional<probe_result>> latest(count);
    time_point now = t0();
    for (int step = 0; step < 200; ++step) {
      const auto roll = rng() % 10;
      if (roll < 3) {
        const std::size_t backend = rng() % count;
        // Never older than the backend's last one (on_probe ignores a probe delivered late).
        time_point at = now - std::chrono::milliseconds(rng() % 1500);
        if (latest[backend] && at < latest[backend]->at) at = latest[backend]->at;
        const auto kind = rng() % 3;
        const probe_result p = kind == 0 ? primary_probe(at, 100) : kind == 1 ? replica_probe(at, 100) : down_probe(at);
        scorer.on_probe(backend, p);
        latest[backend] = p;
      } else if (roll < 8) {
        now += std::chrono::milliseconds(rng() % 400);
      } else if (roll == 8) {
        now -= std::chrono::milliseconds(rng() % 400);
      }
      const auto got = scorer.topology(now);
      const auto want = decide_topology(latest, now, config.probe_staleness);
      INFO("round " << round << " step " << step);
      REQUIRE(got.state == want.state);
      REQUIRE(got.primary == want.primary);
      REQUIRE(got.claimants == want.claimants);
      REQUIRE(got.fresh == want.fresh);
    }
  }
}
