package dev.baton.lock.internal;

import dev.baton.lock.FencingToken;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LossReason;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The lease end around {@code extend} when the store is slow to record a renewal or fails to:
 * other clients judge a lease by what the store recorded, so a holder must never count on an
 * end the store may not have. The store's side is played by {@link AbstractLease#extended}, the
 * hook every implementation records a renewal through; the ZooKeeper implementation's failing
 * write is covered against a real server in lock-zk's {@code SessionLossTest}.
 */
class AbstractLeaseTest {
    private static final Duration PATIENCE = Duration.ofSeconds(20);
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final List<Thread> threads = new ArrayList<>();

    @AfterEach
    void stop() throws InterruptedException {
        timer.shutdownNow();
        for (Thread t : threads) {
            t.interrupt();
            t.join(PATIENCE.toMillis());
        }
    }

    /** A lease whose store answers a renewal when the test lets it: recorded, or failed. */
    private static final class SlowStoreLease extends AbstractLease {
        final CountDownLatch writing = new CountDownLatch(1);
        /** The answer to the first write; later writes wait for {@link #laterAnswers}. */
        final CountDownLatch answer = new CountDownLatch(1);
        final CountDownLatch laterAnswers = new CountDownLatch(1);
        final AtomicInteger writes = new AtomicInteger();
        volatile boolean fail;

        SlowStoreLease() {
            super(LockKey.of("lease", "test"), LockMode.EXCLUSIVE, FencingToken.of(1));
        }

        @Override
        protected void extended(Duration leaseTime) {
            CountDownLatch mine = writes.incrementAndGet() == 1 ? answer : laterAnswers;
            writing.countDown();
            try {
                if (!mine.await(PATIENCE.toSeconds(), TimeUnit.SECONDS)) {
                    throw new LockException("the test never answered");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LockException("interrupted", e);
            }
            if (fail) {
                throw new LockException("Could not record the extended lease (test)");
            }
        }

        @Override
        protected void release() {
        }
    }

    private CompletableFuture<Object> extendOnAnotherThread(SlowStoreLease lease, Duration leaseTime) {
        CompletableFuture<Object> outcome = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                lease.extend(leaseTime);
                outcome.complete("extended");
            } catch (Throwable e) {
                outcome.complete(e);
            }
        });
        threads.add(t);
        t.start();
        return outcome;
    }

    @Test
    void whileARenewalIsBeingRecordedTheLeaseKeepsItsEarlierEnd() throws Exception {
        SlowStoreLease lease = new SlowStoreLease();
        AtomicReference<LockLostException> lost = new AtomicReference<>();
        lease.onLost(lost::set);
        long granted = System.nanoTime();
        lease.startLeaseTime(timer, Duration.ofMillis(300));

        CompletableFuture<Object> extending = extendOnAnotherThread(lease, Duration.ofMinutes(1));
        assertTrue(lease.writing.await(PATIENCE.toSeconds(), TimeUnit.SECONDS));
        // the store has not answered: the lease still ends at 300 ms
        await().atMost(PATIENCE).until(() -> lost.get() != null);
        assertEquals(LossReason.LEASE_EXPIRED, lost.get().reason());
        assertTrue(Duration.ofNanos(System.nanoTime() - granted).compareTo(Duration.ofSeconds(10)) < 0);
        assertTrue(!extending.isDone(), "extend returned before the store answered: " + extending.getNow(null));

        lease.answer.countDown(); // recorded, too late: the lease is lost
        assertInstanceOf(LockLostException.class, extending.get(PATIENCE.toSeconds(), TimeUnit.SECONDS));
    }

    @Test
    void renewalsTheStoreFailedToRecordLeaveTheEarlierEndEvenWhenTheyOverlap() throws Exception {
        SlowStoreLease lease = new SlowStoreLease();
        lease.fail = true;
        AtomicReference<LockLostException> lost = new AtomicReference<>();
        lease.onLost(lost::set);
        lease.startLeaseTime(timer, Duration.ofSeconds(1));

        CompletableFuture<Object> first = extendOnAnotherThread(lease, Duration.ofMinutes(1));
        assertTrue(lease.writing.await(PATIENCE.toSeconds(), TimeUnit.SECONDS));
        CompletableFuture<Object> second = extendOnAnotherThread(lease, Duration.ofMinutes(1));
        Thread secondThread = threads.get(1);
        // the second call has begun: it waits for the first, or (if calls did not take turns) it
        // is writing too, having seen the first one's unrecorded end
        await().atMost(PATIENCE).until(() -> lease.writes.get() == 2 || secondThread.getState() == Thread.State.BLOCKED);
        lease.answer.countDown(); // the first write fails
        assertInstanceOf(LockException.class, first.get(PATIENCE.toSeconds(), TimeUnit.SECONDS));
        lease.laterAnswers.countDown(); // then the second
        Object secondOutcome = second.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
        assertInstanceOf(LockException.class, secondOutcome); // failed to record, or found the lease lost

        await().atMost(PATIENCE).until(() -> lost.get() != null);
        assertEquals(LossReason.LEASE_EXPIRED, lost.get().reason(), "the lease kept a renewal the store never had");
    }

    @Test
    void aShorterRenewalEndsTheLeaseSooner() throws Exception {
        SlowStoreLease lease = new SlowStoreLease();
        AtomicReference<LockLostException> lost = new AtomicReference<>();
        lease.onLost(lost::set);
        lease.startLeaseTime(timer, Duration.ofMinutes(1));
        lease.answer.countDown();

        long asked = System.nanoTime();
        lease.extend(Duration.ofMillis(500)); // recorded at once
        await().atMost(PATIENCE).until(() -> lost.get() != null);
        assertEquals(LossReason.LEASE_EXPIRED, lost.get().reason());
        assertTrue(Duration.ofNanos(System.nanoTime() - asked).compareTo(Duration.ofSeconds(10)) < 0);
        assertEquals(1, lease.writes.get());
    }
}
