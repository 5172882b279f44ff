// decide_route: the one place that turns a classification into a route.
#include "router/engine/route_decision.hpp"

namespace sluice::router::engine {

route_decision decide_route(bool read_write_split, bool session_pinned, const classify::classification& kind) noexcept {
  if (!read_write_split) return {classify::route::primary, route_reason::split_off};
  if (session_pinned) return {classify::route::primary, route_reason::session_pinned};
  if (kind.pins_session) return {classify::route::primary, route_reason::pins_session};
  if (kind.routing_hint == classify::hint::primary) return {classify::route::primary, route_reason::hint_primary};
  if (kind.routing_hint == classify::hint::replica) return {classify::route::replica, route_reason::hint_replica};
  return {kind.target, route_reason::classified};
}

std::string_view describe(route_reason reason) noexcept {
  switch (reason) {
    case route_reason::split_off:
      return "routing.read_write_split = false: everything runs on the primary";
    case route_reason::session_pinned:
      return "the session is pinned (session state that cannot move between server connections): primary";
    case route_reason::pins_session:
      return "it pins the session (session state that cannot move between server connections): primary from now on";
    case route_reason::hint_primary:
      return "the hint /* sluice: primary */";
    case route_reason::hint_replica:
      return "the hint /* sluice: replica */";
    case route_reason::classified:
      break;
  }
  return "as classified";
}

}  // namespace sluice::router::engine
