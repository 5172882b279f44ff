// Cancel-key registry (see cancel_registry.hpp).
#include "router/cancel_registry.hpp"

#include "backends/pg/auth/scram.hpp"

#include <boost/asio/post.hpp>

namespace sluice::router {

namespace {
std::int32_t random_int32() {
  std::int32_t value = 0;
  if (!backends::pg::auth::random_fill(&value, sizeof value)) {
    value = static_cast<std::int32_t>(std::random_device{}());
  }
  return value;
}
}  // namespace

cancel_registry::key cancel_registry::add(std::weak_ptr<cancel_target> target,
                                          boost::asio::any_io_executor executor) {
  std::lock_guard lock(mutex_);
  for (;;) {
    // Positive process ids, like real ones; the secret is what protects the cancel.
    const std::int32_t process_id = random_int32() & 0x7fffffff;
    if (process_id == 0 || entries_.contains(process_id)) continue;
    const std::int32_t secret = random_int32();
    entries_.emplace(process_id, entry{secret, std::move(target), std::move(executor)});
    return key{process_id, secret};
  }
}

void cancel_registry::remove(std::int32_t process_id) {
  std::lock_guard lock(mutex_);
  entries_.erase(process_id);
}

bool cancel_registry::cancel(key request) {
  std::weak_ptr<cancel_target> target;
  boost::asio::any_io_executor executor;
  {
    std::lock_guard lock(mutex_);
    auto found = entries_.find(request.process_id);
    if (found == entries_.end() || found->second.secret_key != request.secret_key) return false;
    target = found->second.target;
    executor = found->second.executor;
  }
  boost::asio::post(executor, [target = std::move(target)] {
    if (auto session = target.lock()) session->cancel_running_query();
  });
  return true;
}

}  // namespace sluice::router
