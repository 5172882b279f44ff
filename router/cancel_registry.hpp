// Maps the backend keys sluice hands to clients to the sessions holding them, across worker threads.
// A CancelRequest may arrive on any worker; the registry finds the owning session and posts the
// cancel to that session's worker, which forwards it to the server connection running the query.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>

namespace sluice::router {

class cancel_target {
 public:
  virtual ~cancel_target() = default;
  // Runs on the session's own worker thread.
  virtual void cancel_running_query() = 0;
};

class cancel_registry {
 public:
  struct key {
    std::int32_t process_id = 0;
    std::int32_t secret_key = 0;
  };

  // Issues a fresh, unique key for a session. Control path: one lock per client connection.
  key add(std::weak_ptr<cancel_target> target, boost::asio::any_io_executor executor);
  void remove(std::int32_t process_id);
  // Posts the cancel to the owning session when the key matches; unknown keys are ignored silently,
  // as PostgreSQL does.
  bool cancel(key request);

 private:
  struct entry {
    std::int32_t secret_key;
    std::weak_ptr<cancel_target> target;
    boost::asio::any_io_executor executor;
  };
  std::mutex mutex_;
  std::unordered_map<std::int32_t, entry> entries_;
};

}  // namespace sluice::router
