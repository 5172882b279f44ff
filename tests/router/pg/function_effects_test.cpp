// function_effects: the per-worker cache of which functions may change session settings.
#include "router/function_effects.hpp"

#include <catch2/catch.hpp>

using sluice::router::function_effect;
using sluice::router::function_effects;

TEST_CASE("function_effects: learnt per database, forgotten when the generation moves", "[function_effects]") {
  std::atomic<std::uint64_t> generation{0};
  function_effects cache(generation, std::chrono::seconds(60));
  CHECK(cache.find("app", "f") == nullptr);
  cache.learn("app", "f", function_effect{true, {"myapp.x"}});
  cache.learn("app", "g", function_effect{});
  REQUIRE(cache.find("app", "f") != nullptr);
  CHECK(cache.find("app", "f")->may_set_settings);
  CHECK(cache.find("app", "f")->custom_names == std::vector<std::string>{"myapp.x"});
  CHECK_FALSE(cache.find("app", "g")->may_set_settings);
  CHECK(cache.find("other", "f") == nullptr);  // another database has other functions
  generation.fetch_add(1);                     // CREATE OR REPLACE FUNCTION somewhere
  CHECK(cache.find("app", "f") == nullptr);
}

TEST_CASE("function_effects: expire after the ttl", "[function_effects]") {
  std::atomic<std::uint64_t> generation{0};
  function_effects cache(generation, std::chrono::seconds(60));
  cache.learn("app", "f", function_effect{true, {}});
  const auto now = function_effects::clock::now();
  cache.expire(now + std::chrono::seconds(1));
  CHECK(cache.find("app", "f") != nullptr);
  cache.expire(now + std::chrono::seconds(61));
  CHECK(cache.find("app", "f") == nullptr);
}
