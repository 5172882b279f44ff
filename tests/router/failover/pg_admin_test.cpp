// The pure helpers of the failover orchestrator's libpq layer: LSN text, conninfo rewriting for
// repointed replicas, SQL literals, and the control-plane credentials.
#include "router/failover/pg_admin.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace sluice::router::failover;

TEST_CASE("LSNs parse and format as PostgreSQL writes them") {
  CHECK(parse_lsn("0/0") == 0u);
  CHECK(parse_lsn("16/B374D848") == ((0x16ull << 32) | 0xB374D848ull));
  CHECK(parse_lsn("ff/ffffffff") == ((0xffull << 32) | 0xffffffffull));
  CHECK_FALSE(parse_lsn(""));
  CHECK_FALSE(parse_lsn("0"));
  CHECK_FALSE(parse_lsn("/1"));
  CHECK_FALSE(parse_lsn("1/"));
  CHECK_FALSE(parse_lsn("1/G"));
  CHECK_FALSE(parse_lsn("123456789/0"));
  CHECK(format_lsn((0x16ull << 32) | 0xB374D848ull) == "16/B374D848");
  CHECK(format_lsn(0) == "0/0");
  for (const auto lsn : {0ull, 1ull, 0x9000028ull, 0x123456789abull}) CHECK(parse_lsn(format_lsn(lsn)) == lsn);
}

TEST_CASE("rewrite_conninfo replaces host and port and keeps the rest") {
  const std::string from_basebackup =
      "user=postgres passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer host=127.0.0.1 port=25452 "
      "sslmode=prefer target_session_attrs=any";
  CHECK(rewrite_conninfo(from_basebackup, "10.0.0.7", 5433) ==
        "user='postgres' passfile='/var/lib/postgresql/.pgpass' channel_binding='prefer' host='10.0.0.7' "
        "port='5433' sslmode='prefer' target_session_attrs='any'");
  // Missing host/port are added; hostaddr (which would win over host) is dropped.
  CHECK(rewrite_conninfo("user=rep hostaddr=10.0.0.1", "db2", 5432) == "user='rep' host='db2' port='5432'");
  CHECK(rewrite_conninfo("", "db2", 5432) == "host='db2' port='5432'");
  // Quoted values with escapes and spaces around '=' survive.
  CHECK(rewrite_conninfo("password = 'it\\'s a \\\\ secret' host=old", "new", 1) ==
        "password='it\\'s a \\\\ secret' host='new' port='1'");
}

TEST_CASE("sql_literal doubles quotes") {
  CHECK(sql_literal("host='x' port=1") == "'host=''x'' port=1'");
  CHECK(sql_literal("") == "''");
}

TEST_CASE("admin_target uses [health] credentials, else the first user's server credentials") {
  sluice::router::config::config cfg;
  cfg.backends.push_back({"pg-a", "10.0.0.1", 5433, sluice::router::config::backend_role::primary});
  sluice::router::config::user_config user;
  user.name = "app";
  user.password = "app_pw";
  cfg.users.push_back(user);
  auto target = admin_target(cfg, 0);
  CHECK(target.name == "pg-a");
  CHECK(target.host == "10.0.0.1");
  CHECK(target.port == 5433);
  CHECK(target.user == "app");
  CHECK(target.password == std::optional<std::string>("app_pw"));
  CHECK(target.database == "postgres");
  cfg.health.user = "sluice_ops";
  cfg.health.password = "ops_pw";
  target = admin_target(cfg, 0);
  CHECK(target.user == "sluice_ops");
  CHECK(target.password == std::optional<std::string>("ops_pw"));
}
