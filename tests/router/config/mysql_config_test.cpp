// [mysql]: the MySQL listener, its backends and users (issue 12): defaults, and invalid settings named
// by key and line.
#include <catch2/catch.hpp>

#include <string>

#include "router/config/config.hpp"
#include "router/config/reload_plan.hpp"

namespace cfg = sluice::router::config;
using Catch::Matchers::Contains;

namespace {

const std::string pg_part = R"(
[[backends]]
name = "pg1"
host = "127.0.0.1"
role = "primary"

[[users]]
name = "app"
password = "pw"
)";

cfg::config load(const std::string& text) { return cfg::load_config_text(text, "t.toml"); }

std::string error_of(const std::string& text) {
  try {
    load(text);
  } catch (const cfg::config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("[mysql] absent: no MySQL listener", "[config][mysql]") {
  const auto loaded = load(pg_part);
  CHECK_FALSE(loaded.mysql.enabled);
  CHECK(loaded.mysql.backends.empty());
}

TEST_CASE("[mysql] with backends and users: defaults and values", "[config][mysql]") {
  const auto loaded = load(pg_part + R"(
[mysql]
listen = "127.0.0.1:3399"

[[mysql.backends]]
name = "maria1"
host = "127.0.0.1"
role = "primary"

[[mysql.backends]]
name = "maria2"
host = "127.0.0.1"
port = 3307

[[mysql.users]]
name = "app"
password = "app_pw"

[[mysql.users]]
name = "hashed"
password_hash = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
server_user = "sluice_app"
server_password = "app_pw"
pool_mode = "session"
)");
  const auto& mysql = loaded.mysql;
  REQUIRE(mysql.enabled);
  CHECK(mysql.listen_host == "127.0.0.1");
  CHECK(mysql.listen_port == 3399);
  CHECK(mysql.server_version == "5.5.5-10.11.0-sluice");
  CHECK_FALSE(mysql.local_infile);
  REQUIRE(mysql.backends.size() == 2);
  CHECK(mysql.backends[0].port == 3306);  // MySQL's default port, not PostgreSQL's
  CHECK(mysql.backends[0].role == cfg::backend_role::primary);
  CHECK(mysql.backends[1].port == 3307);
  CHECK(mysql.backends[1].role == cfg::backend_role::replica);
  REQUIRE(mysql.users.size() == 2);
  CHECK(mysql.users[0].server_user == "app");
  CHECK(mysql.users[0].server_password == "app_pw");
  CHECK(mysql.users[1].password_hash == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
  CHECK(mysql.users[1].mode == cfg::pool_mode::session);
  // The PostgreSQL side is unchanged beside it.
  CHECK(loaded.backends.size() == 1);
  CHECK(loaded.backends[0].port == 5432);
}

TEST_CASE("[mysql] errors name the key and the line", "[config][mysql]") {
  struct error_case {
    std::string text;
    std::vector<std::string> expected;
  };
  const std::string backend = R"(
[[mysql.backends]]
name = "maria1"
host = "127.0.0.1"
role = "primary"
)";
  const std::string user = R"(
[[mysql.users]]
name = "app"
password = "pw"
)";
  const std::vector<error_case> cases = {
      {"[mysql]\n" + user, {"mysql.backends", "at least one [[mysql.backends]] entry is required"}},
      {"[mysql]\n" + backend, {"mysql.users", "at least one [[mysql.users]] entry is required"}},
      {"[mysql]\nlisten = \"nonsense\"\n" + backend + user, {"t.toml:2:", "mysql.listen", "host:port"}},
      {"[mysql]\nlistne = \"127.0.0.1:3307\"\n" + backend + user, {"t.toml:2:", "mysql.listne", "did you mean 'listen'"}},
      {"[mysql]\n[[mysql.backends]]\nname = \"m\"\nhost = \"h\"\n" + user, {"mysql.backends", "no backend has role = \"primary\""}},
      {"[mysql]\n" + backend + "\n[[mysql.users]]\nname = \"app\"\n", {"mysql.users[0].password", "password or password_hash"}},
      {"[mysql]\n" + backend + "\n[[mysql.users]]\nname = \"app\"\npassword_hash = \"2470C0C06DEE\"\n",
       {"t.toml:10:", "mysql.users[0].password_hash", "40 hex digits"}},
      {"[mysql]\n" + backend + "\n[[mysql.users]]\nname = \"app\"\npassword_hash = \"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\"\n",
       {"mysql.users[0].server_password", "needs server_password"}},
      {"[mysql]\n" + backend + "\n[[mysql.users]]\nname = \"app\"\npassword = \"x\"\npassword_hash = \"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\"\n",
       {"mysql.users[0].password_hash", "not both"}},
      {"[mysql]\n" + backend + user + user, {"mysql.users[1].name", "duplicate name \"app\""}},
      {"[mysql]\nserver_version = \"\"\n" + backend + user, {"t.toml:2:", "mysql.server_version"}},
      {"[mysql]\nserver_version = \"" + std::string(65, 'v') + "\"\n" + backend + user,
       {"t.toml:2:", "mysql.server_version", "1 to 64 bytes"}},
      {"[mysql]\nlocal_infile = \"yes\"\n" + backend + user, {"t.toml:2:", "mysql.local_infile", "expected true or false"}},
      {"[mysql]\nlisten = \"127.0.0.1:6432\"\n" + backend + user,
       {"t.toml:2:", "key 'mysql.listen'", "the same address as listen (PostgreSQL clients)"}},
      {"[mysql]\nlisten = \"0.0.0.0:6432\"\n" + backend + user, {"the same address as listen"}},
      {"[mysql]\n" + backend + backend + user, {"mysql.backends[1].name", "duplicate name \"maria1\"",
                                                   "a second primary"}},
  };
  for (const auto& c : cases) {
    INFO("config:\n" << c.text);
    const std::string message = error_of(pg_part + c.text);
    INFO("message: " << message);
    REQUIRE_FALSE(message.empty());
    for (const auto& part : c.expected) {
      // Line numbers in `expected` count from the case text; pg_part's lines come first.
      if (part.rfind("t.toml:", 0) == 0) {
        const auto line = std::stoi(part.substr(7));
        const auto shifted = "t.toml:" + std::to_string(line + 9) + ":";
        CHECK_THAT(message, Contains(shifted));
      } else {
        CHECK_THAT(message, Contains(part));
      }
    }
  }
}

TEST_CASE("reload: [mysql] changes wait for a restart", "[config][mysql][reload]") {
  const std::string mysql = R"(
[mysql]
[[mysql.backends]]
name = "maria1"
host = "127.0.0.1"
role = "primary"
[[mysql.users]]
name = "app"
password = "pw"
)";
  const auto current = load(pg_part + mysql);
  auto changed_text = pg_part + mysql;
  changed_text.replace(changed_text.find("password = \"pw\"\n", changed_text.find("[mysql]")), 16, "password = \"other\"\n");
  const auto loaded = load(changed_text);
  REQUIRE(loaded.mysql.users[0].password == "other");
  const auto plan = cfg::plan_reload(current, loaded, cfg::backend_capacity(current.backends.size()));
  REQUIRE(plan.needs_restart.size() == 1);
  CHECK(plan.needs_restart[0] == "mysql changed");  // a secret may be in it: not printed
  CHECK(plan.merged.mysql == current.mysql);
}
