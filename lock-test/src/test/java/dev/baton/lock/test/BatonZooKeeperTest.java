package dev.baton.lock.test;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LossReason;
import dev.baton.lock.zk.LossPolicy;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The extension on one server, and each fault it injects shown to bite: a test that passes with
 * the fault made a no-op proves nothing, so every test here checks the sign that the fault
 * happened, not only that the code survived it.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BatonZooKeeperTest {
    /** A 400 ms tick: sessions of 0.8 s to 8 s. */
    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofMillis(400));

    private static final Duration PATIENCE = Duration.ofSeconds(20);
    private static final LockKey KEY = LockKey.of("orders", "42");

    /** Handed from the first ordered test to the second. */
    private static String earlierNamespace;
    private static Lease leftHeld;
    private static final AtomicReference<LossReason> leftHeldLoss = new AtomicReference<>();

    private static CompletableFuture<LockLostException> lossOf(Lease lease) {
        CompletableFuture<LockLostException> lost = new CompletableFuture<>();
        lease.onLost(lost::complete);
        return lost;
    }

    // --------------------------------------------------------------- namespaces and services

    @Test
    @Order(1)
    void aTestGetsAReadyServiceInANamespaceOfItsOwn() throws Exception {
        String ns = zk.namespace();
        assertEquals(List.of(), zk.znodes(), "a fresh namespace is empty");
        assertSame(zk.service(), zk.service(), "one default service per test");

        Lease lease = zk.service().acquire(KEY, PATIENCE);
        List<String> nodes = zk.znodes();
        assertTrue(nodes.stream().anyMatch(p -> p.startsWith("/" + ns + "/locks/orders/42/")), nodes.toString());
        assertTrue(nodes.stream().allMatch(p -> p.startsWith("/" + ns + "/")), nodes.toString());
        // a persistent node, which the servers' container cleanup would never remove
        zk.observer().create().forPath("/" + ns + "/planted");
        assertTrue(zk.znodes().contains("/" + ns + "/planted"));

        lease.onLost(e -> leftHeldLoss.set(e.reason()));
        earlierNamespace = ns;
        leftHeld = lease; // still held when the test ends
    }

    @Test
    @Order(2)
    void afterATestItsServicesAreClosedAndItsNamespaceIsDeleted() throws Exception {
        assertTrue(earlierNamespace != null, "run with the test before it");
        assertNotEquals(earlierNamespace, zk.namespace());
        assertEquals(List.of(), zk.znodes());
        await().atMost(PATIENCE).until(() -> leftHeldLoss.get() != null);
        assertEquals(LossReason.SERVICE_CLOSED, leftHeldLoss.get(), "the lease left held was not lost by a close");
        assertFalse(leftHeld.isValid());
        assertNull(zk.observer().checkExists().forPath("/" + earlierNamespace), "the earlier test's namespace is left");
    }

    @Test
    void closedServicesLeaveNothingUnderTheNamespace() throws Exception {
        ZkLockService a = zk.service();
        ZkLockService b = zk.newService();
        LockKey deep = LockKey.of("x", "y", "z");
        try (Lease held = a.acquire(deep, PATIENCE)) {
            assertTrue(b.tryAcquire(deep).isEmpty(), "two services of one test share the namespace");
            assertFalse(zk.znodes().isEmpty());
            assertTrue(held.isValid());
        }
        a.close();
        b.close();
        await().atMost(PATIENCE).until(() -> zk.znodes().isEmpty());
    }

    @Test
    void serviceOptionsReachTheService() throws Exception {
        ZkLockService brief = zk.newService(ServiceOptions.defaults().defaultLeaseTime(Duration.ofMillis(300)));
        Lease lease = brief.acquire(KEY, PATIENCE);
        assertEquals(LossReason.LEASE_EXPIRED, lossOf(lease).get(PATIENCE.toSeconds(), TimeUnit.SECONDS).reason());
    }

    // ------------------------------------------------------------------------ session expiry

    @ParameterizedTest
    @EnumSource(LossPolicy.class)
    void expireSessionEndsTheSessionOnTheServer(LossPolicy policy) throws Exception {
        ZkLockService holder = zk.newService(ServiceOptions.defaults().lossPolicy(policy));
        long session = zk.sessionId(holder);
        Lease lease = holder.acquire(KEY, PATIENCE);
        CompletableFuture<LockLostException> lost = lossOf(lease);

        zk.expireSession(holder);

        // the server ended the session: another client gets the key, which the holder, connected
        // all along, would otherwise keep
        try (Lease next = zk.newService().acquire(KEY, Duration.ofSeconds(10))) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }
        LossReason expected = policy == LossPolicy.LOSE_AT_LOST ? LossReason.SESSION_EXPIRED
                : LossReason.CONNECTION_SUSPENDED;
        assertEquals(expected, lost.get(PATIENCE.toSeconds(), TimeUnit.SECONDS).reason());
        assertFalse(lease.isValid());
        // the service goes on, on a new session
        try (Lease again = holder.acquire(KEY, PATIENCE)) {
            assertTrue(again.isValid());
        }
        long now = zk.sessionId(holder);
        assertTrue(now != session && now != 0, "still on session 0x" + Long.toHexString(session));
    }

    @Test
    void expireSessionWorksOnAnyCuratorClient() throws Exception {
        CuratorFramework plain = CuratorFrameworkFactory.newClient(zk.connectString(), 4_000, 10_000,
                new RetryOneTime(100));
        plain.start();
        try {
            assertTrue(plain.blockUntilConnected(20, TimeUnit.SECONDS));
            CountDownLatch lost = new CountDownLatch(1);
            plain.getConnectionStateListenable().addListener((c, state) -> {
                if (state == ConnectionState.LOST) {
                    lost.countDown();
                }
            });
            String node = plain.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .forPath("/" + zk.namespace() + "/mine");

            zk.expireSession(plain);

            assertNull(zk.observer().checkExists().forPath(node), "the session's ephemeral node outlived it");
            assertTrue(lost.await(PATIENCE.toSeconds(), TimeUnit.SECONDS), "the client was never told");
        } finally {
            plain.close();
        }
    }

    // ------------------------------------------------------------------ the proxy: freeze, cut

    @Test
    void aFrozenConnectionSuspendsTheServiceTheServerExpiresItAndThawingRestoresIt() throws Exception {
        ZkLockService holder = zk.newService(ServiceOptions.defaults().throughProxy()
                .sessionTimeout(Duration.ofSeconds(1)));
        Lease lease = holder.acquire(KEY, PATIENCE);
        CompletableFuture<LockLostException> lost = lossOf(lease);

        zk.freeze(holder);

        // silence, noticed after 2/3 of the session timeout
        assertEquals(LossReason.CONNECTION_SUSPENDED, lost.get(PATIENCE.toSeconds(), TimeUnit.SECONDS).reason());
        // the server heard nothing for a whole session and expired it: the key passes on meanwhile
        try (Lease next = zk.service().acquire(KEY, PATIENCE)) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }

        zk.thaw(holder);

        try (Lease again = holder.acquire(LockKey.of("after", "thaw"), PATIENCE)) {
            assertTrue(again.isValid());
        }
    }

    @Test
    void cuttingTheConnectionSuspendsTheServiceWhichReconnectsOnTheSameSession() throws Exception {
        ZkLockService holder = zk.newService(ServiceOptions.defaults().throughProxy()
                .sessionTimeout(Duration.ofSeconds(8)));
        long session = zk.sessionId(holder);
        Lease lease = holder.acquire(KEY, PATIENCE);
        CompletableFuture<LockLostException> lost = lossOf(lease);

        zk.cutConnections(holder);

        assertEquals(LossReason.CONNECTION_SUSPENDED, lost.get(PATIENCE.toSeconds(), TimeUnit.SECONDS).reason());
        try (Lease again = holder.acquire(KEY, PATIENCE)) {
            assertTrue(again.token().isNewerThan(lease.token()));
        }
        assertEquals(session, zk.sessionId(holder), "the session did not survive a reset shorter than its timeout");
    }

    // ------------------------------------------------------------------------------- servers

    @Test
    void restartingTheServerDropsConnectionsAndKeepsItsPortAndData() throws Exception {
        String connect = zk.connectString();
        String kept = zk.observer().create().creatingParentsIfNeeded()
                .forPath("/" + zk.namespace() + "/kept", "data".getBytes(StandardCharsets.UTF_8));
        ZkLockService holder = zk.service();
        Lease lease = holder.acquire(KEY, PATIENCE);
        CompletableFuture<LockLostException> lost = lossOf(lease);

        zk.ensemble().restart(0);

        assertTrue(zk.ensemble().isServing(0));
        assertEquals(LossReason.CONNECTION_SUSPENDED, lost.get(PATIENCE.toSeconds(), TimeUnit.SECONDS).reason());
        assertEquals(connect, zk.connectString());
        assertArrayEquals("data".getBytes(StandardCharsets.UTF_8), zk.observer().getData().forPath(kept));
        try (Lease again = holder.acquire(KEY, PATIENCE)) {
            assertTrue(again.token().isNewerThan(lease.token()));
        }
    }

    @Test
    @Order(3)
    void aTestMayLeaveTheServerStopped() {
        zk.ensemble().stop(0);
        assertFalse(zk.ensemble().isServing(0));
        assertThrows(IllegalStateException.class, () -> zk.ensemble().killLeader(), "a single server has no leader");
    }

    @Test
    @Order(4)
    void theNextTestFindsItServingAgain() throws Exception {
        assertTrue(zk.ensemble().isServing(0));
        try (Lease lease = zk.service().acquire(KEY, PATIENCE)) {
            assertTrue(lease.isValid());
        }
    }

    // ---------------------------------------------------------------------------------- misuse

    @Test
    void faultHelpersRefuseServicesTheKitDidNotMakeOrMadeWithoutAProxy() {
        try (ZkLockService foreign = ZkLockService.builder().connectString(zk.connectString())
                .namespace(zk.namespace()).build()) {
            assertThrows(IllegalArgumentException.class, () -> zk.expireSession(foreign));
            assertThrows(IllegalArgumentException.class, () -> zk.sessionId(foreign));
        }
        IllegalArgumentException direct = assertThrows(IllegalArgumentException.class, () -> zk.freeze(zk.service()));
        assertTrue(direct.getMessage().contains("throughProxy()"), direct.getMessage());
        assertThrows(IllegalArgumentException.class, () -> zk.cutConnections(zk.service()));
    }

    @Test
    void freePortsAreAllDifferent() {
        int[] ports = EmbeddedEnsemble.freePorts(64);
        assertEquals(64, java.util.Arrays.stream(ports).distinct().count());
    }
}
