// Registry of proxy-wide pool budgets (see pool_budgets.hpp).
#include "router/pool_budgets.hpp"

#include <iterator>

namespace sluice::router {

std::shared_ptr<backends::pool::pool_budget> pool_budgets::get(std::size_t backend, std::string_view database,
                                                               std::string_view user, std::size_t max) {
  std::string key = std::to_string(backend);
  key += '\0';
  key += database;
  key += '\0';
  key += user;
  std::lock_guard lock(mutex_);
  auto found = budgets_.find(key);
  if (found != budgets_.end()) {
    if (auto budget = found->second.lock()) return budget;
  }
  // Creating one: also forget the keys whose pools are all gone.
  std::erase_if(budgets_, [](const auto& entry) { return entry.second.expired(); });
  auto budget = std::make_shared<backends::pool::pool_budget>(max);
  budgets_[std::move(key)] = budget;
  return budget;
}

}  // namespace sluice::router
