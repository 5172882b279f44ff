// replica_scorer choice: power of two choices on cost, in-flight counts, lag penalty, slow start,
// statistically over seeded simulations with a fake clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <queue>
#include <tuple>
#include <vector>

#include "scoring/replica_scorer.hpp"
#include "scoring/xoshiro256_source.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

namespace {

// Exponentially distributed with the given mean, at least 1 us.
microseconds exponential(random_source& rng, microseconds mean) {
  const double draw = -std::log(1.0 - uniform01(rng)) * static_cast<double>(mean.count());
  return microseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(draw)));
}

// Open-loop simulation: a read arrives every `interarrival`, goes where the scorer says, and
// completes after its backend's latency. With `jitter`, arrivals are Poisson and latencies
// exponential around those means (an M/M/k-like load, so in-flight counts vary). Returns picks per
// backend.
std::array<int, max_backends> simulate(cluster& c, random_source& rng, int reads,
                                       microseconds interarrival,
                                       const std::function<microseconds(std::size_t)>& latency,
                                       random_source* jitter = nullptr) {
  using completion = std::tuple<time_point, std::size_t, microseconds>;
  std::priority_queue<completion, std::vector<completion>, std::greater<>> pending;
  std::array<int, max_backends> picks{};
  for (int read = 0; read < reads; ++read) {
    const microseconds gap = jitter != nullptr ? exponential(*jitter, interarrival) : interarrival;
    c.advance(gap, gap);
    while (!pending.empty() && std::get<0>(pending.top()) <= c.now) {
      const auto [at, backend, took] = pending.top();
      pending.pop();
      c.scorer.on_complete(backend, at, took, false);
    }
    const auto chosen = c.scorer.choose(c.now, rng);
    REQUIRE(chosen.has_value());
    ++picks[*chosen];
    c.scorer.on_dispatch(*chosen);
    const microseconds took =
        jitter != nullptr ? exponential(*jitter, latency(*chosen)) : latency(*chosen);
    pending.emplace(c.now + took, *chosen, took);
  }
  return picks;
}

scoring_config no_ejection() {
  scoring_config config;
  config.max_ejected_percent = 0;  // isolate the load balancer
  return config;
}

}  // namespace

TEST_CASE("one candidate is taken without drawing random numbers") {
  cluster c(2, scoring_config{});
  scripted_source rng{0};
  choice_explanation why;
  CHECK(c.scorer.choose(c.now, rng, &why) == 1u);
  CHECK(rng.calls == 0);
  CHECK(why.candidate_count == 1);
  CHECK_FALSE(why.first_sample.has_value());
  CHECK(why.chosen == 1u);
}

TEST_CASE("of the two sampled candidates the cheaper wins, whichever is drawn first") {
  cluster c(4, scoring_config{});
  c.statements(1, 10ms, 20);  // backend 1 slow
  c.statements(2, 1ms, 20);   // backend 2 fast
  c.statements(3, 1ms, 20);
  struct row {
    std::uint64_t first;
    std::uint64_t second;
    std::size_t expect_first;
    std::size_t expect_second;
    std::size_t expect_chosen;
  };
  // Candidates are [1, 2, 3]; draws are reduced modulo 3, then modulo 2 (skipping the first).
  const auto r = GENERATE_COPY(values<row>({
      {0, 0, 1, 2, 2},  // 1 vs 2: 2 is cheaper
      {1, 0, 2, 1, 2},  // same pair drawn the other way round
      {0, 1, 1, 3, 3},
      {2, 0, 3, 1, 3},
      {1, 1, 2, 3, 2},  // equal cost: the first drawn wins
      {2, 1, 3, 2, 3},
  }));
  scripted_source rng{r.first, r.second};
  choice_explanation why;
  CHECK(c.scorer.choose(c.now, rng, &why) == r.expect_chosen);
  CHECK(rng.calls == 2);
  CHECK(why.first_sample == r.expect_first);
  CHECK(why.second_sample == r.expect_second);
  CHECK(why.chosen == r.expect_chosen);
}

TEST_CASE("a replica with 10x latency gets under 10% of 10k reads (round-robin: a third)") {
  cluster c(4, no_ejection());
  xoshiro256_source rng(20240501);
  const auto picks = simulate(c, rng, 10'000, 200us, [](std::size_t backend) {
    return backend == 3 ? microseconds(10'000) : microseconds(1'000);
  });
  CHECK(picks[0] == 0);
  CHECK(picks[1] + picks[2] + picks[3] == 10'000);
  CHECK(picks[3] < 1'000);
  CHECK(picks[1] > 4'000);
  CHECK(picks[2] > 4'000);
}

TEST_CASE("in-flight statements count: a busy replica is passed over") {
  cluster c(3, scoring_config{});
  c.statements(1, 1ms, 20);
  c.statements(2, 1ms, 20);
  for (int i = 0; i < 3; ++i) c.scorer.on_dispatch(1);
  xoshiro256_source rng(1);
  choice_explanation why;
  for (int i = 0; i < 1'000; ++i) REQUIRE(c.scorer.choose(c.now, rng) == 2u);
  c.scorer.choose(c.now, rng, &why);
  CHECK(why.backends[1].in_flight == 3);
  CHECK(why.backends[1].cost == Approx(4 * why.backends[2].cost));

  for (int i = 0; i < 3; ++i) c.scorer.on_complete(1, c.now, 1ms, false);
  int to_one = 0;
  for (int i = 0; i < 1'000; ++i) to_one += c.scorer.choose(c.now, rng) == 1u ? 1 : 0;
  CHECK(to_one > 400);
  CHECK(to_one < 600);
}

TEST_CASE("lag below the limit shifts share away, the more the lag the more") {
  const auto share_of_lagging = [](std::uint64_t lag) {
    cluster c(3, no_ejection());
    c.lag_bytes[2] = lag;
    c.probe_all();
    xoshiro256_source rng(99);
    xoshiro256_source jitter(100);
    const auto picks = simulate(c, rng, 10'000, 250us, [](std::size_t) { return 1ms; }, &jitter);
    return static_cast<double>(picks[2]) / 10'000.0;
  };
  const double none = share_of_lagging(0);
  const double quarter = share_of_lagging(4 * 1024 * 1024);  // a quarter of the limit: penalty 1.19
  const double large = share_of_lagging(12 * 1024 * 1024);   // three quarters: penalty 2.69
  CAPTURE(none, quarter, large);
  CHECK(none == Approx(0.5).margin(0.03));
  CHECK(quarter < none);
  CHECK(large < quarter - 0.05);
  CHECK(large > 0.05);  // a penalty, not an exclusion
}

TEST_CASE("slow start: a replica back from an outage ramps its share up over slow_start") {
  cluster c(4, scoring_config{});
  c.reachable[3] = false;
  c.advance(2s);
  c.reachable[3] = true;
  c.probe_all();  // back: slow start begins now

  xoshiro256_source rng(7);
  std::array<double, 6> share{};  // five 2-second windows of the 10 s ramp, then one after it
  for (std::size_t window = 0; window < share.size(); ++window) {
    int to_three = 0;
    int reads = 0;
    c.advance(2s, 1ms, [&] {
      ++reads;
      to_three += c.scorer.choose(c.now, rng) == 3u ? 1 : 0;
    });
    share[window] = static_cast<double>(to_three) / reads;
  }
  CAPTURE(share[0], share[1], share[2], share[3], share[4], share[5]);
  CHECK(share[0] < 0.08);  // ~ 1/3 x 0.125
  for (std::size_t w = 1; w < share.size(); ++w) CHECK(share[w] > share[w - 1]);
  CHECK(share[5] == Approx(1.0 / 3).margin(0.03));  // full share once the ramp is over
}

TEST_CASE("a replica that lost its traffic is retried once its probes look normal") {
  cluster c(3, no_ejection());
  c.statements(1, 50ms, 10);  // was slow
  c.statements(2, 1ms, 10);
  xoshiro256_source rng(3);
  CHECK(c.scorer.choose(c.now, rng) == 2u);
  c.advance(30s);  // no statements at all; probes of both at 0.5 ms
  const auto why = c.explain();
  CHECK(why.backends[1].statement_latency_us < 1'000);  // relaxed to near the probe floor
  CHECK(why.backends[1].latency_us == Approx(why.backends[2].latency_us).epsilon(0.5));
}

TEST_CASE("light traffic: replicas a fraction of a millisecond apart share reads about evenly") {
  // Interactive use: one read at a time, seconds apart, so nothing is ever in flight and the choice
  // is a plain comparison of latencies. Both replicas answer in well under a millisecond, one 50%
  // slower than the other: noise at this scale, so neither may take every read.
  cluster c(3, no_ejection());
  c.probe_rtt[1] = 200us;
  c.probe_rtt[2] = 300us;
  c.probe_all();
  xoshiro256_source rng(15);
  std::array<int, max_backends> picks{};
  for (int read = 0; read < 400; ++read) {
    c.advance(1s, 50ms);
    const auto chosen = c.scorer.choose(c.now, rng);
    REQUIRE(chosen.has_value());
    ++picks[*chosen];
    c.statements(*chosen, 150us);
  }
  CAPTURE(picks[1], picks[2]);
  CHECK(picks[0] == 0);
  CHECK(picks[1] > 160);
  CHECK(picks[2] > 160);

  // A real difference still counts: 10 ms against 0.2 ms is not a tie.
  c.probe_rtt[2] = 10ms;
  c.advance(5s, 50ms);
  int to_slow = 0;
  for (int read = 0; read < 400; ++read) {
    c.advance(1s, 50ms);
    const auto chosen = c.scorer.choose(c.now, rng);
    REQUIRE(chosen.has_value());
    to_slow += *chosen == 2u ? 1 : 0;
    c.statements(*chosen, 150us);
  }
  CHECK(to_slow == 0);
}
