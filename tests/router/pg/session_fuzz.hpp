// Session fuzzing: turns a stream of choices (a seeded RNG in the Catch2 test, libFuzzer's bytes in
// tests/fuzz/session_fuzz.cpp) into a harness script (session_harness_core.hpp): one or two clients
// sending valid and invalid message sequences (Query, Parse/Bind/Describe/Execute/Close/Sync/Flush in
// odd orders, a Query inside an unfinished extended batch, copy messages outside COPY, FunctionCall,
// Terminate anywhere, malformed lengths), leaving at random points, against fake backends that fail
// or answer slowly at a random message. run_script then checks every invariant: every server
// connection returned or closed, well-formed answers, nothing from one client reaching the other.
//
// How many ReadyForQuery a client is owed comes from a model of PostgreSQL's rules as the client
// sees them (a Sync is always answered; after an error in an extended batch the server skips
// everything, Query and FunctionCall included, up to Sync). It is exact for one client on one
// backend without a lost connection; otherwise, where a pool wait or a fault may fail a batch, a Query
// that the model cannot place is owed "maybe" (at most one ReadyForQuery, never an extra one).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/router/pg/session_harness_core.hpp"

namespace sluice::testing::fuzz {

// Where choices come from: a seeded RNG, or bytes (zeros once they run out).
class choices {
 public:
  explicit choices(std::uint64_t seed) : rng_(seed), random_(true) {}
  choices(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  // A number in [0, bound).
  std::size_t pick(std::size_t bound) {
    if (bound <= 1) return 0;
    if (random_) return static_cast<std::size_t>(rng_() % bound);
    if (at_ >= size_) return 0;
    return data_[at_++] % bound;
  }
  bool chance(std::size_t one_in) { return pick(one_in) == 0; }

 private:
  std::mt19937_64 rng_;
  bool random_ = false;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t at_ = 0;
};

// One client as PostgreSQL would see it, to know which requests fail and which are skipped.
struct client_model {
  std::string tag;                            // "A-" or "B-": in every text this client's rows echo
  std::map<std::string, std::string> named;   // prepared statements by name -> text
  std::optional<std::string> unnamed;         // the unnamed statement's text
  std::optional<std::string> portal;          // the unnamed portal's text
  bool skipping = false;                      // an extended message failed: skip until Sync
  bool unsynced = false;                      // extended messages since the last Sync
  char tx = 'I';                              // I, T or E
  bool gone = false;                          // left, terminated, or sent something fatal
  int counter = 0;
};

inline std::string next_text(client_model& m, std::string_view prefix, std::string_view suffix) {
  return std::string(prefix) + m.tag + std::to_string(++m.counter) + std::string(suffix);
}

// A statement text for a Parse or a Query (`multi`: a Query may hold two statements).
inline std::string pick_sql(choices& in, client_model& m, bool for_query) {
  switch (in.pick(for_query ? 12 : 10)) {
    case 0: case 1: case 2: return next_text(m, "SELECT '", "'");
    case 3: return next_text(m, "INSERT INTO t VALUES ('", "')");
    case 4: return "BEGIN";
    case 5: return in.chance(2) ? "COMMIT" : "ROLLBACK";
    case 6: return "SELECT fail_me";
    case 7: return next_text(m, "SET search_path TO '", "'");
    case 8: return "SHOW search_path";
    case 9: return "SELECT pg_advisory_lock(1)";  // pins the session
    case 10: return "";
    default: return next_text(m, "SELECT '", "'") + "; " + next_text(m, "SELECT '", "'");
  }
}

// Runs one statement as the fake server would (its run_statement): false when it fails.
inline bool model_statement(client_model& m, const std::string& sql) {
  const bool ends = starts_with_ci(sql, "COMMIT") || starts_with_ci(sql, "ROLLBACK");
  if (m.tx == 'E' && !ends) return false;
  if (starts_with_ci(sql, "BEGIN")) {
    m.tx = 'T';
  } else if (ends) {
    m.tx = 'I';
  } else if (sql.find("fail_me") != std::string::npos) {
    if (m.tx == 'T') m.tx = 'E';
    return false;
  }
  return true;
}

inline void model_batch_error(client_model& m) {
  m.skipping = true;
  if (m.tx == 'T') m.tx = 'E';
}

// Appends one random message (or a few that belong together) for client `m` to `out`.
inline void add_message(choices& in, client_model& m, fe_messages& out, bool exact) {
  const auto owed_query = [&] {
    // The last Query/FunctionCall added: skipped after a failed extended message; otherwise answered,
    // unless the model cannot tell (a pool wait or a fault may have failed the batch).
    if (m.skipping) {
      if (exact) {
        out.not_answered();
      } else {
        out.maybe_answered();
      }
    } else if (!exact && m.unsynced) {
      out.maybe_answered();
    }
  };
  const auto extended = [&] { m.unsynced = true; };
  const auto statement_name = [&]() -> std::string {
    switch (in.pick(4)) {
      case 0: return "s1";
      case 1: return "s2";
      default: return "";
    }
  };
  switch (in.pick(24)) {
    case 0: case 1: case 2: case 3: {  // Query
      const auto sql = pick_sql(in, m, true);
      out.query(sql);
      const bool skipped = m.skipping;
      owed_query();
      if (!skipped) {
        for (const auto& statement : split_statements(sql)) {
          if (!model_statement(m, statement)) break;
        }
        m.unnamed.reset();
        m.portal.reset();
      }
      break;
    }
    case 4: case 5: case 6: {  // Parse
      std::string sql = pick_sql(in, m, false);
      const auto name = statement_name();
      out.parse(name, sql);
      extended();
      if (!m.skipping) {
        if (name.empty()) {
          m.unnamed = sql;
        } else {
          m.named[name] = sql;
        }
      }
      break;
    }
    case 7: case 8: case 9: {  // Bind
      const auto name = statement_name();
      out.bind("", name);
      extended();
      if (!m.skipping) {
        const std::optional<std::string> sql =
            name.empty() ? m.unnamed
                         : (m.named.count(name) != 0 ? std::optional<std::string>(m.named[name]) : std::nullopt);
        if (sql) {
          m.portal = sql;
        } else {
          model_batch_error(m);
        }
      }
      break;
    }
    case 10: {  // Describe
      const bool statement = in.chance(2);
      const auto name = statement ? statement_name() : std::string();
      out.describe(statement ? 'S' : 'P', name);
      extended();
      if (!m.skipping) {
        const bool exists = statement ? (name.empty() ? m.unnamed.has_value() : m.named.count(name) != 0)
                                      : m.portal.has_value();
        if (!exists) model_batch_error(m);
      }
      break;
    }
    case 11: case 12: case 13: {  // Execute
      out.execute();
      extended();
      if (!m.skipping) {
        if (!m.portal) {
          model_batch_error(m);
        } else if (!model_statement(m, *m.portal)) {
          m.skipping = true;
        }
      }
      break;
    }
    case 14: {  // Close
      const bool statement = in.chance(2);
      const auto name = statement ? statement_name() : std::string();
      out.close(statement ? 'S' : 'P', name);
      extended();
      if (!m.skipping) {
        if (!statement) {
          m.portal.reset();
        } else if (name.empty()) {
          m.unnamed.reset();
        } else {
          m.named.erase(name);
        }
      }
      break;
    }
    case 15: case 16: case 17:  // Sync
      out.sync();
      m.skipping = false;
      m.unsynced = false;
      m.portal.reset();
      break;
    case 18:
      out.flush();
      break;
    case 19: {  // FunctionCall
      out.function_call(1598);  // random(): any oid, the fake server answers NULL
      const bool skipped = m.skipping;
      owed_query();
      // Outside a transaction block the call commits (postgres.c finish_xact_command), and a commit
      // drops the portals; inside one the portal stays (as in fake_pg_server).
      if (!skipped && m.tx == 'I') m.portal.reset();
      break;
    }
    case 20:  // copy messages outside COPY
      switch (in.pick(3)) {
        case 0: out.copy_data("1\tA-copy\n"); break;
        case 1: out.copy_done(); break;
        default: out.copy_fail("A-fail"); break;
      }
      break;
    case 21:
      if (in.chance(4)) {
        out.terminate();
        m.gone = true;
      } else {
        out.flush();
      }
      break;
    default:
      if (in.chance(3)) {
        // Malformed: a length below 4, a length beyond max_message_size, or an unknown type. sluice
        // answers FATAL 08P01 and closes; nothing may follow.
        switch (in.pick(3)) {
          case 0: out.raw({'Q', 0, 0, 0, 2}); break;
          case 1: out.raw({'Q', 0x7f, 0xff, 0xff, 0xff}); break;
          default: out.raw({'z', 0, 0, 0, 4}); break;
        }
        m.gone = true;
      } else {
        out.flush();
      }
      break;
  }
}

struct fuzz_case {
  script s{"fuzz"};
  fault f;
  bool exact = false;
};

// Builds one script from `in`.
inline fuzz_case make_case(choices& in) {
  fuzz_case c;
  const std::size_t clients = 1 + in.pick(2);
  const std::size_t backends = 1 + in.pick(2);
  c.s.backends(backends);
  std::string options;
  if (clients == 2) {
    // Two clients over a pool of one connection: a leak from one to the other shows, and a client
    // waiting for the connection gets 53300 soon enough for a test.
    options += "pool_size = 1\n";
    c.s.query_wait_timeout(std::chrono::milliseconds(20));
  }
  if (in.chance(5)) options += "pool_mode = \"session\"\n";
  c.s.user_options(options);
  // One server fault, or none, at a message the script may or may not reach.
  switch (in.pick(8)) {
    case 0: c.f.server = server_fault::close; break;
    case 1: c.f.server = server_fault::reset; break;
    case 2: c.f.server = server_fault::fatal; break;
    case 3: c.f.server = server_fault::partial; break;
    case 4: c.f.server = server_fault::slow; break;
    default: break;
  }
  if (c.f.server != server_fault::none) c.f.server_step = 1 + in.pick(24);
  c.exact = clients == 1 && backends == 1 &&
            (c.f.server == server_fault::none || c.f.server == server_fault::slow);

  std::vector<client_model> models(clients);
  for (std::size_t i = 0; i < clients; ++i) {
    models[i].tag = i == 0 ? "A-" : "B-";
    c.s.connect(i);
  }
  const std::size_t steps = 1 + in.pick(10);
  for (std::size_t n = 0; n < steps; ++n) {
    const std::size_t who = in.pick(clients);
    auto& m = models[who];
    if (m.gone) continue;
    if (in.chance(12)) {
      c.s.leave(who, in.chance(2));
      m.gone = true;
      continue;
    }
    fe_messages messages;
    const std::size_t count = 1 + in.pick(6);
    for (std::size_t k = 0; k < count && !m.gone; ++k) add_message(in, m, messages, c.exact);
    c.s.send(who, std::move(messages));
    if (m.gone) {
      c.s.wait(who);  // for sluice to close after the Terminate, or send FATAL for the malformed message
      continue;
    }
    if (in.chance(16)) {
      // Leaves right after sending, answers unread.
      c.s.leave(who, in.chance(2));
      m.gone = true;
      continue;
    }
    if (in.chance(2)) c.s.wait(who);
  }
  // The end: each client still there ends its batch and runs one more statement, which must be
  // answered in order (a session that lost count would answer it with another's reply, or never).
  for (std::size_t i = 0; i < clients; ++i) {
    auto& m = models[i];
    if (m.gone) continue;
    fe_messages last;
    if (m.unsynced || m.skipping) last.sync();
    last.query(next_text(m, "SELECT '", "'"));
    c.s.send(i, std::move(last)).wait(i);
  }
  return c;
}

// The script as text, one step a line ("A send: P:s1:SELECT 'A-1' B E S"), for failure reports.
inline std::string render(const fuzz_case& c) {
  std::string text = std::to_string(c.s.backend_count()) + " backend(s), " + std::to_string(c.s.client_count()) +
                     " client(s), user options: " + c.s.user_options_text() + "server fault: " +
                     to_string(c.f.server) + (c.f.server != server_fault::none ? " at message " + std::to_string(c.f.server_step) : "") +
                     (c.exact ? ", answers counted exactly\n" : ", answers counted with slack\n");
  for (const auto& st : c.s.steps()) {
    const std::string who = st.client == 0 ? "A" : "B";
    switch (st.what) {
      case step::kind::connect: text += who + " connect\n"; break;
      case step::kind::wait: text += who + " wait\n"; break;
      case step::kind::settle: text += "settle\n"; break;
      case step::kind::leave: text += who + (st.reset ? " reset\n" : " leave\n"); break;
      case step::kind::send: {
        text += who + " send:";
        wire::bytes_view rest(st.messages.bytes);
        while (!rest.empty()) {
          const auto frame = wire::frame_message(rest, std::size_t{1} << 20);
          if (frame.status != wire::frame_status::ok) {
            text += " <malformed>";
            break;
          }
          const auto& m = frame.message;
          text += ' ';
          if (m.type == wire::fe::query) {
            text += "Q:" + std::string(wire::decode_query(m.payload).value_or("?"));
          } else if (m.type == wire::fe::parse) {
            const auto parse = wire::decode_parse(m.payload);
            text += parse ? "P:" + std::string(parse->statement) + ":" + std::string(parse->query) : "P?";
          } else if (m.type == wire::fe::bind) {
            const auto bind = wire::decode_bind(m.payload);
            text += bind ? "B:" + std::string(bind->statement) : "B?";
          } else if (m.type == wire::fe::describe || m.type == wire::fe::close) {
            const auto d = m.type == wire::fe::describe ? wire::decode_describe(m.payload) : wire::decode_close(m.payload);
            text += std::string(1, m.type) + ":" + (d ? std::string(1, d->kind) + std::string(d->name) : "?");
          } else {
            text += m.type;
          }
          rest = rest.subspan(m.wire_size);
        }
        text += "  (owed " + std::to_string(st.messages.requests) +
                (st.messages.maybe_requests != 0 ? " + maybe " + std::to_string(st.messages.maybe_requests) : "") + ")\n";
        break;
      }
    }
  }
  return text;
}

}  // namespace sluice::testing::fuzz
