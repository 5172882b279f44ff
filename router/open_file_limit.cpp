// The open-file budget (see open_file_limit.hpp).
#include "router/open_file_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace sluice::router {

namespace {

constexpr std::uint64_t per_backend = 2;  // the health probe's connection, a switchover's admin one
constexpr std::uint64_t per_worker = 4;   // its listening socket, epoll, eventfd, timerfd
constexpr std::uint64_t margin = 32;      // stdio, the log, the admin API and its clients, cancel requests

}  // namespace

open_file_budget client_budget(std::uint64_t open_files, const config::config& cfg, unsigned workers) {
  open_file_budget budget;
  budget.open_files = open_files;
  std::uint64_t per_backend_servers = 0;
  for (const auto& user : cfg.users) per_backend_servers += std::max<std::uint32_t>(1, user.pool_size.value_or(cfg.pool.size));
  const std::uint64_t backends = cfg.backends.size();
  budget.servers = backends * per_backend_servers;
  budget.reserved = budget.servers + backends * per_backend + std::uint64_t{workers} * per_worker + margin;
  budget.clients = open_files > budget.reserved ? open_files - budget.reserved : 0;
  return budget;
}

std::uint64_t raise_open_file_limit(std::string& problem) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    problem = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return 1024;
  }
  rlim_t wanted = limit.rlim_max;
  if (wanted == RLIM_INFINITY) {
    // The kernel refuses more than fs.nr_open descriptors per process whatever the limit says.
    std::uint64_t nr_open = 1'048'576;
    std::ifstream("/proc/sys/fs/nr_open") >> nr_open;
    wanted = static_cast<rlim_t>(nr_open);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = wanted;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit.rlim_cur = wanted;
    } else {
      problem = std::string("setrlimit(RLIMIT_NOFILE) to ") + std::to_string(wanted) + ": " + std::strerror(errno);
    }
  }
  return limit.rlim_cur == RLIM_INFINITY ? static_cast<std::uint64_t>(wanted) : static_cast<std::uint64_t>(limit.rlim_cur);
}

}  // namespace sluice::router
