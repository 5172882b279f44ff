// The registry of proxy-wide connection budgets, one per (backend, database, user), shared by the
// workers' pools of that key. Looked up when a worker creates a pool (control path, under a mutex).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "backends/pool/pool_budget.hpp"

namespace sluice::router {

class pool_budgets {
 public:
  // The key's budget, created with `max` on first use. A budget lives as long as some worker has a
  // pool for its key (the registry holds it weakly), so dropped pools leave nothing behind.
  std::shared_ptr<backends::pool::pool_budget> get(std::size_t backend, std::string_view database,
                                                   std::string_view user, std::size_t max);

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<backends::pool::pool_budget>, std::less<>> budgets_;
};

}  // namespace sluice::router
