// Tenant identification: glob matching, rule order (first match wins, tags per statement, a tag
// naming no tenant falls through, "default" last) and the per-session shortcut.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policies/tenant_rules.hpp"

using namespace sluice::policies;

TEST_CASE("glob_match: * any run, ? one byte, everything else literal") {
  struct row {
    const char* pattern;
    const char* text;
    bool expected;
  };
  const auto r = GENERATE(values<row>({
      {"", "", true},
      {"", "a", false},
      {"a", "", false},
      {"*", "", true},
      {"*", "anything at all", true},
      {"**", "x", true},
      {"?", "", false},
      {"?", "x", true},
      {"?", "xy", false},
      {"acme", "acme", true},
      {"acme", "Acme", false},  // case-sensitive, like the names themselves
      {"acme", "acme2", false},
      {"acme_*", "acme_", true},
      {"acme_*", "acme_reporting", true},
      {"acme_*", "acme", false},
      {"*_ro", "billing_ro", true},
      {"*_ro", "billing_rw", false},
      {"app-??", "app-1", false},
      {"app-??", "app-12", true},
      {"app-??", "app-123", false},
      {"a*b*c", "abc", true},
      {"a*b*c", "axxbyyc", true},
      {"a*b*c", "axxbyy", false},
      {"a**b", "ab", true},
      {"*ab*ab", "abxabyab", true},
      {"*ab", "aab", true},  // the star must give back what it took
      {"*aab", "aaab", true},
      {"a*a", "a", false},
      {"*?", "", false},
      {"*?", "z", true},
      {"a?c*", "abcdef", true},
      {"a*", "a*", true},   // a literal * in the text is just a byte
      {"a?", "a?", true},
      {"*x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
  }));
  INFO(r.pattern << " vs " << r.text);
  CHECK(glob_match(r.pattern, r.text) == r.expected);
}

TEST_CASE("glob_match stays fast on patterns with many stars") {
  const std::string text(20'000, 'a');
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*b", text));
  CHECK(glob_match("*a*a*a*a*a*a*", text));
  CHECK(glob_match("a*a", text));
}

namespace {

tenant_policy named(const char* name) {
  tenant_policy p;
  p.name = name;
  return p;
}

tenant_rule rule(rule_kind kind, const char* pattern, const char* tenant = "") {
  tenant_rule r;
  r.kind = kind;
  r.pattern = pattern;
  r.tenant = tenant;
  return r;
}

// tenants: default(0) acme(1) reports(2) web(3) batch(4)
qos_policy policy_with(std::vector<tenant_rule> rules) {
  qos_policy p;
  for (const char* name : {"default", "acme", "reports", "web", "batch"}) p.tenants.push_back(named(name));
  p.rules = std::move(rules);
  return p;
}

// The tag text of one statement: key=value pairs.
struct tags {
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  std::string_view operator()(std::string_view key) const {
    for (const auto& [k, v] : pairs) {
      if (k == key) return v;
    }
    return {};
  }
};

}  // namespace

TEST_CASE("resolve: the first matching rule wins, tags per statement, default last") {
  const tenant_rules rules(policy_with({
      rule(rule_kind::tag, "tenant"),
      rule(rule_kind::user, "acme_*", "acme"),
      rule(rule_kind::database, "reporting", "reports"),
      rule(rule_kind::application_name, "web-*", "web"),
      rule(rule_kind::user, "batch", "batch"),
      rule(rule_kind::database, "*", "reports"),  // never reached by the rows that match above
  }));
  struct row {
    const char* name;
    tenant_rules::session_identity who;
    tags statement_tags;
    std::size_t expected;
  };
  const auto r = GENERATE(values<row>({
      {"a tag naming a tenant beats everything",
       {"acme_1", "reporting", "web-x"}, {{{"tenant", "batch"}}}, 4},
      {"a tag naming no tenant falls through", {"acme_1", "app", ""}, {{{"tenant", "nosuch"}}}, 1},
      {"an empty tag value falls through", {"acme_1", "app", ""}, {{{"tenant", ""}}}, 1},
      {"another key is not the tag", {"acme_1", "app", ""}, {{{"team", "batch"}}}, 1},
      {"user before database", {"acme_1", "reporting", ""}, {}, 1},
      {"database", {"bob", "reporting", "web-frontend"}, {}, 2},
      {"application_name", {"bob", "app", "web-frontend"}, {}, 3},
      {"exact user", {"batch", "app", ""}, {}, 4},
      {"the catch-all database rule", {"bob", "app", "psql"}, {}, 2},
  }));
  INFO(r.name);
  CHECK(rules.resolve(r.who, r.statement_tags) == r.expected);
}

TEST_CASE("resolve falls back to the default tenant") {
  qos_policy p = policy_with({rule(rule_kind::user, "acme_*", "acme")});
  // "default" need not come first: its position is its index.
  std::swap(p.tenants[0], p.tenants[2]);  // reports(0) acme(1) default(2)
  const tenant_rules rules(p);
  CHECK(rules.default_tenant() == 2);
  CHECK(rules.resolve({"bob", "db", ""}, tags{}) == 2);
  CHECK(rules.resolve({"acme_9", "db", ""}, tags{}) == 1);
  CHECK(rules.resolve_session_only({"bob", "db", ""}) == 2);
  CHECK_FALSE(rules.uses_tags());
}

TEST_CASE("a session rule naming no configured tenant is skipped") {
  const tenant_rules rules(policy_with({
      rule(rule_kind::user, "bob", "ghost"),
      rule(rule_kind::user, "b*", "web"),
  }));
  CHECK(rules.resolve({"bob", "db", ""}, tags{}) == 3);
  CHECK(rules.resolve_session_only({"bob", "db", ""}) == 3);
}

TEST_CASE("tenant_index, default_tenant and an empty rule set") {
  const tenant_rules rules(policy_with({}));
  CHECK(rules.tenant_index("default") == 0);
  CHECK(rules.tenant_index("batch") == 4);
  CHECK(rules.tenant_index("Batch") == tenant_rules::npos);
  CHECK(rules.tenant_index("") == tenant_rules::npos);
  CHECK(rules.resolve({"anyone", "any", "any"}, tags{}) == 0);
  CHECK(rules.resolve_session_only({"anyone", "any", "any"}) == 0);
  CHECK_FALSE(rules.uses_tags());

  qos_policy no_default;
  no_default.tenants.push_back(named("only"));
  no_default.tenants.push_back(named("other"));
  const tenant_rules without(no_default);
  CHECK(without.default_tenant() == 0);  // the loader always adds "default"; without it, the first

  const tenant_rules empty;
  CHECK(empty.default_tenant() == 0);
  CHECK(empty.resolve({"u", "d", "a"}, tags{}) == 0);
  CHECK(empty.tenant_index("default") == tenant_rules::npos);
}

TEST_CASE("resolve_session_only: cached per session unless a tag rule comes first") {
  const tenant_rules rules(policy_with({
      rule(rule_kind::user, "acme_*", "acme"),
      rule(rule_kind::tag, "tenant"),
      rule(rule_kind::database, "reporting", "reports"),
  }));
  CHECK(rules.uses_tags());
  struct row {
    const char* name;
    tenant_rules::session_identity who;
    std::size_t expected;
  };
  const auto r = GENERATE(values<row>({
      {"a session rule before the tag rule matches", {"acme_1", "reporting", ""}, 1},
      {"the tag rule comes before the database rule", {"bob", "reporting", ""}, tenant_rules::npos},
      {"nothing matches but a tag could", {"bob", "app", ""}, tenant_rules::npos},
  }));
  INFO(r.name);
  CHECK(rules.resolve_session_only(r.who) == r.expected);
  // Whatever it says agrees with resolve() for a statement without tags.
  if (r.expected != tenant_rules::npos) CHECK(rules.resolve(r.who, tags{}) == r.expected);

  const tenant_rules tag_first(
      policy_with({rule(rule_kind::tag, "tenant"), rule(rule_kind::user, "*", "web")}));
  CHECK(tag_first.resolve_session_only({"acme_1", "db", ""}) == tenant_rules::npos);
  CHECK(tag_first.resolve({"acme_1", "db", ""}, tags{}) == 3);
  CHECK(tag_first.resolve({"acme_1", "db", ""}, tags{{{"tenant", "acme"}}}) == 1);
}
