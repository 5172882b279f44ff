#!/usr/bin/python3
"""Benchmark: sluice against a direct connection, PgBouncer, pgpool-II and HAProxy (TCP), with pgbench.

Starts the sandbox cluster (integration/sandbox.sh: a PostgreSQL 15 primary and two streaming replicas),
installs the peers from Debian's packages (install-peers.sh), runs each proxy with equivalent settings
(the same pool size, transaction pooling where the proxy has it) in front of the primary, and measures,
runs interleaved (A B C D E A B C D E ...), the median of each figure:

- pgbench -S in -M simple, extended and prepared, and the tpcb-like script (writes), at 16, 64 and 512
  clients, and a connection storm (-C, a new connection per transaction): TPS, ratio to direct, latency
  average and p99, and the proxy's own CPU time per transaction (utime + stime from /proc, summed over its
  threads and processes);
- memory: each proxy's RSS holding 1,000, 5,000 and 10,000 idle authenticated clients, and the increment
  per connection;
- read split (sluice and pgpool-II): pgbench -S against primary + 2 replicas, and where the reads went.

Prints a table, writes results.json, the plot's data and PNGs (gnuplot, docs/bench/plot.gp) into the
output directory, then each target of the benchmark issue with the measured ratio and PASS or MISS.
A report, not a test: it exits 0 unless something breaks. See docs/benchmarks.md."""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
from idle_clients import IdleClients, raise_nofile  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
SANDBOX_SH = os.path.join(SOURCE_DIR, "integration", "sandbox.sh")
INSTALL_PEERS_SH = os.path.join(HERE, "install-peers.sh")
PLOT_GP = os.path.join(SOURCE_DIR, "docs", "bench", "plot.gp")
BENCHMARKS_MD = os.path.join(SOURCE_DIR, "docs", "benchmarks.md")
PG_BIN = os.environ.get("SLUICE_PG_BIN", "/usr/lib/postgresql/15/bin")
HOST = "127.0.0.1"
USER, PASSWORD, DATABASE = "app", "app_pw", "app"  # SCRAM-SHA-256 at the server and at every proxy
# The connection storm logs in with md5: with SCRAM, libpq's PBKDF2 (4,096 HMACs, ~8 ms of pgbench's CPU
# per connection here) would bound every proxy alike and hide what the proxies themselves cost.
STORM_USER, STORM_PASSWORD = "md5user", "md5_pw"
IDLE_USER = "trustuser"  # trust at the server and at every proxy: the idle test measures the proxy, not SCRAM
PROXIES = ("direct", "sluice", "pgbouncer", "pgpool", "haproxy")
MODES = ("simple", "extended", "prepared")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
NOFILE = 65536  # wanted; without CAP_SYS_RESOURCE (a container) the hard limit caps it
DOCS_BEGIN = "<!-- compare.py results: begin -->"
DOCS_END = "<!-- compare.py results: end -->"

_started = []  # every process this harness started, stopped in reverse order at exit


def info(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Processes: start, stop, and what /proc says about a process tree.

def read_stat(pid):
    """(ppid, utime + stime + cutime + cstime in ticks) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return int(fields[1]), int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])


def process_tree(root):
    """The pids of `root` and all its descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(name)
            if st:
                children.setdefault(st[0], []).append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root):
    """CPU time (user + system) of a process tree: every thread of every live process, plus what its
    reaped children used (cutime, cstime)."""
    total = 0
    for pid in process_tree(root):
        st = read_stat(pid)
        if st:
            total += st[1]
    return total / CLK_TCK


def tree_memory_kib(root):
    """(RSS, PSS) in KiB summed over a process tree. PSS shares each shared page among the processes
    that map it, so it does not count pgpool-II's shared memory once per child."""
    rss = pss = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE_KIB
            with open(f"/proc/{pid}/smaps_rollup") as f:
                m = re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M)
                pss += int(m.group(1)) if m else 0
        except OSError:
            pass
    return rss, pss


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Process:
    """A child process in a session of its own (so Ctrl-C reaches only the harness, which stops it), with
    its output in a log file."""

    def __init__(self, name, args, log_path, env=None, cwd=None):
        self.name, self.args, self.log_path = name, args, log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env, cwd=cwd)
        self.pid = self.proc.pid
        _started.append(self)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGTERM to its process group (the session it leads), SIGKILL after `timeout`."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                info(f"{self.name} (pid {self.pid}) did not stop within {timeout} s of SIGTERM: SIGKILL")
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        # pgpool-II's children may outlive their parent for a moment; they are in its process group.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self in _started:
            _started.remove(self)
        self.log.close()
        return self.proc.returncode

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_all_started():
    for p in reversed(list(_started)):
        try:
            p.stop()
        except Exception as e:  # cleanup goes on
            info(f"stopping {p.name}: {e}")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def run(args, timeout=120, env=None, check=True):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}... failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r


def client_env(password=PASSWORD):
    return dict(os.environ, PGPASSWORD=password, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10",
                PGAPPNAME="sluice-bench")


def psql_value(port, sql, user=USER, dbname=DATABASE, host=HOST, password=PASSWORD, timeout=30):
    r = run([os.path.join(PG_BIN, "psql"), "-X", "-qAt", "-h", host, "-p", str(port), "-U", user, "-d", dbname,
             "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=timeout, env=client_env(password))
    return r.stdout.strip()


# ---------------------------------------------------------------------------------------------------
# The cluster.

class Sandbox:
    """integration/sandbox.sh in a directory of our own, on free ports, with max_connections raised so
    that 512 direct clients, pgpool-II's cached connections and the idle tests of the proxies that keep a
    server connection per client all fit."""

    def __init__(self, directory, keep):
        self.dir = directory
        self.keep = keep
        self.env = dict(os.environ, SLUICE_SANDBOX_DIR=directory, SLUICE_PG_PORT="auto", SLUICE_PORT="auto")
        self.ports = {}
        self.started = False

    def start(self):
        t0 = time.monotonic()
        r = run(["bash", SANDBOX_SH, "start"], timeout=180, env=self.env)
        self.started = True
        values = dict(re.findall(r"export (\w+)=(.*)", r.stdout))
        self.ports = {"primary": int(values["PRIMARY_PORT"]), "replica1": int(values["REPLICA1_PORT"]),
                      "replica2": int(values["REPLICA2_PORT"])}
        self.socket_dir = os.path.join(self.dir, "run")
        info(f"sandbox {self.dir} up in {time.monotonic() - t0:.1f} s: primary :{self.ports['primary']}, "
             f"replicas :{self.ports['replica1']} :{self.ports['replica2']}")

    def sql(self, node, sql, dbname="postgres"):
        """As the postgres superuser through the node's unix socket (pg_hba: local trust)."""
        return psql_value(self.ports[node], sql, user="postgres", dbname=dbname, host=self.socket_dir)

    def ensure_max_connections(self, want):
        have = int(self.sql("primary", "show max_connections"))
        if have >= want:
            return
        info(f"max_connections {have} -> {want} on every node (replicas first: a hot standby needs at least "
             f"the primary's), restarting them")
        for node in ("replica1", "replica2", "primary"):
            self.sql(node, f"alter system set max_connections = {want}")
        for node in ("replica1", "replica2", "primary"):
            run(["bash", SANDBOX_SH, "stop-node", node], timeout=120, env=self.env)
            run(["bash", SANDBOX_SH, "start-node", node], timeout=120, env=self.env)
        deadline = time.monotonic() + 60
        while self.sql("primary", "select count(*) from pg_stat_replication where state = 'streaming'") != "2":
            if time.monotonic() > deadline:
                raise RuntimeError("the replicas did not stream again within 60 s of the restart")
            time.sleep(0.2)

    def init_pgbench(self, scale):
        branches = self.sql("primary", "select case when to_regclass('pgbench_branches') is null then 0 "
                                       "else (select count(*) from pgbench_branches) end", dbname=DATABASE)
        if branches != str(scale):
            t0 = time.monotonic()
            run([os.path.join(PG_BIN, "pgbench"), "-i", "-q", "-s", str(scale), "-h", self.socket_dir,
                 "-p", str(self.ports["primary"]), "-U", USER, DATABASE], timeout=900, env=client_env())
            info(f"pgbench -i -s {scale} in {time.monotonic() - t0:.1f} s")
        self.sql("primary", "grant select, insert, update, delete on all tables in schema public "
                            "to md5user, plainuser, trustuser", dbname=DATABASE)
        self.wait_replayed()

    def wait_replayed(self, timeout=120):
        target = self.sql("primary", "select pg_current_wal_insert_lsn()")
        deadline = time.monotonic() + timeout
        for node in ("replica1", "replica2"):
            while self.sql(node, f"select pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") != "t":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{node} did not replay up to {target} within {timeout} s")
                time.sleep(0.1)

    def scram_verifier(self, user):
        return self.sql("primary", f"select rolpassword from pg_authid where rolname = '{user}'")

    def commits(self):
        """Transactions committed in database app on each node (pg_stat_database)."""
        return {node: int(self.sql(node, f"select xact_commit from pg_stat_database where datname = '{DATABASE}'"))
                for node in self.ports}

    def stop(self):
        if not self.started:
            return
        if self.keep:
            info(f"sandbox kept running in {self.dir} (--keep-sandbox); stop it with "
                 f"SLUICE_SANDBOX_DIR={self.dir} integration/sandbox.sh stop")
            return
        r = run(["bash", SANDBOX_SH, "stop"], timeout=180, env=self.env, check=False)
        if r.returncode != 0:
            info(f"sandbox.sh stop failed: {r.stderr.strip()}")
        self.started = False


# ---------------------------------------------------------------------------------------------------
# The proxies. Each writes its config into the work directory, starts in the foreground as our child,
# and is ready when a real login and query through it work.

class Proxy:
    name = "?"
    processes = True  # has a process of its own whose CPU and memory count

    def __init__(self, bench, port=None):
        self.bench = bench
        self.port = port or free_port()
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def describe(self):
        return ""

    def start(self):
        raise NotImplementedError

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc and not self.proc.alive():
                raise RuntimeError(f"{self.name} exited during start-up with status {self.proc.proc.returncode}:\n"
                                   + self.proc.log_tail())
            if port_open(self.port):
                try:
                    psql_value(self.port, "select 1", timeout=15)
                    return self
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    last = e
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready on :{self.port} within {timeout} s: {last}\n"
                           + (self.proc.log_tail() if self.proc else ""))

    def cpu_seconds(self):
        return tree_cpu_seconds(self.pid) if self.proc else None

    def memory_kib(self):
        return tree_memory_kib(self.pid) if self.proc else (None, None)

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def path(self, name):
        return os.path.join(self.bench.work, f"{self.name}-{self.port}-{name}")


class Direct(Proxy):
    name = "direct"
    processes = False

    def __init__(self, bench):
        super().__init__(bench, bench.sandbox.ports["primary"])

    def describe(self):
        return "no proxy: pgbench to the primary (one server process per client)"

    def start(self):
        return self.wait_ready()


class Sluice(Proxy):
    name = "sluice"

    def __init__(self, bench, split=False):
        super().__init__(bench)
        self.split = split

    def describe(self):
        a = self.bench.args
        if self.split:
            return (f"{a.sluice_workers} workers, pool.size {a.pool_size} per backend, transaction pooling, "
                    "primary + 2 replicas, read_write_split = true")
        return (f"{a.sluice_workers} workers, pool.size {a.pool_size} (per backend, whole proxy; "
                f"{-(-a.pool_size // a.sluice_workers)} per worker), transaction pooling, the primary only, "
                "read_write_split = false")

    def start(self):
        a, ports = self.bench.args, self.bench.sandbox.ports
        nodes = ("primary", "replica1", "replica2") if self.split else ("primary",)
        backends = "".join(
            f'\n[[backends]]\nname = "{n}"\nhost = "{HOST}"\nport = {ports[n]}\n'
            f'role = "{"primary" if n == "primary" else "replica"}"\n' for n in nodes)
        config = f"""# written by integration/bench/compare.py
listen = "{HOST}:{self.port}"
workers = {a.sluice_workers}

[pool]
size = {a.pool_size}
mode = "transaction"

[limits]
max_client_connections = 20000

[routing]
read_write_split = {"true" if self.split else "false"}

[health]
# The default 500 ms: on a saturated 2-core machine one late probe marks the only backend unreachable
# and sluice refuses queries the server would answer (see docs/benchmarks.md).
probe_timeout = "{a.sluice_probe_timeout}"
probe_interval = "{getattr(a, 'sluice_probe_interval', '250ms')}"

[logging]
level = "warn"
{backends}
[[users]]
name = "{USER}"
auth = "scram-sha-256"
password = "{PASSWORD}"

[[users]]
name = "{STORM_USER}"
auth = "md5"
password = "{STORM_PASSWORD}"

[[users]]
name = "{IDLE_USER}"
auth = "trust"
"""
        path = self.path("sluice.toml")
        with open(path, "w") as f:
            f.write(config)
        self.proc = Process("sluice", [self.bench.sluice_bin, "--config", path], self.path("sluice.log"))
        return self.wait_ready()


class PgBouncer(Proxy):
    name = "pgbouncer"

    def describe(self):
        return (f"pool_mode = transaction, default_pool_size = {self.bench.args.pool_size}, one process "
                "(single-threaded), SCRAM with the server's verifier in auth_file")

    def start(self):
        a, sb = self.bench.args, self.bench.sandbox
        verifier = sb.scram_verifier(USER)
        with open(self.path("userlist.txt"), "w") as f:
            # The server's SCRAM verifier: PgBouncer checks the client with it and, having seen the
            # client's proof, logs in to the server with the same keys (no plaintext needed).
            f.write(f'"{USER}" "{verifier}"\n"{STORM_USER}" "{STORM_PASSWORD}"\n"{IDLE_USER}" ""\n')
        with open(self.path("hba.conf"), "w") as f:
            f.write(f"host all {IDLE_USER} 127.0.0.1/32 trust\nhost all {STORM_USER} 127.0.0.1/32 md5\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        config = f"""; written by integration/bench/compare.py
[databases]
{DATABASE} = host={HOST} port={sb.ports['primary']} dbname={DATABASE}

[pgbouncer]
listen_addr = {HOST}
listen_port = {self.port}
listen_backlog = 4096
unix_socket_dir =
auth_type = hba
auth_hba_file = {self.path("hba.conf")}
auth_file = {self.path("userlist.txt")}
pool_mode = transaction
default_pool_size = {a.pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 20000
max_db_connections = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
log_stats = 0
query_wait_timeout = 120
"""
        path = self.path("pgbouncer.ini")
        with open(path, "w") as f:
            f.write(config)
        for name in ("userlist.txt", "hba.conf", "pgbouncer.ini"):
            os.chmod(self.path(name), 0o644)
        # PgBouncer refuses to run as root: -u drops to postgres after reading its files.
        self.proc = Process("pgbouncer", ["/usr/sbin/pgbouncer", "-u", "postgres", path], self.path("pgbouncer.log"))
        return self.wait_ready()


class Pgpool(Proxy):
    name = "pgpool"

    def __init__(self, bench, children, split=False):
        super().__init__(bench)
        self.children = children
        self.split = split

    def describe(self):
        if self.split:
            return (f"streaming_replication mode, load_balance_mode = on (weights: primary 0, replicas 1), "
                    f"{self.children} children, max_pool 1 (no transaction pooling: a child and its server "
                    "connection per client session)")
        return (f"raw mode, the primary only, num_init_children = {self.children}, max_pool = 1 (pgpool-II has no "
                "transaction pooling: one child process and one server connection per client session; "
                "connection_cache keeps it for the next client)")

    def start(self):
        sb = self.bench.sandbox
        d = self.path("pgpool")
        os.makedirs(d, exist_ok=True)
        nodes = ("primary", "replica1", "replica2") if self.split else ("primary",)
        backends = ""
        for i, n in enumerate(nodes):
            weight = 0 if (self.split and n == "primary") else 1
            backends += (f"backend_hostname{i} = '{HOST}'\nbackend_port{i} = {sb.ports[n]}\n"
                         f"backend_weight{i} = {weight}\nbackend_flag{i} = 'DISALLOW_TO_FAILOVER'\n"
                         f"backend_application_name{i} = '{n}'\n")
        config = f"""# written by integration/bench/compare.py
backend_clustering_mode = '{"streaming_replication" if self.split else "raw"}'
listen_addresses = '{HOST}'
port = {self.port}
unix_socket_directories = '{d}'
pcp_listen_addresses = ''
pcp_port = {self.port + 1}
pcp_socket_dir = '{d}'
pid_file_name = '{d}/pgpool.pid'
logdir = '{d}'
log_destination = 'stderr'
log_min_messages = warning
log_connections = off
{backends}
enable_pool_hba = on
pool_passwd = '{d}/pool_passwd'
allow_clear_text_frontend_auth = off
num_init_children = {self.children}
max_pool = 1
reserved_connections = 0
listen_backlog_multiplier = 2
child_life_time = 0
child_max_connections = 0
connection_life_time = 0
client_idle_limit = 0
connection_cache = on
load_balance_mode = {"on" if self.split else "off"}
statement_level_load_balance = off
sr_check_period = 0
sr_check_user = 'postgres'
sr_check_password = ''
health_check_period = 0
failover_on_backend_error = off
use_watchdog = off
memory_cache_enabled = off
"""
        with open(os.path.join(d, "pgpool.conf"), "w") as f:
            f.write(config)
        with open(os.path.join(d, "pool_passwd"), "w") as f:
            f.write(f"{USER}:TEXT{PASSWORD}\n{STORM_USER}:TEXT{STORM_PASSWORD}\n")
        os.chmod(os.path.join(d, "pool_passwd"), 0o600)
        with open(os.path.join(d, "pool_hba.conf"), "w") as f:
            f.write(f"host all {IDLE_USER} 127.0.0.1/32 trust\nhost all {STORM_USER} 127.0.0.1/32 md5\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        with open(os.path.join(d, "pcp.conf"), "w") as f:
            f.write("")
        self.proc = Process("pgpool", ["/usr/sbin/pgpool", "-n", "-D", "-f", os.path.join(d, "pgpool.conf"),
                                       "-a", os.path.join(d, "pool_hba.conf"), "-F", os.path.join(d, "pcp.conf")],
                            self.path("pgpool.log"))
        return self.wait_ready(timeout=120)


class HAProxy(Proxy):
    name = "haproxy"

    def describe(self):
        return "mode tcp, one server (the primary), no pooling: a server connection per client connection"

    def start(self):
        sb = self.bench.sandbox
        config = f"""# written by integration/bench/compare.py
global
    maxconn 8000
    log stdout format raw local0 err

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend pg
    bind {HOST}:{self.port}
    maxconn 8000
    default_backend primary

backend primary
    server primary {HOST}:{sb.ports['primary']}
"""
        path = self.path("haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        self.proc = Process("haproxy", ["/usr/sbin/haproxy", "-db", "-f", path], self.path("haproxy.log"))
        return self.wait_ready()


# ---------------------------------------------------------------------------------------------------
# pgbench.

def parse_pgbench(out):
    def num(pattern):
        m = re.search(pattern, out, re.M)
        return float(m.group(1)) if m else None
    return {
        "tps": num(r"^tps = ([\d.]+)"),
        "transactions": num(r"^number of transactions actually processed: (\d+)"),
        "failed": num(r"^number of failed transactions: (\d+)"),
        "lat_avg_ms": num(r"^latency average = ([\d.]+) ms"),
        "conn_avg_ms": num(r"^average connection time = ([\d.]+) ms"),
    }


def percentile(values, p):
    """The p-th percentile by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


class Cell:
    """One workload: pgbench script, query mode, clients, and whether each transaction connects anew."""

    def __init__(self, workload, mode, clients, connect=False):
        self.workload, self.mode, self.clients, self.connect = workload, mode, clients, connect

    @property
    def key(self):
        return f"{self.workload}/{self.mode}/{self.clients}" + ("/connect" if self.connect else "")

    def label(self):
        w = "-S" if self.workload == "select" else "tpcb-like"
        return f"{w} -M {self.mode} -c {self.clients}" + (" -C" if self.connect else "")

    @property
    def user(self):
        return (STORM_USER, STORM_PASSWORD) if self.connect else (USER, PASSWORD)

    def duration(self, base):
        """pgbench's -T counts the initial connections (not in its tps): 512 SCRAM logins take seconds
        here, so large client counts get that much longer."""
        return base + (self.clients // 100 if not self.connect else 0)

    def pgbench_args(self, jobs, storm_jobs):
        # With -C each pgbench thread connects its clients one at a time, blocking: a storm needs threads.
        j = min(storm_jobs if self.connect else jobs, self.clients)
        args = ["-M", self.mode, "-c", str(self.clients), "-j", str(j)]
        if self.workload == "select":
            args.insert(0, "-S")
        if self.connect:
            args.append("-C")
        return args


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work_dir
        self.sluice_bin = None
        self.sandbox = None

    # -- pgbench -------------------------------------------------------------------------------------

    def pgbench(self, proxy, cell, duration, log=True):
        """One pgbench run through `proxy`; returns its figures (and the proxy's CPU seconds used)."""
        a = self.args
        prefix = os.path.join(self.work, "pgbench-log", "tx")
        shutil.rmtree(os.path.dirname(prefix), ignore_errors=True)
        os.makedirs(os.path.dirname(prefix))
        user, password = cell.user
        cmd = [os.path.join(PG_BIN, "pgbench"), "-h", HOST, "-p", str(proxy.port), "-U", user, "-n",
               *cell.pgbench_args(a.jobs, a.storm_jobs), "-T", str(cell.duration(duration))]
        if log:
            cmd += ["-l", "--log-prefix", prefix, f"--sampling-rate={a.sampling_rate}"]
        cmd.append(DATABASE)
        cpu0 = proxy.cpu_seconds()
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=client_env(password), cwd=self.work,
                               timeout=duration + 120 + cell.clients * 0.2)
            out, rc = r.stdout + r.stderr, r.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
        wall = time.monotonic() - t0
        cpu1 = proxy.cpu_seconds()
        res = parse_pgbench(out)
        res.update(rc=rc, wall_s=round(wall, 2))
        lat = []
        if log:
            for name in os.listdir(os.path.dirname(prefix)):
                with open(os.path.join(os.path.dirname(prefix), name)) as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) >= 3 and parts[2].isdigit():
                            lat.append(int(parts[2]))
        res["p99_ms"] = percentile(lat, 99) / 1000.0 if lat else None
        res["samples"] = len(lat)
        if cpu0 is not None and cpu1 is not None:
            res["cpu_s"] = round(cpu1 - cpu0, 3)
            if res["transactions"]:
                res["cpu_us_per_tx"] = (cpu1 - cpu0) * 1e6 / res["transactions"]
        errors = []
        if rc != 0:
            errors.append(f"pgbench exit {rc}")
        if res["failed"]:
            errors.append(f"{int(res['failed'])} failed transactions")
        if "aborted" in out or "Run was aborted" in out:
            errors.append("clients aborted")
        if not res["tps"]:
            errors.append("no tps")
        if proxy.proc and not proxy.proc.alive():
            errors.append(f"{proxy.name} exited")
        if errors:
            lines = out.splitlines()
            # The line that aborted a client says most; else the first error.
            first = next((ln for ln in lines if "aborted in command" in ln),
                         next((ln for ln in lines if "error" in ln.lower() or "fatal" in ln.lower()), ""))
            res["error"] = "; ".join(errors) + (f": {first.strip()[:200]}" if first else "")
            res["output_tail"] = lines[-15:]
        return res

    # -- the matrix ----------------------------------------------------------------------------------

    def cells(self):
        a = self.args
        cells = [Cell("select", m, c) for c in a.clients for m in a.modes]
        cells += [Cell("tpcb", a.tpcb_mode, c) for c in a.tpcb_clients]
        cells += [Cell("select", "simple", c, connect=True) for c in a.storm_clients]
        return cells

    def run_matrix(self, proxies):
        a = self.args
        cells = self.cells()
        total = sum(len(proxies) * (a.runs * (c.duration(a.duration) + 1.5) + (a.warmup + 1.5 if a.warmup else 0))
                    for c in cells)
        info(f"{len(cells)} cells x {len(proxies)} proxies x {a.runs} runs of {a.duration} s "
             f"(+ {a.warmup} s warm-up each): about {total / 60:.0f} min")
        results = []
        for cell in cells:
            runs = {p.name: [] for p in proxies}
            if a.warmup:
                for p in proxies:
                    self.pgbench(p, cell, a.warmup, log=False)
            for i in range(a.runs):
                order = proxies if i % 2 == 0 else list(reversed(proxies))  # A B C, C B A: no proxy always first
                for p in order:
                    res = self.pgbench(p, cell, a.duration)
                    runs[p.name].append(res)
                    info(f"{cell.label():<32} {p.name:<9} run {i + 1}: "
                         + (f"tps {res['tps']:.0f}" if res["tps"] else "tps -")
                         + (f", cpu {res['cpu_us_per_tx']:.1f} us/tx" if res.get("cpu_us_per_tx") else "")
                         + (f"  ERROR {res['error']}" if res.get("error") else ""))
            for p in proxies:
                results.append(self.summarize_cell(cell, p, runs[p.name]))
            direct = next((r for r in results if r["cell"] == cell.key and r["proxy"] == "direct"), None)
            for r in results:
                if r["cell"] == cell.key:
                    r["ratio_direct"] = (r["tps"] / direct["tps"]) if direct and direct["tps"] and r["tps"] else None
        return results

    @staticmethod
    def summarize_cell(cell, proxy, runs):
        ok = [r for r in runs if not r.get("error")]

        def med(key):
            vals = [r[key] for r in ok if r.get(key) is not None]
            return statistics.median(vals) if vals else None
        return {
            "cell": cell.key, "workload": cell.workload, "mode": cell.mode, "clients": cell.clients,
            "connect": cell.connect, "label": cell.label(), "proxy": proxy.name,
            "tps": med("tps"), "lat_avg_ms": med("lat_avg_ms"), "p99_ms": med("p99_ms"),
            "cpu_us_per_tx": med("cpu_us_per_tx"), "runs_ok": len(ok), "runs": len(runs),
            "errors": [r["error"] for r in runs if r.get("error")], "raw": runs,
        }

    # -- memory: idle clients ------------------------------------------------------------------------

    def run_idle(self):
        a = self.args
        results = []
        limit = a.idle_backend_limit
        for name in a.idle_proxies:
            counts = a.idle_counts
            if name in ("pgpool", "haproxy"):
                feasible = [c for c in counts if c <= limit]
                skipped = [c for c in counts if c > limit]
            else:
                feasible, skipped = counts, []
            if not feasible:
                results.append({"proxy": name, "points": [], "skipped": skipped,
                                "note": f"each client needs a server connection; above --idle-backend-limit {limit}"})
                continue
            if name == "sluice":
                proxy = Sluice(self)
            elif name == "pgbouncer":
                proxy = PgBouncer(self)
            elif name == "pgpool":
                proxy = Pgpool(self, children=max(feasible) + 2)
            else:
                proxy = HAProxy(self)
            t0 = time.monotonic()
            proxy.start()
            clients = IdleClients(HOST, proxy.port, IDLE_USER, DATABASE, parallel=a.idle_parallel)
            try:
                clients.open(1)  # warm: the pool's server connection, cached parameters
                clients.close()
                time.sleep(1.0)
                base_rss, base_pss = proxy.memory_kib()
                points = [{"clients": 0, "rss_kib": base_rss, "pss_kib": base_pss}]
                for n in feasible:
                    t1 = time.monotonic()
                    clients.open(n - len(clients))
                    took = time.monotonic() - t1
                    time.sleep(a.idle_settle)
                    rss, pss = proxy.memory_kib()
                    alive = clients.alive()
                    pt = {"clients": n, "rss_kib": rss, "pss_kib": pss, "open_s": round(took, 2), "alive": alive,
                          "rss_kib_per_client": (rss - base_rss) / n, "pss_kib_per_client": (pss - base_pss) / n}
                    points.append(pt)
                    info(f"idle {name:<9} {n:>6} clients: RSS {rss / 1024:.1f} MiB, PSS {pss / 1024:.1f} MiB, "
                         f"+{pt['rss_kib_per_client']:.2f} KiB/client (RSS), {alive} alive, opened in {took:.1f} s")
                if len(points) > 2:
                    lo, hi = points[1], points[-1]
                    slope = (hi["rss_kib"] - lo["rss_kib"]) / (hi["clients"] - lo["clients"])
                else:
                    slope = None
                results.append({"proxy": name, "points": points, "skipped": skipped, "slope_kib_per_client": slope,
                                "note": (f"{', '.join(map(str, skipped))}: n/a, each client needs its own server "
                                         f"connection (and pgpool-II a child process); measured up to {limit}")
                                if skipped else "", "seconds": round(time.monotonic() - t0, 1)})
            except RuntimeError as e:
                info(f"idle {name}: {e}")
                results.append({"proxy": name, "points": [], "skipped": counts, "error": str(e)})
            finally:
                clients.close()
                proxy.stop()
                time.sleep(1.0)  # let the server connections go before the next proxy
        return results

    # -- read split ----------------------------------------------------------------------------------

    def run_split(self):
        a = self.args
        cell = Cell("select", a.split_mode, a.split_clients)
        proxies = [Sluice(self, split=True), Pgpool(self, children=a.split_clients + 2, split=True)]
        for p in proxies:
            p.start()
        runs = {p.name: [] for p in proxies}
        try:
            if a.warmup:
                for p in proxies:
                    self.pgbench(p, cell, a.warmup, log=False)
            for i in range(a.runs):
                for p in (proxies if i % 2 == 0 else list(reversed(proxies))):
                    time.sleep(1.5)  # idle server processes flush their statistics within a second
                    before = self.sandbox.commits()
                    res = self.pgbench(p, cell, a.duration)
                    time.sleep(1.5)
                    after = self.sandbox.commits()
                    delta = {n: after[n] - before[n] for n in after}
                    total = sum(delta.values()) or 1
                    res["share"] = {n: delta[n] / total for n in delta}
                    res["commits"] = delta
                    runs[p.name].append(res)
                    info(f"split {p.name:<7} run {i + 1}: tps {res['tps'] or 0:.0f}, reads "
                         + ", ".join(f"{n} {res['share'][n] * 100:.0f}%" for n in delta)
                         + (f"  ERROR {res['error']}" if res.get("error") else ""))
        finally:
            descriptions = {p.name: p.describe() for p in proxies}
            for p in proxies:
                p.stop()
        out = []
        for p in proxies:
            s = self.summarize_cell(cell, p, runs[p.name])
            ok = [r for r in runs[p.name] if not r.get("error")]
            s["share"] = {n: statistics.median(r["share"][n] for r in ok) for n in self.sandbox.ports} if ok else {}
            s["config"] = descriptions[p.name]
            out.append(s)
        return out


# ---------------------------------------------------------------------------------------------------
# Reporting.

def fmt(v, spec=".0f", none="-"):
    return none if v is None else format(v, spec)


def matrix_table(results):
    lines = [f"{'workload':<30} {'proxy':<10} {'TPS':>8} {'x direct':>8} {'lat ms':>8} {'p99 ms':>8} "
             f"{'CPU us/tx':>9} {'runs':>5}  errors"]
    last = None
    for r in results:
        if last and last != r["cell"]:
            lines.append("")
        last = r["cell"]
        err = (r["errors"][0][:70] if r["errors"] else "")
        lines.append(f"{r['label']:<30} {r['proxy']:<10} {fmt(r['tps']):>8} {fmt(r.get('ratio_direct'), '.2f'):>8} "
                     f"{fmt(r['lat_avg_ms'], '.2f'):>8} {fmt(r['p99_ms'], '.2f'):>8} "
                     f"{fmt(r['cpu_us_per_tx'], '.1f'):>9} {r['runs_ok']:>2}/{r['runs']:<2}  {err}")
    return "\n".join(lines)


def idle_table(idle):
    counts = sorted({p["clients"] for r in idle for p in r["points"] if p["clients"]} |
                    {c for r in idle for c in r.get("skipped", [])})
    head = f"{'proxy':<10} {'idle MiB':>9}" + "".join(f" {f'{c} cl. MiB':>13}" for c in counts) + \
        f" {'KiB/client':>11} {'slope KiB':>10}  note"
    lines = [head]
    for r in idle:
        pts = {p["clients"]: p for p in r["points"]}
        base = pts.get(0)
        row = f"{r['proxy']:<10} {fmt(base['rss_kib'] / 1024 if base else None, '.1f'):>9}"
        for c in counts:
            p = pts.get(c)
            row += f" {fmt(p['rss_kib'] / 1024 if p else None, '.1f', 'n/a'):>13}"
        top = max((p for p in r["points"] if p["clients"]), key=lambda p: p["clients"], default=None)
        row += f" {fmt(top['rss_kib_per_client'] if top else None, '.2f'):>11}"
        row += f" {fmt(r.get('slope_kib_per_client'), '.2f'):>10}  {r.get('error') or r.get('note') or ''}"
        lines.append(row)
        if r["proxy"] == "pgpool" and r["points"]:
            lines.append(f"{'  (PSS)':<10} {fmt(base['pss_kib'] / 1024, '.1f'):>9}" +
                         "".join(f" {fmt(pts[c]['pss_kib'] / 1024 if c in pts else None, '.1f', 'n/a'):>13}"
                                 for c in counts) +
                         f" {fmt(top['pss_kib_per_client'] if top else None, '.2f'):>11}")
    return "\n".join(lines)


def split_table(split):
    nodes = ("primary", "replica1", "replica2")
    lines = [f"{'proxy':<8} {'TPS':>8} {'lat ms':>8} {'p99 ms':>8} {'CPU us/tx':>9}" +
             "".join(f" {n:>9}" for n in nodes) + "  config"]
    for r in split:
        shares = {n: r["share"][n] * 100 for n in r["share"]}
        lines.append(f"{r['proxy']:<8} {fmt(r['tps']):>8} {fmt(r['lat_avg_ms'], '.2f'):>8} "
                     f"{fmt(r['p99_ms'], '.2f'):>8} {fmt(r['cpu_us_per_tx'], '.1f'):>9}" +
                     "".join(f" {fmt(shares.get(n), '.1f'):>8}%" for n in nodes) + f"  {r['config']}")
    return "\n".join(lines)


def targets(results, idle):
    """Each target of the benchmark issue: (what, measured, PASS | MISS | N/A, detail)."""
    by = {(r["cell"], r["proxy"]): r for r in results}
    out = []

    def ratio(a, b):
        return a / b if a is not None and b else None

    def verdict(value, ok):
        return "N/A" if value is None else ("PASS" if ok(value) else "MISS")

    def why_na(*rs):
        for r in rs:
            if r is None:
                return "not measured"
            if r["tps"] is None:
                return f"{r['proxy']} failed: {r['errors'][0][:90] if r['errors'] else 'no result'}"
        return ""

    for clients in (16, 64):
        for mode in MODES:
            key = f"select/{mode}/{clients}"
            s, b, d = by.get((key, "sluice")), by.get((key, "pgbouncer")), by.get((key, "direct"))
            if s is None:
                continue
            v = ratio(s["tps"], b and b["tps"])
            out.append((f"-S -M {mode} -c {clients}: sluice TPS >= 1.1x PgBouncer", v, verdict(v, lambda x: x >= 1.1),
                        why_na(s, b)))
            v = ratio(s["tps"], d and d["tps"])
            out.append((f"-S -M {mode} -c {clients}: sluice TPS >= 0.9x direct", v, verdict(v, lambda x: x >= 0.9),
                        why_na(s, d)))
            v = ratio(s["cpu_us_per_tx"], b and b["cpu_us_per_tx"])
            out.append((f"-S -M {mode} -c {clients}: sluice CPU/tx <= 0.8x PgBouncer", v,
                        verdict(v, lambda x: x <= 0.8), why_na(s, b)))
    heavy = [k for k in dict.fromkeys(r["cell"] for r in results)
             if k.startswith("select/") and (k.endswith("/connect") or k.split("/")[2] == "512")]
    for key in heavy:
        s, b = by.get((key, "sluice")), by.get((key, "pgbouncer"))
        if s is None:
            continue
        v = ratio(s["tps"], b and b["tps"])
        no_error = not s["errors"]
        st = "MISS" if not no_error else verdict(v, lambda x: x >= 1.0)
        out.append((f"{s['label']}: sluice no error and TPS >= PgBouncer", v, st,
                    ("sluice errors: " + s["errors"][0][:90]) if not no_error else why_na(s, b)))
    for r in idle:
        if r["proxy"] != "sluice":
            continue
        pt = next((p for p in r["points"] if p["clients"] == 10000), None)
        v = pt["rss_kib_per_client"] if pt else None
        out.append(("10,000 idle clients: sluice RSS increment <= 8 KiB per client", v, verdict(v, lambda x: x <= 8.0),
                    "" if pt else (r.get("error") or "10,000 not measured")))
    for key in dict.fromkeys(r["cell"] for r in results):
        if not key.startswith("tpcb/"):
            continue
        s, b = by.get((key, "sluice")), by.get((key, "pgbouncer"))
        if s is None:
            continue
        v = ratio(s["tps"], b and b["tps"])
        out.append((f"{s['label']}: sluice TPS >= 0.95x PgBouncer", v, verdict(v, lambda x: x >= 0.95), why_na(s, b)))
    return out


def targets_table(tg, what_width=58, value_width=6):
    """(what, value, PASS | MISS | N/A, detail) rows as text; mysql_bench.py uses it with its own widths."""
    return "\n".join(f"{st:<5} {what:<{what_width}} {fmt(v, '.2f'):>{value_width}}" + (f"  ({detail})" if detail else "")
                     for what, v, st, detail in tg)


def write_plot_data(out_dir, results):
    """tps.dat and cpu.dat: one row per (-M mode, clients) of the -S cells at 16 and 64 clients, one column
    per proxy ('-' where there is no figure); cpu.dat has no column for direct. plot.gp draws them.
    Returns the column names of each."""
    names = {}
    for key, fname in (("tps", "tps.dat"), ("cpu_us_per_tx", "cpu.dat")):
        cols = [p for p in PROXIES if any(r["proxy"] == p for r in results) and not (key != "tps" and p == "direct")]
        names[key] = cols
        with open(os.path.join(out_dir, fname), "w") as f:
            f.write("# case " + " ".join(cols) + "\n")
            for clients in (16, 64):
                for mode in MODES:
                    rows = {r["proxy"]: r for r in results if r["cell"] == f"select/{mode}/{clients}"}
                    if not rows:
                        continue
                    vals = []
                    for p in cols:
                        v = rows.get(p, {}).get(key)
                        vals.append("-" if v is None else f"{v:.2f}")
                    f.write(f'"{mode} -c {clients}" ' + " ".join(vals) + "\n")
    return names


def plot(out_dir, results):
    names = write_plot_data(out_dir, results)
    if not shutil.which("gnuplot"):
        info("gnuplot not found: no plot (integration/bench/install-peers.sh installs it)")
        return []
    r = subprocess.run(["gnuplot", "-e", f"dir='{out_dir}'; tps_names='{' '.join(names['tps'])}'; "
                        f"cpu_names='{' '.join(names['cpu_us_per_tx'])}'", PLOT_GP], capture_output=True, text=True)
    if r.returncode != 0:
        info(f"gnuplot failed: {r.stderr.strip()}")
        return []
    return [os.path.join(out_dir, f) for f in ("tps.png", "cpu.png")]


def git_commit(directory):
    """The short commit of the checkout holding `directory`, noting uncommitted changes; "?" outside one.
    Also used by mysql_bench.py."""
    r = subprocess.run(["git", "-C", directory, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if r.returncode != 0:
        return "?"
    dirty = subprocess.run(["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def machine_info(args, sluice_bin):
    def first(path, pattern):
        try:
            m = re.search(pattern, open(path).read(), re.M)
            return m.group(1).strip() if m else "?"
        except OSError:
            return "?"

    def version(cmd, pattern=r"(\S+)$"):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            text = (out.stdout + out.stderr).strip().splitlines()[0]
            m = re.search(pattern, text)
            return m.group(1) if m else text
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    commit = git_commit(os.path.dirname(os.path.realpath(sluice_bin)))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": first("/proc/cpuinfo", r"^model name\s*:\s*(.*)$"),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "os": first("/etc/os-release", r'^PRETTY_NAME="?([^"\n]*)'),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "postgresql": version([os.path.join(PG_BIN, "postgres"), "--version"], r"\) (\S+)"),
        "pgbench": version([os.path.join(PG_BIN, "pgbench"), "--version"], r"\) (\S+)"),
        "pgbouncer": version(["/usr/sbin/pgbouncer", "--version"]),
        "pgpool": version(["/usr/sbin/pgpool", "--version"], r"version (\S+)"),
        "haproxy": version(["/usr/sbin/haproxy", "-v"], r"version (\S+)"),
        "sluice": f"{sluice_bin} (commit {commit})",
    }


def markdown(report):
    m, s = report["machine"], report["settings"]
    out = [f"Run of {m['date']} (`{' '.join(report['command'])}`), {report['elapsed_min']:.0f} min.", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, Linux {m['kernel']}; "
           f"load average at the start {' '.join(m['loadavg_start'])}, at the end "
           f"{' '.join(m.get('loadavg_end', ['?']))}. PostgreSQL {m['postgresql']}, "
           f"PgBouncer {m['pgbouncer']}, pgpool-II {m['pgpool']}, HAProxy {m['haproxy']}; sluice {m['sluice']}.", "",
           f"Settings: pgbench -T {s['duration']} s x {s['runs']} runs per cell (median), -j {s['jobs']}, scale "
           f"{s['scale']}, pool size {s['pool_size']}, sluice workers {s['sluice_workers']}, p99 from "
           f"`pgbench -l --sampling-rate={s['sampling_rate']}`.", "",
           "```", report["tables"]["matrix"], "```", ""]
    if report["tables"].get("idle"):
        out += ["Idle clients (RSS of the proxy's processes; KiB/client from no clients to the most measured; slope "
                "between the fewest and the most):", "", "```", report["tables"]["idle"], "```", ""]
    if report["tables"].get("split"):
        out += ["Read split (`-S`, where the reads went, from `pg_stat_database.xact_commit` on each node):", "",
                "```", report["tables"]["split"], "```", ""]
    out += ["Targets:", "", "```", report["tables"]["targets"], "```", ""]
    if report.get("plots"):
        out += ["![TPS](bench/tps.png)", "", "![CPU per transaction](bench/cpu.png)", ""]
    return "\n".join(out)


def replace_between_markers(text, begin, end, body):
    """`text` with what lies between the lines `begin` and `end` replaced by `body` (both markers kept)."""
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + body + "\n" + end + tail


def update_docs(report):
    try:
        text = open(BENCHMARKS_MD).read()
    except OSError:
        info(f"no {BENCHMARKS_MD}: not updated")
        return
    if DOCS_BEGIN not in text or DOCS_END not in text:
        info(f"{BENCHMARKS_MD} lacks the result markers: not updated")
        return
    with open(BENCHMARKS_MD, "w") as f:
        f.write(replace_between_markers(text, DOCS_BEGIN, DOCS_END, markdown(report)))
    info(f"updated the results in {BENCHMARKS_MD}")


# ---------------------------------------------------------------------------------------------------

def ensure_sluice(args):
    if args.sluice_bin:
        if not os.access(args.sluice_bin, os.X_OK):
            raise RuntimeError(f"no sluice binary at {args.sluice_bin}")
        return os.path.abspath(args.sluice_bin)
    build = os.path.join(SOURCE_DIR, "build", "bench")
    binary = os.path.join(build, "router", "sluice")
    if not os.access(binary, os.X_OK):
        info(f"building sluice (Release) in {build}")
        run(["cmake", "-S", SOURCE_DIR, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DSLUICE_TESTS=OFF"],
            timeout=600)
        run(["cmake", "--build", build, "-j2", "--target", "sluice"], timeout=3600)
    return binary


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=_HelpFormatter,
                                epilog="The full matrix takes about 40 minutes on 2 cores; --quick about 5. "
                                       "See docs/benchmarks.md.")
    p.add_argument("--quick", action="store_true",
                   help="for development: -T 3, 1 run, every -M mode at 16 clients but only simple at 64 and 512, "
                        "tpcb-like and the storm at 16, idle 500 and 2,000 clients, results in /tmp/sluice-bench-quick")
    p.add_argument("--sluice-bin", default=os.environ.get("SLUICE_BIN"),
                   help="the sluice binary (default: build/bench/router/sluice, built with cmake if missing)")
    p.add_argument("--proxies", default=",".join(PROXIES), help="which of " + ",".join(PROXIES))
    p.add_argument("--duration", type=int, default=10, help="pgbench -T, seconds per run")
    p.add_argument("--runs", type=int, default=3, help="runs per cell and proxy (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of pgbench per cell and proxy before the runs")
    p.add_argument("--modes", default=",".join(MODES), help="pgbench -M modes for -S")
    p.add_argument("--clients", default="16,64,512", help="client counts for -S")
    p.add_argument("--tpcb-clients", default="16,64", help="client counts for the tpcb-like script")
    p.add_argument("--tpcb-mode", default="simple", help="-M for tpcb-like (simple: PgBouncer 1.18 cannot "
                   "do prepared in transaction pooling)")
    p.add_argument("--storm-clients", default="64", help="client counts for the connection storm (-S -C)")
    p.add_argument("--jobs", type=int, default=2, help="pgbench -j")
    p.add_argument("--storm-jobs", type=int, default=16, help="pgbench -j for the connection storm")
    p.add_argument("--scale", type=int, default=10, help="pgbench -i -s")
    p.add_argument("--sampling-rate", type=float, default=0.2, help="pgbench --sampling-rate for the latency log")
    p.add_argument("--pool-size", type=int, default=8, help="server connections per pool, every pooler")
    # sluice's own default (workers = 0): one per two CPUs, at least one (docs/benchmarks.md, "Worker count").
    p.add_argument("--sluice-workers", type=int, default=max(1, (os.cpu_count() or 1) // 2), help="sluice's workers")
    p.add_argument("--sluice-probe-timeout", default="2s", help="sluice's health.probe_timeout")
    p.add_argument("--idle-counts", default="1000,5000,10000", help="idle client counts (ascending)")
    p.add_argument("--idle-proxies", default="sluice,pgbouncer,pgpool,haproxy", help="proxies in the idle test")
    p.add_argument("--idle-backend-limit", type=int, default=1000,
                   help="most idle clients for proxies that need a server connection per client (pgpool-II, HAProxy)")
    p.add_argument("--idle-parallel", type=int, default=64, help="idle client handshakes in flight")
    p.add_argument("--idle-settle", type=float, default=1.0, help="seconds between opening and measuring")
    p.add_argument("--split-clients", type=int, default=16, help="pgbench -c of the read-split case")
    p.add_argument("--split-mode", default="simple", help="pgbench -M of the read-split case")
    p.add_argument("--no-matrix", action="store_true", help="skip the pgbench matrix")
    p.add_argument("--no-idle", action="store_true", help="skip the idle-client memory test")
    p.add_argument("--no-split", action="store_true", help="skip the read-split case")
    p.add_argument("--no-install", action="store_true", help="do not run install-peers.sh")
    p.add_argument("--out", default=None, help="results directory (default docs/bench; /tmp/sluice-bench-quick "
                   "with --quick)")
    p.add_argument("--update-docs", choices=("auto", "yes", "no"), default="auto",
                   help="rewrite the results section of docs/benchmarks.md (auto: unless --quick or --out)")
    p.add_argument("--sandbox-dir", default="/tmp/sluice-bench-sandbox")
    p.add_argument("--work-dir", default="/tmp/sluice-bench-work", help="proxy configs and logs (emptied first)")
    p.add_argument("--keep-sandbox", action="store_true", help="leave the cluster running at the end")
    p.add_argument("--from-json", metavar="FILE", help="run nothing: print and write the tables, targets, plots "
                   "(and docs, see --update-docs) again from an earlier results.json")
    args = p.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    given = {a.dest for a in p._actions
             if any(w == o or w.startswith(o + "=") for o in a.option_strings for w in words)}
    if args.quick:
        quick = {"duration": 3, "runs": 1, "clients": "16,64,512", "modes": ",".join(MODES), "tpcb_clients": "16",
                 "storm_clients": "16", "idle_counts": "500,2000", "idle_backend_limit": 500}
        for k, v in quick.items():
            if k not in given:
                setattr(args, k, v)
    args.proxies = [x for x in args.proxies.split(",") if x]
    args.idle_proxies = [x for x in args.idle_proxies.split(",") if x]
    args.modes = [x for x in args.modes.split(",") if x]
    for k in ("clients", "tpcb_clients", "storm_clients", "idle_counts"):
        setattr(args, k, int_list(getattr(args, k)))
    for x in args.proxies + args.idle_proxies:
        if x not in PROXIES:
            p.error(f"unknown proxy {x!r}")
    if args.quick:
        # Fewer cells: every mode at 16 clients, simple only at 64 and 512.
        args.cell_filter = lambda c: c.clients == 16 or c.mode == "simple" or c.connect
    else:
        args.cell_filter = None
    if args.out is None:
        args.out = "/tmp/sluice-bench-quick" if args.quick else os.path.join(SOURCE_DIR, "docs", "bench")
        default_out = not args.quick
    else:
        default_out = False
    args.write_docs = args.update_docs == "yes" or (args.update_docs == "auto" and default_out)
    return args


def finish(report, args):
    """Tables, targets, results.json, results.md, plots and (maybe) docs/benchmarks.md from the figures."""
    results, idle, split = report["matrix"], report["idle"], report["split"]
    tg = targets(results, idle)
    report["targets"] = [{"target": w, "value": v, "status": s, "detail": d} for w, v, s, d in tg]
    report["tables"] = {"matrix": matrix_table(results) if results else "",
                        "idle": idle_table(idle) if idle else "",
                        "split": split_table(split) if split else "",
                        "targets": targets_table(tg)}
    report["plots"] = plot(args.out, results) if results else []
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(markdown(report))
    if args.write_docs:
        update_docs(report)

    print()
    for name, d in report.get("proxies", {}).items():
        print(f"{name:<10} {d}")
    for section, title in (("matrix", "pgbench (median of runs)"), ("idle", "idle clients: RSS"),
                           ("split", "read split: share of reads per node"), ("targets", "targets")):
        if report["tables"][section]:
            print(f"\n== {title}\n{report['tables'][section]}")
    print(f"\nresults: {os.path.join(args.out, 'results.json')}" +
          (f", plots {', '.join(report['plots'])}" if report["plots"] else "") +
          f"; {report['elapsed_min']:.1f} min in all")


def main():
    args = parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            report = json.load(f)
        os.makedirs(args.out, exist_ok=True)
        finish(report, args)
        return 0
    if os.geteuid() != 0:
        print("compare.py: run as root (the sandbox runs PostgreSQL as the postgres user)", file=sys.stderr)
        return 2
    t_start = time.monotonic()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    # Explicitly: a shell that starts us in the background without job control ignores SIGINT for us.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    nofile = raise_nofile(NOFILE)  # inherited by every proxy we start
    if nofile < max(args.idle_counts or [0]) + 1024:
        info(f"RLIMIT_NOFILE is {nofile}: too few for {max(args.idle_counts)} idle clients "
             "server side (raise the hard limit: ulimit -Hn)")
    if not args.no_install:
        run(["bash", INSTALL_PEERS_SH], timeout=1800)
    sluice_bin = ensure_sluice(args)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    os.chmod(args.work_dir, 0o755)  # PgBouncer runs as postgres and reads its files here
    os.makedirs(args.out, exist_ok=True)

    bench = Bench(args)
    bench.sluice_bin = sluice_bin
    bench.sandbox = Sandbox(args.sandbox_dir, args.keep_sandbox)
    report = {"command": [os.path.relpath(sys.argv[0], SOURCE_DIR)] + sys.argv[1:],
              "machine": machine_info(args, sluice_bin),
              "settings": {k: v for k, v in vars(args).items() if k not in ("cell_filter",)}}
    results, idle, split, descriptions = [], [], [], {}
    proxies = []
    try:
        bench.sandbox.start()
        max_clients = max(args.clients + args.tpcb_clients + args.storm_clients + [args.split_clients])
        # Direct and pgpool-II (whose children keep their server connections) at the largest client count
        # at once, the idle test of the proxies without pooling, the other pools and some margin.
        bench.sandbox.ensure_max_connections(max(2 * max_clients, args.idle_backend_limit) + 200)
        bench.sandbox.init_pgbench(args.scale)

        if not args.no_matrix:
            for name in args.proxies:
                if name == "direct":
                    proxies.append(Direct(bench))
                elif name == "sluice":
                    proxies.append(Sluice(bench))
                elif name == "pgbouncer":
                    proxies.append(PgBouncer(bench))
                elif name == "pgpool":
                    proxies.append(Pgpool(bench, children=max_clients + 4))
                elif name == "haproxy":
                    proxies.append(HAProxy(bench))
            for p in proxies:
                t0 = time.monotonic()
                p.start()
                descriptions[p.name] = p.describe()
                info(f"{p.name} ready on :{p.port}" + (f" (pid {p.pid})" if p.pid else "") +
                     f" in {time.monotonic() - t0:.1f} s: {p.describe()}")
            if args.cell_filter:
                orig = bench.cells
                bench.cells = lambda: [c for c in orig() if args.cell_filter(c)]
            results = bench.run_matrix(proxies)
            for p in proxies:
                if p.proc and not p.proc.alive():
                    info(f"{p.name} exited during the runs:\n{p.proc.log_tail()}")
                p.stop()
            proxies = []
        if not args.no_idle and args.idle_proxies:
            time.sleep(2.0)
            idle = bench.run_idle()
        if not args.no_split:
            split = bench.run_split()
    except KeyboardInterrupt as e:
        info(f"interrupted ({e}): stopping everything")
        raise
    finally:
        for p in proxies:
            p.stop()
        stop_all_started()
        bench.sandbox.stop()

    report.update(elapsed_min=(time.monotonic() - t_start) / 60, proxies=descriptions, matrix=results, idle=idle,
                  split=split)
    report["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    finish(report, args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
