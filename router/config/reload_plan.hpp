// What a reload changes (SIGHUP, POST /reload): the config in force and the file just loaded, compared
// key by key. Pure: the process applies the plan (router/reloader.cpp). Keys that cannot change while
// sluice runs keep their old value in the merged config and are listed as needing a restart.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "router/config/config.hpp"

namespace sluice::router::config {

// Backend slots: the backends a process can have over its life, removed ones included (a removed
// backend keeps its index, see backend_config::removed). min(64, max(16, 2 x configured at start)); 64
// is the scorer's limit (scoring::max_backends). A reload that needs more is refused.
std::size_t backend_capacity(std::size_t configured_at_start);

struct reload_plan {
  config merged;                           // what to publish: the new file, restart-only keys as before
  std::vector<std::string> applied;        // one line per change applied ("pool.size 20 -> 30")
  std::vector<std::string> needs_restart;  // one line per changed key kept as it was ("listen_port 6432 -> 6433")
  std::vector<std::string> users_added;    // names
  std::vector<std::string> users_removed;
  std::vector<std::string> users_changed;
  std::vector<std::size_t> backends_added;    // slot indexes in merged.backends
  std::vector<std::size_t> backends_removed;  // slot indexes, now marked removed
  std::vector<std::size_t> backends_moved;    // slot indexes whose host or port changed
  bool pools_changed = false;  // [pool] or a user's pool_size, mode or server credentials changed
};

// `current`: the config in force (its backends are slots, removed ones marked); `loaded`: the file
// just read, with workers resolved (0 -> the core count) and the client limit fitted to the open-file
// limit, as at start. Throws config_error, and nothing may change, when the new file cannot be applied:
// more backends than `capacity` slots, or the backend configured as primary removed.
reload_plan plan_reload(const config& current, const config& loaded, std::size_t capacity);

}  // namespace sluice::router::config
