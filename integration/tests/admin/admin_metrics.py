"""GET /metrics: the Prometheus text format passes `promtool check metrics`, needs the token, and its
figures follow what happens (reads counted per backend and per worker, drained and primary gauges)."""

import re
import shutil
import subprocess

from admin_lib import *  # noqa: F401,F403

t = Checks()
wait_for_replica_reads()
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape():
    r = get("/metrics")
    assert r.status == 200, f"GET /metrics: {r!r}"
    return r


def samples(text):
    """{(name, labels): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def total(values, name, **labels):
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for (n, l), v in values.items() if n == name and all(w in l for w in want))


with t.section("promtool check metrics"):
    promtool = shutil.which("promtool")
    t.ok(promtool, "promtool is installed (integration/install-deps.sh installs Debian's prometheus)")
    conns = [connect() for _ in range(4)]
    concurrent(conns, lambda c: value(c, "select inet_server_port()"), 5)
    for c in conns:
        c.close()
    r = scrape()
    t.ok(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), "Content-Type: text format 0.0.4",
         r.headers["Content-Type"])
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True, text=True, timeout=30)
        problems = (p.stdout + p.stderr).strip()
        t.ok(p.returncode == 0 and not problems, "promtool check metrics: no problems", problems[:3000])

with t.section("every family has HELP and TYPE; names, suffixes"):
    r = scrape()
    helps = re.findall(r"^# HELP (\S+) ", r.body, re.M)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", r.body, re.M))
    t.eq(sorted(helps), sorted(types), "one HELP per TYPE")
    values = samples(r.body)
    for name, _ in values:
        family = re.sub(r"_(sum|count)$", "", name) if name not in types else name
        if family not in types:
            t.ok(False, f"sample {name} belongs to a declared family")
    t.ok(all(n.startswith("sluice_") for n in types), "every name starts with sluice_")
    t.ok(all(n.endswith("_total") for n, k in types.items() if k == "counter"), "every counter ends in _total")
    for family in ("sluice_resident_memory_bytes", "sluice_max_client_connections", "sluice_client_login_failures_total",
                   "sluice_routed_total", "sluice_backend_up", "sluice_backend_lag_bytes",
                   "sluice_backend_latency_ewma_seconds", "sluice_backend_statement_latency_seconds",
                   "sluice_backend_in_flight", "sluice_backend_score", "sluice_backend_read_share",
                   "sluice_backend_ejections_total", "sluice_backend_drained", "sluice_pool_connections",
                   "sluice_clients_connected", "sluice_tenant_admitted_total", "sluice_write_gate_held",
                   "sluice_admin_requests_total"):
        t.ok(family in types, f"family {family}")
    t.eq(types.get("sluice_backend_statement_latency_seconds"), "summary", "statement latency is a summary")
    for name in ("pg-primary", "pg-replica1", "pg-replica2"):
        t.ok(("sluice_backend_up", f'{{backend="{name}"}}') in values, f"sluice_backend_up for {name}")

with t.section("counters follow the traffic"):
    before = samples(scrape().body)
    conns = [connect() for _ in range(4)]
    ports = concurrent(conns, lambda c: value(c, "select inet_server_port()"), 10)
    for c in conns:
        c.close()
    after = samples(scrape().body)
    replica_reads = sum(1 for p in ports if p in (R1, R2))
    routed = total(after, "sluice_routed_total", target="replica") - total(before, "sluice_routed_total", target="replica")
    t.ok(routed >= replica_reads, f"sluice_routed_total{{target=replica}} grew by the {replica_reads} reads", routed)
    for name, port in (("pg-replica1", R1), ("pg-replica2", R2)):
        grew = total(after, "sluice_backend_dispatched_total", backend=name) - \
            total(before, "sluice_backend_dispatched_total", backend=name)
        t.ok(grew >= ports.count(port), f"sluice_backend_dispatched_total for {name} grew by its reads",
             (grew, ports.count(port)))
        count = total(after, "sluice_backend_statement_latency_seconds_count", backend=name)
        t.ok(count >= ports.count(port), f"latency summary count for {name}", count)
    t.eq(total(after, "sluice_backend_primary", backend="pg-primary"), 1.0, "sluice_backend_primary{pg-primary} = 1")
    t.eq(total(after, "sluice_topology_state", state="single_primary"), 1.0, "topology single_primary")
    workers = total(after, "sluice_workers")
    t.eq(len({l for (n, l) in after if n == "sluice_clients_accepted_total"}), int(workers),
         "per-worker counters: one series per worker")

with t.section("drained gauge; /metrics needs the token"):
    set_drained("pg-replica2", True)
    try:
        values = samples(scrape().body)
        t.eq(total(values, "sluice_backend_drained", backend="pg-replica2"), 1.0, "sluice_backend_drained = 1")
        t.eq(total(values, "sluice_backend_read_candidate", backend="pg-replica2"), 0.0, "not a read candidate")
    finally:
        set_drained("pg-replica2", False)
    t.eq(total(samples(scrape().body), "sluice_backend_drained", backend="pg-replica2"), 0.0, "undrained: 0")
    unauthorized_before = total(samples(scrape().body), "sluice_admin_requests_total", result="unauthorized")
    t.eq(get("/metrics", token=None).status, 401, "GET /metrics without the token: 401")
    unauthorized_after = total(samples(scrape().body), "sluice_admin_requests_total", result="unauthorized")
    t.eq(unauthorized_after - unauthorized_before, 1.0, "sluice_admin_requests_total{result=unauthorized} counted it")

t.finish()
