// Tenant tags in leading comments (classify::find_tag): forms that are found, forms that are not,
// (that looking never allocates is checked in classifier_test.cpp, which owns the counting allocator).
#include <catch2/catch.hpp>

#include <string>

#include "router/classify/classifier.hpp"

using sluice::router::classify::find_tag;

TEST_CASE("find_tag reads key=value tags from the comments before the first token") {
  struct row {
    const char* sql;
    const char* key;
    const char* expected;
  };
  const auto r = GENERATE(values<row>({
      {"/* tenant=acme */ SELECT 1", "tenant", "acme"},
      {"/*tenant=acme*/SELECT 1", "tenant", "acme"},
      {"/* app=web, tenant=acme-eu.2 */ SELECT 1", "tenant", "acme-eu.2"},
      {"/* app=web tenant=acme */ SELECT 1", "tenant", "acme"},
      {"/* tenant='acme' */ SELECT 1", "tenant", "acme"},
      {"-- tenant=acme\nSELECT 1", "tenant", "acme"},
      {"/* sluice: replica */ /* tenant=beta */ SELECT 1", "tenant", "beta"},
      {"  \n/* tenant=acme */\nINSERT INTO t VALUES (1)", "tenant", "acme"},
      {"/* note: tenant=acme */ SELECT 1", "tenant", "acme"},
      {"/* customer=7 */ SELECT 1", "customer", "7"},
      // Not found:
      {"SELECT 1 /* tenant=acme */", "tenant", ""},
      {"SELECT '/* tenant=acme */'", "tenant", ""},
      {"/* tenants=acme */ SELECT 1", "tenant", ""},
      {"/* xtenant=acme */ SELECT 1", "tenant", ""},
      {"/* tenant= */ SELECT 1", "tenant", ""},
      {"/* tenant='acme */ SELECT 1", "tenant", ""},
      {"/* tenant=acme SELECT 1", "tenant", ""},  // unterminated comment
      {"", "tenant", ""},
      {"/* tenant=acme */ SELECT 1", "", ""},
  }));
  CAPTURE(r.sql, r.key);
  CHECK(find_tag(r.sql, r.key) == std::string_view(r.expected));
}
