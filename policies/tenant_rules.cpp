// Tenant identification (see tenant_rules.hpp): glob matching and the ordered rules.
#include "policies/tenant_rules.hpp"

namespace sluice::policies {

// Iterative matching with backtracking to the most recent `*` only (the classic wildcard algorithm,
// e.g. Kirk J. Krauss, "Matching Wildcards", Dr. Dobb's 2008): on a mismatch after a star, the star
// swallows one more byte and matching resumes after it. An earlier star never needs revisiting,
// because anything it could absorb the later star can absorb too. O(|pattern| * |text|) in the worst
// case, linear for the patterns people write; no allocation, no recursion.
bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  constexpr std::size_t none = std::string_view::npos;
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = none;  // position of the last `*` seen in the pattern
  std::size_t resume = 0;   // text position that star is currently matched up to
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != none) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

tenant_rules::tenant_rules(const qos_policy& policy) {
  tenant_names_.reserve(policy.tenants.size());
  for (const auto& tenant : policy.tenants) tenant_names_.push_back(tenant.name);
  const std::size_t found_default = tenant_index("default");
  // The config loader always adds "default"; without one, the first tenant stands in for it.
  default_index_ = found_default == npos ? 0 : found_default;

  rules_.reserve(policy.rules.size());
  rule_tenant_.reserve(policy.rules.size());
  for (const auto& rule : policy.rules) {
    if (rule.kind == rule_kind::tag) {
      uses_tags_ = true;
      rules_.push_back(rule);
      rule_tenant_.push_back(npos);
      continue;
    }
    // A session rule naming no configured tenant can select nothing: it is dropped, so evaluation
    // falls through it as it does for a tag whose value names no tenant. (The loader rejects such
    // rules with a message; this keeps resolve() from ever returning npos.)
    const std::size_t index = tenant_index(rule.tenant);
    if (index == npos) continue;
    rules_.push_back(rule);
    rule_tenant_.push_back(index);
  }
}

bool tenant_rules::matches_session(const tenant_rule& rule, const session_identity& who) const noexcept {
  switch (rule.kind) {
    case rule_kind::user:
      return glob_match(rule.pattern, who.user);
    case rule_kind::database:
      return glob_match(rule.pattern, who.database);
    case rule_kind::application_name:
      return glob_match(rule.pattern, who.application_name);
    case rule_kind::tag:
      return false;
  }
  return false;
}

std::size_t tenant_rules::resolve_session_only(const session_identity& who) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    // A tag rule before any matching session rule could decide per statement.
    if (rules_[i].kind == rule_kind::tag) return npos;
    if (matches_session(rules_[i], who)) return rule_tenant_[i];
  }
  return default_index_;
}

std::size_t tenant_rules::tenant_index(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < tenant_names_.size(); ++i) {
    if (tenant_names_[i] == name) return i;
  }
  return npos;
}

}  // namespace sluice::policies
