"""Shared helpers of the pg_dump / pg_restore tests (issue 11): running PostgreSQL's client tools through
sluice or straight at the primary, throwaway databases made on the primary, and comparisons of dumps and
table contents that ignore what legitimately differs (comments with timestamps, owners)."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lib  # noqa: E402

PG_BIN = os.environ.get("SLUICE_PG_BIN", "/usr/lib/postgresql/15/bin")
# Client users of the sandbox's sluice.toml: app (transaction pooling) and app_session (session pooling,
# logs in to the servers as app). Both with read/write splitting on (the sandbox's default).
MODES = {"transaction": ("app", "app_pw"), "session": ("app_session", "session_pw")}


def tool(name, args, port, user, password, timeout=60, check=True):
    """Runs a PostgreSQL client tool (pg_dump, pg_restore, psql) against 127.0.0.1:port. Returns the
    CompletedProcess (stdout as bytes); with check, a non-zero exit raises with its stderr."""
    env = dict(os.environ, PGHOST=lib.HOST, PGPORT=str(port), PGUSER=user, PGSSLMODE="disable",
               PGCONNECT_TIMEOUT="5")
    env.pop("PGDATABASE", None)
    if password:
        env["PGPASSWORD"] = password
    else:
        env.pop("PGPASSWORD", None)
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(PG_BIN, name), *args], env=env, capture_output=True, timeout=timeout)
    took = time.monotonic() - t0
    where = "sluice" if port == lib.SLUICE else lib.port_name(port)
    lib.info(f"{name} {' '.join(args)} as {user} on {where}: exit {r.returncode} in {took:.2f} s")
    if check and r.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)} as {user} on {where} failed ({r.returncode}): "
                           + r.stderr.decode("utf-8", "replace").strip()[-2000:])
    return r


def through_sluice(name, args, mode, **kw):
    user, password = MODES[mode]
    return tool(name, args, lib.SLUICE, user, password, **kw)


def direct(name, args, **kw):
    """Straight at the primary as app (the same role as through sluice: same owners and privileges)."""
    return tool(name, args, lib.PRIMARY, "app", "app_pw", **kw)


def fresh_database(name):
    """Drops and creates database `name` owned by app, on the primary as postgres, then waits until both
    replicas have replayed it: what is tested is the dump or restore, not the replication of CREATE
    DATABASE (app may not create databases)."""
    c = lib.connect_node("primary", dbname="postgres")
    try:
        lib.query(c, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        lib.query(c, f'CREATE DATABASE "{name}" OWNER app')
    finally:
        c.close()
    lib.wait_for_replay(timeout=20)


def drop_database(name):
    c = lib.connect_node("primary", dbname="postgres")
    try:
        lib.query(c, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        c.close()


def strip_sql(text, owners=False):
    """A plain-format dump without its comment lines, blank lines and \\restrict lines (and, with owners,
    without the ALTER ... OWNER TO statements): what must be equal between two dumps of the same contents."""
    out = []
    for line in text.splitlines():
        # \restrict KEY / \unrestrict KEY (pg_dump 15.14 on): a random key per dump.
        if not line.strip() or line.startswith("--") or re.match(r"^\\(un)?restrict ", line):
            continue
        if owners and re.match(r"^ALTER .* OWNER TO ", line):
            continue
        out.append(line)
    return out


def toc(listing):
    """The entries of a `pg_restore -l` listing, without its header comments (archive date, ...)."""
    return [l for l in listing.splitlines() if l.strip() and not l.startswith(";")]


def first_difference(a, b, what_a, what_b, context=3):
    """None when the two lists of lines are equal, else a short description of where they differ."""
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            lo = max(0, i - context)
            return (f"first difference at line {i + 1} of {len(a)} / {len(b)}:\n  {what_a}: "
                    + "\n  ".join(a[lo:i + context]) + f"\n  {what_b}: " + "\n  ".join(b[lo:i + context]))
    longer, name = (a, what_a) if len(a) > len(b) else (b, what_b)
    n = min(len(a), len(b))
    return f"{name} has {len(longer) - n} more lines, from line {n + 1}: " + "\n  ".join(longer[n:n + 2 * context])


def contents(dbname):
    """{relation: (rows, md5 of the sorted rows)} for every table of the database's public schema, and
    {sequence: (last_value, is_called)}: read straight on the primary as postgres."""
    c = lib.connect_node("primary", dbname=dbname)
    try:
        out = {}
        for (rel,) in lib.query(c, "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                                   "where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1"):
            out[rel] = tuple(lib.one(c, f'select count(*), md5(coalesce(string_agg(t::text, E\'\\n\' '
                                        f'order by t::text), \'\')) from public."{rel}" t'))
        for (seq,) in lib.query(c, "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                                   "where n.nspname = 'public' and c.relkind = 'S' order by 1"):
            out[seq] = tuple(lib.one(c, f'select last_value, is_called from public."{seq}"'))
        return out
    finally:
        c.close()
