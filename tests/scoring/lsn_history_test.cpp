// The primary's LSN ring: coalescing, eviction, lookups, restarts.
#include <catch2/catch.hpp>

#include "scoring/lsn_history.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

TEST_CASE("equal LSNs extend one entry; higher ones add entries") {
  lsn_history h;
  CHECK(h.last_seen_at_or_below(5).kind == lsn_history::match::empty);
  h.record(t0(), 100);
  h.record(t0() + 1s, 100);
  h.record(t0() + 2s, 100);
  h.record(t0() + 3s, 200);
  REQUIRE(h.size() == 2);
  CHECK(h.at(0).lsn == 100);
  CHECK(h.at(0).first_seen == t0());
  CHECK(h.at(0).last_seen == t0() + 2s);
  CHECK(h.at(1).first_seen == t0() + 3s);
}

TEST_CASE("lookup finds the last instant the primary was at or below an LSN") {
  lsn_history h;
  h.record(t0(), 100);
  h.record(t0() + 1s, 100);
  h.record(t0() + 2s, 200);
  h.record(t0() + 3s, 300);
  struct row {
    std::uint64_t lsn;
    lsn_history::match kind;
    time_point at;
  };
  const auto r = GENERATE_COPY(values<row>({
      {50, lsn_history::match::older_than_history, t0()},
      {100, lsn_history::match::at_or_below, t0() + 1s},
      {150, lsn_history::match::at_or_below, t0() + 1s},
      {200, lsn_history::match::at_or_below, t0() + 2s},
      {299, lsn_history::match::at_or_below, t0() + 2s},
      {300, lsn_history::match::at_or_below, t0() + 3s},
      {10'000, lsn_history::match::at_or_below, t0() + 3s},
  }));
  INFO(r.lsn);
  const auto found = h.last_seen_at_or_below(r.lsn);
  CHECK(found.kind == r.kind);
  CHECK(found.at == r.at);
}

TEST_CASE("a full ring drops its oldest entries") {
  lsn_history h;
  const std::size_t total = lsn_history::capacity + 10;
  for (std::size_t i = 0; i < total; ++i) h.record(t0() + i * 1s, 1'000 + i);
  REQUIRE(h.size() == lsn_history::capacity);
  CHECK(h.at(0).lsn == 1'010);
  CHECK(h.at(lsn_history::capacity - 1).lsn == 1'000 + total - 1);
  CHECK(h.last_seen_at_or_below(1'005).kind == lsn_history::match::older_than_history);
  const auto found = h.last_seen_at_or_below(1'050);
  CHECK(found.kind == lsn_history::match::at_or_below);
  CHECK(found.at == t0() + 50s);
}

TEST_CASE("an LSN going back restarts the history; late observations are ignored") {
  lsn_history h;
  h.record(t0(), 500);
  h.record(t0() + 1s, 600);
  h.record(t0() + 500ms, 700);  // older than the newest observation: ignored
  REQUIRE(h.size() == 2);
  h.record(t0() + 2s, 100);  // another primary, behind: start over
  REQUIRE(h.size() == 1);
  CHECK(h.at(0).lsn == 100);
  h.clear();
  CHECK(h.size() == 0);
}
