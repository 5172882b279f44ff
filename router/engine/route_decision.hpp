// Where a unit of work runs, primary or replica, from its classification and the session's state: one
// decision for every front end (PostgreSQL, MySQL) and for the admin API's route preview.
#pragma once

#include <string_view>

#include "router/classify/classifier.hpp"

namespace sluice::router::engine {

// Why decide_route chose what it did, in order of precedence.
enum class route_reason {
  split_off,       // routing.read_write_split = false: everything runs on the primary
  session_pinned,  // the session is pinned already: it stays on its primary connection
  pins_session,    // this unit creates state that cannot move between server connections
  hint_primary,    // a /* sluice: primary */ hint
  hint_replica,    // a /* sluice: replica */ hint
  classified,      // the classifier's own answer (kind.target)
};

struct route_decision {
  classify::route route = classify::route::primary;
  route_reason reason = route_reason::classified;
};

// The route of a unit whose statements classify as `kind`, for a session `session_pinned` or not.
route_decision decide_route(bool read_write_split, bool session_pinned, const classify::classification& kind) noexcept;

// A sentence for the admin API and logs ("the hint /* sluice: primary */"); for route_reason::classified
// the caller says more (it knows the statement).
std::string_view describe(route_reason reason) noexcept;

}  // namespace sluice::router::engine
