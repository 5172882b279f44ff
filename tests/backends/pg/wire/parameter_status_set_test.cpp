// parameter_status_set: a pool's ParameterStatus messages encoded once for every greeting (issue 14).
// What it appends must be byte for byte what encoding each message for the client gives, the client's
// own startup values included.
#include "backends/pg/wire/parameter_status_set.hpp"

#include <catch2/catch.hpp>

#include <cctype>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace sluice::backends::pg::wire;

namespace {

using parameters = std::vector<std::pair<std::string, std::string>>;

// The greeting as every session used to encode it: each server parameter, with the value of the last
// client startup parameter of the same name (any case) instead of the server's.
byte_buffer encode_each(const parameters& server, const parameters& client) {
  const auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
  };
  byte_buffer out;
  for (const auto& [name, value] : server) {
    std::string_view shown = value;
    for (const auto& [client_name, client_value] : client) {
      if (iequals(client_name, name)) shown = client_value;
    }
    encode_parameter_status(out, name, shown);
  }
  return out;
}

// What PostgreSQL 15 reports at login.
const parameters server_reported = {
    {"application_name", ""},         {"client_encoding", "UTF8"},         {"DateStyle", "ISO, MDY"},
    {"default_transaction_read_only", "off"}, {"in_hot_standby", "off"},   {"integer_datetimes", "on"},
    {"IntervalStyle", "postgres"},    {"is_superuser", "off"},             {"server_encoding", "UTF8"},
    {"server_version", "15.10"},      {"session_authorization", "app"},    {"standard_conforming_strings", "on"},
    {"TimeZone", "Etc/UTC"},
};

}  // namespace

TEST_CASE("parameter_status_set: without overrides, the messages encoded one by one", "[parameter_status_set]") {
  const parameter_status_set set(server_reported);
  CHECK(set.size() == server_reported.size());
  byte_buffer out = {'x'};  // appends after what is there
  set.append_to(out, {});
  byte_buffer expected = {'x'};
  const auto each = encode_each(server_reported, {});
  expected.insert(expected.end(), each.begin(), each.end());
  CHECK(out == expected);
}

TEST_CASE("parameter_status_set: a client's startup values show, at the server's place", "[parameter_status_set]") {
  const parameters client = GENERATE(
      parameters{{"application_name", "pgbench"}},
      parameters{{"client_encoding", "LATIN1"}},
      parameters{{"application_name", "first"}, {"client_encoding", "SQL_ASCII"}},
      parameters{{"datestyle", "German"}, {"timezone", "Europe/Paris"}},        // names of another case
      parameters{{"TimeZone", "A"}, {"search_path", "s"}, {"TIMEZONE", "B"}},  // the last one wins
      parameters{{"search_path", "s"}},                                         // no such parameter: nothing added
      parameters{{"application_name", std::string(300, 'a')}},                  // longer than the server's value
      parameters{{"TimeZone", ""}});
  const parameter_status_set set(server_reported);
  byte_buffer out;
  set.append_to(out, client);
  CHECK(out == encode_each(server_reported, client));
  // And every message frames on its own.
  std::size_t count = 0;
  bytes_view rest(out.data(), out.size());
  while (!rest.empty()) {
    const auto framed = frame_message(rest, 1 << 20);
    REQUIRE(framed.status == frame_status::ok);
    CHECK(framed.message.type == be::parameter_status);
    rest = rest.subspan(framed.message.wire_size);
    ++count;
  }
  CHECK(count == server_reported.size());
}

TEST_CASE("parameter_status_set: empty, copied, moved", "[parameter_status_set]") {
  const parameter_status_set none;
  CHECK(none.empty());
  byte_buffer out;
  none.append_to(out, parameters{{"application_name", "x"}});
  CHECK(out.empty());

  auto original = std::make_unique<parameter_status_set>(server_reported);
  const parameter_status_set copy = *original;
  const parameter_status_set moved = std::move(*original);
  original.reset();  // offsets, not views into the original's bytes
  const parameters client = {{"client_encoding", "LATIN1"}};
  byte_buffer a, b;
  copy.append_to(a, client);
  moved.append_to(b, client);
  CHECK(a == encode_each(server_reported, client));
  CHECK(b == a);
}

TEST_CASE("parameter_status_set: size_bound covers what append_to appends", "[parameter_status_set]") {
  const parameter_status_set set(server_reported);
  for (const parameters& client : {parameters{}, parameters{{"application_name", "pgbench"}},
                                   parameters{{"search_path", std::string(100, 's')}, {"TimeZone", "UTC"}}}) {
    byte_buffer out;
    set.append_to(out, client);
    CHECK(out.size() <= set.size_bound(client));
    CHECK(out.capacity() == set.size_bound(client));  // one allocation, no growth after it
  }
}
