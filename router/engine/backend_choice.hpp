// Where a unit goes, step by step, as a sans-IO machine: a replica for a read (by score, and by replay
// position for read_your_writes), the fallback when none qualifies, and the next step after a replica
// could not be reached or had not replayed the position in time. The session loop runs each step (the
// write gate and the pool for the primary, the pool and the replay check for a replica).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

#include "router/classify/classifier.hpp"
#include "router/config/config.hpp"
#include "router/engine/backend_view.hpp"
#include "router/engine/read_your_writes.hpp"

namespace sluice::router {
struct worker_stats;
}

namespace sluice::router::engine {

struct placement {
  enum class kind {
    replica,  // run on `backend`, a replica (after the replay check when causal_check)
    primary,  // run on the primary (the write target: the caller passes the write gate)
    refused,  // no replica qualifies and routing.fallback = "error": refusal_code::no_replica
  };
  kind what = kind::primary;
  std::size_t backend = 0;    // replica only
  bool causal_check = false;  // replica only: check it replayed the requirement first
  std::chrono::milliseconds causal_wait{0};  // ... waiting at most this long for it
};

class backend_choice {
 public:
  // `target`: the unit's route (decide_route). `need`: what a read must see (read_your_writes).
  backend_choice(backend_view& view, const config::routing_config& routing, worker_stats& stats,
                 classify::route target, read_requirement need);

  placement first();
  // The replica could not lend a connection (down, refused): another replica, else the fallback.
  placement replica_unreachable(std::size_t backend);
  // The replica checked had not replayed the requirement within causal_wait: the primary has it.
  placement replica_behind();

 private:
  placement pick_read();
  placement fall_back();

  backend_view& view_;
  const config::routing_config& routing_;
  worker_stats& stats_;
  classify::route target_;
  read_requirement need_;
  scoring::backend_set tried_;  // replicas that refused this unit a connection
};

}  // namespace sluice::router::engine
