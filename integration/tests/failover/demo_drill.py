"""failover_demo_drill: the newcomer path. A sandbox as integration/demo.sh runs it (its own sluice.toml,
unchanged: the [health] user, the admin port and token are the sandbox's), and sluicectl used exactly as
`demo.sh --instructions` tells: its `export` line, then `sluicectl status` and a short
`sluicectl drill`, which switches the primary over to a replica and checks that no acknowledged write
was lost. The drill needs the grants docs/operations.md names (fence_old_primary sets
default_transaction_read_only with ALTER SYSTEM): the sandbox's [health] user must have them."""

import json
import os
import re
import shlex
import subprocess

from failover_lib import SLUICECTL_BIN, Sluice, info, main, role_of
from lib import SOURCE_DIR

DRILL_SECONDS = 6


class DemoSluice(Sluice):
    """sluice on the sandbox's own sluice.toml, byte for byte (the demo's)."""

    def __init__(self, cluster):
        super().__init__(cluster, {}, {}, (), cluster.sluice_port, "sluice-demo", None)
        with open(cluster.base_config) as f, open(self.config_path, "w") as out:
            out.write(f.read())
        cluster.sluices.append(self)


def test(checks, cluster):
    if not checks.ok(os.access(SLUICECTL_BIN, os.X_OK), f"sluicectl is built ({SLUICECTL_BIN})"):
        return
    DemoSluice(cluster).start()
    r = subprocess.run(["bash", os.path.join(SOURCE_DIR, "integration", "demo.sh"), "--instructions"],
                       env=cluster.env, capture_output=True, text=True, timeout=60)
    checks.ok(r.returncode == 0, "demo.sh --instructions works", r.stderr)
    exports = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("export ")]
    if not checks.ok(len(exports) == 1, "the demo prints one export line for sluicectl", r.stdout):
        return
    env = dict(os.environ)
    for word in shlex.split(exports[0])[1:]:
        name, _, value = word.partition("=")
        env[name] = value
    info(f"from the demo's instructions: SLUICE_ADMIN={env.get('SLUICE_ADMIN')}, "
         f"SLUICE_DRILL_DSN={env.get('SLUICE_DRILL_DSN')}")
    commands = [shlex.split(line.strip()) for line in r.stdout.splitlines()
                if re.match(r"\s+\S*sluicectl ", line)]
    checks.ok(["status"] in [c[1:] for c in commands] and any(c[1] == "drill" for c in commands),
              "the instructions show sluicectl status and sluicectl drill", commands)

    def ctl(*args, timeout=60):
        return subprocess.run([SLUICECTL_BIN, *args], env=env, capture_output=True, text=True, timeout=timeout)

    status = ctl("status")
    checks.ok(status.returncode == 0 and "pg-primary" in status.stdout,
              "sluicectl status works with the demo's variables", f"{status.returncode}: {status.stderr}")

    drill = ctl("drill", "--switchover-to", "pg-replica1", "--duration", f"{DRILL_SECONDS}s", "--json",
                timeout=DRILL_SECONDS + 240)
    info(f"drill exit status {drill.returncode}; stderr: {drill.stderr.strip()[:800]}")
    try:
        report = json.loads(drill.stdout)
    except ValueError:
        checks.ok(False, "the drill printed a JSON report", drill.stdout[-2000:])
        return
    for s in report.get("switchovers", []):
        rep = s["report"] if isinstance(s["report"], dict) else {}
        info(f"switchover to {s['to']}: ok={s['ok']} {s['error']}; steps "
             + ", ".join(f"{st['name']} {st['ms']}" + (f" ({st.get('error')})" if st.get("error") else "")
                         for st in rep.get("steps", [])))
    writes = report["writes"]
    checks.ok(drill.returncode == 0 and report["passed"], "sluicectl drill passes against the demo's sandbox",
              f"exit {drill.returncode}, passed={report['passed']}")
    checks.ok(report["switchovers"] and all(s["ok"] for s in report["switchovers"]),
              "its switchover (fence_old_primary included) succeeded",
              [(s["to"], s["error"]) for s in report["switchovers"]])
    checks.ok(writes["lost"] == 0 and writes["acknowledged"] > 0,
              f"no acknowledged write lost ({writes['acknowledged']} acknowledged)")
    checks.ok(role_of(cluster, "replica1") == "primary", "replica1 is the primary now")


if __name__ == "__main__":
    main(test, "failover_demo")
