// Prepared statements and session commands through sluice's MySQL front end with libmariadb's C API (the
// client library sysbench, the mariadb CLI and Connector/C++ run on): statements shared and re-prepared
// across pooled server connections, parameter types a connection has not seen, long data, cursors,
// COM_CHANGE_USER, COM_SET_OPTION, COM_PROCESS_KILL. Run by statements_test.py, which starts the sluice.
#include <mysql.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

int failures = 0;
int checks = 0;

void check(bool ok, const std::string& what, const std::string& detail = {}) {
  ++checks;
  if (ok) {
    std::printf("ok - %s\n", what.c_str());
  } else {
    ++failures;
    std::printf("not ok - %s%s%s\n", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  }
  std::fflush(stdout);
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) {
    std::fprintf(stderr, "%s is not set\n", name);
    std::exit(2);
  }
  return value;
}

struct target {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  std::string user, password, database;
};

MYSQL* connect(const target& t, unsigned long flags = 0) {
  MYSQL* c = mysql_init(nullptr);
  unsigned timeout = 10;
  mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (mysql_real_connect(c, t.host.c_str(), t.user.c_str(), t.password.c_str(), t.database.c_str(), t.port, nullptr,
                         flags) == nullptr) {
    std::fprintf(stderr, "connect to port %u failed: %s\n", t.port, mysql_error(c));
    std::exit(2);
  }
  return c;
}

bool run(MYSQL* c, const std::string& sql) {
  if (mysql_query(c, sql.c_str()) != 0) {
    std::printf("# %s failed: %u %s\n", sql.c_str(), mysql_errno(c), mysql_error(c));
    return false;
  }
  do {
    if (MYSQL_RES* r = mysql_store_result(c)) mysql_free_result(r);
  } while (mysql_next_result(c) == 0);
  return true;
}

std::string value(MYSQL* c, const std::string& sql) {
  if (mysql_query(c, sql.c_str()) != 0) return "ERROR " + std::to_string(mysql_errno(c)) + " " + mysql_error(c);
  MYSQL_RES* r = mysql_store_result(c);
  if (r == nullptr) return "NO RESULT";
  MYSQL_ROW row = mysql_fetch_row(r);
  std::string out = row == nullptr ? "NO ROW" : row[0] == nullptr ? "NULL" : row[0];
  mysql_free_result(r);
  return out;
}

MYSQL_STMT* prepare(MYSQL* c, const std::string& sql) {
  MYSQL_STMT* s = mysql_stmt_init(c);
  if (mysql_stmt_prepare(s, sql.c_str(), sql.size()) != 0) {
    std::printf("# prepare %s failed: %s\n", sql.c_str(), mysql_stmt_error(s));
    mysql_stmt_close(s);
    return nullptr;
  }
  return s;
}

// Executes a statement with one BIGINT parameter and one BIGINT result column pair (value, port).
bool execute_int(MYSQL_STMT* s, long long param, long long& result, long long& port) {
  MYSQL_BIND in{};
  in.buffer_type = MYSQL_TYPE_LONGLONG;
  in.buffer = &param;
  if (mysql_stmt_bind_param(s, &in) != 0 || mysql_stmt_execute(s) != 0) {
    std::printf("# execute failed: %u %s\n", mysql_stmt_errno(s), mysql_stmt_error(s));
    return false;
  }
  MYSQL_BIND out[2]{};
  out[0].buffer_type = MYSQL_TYPE_LONGLONG;
  out[0].buffer = &result;
  out[1].buffer_type = MYSQL_TYPE_LONGLONG;
  out[1].buffer = &port;
  if (mysql_stmt_bind_result(s, out) != 0 || mysql_stmt_store_result(s) != 0 || mysql_stmt_fetch(s) != 0) {
    std::printf("# fetch failed: %s\n", mysql_stmt_error(s));
    return false;
  }
  mysql_stmt_free_result(s);
  return true;
}

}  // namespace

int main() {
  target sluice;
  sluice.port = static_cast<unsigned>(std::stoul(env("SLUICE_MYSQL_PORT")));
  sluice.user = env("MARIADB_APP_USER");
  sluice.password = env("MARIADB_APP_PASSWORD");
  sluice.database = env("MARIADB_DATABASE");
  target primary = sluice;
  primary.port = static_cast<unsigned>(std::stoul(env("MARIADB_PRIMARY_PORT")));
  const std::set<std::string> replica_ports = {env("MARIADB_REPLICA1_PORT"), env("MARIADB_REPLICA2_PORT")};
  const std::string other_user = env("SLUICE_OTHER_USER");
  const std::string other_password = env("SLUICE_OTHER_PASSWORD");

  MYSQL* direct = connect(primary);
  run(direct, "CREATE TABLE IF NOT EXISTS stmt_t (id INT PRIMARY KEY, v VARCHAR(40), b LONGBLOB)");
  run(direct, "DELETE FROM stmt_t");
  run(direct, "INSERT INTO stmt_t (id, v) VALUES (1,'one'),(2,'two'),(3,'three'),(4,'four'),(5,'five')");
  // The replicas must have the rows before reads through sluice look for them.
  const std::string gtid = value(direct, "SELECT @@gtid_binlog_pos");
  for (const auto& port : replica_ports) {
    target replica = primary;
    replica.port = static_cast<unsigned>(std::stoul(port));
    MYSQL* r = connect(replica);
    value(r, "SELECT MASTER_GTID_WAIT('" + gtid + "', 10)");
    mysql_close(r);
  }

  MYSQL* a = connect(sluice);
  MYSQL* b = connect(sluice);

  // --- reads: one client statement, executed on both replicas (lazily prepared on each) ---
  {
    MYSQL_STMT* s = prepare(a, "SELECT ? + 1, @@port");
    check(s != nullptr, "a read prepares through sluice");
    std::set<std::string> ports;
    bool right = s != nullptr;
    for (long long i = 0; s != nullptr && i < 8; ++i) {
      long long result = 0, port = 0;
      right = right && execute_int(s, i, result, port) && result == i + 1;
      ports.insert(std::to_string(port));
    }
    check(right, "its executes give the right answers");
    check(ports == replica_ports, "they ran on both replicas (prepared on each where it ran)");
    // Another client prepares the same text: it shares the server statements, under its own id.
    MYSQL_STMT* s2 = prepare(b, "SELECT ? + 1, @@port");
    long long result = 0, port = 0;
    check(s2 != nullptr && execute_int(s2, 41, result, port) && result == 42, "another client's statement of the same text");
    check(s != nullptr && execute_int(s, 9, result, port) && result == 10, "... and the first still works");
    if (s2 != nullptr) mysql_stmt_close(s2);
    check(s != nullptr && execute_int(s, 1, result, port) && result == 2,
          "the other client's COM_STMT_CLOSE did not close the shared server statement");
    if (s != nullptr) mysql_stmt_close(s);
  }

  // --- parameter types bound on one connection, executed on one that saw other types ---
  {
    const std::string sql = "INSERT INTO stmt_t (id, v) VALUES (?, ?)";
    MYSQL_STMT* sa = prepare(a, sql);
    MYSQL_STMT* sb = prepare(b, sql);
    check(sa != nullptr && sb != nullptr, "two clients prepare the same INSERT");
    if (sa != nullptr && sb != nullptr) {
      // a binds (LONG, STRING) and executes: its types go to the primary connection with that execute.
      int id = 10;
      char text[40] = "ten";
      unsigned long text_len = 3;
      MYSQL_BIND pa[2]{};
      pa[0].buffer_type = MYSQL_TYPE_LONG;
      pa[0].buffer = &id;
      pa[1].buffer_type = MYSQL_TYPE_STRING;
      pa[1].buffer = text;
      pa[1].buffer_length = sizeof text;
      pa[1].length = &text_len;
      check(mysql_stmt_bind_param(sa, pa) == 0 && mysql_stmt_execute(sa) == 0, "a's first execute (types bound)",
            mysql_stmt_error(sa));
      // b binds other types (STRING, LONGLONG) on the same server statement (pool size 1).
      char id_text[8] = "11";
      unsigned long id_len = 2;
      long long number = 1111;
      MYSQL_BIND pb[2]{};
      pb[0].buffer_type = MYSQL_TYPE_STRING;
      pb[0].buffer = id_text;
      pb[0].buffer_length = sizeof id_text;
      pb[0].length = &id_len;
      pb[1].buffer_type = MYSQL_TYPE_LONGLONG;
      pb[1].buffer = &number;
      check(mysql_stmt_bind_param(sb, pb) == 0 && mysql_stmt_execute(sb) == 0, "b's execute with other types",
            mysql_stmt_error(sb));
      // a executes again without binding (libmariadb sends no types): sluice must send a's types again.
      id = 12;
      std::strcpy(text, "twelve");
      text_len = 6;
      check(mysql_stmt_execute(sa) == 0, "a's second execute (no types sent by the client)", mysql_stmt_error(sa));
      check(value(direct, "SELECT CONCAT_WS(',', (SELECT v FROM stmt_t WHERE id = 10), (SELECT v FROM stmt_t WHERE id = 11),"
                          " (SELECT v FROM stmt_t WHERE id = 12))") == "ten,1111,twelve",
            "each execute's values were read with its own client's types");
    }
    if (sa != nullptr) mysql_stmt_close(sa);
    if (sb != nullptr) mysql_stmt_close(sb);
  }

  // --- more statements than pool.max_prepared_statements (2): evicted and prepared again when used ---
  {
    std::vector<MYSQL_STMT*> many;
    for (int i = 0; i < 5; ++i) {
      many.push_back(prepare(a, "SELECT ? + " + std::to_string(i * 100) + ", @@port FROM DUAL WHERE 1 = 1"));
    }
    bool right = true;
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 5; ++i) {
        long long result = 0, port = 0;
        right = right && many[i] != nullptr && execute_int(many[i], round, result, port) && result == round + i * 100;
      }
    }
    check(right, "five statements over a bound of two per server connection all answer right, three times");
    for (auto* s : many) {
      if (s != nullptr) mysql_stmt_close(s);
    }
  }

  // --- long data (COM_STMT_SEND_LONG_DATA), kept by sluice until the execute ---
  {
    MYSQL_STMT* s = prepare(a, "UPDATE stmt_t SET b = ? WHERE id = ?");
    std::string blob;
    for (int i = 0; i < 3 * 70000; ++i) blob.push_back(static_cast<char>(i * 7 % 256));
    int id = 1;
    MYSQL_BIND p[2]{};
    p[0].buffer_type = MYSQL_TYPE_LONG_BLOB;
    p[1].buffer_type = MYSQL_TYPE_LONG;
    p[1].buffer = &id;
    bool sent = s != nullptr && mysql_stmt_bind_param(s, p) == 0;
    for (int part = 0; sent && part < 3; ++part) {
      sent = mysql_stmt_send_long_data(s, 0, blob.data() + part * 70000, 70000) == 0;
      // Another client's statement between the pieces takes the pooled connection meanwhile.
      run(b, "SELECT 1");
    }
    check(sent && mysql_stmt_execute(s) == 0, "a BLOB sent as long data in three pieces, then executed",
          s != nullptr ? mysql_stmt_error(s) : "");
    check(value(direct, "SELECT LENGTH(b) FROM stmt_t WHERE id = 1") == std::to_string(blob.size()),
          "the primary has the whole BLOB");
    MYSQL_STMT* read = prepare(a, "SELECT b FROM stmt_t WHERE id = 1 FOR UPDATE");
    std::vector<char> back(blob.size() + 16);
    unsigned long back_len = 0;
    MYSQL_BIND out{};
    out.buffer_type = MYSQL_TYPE_LONG_BLOB;
    out.buffer = back.data();
    out.buffer_length = back.size();
    out.length = &back_len;
    const bool fetched = read != nullptr && mysql_stmt_execute(read) == 0 && mysql_stmt_bind_result(read, &out) == 0 &&
                         mysql_stmt_store_result(read) == 0 && mysql_stmt_fetch(read) == 0;
    check(fetched && back_len == blob.size() && std::memcmp(back.data(), blob.data(), blob.size()) == 0,
          "... and it reads back byte for byte through sluice");
    if (read != nullptr) mysql_stmt_close(read);
    if (s != nullptr) mysql_stmt_close(s);
  }

  // --- a cursor (COM_STMT_FETCH): the session keeps its server connection while it is open ---
  {
    MYSQL* c = connect(sluice);
    MYSQL_STMT* s = prepare(c, "SELECT id FROM stmt_t WHERE id <= 5 ORDER BY id");
    unsigned long cursor = CURSOR_TYPE_READ_ONLY;
    unsigned long prefetch = 1;
    bool right = s != nullptr && mysql_stmt_attr_set(s, STMT_ATTR_CURSOR_TYPE, &cursor) == 0 &&
                 mysql_stmt_attr_set(s, STMT_ATTR_PREFETCH_ROWS, &prefetch) == 0 && mysql_stmt_execute(s) == 0;
    int id = 0;
    MYSQL_BIND out{};
    out.buffer_type = MYSQL_TYPE_LONG;
    out.buffer = &id;
    right = right && mysql_stmt_bind_result(s, &out) == 0;
    std::string ids;
    while (right && mysql_stmt_fetch(s) == 0) {
      ids += std::to_string(id);
      run(b, "SELECT 2");  // others keep using the pool between the fetches
    }
    check(right && ids == "12345", "a read-only cursor fetched row by row gives every row", ids);
    if (s != nullptr) mysql_stmt_close(s);
    mysql_close(c);
  }

  // --- COM_SET_OPTION: multi-statements on and off ---
  {
    MYSQL* c = connect(sluice);
    check(mysql_set_server_option(c, MYSQL_OPTION_MULTI_STATEMENTS_ON) == 0, "COM_SET_OPTION multi-statements on",
          mysql_error(c));
    int results = 0;
    if (mysql_query(c, "SELECT 1; SELECT 2") == 0) {
      do {
        if (MYSQL_RES* r = mysql_store_result(c)) {
          ++results;
          mysql_free_result(r);
        }
      } while (mysql_next_result(c) == 0);
    }
    check(results == 2, "... then two statements in one COM_QUERY give two results");
    check(mysql_set_server_option(c, MYSQL_OPTION_MULTI_STATEMENTS_OFF) == 0, "COM_SET_OPTION multi-statements off");
    check(mysql_query(c, "SELECT 1; SELECT 2") != 0 && mysql_errno(c) == 1064, "... then they are a syntax error",
          std::to_string(mysql_errno(c)));
    check(value(c, "SELECT 3") == "3", "the session goes on");
    mysql_close(c);
  }

  // --- COM_CHANGE_USER ---
  {
    MYSQL* c = connect(sluice);
    run(c, "SET SESSION sql_mode = 'ANSI_QUOTES'");
    MYSQL_STMT* s = prepare(c, "SELECT ? + 1, @@port");
    check(mysql_change_user(c, other_user.c_str(), other_password.c_str(), sluice.database.c_str()) == 0,
          "mysql_change_user to another sluice user", mysql_error(c));
    check(value(c, "SELECT @@sql_mode") != "ANSI_QUOTES", "the session's variables are reset, as on a server",
          value(c, "SELECT @@sql_mode"));
    check(value(c, "SELECT 5") == "5", "the changed session runs statements");
    if (s != nullptr) mysql_stmt_close(s);
    check(mysql_change_user(c, other_user.c_str(), "wrong", sluice.database.c_str()) != 0 && mysql_errno(c) == 1045,
          "a wrong password gets 1045", std::to_string(mysql_errno(c)));
    mysql_close(c);
  }

  // --- COM_PROCESS_KILL (mysql_kill) of another client's running statement ---
  {
    MYSQL* victim = connect(sluice);
    MYSQL* killer = connect(sluice);
    const unsigned long id = mysql_thread_id(victim);
    mysql_send_query(victim, "SELECT SLEEP(20)", 16);  // libmariadb: sent, the answer read later
    run(killer, "DO SLEEP(0.5)");
    check(mysql_kill(killer, id) == 0, "mysql_kill of another client (its sluice connection id)", mysql_error(killer));
    const auto killed_at = std::chrono::steady_clock::now();
    const bool failed = mysql_read_query_result(victim) != 0;
    const unsigned number = mysql_errno(victim);
    if (!failed) {
      if (MYSQL_RES* r = mysql_store_result(victim)) mysql_free_result(r);
    }
    const auto waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
    // sluice stops the statement with KILL QUERY, then ends the session. The server answers an interrupted
    // statement with 1317, or, for a lone SLEEP(), with its result 1 (MySQL manual, SLEEP()).
    check(waited < 3 && (!failed || number == 1317 || number == 2013), "the victim's statement was interrupted at once",
          std::to_string(number) + ", " + std::to_string(waited) + " s");
    check(mysql_query(victim, "SELECT 1") != 0, "... and its connection is gone (KILL CONNECTION)");
    mysql_close(victim);
    mysql_close(killer);
  }

  mysql_close(a);
  mysql_close(b);
  mysql_close(direct);
  std::printf("# %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
