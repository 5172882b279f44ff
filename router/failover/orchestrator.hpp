// Switchover, failover and rejoin: the control-plane steps that move the primary role between
// PostgreSQL backends, done over libpq while the write gate holds new writes. Also the failure
// monitor: fed every probe sample, it notices a primary that stopped answering and, with
// failover.auto_failover, fails over after failover.timeout. One operation at a time (a second one
// while one runs is refused: 409). Blocking calls: run them on an admin thread, never a worker's.
// Steps and their order are explained in orchestrator.cpp and docs/operations.md.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backends/pg/prober.hpp"
#include "router/shared_state.hpp"

namespace sluice::router::failover {

// One timed step of an operation.
struct step_report {
  std::string name;                    // "hold_writes", "drain", "fence_old_primary", "catch_up", "promote"...
  std::chrono::milliseconds took{0};
  bool ok = true;
  std::string detail;                  // what happened, for the operator
};

// What a switchover, failover or rejoin did (GET /failover/last shows the last one; the drill prints it).
struct operation_report {
  std::string kind;             // "switchover", "failover" or "rejoin"
  bool ok = false;
  int status = 200;             // HTTP status the admin API answers with: 200, 400, 404, 409, 500
  std::string error;            // why it failed (empty when ok)
  std::string trigger;          // "api" or "auto" (failure monitor)
  std::string old_primary;      // backend names
  std::string new_primary;
  std::vector<step_report> steps;
  std::int64_t started_unix_ms = 0;
  std::chrono::milliseconds total{0};
  // Request (switchover) or first failed probe of the primary (failover) to writes being held.
  std::chrono::milliseconds detect{0};
  std::chrono::milliseconds writes_held_for{0};  // gate closed to gate open
  std::uint64_t held_writes = 0;                 // units that waited at the gate
  std::uint64_t held_timed_out = 0;              // ... and were refused after hold_timeout
  std::uint32_t in_flight_at_hold = 0;           // units running on the old primary when the gate closed
  std::uint32_t in_flight_after_drain = 0;       // ... still running after drain_timeout (terminated)
  std::uint32_t terminated_backends = 0;         // sessions terminated on the old primary
  std::string old_primary_lsn;                   // switchover: its last WAL position; failover: last probed
  std::string target_lsn_at_start;              // the target's replay position when the operation began
  std::string target_lsn_at_promotion;          // ... when it was promoted
  std::uint64_t lag_bytes_at_start = 0;          // old_primary_lsn - target_lsn_at_start
  std::uint64_t lag_bytes_at_promotion = 0;      // old_primary_lsn - target_lsn_at_promotion (failover: may be lost)
  std::vector<std::string> repointed;            // replicas now following the new primary
  std::vector<std::string> warnings;             // things an operator should look at

  std::string to_json() const;
};

// The failure monitor's view of one backend, from the probes (GET /failover shows it).
struct backend_view {
  bool probed = false;
  bool reachable = false;
  bool in_recovery = false;        // last reachable probe
  bool seen_as_primary = false;    // last reachable probe said "not in recovery"
  std::uint64_t lsn = 0;           // last reachable probe: current (primary) or replay (replica) LSN
  std::uint64_t receive_lsn = 0;
  std::chrono::steady_clock::time_point unreachable_since{};  // first failed probe of this outage
  std::chrono::steady_clock::time_point primary_since{};      // first probe of this stretch as primary
};

class orchestrator {
 public:
  explicit orchestrator(shared_state& shared);
  ~orchestrator();
  orchestrator(const orchestrator&) = delete;
  orchestrator& operator=(const orchestrator&) = delete;

  // Starts / stops the monitor thread: automatic failovers (auto_failover = true), and fencing a
  // backend that claims the primary role while refusing writes (see resolve_read_only_claimants).
  void start();
  void stop();

  // Planned switchover to the replica named `target` (POST /switchover {"to": NAME}). A fenced target
  // (an old primary) is first rejoined with failover.rejoin_command when one is configured.
  operation_report switchover(std::string_view target);
  // Unplanned failover (POST /failover {"to": NAME?, "force": bool}): promotes `target`, or the most
  // advanced reachable replica. Refused (409) while the primary answers its probes, unless `force`.
  operation_report failover(std::string_view target = {}, bool force = false);
  // Runs failover.rejoin_command for the backend `name` (an old primary), waits until it probes as a
  // replica, and lifts its fence (POST /rejoin {"name": NAME}).
  operation_report rejoin(std::string_view name);

  // Every probe sample, from the prober threads (one per backend; concurrent calls are fine).
  void on_probe(std::size_t backend, const backends::pg::probe_sample& sample);

  // The write target as the orchestrator sees it (promoted, else the one unfenced backend probes show
  // as primary, else the configured one); nullopt while there is none or several.
  std::optional<std::size_t> current_primary() const;
  bool busy() const;
  // GET /failover: settings, gate, monitor view, the running operation's name and the last report.
  std::string status_json() const;
  // The last finished operation (kind empty when none yet).
  operation_report last_report() const;

 private:
  struct run_context;

  operation_report run_switchover(std::size_t target, run_context& run);
  operation_report run_failover(std::optional<std::size_t> target, bool force, std::string trigger, run_context& run);
  bool run_rejoin(std::size_t backend, run_context& run, operation_report& report);
  std::optional<std::size_t> find_backend(std::string_view name) const;
  // A backend slot a configured backend uses (not an unused slot, not one a reload removed).
  bool in_use(std::size_t backend) const;
  std::optional<std::size_t> current_primary_locked() const;
  void finish(operation_report& report, std::chrono::steady_clock::time_point started);
  void monitor_loop();
  void resolve_read_only_claimants();

  shared_state& shared_;
  std::mutex operation_mutex_;             // one operation at a time (try_lock: 409 when taken)
  mutable std::mutex mutex_;               // guards everything below
  std::condition_variable wake_;
  std::vector<backend_view> views_;
  std::string running_;                    // the running operation's kind, "" when idle
  operation_report last_;
  bool auto_requested_ = false;            // the monitor wants a failover
  bool split_check_requested_ = false;     // two unfenced backends claim the primary role: check them
  std::chrono::steady_clock::time_point next_split_check_{};
  std::chrono::steady_clock::time_point outage_started_{};  // the primary's first failed probe
  std::chrono::steady_clock::time_point next_auto_attempt_{};
  bool monitor_held_gate_ = false;         // the gate is closed because the primary stopped answering
  bool stopping_ = false;
  std::thread monitor_;
};

}  // namespace sluice::router::failover
