"""MySQL clients through sluice (issue 12, the first part of the MySQL front end): PyMySQL and the
mariadb CLI log in to sluice, reads run on the replicas and writes on the primary, transactions stay
on one backend, session variables follow the client across pooled server connections, user variables
pin, server connections are shared between clients, wrong passwords get 1045. Starts its own sluice
(SLUICE_BIN) in front of the MariaDB sandbox."""

import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import mysql_lib as lib  # noqa: E402

import pymysql  # noqa: E402

def main():
    t = lib.Checks()
    primary_port = lib.NODE_PORTS["primary"]
    replica_ports = {lib.NODE_PORTS[n] for n in lib.REPLICA_NODES}
    mysql_port = lib.free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = lib.start_sluice(workdir, mysql_port)
        try:
            def connect(user=lib.APP_USER, password=None, **kwargs):
                return pymysql.connect(host="127.0.0.1", port=mysql_port, user=user,
                                       password=lib.PASSWORDS.get(user, "") if password is None else password,
                                       database=lib.DATABASE, autocommit=True, connect_timeout=5, **kwargs)

            with t.section("login"):
                c = connect()
                t.eq(lib.value(c, "SELECT 1"), 1, "PyMySQL logs in through sluice (mysql_native_password)")
                c.close()
                t.error(lambda: connect(password="wrong"), {lib.ER_ACCESS_DENIED_ERROR}, "a wrong password gets 1045")
                e = t.error(lambda: connect(user="nobody", password="x"), {lib.ER_ACCESS_DENIED_ERROR},
                            "an unknown user gets 1045 too")
                t.ok(e is not None and "Access denied for user 'nobody'" in str(e), "... with the server's wording", e)
                h = connect(user="hashed", password="hashed_pw")
                t.eq(lib.value(h, "SELECT CURRENT_USER()").split("@")[0], lib.APP_USER,
                     "a user configured with only the stored hash logs in (and sluice logs in as its server_user)")
                h.close()

            with t.section("reads on replicas, writes on the primary"):
                c = connect()
                lib.query(c, "CREATE TABLE IF NOT EXISTS proxy_t (id INT PRIMARY KEY, v VARCHAR(20))")
                lib.query(c, "DELETE FROM proxy_t")
                lib.query(c, "INSERT INTO proxy_t VALUES (1, 'a'), (2, ''), (3, NULL)")
                direct = lib.connect_node("primary")
                t.eq(lib.value(direct, "SELECT COUNT(*) FROM proxy_t"), 3, "the INSERT ran on the primary")
                ports = {lib.value(c, "SELECT @@port") for _ in range(8)}
                t.eq(ports, replica_ports, "reads run on both replicas, never on the primary")
                gtid = lib.value(direct, "SELECT @@gtid_binlog_pos")
                for node in lib.REPLICA_NODES:
                    lib.value(lib.connect_node(node), f"SELECT MASTER_GTID_WAIT('{gtid}', 10)")
                t.eq(lib.query(c, "SELECT id, v FROM proxy_t ORDER BY id"), ((1, "a"), (2, ""), (3, None)),
                     "rows with empty strings and NULLs come back whole from a replica")
                t.eq(lib.value(c, "/* sluice: primary */ SELECT @@port"),
                     primary_port, "a hint sends a read to the primary")
                c.close()

            with t.section("transactions stay on one backend"):
                c = connect()
                c.begin()
                first = lib.value(c, "SELECT @@port")
                lib.query(c, "UPDATE proxy_t SET v = 'b' WHERE id = 1")
                again = lib.value(c, "SELECT @@port")
                c.commit()
                t.eq((first, again), (primary_port, primary_port), "BEGIN ... COMMIT runs on the primary throughout")
                lib.query(c, "START TRANSACTION READ ONLY")
                ro = [lib.value(c, "SELECT @@port") for _ in range(3)]
                lib.query(c, "COMMIT")
                t.ok(len(set(ro)) == 1 and ro[0] in replica_ports, "a read-only transaction runs on one replica", ro)
                lib.query(c, "SET autocommit = 0")
                t.eq(lib.value(c, "SELECT @@port"), primary_port,
                     "autocommit = 0: a read opens the transaction on the primary (a write may follow)")
                lib.query(c, "UPDATE proxy_t SET v = 'c' WHERE id = 1")
                t.eq(lib.value(c, "SELECT @@port"), primary_port,
                     "autocommit = 0: the implicit transaction keeps its server connection (the server's status flags say so)")
                lib.query(c, "ROLLBACK")
                t.eq(lib.value(direct, "SELECT v FROM proxy_t WHERE id = 1"), "b", "... and the ROLLBACK undid the UPDATE")
                lib.query(c, "SET autocommit = 1")
                c.close()

            with t.section("session state follows the client"):
                c = connect()
                lib.query(c, "SET time_zone = '+03:00', sql_mode = 'ANSI_QUOTES'")
                seen = {lib.query(c, "SELECT @@port, @@time_zone, @@sql_mode")[0] for _ in range(6)}
                t.eq({(tz, mode) for _, tz, mode in seen}, {("+03:00", "ANSI_QUOTES")},
                     "SET time_zone and sql_mode hold on every replica the reads land on")
                lib.query(c, "SET SESSION wait_timeout = 77, group_concat_max_len = 4096")
                t.eq({lib.query(c, "SELECT @@wait_timeout, @@group_concat_max_len")[0] for _ in range(6)}, {(77, 4096)},
                     "any session variable follows the client (every variable is tracked)")
                other = connect()
                t.ok(lib.value(other, "SELECT @@time_zone") != "+03:00",
                     "another client sharing those server connections does not see them")
                t.ok(all(lib.value(other, "SELECT @@wait_timeout") != 77 for _ in range(6)),
                     "... nor the other variables (set back to DEFAULT when another client borrows)")
                lib.query(c, "USE information_schema")
                t.eq(lib.value(c, "SELECT DATABASE()"), "information_schema", "USE follows the client (session_track_schema)")
                t.eq(lib.value(other, "SELECT DATABASE()"), lib.DATABASE, "... and not the other client")
                lib.query(c, "SET @x = 42")
                t.eq(lib.query(c, "SELECT @x, @@port")[0], (42, primary_port),
                     "a user variable pins the session to one primary connection")
                c.close()
                other.close()

            with t.section("server connections are shared"):
                ids = set()
                clients = [connect() for _ in range(12)]
                for cl in clients:
                    ids.add(lib.value(cl, "/* sluice: primary */ SELECT CONNECTION_ID()"))
                for cl in clients:
                    cl.close()
                t.ok(len(ids) <= 4, "12 clients ran on at most pool.size = 4 primary connections", ids)

            with t.section("the mariadb CLI"):
                rc, out, err = lib.mariadb_cli(mysql_port, lib.APP_USER, lib.PASSWORDS[lib.APP_USER],
                                               "SELECT @@port; BEGIN; SELECT @@port; COMMIT; SELECT COUNT(*) FROM proxy_t")
                lines = out.split()
                t.ok(rc == 0 and len(lines) == 3 and int(lines[0]) in replica_ports and int(lines[1]) == primary_port
                     and lines[2] == "3", "mariadb -e: a read on a replica, a transaction on the primary", (rc, out, err))
                rc, out, err = lib.mariadb_cli(mysql_port, lib.APP_USER, "wrong", "SELECT 1")
                t.ok(rc != 0 and "1045" in err, "mariadb with a wrong password: ERROR 1045", err)
                rc, out, err = lib.mariadb_cli(mysql_port, lib.APP_USER, lib.PASSWORDS[lib.APP_USER],
                                               "SELECT * FROM no_such_table")
                t.ok(rc != 0 and "1146" in err, "a server error reaches the CLI as it is", err)

            with t.section("bad input"):
                def raw_exchange(payload, read_greeting=True):
                    with socket.create_connection(("127.0.0.1", mysql_port), timeout=5) as raw:
                        if read_greeting:
                            raw.recv(4096)  # HandshakeV10
                        raw.sendall(payload)
                        data = b""
                        try:
                            while True:
                                chunk = raw.recv(4096)
                                if not chunk:
                                    break
                                data += chunk
                        except socket.timeout:
                            return data, False
                        return data, True
                data, closed = raw_exchange(b"\x05\x00\x00\x01garbage-not-a-handshake-response" * 3)
                t.ok(closed and (data == b"" or data[4] == 0xFF), "garbage for a handshake response: an ERR or a close", data[:40])
                data, closed = raw_exchange(b"\xff\xff\xff\x00" + b"x" * 100)
                t.ok(closed, "a 16 MiB length that never comes whole, then nothing: closed at limits.startup_timeout or at once", closed)
                c = connect()
                t.eq(lib.value(c, "SELECT 5"), 5, "other clients are unaffected")
                c.close()

            with t.section("past limits.max_client_connections"):
                limited_port = lib.free_port()
                limited = lib.start_sluice(workdir, limited_port, "[limits]\nmax_client_connections = 2")
                try:
                    def connect_within_limit():
                        # start_sluice's readiness probe was a client too: until sluice has seen it go
                        # (at once, but asynchronously), it still counts against the limit.
                        deadline = time.monotonic() + 5
                        while True:
                            try:
                                return pymysql.connect(host="127.0.0.1", port=limited_port, user=lib.APP_USER,
                                                       password=lib.PASSWORDS[lib.APP_USER], database=lib.DATABASE)
                            except pymysql.err.OperationalError as e:
                                if lib.errno_of(e) != 1040 or time.monotonic() > deadline:
                                    raise
                                time.sleep(0.05)
                    held = [connect_within_limit() for _ in range(2)]
                    e = t.error(lambda: pymysql.connect(host="127.0.0.1", port=limited_port, user=lib.APP_USER,
                                                        password=lib.PASSWORDS[lib.APP_USER]),
                                {1040}, "the third client gets ERR 1040 in place of the handshake")
                    t.ok(e is not None and "max_client_connections" in str(e), "... naming the limit", e)
                    t.eq(lib.value(held[0], "SELECT 3"), 3, "the clients within the limit go on")
                    for h in held:
                        h.close()
                finally:
                    limited.terminate()
                    limited.wait(timeout=20)

            with t.section("what is not supported is refused, the session goes on"):
                c = connect(client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
                with c.cursor() as cur:
                    cur.execute("SELECT 1; SELECT 2")
                    first = cur.fetchall()
                    cur.nextset()
                    second = cur.fetchall()
                t.eq((first, second), (((1,),), ((2,),)), "multi-statements: both result sets")
                def com_debug():
                    c.select_db(lib.DATABASE)
                    c.ping()
                    c._execute_command(0x0d, b"")  # COM_DEBUG: a server-admin command sluice does not relay
                    c._read_ok_packet()
                e = lib.error_of(com_debug)
                t.ok(e is not None and lib.errno_of(e) == 1047, "COM_DEBUG: refused with 1047", e)
                t.eq(lib.value(c, "SELECT 7"), 7, "the session goes on after the refusal")
                c.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            with open(os.path.join(workdir, f"sluice-{mysql_port}.log")) as f:
                log = f.read()
            t.ok(proc.returncode == 0, "sluice stopped cleanly", proc.returncode)
            if t.failed:
                print(log[-4000:])
    t.finish()


if __name__ == "__main__":
    main()
