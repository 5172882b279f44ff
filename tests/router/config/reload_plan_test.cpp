// The reload plan (router/config/reload_plan.hpp): what a reload applies, what needs a restart, and
// what it refuses, for configs loaded from text as the process loads its file.
#include "router/config/reload_plan.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace cfg = sluice::router::config;
using Catch::Matchers::Contains;

namespace {

struct parts {
  std::string listen = "127.0.0.1:6432";
  std::string pool = "size = 20";
  std::string limits = "max_client_connections = 100";
  std::string extra;  // top-level keys
  std::vector<std::string> backends = {"pg1:primary", "pg2:replica"};
  std::string users = "[[users]]\nname = \"app\"\npassword = \"app_pw\"\n\n[[users]]\nname = \"other\"\npassword = \"x\"\n";
};

cfg::config load(const parts& p) {
  std::string text = "listen = \"" + p.listen + "\"\nworkers = 2\n" + p.extra + "\n[pool]\n" + p.pool + "\n\n[limits]\n" +
                     p.limits + "\n\n";
  for (const auto& backend : p.backends) {
    const auto colon = backend.find(':');
    const auto name = backend.substr(0, colon);
    text += "[[backends]]\nname = \"" + name + "\"\nhost = \"10.0.0." + std::to_string(name.size()) + "\"\nrole = \"" +
            backend.substr(colon + 1) + "\"\n\n";
  }
  text += p.users;
  return cfg::load_config_text(text, "sluice.toml");
}

bool has(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) { return line.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("reload plan: an identical file applies nothing and needs no restart", "[reload]") {
  const auto current = load({});
  const auto plan = cfg::plan_reload(current, load({}), 16);
  CHECK(plan.applied.empty());
  CHECK(plan.needs_restart.empty());
  CHECK_FALSE(plan.pools_changed);
  CHECK(plan.merged.backends == current.backends);
}

TEST_CASE("reload plan: users added, changed and removed, by name", "[reload]") {
  const auto current = load({});
  parts next;
  next.users =
      "[[users]]\nname = \"app\"\npassword = \"new_pw\"\n\n[[users]]\nname = \"carol\"\npassword = \"c\"\n";
  const auto plan = cfg::plan_reload(current, load(next), 16);
  CHECK(plan.users_added == std::vector<std::string>{"carol"});
  CHECK(plan.users_changed == std::vector<std::string>{"app"});
  CHECK(plan.users_removed == std::vector<std::string>{"other"});
  CHECK(has(plan.applied, "users: 1 added (carol); 1 changed (app); 1 removed (other)"));
  CHECK(plan.pools_changed);  // a new server password (the password is its default)
  CHECK(plan.needs_restart.empty());
  REQUIRE(plan.merged.users.size() == 2);
}

TEST_CASE("reload plan: pool sizes and limits apply, with old and new values", "[reload]") {
  const auto current = load({});
  parts next;
  next.pool = "size = 30\nidle_timeout = \"5s\"";
  next.limits = "max_client_connections = 3\nstartup_timeout = \"2s\"";
  const auto plan = cfg::plan_reload(current, load(next), 16);
  CHECK(has(plan.applied, "pool.size 20 -> 30"));
  CHECK(has(plan.applied, "pool.idle_timeout 60000 ms -> 5000 ms"));
  CHECK(has(plan.applied, "limits.max_client_connections 100 -> 3"));
  CHECK(has(plan.applied, "limits.startup_timeout 10000 ms -> 2000 ms"));
  CHECK(plan.pools_changed);
  CHECK(plan.merged.pool.size == 30);
  CHECK(plan.merged.limits.max_client_connections == 3);
  CHECK(plan.needs_restart.empty());
}

TEST_CASE("reload plan: restart-only keys are reported and kept as they run", "[reload]") {
  const auto current = load({});
  parts next;
  next.listen = "127.0.0.1:6433";
  next.extra = "\n[health]\nprobe_interval = \"1s\"\n\n[failover]\nhold_timeout = \"3s\"\n";
  const auto plan = cfg::plan_reload(current, load(next), 16);
  CHECK(has(plan.needs_restart, "listen_port 6432 -> 6433"));
  CHECK(has(plan.needs_restart, "health.probe_interval 250 ms -> 1000 ms"));
  CHECK(has(plan.needs_restart, "failover.hold_timeout 15000 ms -> 3000 ms"));
  CHECK(plan.merged.listen_port == 6432);
  CHECK(plan.merged.health.probe_interval == current.health.probe_interval);
  CHECK(plan.merged.failover.hold_timeout == current.failover.hold_timeout);
  CHECK(plan.applied.empty());
}

TEST_CASE("reload plan: a secret that changed is named, never shown", "[reload]") {
  parts a;
  a.extra = "\n[admin]\nlisten = \"127.0.0.1:6481\"\ntoken = \"first-token-0123456789\"\n";
  parts b;
  b.extra = "\n[admin]\nlisten = \"127.0.0.1:6481\"\ntoken = \"second-token-0123456789\"\n";
  const auto plan = cfg::plan_reload(load(a), load(b), 16);
  REQUIRE(plan.needs_restart.size() == 1);
  CHECK(plan.needs_restart[0] == "admin.token changed");
}

TEST_CASE("reload plan: backends keep their slots; added ones take new slots, removed ones are marked", "[reload]") {
  parts start;
  start.backends = {"pg1:primary", "r1:replica"};
  const auto current = load(start);
  parts next;
  next.backends = {"pg1:primary", "r2:replica"};
  auto plan = cfg::plan_reload(current, load(next), 16);
  REQUIRE(plan.merged.backends.size() == 3);
  CHECK(plan.merged.backends[0].name == "pg1");
  CHECK(plan.merged.backends[1].name == "r1");
  CHECK(plan.merged.backends[1].removed);
  CHECK(plan.merged.backends[2].name == "r2");
  CHECK_FALSE(plan.merged.backends[2].removed);
  CHECK(plan.backends_added == std::vector<std::size_t>{2});
  CHECK(plan.backends_removed == std::vector<std::size_t>{1});
  CHECK(has(plan.applied, "backends: 1 added (r2); 1 removed (r1)"));
  CHECK(plan.pools_changed);

  SECTION("a name removed and listed again gets a new slot") {
    const auto again = cfg::plan_reload(plan.merged, load(start), 16);
    REQUIRE(again.merged.backends.size() == 4);
    CHECK(again.merged.backends[1].removed);
    CHECK(again.merged.backends[3].name == "r1");
    CHECK(again.merged.backends[2].removed);  // r2 is not in `start`
  }
  SECTION("more backends than slots: refused") {
    CHECK_THROWS_WITH(cfg::plan_reload(plan.merged, load(start), 3), Contains("backend 'r1'") && Contains("3 slots"));
  }
}

TEST_CASE("reload plan: a backend that moved keeps its slot", "[reload]") {
  const auto current = load({});
  auto loaded = load({});
  loaded.backends[1].host = "db2.example";
  loaded.backends[1].port = 5433;
  const auto plan = cfg::plan_reload(current, loaded, 16);
  CHECK(plan.backends_moved == std::vector<std::size_t>{1});
  CHECK(has(plan.applied, "backends.pg2 10.0.0.3:5432 -> db2.example:5433"));
  CHECK(plan.merged.backends[1].host == "db2.example");
}

TEST_CASE("reload plan: the configured primary cannot be removed, nor its role moved", "[reload]") {
  const auto current = load({});
  parts next;
  next.backends = {"pg2:primary"};
  CHECK_THROWS_WITH(cfg::plan_reload(current, load(next), 16), Contains("backend 'pg1'") && Contains("primary"));
  parts swapped;
  swapped.backends = {"pg1:replica", "pg2:primary"};
  const auto plan = cfg::plan_reload(current, load(swapped), 16);
  CHECK(has(plan.needs_restart, "backends.pg1.role"));
  CHECK(has(plan.needs_restart, "backends.pg2.role"));
  CHECK(plan.merged.backends[0].role == cfg::backend_role::primary);
  CHECK(plan.merged.backends[1].role == cfg::backend_role::replica);
}

TEST_CASE("backend capacity: twice the backends at start, at least 16, at most 64", "[reload]") {
  CHECK(cfg::backend_capacity(1) == 16);
  CHECK(cfg::backend_capacity(10) == 20);
  CHECK(cfg::backend_capacity(40) == 64);
}
