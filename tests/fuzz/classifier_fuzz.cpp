// libFuzzer target for the SQL classifier: for any bytes, classify() and extract_session_sets() never
// crash, and their answers agree with each other (set_config() calls and DO blocks set settings that
// extract_session_sets cannot list); where the fast path answers, it answers as the full path does.
// The MySQL dialect (in each sql_mode lexing variant) gets the same bytes and the same invariants.
#include "router/classify/classifier.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

const std::string write_functions[] = {"audit_write", "bump_counter", "app.log_event"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice::router::classify;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const options opts{write_functions};

  const classification c = classify(sql, opts);
  const classification full = classify_full(sql, opts);
  if (c != full) {
    __builtin_trap();  // the fast path answered otherwise than the full path
  }
  classification fast;
  if (classify_fast(sql, opts, fast) && fast != full) {
    __builtin_trap();
  }
  if (c.pins_session && c.target != route::primary) {
    __builtin_trap();  // pinned statements must run where the pin lives
  }
  if (c.empty && (c.target != route::replica || c.statement_count_multiple || c.begins_transaction)) {
    __builtin_trap();
  }
  if (c.read_only_transaction && !c.begins_transaction) {
    __builtin_trap();
  }

  const auto sets = extract_session_sets(sql);
  if (!sets.empty() && !c.has_session_set) {
    __builtin_trap();  // the router's two views of one string must agree
  }
  if (c.has_session_set && sets.empty()) {
    // Only set_config() calls and DO blocks set settings that extract_session_sets does not list.
    std::string lowered(sql);
    for (char& ch : lowered) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (lowered.find("set_config") == std::string::npos && lowered.find("do") == std::string::npos) {
      __builtin_trap();
    }
  }
  for (const session_set& s : sets) {
    if (s.kind == set_kind::set && s.value.empty()) {
      __builtin_trap();
    }
  }
  if (c.uses_previous_result) {
    __builtin_trap();  // a MySQL-only flag
  }

  // MySQL / MariaDB: default sql_mode, NO_BACKSLASH_ESCAPES, ANSI_QUOTES.
  for (int mode = 0; mode < 3; ++mode) {
    options my{write_functions};
    my.dialect = sql_dialect::mysql;
    my.no_backslash_escapes = mode == 1;
    my.ansi_quotes = mode == 2;
    const classification m = classify(sql, my);
    if (m != classify_full(sql, my) || (classify_fast(sql, my, fast) && fast != m)) {
      __builtin_trap();  // the fast path answered otherwise than the full path
    }
    if (m.pins_session && m.target != route::primary) {
      __builtin_trap();
    }
    if (m.empty && (m.target != route::replica || m.statement_count_multiple || m.begins_transaction)) {
      __builtin_trap();
    }
    if (m.read_only_transaction && !m.begins_transaction) {
      __builtin_trap();
    }
    if (m.calls_functions || m.resets_server_state) {
      __builtin_trap();  // PostgreSQL-only flags
    }
    (void)find_tag(sql, "tenant", sql_dialect::mysql);
  }
  return 0;
}
