// Start-up construction of the shared state: users with SCRAM verifiers (backends are resolved by
// backend_addresses, a member).
#include "router/shared_state.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>
#include <thread>

namespace sluice::router {

namespace auth = backends::pg::auth;

shared_state::shared_state(config::config loaded) : cfg(std::move(loaded)) {
  if (cfg.workers == 0) cfg.workers = std::max(1u, std::thread::hardware_concurrency());
  users.reserve(cfg.users.size());
  for (const auto& user : cfg.users) {
    user_entry entry;
    entry.config = &user;
    if (user.auth == config::auth_method::scram_sha_256) {
      std::optional<auth::scram_verifier> verifier;
      if (user.scram_verifier) verifier = auth::parse_scram_verifier(*user.scram_verifier);
      if (!verifier && user.password) {
        // PBKDF2 once per user at start-up, not once per login.
        verifier = auth::make_scram_verifier(*user.password, auth::random_bytes(16), auth::default_scram_iterations);
      }
      if (!verifier) throw std::runtime_error("user '" + user.name + "': no usable SCRAM verifier or password");
      entry.verifier = std::move(*verifier);
    }
    user_index.emplace(user.name, users.size());
    users.push_back(std::move(entry));
  }
  user_commits = std::make_unique<commit_mark[]>(users.size());
  mock_verifier = auth::make_scram_verifier(auth::random_bytes(16), auth::random_bytes(16), auth::default_scram_iterations);
  mock_salt_secret = auth::random_bytes(32);

  for (std::size_t i = 0; i < cfg.backends.size(); ++i) {
    if (cfg.backends[i].role == config::backend_role::primary) primary_index = i;
  }
  control = std::make_unique<backend_control[]>(cfg.backends.size());
}

backends::pg::auth::scram_verifier shared_state::mock_verifier_for(std::string_view user_name) const {
  // The salt is a keyed hash of the name (PostgreSQL's scram_mock_salt does the same), so asking
  // twice for an unknown user gives the same salt, and unknown users differ from each other just as
  // real ones do. The keys are random: nothing can ever verify against them.
  auto verifier = mock_verifier;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), mock_salt_secret.data(), static_cast<int>(mock_salt_secret.size()),
       reinterpret_cast<const unsigned char*>(user_name.data()), user_name.size(), digest, &length);
  verifier.salt.assign(reinterpret_cast<const char*>(digest), 16);
  return verifier;
}

const user_entry* shared_state::find_user(std::string_view name) const {
  auto found = user_index.find(std::string(name));
  return found == user_index.end() ? nullptr : &users[found->second];
}

}  // namespace sluice::router
