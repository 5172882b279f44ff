// The client budget beside server connections, and raising the soft open-file limit.
#include "router/open_file_limit.hpp"

#include <catch2/catch.hpp>
#include <sys/resource.h>

namespace cfg = sluice::router::config;
using sluice::router::client_budget;

namespace {

cfg::config cluster(std::size_t backends, std::initializer_list<std::optional<std::uint32_t>> pool_sizes) {
  cfg::config c;
  c.pool.size = 8;
  c.backends.resize(backends);
  for (const auto& size : pool_sizes) {
    cfg::user_config user;
    user.pool_size = size;
    c.users.push_back(user);
  }
  return c;
}

}  // namespace

TEST_CASE("the client budget leaves room for every pool on every backend, probes and workers") {
  // 3 backends x (8 + 2) server connections, 2 per backend, 4 per worker, 32 of margin.
  const auto budget = client_budget(200, cluster(3, {std::nullopt, 2}), 2);
  CHECK(budget.servers == 30);
  CHECK(budget.reserved == 30 + 6 + 8 + 32);
  CHECK(budget.clients == 200 - 76);
  CHECK(client_budget(20'000, cluster(3, {std::nullopt}), 2).clients == 20'000 - (24 + 6 + 8 + 32));
  CHECK(client_budget(50, cluster(3, {std::nullopt}), 2).clients == 0);  // nothing left
}

TEST_CASE("raise_open_file_limit raises the soft limit to the hard one") {
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  if (before.rlim_max == RLIM_INFINITY || before.rlim_max < 64) return;  // nothing to check here
  rlimit lowered = before;
  lowered.rlim_cur = 64;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  std::string problem;
  CHECK(sluice::router::raise_open_file_limit(problem) == before.rlim_max);
  CHECK(problem.empty());
  rlimit after{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
  CHECK(after.rlim_cur == before.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &before);
}
