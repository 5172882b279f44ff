#!/usr/bin/python3
# The MariaDB sandbox itself, without sluice (integration/mariadb_sandbox.sh): three distinct servers,
# the primary writable and the replicas read-only to the test users, GTID replication running and
# carrying the primary's writes to both replicas, ed25519 logins, and the settings sluice relies on.
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pymysql.cursors  # noqa: E402

from mysql_lib import (APP_USER, ED_USER, ER_ACCESS_DENIED_ERROR, ER_OPTION_PREVENTS_STATEMENT,  # noqa: E402
                       NODE_PORTS, PASSWORDS, PROBE_USER, REPLICA_NODES, Checks, connect_node, mariadb_cli,
                       query, value)

TABLE = "sandbox_test"
checks = Checks()
conns = {node: connect_node(node) for node in NODE_PORTS}
primary = conns["primary"]


def slave_status(node):
    conn = connect_node(node, user=PROBE_USER, database=None, cursorclass=pymysql.cursors.DictCursor)
    try:
        rows = query(conn, "SHOW SLAVE STATUS")
        return rows[0] if rows else {}
    finally:
        conn.close()


def wait_gtid(node, gtid, timeout=10):
    """MASTER_GTID_WAIT on a replica: 0 once it has applied `gtid`, -1 after `timeout` seconds."""
    return value(conns[node], "SELECT MASTER_GTID_WAIT(%s, %s)", (gtid, timeout))


with checks.section("each node is a server of its own, with its role's settings"):
    seen_ids = {}
    for node, port in NODE_PORTS.items():
        server_id, got_port, read_only, binlog_format, log_slave_updates, log_bin = query(
            conns[node], "SELECT @@server_id, @@port, @@read_only, @@binlog_format, @@log_slave_updates, @@log_bin")[0]
        seen_ids[node] = server_id
        checks.eq(got_port, port, f"{node}: @@port is its sandbox port")
        checks.eq(read_only, 0 if node == "primary" else 1, f"{node}: @@read_only")
        checks.eq(log_bin, 1, f"{node}: binary log on")
        checks.eq(binlog_format, "ROW", f"{node}: binlog_format")
        checks.eq(log_slave_updates, 1, f"{node}: log_slave_updates (a replica can be promoted)")
    checks.eq(len(set(seen_ids.values())), 3, f"@@server_id differs per node ({seen_ids})")

with checks.section("settings sluice relies on, on every node"):
    for node, conn in conns.items():
        state_change, schema, tracked, skip_name_resolve, bind = query(
            conn, "SELECT @@session_track_state_change, @@session_track_schema, @@session_track_system_variables, "
                  "@@skip_name_resolve, @@bind_address")[0]
        checks.ok(state_change == 1 and schema == 1, f"{node}: session_track_state_change and session_track_schema on",
                  f"got {state_change}, {schema}")
        want = {"autocommit", "character_set_client", "time_zone", "sql_mode", "tx_isolation", "last_gtid"}
        checks.ok(want <= set(tracked.split(",")), f"{node}: session_track_system_variables tracks {sorted(want)}",
                  f"got {tracked!r}")
        checks.ok(skip_name_resolve == 1 and bind == "127.0.0.1", f"{node}: loopback only, skip_name_resolve",
                  f"got {skip_name_resolve}, {bind!r}")
        checks.eq(value(conn, "SELECT plugin_status FROM information_schema.plugins WHERE plugin_name = 'ed25519'"),
                  "ACTIVE", f"{node}: the ed25519 plugin is loaded")

with checks.section("GTID replication threads run on both replicas"):
    for node in REPLICA_NODES:
        status = slave_status(node)
        checks.eq((status.get("Slave_IO_Running"), status.get("Slave_SQL_Running")), ("Yes", "Yes"),
                  f"{node}: IO and SQL threads running")
        checks.eq(status.get("Using_Gtid"), "Slave_Pos", f"{node}: MASTER_USE_GTID=slave_pos")
        checks.eq(status.get("Master_Port"), NODE_PORTS["primary"], f"{node}: replicates from the primary")
        checks.eq((status.get("Last_IO_Errno"), status.get("Last_SQL_Errno")), (0, 0), f"{node}: no replication error")

token = uuid.uuid4().hex
with checks.section("writes on the primary appear on both replicas"):
    query(primary, f"CREATE OR REPLACE TABLE {TABLE} (id INT PRIMARY KEY, token VARCHAR(64), n INT)")
    query(primary, f"INSERT INTO {TABLE} VALUES (1, %s, 10), (2, %s, 20)", (token, token))
    query(primary, f"UPDATE {TABLE} SET n = n + 1 WHERE id = 2")
    gtid = value(primary, "SELECT @@last_gtid")
    checks.ok(bool(gtid), f"the primary's last write has a GTID ({gtid})")
    want_rows = ((1, token, 10), (2, token, 21))
    for node in REPLICA_NODES:
        checks.eq(wait_gtid(node, gtid), 0, f"{node}: reached the primary's GTID {gtid} within 10 s")
        checks.eq(query(conns[node], f"SELECT id, token, n FROM {TABLE} ORDER BY id"), want_rows,
                  f"{node}: has the rows written and updated on the primary")

with checks.section("the test users cannot write on a replica (read_only, no READ_ONLY ADMIN)"):
    for node in REPLICA_NODES:
        conn = conns[node]
        checks.error(lambda: query(conn, f"INSERT INTO {TABLE} VALUES (3, 'replica write', 0)"),
                     {ER_OPTION_PREVENTS_STATEMENT}, f"{node}: INSERT as {APP_USER} fails with 1290 (read-only)")
        checks.error(lambda: query(conn, "CREATE TABLE sandbox_replica_only (a INT)"),
                     {ER_OPTION_PREVENTS_STATEMENT}, f"{node}: CREATE TABLE as {APP_USER} fails with 1290")
        checks.eq(value(conn, f"SELECT count(*) FROM {TABLE}"), 2, f"{node}: the refused row is not there")
    # sluice_ed's through the CLI: PyMySQL's ed25519 needs PyNaCl, which the tests do not install.
    for user in (APP_USER, ED_USER):
        rc, out, err = mariadb_cli(NODE_PORTS["primary"], user, PASSWORDS[user], "SHOW GRANTS")
        checks.eq((rc, err.strip()), (0, ""), f"{user}: SHOW GRANTS")
        grants = out.splitlines()
        global_grants = [g for g in grants if " ON *.* " in g]
        checks.ok(all(g.startswith("GRANT USAGE ON *.* ") for g in global_grants),
                  f"{user} holds no global privilege (so no READ_ONLY ADMIN or SUPER)", f"got {global_grants}")
    # After the refused writes, replication still runs and still delivers.
    query(primary, f"INSERT INTO {TABLE} VALUES (3, %s, 30)", (token,))
    gtid = value(primary, "SELECT @@last_gtid")
    for node in REPLICA_NODES:
        checks.eq(wait_gtid(node, gtid), 0, f"{node}: still applies the primary's writes afterwards")
        checks.eq(slave_status(node).get("Slave_SQL_Running"), "Yes", f"{node}: SQL thread still running")

with checks.section("ed25519 logins with the mariadb CLI"):
    for node, port in NODE_PORTS.items():
        want_id = value(conns[node], "SELECT @@server_id")
        rc, out, err = mariadb_cli(port, ED_USER, PASSWORDS[ED_USER], "SELECT current_user(), @@server_id")
        checks.eq((rc, out.strip(), err.strip()), (0, f"{ED_USER}@%\t{want_id}", ""),
                  f"{node}: {ED_USER} logs in with ed25519 and reaches server_id {want_id}")
        rc, out, err = mariadb_cli(port, ED_USER, "wrong_pw", "SELECT 1")
        checks.ok(rc != 0 and f"ERROR {ER_ACCESS_DENIED_ERROR}" in err, f"{node}: a wrong ed25519 password is refused",
                  f"exit {rc}, {err.strip()!r}")
    rc, out, err = mariadb_cli(NODE_PORTS["primary"], ED_USER, PASSWORDS[ED_USER], "SHOW GRANTS")
    checks.ok(rc == 0 and "IDENTIFIED VIA ed25519" in out, f"{ED_USER}'s account uses the ed25519 plugin",
              f"exit {rc}, {out.strip()!r} {err.strip()!r}")
    rc, out, err = mariadb_cli(NODE_PORTS["replica1"], APP_USER, PASSWORDS[APP_USER], "SELECT current_user()")
    checks.eq((rc, out.strip()), (0, f"{APP_USER}@%"), f"{APP_USER} logs in with mysql_native_password")

query(primary, f"DROP TABLE IF EXISTS {TABLE}")
for c in conns.values():
    c.close()
checks.finish()
