"""sluicectl against the sandbox's sluice: every command with tables and with --json, the admin address
and token from the environment, flags or --config, and exit codes (0 ok, 1 failed or 401, 2 usage).
Usage: sluicectl_cli.py PATH_TO_SLUICECTL"""

import json
import re
import sys

from admin_lib import *  # noqa: F401,F403

t = Checks()
if len(sys.argv) != 2:
    sys.exit("usage: sluicectl_cli.py PATH_TO_SLUICECTL")
CTL = sys.argv[1]
wait_for_replica_reads()


def ctl(*args, **kwargs):
    code, out, err = sluicectl(CTL, *args, **kwargs)
    detail = err.strip().replace("\n", " | ")[:300]
    info(f"sluicectl {' '.join(args)}: exit {code}" + (f"; stderr: {detail}" if detail else ""))
    return code, out, err


def ctl_json(*args):
    code, out, err = ctl(*args, "--json")
    assert code == 0, f"sluicectl {' '.join(args)} --json: exit {code}: {err}"
    return json.loads(out)


with t.section("help and usage errors"):
    code, out, _ = ctl("--help")
    t.ok(code == 0 and "usage: sluicectl" in out and "switchover --to NAME" in out, "--help: 0 and the commands")
    for command in ("status", "ping", "backends", "tenants", "pools", "clients", "explain", "drain", "undrain",
                    "reload", "switchover", "failover", "metrics"):
        code, out, _ = ctl(command, "--help")
        t.ok(code == 0 and out.startswith(f"usage: sluicectl {command}"), f"{command} --help: 0 and its usage", out)
    code, _, _ = ctl("drill", "--help")
    t.eq(code, 0, "drill --help: 0")
    for args, what in ((["frobnicate"], "an unknown command"), ([], "no command"), (["drain"], "drain without NAME"),
                       (["explain"], "explain without SQL"), (["switchover"], "switchover without --to"),
                       (["status", "--admin", "nohost"], "a bad --admin"), (["status", "--timeout", "soon"],
                                                                           "a bad --timeout"),
                       (["--bogus", "status"], "an unknown option"), (["ping", "--count", "0"], "ping --count 0")):
        code, _, err = ctl(*args)
        t.ok(code == 2 and err.strip(), f"{what}: exit 2 with a message", (code, err))

with t.section("401 and unreachable: exit 1"):
    code, _, err = ctl("status", "--token", "wrong-token")
    t.ok(code == 1 and "401" in err, "a wrong token: exit 1, says 401", (code, err))
    code, _, err = ctl("backends", with_env=False, env_extra={"SLUICE_ADMIN": ADMIN})
    t.ok(code == 1 and "401" in err, "no token at all: exit 1, says 401", (code, err))
    code, out, err = ctl("status", "--json", "--token", "wrong-token")
    t.ok(code == 1 and "error" in json.loads(out or "{}"), "--json on a 401: the JSON error on stdout", (out, err))
    code, _, err = ctl("status", "--admin", "127.0.0.1:1", "--timeout", "2")
    t.ok(code == 1 and "connect" in err, "nothing listening: exit 1, says it cannot connect", (code, err))
    code, _, err = ctl("drain", "pg-primary")
    t.ok(code == 1 and "409" in err, "drain of the primary: exit 1 with the 409", (code, err))
    code, _, err = ctl("backends", "no-such-backend")
    t.ok(code == 1 and "404" in err, "an unknown backend: exit 1 with the 404", (code, err))

with t.section("status: aligned tables"):
    code, out, _ = ctl("status")
    t.eq(code, 0, "status: exit 0")
    lines = out.splitlines()
    header = next((i for i, l in enumerate(lines) if l.startswith("BACKEND")), None)
    t.ok(header is not None, "a backends table", out)
    if header is not None:
        rows = lines[header + 1:header + 4]
        t.eq(sorted(r.split()[0] for r in rows), ["pg-primary", "pg-replica1", "pg-replica2"], "one row per backend")
        # Aligned: every column's right edge (numbers are right-aligned) is where its header ends.
        edge = lines[header].index("IN FLIGHT") + len("IN FLIGHT")
        t.ok(all(len(r) >= edge and r[edge - 1] != " " and (len(r) == edge or r[edge] == " ") for r in rows),
             "the IN FLIGHT column is aligned", "\n".join(lines[header:header + 4]))
    t.ok(any(l.startswith("TENANT") for l in lines), "a tenants table", out)
    t.ok("writes go to pg-primary" in out, "where writes go", out)
    both = ctl_json("status")
    t.ok({"status", "backends", "tenants"} <= set(both), "status --json: status, backends and tenants", list(both))

with t.section("backends, tenants, pools, clients, metrics"):
    code, out, _ = ctl("backends")
    t.ok(code == 0 and re.search(r"^pg-primary\s+primary\*", out, re.M), "backends: the primary marked *", out)
    body = ctl_json("backends")
    t.eq(sorted(b["name"] for b in body["backends"]), ["pg-primary", "pg-replica1", "pg-replica2"],
         "backends --json: the API's JSON")
    t.eq(ctl_json("backends", "pg-replica1")["name"], "pg-replica1", "backends NAME --json")
    code, out, _ = ctl("tenants")
    t.ok(code == 0 and "TENANT" in out and "default" in out, "tenants: a table with the default tenant", out)
    t.ok("tenants" in ctl_json("tenants"), "tenants --json")
    code, out, _ = ctl("pools")
    t.ok(code == 0 and out.startswith("BACKEND") and "app" in out, "pools: a table", out)
    t.ok("pools" in ctl_json("pools"), "pools --json")
    code, out, _ = ctl("clients")
    t.ok(code == 0 and out.startswith("ADDRESS"), "clients: a table", out)
    t.ok("clients" in ctl_json("clients"), "clients --json")
    code, out, _ = ctl("metrics")
    t.ok(code == 0 and "# TYPE sluice_backend_up gauge" in out, "metrics: the exposition text")

with t.section("ping"):
    code, out, _ = ctl("ping")
    lines = [l for l in out.splitlines() if l.strip()]
    t.ok(code == 0 and len(lines) == 3 and all(" probe " in l and " ms" in l for l in lines),
         "ping: one line per backend with its probe time", out)
    body = ctl_json("ping", "--count", "3", "--interval", "0.2")
    t.eq(sorted(b["name"] for b in body["backends"]), ["pg-primary", "pg-replica1", "pg-replica2"], "ping --json")
    t.ok(all(len(b["samples_ms"]) == 3 and b["min_ms"] <= b["avg_ms"] <= b["max_ms"] and b["reachable"]
             for b in body["backends"]), "ping --count 3: three samples each, min <= avg <= max", body)
    code, out, _ = ctl("ping", "-c", "2", "-i", "0.1")
    t.ok(code == 0 and out.count("min/avg/max") == 3, "ping -c 2: a summary per backend", out)

with t.section("explain"):
    code, out, _ = ctl("explain", "select * from pgbench_accounts where aid = 7")
    t.ok(code == 0 and re.search(r"^route:\s+replica$", out, re.M), "explain SELECT: route replica", out)
    t.ok(re.search(r"^backend:\s+pg-replica[12]$", out, re.M), "... on a replica", out)
    body = ctl_json("explain", "update pgbench_accounts set abalance = 0 where aid = 7")
    t.eq((body["route"], body["backend"]), ("primary", "pg-primary"), "explain UPDATE --json: the primary")

with t.section("drain and undrain"):
    try:
        code, out, _ = ctl("drain", "pg-replica1")
        t.ok(code == 0 and "drained" in out, "drain pg-replica1: exit 0", out)
        t.eq(backends_by_name()["pg-replica1"]["drained"], True, "the API shows it drained")
        c = connect()
        t.eq({value(c, "select inet_server_port()") for _ in range(10)}, {R2}, "reads go to pg-replica2 only")
        c.close()
        body = ctl_json("undrain", "pg-replica1")
        t.ok(body["drained"] is False and body["changed"] is True, "undrain --json", body)
    finally:
        set_drained("pg-replica1", False)

with t.section("address and token from flags, environment or --config"):
    code, _, _ = ctl("backends", "--admin", ADMIN, "--token", TOKEN, with_env=False)
    t.eq(code, 0, "--admin and --token flags")
    code, _, _ = ctl("backends", "--config", ENV["SLUICE_CONFIG"], with_env=False)
    t.eq(code, 0, "--config FILE (its [admin] listen and token)")
    code, _, _ = ctl("backends", with_env=False, env_extra={"SLUICE_CONFIG": ENV["SLUICE_CONFIG"]})
    t.eq(code, 0, "SLUICE_CONFIG in the environment")
    code, _, _ = ctl("backends", "--token=" + TOKEN, "--admin=" + ADMIN, with_env=False)
    t.eq(code, 0, "--flag=value forms")
    code, _, err = ctl("backends", "--config", "/nonexistent/sluice.toml", with_env=False)
    t.ok(code == 2 and "nonexistent" in err, "an unreadable --config: exit 2 naming it", (code, err))

with t.section("reload"):
    code, out, err = ctl("reload")
    t.eq(code, 0, "reload: exit 0")
    t.ok(ctl_json("reload").get("reloaded") is True, "reload --json: reloaded")

t.finish()
