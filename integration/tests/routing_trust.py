"""Read/write splitting an application can trust (issue 11), seen from the servers: a SELECT calling a
VOLATILE function of the user's that writes runs on the primary (it failed with 25006 on a replica),
while a STABLE one is served by the replicas once sluice has learnt it; functions and views that describe
the server (pg_is_in_recovery(), pg_stat_replication, pg_current_wal_lsn(), txid_current()) and built-in
functions with effects (pg_notify, pg_stat_reset) are answered by the primary; EXPLAIN of a write is
planned where the write would run (counted by the admin API per backend); a read batch and a write batch
pipelined in one TCP write each go where they belong, with the simple and the extended protocol; and with
the default consistency a row written on one connection is read back on another of the same user."""

import json
import os
import struct
import sys
import urllib.request

import psycopg

from lib import (ENV, HOST, PRIMARY, REPLICAS, SLUICE, Checks, RawClient, connect, info, message, one, poll,
                 query, value)

t = Checks()
ADMIN = f"http://127.0.0.1:{ENV['SLUICE_ADMIN_PORT']}"


def dispatched():
    """Statements dispatched per backend name, from the admin API."""
    req = urllib.request.Request(f"{ADMIN}/backends", headers={"Authorization": f"Bearer {ENV['SLUICE_ADMIN_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.loads(r.read().decode())
    backends = body["backends"] if isinstance(body, dict) else body
    return {b["name"]: b["dispatched"] for b in backends}


def replicas_serve(conn, sql="select inet_server_port()"):
    """Waits until `sql` is served by a replica again (read_your_writes holds reads back after a write
    until the replicas have replayed it)."""
    return poll(lambda: value(conn, sql) in REPLICAS, 10)


conn = connect()
query(conn, "drop table if exists it_trust_log cascade")
query(conn, "create table it_trust_log (id serial primary key, v text)")
query(conn, "create or replace function it_trust_bump() returns int language sql volatile "
            "as $$ insert into it_trust_log (v) values ('bumped') returning 1 $$")
query(conn, "create or replace function it_trust_stable() returns int language sql stable "
            "as $$ select inet_server_port() $$")

with t.section("a SELECT calling a volatile function that writes runs on the primary"):
    results = [value(conn, "select it_trust_bump()") for _ in range(5)]
    t.eq(results, [1] * 5, "SELECT it_trust_bump() x5 (simple protocol) succeeds")
    with psycopg.connect(host=HOST, port=SLUICE, user="app", password="app_pw", dbname="app",
                         autocommit=True, sslmode="disable") as pconn:
        for _ in range(3):
            pconn.execute("select it_trust_bump()", prepare=True).fetchone()
        t.ok(True, "SELECT it_trust_bump() x3 as a prepared statement (extended protocol) succeeds")
    t.eq(value(conn, "select count(*) from it_trust_log /* sluice: primary */"), 8, "8 rows were inserted")

with t.section("a STABLE function is served by the replicas once learnt"):
    replicas_serve(conn)
    value(conn, "select it_trust_stable()")  # the first call may run on the primary: sluice learns the name
    ports = [value(conn, "select it_trust_stable()") for _ in range(10)]
    t.ok(set(ports) <= REPLICAS, "SELECT it_trust_stable() x10 ran on replicas", f"ports {sorted(set(ports))}")

with t.section("functions and views that describe the server are answered by the primary"):
    replicas_serve(conn)
    t.eq({value(conn, "select pg_is_in_recovery()") for _ in range(10)}, {False},
         "SELECT pg_is_in_recovery() x10 is false (the cluster's primary)")
    t.eq(value(conn, "select count(*) from pg_stat_replication"), 2, "pg_stat_replication shows the two replicas")
    t.eq({value(conn, "select inet_server_port() from pg_catalog.pg_stat_activity limit 1") for _ in range(5)},
         {PRIMARY}, "pg_catalog.pg_stat_activity x5 is read on the primary")
    t.eq({value(conn, "select inet_server_port() from pg_locks limit 1") for _ in range(5)}, {PRIMARY},
         "pg_locks x5 is read on the primary")
    t.ok(value(conn, "select pg_current_wal_lsn() is not null"), "pg_current_wal_lsn() works (55000 on a replica)")
    t.ok(value(conn, "select txid_current() > 0"), "txid_current() works (25006 on a replica)")
    t.ok(value(conn, "select pg_current_xact_id()::text <> ''"), "pg_current_xact_id() works")
    value(conn, "select pg_notify('it_trust', 'x')")
    t.ok(True, "SELECT pg_notify(...) works (a replica refuses NOTIFY during recovery)")

with t.section("EXPLAIN of a write is planned on the primary, EXPLAIN of a read on a replica"):
    replicas_serve(conn)
    before = dispatched()
    for _ in range(20):
        query(conn, "explain insert into it_trust_log (v) values ('x') on conflict (id) do nothing")
    middle = dispatched()
    replicas_serve(conn)
    middle = dispatched()
    for _ in range(20):
        query(conn, "explain select * from it_trust_log where id = 1")
    after = dispatched()
    primary_name = "pg-primary"
    writes_on_primary = middle[primary_name] - before[primary_name]
    reads_on_primary = after[primary_name] - middle[primary_name]
    info(f"EXPLAIN INSERT x20: primary dispatched +{writes_on_primary}; EXPLAIN SELECT x20: primary +{reads_on_primary}")
    t.ok(writes_on_primary >= 20, "EXPLAIN INSERT ... ON CONFLICT x20: all on the primary",
         f"primary dispatched only +{writes_on_primary}")
    t.ok(reads_on_primary <= 2, "EXPLAIN SELECT x20: on the replicas", f"primary dispatched +{reads_on_primary}")


def ready(c):
    """Reads to ReadyForQuery; returns (error sqlstate or None, rows' first values)."""
    error, rows = None, []
    while True:
        m = c.read_message()
        if m is None:
            raise RuntimeError("connection closed")
        kind, payload = m
        if kind == b"E":
            fields = dict((p[:1], p[1:]) for p in payload.split(b"\0") if p)
            error = fields.get(b"C", b"?").decode()
        elif kind == b"D":
            length = struct.unpack("!i", payload[2:6])[0]
            rows.append(payload[6:6 + length].decode() if length >= 0 else None)
        elif kind == b"Z":
            return error, rows


def q(sql):
    return message(b"Q", sql.encode() + b"\0")


def extended(sql):
    return (message(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))
            + message(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0)) + message(b"E", b"\0" + struct.pack("!I", 0))
            + message(b"S"))


with t.section("a read batch and a write batch pipelined in one TCP write each run where they belong"):
    c = RawClient()
    t.ok(c.login("app", "app_pw")[-1][0] == b"Z", "raw client logged in")
    failures = []
    for i in range(10):
        c.send(q("select inet_server_port()") + q(f"insert into it_trust_log (v) values ('pipelined {i}')"))
        failures += [r for r in (ready(c), ready(c)) if r[0]]
        c.send(extended("select inet_server_port()") + extended(f"insert into it_trust_log (v) values ('ext {i}')"))
        failures += [r for r in (ready(c), ready(c)) if r[0]]
    t.ok(not failures, "SELECT then INSERT pipelined x10 (simple and extended): no error", f"errors {failures[:3]}")
    c.close()

with t.section("read your writes across two connections of the same user (default consistency)"):
    other = connect()
    stale = 0
    for i in range(200):
        new_id = value(conn, "insert into it_trust_log (v) values ('ryw') returning id")
        if value(other, "select count(*) from it_trust_log where id = %s", (new_id,)) != 1:
            stale += 1
    t.eq(stale, 0, "200 rows inserted on one connection were each read at once on another")
    other.close()

query(conn, "drop table it_trust_log cascade")
query(conn, "drop function it_trust_bump(), it_trust_stable()")
conn.close()
t.finish()
