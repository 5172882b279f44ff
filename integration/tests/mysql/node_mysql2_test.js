// node's mysql2 driver (npm) through sluice: 32 concurrent clients with server-side prepared statements
// (execute(), prepare()) and the text protocol (query()), parameters of several types, every result checked.
// Run by clients_test.py (section mysql2), which starts sluice and passes where it is in the environment.
'use strict';

const mysql = require('mysql2/promise');

const env = process.env;
const CLIENTS = 32;
const ROWS = 8; // per client
const ER_DUP_ENTRY = 1062;

const target = {
  host: '127.0.0.1',
  port: Number(env.SLUICE_MYSQL_PORT),
  user: env.SLUICE_MYSQL_USER,
  password: env.SLUICE_MYSQL_PASSWORD,
  database: env.SLUICE_MYSQL_DATABASE,
  connectTimeout: 5000,
  // Dates go out and come back in UTC, whatever the machine's zone.
  timezone: 'Z',
  supportBigNumbers: true,
  bigNumberStrings: true,
};
const primaryPort = Number(env.MARIADB_PRIMARY_PORT);
const replicaPorts = env.MARIADB_REPLICA_PORTS.split(',').map(Number);

let passed = 0;
let failed = 0;
function ok(condition, what, detail) {
  if (condition) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}${detail === undefined ? '' : `: ${detail}`}`);
  }
  return condition;
}
// Many clients check the same thing: one line for all of them, with the first failure's detail.
function okAll(results, what) {
  const bad = results.filter((r) => r !== true);
  return ok(bad.length === 0, `${what} (${results.length} clients)`, bad.length ? `${bad.length} failed; first: ${bad[0]}` : undefined);
}
const show = (v) => JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? x.toString() : x));
function describe(e) {
  return e && e.errno ? `${e.errno}/${e.sqlState} ${e.message}` : String(e && e.stack ? e.stack : e);
}

// What client i stores in row j, written with execute() (binary) or query() (text; ids from 500): every
// parameter type the test sends. The two halves are independent, so that one protocol's failure does not
// fail the other's checks.
const BINARY = 0;
const TEXT = 500;
function rowOf(i, j, half = BINARY) {
  const id = i * 1000 + half + j;
  const blob = Buffer.alloc(300 + j);
  for (let k = 0; k < blob.length; k++) blob[k] = (k * 7 + i + j) & 0xff;
  blob[0] = 0; // a NUL first, a quote and a backslash: raw bytes, no escaping in the binary protocol
  blob[1] = 0x27;
  blob[2] = 0x5c;
  return {
    id,
    client: i,
    name: `client ${i} row ${j}: ünïcödé 😀 'quoted' \\ "double"`,
    n: j % 3 === 0 ? null : j * 11 - 20, // NULLs and negatives
    d: `2024-02-${String(1 + ((i + j) % 29)).padStart(2, '0')}`,
    at: new Date(Date.UTC(2000 + i, j % 12, 1 + j, 12, 34, 56, 789)),
    b: blob,
    amount: `${i * 100 + j + 1}.${String(j * 37).padStart(4, '0')}`, // DECIMAL comes back as a string
  };
}

function sameRow(got, want) {
  const problems = [];
  if (got.id !== want.id) problems.push(`id ${got.id}`);
  if (got.name !== want.name) problems.push(`name ${show(got.name)}`);
  if (got.n !== want.n) problems.push(`n ${got.n} (want ${want.n})`);
  if (got.d !== want.d) problems.push(`d ${got.d} (want ${want.d})`);
  if (!(got.at instanceof Date) || got.at.getTime() !== want.at.getTime()) problems.push(`at ${show(got.at)}`);
  if (!Buffer.isBuffer(got.b) || !got.b.equals(want.b)) problems.push(`b ${got.b && got.b.length} bytes`);
  if (got.amount !== want.amount) problems.push(`amount ${got.amount} (want ${want.amount})`);
  return problems.length ? `row ${want.id}: ${problems.join(', ')}` : true;
}

const SELECT_ROW =
  "SELECT id, name, n, DATE_FORMAT(d, '%Y-%m-%d') AS d, at, b, amount, @@port AS port FROM mysql2_t WHERE id = ?";

// Each client's work, as a promise that resolves to true or to what went wrong.
async function each(clients, fn) {
  return Promise.all(clients.map((c, i) => fn(c, i).then((r) => r, (e) => describe(e))));
}

// Waits until both replicas have applied what the primary has logged (straight to the servers).
async function waitReplicated() {
  const probe = { host: '127.0.0.1', user: env.MARIADB_PROBE_USER, password: env.MARIADB_PROBE_PASSWORD, connectTimeout: 5000 };
  const primary = await mysql.createConnection({ ...probe, port: primaryPort });
  const [[{ pos }]] = await primary.query('SELECT @@gtid_binlog_pos AS pos');
  await primary.end();
  for (const port of replicaPorts) {
    const replica = await mysql.createConnection({ ...probe, port });
    const [[{ r }]] = await replica.query('SELECT MASTER_GTID_WAIT(?, 20) AS r', [pos]);
    await replica.end();
    if (Number(r) !== 0) throw new Error(`replica :${port} did not apply ${pos}`);
  }
}

// The rows a client wrote in one half, as they are after the transaction added 1000 to n.
function updatedRows(i, half) {
  return Array.from({ length: ROWS }, (_, j) => {
    const r = rowOf(i, j, half);
    if (r.n !== null) r.n += 1000;
    return r;
  });
}

// One transaction: UPDATE then SELECT, with execute() or query(); both must run on the primary and the
// SELECT must see the UPDATE. Rolled back on an error: an open transaction keeps its server connection,
// and the other clients would wait for it.
async function updateInTransaction(c, i, half, run) {
  await c.beginTransaction();
  let upd, row;
  try {
    [upd] = await run('UPDATE mysql2_t SET n = n + ? WHERE client = ? AND id >= ? AND id < ? AND n IS NOT NULL',
      [1000, i, i * 1000 + half, i * 1000 + half + ROWS]);
    [[row]] = await run('SELECT COUNT(*) AS k, @@port AS port FROM mysql2_t WHERE client = ? AND id >= ? AND n >= ?',
      [i, i * 1000 + half, 900]);
  } catch (e) {
    await c.rollback();
    throw e;
  }
  await c.commit();
  const want = updatedRows(i, half).filter((r) => r.n !== null).length;
  if (upd.affectedRows !== want || Number(row.k) !== want || Number(row.port) !== primaryPort) {
    return `client ${i}: updated ${upd.affectedRows}, counted ${row.k} on :${row.port} (want ${want} on :${primaryPort})`;
  }
  return true;
}

// Reads every row of one half back with `run`, from a replica; the replicas' ports go into `ports`.
async function readBack(i, half, run, ports) {
  for (const want of updatedRows(i, half)) {
    const [rows] = await run(SELECT_ROW, [want.id]);
    if (rows.length !== 1) return `row ${want.id}: ${rows.length} rows`;
    const same = sameRow(rows[0], want);
    if (same !== true) return same;
    const port = Number(rows[0].port); // a BIGINT: a string with bigNumberStrings
    if (!replicaPorts.includes(port)) return `row ${want.id} read on :${port}, not a replica`;
    ports.add(port);
  }
  return true;
}

const INSERT_ROW = 'INSERT INTO mysql2_t (id, client, name, n, d, at, b, amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';

async function main() {
  const setup = await mysql.createConnection(target);
  await setup.query('DROP TABLE IF EXISTS mysql2_t');
  await setup.query(`CREATE TABLE mysql2_t (id INT PRIMARY KEY, client INT NOT NULL, name VARCHAR(200), n INT NULL,
                     d DATE, at DATETIME(3), b BLOB, amount DECIMAL(12,4)) DEFAULT CHARSET = utf8mb4`);

  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => mysql.createConnection(target)));
  ok(clients.length === CLIENTS, `${CLIENTS} clients connected through sluice`);
  const insertAll = (half, run) => async (c, i) => {
    for (let j = 0; j < ROWS; j++) {
      const r = rowOf(i, j, half);
      const [res] = await run(c)(INSERT_ROW, [r.id, r.client, r.name, r.n, r.d, r.at, r.b, r.amount]);
      if (res.affectedRows !== 1) return `row ${r.id}: affectedRows ${res.affectedRows}`;
    }
    return true;
  };
  const execute = (c) => (sql, params) => c.execute(sql, params);
  const query = (c) => (sql, params) => c.query(sql, params);

  // Writes, autocommit (each on whichever pooled primary connection is free). execute(): COM_STMT_PREPARE
  // once per client, COM_STMT_EXECUTE per row; query(): mysql2 puts the escaped values into the text.
  okAll(await each(clients, insertAll(BINARY, execute)),
    `execute(): INSERTs with int, string, NULL, date, Date, Buffer and decimal parameters, ${ROWS} per client`);
  okAll(await each(clients, insertAll(TEXT, query)), `query(): the same INSERTs in the text protocol`);

  okAll(await each(clients, (c, i) => updateInTransaction(c, i, BINARY, execute(c))),
    'execute() in a transaction: UPDATE then SELECT on the primary, the SELECT sees the UPDATE');
  okAll(await each(clients, (c, i) => updateInTransaction(c, i, TEXT, query(c))),
    'query() in a transaction: UPDATE then SELECT on the primary, the SELECT sees the UPDATE');

  // An error from an execution leaves the statement and the session usable.
  okAll(await each(clients, async (c, i) => {
    try {
      await c.execute('INSERT INTO mysql2_t (id, client) VALUES (?, ?)', [rowOf(i, 0).id, i]);
      return `client ${i}: a duplicate id was inserted`;
    } catch (e) {
      if (e.errno !== ER_DUP_ENTRY) return `client ${i}: ${describe(e)}`;
    }
    const [[{ one }]] = await c.execute('SELECT ? AS one', [1]);
    return Number(one) === 1 ? true : `client ${i}: SELECT ? gave ${one}`;
  }), `execute(): a duplicate key is ${ER_DUP_ENTRY}, and the next execute() works`);

  await waitReplicated();

  // Reads: each row back with every value as stored, from a replica; binary and text protocol.
  const binaryPorts = new Set();
  okAll(await each(clients, (c, i) => readBack(i, BINARY, execute(c), binaryPorts)),
    'execute(): every row reads back with the values written (binary protocol), from a replica');
  ok(replicaPorts.every((p) => binaryPorts.has(p)), 'execute() reads ran on both replicas', [...binaryPorts].join(','));
  const textPorts = new Set();
  okAll(await each(clients, (c, i) => readBack(i, TEXT, query(c), textPorts)),
    'query(): every row reads back with the values written (text protocol), from a replica');
  ok(replicaPorts.every((p) => textPorts.has(p)), 'query() reads ran on both replicas', [...textPorts].join(','));
  okAll(await each(clients, async (c, i) => {
    const [[lit]] = await c.query('SELECT ? AS s, ? AS k, ? AS z, ? AS b', [`'x' \\ 😀 ${i}`, i, null, Buffer.from([0, 255, 39])]);
    if (lit.s !== `'x' \\ 😀 ${i}` || Number(lit.k) !== i || lit.z !== null || !Buffer.from(lit.b).equals(Buffer.from([0, 255, 39]))) {
      return `client ${i}: literals came back as ${show(lit)}`;
    }
    return true;
  }), 'query(): escaped literals (quote, backslash, emoji, NULL, bytes) round-trip');

  // prepare(): one statement kept by the client and executed many times (sluice lends whichever server
  // connection is free each time), then closed.
  okAll(await each(clients, async (c, i) => {
    const st = await c.prepare('SELECT ? + ? AS s, ? AS t');
    try {
      for (let k = 0; k < 10; k++) {
        const [[row]] = await st.execute([k, i, `t${k}`]);
        if (Number(row.s) !== k + i || row.t !== `t${k}`) return `client ${i}: execution ${k} gave ${show(row)}`;
      }
    } finally {
      st.close();
    }
    const [[after]] = await c.execute('SELECT COUNT(*) AS k FROM mysql2_t WHERE client = ? AND id < ?', [i, i * 1000 + TEXT]);
    return Number(after.k) === ROWS ? true : `client ${i}: ${after.k} rows after close`;
  }), 'prepare(): a statement executed 10 times with new parameters, closed, and the session goes on');

  await Promise.all(clients.map((c) => c.end()));
  await setup.query('DROP TABLE mysql2_t');
  await setup.end();
}

// A hang (a client waiting for a server connection that never comes back) fails the run, with a line.
const watchdog = setTimeout(() => {
  ok(false, 'the mysql2 run completed', 'still running after 60 s');
  console.log(`# ${passed} passed, ${failed} failed`);
  process.exit(1);
}, 60000);

main()
  .catch((e) => ok(false, 'the mysql2 run completed', describe(e)))
  .finally(() => {
    console.log(`# ${passed} passed, ${failed} failed`);
    process.exitCode = failed || !passed ? 1 : 0;
    clearTimeout(watchdog);
  });
