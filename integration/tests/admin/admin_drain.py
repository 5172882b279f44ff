"""Drain through the admin API: a read-only transaction runs on a replica, that replica is drained while
one of the transaction's statements is still running; the statement and the rest of the transaction
finish on it and commit, while every new read goes to the other replica (inet_server_port()). Undrain
brings the replica back. The primary cannot be drained (409)."""

import threading

from admin_lib import *  # noqa: F401,F403

t = Checks()
wait_for_replica_reads()
drained = None

try:
    with t.section("drain a replica in the middle of a read-only transaction"):
        tx = connect()
        query(tx, "begin read only")
        port = value(tx, "select inet_server_port()")
        t.ok(port in (R1, R2), "BEGIN READ ONLY runs on a replica", port_name(port))
        drained = BACKEND_OF_PORT[port]
        other = "pg-replica2" if drained == "pg-replica1" else "pg-replica1"
        info(f"the transaction runs on {drained}; {other} stays")

        # A statement still running on the replica when the drain arrives.
        slow = {}

        def run_slow():
            try:
                slow["row"] = one(tx, "select pg_sleep(1.5), inet_server_port()")
            except Exception as e:  # reported below
                slow["error"] = e

        th = threading.Thread(target=run_slow)
        th.start()
        running = poll(lambda: backends_by_name()[drained]["in_flight"] >= 1, 1.0, 0.02)
        t.ok(running, f"the slow statement is in flight on {drained}")
        answer = set_drained(drained, True)
        info(f"drain answer: {answer}")
        t.ok(answer["drained"] and answer["changed"], "POST /backends/NAME/drain: drained")
        t.ok(answer["in_flight"] >= 1, "the drain answer shows the statement still in flight", answer)
        b = backends_by_name()[drained]
        t.ok(b["drained"] and b["state"] == "drained" and not b["read_candidate"], "GET /backends shows it drained", b)

        # New reads, many clients at once: none on the drained replica.
        conns = [connect() for _ in range(6)]
        ports = concurrent(conns, lambda c: value(c, "select inet_server_port()"), 8)
        t.ok(set(ports) == {PORT_OF_BACKEND[other]}, f"48 new reads all went to {other}",
             sorted({port_name(p) for p in ports}))
        ro_ports = set()
        for c in conns[:3]:
            query(c, "begin read only")
            ro_ports.add(value(c, "select inet_server_port()"))
            query(c, "commit")
        t.eq(ro_ports, {PORT_OF_BACKEND[other]}, f"new read-only transactions start on {other}")
        for c in conns:
            c.close()

        th.join(10)
        t.ok("error" not in slow, "the running statement finished without error", slow.get("error"))
        t.eq(slow.get("row", (None, None))[1], port, f"... on {drained}")
        more = [value(tx, "select inet_server_port() from pgbench_branches limit 1") for _ in range(3)]
        t.eq(set(more), {port}, "the transaction's later statements still run on the drained replica")
        query(tx, "commit")
        t.ok(True, "the transaction commits")
        after = {value(tx, "select inet_server_port()") for _ in range(5)}
        t.eq(after, {PORT_OF_BACKEND[other]}, f"after its commit, the same client's reads go to {other}")
        tx.close()

        e = post("/explain", {"sql": "select 1"}).json()
        t.eq(e["backend"], other, f"explain picks {other}")
        t.eq({b["name"]: b["exclusion"] for b in e["choice"]["backends"]}[drained], "drained",
             "explain says why the drained replica is out")
        t.eq(set_drained(drained, True)["changed"], False, "a second drain changes nothing")

    with t.section("undrain brings the replica back"):
        answer = set_drained(drained, False)
        t.ok(not answer["drained"] and answer["changed"], "POST /backends/NAME/undrain: undrained", answer)
        drained_name = drained
        drained = None
        b = backends_by_name()[drained_name]
        t.ok(not b["drained"] and b["read_candidate"], "GET /backends: a read candidate again", b)
        conns = [connect() for _ in range(6)]
        seen = set()

        def both():
            seen.update(concurrent(conns, lambda c: value(c, "select inet_server_port()"), 3))
            return PORT_OF_BACKEND[drained_name] in seen

        # The drained replica's latency still carries the 1.5 s statement above: its peak EWMA relaxes
        # toward the probe RTT with tau = 5 s (docs/scoring.md), so it can take some 30 s to tie with a
        # replica answering in well under a millisecond; usually it is back far sooner.
        t.ok(poll(both, 40), f"reads reach {drained_name} again within 40 s", sorted(port_name(p) for p in seen))
        for c in conns:
            c.close()

    with t.section("the primary cannot be drained"):
        r = post("/backends/pg-primary/drain")
        t.eq(r.status, 409, "drain pg-primary: 409")
        t.ok("switchover" in r.json().get("error", ""), "the error points to switchover", r.body)
        c = connect()
        query(c, "begin")
        t.eq(value(c, "select inet_server_port()"), PRIMARY, "read-write transactions still go to the primary")
        query(c, "commit")
        c.close()
finally:
    if drained is not None:
        set_drained(drained, False)

t.finish()
