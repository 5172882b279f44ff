"""Pooling correctness seen through psycopg 3 (Debian's python3-psycopg), which sends execute() with
parameters (or binary=True) as an unnamed Parse/Bind/Execute/Sync, a server cursor's DECLARE and FETCH
the same way, auto-prepared statements as _pg3_N per connection, pipelines without Sync between
statements; only execute() without parameters is a simple Query. Each scenario runs in transaction
pooling (app) and session pooling (app_session), other clients of the same user busy meanwhile."""

import os
import select
import sys
import threading
import time

import psycopg
import psycopg.errors

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib import HOST, NODE_PORTS, PASSWORDS, PRIMARY, REPLICAS, SLUICE, Checks, info, poll  # noqa: E402

# Each scenario: (pool mode, user). app_one (one server connection per backend and worker) makes
# "the next client gets the same server connection" near-certain, for the checks after a client left.
MODES = [("transaction", "app"), ("session", "app_session")]
WATCHDOG_S = 85  # the whole script; ctest's TIMEOUT is the backstop

t = Checks()


def watchdog():
    print(f"not ok - the script did not finish within {WATCHDOG_S} s (a statement hung?)", flush=True)
    os._exit(2)


timer = threading.Timer(WATCHDOG_S, watchdog)
timer.daemon = True
timer.start()


def connect(user, **kwargs):
    """A psycopg 3 connection through sluice, autocommit."""
    return psycopg.connect(host=HOST, port=SLUICE, user=user, password=PASSWORDS[user], dbname="app",
                           connect_timeout=5, sslmode="disable", autocommit=True, **kwargs)


def connect_primary():
    """Straight to the primary as postgres (trust on loopback)."""
    return psycopg.connect(host=HOST, port=NODE_PORTS["primary"], user="postgres", dbname="app",
                           connect_timeout=5, sslmode="disable", autocommit=True)


def val(conn, sql, args=None):
    row = conn.execute(sql, args).fetchone()
    return None if row is None else row[0]


def describe(e):
    if e is None:
        return "no error"
    sqlstate = getattr(e, "sqlstate", None)
    return f"{type(e).__name__} sqlstate={sqlstate} {str(e).strip().splitlines()[0] if str(e).strip() else ''!r}"


def attempt(fn):
    """(result, None) or (None, the psycopg error)."""
    try:
        return fn(), None
    except psycopg.Error as e:
        return None, e


class Crowd:
    """Other clients, each on its own connection, calling check(conn, index) in a loop until the `with`
    block ends. check returns None when all is well, else a problem; problems (and errors, with their
    SQLSTATE) are collected in .problems, completed calls counted in .runs."""

    def __init__(self, user, count, check, **connect_args):
        self.check = check
        self.conns = [connect(user, **connect_args) for _ in range(count)]
        self.stop = threading.Event()
        self.runs = 0
        self.problems = []
        self.sqlstates = set()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def _run(self, index):
        conn = self.conns[index]
        while not self.stop.is_set() and not conn.closed:
            try:
                problem = self.check(conn, index)
            except psycopg.Error as e:
                self.sqlstates.add(e.sqlstate)
                problem = describe(e)
            except Exception as e:  # recorded: the checks assert there were none
                problem = f"{type(e).__name__}: {e}"
            if problem:
                self.problems.append(f"client {index}: {problem}")
            self.runs += 1

    def wait_runs(self, more, timeout=5):
        """Until `more` further calls completed (other clients' activity between two steps)."""
        target = self.runs + more
        return poll(lambda: self.runs >= target, timeout, 0.01)

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join(10)
        for c in self.conns:
            c.close()
        return False


def wait_for_replica_reads(timeout=10):
    """Right after sluice starts its probes are not fresh and reads go to the primary, which would hide
    every defect that sends a read to a replica. Wait until reads reach a replica."""
    conn = connect("app")
    try:
        if not poll(lambda: val(conn, "select inet_server_port()") in REPLICAS, timeout, 0.1):
            raise RuntimeError(f"sluice sent no read to a replica within {timeout} s")
    finally:
        conn.close()


def wait_notification(conn, got, channel, payload, timeout):
    """Waits up to `timeout` s for (channel, payload) on an idle conn: select() on its socket, then
    libpq's consume_input/notifies. psycopg 3.1's conn.notifies() has no timeout (3.2 added it), so it
    could block the test forever; this is what it does underneath. `got` also collects notifications
    psycopg delivered to the notify handler while running statements. Returns the seconds waited, or
    None."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while (channel, payload) not in got:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        if select.select([conn.fileno()], [], [], remaining)[0]:
            conn.pgconn.consume_input()
            while (n := conn.pgconn.notifies()) is not None:
                got.append((n.relname.decode(), n.extra.decode()))
    return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------------

def named_cursor(mode, user):
    """DECLARE "c1" CURSOR WITH HOLD (what conn.cursor("c1", withhold=True) sends), fetched in batches."""
    a = connect(user)

    def own_c1(conn, index):
        with conn.cursor("c1", withhold=True) as c:
            c.execute("select generate_series(1, 3)")
            got = [r[0] for r in c.fetchall()]
        return None if got == [1, 2, 3] else f"its own c1 returned {got}"

    rows, error, interleaved = [], None, True
    with Crowd(user, 2, own_c1) as crowd:
        cur = a.cursor("c1", withhold=True)
        _, error = attempt(lambda: cur.execute("select generate_series(1, 100)"))
        for _ in range(10):
            if error:
                break
            batch, error = attempt(lambda: cur.fetchmany(17))
            if error or not batch:
                break
            rows += [r[0] for r in batch]
            # Other statements of this client, and of other clients, between two fetches.
            _, error = attempt(lambda: (a.execute("select 1"), a.execute("select %s::int", (2,))))
            interleaved = crowd.wait_runs(1) and interleaved
        if error is None:
            _, error = attempt(cur.close)
        t.ok(error is None and rows == list(range(1, 101)),
             f"{mode}: withhold cursor c1 fetched in batches of 17, interleaved: all 100 rows in order",
             f"{len(rows)} rows {rows[:3]}...{rows[-3:]}, error: {describe(error)}")
        t.ok(interleaved, f"{mode}: other clients ran between the fetches")
        crowd.wait_runs(4)
    t.ok(crowd.runs >= 4 and "42P03" not in crowd.sqlstates,
         f"{mode}: {crowd.runs} other clients' DECLARE c1 WITH HOLD on the same pool: never 42P03 (duplicate cursor)",
         [p for p in crowd.problems if "42P03" in p][:3])
    t.ok(crowd.runs >= 4 and not crowd.problems,
         f"{mode}: other clients' own c1 cursors all returned their rows without error", crowd.problems[:3])
    again, error = attempt(lambda: [r[0] for r in a.cursor("c1", withhold=True).execute("select 7").fetchall()])
    t.ok(again == [7], f"{mode}: after closing it, the client declares c1 again", describe(error))
    a.close()


def temp_table(mode, user, extended):
    """create temp table, then parameterized statements on it: the client keeps its server connection.
    Without parameters psycopg sends a simple Query; binary=True makes it Parse/Bind/Execute (unnamed)."""
    how = "extended protocol (binary=True)" if extended else "simple protocol (no parameters)"
    mode = f"{mode}, create via {how}"
    a = connect(user)
    _, error = attempt(lambda: a.execute("create temp table drv_tmp (x int)", binary=extended or None))
    t.ok(error is None, f"{mode}: create temp table drv_tmp", describe(error))

    def no_drv_tmp(conn, index):
        sql = "/* sluice: primary */ select to_regclass('pg_temp.drv_tmp')::text" if index % 2 else \
              "select to_regclass('pg_temp.drv_tmp')::text"
        seen = val(conn, sql)
        return None if seen is None else f"sees the other client's temp table ({seen})"

    with Crowd(user, 3, no_drv_tmp) as crowd:
        errors = []
        for x in (1, 2, 3):
            _, error = attempt(lambda: a.execute("insert into drv_tmp values (%s)", (x,)))
            if error:
                errors.append(describe(error))
            crowd.wait_runs(1)
        t.ok(not errors, f"{mode}: insert into drv_tmp values (%s) x3, interleaved with other clients", errors[:2])
        counts = []
        for i in range(10):
            sql, args = ("select count(*) from drv_tmp", None) if i % 2 else \
                        ("select count(*) from drv_tmp where x <= %s", (3,))
            counts.append(attempt(lambda: val(a, sql, args)))
            crowd.wait_runs(1)
        t.ok(all(c == 3 for c, _ in counts), f"{mode}: 10 counts of drv_tmp (with and without parameters): 3 each",
             [c if e is None else describe(e) for c, e in counts][:4])
        crowd.wait_runs(3)
    t.ok(crowd.runs >= 3 and not crowd.problems,
         f"{mode}: {crowd.runs} checks by other clients: they never see drv_tmp", crowd.problems[:3])
    a.close()


def advisory_lock(mode, user):
    """select pg_advisory_lock(%s): held by the client's own backend, and only by it."""
    key = 710000 + os.getpid() % 100000 + (0 if mode == "transaction" else 1)
    held_by = "select pid from pg_locks where locktype = 'advisory' and granted and classid = 0 " \
              "and objid = %s and objsubid = 1"
    direct = connect_primary()
    a = connect(user)
    try:
        _, error = attempt(lambda: a.execute("select pg_advisory_lock(%s)", (key,)))
        t.ok(error is None, f"{mode}: select pg_advisory_lock(%s)", describe(error))
        mine = "select count(*) from pg_locks where locktype = 'advisory' and granted and objid = %s " \
               "and pid = pg_backend_pid()"

        def not_mine(conn, index):
            n = val(conn, "/* sluice: primary */ " + mine, (key,))
            return None if n == 0 else "its server connection holds the other client's advisory lock"

        with Crowd(user, 3, not_mine) as crowd:
            own = []
            for _ in range(5):
                own.append(attempt(lambda: (val(a, mine, (key,)), val(a, "select pg_backend_pid()"))))
                crowd.wait_runs(1)
            crowd.wait_runs(3)
        t.ok(all(r == (1, own[0][0][1]) for r, _ in own) if own[0][0] else False,
             f"{mode}: 5 times, the client's own backend (one and the same) holds the lock",
             [r if e is None else describe(e) for r, e in own])
        holders = [r[0] for r in direct.execute(held_by, (key,)).fetchall()]
        a_pid = own[-1][0][1] if own[-1][0] else None
        t.ok(holders == [a_pid], f"{mode}: on the primary exactly one backend holds it: the client's",
             f"holders {holders}, client's backend {a_pid}")
        t.ok(crowd.runs >= 3 and not crowd.problems,
             f"{mode}: {crowd.runs} checks by other clients: their backends never hold it", crowd.problems[:3])
        unlocked, error = attempt(lambda: val(a, "select pg_advisory_unlock(%s)", (key,)))
        t.ok(unlocked is True, f"{mode}: select pg_advisory_unlock(%s) -> true", f"{unlocked}, {describe(error)}")
        # Not pg_advisory_lock: where the unlock missed, it would wait for the lock on another connection.
        relocked, error = attempt(lambda: val(a, "select pg_try_advisory_lock(%s)", (key,)))
        t.ok(relocked is True, f"{mode}: select pg_try_advisory_lock(%s) -> true (locked again)",
             f"{relocked}, {describe(error)}")
        a.close()
        gone = poll(lambda: not direct.execute(held_by, (key,)).fetchall(), 5)
        t.ok(gone, f"{mode}: the client left: within 5 s no backend holds the lock",
             f"still held by {[r[0] for r in direct.execute(held_by, (key,)).fetchall()]}")
    finally:
        # A lock left on a pooled connection would outlive this test: end those backends.
        direct.execute("select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' "
                       "and classid = 0 and objid = %s", (key,))
        direct.close()
        a.close()


def listen(mode, user, extended):
    """LISTEN via execute; NOTIFY from a direct connection to the primary. LISTEN takes no parameters:
    psycopg sends it as a simple Query, or Parse/Bind/Execute (unnamed) with binary=True."""
    channel = f"drv_chan_{user}_{'ext' if extended else 'simple'}"
    mode = f"{mode}, LISTEN via {'extended protocol (binary=True)' if extended else 'simple protocol'}"
    a = connect(user)
    got = []
    a.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
    direct = connect_primary()
    try:
        _, error = attempt(lambda: a.execute(f"listen {channel}", binary=extended or None))
        t.ok(error is None, f"{mode}: listen {channel}", describe(error))
        direct.execute("select pg_notify(%s, %s)", (channel, "first"))
        waited = wait_notification(a, got, channel, "first", 5)
        t.ok(waited is not None, f"{mode}: the idle client receives the NOTIFY within 5 s"
             + (f" ({waited:.2f} s)" if waited is not None else ""), f"got {got}")
        _, error = attempt(lambda: [a.execute(q, p) for q, p in
                                    (("select 1", None), ("select %s::int", (2,)), ("select inet_server_port()", None))])
        direct.execute("select pg_notify(%s, %s)", (channel, "second"))
        waited = wait_notification(a, got, channel, "second", 5)
        t.ok(error is None and waited is not None,
             f"{mode}: after 3 other statements, a second NOTIFY arrives within 5 s", f"got {got}, {describe(error)}")
    finally:
        direct.close()
        a.close()


def auto_prepare(mode, user):
    """Auto-prepared statements (_pg3_0, _pg3_1... on every connection, each for other queries)."""
    queries = [f"select %s::int + {k}, %s::text" for k in range(6)]
    queries.append("/* sluice: primary */ select %s::int + 6, %s::text")
    for threshold in (0, None):
        label = "prepare_threshold=0" if threshold == 0 else "default prepare_threshold (5)"
        kwargs = {} if threshold is None else {"prepare_threshold": threshold}
        conns = [connect(user, **kwargs) for _ in range(4)]
        bad, done = [], []

        def run(j):
            conn = conns[j]
            order = queries[j:] + queries[:j]  # each connection names other queries _pg3_0, _pg3_1...
            try:
                for rnd in range(8):
                    for q in order:
                        k = queries.index(q)
                        arg = rnd * 100 + j
                        row = conn.execute(q, (arg, f"c{j}")).fetchone()
                        if row != (arg + k, f"c{j}"):
                            bad.append(f"conn {j} query {k}: want {(arg + k, f'c{j}')}, got {row}")
                        done.append(1)
            except psycopg.Error as e:
                bad.append(f"conn {j}: {describe(e)}")

        threads = [threading.Thread(target=run, args=(j,)) for j in range(len(conns))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        want = len(conns) * 8 * len(queries)
        t.ok(not bad and len(done) == want,
             f"{mode}, {label}: {len(done)}/{want} statements on 4 connections at once, right results", bad[:3])
        for c in conns:
            c.close()
    # psycopg keeps at most prepared_max (100) statements per connection and DEALLOCATEs the evicted
    # ones by their own names (_pg3_0...), with a plain statement.
    a = connect(user, prepare_threshold=0)
    bad = []
    for k in range(120):
        row, error = attempt(lambda: a.execute(f"select %s::int + {k}", (1,)).fetchone())
        if row != (1 + k,):
            bad.append(f"query {k}: {row if error is None else describe(error)}")
    t.ok(not bad, f"{mode}, prepare_threshold=0: 120 distinct statements on one connection (psycopg "
                  f"deallocates the oldest past prepared_max=100): right results", bad[:3])
    a.close()


def pipeline(mode, user, tag):
    """with conn.pipeline(): inserts and selects without a Sync between them."""
    a = connect(user)
    try:
        with a.pipeline():
            inserts = [a.execute("insert into drivers_pipe (tag, x) values (%s, %s)", (tag, x)) for x in range(1, 6)]
            total = a.execute("select count(*), sum(x) from drivers_pipe where tag = %s", (tag,))
            double = a.execute("select %s::int * 2", (21,))
            returning = a.execute("insert into drivers_pipe (tag, x) values (%s, %s) returning x", (tag, 6))
        got = (total.fetchone(), double.fetchone(), returning.fetchone(), [c.rowcount for c in inserts])
        t.eq(got, ((5, 15), (42,), (6,), [1] * 5),
             f"{mode}: pipeline of 5 inserts, a select of them, a select, insert returning: right results")
    except psycopg.Error as e:
        t.ok(False, f"{mode}: pipeline of 5 inserts, a select of them, a select, insert returning", describe(e))
    try:
        with a.pipeline():
            reads = [a.execute("select %s::int, %s::text", (i, f"r{i}")) for i in range(10)]
            prepared = [a.execute("select %s::int * 3", (i,), prepare=True) for i in range(5)]
        t.eq(([c.fetchone() for c in reads], [c.fetchone()[0] for c in prepared]),
             ([(i, f"r{i}") for i in range(10)], [3 * i for i in range(5)]),
             f"{mode}: pipeline of 10 reads and 5 prepared statements: right results")
    except psycopg.Error as e:
        t.ok(False, f"{mode}: pipeline of 10 reads and 5 prepared statements", describe(e))
    a.close()


def set_in_transaction(mode, user):
    """A SET inside a transaction outlives the COMMIT (it is not SET LOCAL)."""
    want = "public, s1"
    a = connect(user)
    default = val(a, "show search_path")
    inside, error = None, None
    try:
        with a.transaction():
            a.execute("set search_path to public, s1")
            inside = val(a, "show search_path")
    except psycopg.Error as e:
        error = e
    t.eq((inside, describe(error)), (want, "no error"),
         f"{mode}: with conn.transaction(): set search_path to public, s1; show search_path")

    def default_path(conn, index):
        # Mostly on the primary, where the transaction ran.
        seen = val(conn, "/* sluice: primary */ show search_path" if index % 4 else "show search_path")
        return None if seen == default else f"search_path {seen!r}"

    with Crowd(user, 4, default_path) as crowd:
        crowd.wait_runs(6)  # other clients ran before the client looks again
        seen = []
        for i in range(10):
            seen.append(attempt(lambda: val(a, "/* sluice: primary */ show search_path" if i % 2 else "show search_path")))
            crowd.wait_runs(1)
    t.ok(all(s == want for s, _ in seen), f"{mode}: after the COMMIT and other clients' statements, 10 "
         f"show search_path (replica and primary routes) -> {want!r}",
         [s if e is None else describe(e) for s, e in seen][:4])
    t.ok(crowd.runs >= 6 and not crowd.problems,
         f"{mode}: {crowd.runs} show search_path by other clients: the default ({default!r})", crowd.problems[:3])
    a.close()


def set_config(mode, user):
    """select set_config('x.y', 'v', false): session state set by a function, through execute()."""
    value = f"v_{user}"
    a = connect(user)
    got, error = attempt(lambda: val(a, "select set_config('x.y', %s, false)", (value,)))
    t.eq((got, describe(error)), (value, "no error"), f"{mode}: select set_config('x.y', %s, false)")

    def not_theirs(conn, index):
        # Mostly on the primary, where set_config ran: that is where a server connection could carry it.
        seen = val(conn, ("/* sluice: primary */ " if index % 4 else "") + "select current_setting('x.y', true)")
        return None if seen != value else f"sees x.y = {seen!r}"

    with Crowd(user, 4, not_theirs) as crowd:
        seen = []
        for i in range(10):
            sql = ("/* sluice: primary */ " if i % 2 else "") + "select current_setting('x.y', true)"
            seen.append(attempt(lambda: val(a, sql)))
            crowd.wait_runs(1)
        crowd.wait_runs(3)
    t.ok(all(s == value for s, _ in seen),
         f"{mode}: 10 later statements (replica and primary routes) see x.y = {value!r}",
         [s if e is None else describe(e) for s, e in seen][:4])
    t.ok(crowd.runs >= 3 and not crowd.problems,
         f"{mode}: {crowd.runs} checks by other clients meanwhile: never x.y = {value!r}", crowd.problems[:3])
    a.close()


def after_leaving(user="app_one"):
    """With one server connection per backend (and worker), the next client of the same user gets the one a
    client that left used: its set_config and advisory lock must not be there."""
    value = "v_after_leaving"
    key = 720000 + os.getpid() % 100000
    a = connect(user)
    attempt(lambda: a.execute("select set_config('x.y', %s, false)", (value,)))
    attempt(lambda: a.execute("select pg_advisory_lock(%s)", (key,)))
    a.close()
    seen = []
    for _ in range(8):  # 8 fresh clients: on either worker
        b = connect(user)
        seen.append(attempt(lambda: (val(b, "/* sluice: primary */ select current_setting('x.y', true)"),
                                     val(b, "/* sluice: primary */ select count(*) from pg_locks where "
                                            "locktype = 'advisory' and objid = %s and pid = pg_backend_pid()",
                                         (key,))))[0])
        b.close()
    t.ok(all(s is not None and s[0] != value for s in seen),
         f"transaction ({user}): 8 clients after one that left: none sees its x.y", seen)
    t.ok(all(s is not None and s[1] == 0 for s in seen),
         f"transaction ({user}): 8 clients after one that left: none holds its advisory lock", seen)
    direct = connect_primary()
    direct.execute("select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and classid = 0 "
                   "and objid = %s", (key,))
    direct.close()


# ---------------------------------------------------------------------------------------------------

info(f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}), libpq {psycopg.pq.version()}")
wait_for_replica_reads()
setup = connect_primary()
setup.execute("create table if not exists drivers_pipe (id bigserial primary key, tag text, x int)")
setup.execute("grant all on drivers_pipe, drivers_pipe_id_seq to app")
setup.close()

for mode, user in MODES:
    with t.section(f"{mode} pooling ({user}): named cursor WITH HOLD"):
        named_cursor(mode, user)
    for extended in (False, True):
        with t.section(f"{mode} pooling ({user}): temp table with parameterized statements"):
            temp_table(mode, user, extended)
    with t.section(f"{mode} pooling ({user}): session advisory lock"):
        advisory_lock(mode, user)
    for extended in (False, True):
        with t.section(f"{mode} pooling ({user}): LISTEN and notifications"):
            listen(mode, user, extended)
    with t.section(f"{mode} pooling ({user}): auto-prepare"):
        auto_prepare(mode, user)
    with t.section(f"{mode} pooling ({user}): pipeline mode"):
        pipeline(mode, user, f"{user}-{os.getpid()}-{time.time_ns()}")
    with t.section(f"{mode} pooling ({user}): SET in a transaction, after COMMIT"):
        set_in_transaction(mode, user)
    with t.section(f"{mode} pooling ({user}): set_config(..., false)"):
        set_config(mode, user)
with t.section("transaction pooling (app_one): state of a client that left"):
    after_leaving()

timer.cancel()
t.finish()
