// What the admin API's POST actions do beyond sluice's own state: callbacks main.cpp provides (reload
// shares SIGHUP's function; switchover and failover are the failover orchestrator's). Control path.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace sluice::router::admin {

// The answer of an action, passed through to the HTTP client as it is.
struct action_result {
  int status = 200;  // HTTP status: 200 done, 400 bad target, 404 unknown backend, 409 refused now
                     // (another switchover runs, the target cannot be promoted), 500/503 failed
  std::string body;  // a JSON object; on failure it has an "error" member with a message for operators
};

// Any callback may be left empty: its endpoint then answers 501 with a JSON error. reload, switchover
// and failover run on the admin server's action thread, never on the HTTP thread, so the GET
// endpoints keep answering while a switchover takes seconds. At most one switchover or failover runs
// at a time (a second gets 409 from the admin server without reaching the callback). An exception
// thrown by a callback becomes a 500 with its message.
struct admin_actions {
  // POST /reload: re-reads what may change at run time (QoS policies) and applies it, or keeps the
  // old configuration and says why (status 400 or 500 with "error").
  std::function<action_result()> reload;
  // POST /switchover {"to": "NAME"}: a planned promotion of replica NAME; blocks until done or failed.
  std::function<action_result(const std::string& target)> switchover;
  // POST /failover: promotes the best replica now (the primary is gone); blocks until done or failed.
  std::function<action_result()> failover;
  // GET /failover: the orchestrator's state as a JSON object (phase, last operation, held writes...).
  // Called on the HTTP thread, also while a switchover runs (the drill polls it): it must answer at
  // once, taking at most a lock that is only ever held briefly.
  std::function<std::string()> failover_status;
};

// `text` as a JSON string literal, quotes included (for building action_result bodies by hand).
std::string json_string(std::string_view text);

}  // namespace sluice::router::admin
