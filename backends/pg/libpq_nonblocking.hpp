// libpq's non-blocking API with hard deadlines, shared by the health probes and switchover's
// administration connections: a server that hangs costs one timeout, never a stuck thread (libpq's
// own connect_timeout counts whole seconds and has a two-second minimum).
#pragma once

#include <chrono>
#include <string>

#include "backends/pg/prober.hpp"

struct pg_conn;  // libpq's PGconn

namespace sluice::backends::pg::libpq {

using steady_clock = std::chrono::steady_clock;

// Waits until the connection's socket is readable (or writable), or `deadline` passes (false).
bool wait_socket(pg_conn* conn, bool for_write, steady_clock::time_point deadline);

// Connects to `target` before `deadline`, without TLS, notices discarded. On failure returns null
// with `timed_out` set when the deadline passed, else `error` holding libpq's message.
pg_conn* connect(const probe_target& target, const char* application_name, steady_clock::time_point deadline,
                 std::string& error, bool& timed_out);

// Asks the server to cancel the query running on `conn`, best effort, without waiting: libpq's
// PQcancel blocks until the server closes the cancel connection, forever if the server is stopped
// (SIGSTOP, a frozen VM: the kernel still accepts the TCP connection), so it runs on a short-lived
// thread of its own. At most max_cancels_in_flight run at once; beyond that the cancel is skipped
// (the caller closes `conn`, which ends the query when the server next writes to it).
void cancel_query(pg_conn* conn);
inline constexpr int max_cancels_in_flight = 16;

// Cancels started by cancel_query that have not finished yet (tests and diagnostics).
int cancels_in_flight();

// `text` without trailing newlines and spaces (libpq's messages end with one).
std::string trimmed(std::string text);

}  // namespace sluice::backends::pg::libpq
