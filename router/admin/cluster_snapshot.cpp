// Gathers the workers' reports on their own threads and merges them (see cluster_snapshot.hpp).
#include "router/admin/cluster_snapshot.hpp"

#include <boost/asio/post.hpp>
#include <exception>
#include <future>
#include <memory>
#include <string>

namespace sluice::router::admin {

namespace {

// Posts fn(worker&) to every worker and waits for all answers until `timeout` (one deadline for all).
template <typename Result, typename Fn>
std::vector<Result> ask_each(const std::vector<worker*>& workers, Fn fn, std::chrono::milliseconds timeout) {
  std::vector<std::future<Result>> answers;
  answers.reserve(workers.size());
  for (auto* target : workers) {
    auto promise = std::make_shared<std::promise<Result>>();
    answers.push_back(promise->get_future());
    boost::asio::post(target->io(), [promise, target, fn]() mutable {
      try {
        promise->set_value(fn(*target));
      } catch (...) {  // control path: the admin thread rethrows it; the worker carries on
        promise->set_exception(std::current_exception());
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<Result> out;
  out.reserve(workers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    if (answers[i].wait_until(deadline) != std::future_status::ready) {
      throw gather_timeout("worker " + std::to_string(i) + " did not answer within " + std::to_string(timeout.count()) +
                           " ms");
    }
    out.push_back(answers[i].get());
  }
  return out;
}

int severity(scoring::outlier_state state) {
  switch (state) {
    case scoring::outlier_state::active: return 0;
    case scoring::outlier_state::suspect: return 1;
    case scoring::outlier_state::ejected: return 2;
  }
  return 0;
}

void add(worker_stats& sum, const worker_stats& one) {
  sum.clients_accepted += one.clients_accepted;
  sum.clients_refused += one.clients_refused;
  sum.routed_primary += one.routed_primary;
  sum.routed_replica += one.routed_replica;
  sum.replica_fallbacks += one.replica_fallbacks;
  sum.sessions_pinned += one.sessions_pinned;
  sum.settings_replayed += one.settings_replayed;
  sum.statements_prepared += one.statements_prepared;
  sum.cancels_forwarded += one.cancels_forwarded;
  sum.fallback_errors += one.fallback_errors;
  sum.writes_refused += one.writes_refused;
  sum.causal_checks += one.causal_checks;
  sum.causal_primary_reads += one.causal_primary_reads;
  sum.login_failures += one.login_failures;
  sum.startup_timeouts += one.startup_timeouts;
  sum.accept_errors += one.accept_errors;
}

std::vector<backend_view> merge_backends(const shared_state& shared, const std::vector<worker_report>& reports,
                                         const write_target& writes) {
  const auto& backends = shared.cfg().backends;
  const std::size_t count = backends.size();
  std::vector<backend_view> views(count);
  for (std::size_t i = 0; i < count; ++i) {
    views[i].index = i;
    views[i].removed = backends[i].removed;
  }
  if (reports.empty()) return views;
  const auto now = std::chrono::steady_clock::now();
  const double workers = static_cast<double>(reports.size());
  std::uint64_t replica_dispatches = 0;
  for (std::size_t i = 0; i < count; ++i) {
    auto& view = views[i];
    view.index = i;
    const auto& first = reports.front().backends[i];
    view.probed = first.probed;
    if (first.probed) {
      view.reachable = first.probe.reachable;
      if (first.probe.reachable) view.role = first.probe.in_recovery ? "replica" : "primary";
      view.probe_rtt = first.probe.rtt;
      view.probe_age = std::chrono::duration_cast<std::chrono::milliseconds>(now - first.probe.at);
      view.probe_error = first.probe_error;
      view.current_lsn = first.probe.current_lsn;
    }
    view.is_primary = writes.backend && *writes.backend == i;
    view.drained = shared.control[i].drained.load(std::memory_order_relaxed);
    view.fenced = shared.control[i].fenced.load(std::memory_order_relaxed);
    view.exclusion = scoring::to_string(first.scored.reason);
    view.lag = first.scored.lag;
    view.lag_measured = first.scored.lag_measured;
    view.slow_start_factor = first.scored.slow_start_factor;
    view.last_ejection = first.scored.last_ejection;
    for (const auto& report : reports) {
      const auto& figures = report.backends[i];
      view.latency_ewma_us += figures.scored.latency_us / workers;
      view.statement_latency_ewma_us += figures.scored.statement_latency_us / workers;
      view.probe_rtt_ewma_us += figures.scored.probe_rtt_us / workers;
      view.cost += figures.scored.cost / workers;
      view.in_flight += figures.scored.in_flight;
      view.dispatched += figures.dispatched;
      view.ejections += figures.scored.ejections_total;
      view.consecutive_failures = std::max(view.consecutive_failures, figures.scored.consecutive_failures);
      view.recent_latency.merge(figures.recent_latency);
      view.latency_count += figures.latency_count;
      view.latency_sum_us += figures.latency_sum_us;
      view.marked_down = view.marked_down || figures.marked_down;
      if (figures.scored.outlier == scoring::outlier_state::ejected) ++view.ejected_on_workers;
      if (severity(figures.scored.outlier) > severity(view.outlier)) {
        view.outlier = figures.scored.outlier;
        view.last_ejection = figures.scored.last_ejection;
      }
    }
    if (view.role == "replica") replica_dispatches += view.dispatched;
  }
  for (auto& view : views) {
    if (view.role == "replica" && replica_dispatches > 0) {
      view.read_share = static_cast<double>(view.dispatched) / static_cast<double>(replica_dispatches);
    }
  }
  return views;
}

}  // namespace

cluster_snapshot gather(const shared_state& shared, const std::vector<worker*>& workers, const gather_options& what,
                        std::chrono::milliseconds timeout) {
  cluster_snapshot snapshot;
  snapshot.workers = ask_each<worker_report>(
      workers,
      [what](worker& w) {
        worker_report report;
        report.index = w.index();
        report.stats = w.stats();
        if (what.backends) report.backends = w.backend_figures();
        if (what.pools) report.pools = w.pool_figures();
        if (what.clients) report.clients = w.client_summaries();
        report.topology = w.scorer().topology(scoring::clock_type::now());
        report.writes = w.primary();
        return report;
      },
      timeout);
  for (const auto& report : snapshot.workers) add(snapshot.totals, report.stats);
  if (!snapshot.workers.empty()) {
    snapshot.topology = snapshot.workers.front().topology;
    snapshot.writes = snapshot.workers.front().writes;
  }
  if (what.backends) snapshot.backends = merge_backends(shared, snapshot.workers, snapshot.writes);
  return snapshot;
}

choice_preview preview_choice(const std::vector<worker*>& workers, std::chrono::milliseconds timeout) {
  if (workers.empty()) throw gather_timeout("no workers");
  auto answers = ask_each<std::shared_ptr<choice_preview>>(
      {workers.front()},
      [](worker& w) {
        auto preview = std::make_shared<choice_preview>();
        preview->read = std::make_unique<scoring::choice_explanation>();
        preview->read_backend = w.explain_read(*preview->read);
        preview->writes = w.primary();
        return preview;
      },
      timeout);
  return std::move(*answers.front());
}

}  // namespace sluice::router::admin
