// Config loader: the example file, defaults, value formats, and one table of invalid configs, each
// checked for the key it names and the line and column it points at.
#include "router/config/config.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <cstdlib>
#include <unistd.h>

namespace cfg = sluice::router::config;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// A valid tail: one primary, one user. Cases put their own lines first, so their line numbers are
// those of the case text itself.
const std::string minimal_tail = R"(
[[backends]]
name = "pg1"
host = "db.example"
role = "primary"

[[users]]
name = "app"
password = "pw"
)";

cfg::config load(const std::string& text) { return cfg::load_config_text(text, "t.toml"); }

// The config_error message for `text`, or "" when it loads.
std::string error_of(const std::string& text) {
  try {
    load(text);
  } catch (const cfg::config_error& e) {
    return e.what();
  }
  return "";
}

struct error_case {
  std::string text;
  std::vector<std::string> expected;  // substrings of the message
};

void check_errors(const std::vector<error_case>& cases) {
  for (const auto& c : cases) {
    INFO("config:\n" << c.text);
    const std::string message = error_of(c.text);
    INFO("message: " << message);
    REQUIRE_FALSE(message.empty());
    CHECK(message.rfind("t.toml:", 0) == 0);
    for (const auto& part : c.expected) CHECK_THAT(message, Contains(part));
  }
}

}  // namespace

TEST_CASE("the example config in docs/ loads", "[config]") {
  ::setenv("SLUICE_ADMIN_TOKEN", "example-token", 0);  // the example reads the admin token from there
  const auto path =
      std::filesystem::path(__FILE__).parent_path() / "../../../docs/sluice.example.toml";
  const cfg::config c = cfg::load_config_file(path.string());
  CHECK(c.listen_host == "127.0.0.1");
  CHECK(c.listen_port == 6432);
  CHECK(c.workers == 0);
  CHECK(c.shutdown_timeout == 30s);
  CHECK(c.health.dns_ttl == 5s);
  CHECK(c.pool.mode == cfg::pool_mode::transaction);
  CHECK(c.pool.size == 20);
  CHECK(c.pool.idle_timeout == 60s);
  CHECK(c.pool.server_lifetime == 1h);
  CHECK(c.pool.connect_timeout == 5s);
  CHECK(c.pool.query_wait_timeout == 120s);
  CHECK(c.pool.retry_interval == 1s);
  CHECK(c.limits.max_message_size == 64u * 1024u * 1024u);
  CHECK(c.limits.startup_timeout == 10s);
  CHECK(c.limits.max_client_connections == 20'000);
  CHECK(c.routing.read_write_split);
  CHECK(c.routing.write_functions == std::vector<std::string>{"audit_log", "app.bump_counter"});
  CHECK(c.logging.level == "info");

  REQUIRE(c.backends.size() == 2);
  CHECK(c.backends[0].name == "pg1");
  CHECK(c.backends[0].host == "127.0.0.1");
  CHECK(c.backends[0].port == 15432);
  CHECK(c.backends[0].role == cfg::backend_role::primary);
  CHECK(c.backends[1].name == "pg2");
  CHECK(c.backends[1].role == cfg::backend_role::replica);

  REQUIRE(c.users.size() == 2);
  CHECK(c.users[0].name == "app");
  CHECK(c.users[0].auth == cfg::auth_method::scram_sha_256);
  CHECK(c.users[0].password == "app_pw");
  CHECK(c.users[0].mode == cfg::pool_mode::session);
  CHECK(c.users[0].server_user == "app");
  CHECK(c.users[0].server_password == "app_pw");
  CHECK(c.users[1].name == "reporting");
  CHECK_FALSE(c.users[1].password.has_value());
  REQUIRE(c.users[1].scram_verifier.has_value());
  CHECK(c.users[1].scram_verifier->rfind("SCRAM-SHA-256$4096:", 0) == 0);
  CHECK_FALSE(c.users[1].mode.has_value());
  CHECK(c.users[1].server_user == "reporting");
  CHECK(c.users[1].server_password == "report_pw");
}

TEST_CASE("docs/configuration.md shows the example file verbatim", "[config]") {
  const auto docs = std::filesystem::path(__FILE__).parent_path() / "../../../docs";
  const auto read = [](const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string example = read(docs / "sluice.example.toml");
  const std::string page = read(docs / "configuration.md");
  CHECK(page.find("```toml\n" + example + "```") != std::string::npos);
}

TEST_CASE("omitted sections and keys take the defaults", "[config]") {
  const cfg::config c = load(minimal_tail);
  const cfg::config defaults;
  CHECK(c.listen_host == defaults.listen_host);
  CHECK(c.listen_port == defaults.listen_port);
  CHECK(c.workers == defaults.workers);
  CHECK(c.pool.mode == defaults.pool.mode);
  CHECK(c.pool.size == defaults.pool.size);
  CHECK(c.pool.idle_timeout == defaults.pool.idle_timeout);
  CHECK(c.pool.server_lifetime == defaults.pool.server_lifetime);
  CHECK(c.pool.connect_timeout == defaults.pool.connect_timeout);
  CHECK(c.pool.query_wait_timeout == defaults.pool.query_wait_timeout);
  CHECK(c.pool.retry_interval == defaults.pool.retry_interval);
  CHECK(c.limits.max_message_size == defaults.limits.max_message_size);
  CHECK(c.limits.startup_timeout == defaults.limits.startup_timeout);
  CHECK(c.limits.max_client_connections == defaults.limits.max_client_connections);
  CHECK(c.routing.read_write_split == defaults.routing.read_write_split);
  CHECK(c.routing.write_functions.empty());
  CHECK(c.logging.level == "info");

  REQUIRE(c.backends.size() == 1);
  CHECK(c.backends[0].port == 5432);
  REQUIRE(c.users.size() == 1);
  CHECK(c.users[0].auth == cfg::auth_method::scram_sha_256);
  CHECK_FALSE(c.users[0].mode.has_value());
  CHECK(c.users[0].server_user == "app");
  CHECK(c.users[0].server_password == "pw");
}

TEST_CASE("listen addresses", "[config]") {
  struct row {
    std::string listen;
    std::string host;
    std::uint16_t port;
  };
  const std::vector<row> rows = {
      {"127.0.0.1:6432", "127.0.0.1", 6432},
      {"0.0.0.0:1", "0.0.0.0", 1},
      {"proxy.internal:65535", "proxy.internal", 65535},
      {"[::1]:7000", "::1", 7000},
      {"[::]:6432", "::", 6432},
      {"[fe80::1%eth0]:6432", "fe80::1%eth0", 6432},
  };
  for (const auto& r : rows) {
    INFO(r.listen);
    const cfg::config c = load("listen = \"" + r.listen + "\"\n" + minimal_tail);
    CHECK(c.listen_host == r.host);
    CHECK(c.listen_port == r.port);
  }
}

TEST_CASE("durations: a whole number and a unit", "[config]") {
  struct row {
    std::string text;
    cfg::milliseconds value;
  };
  const std::vector<row> rows = {
      {"1ms", 1ms}, {"250ms", 250ms}, {"5s", 5s},       {"2m", 2min},
      {"1h", 1h},   {"90m", 90min},   {"8760h", 8760h},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    const cfg::config c = load("[pool]\nidle_timeout = \"" + r.text + "\"\n" + minimal_tail);
    CHECK(c.pool.idle_timeout == r.value);
  }
  for (std::string bad : {"1.5s", "0s", "0ms", "5", "s", "", "5 s", " 5s", "5S", "5sec", "-5s",
                          "+5s", "1d", "8761h", "99999999999999999999ms"}) {
    INFO(bad);
    const std::string message = error_of("[pool]\nidle_timeout = \"" + bad + "\"\n" + minimal_tail);
    CHECK_THAT(message, Contains("t.toml:2:16: key 'pool.idle_timeout': "));
  }
}

TEST_CASE("sizes: integer bytes or a binary unit", "[config]") {
  struct row {
    std::string text;  // TOML value as written
    std::uint32_t value;
  };
  const std::vector<row> rows = {
      {"1024", 1024},
      {"\"4096B\"", 4096},
      {"\"512KiB\"", 512u * 1024u},
      {"\"64MiB\"", 64u * 1024u * 1024u},
      {"\"1GiB\"", 1024u * 1024u * 1024u},
      {"1073741824", 1024u * 1024u * 1024u},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    const cfg::config c = load("[limits]\nmax_message_size = " + r.text + "\n" + minimal_tail);
    CHECK(c.limits.max_message_size == r.value);
  }
  for (std::string bad : {"1023", "0", "-1", "1.5", "\"1.5MiB\"", "\"64MB\"", "\"64 MiB\"",
                          "\"2GiB\"", "1073741825", "\"1024\"", "\"MiB\"", "true"}) {
    INFO(bad);
    const std::string message =
        error_of("[limits]\nmax_message_size = " + bad + "\n" + minimal_tail);
    CHECK_THAT(message, Contains("t.toml:2:20: key 'limits.max_message_size': "));
  }
  CHECK_THAT(error_of("[limits]\nmax_message_size = \"64MB\"\n" + minimal_tail),
             Contains("did you mean \"64MiB\"?"));
}

TEST_CASE("write_functions are stored lower-cased as given", "[config]") {
  const cfg::config c = load(
      "[routing]\nwrite_functions = [\"Audit_Log\", \"App.Bump_Counter\"]\nread_write_split = "
      "false\n" +
      minimal_tail);
  CHECK(c.routing.write_functions == std::vector<std::string>{"audit_log", "app.bump_counter"});
  CHECK_FALSE(c.routing.read_write_split);
}

TEST_CASE("users: auth methods and server credentials", "[config]") {
  const cfg::config c = load(R"(
[[backends]]
name = "pg1"
host = "[::1]"
role = "primary"

[[users]]
name = "t"
auth = "trust"

[[users]]
name = "m"
auth = "md5"
password = "m_pw"
server_user = "m_server"
server_password = "m_server_pw"

[[users]]
name = "s"
password = "s_pw"
pool_mode = "transaction"
)");
  CHECK(c.backends[0].host == "::1");
  REQUIRE(c.users.size() == 3);
  CHECK(c.users[0].auth == cfg::auth_method::trust);
  CHECK_FALSE(c.users[0].password.has_value());
  CHECK_FALSE(c.users[0].server_password.has_value());
  CHECK(c.users[0].server_user == "t");
  CHECK(c.users[1].auth == cfg::auth_method::md5);
  CHECK(c.users[1].server_user == "m_server");
  CHECK(c.users[1].server_password == "m_server_pw");
  CHECK(c.users[2].auth == cfg::auth_method::scram_sha_256);
  CHECK(c.users[2].mode == cfg::pool_mode::transaction);
  CHECK(c.users[2].server_password == "s_pw");
}

TEST_CASE("backends and users as inline tables", "[config]") {
  const cfg::config c = load(R"(
backends = [ { name = "a", host = "h1", role = "primary" },
             { name = "b", host = "h2", port = 6000 } ]
users = [ { name = "u", auth = "trust" } ]
)");
  REQUIRE(c.backends.size() == 2);
  CHECK(c.backends[1].port == 6000);
  CHECK(c.backends[1].role == cfg::backend_role::replica);
}

TEST_CASE("invalid top-level and section values name the key and line", "[config]") {
  check_errors({
      {"listen = \"127.0.0.1\"\n" + minimal_tail, {"t.toml:1:10: key 'listen': ", "host:port"}},
      {"listen = \"::1:6432\"\n" + minimal_tail, {":1:10: key 'listen': ", "brackets"}},
      {"listen = \"[::1]6432\"\n" + minimal_tail, {":1:10: key 'listen': "}},
      {"listen = \"h:0\"\n" + minimal_tail, {":1:10: key 'listen': ", "between 1 and 65535"}},
      {"listen = \"h:65536\"\n" + minimal_tail, {":1:10: key 'listen': "}},
      {"listen = \"h:x\"\n" + minimal_tail, {":1:10: key 'listen': "}},
      {"listen = \":6432\"\n" + minimal_tail, {":1:10: key 'listen': ", "host"}},
      {"listen = 6432\n" + minimal_tail, {":1:10: key 'listen': ", "expected a string"}},
      {"workers = 257\n" + minimal_tail, {":1:11: key 'workers': ", "between 0 and 256"}},
      {"workers = -1\n" + minimal_tail, {":1:11: key 'workers': "}},
      {"shutdown_timeout = 30\n" + minimal_tail, {":1:20: key 'shutdown_timeout': ", "duration"}},
      {"shutdown_timeout = \"0s\"\n" + minimal_tail, {":1:20: key 'shutdown_timeout': ", "greater than zero"}},
      {"[health]\ndns_ttl = \"5\"\n" + minimal_tail, {":2:11: key 'health.dns_ttl': ", "duration"}},
      {"\n[pool]\nsize = 0\n" + minimal_tail, {"t.toml:3:8: key 'pool.size': ", "got 0"}},
      {"[pool]\nsize = -1\n" + minimal_tail, {":2:8: key 'pool.size': "}},
      {"[pool]\nsize = 1.5\n" + minimal_tail, {":2:8: key 'pool.size': ", "floating-point"}},
      {"[pool]\nsize = \"20\"\n" + minimal_tail, {":2:8: key 'pool.size': ", "a string"}},
      {"[pool]\nmode = \"statement\"\n" + minimal_tail,
       {":2:8: key 'pool.mode': ", "\"transaction\", \"session\"", "\"statement\""}},
      {"[pool]\nidle_timeout = 60\n" + minimal_tail,
       {":2:16: key 'pool.idle_timeout': ", "got an integer"}},
      {"[pool]\nretry_interval = \"0s\"\n" + minimal_tail,
       {":2:18: key 'pool.retry_interval': ", "greater than zero"}},
      {"[limits]\nmax_client_connections = 0\n" + minimal_tail,
       {":2:26: key 'limits.max_client_connections': "}},
      {"[limits]\nstartup_timeout = \"10\"\n" + minimal_tail,
       {":2:19: key 'limits.startup_timeout': "}},
      {"[routing]\nread_write_split = \"yes\"\n" + minimal_tail,
       {":2:20: key 'routing.read_write_split': ", "true or false"}},
      {"[routing]\nwrite_functions = \"audit_log\"\n" + minimal_tail,
       {":2:19: key 'routing.write_functions': ", "array"}},
      {"[routing]\nwrite_functions = [\"ok\",\n  1]\n" + minimal_tail,
       {":3:3: key 'routing.write_functions[1]': ", "expected a string"}},
      {"[routing]\nwrite_functions = [\"\"]\n" + minimal_tail,
       {":2:20: key 'routing.write_functions[0]': ", "empty"}},
      {"[routing]\nwrite_functions = [\"bad name\"]\n" + minimal_tail,
       {"key 'routing.write_functions[0]': "}},
      {"[logging]\nlevel = \"verbose\"\n" + minimal_tail,
       {":2:9: key 'logging.level': ",
        "\"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\", \"off\""}},
      {"pool = 3\n" + minimal_tail, {":1:8: key 'pool': ", "expected a table"}},
      {"[limits]\n[limits.extra]\nx = 1\n" + minimal_tail,
       {":2:9: key 'limits.extra': unknown key"}},
  });
}

TEST_CASE("unknown keys are errors, with a suggestion when one is close", "[config]") {
  check_errors({
      {"[pool]\nidel_timeout = \"1s\"\n" + minimal_tail,
       {"t.toml:2:1: key 'pool.idel_timeout': unknown key; did you mean 'idle_timeout'?"}},
      {"[pool]\nSize = 3\n" + minimal_tail, {":2:1: key 'pool.Size': ", "did you mean 'size'?"}},
      {"lisen = \"h:1\"\n" + minimal_tail, {":1:1: key 'lisen': ", "did you mean 'listen'?"}},
      {"[pooll]\nsize = 3\n" + minimal_tail, {":1:2: key 'pooll': ", "did you mean 'pool'?"}},
      {"[tenant]\nacme = 1\n" + minimal_tail, {":1:2: key 'tenant': unknown key; did you mean 'tenants'?"}},
      {"[logging]\ncolour = true\n" + minimal_tail, {":2:1: key 'logging.colour': unknown key"}},
      {R"([[backends]]
name = "pg1"
hots = "h"
host = "h"
role = "primary"
[[users]]
name = "app"
passwd = "x"
password = "x"
)",
       {":3:1: key 'backends[0].hots': unknown key; did you mean 'host'?",
        ":8:1: key 'users[0].passwd': unknown key; did you mean 'password'?"}},
  });
  const std::string far = error_of("[pool]\nfrobnicate = 1\n" + minimal_tail);
  CHECK_THAT(far, Contains("key 'pool.frobnicate': unknown key"));
  CHECK_THAT(far, !Contains("did you mean"));
}

TEST_CASE("backends are validated", "[config]") {
  const std::string users = "\n[[users]]\nname = \"app\"\npassword = \"pw\"\n";
  check_errors({
      {users, {"t.toml:1:1: key 'backends': missing", "at least one [[backends]]"}},
      {"backends = []\n" + users, {":1:12: key 'backends': at least one"}},
      {"[backends]\nname = \"a\"\n" + users, {":1:1: key 'backends': expected an array of tables"}},
      {"backends = [1]\n" + users, {":1:13: key 'backends[0]': expected a table"}},
      // Missing keys point at the [[backends]] header of the entry that lacks them.
      {R"([[backends]]
name = "pg1"
host = "h"
role = "primary"

[[backends]]
name = "pg2"
port = 5433
)" + users,
       {"t.toml:6:1: key 'backends[1].host': missing"}},
      {"[[backends]]\nhost = \"h\"\nrole = \"primary\"\n" + users,
       {"t.toml:1:1: key 'backends[0].name': missing"}},
      {"[[backends]]\nname = \"\"\nhost = \"h\"\nrole = \"primary\"\n" + users,
       {":2:8: key 'backends[0].name': must not be empty"}},
      {"[[backends]]\nname = \"a\"\nhost = \"\"\nrole = \"primary\"\n" + users,
       {":3:8: key 'backends[0].host': must not be empty"}},
      {"[[backends]]\nname = \"a\"\nhost = \"h\"\nport = \"x\"\nrole = \"primary\"\n" + users,
       {":4:8: key 'backends[0].port': ", "between 1 and 65535"}},
      {"[[backends]]\nname = \"a\"\nhost = \"h\"\nport = 70000\nrole = \"primary\"\n" + users,
       {":4:8: key 'backends[0].port': must be between 1 and 65535, got 70000"}},
      {"[[backends]]\nname = \"a\"\nhost = \"h\"\nport = 0\nrole = \"primary\"\n" + users,
       {":4:8: key 'backends[0].port': "}},
      {"[[backends]]\nname = \"a\"\nhost = \"h\"\nrole = \"master\"\n" + users,
       {":4:8: key 'backends[0].role': must be one of \"primary\", \"replica\", got \"master\""}},
      {R"([[backends]]
name = "pg1"
host = "h"
role = "primary"
[[backends]]
name = "pg1"
host = "h2"
)" + users,
       {":6:8: key 'backends[1].name': duplicate name \"pg1\" (already used by backends[0])"}},
      {R"([[backends]]
name = "pg1"
host = "h"
role = "primary"
[[backends]]
name = "pg2"
host = "h2"
role = "primary"
)" + users,
       {":8:8: key 'backends[1].role': a second primary (backends[0] is primary already)"}},
      {"[[backends]]\nname = \"a\"\nhost = \"h\"\n[[backends]]\nname = \"b\"\nhost = \"h\"\n" +
           users,
       {"t.toml:1:1: key 'backends': no backend has role = \"primary\""}},
  });
  // An unreadable role is reported once, not again as "no primary".
  const std::string message =
      error_of("[[backends]]\nname = \"a\"\nhost = \"h\"\nrole = \"master\"\n" + users);
  CHECK_THAT(message, !Contains("no backend"));
}

TEST_CASE("users are validated", "[config]") {
  const std::string backends = "[[backends]]\nname = \"pg1\"\nhost = \"h\"\nrole = \"primary\"\n";
  const std::string verifier =
      "SCRAM-SHA-256$4096:c2x1aWNlLWV4YW1wbGUtc2FsdA==$4hfMjVz7cPPBVM9hbnt1ni7eD4P9oRK6lJRUtK3BMds="
      ":"
      "Dl4TLIGH140MYTdy1B+1Gdomoffizva6cO2e8UHElXs=";
  const std::string key = "4hfMjVz7cPPBVM9hbnt1ni7eD4P9oRK6lJRUtK3BMds=";  // 32 bytes
  check_errors({
      {backends, {"t.toml:1:1: key 'users': missing", "at least one [[users]]"}},
      {"users = []\n" + backends, {":1:9: key 'users': at least one"}},
      // Line 5 is the [[users]] header.
      {backends + "[[users]]\nname = \"app\"\n",
       {"t.toml:5:1: key 'users[0].password': missing; auth = \"scram-sha-256\" needs password or "
        "scram_verifier"}},
      {backends + "[[users]]\nname = \"app\"\nauth = \"md5\"\n",
       {"t.toml:5:1: key 'users[0].password': missing; auth = \"md5\" needs password"}},
      {backends + "[[users]]\nname = \"app\"\nauth = \"md5\"\nscram_verifier = \"" + verifier +
           "\"\n",
       {":5:1: key 'users[0].password': missing",
        ":8:18: key 'users[0].scram_verifier': only used with auth = \"scram-sha-256\""}},
      {backends + "[[users]]\npassword = \"pw\"\n", {":5:1: key 'users[0].name': missing"}},
      {backends + "[[users]]\nname = \"app\"\nauth = \"password\"\n",
       {":7:8: key 'users[0].auth': must be one of \"scram-sha-256\", \"md5\", \"trust\""}},
      {backends + "[[users]]\nname = \"app\"\npassword = \"\"\n",
       {":7:12: key 'users[0].password': must not be empty"}},
      {backends + "[[users]]\nname = \"app\"\npassword = 123\n",
       {":7:12: key 'users[0].password': expected a string, got an integer (123)"}},
      {backends + "[[users]]\nname = \"app\"\nscram_verifier = \"md5abc\"\n",
       {":7:18: key 'users[0].scram_verifier': expected \"SCRAM-SHA-256$"}},
      {backends + "[[users]]\nname = \"app\"\nscram_verifier = \"SCRAM-SHA-256$4096:salt\"\n",
       {":7:18: key 'users[0].scram_verifier': "}},
      {backends + "[[users]]\nname = \"app\"\nscram_verifier = \"SCRAM-SHA-256$0:c2FsdA==$a:b\"\n",
       {":7:18: key 'users[0].scram_verifier': "}},
      {backends + "[[users]]\nname = \"app\"\npassword = \"pw\"\npool_mode = \"statement\"\n",
       {":8:13: key 'users[0].pool_mode': must be one of \"transaction\", \"session\""}},
      {backends + "[[users]]\nname = \"app\"\npassword = \"pw\"\nserver_user = \"\"\n",
       {":8:15: key 'users[0].server_user': must not be empty"}},
      {backends + "[[users]]\nname = \"app\"\nauth = \"trust\"\n[[users]]\nname = \"app\"\nauth = "
                  "\"trust\"\n",
       {":9:8: key 'users[1].name': duplicate name \"app\" (already used by users[0])"}},
  });
  // Shapes a verifier must not have: each is rejected at the value's position.
  for (std::string bad : {
           "SCRAM-SHA-256$0:c2FsdA==$" + key + ":" + key,           // zero iterations
           "SCRAM-SHA-256$2147483648:c2FsdA==$" + key + ":" + key,  // above INT_MAX
           "SCRAM-SHA-256$4096:$" + key + ":" + key,                // empty salt
           "SCRAM-SHA-256$4096:c2FsdA$" + key + ":" + key,          // unpadded salt
           "SCRAM-SHA-256$4096:c2F*dA==$" + key + ":" + key,        // not base64
           "SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:" + key,           // StoredKey too short
           "SCRAM-SHA-256$4096:c2FsdA==$" + key + key,              // no ':' between the keys
           "SCRAM-SHA-256$4096:c2FsdA==:" + key + ":" + key,        // no '$' before the keys
           "scram-sha-256$4096:c2FsdA==$" + key + ":" + key,        // prefix is case-sensitive
       }) {
    INFO(bad);
    CHECK_THAT(error_of(backends + "[[users]]\nname = \"app\"\nscram_verifier = \"" + bad + "\"\n"),
               Contains(":7:18: key 'users[0].scram_verifier': expected \"SCRAM-SHA-256$"));
  }
  // A well-formed verifier alone is enough for scram-sha-256.
  const cfg::config c =
      load(backends + "[[users]]\nname = \"app\"\nscram_verifier = \"" + verifier + "\"\n");
  CHECK(c.users[0].scram_verifier == verifier);
  CHECK_FALSE(c.users[0].server_password.has_value());
}

TEST_CASE("several problems are all reported, in file order", "[config]") {
  const std::string message = error_of(R"([pool]
size = 0
mode = "x"
[logging]
level = "loud"
)");
  // Missing backends and users point at 1:1 and so come first.
  const auto backends = message.find("t.toml:1:1: key 'backends': missing");
  const auto users = message.find("t.toml:1:1: key 'users': missing");
  const auto size = message.find("t.toml:2:8: key 'pool.size'");
  const auto mode = message.find("t.toml:3:8: key 'pool.mode'");
  const auto level = message.find("t.toml:5:9: key 'logging.level'");
  REQUIRE(backends != std::string::npos);
  REQUIRE(users != std::string::npos);
  REQUIRE(size != std::string::npos);
  REQUIRE(mode != std::string::npos);
  REQUIRE(level != std::string::npos);
  CHECK(size < mode);
  CHECK(mode < level);
  CHECK(std::count(message.begin(), message.end(), '\n') == 4);
}

TEST_CASE("TOML syntax errors give the position", "[config]") {
  check_errors({
      {"listen = \"a:1\"\nworkers = \n", {"t.toml:2:11: TOML syntax error: "}},
      {"[pool]\nsize = 1\nsize = 2\n", {"t.toml:3:", "TOML syntax error: "}},
      {"[pool\n", {"t.toml:1:", "TOML syntax error: "}},
  });
}

TEST_CASE("load_config_file names an unreadable file", "[config]") {
  try {
    cfg::load_config_file("/nonexistent/sluice.toml");
    FAIL("expected config_error");
  } catch (const cfg::config_error& e) {
    CHECK_THAT(e.what(), Contains("/nonexistent/sluice.toml: cannot open"));
  }
}

TEST_CASE("routing, health and per-user consistency keys", "[config]") {
  const auto defaults = load(minimal_tail);
  CHECK(defaults.routing.balance == cfg::balancer::score);
  CHECK(defaults.routing.fallback == cfg::read_fallback::primary);
  CHECK(defaults.routing.consistency == cfg::consistency_mode::read_your_writes);
  CHECK(defaults.routing.scope == cfg::consistency_scope::user);
  CHECK(defaults.routing.volatile_functions_on_primary);
  CHECK(defaults.routing.causal_wait == std::chrono::milliseconds(50));
  CHECK(defaults.routing.max_lag_bytes == 16u * 1024u * 1024u);
  CHECK(defaults.routing.max_lag == std::chrono::milliseconds(10'000));
  CHECK(defaults.health.probe_interval == std::chrono::milliseconds(250));
  CHECK(defaults.health.probe_timeout == std::chrono::milliseconds(500));
  CHECK_FALSE(defaults.health.heartbeat);
  CHECK(defaults.health.database == "postgres");
  CHECK_FALSE(defaults.health.user.has_value());
  CHECK_FALSE(defaults.users[0].consistency.has_value());
  CHECK_FALSE(defaults.users[0].scope.has_value());

  const auto set = load(R"(
[routing]
balance = "round_robin"
fallback = "error"
consistency = "eventual"
consistency_scope = "global"
volatile_functions = "replica"
causal_wait = "20ms"
max_lag_bytes = "1MiB"
max_lag = "2s"

[health]
probe_interval = "100ms"
probe_timeout = "300ms"
heartbeat = true
user = "monitor"
password = "m"
database = "app"

[[backends]]
name = "pg1"
host = "db.example"
role = "primary"

[[users]]
name = "app"
password = "pw"
consistency = "read_your_writes"
consistency_scope = "session"
)");
  CHECK(set.routing.balance == cfg::balancer::round_robin);
  CHECK(set.routing.fallback == cfg::read_fallback::error);
  CHECK(set.routing.consistency == cfg::consistency_mode::eventual);
  CHECK(set.routing.scope == cfg::consistency_scope::global);
  CHECK_FALSE(set.routing.volatile_functions_on_primary);
  CHECK(set.routing.causal_wait == std::chrono::milliseconds(20));
  CHECK(set.routing.max_lag_bytes == 1024u * 1024u);
  CHECK(set.routing.max_lag == std::chrono::milliseconds(2000));
  CHECK(set.health.probe_interval == std::chrono::milliseconds(100));
  CHECK(set.health.probe_timeout == std::chrono::milliseconds(300));
  CHECK(set.health.heartbeat);
  CHECK(set.health.user == std::optional<std::string>("monitor"));
  CHECK(set.health.password == std::optional<std::string>("m"));
  CHECK(set.health.database == "app");
  CHECK(set.users[0].consistency == cfg::consistency_mode::read_your_writes);
  CHECK(set.users[0].scope == cfg::consistency_scope::session);

  check_errors({
      {"[routing]\nbalance = \"random\"\n" + minimal_tail, {":2:11: key 'routing.balance': ", "\"score\""}},
      {"[routing]\nfallback = \"replica\"\n" + minimal_tail, {":2:12: key 'routing.fallback': "}},
      {"[routing]\nconsistency = \"strong\"\n" + minimal_tail, {":2:15: key 'routing.consistency': "}},
      {"[routing]\nconsistency_scope = \"cluster\"\n" + minimal_tail,
       {":2:21: key 'routing.consistency_scope': ", "\"session\", \"user\", \"global\""}},
      {"[routing]\nvolatile_functions = true\n" + minimal_tail, {":2:22: key 'routing.volatile_functions': "}},
      {"[routing]\ncausal_wait = 50\n" + minimal_tail, {":2:15: key 'routing.causal_wait': "}},
      {"[routing]\nmax_lag_bytes = \"lots\"\n" + minimal_tail, {":2:17: key 'routing.max_lag_bytes': "}},
      {"[health]\nprobe_interval = \"0ms\"\n" + minimal_tail, {":2:18: key 'health.probe_interval': "}},
      {"[health]\nheartbeat = \"yes\"\n" + minimal_tail, {":2:13: key 'health.heartbeat': "}},
      {"[health]\nuser = \"\"\n" + minimal_tail, {":2:8: key 'health.user': ", "empty"}},
      {"[health]\nprobe_intervall = \"1s\"\n" + minimal_tail, {"key 'health.probe_intervall'", "probe_interval"}},
      {minimal_tail + "consistency = \"sometimes\"\n", {"key 'users[0].consistency': "}},
      {minimal_tail + "consistency_scope = \"team\"\n", {"key 'users[0].consistency_scope': "}},
  });
}

TEST_CASE("more than 64 backends are refused", "[config]") {
  std::string text;
  for (int i = 0; i < 65; ++i) {
    text += "[[backends]]\nname = \"b" + std::to_string(i) + "\"\nhost = \"h\"\n";
    if (i == 0) text += "role = \"primary\"\n";
  }
  text += "[[users]]\nname = \"app\"\npassword = \"pw\"\n";
  CHECK_THAT(error_of(text), Contains("at most 64 backends"));
}

TEST_CASE("tenants, rules and [qos]", "[config][qos]") {
  const cfg::config c = load(R"([qos]
max_active = 12

[[tenants]]
name = "acme"
max_qps = 200
burst = 20
max_concurrency = 4
db_time_share = 2.5
max_db_time_per_s = 0.5
max_queue = 100
max_wait = "2s"

[[tenants]]
name = "batch"

[[tenant_rules]]
application_name = "batch-*"
tenant = "batch"

[[tenant_rules]]
tag = "tenant"
)" + minimal_tail);
  CHECK(c.qos.enabled);
  CHECK(c.qos.policy.max_active == 12);
  REQUIRE(c.qos.policy.tenants.size() == 3);  // "default" is added
  const auto& acme = c.qos.policy.tenants[0];
  CHECK(acme.name == "acme");
  CHECK(acme.max_qps == 200.0);
  CHECK(acme.burst == 20.0);
  CHECK(acme.max_concurrency == 4u);
  CHECK(acme.db_time_share == 2.5);
  CHECK(acme.max_db_time_per_s == 0.5);
  CHECK(acme.max_queue == 100u);
  CHECK(acme.max_wait == std::chrono::milliseconds(2000));
  CHECK(c.qos.policy.tenants[2].name == "default");
  CHECK_FALSE(c.qos.policy.tenants[2].max_qps.has_value());
  REQUIRE(c.qos.policy.rules.size() == 2);
  CHECK(c.qos.policy.rules[0].kind == sluice::policies::rule_kind::application_name);
  CHECK(c.qos.policy.rules[0].pattern == "batch-*");
  CHECK(c.qos.policy.rules[0].tenant == "batch");
  CHECK(c.qos.policy.rules[0].line == 17);
  CHECK(c.qos.policy.rules[1].kind == sluice::policies::rule_kind::tag);
  CHECK(c.qos.policy.rules[1].pattern == "tenant");

  CHECK_FALSE(load(minimal_tail).qos.enabled);
}

TEST_CASE("tenant policies are validated, naming key and line", "[config][qos]") {
  check_errors({
      {"[[tenants]]\nname = \"a\"\nmax_qps = 0\n" + minimal_tail,
       {":3:11: key 'tenants[0].max_qps': must be greater than zero"}},
      {"[[tenants]]\nname = \"a\"\nmax_qps = \"fast\"\n" + minimal_tail,
       {":3:11: key 'tenants[0].max_qps': expected a number greater than zero"}},
      {"[[tenants]]\nname = \"a\"\nburst = 3\n" + minimal_tail, {":3:9: key 'tenants[0].burst': only used with max_qps"}},
      {"[[tenants]]\nname = \"a\"\nmax_qps = 5\nburst = 0.5\n" + minimal_tail,
       {":4:9: key 'tenants[0].burst': must be at least 1"}},
      {"[[tenants]]\nname = \"a\"\nmax_concurrency = 0\n" + minimal_tail,
       {":3:19: key 'tenants[0].max_concurrency': must be at least 1"}},
      {"[[tenants]]\nname = \"a\"\nmax_wait = 5\n" + minimal_tail, {":3:12: key 'tenants[0].max_wait': expected a duration"}},
      {"[[tenants]]\nname = \"a\"\nmax_qpz = 5\n" + minimal_tail,
       {":3:1: key 'tenants[0].max_qpz': unknown key; did you mean 'max_qps'?"}},
      {"[[tenants]]\nname = \"a\"\n[[tenants]]\nname = \"a\"\n" + minimal_tail,
       {":4:8: key 'tenants[1].name': duplicate name \"a\""}},
      {"[[tenants]]\nname = \"a b\"\n" + minimal_tail, {"key 'tenants[0].name': a tenant name may use"}},
      {"[[tenant_rules]]\nuser = \"x\"\ntenant = \"nobody\"\n" + minimal_tail,
       {":3:10: key 'tenant_rules[0].tenant': no [[tenants]] entry is named \"nobody\""}},
      {"[[tenant_rules]]\nuser = \"x\"\ndatabase = \"y\"\ntenant = \"default\"\n" + minimal_tail,
       {"key 'tenant_rules[0]': each rule needs exactly one of user, database, application_name or tag, got 2"}},
      {"[[tenant_rules]]\nuser = \"x\"\n" + minimal_tail, {"key 'tenant_rules[0].tenant': missing"}},
      {"[[tenant_rules]]\ntag = \"tenant\"\ntenant = \"default\"\n" + minimal_tail,
       {":3:10: key 'tenant_rules[0].tenant': a tag rule takes the tenant from the tag's value"}},
      {"[qos]\nmax_active = -1\n" + minimal_tail, {":2:14: key 'qos.max_active': must be"}},
  });
}

TEST_CASE("a policy file holds the tenants; load_qos_policy reads only them", "[config][qos]") {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto main_path = (dir / "sluice.toml").string();
  const auto policy_path = (dir / "tenants.toml").string();
  std::ofstream(main_path) << "[qos]\npolicy_file = \"tenants.toml\"\n" << minimal_tail;
  std::ofstream(policy_path) << "[qos]\nmax_active = 3\n[[tenants]]\nname = \"acme\"\nmax_qps = 5\n";
  const auto c = cfg::load_config_file(main_path);
  CHECK(c.qos.enabled);
  CHECK(c.qos.policy_file == policy_path);
  CHECK(c.qos.policy.max_active == 3);
  REQUIRE(c.qos.policy.tenants.size() == 2);
  CHECK(c.qos.policy.tenants[0].max_qps == 5.0);
  CHECK(cfg::load_qos_policy(main_path).policy.tenants[0].name == "acme");

  // A broken policy file is reported with its own path, line and key.
  std::ofstream(policy_path) << "[[tenants]]\nname = \"acme\"\n\nmax_qps = -5\n";
  try {
    cfg::load_qos_policy(main_path);
    FAIL("loaded a broken policy file");
  } catch (const cfg::config_error& e) {
    CHECK_THAT(e.what(), Contains(policy_path + ":4:11: key 'tenants[0].max_qps': must be greater than zero"));
  }
  // Tenants in both places are refused.
  std::ofstream(main_path) << "[qos]\npolicy_file = \"tenants.toml\"\n[[tenants]]\nname = \"x\"\n" << minimal_tail;
  std::ofstream(policy_path) << "[[tenants]]\nname = \"acme\"\n";
  CHECK_THROWS_WITH(cfg::load_config_file(main_path), Contains("move them there"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("[admin] and [failover]", "[config]") {
  const auto c = load(R"([admin]
listen = "127.0.0.1:7000"
token = "s3cret"

[failover]
auto_failover = true
failover_timeout = "3s"
hold_timeout = "20s"
max_held = 50
drain_timeout = "2s"
catchup_timeout = "9s"
rejoin_command = "rejoin.sh {name}"
)" + minimal_tail);
  CHECK(c.admin.enabled);
  CHECK(c.admin.listen_port == 7000);
  CHECK(c.admin.token == "s3cret");
  CHECK(c.failover.auto_failover);
  CHECK(c.failover.failover_timeout == 3s);
  CHECK(c.failover.hold_timeout == 20s);
  CHECK(c.failover.max_held == 50u);
  CHECK(c.failover.drain_timeout == 2s);
  CHECK(c.failover.catchup_timeout == 9s);
  CHECK(c.failover.rejoin_command == "rejoin.sh {name}");
  CHECK_FALSE(load(minimal_tail).admin.enabled);

  ::setenv("SLUICE_TEST_ADMIN_TOKEN", "from-env", 1);
  CHECK(load("[admin]\ntoken_env = \"SLUICE_TEST_ADMIN_TOKEN\"\n" + minimal_tail).admin.token == "from-env");
  ::unsetenv("SLUICE_TEST_ADMIN_TOKEN");
  check_errors({
      {"[admin]\ntoken_env = \"SLUICE_TEST_ADMIN_TOKEN\"\n" + minimal_tail,
       {"key 'admin.token': missing; the admin API needs a bearer token", "SLUICE_TEST_ADMIN_TOKEN"}},
      {"[failover]\nmax_held = 0\n" + minimal_tail, {":2:12: key 'failover.max_held': must be at least 1"}},
  });
}

TEST_CASE("an admin API beyond loopback with a short token is warned about, naming key and line", "[config]") {
  const auto exposed = load("[admin]\nlisten = \"0.0.0.0:7000\"\ntoken = \"s3cret\"\n" + minimal_tail);
  REQUIRE(exposed.warnings.size() == 1);
  CHECK_THAT(exposed.warnings[0], Contains("t.toml:2:10: key 'admin.listen'"));
  CHECK_THAT(exposed.warnings[0], Contains("beyond loopback"));
  CHECK_THAT(exposed.warnings[0], Contains("6 characters"));
  // On loopback, or with a long token, nothing to say.
  CHECK(load("[admin]\nlisten = \"127.0.0.1:7000\"\ntoken = \"s3cret\"\n" + minimal_tail).warnings.empty());
  CHECK(load("[admin]\nlisten = \"[::1]:7000\"\ntoken = \"s3cret\"\n" + minimal_tail).warnings.empty());
  CHECK(load("[admin]\nlisten = \"10.0.0.5:7000\"\ntoken = \"0123456789abcdef\"\n" + minimal_tail).warnings.empty());
  CHECK(load(minimal_tail).warnings.empty());
}

TEST_CASE("logging.connections", "[config]") {
  CHECK_FALSE(load(minimal_tail).logging.connections);
  CHECK(load("[logging]\nconnections = true\n" + minimal_tail).logging.connections);
  check_errors({{"[logging]\nconnections = \"yes\"\n" + minimal_tail, {":2:15: key 'logging.connections'"}}});
}

// Issue 14: `workers = 0` meant one worker per core; on 2 cores one worker did as well as two for less
// CPU per transaction (docs/benchmarks.md, "Worker count"). Now one per two usable CPUs, at least one.
TEST_CASE("config: workers = 0 starts one worker per two usable CPUs, at least one", "[config]") {
  using sluice::router::config::default_workers;
  STATIC_REQUIRE(default_workers(0) == 1);
  STATIC_REQUIRE(default_workers(1) == 1);
  STATIC_REQUIRE(default_workers(2) == 1);
  STATIC_REQUIRE(default_workers(3) == 1);
  STATIC_REQUIRE(default_workers(4) == 2);
  STATIC_REQUIRE(default_workers(16) == 8);
  const auto cpus = sluice::router::config::usable_cpus();
  CHECK(cpus >= 1);
  CHECK(sluice::router::config::resolve_workers(0) == default_workers(cpus));
  CHECK(sluice::router::config::resolve_workers(3) == 3);  // a configured count stands
}
