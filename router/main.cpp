// sluice: entry point. Loads the config, starts one worker thread per core, stops on SIGINT/SIGTERM.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <spdlog/spdlog.h>
#include <string>
#include <thread>
#include <vector>

#include "router/config/config.hpp"
#include "router/shared_state.hpp"
#include "router/worker.hpp"

namespace {

void print_usage() {
  std::fputs(
      "usage: sluice --config FILE [--check]\n"
      "  --config FILE  the TOML configuration (see docs/configuration.md)\n"
      "  --check        validate the configuration and exit\n",
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
  try {
    shared = std::make_unique<sluice::router::shared_state>(sluice::router::config::load_config_file(config_path));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sluice: %s\n", error.what());
    return 1;
  }
  if (check_only) {
    std::printf("configuration OK: %zu backends, %zu users\n", shared->cfg.backends.size(), shared->cfg.users.size());
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(shared->cfg.logging.level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<sluice::router::worker>> workers;
  try {
    for (unsigned i = 0; i < shared->cfg.workers; ++i) {
      workers.push_back(std::make_unique<sluice::router::worker>(*shared, i));
      workers.back()->listen();
    }
  } catch (const std::exception& error) {
    spdlog::critical("cannot listen on {}:{}: {}", shared->cfg.listen_host, shared->cfg.listen_port, error.what());
    return 1;
  }
  spdlog::info("sluice listening on {}:{} with {} workers, {} backends", shared->cfg.listen_host,
               shared->cfg.listen_port, workers.size(), shared->cfg.backends.size());

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  boost::asio::io_context signals_context;
  boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int signal_number) {
    spdlog::info("received signal {}, stopping", signal_number);
    for (auto& w : workers) w->stop();
  });
  signals_context.run();
  for (auto& t : threads) t.join();
  spdlog::info("sluice stopped");
  return 0;
}
