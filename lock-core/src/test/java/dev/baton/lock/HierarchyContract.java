package dev.baton.lock;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static dev.baton.lock.ContractTags.EVERY_LINE;
import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static dev.baton.lock.LockMode.EXCLUSIVE;
import static dev.baton.lock.LockMode.SHARED;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Coarse-to-fine locking as every {@link LockService} must do it: shared and exclusive modes, a
 * lock on a key covering every key under it, {@code acquireAll}, first-come fairness across
 * levels, and tokens that grow across levels. An implementation's test extends this class and
 * supplies {@link #newService()} and {@link #queueLength}.
 *
 * <p>Every test names its keys under roots of its own ({@link #key(String)}), so implementations
 * may share one lock store across tests. Waits are bounded (Awaitility, latches and futures with
 * timeouts). Nothing here sleeps to establish an order: where a test must know that a request is
 * already waiting, it probes with {@code tryAcquire} until the lock store shows it; a short
 * bounded wait is used only to give a wrong implementation the chance to do the wrong thing.
 */
public abstract class HierarchyContract extends ContractBase {
    /** For subclasses, one per implementation under test. */
    protected HierarchyContract() {
    }

    /** Upper bound for anything that should happen "soon" on a loaded machine. */
    /** How long {@link #laterRequestsDoNotOvertakeAnEarlierConflictingOne} probes before giving up. */
    private static final Duration PROBING = Duration.ofSeconds(10);

    /**
     * How many requests currently hold or wait at {@code key}'s level of the lock store: requests
     * for {@code key} itself and, through their intentions, for keys under it, each counted once
     * (for ZooKeeper, the nodes in the key's queue). Used to prove that requests leave nothing
     * behind.
     */
    protected abstract int queueLength(LockService service, LockKey key) throws Exception;

    /**
     * How long {@link #randomMixedWorkloadKeepsExclusionTokenOrderAndProgress} runs. Three seconds
     * by default; an implementation whose round trips are slow may shorten or lengthen it.
     */
    protected Duration workloadDuration() {
        return Duration.ofSeconds(3);
    }

    /**
     * The key at {@code path}, a {@code /}-separated path whose first segment names a root of
     * this test run's own: {@code key("r")} has depth 1, {@code key("r/a/b")} depth 3, and
     * {@code key("q")} is another root, unrelated to {@code key("r")}.
     */
    protected final LockKey key(String path) {
        List<String> segments = new ArrayList<>(List.of(path.split("/")));
        segments.set(0, prefix() + "-" + segments.get(0));
        return LockKey.of(segments);
    }

    private static LockOptions in(LockMode mode) {
        return LockOptions.defaults().mode(mode).waitAtMost(PATIENCE);
    }

    private static LockOptions patiently() {
        return LockOptions.defaults().waitAtMost(PATIENCE);
    }

    private Lease lock(LockService s, String path, LockMode mode) throws InterruptedException {
        return s.acquire(key(path), in(mode));
    }

    private Optional<Lease> tryLock(LockService s, String path, LockMode mode) {
        return s.tryAcquire(key(path), LockOptions.defaults().mode(mode));
    }

    /**
     * Tries {@code path} in {@code mode} until it is granted. A try that was refused may take a
     * moment to leave the lock store (an implementation may clean up in the background), and a
     * released lock a moment to be free, so a single try would not show that the key is free.
     */
    private Lease awaitTry(LockService s, String path, LockMode mode) {
        AtomicReference<Lease> granted = new AtomicReference<>();
        await().atMost(PATIENCE).pollInterval(Duration.ofMillis(10)).until(() -> {
            tryLock(s, path, mode).ifPresent(granted::set);
            return granted.get() != null;
        });
        return granted.get();
    }

    private void awaitQueueLength(LockService s, LockKey key, int expected) {
        await().atMost(PATIENCE).until(() -> queueLength(s, key) == expected);
    }

    private static void assertNotDone(Future<?> future, Duration within, String message) throws Exception {
        try {
            Object result = future.get(within.toMillis(), MILLISECONDS);
            fail(message + " (it returned " + result + ")");
        } catch (TimeoutException expected) {
            // still waiting, as it should
        } catch (ExecutionException e) {
            throw new AssertionError(message + " (it failed)", e.getCause());
        }
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

    private static void assertMessage(Class<? extends Throwable> type, String fragment,
                                      org.junit.jupiter.api.function.Executable call) {
        Throwable t = assertThrows(type, call);
        assertNotNull(t.getMessage(), type.getSimpleName() + " without a message");
        if (!t.getMessage().contains(fragment)) {
            fail("message \"" + t.getMessage() + "\" does not name \"" + fragment + "\"");
        }
    }

    // ---------------------------------------------------------------- the compatibility table

    /**
     * One cell of the compatibility table as the API shows it: {@code first} is held, then
     * {@code second} is tried by another client.
     */
    protected record Cell(String first, LockMode firstMode, String second, LockMode secondMode, boolean compatible) {
        Cell reversed() {
            return new Cell(second, secondMode, first, firstMode, compatible);
        }

        @Override
        public String toString() {
            return firstMode + " " + first + " held, then " + secondMode + " " + second + ": "
                    + (compatible ? "compatible" : "conflict");
        }
    }

    static Stream<Cell> compatibilityTable() {
        List<Cell> pairs = List.of(
                // the same key
                new Cell("r", SHARED, "r", SHARED, true),
                new Cell("r", SHARED, "r", EXCLUSIVE, false),
                new Cell("r", EXCLUSIVE, "r", EXCLUSIVE, false),
                new Cell("r/a/b", SHARED, "r/a/b", EXCLUSIVE, false),
                // a key and its child
                new Cell("r/a", EXCLUSIVE, "r/a/b", SHARED, false),
                new Cell("r/a", EXCLUSIVE, "r/a/b", EXCLUSIVE, false),
                new Cell("r/a", SHARED, "r/a/b", SHARED, true),
                new Cell("r/a", SHARED, "r/a/b", EXCLUSIVE, false),
                // siblings: intentions on the common parent are compatible
                new Cell("r/a/b", EXCLUSIVE, "r/a/c", EXCLUSIVE, true),
                new Cell("r/a/b", SHARED, "r/a/c", EXCLUSIVE, true),
                new Cell("r/a", EXCLUSIVE, "r/ab", EXCLUSIVE, true), // a name prefix is no ancestor
                // unrelated roots
                new Cell("r", EXCLUSIVE, "q", EXCLUSIVE, true),
                new Cell("r/a", EXCLUSIVE, "q/a", EXCLUSIVE, true),
                // depth 1 against depth 4
                new Cell("r", EXCLUSIVE, "r/a/b/c", SHARED, false),
                new Cell("r", EXCLUSIVE, "r/a/b/c", EXCLUSIVE, false),
                new Cell("r", SHARED, "r/a/b/c", SHARED, true),
                new Cell("r", SHARED, "r/a/b/c", EXCLUSIVE, false),
                new Cell("r/a/b/c", EXCLUSIVE, "r/x", SHARED, true));
        Map<String, Cell> cells = new LinkedHashMap<>();
        for (Cell pair : pairs) {
            cells.putIfAbsent(pair.toString(), pair);
            cells.putIfAbsent(pair.reversed().toString(), pair.reversed());
        }
        return cells.values().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("compatibilityTable")
    void compatibilityTableShowsThroughTheApi(Cell cell) throws Exception {
        LockService holderService = service();
        LockService otherService = service();
        Lease held = lock(holderService, cell.first(), cell.firstMode());
        assertEquals(cell.firstMode(), held.mode());
        Optional<Lease> other = tryLock(otherService, cell.second(), cell.secondMode());
        if (cell.compatible()) {
            assertTrue(other.isPresent(), cell + ": the second lock was refused while the first was held");
            assertTrue(held.isValid(), cell + ": the first lease ended when the second was granted");
            assertTrue(other.get().isValid());
            assertEquals(cell.secondMode(), other.get().mode());
            other.get().close();
            held.close();
        } else {
            other.ifPresent(Lease::close);
            assertFalse(other.isPresent(), cell + ": the second lock was granted while the first was held");
            assertTrue(held.isValid());
            held.close();
            try (Lease after = awaitTry(otherService, cell.second(), cell.secondMode())) {
                assertTrue(after.token().isNewerThan(held.token()),
                        cell + ": token " + after.token() + " is not newer than the earlier holder's " + held.token());
            }
        }
    }

    @Test
    void sharedKeyWithAnExclusiveKeyUnderItAdmitsOnlyIntentionShared() throws Exception {
        LockService holderService = service();
        LockService other = service();
        Map<LockKey, LockMode> sixKeys = new LinkedHashMap<>();
        sixKeys.put(key("r/a/b"), EXCLUSIVE);
        sixKeys.put(key("r/a"), SHARED);
        Lease six = holderService.acquireAll(sixKeys, patiently());
        assertEquals(key("r/a"), six.key());
        assertEquals(SHARED, six.mode());

        // what only needs IS at r/a, or IX at r beside r/a, goes in beside it
        for (Object[] ok : new Object[][] {
                {"r/a/c", SHARED}, {"r/a/c/d", SHARED}, {"r/z", EXCLUSIVE}, {"r/z", SHARED}, {"q", EXCLUSIVE}}) {
            Optional<Lease> lease = tryLock(other, (String) ok[0], (LockMode) ok[1]);
            assertTrue(lease.isPresent(), ok[1] + " " + ok[0] + " was refused beside S r/a + X r/a/b");
            lease.get().close();
        }
        // what is incompatible with SIX at r/a, IX at r, or X at r/a/b waits
        Object[][] refused = {
                {"r/a", SHARED}, {"r/a", EXCLUSIVE}, {"r/a/c", EXCLUSIVE}, {"r", SHARED}, {"r", EXCLUSIVE},
                {"r/a/b", SHARED}, {"r/a/b", EXCLUSIVE}, {"r/a/b/x", SHARED}};
        for (Object[] no : refused) {
            Optional<Lease> lease = tryLock(other, (String) no[0], (LockMode) no[1]);
            lease.ifPresent(Lease::close);
            assertFalse(lease.isPresent(), no[1] + " " + no[0] + " was granted beside S r/a + X r/a/b");
        }
        assertTrue(six.isValid());
        six.close();
        for (Object[] no : refused) {
            try (Lease after = awaitTry(other, (String) no[0], (LockMode) no[1])) {
                assertTrue(after.token().isNewerThan(six.token()));
            }
        }
    }

    // ---------------------------------------------------------------- fairness across levels

    /**
     * A holder {@code A}, a request {@code C} that conflicts with it and waits, and a later request
     * {@code D} that is compatible with {@code A} but not with {@code C}: {@code D} must wait for
     * {@code C}.
     */
    protected record Overtake(String held, LockMode heldMode, String waiting, LockMode waitingMode,
                              String later, LockMode laterMode) {
        @Override
        public String toString() {
            return "A " + heldMode + " " + held + ", C " + waitingMode + " " + waiting + " waits, D " + laterMode + " "
                    + later + " comes later";
        }
    }

    static Stream<Overtake> overtakes() {
        return Stream.of(
                // fine holder, coarse waiter, later fine request beside the holder
                new Overtake("r/a/b", EXCLUSIVE, "r/a", EXCLUSIVE, "r/a/c", EXCLUSIVE),
                new Overtake("r/a/b", SHARED, "r/a", EXCLUSIVE, "r/a/c", SHARED),
                // coarse holder, fine waiter, later coarse request
                new Overtake("r/a", SHARED, "r/a/b", EXCLUSIVE, "r/a", SHARED),
                // readers and a writer on one key: the writer is not starved
                new Overtake("r/a", SHARED, "r/a", EXCLUSIVE, "r/a", SHARED),
                // depth 4 holder, depth 1 waiter, later request on another branch
                new Overtake("r/a/b/c", SHARED, "r", EXCLUSIVE, "r/x", SHARED));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("overtakes")
    void laterRequestsDoNotOvertakeAnEarlierConflictingOne(Overtake c) throws Exception {
        LockService a = service();
        LockService cs = service();
        LockService ds = service();
        Lease held = lock(a, c.held(), c.heldMode());
        Optional<Lease> beside = tryLock(ds, c.later(), c.laterMode());
        assertTrue(beside.isPresent(), c + ": D is refused beside A even before C asks; the case is wrong");
        beside.get().close();

        List<String> order = Collections.synchronizedList(new ArrayList<>());
        Future<Lease> waiting = async(() -> {
            Lease lease = cs.acquire(key(c.waiting()), in(c.waitingMode()));
            order.add("C");
            return lease;
        });
        // Probe until C's request shows: D is refused from then on. Each granted probe ran before
        // C was enqueued (D is compatible with A), and is released at once.
        long giveUp = System.nanoTime() + PROBING.toNanos();
        int probes = 0;
        while (true) {
            if (waiting.isDone()) {
                Lease early = get(waiting);
                early.close();
                fail(c + ": C was granted while A held a conflicting lock");
            }
            Optional<Lease> probe = tryLock(ds, c.later(), c.laterMode());
            if (probe.isEmpty()) {
                break;
            }
            probe.get().close();
            probes++;
            if (System.nanoTime() - giveUp > 0) {
                fail(c + ": D was still granted " + PROBING + " after C began to wait (" + probes
                        + " times): it overtook C");
            }
            Thread.sleep(10); // a pause between probes, not a wait for an order
        }

        Future<Lease> later = async(() -> {
            Lease lease = ds.acquire(key(c.later()), in(c.laterMode()));
            order.add("D");
            return lease;
        });
        assertNotDone(later, Duration.ofMillis(200), c + ": D was granted while C waited");
        assertTrue(held.isValid());
        held.close();
        Lease cLease = get(waiting);
        assertTrue(cLease.token().isNewerThan(held.token()), c + ": C's token is not newer than A's");
        assertNotDone(later, Duration.ofMillis(100), c + ": D was granted while C held its lock");
        cLease.close();
        try (Lease dLease = get(later)) {
            assertEquals(List.of("C", "D"), order);
            assertTrue(dLease.token().isNewerThan(cLease.token()),
                    c + ": D's token " + dLease.token() + " is not newer than C's " + cLease.token());
        }
    }

    @Test
    void requestsHeldBackOnlyByOneThatGivesUpAreGrantedAtOnce() throws Exception {
        LockService a = service();
        LockService cs = service();
        LockService ds = service();
        Lease held = lock(a, "r/a", SHARED);
        LockKey level = key("r/a");

        // C (exclusive on r/a) waits behind A and holds back D (shared under r/a) until it times out
        Future<Lease> timing = async(() -> cs.acquire(level, LockOptions.defaults().waitAtMost(Duration.ofSeconds(1))));
        awaitQueueLength(a, level, 2);
        Future<Lease> first = async(() -> ds.acquire(key("r/a/b"), in(SHARED)));
        ExecutionException timedOut = assertThrows(ExecutionException.class,
                () -> timing.get(PATIENCE.toSeconds(), SECONDS));
        assertInstanceOf(LockTimeoutException.class, timedOut.getCause());
        try (Lease d = get(first)) {
            assertTrue(held.isValid(), "D waited for A although only C, gone, held it back");
            assertTrue(d.isValid());
        }

        // the same when C is interrupted
        AtomicReference<Thread> cThread = new AtomicReference<>();
        Future<Object> interrupted = async(() -> {
            cThread.set(Thread.currentThread());
            try {
                return cs.acquire(level, patiently());
            } catch (InterruptedException e) {
                return e;
            }
        });
        awaitQueueLength(a, level, 2);
        Future<Lease> second = async(() -> ds.acquire(key("r/a/b"), in(SHARED)));
        awaitQueueLength(a, level, 3);
        assertNotDone(second, Duration.ofMillis(50), "D was granted while C waited");
        cThread.get().interrupt();
        assertInstanceOf(InterruptedException.class, interrupted.get(PATIENCE.toSeconds(), SECONDS));
        try (Lease d = get(second)) {
            assertTrue(held.isValid(), "D waited for A although only C, gone, held it back");
            assertTrue(d.isValid());
        }
        held.close();
        awaitQueueLength(a, key("r"), 0);
    }

    // ---------------------------------------------------------------- acquireAll

    @Test
    @Tag(EVERY_LINE)
    void acquireAllIsAllOrNothing() throws Exception {
        LockService holderService = service();
        LockService s = service();
        LockService third = service();
        Lease holder = lock(holderService, "r/b", EXCLUSIVE);
        Set<LockKey> keys = new LinkedHashSet<>(List.of(key("r/a"), key("r/b"), key("r/c")));

        LockTimeoutException once = assertThrows(LockTimeoutException.class,
                () -> s.acquireAll(keys, LockOptions.defaults().waitAtMost(Duration.ZERO)));
        assertTrue(keys.contains(once.key()), once.key() + " is not one of " + keys);
        assertTrue(holder.isValid());
        try (Lease a = awaitTry(third, "r/a", EXCLUSIVE); Lease cc = awaitTry(third, "r/c", EXCLUSIVE)) {
            assertTrue(a.isValid() && cc.isValid());
        }

        Map<LockKey, LockMode> mixed = new LinkedHashMap<>();
        mixed.put(key("r/c"), EXCLUSIVE);
        mixed.put(key("r/b"), SHARED);
        mixed.put(key("r/a"), SHARED);
        long start = System.nanoTime();
        LockTimeoutException waited = assertThrows(LockTimeoutException.class,
                () -> s.acquireAll(mixed, LockOptions.defaults().waitAtMost(Duration.ofMillis(100))));
        assertTrue(System.nanoTime() - start >= MILLISECONDS.toNanos(100), "gave up early");
        assertEquals(Duration.ofMillis(100), waited.waited());
        try (Lease a = awaitTry(third, "r/a", EXCLUSIVE); Lease cc = awaitTry(third, "r/c", EXCLUSIVE)) {
            assertTrue(a.isValid() && cc.isValid());
        }

        holder.close();
        try (Lease all = s.acquireAll(keys, patiently())) {
            assertEquals(keys, all.keys().keySet());
            assertTrue(all.token().isNewerThan(holder.token()));
            for (String path : List.of("r/a", "r/b", "r/c")) {
                Optional<Lease> taken = tryLock(third, path, SHARED);
                taken.ifPresent(Lease::close);
                assertFalse(taken.isPresent(), path + " was granted while acquireAll held it");
            }
        }
        awaitQueueLength(s, key("r"), 0);
    }

    @Test
    void acquireAllIsGrantedWhenItsLastKeyIsFreed() throws Exception {
        LockService s = service();
        LockService holders = service();
        Lease onA = lock(holders, "r/a", SHARED);
        Lease onB = lock(holders, "r/b/c", EXCLUSIVE);
        Map<LockKey, LockMode> keys = Map.of(key("r/a"), EXCLUSIVE, key("r/b"), EXCLUSIVE);
        Future<Lease> all = async(() -> s.acquireAll(keys, patiently()));
        awaitQueueLength(s, key("r/a"), 2);
        onA.close();
        assertNotDone(all, Duration.ofMillis(100), "acquireAll was granted while r/b/c was still held");
        assertTrue(onB.isValid());
        onB.close();
        try (Lease lease = get(all)) {
            assertEquals(keys, lease.keys());
            assertTrue(lease.token().isNewerThan(onA.token()) && lease.token().isNewerThan(onB.token()),
                    lease.token() + " is not newer than both " + onA.token() + " and " + onB.token());
        }
        awaitQueueLength(s, key("r"), 0);
    }

    @Test
    void keysInOppositeOrdersDoNotDeadlock() throws Exception {
        LockService s1 = service();
        LockService s2 = service();
        List<LockKey> forward = List.of(key("r/x"), key("r/y/z"), key("q"));
        List<LockKey> backward = new ArrayList<>(forward);
        Collections.reverse(backward);
        int rounds = 40;
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger entries = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Void>> futures = new ArrayList<>();
        List<Callable<Lease>> requests = List.of(
                () -> s1.acquireAll(new LinkedHashSet<>(forward), patiently()),
                () -> s2.acquireAll(new LinkedHashSet<>(backward), patiently()),
                () -> {
                    Map<LockKey, LockMode> modes = new LinkedHashMap<>();
                    backward.forEach(k -> modes.put(k, EXCLUSIVE));
                    modes.put(key("r"), SHARED);
                    return s1.acquireAll(modes, patiently());
                },
                () -> s2.acquire(key("r"), patiently()));
        for (Callable<Lease> request : requests) {
            futures.add(async(() -> {
                start.await();
                for (int r = 0; r < rounds; r++) {
                    try (Lease lease = request.call()) {
                        if (inside.incrementAndGet() != 1) {
                            overlaps.incrementAndGet();
                        }
                        entries.incrementAndGet();
                        Thread.yield();
                        inside.decrementAndGet();
                        assertTrue(lease.isValid());
                    }
                }
                return null;
            }));
        }
        start.countDown();
        for (Future<Void> f : futures) {
            try {
                f.get(PATIENCE.toSeconds() * 3, SECONDS);
            } catch (TimeoutException e) {
                fail("acquireAll with keys in opposite orders did not finish: deadlock?");
            }
        }
        assertEquals(0, overlaps.get(), "two conflicting acquireAll leases were held at once");
        assertEquals(requests.size() * rounds, entries.get());
        awaitQueueLength(s1, key("r"), 0);
        awaitQueueLength(s1, key("q"), 0);
    }

    @Test
    void leaseKeysAreCoarseFirstWithTheirModes() throws Exception {
        LockService s = service();
        LockService other = service();
        Map<LockKey, LockMode> asked = new HashMap<>();
        asked.put(key("r/a/b"), EXCLUSIVE);
        asked.put(key("r"), SHARED);
        asked.put(key("r/c"), EXCLUSIVE);
        asked.put(key("q/z"), SHARED);
        try (Lease lease = s.acquireAll(asked, patiently())) {
            List<LockKey> expected = new ArrayList<>(asked.keySet());
            expected.sort(Comparator.comparingInt(LockKey::depth).thenComparing(LockKey::toString));
            assertEquals(expected, new ArrayList<>(lease.keys().keySet()));
            assertEquals(asked, lease.keys());
            assertEquals(key("r"), lease.key());
            assertEquals(SHARED, lease.mode());
            assertThrows(UnsupportedOperationException.class, () -> lease.keys().put(key("p"), SHARED));
            // before the refused probes: a refused probe may take a moment to leave the store
            try (Lease reader = tryLock(other, "r/d", SHARED).orElseThrow()) {
                assertTrue(reader.isValid());
            }
            for (Object[] no : new Object[][] {{"q/z", EXCLUSIVE}, {"r/c", SHARED}, {"r/a/b", SHARED}, {"r", EXCLUSIVE}}) {
                Optional<Lease> taken = tryLock(other, (String) no[0], (LockMode) no[1]);
                taken.ifPresent(Lease::close);
                assertFalse(taken.isPresent(), no[1] + " " + no[0] + " was granted beside " + lease);
            }
        }
        try (Lease one = s.acquire(key("r/a"), in(SHARED))) {
            assertEquals(Map.of(key("r/a"), SHARED), one.keys());
            assertEquals(key("r/a"), one.key());
            assertEquals(SHARED, one.mode());
        }
        Set<LockKey> set = new LinkedHashSet<>(List.of(key("r/b/c"), key("r/b")));
        try (Lease shared = s.acquireAll(set, in(SHARED))) {
            assertEquals(List.of(key("r/b"), key("r/b/c")), new ArrayList<>(shared.keys().keySet()));
            assertEquals(EnumSet.of(SHARED), EnumSet.copyOf(shared.keys().values()));
            assertEquals(key("r/b"), shared.key());
        }
    }

    @Test
    void badAcquireAllRequestsAreRejectedAndLeaveNothingHeld() throws Exception {
        LockService s = service();
        LockService other = service();
        LockKey a = key("r/a");
        LockKey b = key("r/b");
        assertMessage(IllegalArgumentException.class, "key", () -> s.acquireAll(Set.of(), patiently()));
        assertMessage(IllegalArgumentException.class, "key", () -> s.acquireAll(Map.of(), patiently()));
        assertMessage(NullPointerException.class, "keys", () -> s.acquireAll((Set<LockKey>) null, patiently()));
        assertMessage(NullPointerException.class, "keys",
                () -> s.acquireAll((Map<LockKey, LockMode>) null, patiently()));
        assertMessage(NullPointerException.class, "options", () -> s.acquireAll(Set.of(a), null));
        assertMessage(NullPointerException.class, "options", () -> s.acquireAll(Map.of(a, SHARED), null));
        Set<LockKey> withNull = new HashSet<>();
        withNull.add(a);
        withNull.add(null);
        assertMessage(NullPointerException.class, "null key", () -> s.acquireAll(withNull, patiently()));
        Map<LockKey, LockMode> nullKey = new HashMap<>();
        nullKey.put(a, EXCLUSIVE);
        nullKey.put(null, EXCLUSIVE);
        assertMessage(NullPointerException.class, "null key", () -> s.acquireAll(nullKey, patiently()));
        Map<LockKey, LockMode> nullMode = new LinkedHashMap<>();
        nullMode.put(a, EXCLUSIVE);
        nullMode.put(b, null);
        NullPointerException noMode = assertThrows(NullPointerException.class, () -> s.acquireAll(nullMode, patiently()));
        assertTrue(noMode.getMessage() != null && noMode.getMessage().contains("mode")
                && noMode.getMessage().contains(b.toString()), "message does not name the key without a mode: "
                + noMode.getMessage());
        Set<LockKey> tooMany = new LinkedHashSet<>();
        for (int i = 0; i <= LockService.MAX_KEYS_PER_REQUEST; i++) {
            tooMany.add(key("r/many/k" + i));
        }
        assertMessage(IllegalArgumentException.class, String.valueOf(LockService.MAX_KEYS_PER_REQUEST),
                () -> s.acquireAll(tooMany, patiently()));
        Thread.currentThread().interrupt();
        try {
            assertThrows(InterruptedException.class, () -> s.acquireAll(Set.of(a, b), patiently()));
        } finally {
            Thread.interrupted();
        }
        for (LockKey k : List.of(key("r"), a, b, key("r/many"))) {
            assertEquals(0, queueLength(s, k), "a rejected request left something at " + k);
        }
        for (String path : List.of("r/a", "r/b", "r/many/k0", "r")) {
            tryLock(other, path, EXCLUSIVE).orElseThrow(() -> new AssertionError(path + " is held")).close();
        }

        tooMany.remove(tooMany.iterator().next()); // exactly the maximum is fine
        try (Lease most = s.acquireAll(tooMany, patiently())) {
            assertEquals(LockService.MAX_KEYS_PER_REQUEST, most.keys().size());
        }
        awaitQueueLength(s, key("r"), 0);
    }

    @Test
    void acquireAllTimesOutAndIsInterruptedLikeAcquire() throws Exception {
        LockService s = service();
        LockService holderService = service();
        Lease holder = lock(holderService, "r/b", EXCLUSIVE);
        Set<LockKey> keys = Set.of(key("r/a"), key("r/b"));
        long start = System.nanoTime();
        Future<Lease> timed = async(() -> s.acquireAll(keys, LockOptions.defaults().waitAtMost(Duration.ofMillis(300))));
        LockTimeoutException timeout = assertInstanceOf(LockTimeoutException.class,
                assertThrows(ExecutionException.class, () -> timed.get(PATIENCE.toSeconds(), SECONDS)).getCause());
        assertTrue(System.nanoTime() - start >= MILLISECONDS.toNanos(300), "gave up early");
        assertEquals(Duration.ofMillis(300), timeout.waited());
        assertTrue(keys.contains(timeout.key()), timeout.key() + " is not one of " + keys);
        awaitQueueLength(s, key("r/a"), 0);
        awaitQueueLength(s, key("r/b"), 1);

        AtomicReference<Thread> waiterThread = new AtomicReference<>();
        Future<Object> waiter = async(() -> {
            waiterThread.set(Thread.currentThread());
            try {
                return s.acquireAll(keys, LockOptions.defaults());
            } catch (InterruptedException e) {
                return e;
            }
        });
        awaitQueueLength(s, key("r/a"), 1);
        waiterThread.get().interrupt();
        assertInstanceOf(InterruptedException.class, waiter.get(PATIENCE.toSeconds(), SECONDS));
        awaitQueueLength(s, key("r/a"), 0);
        awaitQueueLength(s, key("r/b"), 1);
        assertTrue(holder.isValid());
        holder.close();
        awaitQueueLength(s, key("r"), 0);
        try (Lease all = s.acquireAll(keys, LockOptions.defaults().waitAtMost(Duration.ZERO))) {
            assertTrue(all.token().isNewerThan(holder.token()));
        }
    }

    // ---------------------------------------------------------------- tokens across levels

    @Test
    @Tag(EVERY_LINE)
    void tokensGrowAcrossLevelsAndTheFenceRefusesTheEarlierHolder() throws Exception {
        LockService coarse = service();
        LockService fine = service();
        Fence fence = new Fence();
        String resource = "account-42";
        // coarse, fine, coarse, fine, fine, coarse: every change of level in both directions, and
        // each next holder asks while the previous one still holds
        List<String> levels = List.of("billing", "billing/account/42", "billing", "billing/account/42",
                "billing/account/42", "billing");
        Lease previous = null;
        for (String level : levels) {
            LockService s = level.equals("billing") ? coarse : fine;
            Future<Lease> next = async(() -> s.acquire(key(level), patiently()));
            if (previous != null) {
                assertNotDone(next, Duration.ofMillis(50), level + " was granted while " + previous + " held");
                fence.check(resource, previous.token());
                previous.close();
            }
            Lease current = get(next);
            if (previous != null) {
                Lease earlier = previous;
                assertTrue(current.token().isNewerThan(earlier.token()),
                        current + " is not newer than the earlier conflicting " + earlier);
                fence.check(resource, current.token());
                // the earlier holder, paused across the handover, writes late: refused
                assertThrows(StaleTokenException.class, () -> fence.check(resource, earlier.token()));
            }
            previous = current;
        }
        previous.close();

        // readers at the fine level, then a coarse writer, then a fine writer
        List<Lease> readers = new ArrayList<>();
        for (String path : List.of("billing/account/42", "billing/account/42", "billing/account/43", "billing/account")) {
            readers.add(lock(fine, path, SHARED));
        }
        Future<Lease> writer = async(() -> coarse.acquire(key("billing"), patiently()));
        assertNotDone(writer, Duration.ofMillis(50), "billing was granted while readers under it held");
        for (Lease reader : readers) {
            fence.check(resource, reader.token());
            reader.close();
        }
        try (Lease coarseWriter = get(writer)) {
            for (Lease reader : readers) {
                assertTrue(coarseWriter.token().isNewerThan(reader.token()),
                        coarseWriter + " is not newer than the reader " + reader);
            }
            fence.check(resource, coarseWriter.token());
            previous = coarseWriter;
        }
        try (Lease fineWriter = lock(fine, "billing/account/42", EXCLUSIVE)) {
            assertTrue(fineWriter.token().isNewerThan(previous.token()));
            fence.check(resource, fineWriter.token());
            Lease coarseWriter = previous;
            assertThrows(StaleTokenException.class, () -> fence.check(resource, coarseWriter.token()));
        }
    }

    // ---------------------------------------------------------------- randomised

    @Test
    @Tag(EVERY_LINE)
    void randomMixedWorkloadKeepsExclusionTokenOrderAndProgress() throws Exception {
        List<LockKey> tree = Stream.of("r", "r/a", "r/a/1", "r/a/2", "r/b", "r/b/1").map(this::key).toList();
        List<LockService> clients = List.of(service(), service());
        int threads = 6;
        Duration longWait = Duration.ofSeconds(10);
        Duration margin = Duration.ofSeconds(5);
        Duration[] waits = {Duration.ZERO, Duration.ofMillis(1), Duration.ofMillis(10), Duration.ofMillis(50), longWait};
        Registry registry = new Registry();
        long seed = ThreadLocalRandom.current().nextLong();
        long end = System.nanoTime() + workloadDuration().toNanos();
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Void>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Random random = new Random(seed + t);
            LockService client = clients.get(t % clients.size());
            futures.add(async(() -> {
                start.await();
                while (System.nanoTime() - end < 0) {
                    Map<LockKey, LockMode> want = new LinkedHashMap<>();
                    int size = random.nextInt(5) < 3 ? 1 : 2 + random.nextInt(2);
                    while (want.size() < size) {
                        want.put(tree.get(random.nextInt(tree.size())), random.nextBoolean() ? SHARED : EXCLUSIVE);
                    }
                    Duration wait = waits[random.nextInt(waits.length)];
                    long asked = System.nanoTime();
                    Lease lease;
                    try {
                        if (size == 1 && random.nextBoolean()) {
                            Map.Entry<LockKey, LockMode> only = want.entrySet().iterator().next();
                            lease = client.acquire(only.getKey(), LockOptions.defaults().mode(only.getValue())
                                    .waitAtMost(wait));
                        } else {
                            lease = client.acquireAll(want, LockOptions.defaults().waitAtMost(wait));
                        }
                    } catch (LockTimeoutException e) {
                        registry.timedOut(want, wait, Duration.ofNanos(System.nanoTime() - asked), longWait, margin);
                        continue;
                    }
                    Duration took = Duration.ofNanos(System.nanoTime() - asked);
                    if (took.compareTo(wait.plus(margin)) > 0) {
                        registry.violation(want + " was granted after " + took + ", longer than its wait " + wait);
                    }
                    registry.granted(lease);
                    LockSupport.parkNanos(random.nextInt(2_000_000));
                    registry.releasing(lease);
                    lease.close();
                }
                return null;
            }));
        }
        start.countDown();
        for (Future<Void> f : futures) {
            try {
                f.get(workloadDuration().plus(longWait).plus(PATIENCE).toSeconds(), SECONDS);
            } catch (TimeoutException e) {
                fail("a workload thread did not finish: a request hangs. " + registry);
            }
        }
        System.out.println("Workload: " + registry + ", seed " + seed);
        registry.assertClean("seed " + seed);
        awaitQueueLength(clients.get(0), key("r"), 0);
    }

    /** What the workload saw: the leases held now, the last token per key and mode, and any violation. */
    private static final class Registry {
        private record Held(LockKey key, LockMode mode, Lease lease) {
        }

        private final List<Held> held = new ArrayList<>();
        private final Map<LockKey, Map<LockMode, FencingToken>> last = new HashMap<>();
        private final List<String> violations = new ArrayList<>();
        private final Set<LockMode> modesGranted = EnumSet.noneOf(LockMode.class);
        private final Set<Integer> depthsGranted = new TreeSet<>();
        private int grants;
        private int multiKeyGrants;
        private int timeouts;

        static boolean related(LockKey a, LockKey b) {
            return a.equals(b) || a.isAncestorOf(b) || b.isAncestorOf(a);
        }

        static boolean conflict(LockKey a, LockMode am, LockKey b, LockMode bm) {
            return related(a, b) && (am == EXCLUSIVE || bm == EXCLUSIVE);
        }

        synchronized void granted(Lease lease) {
            grants++;
            if (lease.keys().size() > 1) {
                multiKeyGrants++;
            }
            if (!lease.isValid()) {
                violation(lease + " was returned already ended");
            }
            for (Map.Entry<LockKey, LockMode> mine : lease.keys().entrySet()) {
                LockKey key = mine.getKey();
                LockMode mode = mine.getValue();
                modesGranted.add(mode);
                depthsGranted.add(key.depth());
                for (Held h : held) {
                    if (conflict(key, mode, h.key(), h.mode())) {
                        violation(mode + " " + key + " of " + lease + " granted while " + h.mode() + " " + h.key()
                                + " of " + h.lease() + " was held");
                    }
                }
                for (Map.Entry<LockKey, Map<LockMode, FencingToken>> k : last.entrySet()) {
                    for (Map.Entry<LockMode, FencingToken> m : k.getValue().entrySet()) {
                        if (conflict(key, mode, k.getKey(), m.getKey()) && !lease.token().isNewerThan(m.getValue())) {
                            violation(mode + " " + key + " of " + lease + " has a token no newer than the earlier "
                                    + "conflicting grant of " + m.getKey() + " " + k.getKey() + " (" + m.getValue() + ")");
                        }
                    }
                }
            }
            for (Map.Entry<LockKey, LockMode> mine : lease.keys().entrySet()) {
                held.add(new Held(mine.getKey(), mine.getValue(), lease));
                last.computeIfAbsent(mine.getKey(), k -> new EnumMap<>(LockMode.class))
                        .merge(mine.getValue(), lease.token(), (x, y) -> x.compareTo(y) >= 0 ? x : y);
            }
        }

        synchronized void releasing(Lease lease) {
            held.removeIf(h -> h.lease() == lease);
        }

        synchronized void timedOut(Map<LockKey, LockMode> want, Duration wait, Duration took, Duration longWait,
                                   Duration margin) {
            timeouts++;
            if (took.compareTo(wait) < 0) {
                violation(want + " timed out after " + took + ", before its wait " + wait);
            }
            if (took.compareTo(wait.plus(margin)) > 0) {
                violation(want + " timed out only after " + took + ", its wait was " + wait);
            }
            if (wait.equals(longWait)) {
                violation(want + " waited " + wait + " without a grant although holders hold for 2 ms: deadlock?");
            }
        }

        synchronized void violation(String what) {
            violations.add(what);
        }

        synchronized void assertClean(String seed) {
            if (!violations.isEmpty()) {
                fail(violations.size() + " violations (" + seed + "), first: " + violations.subList(0,
                        Math.min(5, violations.size())));
            }
            assertTrue(grants >= 30, "only " + grants + " grants: " + this);
            assertEquals(EnumSet.allOf(LockMode.class), modesGranted, "not every mode was granted: " + this);
            assertEquals(Set.of(1, 2, 3), depthsGranted, "not every depth was granted: " + this);
            assertTrue(multiKeyGrants > 0, "no acquireAll over several keys was granted: " + this);
        }

        @Override
        public synchronized String toString() {
            return grants + " grants (" + multiKeyGrants + " over several keys), " + timeouts + " timeouts, modes "
                    + modesGranted + ", depths " + depthsGranted + ", " + held.size() + " keys held now";
        }
    }
}
