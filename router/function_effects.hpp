// What a worker knows about the side effects of functions clients call, per database: learnt from
// pg_proc on a client's own server connection the first time a name is seen, so that a unit calling a
// function that may set_config() has its settings captured (and no other client ever inherits them),
// and a SELECT calling a VOLATILE function (which may write) runs on the primary. Single-threaded (one
// per worker); std only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::router {

struct function_effect {
  bool may_set_settings = false;          // its source calls set_config, SET/RESET, or runs dynamic SQL
  std::vector<std::string> custom_names;  // dotted settings its source names (pg_settings omits them)
  bool dynamic_names = false;             // it may set settings it does not name (EXECUTE, set_config(expr))
  bool is_volatile = false;               // some function of that name outside pg_catalog is VOLATILE:
                                          // it may write, so a statement calling it is no read
};

class function_effects {
 public:
  using clock = std::chrono::steady_clock;
  // Entries are forgotten after `ttl` (a function replaced without going through sluice is seen
  // again then) or when `generation` moves (a CREATE/ALTER/DROP FUNCTION through sluice, any worker).
  function_effects(const std::atomic<std::uint64_t>& generation, std::chrono::seconds ttl)
      : generation_(generation), ttl_(ttl) {}

  // nullptr: not known yet. No allocation.
  const function_effect* find(std::string_view database, std::string_view name) {
    check_generation();
    const auto db = by_database_.find(database);
    if (db == by_database_.end()) return nullptr;
    const auto found = db->second.find(name);
    return found == db->second.end() ? nullptr : &found->second;
  }

  void learn(std::string_view database, std::string name, function_effect effect) {
    auto& names = by_database_.try_emplace(std::string(database)).first->second;
    if (names.size() >= max_names_per_database) names.clear();  // bounded: table names look like calls too
    names.insert_or_assign(std::move(name), std::move(effect));
  }

  // Called periodically: forget everything past the ttl.
  void expire(clock::time_point now) {
    if (now - cleared_at_ < ttl_) return;
    by_database_.clear();
    cleared_at_ = now;
  }

  static constexpr std::size_t max_names_per_database = 10'000;

 private:
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };
  using names_map = std::unordered_map<std::string, function_effect, string_hash, std::equal_to<>>;

  void check_generation() {
    const auto now_generation = generation_.load(std::memory_order_relaxed);
    if (now_generation == seen_generation_) return;
    seen_generation_ = now_generation;
    by_database_.clear();
  }

  const std::atomic<std::uint64_t>& generation_;
  std::uint64_t seen_generation_ = 0;
  std::chrono::seconds ttl_;
  clock::time_point cleared_at_ = clock::now();
  std::unordered_map<std::string, names_map, string_hash, std::equal_to<>> by_database_;
};

}  // namespace sluice::router
