#!/usr/bin/python3
"""Issue 15, item 13: reload applies more than tenant policies. A sluice of its own (2 workers, an admin
API) against the sandbox, started with the primary and one replica (pg-replica1); its config file is
rewritten while a client holds a transaction open:

1. SIGHUP with a new file: a user added (plainuser), another's password changed (md5user: a new client
   password, the server password kept), pool.size 4 -> 6, a backend added (pg-replica2),
   limits.max_client_connections lowered. The open transaction commits; the new user logs in; the old
   password fails and the new one works; /backends shows pg-replica2 probed as a replica and taking
   reads; /pools shows the new size; the lowered client limit refuses with 53300.
2. POST /reload with pg-replica1 and plainuser removed and pool.size 6 -> 2: the answer lists them;
   /backends no longer shows pg-replica1 and reads no longer go there; plainuser is refused; /pools
   shows size 2 (open sessions go on).
3. `sluicectl reload` with listen_port changed: reported as needing a restart; sluice still serves on
   the old port.
4. A broken file (SIGHUP and POST /reload) is refused with file:line and the key, and changes nothing."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

import psycopg2  # noqa: E402

SLUICE_BIN = os.environ.get("SLUICE_BIN") or os.path.join(lib.SOURCE_DIR, "build", "router", "sluice")
SLUICECTL_BIN = os.environ.get("SLUICECTL_BIN") or os.path.join(os.path.dirname(SLUICE_BIN), "sluicectl")
TOKEN = "reload-test-token-0123456789"
TABLE = "it_hostile_reload"

t = lib.Checks()
work = os.path.join(lib.SANDBOX_DIR, f"reload-{os.getpid()}")
os.makedirs(work, exist_ok=True)


PORT, ADMIN_PORT = lib.free_port(), lib.free_port()
CONFIG = os.path.join(work, "sluice.toml")


def write_config(replicas, pool_size=4, max_clients=50, port=PORT, users_extra="", md5_password="md5_pw",
                 broken=False):
    backends = f'\n[[backends]]\nname = "pg-primary"\nhost = "127.0.0.1"\nport = {lib.PRIMARY}\nrole = "primary"\n'
    for name in replicas:
        backends += (f'\n[[backends]]\nname = "pg-{name}"\nhost = "127.0.0.1"\nport = {lib.NODE_PORTS[name]}\n'
                     f'role = "replica"\n')
    pool = 'size = "lots"' if broken else f"size = {pool_size}"
    text = f"""# written by integration/tests/hostile/reload.py
listen = "127.0.0.1:{port}"
workers = 2

[pool]
{pool}

[limits]
max_client_connections = {max_clients}

[routing]
consistency = "eventual"

[logging]
level = "info"

[health]
user = "sluice_ops"
password = "ops_pw"

[admin]
listen = "127.0.0.1:{ADMIN_PORT}"
token = "{TOKEN}"
{backends}
[[users]]
name = "app"
password = "app_pw"

[[users]]
name = "md5user"
password = "{md5_password}"
server_password = "md5_pw"
{users_extra}"""
    with open(CONFIG, "w") as f:
        f.write(text)
    return text


PLAINUSER = '\n[[users]]\nname = "plainuser"\npassword = "plain_pw"\n'


def log_text():
    with open(LOG_PATH, "rb") as f:
        return f.read().decode("utf-8", "replace")


def admin(method, path):
    request = urllib.request.Request(f"http://{lib.HOST}:{ADMIN_PORT}{path}", method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def backends_by_name():
    return {b["name"]: b for b in admin("GET", "/backends")[1]["backends"]}


def login(user, password, port=PORT):
    conn = psycopg2.connect(host=lib.HOST, port=port, user=user, password=password, dbname="app", connect_timeout=5,
                            sslmode="disable")
    conn.autocommit = True
    return conn


def read_ports(conn, n):
    """The server port that answered each of `n` autocommit reads."""
    return [lib.value(conn, "select inet_server_port()") for _ in range(n)]


def reload_lines_after(offset, prefix):
    return [l for l in log_text()[offset:].splitlines() if f"{prefix}:" in l and ("applied" in l or "refused" in l
                                                                                  or "nothing to apply" in l)]


setup = lib.connect_node("primary")
lib.query(setup, f"drop table if exists {TABLE}")
lib.query(setup, f"create table {TABLE} (id int primary key, note text)")
lib.query(setup, f"grant all on {TABLE} to app")
setup.close()

write_config(["replica1"])
LOG_PATH = os.path.join(work, "sluice.log")
log = open(LOG_PATH, "wb")
proc = subprocess.Popen([SLUICE_BIN, "--config", CONFIG], stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, start_new_session=True)
held = []
try:
    if not lib.poll(lambda: "listening on" in log_text() and len(re.findall(r"is reachable", log_text())) >= 2, 20):
        raise RuntimeError(f"sluice did not start:\n{log_text()[-3000:]}")

    with t.section("1. SIGHUP: users, a password, pool.size, a backend added, the client limit lowered"):
        in_tx = login("app", "app_pw")
        in_tx.autocommit = False
        cur = in_tx.cursor()
        cur.execute(f"insert into {TABLE} values (1, 'before the reload')")
        t.eq(admin("GET", "/pools")[1]["size"], 4, "/pools: pool.size 4 before")

        write_config(["replica1", "replica2"], pool_size=6, max_clients=4, users_extra=PLAINUSER,
                     md5_password="md5_new_pw")
        offset = len(log_text())
        proc.send_signal(signal.SIGHUP)
        t.ok(lib.poll(lambda: reload_lines_after(offset, "SIGHUP"), 10), "SIGHUP: a reload line is logged")
        line = (reload_lines_after(offset, "SIGHUP") or [""])[0]
        lib.info(f"log: {line}")
        for part in ("users: 1 added (plainuser); 1 changed (md5user)", "pool.size 4 -> 6",
                     "backends: 1 added (pg-replica2)", "limits.max_client_connections 50 -> 4"):
            t.ok(part in line, f"the SIGHUP line says '{part}'", line)

        cur.execute(f"insert into {TABLE} values (2, 'during the reload')")
        in_tx.commit()
        check = lib.connect_node("primary")
        t.eq(lib.value(check, f"select count(*) from {TABLE}"), 2, "the transaction open across the reload commits")
        check.close()
        in_tx.autocommit = True
        t.eq(lib.value(in_tx, "select 1"), 1, "the session goes on after its commit")
        held.append(in_tx)

        plain = login("plainuser", "plain_pw")
        t.eq(lib.value(plain, "select current_user"), "plainuser", "the user added logs in and runs a query")
        plain.close()
        e = lib.error_of(lambda: login("md5user", "md5_pw").close())
        t.ok(e is not None and "password authentication failed" in str(e), "md5user's old password fails",
             lib.describe_error(e))
        md5 = login("md5user", "md5_new_pw")
        t.eq(lib.value(md5, "select current_user"), "md5user",
             "md5user's new password works (the server password is kept)")
        md5.close()

        def replica2_probed():
            b = backends_by_name().get("pg-replica2")
            return b is not None and b["reachable"] and b["role"] == "replica"

        t.ok(lib.poll(replica2_probed, 10), "/backends: pg-replica2 is probed, reachable, a replica",
             backends_by_name().get("pg-replica2"))
        reader = login("app", "app_pw")
        seen = set()
        lib.poll(lambda: seen.update(read_ports(reader, 10)) or lib.R2 in seen, 15)
        reader.close()
        t.ok(lib.R2 in seen, "reads reach pg-replica2", sorted(lib.port_name(p) for p in seen))
        t.ok(backends_by_name()["pg-replica2"]["dispatched"] > 0, "/backends: pg-replica2 has dispatched statements",
             backends_by_name()["pg-replica2"])
        pools = admin("GET", "/pools")[1]
        t.eq(pools["size"], 6, "/pools: pool.size is 6")
        sizes = {(p["backend"], p["user"]): p["max_size"] for p in pools["pools"]}
        t.ok(sizes and all(v == 6 for v in sizes.values()), "/pools: every pool has max_size 6", sizes)

        # The limit is 4 clients; `in_tx` is one (once the others above have gone). The fourth new one is
        # refused with 53300.
        t.ok(lib.poll(lambda: admin("GET", "/status")[1].get("clients") == 1, 5), "/status: one client left",
             admin("GET", "/status")[1].get("clients"))
        clients, refusal = [], None
        for _ in range(6):
            c = lib.RawClient(PORT)
            messages = c.login("app", "app_pw")
            error = lib.first_error(messages)
            if error is not None:
                refusal = error
                c.close()
                break
            clients.append(c)
        t.ok(refusal is not None and refusal.get("C") == "53300" and len(clients) == 3,
             f"limits.max_client_connections = 4 refuses the 5th client with 53300 ({len(clients)} more were let in)",
             refusal)
        for c in clients:
            c.close()
        lib.poll(lambda: admin("GET", "/status")[1].get("clients", 0) <= 1, 5)

    with t.section("2. POST /reload: a backend removed, a user removed, pool.size lowered"):
        write_config(["replica2"], pool_size=2, max_clients=50, md5_password="md5_new_pw")
        status, answer = admin("POST", "/reload")
        lib.info(f"POST /reload: {status} {answer}")
        t.eq(status, 200, "POST /reload answers 200")
        t.ok(any("backends: 1 removed (pg-replica1)" in l for l in answer.get("applied", [])),
             "the answer lists pg-replica1 as removed", answer)
        t.ok(any("limits.max_client_connections 4 -> 50" in l for l in answer.get("applied", [])),
             "the answer lists the client limit raised again", answer)
        t.ok(any("users: 1 removed (plainuser)" in l for l in answer.get("applied", [])),
             "the answer lists plainuser as removed", answer)
        t.ok(any("pool.size 6 -> 2" in l for l in answer.get("applied", [])), "the answer lists pool.size 6 -> 2", answer)
        t.eq(answer.get("needs_restart"), [], "nothing needs a restart")
        e = lib.error_of(lambda: login("plainuser", "plain_pw").close())
        t.ok(e is not None and "password authentication failed" in str(e), "the removed user is refused",
             lib.describe_error(e))
        pools = admin("GET", "/pools")[1]
        t.eq(pools["size"], 2, "/pools: pool.size is 2")
        sizes = {(p["backend"], p["user"]): p["max_size"] for p in pools["pools"] if not p["retired"]}
        t.ok(sizes and all(v == 2 for v in sizes.values()), "/pools: every pool in use has max_size 2", sizes)
        stale = {(p["backend"], p["user"]) for p in pools["pools"]
                 if p["user"] == "plainuser" or p["backend"] == "pg-replica1"}
        retired = {(p["backend"], p["user"]) for p in pools["pools"] if p["retired"]}
        t.ok(stale <= retired, "/pools: the pools of plainuser and pg-replica1 are retired (or gone)",
             sorted(stale - retired))
        names = set(backends_by_name())
        t.eq(names, {"pg-primary", "pg-replica2"}, "/backends: pg-replica1 is gone")
        t.ok(lib.poll(lambda: "pg-replica1" not in json.dumps(admin("GET", "/failover")[1].get("backends", [])), 3),
             "/failover: pg-replica1 is gone")
        reader = login("app", "app_pw")
        ports = read_ports(reader, 40)
        reader.close()
        t.ok(lib.R1 not in ports and lib.R2 in ports, "40 reads: none on pg-replica1, some on pg-replica2",
             sorted(set(lib.port_name(p) for p in ports)))
        t.eq(lib.value(held[0], "select 2"), 2, "the session opened before both reloads still works")

    with t.section("3. sluicectl reload: listen_port needs a restart"):
        new_port = lib.free_port()
        write_config(["replica2"], pool_size=6, max_clients=50, users_extra=PLAINUSER, md5_password="md5_new_pw",
                     port=new_port)
        r = subprocess.run([SLUICECTL_BIN, "--admin", f"127.0.0.1:{ADMIN_PORT}", "--token", TOKEN, "reload"],
                           capture_output=True, text=True, timeout=30)
        lib.info(f"sluicectl reload: {r.returncode}\n{r.stdout}{r.stderr}")
        t.ok(r.returncode == 0 and "needs a restart" in r.stdout and f"listen_port {PORT} -> {new_port}" in r.stdout,
             "sluicectl reload reports listen_port as needing a restart", r.stdout + r.stderr)
        c = login("app", "app_pw")
        t.eq(lib.value(c, "select 3"), 3, "sluice still serves on its old port")
        c.close()
        write_config(["replica2"], pool_size=6, max_clients=50, users_extra=PLAINUSER, md5_password="md5_new_pw")
        t.eq(admin("POST", "/reload")[1].get("needs_restart"), [], "back to the running port: nothing needs a restart")

    with t.section("4. a broken file is refused, naming file, line and key, and changes nothing"):
        text = write_config(["replica2"], pool_size=6, max_clients=50, users_extra=PLAINUSER,
                            md5_password="md5_new_pw", broken=True)
        line_no = text.splitlines().index('size = "lots"') + 1
        status, answer = admin("POST", "/reload")
        lib.info(f"POST /reload: {status} {answer}")
        error = answer.get("error", "")
        t.ok(status == 400 and f"sluice.toml:{line_no}" in error and "pool.size" in error,
             "POST /reload: 400, the error names file:line and pool.size", answer)
        offset = len(log_text())
        proc.send_signal(signal.SIGHUP)
        t.ok(lib.poll(lambda: reload_lines_after(offset, "SIGHUP"), 10), "SIGHUP: a line is logged")
        line = (reload_lines_after(offset, "SIGHUP") or [""])[0]
        lib.info(f"log: {line}")
        t.ok("refused, nothing changed" in line and f"sluice.toml:{line_no}" in line and "pool.size" in line,
             "SIGHUP: refused, naming file:line and pool.size", line)
        t.eq(admin("GET", "/pools")[1]["size"], 6, "/pools: still 6")
        t.eq(set(backends_by_name()), {"pg-primary", "pg-replica2"}, "/backends: unchanged")
        c = login("plainuser", "plain_pw")
        t.eq(lib.value(c, "select 4"), 4, "plainuser still logs in")
        c.close()
        t.ok(proc.poll() is None, "sluice still runs")
finally:
    for c in held:
        c.close()
    lib.stop_process(proc, 15)
    log.close()
t.finish()
