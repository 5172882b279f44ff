// decide_route: the precedence of the split switch, pinning, hints and the classifier's answer.
#include <catch2/catch.hpp>

#include "router/engine/route_decision.hpp"

using namespace sluice::router;
using classify::hint;
using classify::route;
using engine::route_reason;

namespace {
classify::classification kind_of(route target, hint routing_hint = hint::none, bool pins = false) {
  classify::classification kind;
  kind.target = target;
  kind.routing_hint = routing_hint;
  kind.pins_session = pins;
  return kind;
}
}  // namespace

TEST_CASE("decide_route: precedence split > pinned session > pinning statement > hint > classifier", "[engine]") {
  struct row {
    bool split;
    bool session_pinned;
    classify::classification kind;
    route expected;
    route_reason reason;
  };
  const row rows[] = {
      {false, false, kind_of(route::replica), route::primary, route_reason::split_off},
      {false, false, kind_of(route::replica, hint::replica), route::primary, route_reason::split_off},
      {true, true, kind_of(route::replica, hint::replica), route::primary, route_reason::session_pinned},
      {true, false, kind_of(route::replica, hint::replica, true), route::primary, route_reason::pins_session},
      {true, false, kind_of(route::replica, hint::primary), route::primary, route_reason::hint_primary},
      {true, false, kind_of(route::primary, hint::replica), route::replica, route_reason::hint_replica},
      {true, false, kind_of(route::replica), route::replica, route_reason::classified},
      {true, false, kind_of(route::primary), route::primary, route_reason::classified},
  };
  for (const auto& r : rows) {
    const auto decision = engine::decide_route(r.split, r.session_pinned, r.kind);
    CHECK(decision.route == r.expected);
    CHECK(decision.reason == r.reason);
  }
}

TEST_CASE("decide_route: real statements through the classifier", "[engine]") {
  const classify::options options{};
  const auto route_of = [&](std::string_view sql) {
    return engine::decide_route(true, false, classify::classify(sql, options)).route;
  };
  CHECK(route_of("SELECT 1") == route::replica);
  CHECK(route_of("INSERT INTO t VALUES (1)") == route::primary);
  CHECK(route_of("/* sluice: primary */ SELECT 1") == route::primary);
  CHECK(route_of("/* sluice: replica */ SELECT pg_is_in_recovery()") == route::replica);
  CHECK(route_of("LISTEN x") == route::primary);
  CHECK(engine::describe(route_reason::hint_replica) == "the hint /* sluice: replica */");
}
