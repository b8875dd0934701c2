package dev.baton.lock.zk;

import dev.baton.lock.Fence;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockState;
import dev.baton.lock.LossReason;
import dev.baton.lock.StaleTokenException;
import dev.baton.lock.test.BatonZooKeeper;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Breaking and lock delay as ZooKeeper does them: judged on the ensemble's clock, against records
 * in the holder's nodes, whatever the hosts' clocks say.
 */
class ZkBreakingTest {
    private final List<ZkLockService> services = new ArrayList<>();

    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofMillis(200));

    @AfterEach
    void closeServices() {
        services.forEach(ZkLockService::close);
    }

    private ZkLockService service(Clock clock) {
        ZkLockService s = ZkLockService.builder().connectString(zk.connectString()).namespace(zk.namespace())
                .sessionTimeout(Duration.ofSeconds(4)).clock(clock).build();
        services.add(s);
        return s;
    }

    private static HolderRecord record(Lease lease) throws Exception {
        return HolderRecord.parse(zk.observer().getData().forPath("/" + zk.namespace() + ZkLockService.nodeOf(lease)));
    }

    @Test
    void staleAfterIsJudgedOnTheEnsemblesClockWhateverTheHostsClocksSay() throws Exception {
        // the holder's host runs an hour behind, the waiter's an hour ahead: comparing either with
        // the other, or with a node's time, would break at once or never
        ZkLockService holderSide = service(Clock.offset(Clock.systemUTC(), Duration.ofHours(-1)));
        ZkLockService waiterSide = service(Clock.offset(Clock.systemUTC(), Duration.ofHours(1)));
        LockKey key = LockKey.of("stale", "skewed");
        Fence fence = new Fence();
        Lease hung = holderSide.acquire(key, Duration.ofSeconds(10)); // never closed: a hung holder
        long granted = System.nanoTime();
        fence.check("ledger", hung.token());
        CompletableFuture<LockLostException> lost = new CompletableFuture<>();
        hung.onLost(lost::complete);
        long hostTime = record(hung).hostTime();
        assertTrue(Math.abs(System.currentTimeMillis() - Duration.ofHours(1).toMillis() - hostTime) < 60_000,
                "the holder's record carries its skewed host time: " + hostTime);

        Duration staleAfter = Duration.ofMillis(1500);
        try (Lease next = waiterSide.acquire(key, LockOptions.defaults().staleAfter(staleAfter)
                .waitAtMost(Duration.ofSeconds(20)))) {
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - granted);
            assertTrue(waitedMs >= staleAfter.toMillis() - 300, "broken after only " + waitedMs + " ms of holding");
            assertTrue(next.token().compareTo(hung.token()) > 0);
            assertEquals(LossReason.BROKEN, lost.get(10, TimeUnit.SECONDS).reason());
            assertFalse(hung.isValid());
            fence.check("ledger", next.token());
            assertThrows(StaleTokenException.class, () -> fence.check("ledger", hung.token()),
                    "the broken holder's late write is refused");
        }
    }

    @Test
    void closingTheServiceFromABrokenLeasesListenerDoesNotStallIt() throws Exception {
        ZkLockService holder = ZkLockService.builder().connectString(zk.connectString()).namespace(zk.namespace())
                .sessionTimeout(Duration.ofSeconds(4)).connectionTimeout(Duration.ofSeconds(15)).build();
        services.add(holder);
        ZkLockService other = service(Clock.systemUTC());
        LockKey mine = LockKey.of("closing", "mine");
        LockKey theirs = LockKey.of("closing", "theirs");
        Lease held = holder.acquire(mine, Duration.ofSeconds(10));
        Lease blocking = other.acquire(theirs, Duration.ofSeconds(10));
        CompletableFuture<Object> waiter = new CompletableFuture<>();
        Thread waiting = new Thread(() -> {
            try {
                waiter.complete(holder.acquire(theirs, Duration.ofSeconds(60)));
            } catch (Throwable e) {
                waiter.complete(e);
            }
        }, "closing-waiter");
        waiting.setDaemon(true);
        waiting.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> other.inspect(theirs).waiters().size() == 1);

        // the listener runs on ZooKeeper's event thread (the break is heard through a watch); the
        // waiter's cleanup on close needs an answer that only that thread delivers
        CompletableFuture<Duration> closeTook = new CompletableFuture<>();
        AtomicReference<String> listenerThread = new AtomicReference<>();
        AtomicReference<Object> afterClose = new AtomicReference<>();
        held.onLost(e -> {
            listenerThread.set(Thread.currentThread().getName());
            long start = System.nanoTime();
            holder.close();
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            try { // once close() has returned, the service refuses requests
                afterClose.set(holder.tryAcquire(LockKey.of("closing", "after")));
            } catch (RuntimeException refused) {
                afterClose.set(refused);
            }
            closeTook.complete(took);
        });
        assertEquals(1, other.breakLock(mine));

        Duration took = closeTook.get(30, TimeUnit.SECONDS);
        assertTrue(listenerThread.get().endsWith("-EventThread"), listenerThread.get());
        assertTrue(took.compareTo(Duration.ofSeconds(2)) < 0, "close() in the listener took " + took);
        assertTrue(afterClose.get() instanceof IllegalStateException, "a request after close(): " + afterClose.get());
        Object outcome = waiter.get(20, TimeUnit.SECONDS);
        assertTrue(outcome instanceof IllegalStateException, "the waiting acquire ended with " + outcome);
        await().atMost(Duration.ofSeconds(20)).until(() -> other.inspect(theirs).waiters().isEmpty());
        blocking.close();
    }

    @Test
    void aWaiterBreaksAHolderPastItsRecordedLeaseTimeEvenWithoutStaleAfter() throws Exception {
        // a holder whose own process never ends its lease (its timer is stuck), faked by writing
        // its nodes directly: 300 ms lease recorded, session alive
        LockKey key = LockKey.of("stale", "leased");
        String id = "0123456789abcdef";
        byte[] data = new HolderRecord("stuck:1:1", "stuck", 1, "worker", Duration.ofMillis(300), 1, null, 0, false, 0)
                .encode();
        String node = null;
        for (int attempt = 0; node == null; attempt++) {
            try { // the server may remove a container we just made before its child lands: again
                node = zk.observer().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                        .forPath("/" + zk.namespace() + Layout.queuePath(key) + "/X-" + id + "-", data);
                zk.observer().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                        .forPath("/" + zk.namespace() + Layout.strongPath(key) + "/X-" + id + "-");
            } catch (org.apache.zookeeper.KeeperException.NoNodeException raced) {
                if (node != null) {
                    zk.observer().delete().forPath(node);
                    node = null;
                }
                assertTrue(attempt < 10, "cannot make the stuck holder's nodes");
            }
        }
        long created = System.nanoTime();
        ZkLockService waiter = service(Clock.systemUTC());
        assertTrue(waiter.tryAcquire(key).isEmpty(), "the stuck holder holds the key");
        try (Lease lease = waiter.acquire(key, Duration.ofSeconds(20))) {
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - created);
            assertTrue(waitedMs >= 300 + Breaker.LEASE_GRACE_MS - 300,
                    "broken " + waitedMs + " ms after the grant, before its lease time and grace ran out");
            assertTrue(zk.observer().checkExists().forPath(node) == null, "the stuck holder's node was deleted");
            assertTrue(lease.isValid());
        }
    }

    @Test
    void extendRewritesTheRecordSoTheHoldRestartsOnTheEnsemblesClock() throws Exception {
        ZkLockService s = service(Clock.systemUTC());
        try (Lease lease = s.acquire(LockKey.of("stale", "extended"), LockOptions.defaults()
                .leaseTime(Duration.ofSeconds(5)).waitAtMost(Duration.ofSeconds(10)))) {
            String node = "/" + zk.namespace() + ZkLockService.nodeOf(lease);
            Stat before = zk.observer().checkExists().forPath(node);
            assertEquals(0, before.getVersion(), "granted on its first look: no stamp, the ctime is the grant");
            lease.extend(Duration.ofSeconds(10));
            Stat after = new Stat();
            HolderRecord record = HolderRecord.parse(zk.observer().getData().storingStatIn(after).forPath(node));
            assertEquals(1, after.getVersion());
            assertTrue(after.getMtime() >= before.getCtime());
            assertEquals(Duration.ofSeconds(10), record.leaseTime());
            assertTrue(record.granted());
        }
    }

    @Test
    void aLeaseOverSeveralKeysIsStampedAtOnceWithTheTimeItHadHeld() throws Exception {
        ZkLockService s = service(Clock.systemUTC());
        LockKey a = LockKey.of("stale", "multi", "a");
        LockKey b = LockKey.of("stale", "multi", "b");
        try (Lease lease = s.acquireAll(java.util.Set.of(a, b), LockOptions.defaults().waitAtMost(Duration.ofSeconds(10)))) {
            await().atMost(Duration.ofSeconds(10)).until(() -> record(lease).granted());
            HolderRecord stamped = record(lease);
            // a duration on the holder's clock since its grant, not a reading of that clock (found
            // by the safety suite: a stamp before the grant time was set claimed 12 hours held)
            assertTrue(stamped.heldMs() >= 0 && stamped.heldMs() < 5_000, "heldMs " + stamped.heldMs());
            assertEquals(2, stamped.keys());
            java.util.Optional<Duration> heldFor = s.inspect(a).holders().get(0).heldFor();
            assertTrue(heldFor.isPresent() && heldFor.get().toMillis() < 10_000, "heldFor " + heldFor);
        }
    }

    @Test
    void aGrantAfterWaitingIsStampedAndInspectShowsTheHoldFromIt() throws Exception {
        ZkLockService a = service(Clock.systemUTC());
        ZkLockService b = service(Clock.systemUTC());
        LockKey key = LockKey.of("stale", "handoff");
        Lease first = a.acquire(key, Duration.ofSeconds(10));
        CompletableFuture<Lease> second = CompletableFuture.supplyAsync(() -> {
            try {
                return b.acquire(key, Duration.ofSeconds(20));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(20)).until(() -> a.inspect(key).waiters().size() == 1);
        LockState waiting = a.inspect(key);
        assertEquals(first.token(), waiting.holders().get(0).token());
        assertTrue(waiting.waiters().get(0).heldFor().isEmpty() && !waiting.waiters().get(0).granted(), waiting.toString());
        first.close();
        try (Lease lease = second.get(20, TimeUnit.SECONDS)) {
            await().atMost(Duration.ofSeconds(10)).until(() -> record(lease).granted());
            LockState held = a.inspect(key);
            assertEquals(List.of(lease.token()), held.holders().stream().map(c -> c.token()).toList());
            assertTrue(held.holders().get(0).heldFor().orElseThrow().toMillis() < 5_000,
                    "held since its grant, not since it began to wait: " + held);
        }
    }

    @Test
    void aLockDelayKeepsTheKeyAfterItsHoldersSessionExpiredButNotAfterARelease() throws Exception {
        ZkLockService holderSide = service(Clock.systemUTC());
        ZkLockService other = service(Clock.systemUTC());
        LockKey key = LockKey.of("stale", "delayed");
        LockOptions delayed = LockOptions.defaults().lockDelay(Duration.ofMillis(1500)).waitAtMost(Duration.ofSeconds(10));

        // a normal release leaves no delay behind
        holderSide.acquire(key, delayed).close();
        await().atMost(Duration.ofSeconds(10)).until(() -> other.tryAcquire(key).map(l -> {
            l.close();
            return true;
        }).orElse(false));
        await().atMost(Duration.ofSeconds(10)).until(() -> markers(key) == 0);

        Lease lost = holderSide.acquire(key, delayed);
        CompletableFuture<LockLostException> told = new CompletableFuture<>();
        lost.onLost(told::complete);
        zk.ensemble().expireSession(holderSide.client());
        LossReason reason = told.get(20, TimeUnit.SECONDS).reason(); // suspended first, by default
        assertTrue(reason == LossReason.SESSION_EXPIRED || reason == LossReason.CONNECTION_SUSPENDED, reason.name());
        await().atMost(Duration.ofSeconds(10)).until(() -> other.inspect(key).holders().isEmpty());
        assertTrue(other.inspect(key).lockDelayLeft().isPresent(), "inspect shows the delay to come");
        long start = System.nanoTime();
        try (Lease next = other.acquire(key, Duration.ofSeconds(20))) {
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(waitedMs >= 1200, "the key came back after " + waitedMs + " ms of a 1500 ms lock delay");
            assertTrue(next.token().compareTo(lost.token()) > 0);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> markers(key) == 0);
    }

    private static int markers(LockKey key) throws Exception {
        int n = 0;
        for (String path : ZkTesting.descendants(zk.observer(), "/" + zk.namespace() + Layout.queuePath(key))) {
            if (path.contains("/" + NodeNames.MARKER)) {
                n++;
            }
        }
        return n;
    }

    @Test
    void theHoldersRecordTellsItsClockOnlyForPeople() {
        byte[] data = new HolderRecord("h", "host", 7, "t", null, 1, Duration.ofSeconds(2), 42, false, 0).encode();
        String text = new String(data, StandardCharsets.UTF_8);
        assertTrue(text.contains("hostTime=42\n") && text.contains("lockDelayMs=2000\n") && text.contains("keys=1\n"), text);
        assertEquals(Duration.ofSeconds(2), HolderRecord.parse(data).lockDelay());
    }
}
