// worker::statement_id: ids shared by a worker's clients, bounded in number of texts, never reused.
#include "router/config/config.hpp"
#include "router/shared_state.hpp"
#include "router/worker.hpp"
#include "tests/support/one_backend_config.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {
const std::string config_text = sluice::testing::one_backend_config(R"([[users]]
name = "app"
auth = "trust"
)");
}  // namespace

TEST_CASE("statement ids: the same text gets the same id, texts beyond the cap are forgotten, ids never repeat",
          "[statement_ids]") {
  sluice::router::shared_state shared(sluice::router::config::load_config_text(config_text, "test.toml"));
  sluice::router::worker owner(shared, 0);
  const sluice::backends::pg::wire::bytes_view no_types;
  const auto id_of = [&](std::size_t n) { return owner.statement_id("select " + std::to_string(n), no_types); };

  const auto first = id_of(0);
  CHECK(id_of(0) == first);  // shared by every client of the worker
  std::uint64_t last = first;
  const std::size_t texts = 3 * sluice::router::worker::statement_id_cap;
  for (std::size_t n = 1; n < texts; ++n) {
    const auto id = id_of(n);
    REQUIRE(id > last);  // a new text gets a new id, from a counter that only grows
    last = id;
  }
  CHECK(id_of(texts - 1) == last);  // recent texts are remembered
  // The first text was forgotten (at most statement_id_cap are kept): it gets a fresh id, never an
  // old one, so a server connection that still holds "sluice_<first>" cannot be confused.
  const auto again = id_of(0);
  CHECK(again != first);
  CHECK(again > last);
  // Parameter types are part of the identity.
  const std::uint8_t int4[] = {0, 0, 0, 23};
  CHECK(owner.statement_id("select 0", sluice::backends::pg::wire::bytes_view(int4, 4)) != again);
}
