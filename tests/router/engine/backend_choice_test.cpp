// engine::backend_choice and engine::read_your_writes with a fake picture of the backends: replica
// choice, read_your_writes requirements, fallback, an unreachable replica, a replica that is behind.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "router/engine/backend_choice.hpp"
#include "router/engine/read_your_writes.hpp"
#include "router/worker.hpp"

using namespace sluice::router;
using engine::placement;
using kind = engine::placement::kind;
using namespace std::chrono_literals;

namespace {

// Replicas by index with the position each has replayed; choose_replica takes the first one allowed
// (the scorer's choice is tested in tests/scoring).
struct fake_backends final : engine::backend_view {
  std::vector<std::optional<std::uint64_t>> replayed;  // nullopt: the primary (or not a replica)
  std::uint64_t primary_position = 0;
  std::vector<std::uint64_t> asked_min_positions;

  std::optional<std::size_t> choose_replica(sluice::scoring::backend_set exclude, std::uint64_t min_position) override {
    asked_min_positions.push_back(min_position);
    for (std::size_t i = 0; i < replayed.size(); ++i) {
      if (replayed[i] && !exclude.test(i) && *replayed[i] >= min_position) return i;
    }
    return std::nullopt;
  }
  std::optional<std::size_t> most_advanced_replica(sluice::scoring::backend_set exclude) const override {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < replayed.size(); ++i) {
      if (!replayed[i] || exclude.test(i)) continue;
      if (!best || *replayed[i] > *replayed[*best]) best = i;
    }
    return best;
  }
  bool all_replicas_reached(std::uint64_t position) const override {
    for (const auto& r : replayed) {
      if (r && *r < position) return false;
    }
    return true;
  }
  std::uint64_t primary_probe_position() const override { return primary_position; }
};

config::routing_config routing_with(config::read_fallback fallback) {
  config::routing_config routing;
  routing.fallback = fallback;
  routing.causal_wait = 50ms;
  return routing;
}

// read_your_writes::publish takes the time of the commit; backend_choice reads the clock at each pick.
const auto now = std::chrono::steady_clock::now();

}  // namespace

TEST_CASE("backend_choice: writes go to the primary, reads to a replica", "[engine][backend_choice]") {
  fake_backends backends;
  backends.replayed = {std::nullopt, 100, 100};
  worker_stats stats;
  const auto routing = routing_with(config::read_fallback::primary);

  engine::backend_choice write(backends, routing, stats, classify::route::primary, {});
  CHECK(write.first().what == kind::primary);
  CHECK(backends.asked_min_positions.empty());  // a write never asks for a replica

  engine::backend_choice read(backends, routing, stats, classify::route::replica, {});
  const auto place = read.first();
  CHECK(place.what == kind::replica);
  CHECK(place.backend == 1);
  CHECK_FALSE(place.causal_check);
}

TEST_CASE("backend_choice: unreachable replicas are skipped, then routing.fallback decides", "[engine][backend_choice]") {
  fake_backends backends;
  backends.replayed = {std::nullopt, 100, 100};
  worker_stats stats;

  SECTION("fallback = primary") {
    const auto routing = routing_with(config::read_fallback::primary);
    engine::backend_choice read(backends, routing, stats, classify::route::replica, {});
    REQUIRE(read.first().backend == 1);
    const auto second = read.replica_unreachable(1);
    CHECK(second.what == kind::replica);
    CHECK(second.backend == 2);
    CHECK(read.replica_unreachable(2).what == kind::primary);
    CHECK(stats.replica_fallbacks == 1);
    CHECK(stats.fallback_errors == 0);
  }
  SECTION("fallback = error") {
    const auto routing = routing_with(config::read_fallback::error);
    engine::backend_choice read(backends, routing, stats, classify::route::replica, {});
    REQUIRE(read.first().backend == 1);
    REQUIRE(read.replica_unreachable(1).backend == 2);
    CHECK(read.replica_unreachable(2).what == kind::refused);
    CHECK(stats.fallback_errors == 1);
  }
  SECTION("no replica at all") {
    backends.replayed = {std::nullopt};
    const auto routing = routing_with(config::read_fallback::error);
    engine::backend_choice read(backends, routing, stats, classify::route::replica, {});
    CHECK(read.first().what == kind::refused);
  }
}

TEST_CASE("backend_choice: read_your_writes picks a replica that replayed the commit, or checks the furthest one",
          "[engine][backend_choice][read_your_writes]") {
  fake_backends backends;
  backends.replayed = {std::nullopt, 100, 250};
  worker_stats stats;
  const auto routing = routing_with(config::read_fallback::primary);

  SECTION("a replica's probe shows the position: no check") {
    engine::backend_choice read(backends, routing, stats, classify::route::replica, {200, {}});
    const auto place = read.first();
    CHECK(place.what == kind::replica);
    CHECK(place.backend == 2);
    CHECK_FALSE(place.causal_check);
    CHECK(backends.asked_min_positions.back() == 200);
  }
  SECTION("younger than every probe: the furthest replica is checked, waiting causal_wait") {
    engine::backend_choice read(backends, routing, stats, classify::route::replica, {300, {}});
    const auto place = read.first();
    CHECK(place.what == kind::replica);
    CHECK(place.backend == 2);
    CHECK(place.causal_check);
    CHECK(place.causal_wait == 50ms);
    // It had not replayed it in time: the primary, which has the commit.
    CHECK(read.replica_behind().what == kind::primary);
    CHECK(stats.causal_primary_reads == 1);
  }
  SECTION("a commit not flushed yet: the check does not wait") {
    engine::backend_choice read(backends, routing, stats, classify::route::replica,
                                {300, std::chrono::steady_clock::now() + 1h});
    const auto place = read.first();
    CHECK(place.causal_check);
    CHECK(place.causal_wait == 0ms);
  }
  SECTION("the unflushed window is judged at each pick, not once per unit") {
    backends.replayed = {std::nullopt, 250, 240};
    engine::backend_choice read(backends, routing, stats, classify::route::replica,
                                {300, std::chrono::steady_clock::now() + 30ms});
    const auto first = read.first();
    REQUIRE(first.backend == 1);
    CHECK(first.causal_wait == 0ms);
    // The first replica took longer than the window to refuse a connection: the next one is checked
    // with the full causal_wait, since the commit is flushed by now.
    std::this_thread::sleep_for(40ms);
    const auto second = read.replica_unreachable(1);
    CHECK(second.what == kind::replica);
    CHECK(second.backend == 2);
    CHECK(second.causal_check);
    CHECK(second.causal_wait == 50ms);
    CHECK(read.replica_unreachable(2).what == kind::primary);  // then the fallback
  }
}

TEST_CASE("read_your_writes: requirements by scope, hints, publication and forgetting",
          "[engine][read_your_writes]") {
  fake_backends backends;
  backends.replayed = {std::nullopt, 100, 100};
  engine::commit_mark user_mark, global_mark;

  SECTION("off: reads need nothing, writes are not noted") {
    engine::read_your_writes ryw;
    ryw.configure(false, &user_mark, &user_mark, false);
    ryw.note_write();
    CHECK_FALSE(ryw.position_due());
    CHECK(ryw.requirement(classify::hint::none, backends).position == 0);
  }
  SECTION("session scope: its own commits only; the answer is not held") {
    engine::read_your_writes ryw;
    ryw.configure(true, &user_mark, nullptr, false);
    ryw.note_write();
    CHECK(ryw.position_due());
    CHECK_FALSE(ryw.holds_answer());
    ryw.clear_due();
    ryw.publish(500, 500, global_mark, now);
    CHECK(user_mark.lsn == 500);    // published for the user's other sessions
    CHECK(global_mark.lsn == 500);  // and proxy-wide
    CHECK(ryw.requirement(classify::hint::none, backends).position == 500);
    CHECK(ryw.requirement(classify::hint::replica, backends).position == 0);  // the hint wins
    // Once every replica has replayed it, it is forgotten.
    backends.replayed = {std::nullopt, 600, 600};
    CHECK(ryw.requirement(classify::hint::none, backends).position == 0);
    backends.replayed = {std::nullopt, 100, 100};
    CHECK(ryw.requirement(classify::hint::none, backends).position == 0);
  }
  SECTION("user scope: another session's commit counts, and the answer waits for the publication") {
    engine::read_your_writes mine, other;
    mine.configure(true, &user_mark, &user_mark, false);
    other.configure(true, &user_mark, &user_mark, false);
    other.note_write();
    CHECK(other.holds_answer());
    other.publish(700, 700, global_mark, now);
    CHECK(mine.requirement(classify::hint::none, backends).position == 700);
  }
  SECTION("global scope: the primary's probe position too") {
    engine::read_your_writes ryw;
    ryw.configure(true, &user_mark, &global_mark, true);
    backends.primary_position = 900;
    CHECK(ryw.requirement(classify::hint::none, backends).position == 900);
  }
  SECTION("a commit not flushed yet (synchronous_commit = off) is marked for the unflushed window") {
    engine::read_your_writes ryw;
    ryw.configure(true, &user_mark, &user_mark, false);
    ryw.publish(800, 700, global_mark, now);
    const auto need = ryw.requirement(classify::hint::none, backends);
    CHECK(need.position == 800);
    CHECK(need.unflushed_until == now + engine::read_your_writes::unflushed_commit_window);
    CHECK(user_mark.unflushed_until.load() == need.unflushed_until.time_since_epoch().count());
  }
}
