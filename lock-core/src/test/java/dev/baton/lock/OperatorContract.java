package dev.baton.lock;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;

import static dev.baton.lock.ContractTags.EVERY_LINE;
import static dev.baton.lock.LockMode.EXCLUSIVE;
import static dev.baton.lock.LockMode.SHARED;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What an operator and a careful waiter can do with a lock store, as every {@link LockService}
 * must do it: {@link LockService#inspect inspect} and {@link LockService#list list} held keys,
 * {@link LockService#requestRelease ask} holders to let go, {@link LockService#breakLock break}
 * their locks, have a waiter break a holder that went {@link LockOptions#staleAfter stale}, and
 * keep a lost key unavailable for its {@link LockOptions#lockDelay lock delay}. An
 * implementation's test extends this class and supplies {@link #newService()} and
 * {@link #loseSession}.
 *
 * <p>Every test names its keys under roots of its own ({@link #key(String)}), so implementations
 * may share one lock store across tests. Waits are bounded (Awaitility, latches and futures with
 * timeouts) and nothing sleeps to establish an order. What one client did is not assumed visible
 * to another client at once: tests wait until it is. Timing assertions only bound how
 * <em>early</em> something may happen, with margins for a loaded machine.
 */
public abstract class OperatorContract extends ContractBase {
    /** For subclasses, one per implementation under test. */
    protected OperatorContract() {
    }

    /** Upper bound for anything that should happen "soon" on a loaded machine. */
    /** The staleAfter of the tests that wait for a holder to turn stale. */
    private static final Duration STALE = Duration.ofSeconds(2);
    /** The lock delay of the tests that time one. */
    private static final Duration DELAY = Duration.ofMillis(1500);

    private final List<Hung> hung = Collections.synchronizedList(new ArrayList<>());

    /**
     * Ends {@code service}'s session as a crash or a partition would (for ZooKeeper, expires it on
     * the server), so that its leases are lost and the lock store frees their keys. An
     * implementation without separate clients may end every lease of the store: the tests call it
     * only while {@code service} holds the only lease of the test.
     */
    protected abstract void loseSession(LockService service) throws Exception;

    @AfterEach
    void letHungHoldersGo() {
        hung.forEach(h -> h.letGo.countDown());
    }

    /**
     * The key at {@code path}, a {@code /}-separated path whose first segment names a root of
     * this test run's own: {@code key("r/a")} is a child of {@code key("r")}, and {@code key("r2")}
     * another root, unrelated to {@code key("r")} although its name starts the same.
     */
    protected final LockKey key(String path) {
        List<String> segments = new ArrayList<>(List.of(path.split("/")));
        segments.set(0, prefix() + "-" + segments.get(0));
        return LockKey.of(segments);
    }

    private static LockOptions patiently() {
        return LockOptions.defaults().waitAtMost(PATIENCE);
    }

    private static <T> T get(Future<T> future) throws Exception {
        try {
            return future.get(PATIENCE.toSeconds(), SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception) {
                throw (Exception) e.getCause();
            }
            throw e;
        }
    }

    private static Duration since(long nanoTime) {
        return Duration.ofNanos(System.nanoTime() - nanoTime);
    }

    /** A holder that hangs in its critical section, ignoring interrupts, until the test lets it go. */
    private static final class Hung {
        final CountDownLatch letGo = new CountDownLatch(1);
        final CompletableFuture<Lease> granted = new CompletableFuture<>();
        final CompletableFuture<LockLostException> told = new CompletableFuture<>();
        volatile long grantedAt;
        volatile boolean interrupted;
        Future<Object> outcome;

        Lease lease() throws Exception {
            return granted.get(PATIENCE.toSeconds(), SECONDS);
        }

        /** What its {@code withLock} ended with, once let go: its result or the LockLostException. */
        Object finish() throws Exception {
            letGo.countDown();
            return get(outcome);
        }
    }

    private Hung hang(LockService s, LockKey key, LockOptions options) {
        Hung h = new Hung();
        hung.add(h);
        h.outcome = async(() -> {
            try {
                return s.withLock(key, options.waitAtMost(PATIENCE), lease -> {
                    h.grantedAt = System.nanoTime();
                    lease.onLost(h.told::complete);
                    h.granted.complete(lease);
                    while (true) {
                        try {
                            h.letGo.await();
                            return "returned";
                        } catch (InterruptedException ignored) {
                            h.interrupted = true; // and keep hanging
                        }
                    }
                });
            } catch (LockLostException e) {
                return e;
            }
        });
        return h;
    }

    private static Claim onlyHolder(LockState state) {
        assertEquals(1, state.holders().size(), "holders of " + state);
        return state.holders().get(0);
    }

    private static List<LockKey> keys(List<LockState> states) {
        return states.stream().map(LockState::key).collect(Collectors.toList());
    }

    // ---------------------------------------------------------------- staleAfter

    @Test
    @Tag(EVERY_LINE)
    void staleAfterBreaksAHungHolderThatIgnoresInterrupts() throws Exception {
        LockService holderSide = service();
        LockService waiterSide = service();
        LockKey key = key("hung");
        Fence fence = new Fence();
        Hung h = hang(holderSide, key, LockOptions.defaults()); // no lease time: only staleAfter can end it
        Lease held = h.lease();
        fence.guard("ledger", held.token(), () -> null);

        try (Lease next = waiterSide.acquire(key, patiently().staleAfter(STALE))) {
            Duration age = since(h.grantedAt);
            assertTrue(age.compareTo(STALE.multipliedBy(8).dividedBy(10)) >= 0,
                    "the waiter broke a holder only " + age + " old; staleAfter is " + STALE);
            assertTrue(next.token().isNewerThan(held.token()), next.token() + " vs " + held.token());
            fence.guard("ledger", next.token(), () -> null);
        }
        assertEquals(LossReason.BROKEN, h.told.get(PATIENCE.toSeconds(), SECONDS).reason());
        assertFalse(held.isValid());
        await().atMost(PATIENCE).until(() -> h.interrupted);
        assertThrows(StaleTokenException.class, () -> fence.guard("ledger", held.token(), () -> null),
                "the hung holder's late write must be refused");
        LockLostException aborted = assertInstanceOf(LockLostException.class, h.finish(),
                "withLock returned normally although its lock was broken");
        assertEquals(LossReason.BROKEN, aborted.reason());
    }

    @Test
    void staleAfterBreaksOnlyConflictingHoldersAtAnyLevel() throws Exception {
        LockService holderSide = service();
        LockService waiterSide = service();
        Lease sibling = holderSide.acquire(key("tree2"), patiently()); // old, but no conflict
        Hung fine = hang(holderSide, key("tree/a/b"), LockOptions.defaults());
        Lease held = fine.lease();
        try (Lease coarse = waiterSide.acquire(key("tree"), patiently().staleAfter(Duration.ofSeconds(1)))) {
            assertTrue(coarse.token().isNewerThan(held.token()));
        }
        assertEquals(LossReason.BROKEN, fine.told.get(PATIENCE.toSeconds(), SECONDS).reason());
        assertTrue(sibling.isValid(), "a holder that did not block the waiter was broken");
        sibling.close();
        assertInstanceOf(LockLostException.class, fine.finish());
    }

    @Test
    void aHolderYoungerThanStaleAfterIsNotBroken() throws Exception {
        LockService holderSide = service();
        LockService waiterSide = service();
        LockKey key = key("young");
        Lease holder = holderSide.acquire(key, patiently());
        List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
        holder.onLost(lost::add);
        LockOptions options = LockOptions.defaults().staleAfter(PATIENCE.multipliedBy(3))
                .waitAtMost(Duration.ofSeconds(1));
        assertThrows(LockTimeoutException.class, () -> waiterSide.acquire(key, options));
        assertTrue(holder.isValid(), "a holder younger than staleAfter was broken");
        assertEquals(List.of(), lost);
        holder.close();
    }

    @Test
    void extendRestartsTheAgeSoARegularlyExtendingHolderIsNotBroken() throws Exception {
        LockService holderSide = service();
        LockService waiterSide = service();
        LockKey key = key("extending");
        Lease holder = holderSide.acquire(key, patiently());
        Duration staleAfter = Duration.ofMillis(1500);
        Future<Object> waiter = async(() -> {
            try {
                // waits for more than twice staleAfter: a holder whose age extend did not restart goes stale
                return waiterSide.acquire(key, LockOptions.defaults().staleAfter(staleAfter)
                        .waitAtMost(staleAfter.multipliedBy(5).dividedBy(2)));
            } catch (LockTimeoutException e) {
                return e;
            }
        });
        long until = System.nanoTime() + PATIENCE.toNanos();
        while (!waiter.isDone() && System.nanoTime() < until) { // a long job, renewing as it goes
            holder.extend(PATIENCE);
            LockSupport.parkNanos(Duration.ofMillis(150).toNanos());
        }
        Object outcome = get(waiter);
        if (outcome instanceof Lease) {
            ((Lease) outcome).close();
        }
        assertInstanceOf(LockTimeoutException.class, outcome, "the waiter broke a holder that kept extending");
        assertTrue(holder.isValid());
        holder.close();
    }

    // ---------------------------------------------------------------- inspect and list

    @Test
    @Tag(EVERY_LINE)
    void inspectShowsTheHolderWithWhatItRecordedAndTheWaitersInOrder() throws Exception {
        LockService holderSide = service();
        LockService waiterSide = service();
        LockService operator = service();
        LockKey key = key("inspected");
        AtomicReference<String> holderThread = new AtomicReference<>();
        Lease lease = get(async(() -> {
            holderThread.set(Thread.currentThread().getName());
            return holderSide.acquire(key, patiently().leaseTime(Duration.ofMinutes(1)).lockDelay(Duration.ofSeconds(7)));
        }));

        LockState state = await().atMost(PATIENCE).until(() -> operator.inspect(key), LockState::isHeld);
        assertEquals(key, state.key());
        Claim holder = onlyHolder(state);
        assertFalse(holder.holderId().isBlank());
        assertFalse(holder.host().isBlank());
        assertEquals(ProcessHandle.current().pid(), holder.pid());
        assertEquals(holderThread.get(), holder.thread());
        assertEquals(EXCLUSIVE, holder.mode());
        assertEquals(lease.token(), holder.token());
        assertTrue(holder.granted());
        assertEquals(Optional.of(Duration.ofMinutes(1)), holder.leaseTime());
        assertEquals(Optional.of(Duration.ofSeconds(7)), holder.lockDelay());
        Duration first = holder.heldFor().orElseThrow();
        assertFalse(first.isNegative(), "heldFor " + first);
        assertEquals(List.of(), state.waiters());
        assertEquals(Optional.empty(), state.lockDelayLeft());

        // heldFor grows; extend restarts it and rewrites the lease time
        Duration grown = await().atMost(PATIENCE).until(() -> onlyHolder(operator.inspect(key)).heldFor().orElseThrow(),
                d -> d.compareTo(first.plusSeconds(1)) >= 0);
        lease.extend(Duration.ofMinutes(2));
        Claim extended = await().atMost(PATIENCE).until(() -> onlyHolder(operator.inspect(key)),
                c -> c.leaseTime().equals(Optional.of(Duration.ofMinutes(2))));
        assertTrue(extended.heldFor().orElseThrow().compareTo(grown) < 0,
                "extend did not restart heldFor: " + extended.heldFor() + " after " + grown);

        AtomicReference<String> firstThread = new AtomicReference<>();
        AtomicReference<String> secondThread = new AtomicReference<>();
        Future<Lease> firstWaiter = async(() -> {
            firstThread.set(Thread.currentThread().getName());
            return waiterSide.acquire(key, patiently());
        });
        await().atMost(PATIENCE).until(() -> operator.inspect(key).waiters().size() == 1);
        Future<Lease> secondWaiter = async(() -> {
            secondThread.set(Thread.currentThread().getName());
            return waiterSide.acquire(key, patiently().mode(SHARED));
        });
        List<Claim> waiters = await().atMost(PATIENCE).until(() -> operator.inspect(key).waiters(), w -> w.size() == 2);
        assertEquals(List.of(EXCLUSIVE, SHARED), waiters.stream().map(Claim::mode).collect(Collectors.toList()));
        assertEquals(List.of(firstThread.get(), secondThread.get()),
                waiters.stream().map(Claim::thread).collect(Collectors.toList()));
        for (Claim w : waiters) {
            assertFalse(w.granted(), w.toString());
            assertEquals(Optional.empty(), w.heldFor(), w.toString());
            assertTrue(w.token().isNewerThan(lease.token()), w.toString());
        }
        assertTrue(waiters.get(1).token().isNewerThan(waiters.get(0).token()));
        assertEquals(lease.token(), onlyHolder(operator.inspect(key)).token());

        lease.close();
        Lease firstLease = get(firstWaiter);
        assertEquals(waiters.get(0).token(), firstLease.token(), "a waiter's token is the one it holds when granted");
        firstLease.close();
        Lease secondLease = get(secondWaiter);
        assertEquals(waiters.get(1).token(), secondLease.token());
        secondLease.close();
        LockState own = waiterSide.inspect(key); // the releasing service sees its own release at once
        assertFalse(own.isHeld(), own.toString());
        assertEquals(List.of(), own.waiters());
        await().atMost(PATIENCE).until(() -> {
            LockState s = operator.inspect(key);
            return !s.isHeld() && s.waiters().isEmpty();
        });
    }

    @Test
    void inspectShowsSharedHoldersAndAcquireAllRequestsNamingTheKeyOnly() throws Exception {
        LockService a = service();
        LockService b = service();
        LockService operator = service();
        LockKey key = key("shared");
        LockKey other = key("other");
        Lease first = a.acquire(key, patiently().mode(SHARED));
        Lease second = b.acquireAll(Map.of(key, SHARED, other, EXCLUSIVE), patiently());
        Lease finer = a.acquire(key("shared/x"), patiently().mode(SHARED)); // names a finer key only

        LockState state = await().atMost(PATIENCE).until(() -> operator.inspect(key), s -> s.holders().size() >= 2);
        assertEquals(List.of(first.token(), second.token()),
                state.holders().stream().map(Claim::token).collect(Collectors.toList()),
                "holders earliest grant first, and only those naming the key: " + state);
        assertEquals(List.of(SHARED, SHARED), state.holders().stream().map(Claim::mode).collect(Collectors.toList()));
        Claim onOther = onlyHolder(await().atMost(PATIENCE).until(() -> operator.inspect(other), LockState::isHeld));
        assertEquals(EXCLUSIVE, onOther.mode());
        assertEquals(second.token(), onOther.token());
        assertEquals(Optional.empty(), onOther.leaseTime());
        assertEquals(Optional.empty(), onOther.lockDelay());

        first.close();
        second.close();
        finer.close();
        await().atMost(PATIENCE).until(() -> !operator.inspect(key).isHeld() && !operator.inspect(other).isHeld());
    }

    @Test
    void listShowsHeldKeysAtOrUnderThePrefixCoarseFirst() throws Exception {
        LockService a = service();
        LockService b = service();
        LockService operator = service();
        LockKey root = key("tree");
        LockKey child = key("tree/a");
        LockKey grandchild = key("tree/b/x");
        LockKey waitedOnly = key("tree/w");
        LockKey outside = key("tree2");
        // acquired fine to coarse, listed coarse to fine
        Lease lGrandchild = b.acquire(grandchild, patiently().mode(SHARED));
        Lease lChild = a.acquire(child, patiently().mode(SHARED));
        Lease lRoot = a.acquire(root, patiently().mode(SHARED));
        Lease lOutside = b.acquire(outside, patiently());
        Future<Lease> waiter = async(() -> b.acquire(waitedOnly, patiently())); // held back by the shared root
        await().atMost(PATIENCE).until(() -> operator.inspect(waitedOnly).waiters().size() == 1);

        List<LockState> listed = await().atMost(PATIENCE).until(() -> operator.list(root),
                l -> keys(l).equals(List.of(root, child, grandchild)));
        for (LockState s : listed) {
            assertTrue(s.isHeld(), s.toString());
        }
        assertEquals(lGrandchild.token(), onlyHolder(listed.get(2)).token());
        assertEquals(List.of(child), keys(operator.list(child)), "the prefix itself is listed");
        assertEquals(List.of(), operator.list(key("tree/c")));

        List<LockState> all = operator.list();
        List<LockKey> allKeys = keys(all);
        assertTrue(allKeys.containsAll(List.of(root, child, grandchild, outside)), allKeys.toString());
        assertFalse(allKeys.contains(waitedOnly), "a key only waited for was listed");
        List<LockKey> sorted = new ArrayList<>(allKeys);
        sorted.sort(Comparator.comparingInt(LockKey::depth).thenComparing(LockKey::toString));
        assertEquals(sorted, allKeys, "list() is not coarse keys first, by depth then path");

        lRoot.close();
        get(waiter).close();
        lChild.close();
        lGrandchild.close();
        lOutside.close();
        await().atMost(PATIENCE).until(() -> operator.list(root).isEmpty());
    }

    // ---------------------------------------------------------------- requestRelease

    @Test
    void requestReleaseAsksTheHolderAndLeavesItsLeaseValid() throws Exception {
        LockService holderSide = service();
        LockService asker = service();
        LockKey key = key("asked");
        Lease lease = holderSide.acquire(key, patiently());
        CountDownLatch asked = new CountDownLatch(1);
        lease.onReleaseRequested(asked::countDown);
        await().atMost(PATIENCE).until(() -> asker.inspect(key).isHeld());

        assertEquals(1, asker.requestRelease(key));
        assertTrue(asked.await(PATIENCE.toSeconds(), SECONDS), "the holder's listener did not run");
        assertTrue(lease.isValid(), "a release request took the lock away");
        Optional<Lease> other = asker.tryAcquire(key);
        other.ifPresent(Lease::close);
        assertEquals(Optional.empty(), other, "the key was free although its holder ignored the request");
        assertEquals(0, asker.requestRelease(key("free")));

        // a holder that listens lets go, and the next waiter proceeds
        lease.onReleaseRequested(lease::close);
        Future<Lease> waiter = async(() -> asker.acquire(key, patiently()));
        await().atMost(PATIENCE).until(() -> asker.inspect(key).waiters().size() == 1);
        assertEquals(1, asker.requestRelease(key));
        try (Lease next = get(waiter)) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }
    }

    @Test
    void requestReleaseAsksEverySharedHolder() throws Exception {
        LockService a = service();
        LockService b = service();
        LockService asker = service();
        LockKey key = key("shared-asked");
        Lease first = a.acquire(key, patiently().mode(SHARED));
        Lease second = b.acquire(key, patiently().mode(SHARED));
        CountDownLatch asked = new CountDownLatch(2);
        first.onReleaseRequested(asked::countDown);
        second.onReleaseRequested(asked::countDown);
        await().atMost(PATIENCE).until(() -> asker.inspect(key).holders().size() == 2);
        assertEquals(2, asker.requestRelease(key));
        assertTrue(asked.await(PATIENCE.toSeconds(), SECONDS), "not every holder was asked");
        assertTrue(first.isValid() && second.isValid());
        first.close();
        second.close();
    }

    // ---------------------------------------------------------------- breakLock

    @Test
    @Tag(EVERY_LINE)
    void breakLockTakesTheKeyAwayAndTheWaiterProceedsWithALargerToken() throws Exception {
        LockService holderSide = service();
        LockService waiterSide = service();
        LockService operator = service();
        LockKey key = key("broken");
        Fence fence = new Fence();
        Hung h = hang(holderSide, key, LockOptions.defaults());
        Lease held = h.lease();
        fence.guard("ledger", held.token(), () -> null);
        Future<Lease> waiter = async(() -> waiterSide.acquire(key, patiently()));
        await().atMost(PATIENCE).until(() -> operator.inspect(key).waiters().size() == 1);

        assertEquals(1, operator.breakLock(key));
        try (Lease next = get(waiter)) {
            assertTrue(next.token().isNewerThan(held.token()), next.token() + " vs " + held.token());
            fence.guard("ledger", next.token(), () -> null);
        }
        assertEquals(LossReason.BROKEN, h.told.get(PATIENCE.toSeconds(), SECONDS).reason());
        assertFalse(held.isValid());
        assertEquals(LossReason.BROKEN, assertThrows(LockLostException.class, held::ensureValid).reason());
        await().atMost(PATIENCE).until(() -> h.interrupted);
        assertThrows(StaleTokenException.class, () -> fence.guard("ledger", held.token(), () -> null));
        assertEquals(LossReason.BROKEN, assertInstanceOf(LockLostException.class, h.finish()).reason());
        assertEquals(0, operator.breakLock(key("free")));
    }

    @Test
    void breakingOneKeyOfAMultiKeyLeaseFreesThemAll() throws Exception {
        LockService holderSide = service();
        LockService operator = service();
        LockKey first = key("multi-a");
        LockKey second = key("multi-b");
        Lease both = holderSide.acquireAll(Set.of(first, second), patiently());
        await().atMost(PATIENCE).until(() -> operator.inspect(first).isHeld());
        assertEquals(1, operator.breakLock(first));
        await().atMost(PATIENCE).until(() -> !both.isValid());
        assertEquals(LossReason.BROKEN, assertThrows(LockLostException.class, both::ensureValid).reason());
        try (Lease next = operator.acquire(second, patiently())) {
            assertTrue(next.token().isNewerThan(both.token()));
        }
    }

    // ---------------------------------------------------------------- lockDelay

    @Test
    void aBrokenHoldersLockDelayKeepsTheKeyUnavailable() throws Exception {
        LockService holderSide = service();
        LockService other = service();
        LockService operator = service();
        LockKey key = key("delayed");
        Lease held = holderSide.acquire(key, patiently().lockDelay(DELAY));
        await().atMost(PATIENCE).until(() -> operator.inspect(key).isHeld());

        long breakStart = System.nanoTime();
        assertEquals(1, operator.breakLock(key));
        Optional<Lease> early = other.tryAcquire(key);
        Duration triedAfter = since(breakStart);
        early.ifPresent(Lease::close);
        assertTrue(early.isEmpty() || triedAfter.compareTo(Duration.ofSeconds(1)) >= 0,
                "granted " + triedAfter + " after breaking a holder with lock delay " + DELAY);
        LockState state = operator.inspect(key);
        Duration inspectedAfter = since(breakStart);
        assertFalse(state.isHeld(), state.toString());
        if (inspectedAfter.compareTo(DELAY) < 0) {
            Duration left = state.lockDelayLeft().orElseThrow(
                    () -> new AssertionError("no lock delay shown " + inspectedAfter + " after the break: " + state));
            assertTrue(left.compareTo(DELAY) <= 0 && !left.isNegative() && !left.isZero(), left.toString());
        }

        try (Lease next = other.acquire(key, patiently())) { // arrives during the delay, waits it out
            Duration after = since(breakStart);
            assertTrue(after.compareTo(Duration.ofSeconds(1)) >= 0,
                    "granted " + after + " after breaking a holder with lock delay " + DELAY);
            assertTrue(next.token().isNewerThan(held.token()));
            assertEquals(Optional.empty(), operator.inspect(key).lockDelayLeft(), "a lock delay shown after it ended");
        }
        await().atMost(PATIENCE).until(() -> !held.isValid());
        assertEquals(LossReason.BROKEN, assertThrows(LockLostException.class, held::ensureValid).reason());
    }

    @Test
    @Tag(EVERY_LINE)
    void aLockDelayAppliesAfterSessionLossAndTheWaiterGetsTheKeyWhenItEnds() throws Exception {
        LockService holderSide = service();
        LockService waiterSide = service();
        LockService operator = service();
        LockKey key = key("session");
        Lease held = holderSide.acquire(key, patiently().lockDelay(DELAY));
        Future<Lease> waiter = async(() -> waiterSide.acquire(key, patiently()));
        await().atMost(PATIENCE).until(() -> operator.inspect(key).waiters().size() == 1);

        long lossStart = System.nanoTime();
        loseSession(holderSide);
        try (Lease next = get(waiter)) {
            Duration after = since(lossStart);
            assertTrue(after.compareTo(Duration.ofSeconds(1)) >= 0,
                    "granted " + after + " after the session of a holder with lock delay " + DELAY + " ended");
            assertTrue(next.token().isNewerThan(held.token()));
        }
        await().atMost(PATIENCE).until(() -> !held.isValid());
    }

    @Test
    void noLockDelayAfterANormalReleaseNorAfterTheLeaseTimeRanOut() throws Exception {
        LockService holderSide = service();
        LockService other = service();
        LockOptions longDelay = patiently().lockDelay(PATIENCE.multipliedBy(3));
        LockOptions shortWait = LockOptions.defaults().waitAtMost(PATIENCE.dividedBy(2));

        LockKey closed = key("closed");
        holderSide.acquire(closed, longDelay).close();
        try (Lease next = other.acquire(closed, shortWait)) {
            assertTrue(next.isValid());
        }

        LockKey expired = key("expired");
        Lease expiring = holderSide.acquire(expired, longDelay.leaseTime(Duration.ofMillis(300)));
        try (Lease next = other.acquire(expired, shortWait)) {
            assertTrue(next.token().isNewerThan(expiring.token()));
        }
        assertEquals(LossReason.LEASE_EXPIRED, assertThrows(LockLostException.class, expiring::ensureValid).reason());
        assertEquals(Optional.empty(), other.inspect(expired).lockDelayLeft());
    }

    // ---------------------------------------------------------------- bad input

    @Test
    void badInputAndAClosedServiceAreRejected() throws Exception {
        LockService s = service();
        LockKey key = key("bad");
        assertMessage(NullPointerException.class, "key", () -> s.inspect(null));
        assertMessage(NullPointerException.class, "prefix", () -> s.list(null));
        assertMessage(NullPointerException.class, "key", () -> s.requestRelease(null));
        assertMessage(NullPointerException.class, "key", () -> s.breakLock(null));
        assertMessage(IllegalArgumentException.class, "staleAfter",
                () -> LockOptions.defaults().staleAfter(Duration.ZERO));
        assertMessage(IllegalArgumentException.class, "lockDelay",
                () -> LockOptions.defaults().lockDelay(Duration.ofMillis(-1)));
        s.close();
        assertMessage(IllegalStateException.class, "closed", () -> s.inspect(key));
        assertMessage(IllegalStateException.class, "closed", () -> s.list(key));
        assertMessage(IllegalStateException.class, "closed", s::list);
        assertMessage(IllegalStateException.class, "closed", () -> s.requestRelease(key));
        assertMessage(IllegalStateException.class, "closed", () -> s.breakLock(key));
    }

    private static void assertMessage(Class<? extends Throwable> type, String fragment,
                                      org.junit.jupiter.api.function.Executable call) {
        Throwable t = assertThrows(type, call);
        assertNotNull(t.getMessage(), type.getSimpleName() + " without a message");
        if (!t.getMessage().contains(fragment)) {
            fail("message \"" + t.getMessage() + "\" does not name \"" + fragment + "\"");
        }
    }
}
