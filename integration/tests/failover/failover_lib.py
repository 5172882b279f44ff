"""Shared helpers of the switchover/failover integration tests. Each test promotes replicas, so each
runs its own throwaway sandbox and its own sluice (the scoring tests' harness: ../scoring/lib.py), with
an admin API on a free port, [failover] settings of the test's choosing, and sluice_ops (the sandbox's
least-privilege control-plane role) as the [health] user that switchover and failover connect as.
sluicectl drives switchovers and drills through the admin API, as an operator would."""

import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scoring"))

import psycopg2  # noqa: E402

from lib import (HOST, SANDBOX_SH, SOURCE_DIR, Cluster, Sluice, _toml_value, describe_error, free_port,  # noqa: E402,F401
                 info, main, poll)

SLUICECTL_BIN = os.environ.get("SLUICECTL_BIN") or os.path.join(
    os.path.dirname(os.environ.get("SLUICE_BIN") or os.path.join(SOURCE_DIR, "build", "router", "sluice")), "sluicectl")
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
TOKEN = "failover-test-token"


class FailoverSluice(Sluice):
    """A sluice with [admin] (a free port, a token), [failover] `failover` keys and [health] as
    sluice_ops (plus `health` keys). rejoin=True sets failover.rejoin_command to this sandbox's
    `sandbox.sh rejoin {name}`."""

    def __init__(self, cluster, failover=None, health=None, routing=None, rejoin=False, name="sluice"):
        health = dict({"user": "sluice_ops", "password": "ops_pw"}, **(health or {}))
        super().__init__(cluster, routing or {}, health, (), cluster.sluice_port, name, None)
        self.admin_port = free_port()
        failover = dict(failover or {})
        if rejoin:
            failover["rejoin_command"] = f"SLUICE_SANDBOX_DIR={cluster.dir} bash {SANDBOX_SH} rejoin {{name}}"
        # The sandbox's sluice.toml may have an [admin] of its own (the shared sluice's port): replaced.
        with open(self.config_path) as f:
            text = re.sub(r"(?ms)^\[admin\]\n.*?(?=^\[|\Z)", "", f.read())
        text += f'\n[admin]\nlisten = "{HOST}:{self.admin_port}"\ntoken = "{TOKEN}"\n'
        if failover:
            text += "\n[failover]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in failover.items())
        with open(self.config_path, "w") as f:
            f.write(text)
        cluster.sluices.append(self)

    def ctl(self, *args, timeout=120, check=True):
        """Runs sluicectl against this sluice's admin API; returns the CompletedProcess."""
        env = dict(os.environ, SLUICE_DRILL_DSN=f"host={HOST} port={self.port} user=app password=app_pw dbname=app")
        r = subprocess.run([SLUICECTL_BIN, "--admin", f"{HOST}:{self.admin_port}", "--token", TOKEN, *args],
                           env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"sluicectl {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def ctl_json(self, *args, timeout=120):
        r = self.ctl("--json", *args, timeout=timeout)
        return json.loads(r.stdout)

    def failover_status(self):
        """GET /failover through sluicectl-free HTTP (urllib), for polling."""
        import urllib.request
        request = urllib.request.Request(f"http://{HOST}:{self.admin_port}/failover",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())


def role_of(cluster, node):
    """'primary', 'replica' or None (down) by asking the node directly."""
    try:
        in_recovery = cluster.node_value(node, "select pg_is_in_recovery()", dbname="postgres")
    except psycopg2.Error:
        return None
    return "replica" if in_recovery else "primary"


def check_tools(checks):
    ok = checks.ok(os.access(SLUICECTL_BIN, os.X_OK), f"sluicectl is built ({SLUICECTL_BIN})")
    return ok and checks.ok(os.access(PGBENCH, os.X_OK), f"pgbench is installed ({PGBENCH})")


class Writer:
    """One client through sluice inserting numbered rows (autocommit) every `pause` s until stop().
    Records (sent, seconds, port or None, sqlstate or None) per insert and reconnects when its
    connection breaks."""

    def __init__(self, sluice, table, pause=0.02):
        self.sluice = sluice
        self.table = table
        self.pause = pause
        self.outcomes = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        conn = None
        n = 0
        while not self.stop_event.is_set():
            if conn is None or conn.closed:
                try:
                    conn = self.sluice.connect()
                except psycopg2.Error as e:
                    self.outcomes.append((time.monotonic(), 0.0, None, getattr(e, "pgcode", None) or "08006"))
                    time.sleep(0.05)
                    continue
            n += 1
            t0 = time.monotonic()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {self.table}(n) VALUES (%s) RETURNING inet_server_port()", (n,))
                    port = cur.fetchone()[0]
                self.outcomes.append((t0, time.monotonic() - t0, port, None))
            except psycopg2.Error as e:
                self.outcomes.append((t0, time.monotonic() - t0, None, e.pgcode or "08006"))
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stop_event.set()
        self.thread.join(30)
