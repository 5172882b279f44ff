// A MySQL Connector/C++ 1.1 client (the legacy JDBC-like API, libmysqlcppconn7v5 on libmariadb3): writes,
// reads, prepared statements with parameters, errors and transactions against one server, each checked.
// Today it talks to the MariaDB sandbox's primary; later to sluice's MySQL listener (--port).
// Where to connect: --host, --port, --user, --password, --database; else SLUICE_MYSQL_HOST, _PORT, _USER,
// _PASSWORD, _DATABASE; else the sandbox's primary and sluice_app (`integration/mariadb_sandbox.sh env`,
// run from SLUICE_SOURCE_DIR or the current directory). Prints TAP-style lines; exits 1 on any failure.
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int er_no_such_table = 1146;      // ER_NO_SUCH_TABLE, SQLSTATE 42S02
constexpr int er_dup_entry = 1062;          // ER_DUP_ENTRY, SQLSTATE 23000
constexpr int connect_timeout_seconds = 5;  // Connector/C++ takes whole seconds
constexpr int read_timeout_seconds = 30;

struct target {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  std::string password;
  std::string database;
};

// `export NAME=value` lines of `mariadb_sandbox.sh env`.
std::map<std::string, std::string> sandbox_env() {
  const char* source_dir = std::getenv("SLUICE_SOURCE_DIR");
  const std::string command =
      "bash '" + std::string(source_dir ? source_dir : ".") + "/integration/mariadb_sandbox.sh' env";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) {
    throw std::runtime_error("cannot run " + command);
  }
  std::map<std::string, std::string> env;
  const std::regex line_re(R"(export (\w+)=(.*))");
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe.get()) != nullptr) {
    text += buf;
  }
  std::smatch m;
  for (auto it = text.cbegin(); std::regex_search(it, text.cend(), m, line_re); it = m.suffix().first) {
    env[m[1].str()] = m[2].str();
  }
  return env;
}

target resolve_target(int argc, char** argv) {
  target t;
  std::map<std::string, std::string> given;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--") && i + 1 < argc) {
      given[std::string(arg.substr(2))] = argv[++i];
    } else {
      throw std::runtime_error("usage: cppconn_client [--host H] [--port P] [--user U] [--password P] "
                               "[--database D]");
    }
  }
  const auto from_env = [&](const char* key, const char* var) {
    if (!given.contains(key)) {
      if (const char* v = std::getenv(var)) {
        given[key] = v;
      }
    }
  };
  from_env("host", "SLUICE_MYSQL_HOST");
  from_env("port", "SLUICE_MYSQL_PORT");
  from_env("user", "SLUICE_MYSQL_USER");
  from_env("password", "SLUICE_MYSQL_PASSWORD");
  from_env("database", "SLUICE_MYSQL_DATABASE");
  if (!given.contains("port") || !given.contains("user") || !given.contains("password") ||
      !given.contains("database")) {
    auto env = sandbox_env();
    if (!env.contains("MARIADB_PRIMARY_PORT")) {
      throw std::runtime_error("no --port given and no MariaDB sandbox (integration/mariadb_sandbox.sh env)");
    }
    given.try_emplace("port", env["MARIADB_PRIMARY_PORT"]);
    given.try_emplace("user", env["MARIADB_APP_USER"]);
    given.try_emplace("password", env["MARIADB_APP_PASSWORD"]);
    given.try_emplace("database", env["MARIADB_DATABASE"]);
  }
  if (given.contains("host")) {
    t.host = given["host"];
  }
  t.port = std::stoi(given["port"]);
  t.user = given["user"];
  t.password = given["password"];
  t.database = given["database"];
  return t;
}

class checks {
 public:
  bool ok(bool condition, const std::string& what, const std::string& detail = {}) {
    if (condition) {
      ++passed_;
      std::cout << "ok - " << what << '\n';
    } else {
      ++failed_;
      std::cout << "not ok - " << what << (detail.empty() ? "" : ": " + detail) << '\n';
    }
    return condition;
  }
  template <typename T>
  bool eq(const T& got, const T& want, const std::string& what) {
    std::string detail;
    if (!(got == want)) {
      detail = "want " + show(want) + ", got " + show(got);
    }
    return ok(got == want, what, detail);
  }
  // `fn` must throw an SQLException with this error number and SQLSTATE.
  template <typename Fn>
  void error(Fn&& fn, int errno_want, const std::string& sqlstate_want, const std::string& what) {
    try {
      fn();
      ok(false, what, "no error");
    } catch (const sql::SQLException& e) {
      ok(e.getErrorCode() == errno_want && e.getSQLState() == sqlstate_want, what,
         "want " + std::to_string(errno_want) + "/" + sqlstate_want + ", got " + std::to_string(e.getErrorCode()) +
             "/" + e.getSQLState() + " " + e.what());
    }
  }
  int finish() const {
    std::cout << "# " << passed_ << " passed, " << failed_ << " failed\n";
    return failed_ == 0 && passed_ > 0 ? 0 : 1;
  }

 private:
  static std::string show(const std::string& s) { return "'" + s + "'"; }
  template <typename T>
  static std::string show(const T& v) {
    return std::to_string(v);
  }
  int passed_ = 0;
  int failed_ = 0;
};

std::unique_ptr<sql::Connection> connect(const target& t) {
  sql::ConnectOptionsMap options;
  options["hostName"] = sql::SQLString(t.host);
  options["port"] = t.port;
  options["userName"] = sql::SQLString(t.user);
  options["password"] = sql::SQLString(t.password);
  options["schema"] = sql::SQLString(t.database);
  options["OPT_CONNECT_TIMEOUT"] = connect_timeout_seconds;
  options["OPT_READ_TIMEOUT"] = read_timeout_seconds;
  return std::unique_ptr<sql::Connection>(sql::mysql::get_mysql_driver_instance()->connect(options));
}

// One row of one column from a query, as a string ("NULL" for NULL).
std::string scalar(sql::Connection& conn, const std::string& query) {
  std::unique_ptr<sql::Statement> st(conn.createStatement());
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery(query));
  if (!rs->next()) {
    throw std::runtime_error("no row from: " + query);
  }
  return rs->isNull(1) ? std::string("NULL") : std::string(rs->getString(1));
}

int run(const target& t) {
  checks c;
  auto conn = connect(t);
  std::unique_ptr<sql::Statement> st(conn->createStatement());
  std::cout << "# connected to " << t.host << ":" << t.port << " as " << t.user << ", server "
            << scalar(*conn, "SELECT version()") << ", @@server_id " << scalar(*conn, "SELECT @@server_id")
            << ", @@port " << scalar(*conn, "SELECT @@port") << '\n';
  c.eq(scalar(*conn, "SELECT DATABASE()"), t.database, "the connection's default database is the one asked for");

  // A write and a read with plain statements.
  st->execute("CREATE OR REPLACE TABLE cppconn_test (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) UNIQUE, "
              "n BIGINT, price DECIMAL(10,2), note VARCHAR(64) NULL)");
  c.eq(st->executeUpdate("INSERT INTO cppconn_test (name, n, price) VALUES ('plain-1', 1, 1.50), ('plain-2', 2, 2.50)"),
       2, "INSERT of two rows reports 2 affected rows");
  {
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT name, n, price FROM cppconn_test ORDER BY id"));
    std::vector<std::string> rows;
    while (rs->next()) {
      rows.push_back(std::string(rs->getString("name")) + "/" + std::to_string(rs->getInt64("n")) + "/" +
                     std::string(rs->getString("price")));
    }
    c.ok(rows == std::vector<std::string>{"plain-1/1/1.50", "plain-2/2/2.50"}, "SELECT reads back both rows",
         "got " + std::to_string(rows.size()) + " rows");
  }

  // Prepared statements: parameters of several types, re-executed with new values, NULL, a read.
  {
    std::unique_ptr<sql::PreparedStatement> ins(
        conn->prepareStatement("INSERT INTO cppconn_test (name, n, price, note) VALUES (?, ?, ?, ?)"));
    int affected = 0;
    for (int i = 1; i <= 5; ++i) {
      ins->setString(1, "ps-" + std::to_string(i));
      ins->setInt64(2, int64_t{1} << (30 + i));  // beyond 32 bits
      ins->setDouble(3, 10.25 * i);
      if (i % 2 == 0) {
        ins->setNull(4, 0);
      } else {
        ins->setString(4, "note " + std::to_string(i));
      }
      affected += ins->executeUpdate();
    }
    c.eq(affected, 5, "a prepared INSERT executed 5 times with new parameters inserts 5 rows");
    c.eq(scalar(*conn, "SELECT LAST_INSERT_ID()"), std::string("7"), "LAST_INSERT_ID() is the last prepared insert's id");

    std::unique_ptr<sql::PreparedStatement> sel(
        conn->prepareStatement("SELECT name, n, price, note FROM cppconn_test WHERE n >= ? AND name LIKE ? ORDER BY n"));
    sel->setInt64(1, int64_t{1} << 33);
    sel->setString(2, "ps-%");
    std::unique_ptr<sql::ResultSet> rs(sel->executeQuery());
    std::vector<std::string> names;
    int64_t first_n = 0;
    std::string first_price;
    int nulls = 0;
    while (rs->next()) {
      if (names.empty()) {
        first_n = rs->getInt64("n");
        first_price = rs->getString("price");
      }
      names.push_back(rs->getString("name"));
      nulls += rs->isNull("note") ? 1 : 0;
    }
    c.ok(names == std::vector<std::string>{"ps-3", "ps-4", "ps-5"}, "a prepared SELECT with two parameters finds ps-3..5",
         "got " + std::to_string(names.size()) + " rows");
    c.eq(first_n, int64_t{1} << 33, "a BIGINT parameter beyond 32 bits round-trips");
    c.eq(first_price, std::string("30.75"), "a DOUBLE parameter lands in DECIMAL(10,2)");
    c.eq(nulls, 1, "a NULL parameter is stored as NULL (ps-4)");

    // The same statement again with other values: the server-side statement is reused.
    sel->setInt64(1, 0);
    sel->setString(2, "plain-%");
    std::unique_ptr<sql::ResultSet> rs2(sel->executeQuery());
    int count = 0;
    while (rs2->next()) {
      ++count;
    }
    c.eq(count, 2, "the prepared SELECT re-executed with new parameters finds the 2 plain rows");

    ins->setString(1, "ps-1");
    ins->setInt64(2, 0);
    ins->setDouble(3, 0);
    ins->setNull(4, 0);
    c.error([&] { ins->executeUpdate(); }, er_dup_entry, "23000", "a duplicate key from a prepared INSERT is 1062/23000");
  }

  // Errors: a missing table, at prepare time (the server checks names when preparing) and in a query.
  c.error([&] { std::unique_ptr<sql::PreparedStatement>(conn->prepareStatement("SELECT * FROM cppconn_missing WHERE id = ?")); },
          er_no_such_table, "42S02", "preparing a SELECT of a missing table is 1146/42S02");
  c.error([&] { std::unique_ptr<sql::ResultSet>(st->executeQuery("SELECT * FROM cppconn_missing")); }, er_no_such_table,
          "42S02", "querying a missing table is 1146/42S02");
  c.eq(scalar(*conn, "SELECT 1"), std::string("1"), "the connection works after errors");

  // A transaction rolled back leaves nothing; one committed stays.
  const std::string before = scalar(*conn, "SELECT count(*) FROM cppconn_test");
  conn->setAutoCommit(false);
  st->executeUpdate("INSERT INTO cppconn_test (name, n, price) VALUES ('tx-rolled-back', 0, 0)");
  c.eq(scalar(*conn, "SELECT count(*) FROM cppconn_test WHERE name = 'tx-rolled-back'"), std::string("1"),
       "a row inserted in a transaction is visible in it");
  conn->rollback();
  c.eq(scalar(*conn, "SELECT count(*) FROM cppconn_test"), before, "ROLLBACK removes it");
  st->executeUpdate("INSERT INTO cppconn_test (name, n, price) VALUES ('tx-committed', 0, 0)");
  conn->commit();
  conn->setAutoCommit(true);
  {
    auto other = connect(t);
    c.eq(scalar(*other, "SELECT count(*) FROM cppconn_test WHERE name = 'tx-committed'"), std::string("1"),
         "a committed row is seen by another connection");
  }

  st->execute("DROP TABLE cppconn_test");
  return c.finish();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(resolve_target(argc, argv));
  } catch (const sql::SQLException& e) {
    std::cout << "not ok - unexpected SQL error " << e.getErrorCode() << "/" << e.getSQLState() << ": " << e.what()
              << '\n';
  } catch (const std::exception& e) {
    std::cout << "not ok - " << e.what() << '\n';
  }
  return 1;
}
