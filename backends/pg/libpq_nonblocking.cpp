// libpq with deadlines (see libpq_nonblocking.hpp).
#include "backends/pg/libpq_nonblocking.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <system_error>
#include <thread>

namespace sluice::backends::pg::libpq {

bool wait_socket(pg_conn* conn, bool for_write, steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now()).count();
  if (left <= 0) return false;
  pollfd descriptor{PQsocket(conn), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  return ::poll(&descriptor, 1, static_cast<int>(left)) > 0;
}

pg_conn* connect(const probe_target& target, const char* application_name, steady_clock::time_point deadline,
                 std::string& error, bool& timed_out) {
  timed_out = false;
  const std::string port = std::to_string(target.port);
  const char* keywords[] = {"host", "port", "user", "password", "dbname", "application_name", "sslmode", nullptr};
  const char* values[] = {target.host.c_str(),
                          port.c_str(),
                          target.user.c_str(),
                          target.password ? target.password->c_str() : nullptr,
                          target.database.c_str(),
                          application_name,
                          "disable",
                          nullptr};
  PGconn* conn = PQconnectStartParams(keywords, values, 0);
  if (conn == nullptr) {
    error = "out of memory";
    return nullptr;
  }
  for (;;) {
    const auto status = PQconnectPoll(conn);
    if (status == PGRES_POLLING_OK) {
      // Nothing to say about server notices; libpq would print them to stderr.
      PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
      return conn;
    }
    if (status == PGRES_POLLING_FAILED) break;
    if (!wait_socket(conn, status == PGRES_POLLING_WRITING, deadline)) {
      timed_out = true;
      PQfinish(conn);
      return nullptr;
    }
  }
  error = trimmed(PQerrorMessage(conn));
  PQfinish(conn);
  return nullptr;
}

namespace {

std::atomic<int> cancels_running{0};

}  // namespace

void cancel_query(pg_conn* conn) {
  PGcancel* cancel = PQgetCancel(conn);  // a copy of the address and key: independent of `conn`
  if (cancel == nullptr) return;
  if (cancels_running.fetch_add(1) >= max_cancels_in_flight) {
    cancels_running.fetch_sub(1);
    PQfreeCancel(cancel);
    return;
  }
  try {
    std::thread([cancel] {
      char message[256];
      PQcancel(cancel, message, sizeof message);
      PQfreeCancel(cancel);
      cancels_running.fetch_sub(1);
    }).detach();
  } catch (const std::system_error&) {  // no thread to be had: skip the cancel
    cancels_running.fetch_sub(1);
    PQfreeCancel(cancel);
  }
}

int cancels_in_flight() { return cancels_running.load(); }

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace sluice::backends::pg::libpq
