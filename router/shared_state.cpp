// The shared state: settings snapshots (users with SCRAM verifiers) built at start and by reloads
// (backends are resolved by backend_addresses, a member).
#include "router/shared_state.hpp"

#include "router/config/reload_plan.hpp"

#include <algorithm>
#include <stdexcept>

namespace sluice::router {

namespace auth = backends::pg::auth;

shared_state::shared_state(config::config loaded)
    : backend_slots(config::backend_capacity(loaded.backends.size())),
      current_((loaded.workers = config::resolve_workers(loaded.workers),
                publish_locked(std::move(loaded), nullptr))) {
  const auto& backends = cfg().backends;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].role == config::backend_role::primary) primary_index = i;
  }
  control = std::make_unique<backend_control[]>(backend_slots);
}

std::unique_ptr<settings_snapshot> shared_state::build(config::config next, const settings_snapshot* previous) {
  auto built = std::make_unique<settings_snapshot>();
  built->cfg = std::move(next);
  built->users.reserve(built->cfg.users.size());
  for (const auto& user : built->cfg.users) {
    user_entry entry;
    entry.config = &user;
    auto& marks = commit_marks_[user.name];
    if (!marks) marks = std::make_unique<commit_mark>();
    entry.commits = marks.get();
    if (user.auth == config::auth_method::scram_sha_256) {
      std::optional<auth::scram_verifier> verifier;
      // Unchanged credentials keep their verifier (and its salt): PBKDF2 only for users that changed.
      const auto* before = previous != nullptr ? previous->find_user(user.name) : nullptr;
      if (before != nullptr && before->config->auth == user.auth && before->config->password == user.password &&
          before->config->scram_verifier == user.scram_verifier) {
        verifier = before->verifier;
      }
      if (!verifier && user.scram_verifier) verifier = auth::parse_scram_verifier(*user.scram_verifier);
      if (!verifier && user.password) {
        // PBKDF2 once per user, not once per login.
        verifier = auth::make_scram_verifier(*user.password, auth::random_bytes(16), auth::default_scram_iterations);
      }
      if (!verifier) throw std::runtime_error("user '" + user.name + "': no usable SCRAM verifier or password");
      entry.verifier = std::move(*verifier);
    }
    if (user.auth == config::auth_method::md5 && user.password) {
      entry.md5_stored = auth::md5_stored_password(user.name, *user.password);
    }
    built->user_index.emplace(user.name, built->users.size());
    built->users.push_back(std::move(entry));
  }
  return built;
}

const settings_snapshot* shared_state::publish_locked(config::config next, const settings_snapshot* previous) {
  auto built = build(std::move(next), previous);
  const auto* published = built.get();
  snapshots_.push_back(std::move(built));
  return published;
}

const settings_snapshot& shared_state::publish(config::config next) {
  const auto* published = publish_locked(std::move(next), current_.load(std::memory_order_acquire));
  current_.store(published, std::memory_order_release);
  return *published;
}

const user_entry* settings_snapshot::find_user(std::string_view name) const {
  auto found = user_index.find(std::string(name));
  return found == user_index.end() ? nullptr : &users[found->second];
}

}  // namespace sluice::router
