package dev.baton.lock;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static dev.baton.lock.ContractTags.EVERY_LINE;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The behaviour every {@link LockService} must have. An implementation's test extends this class
 * and supplies {@link #newService()} and {@link #queueLength}; every test here then runs against
 * it. Each test uses its own keys, so implementations may share one lock store across tests.
 *
 * <p>Waits are bounded (Awaitility, latches with timeouts); nothing here sleeps to synchronise.
 */
public abstract class LockServiceContract extends ContractBase {
    /** For subclasses, one per implementation under test. */
    protected LockServiceContract() {
    }

    /** Upper bound for anything that should happen "soon" on a loaded machine. */

    /**
     * How many requests currently hold or wait for {@code key} in the lock store (for ZooKeeper,
     * the nodes in the key's queue). Used to prove that failed requests leave nothing behind.
     */
    protected abstract int queueLength(LockService service, LockKey key) throws Exception;

    /** A key unique to this test run. */
    protected final LockKey key(String name) {
        return LockKey.of("contract", prefix(), name);
    }

    private void awaitQueueLength(LockService s, LockKey key, int expected) {
        await().atMost(PATIENCE).until(() -> queueLength(s, key) == expected);
    }

    // ---------------------------------------------------------------- mutual exclusion and tokens

    @Test
    @Tag(EVERY_LINE)
    void mutualExclusionUnderManyThreads() throws Exception {
        LockService s = service();
        List<LockKey> keys = List.of(key("a"), key("b"));
        int threads = 8;
        int rounds = 25;
        AtomicInteger[] inside = {new AtomicInteger(), new AtomicInteger()};
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger entries = new AtomicInteger();
        List<Future<Void>> futures = new ArrayList<>();
        CountDownLatch start = new CountDownLatch(1);
        for (int t = 0; t < threads; t++) {
            int id = t;
            futures.add(async(() -> {
                start.await();
                for (int r = 0; r < rounds; r++) {
                    int k = (id + r) % keys.size();
                    CriticalSection<Void, RuntimeException> body = lease -> {
                        if (inside[k].incrementAndGet() != 1) {
                            overlaps.incrementAndGet();
                        }
                        entries.incrementAndGet();
                        Thread.yield();
                        inside[k].decrementAndGet();
                        return null;
                    };
                    if (r % 2 == 0) {
                        s.withLock(keys.get(k), body);
                    } else {
                        try (Lease lease = s.acquire(keys.get(k))) {
                            body.run(lease);
                        }
                    }
                }
                return null;
            }));
        }
        start.countDown();
        for (Future<Void> f : futures) {
            f.get(PATIENCE.toSeconds() * 3, SECONDS);
        }
        assertEquals(0, overlaps.get(), "two holders of one key were inside the critical section at once");
        assertEquals(threads * rounds, entries.get());
        for (LockKey k : keys) {
            awaitQueueLength(s, k, 0);
        }
    }

    @Test
    @Tag(EVERY_LINE)
    void tokensStrictlyIncreaseInGrantOrder() throws Exception {
        LockService s = service();
        LockKey key = key("tokens");
        List<FencingToken> granted = Collections.synchronizedList(new ArrayList<>());
        List<Future<Void>> futures = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            futures.add(async(() -> {
                for (int r = 0; r < 15; r++) {
                    // recorded inside the critical section, so the list is in grant order
                    s.withLock(key, lease -> granted.add(lease.token()));
                }
                return null;
            }));
        }
        for (Future<Void> f : futures) {
            f.get(PATIENCE.toSeconds() * 3, SECONDS);
        }
        assertEquals(60, granted.size());
        for (int i = 1; i < granted.size(); i++) {
            assertTrue(granted.get(i).isNewerThan(granted.get(i - 1)),
                    "token " + i + " (" + granted.get(i) + ") is not greater than " + granted.get(i - 1));
        }
    }

    @Test
    void leasesAreNotReentrant() throws Exception {
        LockService s = service();
        LockKey key = key("reentrant");
        try (Lease lease = s.acquire(key)) {
            assertTrue(lease.isValid());
            assertEquals(Optional.empty(), s.tryAcquire(key), "a second acquire on the same thread was granted");
            assertThrows(LockTimeoutException.class, () -> s.acquire(key, Duration.ofMillis(50)));
            awaitQueueLength(s, key, 1);
        }
    }

    @Test
    @Tag(EVERY_LINE)
    void waitersAreGrantedInArrivalOrder() throws Exception {
        LockService s = service();
        LockKey key = key("fifo");
        Lease holder = s.acquire(key);
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        Future<Void> first = async(() -> {
            s.withLock(key, lease -> order.add("first"));
            return null;
        });
        awaitQueueLength(s, key, 2);
        Future<Void> second = async(() -> {
            s.withLock(key, lease -> order.add("second"));
            return null;
        });
        awaitQueueLength(s, key, 3);
        holder.close();
        first.get(PATIENCE.toSeconds(), SECONDS);
        second.get(PATIENCE.toSeconds(), SECONDS);
        assertEquals(List.of("first", "second"), order);
    }

    // ---------------------------------------------------------------- timeouts and tryAcquire

    @Test
    @Tag(EVERY_LINE)
    void acquireTimesOutWhileHeldAndLeavesNothingBehind() throws Exception {
        LockService s = service();
        LockKey key = key("timeout");
        try (Lease holder = s.acquire(key)) {
            long start = System.nanoTime();
            Future<Lease> waiter = async(() -> s.acquire(key, Duration.ofMillis(300)));
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> waiter.get(PATIENCE.toSeconds(), SECONDS));
            LockTimeoutException timeout = assertInstanceOf(LockTimeoutException.class, e.getCause());
            assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(300), "gave up early");
            assertEquals(key, timeout.key());
            assertEquals(Duration.ofMillis(300), timeout.waited());
            assertTrue(timeout.getMessage().contains(key.toString()), timeout.getMessage());
            awaitQueueLength(s, key, 1);
            assertTrue(holder.isValid());
        }
        awaitQueueLength(s, key, 0);
    }

    @Test
    void zeroWaitTriesOnce() throws Exception {
        LockService s = service();
        LockKey key = key("zero");
        try (Lease lease = s.acquire(key, Duration.ZERO)) {
            assertTrue(lease.isValid());
            assertThrows(LockTimeoutException.class, () -> s.acquire(key, Duration.ZERO));
        }
    }

    @Test
    void tryAcquireGivesEmptyWhileHeldAndALeaseWhenFree() throws Exception {
        LockService s = service();
        LockKey key = key("try");
        Optional<Lease> first = s.tryAcquire(key);
        assertTrue(first.isPresent());
        Future<Optional<Lease>> other = async(() -> s.tryAcquire(key));
        assertEquals(Optional.empty(), other.get(PATIENCE.toSeconds(), SECONDS));
        awaitQueueLength(s, key, 1);
        first.get().close();
        Optional<Lease> again = async(() -> s.tryAcquire(key)).get(PATIENCE.toSeconds(), SECONDS);
        assertTrue(again.isPresent());
        assertTrue(again.get().token().isNewerThan(first.get().token()));
        again.get().close();
    }

    // ---------------------------------------------------------------- interrupts

    @Test
    void interruptWhileWaitingThrowsAndLeavesNothingBehind() throws Exception {
        LockService s = service();
        LockKey key = key("interrupt");
        Lease holder = s.acquire(key);
        AtomicReference<Thread> waiterThread = new AtomicReference<>();
        Future<Object> waiter = async(() -> {
            waiterThread.set(Thread.currentThread());
            try {
                return s.acquire(key);
            } catch (InterruptedException e) {
                return e;
            }
        });
        awaitQueueLength(s, key, 2);
        waiterThread.get().interrupt();
        assertInstanceOf(InterruptedException.class, waiter.get(PATIENCE.toSeconds(), SECONDS));
        awaitQueueLength(s, key, 1);
        holder.close();
        awaitQueueLength(s, key, 0);
        Optional<Lease> next = s.tryAcquire(key);
        assertTrue(next.isPresent(), "the interrupted waiter's request still blocks the key");
        next.get().close();
    }

    @Test
    void alreadyInterruptedThreadFailsAtOnce() throws Exception {
        LockService s = service();
        LockKey key = key("preinterrupted");
        Thread.currentThread().interrupt();
        try {
            assertThrows(InterruptedException.class, () -> s.acquire(key));
        } finally {
            Thread.interrupted();
        }
        assertEquals(0, queueLength(s, key));
        Thread.currentThread().interrupt();
        try {
            assertEquals(Optional.empty(), s.tryAcquire(key));
            assertTrue(Thread.currentThread().isInterrupted(), "tryAcquire swallowed the interrupt");
        } finally {
            Thread.interrupted();
        }
        awaitQueueLength(s, key, 0);
    }

    // ---------------------------------------------------------------- release

    @Test
    void closeIsIdempotentAndEndsTheLease() throws Exception {
        LockService s = service();
        LockKey key = key("close");
        Lease lease = s.acquire(key);
        List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
        lease.onLost(lost::add);
        assertTrue(lease.isValid());
        lease.ensureValid();
        lease.close();
        lease.close();
        assertFalse(lease.isValid());
        assertThrows(IllegalStateException.class, lease::ensureValid);
        try (Lease next = s.acquire(key, Duration.ofSeconds(5))) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }
        assertEquals(List.of(), lost, "onLost fired for a lease its holder released");
    }

    @Test
    void leaseCanBeClosedFromAnotherThread() throws Exception {
        LockService s = service();
        LockKey key = key("crossthread");
        Lease lease = async(() -> s.acquire(key)).get(PATIENCE.toSeconds(), SECONDS);
        // the acquiring thread has finished its task; close from this (another) thread
        Future<Lease> waiter = async(() -> s.acquire(key));
        awaitQueueLength(s, key, 2);
        lease.close();
        Lease next = waiter.get(PATIENCE.toSeconds(), SECONDS);
        assertTrue(next.isValid());
        assertTrue(next.token().isNewerThan(lease.token()));
        CompletableFuture.runAsync(next::close, pool()).get(PATIENCE.toSeconds(), SECONDS);
        awaitQueueLength(s, key, 0);
    }

    // ---------------------------------------------------------------- withLock

    @Test
    void withLockReturnsTheBodysValueAndReleases() throws Exception {
        LockService s = service();
        LockKey key = key("value");
        AtomicReference<Lease> seen = new AtomicReference<>();
        String result = s.withLock(key, lease -> {
            assertTrue(lease.isValid());
            assertEquals(key, lease.key());
            assertEquals(LockMode.EXCLUSIVE, lease.mode());
            seen.set(lease);
            return "done";
        });
        assertEquals("done", result);
        assertFalse(seen.get().isValid());
        awaitQueueLength(s, key, 0);
    }

    @Test
    void withLockRethrowsTheBodysExceptionAndReleases() throws Exception {
        LockService s = service();
        LockKey key = key("throws");
        IOException checked = new IOException("disk full");
        IOException thrown = assertThrows(IOException.class, () -> s.withLock(key, lease -> {
            throw checked;
        }));
        assertSame(checked, thrown);
        IllegalStateException unchecked = new IllegalStateException("bad state");
        assertSame(unchecked, assertThrows(IllegalStateException.class, () -> s.withLock(key, lease -> {
            throw unchecked;
        })));
        awaitQueueLength(s, key, 0);
        Optional<Lease> free = s.tryAcquire(key);
        assertTrue(free.isPresent(), "withLock did not release after the body threw");
        free.get().close();
    }

    @Test
    void withLockAbortsABodyThatIgnoresInterrupts() throws Exception {
        LockService s = service();
        LockKey key = key("abort");
        CountDownLatch inside = new CountDownLatch(1);
        AtomicBoolean sawInterrupt = new AtomicBoolean();
        AtomicBoolean flagAfter = new AtomicBoolean(true);
        Future<Object> run = async(() -> {
            try {
                return s.withLock(key, lease -> {
                    inside.countDown();
                    // a body that swallows the interrupt and then returns as if all went well
                    long until = System.nanoTime() + PATIENCE.toNanos();
                    while (!sawInterrupt.get() && System.nanoTime() < until) {
                        try {
                            Thread.sleep(5);
                        } catch (InterruptedException swallowed) {
                            sawInterrupt.set(true);
                        }
                    }
                    return "finished normally";
                });
            } catch (LockLostException e) {
                flagAfter.set(Thread.currentThread().isInterrupted());
                return e;
            }
        });
        assertTrue(inside.await(PATIENCE.toSeconds(), SECONDS));
        s.close();
        Object outcome = run.get(PATIENCE.toSeconds(), SECONDS);
        LockLostException lost = assertInstanceOf(LockLostException.class, outcome,
                "withLock returned although its lease was lost");
        assertEquals(LossReason.SERVICE_CLOSED, lost.reason());
        assertEquals(key, lost.key());
        assertTrue(sawInterrupt.get(), "the body was not interrupted");
        assertFalse(flagAfter.get(), "withLock left its own interrupt set on the caller's thread");
    }

    @Test
    void withLockWithoutInterruptionStillReportsTheLoss() throws Exception {
        LockService s = service();
        LockKey key = key("nointerrupt");
        CountDownLatch inside = new CountDownLatch(1);
        AtomicBoolean interrupted = new AtomicBoolean();
        Future<Object> run = async(() -> {
            try {
                return s.withLock(key, LockOptions.defaults().interruptOnLoss(false), lease -> {
                    inside.countDown();
                    await().atMost(PATIENCE).until(() -> !lease.isValid());
                    interrupted.set(Thread.currentThread().isInterrupted());
                    return "finished";
                });
            } catch (LockLostException e) {
                return e;
            }
        });
        assertTrue(inside.await(PATIENCE.toSeconds(), SECONDS));
        s.close();
        assertInstanceOf(LockLostException.class, run.get(PATIENCE.toSeconds(), SECONDS));
        assertFalse(interrupted.get(), "interruptOnLoss(false) still interrupted the body");
    }

    // ---------------------------------------------------------------- loss on close

    @Test
    void closingTheServiceLosesLeasesAndFailsWaiters() throws Exception {
        LockService s = service();
        LockKey key = key("svcclose");
        Lease lease = s.acquire(key);
        List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
        lease.onLost(lost::add);
        Future<Lease> waiter = async(() -> s.acquire(key));
        awaitQueueLength(s, key, 2);
        s.close();
        s.close();
        assertFalse(lease.isValid());
        LockLostException e = assertThrows(LockLostException.class, lease::ensureValid);
        assertEquals(LossReason.SERVICE_CLOSED, e.reason());
        assertEquals(lease.token(), e.token());
        await().atMost(PATIENCE).until(() -> lost.size() == 1);
        assertEquals(LossReason.SERVICE_CLOSED, lost.get(0).reason());
        ExecutionException failed = assertThrows(ExecutionException.class,
                () -> waiter.get(PATIENCE.toSeconds(), SECONDS));
        assertInstanceOf(IllegalStateException.class, failed.getCause());
        lease.close(); // never throws for a lost lease
        List<LockLostException> late = new ArrayList<>();
        lease.onLost(late::add);
        assertEquals(1, late.size(), "a listener registered after the loss was not told at once");
        assertEquals(1, lost.size(), "onLost fired twice");
    }

    @Test
    void useAfterCloseIsRejected() throws Exception {
        LockService s = service();
        LockKey key = key("afterclose");
        s.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.acquire(key));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> s.tryAcquire(key));
        assertThrows(IllegalStateException.class, () -> s.withLock(key, lease -> "never"));
    }

    // ---------------------------------------------------------------- bad input

    @Test
    void badArgumentsAreRejectedBeforeTouchingTheStore() throws Exception {
        LockService s = service();
        LockKey key = key("bad");
        assertMessage(NullPointerException.class, "key", () -> s.acquire(null));
        assertMessage(NullPointerException.class, "key", () -> s.tryAcquire(null));
        assertMessage(NullPointerException.class, "options", () -> s.acquire(key, (LockOptions) null));
        assertMessage(NullPointerException.class, "waitAtMost", () -> s.acquire(key, (Duration) null));
        assertMessage(IllegalArgumentException.class, "negative", () -> s.acquire(key, Duration.ofMillis(-1)));
        assertMessage(NullPointerException.class, "body", () -> s.withLock(key, null));
        assertMessage(IllegalArgumentException.class, "lockDelay",
                () -> s.acquire(key, LockOptions.defaults().lockDelay(Duration.ZERO)));
        assertMessage(NullPointerException.class, "key", () -> s.inspect(null));
        assertMessage(NullPointerException.class, "key", () -> s.breakLock(null));
        assertMessage(NullPointerException.class, "key", () -> s.requestRelease(null));
        assertEquals(0, queueLength(s, key));
        try (Lease lease = s.acquire(key, Duration.ofSeconds(5))) {
            assertMessage(NullPointerException.class, "listener", () -> lease.onLost(null));
            assertMessage(NullPointerException.class, "executor", () -> lease.onLost(e -> { }, null));
        }
    }

    @Test
    void badKeysAreRejectedWithTheRule() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LockKey.parse("billing/acc ount"));
        assertTrue(e.getMessage().contains("acc ount") && e.getMessage().contains("letters, digits"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LockKey.parse("billing/_q"));
        assertThrows(IllegalArgumentException.class, () -> LockKey.parse("/billing"));
    }

    private static void assertMessage(Class<? extends Throwable> type, String fragment,
                                      org.junit.jupiter.api.function.Executable call) {
        Throwable t = assertThrows(type, call);
        assertNotNull(t.getMessage(), type.getSimpleName() + " without a message");
        if (!t.getMessage().contains(fragment)) {
            fail("message \"" + t.getMessage() + "\" does not name \"" + fragment + "\"");
        }
    }

    // ---------------------------------------------------------------- lease time

    @Test
    @Tag(EVERY_LINE)
    void aHungHolderLosesTheLockAtItsLeaseTimeAndItsLateWriteIsRefused() throws Exception {
        LockService s = service();
        LockKey key = key("hung");
        Fence fence = new Fence();
        CountDownLatch letGo = new CountDownLatch(1);
        AtomicReference<FencingToken> hungToken = new AtomicReference<>();
        Future<Object> hung = async(() -> {
            try {
                return s.withLock(key, LockOptions.defaults().leaseTime(Duration.ofMillis(300)), lease -> {
                    fence.guard("ledger", lease.token(), () -> null);
                    hungToken.set(lease.token());
                    while (true) { // hangs, and ignores the interrupt that ends its lease
                        try {
                            letGo.await();
                            return "returned";
                        } catch (InterruptedException ignored) {
                            // keep hanging
                        }
                    }
                });
            } catch (LockLostException e) {
                return e;
            }
        });
        await().atMost(PATIENCE).until(() -> hungToken.get() != null);
        try (Lease next = s.acquire(key, PATIENCE)) {
            assertTrue(next.token().isNewerThan(hungToken.get()));
            fence.guard("ledger", next.token(), () -> null);
        }
        assertThrows(StaleTokenException.class, () -> fence.guard("ledger", hungToken.get(), () -> null),
                "the hung holder's late write must be refused");
        letGo.countDown();
        LockLostException lost = assertInstanceOf(LockLostException.class, hung.get(PATIENCE.toSeconds(), SECONDS));
        assertEquals(LossReason.LEASE_EXPIRED, lost.reason());
        awaitQueueLength(s, key, 0);
    }

    @Test
    void extendKeepsALongJobsLeaseAndNobodyElseGetsTheLock() throws Exception {
        LockService s = service();
        LockKey key = key("extended");
        try (Lease lease = s.acquire(key, LockOptions.defaults().leaseTime(Duration.ofSeconds(1)))) {
            long until = System.nanoTime() + Duration.ofMillis(2500).toNanos();
            while (System.nanoTime() < until) { // a job three lease times long, renewing as it goes
                lease.extend(Duration.ofSeconds(1));
                assertTrue(s.tryAcquire(key).isEmpty(), "another request got the lock of an extended lease");
                java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // the job's work
            }
            assertTrue(lease.isValid());
        }
        awaitQueueLength(s, key, 0);
    }

    @Test
    void aLeaseLostToItsLeaseTimeCannotBeExtendedAndTellsItsListeners() throws Exception {
        LockService s = service();
        LockKey key = key("expired");
        CompletableFuture<LockLostException> told = new CompletableFuture<>();
        Lease lease = s.acquire(key, LockOptions.defaults().leaseTime(Duration.ofMillis(150)));
        lease.onLost(told::complete);
        assertEquals(LossReason.LEASE_EXPIRED, told.get(PATIENCE.toSeconds(), SECONDS).reason());
        assertFalse(lease.isValid());
        LockLostException e = assertThrows(LockLostException.class, () -> lease.extend(Duration.ofSeconds(1)));
        assertEquals(LossReason.LEASE_EXPIRED, e.reason());
        assertFalse(lease.isValid());
        lease.close(); // never throws for a lost lease
        try (Lease next = s.acquire(key, PATIENCE)) {
            assertTrue(next.token().isNewerThan(lease.token()));
            assertThrows(NullPointerException.class, () -> next.extend(null));
            assertThrows(IllegalArgumentException.class, () -> next.extend(Duration.ZERO));
            assertThrows(IllegalArgumentException.class, () -> next.extend(Duration.ofMillis(-1)));
            assertTrue(next.isValid());
        }
        Lease closed = s.acquire(key, PATIENCE);
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.extend(Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> LockOptions.defaults().leaseTime(Duration.ZERO));
    }

    @Test
    void extendGivesALeaseWithoutALeaseTimeOne() throws Exception {
        LockService s = service();
        LockKey key = key("late-lease-time");
        Lease lease = s.acquire(key, PATIENCE);
        lease.extend(Duration.ofMillis(200));
        try (Lease next = s.acquire(key, PATIENCE)) { // granted once the lease time ran out
            assertFalse(lease.isValid());
            assertTrue(next.token().isNewerThan(lease.token()));
        }
        assertThrows(LockLostException.class, lease::ensureValid);
    }

    @Test
    void aLeaseOverSeveralKeysEndsAtItsLeaseTimeAndFreesThemAll() throws Exception {
        LockService s = service();
        LockKey a = key("multi-a");
        LockKey b = key("multi-b");
        Lease both = s.acquireAll(java.util.Set.of(a, b), LockOptions.defaults().leaseTime(Duration.ofMillis(200)));
        try (Lease first = s.acquire(a, PATIENCE); Lease second = s.acquire(b, PATIENCE)) {
            assertFalse(both.isValid());
            assertTrue(first.token().isNewerThan(both.token()) && second.token().isNewerThan(both.token()));
        }
        assertEquals(LossReason.LEASE_EXPIRED, assertThrows(LockLostException.class, both::ensureValid).reason());
    }
}
