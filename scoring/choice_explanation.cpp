// Text rendering of a choice_explanation for debug logs (see choice_explanation.hpp).
#include "scoring/choice_explanation.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace sluice::scoring {

namespace {

void append(std::string& out, const char* format, auto... values) {
  char buffer[256];
  const int written = std::snprintf(buffer, sizeof buffer, format, values...);
  if (written > 0) out.append(buffer, std::min(static_cast<std::size_t>(written), sizeof buffer - 1));
}

std::string index_or_dash(const std::optional<std::size_t>& index) {
  return index ? std::to_string(*index) : std::string("-");
}

}  // namespace

std::string to_string(const choice_explanation& why) {
  std::string out;
  out += "chose " + index_or_dash(why.chosen);
  append(out, " from %zu candidate(s); sampled %s and %s%s; topology %s (primary %s)\n",
         why.candidate_count, index_or_dash(why.first_sample).c_str(),
         index_or_dash(why.second_sample).c_str(),
         why.slow_start_deferred ? " (slow start deferred the cheaper)" : "",
         to_string(why.topology), index_or_dash(why.primary).c_str());
  for (std::size_t index = 0; index < why.backend_count && index < max_backends; ++index) {
    const backend_explanation& b = why.backends[index];
    append(out, "  [%zu] %s%s cost=%.1f latency=%.1fus (stmt %.1f, probe %.1f) in_flight=%" PRIu32,
           index, to_string(b.reason), b.is_primary ? " primary" : "", b.cost, b.latency_us,
           b.statement_latency_us, b.probe_rtt_us, b.in_flight);
    if (b.lag_measured) {
      append(out, " lag=%" PRIu64 "B", b.lag.bytes);
      if (b.lag.time_known) {
        append(out, "/%lldms(%s)", static_cast<long long>(b.lag.time.count()),
               to_string(b.lag.time_source));
      }
      append(out, " penalty=%.3f", b.lag_penalty);
    }
    if (b.slow_start_factor < 1.0) append(out, " slow_start=%.2f", b.slow_start_factor);
    if (b.outlier != outlier_state::active || b.ejections_total > 0) {
      append(out, " outlier=%s last=%s ejections=%" PRIu64, to_string(b.outlier),
             to_string(b.last_ejection), b.ejections_total);
    }
    out += '\n';
  }
  return out;
}

}  // namespace sluice::scoring
