// Backend addresses: resolution at start, on SIGHUP, and in the background after the TTL or a failed
// connect (see backend_addresses.hpp).
#include "router/backend_addresses.hpp"

#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sluice::router {

namespace {
std::string describe(const boost::asio::ip::tcp::endpoint& address) {
  const auto ip = address.address();
  return (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" + std::to_string(address.port());
}
}  // namespace

backend_addresses::resolver backend_addresses::system_resolver() {
  return [](const std::string& host, std::uint16_t port, std::string& error) {
    boost::asio::io_context context;
    boost::asio::ip::tcp::resolver resolver(context);
    boost::system::error_code ec;
    const auto results = resolver.resolve(host, std::to_string(port), ec);
    std::vector<endpoint> out;
    if (ec) {
      error = ec.message();
      return out;
    }
    for (const auto& result : results) out.push_back(result.endpoint());
    if (out.empty()) error = "no address";
    return out;
  };
}

backend_addresses::backend_addresses(const std::vector<config::backend_config>& backends,
                                     std::chrono::milliseconds ttl, resolver resolve,
                                     std::function<clock::time_point()> now, std::size_t capacity)
    : ttl_(ttl), resolve_(std::move(resolve)), now_(std::move(now)) {
  entries_.resize(std::max(capacity, backends.size()));
  for (auto& item : entries_) item = std::make_unique<entry>();
  for (std::size_t i = 0; i < backends.size(); ++i) assign(i, backends[i], resolve_now(backends[i]));
}

backend_addresses::endpoint backend_addresses::resolve_now(const config::backend_config& backend) const {
  boost::system::error_code not_literal;
  const auto ip = boost::asio::ip::make_address(backend.host, not_literal);
  if (!not_literal) return endpoint(ip, backend.port);
  std::string error;
  const auto found = resolve_(backend.host, backend.port, error);
  if (found.empty()) {
    throw std::runtime_error("backend '" + backend.name + "': cannot resolve host '" + backend.host + "': " + error);
  }
  return found.front();
}

void backend_addresses::assign(std::size_t index, const config::backend_config& backend, const endpoint& address) {
  auto& item = *entries_.at(index);
  auto where = std::make_shared<location>();
  where->name = backend.name;
  where->host = backend.host;
  where->port = backend.port;
  boost::system::error_code not_literal;
  (void)boost::asio::ip::make_address(backend.host, not_literal);
  where->literal = !not_literal;
  item.address.store(std::make_shared<const endpoint>(address), std::memory_order_release);
  item.resolved_at.store(now_().time_since_epoch().count(), std::memory_order_relaxed);
  item.where.store(std::move(where), std::memory_order_release);
}

backend_addresses::~backend_addresses() { stop(); }

backend_addresses::endpoint backend_addresses::current(std::size_t backend) const {
  return *entries_[backend]->address.load(std::memory_order_acquire);
}

backend_addresses::endpoint backend_addresses::endpoint_for_connect(std::size_t backend) {
  auto& item = *entries_[backend];
  if (!item.where.load(std::memory_order_acquire)->literal) {
    const auto age = now_() - clock::time_point(clock::duration(item.resolved_at.load(std::memory_order_relaxed)));
    if (age >= ttl_) request(backend);
  }
  return current(backend);
}

void backend_addresses::connect_failed(std::size_t backend) {
  auto& item = *entries_[backend];
  if (item.where.load(std::memory_order_acquire)->literal) return;
  const auto age = now_() - clock::time_point(clock::duration(item.resolved_at.load(std::memory_order_relaxed)));
  if (age >= min_refresh_interval) request(backend);
}

void backend_addresses::request(std::size_t backend) {
  // One request at a time per backend: workers connecting at once ask once.
  if (entries_[backend]->requested.exchange(true, std::memory_order_acq_rel)) return;
  {
    std::lock_guard lock(mutex_);
    pending_ = true;
  }
  wake_.notify_one();
}

void backend_addresses::resolve_one(entry& item, std::vector<std::string>& lines) {
  const auto where = item.where.load(std::memory_order_acquire);
  if (!where || where->literal) return;
  std::string error;
  const auto found = resolve_(where->host, where->port, error);
  // A reload moved the backend meanwhile: its new address stands, this answer is for the old host.
  if (item.where.load(std::memory_order_acquire) != where) return;
  item.resolved_at.store(now_().time_since_epoch().count(), std::memory_order_relaxed);
  if (found.empty()) {
    lines.push_back("backend '" + where->name + "': cannot resolve host '" + where->host + "' (" + error +
                    "); keeping " + describe(*item.address.load(std::memory_order_acquire)));
    return;
  }
  const auto old = item.address.load(std::memory_order_acquire);
  if (*old == found.front()) return;
  item.address.store(std::make_shared<const endpoint>(found.front()), std::memory_order_release);
  lines.push_back("backend '" + where->name + "': host '" + where->host + "' now resolves to " + describe(found.front()) +
                  " (was " + describe(*old) + "); new server connections go there");
}

std::vector<std::string> backend_addresses::refresh_all() {
  std::vector<std::string> lines;
  for (auto& item : entries_) resolve_one(*item, lines);
  return lines;
}

std::vector<std::string> backend_addresses::run_pending() {
  std::vector<std::string> lines;
  for (auto& item : entries_) {
    // Cleared before resolving: a failure reported meanwhile asks again (after min_refresh_interval).
    if (item->requested.exchange(false, std::memory_order_acq_rel)) resolve_one(*item, lines);
  }
  return lines;
}

void backend_addresses::start(std::function<void(const std::string&)> on_change) {
  thread_ = std::thread([this, on_change = std::move(on_change)] {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || pending_; });
      if (stopping_) return;
      pending_ = false;
      lock.unlock();
      for (const auto& line : run_pending()) on_change(line);
      lock.lock();
    }
  });
}

void backend_addresses::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sluice::router
