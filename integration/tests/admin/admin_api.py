"""The admin API end to end: a missing, wrong or non-bearer token gets 401 and a line in sluice's log
(without the token); every GET endpoint answers sane JSON; explain routes a SELECT to a replica and an
INSERT to the primary; errors are JSON with the right status (400, 404, 405, 409, 501)."""

import urllib.error
import urllib.parse

from admin_lib import *  # noqa: F401,F403

t = Checks()
wait_for_replica_reads()

with t.section("a missing, wrong or non-bearer token gets 401, logged"):
    offset = log_size()
    wrong = "not-the-token-" + TOKEN[::-1]
    cases = [
        ("missing", get("/status", token=None)),
        ("wrong", get("/backends", token=wrong)),
        ("empty", get("/metrics", token="")),
        ("basic", get("/tenants", token=None, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})),
        ("prefix", get("/status", token=TOKEN[:-1])),
        ("longer", get("/status", token=TOKEN + "x")),
        ("post", post("/backends/pg-replica1/drain", token=wrong)),
    ]
    for what, r in cases:
        t.eq(r.status, 401, f"{what} token: 401")
        t.ok(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), f"{what} token: WWW-Authenticate: Bearer",
             r.headers)
        t.ok("error" in r.json(), f"{what} token: a JSON error", r.body)
    t.eq(backends_by_name()["pg-replica1"]["drained"], False, "the unauthorized drain changed nothing")
    logged = poll(lambda: log_since(offset).count("401 unauthorized") >= len(cases), 5)
    text = log_since(offset)
    t.ok(logged, f"sluice logged each 401 ({len(cases)})", text[-2000:])
    t.ok("GET /backends" in text and "wrong bearer token" in text and "missing bearer token" in text,
         "the log names the request and why", text[-2000:])
    t.ok(wrong not in text and TOKEN not in text, "the log shows no token")
    t.eq(get("/status").status, 200, "the right token: 200")
    t.eq(get("/status", token=None, headers={"Authorization": f"bearer  {TOKEN} "}).status, 200,
         "the scheme is case-insensitive, spaces around the token are ignored")

with t.section("GET / and /status"):
    index = get_json("/")
    t.ok(any("/backends" in e for e in index["endpoints"]), "GET / lists the endpoints", index)
    status = get_json("/status")
    info(f"status: {status}")
    t.ok(status["version"] and status["uptime_s"] >= 0 and status["workers"] >= 1, "version, uptime, workers")
    t.eq(status["topology"], "single_primary", "topology")
    t.eq(status["writes"]["primary"], "pg-primary", "writes go to pg-primary")
    t.eq(status["writes"]["gate"]["held"], False, "the write gate is open")
    t.eq(status["backends"]["configured"], 3, "three backends configured")
    t.eq(status["backends"]["reachable"], 3, "three reachable")
    t.ok(isinstance(status["counters"]["routed_replica"], int), "counters are integers", status["counters"])

with t.section("GET /backends: role, state, lag, latency, in flight, score, share of reads, ejections"):
    before = backends_by_name()
    conns = [connect() for _ in range(6)]
    ports = concurrent(conns, lambda c: value(c, "select inet_server_port()"), 10)
    for c in conns:
        c.close()
    # A client has its answer a moment before its session counts the statement finished (the
    # session writes the answer first): wait until nothing is in flight, as "at rest" means. And a
    # backend an earlier test stopped and restarted may still be marked down on one worker for
    # pool.retry_interval: wait for every backend to be up.
    poll(lambda: all(b["in_flight"] == 0 and b["state"] == "up" for b in get_json("/backends")["backends"]), 5)
    body = get_json("/backends")
    t.eq(body["topology"], "single_primary", "topology")
    t.eq(body["primary"], "pg-primary", "primary")
    after = {b["name"]: b for b in body["backends"]}
    t.eq(sorted(after), ["pg-primary", "pg-replica1", "pg-replica2"], "the three backends, by name")
    p = after["pg-primary"]
    t.ok(p["role"] == "primary" and p["is_primary"] and p["reachable"] and p["state"] == "up",
         "pg-primary: role primary, takes writes, up", p)
    t.eq(p["port"], PRIMARY, "pg-primary: its port")
    for name in REPLICA_NAMES:
        b = after[name]
        t.ok(b["role"] == "replica" and not b["is_primary"] and b["reachable"] and b["state"] == "up",
             f"{name}: role replica, up", b)
        t.ok(isinstance(b["lag"]["bytes"], int) and b["lag"]["bytes"] >= 0, f"{name}: lag in bytes", b["lag"])
        t.ok(b["lag"]["ms"] is None or (isinstance(b["lag"]["ms"], int) and b["lag"]["ms"] >= 0),
             f"{name}: lag in ms", b["lag"])
        lat = b["latency"]
        t.ok(all(isinstance(lat[k], (int, float)) and lat[k] >= 0 for k in ("ewma_ms", "p50_ms", "p99_ms")),
             f"{name}: latency EWMA, p50, p99", lat)
        t.ok(lat["p99_ms"] >= lat["p50_ms"], f"{name}: p99 >= p50", lat)
        t.ok(b["probe"]["rtt_ms"] > 0 and b["probe"]["age_ms"] is not None and b["probe"]["age_ms"] < 5000,
             f"{name}: a fresh probe with its round trip", b["probe"])
        t.ok(isinstance(b["score"], (int, float)) and b["score"] > 0, f"{name}: a score", b["score"])
        t.eq(b["in_flight"], 0, f"{name}: nothing in flight at rest")
        t.ok(isinstance(b["ejections"], int) and b["outlier"]["state"] in ("active", "suspect", "ejected"),
             f"{name}: ejections and outlier state", b["outlier"])
        t.ok(b["read_candidate"] and b["exclusion"] == "candidate", f"{name}: a read candidate", b)
    routed = {name: after[name]["dispatched"] - before[name]["dispatched"] for name in after}
    replica_reads = sum(1 for port in ports if port in (R1, R2))
    info(f"60 reads: {routed}; ports: replica1 x{ports.count(R1)}, replica2 x{ports.count(R2)}")
    t.ok(routed["pg-replica1"] + routed["pg-replica2"] >= replica_reads,
         "every read counts as dispatched to its replica", routed)
    t.eq(routed["pg-replica1"] >= ports.count(R1) and routed["pg-replica2"] >= ports.count(R2), True,
         "per replica, dispatches match the ports that answered")
    share = after["pg-replica1"]["read_share"] + after["pg-replica2"]["read_share"]
    t.ok(abs(share - 1.0) < 0.01, "the replicas' shares of reads add up to 1", share)
    t.ok(after["pg-replica1"]["latency"]["recent_samples"] + after["pg-replica2"]["latency"]["recent_samples"] >=
         replica_reads, "the reads are in the latency window")
    one_backend = get_json("/backends/pg-replica2")
    t.eq(one_backend["name"], "pg-replica2", "GET /backends/NAME: that backend")
    r = get("/backends/no-such-backend")
    t.eq(r.status, 404, "GET /backends/unknown: 404")
    t.ok("no-such-backend" in r.json()["error"], "... with a JSON error naming it", r.body)

with t.section("GET /tenants"):
    body = get_json("/tenants")
    t.ok(isinstance(body["enabled"], bool) and isinstance(body["tenants"], list), "enabled flag and tenant list", body)
    t.ok(isinstance(body["active"], int) and isinstance(body["max_active"], int), "active and max_active", body)
    for tenant in body["tenants"]:
        t.ok({"name", "policy", "usage", "queue", "refusals"} <= set(tenant), f"tenant {tenant.get('name')}: "
             "policy, usage, queue, refusals", tenant)
        t.ok(isinstance(tenant["usage"]["admitted"], int) and isinstance(tenant["refusals"]["total"], int),
             f"tenant {tenant['name']}: counters", tenant)
    t.ok(any(x["name"] == "default" for x in body["tenants"]), "the default tenant is listed", body)

with t.section("GET /pools"):
    body = get_json("/pools")
    pools = body["pools"]
    t.ok(isinstance(pools, list) and pools, "pools are listed", body)
    app = [p for p in pools if p["database"] == "app" and p["user"] == "app"]
    t.ok({p["backend"] for p in app} >= {"pg-replica1", "pg-replica2"}, "app/app pools on both replicas",
         [(p["backend"], p["database"], p["user"]) for p in pools])
    for pool in app:
        t.ok(pool["total"] >= pool["idle"] >= 0 and pool["max_size"] >= 1 and pool["connects"] >= 1
             and pool["waiting"] == 0, f"pool {pool['backend']}/app/app: sane figures", pool)

with t.section("GET /clients"):
    held = connect(application_name="admin-api-test")
    body = get_json("/clients")
    mine = [c for c in body["clients"] if c["application_name"] == "admin-api-test"]
    t.ok(len(mine) == 1, "the test's own client is listed once", body)
    if mine:
        c = mine[0]
        t.ok(c["user"] == "app" and c["database"] == "app" and c["state"] == "idle"
             and c["address"].startswith("127.0.0.1:"), "with its user, database, state and address", c)
    t.eq(body["count"], len(body["clients"]), "count matches the list")
    held.close()
    gone = poll(lambda: not [c for c in get_json("/clients")["clients"]
                             if c["application_name"] == "admin-api-test"], 5)
    t.ok(gone, "a client that left is no longer listed")

with t.section("explain: SELECT to a replica, INSERT to the primary, and why"):
    r = post("/explain", {"sql": "select abalance from pgbench_accounts where aid = 1"})
    t.eq(r.status, 200, "POST /explain: 200")
    e = r.json()
    info(f"explain select: route {e['route']}, backend {e['backend']}: {e['reason']}")
    t.eq(e["route"], "replica", "SELECT: route replica")
    t.ok(e["backend"] in REPLICA_NAMES, "SELECT: the scorer picks a replica", e.get("backend"))
    t.eq(e["classification"]["target"], "replica", "SELECT: classified as a read")
    t.ok(e["choice"]["chosen"] == e["backend"] and e["choice"]["candidates"] == 2,
         "the choice explanation: two candidates, the chosen one", e["choice"])
    t.ok(len(e["choice"]["backends"]) == 3 and "candidate" in e["choice"]["text"], "per-backend costs and text")
    e = post("/explain", {"sql": "insert into pgbench_history (tid, bid, aid, delta) values (1, 1, 1, 0)"}).json()
    t.eq((e["route"], e["backend"]), ("primary", "pg-primary"), "INSERT: the primary")
    t.ok("writes" in e["reason"], "INSERT: the reason says it writes", e["reason"])
    e = get_json("/explain?sql=" + urllib.parse.quote("/* sluice: primary */ select 1"))
    t.eq((e["route"], e["backend"]), ("primary", "pg-primary"), "GET /explain?sql=: a primary hint wins")
    t.ok("hint" in e["reason"], "... and the reason says so", e["reason"])
    e = post("/explain", "BEGIN READ ONLY", headers={"Content-Type": "text/plain"}).json()
    t.eq(e["route"], "replica", "a plain-text body: BEGIN READ ONLY goes to a replica")
    e = post("/explain", {"sql": "select nextval('s')"}).json()
    t.eq(e["route"], "primary", "SELECT nextval(): the primary")
    e = post("/explain", {"sql": "listen x"}).json()
    t.ok(e["route"] == "primary" and "pins" in e["reason"], "LISTEN pins the session", e["reason"])
    before = sum(b["dispatched"] for b in backends_by_name().values())
    for _ in range(5):
        post("/explain", {"sql": "select 1"})
    after = sum(b["dispatched"] for b in backends_by_name().values())
    t.eq(after, before, "explain dispatches nothing")
    r = post("/explain", {"nothing": 1})
    t.eq(r.status, 400, "explain without SQL: 400")

with t.section("errors are JSON with the right status"):
    r = get("/no/such/thing")
    t.ok(r.status == 404 and "error" in r.json(), "unknown path: 404 with a JSON error", r)
    r = post("/status")
    t.ok(r.status == 405 and r.headers.get("Allow") == "GET", "POST /status: 405 with Allow: GET", r)
    r = get("/backends/pg-replica1/drain")
    t.eq(r.status, 405, "GET on drain: 405")
    r = post("/backends/no-such-backend/drain")
    t.eq(r.status, 404, "drain of an unknown backend: 404")
    r = post("/backends/pg-primary/drain")
    t.ok(r.status == 409 and "switch" in r.json()["error"], "drain of the primary: 409 pointing to switchover", r)
    t.eq(backends_by_name()["pg-primary"]["drained"], False, "the primary was not drained")
    r = post("/switchover", {})
    t.eq(r.status, 400, "switchover without a target: 400")
    r = post("/switchover", {"to": "no-such-backend"})
    t.eq(r.status, 404, "switchover to an unknown backend: 404")
    r = post("/reload")
    t.ok(r.status in (200, 400) and r.headers["Content-Type"].startswith("application/json"),
         "POST /reload answers JSON", r)
    r = get("/switchover")
    t.eq(r.status, 405, "GET /switchover: 405 (it is a POST)")
    try:
        big = post("/explain", {"sql": "select '" + "x" * (2 * 1024 * 1024) + "'"})
        t.eq(big.status, 413, "a body over 1 MiB: 413")
    except (ConnectionError, urllib.error.URLError) as e:
        t.ok(False, "a body over 1 MiB: 413", f"the connection failed instead: {e!r}")
    t.eq(get("/status").status, 200, "the API still answers afterwards")

t.finish()
