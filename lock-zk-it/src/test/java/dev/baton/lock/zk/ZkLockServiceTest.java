package dev.baton.lock.zk;

import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;
import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.StaleTokenException;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.imps.CuratorFrameworkState;
import org.apache.curator.retry.RetryOneTime;
import dev.baton.lock.test.BatonZooKeeper;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The ZooKeeper engine on a real server: contention across sessions, fencing, layout, cleanup. */
class ZkLockServiceTest {
    private static final Duration PATIENCE = Duration.ofSeconds(30);

    private final List<ZkLockService> services = new ArrayList<>();
    private ExecutorService pool;

    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofMillis(500));

    @BeforeEach
    void startPool() {
        pool = Executors.newCachedThreadPool();
    }

    @AfterEach
    void closeAll() {
        pool.shutdownNow();
        services.forEach(ZkLockService::close);
    }

    private ZkLockService service(String namespace, Duration session) {
        ZkLockService s = ZkLockService.builder().connectString(zk.connectString()).namespace(namespace)
                .sessionTimeout(session).build();
        services.add(s);
        return s;
    }

    private ZkLockService service() {
        return service(zk.namespace(), Duration.ofSeconds(10)); // no spurious expiry on a loaded machine
    }

    private static long sessionOf(ZkLockService s) throws Exception {
        return s.client().getZookeeperClient().getZooKeeper().getSessionId();
    }

    @Test
    void twoSessionsHammeringFourKeysNeverOverlapAndTokensIncreaseInGrantOrder() throws Exception {
        List<ZkLockService> clients = List.of(service(), service());
        List<LockKey> keys = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            keys.add(LockKey.of("hammer", "k" + k));
        }
        Map<LockKey, AtomicInteger> inside = new HashMap<>();
        Map<LockKey, List<FencingToken>> grants = new HashMap<>();
        for (LockKey k : keys) {
            inside.put(k, new AtomicInteger());
            grants.put(k, java.util.Collections.synchronizedList(new ArrayList<>())); // appended while holding k
        }
        AtomicInteger overlaps = new AtomicInteger();
        long until = System.nanoTime() + Duration.ofSeconds(4).toNanos();
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Integer>> workers = new ArrayList<>();
        for (ZkLockService client : clients) {
            for (int t = 0; t < 8; t++) {
                int seed = t;
                workers.add(pool.submit(() -> {
                    go.await();
                    int done = 0;
                    for (int i = seed; System.nanoTime() < until; i++) {
                        LockKey key = keys.get(i % keys.size());
                        client.withLock(key, LockOptions.defaults().waitAtMost(PATIENCE), lease -> {
                            if (inside.get(key).incrementAndGet() != 1) {
                                overlaps.incrementAndGet();
                            }
                            grants.get(key).add(lease.token());
                            inside.get(key).decrementAndGet();
                            return null;
                        });
                        done++;
                    }
                    return done;
                }));
            }
        }
        go.countDown();
        int total = 0;
        for (Future<Integer> w : workers) {
            total += w.get(PATIENCE.toSeconds() * 2, SECONDS);
        }
        assertEquals(0, overlaps.get(), "two holders of one key at once");
        assertTrue(total > 100, "only " + total + " acquisitions: the test exercised nothing");
        int recorded = 0;
        for (LockKey k : keys) {
            List<FencingToken> tokens = grants.get(k);
            recorded += tokens.size();
            for (int i = 1; i < tokens.size(); i++) {
                assertTrue(tokens.get(i).isNewerThan(tokens.get(i - 1)),
                        k + ": grant " + i + " got " + tokens.get(i) + " after " + tokens.get(i - 1));
            }
        }
        assertEquals(total, recorded);
    }

    @Test
    void aPausedHolderWhoseSessionExpiredCannotWriteThroughTheFence() throws Exception {
        ZkLockService a = service(zk.namespace(), Duration.ofSeconds(2));
        ZkLockService b = service();
        LockKey key = LockKey.of("billing", "account", "7");
        Fence fence = new Fence();
        Map<String, String> store = new HashMap<>();

        Lease leaseA = a.acquire(key, PATIENCE);
        fence.check("account-7", leaseA.token()); // A begins its critical section
        CountDownLatch resumeA = new CountDownLatch(1);
        AtomicReference<Throwable> aWrite = new AtomicReference<>();
        Future<?> threadA = pool.submit(() -> {
            // A is paused here (think of a long GC pause): it runs no code and checks nothing
            awaitUninterruptibly(resumeA);
            try {
                fence.guard("account-7", leaseA.token(), () -> store.put("account-7", "written by A"));
            } catch (StaleTokenException e) {
                aWrite.set(e);
            }
        });

        // Cut off long enough for its session to expire
        zk.ensemble().expireSession(a.client());
        try (Lease leaseB = b.acquire(key, PATIENCE)) {
            assertTrue(leaseB.token().isNewerThan(leaseA.token()));
            fence.guard("account-7", leaseB.token(), () -> store.put("account-7", "written by B"));
        }

        resumeA.countDown();
        threadA.get(PATIENCE.toSeconds(), SECONDS);
        StaleTokenException rejected = (StaleTokenException) aWrite.get();
        assertNotNull(rejected, "A's late write was accepted");
        assertEquals(leaseA.token(), rejected.offered());
        assertEquals("written by B", store.get("account-7"));
        // A is told too (through its client's event thread, which may lag behind B's grant)
        await().atMost(PATIENCE).until(() -> !leaseA.isValid());
        leaseA.close();
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                if (latch.await(PATIENCE.toSeconds(), SECONDS)) {
                    break;
                }
                fail("never resumed");
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Regression for a known Curator hazard: a waiter whose client believes its session expired
     * (while the server still keeps it) reconnects with a new session, and InterProcessMutex then
     * grants it on the node of the old session. That node vanishes when the old session expires on
     * the server, and someone else gets the lock. Baton must refuse such a grant.
     */
    @Test
    void aGrantOnANodeOfAnEarlierSessionIsRefused() throws Exception {
        ZkLockService holderSide = service();
        ZkLockService waiterSide = service(zk.namespace(), Duration.ofSeconds(4));
        LockKey key = LockKey.of("phantom", "k");
        Lease holder = holderSide.acquire(key, PATIENCE);
        Future<Lease> waiting = pool.submit(() -> waiterSide.acquire(key, PATIENCE));
        await().atMost(PATIENCE).until(() -> queueLength(key) == 2);

        long oldSession = sessionOf(waiterSide);
        waiterSide.client().getZookeeperClient().getZooKeeper().getTestable().injectSessionExpiration();
        await().atMost(PATIENCE).until(() -> waiterSide.client().getZookeeperClient().isConnected()
                && sessionOf(waiterSide) != oldSession);
        holder.close();

        Lease lease = waiting.get(PATIENCE.toSeconds(), SECONDS);
        Stat stat = zk.observer().checkExists().forPath("/" + zk.namespace() + ZkLockService.nodeOf(lease));
        assertNotNull(stat, "granted on a node that does not exist");
        assertEquals(sessionOf(waiterSide), stat.getEphemeralOwner(),
                "granted on a node owned by session 0x" + Long.toHexString(stat.getEphemeralOwner())
                        + " instead of the current 0x" + Long.toHexString(sessionOf(waiterSide)));
        assertNotEquals(oldSession, stat.getEphemeralOwner());
        assertTrue(lease.isValid());
        lease.close();
    }

    @Test
    void interruptsAndTimeoutsAtRandomMomentsLeaveNothingBehind() throws Exception {
        ZkLockService s = service();
        LockKey key = LockKey.of("chaos", "interrupts");
        int threads = 6;
        long until = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        List<Thread> workers = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicInteger granted = new AtomicInteger();
        AtomicInteger interrupted = new AtomicInteger();
        AtomicInteger timedOut = new AtomicInteger();
        List<Future<Void>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            futures.add(pool.submit(() -> {
                workers.add(Thread.currentThread());
                java.util.Random random = new java.util.Random();
                while (System.nanoTime() < until) {
                    try (Lease lease = s.acquire(key, Duration.ofMillis(random.nextInt(30)))) {
                        granted.incrementAndGet();
                        assertTrue(lease.token().value() > 0);
                    } catch (InterruptedException e) {
                        interrupted.incrementAndGet();
                    } catch (dev.baton.lock.LockTimeoutException e) {
                        timedOut.incrementAndGet();
                    }
                    Thread.interrupted(); // an interrupt that arrived after the grant
                }
                return null;
            }));
        }
        java.util.Random random = new java.util.Random();
        while (System.nanoTime() < until) {
            synchronized (workers) {
                if (!workers.isEmpty()) {
                    workers.get(random.nextInt(workers.size())).interrupt();
                }
            }
            java.util.concurrent.locks.LockSupport.parkNanos(random.nextInt(3_000_000));
        }
        for (Future<Void> f : futures) {
            f.get(PATIENCE.toSeconds(), SECONDS);
        }
        assertTrue(granted.get() > 0 && interrupted.get() > 0 && timedOut.get() > 0,
                "granted " + granted + ", interrupted " + interrupted + ", timed out " + timedOut + " " + ZkTesting.dump(zk.observer(), "/" + zk.namespace() + "/locks"));
        try {
            await().atMost(PATIENCE).until(() -> queueLength(key) == 0);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("left behind: " + zk.observer().getChildren().forPath("/" + zk.namespace() + ZkLockService.queuePath(key)), e);
        }
        try (Lease lease = s.acquire(key, Duration.ZERO)) {
            assertTrue(lease.isValid(), "the key is still blocked after the storm");
        }
    }

    @Test
    void failedAttemptsAgainstAHeldLockDoNotPileUpWatchers() throws Exception {
        ZkLockService holderSide = service();
        ZkLockService poller = service();
        LockKey key = LockKey.of("poll", "held");
        try (Lease held = holderSide.acquire(key, PATIENCE)) {
            for (int i = 0; i < 300; i++) {
                assertTrue(poller.tryAcquire(key).isEmpty(), "granted while " + held + " is held");
            }
            // each failed attempt watched the holder's node; one watcher object per path is enough
            assertTrue(dataWatchers(poller) <= 2, dataWatchers(poller) + " data watchers after 300 failed attempts");
        }
    }

    /** Data watchers registered on the client's ZooKeeper handle (its watch manager is not public). */
    private static int dataWatchers(ZkLockService s) throws Exception {
        org.apache.zookeeper.ZooKeeper zk = s.client().getZookeeperClient().getZooKeeper();
        java.lang.reflect.Method manager = org.apache.zookeeper.ZooKeeper.class.getDeclaredMethod("getWatchManager");
        manager.setAccessible(true);
        Object watchManager = manager.invoke(zk);
        java.lang.reflect.Method watches = watchManager.getClass().getDeclaredMethod("getDataWatches");
        watches.setAccessible(true);
        @SuppressWarnings("unchecked")
        Map<String, java.util.Set<org.apache.zookeeper.Watcher>> byPath =
                (Map<String, java.util.Set<org.apache.zookeeper.Watcher>>) watches.invoke(watchManager);
        synchronized (byPath) {
            return byPath.values().stream().mapToInt(java.util.Set::size).sum();
        }
    }

    /**
     * Regression: Curator creates a lock node's parents one level at a time; an acquire interrupted
     * between two of them left a container that never had a child, which the server never removes
     * (167 such nodes after this test, before the fix).
     */
    @Test
    void acquiresInterruptedWhileCreatingParentsLeaveNoContainerBehind() throws Exception {
        ZkLockService s = service("interrupted", Duration.ofSeconds(10));
        List<Thread> threads = new ArrayList<>();
        AtomicInteger interruptedCount = new AtomicInteger();
        for (int t = 0; t < 4; t++) {
            int id = t;
            Thread thread = new Thread(() -> {
                for (int i = 0; i < 250; i++) {
                    try (Lease lease = s.acquire(LockKey.of("fresh", "t" + id + "-" + i, "x"), PATIENCE)) {
                        assertTrue(lease.token().value() > 0);
                    } catch (InterruptedException e) {
                        interruptedCount.incrementAndGet();
                    }
                    Thread.interrupted(); // an interrupt that came after the grant
                }
            });
            threads.add(thread);
            thread.start();
        }
        java.util.Random random = new java.util.Random();
        while (threads.stream().anyMatch(Thread::isAlive)) {
            threads.get(random.nextInt(threads.size())).interrupt();
            // about a millisecond apart, so interrupts land inside ZooKeeper calls, not before them
            java.util.concurrent.locks.LockSupport.parkNanos(500_000 + random.nextInt(1_000_000));
        }
        assertTrue(interruptedCount.get() > 50, "only " + interruptedCount + " acquires were interrupted");
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(250))
                .until(() -> ZkTesting.descendants(zk.observer(), "/interrupted").isEmpty());
    }

    @Test
    void tenThousandDistinctKeysLeaveNoZnodeBehind() throws Exception {
        ZkLockService s = service("bulk", Duration.ofSeconds(10));
        int keys = 10_000;
        int threads = 8;
        List<Future<Void>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int first = t;
            futures.add(pool.submit(() -> {
                for (int i = first; i < keys; i += threads) {
                    try (Lease lease = s.acquire(LockKey.of("customer", "c" + i, "invoice"), PATIENCE)) {
                        assertTrue(lease.isValid());
                    }
                }
                return null;
            }));
        }
        for (Future<Void> f : futures) {
            f.get(5, TimeUnit.MINUTES);
        }
        // the server's container cleanup (every 100 ms in tests) removes one level per pass
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(250))
                .until(() -> ZkTesting.descendants(zk.observer(), "/bulk").isEmpty());
        assertEquals(null, zk.observer().checkExists().forPath("/bulk/locks"));
    }

    @Test
    void overACallersClientItStaysInItsNamespaceUsesItsAclsAndLeavesItOpen() throws Exception {
        ACL acl = new ACL(ZooDefs.Perms.ALL & ~ZooDefs.Perms.ADMIN, ZooDefs.Ids.ANYONE_ID_UNSAFE);
        CuratorFramework app = CuratorFrameworkFactory.builder().connectString(zk.connectString()).namespace(zk.namespace())
                .namespace("app").retryPolicy(new RetryOneTime(100))
                .aclProvider(new org.apache.curator.framework.api.ACLProvider() {
                    @Override
                    public List<ACL> getDefaultAcl() {
                        return java.util.Collections.singletonList(acl); // ZooKeeper calls contains(null)
                    }

                    @Override
                    public List<ACL> getAclForPath(String path) {
                        return java.util.Collections.singletonList(acl);
                    }
                }).build();
        app.start();
        try {
            assertTrue(app.blockUntilConnected(20, SECONDS));
            ZkLockService s = ZkLockService.builder().client(app).build();
            Lease lease = s.acquire(LockKey.of("jobs", "nightly"), PATIENCE);
            String node = "/app/baton" + ZkLockService.nodeOf(lease);
            assertTrue(node.startsWith("/app/baton/locks/jobs/nightly/_q/"), node);
            assertNotNull(zk.observer().checkExists().forPath(node));
            assertEquals(List.of(acl), zk.observer().getACL().forPath(node));
            assertEquals(List.of(acl), zk.observer().getACL().forPath("/app/baton/locks/jobs/nightly/_q"));
            List<LockLostException> lost = new ArrayList<>();
            lease.onLost(lost::add);
            s.close();
            assertEquals(1, lost.size());
            assertEquals(CuratorFrameworkState.STARTED, app.getState(), "Baton closed the caller's client");
            await().atMost(PATIENCE).until(() -> zk.observer().checkExists().forPath(node) == null);
        } finally {
            app.close();
        }
    }

    @Test
    void badInputIsRejectedWithAClearMessageAndWritesNothing() throws Exception {
        ZkLockService s = service("untouched", Duration.ofSeconds(4));
        LockKey key = LockKey.of("k");
        assertMessage(NullPointerException.class, "key", () -> s.acquire(null));
        assertMessage(IllegalArgumentException.class, "waitAtMost",
                () -> s.acquire(key, Duration.ofSeconds(-1)));
        assertMessage(IllegalArgumentException.class, "at least one key", () -> s.acquireAll(Set.of(), LockOptions.defaults()));
        assertMessage(IllegalArgumentException.class, "transaction", () -> s.acquireAll(tooLong(), LockOptions.defaults()));
        assertMessage(IllegalArgumentException.class, "a b", () -> s.acquire(LockKey.parse("a b")));
        assertEquals(null, zk.observer().checkExists().forPath("/untouched"), "a rejected request wrote to ZooKeeper");
        s.close();
        assertMessage(IllegalStateException.class, "closed", () -> s.acquire(key));
        assertEquals(null, zk.observer().checkExists().forPath("/untouched"));

        assertMessage(IllegalStateException.class, "exactly one", () -> ZkLockService.builder().build());
        assertMessage(IllegalArgumentException.class, "blank", () -> ZkLockService.builder().connectString(" "));
        assertMessage(IllegalArgumentException.class, "namespace", () -> ZkLockService.builder().namespace("a//b"));
        assertMessage(IllegalArgumentException.class, "namespace", () -> ZkLockService.builder().namespace("/"));
        assertMessage(IllegalArgumentException.class, "sessionTimeout",
                () -> ZkLockService.builder().sessionTimeout(Duration.ZERO));
        assertMessage(IllegalArgumentException.class, "connectionTimeout",
                () -> ZkLockService.builder().connectionTimeout(Duration.ofMillis(-5)));
        assertMessage(IllegalStateException.class, "sessionTimeout", () -> ZkLockService.builder()
                .client(zk.observer()).sessionTimeout(Duration.ofSeconds(5)).build());
        CuratorFramework unstarted = CuratorFrameworkFactory.newClient(zk.connectString(), new RetryOneTime(1));
        assertMessage(IllegalStateException.class, "started", () -> ZkLockService.builder().client(unstarted).build());
        ZkLockServiceBuilder once = ZkLockService.builder().client(zk.observer());
        services.add(once.build());
        assertMessage(IllegalStateException.class, "single-use", once::build);
    }

    @Test
    void anUnreachableEnsembleFailsTheBuildWithinTheConnectionTimeout() {
        long start = System.nanoTime();
        LockException e = assertThrows(LockException.class, () -> ZkLockService.builder()
                .connectString("127.0.0.1:1").connectionTimeout(Duration.ofMillis(500)).build());
        assertTrue(e.getMessage().contains("127.0.0.1:1"), e.getMessage());
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(10)) < 0);
    }

    private static int queueLength(LockKey key) throws Exception {
        return ZkTesting.queueLength(zk.observer(), zk.namespace(), ZkLockService.queuePath(key));
    }

    /** 128 keys of depth 16 with 100-character segments: far too big for one ZooKeeper transaction. */
    private static Set<LockKey> tooLong() {
        Set<LockKey> keys = new java.util.HashSet<>();
        for (int k = 0; k < LockService.MAX_KEYS_PER_REQUEST; k++) {
            List<String> segments = new java.util.ArrayList<>();
            for (int d = 0; d < LockKey.MAX_DEPTH; d++) {
                segments.add(("k" + k + "d" + d + "-").repeat(20).substring(0, 100));
            }
            keys.add(LockKey.of(segments));
        }
        return keys;
    }

    private static void assertMessage(Class<? extends Throwable> type, String fragment, Executable call) {
        Throwable t = assertThrows(type, call);
        assertTrue(t.getMessage() != null && t.getMessage().contains(fragment),
                type.getSimpleName() + " message \"" + t.getMessage() + "\" does not name \"" + fragment + "\"");
    }
}
