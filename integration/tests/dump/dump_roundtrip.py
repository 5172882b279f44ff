"""Issue 11: a parallel pg_dump / pg_restore round trip through sluice, in transaction and in session
pooling with read/write splitting on. A small but varied database (foreign keys, indexes, a view, a
function, an enum, a sequence, an unlogged table, bytea/json/jsonb/arrays, some thousands of rows) is
dumped with `pg_dump -Fd -j4` through sluice and straight from the primary: the archives must list the
same entries and hold the same data. pg_dump -j exports a snapshot on its leader connection
(pg_export_snapshot()) and its workers import it (SET TRANSACTION SNAPSHOT): leader and workers must
reach the same server, or the workers fail. Then the dump made through sluice is restored through
sluice with `pg_restore -j4` into a fresh database, which must equal the source (schema and data)."""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_lib as d  # noqa: E402
from dump_lib import lib  # noqa: E402

SRC = "sluice_dump_src"
DST = "sluice_dump_dst_{}"

SCHEMA = [
    "create type order_status as enum ('new', 'paid', 'shipped', 'cancelled')",
    """create table customers (id serial primary key, name text not null, email text unique,
         created timestamptz not null default '2024-01-01 00:00+00', tags text[], profile jsonb)""",
    """create table products (id int primary key, sku text not null unique,
         price numeric(10, 2) not null check (price >= 0), image bytea, attrs json)""",
    """create table orders (id bigserial primary key, customer_id int not null references customers (id),
         placed date not null, status order_status not null default 'new')""",
    """create table order_lines (order_id bigint references orders (id) on delete cascade, line int,
         product_id int not null references products (id), qty int not null check (qty > 0),
         primary key (order_id, line))""",
    "create index orders_customer_placed on orders (customer_id, placed)",
    "create index customers_profile on customers using gin (profile)",
    "create index products_lower_sku on products (lower(sku))",
    "create sequence invoice_numbers start 1000 increment 7",
    "create unlogged table session_cache (key text primary key, value jsonb, hits int not null default 0)",
    """create view customer_totals as
         select c.id, c.name, count(distinct o.id) as orders, coalesce(sum(l.qty * p.price), 0) as total
         from customers c left join orders o on o.customer_id = c.id
         left join order_lines l on l.order_id = o.id left join products p on p.id = l.product_id
         group by c.id, c.name""",
    """create function order_total(bigint) returns numeric language sql stable as
         $$ select coalesce(sum(l.qty * p.price), 0) from order_lines l join products p on p.id = l.product_id
            where l.order_id = $1 $$""",
    "comment on table orders is 'one row per order; lines in order_lines'",
]
DATA = [
    """insert into customers (name, email, created, tags, profile)
         select 'customer ' || g, 'c' || g || '@example.com', '2024-01-01 00:00+00'::timestamptz + g * interval '1 hour',
                array['t' || g % 7, 't' || g % 11], jsonb_build_object('tier', g % 3, 'score', g * 1.5, 'nick', md5(g::text))
         from generate_series(1, 2000) g""",
    """insert into products select g, 'SKU-' || lpad(g::text, 5, '0'), (g % 97) + 0.99,
         decode(md5(g::text) || md5((g + 1)::text), 'hex'), json_build_object('colour', g % 5, 'sizes', json_build_array(g % 3, g % 4))
         from generate_series(1, 500) g""",
    """insert into orders (customer_id, placed, status) select 1 + g % 2000, date '2024-01-01' + g % 365,
         (array['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4]::order_status from generate_series(1, 4000) g""",
    """insert into order_lines select o, l, 1 + (o * 7 + l) % 500, 1 + (o + l) % 9
         from generate_series(1, 4000) o, generate_series(1, 3) l""",
    """insert into session_cache select 'k' || g, jsonb_build_object('v', g), g % 13 from generate_series(1, 1500) g""",
]

t = lib.Checks()
lib.wait_for_replica_reads()
work = tempfile.mkdtemp(prefix="sluice-dump-")
d.fresh_database(SRC)

try:
    with t.section("build the source database through sluice (as app)"):
        c = lib.connect(dbname=SRC)
        for sql in SCHEMA + DATA:
            lib.query(c, sql)
        for _ in range(17):
            lib.query(c, "select nextval('invoice_numbers')")
        lib.query(c, "analyze")
        t.eq(lib.value(c, "/* sluice: primary */ select count(*) from order_lines"), 12000, "order_lines has 12000 rows")
        c.close()
        lib.wait_for_replay(timeout=20)
    source = d.contents(SRC)
    t.eq(source.get("invoice_numbers"), (1112, True), "invoice_numbers advanced to 1112 (direct read)")

    with t.section("pg_dump -Fd -j4 straight from the primary"):
        want_dir = os.path.join(work, "direct")
        d.direct("pg_dump", ["-Fd", "-j4", "-f", want_dir, "-d", SRC])
        want_toc = d.toc(d.tool("pg_restore", ["-l", want_dir], lib.PRIMARY, "app", "app_pw").stdout.decode())
        want_sql = d.strip_sql(d.tool("pg_restore", ["-f", "-", want_dir], lib.PRIMARY, "app", "app_pw").stdout.decode())
        t.ok(any("TABLE DATA public session_cache" in e for e in want_toc), "direct: the archive has the unlogged table's data")

    for mode in d.MODES:
        got_dir = os.path.join(work, mode)
        dst = DST.format(mode)
        with t.section(f"{mode} pooling: pg_dump -Fd -j4 through sluice"):
            r = d.through_sluice("pg_dump", ["-Fd", "-j4", "-f", got_dir, "-d", SRC], mode, check=False)
            t.ok(r.returncode == 0, f"{mode}: pg_dump -j4 through sluice succeeds (leader and workers share the exported snapshot)",
                 r.stderr.decode("utf-8", "replace").strip()[-1500:])
            got_toc = d.toc(d.tool("pg_restore", ["-l", got_dir], lib.PRIMARY, "app", "app_pw").stdout.decode())
            diff = d.first_difference(want_toc, got_toc, "direct", "sluice")
            t.ok(diff is None, f"{mode}: pg_restore -l lists the same {len(want_toc)} entries as the direct dump", diff)
            got_sql = d.strip_sql(d.tool("pg_restore", ["-f", "-", got_dir], lib.PRIMARY, "app", "app_pw").stdout.decode())
            diff = d.first_difference(want_sql, got_sql, "direct", "sluice")
            t.ok(diff is None, f"{mode}: the archive's SQL and data equal the direct dump's ({len(want_sql)} lines)", diff)

        with t.section(f"{mode} pooling: pg_restore -j4 through sluice into a fresh database"):
            d.fresh_database(dst)
            r = d.through_sluice("pg_restore", ["-j4", "-d", dst, got_dir], mode, check=False, timeout=90)
            t.ok(r.returncode == 0, f"{mode}: pg_restore -j4 through sluice succeeds",
                 r.stderr.decode("utf-8", "replace").strip()[-1500:])
            lib.wait_for_replay(timeout=20)
            src_schema = d.strip_sql(d.direct("pg_dump", ["-s", "-d", SRC]).stdout.decode(), owners=True)
            dst_schema = d.strip_sql(d.direct("pg_dump", ["-s", "-d", dst]).stdout.decode(), owners=True)
            diff = d.first_difference(src_schema, dst_schema, SRC, dst)
            t.ok(diff is None, f"{mode}: the restored schema equals the source's (pg_dump -s, comments and owners aside)", diff)
            restored = d.contents(dst)
            differ = {k: (source.get(k), restored.get(k)) for k in set(source) | set(restored)
                      if source.get(k) != restored.get(k)}
            t.ok(not differ, f"{mode}: every table and sequence of the restored database equals the source "
                             f"({len(source)} relations: rows, md5 of the sorted rows, sequence values)",
                 f"differ (source, restored): {differ}")
        d.drop_database(dst)
finally:
    shutil.rmtree(work, ignore_errors=True)
    for db in [SRC] + [DST.format(m) for m in d.MODES]:
        try:
            d.drop_database(db)
        except Exception as e:  # cleanup goes on
            lib.info(f"dropping {db}: {e}")

t.finish()
