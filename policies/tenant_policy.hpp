// What a DBA writes for one tenant (docs/qos.md), and the rules that say which tenant a client or a
// statement belongs to. Plain data: the config loader fills it, the admission controller enforces it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::policies {

// Every limit is optional: an unset limit does not restrict.
struct tenant_policy {
  std::string name;
  std::optional<double> max_qps;                   // admissions (transactions or statements outside one) per second
  std::optional<double> burst;                     // token bucket depth; default max(1, max_qps / 10)
  std::optional<std::uint32_t> max_concurrency;    // admitted and not yet finished, whole proxy
  double db_time_share = 1.0;                      // weight in the fair queue (> 0)
  std::optional<double> max_db_time_per_s;         // database seconds per wall-clock second (> 0)
  std::optional<std::uint32_t> max_queue;          // waiting admissions beyond this are refused
  std::optional<std::chrono::milliseconds> max_wait;  // a waiting admission is refused after this
};

enum class rule_kind {
  user,              // the login user name equals `pattern` (glob)
  database,          // the database name equals `pattern` (glob)
  application_name,  // the client's application_name matches `pattern` (glob)
  tag,               // the value of `/* <pattern>=value */` in a statement's leading comment names the tenant
};

struct tenant_rule {
  rule_kind kind = rule_kind::user;
  std::string pattern;  // glob with * and ?; for `tag`, the tag key (e.g. "tenant")
  std::string tenant;   // the tenant it selects; empty for `tag` (the tag value is the tenant)
  int line = 0;         // where it was written, for messages
};

struct qos_policy {
  // Admissions running at once across the proxy before the fair queue decides who goes next
  // (db_time_share). 0: no shared capacity; tenants are held only by their own limits.
  std::uint32_t max_active = 0;
  std::vector<tenant_policy> tenants;  // always has one named "default" (added unrestricted if absent)
  std::vector<tenant_rule> rules;      // first match wins; nothing matches: "default"
};

}  // namespace sluice::policies
