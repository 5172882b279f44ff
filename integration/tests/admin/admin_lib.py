"""Helpers of the admin API tests: requests to sluice's admin API (urllib, with or without the bearer
token from `sandbox.sh env`), the backend names of the sandbox, and sluicectl runs. Builds on
integration/tests/lib.py (ports, connections, Checks)."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lib import *  # noqa: E402,F401,F403  (the shared test helpers)
from lib import ENV, PRIMARY, R1, R2  # noqa: E402

ADMIN_PORT = int(ENV["SLUICE_ADMIN_PORT"])
ADMIN = f"127.0.0.1:{ADMIN_PORT}"
TOKEN = ENV["SLUICE_ADMIN_TOKEN"]
BACKEND_OF_PORT = {PRIMARY: "pg-primary", R1: "pg-replica1", R2: "pg-replica2"}
PORT_OF_BACKEND = {name: port for port, name in BACKEND_OF_PORT.items()}
REPLICA_NAMES = ["pg-replica1", "pg-replica2"]

_NO_TOKEN = object()


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"HTTP {self.status}: {self.body[:300]!r}"


def request(method, path, body=None, token=_NO_TOKEN, headers=None, timeout=30):
    """One request to the admin API; returns a Reply whatever the status (urllib raises on >= 400)."""
    data = None
    all_headers = dict(headers or {})
    if token is _NO_TOKEN:
        token = TOKEN
    if token is not None:
        all_headers.setdefault("Authorization", f"Bearer {token}")
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(f"http://{ADMIN}{path}", data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, dict(r.headers), r.read().decode())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers), e.read().decode())


def get(path, **kwargs):
    return request("GET", path, **kwargs)


def post(path, body=None, **kwargs):
    return request("POST", path, body=body, **kwargs)


def get_json(path):
    r = get(path)
    assert r.status == 200, f"GET {path}: {r!r}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), f"GET {path}: {r.headers}"
    return r.json()


def backends_by_name():
    return {b["name"]: b for b in get_json("/backends")["backends"]}


def set_drained(name, drained):
    r = post(f"/backends/{name}/{'drain' if drained else 'undrain'}")
    assert r.status == 200, f"{'drain' if drained else 'undrain'} {name}: {r!r}"
    return r.json()


def sluicectl(binary, *args, env_extra=None, with_env=True, timeout=60):
    """Runs sluicectl; returns (exit status, stdout, stderr). with_env: SLUICE_ADMIN and SLUICE_ADMIN_TOKEN
    point at the sandbox's sluice (else they are removed from the environment)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLUICE_ADMIN", "SLUICE_ADMIN_TOKEN", "SLUICE_CONFIG")}
    if with_env:
        env["SLUICE_ADMIN"] = ADMIN
        env["SLUICE_ADMIN_TOKEN"] = TOKEN
    env.update(env_extra or {})
    r = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr
