package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.test.BatonZooKeeper;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Races and corner cases of breaking and lock delay, found by review: each failed on the first
 * version of the breaking code (80e12d4). A waiter must never break a request that only waits,
 * nor count a wait as held time; breaking one key of a multi-key hold must not uncover its other
 * keys; a lock delay holds off coarser and finer conflicting keys too, and ends.
 */
class ZkBreakingRacesTest {
    private final List<ZkLockService> services = new ArrayList<>();

    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofMillis(200));

    @AfterEach
    void closeServices() {
        services.forEach(ZkLockService::close);
    }

    private ZkLockService service() {
        ZkLockService s = ZkLockService.builder().connectString(zk.connectString()).namespace(zk.namespace())
                .sessionTimeout(Duration.ofSeconds(4)).clock(Clock.systemUTC()).build();
        services.add(s);
        return s;
    }

    private static CompletableFuture<Lease> async(ZkLockService s, LockKey key, LockOptions o, AtomicLong at) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                Lease l = s.acquire(key, o);
                at.set(System.nanoTime());
                boolean valid;
                try {
                    // held for 300 ms: still valid all along?
                    await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).until(l::isValid);
                    valid = true;
                } catch (org.awaitility.core.ConditionTimeoutException lostMeanwhile) {
                    valid = false;
                }
                l.close(); // let go: whichever order they come in, both are granted
                if (!valid) {
                    at.set(-at.get()); // negative: lost within 300 ms of its grant
                }
                return l;
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /** Blocks a service's ZooKeeper event thread until {@code release} or {@code most} passes: a stalled process. */
    private static void stall(ZkLockService s, CountDownLatch release, Duration most) throws Exception {
        CountDownLatch stalled = new CountDownLatch(1);
        s.client().getZookeeperClient().getZooKeeper().exists("/", false, (rc, path, ctx, stat) -> {
            stalled.countDown();
            try {
                release.await(most.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, null);
        assertTrue(stalled.await(10, TimeUnit.SECONDS));
    }

    /**
     * R (X on p/k) waits for a long S holder of p (IX-S conflict). W (S on p/k, IS on p: no
     * conflict with S on p) queues behind R on p/k. R is a WAITER, never granted; W must not break it.
     */
    @Test
    void aWaiterBlockedAtAnAncestorIsNotBrokenAsIfItHeld() throws Exception {
        ZkLockService a = service();
        ZkLockService r = service();
        ZkLockService w = service();
        LockKey p = LockKey.of("rv1", "p");
        LockKey k = p.child("k");
        Lease coarse = a.acquire(p, LockOptions.defaults().mode(LockMode.SHARED));
        AtomicLong rAt = new AtomicLong();
        AtomicLong wAt = new AtomicLong();
        CompletableFuture<Lease> rf = async(r, k, LockOptions.defaults().leaseTime(Duration.ofSeconds(1))
                .waitAtMost(Duration.ofSeconds(30)), rAt);
        await().atMost(Duration.ofSeconds(10)).until(() -> a.inspect(k).waiters().size() + a.inspect(k).holders().size() == 1);
        String rNode = zk.observer().getChildren().forPath("/" + zk.namespace() + Layout.queuePath(k)).get(0);
        CompletableFuture<Lease> wf = async(w, k, LockOptions.defaults().mode(LockMode.SHARED)
                .waitAtMost(Duration.ofSeconds(30)), wAt);
        // R's limit is 1 s lease + 2 s grace; A still holds p: for 6 s R's node stays and W waits
        await().during(Duration.ofSeconds(6)).atMost(Duration.ofSeconds(10)).until(() ->
                zk.observer().checkExists().forPath("/" + zk.namespace() + Layout.queuePath(k) + "/" + rNode) != null && !wf.isDone());
        boolean rNodeAlive = zk.observer().checkExists().forPath("/" + zk.namespace() + Layout.queuePath(k) + "/" + rNode) != null;
        boolean wGrantedFirst = wf.isDone() && !rf.isDone();
        coarse.close();
        rf.get(30, TimeUnit.SECONDS);
        wf.get(30, TimeUnit.SECONDS);
        assertFalse(wGrantedFirst, "W (later) was granted before R (earlier), while R waited for p's holder");
        assertTrue(rNodeAlive, "R's queue node was deleted (broken) although R never held p/k");
    }

    /**
     * R waits out a lock delay (no node blocks it). W queues behind R. R is a waiter; W must not break it.
     */
    @Test
    void aRequestWaitingOutALockDelayIsNotBroken() throws Exception {
        ZkLockService h = service();
        ZkLockService r = service();
        ZkLockService w = service();
        LockKey k = LockKey.of("rv2", "k");
        Lease lost = h.acquire(k, LockOptions.defaults().lockDelay(Duration.ofSeconds(8)));
        zk.ensemble().expireSession(h.client());
        await().atMost(Duration.ofSeconds(20)).until(() -> !lost.isValid());
        await().atMost(Duration.ofSeconds(20)).until(() -> r.inspect(k).holders().isEmpty() && r.inspect(k).waiters().isEmpty());
        AtomicLong rAt = new AtomicLong();
        AtomicLong wAt = new AtomicLong();
        CompletableFuture<Lease> rf = async(r, k, LockOptions.defaults().leaseTime(Duration.ofMillis(500))
                .waitAtMost(Duration.ofSeconds(30)), rAt);
        await().atMost(Duration.ofSeconds(10)).until(() -> r.inspect(k).waiters().size() == 1); // R queued first
        CompletableFuture<Lease> wf = async(w, k, LockOptions.defaults().waitAtMost(Duration.ofSeconds(30)), wAt);
        rf.get(30, TimeUnit.SECONDS);
        wf.get(30, TimeUnit.SECONDS);
        assertTrue(rAt.get() < wAt.get(), "W (later) was granted before R (earlier): R was broken while waiting out the delay");
    }

    /** A lock delay on p/k must also keep a coarser (p) and a finer (p/k/x) conflicting request out. */
    @Test
    void aLockDelayAlsoHoldsOffCoarserAndFinerConflictingKeys() throws Exception {
        ZkLockService h = service();
        ZkLockService o = service();
        LockKey p = LockKey.of("rv3", "p");
        LockKey k = p.child("k");
        Lease lost = h.acquire(k, LockOptions.defaults().lockDelay(Duration.ofSeconds(5)));
        zk.ensemble().expireSession(h.client());
        await().atMost(Duration.ofSeconds(20)).until(() -> !lost.isValid());
        await().atMost(Duration.ofSeconds(20)).until(() -> o.inspect(k).holders().isEmpty());
        long start = System.nanoTime();
        try (Lease coarse = o.acquire(p, Duration.ofSeconds(20))) {
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // the marker stays behind, never stamped, as long as nobody asks for p/k itself
            assertTrue(ms >= 4_000, "X on p granted " + ms + " ms after the loss of a holder of p/k with a 5 s lock delay");
        }
    }

    /** A lost holder's marker (and its containers) must not stay forever when nobody asks for the key again. */
    @Test
    void aLockDelayMarkerIsNotLeftForever() throws Exception {
        ZkLockService h = service();
        LockKey k = LockKey.of("rv4", "k");
        Lease lost = h.acquire(k, LockOptions.defaults().lockDelay(Duration.ofMillis(200)));
        zk.ensemble().expireSession(h.client());
        await().atMost(Duration.ofSeconds(20)).until(() -> !lost.isValid());
        // the lost holder's own service ends the delay once it is past (containers then go too)
        await().atMost(Duration.ofSeconds(15)).until(() -> ZkTesting.descendants(zk.observer(), "/" + zk.namespace() + "/locks/rv4").isEmpty());
        assertEquals(List.of(), ZkTesting.descendants(zk.observer(), "/" + zk.namespace() + "/locks/rv4"));
    }

    /**
     * The stamp race: R waited long behind P; P goes; R's process is stalled for 2.5 s (here its
     * ZooKeeper event thread; a GC pause does the same) so its grant stamp is late; W arrives and
     * breaks R after STAMP_GRACE (1 s) judging its age from R's ctime (its whole wait), although
     * R has held the key (in the store's eyes) for about a second: less than its 1 s lease + 2 s grace.
     */
    @Test
    void aLateStampDoesNotCountTheWaitAsHeldTime() throws Exception {
        ZkLockService r = service();
        ZkLockService w = service();
        LockKey k = LockKey.of("rv5", "k");
        // P: a fake holder made by the zk.observer(), no lease (never judged)
        byte[] data = new HolderRecord("p:1:1", "p", 1, "t", null, 1, null, 0, false, 0).encode();
        String pq = zk.observer().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                .forPath("/" + zk.namespace() + Layout.queuePath(k) + "/X-0123456789abcdef-", data);
        String ps = zk.observer().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                .forPath("/" + zk.namespace() + Layout.strongPath(k) + "/X-0123456789abcdef-");
        AtomicLong rAt = new AtomicLong();
        CompletableFuture<Lease> rf = async(r, k, LockOptions.defaults().leaseTime(Duration.ofSeconds(1))
                .waitAtMost(Duration.ofSeconds(30)), rAt);
        await().atMost(Duration.ofSeconds(10)).until(() -> r.inspect(k).waiters().size() == 1);
        // R waits 5 s: longer than its lease time + grace
        await().during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(8)).until(() -> !rf.isDone());
        stall(r, new CountDownLatch(1), Duration.ofMillis(2_500)); // R's process stalls as P goes
        zk.observer().delete().forPath(ps);
        zk.observer().delete().forPath(pq);
        AtomicLong wAt = new AtomicLong();
        CompletableFuture<Lease> wf = async(w, k, LockOptions.defaults().waitAtMost(Duration.ofSeconds(30)), wAt);
        rf.get(30, TimeUnit.SECONDS);
        wf.get(30, TimeUnit.SECONDS);
        assertTrue(rAt.get() > 0 && rAt.get() < wAt.get(), "R was broken about a second into its hold (lost at once, or re-queued behind W): rAt=" + rAt + " wAt=" + wAt);
    }

    /**
     * R holds a/b and a/c (acquireAll, one IX node on a for both). Breaking R on a/b deletes R's
     * shared IX node on a too; until R's process hears of it, R's X on a/c is still in the store,
     * yet X on a is granted: two conflicting holds in the store, a/c's never judged.
     */
    @Test
    void breakingOneKeyOfAMultiKeyHoldDoesNotUncoverItsOtherKeys() throws Exception {
        ZkLockService r = service();
        ZkLockService op = service();
        ZkLockService c = service();
        LockKey a = LockKey.of("rv6", "a");
        Lease both = r.acquireAll(java.util.Map.of(a.child("b"), LockMode.EXCLUSIVE, a.child("c"), LockMode.EXCLUSIVE),
                LockOptions.defaults());
        await().atMost(Duration.ofSeconds(10)).until(() -> op.inspect(a.child("b")).holders().size() == 1
                && op.inspect(a.child("b")).holders().get(0).heldFor().isPresent()
                && op.inspect(a.child("c")).isHeld());
        await().atMost(Duration.ofSeconds(10)).until(() -> HolderRecord.parse(zk.observer().getData()
                .forPath("/" + zk.namespace() + ZkLockService.nodesOf(both).stream()
                        .filter(n -> n.startsWith(Layout.queuePath(a.child("b")))).findFirst().orElseThrow())).granted());
        CountDownLatch resume = new CountDownLatch(1);
        stall(r, resume, Duration.ofSeconds(4)); // R's process is slow to hear (GC pause, busy event thread)
        assertEquals(1, op.breakLock(a.child("b")));
        boolean acStillHeld = !zk.observer().getChildren().forPath("/" + zk.namespace() + Layout.strongPath(a.child("c"))).isEmpty();
        java.util.Optional<Lease> coarse = c.tryAcquire(a);
        coarse.ifPresent(Lease::close);
        assertTrue(acStillHeld);
        assertTrue(coarse.isEmpty(), "X on a granted while R's X on a/c is still in the store");
        resume.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> !both.isValid());
    }

    /**
     * R = acquireAll{a, z} waits for z; W (a/b, staleAfter 1 s) queues behind R's X on a and
     * skips R (multi-key, unstamped), watching R's _s node. R is granted and stamps its _q
     * records: W is not woken and never judges R again, so staleAfter never applies.
     */
    @Test
    void anIntentionWaiterJudgesAMultiKeyHolderOnceItIsStamped() throws Exception {
        ZkLockService zHolder = service();
        ZkLockService r = service();
        ZkLockService w = service();
        LockKey a = LockKey.of("rv7", "a");
        LockKey z = LockKey.of("rv7", "z");
        Lease zl = zHolder.acquire(z, Duration.ofSeconds(5));
        CompletableFuture<Lease> rf = CompletableFuture.supplyAsync(() -> {
            try {
                return r.acquireAll(java.util.Map.of(a, LockMode.EXCLUSIVE, z, LockMode.EXCLUSIVE),
                        LockOptions.defaults().waitAtMost(Duration.ofSeconds(20)));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(10)).until(() -> w.inspect(z).waiters().size() == 1);
        AtomicLong wAt = new AtomicLong();
        CompletableFuture<Lease> wf = async(w, a.child("b"), LockOptions.defaults().staleAfter(Duration.ofSeconds(1))
                .waitAtMost(Duration.ofSeconds(12)), wAt);
        await().during(Duration.ofMillis(1_500)).atMost(Duration.ofSeconds(5)).until(() -> !wf.isDone());
        zl.close();
        Lease rl = rf.get(10, TimeUnit.SECONDS);
        long granted = System.nanoTime();
        try {
            wf.get(15, TimeUnit.SECONDS);
        } catch (Exception e) {
            // timed out: never broke R
        }
        rl.close();
        assertTrue(wAt.get() != 0 && Math.abs(wAt.get()) - granted < TimeUnit.SECONDS.toNanos(5),
                "W (staleAfter 1 s) did not break R within 5 s of R's grant");
    }
}
