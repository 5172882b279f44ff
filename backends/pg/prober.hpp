// Active health probes of PostgreSQL backends with libpq, off the data-path threads: one small thread
// per backend keeps a connection and, every probe interval, asks in one round trip for the role, WAL
// positions, last replay time and server clock, timing the round trip. Results go to a callback.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "scoring/probe_result.hpp"

namespace sluice::backends::pg {

struct probe_target {
  std::string name;
  std::string host;
  std::uint16_t port = 5432;
  std::string user;
  std::optional<std::string> password;
  std::string database;
};

// One probe's outcome: what the scorer reads (scoring::probe_result: role, WAL positions, replay time,
// server clock, round trip), and why the backend was unreachable when it was.
struct probe_sample {
  scoring::probe_result probe;
  std::string error;            // connect, timeout or query error when !probe.reachable
  bool timed_out = false;       // !probe.reachable because the server did not answer within the probe
                                // timeout (a stall, perhaps), not because it refused or failed
  std::string heartbeat_error;  // heartbeat = true: why the heartbeat row could not be written/read
};

struct prober_settings {
  std::chrono::milliseconds interval{250};
  std::chrono::milliseconds timeout{1000};  // connect and query, each
  bool heartbeat = false;                   // write/read a sluice_heartbeat row for exact time lag
};

class prober {
 public:
  using callback = std::function<void(std::size_t backend, const probe_sample& sample)>;

  prober(std::vector<probe_target> targets, prober_settings settings, callback on_sample);
  ~prober();
  prober(const prober&) = delete;
  prober& operator=(const prober&) = delete;

  void start();
  void stop();
  // A reload (control path; any thread but a probe thread): probes `target` in slot `index` from now on,
  // a new connection and thread (one already there is stopped first: a backend that moved).
  void set_target(std::size_t index, probe_target target);
  // A reload removed the backend in slot `index`: its thread stops (joined here).
  void remove_target(std::size_t index);

  // Runs one probe synchronously against `target` (also used by admin actions and tests). `state` is
  // the caller's libpq connection (PGconn*), kept between calls; null starts a new one.
  static probe_sample probe_once(const probe_target& target, const prober_settings& settings, void*& state);
  static void close_state(void*& state);

 private:
  // One backend's probe thread. The thread reads only its own slot (which outlives it).
  struct probe_slot {
    probe_target target;
    std::thread thread;
    bool stop = false;  // under mutex_: this slot's thread ends
  };
  void run(std::size_t index, probe_slot* slot);
  // Stops and joins the thread of slots_[index], if any (the caller holds control_mutex_).
  void stop_slot(std::size_t index);

  prober_settings settings_;
  callback on_sample_;
  std::mutex control_mutex_;  // start, stop, set_target, remove_target: one at a time
  std::vector<std::unique_ptr<probe_slot>> slots_;  // by backend index; null: no backend there
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
};

}  // namespace sluice::backends::pg
