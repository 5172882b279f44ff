"""client_login (backends/mysql/auth) against real clients: the mariadb CLI (libmariadb) and PyMySQL log in
to login_server_probe with right and wrong passwords, an unknown user, a stored native hash, a cleartext
password, a caching_sha2_password digest and a MariaDB ed25519 key (auth switches), with
mysql_native_password or caching_sha2_password announced. Usage: client_login_test.py <path to login_server_probe>. TAP-style output; exit 1 on failure."""

import subprocess
import sys

import pymysql

PROBE = sys.argv[1]
failures = 0
number = 0


def check(ok, what):
    global failures, number
    number += 1
    print(("ok " if ok else "not ok ") + f"{number} - {what}", flush=True)
    if not ok:
        failures += 1


def start_probe(plugin):
    proc = subprocess.Popen([PROBE, plugin], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line[0] == "port", line
    return proc, int(line[1])


def cli(port, user, password, sql="SELECT 1", extra=()):
    return subprocess.run(["mariadb", "--protocol=TCP", "-h", "127.0.0.1", "-P", str(port), "-u", user,
                           f"--password={password}", "-D", "appdb", "--skip-ssl", "-N", "-B", *extra, "-e", sql],
                          capture_output=True, text=True, timeout=20)


def denied(user, yes=True):
    return f"Access denied for user '{user}'@'127.0.0.1' (using password: {'YES' if yes else 'NO'})"


def pymysql_login(port, user, password, **kwargs):
    conn = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, database="appdb",
                           connect_timeout=5, **kwargs)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone()[0]
    finally:
        conn.close()


for announced in ("mysql_native_password", "caching_sha2_password"):
    proc, port = start_probe(announced)
    try:
        print(f"# probe announcing {announced} on port {port}", flush=True)
        for user, password, plugin in (("sluice_app", "app_pw", "mysql_native_password"),
                                       ("clear_user", "clear_pw", None),
                                       ("sha2_user", "sha2_pw", "caching_sha2_password")):
            r = cli(port, user, password)
            expected_plugin = plugin or announced
            check(r.returncode == 0 and f"user={user} db=appdb plugin={expected_plugin}" in r.stdout,
                  f"mariadb CLI logs in as {user} ({announced} announced): {r.stdout.strip()} {r.stderr.strip()}")
            r = cli(port, user, "wrong")
            check(r.returncode != 0 and "ERROR 1045 (28000)" in r.stderr and denied(user) in r.stderr,
                  f"mariadb CLI, wrong password for {user}: {r.stderr.strip()}")
            try:
                value = pymysql_login(port, user, password)
                check(value == f"user={user} db=appdb plugin={expected_plugin}", f"PyMySQL logs in as {user}: {value}")
            except Exception as e:  # noqa: BLE001
                check(False, f"PyMySQL logs in as {user}: {e!r}")
            try:
                pymysql_login(port, user, "wrong")
                check(False, f"PyMySQL, wrong password for {user}: logged in")
            except pymysql.err.OperationalError as e:
                check(e.args[0] == 1045 and e.args[1] == denied(user), f"PyMySQL, wrong password for {user}: {e.args}")
        # A MariaDB ed25519 user (only its stored public key known): switched to client_ed25519 (the CLI's
        # plugin; PyMySQL would need PyNaCl, not installed).
        r = cli(port, "ed_user", "ed_pw")
        check(r.returncode == 0 and "user=ed_user db=appdb plugin=client_ed25519" in r.stdout,
              f"mariadb CLI logs in as ed_user with client_ed25519: {r.stdout.strip()} {r.stderr.strip()}")
        r = cli(port, "ed_user", "wrong")
        check(r.returncode != 0 and "ERROR 1045 (28000)" in r.stderr and denied("ed_user") in r.stderr,
              f"mariadb CLI, wrong password for ed_user: {r.stderr.strip()}")
        r = cli(port, "nobody", "wrong")
        check(r.returncode != 0 and "ERROR 1045 (28000)" in r.stderr and denied("nobody") in r.stderr,
              f"mariadb CLI, unknown user: {r.stderr.strip()}")
        r = cli(port, "sluice_app", "")
        check(r.returncode != 0 and denied("sluice_app", yes=False) in r.stderr,
              f"mariadb CLI, no password: {r.stderr.strip()}")
        try:
            pymysql_login(port, "nobody", "wrong")
            check(False, "PyMySQL, unknown user: logged in")
        except pymysql.err.OperationalError as e:
            check(e.args[0] == 1045 and e.args[1] == denied("nobody"), f"PyMySQL, unknown user: {e.args}")
        # Compression is not offered: the CLI with --compress logs in uncompressed (a client that asks for it
        # anyway is refused: tests/backends/mysql/auth/client_login_test.cpp).
        r = cli(port, "sluice_app", "app_pw", extra=("--compress",))
        check(r.returncode == 0 and "user=sluice_app" in r.stdout, f"mariadb CLI --compress logs in without: {r.stderr.strip()}")
    finally:
        proc.kill()
        proc.wait()

print(f"1..{number}")
sys.exit(1 if failures else 0)
