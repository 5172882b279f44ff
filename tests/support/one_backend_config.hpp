// The smallest config the router's unit tests load: one worker and one primary that is never reached
// (port 1), followed by the test's own TOML (users, [routing], ...).
#pragma once

#include <string>
#include <string_view>

namespace sluice::testing {

inline std::string one_backend_config(std::string_view rest) {
  std::string text = R"(
listen = "127.0.0.1:6432"
workers = 1
[[backends]]
name = "pg1"
host = "127.0.0.1"
port = 1
role = "primary"
)";
  text += rest;
  return text;
}

}  // namespace sluice::testing
