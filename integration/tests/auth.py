"""Logins through sluice: each auth method the sandbox has (SCRAM, md5, md5 to sluice with cleartext to
the servers, trust) works with psycopg2, psql and a hand-made protocol client; wrong passwords, unknown
users and missing databases fail with the SQLSTATE and message PostgreSQL itself would send."""

import os
import subprocess

import psycopg2

from lib import (ENV, PASSWORDS, PRIMARY, REPLICAS, SLUICE, Checks, RawClient, connect, first_error, info, one,
                 poll, wait_for_replica_reads)

t = Checks()
wait_for_replica_reads()
USERS = {"app": "scram-sha-256", "md5user": "md5", "plainuser": "md5 (cleartext to the servers)",
         "trustuser": "trust"}


def psql(user, password, sql, dbname="app"):
    env = dict(os.environ, PGCONNECT_TIMEOUT="5", PGSSLMODE="disable")
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(["psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", str(SLUICE), "-U", user, "-d", dbname,
                           "-c", sql], capture_output=True, text=True, env=env, timeout=30)


for user, method in USERS.items():
    with t.section(f"{user} ({method}) logs in"):
        conn = connect(user)
        who, db = one(conn, "select current_user, current_database()")
        t.eq((who, db), (user, "app"), f"psycopg2 as {user}: current_user and database")
        # Reads on a replica and a statement on the primary: sluice logs in to both kinds of backend.
        # Some, not all: another test's commit as the same user (consistency_scope = "user") that the
        # replicas have not replayed within causal_wait sends a read to the primary, as it should.
        ports = {one(conn, "select inet_server_port()")[0] for _ in range(8)}
        t.ok(ports & REPLICAS, f"psycopg2 as {user}: reads served by a replica", f"ports {ports}")
        t.eq(one(conn, "/* sluice: primary */ select inet_server_port()")[0], PRIMARY,
             f"psycopg2 as {user}: a statement on the primary")
        n = one(conn, "select count(*) from pgbench_branches")[0]
        t.eq(n, 1, f"psycopg2 as {user}: reads pgbench_branches")
        conn.close()

        r = psql(user, PASSWORDS[user], "select current_user")
        t.ok(r.returncode == 0 and r.stdout.strip() == user, f"psql as {user}",
             f"exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}")

        raw = RawClient()
        messages = raw.login(user, PASSWORDS[user])
        raw.close()
        types = b"".join(m[0] for m in messages)
        t.ok(types.endswith(b"KZ") and b"E" not in types, f"raw protocol login as {user} ends BackendKeyData, ReadyForQuery",
             f"message types {types!r}, error {first_error(messages)}")

with t.section("wrong passwords are refused with 28P01"):
    for user, wrong in (("app", "not_app_pw"), ("md5user", "not_md5_pw"), ("plainuser", "not_plain_pw")):
        try:
            connect(user, password=wrong).close()
            t.ok(False, f"psycopg2 as {user} with a wrong password is refused", "it was let in")
        except psycopg2.OperationalError as e:
            t.ok(f'password authentication failed for user "{user}"' in str(e),
                 f"psycopg2 as {user} with a wrong password is refused", str(e).strip())
        raw = RawClient()
        err = first_error(raw.login(user, wrong))
        messages, closed, _ = raw.read_until_closed(5)
        raw.close()
        t.ok(err is not None and err.get("C") == "28P01" and err.get("S") == "FATAL",
             f"raw login as {user} with a wrong password: FATAL 28P01", f"got {err}")
        t.ok(closed, f"raw login as {user} with a wrong password: connection closed after the error")
        r = psql(user, wrong, "select 1")
        t.ok(r.returncode != 0 and "password authentication failed" in r.stderr,
             f"psql as {user} with a wrong password is refused", f"exit {r.returncode}, stderr {r.stderr!r}")

with t.section("an unknown user is refused like a wrong password"):
    try:
        connect("nosuchuser", password="whatever").close()
        t.ok(False, "psycopg2 as an unknown user is refused", "it was let in")
    except psycopg2.OperationalError as e:
        t.ok('password authentication failed for user "nosuchuser"' in str(e),
             "psycopg2 as an unknown user is refused as for a wrong password", str(e).strip())
    raw = RawClient()
    messages = raw.login("nosuchuser", "whatever")
    raw.close()
    kinds = [m[0] for m in messages]
    err = first_error(messages)
    # The same SCRAM exchange as a known user (mock verifier), so users cannot be probed.
    t.ok(kinds and kinds[0] == b"R", "raw login as an unknown user is asked for SCRAM first", f"types {kinds}")
    t.ok(err is not None and err.get("C") == "28P01", "raw login as an unknown user: 28P01", f"got {err}")

with t.section("a missing database is reported with 3D000"):
    try:
        connect("app", dbname="no_such_db").close()
        t.ok(False, "psycopg2 to a missing database is refused", "it was let in")
    except psycopg2.OperationalError as e:
        t.ok('database "no_such_db" does not exist' in str(e), "psycopg2 to a missing database: server's message",
             str(e).strip())
    raw = RawClient()
    err = first_error(raw.login("app", PASSWORDS["app"], database="no_such_db"))
    raw.close()
    info(f"missing database: {err}")
    t.ok(err is not None and err.get("C") == "3D000" and "no_such_db" in err.get("M", ""),
         "raw login to a missing database: 3D000 naming it", f"got {err}")
    r = psql("trustuser", None, "select 1", dbname="no_such_db")
    t.ok(r.returncode != 0 and 'database "no_such_db" does not exist' in r.stderr,
         "psql to a missing database: server's message", f"exit {r.returncode}, stderr {r.stderr!r}")

with t.section("logins to missing databases leave no pools behind"):
    # Each database name a client sends must not keep a pool (nor /metrics label sets) once its login
    # failed: a scan of names would otherwise grow sluice's memory and metrics without bound.
    import json
    import urllib.request

    def pool_databases():
        req = urllib.request.Request(f"http://127.0.0.1:{ENV['SLUICE_ADMIN_PORT']}/pools",
                                     headers={"Authorization": f"Bearer {ENV['SLUICE_ADMIN_TOKEN']}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return {p["database"] for p in json.loads(r.read().decode())["pools"]}

    for i in range(30):
        raw = RawClient()
        raw.login("app", PASSWORDS["app"], database=f"scan_{os.getpid()}_{i}")
        raw.close()
    scanned = {d for d in pool_databases() if d.startswith("scan_")}
    t.ok(poll(lambda: not {d for d in pool_databases() if d.startswith("scan_")}, 5),
         "30 logins to missing databases: no pool is kept for any of them", f"pools for {sorted(scanned)[:5]}...")

with t.section("the greeting: the server's parameters, with the client's own startup values"):
    # sluice greets from the ParameterStatus messages its pool learnt at the first server login, encoded
    # once; a client's own startup values must still show (libpq keeps them as the session's state).
    for round_ in range(2):  # the second login greets from the pool's encoded set for sure
        conn = connect("md5user", application_name=f"it_greeting_{round_}", client_encoding="LATIN1")
        t.eq(conn.get_parameter_status("application_name"), f"it_greeting_{round_}",
             f"login {round_ + 1}: application_name in the greeting is the client's")
        t.eq(conn.get_parameter_status("client_encoding"), "LATIN1",
             f"login {round_ + 1}: client_encoding in the greeting is the client's")
        t.ok(bool(conn.get_parameter_status("server_version")), f"login {round_ + 1}: server_version is there",
             repr(conn.get_parameter_status("server_version")))
        t.eq(one(conn, "select current_setting('application_name')")[0], f"it_greeting_{round_}",
             f"login {round_ + 1}: and the server session has it too")
        conn.close()
    conn = connect("md5user")
    t.eq(conn.get_parameter_status("client_encoding"), "UTF8", "without a startup value: the server's")
    conn.close()

with t.section("the good logins still work after the failures"):
    conn = connect("app")
    t.eq(one(conn, "select 1")[0], 1, "app logs in and queries")
    conn.close()

t.finish()
