// server_statements: the prepared statements of one MySQL server connection, bounded, with the
// COM_STMT_CLOSEs owed for those it forgets.
#include <catch2/catch.hpp>

#include "backends/mysql/server_statements.hpp"

using sluice::backends::mysql::server_statements;

TEST_CASE("server_statements forgets the least recently used past its capacity and owes its close",
          "[mysql][server_statements]") {
  server_statements statements;
  statements.set_capacity(2);
  statements.insert(10, 1, 0);
  statements.insert(11, 2, 3);
  REQUIRE(statements.find(10) != nullptr);  // 10 is now the most recently used
  statements.insert(12, 3, 1);
  CHECK(statements.size() == 2);
  CHECK(statements.find(11) == nullptr);
  CHECK(statements.owed_closes() == std::vector<std::uint32_t>{2});
  statements.owed_closes().clear();
  REQUIRE(statements.find(12) != nullptr);
  CHECK(statements.find(12)->server_id == 3);
  CHECK(statements.find(12)->num_params == 1);
  CHECK(statements.find(12)->types_sent.empty());
}

TEST_CASE("server_statements: a text prepared again keeps the newer id and closes the older",
          "[mysql][server_statements]") {
  server_statements statements;
  auto& first = statements.insert(7, 1, 2);
  first.types_sent = {3, 0, 253, 0};
  statements.insert(7, 5, 2);
  CHECK(statements.size() == 1);
  CHECK(statements.find(7)->server_id == 5);
  CHECK(statements.find(7)->types_sent.empty());  // the new server statement has seen no types
  CHECK(statements.owed_closes() == std::vector<std::uint32_t>{1});
}
