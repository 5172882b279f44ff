// SIGHUP and POST /reload: loads the config file again, compares it with the settings in force
// (config::plan_reload) and applies what can change while sluice runs; docs/configuration.md, "What
// reload applies", lists what does and what needs a restart. Control path: may throw inside, never out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "router/config/config.hpp"
#include "router/shared_state.hpp"

namespace sluice::backends::pg {
class prober;
}

namespace sluice::router {

class worker;

// What a reload did, for the log line, POST /reload's JSON and `sluicectl reload`.
struct reload_report {
  bool ok = false;
  std::string error;                       // !ok: why nothing changed (names file, line and key)
  std::vector<std::string> applied;        // one line per change applied
  std::vector<std::string> needs_restart;  // one line per changed key that only a restart applies
  std::string summary() const;             // one line for the log
  std::string to_json() const;             // {"reloaded":true,"applied":[...],"needs_restart":[...]} or {"error":...}
};

// Lowers limits.max_client_connections to what fits beside the server connections under the open-file
// limit (raised first), with one line saying so (`warn`) (router/open_file_limit.hpp). `cfg.workers` resolved.
void fit_clients_to_open_files(config::config& cfg, bool warn = true);

class reloader {
 public:
  // `probes`: may be null (no probe threads, as in tests); set once probes exist.
  reloader(shared_state& shared, std::vector<worker*> workers);
  void set_prober(backends::pg::prober* probes) { probes_ = probes; }
  // Reloads now; one at a time (shared_state::reload_mutex). Never throws.
  reload_report reload();

 private:
  shared_state& shared_;
  std::vector<worker*> workers_;
  backends::pg::prober* probes_ = nullptr;
};

}  // namespace sluice::router
