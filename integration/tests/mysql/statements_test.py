"""Prepared statements, KILL and session commands through sluice's MySQL front end: a sluice with one
server connection per backend and at most two statements per connection (so clients share connections and
statements are evicted), then statements_probe (libmariadb's C API) and KILL from PyMySQL and the mariadb CLI."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mysql_lib as lib  # noqa: E402

import pymysql  # noqa: E402


def main():
    probe = sys.argv[1]
    t = lib.Checks()
    with tempfile.TemporaryDirectory(prefix="sluice-mysql-stmt-") as workdir:
        port = lib.free_port()
        admin_port = lib.free_port()
        proc = lib.start_sluice(workdir, port, pool="size = 1\nmax_prepared_statements = 2",
                                limits=f'[admin]\nlisten = "127.0.0.1:{admin_port}"\ntoken = "t"')

        def pinned_total():
            request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/metrics",
                                             headers={"Authorization": "Bearer t"})
            text = urllib.request.urlopen(request, timeout=5).read().decode()
            return sum(float(line.split()[-1]) for line in text.splitlines()
                       if line.startswith("sluice_sessions_pinned_total"))
        try:
            def connect(user=lib.APP_USER, password=None):
                return pymysql.connect(host="127.0.0.1", port=port, user=user,
                                       password=lib.PASSWORDS[user] if password is None else password,
                                       database=lib.DATABASE, autocommit=True, connect_timeout=5)

            with t.section("prepared statements and session commands (libmariadb)"):
                env = dict(os.environ, SLUICE_MYSQL_PORT=str(port), SLUICE_OTHER_USER="hashed",
                           SLUICE_OTHER_PASSWORD="hashed_pw")
                env.update(lib.ENV)
                out = subprocess.run([probe], env=env, capture_output=True, text=True, timeout=120)
                sys.stdout.write(out.stdout)
                if out.stderr:
                    sys.stdout.write("# " + out.stderr.replace("\n", "\n# ") + "\n")
                t.eq(out.returncode, 0, "statements_probe passed")

            with t.section("pinning is counted"):
                before = pinned_total()
                c = connect()
                lib.query(c, "SET @kept = 1")  # a user variable cannot move: the session keeps its connection
                t.eq(lib.value(c, "SELECT @kept"), 1, "a user variable pins the session (it is still there)")
                lib.query(c, "SET @kept = 2")
                t.eq(pinned_total() - before, 1, "sluice_sessions_pinned_total counted it once")
                c.close()

            with t.section("every pinning case keeps what it set up (each a read that a replica would fail)"):
                cases = [
                    ("a temporary table", ["CREATE TEMPORARY TABLE pin_tmp (a INT)", "INSERT INTO pin_tmp VALUES (1)"],
                     "SELECT COUNT(*) FROM pin_tmp", 1),
                    ("a user variable", ["SET @pin_v = 5"], "SELECT @pin_v", 5),
                    ("GET_LOCK", ["SELECT GET_LOCK('sluice_pin', 0)"], "SELECT IS_USED_LOCK('sluice_pin') = CONNECTION_ID()",
                     1),
                    ("SQL_CALC_FOUND_ROWS", ["SELECT SQL_CALC_FOUND_ROWS id FROM stmt_t WHERE id <= 5 LIMIT 1"],
                     "SELECT FOUND_ROWS()", 5),
                    ("a text PREPARE", ["PREPARE pin_p FROM 'SELECT 42'"], "EXECUTE pin_p", 42),
                    ("LOCK TABLES", ["LOCK TABLES stmt_t READ"], "SELECT COUNT(*) FROM stmt_t WHERE id <= 5", 5),
                    ("HANDLER", ["HANDLER stmt_t OPEN"], "HANDLER stmt_t READ `PRIMARY` FIRST", 1),
                    ("XA", ["XA START 'sluice_pin'", "INSERT INTO auto_pin_t VALUES (1)", "XA END 'sluice_pin'"],
                     "XA RECOVER", None),
                ]
                setup = connect()
                lib.query(setup, "CREATE TABLE IF NOT EXISTS auto_pin_t (a INT)")
                setup.close()
                for name, statements, check, want in cases:
                    before = pinned_total()
                    c = connect()
                    for sql in statements:
                        lib.query(c, sql)
                    rows = lib.query(c, check)
                    if want is None:  # XA: the branch is prepared on this connection, then committed there
                        lib.query(c, "XA PREPARE 'sluice_pin'")
                        lib.query(c, "XA COMMIT 'sluice_pin'")
                        t.ok(True, f"{name}: XA START ... XA COMMIT ran on one connection")
                    else:
                        t.eq(rows[0][0] if rows else None, want, f"{name}: what it set up is still there")
                    t.eq(pinned_total() - before, 1, f"... and the pin was counted")
                    c.close()

            with t.section("LAST_INSERT_ID() and SHOW WARNINGS see the client's previous statement"):
                c = connect()
                other = connect()
                lib.query(c, "CREATE TABLE IF NOT EXISTS auto_t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
                with c.cursor() as cur:
                    cur.execute("INSERT INTO auto_t (v) VALUES (1)")
                    mine = cur.lastrowid
                with other.cursor() as cur:  # one server connection per backend: the same primary connection
                    cur.execute("INSERT INTO auto_t (v) VALUES (2)")
                    theirs = cur.lastrowid
                t.ok(mine and theirs and mine != theirs, "two clients inserted rows", (mine, theirs))
                t.eq(lib.value(c, "SELECT LAST_INSERT_ID()"), mine,
                     "SELECT LAST_INSERT_ID() gives the client's own id, not the other client's (nor 0 on a replica)")
                t.eq(lib.value(c, "SELECT 1 + 1"), 2, "another statement in between")
                t.eq(lib.value(c, "SELECT LAST_INSERT_ID()"), mine, "... and it stays, as on a server")
                with c.cursor() as cur:
                    cur.execute("INSERT INTO auto_t (v) VALUES (7), (8), (9)")
                t.eq(lib.value(other, "SELECT 3"), 3, "(another client uses the pool in between)")
                t.eq(lib.value(c, "SELECT ROW_COUNT()"), 3,
                     "SELECT ROW_COUNT() after an autocommit INSERT of three rows is 3 (sluice answers from its OK)")
                t.eq(lib.value(c, "select  row_count( ) ;"), -1, "... and -1 after a statement that returned rows")
                cli = subprocess.run(["mariadb", "-N", "-h", "127.0.0.1", "-P", str(port), "-u", lib.APP_USER,
                                      f"-p{lib.PASSWORDS[lib.APP_USER]}", lib.DATABASE, "-e",
                                      "DELETE FROM auto_t WHERE v IN (7, 8); SELECT ROW_COUNT()"],
                                     capture_output=True, text=True, timeout=30)
                t.eq(cli.stdout.strip(), "2", "the mariadb CLI gets it too (libmariadb)", )
                t.eq(lib.value(c, "SELECT CAST('12abc' AS SIGNED)"), 12, "a statement with a warning")
                warnings = lib.query(c, "SHOW WARNINGS")
                t.ok(any(w[1] == 1292 for w in warnings or ()), "SHOW WARNINGS right after it shows the warning",
                     warnings)
                t.eq(lib.value(other, "SELECT 5"), 5, "the connection held for it was let go after")
                # Another client's statement leaves a warning on the primary connection, which its next
                # statement (a read, elsewhere) lets go with the warning still in its diagnostics area.
                t.eq(lib.value(other, "/* sluice: primary */ SELECT CAST('7x' AS SIGNED)"), 7,
                     "another client's statement with a warning, on the primary")
                t.eq(lib.value(other, "SELECT 6"), 6, "... then a read of its own")
                t.eq(lib.query(c, "/* sluice: primary */ SHOW WARNINGS"), (),
                     "this client's SHOW WARNINGS on that connection does not show the other client's warning")
                fresh = connect()
                t.eq(lib.value(fresh, "SELECT LAST_INSERT_ID()"), 0, "a new client's LAST_INSERT_ID() is 0, not "
                     "what another client left on the pooled connection")
                fresh.close()
                for x in (c, other):
                    x.close()

            with t.section("KILL QUERY from another connection"):
                victim = connect()
                killer = connect()
                outcome = {}

                def sleep():
                    started = time.monotonic()
                    outcome["error"] = lib.error_of(lambda: lib.value(victim, "SELECT SLEEP(20)"))
                    outcome["seconds"] = time.monotonic() - started

                runner = threading.Thread(target=sleep)
                runner.start()
                time.sleep(0.5)
                other = connect(user="hashed", password="hashed_pw")
                t.error(lambda: lib.query(other, f"KILL QUERY {victim.thread_id()}"), {1095},
                        "another user may not kill it (1095)")
                lib.query(killer, f"KILL QUERY {victim.thread_id()}")
                runner.join(10)
                t.eq(lib.errno_of(outcome.get("error")), 1317, "the statement is interrupted (1317)")
                t.ok(outcome.get("seconds", 99) < 3, "within a second or so", outcome.get("seconds"))
                t.eq(lib.value(victim, "SELECT 8"), 8, "the victim's session goes on")
                t.error(lambda: lib.query(killer, "KILL QUERY 4000000000"), {1094}, "an unknown id gets 1094")
                t.error(lambda: lib.query(killer, "KILL USER sluice_app"), {1235}, "KILL USER is refused (1235)")
                killer.kill(victim.thread_id())  # COM_PROCESS_KILL of an idle session: it ends
                time.sleep(0.3)
                t.ok(lib.error_of(lambda: lib.value(victim, "SELECT 1")) is not None,
                     "COM_PROCESS_KILL ends the killed client's session")
                for c in (killer, other):
                    c.close()

            with t.section("LOAD DATA LOCAL INFILE is not offered by default"):
                data = os.path.join(workdir, "rows.tsv")
                with open(data, "w") as f:
                    f.write("".join(f"{i}\trow {i}\n" for i in range(1000, 21000)))
                load = (f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE stmt_t (id, v); "
                        "/* sluice: primary */ SELECT COUNT(*) FROM stmt_t WHERE id >= 1000")

                def cli(at_port, sql):
                    return subprocess.run(["mariadb", "--local-infile=1", "--comments", "-N", "-h", "127.0.0.1", "-P", str(at_port),
                                           "-u", lib.APP_USER, f"-p{lib.PASSWORDS[lib.APP_USER]}", lib.DATABASE,
                                           "-e", sql], capture_output=True, text=True, timeout=60)

                refused = cli(port, load)
                t.ok(refused.returncode != 0 and "ERROR" in refused.stderr,
                     "without mysql.local_infile the server refuses it (sluice offered no files)", refused.stderr)

            with t.section("LOAD DATA LOCAL INFILE with mysql.local_infile = true; commands of 16 MiB and more"):
                # This sluice's server connections start after this: they may take commands of 16 MiB and
                # more (the section below), which MariaDB's default max_allowed_packet (16 MiB) refuses.
                admin = ["bash", lib.MARIADB_SANDBOX_SH, "mariadb", "primary", "-N", "-e"]
                old_max = subprocess.run(admin + ["SELECT @@global.max_allowed_packet"], check=True,
                                         capture_output=True, text=True).stdout.strip()
                subprocess.run(admin + ["SET GLOBAL max_allowed_packet = 67108864"], check=True)
                infile_port = lib.free_port()
                infile = lib.start_sluice(workdir, infile_port, mysql="local_infile = true")
                try:
                    done = cli(infile_port, load)
                    t.eq(done.stdout.strip(), "20000", "the client's file (20,000 rows, many packets) reached the primary through sluice",
                         )
                    t.ok(done.returncode == 0, "... without an error", done.stderr)
                    direct = lib.connect_node("primary")
                    t.eq(lib.value(direct, "SELECT COUNT(*) FROM stmt_t WHERE id >= 1000"), 20000, "the primary has them")
                    lib.query(direct, "DELETE FROM stmt_t WHERE id >= 1000")

                    # A COM_QUERY of 17 MiB arrives in two chunks: classified whole, relayed as it came.
                    big = pymysql.connect(host="127.0.0.1", port=infile_port, user=lib.APP_USER,
                                          password=lib.PASSWORDS[lib.APP_USER], database=lib.DATABASE,
                                          autocommit=True, max_allowed_packet=64 << 20)
                    blob = bytes(range(256)) * (17 * 4096)  # 17 MiB
                    lib.query(big, "UPDATE stmt_t SET b = %s WHERE id = 2", (blob,))
                    t.eq(lib.value(direct, "SELECT LENGTH(b) = %s AND MD5(b) = MD5(%s) FROM stmt_t WHERE id = 2",
                                   (len(blob), blob)), 1, "a 17 MiB UPDATE (two chunks) reached the primary whole")
                    t.eq(lib.value(big, "SELECT LENGTH(b) FROM stmt_t WHERE id = 2 FOR UPDATE"), len(blob),
                         "... and reads back through sluice")
                    big.close()
                    direct.close()
                finally:
                    t.eq(lib.stop_sluice(infile), 0, "that sluice stopped cleanly")
                    subprocess.run(admin + [f"SET GLOBAL max_allowed_packet = {old_max}"], check=True)

            with t.section("Ctrl-C in the mariadb CLI"):
                cli = subprocess.Popen(["mariadb", "-h", "127.0.0.1", "-P", str(port), "-u", lib.APP_USER,
                                        f"-p{lib.PASSWORDS[lib.APP_USER]}", lib.DATABASE, "-e", "SELECT SLEEP(30)"],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                time.sleep(1)
                started = time.monotonic()
                cli.send_signal(signal.SIGINT)
                output, _ = cli.communicate(timeout=20)
                took = time.monotonic() - started
                t.ok(took < 1.5, "Ctrl-C stops SELECT SLEEP(30) within a second (the CLI's KILL QUERY)", f"{took:.2f} s")
                t.ok("1317" in output or "interrupted" in output, "... the CLI reports the interruption", output)
        finally:
            status = lib.stop_sluice(proc)
            t.eq(status, 0, "sluice stopped cleanly")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
