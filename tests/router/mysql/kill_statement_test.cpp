// parse_kill_statement: the KILL forms the mariadb CLI and applications send, and what is not a KILL sluice
// can map.
#include <catch2/catch.hpp>

#include "router/mysql/kill_statement.hpp"

using sluice::router::mysql::kill_statement;
using sluice::router::mysql::parse_kill_statement;

TEST_CASE("KILL statements are recognised with their id and scope", "[mysql][kill]") {
  auto k = parse_kill_statement("KILL QUERY 42");  // what the mariadb CLI sends on Ctrl-C
  CHECK(k.what == kill_statement::kind::kill);
  CHECK(k.query_only);
  CHECK(k.id == 42);

  k = parse_kill_statement("kill 7");  // the CLI's second Ctrl-C
  CHECK(k.what == kill_statement::kind::kill);
  CHECK_FALSE(k.query_only);
  CHECK(k.id == 7);

  k = parse_kill_statement("  /* app */ KILL HARD CONNECTION 12345 ; ");
  CHECK(k.what == kill_statement::kind::kill);
  CHECK_FALSE(k.query_only);
  CHECK(k.id == 12345);

  k = parse_kill_statement("Kill Soft Query 9 -- why\n");
  CHECK(k.what == kill_statement::kind::kill);
  CHECK(k.query_only);
  CHECK(k.id == 9);
}

TEST_CASE("KILL forms sluice cannot map are unsupported, other statements are not KILL", "[mysql][kill]") {
  CHECK(parse_kill_statement("KILL USER app").what == kill_statement::kind::unsupported);
  CHECK(parse_kill_statement("KILL QUERY ID 5").what == kill_statement::kind::unsupported);
  CHECK(parse_kill_statement("KILL 1.5").what == kill_statement::kind::unsupported);
  CHECK(parse_kill_statement("KILL 0x10").what == kill_statement::kind::unsupported);
  CHECK(parse_kill_statement("KILL 5; SELECT 1").what == kill_statement::kind::unsupported);
  CHECK(parse_kill_statement("KILL 99999999999999999999").what == kill_statement::kind::unsupported);
  CHECK(parse_kill_statement("KILL").what == kill_statement::kind::unsupported);

  CHECK(parse_kill_statement("SELECT 'KILL 5'").what == kill_statement::kind::not_kill);
  CHECK(parse_kill_statement("-- KILL 5\nSELECT 1").what == kill_statement::kind::not_kill);
  CHECK(parse_kill_statement("KILLER 5").what == kill_statement::kind::not_kill);
  CHECK(parse_kill_statement("").what == kill_statement::kind::not_kill);
}
