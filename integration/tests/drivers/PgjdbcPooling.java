// Pooling correctness seen through pgjdbc (Debian's libpostgresql-jdbc-java), which uses the extended
// protocol for everything (unnamed statements, then named S_N ones past prepareThreshold). Each scenario
// runs in transaction pooling (app) and session pooling (app_session), other clients busy meanwhile.
// Run by pgjdbc.sh; ports come from the environment (sandbox.sh env). Prints TAP-like lines.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicBoolean;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.PGStatement;

public final class PgjdbcPooling {
  static final String HOST = "127.0.0.1";
  static final int SLUICE = Integer.parseInt(System.getenv("SLUICE_PORT"));
  static final int PRIMARY = Integer.parseInt(System.getenv("PRIMARY_PORT"));
  static final Set<Integer> REPLICAS = Set.of(Integer.parseInt(System.getenv("REPLICA1_PORT")),
                                              Integer.parseInt(System.getenv("REPLICA2_PORT")));
  static final String[][] MODES = {{"transaction", "app", "app_pw"}, {"session", "app_session", "session_pw"}};
  static final int WATCHDOG_S = 85;  // the whole program; ctest's TIMEOUT is the backstop

  static int passed = 0;
  static int failed = 0;

  static synchronized boolean ok(boolean condition, String what, Object detail) {
    if (condition) {
      passed++;
      System.out.println("ok - " + what);
    } else {
      failed++;
      System.out.println("not ok - " + what + (detail != null ? ": " + detail : ""));
    }
    System.out.flush();
    return condition;
  }

  static void info(String msg) {
    System.out.println("# " + msg);
    System.out.flush();
  }

  static String describe(SQLException e) {
    if (e == null) return "no error";
    String msg = String.valueOf(e.getMessage()).split("\n")[0];
    return e.getClass().getSimpleName() + " sqlstate=" + e.getSQLState() + " '" + msg + "'";
  }

  /** Through sluice. prepareThreshold < 0: the driver's default (5). Socket timeout: nothing hangs. */
  static Connection connect(String[] mode, int prepareThreshold) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", mode[1]);
    p.setProperty("password", mode[2]);
    p.setProperty("sslmode", "disable");
    p.setProperty("connectTimeout", "5");
    p.setProperty("socketTimeout", "20");
    if (prepareThreshold >= 0) p.setProperty("prepareThreshold", Integer.toString(prepareThreshold));
    return DriverManager.getConnection("jdbc:postgresql://" + HOST + ":" + SLUICE + "/app", p);
  }

  static Connection connect(String[] mode) throws SQLException {
    return connect(mode, -1);
  }

  /** Straight to the primary as postgres (trust on loopback). */
  static Connection direct() throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", "postgres");
    p.setProperty("sslmode", "disable");
    p.setProperty("connectTimeout", "5");
    p.setProperty("socketTimeout", "20");
    return DriverManager.getConnection("jdbc:postgresql://" + HOST + ":" + PRIMARY + "/app", p);
  }

  static String value(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  /** Runs sql; returns null or the error it raised, described. */
  static String errorOf(Connection c, String sql) {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
      return null;
    } catch (SQLException e) {
      return describe(e);
    }
  }

  interface Check {
    /** null when all is well, else a problem. */
    String run(Connection c, int index) throws SQLException;
  }

  /** Other clients, each on its own connection, running a check in a loop until closed. */
  static final class Crowd implements AutoCloseable {
    final List<Connection> conns = new ArrayList<>();
    final List<Thread> threads = new ArrayList<>();
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicInteger runs = new AtomicInteger();
    final Queue<String> problems = new ConcurrentLinkedQueue<>();
    final Queue<String> sqlstates = new ConcurrentLinkedQueue<>();

    Crowd(String[] mode, int count, Check check) throws SQLException {
      for (int i = 0; i < count; i++) conns.add(connect(mode));
      for (int i = 0; i < count; i++) {
        final int index = i;
        Thread th = new Thread(() -> {
          while (!stop.get()) {
            String problem;
            try {
              problem = check.run(conns.get(index), index);
            } catch (SQLException e) {
              sqlstates.add(String.valueOf(e.getSQLState()));
              problem = describe(e);
            } catch (RuntimeException e) {
              problem = e.toString();
            }
            if (problem != null) problems.add("client " + index + ": " + problem);
            runs.incrementAndGet();
          }
        });
        th.setDaemon(true);
        threads.add(th);
        th.start();
      }
    }

    /** Until `more` further checks completed (other clients' activity between two steps). */
    boolean waitRuns(int more, long timeoutMs) throws InterruptedException {
      final int target = runs.get() + more;
      final long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
      while (runs.get() < target) {
        if (System.nanoTime() >= deadline) return false;
        Thread.sleep(5);
      }
      return true;
    }

    boolean waitRuns(int more) throws InterruptedException {
      return waitRuns(more, 5000);
    }

    String problems() {
      List<String> first = new ArrayList<>();
      for (String p : problems) {
        if (first.size() == 3) break;
        first.add(p);
      }
      return first.toString();
    }

    @Override
    public void close() throws InterruptedException {
      stop.set(true);
      for (Thread th : threads) th.join(10_000);
      for (Connection c : conns) {
        try {
          c.close();
        } catch (SQLException e) {
          // closing: nothing to do
        }
      }
    }
  }

  // -------------------------------------------------------------------------------------------------

  static void prepareThreshold(String[] mode, int threshold) throws Exception {
    final String label = mode[0] + ", prepareThreshold=" + (threshold < 0 ? "5 (default)" : threshold);
    try (Connection c = connect(mode, threshold);
         Connection other1 = connect(mode, threshold);
         Connection other2 = connect(mode, threshold);
         Crowd crowd = new Crowd(mode, 2, (conn, index) -> {
           try (PreparedStatement ps = conn.prepareStatement("select ?::int * 7")) {
             for (int i = 0; i < 6; i++) {  // past the threshold within each round
               ps.setInt(1, i + index);
               try (ResultSet rs = ps.executeQuery()) {
                 rs.next();
                 if (rs.getInt(1) != 7 * (i + index)) return "got " + rs.getInt(1) + " for " + (i + index);
               }
             }
           }
           return null;
         })) {
      // other1 prepares another query first (its S_1 is a different statement), other2 the same text.
      PreparedStatement mine = c.prepareStatement("select ?::int * 2, ?::text");
      PreparedStatement theirs1 = other1.prepareStatement("select ?::int + 1000, 'o1'");
      PreparedStatement theirs2 = other2.prepareStatement("select ?::int * 2, ?::text");
      List<String> bad = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        try {
          mine.setInt(1, i);
          mine.setString(2, "a" + i);
          try (ResultSet rs = mine.executeQuery()) {
            rs.next();
            if (rs.getInt(1) != 2 * i || !rs.getString(2).equals("a" + i)) {
              bad.add("run " + i + ": got " + rs.getInt(1) + "," + rs.getString(2));
            }
          }
        } catch (SQLException e) {
          bad.add("run " + i + ": " + describe(e));
        }
        try {
          theirs1.setInt(1, i);
          try (ResultSet rs = theirs1.executeQuery()) {
            rs.next();
            if (rs.getInt(1) != i + 1000) bad.add("other1 run " + i + ": got " + rs.getInt(1));
          }
          theirs2.setInt(1, i + 50);
          theirs2.setString(2, "b" + i);
          try (ResultSet rs = theirs2.executeQuery()) {
            rs.next();
            if (rs.getInt(1) != 2 * (i + 50) || !rs.getString(2).equals("b" + i)) {
              bad.add("other2 run " + i + ": got " + rs.getInt(1) + "," + rs.getString(2));
            }
          }
        } catch (SQLException e) {
          bad.add("others run " + i + ": " + describe(e));
        }
        crowd.waitRuns(1);
      }
      boolean serverPrepared = mine.unwrap(PGStatement.class).isUseServerPrepare();
      ok(bad.isEmpty(), label + ": a PreparedStatement executed 20 times, interleaved with 2 other "
         + "connections' statements: right results each time (server-prepared: " + serverPrepared + ")",
         bad.size() > 3 ? bad.subList(0, 3) : bad);
      crowd.waitRuns(2);
      ok(crowd.runs.get() >= 2 && crowd.problems.isEmpty(),
         label + ": " + crowd.runs.get() + " rounds by 2 more clients' PreparedStatements meanwhile: right results",
         crowd.problems());
    }
  }

  static void tempTable(String[] mode) throws Exception {
    final String m = mode[0];
    try (Connection c = connect(mode)) {
      ok(errorOf(c, "create temp table jdbc_tmp (x int)") == null,
         m + ": Statement.execute(create temp table jdbc_tmp)", null);
      try (Crowd crowd = new Crowd(mode, 3, (conn, index) -> {
             String seen = value(conn, (index % 2 == 1 ? "/* sluice: primary */ " : "")
                                       + "select to_regclass('pg_temp.jdbc_tmp')::text");
             return seen == null ? null : "sees the other connection's temp table (" + seen + ")";
           })) {
        List<String> errors = new ArrayList<>();
        try (PreparedStatement insert = c.prepareStatement("insert into jdbc_tmp values (?)")) {
          for (int x = 1; x <= 3; x++) {
            try {
              insert.setInt(1, x);
              insert.executeUpdate();
            } catch (SQLException e) {
              errors.add(describe(e));
            }
            crowd.waitRuns(1);
          }
        }
        ok(errors.isEmpty(), m + ": PreparedStatement insert into jdbc_tmp values (?) x3, interleaved", errors);
        List<String> counts = new ArrayList<>();
        try (PreparedStatement count = c.prepareStatement("select count(*) from jdbc_tmp where x <= ?")) {
          for (int i = 0; i < 10; i++) {
            try {
              if (i % 2 == 0) {
                counts.add(value(c, "select count(*) from jdbc_tmp"));
              } else {
                count.setInt(1, 3);
                try (ResultSet rs = count.executeQuery()) {
                  rs.next();
                  counts.add(rs.getString(1));
                }
              }
            } catch (SQLException e) {
              counts.add(describe(e));
            }
            crowd.waitRuns(1);
          }
        }
        ok(counts.stream().allMatch("3"::equals),
           m + ": 10 counts of jdbc_tmp (Statement and PreparedStatement): 3 each", counts);
        crowd.waitRuns(3);
        ok(crowd.runs.get() >= 3 && crowd.problems.isEmpty(),
           m + ": " + crowd.runs.get() + " checks by other connections: they never see jdbc_tmp", crowd.problems());
      }
      try (Connection other = connect(mode)) {
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < 5; i++) errors.add(errorOf(other, "/* sluice: primary */ select count(*) from jdbc_tmp"));
        ok(errors.stream().allMatch(e -> e != null && e.contains("sqlstate=42P01")),
           m + ": another connection: select count(*) from jdbc_tmp x5 -> 42P01 each", errors);
      }
    }
  }

  /** Waits up to timeoutMs for a notification with this payload; the seconds waited, or -1. */
  static double waitNotification(PGConnection pg, List<String> got, String payload, long timeoutMs)
      throws SQLException {
    final long t0 = System.nanoTime();
    final long deadline = t0 + timeoutMs * 1_000_000L;
    while (!got.contains(payload)) {
      final long remainingMs = (deadline - System.nanoTime()) / 1_000_000L;
      if (remainingMs <= 0) return -1;
      PGNotification[] ns = pg.getNotifications((int) Math.max(1, remainingMs));
      if (ns != null) {
        for (PGNotification n : ns) got.add(n.getParameter());
      }
    }
    return (System.nanoTime() - t0) / 1e9;
  }

  static void listen(String[] mode) throws Exception {
    final String m = mode[0];
    final String channel = "jdbc_chan_" + mode[1];
    try (Connection c = connect(mode); Connection d = direct()) {
      PGConnection pg = c.unwrap(PGConnection.class);
      List<String> got = new ArrayList<>();
      String error = errorOf(c, "listen " + channel);
      ok(error == null, m + ": Statement.execute(listen " + channel + ")", error);
      try (Statement st = d.createStatement()) {
        st.execute("notify " + channel + ", 'first'");
      }
      double waited = waitNotification(pg, got, "first", 5000);
      ok(waited >= 0, m + ": getNotifications(timeout) receives the NOTIFY from a direct connection within 5 s"
         + (waited >= 0 ? String.format(" (%.2f s)", waited) : ""), "got " + got);
      List<String> errors = new ArrayList<>();
      for (String sql : new String[] {"select 1", "select inet_server_port()", "select 2"}) {
        String e = errorOf(c, sql);
        if (e != null) errors.add(e);
      }
      try (Statement st = d.createStatement()) {
        st.execute("notify " + channel + ", 'second'");
      }
      waited = waitNotification(pg, got, "second", 5000);
      ok(errors.isEmpty() && waited >= 0,
         m + ": after 3 other statements, a second NOTIFY is received within 5 s", "got " + got + ", " + errors);
    }
  }

  static void queryTimeout(String[] mode, String route) throws Exception {
    final String m = mode[0] + " (" + (route.isEmpty() ? "replica route" : "primary route") + ")";
    try (Connection c = connect(mode); Connection o1 = connect(mode); Connection o2 = connect(mode)) {
      SQLException error = null;
      final long t0 = System.nanoTime();
      try (Statement st = c.createStatement()) {
        st.setQueryTimeout(1);
        st.execute(route + "select pg_sleep(3)");
      } catch (SQLException e) {
        error = e;
      }
      final double elapsed = (System.nanoTime() - t0) / 1e9;
      ok(error != null && "57014".equals(error.getSQLState()) && elapsed >= 0.8 && elapsed < 2.5,
         m + ": setQueryTimeout(1) on select pg_sleep(3): 57014 after about 1 s",
         String.format("%s after %.2f s", describe(error), elapsed));
      // Right after: this connection and two others, at once; none of it may be cancelled.
      final Queue<String> bad = new ConcurrentLinkedQueue<>();
      final AtomicInteger done = new AtomicInteger();
      List<Thread> threads = new ArrayList<>();
      Connection[] conns = {c, o1, o2};
      for (int j = 0; j < conns.length; j++) {
        final Connection conn = conns[j];
        final int index = j;
        Thread th = new Thread(() -> {
          for (int i = 0; i < 6; i++) {
            String sql = (i % 2 == 1 ? "/* sluice: primary */ " : route) + "select pg_sleep(0.05), " + i;
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
              rs.next();
              if (rs.getInt(2) != i) bad.add("conn " + index + ": got " + rs.getInt(2));
              done.incrementAndGet();
            } catch (SQLException e) {
              bad.add("conn " + index + " statement " + i + ": " + describe(e));
            }
          }
        });
        threads.add(th);
        th.start();
      }
      for (Thread th : threads) th.join(20_000);
      ok(bad.isEmpty() && done.get() == 18,
         m + ": the next 6 statements of this and of 2 other connections (" + done.get() + "/18 done) are not cancelled",
         bad);
    }
  }

  static void setInTransaction(String[] mode) throws Exception {
    final String m = mode[0];
    try (Connection c = connect(mode)) {
      final String deflt = value(c, "show work_mem");
      String error = null;
      try (Statement st = c.createStatement()) {
        c.setAutoCommit(false);
        st.execute("set work_mem = '7MB'");
        c.commit();
      } catch (SQLException e) {
        error = describe(e);
      } finally {
        c.setAutoCommit(true);
      }
      ok(error == null, m + ": setAutoCommit(false); set work_mem = '7MB'; commit", error);
      // Mostly on the primary, where the transaction ran.
      try (Crowd crowd = new Crowd(mode, 4, (conn, index) -> {
             String seen = value(conn, (index % 4 != 0 ? "/* sluice: primary */ " : "") + "show work_mem");
             return deflt.equals(seen) ? null : "work_mem " + seen;
           })) {
        crowd.waitRuns(6);  // other clients ran before the client looks again
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
          try {
            seen.add(value(c, (i % 2 == 1 ? "/* sluice: primary */ " : "") + "show work_mem"));
          } catch (SQLException e) {
            seen.add(describe(e));
          }
          crowd.waitRuns(1);
        }
        ok(seen.stream().allMatch("7MB"::equals),
           m + ": after the commit and other clients' statements, 10 show work_mem (replica and primary routes) -> 7MB",
           seen);
        ok(crowd.runs.get() >= 6 && crowd.problems.isEmpty(),
           m + ": " + crowd.runs.get() + " show work_mem by other clients: the default (" + deflt + ")",
           crowd.problems());
      }
    }
  }

  interface Section {
    void run() throws Exception;
  }

  static void section(String name, Section body) {
    info("--- " + name);
    final long t0 = System.nanoTime();
    try {
      body.run();
    } catch (Exception e) {
      ok(false, name + ": unexpected exception", e instanceof SQLException ? describe((SQLException) e) : e.toString());
      e.printStackTrace(System.out);
    }
    info(String.format("(%s: %.2f s)", name, (System.nanoTime() - t0) / 1e9));
  }

  static void waitForReplicaReads() throws Exception {
    // Until sluice's probes are fresh, reads go to the primary, which would hide every defect that
    // sends a read to a replica.
    try (Connection c = connect(MODES[0])) {
      final long deadline = System.nanoTime() + 10_000_000_000L;
      while (!REPLICAS.contains(Integer.parseInt(value(c, "select inet_server_port()")))) {
        if (System.nanoTime() >= deadline) throw new IllegalStateException("no read reached a replica within 10 s");
        Thread.sleep(100);
      }
    }
  }

  public static void main(String[] args) throws Exception {
    Thread watchdog = new Thread(() -> {
      try {
        Thread.sleep(WATCHDOG_S * 1000L);
      } catch (InterruptedException e) {
        return;
      }
      System.out.println("not ok - the program did not finish within " + WATCHDOG_S + " s (a statement hung?)");
      System.out.flush();
      Runtime.getRuntime().halt(2);
    });
    watchdog.setDaemon(true);
    watchdog.start();
    final long t0 = System.nanoTime();
    info("pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + " on Java " + System.getProperty("java.version"));
    waitForReplicaReads();
    for (String[] mode : MODES) {
      final String p = mode[0] + " pooling (" + mode[1] + "): ";
      section(p + "prepareThreshold 5", () -> prepareThreshold(mode, -1));
      section(p + "prepareThreshold 1", () -> prepareThreshold(mode, 1));
      section(p + "temp table", () -> tempTable(mode));
      section(p + "LISTEN and getNotifications", () -> listen(mode));
      section(p + "setQueryTimeout, replica route", () -> queryTimeout(mode, ""));
      section(p + "setQueryTimeout, primary route", () -> queryTimeout(mode, "/* sluice: primary */ "));
      section(p + "SET in a transaction, after commit", () -> setInTransaction(mode));
    }
    System.out.printf("# %d passed, %d failed in %.1f s%n", passed, failed, (System.nanoTime() - t0) / 1e9);
    System.out.flush();
    System.exit(failed > 0 || passed == 0 ? 1 : 0);
  }
}
