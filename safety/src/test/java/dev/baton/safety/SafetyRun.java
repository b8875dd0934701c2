package dev.baton.safety;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.memory.InMemoryLockService;
import dev.baton.lock.test.EmbeddedEnsemble;
import dev.baton.lock.zk.LossPolicy;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * One safety run: an ensemble, a store server, N clients (some in child JVMs) running a
 * {@link Workload} and all joining one election whose leader runs a singleton job on the leader
 * scope, a seeded schedule of faults (every other one aimed at the elected leader), then the
 * checks: every client acquires again and a leader's job commits again after the last fault, no
 * znode is left once they have all closed, and the {@link Checker} finds no violation in the
 * history. The history is written to {@code target/safety/<name>-<seed>.log}.
 *
 * <p>An in-memory run has no ensemble: every client is a thread of this JVM sharing one
 * {@link InMemoryLockService}, the faults are {@link InMemoryLockService#loseAll} at random
 * moments, paused holders and a hung holder, and "nothing left behind" means every key is free at
 * the end.
 */
final class SafetyRun {

    /**
     * What to run. With {@code soak} zero, each of {@code faults} is injected once, in an order the
     * seed shuffles; otherwise faults drawn from it are injected until {@code soak} has passed.
     */
    record Config(String name, long seed, boolean cluster, int clients, int children, int keys,
                  Duration sessionTimeout, List<Injector.Fault> faults, Duration soak, Workload.Kind workload,
                  boolean memory) {

        static Config shortRun(String name, long seed, boolean cluster) {
            return new Config(name, seed, cluster, 6, 2, 4, Duration.ofSeconds(3), null, Duration.ZERO,
                    Workload.Kind.MIXED, false);
        }

        /**
         * The in-memory run: 6 clients on one service, the mixed workload, a "session" of 1 s (it
         * scales waits, long jobs and a hung job's lease time), and 4 LOSE_ALL, 3 PAUSE and 1 HUNG
         * faults in an order set by the seed.
         */
        static Config memoryRun(String name, long seed) {
            List<Injector.Fault> faults = List.of(Injector.Fault.LOSE_ALL, Injector.Fault.LOSE_ALL,
                    Injector.Fault.LOSE_ALL, Injector.Fault.LOSE_ALL, Injector.Fault.PAUSE, Injector.Fault.PAUSE,
                    Injector.Fault.PAUSE, Injector.Fault.HUNG);
            return new Config(name, seed, false, 6, 0, 4, Duration.ofSeconds(1), faults, Duration.ZERO,
                    Workload.Kind.MIXED, true);
        }

        Config withFaults(List<Injector.Fault> f) {
            return new Config(name, seed, cluster, clients, children, keys, sessionTimeout, f, soak, workload, memory);
        }

        Config withSoak(Duration d) {
            return new Config(name, seed, cluster, clients, children, keys, sessionTimeout, faults, d, workload,
                    memory);
        }

        Config withWorkload(Workload.Kind w) {
            return new Config(name, seed, cluster, clients, children, keys, sessionTimeout, faults, soak, w, memory);
        }

        /** A loss is told within the session timeout plus this: the LOST-only policy starts its own
         *  deadline at the suspension, which comes up to 2/3 of a session timeout after the fault. */
        Duration lossMargin() {
            return memory ? Duration.ofMillis(500) : sessionTimeout.plusSeconds(1);
        }

        /**
         * A request ends within its wait plus this: on ZooKeeper, a request whose client lost its
         * connection may first wait for a call to the ensemble to fail; in memory, a waiter may be
         * granted after its deadline if its thread has not run since (a stall of the whole test
         * JVM of 270 ms was seen on a loaded 2-core machine). A request that hangs never ends: the
         * margin only has to stay clear of scheduling noise.
         */
        Duration requestMargin() {
            return sessionTimeout.multipliedBy(2);
        }

        /** Every client acquires again within this of the last fault's end. */
        Duration livenessBound() {
            return sessionTimeout.multipliedBy(5).plusSeconds(10);
        }
    }

    /** What a run produced. */
    record Outcome(Config config, Verdict verdict, List<String> problems, String summary, Path log) {
        boolean ok() {
            return verdict.ok() && problems.isEmpty();
        }
    }

    private SafetyRun() {
    }

    /**
     * The clients' mix: a deterministic spread of loss policies (none in memory) and styles; the
     * first {@code children} in child JVMs.
     */
    static List<Worker.Spec> specs(int clients, int children, boolean memory) {
        List<Worker.Spec> out = new ArrayList<>();
        for (int i = 1; i <= clients; i++) {
            LossPolicy policy = memory ? null : i % 3 == 2 ? LossPolicy.LOSE_AT_LOST : LossPolicy.LOSE_AT_SUSPENDED;
            out.add(new Worker.Spec("c" + i, policy, i % 2 == 1, i <= children));
        }
        return out;
    }

    static Outcome run(Config config) throws Exception {
        Path dir = Path.of("target", "safety");
        Files.createDirectories(dir);
        String tag = config.name() + "-" + config.seed();
        Path logDir = dir.resolve(tag);
        Files.createDirectories(logDir);
        String namespace = "safety-" + tag;
        Random random = new Random(config.seed());
        History history = new History();
        Stores stores = new Stores(history);
        List<String> problems = new CopyOnWriteArrayList<>();
        List<Client> clients = new ArrayList<>();
        Duration st = config.sessionTimeout();
        int tickMs = (int) Math.max(100, st.toMillis() / (config.cluster() ? 7 : 10));
        long started = System.nanoTime();
        List<String> header = new ArrayList<>();
        Verdict verdict;
        Workload workload = new Workload(config.workload(), config.keys(), st);
        InMemoryLockService memory = config.memory() ? new InMemoryLockService() : null;
        try (StoreServer store = new StoreServer(history, stores);
             EmbeddedEnsemble ensemble = memory != null ? null
                     : config.cluster() ? EmbeddedEnsemble.cluster(3, Duration.ofMillis(tickMs))
                     : EmbeddedEnsemble.server(Duration.ofMillis(tickMs))) {
            List<Worker.Spec> specs = specs(config.clients(), config.children(), memory != null);
            try {
                for (Worker.Spec spec : specs) {
                    long seed = config.seed() * 31 + spec.id().hashCode();
                    clients.add(memory != null ? Client.inMemory(spec, memory, st, workload, seed, store.port())
                            : Client.start(spec, ensemble.addresses(), st, workload, config.keys(), seed, store.port(),
                            namespace, logDir));
                }
                if (!Injector.await(() -> clients.stream().allMatch(c -> store.lastGrant(c.spec.id()) >= 0)
                        && store.lastLeaderCommit() >= 0, Duration.ofSeconds(90))) {
                    problems.add("not every client got a first grant, or no leader committed, within 90 s");
                }

                Injector injector = memory != null
                        ? new Injector(history, store, memory, clients, st, random, problems)
                        : new Injector(history, store, ensemble, clients, st, random, problems);
                List<Injector.Fault> kinds = config.faults() != null ? config.faults()
                        : Injector.supported(ensemble, config.children() > 0);
                List<Injector.Fault> schedule = new ArrayList<>();
                if (config.soak().isZero()) {
                    schedule.addAll(kinds);
                    Collections.shuffle(schedule, random);
                }
                long soakEnd = System.nanoTime() + config.soak().toNanos();
                long id = 0;
                long leaderTurns = 0;
                while (config.soak().isZero() ? id < schedule.size() : System.nanoTime() < soakEnd) {
                    Injector.Fault fault = config.soak().isZero() ? schedule.get((int) id)
                            : kinds.get(random.nextInt(kinds.size()));
                    Thread.sleep((long) (st.toMillis() * (0.5 + random.nextDouble()))); // healthy traffic between faults
                    id++;
                    // faults that a leader can take go in turn at the elected leader's singleton job and at
                    // a lock holder (the shuffled schedule decides which kinds hit the leader in a short
                    // run); a hung holder needs a lock's lease time, so it is always a lock holder
                    boolean atLeader = fault != Injector.Fault.HUNG && leaderTurns++ % 2 == 0;
                    injector.inject(fault, id, atLeader);
                }

                long heal = history.now();
                if (!Injector.await(() -> clients.stream().allMatch(c -> store.lastGrant(c.spec.id()) > heal)
                        && store.lastLeaderCommit() > heal, config.livenessBound())) {
                    problems.add("not every client acquired again, or no leader committed, within "
                            + config.livenessBound() + " of the last fault");
                }
            } finally {
                for (Client c : clients) {
                    if (!c.stop(Duration.ofSeconds(30))) {
                        problems.add(c.spec.id() + " did not stop within 30 s");
                    }
                }
                clients.forEach(Client::close);
            }
            List<String> left = memory != null ? heldKeys(memory)
                    : leftoverZnodes(ensemble.connectString(), namespace, Duration.ofSeconds(60));
            history.record("injector", Event.Type.ZNODES, null, 0, 0, null, false, left.size(),
                    left.isEmpty() ? null : "left: " + left.subList(0, Math.min(20, left.size())));

            header.add("run " + tag + ": " + config);
            header.add("ensemble " + (memory != null ? "none (one InMemoryLockService)" : ensemble)
                    + "; workload " + config.workload() + "; clients " + specs.stream()
                    .map(s -> s.id() + "(" + s.describe() + ")").toList());
            header.add("machine " + Runtime.getRuntime().availableProcessors() + " cores, Java "
                    + System.getProperty("java.version") + ", ZooKeeper " + org.apache.zookeeper.Version.getFullVersion()
                    + ", Curator " + CuratorFramework.class.getPackage().getImplementationVersion() + ", " + Instant.now());
            header.add("session timeout " + st + ", loss notice bound " + st.plus(config.lossMargin())
                    + ", liveness bound " + config.livenessBound() + ", request margin " + config.requestMargin());
            header.add("replay: mvn -pl safety -am verify -Dtest=SafetyTest -Dsurefire.failIfNoSpecifiedTests=false"
                    + " -Dbaton.safety.seed=" + config.seed());
        } finally {
            if (memory != null) {
                memory.close();
            }
        }
        verdict = Checker.check(history.events(), st, config.lossMargin(), config.livenessBound(),
                config.requestMargin());
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        String summary = tag + " (" + took.toSeconds() + " s): " + verdict.summary()
                + (problems.isEmpty() ? "" : " PROBLEMS " + problems);
        header.add(summary);
        header.addAll(List.of(verdict.report().split("\n")));
        Path log = dir.resolve(tag + ".log");
        history.write(log, header);
        Files.writeString(dir.resolve("summary.txt"), Instant.now() + " " + summary + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        return new Outcome(config, verdict, List.copyOf(problems), summary, log);
    }

    /**
     * In-memory runs, once every client has stopped: the keys the workload uses that cannot be
     * acquired exclusively at once (something was left holding or waiting for them).
     */
    private static List<String> heldKeys(InMemoryLockService memory) {
        List<String> held = new ArrayList<>();
        for (String k : Workload.TREE) {
            Optional<Lease> lease = memory.tryAcquire(LockKey.parse(k));
            if (lease.isPresent()) {
                lease.get().close();
            } else {
                held.add(k);
            }
        }
        return held;
    }

    /**
     * Znodes under the namespace (with their cversion) once the server's container cleanup has had
     * up to {@code max} to run.
     */
    private static List<String> leftoverZnodes(String connectString, String namespace, Duration max) throws Exception {
        CuratorFramework observer = CuratorFrameworkFactory.newClient(connectString, 10_000, 10_000, new RetryOneTime(200));
        observer.start();
        try {
            observer.blockUntilConnected(30, TimeUnit.SECONDS);
            List<String> left = new ArrayList<>();
            Injector.await(() -> {
                left.clear();
                try {
                    collect(observer, "/" + namespace, left);
                } catch (Exception e) {
                    left.add("(could not list: " + e + ")");
                }
                return left.isEmpty();
            }, max);
            return left;
        } finally {
            observer.close();
        }
    }

    private static void collect(CuratorFramework c, String path, List<String> out) throws Exception {
        List<String> children;
        try {
            children = c.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return;
        }
        for (String child : children) {
            String p = path + "/" + child;
            org.apache.zookeeper.data.Stat stat = c.checkExists().forPath(p);
            out.add(p + (stat == null ? "" : " (cversion " + stat.getCversion() + ", owner 0x"
                    + Long.toHexString(stat.getEphemeralOwner()) + ")"));
            collect(c, p, out);
        }
    }
}
