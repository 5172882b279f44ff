// SQL classifier: a table of statements with the route and flags each must get, the session SET
// values extracted, the lexer's tokens, truncated and random inputs, 1 MB inputs, and no allocation.
#include "router/classify/classifier.hpp"
#include "router/classify/lexer.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/counting_allocator.hpp"

using namespace sluice::router::classify;

namespace {

// Expected flags of a row; anything not listed must be false / none.
enum flag : unsigned {
  pin = 1u << 0,     // pins_session
  sset = 1u << 1,    // has_session_set
  begin = 1u << 2,   // begins_transaction
  ro = 1u << 3,      // read_only_transaction
  multi = 1u << 4,   // statement_count_multiple
  empty = 1u << 5,   // empty
  hint_p = 1u << 6,  // routing_hint primary
  hint_r = 1u << 7,  // routing_hint replica
};

constexpr route R = route::replica;
constexpr route P = route::primary;

struct row {
  std::string_view sql;
  route target;
  unsigned flags = 0;
};

// One line per classification, so a failing row shows expected and actual side by side.
std::string describe(route target, unsigned flags) {
  std::string s = target == route::replica ? "replica" : "primary";
  const std::pair<unsigned, const char*> names[] = {
      {pin, " pins"},  {sset, " session_set"}, {begin, " begins"}, {ro, " read_only"},
      {multi, " multi"}, {empty, " empty"},    {hint_p, " hint=primary"}, {hint_r, " hint=replica"},
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
  return describe(c.target, f);
}

const std::string user_functions[] = {"audit_write", "bump_counter", "app.log_event"};
const options opts{user_functions};

// clang-format off
const row rows[] = {
    // ---- Reads
    {"SELECT 1", R},
    {"select * from t", R},
    {"SeLeCt a, b FROM t WHERE x = 1", R},
    {"  \n\tSELECT 1  ", R},
    {"\n\n  sElEcT\t1", R},
    {"SELECT 1;", R},
    {"SELECT count(*) FROM t GROUP BY a HAVING count(*) > 1 ORDER BY 1 LIMIT 10 OFFSET 5", R},
    {"SELECT * FROM t FETCH FIRST 5 ROWS ONLY", R},
    {"SELECT substring('abc' FROM 1 FOR 2)", R},
    {"SELECT * FROM a JOIN b USING (id) WHERE a.x IN (SELECT y FROM c)", R},
    {"(SELECT 1) UNION (SELECT 2)", R},
    {"((SELECT 1))", R},
    {"SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3", R},
    {"VALUES (1), (2)", R},
    {"VALUES (1)", R},
    {"(VALUES (1))", R},
    {"TABLE t", R},
    {"table public.t", R},
    {"SHOW search_path", R},
    {"SHOW ALL", R},
    {"show transaction isolation level", R},
    {"SELECT now(), current_user, version()", R},
    {"SELECT current_setting('search_path')", R},
    {"SELECT * FROM generate_series(1, 10)", R},
    {"SELECT (SELECT max(id) FROM t)", R},
    {"SELECT CASE WHEN a THEN 'update' ELSE 'delete' END FROM t", R},
    {"SELECT * FROM t WHERE deleted_at IS NULL", R},
    {"SELECT * FROM updates", R},
    {"SELECT insert_time, update_count FROM t", R},
    {"SELECT a->>'k', b @> c, d || e FROM t", R},
    {"SELECT 1.5e10, .5, 0x1F, 1_000, 1e-3", R},
    {"SELECT $1::int", R},
    {"SELECT * FROM t FOR READ ONLY", R},
    {"SELECT * FROM t WHERE a = 'FOR UPDATE'", R},
    {"SELECT 'INTO' FROM t", R},
    {"SELECT 2*/*c*/3", R},
    {"SELECT 1--comment;DELETE FROM t", R},
    {"SELECT 1 -- trailing comment", R},
    {"SELECT 1 /* trailing */", R},

    // ---- Quoting: writes hidden in strings, identifiers, comments and dollar quotes do not count
    {"SELECT 'INSERT INTO x'", R},
    {"SELECT $$DELETE$$", R},
    {"SELECT $a$ ; DROP TABLE t; $a$", R},
    {"SELECT $a$ $b$ ; DROP $b$ $a$", R},
    {"SELECT $fn$ it's $$ nested $fn$", R},
    {"SELECT $_1$;$_1$", R},
    {"/* DELETE */ SELECT 1", R},
    {"-- UPDATE\nSELECT 1", R},
    {"-- UPDATE\r\nSELECT 1", R},
    {"/* a /* b */ DELETE */ SELECT 1", R},
    {R"(SELECT E'\'; DELETE FROM t; --')", R},
    {R"(SELECT e'it\'s')", R},
    {R"(SELECT E'\\'; SELECT 2)", R, multi},
    {R"(SELECT E'a''b; DELETE')", R},
    {"SELECT 'it''s; DELETE'", R},
    {"SELECT '' || ';' || ''", R},
    {R"(SELECT 'a\'; SELECT 2)", R, multi},  // standard_conforming_strings: '\' is a whole string
    {R"(SELECT "select" FROM "delete")", R},
    {R"(SELECT "Weird ""name""" FROM t)", R},
    {R"(SELECT "a;b" FROM t)", R},
    {R"(SELECT U&'d\0061t\+000061')", R},
    {R"(SELECT U&'\0027'; SELECT 2)", R, multi},
    {R"(SELECT U&"d\0061t\+000061" FROM t)", R},
    {"SELECT B'1010', X'1F', N'abc'", R},
    {"SELECT x FROM t WHERE y LIKE '%; DELETE%'", R},
    {"SELECT a$b$c FROM t", R},
    {"SELECT 1 FROM t WHERE a = $1; SELECT 2", R, multi},
    {"WITH x AS (SELECT 'DELETE') SELECT * FROM x", R},
    {"SELECT $$ /* $$, 1", R},
    {"SELECT '/*', 1; SELECT 2", R, multi},

    // ---- WITH
    {"WITH x AS (SELECT 1) SELECT * FROM x", R},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r", R},
    {"WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM t) "
     "SEARCH DEPTH FIRST BY n SET ord SELECT * FROM t", R},
    {"WITH x AS MATERIALIZED (SELECT 1) SELECT * FROM x", R},
    {"with x as (select 1) values (1)", R},
    {"WITH x AS (SELECT 1) TABLE x", R},
    {"(WITH x AS (SELECT 1) SELECT * FROM x)", R},
    {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", P},
    {"WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM x", P},
    {"WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT 1", P},
    {"WITH x AS NOT MATERIALIZED (DELETE FROM t RETURNING 1) SELECT 1", P},
    {"WITH x AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING *) SELECT 1", P},
    {"WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM t RETURNING 1) SELECT * FROM c) "
     "SELECT * FROM a, b", P},
    {"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", P},
    {"WITH x AS (SELECT 1) UPDATE t SET a = (SELECT * FROM x)", P},
    {"WITH x AS (SELECT 1) DELETE FROM t", P},
    {"WITH x AS (SELECT 1) SELECT * INTO t2 FROM x", P},
    {"WITH x AS (SELECT nextval('s')) SELECT * FROM x", P},
    {"WITH", P},

    // ---- Writes and everything else
    {"INSERT INTO t VALUES (1)", P},
    {"insert into t (a) select 1", P},
    {"UPDATE t SET a = 1", P},
    {"DELETE FROM t", P},
    {"DELETE FROM t WHERE a = 'SELECT'", P},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a", P},
    {"TRUNCATE t", P},
    {"CREATE TABLE t (a int)", P},
    {"CREATE TABLE temp (a int)", P},
    {"CREATE TABLE t (a int) -- TEMP", P},
    {"CREATE UNLOGGED TABLE t (a int)", P},
    {"CREATE TABLE t AS SELECT 1", P},
    {"CREATE MATERIALIZED VIEW mv AS SELECT 1", P},
    {"DROP TABLE t", P},
    {"ALTER TABLE t ADD COLUMN b int", P},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", P},
    {"GRANT SELECT ON t TO bob", P},
    {"VACUUM t", P},
    {"ANALYZE t", P},
    {"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", P},
    {"CALL proc(1)", P},
    {"DO $$ BEGIN PERFORM 1; END $$", P, sset},
    {"REFRESH MATERIALIZED VIEW mv", P},
    {"CLUSTER t", P},
    {"REINDEX TABLE t", P},
    {"COMMENT ON TABLE t IS 'x'", P},
    {"NOTIFY ch, 'payload'", P},
    {"UNLISTEN ch", P},
    {"EXECUTE p(1)", P},
    {"DEALLOCATE p", P},
    {"CHECKPOINT", P},
    {"CLOSE c", P},
    {"DECLARE c CURSOR FOR SELECT 1", P},
    {"LOAD 'auto_explain'", P},
    {"IMPORT FOREIGN SCHEMA s FROM SERVER srv INTO public", P},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", P},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", P},
    {"CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); "
     "SELECT CASE WHEN true THEN 1 END; END; SELECT 1", P, multi},
    {"foo bar", P},
    {"42", P},
    {"(", P},
    {")", P},
    {"(INSERT INTO t VALUES (1))", P},
    {"$$x$$", P},

    // ---- Row locks and SELECT INTO
    {"SELECT * FROM t FOR UPDATE", P},
    {"SELECT * FROM t FOR NO KEY UPDATE", P},
    {"SELECT * FROM t FOR SHARE", P},
    {"SELECT * FROM t FOR KEY SHARE SKIP LOCKED", P},
    {"select * from t for update nowait", P},
    {"SELECT\n*\nFROM\nt\nFOR\nUPDATE", P},
    {"SELECT * FROM t FOR -- comment\nUPDATE", P},
    {"SELECT * FROM (SELECT * FROM t FOR UPDATE) s", P},
    {"SELECT * INTO newtable FROM t", P},
    {"SELECT a INTO UNLOGGED tt FROM t", P},
    {"SELECT a INTO TEMP tt FROM t", P, pin},
    {"SELECT a INTO TEMPORARY TABLE tt FROM t", P, pin},
    {"SELECT a INTO LOCAL TEMP tt FROM t", P, pin},

    // ---- Functions that write
    {"SELECT nextval('s')", P},
    {"select NEXTVAL ('s')", P},
    {"SELECT setval('s', 10)", P},
    {"SELECT currval('s')", P},
    {"SELECT pg_catalog.nextval('s')", P},
    {R"(SELECT "nextval"('s'))", P},
    {R"(SELECT "NEXTVAL"('s'))", R},  // quoted: a different function
    {R"(SELECT U&"nextv\0061l"('s'))", P},
    {"SELECT nextval/* c */('s')", P},
    {"SELECT id, nextval('s') FROM t", P},
    {"INSERT INTO t VALUES (nextval('s'))", P},
    {"VALUES (nextval('s'))", P},
    {"SELECT nextval FROM t", R},
    {R"(SELECT "nextval" FROM t)", R},
    {"SELECT 'nextval(1)'", R},
    {"SELECT 1 /* nextval('s') */", R},
    {"-- nextval('s')\nSELECT 1", R},
    {"SELECT $$nextval('s')$$", R},
    {"SELECT pg_advisory_xact_lock(1)", P},
    {"SELECT pg_try_advisory_xact_lock(1)", P},
    {"SELECT pg_advisory_xact_lock_shared(1)", P},
    {"SELECT pg_advisory_unlock(1)", P},
    {"SELECT pg_advisory_unlock_all()", P},
    {"SELECT pg_advisory_lock(1)", P, pin},
    {"SELECT pg_advisory_lock_shared(1)", P, pin},
    {"SELECT pg_try_advisory_lock(1, 2)", P, pin},
    {"select PG_TRY_ADVISORY_LOCK_SHARED(1)", P, pin},
    {"SELECT pg_catalog.pg_advisory_lock(1)", P, pin},
    {"SELECT pg_advisory_lock FROM locks", R},
    {"SELECT audit_write(1)", P},
    {"SELECT AUDIT_WRITE(1)", P},
    {"SELECT public.audit_write(1)", P},
    {R"(SELECT "audit_write"(1))", P},
    {R"(SELECT "Audit_Write"(1))", R},
    {"SELECT audit_writer(1)", R},
    {"SELECT audit_write FROM t", R},
    {"SELECT 'audit_write(1)'", R},
    {"SELECT * FROM bump_counter('x')", P},
    {"SELECT lo_unlink(123)", P},
    {"SELECT lo_get(123)", R},
    {"SELECT set_config('search_path', 'x', false)", P, sset},
    {"SELECT pg_catalog.set_config('work_mem', '7MB', false), 1", P, sset},
    {"SELECT txid_current()", P},
    {"SELECT pg_notify('c', 'x')", P},
    {"SELECT app.log_event(1)", P},  // configured qualified: "app.log_event"
    {R"(SELECT "app".log_event(1))", P},
    {"SELECT APP.LOG_EVENT(1)", P},
    {"SELECT log_event(1)", P},  // the search_path may find app.log_event
    {"SELECT db.app.log_event(1)", P},
    {"SELECT other.log_event(1)", R},
    {"SELECT app.log_event FROM t", R},
    {"SELECT 'app.log_event(1)'", R},

    // ---- Built-in functions with effects (every name, in every form: the "built-in" test cases below)
    {"SELECT brin_summarize_new_values('i'::regclass)", P},
    {"SELECT brin_summarize_range('i', 0)", P},
    {"SELECT brin_desummarize_range('i', 0)", P},
    {"SELECT gin_clean_pending_list('i')", P},
    {"SELECT pg_stat_reset()", P},
    {"SELECT pg_catalog.pg_stat_reset_shared('bgwriter')", P},
    {"SELECT PG_STAT_RESET_SINGLE_TABLE_COUNTERS('t'::regclass)", P},
    {"SELECT pg_stat_statements_reset()", P},
    {"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE state = 'idle'", P},
    {"SELECT pg_terminate_backend(123)", P},
    {"SELECT pg_catalog.pg_notify('c', 'x')", P},
    {"SELECT lo_create(0)", P},
    {"SELECT lo_creat(-1)", P},
    {"SELECT lo_import('/tmp/x')", P},
    {"SELECT lo_put(1, 0, 'x')", P},
    {"SELECT lo_from_bytea(0, 'x')", P},
    {"SELECT lo_open(1, 131072)", P},
    {"SELECT pg_reload_conf()", P},
    {"SELECT pg_switch_wal()", P},
    {"SELECT pg_current_xact_id()", P},
    {"SELECT pg_catalog.txid_current()", P},
    {"SELECT pg_create_restore_point('r')", P},
    {"SELECT * FROM pg_create_logical_replication_slot('s', 'pgoutput')", P},
    {"SELECT pg_create_physical_replication_slot('s')", P},
    {"SELECT pg_drop_replication_slot('s')", P},
    {"SELECT pg_logical_emit_message(true, 'p', 'x')", P},
    {"SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", P},
    {"SELECT pg_backup_stop()", P},
    {"SELECT pg_backup_start('label')", P, pin},  // the backup belongs to the session
    {"SELECT pg_catalog.pg_start_backup('label', false, false)", P, pin},
    {"SELECT pg_replication_origin_session_setup('o')", P, pin},
    {"SELECT pg_replication_origin_advance('o', '0/1')", P},
    {"SELECT pg_restore_relation_stats('relation', 't'::regclass)", P},
    {"SELECT pg_advisory_unlock_shared(1)", P},
    {"SELECT pg_catalog.pg_try_advisory_xact_lock(1)", P},
    {"SELECT x FROM t WHERE pg_try_advisory_xact_lock_shared(x)", P},
    {"SELECT 'pg_terminate_backend(1)', $$pg_reload_conf()$$ -- pg_switch_wal()", R},
    {"SELECT pg_notify FROM t", R},
    {"SELECT lo_get(1), pg_backend_pid(), pg_sleep(0), pg_wal_lsn_diff('0/2', '0/1')", R},

    // ---- Functions and views that describe the server: the primary's answer
    {"SELECT pg_is_in_recovery()", P},  // pg_dump asks: a replica's true skips unlogged tables' data
    {"select PG_IS_IN_RECOVERY()", P},
    {"SELECT pg_catalog.pg_is_in_recovery()", P},
    {R"(SELECT "pg_is_in_recovery"())", P},
    {R"(SELECT "PG_IS_IN_RECOVERY"())", R},  // quoted: a different function
    {"SELECT pg_current_wal_lsn()", P},
    {"SELECT pg_current_wal_insert_lsn(), pg_current_wal_flush_lsn()", P},
    {"SELECT pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn()", P},
    {"SELECT pg_last_xact_replay_timestamp()", P},
    {"SELECT pg_wal_replay_pause()", P},
    {"SELECT pg_is_wal_replay_paused()", P},
    {"SELECT pg_export_snapshot()", P},
    {"SELECT pg_current_snapshot()", P},
    {"SELECT txid_current_snapshot()", P},
    {"SELECT pg_stat_get_live_tuples('t'::regclass)", P},
    {"SELECT pg_postmaster_start_time()", P},
    {"SELECT * FROM pg_control_checkpoint()", P},
    {"SELECT pg_xact_status('123'::xid8)", P},
    {"SELECT * FROM pg_stat_activity", P},
    {"select * from PG_STAT_ACTIVITY", P},
    {"SELECT * FROM pg_catalog.pg_stat_activity a WHERE a.pid <> pg_backend_pid()", P},
    {R"(SELECT * FROM "pg_catalog"."pg_stat_activity")", P},
    {"SELECT (SELECT count(*) FROM pg_stat_replication) AS replicas", P},
    {"WITH s AS (SELECT * FROM pg_stat_wal_receiver) SELECT * FROM s", P},
    {"SELECT * FROM t JOIN pg_stat_user_tables u ON u.relid = t.oid", P},
    {"SELECT * FROM pg_statio_user_indexes", P},
    {"SELECT * FROM pg_stat_database WHERE datname = current_database()", P},
    {"SELECT * FROM pg_stat_progress_vacuum", P},
    {"SELECT query, calls FROM pg_stat_statements ORDER BY calls DESC LIMIT 10", P},
    {"SELECT * FROM pg_stat_statements(true)", P},
    {"SELECT * FROM pg_stat_xact_user_tables", P},
    {"SELECT * FROM pg_locks WHERE NOT granted", P},
    {"SELECT * FROM pg_prepared_xacts", P},
    {"SELECT slot_name FROM pg_replication_slots", P},
    {"SELECT * FROM pg_stat_subscription", P},
    {"TABLE pg_stat_bgwriter", P},
    {"COPY (SELECT * FROM pg_stat_activity) TO STDOUT", P},
    {"SELECT 'pg_stat_activity', 'pg_is_in_recovery()'", R},
    {"SELECT 1 /* FROM pg_locks */", R},
    {"-- SELECT * FROM pg_stat_activity\nSELECT 1", R},
    {"SELECT $q$ FROM pg_stat_replication $q$", R},
    {R"(SELECT * FROM "PG_STAT_ACTIVITY")", R},  // quoted: a different relation
    {"SELECT * FROM pg_stats WHERE tablename = 't'", R},  // planner statistics: replicated
    {"SELECT * FROM pg_statistic_ext", R},
    {"SELECT * FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace", R},
    {"SELECT * FROM my_pg_stat_activity", R},
    {R"(SELECT * FROM U&"pg_l\006fcks")", P},
    {"SELECT pg_stat FROM t", R},

    // ---- Several statements
    {"select 1; insert into t values (1)", P, multi},
    {"INSERT INTO t VALUES (1); SELECT 1", P, multi},
    {"SELECT 1; SELECT 2", R, multi},
    {"SELECT 1;;; SELECT 2;", R, multi},
    {"SELECT 1; /* c */ ;", R},
    {"SELECT 1; SHOW x; VALUES (1); TABLE t", R, multi},

    // ---- Nothing at all
    {"", R, empty},
    {"   \n\t ", R, empty},
    {";", R, empty},
    {";;", R, empty},
    {"/* only a comment */", R, empty},
    {"-- only a comment", R, empty},
    {"/* a */ ; -- b\n ; /* c /* d */ */", R, empty},

    // ---- Unterminated: never crash, always primary
    {"SELECT 'abc", P},
    {R"(SELECT E'abc\')", P},
    {R"(SELECT "abc)", P},
    {"SELECT 1 /* abc", P},
    {"/* abc", P},
    {"/* /* nested */ still open", P},
    {"-- line comment without newline", R, empty},
    {"SELECT $$abc", P},
    {"SELECT $a$abc$b$", P},
    {"SELECT $a$abc$a", P},
    {"SELECT U&'abc", P},
    {R"(SELECT U&"abc)", P},
    {"SELECT 1; SELECT 'x", P, multi},
    {"SELECT E'", P},
    {"SELECT $", P},

    // ---- Hints
    {"/* sluice: replica */ INSERT INTO t VALUES (1)", P, hint_r},
    {"/* sluice: primary */ SELECT 1", R, hint_p},
    {"/*sluice:replica*/ SELECT 1", R, hint_r},
    {"/*   SLUICE  :  Primary   */SELECT 1", R, hint_p},
    {"/*\n sluice:\n replica\n*/ SELECT 1", R, hint_r},
    {"-- sluice: replica\nSELECT 1", R, hint_r},
    {"--sluice:primary\nSELECT 1", R, hint_p},
    {"/* tenant=acme */ /* sluice: primary */ SELECT 1", R, hint_p},
    {"/* sluice: primary */ /* tenant=acme */ SELECT 1", R, hint_p},
    {"/* sluice: replica */ /* sluice: primary */ SELECT 1", R, hint_p},
    {"/* sluice: replica */", R, empty | hint_r},
    {"/* sluice: replica */ BEGIN", P, begin | hint_r},
    {"SELECT 1 /* sluice: primary */", R},
    {"SELECT 1; /* sluice: primary */ SELECT 2", R, multi},
    {"/* sluice: replicas */ SELECT 1", R},
    {"/* sluice: replica, tenant=acme */ SELECT 1", R},
    {"/* not sluice: replica */ SELECT 1", R},
    {"/* sluice replica */ SELECT 1", R},
    {"/* sluice: replica", P},

    // ---- Transactions
    {"BEGIN", P, begin},
    {"begin work", P, begin},
    {"BEGIN TRANSACTION", P, begin},
    {"START TRANSACTION", P, begin},
    {"BEGIN READ ONLY", R, begin | ro},
    {"BEGIN TRANSACTION READ ONLY", R, begin | ro},
    {"START TRANSACTION READ ONLY", R, begin | ro},
    {"start transaction isolation level repeatable read, read only", R, begin | ro},
    {"START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", R, begin | ro},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE", R, begin | ro},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE", R, begin | ro},
    {"BEGIN ISOLATION LEVEL READ COMMITTED", P, begin},
    {"BEGIN READ WRITE", P, begin},
    {"BEGIN ISOLATION LEVEL READ UNCOMMITTED READ WRITE", P, begin},
    {"BEGIN; SET TRANSACTION READ ONLY;", R, begin | ro | multi},
    {"BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY", R, begin | ro | multi},
    {"BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", P, begin | multi},
    {"BEGIN READ ONLY; SELECT 1", R, begin | ro | multi},
    {"BEGIN READ ONLY; INSERT INTO t VALUES (1)", P, begin | ro | multi},
    {"BEGIN READ ONLY; COMMIT", P, begin | ro | multi},
    {"BEGIN; SELECT 1", P, begin | multi},
    {"BEGIN READ ONLY; SET TRANSACTION READ WRITE", P, begin | multi},
    {"SET TRANSACTION READ ONLY", R},
    {"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", P},
    {"SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", P},
    {"set transaction snapshot '00000003-0000001B-1';", P},
    // The exporter runs on the primary, so the importer must too.
    {"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
     P, begin | ro | multi},
    {"BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
     "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", P, begin | ro | multi},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot()", P, begin | ro | multi},
    {"SELECT 'SET TRANSACTION SNAPSHOT x'; SET TRANSACTION READ ONLY", R, multi},
    {"SELECT 1; BEGIN READ ONLY", P, multi},
    {"START", P},
    {"COMMIT", P},
    {"END", P},
    {"ROLLBACK", P},
    {"ABORT", P},
    {"SAVEPOINT s", P},
    {"RELEASE SAVEPOINT s", P},
    {"ROLLBACK TO SAVEPOINT s", P},
    {"PREPARE TRANSACTION 'gid'", P},
    {"COMMIT PREPARED 'gid'", P},
    {"ROLLBACK PREPARED 'gid'", P},

    // ---- EXPLAIN
    {"EXPLAIN SELECT 1", R},
    {"EXPLAIN VERBOSE SELECT 1", R},
    {"EXPLAIN ANALYZE SELECT 1", P},
    {"explain analyse select 1", P},
    {"EXPLAIN ANALYZE VERBOSE SELECT 1", P},
    {"EXPLAIN (ANALYZE) SELECT 1", P},
    {"EXPLAIN (ANALYZE true, BUFFERS) SELECT 1", P},
    {"EXPLAIN (ANALYZE on) SELECT 1", P},
    {"EXPLAIN (ANALYZE 1) SELECT 1", P},
    {"EXPLAIN (FORMAT JSON, ANALYZE) SELECT 1", P},
    {"EXPLAIN (ANALYZE false) SELECT 1", R},
    {"EXPLAIN (ANALYZE off, COSTS off) SELECT 1", R},
    {"EXPLAIN (ANALYZE 0) SELECT 1", R},
    {"EXPLAIN (ANALYZE 'false') SELECT 1", R},
    {"EXPLAIN (FORMAT JSON) SELECT 1", R},
    {"EXPLAIN (COSTS false) SELECT 1", R},
    {"EXPLAIN INSERT INTO t VALUES (nextval('s'))", P},
    {"EXPLAIN SELECT pg_advisory_lock(1)", P},  // planned where it would run; plans pin nothing
    {"EXPLAIN ANALYZE SELECT pg_advisory_lock(1)", P, pin},
    {"EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1", P, pin},
    {"EXPLAIN (ANALYZE", P},
    {"EXPLAIN (ANALYZE false, BUFFERS", P},
    // Plain EXPLAIN goes where the explained statement would go: writes are planned on the primary.
    {"EXPLAIN INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = excluded.a", P},
    {"EXPLAIN INSERT INTO t VALUES (1)", P},
    {"EXPLAIN UPDATE t SET a = 1 WHERE id = 2", P},
    {"explain delete from t", P},
    {"EXPLAIN MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", P},
    {"EXPLAIN VERBOSE UPDATE t SET a = 1", P},
    {"EXPLAIN (COSTS OFF) WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", P},
    {"EXPLAIN (FORMAT JSON, COSTS false) DELETE FROM t", P},
    {"EXPLAIN (ANALYZE false) DELETE FROM t", P},
    {"EXPLAIN WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", P},
    {"EXPLAIN CREATE TABLE t2 AS SELECT * FROM t", P},
    {"EXPLAIN CREATE TEMP TABLE t2 AS SELECT 1", P},  // planned, not created: no pin
    {"EXPLAIN CREATE MATERIALIZED VIEW mv AS SELECT 1", P},
    {"EXPLAIN SELECT * INTO t2 FROM t", P},
    {"EXPLAIN SELECT a INTO TEMP tt FROM t", P},
    {"EXPLAIN EXECUTE stmt(1)", P},
    {"EXPLAIN DECLARE c CURSOR WITH HOLD FOR SELECT 1", P},
    {"EXPLAIN SELECT * FROM t FOR UPDATE", P},
    {"EXPLAIN SELECT set_config('a.b', 'c', false)", P},  // planned: sets nothing
    {"EXPLAIN SELECT * FROM pg_stat_activity", P},
    {"EXPLAIN SELECT * FROM t; EXPLAIN DELETE FROM t", P, multi},
    {"EXPLAIN SELECT * FROM t WHERE a = 'DELETE' /* UPDATE t */", R},
    {"EXPLAIN (COSTS OFF) SELECT * FROM t JOIN u USING (id) WHERE u.x IN (SELECT y FROM v)", R},
    {"EXPLAIN WITH x AS (SELECT 1) SELECT * FROM x", R},
    {"EXPLAIN VALUES (1)", R},
    {"EXPLAIN TABLE t", R},
    {"EXPLAIN SELECT * FROM t; EXPLAIN SELECT 1", R, multi},

    // ---- COPY
    {"COPY t FROM STDIN", P},
    {"COPY t TO STDOUT", R},
    {"copy t (a, b) to stdout with (format csv)", R},
    {"COPY (SELECT * FROM t) TO STDOUT", R},
    {"COPY (SELECT 'FROM') TO STDOUT", R},
    {"COPY (SELECT nextval('s')) TO STDOUT", P},
    {"COPY (DELETE FROM t RETURNING *) TO STDOUT", P},
    {"COPY t TO '/tmp/file'", P},
    {"COPY t TO PROGRAM 'gzip > /tmp/x'", P},
    {"COPY t FROM '/tmp/file'", P},

    // ---- Cursors
    {"FETCH 10 FROM c", R},
    {"FETCH NEXT IN c", R},
    {"MOVE FORWARD 5 IN c", R},

    // ---- Pinned sessions
    {"LISTEN ch", P, pin},
    {R"(listen "Channel")", P, pin},
    {"CREATE TEMP TABLE tt (a int)", P, pin},
    {"CREATE TEMPORARY TABLE tt AS SELECT 1", P, pin},
    {"CREATE LOCAL TEMP TABLE tt (a int)", P, pin},
    {"CREATE GLOBAL TEMPORARY TABLE tt (a int)", P, pin},
    {"CREATE TEMP VIEW v AS SELECT 1", P, pin},
    {"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", P, pin},
    {"CREATE TEMP SEQUENCE s", P, pin},
    {"create temp table tt (a int) on commit drop", P, pin},
    {"CREATE TABLE pg_temp.tt (a int)", P, pin},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", P, pin},
    {"DECLARE c BINARY NO SCROLL CURSOR WITH HOLD FOR SELECT 1", P, pin},
    {"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", P},
    {"DECLARE c CURSOR FOR WITH hold AS (SELECT 1) SELECT * FROM hold", P},
    {"PREPARE p AS SELECT 1", P, pin},
    {"PREPARE p (int) AS SELECT $1", P, pin},
    {"DISCARD ALL", P},
    {"DISCARD TEMP", P, pin},
    {"DISCARD PLANS", P, pin},
    {"DISCARD SEQUENCES", P, pin},
    {"SET SESSION AUTHORIZATION bob", P, pin},
    {"SET SESSION AUTHORIZATION DEFAULT", P, pin},
    {"SET ROLE bob", P, pin},
    {"SET SESSION ROLE bob", P, pin},
    {"SET role = 'bob'", P, pin},
    {"SET LOCAL ROLE bob", P},
    {"RESET ROLE", P},
    {"RESET SESSION AUTHORIZATION", P},
    {"SELECT 1; LISTEN ch", P, pin | multi},
    {"/* sluice: replica */ LISTEN ch", P, pin | hint_r},

    // ---- Session SET / RESET
    {"SET search_path TO a, b", P, sset},
    {"SET search_path = a", P, sset},
    {"set SESSION statement_timeout = 5000", P, sset},
    {"SET x.y = 1", P, sset},
    {"SET TIME ZONE 'UTC'", P, sset},
    {"SET TIME ZONE LOCAL", P, sset},
    {"SET NAMES 'UTF8'", P, sset},
    {"SET SCHEMA 'app'", P, sset},
    {"SET XML OPTION DOCUMENT", P, sset},
    {"SET x TO DEFAULT", P, sset},
    {"RESET ALL", P, sset},
    {"RESET search_path", P, sset},
    {"RESET TIME ZONE", P, sset},
    {"SET search_path TO a; SELECT 1", P, sset | multi},
    {"SET TRANSACTION READ ONLY; SET search_path = a", P, sset | multi},
    {"SET LOCAL statement_timeout = 0", P},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", P},
    {"SET CONSTRAINTS ALL DEFERRED", P},
    {"SET statement_timeout", P},
    {"SET x FROM CURRENT", P},
    {"SET", P},
    {"RESET", P},
};
// clang-format on

}  // namespace

TEST_CASE("classify: every statement in the table gets its route and flags", "[classify]") {
  STATIC_REQUIRE(sizeof(rows) / sizeof(rows[0]) >= 150);
  for (const row& r : rows) {
    INFO("sql: " << r.sql);
    CHECK(describe(classify(r.sql, opts)) == describe(r.target, r.flags));
  }
}

namespace {

// Built-ins that send a statement to the primary, as called functions: each is tried in the forms below.
const std::string_view primary_functions[] = {
    // Effects (writes, xids, signals, slots, backups, locks, sequences, settings)
    "brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range", "gin_clean_pending_list",
    "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
    "pg_stat_reset_subscription_stats", "pg_stat_statements_reset", "pg_cancel_backend",
    "pg_terminate_backend", "pg_notify", "lo_creat", "lo_create", "lo_import", "lo_export", "lo_unlink",
    "lo_put", "lo_from_bytea", "lo_open", "lowrite", "lo_truncate", "lo_truncate64", "pg_reload_conf",
    "pg_switch_wal", "pg_switch_xlog", "pg_rotate_logfile", "pg_log_backend_memory_contexts", "txid_current",
    "pg_current_xact_id", "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
    "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared", "pg_advisory_unlock",
    "pg_advisory_unlock_shared", "pg_advisory_unlock_all", "set_config", "nextval", "setval", "currval",
    "lastval", "pg_create_restore_point", "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot", "pg_drop_replication_slot", "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot", "pg_replication_slot_advance", "pg_logical_emit_message",
    "pg_logical_slot_get_changes", "pg_logical_slot_peek_changes", "pg_logical_slot_get_binary_changes",
    "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_promote",
    "pg_import_system_collations", "pg_restore_relation_stats", "pg_restore_attribute_stats",
    "pg_clear_relation_stats", "pg_clear_attribute_stats", "pg_replication_origin_create",
    "pg_replication_origin_drop", "pg_replication_origin_advance", "pg_replication_origin_session_setup",
    "pg_replication_origin_xact_setup", "pg_wal_replay_pause", "pg_wal_replay_resume",
    "pg_xlog_replay_pause",
    // Descriptions of the server
    "pg_is_in_recovery", "pg_current_wal_lsn", "pg_current_wal_insert_lsn", "pg_current_wal_flush_lsn",
    "pg_current_xlog_location", "pg_current_xlog_insert_location", "pg_last_wal_receive_lsn",
    "pg_last_wal_replay_lsn", "pg_last_xlog_replay_location", "pg_last_xact_replay_timestamp",
    "pg_is_wal_replay_paused", "pg_get_wal_replay_pause_state", "pg_export_snapshot", "pg_current_snapshot",
    "txid_current_snapshot", "pg_stat_get_activity", "pg_stat_get_live_tuples", "pg_stat_get_wal_receiver",
    "pg_stat_get_db_xact_commit", "pg_stat_statements", "pg_lock_status", "pg_prepared_xact",
    "pg_get_replication_slots", "pg_blocking_pids", "pg_control_checkpoint", "pg_control_recovery",
    "pg_control_system", "pg_postmaster_start_time", "pg_conf_load_time", "pg_current_logfile",
    "pg_walfile_name", "pg_walfile_name_offset", "pg_xact_status", "txid_status", "pg_xact_commit_timestamp",
    "pg_xact_commit_timestamp_origin", "pg_last_committed_xact",
};

// Relations that describe the server: named anywhere, they send a statement to the primary.
const std::string_view primary_relations[] = {
    "pg_stat_activity", "pg_stat_replication", "pg_stat_wal_receiver", "pg_stat_user_tables",
    "pg_stat_user_indexes", "pg_stat_user_functions", "pg_statio_user_tables", "pg_statio_user_indexes",
    "pg_statio_user_sequences", "pg_statio_all_tables", "pg_statio_sys_tables", "pg_stat_all_tables",
    "pg_stat_all_indexes", "pg_stat_sys_tables", "pg_stat_sys_indexes", "pg_stat_database",
    "pg_stat_database_conflicts", "pg_stat_bgwriter", "pg_stat_checkpointer", "pg_stat_wal",
    "pg_stat_archiver", "pg_stat_io", "pg_stat_slru", "pg_stat_progress_vacuum",
    "pg_stat_progress_create_index", "pg_stat_progress_analyze", "pg_stat_progress_copy",
    "pg_stat_progress_basebackup", "pg_stat_progress_cluster", "pg_stat_statements", "pg_stat_statements_info",
    "pg_stat_xact_user_tables", "pg_stat_xact_all_tables", "pg_stat_xact_sys_tables",
    "pg_stat_xact_user_functions", "pg_stat_subscription", "pg_stat_subscription_stats",
    "pg_stat_replication_slots", "pg_stat_ssl", "pg_stat_gssapi", "pg_stat_recovery_prefetch", "pg_locks",
    "pg_prepared_xacts", "pg_replication_slots", "pg_replication_origin_status",
};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

TEST_CASE("classify: built-in functions with effects or about the server go to the primary", "[classify][builtins]") {
  const options no_config{};
  for (const std::string_view name : primary_functions) {
    const std::string n(name);
    const std::string primary_forms[] = {
        "SELECT " + n + "(1)",
        "SELECT pg_catalog." + n + "(1)",
        "select PG_CATALOG." + upper(n) + " (1)",
        "SELECT \"pg_catalog\".\"" + n + "\"(1)",
        "SELECT a FROM t WHERE a IN (SELECT " + n + "(b) FROM u)",
        "WITH x AS (SELECT * FROM " + n + "(1)) SELECT * FROM x",
        "SELECT 1; SELECT " + n + "(1)",
        "SELECT " + n + " /* comment */ (1)",
    };
    for (const std::string& sql : primary_forms) {
      INFO("sql: " << sql);
      CHECK(classify(sql, no_config).target == route::primary);
    }
    const std::string replica_forms[] = {
        "SELECT '" + n + "(1)'",
        "SELECT 1 /* " + n + "(1) */",
        "-- " + n + "(1)\nSELECT 1",
        "SELECT $$" + n + "(1)$$",
        "SELECT \"" + upper(n) + "\"(1)",  // quoted upper case: some other function
    };
    for (const std::string& sql : replica_forms) {
      INFO("sql: " << sql);
      CHECK(classify(sql, no_config).target == route::replica);
    }
    if (!name.starts_with("pg_stat_")) {  // pg_stat_* names count anywhere, as the views do
      const std::string column = "SELECT " + n + " FROM t";
      INFO("sql: " << column);
      CHECK(classify(column, no_config).target == route::replica);
    }
    // A known built-in is not a user's function to look up.
    CHECK_FALSE(classify("SELECT " + n + "(1)", no_config).calls_functions);
  }
}

TEST_CASE("classify: relations that describe the server go to the primary", "[classify][builtins]") {
  const options no_config{};
  for (const std::string_view name : primary_relations) {
    const std::string n(name);
    const std::string primary_forms[] = {
        "SELECT * FROM " + n,
        "SELECT * FROM pg_catalog." + n,
        "select * from " + upper(n),
        "SELECT * FROM \"" + n + "\"",
        "SELECT (SELECT count(*) FROM " + n + ")",
        "WITH x AS (SELECT * FROM " + n + ") SELECT * FROM x",
        "SELECT 1 FROM t JOIN " + n + " s ON true",
        "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM " + n + ")",
        "EXPLAIN SELECT * FROM " + n,
        "TABLE " + n,
    };
    for (const std::string& sql : primary_forms) {
      INFO("sql: " << sql);
      CHECK(classify(sql, no_config).target == route::primary);
    }
    const std::string replica_forms[] = {
        "SELECT '" + n + "'",
        "SELECT 1 /* FROM " + n + " */",
        "-- FROM " + n + "\nSELECT 1",
        "SELECT $x$ FROM " + n + " $x$",
        "SELECT * FROM \"" + upper(n) + "\"",
    };
    for (const std::string& sql : replica_forms) {
      INFO("sql: " << sql);
      CHECK(classify(sql, no_config).target == route::replica);
    }
  }
}

// has_session_set is set for SET/RESET (which extract_session_sets lists), for set_config() calls and
// for DO blocks (which it does not: their values are captured from the server afterwards).
bool agrees_with_extract(const classification& c, std::string_view sql) {
  const bool listed = !extract_session_sets(sql).empty();
  if (listed) return c.has_session_set;
  if (!c.has_session_set) return true;
  std::string lowered(sql);
  for (auto& ch : lowered) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // ... and DO blocks, whose bodies may SET anything.
  return lowered.find("set_config") != std::string::npos || lowered.find("do") != std::string::npos;
}

TEST_CASE("classify: has_session_set agrees with extract_session_sets", "[classify]") {
  for (const row& r : rows) {
    INFO("sql: " << r.sql);
    CHECK(agrees_with_extract(classify(r.sql, opts), r.sql));
  }
}

TEST_CASE("classify: without write_functions, user functions are reads", "[classify]") {
  const options none{};
  CHECK(classify("SELECT audit_write(1)", none).target == route::replica);
  CHECK(classify("SELECT nextval('s')", none).target == route::primary);
}

TEST_CASE("classify: is noexcept and allocates nothing", "[classify]") {
  STATIC_REQUIRE(noexcept(classify(std::string_view{}, opts)));
  std::vector<classification> results(sizeof(rows) / sizeof(rows[0]));
  std::size_t i = 0;
  const auto allocations = sluice::testing::allocations_in([&] {
    for (const row& r : rows) {
      results[i++] = classify(r.sql, opts);
    }
  });
  CHECK(allocations == 0);
}

namespace {

struct expected_set {
  set_kind kind;
  std::string_view name;
  std::string_view value;
};

std::string describe(const std::vector<session_set>& sets) {
  std::string s;
  for (const session_set& x : sets) {
    s += x.kind == set_kind::set ? "set " : x.kind == set_kind::reset ? "reset " : "reset_all ";
    s += x.name + " [" + x.value + "]; ";
  }
  return s;
}

std::string describe(const std::vector<expected_set>& sets) {
  std::vector<session_set> v;
  for (const expected_set& x : sets) {
    v.push_back(session_set{x.kind, std::string(x.name), std::string(x.value)});
  }
  return describe(v);
}

}  // namespace

TEST_CASE("extract_session_sets: names and values as written", "[classify][set]") {
  constexpr auto S = set_kind::set;
  constexpr auto Z = set_kind::reset;
  constexpr auto A = set_kind::reset_all;
  const std::pair<std::string_view, std::vector<expected_set>> cases[] = {
      {"SET search_path TO '$user', public", {{S, "search_path", "'$user', public"}}},
      {"SET search_path = a, b -- comment", {{S, "search_path", "a, b"}}},
      {"SET search_path = a, b /* trailing */ ;", {{S, "search_path", "a, b"}}},
      {"set Statement_Timeout to 5000", {{S, "statement_timeout", "5000"}}},
      {"set statement_timeout to 0;", {{S, "statement_timeout", "0"}}},
      {"SET SESSION work_mem = '64MB'", {{S, "work_mem", "'64MB'"}}},
      {"SET myapp.tenant = 'acme'", {{S, "myapp.tenant", "'acme'"}}},
      {R"(SET MyApp."Tenant" = 'acme')", {{S, "myapp.Tenant", "'acme'"}}},
      {R"(SET "Weird ""x""" = 1)", {{S, "Weird \"x\"", "1"}}},
      {R"(SET U&"a\0062" = 1)", {{S, "ab", "1"}}},
      {"SET x TO DEFAULT", {{Z, "x", ""}}},
      {"SET x = default", {{Z, "x", ""}}},
      {"SET x = 'default'", {{S, "x", "'default'"}}},
      {"SET x = -1", {{S, "x", "-1"}}},
      {"SET x=-1", {{S, "x", "-1"}}},
      {"SET x = 'a' /* comment */", {{S, "x", "'a'"}}},
      {"SET x = 'a', /* c */ 'b'", {{S, "x", "'a', /* c */ 'b'"}}},
      {R"(SET x = E'\n')", {{S, "x", R"(E'\n')"}}},
      {"SET x = $$a;b$$", {{S, "x", "$$a;b$$"}}},
      {"SET TIME ZONE 'UTC'", {{S, "timezone", "'UTC'"}}},
      {"set time zone 'Europe/Paris'", {{S, "timezone", "'Europe/Paris'"}}},
      {"SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE",
       {{S, "timezone", "INTERVAL '+00:00' HOUR TO MINUTE"}}},
      {"SET TIME ZONE LOCAL", {{Z, "timezone", ""}}},
      {"SET TIME ZONE DEFAULT", {{Z, "timezone", ""}}},
      {"SET timezone = 'UTC'", {{S, "timezone", "'UTC'"}}},
      {"SET NAMES 'LATIN1'", {{S, "client_encoding", "'LATIN1'"}}},
      {"SET NAMES", {{Z, "client_encoding", ""}}},
      {"SET SCHEMA 'app'", {{S, "search_path", "'app'"}}},
      {"SET XML OPTION CONTENT", {{S, "xmloption", "CONTENT"}}},
      {"SET SESSION TIME ZONE 'UTC'", {{S, "timezone", "'UTC'"}}},
      {"RESET ALL", {{A, "", ""}}},
      {"reset all;", {{A, "", ""}}},
      {"RESET Search_Path", {{Z, "search_path", ""}}},
      {"RESET myapp.tenant", {{Z, "myapp.tenant", ""}}},
      {"RESET TIME ZONE", {{Z, "timezone", ""}}},
      {"SET a = 1; SELECT 1; SET LOCAL b = 2; SET TRANSACTION READ ONLY; SET ROLE x; RESET c; "
       "SET SESSION AUTHORIZATION y; SET d TO 'x;y'",
       {{S, "a", "1"}, {Z, "c", ""}, {S, "d", "'x;y'"}}},
      {"/* sluice: primary */ SET a = 1", {{S, "a", "1"}}},
      {"SELECT 1", {}},
      {"SET x =", {}},
      {"SET LOCAL x = 1", {}},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", {}},
      {"SET CONSTRAINTS ALL IMMEDIATE", {}},
      {"SET ROLE admin", {}},
      {"RESET ROLE", {}},
      {"RESET TRANSACTION ISOLATION LEVEL", {}},
      {"RESET ALL x", {}},
      {"SET x FROM CURRENT", {}},
      {"SELECT 'SET x = 1'", {}},
      {"UPDATE t SET a = 1", {}},
  };
  for (const auto& [sql, expected] : cases) {
    INFO("sql: " << sql);
    CHECK(describe(extract_session_sets(sql)) == describe(expected));
  }
}

TEST_CASE("lexer: token kinds and extents", "[classify][lexer]") {
  const auto kinds = [](std::string_view sql) {
    std::vector<std::pair<token_kind, std::string>> out;
    lexer lex(sql);
    for (token t = lex.next(); t.kind != token_kind::end; t = lex.next()) {
      out.emplace_back(t.kind, std::string(t.text) + (t.unterminated ? "<unterminated>" : ""));
    }
    return out;
  };
  using tk = token_kind;
  using v = std::vector<std::pair<token_kind, std::string>>;
  CHECK(kinds("SELECT a1$, _x FROM t;") ==
        v{{tk::word, "SELECT"}, {tk::word, "a1$"}, {tk::punct, ","}, {tk::word, "_x"}, {tk::word, "FROM"},
          {tk::word, "t"}, {tk::punct, ";"}});
  CHECK(kinds("'a''b' E'c\\'d' B'1' X'F' N'n' U&'u'") ==
        v{{tk::string, "'a''b'"}, {tk::string, "E'c\\'d'"}, {tk::string, "B'1'"}, {tk::string, "X'F'"},
          {tk::string, "N'n'"}, {tk::string, "U&'u'"}});
  CHECK(kinds(R"("a""b" U&"c")") == v{{tk::quoted_ident, R"("a""b")"}, {tk::quoted_ident, R"(U&"c")"}});
  CHECK(kinds("$$a$$ $t$b$$c$t$ $1 $") ==
        v{{tk::dollar_string, "$$a$$"}, {tk::dollar_string, "$t$b$$c$t$"}, {tk::param, "$1"},
          {tk::other, "$"}});
  CHECK(kinds("1 1.5 .5 1e10 1.5E-3 0x1F 1_000") ==
        v{{tk::number, "1"}, {tk::number, "1.5"}, {tk::number, ".5"}, {tk::number, "1e10"},
          {tk::number, "1.5E-3"}, {tk::number, "0x1F"}, {tk::number, "1_000"}});
  CHECK(kinds("a=-1 b<>c d->>e f::g") ==
        v{{tk::word, "a"}, {tk::op, "="}, {tk::op, "-"}, {tk::number, "1"}, {tk::word, "b"}, {tk::op, "<>"},
          {tk::word, "c"}, {tk::word, "d"}, {tk::op, "->>"}, {tk::word, "e"}, {tk::word, "f"},
          {tk::punct, ":"}, {tk::punct, ":"}, {tk::word, "g"}});
  CHECK(kinds("1*/*c*/2--x\n3") ==
        v{{tk::number, "1"}, {tk::op, "*"}, {tk::block_comment, "/*c*/"}, {tk::number, "2"},
          {tk::line_comment, "--x"}, {tk::number, "3"}});
  CHECK(kinds("/* a /* b */ c */ d") == v{{tk::block_comment, "/* a /* b */ c */"}, {tk::word, "d"}});
  CHECK(kinds("'abc") == v{{tk::string, "'abc<unterminated>"}});
  CHECK(kinds("/* a /* b */") == v{{tk::block_comment, "/* a /* b */<unterminated>"}});
  CHECK(kinds("$q$ abc $Q$") == v{{tk::dollar_string, "$q$ abc $Q$<unterminated>"}});
  CHECK(kinds("\"abc") == v{{tk::quoted_ident, "\"abc<unterminated>"}});
  CHECK(kinds("x \\ {") == v{{tk::word, "x"}, {tk::other, "\\"}, {tk::other, "{"}});
}

TEST_CASE("classify: every prefix of every table row is handled", "[classify][robust]") {
  for (const row& r : rows) {
    for (std::size_t n = 0; n <= r.sql.size(); ++n) {
      const std::string_view prefix = r.sql.substr(0, n);
      const classification c = classify(prefix, opts);
      CHECK((!c.empty || c.target == route::replica));
      CHECK((!c.pins_session || c.target == route::primary));
      CHECK(agrees_with_extract(c, prefix));
    }
  }
}

TEST_CASE("classify: random SQL-like soup is handled", "[classify][robust]") {
  const std::string_view pieces[] = {
      "SELECT ", "INSERT ", "WITH ", "x AS (", ")", "(", ";", "'", "''", "E'", "\\", "\"", "$$", "$a$",
      "$", "/*", "*/", "--", "\n", " ", "nextval", "(", "FOR ", "UPDATE ", "INTO ", "TEMP ", "SET ",
      "RESET ", "TO ", "=", "BEGIN ", "READ ", "ONLY ", ",", "U&", "EXPLAIN ", "ANALYZE ", "COPY ",
      "STDOUT ", "LISTEN ", "pg_advisory_lock", ".", "1", "é", std::string_view("\0", 1),
      "pg_stat_activity", "pg_catalog", "pg_backup_start", "set_config", "FROM "};
  std::mt19937 rng(20240229);  // fixed seed: deterministic
  std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1);
  std::uniform_int_distribution<int> length(0, 40);
  for (int i = 0; i < 20000; ++i) {
    std::string sql;
    for (int n = length(rng); n > 0; --n) {
      sql += pieces[pick(rng)];
    }
    const classification c = classify(sql, opts);
    INFO("sql: " << sql);
    REQUIRE((!c.pins_session || c.target == route::primary));
    REQUIRE(agrees_with_extract(c, sql));
  }
}

namespace {

template <class F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string repeat(std::string_view s, std::size_t bytes) {
  std::string out;
  out.reserve(bytes + s.size());
  while (out.size() < bytes) {
    out += s;
  }
  return out;
}

}  // namespace

// Linear time on hostile shapes (deep parentheses, long dollar tags, endless comments). A release build
// takes about 20 ms per input and a Debug ASan build under 0.5 s; anything quadratic would take minutes.
TEST_CASE("classify: 1 MB inputs are quick", "[classify][perf]") {
  constexpr std::size_t mb = 1 << 20;
  const std::string long_tag(1000, 'a');
  const std::pair<std::string, route> inputs[] = {
      {repeat("SELECT a, 'str', \"id\", $$x$$, /* c */ f(1) FROM t WHERE b = 1; ", mb), route::replica},
      {"SELECT " + repeat("1 + ", mb) + "1", route::replica},
      {"SELECT '" + repeat("x", mb) + "'", route::replica},
      {"SELECT 1; " + repeat("SELECT 1; ", mb) + "DELETE FROM t", route::primary},
      {"SELECT " + repeat("(", mb), route::replica},
      {"SELECT " + repeat("f(", mb), route::replica},
      {"SELECT 1 " + repeat("/*", mb), route::primary},
      {"SELECT $" + long_tag + "$" + repeat("$" + long_tag + " ", mb) + "$" + long_tag + "$", route::replica},
      {"SELECT $a$" + repeat("$ a", mb), route::primary},
      {repeat("-- comment\n", mb) + "SELECT 1", route::replica},
      {"SELECT " + repeat("nextval_ish(1), ", mb) + "nextval('s')", route::primary},
      {"WITH " + repeat("x AS (SELECT 1), ", mb) + "y AS (SELECT 1) SELECT 1", route::replica},
      {repeat("EXPLAIN ANALYZE ", mb) + "SELECT 1", route::primary},
      {repeat(";", mb), route::replica},
      {"SELECT " + repeat("pg_class.relname, \"pg_attribute\", pg_sleep(0), ", mb) + "1 FROM pg_locks",
       route::primary},
      {"SELECT " + repeat("pg_proc.proname, \"Quoted\".\"Name\", lower(x), ", mb) + "1", route::replica},
  };
  for (const auto& input : inputs) {
    const std::string& sql = input.first;
    INFO("input starts: " << sql.substr(0, 60));
    classification c;
    const double t = seconds([&] { c = classify(sql, opts); });
    CHECK(c.target == input.second);
    CHECK(t < 2.0);
    const double u = seconds([&] { (void)extract_session_sets(sql); });
    CHECK(u < 2.0);
  }
}

TEST_CASE("classify: DISCARD ALL and DEALLOCATE ALL reset server state; others do not", "[classify]") {
  const options opts{};
  CHECK(classify("DISCARD ALL", opts).resets_server_state);
  CHECK(classify("discard all;", opts).resets_server_state);
  CHECK(classify("DEALLOCATE ALL", opts).resets_server_state);
  CHECK(classify("DEALLOCATE PREPARE ALL", opts).resets_server_state);
  CHECK(classify("select 1; DISCARD ALL", opts).resets_server_state);
  CHECK_FALSE(classify("DEALLOCATE p", opts).resets_server_state);
  CHECK_FALSE(classify("DEALLOCATE PREPARE p", opts).resets_server_state);
  CHECK_FALSE(classify("DISCARD PLANS", opts).resets_server_state);
  CHECK_FALSE(classify("SELECT 'DISCARD ALL'", opts).resets_server_state);
  CHECK_FALSE(classify("/* DEALLOCATE ALL */ SELECT 1", opts).resets_server_state);
}

TEST_CASE("find_tag does not allocate") {
  const std::string sql = "/* app=web, tenant=acme */ /* more */ SELECT * FROM t WHERE a = 1";
  std::string_view found;
  CHECK(sluice::testing::allocations_in([&] {
          for (int i = 0; i < 1000; ++i) found = sluice::router::classify::find_tag(sql, "tenant");
        }) == 0);
  CHECK(found == "acme");
}

namespace {
std::vector<std::string> called(std::string_view sql) {
  std::vector<std::string> names;
  for_each_called_function(
      sql, [](void* out, std::string_view name) { static_cast<std::vector<std::string>*>(out)->emplace_back(name); },
      &names);
  return names;
}
}  // namespace

TEST_CASE("classify: calls of a user's function are flagged, syntax and common built-ins are not", "[classify][functions]") {
  CHECK(classify("SELECT my_func(1)", opts).calls_functions);
  CHECK(classify("CALL app.do_it()", opts).calls_functions);
  CHECK(classify("SELECT * FROM t WHERE x IN (1, 2) AND coalesce(a, b) = count(*)", opts).calls_functions == false);
  CHECK(classify("INSERT INTO t (a, b) VALUES (1, 2)", opts).calls_functions == false);
  CHECK(classify("SELECT 'f(x)', $$g(y)$$ -- h(z)", opts).calls_functions == false);  // strings and comments
  CHECK(called("SELECT my_func(1), \"Mixed\"(2), s.other(3), count(*)") ==
        std::vector<std::string>{"my_func", "Mixed", "other"});
  CHECK(called(std::string("SELECT ") + std::string(70, 'a') + "()") == std::vector<std::string>{std::string(63, 'a')});
}

TEST_CASE("classify: function DDL is flagged", "[classify][functions]") {
  CHECK(classify("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ select set_config('a.b','c',false) $$", opts)
            .defines_function);
  CHECK(classify("create procedure p() language sql as $$ select 1 $$", opts).defines_function);
  CHECK(classify("ALTER FUNCTION f() OWNER TO x", opts).defines_function);
  CHECK(classify("DROP ROUTINE f", opts).defines_function);
  CHECK_FALSE(classify("CREATE TABLE f (x int)", opts).defines_function);
  // The body of a definition is not a call now.
  CHECK_FALSE(classify("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ select g() $$", opts).calls_functions);
  CHECK_FALSE(classify("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ select g() $$", opts).has_session_set);
}

TEST_CASE("custom_setting_names: dotted names of SET and literal set_config calls", "[classify][set]") {
  CHECK(custom_setting_names("SET myapp.tenant = 'a'; SET work_mem = '1MB'") == std::vector<std::string>{"myapp.tenant"});
  CHECK(custom_setting_names("select set_config('Sluice_Test.V', 'A', false), set_config('work_mem', '1MB', false)") ==
        std::vector<std::string>{"sluice_test.v"});
  CHECK(custom_setting_names("select set_config(name, 'A', false)").empty());
  CHECK(custom_setting_names("RESET a.b").empty() == false);
  bool dynamic = false;
  CHECK(custom_setting_names("select set_config('a.b', 'x', false)", &dynamic).size() == 1);
  CHECK_FALSE(dynamic);
  custom_setting_names("select set_config($1, 'x', false)", &dynamic);
  CHECK(dynamic);
  dynamic = false;
  custom_setting_names("DO $$ BEGIN PERFORM set_config('a' || 'b', 'x', false); END $$", &dynamic);
  CHECK(dynamic);
  dynamic = false;
  custom_setting_names("BEGIN EXECUTE format('SET %I = 1', n); END", &dynamic);
  CHECK(dynamic);
}

TEST_CASE("deallocate_name: one DEALLOCATE of one name", "[classify]") {
  CHECK(deallocate_name("DEALLOCATE _pg3_0") == "_pg3_0");
  CHECK(deallocate_name("deallocate prepare \"Mixed\"") == "Mixed");
  CHECK(deallocate_name("DEALLOCATE Foo;") == "foo");
  CHECK(deallocate_name("DEALLOCATE ALL").empty());
  CHECK(deallocate_name("DEALLOCATE a; SELECT 1").empty());
  CHECK(deallocate_name("SELECT 1").empty());
  CHECK(deallocate_name("DEALLOCATE 'x").empty());
}

// ---- The fast path against the full path (issue 14) ---------------------------------------------------

namespace {

// Every field, so that a difference shows which.
std::string all_fields(const classification& c) {
  std::string s = c.target == route::replica ? "replica" : "primary";
  s += c.routing_hint == hint::none ? " hint=none" : c.routing_hint == hint::primary ? " hint=primary" : " hint=replica";
  const std::pair<bool, const char*> flags[] = {
      {c.begins_transaction, " begins"},     {c.read_only_transaction, " read_only"},
      {c.pins_session, " pins"},             {c.has_session_set, " session_set"},
      {c.resets_server_state, " resets"},    {c.calls_functions, " calls"},
      {c.defines_function, " defines"},      {c.statement_count_multiple, " multi"},
      {c.empty, " empty"},
  };
  for (const auto& [on, name] : flags) {
    if (on) {
      s += name;
    }
  }
  return s;
}

// When the fast path answers, it answers as the full path does; classify() is the full path's answer.
// Returns whether the fast path answered.
bool fast_agrees(std::string_view sql, const options& o) {
  INFO("sql: " << sql);
  const classification full = classify_full(sql, o);
  CHECK(all_fields(classify(sql, o)) == all_fields(full));
  classification fast;
  if (!classify_fast(sql, o, fast)) {
    return false;
  }
  CHECK(all_fields(fast) == all_fields(full));
  return true;
}

// A statement built from pieces the fast path knows (and some it gives up on), starting with one of its
// first keywords most of the time.
std::string fast_shaped(std::mt19937& rng) {
  const std::string_view verbs[] = {"SELECT ", "select ", "INSERT INTO t ", "UPDATE t SET ", "DELETE FROM t ",
                                    "BEGIN", "END", "COMMIT", "ROLLBACK", "WITH x AS (", "VALUES (", " SELECT ",
                                    "/* sluice: replica */ SELECT ", "-- sluice: primary\nSELECT ", "(SELECT "};
  const std::string_view pieces[] = {
      "a", "b.c", "pgbench_accounts", "pg_stat_activity", "pg_catalog.pg_locks", "pg_locks", "pg_statistic",
      "\"pg_locks\"", "\"Pg_Locks\"", "\"x\"\"y\"", "nextval(", "count(", "coalesce(", "my_func(",
      "audit_write(", "app.audit_write(", "app.log_event(", "other.log_event(", "log_event(", "\"app\".log_event(", "set_config(", "pg_advisory_lock(",
      "pg_try_advisory_xact_lock(", "currval(", "\"nextval\"(", "NEXTVAL (", "(", ")", ",", ";", ";;", ".",
      "::", "[", "]", ":", " ", "\n", "\t", "= ", "<>", "+", "-", "-1", "=-", "*", "/", "||", "@>", "?",
      "1", "1.5", ".5", "1e-9", "1e", "1..2", "0x1F", "123abc", "$1", "$2", "$", "$$x$$", "'x'", "'it''s'",
      "'a;b'", "'", "E'\\''", "e'x'", "B'01'", "X'1F'", "N'x'", "U&'x'", "U&\"x\"", "u&", "\"",
      "/* c */", "/* a /* b */ c */", "/*", "*/", "--x\n", "-- y", "FOR UPDATE", "FOR SHARE", "FOR NO KEY UPDATE",
      "FOR KEY SHARE", "for", "update", "INTO", "INTO TEMP t", "into local", "FROM", "WHERE", "JOIN", "TABLE",
      "ONLY", "REFERENCES", "INSERT", "DELETE", "MERGE", "VALUES", "RETURNING", "é", "\xc3", "\\", "{",
      std::string_view("\0", 1), "\x01", "SELECT", "BEGIN", "READ ONLY", "pg_temp.x", "do", "set", "x.y(",
  };
  std::uniform_int_distribution<std::size_t> verb(0, std::size(verbs) - 1);
  std::uniform_int_distribution<std::size_t> piece(0, std::size(pieces) - 1);
  std::uniform_int_distribution<int> length(0, 12);
  std::uniform_int_distribution<int> coin(0, 3);
  std::string sql(verbs[verb(rng)]);
  for (int n = length(rng); n > 0; --n) {
    sql += pieces[piece(rng)];
    if (coin(rng) != 0) {
      sql += ' ';
    }
  }
  return sql;
}

}  // namespace

TEST_CASE("classify_fast: takes the common statements", "[classify][fast]") {
  for (const std::string_view sql : {
           "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
           "SELECT abalance FROM pgbench_accounts WHERE aid = 123;",
           "select 1",
           "BEGIN;",
           "END;",
           "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
           "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
           "/* sluice: replica */ SELECT \"id\", 'x''y' FROM \"app_user\" -- c\n WHERE a = $1 FOR UPDATE",
       }) {
    INFO("sql: " << sql);
    CHECK(fast_agrees(sql, opts));
  }
  for (const std::string_view sql : {"WITH x AS (SELECT 1) SELECT * FROM x", "SELECT 1; SELECT 2", "SELECT $$x$$",
                                     "SELECT E'x'", "SET a = 1", "SELECT 'unterminated", "", "BEGIN READ ONLY"}) {
    INFO("sql: " << sql);
    CHECK_FALSE(fast_agrees(sql, opts));
  }
}

TEST_CASE("classify_fast: agrees with classify_full on the table, its prefixes and random statements",
          "[classify][fast]") {
  std::size_t fast = 0;
  std::size_t total = 0;
  const auto check = [&](std::string_view sql) {
    ++total;
    fast += fast_agrees(sql, opts) ? 1 : 0;
  };
  for (const row& r : rows) {
    for (std::size_t n = 0; n <= r.sql.size(); ++n) {
      check(r.sql.substr(0, n));
    }
  }
  for (const std::string_view name : primary_functions) {
    const std::string n(name);
    check("SELECT " + n + "()");
    check("SELECT * FROM " + n);
    check("SELECT pg_catalog." + n + "(1) FROM t");
    check("UPDATE t SET a = " + n + "(1)");
  }
  std::mt19937 rng(20261207);  // fixed seed: deterministic
  for (int i = 0; i < 200000; ++i) {
    check(fast_shaped(rng));
  }
  // A differential test whose fast path never answers tests nothing.
  CHECK(fast * 5 > total);
  WARN("fast path answered " << fast << " of " << total);
}

// The MySQL dialect (its table is in mysql_dialect_test.cpp; the counting allocator lives here).
TEST_CASE("classify: the MySQL dialect allocates nothing either", "[classify][mysql]") {
  options my{user_functions};
  my.dialect = sql_dialect::mysql;
  const std::string_view statements[] = {
      "SELECT c FROM sbtest1 WHERE id=51",
      "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;",
      "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;",
      "START TRANSACTION /*!40100 WITH CONSISTENT SNAPSHOT */",
      "INSERT INTO `t1` VALUES (1,'a\\'b','x; DELETE FROM t1')",
      "SELECT `app`.`log_event`(1), GET_LOCK('a', 1), LAST_INSERT_ID() FROM t FOR UPDATE",
      "# sluice: replica\n/* tenant=acme */ SELECT @x := 1 INTO @y",
      "CREATE PROCEDURE p() BEGIN CASE WHEN 1 THEN SELECT 1; END CASE; END; SELECT 1",
      "SET STATEMENT max_statement_time = 1 FOR EXPLAIN FORMAT=JSON SELECT * FROM t",
      "SET NAMES utf8mb4, @@session.autocommit = 0, GLOBAL x = 1, sql_log_bin = 0",
      "SHOW FULL PROCESSLIST; SHOW WARNINGS; GET DIAGNOSTICS @n = NUMBER",
  };
  std::size_t replicas = 0;
  const auto allocations = sluice::testing::allocations_in([&] {
    for (const std::string_view sql : statements) {
      replicas += classify(sql, my).target == route::replica ? 1 : 0;
      replicas += find_tag(sql, "tenant", sql_dialect::mysql).empty() ? 0 : 1;
    }
  });
  CHECK(allocations == 0);
  CHECK(replicas == 3);  // the sysbench SELECT, the EXPLAIN of a SELECT, and the tag
}
