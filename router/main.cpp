// sluice: entry point. Loads the config, fits the client limit to the open-file limit, starts one worker
// thread per core, drains and stops on SIGINT/SIGTERM.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <spdlog/spdlog.h>
#include <string>
#include <thread>
#include <vector>

#include "backends/pg/prober.hpp"
#include "router/admin/admin_server.hpp"
#include "router/config/config.hpp"
#include "router/failover/orchestrator.hpp"
#include "router/failover/pg_admin.hpp"
#include "router/mysql/client_session.hpp"
#include "router/pg/client_session.hpp"
#include "router/reloader.hpp"
#include "router/shared_state.hpp"
#include "router/worker.hpp"

namespace {

void print_usage() {
  std::fputs(
      "usage: sluice --config FILE [--check]\n"
      "  --config FILE  the TOML configuration (see docs/configuration.md)\n"
      "  --check        validate the configuration, print warnings, and exit\n"
      "  --version      print sluice's version and exit\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if ((argument == "--config" || argument == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (argument == "--check") {
      check_only = true;
    } else if (argument == "--version") {
      std::printf("sluice %s\n", SLUICE_VERSION);
      return 0;
    } else if (argument == "--help" || argument == "-h") {
      print_usage();
      return 0;
    } else {
      print_usage();
      return 2;
    }
  }
  if (config_path.empty()) {
    print_usage();
    return 2;
  }

  std::unique_ptr<sluice::router::shared_state> shared;
  sluice::router::config::config loaded;
  try {
    loaded = sluice::router::config::load_config_file(config_path);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sluice: %s\n", error.what());
    return 1;
  }
  loaded.workers = sluice::router::config::resolve_workers(loaded.workers);
  if (!check_only) {
    spdlog::set_level(spdlog::level::from_str(loaded.logging.level));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
    for (const auto& warning : loaded.warnings) spdlog::warn("{}", warning);
    sluice::router::fit_clients_to_open_files(loaded);
  }
  try {
    shared = std::make_unique<sluice::router::shared_state>(std::move(loaded));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sluice: %s\n", error.what());
    return 1;
  }
  if (check_only) {
    for (const auto& warning : shared->cfg().warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    std::printf("configuration OK: %zu backends, %zu users\n", shared->cfg().backends.size(), shared->cfg().users.size());
    return 0;
  }
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<sluice::router::worker>> workers;
  try {
    for (unsigned i = 0; i < shared->cfg().workers; ++i) {
      workers.push_back(std::make_unique<sluice::router::worker>(*shared, i));
      workers.back()->listen(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(shared->cfg().listen_host),
                                                      shared->cfg().listen_port),
                             sluice::router::pg::postgresql_front_end);
    }
  } catch (const std::exception& error) {
    spdlog::critical("cannot listen on {}:{}: {}", shared->cfg().listen_host, shared->cfg().listen_port, error.what());
    return 1;
  }
  if (const auto& mysql = shared->cfg().mysql; mysql.enabled) {
    try {
      for (auto& started : workers) {
        started->listen(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(mysql.listen_host), mysql.listen_port),
                        sluice::router::mysql::mysql_front_end);
      }
    } catch (const std::exception& error) {
      spdlog::critical("cannot listen for MySQL clients on {}:{} (mysql.listen): {}", mysql.listen_host,
                       mysql.listen_port, error.what());
      return 1;
    }
  }
  spdlog::info("sluice listening on {}:{} with {} workers, {} backends", shared->cfg().listen_host,
               shared->cfg().listen_port, workers.size(), shared->cfg().backends.size());
  if (shared->cfg().mysql.enabled) {
    spdlog::info("sluice listening for MySQL clients on {}:{}, {} MySQL backends", shared->cfg().mysql.listen_host,
                 shared->cfg().mysql.listen_port, shared->cfg().mysql.backends.size());
  }

  // The admin API (docs/admin-api.md): bound now, so a taken port or a missing token stops start-up;
  // served on its own thread once the workers run. POST /reload is SIGHUP's reload; switchover and
  // failover are the orchestrator's (switchover, failover and the failure monitor, fed every probe
  // sample below; docs/operations.md).
  sluice::router::failover::orchestrator orchestrator(*shared);
  std::vector<sluice::router::worker*> worker_pointers;
  for (auto& w : workers) worker_pointers.push_back(w.get());
  // SIGHUP and POST /reload (router/reloader.hpp): the whole file again, applied where it can be.
  sluice::router::reloader reloads(*shared, worker_pointers);
  const auto reload_now = [&reloads](const char* why) {
    const auto report = reloads.reload();
    if (report.ok) {
      spdlog::info("{}: {}", why, report.summary());
    } else {
      spdlog::error("{}: {}", why, report.summary());
    }
    return report;
  };
  std::unique_ptr<sluice::router::admin::admin_server> admin;
  if (shared->cfg().admin.enabled) {
    sluice::router::admin::admin_actions actions;
    actions.reload = [&reload_now]() -> sluice::router::admin::action_result {
      const auto report = reload_now("reload (admin API)");
      return {report.ok ? 200 : 400, report.to_json()};
    };
    actions.switchover = [&orchestrator](const std::string& target) -> sluice::router::admin::action_result {
      const auto report = orchestrator.switchover(target);
      return {report.status, report.to_json()};
    };
    actions.failover = [&orchestrator]() -> sluice::router::admin::action_result {
      const auto report = orchestrator.failover();
      return {report.status, report.to_json()};
    };
    actions.failover_status = [&orchestrator] { return orchestrator.status_json(); };
    std::vector<sluice::router::worker*> worker_list;
    for (auto& w : workers) worker_list.push_back(w.get());
    try {
      admin = std::make_unique<sluice::router::admin::admin_server>(*shared, std::move(worker_list), std::move(actions));
    } catch (const std::exception& error) {
      spdlog::critical("admin API on {}:{}: {}", shared->cfg().admin.listen_host, shared->cfg().admin.listen_port,
                       error.what());
      return 1;
    }
  }

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  // Health probes: one libpq connection per backend on its own thread; every sample goes to every
  // worker's scorer (posted, so the scorers stay single-threaded).
  // The probe settings are the start's (a reload that changes [health] needs a restart); backends a
  // reload adds or removes start or stop their probe thread (reloader).
  const auto& cfg = shared->cfg();
  std::vector<sluice::backends::pg::probe_target> targets;
  for (std::size_t i = 0; i < cfg.backends.size(); ++i) {
    targets.push_back(sluice::router::failover::admin_target(cfg, i));  // the health user's credentials
  }
  sluice::backends::pg::prober_settings probe_settings;
  probe_settings.interval = cfg.health.probe_interval;
  probe_settings.timeout = cfg.health.probe_timeout;
  probe_settings.heartbeat = cfg.health.heartbeat;
  // Per backend, touched only by that backend's probe thread: log changes, not every probe.
  struct last_seen {
    bool known = false;
    bool reachable = false;
    bool in_recovery = false;
    std::string heartbeat_error;
  };
  std::vector<last_seen> seen(shared->backend_slots);
  sluice::backends::pg::prober probes(
      std::move(targets), probe_settings, [&](std::size_t backend, const sluice::backends::pg::probe_sample& sample) {
        auto& last = seen[backend];
        const auto& name = shared->cfg().backends[backend].name;  // the settings in force (a reload may add backends)
        const auto& probe = sample.probe;
        if (!last.known || last.reachable != probe.reachable || (probe.reachable && last.in_recovery != probe.in_recovery)) {
          if (probe.reachable) {
            spdlog::info("backend '{}' is reachable: {} (probe {} us)", name,
                         probe.in_recovery ? "replica (in recovery)" : "primary (not in recovery)", probe.rtt.count());
          } else {
            spdlog::warn("backend '{}' is unreachable: {}", name, sample.error);
          }
          last.known = true;
          last.reachable = probe.reachable;
          last.in_recovery = probe.in_recovery;
        }
        if (probe.reachable && sample.heartbeat_error != last.heartbeat_error) {
          if (!sample.heartbeat_error.empty()) {
            spdlog::warn("backend '{}': heartbeat failed (lag in time falls back to replay timestamps): {}",
                         name, sample.heartbeat_error);
          } else {
            spdlog::info("backend '{}': heartbeat works again", name);
          }
          last.heartbeat_error = sample.heartbeat_error;
        }
        for (auto& w : workers) {
          boost::asio::post(w->io(), [target = w.get(), backend, sample] { target->on_probe(backend, sample); });
        }
        orchestrator.on_probe(backend, sample);
      });
  orchestrator.start();
  probes.start();
  reloads.set_prober(&probes);
  // Host names re-resolved in the background after health.dns_ttl or a failed connect.
  shared->addresses.start([](const std::string& line) { spdlog::warn("{}", line); });
  if (admin) admin->start();

  boost::asio::io_context signals_context;
  // SIGHUP (and POST /reload): the config file again (a broken file changes nothing). SIGHUP also
  // resolves the backends' host names again.
  boost::asio::signal_set hangups(signals_context, SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangups.async_wait([&](const boost::system::error_code& error, int) {
      if (error) return;
      // Backend host names: resolved again (a name that moved takes new server connections there).
      for (const auto& line : shared->addresses.refresh_all()) spdlog::warn("SIGHUP: {}", line);
      reload_now("SIGHUP");
      await_hangup();
    });
  };
  await_hangup();
  boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);
  // Graceful shutdown (docs/operations.md, "Stopping and restarting"): the first SIGTERM/SIGINT closes
  // the listeners and lets every client finish its transaction or statement, each told FATAL 57P01
  // when it is idle or next starts one (worker::begin_drain). sluice stops when the last client has
  // gone, when shutdown_timeout passes (the rest are cut), or at a second signal.
  boost::asio::steady_timer drain_timer(signals_context);
  auto drain_started = std::chrono::steady_clock::now();  // set again at the first signal
  const auto stop_now = [&](const char* why) {
    const auto left = shared->clients.load(std::memory_order_relaxed);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - drain_started);
    if (left == 0) {
      spdlog::info("{} ({} ms after the signal)", why, took.count());
    } else {
      spdlog::warn("{} ({} ms after the signal): {} clients still connected are cut", why, took.count(), left);
    }
    hangups.cancel();
    signals.cancel();
    drain_timer.cancel();
    for (auto& w : workers) w->stop();
  };
  std::function<void()> watch_drain = [&] {
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](const boost::system::error_code& error) {
      if (error) return;
      if (shared->clients.load(std::memory_order_relaxed) == 0) return stop_now("every client has gone");
      if (std::chrono::steady_clock::now() - drain_started >= shared->cfg().shutdown_timeout) {
        return stop_now("shutdown_timeout passed");
      }
      watch_drain();
    });
  };
  signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
    if (error) return;
    drain_started = std::chrono::steady_clock::now();
    spdlog::info(
        "received signal {}: no new clients; {} connected clients may finish their transactions for up to "
        "shutdown_timeout ({} ms), then sluice stops (signal again to stop at once)",
        signal_number, shared->clients.load(std::memory_order_relaxed), shared->cfg().shutdown_timeout.count());
    for (auto& w : workers) boost::asio::post(w->io(), [target = w.get()] { target->begin_drain(); });
    // The successor (a new sluice on the same port) takes over the admin API's port too, and only
    // one process should decide failovers: this one stops both while it drains.
    admin.reset();
    orchestrator.stop();
    signals.async_wait([&](const boost::system::error_code& again, int second) {
      if (again) return;
      spdlog::info("received signal {} again", second);
      stop_now("stopping at once");
    });
    watch_drain();
  });
  signals_context.run();
  if (admin) admin->stop();
  probes.stop();
  shared->addresses.stop();
  orchestrator.stop();
  for (auto& t : threads) t.join();
  // Before the workers (and the sessions suspended in them) are destroyed: nothing may be posted
  // to their io_contexts from now on.
  shared->tenants.stop();
  spdlog::info("sluice stopped");
  return 0;
}
