// What the engine asks of its worker's picture of the backends when it places a read: implemented by
// router::worker (scorer, probes, mark-downs), faked in the engine's unit tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "scoring/common.hpp"

namespace sluice::router::engine {

class backend_view {
 public:
  // A replica for the next read, or nullopt. `exclude`: backends to skip this time. `min_position`:
  // only replicas whose last probe shows they replayed at least this far (read_your_writes; 0: any).
  virtual std::optional<std::size_t> choose_replica(scoring::backend_set exclude, std::uint64_t min_position) = 0;
  // The replica whose last probe shows the furthest replay position, skipping `exclude` and backends
  // marked down: the likeliest to have replayed a commit younger than the last probe.
  virtual std::optional<std::size_t> most_advanced_replica(scoring::backend_set exclude) const = 0;
  // Every probed replica has replayed `position`: a requirement up to it is met everywhere.
  virtual bool all_replicas_reached(std::uint64_t position) const = 0;
  // The primary's position at its latest probe (consistency_scope = "global"); 0 before the first.
  virtual std::uint64_t primary_probe_position() const = 0;

 protected:
  ~backend_view() = default;
};

}  // namespace sluice::router::engine
