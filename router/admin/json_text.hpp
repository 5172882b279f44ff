// JSON text as the admin API and sluicectl print it: like boost::json::serialize, but doubles in their
// shortest plain form ("0.593", not "5.93E-1") and non-finite doubles as null.
#pragma once

#include <boost/json.hpp>
#include <cmath>
#include <fmt/format.h>
#include <iterator>
#include <string>

namespace sluice::router::admin {

inline void write_json(std::string& out, const boost::json::value& value) {
  namespace json = boost::json;
  switch (value.kind()) {
    case json::kind::null:
      out += "null";
      break;
    case json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      break;
    case json::kind::int64:
      fmt::format_to(std::back_inserter(out), "{}", value.get_int64());
      break;
    case json::kind::uint64:
      fmt::format_to(std::back_inserter(out), "{}", value.get_uint64());
      break;
    case json::kind::double_:
      if (std::isfinite(value.get_double())) {
        fmt::format_to(std::back_inserter(out), "{}", value.get_double());
      } else {
        out += "null";
      }
      break;
    case json::kind::string:
      out += json::serialize(value.get_string());
      break;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : value.get_array()) {
        if (!first) out += ',';
        first = false;
        write_json(out, item);
      }
      out += ']';
      break;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string(key));
        out += ':';
        write_json(out, item);
      }
      out += '}';
      break;
    }
  }
}

inline std::string json_text(const boost::json::value& value) {
  std::string out;
  write_json(out, value);
  return out;
}

}  // namespace sluice::router::admin
