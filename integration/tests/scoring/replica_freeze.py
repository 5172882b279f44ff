"""scoring_replica_freeze: a hung replica (its postmaster and every child SIGSTOPped: the kernel still
accepts TCP connections, nothing answers) must show in the admin API as not up, be logged once, and stop
getting reads within about two probe timeouts, while it is still frozen; once resumed (SIGCONT) it comes
back. A probe that misses its deadline must not block its thread (libpq's PQcancel waits for the frozen
server to close the cancel connection)."""

import json
import re
import threading
import time
import urllib.request

from lib import HOST, info, main, poll

PROBE_INTERVAL = 0.25
PROBE_TIMEOUT = 0.5
# Detection bound: the probe running at the freeze times out (interval + timeout), and the scorer then
# stops choosing the replica at its second failed probe or when its last good probe goes stale
# (probe_staleness, 1 s): about two probe timeouts and an interval. 0.75 s of slack for a loaded machine.
DETECTION = 2 * PROBE_TIMEOUT + PROBE_INTERVAL + 0.75
READS = 80          # reads from 4 connections at once, with the replica frozen
READS_TIMEOUT = 15  # a read sent to the frozen replica never returns: a thread that is not done by then
UNREACHABLE = re.compile(r"backend 'pg-replica1' is unreachable")


def admin_get(sluice, token, path):
    request = urllib.request.Request(f"http://{HOST}:{sluice.admin_port}{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def backend(sluice, token, name):
    return next(b for b in admin_get(sluice, token, "/backends")["backends"] if b["name"] == name)


def reads(sluice, count, timeout, threads=4):
    """`count` reads from `threads` new connections at once (statements in flight make both replicas
    candidates worth choosing, whatever their latencies), each on a thread of its own. Returns (ports,
    finished): the answering ports, and False when the reads did not finish within `timeout` (one of
    them hangs on a frozen server)."""
    ports = []
    errors = []

    def run(n):
        try:
            conn = sluice.connect()
            try:
                with conn.cursor() as cur:
                    for _ in range(n):
                        cur.execute("SELECT inet_server_port()")
                        ports.append(cur.fetchone()[0])
            finally:
                conn.close()
        except Exception as e:  # reported by the caller
            errors.append(e)

    workers = [threading.Thread(target=run, args=(count // threads,), daemon=True) for _ in range(threads)]
    deadline = time.monotonic() + timeout
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    return ports, not any(w.is_alive() for w in workers)


def test(checks, cluster):
    sluice = cluster.sluice(health={"probe_interval": f"{int(PROBE_INTERVAL * 1000)}ms",
                                    "probe_timeout": f"{int(PROBE_TIMEOUT * 1000)}ms"}).start()
    token = re.search(r'(?m)^token = "([^"]*)"', open(sluice.config_path).read()).group(1)
    r1, r2 = cluster.ports["replica1"], cluster.ports["replica2"]

    both = poll(lambda: {r1, r2} <= set(reads(sluice, 80, 10)[0]), 10, 0.2)
    checks.ok(both, "before the freeze, both replicas serve reads")
    checks.ok(backend(sluice, token, "pg-replica1")["state"] == "up", "before the freeze, pg-replica1 is up")
    log_before = len(UNREACHABLE.findall(sluice.log_text()))

    frozen_at = time.monotonic()
    cluster.fault("freeze", "replica1")
    thawed = False
    try:
        seen = {}

        def detected():
            b = backend(sluice, token, "pg-replica1")
            seen.update(b)
            return b["state"] != "up" and not b["read_candidate"]

        ok = poll(detected, DETECTION + 5, 0.05)
        took = time.monotonic() - frozen_at
        info(f"with replica1 frozen, /backends says state {seen.get('state')!r}, exclusion "
             f"{seen.get('exclusion')!r}, probe error {seen.get('probe', {}).get('error')!r} after {took:.2f} s")
        checks.ok(ok and took <= DETECTION,
                  f"within {DETECTION:.2f} s of the freeze, /backends shows pg-replica1 not up and not a read "
                  f"candidate ({took:.2f} s)", f"last seen: {seen.get('state')}, {seen.get('exclusion')}")
        logged = poll(lambda: len(UNREACHABLE.findall(sluice.log_text())) > log_before, 1.0)
        checks.ok(logged, "the log says pg-replica1 is unreachable while it is still frozen")

        ports, finished = reads(sluice, READS, READS_TIMEOUT)
        checks.ok(finished, f"{READS} reads with replica1 frozen all return (none is sent to it)",
                  f"{len(ports)} returned, the next one hangs")
        checks.ok(ports and all(p == r2 for p in ports), f"replica2 answers every read ({len(ports)})",
                  f"{sorted({cluster.port_name(p) for p in ports})}")
        time.sleep(2.0)  # more failed probes: still one log line
        lines = len(UNREACHABLE.findall(sluice.log_text())) - log_before
        checks.ok(lines == 1, f"the freeze is logged once ({lines} lines)")

        cluster.fault("thaw", "replica1")
        thawed = True
        thawed_at = time.monotonic()
        back = poll(lambda: backend(sluice, token, "pg-replica1")["state"] == "up", 10, 0.05)
        checks.ok(back, f"after SIGCONT pg-replica1 is up again ({time.monotonic() - thawed_at:.2f} s)")

        def served_again():
            ports, _ = reads(sluice, 40, 10)
            return r1 in ports

        checks.ok(poll(served_again, 20, 0.2), "and serves reads again")
    finally:
        if not thawed:
            cluster.fault("thaw", "replica1")


if __name__ == "__main__":
    main(test, "freeze")
