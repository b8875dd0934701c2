package dev.baton.lock.zk;

import dev.baton.lock.FencingToken;
import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LossReason;
import org.apache.curator.framework.CuratorFramework;
import dev.baton.lock.test.EmbeddedEnsemble;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a holder is told when its session or connection goes, on a real server: session expiry
 * done on the server (as a crash or partition would), and the server itself stopping.
 */
class SessionLossTest {
    /** Session timeout of the holders; the server's 500 ms tick allows 0.5 s to 10 s. */
    private static final Duration SESSION = Duration.ofSeconds(3);
    private static final Duration PATIENCE = Duration.ofSeconds(30);

    private EmbeddedEnsemble server;
    private CuratorFramework observer;
    private final List<ZkLockService> services = new ArrayList<>();
    private ExecutorService pool;

    @BeforeEach
    void start() throws Exception {
        server = EmbeddedEnsemble.server(Duration.ofMillis(500));
        observer = ZkTesting.observer(server.connectString());
        pool = Executors.newCachedThreadPool();
    }

    @AfterEach
    void stop() throws Exception {
        pool.shutdownNow();
        services.forEach(ZkLockService::close);
        observer.close();
        server.close();
    }

    private ZkLockService service(LossPolicy policy) {
        ZkLockService s = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(SESSION).connectionTimeout(Duration.ofSeconds(10)).lossPolicy(policy).build();
        services.add(s);
        return s;
    }

    private boolean nodeExists(Lease lease) throws Exception {
        return observer.checkExists().forPath("/baton" + ZkLockService.nodeOf(lease)) != null;
    }

    @ParameterizedTest
    @EnumSource(LossPolicy.class)
    void serverSideExpiryAbortsTheCriticalSectionAndTheNextHolderGetsALargerToken(LossPolicy policy)
            throws Exception {
        ZkLockService holder = service(policy);
        ZkLockService other = service(LossPolicy.LOSE_AT_SUSPENDED);
        LockKey key = LockKey.of("billing", "account", "42");
        CountDownLatch inside = new CountDownLatch(1);
        AtomicReference<FencingToken> token = new AtomicReference<>();
        AtomicReference<LockLostException> told = new AtomicReference<>();
        AtomicLong toldAt = new AtomicLong();
        Future<Object> body = pool.submit(() -> {
            try {
                return holder.withLock(key, lease -> {
                    lease.onLost(e -> {
                        toldAt.set(System.nanoTime());
                        told.set(e);
                    });
                    token.set(lease.token());
                    inside.countDown();
                    Thread.sleep(PATIENCE.toMillis()); // interruptible work
                    return "finished";
                });
            } catch (LockLostException e) {
                return e;
            }
        });
        assertTrue(inside.await(PATIENCE.toSeconds(), SECONDS));

        long expiredAt = System.nanoTime();
        server.expireSession(holder.client());

        LockLostException aborted = assertInstanceOf(LockLostException.class,
                body.get(PATIENCE.toSeconds(), SECONDS), "withLock was not aborted");
        LossReason expected = policy == LossPolicy.LOSE_AT_SUSPENDED
                ? LossReason.CONNECTION_SUSPENDED : LossReason.SESSION_EXPIRED;
        assertEquals(expected, aborted.reason());
        // withLock's own guard is the first loss listener, so the body can end before ours has run
        await().atMost(PATIENCE).until(() -> told.get() != null);
        assertEquals(expected, told.get().reason());
        Duration delay = Duration.ofNanos(toldAt.get() - expiredAt);
        assertTrue(delay.compareTo(SESSION) < 0, "onLost took " + delay + ", session timeout is " + SESSION);

        try (Lease next = other.acquire(key, PATIENCE)) {
            assertTrue(next.token().isNewerThan(token.get()),
                    next.token() + " is not newer than the expired holder's " + token.get());
        }
    }

    @Test
    void stoppingTheServerLosesTheLeaseAtOnceAndItsNodeIsDeletedAfterReconnecting() throws Exception {
        // a session long enough to outlive the restart, so the client comes back on the same session
        ZkLockService holder = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(Duration.ofSeconds(8)).build();
        services.add(holder);
        LockKey key = LockKey.of("stop", "default");
        Lease lease = holder.acquire(key, PATIENCE);
        long session = holder.client().getZookeeperClient().getZooKeeper().getSessionId();
        AtomicReference<LockLostException> told = new AtomicReference<>();
        lease.onLost(told::set);

        server.stop(0);
        await().atMost(PATIENCE).until(() -> told.get() != null);
        assertEquals(LossReason.CONNECTION_SUSPENDED, told.get().reason());
        assertFalse(lease.isValid());

        server.start(0);
        await().atMost(PATIENCE).until(() -> holder.client().getZookeeperClient().isConnected());
        assertEquals(session, holder.client().getZookeeperClient().getZooKeeper().getSessionId(),
                "the session did not survive the restart, so this test proves nothing about the cleanup");
        // the session is alive, so only Baton's cleanup can remove the lost lease's node
        await().atMost(PATIENCE).until(() -> !nodeExists(lease));
        ZkLockService other = service(LossPolicy.LOSE_AT_SUSPENDED);
        try (Lease next = other.acquire(key, PATIENCE)) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }
        lease.close();
    }

    @Test
    void aLeaseLostWhileDisconnectedDoesNotHoldUpTheReconnection() throws Exception {
        // the lost lease's delete fails on ZooKeeper's event thread and is sent again from there;
        // sending it must not block that thread (it did, for the connection timeout, until the
        // client's namespace node had been checked once), or the client cannot hear it is back
        ZkLockService holder = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(Duration.ofSeconds(8)).connectionTimeout(Duration.ofSeconds(60)).build();
        services.add(holder);
        Lease lease = holder.acquire(LockKey.of("stop", "reconnect"), PATIENCE);
        AtomicReference<LockLostException> told = new AtomicReference<>();
        lease.onLost(told::set);

        server.stop(0);
        await().atMost(PATIENCE).until(() -> told.get() != null);
        // down long enough for reconnection attempts to fail, which fails the delete sent at the loss
        await().during(Duration.ofSeconds(3)).atMost(PATIENCE)
                .until(() -> !holder.client().getZookeeperClient().isConnected());
        server.start(0);
        long restarted = System.nanoTime();
        await().atMost(PATIENCE).until(() -> holder.client().getZookeeperClient().isConnected());
        Duration back = Duration.ofNanos(System.nanoTime() - restarted);
        assertTrue(back.compareTo(Duration.ofSeconds(6)) < 0, "reconnected only after " + back);
        await().atMost(PATIENCE).until(() -> !nodeExists(lease));
    }

    @Test
    void lostOnlyPolicyKeepsTheLeaseWhenTheServerComesBackWithinTheSessionTimeout() throws Exception {
        ZkLockService holder = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(Duration.ofSeconds(8)).lossPolicy(LossPolicy.LOSE_AT_LOST).build();
        services.add(holder);
        LockKey key = LockKey.of("stop", "lostonly");
        Lease lease = holder.acquire(key, PATIENCE);
        AtomicReference<LockLostException> told = new AtomicReference<>();
        lease.onLost(told::set);

        server.stop(0);
        await().atMost(PATIENCE).until(() -> !holder.client().getZookeeperClient().isConnected());
        assertTrue(lease.isValid(), "lost at suspension under LOSE_AT_LOST");
        server.start(0);
        await().atMost(PATIENCE).until(() -> holder.client().getZookeeperClient().isConnected());

        assertTrue(lease.isValid(), "lost although the session survived: " + told.get());
        assertTrue(nodeExists(lease));
        ZkLockService other = service(LossPolicy.LOSE_AT_SUSPENDED);
        assertTrue(other.tryAcquire(key).isEmpty(), "another client got a lock that is still held");
        lease.close();
        assertEquals(null, told.get());
        try (Lease next = other.acquire(key, PATIENCE)) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }
    }

    @Test
    void anExtendThatCannotBeRecordedLeavesTheLeaseEndingWhenItWouldHave() throws Exception {
        ZkLockService holder = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(Duration.ofSeconds(10)).connectionTimeout(Duration.ofSeconds(1))
                .lossPolicy(LossPolicy.LOSE_AT_LOST).build();
        services.add(holder);
        Lease lease = holder.acquire(LockKey.of("stop", "extend"),
                LockOptions.defaults().waitAtMost(PATIENCE).leaseTime(Duration.ofSeconds(5)));
        long grantedAt = System.nanoTime();
        AtomicReference<LockLostException> told = new AtomicReference<>();
        AtomicLong toldAt = new AtomicLong();
        lease.onLost(e -> {
            toldAt.set(System.nanoTime());
            told.set(e);
        });

        server.stop(0);
        await().atMost(PATIENCE).until(() -> !holder.client().getZookeeperClient().isConnected());
        LockException failed = assertThrows(LockException.class, () -> lease.extend(Duration.ofMinutes(1)));
        assertFalse(failed instanceof LockLostException, "the lease was lost before its end: " + failed);

        // waiters judge the lease by its record, which still says 5 s: it must end then, not in a
        // minute (nor at the 10 s session end, which is what happens if the extend is kept)
        await().atMost(PATIENCE).until(() -> told.get() != null);
        assertEquals(LossReason.LEASE_EXPIRED, told.get().reason(), "lost for another reason: " + told.get());
        Duration held = Duration.ofNanos(toldAt.get() - grantedAt);
        assertTrue(held.compareTo(Duration.ofSeconds(8)) < 0, "the lease ran " + held + " past its 5 s end");
    }

    @Test
    void aTimedAcquireEndsSoonAfterItsWaitEvenWhenTheEnsembleIsUnreachable() throws Exception {
        Duration connectionTimeout = Duration.ofSeconds(2);
        ZkLockService s = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(Duration.ofSeconds(8)).connectionTimeout(connectionTimeout).build();
        services.add(s);
        LockKey key = LockKey.of("outage", "k");
        server.stop(0);
        await().atMost(PATIENCE).until(() -> !s.client().getZookeeperClient().isConnected());

        long start = System.nanoTime();
        dev.baton.lock.LockTimeoutException timeout = org.junit.jupiter.api.Assertions.assertThrows(
                dev.baton.lock.LockTimeoutException.class, () -> s.acquire(key, Duration.ofMillis(200)));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals(key, timeout.key());
        assertFalse(Thread.currentThread().isInterrupted(), "the watchdog's interrupt leaked");
        // Curator's own retries took ~16 s here before the watchdog; allow scheduling slack on top
        Duration bound = Duration.ofMillis(200).plus(connectionTimeout).plusSeconds(2);
        assertTrue(took.compareTo(bound) < 0, "acquire(200 ms) took " + took + " with the ensemble down");

        server.start(0);
        await().atMost(PATIENCE).until(() -> s.client().getZookeeperClient().isConnected());
        await().atMost(PATIENCE).until(() -> ZkTesting.queueLength(observer, "baton", ZkLockService.queuePath(key)) == 0);
        try (Lease lease = s.acquire(key, PATIENCE)) {
            assertTrue(lease.isValid());
        }
    }

    @Test
    void lostOnlyPolicyLosesTheLeaseOnItsOwnDeadlineWhenTheServerStaysAway() throws Exception {
        Duration session = Duration.ofSeconds(2);
        ZkLockService holder = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(session).lossPolicy(LossPolicy.LOSE_AT_LOST).build();
        services.add(holder);
        Lease lease = holder.acquire(LockKey.of("stop", "away"), PATIENCE);
        AtomicReference<LockLostException> told = new AtomicReference<>();
        AtomicLong toldAt = new AtomicLong();
        lease.onLost(e -> {
            toldAt.set(System.nanoTime());
            told.set(e);
        });
        long stoppedAt = System.nanoTime();
        server.stop(0);
        await().atMost(PATIENCE).until(() -> told.get() != null);
        assertEquals(LossReason.SESSION_EXPIRED, told.get().reason());
        Duration delay = Duration.ofNanos(toldAt.get() - stoppedAt);
        // suspension is seen at once (the socket closes); the deadline is one session timeout later
        assertTrue(delay.compareTo(session.multipliedBy(2)) < 0, "lost only after " + delay);
        server.start(0);
    }
}
