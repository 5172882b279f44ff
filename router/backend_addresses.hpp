// Backend host names and the addresses they resolve to (issue 15, item 14). Resolved at start (a name
// that does not resolve is fatal), again on SIGHUP, and in the background when a connection is opened
// with an address older than health.dns_ttl or fails to open, so a stable DNS name follows a node
// replaced at a new address. PgBouncer does the same with dns_max_ttl.
//
// Workers read an address only when they open a server connection: one atomic shared_ptr load per
// connect, never a lock and never anything per message. Resolution (getaddrinfo, which blocks) runs on
// this class's own thread, never on a worker.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/pg/address_source.hpp"
#include "router/config/config.hpp"

namespace sluice::router {

class backend_addresses final : public backends::pg::address_source {
 public:
  using endpoint = boost::asio::ip::tcp::endpoint;
  using clock = std::chrono::steady_clock;
  // Resolves `host` for `port`; returns its addresses (the first is used), or none with `error` set.
  using resolver = std::function<std::vector<endpoint>(const std::string& host, std::uint16_t port, std::string& error)>;
  // getaddrinfo, through Asio's synchronous resolver.
  static resolver system_resolver();
  // How long after a resolution a failed connect may ask for another one (a flapping backend does not
  // turn into a stream of DNS queries).
  static constexpr std::chrono::seconds min_refresh_interval{1};

  // Resolves every backend now (on the calling thread); throws std::runtime_error naming the backend
  // and host when one does not resolve. `now`: the clock (tests inject one). `capacity`: backend slots
  // (shared_state::backend_slots; 0: as many as `backends`), for backends a reload adds.
  backend_addresses(const std::vector<config::backend_config>& backends, std::chrono::milliseconds ttl,
                    resolver resolve = system_resolver(), std::function<clock::time_point()> now = clock::now,
                    std::size_t capacity = 0);
  ~backend_addresses() override;
  backend_addresses(const backend_addresses&) = delete;
  backend_addresses& operator=(const backend_addresses&) = delete;

  // The address known now for `backend` (cheap, lock-free; any thread).
  endpoint current(std::size_t backend) const;
  // address_source: current(), and a background re-resolution when it is older than the TTL.
  endpoint endpoint_for_connect(std::size_t backend) override;
  // address_source: a background re-resolution, unless one ran less than min_refresh_interval ago.
  void connect_failed(std::size_t backend) override;

  // A reload: resolves `backend`'s host now (on the calling thread; throws std::runtime_error naming
  // the backend and host when it does not resolve), without changing anything.
  endpoint resolve_now(const config::backend_config& backend) const;
  // A reload added the backend in slot `index` or changed its host or port: new connections go to
  // `address` (from resolve_now) and later re-resolutions use the new host.
  void assign(std::size_t index, const config::backend_config& backend, const endpoint& address);

  // SIGHUP: resolves every host name again now, on the calling thread. A name that no longer resolves
  // keeps its address. Returns one line per change or failure, for the log.
  std::vector<std::string> refresh_all();
  // Resolves the backends whose re-resolution was requested; what the background thread runs each time
  // it wakes (tests call it directly). Returns one line per change or failure.
  std::vector<std::string> run_pending();

  // The background thread: started by main once workers run, stopped before they are destroyed.
  // `on_change` gets run_pending's lines (for the log).
  void start(std::function<void(const std::string&)> on_change);
  void stop();

 private:
  // Where a backend is configured to be; replaced whole by a reload (assign), read by the resolving threads.
  struct location {
    std::string name;      // the backend's name, for messages
    std::string host;
    std::uint16_t port = 0;
    bool literal = false;  // an IP address: never resolved again
  };
  struct entry {
    std::atomic<std::shared_ptr<const location>> where;  // null: a slot no backend has used yet
    std::atomic<std::shared_ptr<const endpoint>> address;
    std::atomic<clock::rep> resolved_at{0};  // clock ticks of the latest resolution attempt
    std::atomic<bool> requested{false};      // a re-resolution is asked for and not yet run
  };

  void request(std::size_t backend);
  // Resolves one backend and publishes a new address; appends a line to `lines` when it changed or failed.
  void resolve_one(entry& backend, std::vector<std::string>& lines);

  std::vector<std::unique_ptr<entry>> entries_;  // one per slot, allocated at start (never resized)
  std::chrono::milliseconds ttl_;
  resolver resolve_;
  std::function<clock::time_point()> now_;
  std::mutex mutex_;  // guards wake-ups of the background thread (not the addresses)
  std::condition_variable wake_;
  bool stopping_ = false;
  bool pending_ = false;
  std::thread thread_;
};

}  // namespace sluice::router
