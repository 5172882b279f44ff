"""COPY through sluice: 10,000 rows in with COPY FROM STDIN (on the primary); a COPY with a bad row, or
one the client aborts, failing with the server's error while the connection stays usable; then the
10,000 rows out again with COPY TO STDOUT, from the primary and from a replica (last: a COPY that
never ends leaves the connection unusable)."""

import hashlib
import io
import threading
import time

from lib import (PRIMARY, REPLICAS, Checks, connect, info, one, port_name, query, value, wait_for_replica_reads,
                 wait_for_replay)

ROWS = 10_000
t = Checks()
wait_for_replica_reads()
conn = connect()
query(conn, "drop table if exists it_copy")
query(conn, "create table it_copy (id int primary key, name text, amount numeric, note text)")

# Text-format COPY data, with characters that need escaping and some longer rows (up to ~20 kB).
lines = []
for i in range(1, ROWS + 1):
    note = "\\N" if i % 97 == 0 else ("x" * (i % 50) * (400 if i % 1000 == 0 else 1)) + "\\ttab\\\\slash é"
    lines.append(f"{i}\tname {i}\t{i * 7 % 1013}.{i % 100:02d}\t{note}\n")
data = "".join(lines)
digest = hashlib.md5(data.encode()).hexdigest()
info(f"{ROWS} rows, {len(data.encode())} bytes, md5 {digest}")


def copy_out(sql, deadline=15):
    """COPY ... TO STDOUT through sluice, bounded: a COPY that never completes fails the test at once
    with a clear message (rather than a ctest timeout)."""
    out = io.StringIO()
    result = {}

    def run():
        try:
            with conn.cursor() as cur:
                cur.copy_expert(sql, out)
            result["done"] = True
        except Exception as e:  # re-raised below
            result["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        t.ok(False, f"{sql!r} completed within {deadline} s",
             f"no end after {time.monotonic() - t0:.1f} s: {len(out.getvalue())} bytes and "
             f"{out.getvalue().count(chr(10))} rows received so far")
        t.finish()  # the connection is stuck in the COPY: nothing more can run on it
    if "error" in result:
        raise result["error"]
    return out.getvalue()


with t.section("COPY FROM STDIN: 10,000 rows"):
    with conn.cursor() as cur:
        cur.copy_expert("copy it_copy from stdin", io.StringIO(data))
        t.eq(cur.rowcount, ROWS, "COPY FROM STDIN reports 10000 rows")
    n, port = one(conn, "/* sluice: primary */ select count(*), inet_server_port() from it_copy")
    t.eq((n, port), (ROWS, PRIMARY), "the primary has the 10000 rows")

with t.section("a COPY with a bad row fails with the server's error"):
    bad = "10001\tok\t1.00\tfine\n10002\tbad\tnot-a-number\tx\n10003\tok\t2.00\tfine\n"
    with conn.cursor() as cur:
        t.error(lambda: cur.copy_expert("copy it_copy from stdin", io.StringIO(bad)), {"22P02"},
                "COPY with a non-numeric amount: invalid_text_representation (22P02)", message="not-a-number")
    t.eq(value(conn, "select 1"), 1, "the connection is usable afterwards")
    t.eq(value(conn, "/* sluice: primary */ select count(*) from it_copy"), ROWS, "no row of the failed COPY was kept")
    with conn.cursor() as cur:
        t.error(lambda: cur.copy_expert("copy it_copy from stdin", io.StringIO("1\tduplicate\t1\tx\n")), {"23505"},
                "COPY of a duplicate key: unique_violation (23505)")
    with conn.cursor() as cur:
        cur.copy_expert("copy it_copy from stdin", io.StringIO(bad.replace("not-a-number", "3.00")))
        t.eq(cur.rowcount, 3, "a good COPY afterwards works")
    t.eq(value(conn, "/* sluice: primary */ select count(*) from it_copy"), ROWS + 3, "the primary has 10003 rows")
    query(conn, "delete from it_copy where id > %s", (ROWS,))

with t.section("a COPY the client aborts (CopyFail)"):
    class Failing(io.StringIO):
        """Gives some rows, then fails: psycopg2 then ends the COPY with CopyFail."""

        def __init__(self):
            super().__init__("30001\tpartial\t1\tx\n" * 1)
            self.calls = 0

        def read(self, *args):
            self.calls += 1
            if self.calls > 1:
                raise IOError("the client gave up")
            return super().read(*args)

    with conn.cursor() as cur:
        t.error(lambda: cur.copy_expert("copy it_copy from stdin", Failing()), {"57014"},
                "CopyFail: the server reports the COPY failed (57014)", message="COPY from stdin failed")
    t.eq(value(conn, "/* sluice: primary */ select count(*) from it_copy where id = 30001"), 0,
         "nothing of the aborted COPY was kept")
    t.eq(value(conn, "select 1"), 1, "the connection is usable afterwards")

with t.section("COPY inside a transaction"):
    query(conn, "begin")
    with conn.cursor() as cur:
        cur.copy_expert("copy it_copy from stdin", io.StringIO("20001\tin tx\t1\tx\n"))
    t.eq(value(conn, "select count(*) from it_copy where id = 20001"), 1, "the row is visible in the transaction")
    query(conn, "rollback")
    t.eq(value(conn, "/* sluice: primary */ select count(*) from it_copy where id = 20001"), 0,
         "ROLLBACK removed it")

with t.section("COPY TO STDOUT returns the same rows"):
    out = copy_out("/* sluice: primary */ copy (select * from it_copy order by id) to stdout")
    t.ok(out.count("\n") == ROWS and hashlib.md5(out.encode()).hexdigest() == digest,
         "from the primary: same row count and checksum", f"{out.count(chr(10))} rows, md5 {hashlib.md5(out.encode()).hexdigest()}")
    wait_for_replay()  # the replicas have the rows, and the deletes of the rows added since
    for _ in range(2):
        out = copy_out("copy (select inet_server_port(), * from it_copy order by id) to stdout")
        ports = {int(line.split("\t", 1)[0]) for line in out.splitlines()}
        rows = "".join(line.split("\t", 1)[1] + "\n" for line in out.splitlines())
        t.ok(len(ports) == 1 and ports <= REPLICAS, "COPY (query) TO STDOUT ran on a replica", f"ports {ports}")
        t.ok(rows.count("\n") == ROWS and hashlib.md5(rows.encode()).hexdigest() == digest,
             f"from {port_name(min(ports)) if ports else '?'}: same row count and checksum", f"{rows.count(chr(10))} rows")
    out = copy_out("copy it_copy (id) to stdout")
    t.eq(sum(int(x) for x in out.split()), ROWS * (ROWS + 1) // 2, "COPY of one column: the sum of ids")

query(conn, "drop table it_copy")
conn.close()
t.finish()
