// Units of work (a transaction, or a statement outside one) and what they must pass before they run:
// tenant QoS admission and, for the primary, the write gate of a switchover or a stalled primary. The
// same for every front end; the front end supplies the hooks below and renders the refusals.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "policies/tenant_rules.hpp"
#include "router/engine/refusal.hpp"
#include "router/qos/tenant_gate.hpp"

namespace sluice::router {
class worker;
}

namespace sluice::router::engine {

namespace asio = boost::asio;

// What a front end lends unit_admission while a unit waits.
class admission_hooks {
 public:
  // Answers already due to the client (earlier pipelined requests) go out before a unit waits.
  virtual asio::awaitable<bool> flush_client() = 0;
  // The client socket became readable during a wait: true when that means it has gone (closed, reset,
  // or said goodbye in its protocol); anything else is a pipelined request, read after the wait.
  virtual bool client_left() = 0;

 protected:
  ~admission_hooks() = default;
};

// Who the session is, for tenant rules.
struct session_identity {
  std::string_view user;
  std::string_view database;
  std::string_view application_name;
};

// How a wait before a unit ended.
enum class verdict {
  go,           // admitted (or the primary answers again): run the unit
  refused,      // not run: the refusal is for the client
  client_gone,  // the client left while it waited: nothing to tell
};

// Why a write waited for a stalled primary and how that ended.
enum class stall_wait {
  primary_back,  // a primary answers again: go on
  timed_out,     // failover.hold_timeout passed since the stall began (or it is no stall any more)
  cancelled,     // the client cancelled or left (refusal query_canceled)
};

class unit_admission {
 public:
  unit_admission(worker& owner, asio::ip::tcp::socket& client, admission_hooks& hooks);
  // A session ending mid-wait (its worker stopped) gives its queue place and counts back.
  ~unit_admission();
  unit_admission(const unit_admission&) = delete;
  unit_admission& operator=(const unit_admission&) = delete;

  bool open() const noexcept { return open_; }    // a unit has started and not ended
  void begin() noexcept { open_ = true; }
  bool waiting() const noexcept { return waiting_; }  // queued by QoS or held by the write gate now
  bool on_primary() const noexcept { return on_primary_; }  // counted by the write gate
  // A cancel request arrived: true when it ended a wait (the caller forwards nothing to a server).
  bool cancel_wait();

  // Tenant QoS admission for a unit starting with `sql` (its tags name the tenant). `sql` is read
  // before any suspension. The refusal is filled when the verdict is refused.
  asio::awaitable<verdict> admit(const session_identity& who, std::string_view sql, refusal& why);
  // The write gate: without waiting when it is open (the common case), else pass_write_gate.
  bool write_gate_open_now();
  asio::awaitable<verdict> pass_write_gate(refusal& why);
  // A write waits for a primary that stopped answering probes (see the .cpp); cancelled fills `why`.
  asio::awaitable<stall_wait> wait_for_stalled_primary(std::chrono::steady_clock::time_point since, refusal& why);

  void add_db_time(std::chrono::nanoseconds elapsed) noexcept { db_time_ += elapsed; }
  // Releases the admission and the write-gate count of the unit, whatever is held (no-op when nothing).
  void end();

  // The tenant for the admin API: the admitted unit's, else the session's when tags cannot change it.
  std::optional<std::size_t> tenant() const noexcept;

 private:
  std::size_t resolve_tenant(const session_identity& who, std::string_view sql);
  static constexpr std::chrono::milliseconds stall_poll_interval{20};

  worker& owner_;
  asio::ip::tcp::socket& client_;
  admission_hooks& hooks_;
  bool open_ = false;              // a unit has started and not ended
  bool admitted_ = false;          // ... holding a QoS admission, released at its end
  bool on_primary_ = false;        // ... counted by the write gate as running on the primary
  bool waiting_ = false;           // queued by QoS or held by the write gate right now
  bool cancel_requested_ = false;  // a cancel arrived while waiting_: end the wait with query_canceled
  qos::queued_admission queued_;   // while queued by QoS
  std::size_t tenant_ = 0;
  std::chrono::steady_clock::time_point admitted_at_{};
  std::chrono::nanoseconds db_time_{0};  // server time of the unit's batches so far
  std::shared_ptr<const policies::tenant_rules> tenant_rules_;
  std::uint64_t tenant_rules_generation_ = 0;
  std::size_t session_tenant_ = policies::tenant_rules::npos;  // when tags cannot change it
};

}  // namespace sluice::router::engine
