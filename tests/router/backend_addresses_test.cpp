// backend_addresses with an injected resolver and clock: names resolved at start, again after the TTL
// at a connect, after a failed connect (rate limited), on SIGHUP (refresh_all); failures keep the last
// address; IP literals are never resolved; the background thread publishes what it finds.
#include "router/backend_addresses.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using sluice::router::backend_addresses;
namespace config = sluice::router::config;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A DNS of the test's own: host -> address (empty string: does not resolve), counting lookups.
struct fake_dns {
  std::map<std::string, std::string> records;
  std::map<std::string, int> lookups;

  backend_addresses::resolver resolver() {
    return [this](const std::string& host, std::uint16_t port, std::string& error) {
      ++lookups[host];
      std::vector<tcp::endpoint> out;
      const auto found = records.find(host);
      if (found == records.end() || found->second.empty()) {
        error = "Host not found";
        return out;
      }
      out.emplace_back(asio::ip::make_address(found->second), port);
      return out;
    };
  }
};

struct fake_clock {
  backend_addresses::clock::time_point now{std::chrono::hours(1)};
  std::function<backend_addresses::clock::time_point()> function() {
    return [this] { return now; };
  }
};

std::vector<config::backend_config> two_backends() {
  config::backend_config primary;
  primary.name = "pg1";
  primary.host = "db-primary.example";
  primary.port = 5432;
  primary.role = config::backend_role::primary;
  config::backend_config replica;
  replica.name = "pg2";
  replica.host = "10.0.0.9";  // a literal: never resolved
  replica.port = 5433;
  return {primary, replica};
}

tcp::endpoint at(const char* ip, std::uint16_t port) { return {asio::ip::make_address(ip), port}; }

}  // namespace

TEST_CASE("backend_addresses: names are resolved at start; IP literals are not", "[backend_addresses]") {
  fake_dns dns;
  dns.records["db-primary.example"] = "192.0.2.1";
  fake_clock clock;
  backend_addresses addresses(two_backends(), 5s, dns.resolver(), clock.function());
  CHECK(addresses.current(0) == at("192.0.2.1", 5432));
  CHECK(addresses.current(1) == at("10.0.0.9", 5433));
  CHECK(dns.lookups["db-primary.example"] == 1);
  CHECK(dns.lookups.count("10.0.0.9") == 0);
}

TEST_CASE("backend_addresses: a name that does not resolve at start is fatal, naming backend and host",
          "[backend_addresses]") {
  fake_dns dns;
  fake_clock clock;
  try {
    backend_addresses addresses(two_backends(), 5s, dns.resolver(), clock.function());
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("backend 'pg1': cannot resolve host 'db-primary.example'"));
  }
}

TEST_CASE("backend_addresses: a failed connect re-resolves the name, new connects use the new address",
          "[backend_addresses]") {
  fake_dns dns;
  dns.records["db-primary.example"] = "192.0.2.1";
  fake_clock clock;
  backend_addresses addresses(two_backends(), 5s, dns.resolver(), clock.function());
  dns.records["db-primary.example"] = "192.0.2.77";  // the node was replaced

  // Within the TTL a connect uses the known address and asks nothing.
  clock.now += 2s;
  CHECK(addresses.endpoint_for_connect(0) == at("192.0.2.1", 5432));
  CHECK(addresses.run_pending().empty());
  CHECK(dns.lookups["db-primary.example"] == 1);

  // It fails: the next resolution (the background thread's run) publishes the new address.
  addresses.connect_failed(0);
  addresses.connect_failed(0);  // several workers failing at once ask once
  const auto lines = addresses.run_pending();
  CHECK(dns.lookups["db-primary.example"] == 2);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Matchers::Contains("now resolves to 192.0.2.77:5432 (was 192.0.2.1:5432)"));
  CHECK(addresses.endpoint_for_connect(0) == at("192.0.2.77", 5432));
  CHECK(addresses.current(0) == at("192.0.2.77", 5432));
}

TEST_CASE("backend_addresses: failures re-resolve at most once per min_refresh_interval", "[backend_addresses]") {
  fake_dns dns;
  dns.records["db-primary.example"] = "192.0.2.1";
  fake_clock clock;
  backend_addresses addresses(two_backends(), 5s, dns.resolver(), clock.function());
  clock.now += 100ms;
  addresses.connect_failed(0);  // resolved 100 ms ago: not again yet
  addresses.run_pending();
  CHECK(dns.lookups["db-primary.example"] == 1);
  clock.now += backend_addresses::min_refresh_interval;
  addresses.connect_failed(0);
  addresses.run_pending();
  CHECK(dns.lookups["db-primary.example"] == 2);
  addresses.connect_failed(1);  // a literal: nothing to resolve
  addresses.run_pending();
  CHECK(dns.lookups.count("10.0.0.9") == 0);
}

TEST_CASE("backend_addresses: a connect after the TTL re-resolves in the background", "[backend_addresses]") {
  fake_dns dns;
  dns.records["db-primary.example"] = "192.0.2.1";
  fake_clock clock;
  backend_addresses addresses(two_backends(), 5s, dns.resolver(), clock.function());
  dns.records["db-primary.example"] = "192.0.2.2";
  clock.now += 5s;
  // This connect still gets the address it had (no blocking lookup on a worker), and asks for a new one.
  CHECK(addresses.endpoint_for_connect(0) == at("192.0.2.1", 5432));
  addresses.run_pending();
  CHECK(addresses.endpoint_for_connect(0) == at("192.0.2.2", 5432));
}

TEST_CASE("backend_addresses: a name that stops resolving keeps its last address", "[backend_addresses]") {
  fake_dns dns;
  dns.records["db-primary.example"] = "192.0.2.1";
  fake_clock clock;
  backend_addresses addresses(two_backends(), 5s, dns.resolver(), clock.function());
  dns.records["db-primary.example"] = "";
  const auto lines = addresses.refresh_all();  // SIGHUP
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Matchers::Contains("cannot resolve host 'db-primary.example'"));
  CHECK_THAT(lines[0], Catch::Matchers::Contains("keeping 192.0.2.1:5432"));
  CHECK(addresses.current(0) == at("192.0.2.1", 5432));
  dns.records["db-primary.example"] = "2001:db8::5";
  const auto again = addresses.refresh_all();
  REQUIRE(again.size() == 1);
  CHECK_THAT(again[0], Catch::Matchers::Contains("[2001:db8::5]:5432"));
  CHECK(addresses.current(0) == at("2001:db8::5", 5432));
  CHECK(addresses.refresh_all().empty());  // unchanged: nothing to say
}

TEST_CASE("backend_addresses: the background thread publishes while others read", "[backend_addresses][threads]") {
  fake_dns dns;
  dns.records["db-primary.example"] = "192.0.2.1";
  backend_addresses addresses(two_backends(), 5s, dns.resolver());
  dns.records["db-primary.example"] = "192.0.2.3";
  std::vector<std::string> changes;
  std::mutex changes_mutex;
  addresses.start([&](const std::string& line) {
    std::lock_guard lock(changes_mutex);
    changes.push_back(line);
  });
  std::this_thread::sleep_for(backend_addresses::min_refresh_interval + 50ms);
  std::atomic<bool> seen{false};
  std::thread reader([&] {
    for (int i = 0; i < 2000 && !seen; ++i) {
      if (addresses.endpoint_for_connect(0) == at("192.0.2.3", 5432)) seen = true;
      std::this_thread::sleep_for(1ms);
    }
  });
  addresses.connect_failed(0);
  reader.join();
  addresses.stop();
  CHECK(seen);
  std::lock_guard lock(changes_mutex);
  CHECK(changes.size() == 1);
}
