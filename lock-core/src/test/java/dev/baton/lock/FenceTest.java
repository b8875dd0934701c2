package dev.baton.lock;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FenceTest {
    private static final FencingToken T5 = FencingToken.of(5);
    private static final FencingToken T7 = FencingToken.of(7);

    @Test
    void acceptsEqualOrGreaterAndRejectsLowerNamingBothTokens() {
        Fence fence = new Fence();
        assertEquals(Optional.empty(), fence.highest("acc-42"));
        fence.check("acc-42", T5);
        fence.check("acc-42", T5); // the same holder twice
        fence.check("acc-42", T7);
        StaleTokenException e = assertThrows(StaleTokenException.class, () -> fence.check("acc-42", T5));
        assertEquals("acc-42", e.resource());
        assertEquals(T5, e.offered());
        assertEquals(T7, e.highest());
        assertTrue(e.getMessage().contains("5") && e.getMessage().contains("7") && e.getMessage().contains("acc-42"),
                e.getMessage());
        assertEquals(Optional.of(T7), fence.highest("acc-42"));
        fence.check("acc-43", T5); // resources are independent
    }

    @Test
    void guardRunsTheActionOnlyWhenAccepted() {
        Fence fence = new Fence();
        List<String> log = new ArrayList<>();
        assertEquals("ok", fence.guard("r", T7, () -> {
            log.add("t7");
            return "ok";
        }));
        assertThrows(StaleTokenException.class, () -> fence.guard("r", T5, () -> log.add("t5")));
        assertEquals(List.of("t7"), log);
    }

    @Test
    void aReadRegistersTheTokenSoAnOldHolderCannotWriteAfterIt() {
        Fence fence = new Fence();
        fence.check("r", T5);   // old holder begins
        fence.check("r", T7);   // new holder reads
        assertThrows(StaleTokenException.class, () -> fence.guard("r", T5, () -> "late write"));
    }

    @Test
    void checkAndAdvanceIsAtomicUnderContention() throws Exception {
        Fence fence = new Fence();
        int threads = 8;
        int perThread = 2_000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        AtomicInteger accepted = new AtomicInteger();
        List<Long> acceptOrder = java.util.Collections.synchronizedList(new ArrayList<>());
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int offset = t;
            futures.add(pool.submit(() -> {
                start.await();
                for (int i = 1; i <= perThread; i++) {
                    long value = (long) i * threads + offset;
                    try {
                        fence.guard("shared", FencingToken.of(value), () -> acceptOrder.add(value));
                        accepted.incrementAndGet();
                    } catch (StaleTokenException expected) {
                        assertTrue(expected.highest().value() > value);
                    }
                }
                return null;
            }));
        }
        start.countDown();
        for (Future<?> f : futures) {
            f.get(30, TimeUnit.SECONDS);
        }
        pool.shutdown();
        assertEquals(accepted.get(), acceptOrder.size());
        for (int i = 1; i < acceptOrder.size(); i++) {
            assertTrue(acceptOrder.get(i) >= acceptOrder.get(i - 1), "accepted tokens went down at " + i);
        }
        assertEquals(Optional.of(FencingToken.of((long) perThread * threads + threads - 1)), fence.highest("shared"));
    }

    @Test
    void rejectsNulls() {
        Fence fence = new Fence();
        assertThrows(NullPointerException.class, () -> fence.check(null, T5));
        assertThrows(NullPointerException.class, () -> fence.check("r", null));
        assertThrows(NullPointerException.class, () -> fence.guard("r", T5, null));
        assertFalse(fence.highest("r").isPresent());
    }
}
