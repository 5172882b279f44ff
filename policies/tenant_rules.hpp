// Which tenant a client or a statement belongs to: the ordered rules of a qos_policy, evaluated
// without allocating. Session-level rules (user, database, application_name) are resolved once per
// client; tag rules per statement, from the tag the classifier found in its leading comment.
#pragma once

#include <cstddef>
#include <string_view>

#include "policies/tenant_policy.hpp"

namespace sluice::policies {

// Glob match: `*` any run (possibly empty), `?` one byte, everything else literal. No allocation.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

class tenant_rules {
 public:
  tenant_rules() = default;
  // `policy.tenants` gives the indexes returned below (the position in that vector).
  explicit tenant_rules(const qos_policy& policy);

  struct session_identity {
    std::string_view user;
    std::string_view database;
    std::string_view application_name;
  };

  // The tenant for a statement of a session: the first rule that matches. A tag rule matches when
  // `tags` (the leading comment's key=value text, see classify::find_tag) has the rule's key and its
  // value names a configured tenant. No rule matches: the "default" tenant's index.
  // `tag_lookup(key)` returns the tag's value or an empty view.
  template <typename TagLookup>
  std::size_t resolve(const session_identity& who, TagLookup&& tag_lookup) const;

  // True when some rule is a tag rule (so statements must be scanned for tags at all).
  bool uses_tags() const noexcept { return uses_tags_; }
  // The tenant chosen by session rules alone, when no tag rule comes before the first session rule
  // that matches; lets a session cache its tenant. Returns npos when tags must be checked per statement.
  std::size_t resolve_session_only(const session_identity& who) const;
  std::size_t default_tenant() const noexcept { return default_index_; }
  std::size_t tenant_index(std::string_view name) const noexcept;  // npos when unknown

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

 private:
  bool matches_session(const tenant_rule& rule, const session_identity& who) const noexcept;

  std::vector<tenant_rule> rules_;
  std::vector<std::size_t> rule_tenant_;  // resolved tenant index per rule (npos for tag rules)
  std::vector<std::string> tenant_names_;
  std::size_t default_index_ = 0;
  bool uses_tags_ = false;
};

template <typename TagLookup>
std::size_t tenant_rules::resolve(const session_identity& who, TagLookup&& tag_lookup) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const auto& rule = rules_[i];
    if (rule.kind == rule_kind::tag) {
      const std::string_view value = tag_lookup(std::string_view(rule.pattern));
      if (value.empty()) continue;
      const std::size_t index = tenant_index(value);
      if (index != npos) return index;
      continue;
    }
    if (matches_session(rule, who)) return rule_tenant_[i];
  }
  return default_index_;
}

}  // namespace sluice::policies
