package dev.baton.examples.bench;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.Version;
import org.apache.zookeeper.ZooKeeper;
import org.slf4j.bridge.SLF4JBridgeHandler;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Measures Baton against raw ZooKeeper and raw Curator in one run, on one in-process ZooKeeper
 * server with fsync on, and writes a markdown table of Baton's figures beside their baselines,
 * with the ratios and whether the performance targets are met.
 *
 * <p>Every configuration is warmed up, then measured over several rounds; the rounds of the
 * configurations being compared are interleaved (in a rotating order), so that a machine that
 * gets busier or quieter during the run affects both sides of a ratio alike. Each figure is the
 * median over the rounds; each ratio is Baton's figure divided by its baseline's from the same run.
 *
 * <p>{@code --quick} runs a short version (well under a minute) whose figures only prove that
 * the benchmark works. {@code --out FILE} sets where the table is written (default
 * {@code target/benchmark.md}, or the system property {@code baton.bench.out}).
 */
public final class Benchmark {
    static final String USAGE = String.join(System.lineSeparator(),
            "Usage: Benchmark [--quick] [--out FILE] [--help]",
            "",
            "Measures Baton against raw ZooKeeper (the floor: create an ephemeral-sequential node,",
            "delete it) and raw Curator (InterProcessMutex, LeaderLatch) in one run on an in-process",
            "ZooKeeper server with fsync on, and prints a markdown table with the ratios and the",
            "performance targets, also written to FILE.",
            "",
            "  --quick     a short run (under a minute) for smoke tests; its figures mean little",
            "  --out FILE  where to write the table (default target/benchmark.md)",
            "  --help      show this help",
            "",
            "Exit code: 0 when the benchmark ran (whether or not the targets are met), 1 when it",
            "could not run, 2 for bad usage.");

    /** How long and how often to measure. */
    record Plan(String mode, int rounds, Duration warmUp, Duration window, int electionWarmUp,
                int electionSamples, int leases, int memoryRounds, Duration stream, Duration settle) {
    }

    static final Plan DEFAULT = new Plan("default", 5, Duration.ofSeconds(2), Duration.ofSeconds(2), 3, 20,
            10_000, 1, Duration.ofSeconds(60), Duration.ofSeconds(30));
    static final Plan QUICK = new Plan("quick", 3, Duration.ofMillis(250), Duration.ofMillis(250), 1, 2,
            1_000, 1, Duration.ofSeconds(2), Duration.ofSeconds(1));

    static final int TICK_MS = 200;
    static final int THREADS = 8;
    static final int[] SIBLINGS = {0, 100, 1_000};

    private final Plan plan;
    private final PrintStream out;

    // one thread, one key
    final Series floor = new Series("floor: raw ZooKeeper create ephemeral-sequential + delete, 1 thread");
    final Series curator1 = new Series("raw Curator InterProcessMutex acquire+release, 1 thread, depth 1");
    final Series baton1 = new Series("Baton acquire+close, 1 thread, depth 1");
    final Series baton4 = new Series("Baton acquire+close, 1 thread, depth 4");
    // eight sessions
    final Series curator8 = new Series("raw Curator, 8 threads/sessions, distinct keys");
    final Series baton8 = new Series("Baton, 8 threads/sessions, distinct keys");
    final Series curatorHandOff = new Series("raw Curator, 8 clients on one key: hand-off");
    final Series batonHandOff = new Series("Baton, 8 clients on one key: hand-off");
    // elections
    final Series curatorGraceful = new Series("raw Curator LeaderLatch: graceful hand-over");
    final Series batonGraceful = new Series("Baton election: graceful hand-over");
    final Series curatorCrash = new Series("raw Curator LeaderLatch: crash fail-over from session expiry");
    final Series batonCrash = new Series("Baton election: crash fail-over from session expiry");
    // siblings
    final List<Series> siblings = new ArrayList<>();
    // fresh keys
    final Series curatorFresh = new Series("raw Curator, 8 threads/sessions, every acquire on a fresh key");
    final Series batonFresh = new Series("Baton, 8 threads/sessions, every acquire on a fresh key");
    /** What a stream of fresh keys left under a namespace on a server with default container cleanup. */
    record Footprint(long keys, double keysPerSecond, long znodesLeft) {
        double perKey() {
            return keys == 0 ? Double.NaN : (double) znodesLeft / keys;
        }
    }

    Footprint curatorFootprint;
    Footprint batonFootprint;
    // memory, bytes per held lock, per round
    final List<Long> curatorBytes = new ArrayList<>();
    final List<Long> batonBytes = new ArrayList<>();

    private Benchmark(Plan plan, PrintStream out) {
        this.plan = plan;
        this.out = out;
        for (int n : SIBLINGS) {
            siblings.add(new Series(String.format(Locale.ROOT, "Baton fine lock acquire, %,d held siblings", n)));
        }
    }

    /** Runs the benchmark with the given arguments and exits with its exit code. */
    public static void main(String[] args) {
        System.exit(run(args, System.out));
    }

    /** Runs the benchmark, printing progress and the table to {@code out}; returns the exit code. */
    static int run(String[] args, PrintStream out) {
        Plan plan = DEFAULT;
        Path file = Path.of(System.getProperty("baton.bench.out", "target/benchmark.md"));
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--help") || arg.equals("-h")) {
                out.println(USAGE);
                return 0;
            } else if (arg.equals("--quick")) {
                plan = QUICK;
            } else if (arg.equals("--out") && i + 1 < args.length && !args[i + 1].isBlank()) {
                file = Path.of(args[++i]);
            } else if (arg.startsWith("--out=") && arg.length() > "--out=".length()) {
                file = Path.of(arg.substring("--out=".length()));
            } else {
                out.println(arg.startsWith("--out") ? "--out needs a file name" : "Unknown argument: " + arg);
                out.println(USAGE);
                return 2;
            }
        }
        file = file.toAbsolutePath();
        // lock-core logs through System.Logger, by default into java.util.logging (the console):
        // send that into SLF4J, which the bench profile points at a file, as the demo does
        if (!SLF4JBridgeHandler.isInstalled()) {
            SLF4JBridgeHandler.removeHandlersForRootLogger();
            SLF4JBridgeHandler.install();
        }
        try {
            Files.createDirectories(file.getParent());
            String report = new Benchmark(plan, out).measure(file);
            Files.writeString(file, report, StandardCharsets.UTF_8);
            out.println();
            out.println(report);
            out.println("Written to " + file);
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            out.println("The benchmark was interrupted.");
            return 1;
        } catch (Exception e) {
            out.println("The benchmark could not run: " + e);
            e.printStackTrace(out);
            return 1;
        }
    }

    private String measure(Path file) throws Exception {
        long start = System.nanoTime();
        double loadBefore = loadAverage();
        System.setProperty("zookeeper.admin.enableServer", "false");
        boolean fsync = !"no".equals(System.getProperty("zookeeper.forceSync"));
        out.printf(Locale.ROOT, "Baton benchmark (%s): %d rounds of %s per configuration after a warm-up; ZooKeeper fsync %s%n",
                plan.mode, plan.rounds, seconds(plan.window), fsync ? "ON" : "OFF");
        try (TestingServer server = new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, TICK_MS, -1), true)) {
            String connect = server.getConnectString();
            oneThread(connect);
            eightSessions(connect);
            handOff(connect);
            siblings(connect);
            elections(connect);
            freshKeys(connect);
        }
        memory(file.resolveSibling("bench-zk-server.log"));
        footprint(file.resolveSibling("bench-zk-footprint.log"));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        return new Report(this, plan, fsync, loadBefore, loadAverage(), took, file).markdown();
    }

    // ------------------------------------------------------------------------------ locks

    /** A configuration: its series and the loops (one per thread) that measure it. */
    private record Config(Series series, List<Window.Loop> loops) {
    }

    /** Warms every configuration up, then measures them in interleaved rounds. */
    private void compare(String title, List<Config> configs) throws Exception {
        long t0 = System.nanoTime();
        out.print("  " + title + " ...");
        out.flush();
        for (Config c : configs) {
            Window.run(c.loops, plan.warmUp); // discarded
        }
        for (int r = 0; r < plan.rounds; r++) {
            for (Config c : rotate(configs, r)) {
                c.series.add(Window.run(c.loops, plan.window));
            }
        }
        out.println(" " + seconds(Duration.ofNanos(System.nanoTime() - t0)));
    }

    private void oneThread(String connect) throws Exception {
        try (Sessions s = new Sessions(connect)) {
            ZooKeeper zk = s.zookeeper();
            CuratorFramework curator = s.curator();
            ZkLockService baton = s.baton();
            compare("(1)-(3) one thread, one key: floor, raw Curator, Baton depth 1 and 4", List.of(
                    new Config(floor, List.of(Sessions.acquireRelease(Sessions.floor(zk, "/floor")))),
                    new Config(curator1, List.of(Sessions.acquireRelease(Sessions.curator(curator, "/curator/one")))),
                    new Config(baton1, List.of(Sessions.acquireRelease(Sessions.baton(baton, LockKey.of("one"))))),
                    new Config(baton4, List.of(Sessions.acquireRelease(
                            Sessions.baton(baton, LockKey.of("four", "a", "b", "c")))))));
        }
    }

    private void eightSessions(String connect) throws Exception {
        try (Sessions s = new Sessions(connect)) {
            List<Window.Loop> curator = new ArrayList<>();
            List<Window.Loop> baton = new ArrayList<>();
            for (int i = 0; i < THREADS; i++) {
                curator.add(Sessions.acquireRelease(Sessions.curator(s.curator(), "/curator/t" + i)));
                baton.add(Sessions.acquireRelease(Sessions.baton(s.baton(), LockKey.of("t" + i))));
            }
            compare("(4) 8 threads, 8 sessions, distinct keys", List.of(
                    new Config(curator8, curator), new Config(baton8, baton)));
        }
    }

    private void handOff(String connect) throws Exception {
        try (Sessions s = new Sessions(connect)) {
            AtomicLong curatorReleased = new AtomicLong();
            AtomicLong batonReleased = new AtomicLong();
            List<Window.Loop> curator = new ArrayList<>();
            List<Window.Loop> baton = new ArrayList<>();
            for (int i = 0; i < THREADS; i++) {
                curator.add(Sessions.handOff(Sessions.curator(s.curator(), "/curator/contended"), curatorReleased));
                baton.add(Sessions.handOff(Sessions.baton(s.baton(), LockKey.of("contended")), batonReleased));
            }
            compare("(5) 8 clients contending on one key", List.of(
                    new Config(curatorHandOff, curator), new Config(batonHandOff, baton)));
        }
    }

    private void siblings(String connect) throws Exception {
        try (Sessions s = new Sessions(connect)) {
            ZkLockService holder = s.baton(); // another session holds the siblings
            ZkLockService measured = s.baton();
            List<LockKey> held = new ArrayList<>();
            List<Config> configs = new ArrayList<>();
            for (int i = 0; i < SIBLINGS.length; i++) {
                String parent = "fine" + SIBLINGS[i];
                for (int j = 0; j < SIBLINGS[i]; j++) {
                    held.add(LockKey.of(parent, "acct", "s" + j));
                }
                configs.add(new Config(siblings.get(i), List.of(
                        Sessions.acquireOnly(Sessions.baton(measured, LockKey.of(parent, "acct", "x"))))));
            }
            List<Lease> leases = holdAll(holder, held);
            try {
                compare("(7) a fine lock's acquire with 0, 100 and 1,000 held siblings", configs);
            } finally {
                leases.forEach(Lease::close);
            }
        }
    }

    private void freshKeys(String connect) throws Exception {
        try (Sessions s = new Sessions(connect)) {
            AtomicLong keys = new AtomicLong();
            List<Window.Loop> curator = new ArrayList<>();
            List<Window.Loop> baton = new ArrayList<>();
            for (int i = 0; i < THREADS; i++) {
                curator.add(Sessions.acquireRelease(Sessions.curatorFresh(s.curator(), "/curator-fresh", keys)));
                baton.add(Sessions.acquireRelease(Sessions.batonFresh(s.baton(), "fresh", keys)));
            }
            compare("(9) 8 threads, 8 sessions, every acquire on a fresh key", List.of(
                    new Config(curatorFresh, curator), new Config(batonFresh, baton)));
        }
    }

    /**
     * (10) A stream of fresh keys from 8 sessions as fast as they go, on a server in a child JVM
     * with ZooKeeper's default container cleanup (every 60 s, at most 10,000 a minute), then the
     * znodes left under the lock namespace a while after the stream ended, while the clients are
     * still connected: for raw Curator, then for Baton, each on a server of its own.
     */
    private void footprint(Path serverLog) throws Exception {
        long t0 = System.nanoTime();
        out.printf(Locale.ROOT, "  (10) znodes left %s after a %s stream of fresh keys (default container cleanup) ...",
                seconds(plan.settle), seconds(plan.stream));
        out.flush();
        for (boolean curator : List.of(true, false)) {
            try (ServerProcess zk = ServerProcess.start(TICK_MS, serverLog);
                 Sessions s = new Sessions(zk.connectString)) {
                AtomicLong keys = new AtomicLong();
                List<Window.Loop> loops = new ArrayList<>();
                for (int i = 0; i < THREADS; i++) {
                    loops.add(Sessions.acquireRelease(curator ? Sessions.curatorFresh(s.curator(), "/curator-fresh", keys)
                            : Sessions.batonFresh(s.baton(), "fresh", keys)));
                }
                Series.Round stream = Window.run(loops, plan.stream);
                Thread.sleep(plan.settle.toMillis()); // the cleanup being measured runs meanwhile
                int left = s.zookeeper().getAllChildrenNumber(curator ? "/curator-fresh" : "/baton");
                Footprint f = new Footprint(keys.get(), stream.opsPerSecond(), left);
                if (curator) {
                    curatorFootprint = f;
                } else {
                    batonFootprint = f;
                }
            }
        }
        out.println(" " + seconds(Duration.ofNanos(System.nanoTime() - t0)));
    }

    /** Acquires every key on {@code service}, eight at a time. */
    private static List<Lease> holdAll(ZkLockService service, List<LockKey> keys) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<Lease>> pending = new ArrayList<>();
            for (LockKey k : keys) {
                pending.add(pool.submit(() -> service.acquire(k)));
            }
            List<Lease> leases = new ArrayList<>();
            for (Future<Lease> f : pending) {
                leases.add(f.get());
            }
            return leases;
        } finally {
            pool.shutdownNow();
        }
    }

    // -------------------------------------------------------------------------- elections

    private void elections(String connect) throws Exception {
        long t0 = System.nanoTime();
        out.print("  (6) leader election: graceful hand-over and crash fail-over ...");
        out.flush();
        List<ElectionBench.Side> sides = List.of(ElectionBench.CURATOR, ElectionBench.BATON);
        try (ElectionBench bench = new ElectionBench(connect)) {
            for (ElectionBench.Side side : sides) {
                bench.graceful(side, "warm-g", plan.electionWarmUp); // discarded
                bench.crash(side, "warm-c", plan.electionWarmUp);
            }
            for (int r = 0; r < plan.rounds; r++) {
                for (ElectionBench.Side side : rotate(sides, r)) {
                    boolean curator = side == ElectionBench.CURATOR;
                    (curator ? curatorGraceful : batonGraceful).add(bench.graceful(side, "g" + r, plan.electionSamples));
                    (curator ? curatorCrash : batonCrash).add(bench.crash(side, "c" + r, plan.electionSamples));
                }
            }
        }
        out.println(" " + seconds(Duration.ofNanos(System.nanoTime() - t0)));
    }

    // ----------------------------------------------------------------------------- memory

    private void memory(Path serverLog) throws Exception {
        long t0 = System.nanoTime();
        out.printf(Locale.ROOT, "  (8) client heap with %,d locks held (server in a child JVM) ...", plan.leases);
        out.flush();
        try (ServerProcess zk = ServerProcess.start(TICK_MS, serverLog)) {
            for (int r = 0; r < plan.memoryRounds; r++) {
                for (boolean curator : rotate(List.of(true, false), r)) {
                    try (Sessions s = new Sessions(zk.connectString)) {
                        if (curator) {
                            curatorBytes.add(HeapBench.bytesPerLock(HeapBench.curator(s.curator()), plan.leases));
                        } else {
                            batonBytes.add(HeapBench.bytesPerLock(HeapBench.baton(s.baton()), plan.leases));
                        }
                    }
                }
            }
        }
        out.println(" " + seconds(Duration.ofNanos(System.nanoTime() - t0)));
    }

    // ------------------------------------------------------------------------------ helpers

    private static <T> List<T> rotate(List<T> list, int by) {
        List<T> rotated = new ArrayList<>(list);
        Collections.rotate(rotated, -(by % list.size()));
        return rotated;
    }

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    static String seconds(Duration d) {
        return d.toMillis() < 1000 ? d.toMillis() + " ms" : String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
    }

    /** The machine, for the report: cores, CPU model (where known), OS. */
    static String machine() {
        String cpu = "";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = " (" + line.substring(line.indexOf(':') + 1).trim() + ")";
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: the core count says enough
        }
        return Runtime.getRuntime().availableProcessors() + " cores" + cpu + ", " + System.getProperty("os.name")
                + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch");
    }

    static String jvm() {
        return System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version") + " ("
                + System.getProperty("java.vm.vendor") + "), max heap "
                + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MB";
    }

    static String versions() {
        String curator = CuratorFramework.class.getPackage().getImplementationVersion();
        return "ZooKeeper " + Version.getVersion() + ", Curator " + (curator == null ? "(unknown)" : curator);
    }

    static String now() {
        return ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'"));
    }
}
