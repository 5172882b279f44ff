// shared_state's settings snapshots: what they precompute per user for logins (issue 14), and that a
// reload recomputes it for the users it changed.
#include "router/shared_state.hpp"

#include "backends/pg/auth/scram.hpp"
#include "router/config/config.hpp"
#include "router/pg/client_login.hpp"
#include "tests/support/one_backend_config.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {

namespace auth = sluice::backends::pg::auth;
namespace config = sluice::router::config;

namespace wire = sluice::backends::pg::wire;
using sluice::router::pg::client_login;

// One md5 login of `entry`'s user answering with `password`: the step client_login ends in.
client_login::step md5_login(const sluice::router::shared_state& shared, const sluice::router::user_entry& entry,
                             const std::string& password) {
  client_login login({entry.config, &entry.verifier, entry.md5_stored}, shared.mock_verifiers, entry.config->name);
  wire::byte_buffer out;
  REQUIRE(login.start(out) == client_login::step::read);
  const auto request = wire::frame_message(wire::bytes_view(out.data(), out.size()), 1 << 20);
  REQUIRE(request.status == wire::frame_status::ok);
  const auto auth = wire::decode_authentication(request.message.payload);
  REQUIRE(auth);
  REQUIRE(auth->data.size() == 4);
  const std::string salt(reinterpret_cast<const char*>(auth->data.data()), 4);
  wire::byte_buffer answer;
  wire::encode_password_message(answer, auth::md5_password_response(entry.config->name, password, salt));
  const auto framed = wire::frame_message(wire::bytes_view(answer.data(), answer.size()), 1 << 20);
  REQUIRE(framed.status == wire::frame_status::ok);
  out.clear();
  return login.on_message(framed.message, out);
}

std::string config_text(const std::string& md5_password) {
  return sluice::testing::one_backend_config(R"([[users]]
name = "alice"
auth = "md5"
password = ")" + md5_password + R"("
[[users]]
name = "carol"
auth = "trust"
)");
}

}  // namespace

TEST_CASE("shared_state: md5 users get their stored hash with the snapshot, and again from a reload",
          "[shared_state][md5]") {
  sluice::router::shared_state shared(config::load_config_text(config_text("one"), "test.toml"));
  const auto* before = shared.find_user("alice");
  REQUIRE(before != nullptr);
  CHECK(before->md5_stored == auth::md5_stored_password("alice", "one"));
  REQUIRE(shared.find_user("carol") != nullptr);
  CHECK(shared.find_user("carol")->md5_stored.empty());  // trust: nothing to check

  shared.publish(config::load_config_text(config_text("two"), "test.toml"));
  const auto* after = shared.find_user("alice");
  REQUIRE(after != nullptr);
  CHECK(after->md5_stored == auth::md5_stored_password("alice", "two"));
  // A salted answer with the new password matches what a login compares it with; the old one does not.
  CHECK(auth::md5_response_from_stored(after->md5_stored, "salt") == auth::md5_password_response("alice", "two", "salt"));
  CHECK(auth::md5_response_from_stored(after->md5_stored, "salt") != auth::md5_password_response("alice", "one", "salt"));
  CHECK(md5_login(shared, *after, "two") == client_login::step::done);
  CHECK(md5_login(shared, *after, "one") == client_login::step::failed);
  CHECK(md5_login(shared, *before, "one") == client_login::step::done);
  // A session that logged in before keeps the entry of its own snapshot (snapshots are never freed).
  CHECK(before->md5_stored == auth::md5_stored_password("alice", "one"));
}

TEST_CASE("shared_state: building and reloading settings makes no mock verifier", "[shared_state][mock]") {
  sluice::router::shared_state shared(config::load_config_text(config_text("one"), "test.toml"));
  shared.publish(config::load_config_text(config_text("two"), "test.toml"));
  CHECK(shared.mock_verifiers.made() == 0);
}
