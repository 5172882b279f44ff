// worker::classify_statement: the classifications of parsed statement texts, cached per worker (issue
// 14): the same answers as classify(), a text seen before found without allocating, bounded.
#include "router/classify/classifier.hpp"
#include "router/config/config.hpp"
#include "router/shared_state.hpp"
#include "router/worker.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "tests/support/counting_allocator.hpp"
#include "tests/support/one_backend_config.hpp"

namespace {
const std::string config_text = sluice::testing::one_backend_config(R"([routing]
write_functions = ["audit_write"]
[[users]]
name = "app"
auth = "trust"
)");

}  // namespace

TEST_CASE("classification cache: classify()'s answers, found again without allocating, bounded",
          "[classification_cache]") {
  namespace classify = sluice::router::classify;
  sluice::router::shared_state shared(sluice::router::config::load_config_text(config_text, "test.toml"));
  sluice::router::worker owner(shared, 0);
  const std::string functions[] = {"audit_write"};
  const classify::options options{functions};

  const std::string texts[] = {
      "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
      "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
      "SELECT audit_write($1)",  // routing.write_functions is part of the answer
      "SELECT pg_advisory_lock($1)",
      "/* sluice: replica */ SELECT 1",
      "SET search_path = a",
      "WITH x AS (SELECT $1) SELECT * FROM x",
      std::string(sluice::router::worker::classification_max_text + 1, ' ') + "SELECT nextval('s')",  // not cached
  };
  for (const auto& text : texts) {
    INFO(text.substr(0, 80));
    CHECK(owner.classify_statement(text) == classify::classify(text, options));
    CHECK(owner.classify_statement(text) == classify::classify(text, options));
  }
  CHECK(owner.classify_statement(texts[0]).target == classify::route::replica);
  CHECK(owner.classify_statement(texts[2]).target == classify::route::primary);
  CHECK(owner.classify_statement(texts[3]).pins_session);

  // Seen before: a hash lookup, no allocation (a string_view finds the std::string key).
  const std::string_view seen = texts[1];
  CHECK(sluice::testing::allocations_in([&] {
          for (int i = 0; i < 100; ++i) (void)owner.classify_statement(seen);
        }) == 0);

  // Many more texts than the cap: the answers stay right, the recent ones stay cached.
  const std::size_t many = 3 * sluice::router::worker::classification_cap;
  for (std::size_t n = 0; n < many; ++n) {
    const std::string text = (n % 2 == 0 ? "SELECT c FROM t WHERE id = " : "UPDATE t SET c = 1 WHERE id = ") +
                             std::to_string(n);
    REQUIRE(owner.classify_statement(text).target ==
            (n % 2 == 0 ? classify::route::replica : classify::route::primary));
  }
  const std::string recent = "UPDATE t SET c = 1 WHERE id = " + std::to_string(many - 1);
  CHECK(sluice::testing::allocations_in([&] { (void)owner.classify_statement(recent); }) == 0);
  CHECK(owner.classify_statement(texts[0]) == classify::classify(texts[0], options));  // forgotten, again
}
