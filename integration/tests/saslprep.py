"""SCRAM passwords are SASLprepped as PostgreSQL does it (RFC 4013): a role whose password is "IX-" +
U+2168 ROMAN NUMERAL NINE (NFKC: "IX") logs in through sluice with either spelling, and sluice logs in to
the backends with its configured UTF-8 form (sandbox.sh: [[users]] sasl_user). The role is made here,
straight on the primary."""

import psycopg2

from lib import HOST, PRIMARY, REPLICAS, SLUICE, Checks, connect_node, one, wait_for_replay, wait_for_replica_reads

USER = "sasl_user"
PASSWORD_UTF8 = "IX-\u2168"  # what sluice's config and the role were given
PASSWORD_PREPPED = "IX-IX"   # its SASLprep form
t = Checks()
wait_for_replica_reads()

with t.section("role sasl_user on the primary, SCRAM verifier from the U+2168 password"):
    conn = connect_node("primary", dbname="postgres")
    exists = one(conn, "select count(*) from pg_roles where rolname = %s", (USER,))[0]
    with conn.cursor() as cur:
        cur.execute("SET password_encryption = 'scram-sha-256'")
        verb = "ALTER" if exists else "CREATE"
        cur.execute(f"{verb} ROLE {USER} LOGIN PASSWORD U&'IX-\\2168'")
        cur.execute(f"GRANT CONNECT ON DATABASE app TO {USER}")
    secret = one(conn, "select rolpassword from pg_authid where rolname = %s", (USER,))[0]
    t.ok(secret.startswith("SCRAM-SHA-256$"), "the role has a SCRAM verifier", secret)
    conn.close()
    wait_for_replay()


def direct(password):
    conn = psycopg2.connect(host=HOST, port=PRIMARY, user=USER, password=password, dbname="app",
                            connect_timeout=5, sslmode="disable")
    try:
        return one(conn, "select current_user")[0]
    finally:
        conn.close()


with t.section("PostgreSQL itself accepts both spellings (libpq SASLpreps)"):
    for password in (PASSWORD_UTF8, PASSWORD_PREPPED):
        t.eq(direct(password), USER, f"direct login to the primary with {password!r}")

for password in (PASSWORD_PREPPED, PASSWORD_UTF8):
    with t.section(f"through sluice with {password!r}"):
        try:
            conn = psycopg2.connect(host=HOST, port=SLUICE, user=USER, password=password, dbname="app",
                                    connect_timeout=5, sslmode="disable")
        except psycopg2.OperationalError as e:
            t.ok(False, f"login through sluice with {password!r}", str(e).strip())
            continue
        conn.autocommit = True
        t.eq(one(conn, "select current_user")[0], USER, f"login through sluice with {password!r}")
        # sluice logs in to the backends as sasl_user with the configured "IX-\u2168": both kinds.
        t.eq(one(conn, "/* sluice: primary */ select inet_server_port()")[0], PRIMARY,
             f"{password!r}: a statement on the primary")
        ports = {one(conn, "select inet_server_port()")[0] for _ in range(4)}
        t.ok(ports and ports <= REPLICAS, f"{password!r}: reads served by a replica", f"ports {ports}")
        conn.close()

with t.section("a wrong password is still refused"):
    try:
        psycopg2.connect(host=HOST, port=SLUICE, user=USER, password="IX-X", dbname="app",
                         connect_timeout=5, sslmode="disable").close()
        t.ok(False, "login through sluice with 'IX-X' is refused", "it was let in")
    except psycopg2.OperationalError as e:
        t.ok(f'password authentication failed for user "{USER}"' in str(e),
             "login through sluice with 'IX-X' is refused", str(e).strip())

t.finish()
