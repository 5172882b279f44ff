"""Issue 11: pg_dump through sluice dumps what pg_dump straight from the primary dumps, unlogged data
included. pg_dump asks `SELECT pg_is_in_recovery()` when it connects and, on a standby, skips the data of
unlogged tables and sequences without a word: the answer must come from the server the dump reads, and
a dump through sluice must not silently lose rows. Transaction and session pooling, splitting on."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_lib as d  # noqa: E402
from dump_lib import lib  # noqa: E402

DB = "sluice_dump_unlogged"
t = lib.Checks()
lib.wait_for_replica_reads()
d.fresh_database(DB)

try:
    with t.section("set up through sluice: a table, an unlogged table with rows, an unlogged sequence"):
        c = lib.connect(dbname=DB)
        lib.query(c, "create table plain_rows (id int primary key, note text)")
        lib.query(c, "insert into plain_rows select g, 'plain ' || g from generate_series(1, 20) g")
        lib.query(c, "create unlogged table unlogged_rows (id int primary key, note text)")
        lib.query(c, "insert into unlogged_rows select g, 'unlogged row ' || g from generate_series(1, 25) g")
        lib.query(c, "create unlogged sequence unlogged_seq start 100 increment 3")
        for _ in range(5):
            last = lib.value(c, "select nextval('unlogged_seq')")
        t.eq(last, 112, "nextval('unlogged_seq') five times: 112")
        c.close()
        lib.wait_for_replay(timeout=20)

    # The dump straight from the primary: proves the expectations below hold for pg_dump itself.
    with t.section("pg_dump straight from the primary"):
        want = d.direct("pg_dump", ["-d", DB]).stdout.decode()
        t.ok("unlogged row 25" in want, "the direct dump has the unlogged table's rows")
        t.ok("SELECT pg_catalog.setval('public.unlogged_seq', 112, true);" in want,
             "the direct dump has the unlogged sequence's setval(112)")

    for mode in d.MODES:
        with t.section(f"pg_dump through sluice, {mode} pooling"):
            got = d.through_sluice("pg_dump", ["-d", DB], mode).stdout.decode()
            t.ok("COPY public.unlogged_rows" in got and "unlogged row 25" in got,
                 f"{mode}: the dump has the unlogged table's 25 rows",
                 "no data for unlogged_rows: pg_dump was told it is on a standby "
                 "(pg_is_in_recovery() answered by a replica)")
            t.ok("SELECT pg_catalog.setval('public.unlogged_seq', 112, true);" in got,
                 f"{mode}: the dump has the unlogged sequence's setval(112)")
            t.ok("plain 20" in got, f"{mode}: the dump has the logged table's rows")
            diff = d.first_difference(d.strip_sql(want), d.strip_sql(got), "direct", "sluice")
            t.ok(diff is None, f"{mode}: the dump equals the direct one (comments aside)", diff)
        with t.section(f"pg_dump -Fc through sluice, {mode} pooling"):
            archive = d.through_sluice("pg_dump", ["-Fc", "-d", DB], mode).stdout
            # pg_restore -l reads the archive from stdin; no server is involved.
            r = subprocess.run([os.path.join(d.PG_BIN, "pg_restore"), "-l"], input=archive, capture_output=True)
            entries = r.stdout.decode()
            t.ok("TABLE DATA public unlogged_rows" in entries, f"{mode}: the -Fc archive lists TABLE DATA unlogged_rows",
                 "\n".join(d.toc(entries)))
            t.ok("SEQUENCE SET public unlogged_seq" in entries, f"{mode}: the -Fc archive lists SEQUENCE SET unlogged_seq")
finally:
    d.drop_database(DB)

t.finish()
