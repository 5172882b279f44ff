// A MySQL Connector/C++ 1.1 client (libmysqlcppconn7v5) through sluice's MySQL listener: Statement and
// PreparedStatement reads on the replicas, writes and transactions on the primary, parameters of several
// types, errors; each checked. clients_test.py (section cppconn) starts the sluice and runs this with
// --port P --user U --password W --database D --primary-port P --replica-ports P1,P2 --probe-user U --probe-password W.
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int er_dup_entry = 1062;          // ER_DUP_ENTRY, SQLSTATE 23000
constexpr int connect_timeout_seconds = 5;  // Connector/C++ takes whole seconds
constexpr int read_timeout_seconds = 30;    // a hang through sluice fails the run instead of blocking it
constexpr int rows = 6;
const std::string table = "cppconn_proxy_t";

struct options {
  std::map<std::string, std::string> values;
  const std::string& operator[](const std::string& key) const {
    const auto found = values.find(key);
    if (found == values.end()) throw std::runtime_error("missing --" + key);
    return found->second;
  }
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with("--")) throw std::runtime_error("usage: cppconn_proxy_client --name value ...");
    o.values[std::string(arg.substr(2))] = argv[i + 1];
  }
  return o;
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
    std::cout.flush();
    return condition;
  }
  bool eq(const std::string& got, const std::string& want, const std::string& what) {
    return ok(got == want, what, "want '" + want + "', got '" + got + "'");
  }
  // Runs one step; an SQL error fails it (with the error) and the next steps still run.
  template <typename Fn>
  void step(const std::string& what, Fn&& fn) {
    try {
      fn();
    } catch (const sql::SQLException& e) {
      ok(false, what, "error " + std::to_string(e.getErrorCode()) + "/" + e.getSQLState() + " " + e.what());
    } catch (const std::exception& e) {
      ok(false, what, e.what());
    }
  }
  int finish() const {
    std::cout << "# " << passed_ << " passed, " << failed_ << " failed\n";
    return failed_ == 0 && passed_ > 0 ? 0 : 1;
  }

 private:
  int passed_ = 0;
  int failed_ = 0;
};

std::unique_ptr<sql::Connection> connect(const std::string& port, const std::string& user, const std::string& password,
                                         const std::string& database) {
  sql::ConnectOptionsMap o;
  o["hostName"] = sql::SQLString("127.0.0.1");
  o["port"] = std::stoi(port);
  o["userName"] = sql::SQLString(user);
  o["password"] = sql::SQLString(password);
  if (!database.empty()) o["schema"] = sql::SQLString(database);
  o["OPT_CONNECT_TIMEOUT"] = connect_timeout_seconds;
  o["OPT_READ_TIMEOUT"] = read_timeout_seconds;
  o["OPT_WRITE_TIMEOUT"] = read_timeout_seconds;
  o["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
  return std::unique_ptr<sql::Connection>(sql::mysql::get_mysql_driver_instance()->connect(o));
}

std::string scalar(sql::Connection& conn, const std::string& query) {
  std::unique_ptr<sql::Statement> st(conn.createStatement());
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery(query));
  if (!rs->next()) throw std::runtime_error("no row from: " + query);
  return rs->isNull(1) ? std::string("NULL") : std::string(rs->getString(1));
}

// One row as the client wrote it: id, name (utf8mb4), n (NULL for every third), price, note (NULL for odd ids),
// b (every byte value, rotated by the id; sent with setBlob, which Connector/C++ streams to the server with
// COM_STMT_SEND_LONG_DATA before the COM_STMT_EXECUTE).
struct row {
  int id;
  std::string name;
  bool n_null;
  std::int64_t n;
  double price;
  bool note_null;
  std::string note;
  std::string b;
};

std::string blob_of(int id) {
  std::string b(256 * static_cast<std::size_t>(id), '\0');
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>((i + static_cast<std::size_t>(id)) & 0xff);
  return b;
}

row row_of(int id) {
  return {id,
          "cppconn " + std::to_string(id) + " caf\xc3\xa9 \xf0\x9f\x98\x80 'q' \\",  // café 😀, a quote, a backslash
          id % 3 == 0,
          (std::int64_t{1} << 40) + id,  // beyond 32 bits
          id * 1.25,
          id % 2 == 1,
          "note " + std::to_string(id),
          blob_of(id)};
}

std::string show(const row& r) {
  std::ostringstream out;
  out << r.id << "|" << r.name << "|" << (r.n_null ? "NULL" : std::to_string(r.n)) << "|" << r.price << "|"
      << (r.note_null ? "NULL" : r.note) << "|" << r.b.size() << " bytes, sum "
      << std::accumulate(r.b.begin(), r.b.end(), std::uint64_t{0},
                         [](std::uint64_t a, char ch) { return a * 31 + static_cast<unsigned char>(ch); });
  return out.str();
}

std::string show_result(sql::ResultSet& rs) {
  row r{rs.getInt("id"), std::string(rs.getString("name")), rs.isNull("n"), rs.isNull("n") ? 0 : rs.getInt64("n"),
        static_cast<double>(rs.getDouble("price")), rs.isNull("note"),
        rs.isNull("note") ? std::string() : std::string(rs.getString("note")), std::string(rs.getString("b"))};
  return show(r);
}

// Both replicas have applied what the primary has logged: asked straight to the servers as the probe user.
void wait_replicated(const options& o, const std::vector<std::string>& replica_ports) {
  auto primary = connect(o["primary-port"], o["probe-user"], o["probe-password"], "");
  const std::string pos = scalar(*primary, "SELECT @@gtid_binlog_pos");
  for (const auto& port : replica_ports) {
    auto replica = connect(port, o["probe-user"], o["probe-password"], "");
    if (scalar(*replica, "SELECT MASTER_GTID_WAIT('" + pos + "', 20)") != "0") {
      throw std::runtime_error("replica :" + port + " did not apply " + pos);
    }
  }
}

int run(const options& o) {
  checks c;
  const std::string primary_port = o["primary-port"];
  std::vector<std::string> replica_ports;
  {
    std::istringstream in(o["replica-ports"]);
    for (std::string p; std::getline(in, p, ',');) replica_ports.push_back(p);
  }
  const std::set<std::string> replicas(replica_ports.begin(), replica_ports.end());
  auto conn = connect(o["port"], o["user"], o["password"], o["database"]);
  std::unique_ptr<sql::Statement> st(conn->createStatement());
  c.eq(scalar(*conn, "SELECT DATABASE()"), o["database"], "logged in through sluice, in the database asked for");

  c.step("Statement: reads run on the replicas", [&] {
    std::set<std::string> seen;
    for (int i = 0; i < 8; ++i) seen.insert(scalar(*conn, "SELECT @@port"));
    c.ok(seen == replicas, "Statement: 8 reads ran on both replicas and nowhere else",
         "ran on " + std::to_string(seen.size()) + " ports, first " + *seen.begin());
  });

  st->execute("CREATE OR REPLACE TABLE " + table + " (id INT PRIMARY KEY, name VARCHAR(100), n BIGINT NULL, "
              "price DECIMAL(10,2), note VARCHAR(64) NULL, b BLOB) DEFAULT CHARSET = utf8mb4");

  c.step("PreparedStatement in a transaction", [&] {
    conn->setAutoCommit(false);
    try {
      std::unique_ptr<sql::PreparedStatement> ins(
          conn->prepareStatement("INSERT INTO " + table + " (id, name, n, price, note, b) VALUES (?, ?, ?, ?, ?, ?)"));
      int affected = 0;
      for (int id = 1; id <= rows; ++id) {
        const row r = row_of(id);
        ins->setInt(1, r.id);
        ins->setString(2, r.name);
        if (r.n_null) {
          ins->setNull(3, 0);
        } else {
          ins->setInt64(3, r.n);
        }
        ins->setDouble(4, r.price);
        if (r.note_null) {
          ins->setNull(5, 0);
        } else {
          ins->setString(5, r.note);
        }
        std::istringstream blob(r.b);
        ins->setBlob(6, &blob);
        affected += ins->executeUpdate();
      }
      c.ok(affected == rows, "PreparedStatement::executeUpdate in a transaction: " + std::to_string(rows) +
                                 " INSERTs with setInt, setString, setInt64, setDouble, setNull, setBlob",
           "affected " + std::to_string(affected));
      std::unique_ptr<sql::PreparedStatement> sel(
          conn->prepareStatement("SELECT COUNT(*), @@port FROM " + table + " WHERE id >= ? AND note IS NULL"));
      sel->setInt(1, 1);
      std::unique_ptr<sql::ResultSet> rs(sel->executeQuery());
      rs->next();
      c.ok(rs->getInt(1) == rows / 2 && std::string(rs->getString(2)) == primary_port,
           "PreparedStatement::executeQuery in the transaction sees its rows, on the primary",
           std::string(rs->getString(1)) + " rows on :" + std::string(rs->getString(2)));
      conn->commit();
    } catch (...) {
      conn->rollback();
      conn->setAutoCommit(true);
      throw;
    }
    conn->setAutoCommit(true);
  });

  c.step("a rolled-back transaction", [&] {
    conn->setAutoCommit(false);
    std::unique_ptr<sql::PreparedStatement> ins(
        conn->prepareStatement("INSERT INTO " + table + " (id, name, price) VALUES (?, ?, ?)"));
    ins->setInt(1, 100);
    ins->setString(2, "rolled back");
    ins->setDouble(3, 0);
    const int affected = ins->executeUpdate();
    st->executeUpdate("UPDATE " + table + " SET name = 'rolled back too' WHERE id = 1");
    conn->rollback();
    conn->setAutoCommit(true);
    c.ok(affected == 1 && scalar(*conn, "/* sluice: primary */ SELECT COUNT(*) FROM " + table +
                                            " WHERE name LIKE 'rolled back%'") == "0",
         "ROLLBACK undoes a prepared INSERT and a Statement UPDATE");
  });

  c.step("reads of committed rows", [&] {
    wait_replicated(o, replica_ports);
    std::unique_ptr<sql::PreparedStatement> sel(conn->prepareStatement(
        "SELECT id, name, n, price, note, b, @@port AS port FROM " + table + " WHERE id BETWEEN ? AND ? ORDER BY id"));
    for (const auto& [lo, hi] : std::vector<std::pair<int, int>>{{1, rows}, {2, 3}, {rows, rows}}) {
      sel->setInt(1, lo);
      sel->setInt(2, hi);
      std::unique_ptr<sql::ResultSet> rs(sel->executeQuery());
      std::string got, want, ports;
      bool on_replicas = true;
      while (rs->next()) {
        got += show_result(*rs) + "\n";
        on_replicas = on_replicas && replicas.contains(std::string(rs->getString("port")));
        ports += std::string(rs->getString("port")) + " ";
      }
      for (int id = lo; id <= hi; ++id) want += show(row_of(id)) + "\n";
      c.ok(got == want && on_replicas,
           "a prepared SELECT (ids " + std::to_string(lo) + ".." + std::to_string(hi) +
               ") reads back every value, NULLs and BLOBs included, from a replica",
           "got\n" + got + "want\n" + want + "on " + ports);
    }
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT COUNT(*), SUM(n IS NULL) FROM " + table));
    rs->next();
    c.ok(rs->getInt(1) == rows && rs->getInt(2) == rows / 3, "Statement::executeQuery counts the committed rows",
         std::string(rs->getString(1)) + ", " + std::string(rs->getString(2)));
  });

  c.step("prepared writes outside a transaction", [&] {
    std::unique_ptr<sql::PreparedStatement> upd(conn->prepareStatement("UPDATE " + table + " SET price = price + ? WHERE id <= ?"));
    upd->setDouble(1, 0.5);
    upd->setInt(2, 3);
    c.ok(upd->executeUpdate() == 3, "a prepared UPDATE (autocommit) reports 3 affected rows");
    std::unique_ptr<sql::PreparedStatement> ins(
        conn->prepareStatement("INSERT INTO " + table + " (id, name, price) VALUES (?, ?, ?)"));
    ins->setInt(1, 1);
    ins->setString(2, "duplicate");
    ins->setDouble(3, 0);
    try {
      ins->executeUpdate();
      c.ok(false, "a duplicate key from a prepared INSERT is 1062/23000", "no error");
    } catch (const sql::SQLException& e) {
      c.ok(e.getErrorCode() == er_dup_entry && e.getSQLState() == "23000",
           "a duplicate key from a prepared INSERT is 1062/23000",
           std::to_string(e.getErrorCode()) + "/" + e.getSQLState() + " " + e.what());
    }
    ins->setInt(1, 50);
    c.ok(ins->executeUpdate() == 1, "the same PreparedStatement works again after the error");
    c.eq(scalar(*conn, "/* sluice: primary */ SELECT CONCAT(COUNT(*), ' ', SUM(price)) FROM " + table),
         std::to_string(rows + 1) + " 27.75", "the primary has every row and the updated prices");
  });

  st->execute("DROP TABLE " + table);
  c.eq(scalar(*conn, "SELECT 1"), "1", "the session is still usable at the end");
  return c.finish();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const sql::SQLException& e) {
    std::cout << "not ok - unexpected SQL error " << e.getErrorCode() << "/" << e.getSQLState() << ": " << e.what()
              << '\n';
  } catch (const std::exception& e) {
    std::cout << "not ok - " << e.what() << '\n';
  }
  return 1;
}
