"""Routing through sluice, seen from the servers themselves (inet_server_port(), pg_is_in_recovery()):
writes go to the primary, autocommit reads go to the replicas (both of them under concurrent load), a transaction stays on one
backend, read-only transactions run on a replica, hints and write functions go to the primary, and a
row written through sluice becomes visible on the replicas through sluice."""

import os

import psycopg2.errors

from lib import (PRIMARY, R1, R2, REPLICAS, Checks, concurrent, connect, info, one, poll, port_name, query, value,
                 wait_for_replica_reads)

t = Checks()
wait_for_replica_reads()
conn = connect()
query(conn, "drop table if exists it_routing")
query(conn, "drop sequence if exists it_routing_seq")
query(conn, "create table it_routing (id serial primary key, v text)")
query(conn, "create sequence it_routing_seq")

with t.section("writes go to the primary"):
    port, in_recovery = one(conn, "insert into it_routing (v) values ('w') returning inet_server_port(), pg_is_in_recovery()")
    t.eq((port, in_recovery), (PRIMARY, False), "INSERT ... RETURNING ran on the primary")
    port = value(conn, "update it_routing set v = 'w2' where v = 'w' returning inet_server_port()")
    t.eq(port, PRIMARY, "UPDATE ... RETURNING ran on the primary")

with t.section("autocommit reads go to the replicas, and to both of them under load"):
    # With the default consistency (read_your_writes), reads right after this client's writes go where
    # the writes are visible; once the replicas have replayed them (the probes show it), to the replicas.
    t.ok(poll(lambda: value(conn, "select inet_server_port()") in REPLICAS, 10),
         "reads return to the replicas once they have replayed the writes above")
    t.eq(value(conn, "select count(*) from it_routing"), 1, "read your writes: the row written above is seen")
    # pg_is_in_recovery() itself is answered by the primary (it describes the cluster): a standby's
    # sessions show transaction_read_only = on instead.
    rows = [one(conn, "select inet_server_port(), current_setting('transaction_read_only') = 'on'") for _ in range(24)]
    ports = [p for p, _ in rows]
    info(f"24 reads by one client: replica1 x{ports.count(R1)}, replica2 x{ports.count(R2)}, primary x{ports.count(PRIMARY)}")
    t.ok(set(ports) <= REPLICAS, "every read ran on a replica", f"ports {sorted(set(ports))}")
    t.ok(all(r for _, r in rows), "transaction_read_only is on (a standby) for every read")
    # Several clients at once: the scorer's in-flight term spreads them (round-robin would too).
    crowd = [connect() for _ in range(8)]
    ports = []
    both = poll(lambda: ports.extend(concurrent(crowd, lambda c: value(c, "select inet_server_port()"), 10))
                or set(ports) >= REPLICAS, 10)
    info(f"{len(ports)} reads by 8 clients at once: replica1 x{ports.count(R1)}, replica2 x{ports.count(R2)}, "
         f"primary x{ports.count(PRIMARY)}")
    t.ok(set(ports) <= REPLICAS, "every concurrent read ran on a replica", f"ports {sorted(set(ports))}")
    t.ok(both, "concurrent reads were served by both replicas")
    for c in crowd:
        c.close()

with t.section("a read-write transaction stays on the primary", conn):
    query(conn, "begin")
    ports = [value(conn, "select inet_server_port()") for _ in range(3)]
    ports.append(value(conn, "insert into it_routing (v) values ('tx') returning inet_server_port()"))
    ports += [value(conn, "select inet_server_port()") for _ in range(3)]
    query(conn, "commit")
    t.eq(set(ports), {PRIMARY}, "BEGIN; SELECT x3; INSERT; SELECT x3; COMMIT: every statement on the primary")

with t.section("a transaction of SELECTs stays on one backend", conn):
    query(conn, "begin")
    ports = [value(conn, "select inet_server_port()") for _ in range(6)]
    query(conn, "commit")
    info(f"BEGIN ... COMMIT of SELECTs ran on {port_name(ports[0])}")
    t.eq(len(set(ports)), 1, "BEGIN; SELECT x6; COMMIT: one backend throughout")
    # The same through psycopg2's own transaction handling (it sends BEGIN before the first statement).
    conn2 = connect(autocommit=False)
    ports = [value(conn2, "select inet_server_port()") for _ in range(6)]
    conn2.commit()
    conn2.close()
    t.eq(len(set(ports)), 1, "psycopg2 non-autocommit transaction of SELECTs: one backend throughout")

def settle():
    """Waits until this client's reads go to the replicas again: with the default consistency
    (read_your_writes) a read right after the writes above goes where they are visible."""
    t.ok(poll(lambda: value(conn, "select inet_server_port()") in REPLICAS, 10),
         "reads return to the replicas once they have replayed this client's writes")


for begin in ("BEGIN READ ONLY", "START TRANSACTION READ ONLY", "begin transaction isolation level repeatable read read only"):
    with t.section(f"{begin} runs on a replica", conn):
        settle()
        seen = set()
        for _ in range(2):  # twice: the choice is made anew for each transaction
            query(conn, begin)
            ports = [value(conn, "select inet_server_port()") for _ in range(3)]
            read_only = value(conn, "show transaction_read_only")
            ports.append(value(conn, "select inet_server_port() from pgbench_branches limit 1"))
            query(conn, "commit")
            t.ok(len(set(ports)) == 1 and ports[0] in REPLICAS, f"{begin}: every statement on one replica",
                 f"ports {ports}")
            t.eq(read_only, "on", f"{begin}: transaction_read_only")
            seen.update(ports)
        info(f"{begin} ran on {sorted(port_name(p) for p in seen)}")

with t.section("hints and writing functions go to the primary"):
    for _ in range(3):
        t.eq(value(conn, "/* sluice: primary */ SELECT inet_server_port()"), PRIMARY,
             "/* sluice: primary */ SELECT runs on the primary")
    ports = {value(conn, "/* sluice: replica */ SELECT inet_server_port()") for _ in range(4)}
    t.ok(ports <= REPLICAS, "/* sluice: replica */ SELECT runs on a replica", f"ports {ports}")
    for _ in range(3):
        n, port = one(conn, "select nextval('it_routing_seq'), inet_server_port()")
        t.eq(port, PRIMARY, f"SELECT nextval() runs on the primary (got {n})")
    for _ in range(3):
        t.eq(value(conn, "select inet_server_port() from it_routing where v = 'tx' for update"), PRIMARY,
             "SELECT ... FOR UPDATE runs on the primary")

with t.section("a row written through sluice becomes visible on both replicas"):
    marker = f"visible-{os.getpid()}"
    port = value(conn, "insert into it_routing (v) values (%s) returning inet_server_port()", (marker,))
    t.eq(port, PRIMARY, "the marker row was inserted on the primary")
    seen = set()
    crowd = [connect() for _ in range(8)]

    def count_and_port(c):
        try:  # the hint asks for a replica, whatever it has replayed (read_your_writes aside)
            return one(c, "/* sluice: replica */ select count(*), inet_server_port() from it_routing where v = %s",
                       (marker,))
        except psycopg2.errors.UndefinedTable:  # the table itself has not been replayed there yet
            return 0, None

    def both_replicas_see_it():
        # Concurrent reads, so that both replicas answer (see lib.concurrent).
        seen.update(p for n, p in concurrent(crowd, count_and_port, 3) if n == 1)
        return seen >= REPLICAS

    t.ok(poll(both_replicas_see_it, 10), "both replicas return the row through sluice within 10 s",
         f"seen on {sorted(seen)}")
    t.ok(seen <= REPLICAS, "only replicas answered these reads", f"{sorted(seen)}")
    for c in crowd:
        c.close()

query(conn, "drop table it_routing")
query(conn, "drop sequence it_routing_seq")
conn.close()
t.finish()
