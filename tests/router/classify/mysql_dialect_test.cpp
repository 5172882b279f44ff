// The MySQL / MariaDB dialect of the classifier: a table of statements (mysqldump's and sysbench's real
// output, what drivers send at connect, tricky lexing) with the route and flags each must get, the
// MySQL lexer's tokens, tags, prefixes, random and 1 MB inputs, and PostgreSQL answers left alone.
#include "router/classify/classifier.hpp"
#include "router/classify/mysql_lexer.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace sluice::router::classify;

namespace {

// Expected flags of a row; anything not listed must be false / none (calls_functions and
// resets_server_state are always false in the MySQL dialect).
enum flag : unsigned {
  pin = 1u << 0,     // pins_session
  sset = 1u << 1,    // has_session_set
  begin = 1u << 2,   // begins_transaction
  ro = 1u << 3,      // read_only_transaction
  multi = 1u << 4,   // statement_count_multiple
  empty = 1u << 5,   // empty
  hint_p = 1u << 6,  // routing_hint primary
  hint_r = 1u << 7,  // routing_hint replica
  prev = 1u << 8,    // uses_previous_result
  def = 1u << 9,     // defines_function
};

constexpr route R = route::replica;
constexpr route P = route::primary;

struct row {
  std::string_view sql;
  route target;
  unsigned flags = 0;
};

std::string describe(route target, unsigned flags) {
  std::string s = target == route::replica ? "replica" : "primary";
  const std::pair<unsigned, const char*> names[] = {
      {pin, " pins"},       {sset, " session_set"},   {begin, " begins"},       {ro, " read_only"},
      {multi, " multi"},    {empty, " empty"},        {hint_p, " hint=primary"}, {hint_r, " hint=replica"},
      {prev, " previous"},  {def, " defines"},
  };
  for (const auto& [bit, name] : names) {
    if ((flags & bit) != 0) {
      s += name;
    }
  }
  return s;
}

std::string describe(const classification& c) {
  unsigned f = 0;
  f |= c.pins_session ? pin : 0u;
  f |= c.has_session_set ? sset : 0u;
  f |= c.begins_transaction ? begin : 0u;
  f |= c.read_only_transaction ? ro : 0u;
  f |= c.statement_count_multiple ? multi : 0u;
  f |= c.empty ? empty : 0u;
  f |= c.routing_hint == hint::primary ? hint_p : 0u;
  f |= c.routing_hint == hint::replica ? hint_r : 0u;
  f |= c.uses_previous_result ? prev : 0u;
  f |= c.defines_function ? def : 0u;
  std::string s = describe(c.target, f);
  if (c.calls_functions) s += " calls(!)";
  if (c.resets_server_state) s += " resets(!)";
  return s;
}

const std::string write_functions[] = {"audit_write", "bump_counter", "app.log_event"};

options mysql_options() {
  options o{write_functions};
  o.dialect = sql_dialect::mysql;
  return o;
}
const options my = mysql_options();

// mysqldump --single-transaction of a MariaDB 10.11 database (integration/mariadb_sandbox.sh), as the
// mariadb client sends it: statement by statement, each with its ';'.
const std::string_view mysqldump_lines[] = {
    "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;",
    "/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;",
    "/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;",
    "/*!40101 SET NAMES utf8mb4 */;",
    "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;",
    "/*!40103 SET TIME_ZONE='+00:00' */;",
    "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;",
    "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;",
    "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
    "/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;",
    "DROP TABLE IF EXISTS `odd``name`;",
    "/*!40101 SET @saved_cs_client     = @@character_set_client */;",
    "/*!40101 SET character_set_client = utf8mb4 */;",
    "CREATE TABLE `odd``name` (\n  `k` int(11) DEFAULT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
    "COLLATE=utf8mb4_general_ci;",
    "/*!40101 SET character_set_client = @saved_cs_client */;",
    "LOCK TABLES `odd``name` WRITE;",
    "/*!40000 ALTER TABLE `odd``name` DISABLE KEYS */;",
    "/*!40000 ALTER TABLE `odd``name` ENABLE KEYS */;",
    "UNLOCK TABLES;",
    "CREATE TABLE `t1` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `name` varchar(40) NOT NULL DEFAULT 'x',\n"
    "  `note` text DEFAULT NULL,\n  `created` timestamp NULL DEFAULT current_timestamp(),\n  PRIMARY KEY (`id`)\n"
    ") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;",
    "LOCK TABLES `t1` WRITE;",
    "INSERT INTO `t1` VALUES\n(1,'a\\'b','line\\nwith \\\\ backslash; DELETE FROM t1','2026-12-07 17:54:54'),\n"
    "(2,'c\\\"d',NULL,'2026-12-07 17:54:54');",
    "/*!50001 DROP VIEW IF EXISTS `v1`*/;",
    "SET @saved_cs_client     = @@character_set_client;",
    "SET character_set_client = utf8mb4;",
    "/*!50001 CREATE VIEW `v1` AS SELECT\n NULL AS `id`,\n NULL AS `name` */;",
    "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`sluice_app`@`%` SQL SECURITY DEFINER */\n"
    "/*!50001 VIEW `v1` AS select `t1`.`id` AS `id`,`t1`.`name` AS `name` from `t1` */;",
    "/*!50001 SET character_set_client      = @saved_cs_client */;",
    "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;",
    "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;",
    "/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;",
};

// clang-format off
const row rows[] = {
    // ---- mysqldump's output (above), one statement each
    {mysqldump_lines[0], P, pin},
    {mysqldump_lines[1], P, pin},
    {mysqldump_lines[2], P, pin},
    {mysqldump_lines[3], P, sset},
    {mysqldump_lines[4], P, pin},
    {mysqldump_lines[5], P, sset},
    {mysqldump_lines[6], P, pin | sset},
    {mysqldump_lines[7], P, pin | sset},
    {mysqldump_lines[8], P, pin | sset},
    {mysqldump_lines[9], P, pin | sset},
    {mysqldump_lines[10], P},
    {mysqldump_lines[11], P, pin},
    {mysqldump_lines[12], P, sset},
    {mysqldump_lines[13], P},
    {mysqldump_lines[14], P, sset},
    {mysqldump_lines[15], P, pin},
    {mysqldump_lines[16], P},
    {mysqldump_lines[17], P},
    {mysqldump_lines[18], P},
    {mysqldump_lines[19], P},
    {mysqldump_lines[20], P, pin},
    {mysqldump_lines[21], P},  // one statement: "; DELETE FROM t1" is inside a string after \'
    {mysqldump_lines[22], P},
    {mysqldump_lines[23], P, pin},
    {mysqldump_lines[24], P, sset},
    {mysqldump_lines[25], P},
    {mysqldump_lines[26], P},
    {mysqldump_lines[27], P, sset},
    {mysqldump_lines[28], P, sset},
    {mysqldump_lines[29], P, sset},
    {mysqldump_lines[30], P, sset},
    // The sandbox-mode line of MariaDB 10.11's mysqldump: the mariadb client's own command (\-), which a
    // server rejects: to the primary, which reports it.
    {"/*M!999999\\- enable the sandbox mode */", P},

    // ---- What mysqldump --single-transaction sends while dumping (the server's general log)
    {"/*!40100 SET @@SQL_MODE='' */", P, sset},
    {"/*!40103 SET TIME_ZONE='+00:00' */", P, sset},
    {"/*M!100100 SET @@MAX_STATEMENT_TIME=0.000000 */", P, sset},
    {"/*M!100100 SET WAIT_TIMEOUT=DEFAULT */", P, sset},
    {"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", P, sset},
    {"START TRANSACTION /*!40100 WITH CONSISTENT SNAPSHOT */", P, begin},
    {"SAVEPOINT sp", P},
    {"SHOW FULL TABLES", R},
    {"SELECT engine, table_type FROM INFORMATION_SCHEMA.TABLES WHERE table_schema = DATABASE() AND table_name = 'odd`name'", R},
    {"SET SQL_QUOTE_SHOW_CREATE=1", P, sset},
    {"SET SESSION character_set_results = 'binary'", P, sset},
    {"show create table `odd``name`", R},
    {"select column_name, extra, generation_expression, data_type from information_schema.columns where table_schema=database() and table_name='t1' order by ordinal_position", R},
    {"SELECT /*!40001 SQL_NO_CACHE */ `id`, `name`, `note`, `created` FROM `t1`", R},
    {"select @@collation_database", R},
    {"SELECT TRIGGER_NAME FROM INFORMATION_SCHEMA.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 't1'", R},
    {"ROLLBACK TO SAVEPOINT sp", P},
    {"RELEASE SAVEPOINT sp", P},
    {"SHOW FIELDS FROM `v1`", R},
    {"SELECT CHECK_OPTION, DEFINER, SECURITY_TYPE,        CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.views WHERE table_name='v1' AND table_schema='sluice_test'", R},

    // ---- sysbench oltp_read_write (--db-ps-mode=disable), from the server's general log
    {"SELECT c FROM sbtest1 WHERE id=51", R},
    {"SELECT c FROM sbtest1 WHERE id BETWEEN 50 AND 149", R},
    {"SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 51 AND 150", R},
    {"SELECT c FROM sbtest1 WHERE id BETWEEN 51 AND 150 ORDER BY c", R},
    {"SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 61 AND 160 ORDER BY c", R},
    {"UPDATE sbtest1 SET k=k+1 WHERE id=51", P},
    {"UPDATE sbtest1 SET c='88434889829-09517459433-26736309583-16761436641-14096301900' WHERE id=51", P},
    {"DELETE FROM sbtest1 WHERE id=51", P},
    {"INSERT INTO sbtest1 (id, k, c, pad) VALUES (55, 51, '52006226293-50989725781', '22777407570-35857216219')", P},
    {"BEGIN", P, begin},
    {"COMMIT", P},
    {"CREATE TABLE sbtest1(\n  id INTEGER NOT NULL AUTO_INCREMENT,\n  k INTEGER DEFAULT '0' NOT NULL,\n  c CHAR(120) DEFAULT '' NOT NULL,\n  pad CHAR(60) DEFAULT '' NOT NULL,\n  PRIMARY KEY (id)\n) /*! ENGINE = innodb */", P},
    {"CREATE INDEX k_1 ON sbtest1(k)", P},
    {"DROP TABLE IF EXISTS sbtest1", P},

    // ---- Drivers at connect: PyMySQL, mysql2, Connector/J, mysql-connector-python
    {"SET AUTOCOMMIT = 0", P, sset},
    {"SET autocommit=1", P, sset},
    {"SET NAMES utf8mb4", P, sset},
    {"SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'", P, sset},
    {"SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci, autocommit = 1", P, sset},
    {"SET character_set_results = NULL", P, sset},
    {"SET @@session.autocommit = OFF", P, sset},
    {"/* mysql-connector-java-8.0.33 */SELECT @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client", R},
    {"SET SESSION TRANSACTION READ ONLY", P, sset},
    {"SET SESSION TRANSACTION READ WRITE", P, sset},
    {"SELECT @@version, @@version_comment", R},
    {"SELECT @@server_id, @@port", R},
    {"SET time_zone = '+00:00'", P, sset},

    // ---- Lexing: quotes, escapes, comments
    {"SELECT 'a\\'; DELETE FROM t; --'", R},          // \' does not end the string
    {"SELECT \"a\\\"; DELETE FROM t; --\"", R},       // "..." is a string, with escapes
    {"SELECT 'it''s'; SELECT 2", R, multi},
    {"SELECT \"say \"\"hi\"\"\"", R},
    {"SELECT 'a\\\\'; DELETE FROM t", P, multi},     // \\ is one backslash: the string ends there
    {"SELECT `a``; DELETE FROM t; ``b` FROM t", R},     // one identifier
    {"SELECT 1--1", R},                               // minus minus one
    {"SELECT 1 --x; DELETE FROM t", P, multi},        // --x is no comment: the ';' splits
    {"SELECT 1 -- x; DELETE FROM t", R},              // "-- " is a comment to the end of the line
    {"SELECT 1 --\tx; DELETE FROM t", R},             // any whitespace or control character
    {"SELECT 1 --", R},                               // "--" at the very end: a comment
    {"SELECT 1 # ; DELETE FROM t", R},
    {"SELECT 1 # x\n; DELETE FROM t", P, multi},
    {"SELECT '#'; DELETE FROM t", P, multi},
    {"SELECT '# x' AS a, \"-- y\" AS b", R},
    {"SELECT 1 /* a /* b */ ; DELETE FROM t", P, multi},  // comments do not nest: the first */ ends it
    {"SELECT 1 /* a /* b */ */", R},                  // ... and the second */ is two operators
    {"SELECT 1 /*! FOR UPDATE */", P},                // executable comments are code
    {"SELECT 1 /*!50000 FOR UPDATE */", P},
    {"SELECT 1 /*M! FOR UPDATE */", P},
    {"SELECT 1 /*M!100000 FOR UPDATE */", P},
    {"SELECT 1 /*!40101 , '*/' */ FROM t", R},        // */ in a string does not close it
    {"SELECT 1 /*!40101 , 2 /* c */ , 3 */", R},      // a comment inside one is a comment
    {"SELECT 1 /*!40101 , 2 -- x\n */ , 3", R},
    {"/*!40101 SET @a=1; SET @b=2 */", P, pin | multi},
    {"/*!40101 SET NAMES utf8 */; /*!40101 SELECT 1 */", P, sset | multi},
    {"SELECT 1 /*!40101 , 2 /*!40101 , 4 */ , 3 */", P},  // nested executable comments: an error
    {"SELECT 1 /*M FOR UPDATE */", R},                // /*M without ! is a comment
    {"SELECT 1 /*m! FOR UPDATE */", R},               // lower-case m too
    {"SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", R},  // optimizer hints are comments
    {"SELECT X'41', x'4a', b'1000001', N'x', n'y', _utf8mb4'z', _latin1 X'41', 0x42, 0b01", R},
    {"SELECT x'\\'; DELETE FROM t", P, multi},        // no escapes in X'': the string ends at the 2nd '
    {"SELECT 'abc", P},                               // unterminated
    {"SELECT `abc", P},
    {"SELECT 1 /* x", P},
    {"SELECT 1 /*! , 2", P},                          // an executable comment never closed
    {"SELECT 1 \\G", P},                              // a client command: the server rejects it
    {"SELECT $x, a$b FROM t", R},
    {"SELECT {fn NOW()}, {d '2024-01-01'}", R},
    {"SELECT 1 FROM t WHERE a = $1", R},

    // ---- Reads
    {"SELECT 1", R},
    {"select * from t where id = 1", R},
    {"(SELECT 1) UNION (SELECT 2)", R},
    {"SELECT * FROM t1 JOIN t2 USING (id) WHERE t1.a IN (SELECT a FROM t3)", R},
    {"WITH c AS (SELECT 1) SELECT * FROM c", R},
    {"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT * FROM c", R},
    {"TABLE t", R},
    {"VALUES (1, 2), (3, 4)", R},
    {"SHOW TABLES", R},
    {"SHOW DATABASES", R},
    {"SHOW CREATE TABLE t", R},
    {"SHOW VARIABLES LIKE 'max_connections'", R},
    {"SHOW GRANTS", R},
    {"SHOW INDEX FROM t", R},
    {"SHOW TABLE STATUS LIKE 't'", R},
    {"DESCRIBE t", R},
    {"DESC t", R},
    {"DESCRIBE t col", R},
    {"EXPLAIN t", R},
    {"EXPLAIN SELECT * FROM t", R},
    {"EXPLAIN EXTENDED SELECT * FROM t", R},
    {"EXPLAIN FORMAT=JSON SELECT * FROM t", R},
    {"DESC SELECT 1", R},
    {"EXPLAIN ANALYZE SELECT * FROM t", R},           // runs a read
    {"ANALYZE SELECT * FROM t", R},                   // MariaDB: runs a read
    {"ANALYZE FORMAT=JSON SELECT * FROM t", R},
    {"HELP 'contents'", R},
    {"SELECT SLEEP(1)", R},
    {"SELECT NOW(), RAND(), UUID(), CONNECTION_ID(), DATABASE(), VERSION()", R},
    {"SELECT @x", R},                                 // reading a user variable pins nothing
    {"SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2024-01-01 00:00:00'", R},
    {"SELECT * FROM t WHERE lock IN (1, 2)", R},
    {"SELECT other.log_event(1)", R},
    {"SELECT 1; SELECT 2", R, multi},

    // ---- Writes, locks, sequences, session state in SELECT
    {"SELECT * FROM t WHERE id = 1 FOR UPDATE", P},
    {"SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT", P},
    {"SELECT * FROM t WHERE id = 1 FOR UPDATE SKIP LOCKED", P},
    {"SELECT * FROM t WHERE id = 1 FOR SHARE", P},
    {"SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE", P},
    {"SELECT a INTO @x FROM t", P, pin},
    {"SELECT a FROM t INTO @x", P, pin},
    {"SELECT * FROM t INTO OUTFILE '/tmp/t.txt'", P},
    {"SELECT a FROM t INTO DUMPFILE '/tmp/a'", P},
    {"SELECT @x := 1", P, pin},
    {"SELECT @rownum := @rownum + 1 AS n, a FROM t", P, pin},
    {"SELECT GET_LOCK('a', 10)", P, pin},
    {"select get_lock('a', 10)", P, pin},
    {"SELECT RELEASE_LOCK('a')", P},
    {"SELECT RELEASE_ALL_LOCKS()", P},
    {"SELECT IS_FREE_LOCK('a')", P},
    {"SELECT IS_USED_LOCK('a')", P},
    {"DO GET_LOCK('a', 1)", P, pin},
    {"SELECT LAST_INSERT_ID()", P, prev},
    {"SELECT LAST_INSERT_ID(42)", P},
    {"UPDATE seq SET id = LAST_INSERT_ID(id + 1)", P},
    {"INSERT INTO t (a) VALUES (LAST_INSERT_ID())", P, prev},
    {"SELECT @@identity", P, prev},
    {"SELECT ROW_COUNT()", P, prev},
    {"SELECT FOUND_ROWS()", P, pin},
    {"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", P, pin},
    {"SELECT @@warning_count", R, prev},
    {"SELECT @@session.error_count", R, prev},
    {"SHOW WARNINGS", R, prev},
    {"SHOW ERRORS LIMIT 10", R, prev},
    {"SHOW COUNT(*) WARNINGS", R, prev},
    {"GET DIAGNOSTICS CONDITION 1 @msg = MESSAGE_TEXT", P, pin | prev},
    {"SELECT NEXTVAL(s)", P},
    {"SELECT SETVAL(s, 100)", P},
    {"SELECT LASTVAL(s)", P},
    {"SELECT NEXT VALUE FOR s", P},
    {"SELECT PREVIOUS VALUE FOR s", P},
    {"SELECT s.nextval", P},
    {"INSERT INTO t (id) VALUES (NEXT VALUE FOR s)", P},
    {"SELECT audit_write(1)", P},                     // routing.write_functions
    {"SELECT AUDIT_WRITE(1)", P},
    {"SELECT app.log_event(1)", P},
    {"SELECT log_event(1)", P},
    {"SELECT `app`.`log_event`(1)", P},
    {"SELECT * FROM information_schema.PROCESSLIST", P},  // describes the server
    {"SELECT * FROM performance_schema.threads", P},
    {"SHOW PROCESSLIST", P},
    {"SHOW FULL PROCESSLIST", P},
    {"SHOW STATUS", P},
    {"SHOW GLOBAL STATUS LIKE 'Threads%'", P},
    {"SHOW MASTER STATUS", P},
    {"SHOW SLAVE STATUS", P},
    {"SHOW REPLICA STATUS", P},
    {"SHOW ALL SLAVES STATUS", P},
    {"SHOW BINARY LOGS", P},
    {"SHOW ENGINE INNODB STATUS", P},
    {"EXPLAIN INSERT INTO t VALUES (1)", P},          // planned where it would run
    {"EXPLAIN UPDATE t SET a = 1", P},
    {"EXPLAIN SELECT * FROM t FOR UPDATE", P},
    {"EXPLAIN SELECT GET_LOCK('a', 1)", P},           // planned, not run: no pin
    {"EXPLAIN ANALYZE DELETE FROM t WHERE id = 1", P},
    {"ANALYZE DELETE FROM t WHERE id = 1", P},
    {"ANALYZE TABLE t", P},
    {"EXPLAIN FOR CONNECTION 5", P},
    {"WITH c AS (SELECT 1) UPDATE t JOIN c SET t.a = 1", P},
    {"WITH c AS (SELECT 1) DELETE FROM t", P},
    {"DO 1", P},
    {"DO SLEEP(1)", P},
    {"INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 1", P},
    {"REPLACE INTO t VALUES (1)", P},
    {"INSERT INTO t SELECT * FROM u", P},
    {"UPDATE t SET a := 1", P},                       // := in UPDATE ... SET is no variable
    {"DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", P},
    {"LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t FIELDS TERMINATED BY ','", P},
    {"LOAD XML INFILE '/tmp/x.xml' INTO TABLE t", P},
    {"CALL p(1)", P},
    {"TRUNCATE TABLE t", P},
    {"CHECKSUM TABLE t", P},
    {"OPTIMIZE TABLE t", P},
    {"KILL QUERY 42", P},
    {"KILL 42", P},
    {"GRANT SELECT ON db.* TO 'u'@'%'", P},
    {"REVOKE SELECT ON db.* FROM 'u'@'%'", P},
    {"CREATE USER 'u'@'%' IDENTIFIED BY 'p'", P},
    {"RENAME TABLE a TO b", P},
    {"ALTER TABLE t ADD COLUMN c INT", P},
    {"CREATE DATABASE d", P},
    {"CREATE SEQUENCE s START WITH 1", P},
    {"INSTALL SONAME 'auth_ed25519'", P},
    {"CHANGE MASTER TO MASTER_HOST='x'", P},
    {"START SLAVE", P},
    {"PURGE BINARY LOGS BEFORE NOW()", P},
    {"DELIMITER //", P},                              // a client command: the server rejects it
    {"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no'", P},
    {"SELECT 1; INSERT INTO t VALUES (1)", P, multi},

    // ---- Transactions
    {"BEGIN WORK", P, begin},
    {"START TRANSACTION", P, begin},
    {"START TRANSACTION READ ONLY", R, begin | ro},
    {"start transaction read only", R, begin | ro},
    {"START TRANSACTION READ WRITE", P, begin},
    {"START TRANSACTION WITH CONSISTENT SNAPSHOT", P, begin},
    {"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", R, begin | ro},
    {"START TRANSACTION READ ONLY; SELECT 1", R, begin | ro | multi},
    {"START TRANSACTION READ ONLY; INSERT INTO t VALUES (1)", P, begin | ro | multi},
    {"BEGIN; SET TRANSACTION READ ONLY", R, begin | ro | multi | sset},
    {"SET TRANSACTION READ ONLY", R, sset},
    {"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", P, sset},
    {"SET TRANSACTION READ ONLY; START TRANSACTION", P, sset | multi},
    {"SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE", P},
    {"ROLLBACK", P},
    {"COMMIT AND CHAIN", P},
    {"XA START 'x'", P, pin},
    {"XA BEGIN 'x'", P, pin},
    {"XA END 'x'", P},
    {"XA PREPARE 'x'", P},
    {"XA COMMIT 'x'", P},
    {"XA RECOVER", P},
    {"BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", P},  // a MariaDB compound statement, not a transaction

    // ---- Pinning
    {"CREATE TEMPORARY TABLE tmp (a INT)", P, pin},
    {"CREATE TEMPORARY TABLE IF NOT EXISTS tmp SELECT * FROM t", P, pin},
    {"CREATE OR REPLACE TEMPORARY TABLE tmp (a INT)", P, pin},
    {"DROP TEMPORARY TABLE tmp", P},
    {"LOCK TABLES t READ", P, pin},
    {"LOCK TABLE t WRITE, u READ", P, pin},
    {"FLUSH TABLES WITH READ LOCK", P, pin},
    {"FLUSH TABLES t1, t2 WITH READ LOCK", P, pin},
    {"FLUSH TABLES t FOR EXPORT", P, pin},
    {"FLUSH PRIVILEGES", P},
    {"FLUSH LOGS", P},
    {"PREPARE s FROM 'SELECT * FROM t WHERE id = ?'", P, pin},
    {"EXECUTE s USING @a, @b", P, pin},
    {"DEALLOCATE PREPARE s", P},
    {"DROP PREPARE s", P},
    {"EXECUTE IMMEDIATE 'SELECT 1'", P, sset},
    {"SET sql_log_bin = 0", P, pin | sset},
    {"SET sql_log_bin = OFF", P, pin | sset},
    {"SET SESSION sql_log_bin = 1", P, sset},
    {"HANDLER t OPEN", P, pin},
    {"HANDLER t OPEN AS h", P, pin},
    {"HANDLER t READ FIRST", P},
    {"HANDLER t CLOSE", P},
    {"BACKUP LOCK t", P, pin},
    {"BACKUP STAGE START", P, pin},

    // ---- SET
    {"SET @x = 1", P, pin},
    {"SET @x := 1", P, pin},
    {"SET @a = 1, @b = 2", P, pin},
    {"SET @`my var` = 1", P, pin},
    {"SET @'v' = 1", P, pin},
    {"SET GLOBAL max_connections = 100", P},
    {"SET @@global.max_connections = 100", P},
    {"SET @@session.sql_mode = ''", P, sset},
    {"SET @@sql_mode = ''", P, sset},
    {"SET LOCAL sql_mode = ''", P, sset},            // LOCAL is SESSION in MySQL
    {"SET SESSION sql_mode = 'ANSI_QUOTES'", P, sset},
    {"SET GLOBAL a = 1, b = 2", P},                   // the last scope named applies
    {"SET GLOBAL a = 1, SESSION b = 2", P, sset},
    {"SET PERSIST max_connections = 10", P},
    {"SET CHARACTER SET utf8", P, sset},
    {"SET CHARSET utf8", P, sset},
    {"SET PASSWORD = PASSWORD('x')", P},
    {"SET PASSWORD FOR 'u'@'h' = 'x'", P},
    {"SET ROLE r", P, pin},
    {"SET DEFAULT ROLE r FOR u", P},
    {"SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES'), @x = 1", P, sset | pin},
    {"SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t", R},
    {"SET STATEMENT max_statement_time = 1, sql_log_bin = 0 FOR INSERT INTO t VALUES (1)", P},
    {"USE db", P, sset},
    {"USE `my db`", P, sset},

    // ---- Routines: a ';' inside BEGIN ... END does not split
    {"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", P, def},
    {"CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN DECLARE x INT; IF x THEN SELECT 1; END IF; END", P, def},
    {"CREATE PROCEDURE p() BEGIN CASE WHEN 1 THEN SELECT 1; END CASE; END; SELECT 1", P, def | multi},
    {"CREATE PROCEDURE p() BEGIN l: LOOP LEAVE l; END LOOP l; SELECT CASE WHEN 1 THEN 2 END; END", P, def},
    {"CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1", P, def},
    {"CREATE PROCEDURE p() SELECT 1; SELECT 2", P, def | multi},
    {"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END", P},
    {"CREATE EVENT e ON SCHEDULE EVERY 1 HOUR DO BEGIN DELETE FROM t; END", P},
    {"DROP PROCEDURE p", P, def},
    {"ALTER FUNCTION f COMMENT 'x'", P, def},

    // ---- Hints and empty strings
    {"/* sluice: primary */ SELECT 1", R, hint_p},
    {"/* sluice: replica */ INSERT INTO t VALUES (1)", P, hint_r},
    {"# sluice: primary\nSELECT 1", R, hint_p},
    {"-- sluice: replica\nSELECT 1", R, hint_r},
    {"--sluice: primary\nSELECT 1", P},               // not a comment in MySQL
    {"/*!sluice: primary */ SELECT 1", P},            // code, not a comment
    {"", R, empty},
    {"   ", R, empty},
    {"/* x */", R, empty},
    {"# x", R, empty},
    {"-- ", R, empty},
    {";;", R, empty},
    {"/*!*/", R, empty},
};
// clang-format on

}  // namespace

TEST_CASE("mysql: every statement in the table gets its route and flags", "[classify][mysql]") {
  STATIC_REQUIRE(sizeof(rows) / sizeof(rows[0]) >= 150);
  for (const row& r : rows) {
    INFO("sql: " << r.sql);
    CHECK(describe(classify(r.sql, my)) == describe(r.target, r.flags));
  }
}

TEST_CASE("mysql: the whole mysqldump output in one string", "[classify][mysql]") {
  std::string dump;
  for (const std::string_view line : mysqldump_lines) {
    dump += line;
    dump += "\n-- comment line\n\n";
  }
  const classification c = classify(dump, my);
  CHECK(describe(c) == describe(P, pin | sset | multi));
}

TEST_CASE("mysql: sql_mode flags change the lexing of quotes and backslashes", "[classify][mysql]") {
  options no_backslash = my;
  no_backslash.no_backslash_escapes = true;
  // The backslash is an ordinary character: the string ends at \' and the rest is code.
  CHECK(describe(classify("SELECT 'a\\'; DELETE FROM t; SELECT '", no_backslash)) == describe(P, multi));
  CHECK(describe(classify("SELECT 'a\\', 'b'", no_backslash)) == describe(R, 0));
  CHECK(describe(classify("SELECT \"a\\\"; DELETE FROM t; SELECT \"", no_backslash)) == describe(P, multi));

  options ansi = my;
  ansi.ansi_quotes = true;
  CHECK(describe(classify("SELECT \"col\" FROM \"t\"", ansi)) == describe(R, 0));
  // An identifier takes no backslash escapes: \" ends it.
  CHECK(describe(classify("SELECT \"a\\\"; DELETE FROM t", ansi)) == describe(P, multi));
  CHECK(describe(classify("SELECT \"a\\\"; DELETE FROM t; --\"", my)) == describe(R, 0));
  CHECK(describe(classify("SELECT \"get_lock\"(1)", ansi)) == describe(P, pin));
}

TEST_CASE("mysql: the PostgreSQL dialect still lexes the PostgreSQL way", "[classify][mysql]") {
  const options pg{write_functions};
  // The same strings, other answers: each dialect its own rules.
  CHECK(classify("SELECT 1 --x; DELETE FROM t", pg).target == R);  // a comment in PostgreSQL
  CHECK(classify("SELECT 1 --x; DELETE FROM t", my).target == P);
  CHECK(classify("SELECT 'a\\'; DELETE FROM t; --'", pg).target == P);  // standard strings: \ is plain
  CHECK(classify("SELECT 'a\\'; DELETE FROM t; --'", my).target == R);
  CHECK(classify("SELECT 1 /* a /* b */ ; DELETE FROM t */", pg).target == R);  // nested in PostgreSQL
  CHECK(classify("SELECT 1 /* a /* b */ ; DELETE FROM t */", my).target == P);
  CHECK(classify("SELECT $$; DELETE FROM t; $$", pg).target == R);  // dollar quoting
  CHECK(classify("SELECT $$; DELETE FROM t; $$", my).target == P);
  // The default options are PostgreSQL's.
  CHECK(options{}.dialect == sql_dialect::postgresql);
  classification fast;
  CHECK(classify_fast("SELECT 1", my, fast));
  CHECK(classify_fast("SELECT 1", pg, fast));
  CHECK_FALSE(classify_fast("SELECT 1 # x", my, fast));  // a comment: the full path reads it
}

TEST_CASE("mysql: find_tag reads #, -- and /* */ comments, not executable ones", "[classify][mysql][tag]") {
  struct tag_row {
    const char* sql;
    const char* mysql;
    const char* postgresql;
  };
  const auto r = GENERATE(values<tag_row>({
      {"/* tenant=acme */ SELECT 1", "acme", "acme"},
      {"-- tenant=acme\nSELECT 1", "acme", "acme"},
      {"# tenant=acme\nSELECT 1", "acme", ""},
      {"# app=web\n/* tenant=beta */ SELECT 1", "beta", ""},
      {"--tenant=acme\nSELECT 1", "", "acme"},
      {"/*!40101 tenant=acme */ SELECT 1", "", "acme"},
      {"/* sluice: replica */ # tenant=acme\nSELECT 1", "acme", ""},
      {"SELECT 1 # tenant=acme", "", ""},
  }));
  CAPTURE(r.sql);
  CHECK(find_tag(r.sql, "tenant", sql_dialect::mysql) == std::string_view(r.mysql));
  CHECK(find_tag(r.sql, "tenant") == std::string_view(r.postgresql));
}

namespace {

using tk = token_kind;
using v = std::vector<std::pair<token_kind, std::string>>;

v kinds(std::string_view sql, mysql_lex_modes modes = {}) {
  mysql_lexer lex(sql, modes);
  v out;
  for (token t = lex.next(); t.kind != token_kind::end; t = lex.next()) {
    out.emplace_back(t.kind, std::string(t.text) + (t.unterminated ? "<unterminated>" : ""));
  }
  return out;
}

}  // namespace

TEST_CASE("mysql_lexer: token kinds and extents", "[classify][mysql][lexer]") {
  CHECK(kinds("SELECT `a``b`, 'c\\'d', \"e\\\"f\"") ==
        v{{tk::word, "SELECT"}, {tk::quoted_ident, "`a``b`"}, {tk::punct, ","}, {tk::string, "'c\\'d'"},
          {tk::punct, ","}, {tk::string, "\"e\\\"f\""}});
  CHECK(kinds("a # c\nb -- d\nc --e") == v{{tk::word, "a"}, {tk::line_comment, "# c"}, {tk::word, "b"},
                                           {tk::line_comment, "-- d"}, {tk::word, "c"}, {tk::op, "--"},
                                           {tk::word, "e"}});
  CHECK(kinds("1--1") == v{{tk::number, "1"}, {tk::op, "--"}, {tk::number, "1"}});
  CHECK(kinds("/* a /* b */ c */") == v{{tk::block_comment, "/* a /* b */"}, {tk::word, "c"}, {tk::op, "*/"}});
  CHECK(kinds("/*!40101 SET x=1 */ y") ==
        v{{tk::word, "SET"}, {tk::word, "x"}, {tk::op, "="}, {tk::number, "1"}, {tk::word, "y"}});
  CHECK(kinds("/*M!100100 a*/b") == v{{tk::word, "a"}, {tk::word, "b"}});
  CHECK(kinds("/*! a /*! b */") == v{{tk::word, "a"}, {tk::other, "/*!"}, {tk::word, "b"}});
  CHECK(kinds("@x := @@session.y") == v{{tk::op, "@"}, {tk::word, "x"}, {tk::op, ":="}, {tk::op, "@@"},
                                        {tk::word, "session"}, {tk::punct, "."}, {tk::word, "y"}});
  CHECK(kinds("X'4\\' b'01' N'x\\'y' _utf8'z'") ==
        v{{tk::string, "X'4\\'"}, {tk::string, "b'01'"}, {tk::string, "N'x\\'y'"}, {tk::word, "_utf8"},
          {tk::string, "'z'"}});
  CHECK(kinds("'a\\'c'", mysql_lex_modes{false, false}) == v{{tk::string, "'a\\'"}, {tk::word, "c"},
                                                             {tk::string, "'<unterminated>"}});
  CHECK(kinds("\"x\"", mysql_lex_modes{true, true}) == v{{tk::quoted_ident, "\"x\""}});
  CHECK(kinds("0x1F 0b101 1e5 .5 1abc $a") == v{{tk::number, "0x1F"}, {tk::number, "0b101"}, {tk::number, "1e5"},
                                                {tk::number, ".5"}, {tk::number, "1abc"}, {tk::word, "$a"}});
}

TEST_CASE("mysql: every prefix of every table row is handled", "[classify][mysql][robust]") {
  for (const row& r : rows) {
    for (std::size_t n = 0; n <= r.sql.size(); ++n) {
      const std::string_view prefix = r.sql.substr(0, n);
      const classification c = classify(prefix, my);
      CHECK((!c.empty || c.target == route::replica));
      CHECK((!c.pins_session || c.target == route::primary));
      CHECK((!c.read_only_transaction || c.begins_transaction));
      CHECK(c == classify_full(prefix, my));
    }
  }
}

TEST_CASE("mysql: random SQL-like soup is handled", "[classify][mysql][robust]") {
  const std::string_view pieces[] = {
      "SELECT ", "INSERT ", "WITH ", "x AS (", ")", "(", ";", "'", "''", "\\", "\"", "`", "``", "#", "\n",
      "-- ", "--", "/*", "*/", "/*!", "/*!40101 ", "/*M!", "@", "@@", ":=", "SET ", "GLOBAL ", "SESSION ",
      "FOR ", "UPDATE ", "INTO ", "BEGIN ", "END ", "NOT ", "ATOMIC ", "CREATE ", "PROCEDURE ", "CASE ",
      "START ", "TRANSACTION ", "READ ", "ONLY ", ",", "EXPLAIN ", "ANALYZE ", "get_lock", "last_insert_id",
      "NEXT ", "VALUE ", "X'", "1", "é", std::string_view("\0", 1), " ", "SHOW ", "STATEMENT ", "."};
  std::mt19937 rng(20261207);  // fixed seed: deterministic
  std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1);
  std::uniform_int_distribution<int> length(0, 40);
  for (int i = 0; i < 20000; ++i) {
    std::string sql;
    for (int n = length(rng); n > 0; --n) {
      sql += pieces[pick(rng)];
    }
    INFO("sql: " << sql);
    const classification c = classify(sql, my);
    REQUIRE((!c.pins_session || c.target == route::primary));
    REQUIRE((!c.empty || c.target == route::replica));
    REQUIRE((!c.read_only_transaction || c.begins_transaction));
  }
}

namespace {

std::string repeat(std::string_view s, std::size_t bytes) {
  std::string out;
  out.reserve(bytes + s.size());
  while (out.size() < bytes) {
    out += s;
  }
  return out;
}

}  // namespace

// Linear time on hostile shapes: anything quadratic in 1 MB would take minutes.
TEST_CASE("mysql: 1 MB inputs are quick", "[classify][mysql][perf]") {
  constexpr std::size_t mb = 1 << 20;
  const std::pair<std::string, route> inputs[] = {
      {repeat("SELECT a, 'str', \"s\", `id`, /* c */ # d\n f(1) FROM t WHERE b = 1; ", mb), route::replica},
      {"SELECT " + repeat("1 + ", mb) + "1", route::replica},
      {"SELECT '" + repeat("\\'", mb) + "'", route::replica},
      {"SELECT 1; " + repeat("SELECT 1; ", mb) + "DELETE FROM t", route::primary},
      {"SELECT " + repeat("(", mb), route::replica},
      {"SELECT 1 " + repeat("/*", mb), route::primary},
      {"SELECT 1 " + repeat("/*!", mb), route::primary},
      {repeat("/*!40101 SELECT 1 */; ", mb), route::replica},
      {repeat("# comment\n", mb) + "SELECT 1", route::replica},
      {repeat("EXPLAIN ", mb) + "SELECT 1", route::replica},
      {repeat("ANALYZE ", mb) + "SELECT 1", route::replica},
      {repeat("SET STATEMENT a=1 FOR ", mb) + "SELECT 1", route::replica},
      {"CREATE PROCEDURE p() " + repeat("BEGIN ", mb) + repeat("END ", mb), route::primary},
      {"SET " + repeat("@a = 1, ", mb) + "b = 2", route::primary},
      {"SELECT " + repeat("@@session.x, ", mb) + "1", route::replica},
      {repeat(";", mb), route::replica},
  };
  for (const auto& input : inputs) {
    const std::string& sql = input.first;
    INFO("input starts: " << sql.substr(0, 60));
    classification c;
    const auto start = std::chrono::steady_clock::now();
    c = classify(sql, my);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    CHECK(c.target == input.second);
    CHECK(took.count() < 2.0);
  }
}

TEST_CASE("mysql: the fast path answers plain SELECTs as the full path does, and only those",
          "[classify][mysql][fast]") {
  const char* plain[] = {
      "SELECT c FROM sbtest1 WHERE id=5012",  // sysbench oltp_point_select, --db-ps-mode=disable
      "select c from sbtest3 where id between 10 and 109 order by c",
      "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
      "  SELECT `a`, t.b FROM `db`.`t` AS t WHERE t.x <> 'y''z' AND t.v != \"q\" LIMIT 10 ",
      "SELECT id FROM t WHERE id = ? AND name = ?",  // a prepared statement's text
      "SELECT * FROM t1, t2 WHERE t1.a = t2.a UNION ALL SELECT * FROM t3",
      "SELECT 1",
  };
  for (const char* sql : plain) {
    classification fast;
    INFO(sql);
    REQUIRE(classify_fast(sql, my, fast));
    CHECK(fast == classify_full(sql, my));
    CHECK(fast.target == route::replica);
  }
  const char* not_plain[] = {
      "SELECT * FROM t FOR UPDATE", "SELECT * FROM t WHERE a = 1 LOCK IN SHARE MODE", "SELECT a INTO @x FROM t",
      "SELECT a FROM t INTO OUTFILE 'f'", "SELECT SQL_CALC_FOUND_ROWS a FROM t", "SELECT s.nextval",
      "SELECT NEXT VALUE FOR s", "SELECT * FROM information_schema.processlist", "SELECT @@port",
      "SELECT GET_LOCK('a', 1)", "SELECT a FROM t; DELETE FROM t", "SELECT 1 -- x", "/* sluice: primary */ SELECT 1",
      "SELECT 'a\\'; DELETE FROM t; --'", "SELECT * FROM t WHERE a IN (1, 2)", "SELECT 'é'", "SELECTX 1",
      "INSERT INTO t VALUES (1)", "SELECT * FROM t FOR SYSTEM_TIME ALL",
  };
  for (const char* sql : not_plain) {
    classification fast;
    INFO(sql);
    CHECK_FALSE(classify_fast(sql, my, fast));
  }
}
