// libpq health probes (see prober.hpp). Connect and query both use libpq's non-blocking API with
// deadlines (libpq_nonblocking.hpp), so a backend that hangs costs one timeout, never a stuck thread.
#include "backends/pg/prober.hpp"

#include "backends/pg/libpq_nonblocking.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <string_view>

namespace sluice::backends::pg {

namespace {

using steady_clock = std::chrono::steady_clock;

// One round trip: role, WAL position, receive position, last replay time, server clock.
constexpr const char* probe_query =
    "SELECT pg_is_in_recovery(), "
    "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END - '0/0')::int8, "
    "COALESCE((pg_last_wal_receive_lsn() - '0/0')::int8, 0), "
    "(extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000000)::int8, "
    "(extract(epoch FROM clock_timestamp()) * 1000000)::int8";

// Heartbeat (heartbeat = true): the primary upserts a row with its clock; replicas read the row they
// have replayed. The difference between the primary's clock and the replayed value is the lag in time,
// exact even when the primary is idle (it is never idle: the heartbeat writes).
constexpr const char* heartbeat_create =
    "CREATE TABLE IF NOT EXISTS sluice_heartbeat (id int PRIMARY KEY, ts timestamptz NOT NULL)";
constexpr const char* heartbeat_write =
    "INSERT INTO sluice_heartbeat VALUES (1, clock_timestamp()) "
    "ON CONFLICT (id) DO UPDATE SET ts = excluded.ts "
    "RETURNING (extract(epoch FROM ts) * 1000000)::int8";
constexpr const char* heartbeat_read =
    "SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM sluice_heartbeat WHERE id = 1";
// SQLSTATE undefined_table: the heartbeat table is not there yet (matched by code, not by the
// server's message text, which lc_messages may translate).
constexpr std::string_view undefined_table_sqlstate = "42P01";
// What a probe that got no answer in time reports (probe_sample::timed_out tells them apart from errors).
constexpr const char* connect_timed_out = "connect timed out";
constexpr const char* query_timed_out = "query timed out";

PGconn* connect(const probe_target& target, steady_clock::time_point deadline, std::string& error) {
  bool timed_out = false;
  PGconn* conn = libpq::connect(target, "sluice-probe", deadline, error, timed_out);
  if (timed_out) error = connect_timed_out;
  return conn;
}

// Runs `sql` and returns its last result, or null with `error` set (timeout: the query is cancelled).
// When the server answered with an error, `sqlstate` (if given) gets its SQLSTATE.
PGresult* run_query(PGconn* conn, const char* sql, steady_clock::time_point deadline, std::string& error,
                    std::string* sqlstate = nullptr) {
  if (PQsendQuery(conn, sql) == 0) {
    error = PQerrorMessage(conn);
    return nullptr;
  }
  PGresult* last = nullptr;
  for (;;) {
    while (PQisBusy(conn) == 0) {
      PGresult* result = PQgetResult(conn);
      if (result == nullptr) {
        if (last != nullptr && PQresultStatus(last) != PGRES_TUPLES_OK && PQresultStatus(last) != PGRES_COMMAND_OK) {
          error = PQresultErrorMessage(last);
          if (sqlstate != nullptr) {
            const char* code = PQresultErrorField(last, PG_DIAG_SQLSTATE);
            *sqlstate = code != nullptr ? code : "";
          }
          PQclear(last);
          return nullptr;
        }
        if (last == nullptr) error = "no result";
        return last;
      }
      if (last != nullptr) PQclear(last);
      last = result;
    }
    if (!libpq::wait_socket(conn, false, deadline)) {
      error = query_timed_out;
      libpq::cancel_query(conn);
      if (last != nullptr) PQclear(last);
      return nullptr;
    }
    if (PQconsumeInput(conn) == 0) {
      error = PQerrorMessage(conn);
      if (last != nullptr) PQclear(last);
      return nullptr;
    }
  }
}

std::optional<std::int64_t> int_value(PGresult* result, int column) {
  if (PQgetisnull(result, 0, column) != 0) return std::nullopt;
  const char* text = PQgetvalue(result, 0, column);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text, text + PQgetlength(result, 0, column), value);
  if (ec != std::errc{}) return std::nullopt;
  return value;
}

}  // namespace

prober::prober(std::vector<probe_target> targets, prober_settings settings, callback on_sample)
    : settings_(settings), on_sample_(std::move(on_sample)) {
  for (auto& target : targets) {
    slots_.push_back(std::make_unique<probe_slot>());
    slots_.back()->target = std::move(target);
  }
}

prober::~prober() { stop(); }

void prober::start() {
  std::lock_guard control(control_mutex_);
  started_ = true;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto* slot = slots_[i].get();
    if (slot != nullptr && !slot->thread.joinable()) slot->thread = std::thread([this, i, slot] { run(i, slot); });
  }
}

void prober::stop() {
  std::lock_guard control(control_mutex_);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& slot : slots_) {
    if (slot && slot->thread.joinable()) slot->thread.join();
  }
}

void prober::stop_slot(std::size_t index) {
  if (index >= slots_.size() || !slots_[index]) return;
  {
    std::lock_guard lock(mutex_);
    slots_[index]->stop = true;
  }
  wake_.notify_all();
  if (slots_[index]->thread.joinable()) slots_[index]->thread.join();
  slots_[index].reset();
}

void prober::set_target(std::size_t index, probe_target target) {
  std::lock_guard control(control_mutex_);
  stop_slot(index);
  if (slots_.size() <= index) slots_.resize(index + 1);
  slots_[index] = std::make_unique<probe_slot>();
  auto* slot = slots_[index].get();
  slot->target = std::move(target);
  std::lock_guard lock(mutex_);
  if (started_ && !stopping_) slot->thread = std::thread([this, index, slot] { run(index, slot); });
}

void prober::remove_target(std::size_t index) {
  std::lock_guard control(control_mutex_);
  stop_slot(index);
}

void prober::close_state(void*& state) {
  if (state != nullptr) PQfinish(static_cast<PGconn*>(state));
  state = nullptr;
}

probe_sample prober::probe_once(const probe_target& target, const prober_settings& settings, void*& state) {
  probe_sample sample;
  auto& probe = sample.probe;
  const auto started = steady_clock::now();
  auto* conn = static_cast<PGconn*>(state);
  if (conn != nullptr && PQstatus(conn) != CONNECTION_OK) {
    close_state(state);
    conn = nullptr;
  }
  if (conn == nullptr) {
    conn = connect(target, started + settings.timeout, sample.error);
    state = conn;
    if (conn == nullptr) {
      probe.at = steady_clock::now();
      return sample;
    }
  }
  const auto query_started = steady_clock::now();
  PGresult* result = run_query(conn, probe_query, query_started + settings.timeout, sample.error);
  const auto finished = steady_clock::now();
  probe.at = finished;
  if (result == nullptr || PQntuples(result) != 1 || PQnfields(result) != 5) {
    if (result != nullptr) PQclear(result);
    if (sample.error.empty()) sample.error = "unexpected probe result";
    close_state(state);  // unknown protocol state after a timeout or error: start afresh next time
    return sample;
  }
  probe.reachable = true;
  probe.rtt = std::chrono::duration_cast<std::chrono::microseconds>(finished - query_started);
  probe.in_recovery = PQgetvalue(result, 0, 0)[0] == 't';
  probe.current_lsn = static_cast<std::uint64_t>(int_value(result, 1).value_or(0));
  probe.receive_lsn = static_cast<std::uint64_t>(int_value(result, 2).value_or(0));
  probe.last_replay_unix_us = int_value(result, 3);
  probe.server_now_unix_us = int_value(result, 4).value_or(0);
  PQclear(result);
  if (settings.heartbeat) {
    std::string heartbeat_sqlstate;
    PGresult* beat = run_query(conn, probe.in_recovery ? heartbeat_read : heartbeat_write,
                               steady_clock::now() + settings.timeout, sample.heartbeat_error, &heartbeat_sqlstate);
    if (beat == nullptr && !probe.in_recovery && heartbeat_sqlstate == undefined_table_sqlstate) {
      // First heartbeat on this primary: create the table, then write.
      sample.heartbeat_error.clear();
      if (PGresult* created = run_query(conn, heartbeat_create, steady_clock::now() + settings.timeout,
                                        sample.heartbeat_error)) {
        PQclear(created);
        beat = run_query(conn, heartbeat_write, steady_clock::now() + settings.timeout, sample.heartbeat_error);
      }
    }
    if (beat != nullptr && PQntuples(beat) == 1) {
      probe.heartbeat_unix_us = int_value(beat, 0);
    } else if (beat != nullptr && sample.heartbeat_error.empty()) {
      sample.heartbeat_error = "no heartbeat row yet";
    }
    if (beat != nullptr) PQclear(beat);
    while (!sample.heartbeat_error.empty() &&
           (sample.heartbeat_error.back() == '\n' || sample.heartbeat_error.back() == ' ')) {
      sample.heartbeat_error.pop_back();
    }
  }
  return sample;
}

void prober::run(std::size_t index, probe_slot* slot) {
  void* state = nullptr;
  auto next = steady_clock::now();
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_until(lock, next, [this, slot] { return stopping_ || slot->stop; })) break;
    }
    next += settings_.interval;
    auto sample = probe_once(slot->target, settings_, state);
    sample.timed_out = !sample.probe.reachable && (sample.error == connect_timed_out || sample.error == query_timed_out);
    on_sample_(index, sample);
    // A slow probe must not make the next ones pile up.
    if (next < steady_clock::now()) next = steady_clock::now();
  }
  close_state(state);
}

}  // namespace sluice::backends::pg
