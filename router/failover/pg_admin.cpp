// libpq administration connections for switchover and failover (see pg_admin.hpp).
#include "router/failover/pg_admin.hpp"

#include "backends/pg/libpq_nonblocking.hpp"

#include <libpq-fe.h>

#include <cstdio>
#include <utility>

namespace sluice::router::failover {

namespace {

using steady_clock = std::chrono::steady_clock;

using backends::pg::libpq::trimmed;

}  // namespace

backends::pg::probe_target admin_target(const config::config& cfg, std::size_t index) {
  const auto& backend = cfg.backends[index];
  backends::pg::probe_target target{backend.name, backend.host, backend.port, {}, {}, cfg.health.database};
  if (!cfg.users.empty()) {
    const auto& first = cfg.users.front();
    target.user = cfg.health.user.value_or(first.server_user.empty() ? first.name : first.server_user);
    target.password = cfg.health.password ? cfg.health.password
                                          : (first.server_password ? first.server_password : first.password);
  } else if (cfg.health.user) {
    target.user = *cfg.health.user;
    target.password = cfg.health.password;
  }
  return target;
}

std::string pg_result::value() const {
  if (!ok || rows.empty() || rows.front().empty() || !rows.front().front()) return {};
  return *rows.front().front();
}

pg_admin::~pg_admin() { close(); }

pg_admin::pg_admin(pg_admin&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), error_(std::move(other.error_)) {}

pg_admin& pg_admin::operator=(pg_admin&& other) noexcept {
  if (this != &other) {
    close();
    conn_ = std::exchange(other.conn_, nullptr);
    error_ = std::move(other.error_);
  }
  return *this;
}

void pg_admin::close() noexcept {
  if (conn_ != nullptr) PQfinish(static_cast<PGconn*>(conn_));
  conn_ = nullptr;
}

bool pg_admin::connected() const noexcept {
  return conn_ != nullptr && PQstatus(static_cast<const PGconn*>(conn_)) == CONNECTION_OK;
}

bool pg_admin::connect(const backends::pg::probe_target& target, std::chrono::milliseconds timeout,
                       std::string_view application_name) {
  close();
  error_.clear();
  const auto deadline = steady_clock::now() + timeout;
  const std::string application(application_name);
  bool timed_out = false;
  conn_ = backends::pg::libpq::connect(target, application.c_str(), deadline, error_, timed_out);
  if (timed_out) error_ = "connect to " + target.host + ":" + std::to_string(target.port) + " timed out";
  return conn_ != nullptr;
}

pg_result pg_admin::query(std::string_view sql, const std::vector<std::string>& params,
                          std::chrono::milliseconds timeout) {
  auto out = run(sql, params, timeout);
  if (!out.ok) error_ = out.error;
  return out;
}

pg_result pg_admin::run(std::string_view sql, const std::vector<std::string>& params, std::chrono::milliseconds timeout) {
  pg_result out;
  auto* conn = static_cast<PGconn*>(conn_);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    out.error = "not connected";
    return out;
  }
  const auto deadline = steady_clock::now() + timeout;
  const std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  if (PQsendQueryParams(conn, text.c_str(), static_cast<int>(values.size()), nullptr,
                        values.empty() ? nullptr : values.data(), nullptr, nullptr, 0) == 0) {
    out.error = trimmed(PQerrorMessage(conn));
    return out;
  }
  PGresult* last = nullptr;
  for (;;) {
    while (PQisBusy(conn) == 0) {
      PGresult* result = PQgetResult(conn);
      if (result == nullptr) {
        if (last == nullptr) {
          out.error = "no result";
          return out;
        }
        const auto status = PQresultStatus(last);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
          out.error = trimmed(PQresultErrorMessage(last));
          if (const char* state = PQresultErrorField(last, PG_DIAG_SQLSTATE)) out.sqlstate = state;
        } else {
          out.ok = true;
          const int rows = PQntuples(last);
          const int columns = PQnfields(last);
          out.rows.resize(static_cast<std::size_t>(rows));
          for (int r = 0; r < rows; ++r) {
            for (int c = 0; c < columns; ++c) {
              if (PQgetisnull(last, r, c) != 0) {
                out.rows[static_cast<std::size_t>(r)].emplace_back(std::nullopt);
              } else {
                out.rows[static_cast<std::size_t>(r)].emplace_back(
                    std::string(PQgetvalue(last, r, c), static_cast<std::size_t>(PQgetlength(last, r, c))));
              }
            }
          }
        }
        PQclear(last);
        return out;
      }
      if (last != nullptr) PQclear(last);
      last = result;
    }
    if (!backends::pg::libpq::wait_socket(conn, false, deadline)) {
      out.error = "query timed out";
      backends::pg::libpq::cancel_query(conn);
      if (last != nullptr) PQclear(last);
      close();  // unknown protocol state: the next query reconnects
      return out;
    }
    if (PQconsumeInput(conn) == 0) {
      out.error = trimmed(PQerrorMessage(conn));
      if (last != nullptr) PQclear(last);
      close();
      return out;
    }
  }
}

std::optional<std::uint64_t> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  const auto hex = [](std::string_view part) -> std::optional<std::uint64_t> {
    if (part.size() > 8) return std::nullopt;
    std::uint64_t value = 0;
    for (const char c : part) {
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<std::uint64_t>(c - '0');
      else if (c >= 'A' && c <= 'F') value |= static_cast<std::uint64_t>(c - 'A' + 10);
      else if (c >= 'a' && c <= 'f') value |= static_cast<std::uint64_t>(c - 'a' + 10);
      else return std::nullopt;
    }
    return value;
  };
  const auto high = hex(text.substr(0, slash));
  const auto low = hex(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return (*high << 32) | *low;
}

std::string format_lsn(std::uint64_t lsn) {
  char text[32];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
  return text;
}

std::string sql_literal(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

namespace {

// libpq's conninfo syntax: key = value, whitespace between pairs; a value is either a run of
// non-space characters or single-quoted with \' and \\ escapes (libpq's conninfo_parse).
std::vector<std::pair<std::string, std::string>> parse_conninfo(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  for (;;) {
    skip_space();
    if (i >= text.size()) break;
    std::string key;
    while (i < text.size() && text[i] != '=' && text[i] != ' ' && text[i] != '\t') key += text[i++];
    skip_space();
    if (i < text.size() && text[i] == '=') ++i;
    skip_space();
    std::string value;
    if (i < text.size() && text[i] == '\'') {
      ++i;
      while (i < text.size() && text[i] != '\'') {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value += text[i++];
      }
      if (i < text.size()) ++i;
    } else {
      while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value += text[i++];
      }
    }
    if (!key.empty()) pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

std::string quote_conninfo_value(std::string_view value) {
  std::string out = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace

std::string rewrite_conninfo(std::string_view conninfo, std::string_view host, std::uint16_t port) {
  auto pairs = parse_conninfo(conninfo);
  bool host_done = false;
  bool port_done = false;
  std::string out;
  for (auto& [key, value] : pairs) {
    if (key == "hostaddr") continue;  // would win over host
    if (key == "host") {
      if (host_done) continue;
      value = std::string(host);
      host_done = true;
    } else if (key == "port") {
      if (port_done) continue;
      value = std::to_string(port);
      port_done = true;
    }
    if (!out.empty()) out += ' ';
    out += key + '=' + quote_conninfo_value(value);
  }
  if (!host_done) out += std::string(out.empty() ? "" : " ") + "host=" + quote_conninfo_value(host);
  if (!port_done) out += " port=" + quote_conninfo_value(std::to_string(port));
  return out;
}

}  // namespace sluice::router::failover
