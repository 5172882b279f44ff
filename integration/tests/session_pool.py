#!/usr/bin/python3
# Session pooling through sluice (user app_session, pool_mode = "session"): a client keeps its server
# connections for its whole session (one per backend it uses), and they are reset before anyone else
# gets them.
import os
import subprocess
import sys

import psycopg2

env = dict(line.split(" ", 1)[1].split("=", 1) for line in subprocess.run(
    ["bash", "integration/sandbox.sh", "env"], capture_output=True, text=True, check=True).stdout.split("\n")
    if line.startswith("export "))
PORT = env["SLUICE_PORT"]
PRIMARY = int(env["PRIMARY_PORT"])
REPLICAS = {int(env["REPLICA1_PORT"]), int(env["REPLICA2_PORT"])}
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def connect():
    conn = psycopg2.connect(host="127.0.0.1", port=PORT, dbname="app", user="app_session", password="session_pw")
    conn.autocommit = True
    return conn


a = connect()
cur = a.cursor()
reads = []
for _ in range(20):
    cur.execute("select inet_server_port(), pg_backend_pid()")
    reads.append(cur.fetchone())
writes = []
for i in range(5):
    cur.execute("insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, %s, now()) "
                "returning inet_server_port(), pg_backend_pid()", (i,))
    writes.append(cur.fetchone())
check(all(port == PRIMARY for port, _ in writes), "writes run on the primary")
check(len({pid for _, pid in writes}) == 1, "writes keep one primary server connection for the session")
replica_reads = [(port, pid) for port, pid in reads if port in REPLICAS]
check(len(replica_reads) == len(reads), "reads run on replicas")
check(len({pid for _, pid in replica_reads}) == len({port for port, _ in replica_reads}),
      "reads keep one server connection per replica for the session")

# Session state a transaction pooler could not keep: a prepared statement via SQL and a plain SET.
cur.execute("set work_mem = '7MB'")
cur.execute("show work_mem")
check(cur.fetchone()[0] == "7MB", "SET holds within the session")
a.close()

# The next session must not inherit the previous one's settings (connections are reset).
b = connect()
cur = b.cursor()
seen = set()
for _ in range(10):
    cur.execute("show work_mem")
    seen.add(cur.fetchone()[0])
check("7MB" not in seen, "a new session does not inherit a previous session's SET (got %s)" % sorted(seen))
b.close()

print("%d passed, %d failed" % (6 - len(failures), len(failures)))
sys.exit(1 if failures else 0)
