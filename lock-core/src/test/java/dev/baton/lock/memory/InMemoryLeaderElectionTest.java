package dev.baton.lock.memory;

import dev.baton.lock.LeaderElection;
import dev.baton.lock.LeaderElectionContract;
import dev.baton.lock.Leadership;
import dev.baton.lock.LeadershipListener;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.LossReason;
import dev.baton.lock.Singleton;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The election contract against the in-memory implementation, plus its own close and loss
 * simulation.
 *
 * <p>An {@link InMemoryLockService} is one lock store with one "session": elections of two
 * instances never form one group. So that the contract's participants can come from different
 * sessions of one store, every service the contract asks for is a {@link Session} over this
 * test's {@link #store} (JUnit makes a new test instance, hence a new store, per test).
 */
class InMemoryLeaderElectionTest extends LeaderElectionContract {
    private final InMemoryLockService store = new InMemoryLockService();

    @Override
    protected LockService newService() {
        return new Session();
    }

    /**
     * {@link InMemoryLockService#loseAll} ends the term of the leader of every group in the store
     * and moves it to the back, which is what this session's loss does as long as one of its
     * participants leads (the only case the contract uses).
     */
    @Override
    protected void loseSession(LockService service) {
        Session session = (Session) service;
        if (!session.leads()) {
            throw new IllegalStateException("the in-memory store can only make a leader's session lose");
        }
        store.loseAll(LossReason.SESSION_EXPIRED);
    }

    /** Elections joined on the shared store, closed together: one participant's session. */
    private final class Session implements LockService {
        private final List<LeaderElection> joined = new ArrayList<>();
        private boolean closed;

        @Override
        public Lease acquire(LockKey key, LockOptions options) {
            throw new UnsupportedOperationException("this test's sessions only join elections");
        }

        @Override
        public Lease acquireAll(java.util.Map<LockKey, dev.baton.lock.LockMode> keys, LockOptions options) {
            throw new UnsupportedOperationException("this test's sessions only join elections");
        }

        @Override
        public dev.baton.lock.LockState inspect(LockKey key) {
            throw new UnsupportedOperationException("this test's sessions only join elections");
        }

        @Override
        public List<dev.baton.lock.LockState> list(LockKey prefix) {
            throw new UnsupportedOperationException("this test's sessions only join elections");
        }

        @Override
        public List<dev.baton.lock.LockState> list() {
            throw new UnsupportedOperationException("this test's sessions only join elections");
        }

        @Override
        public int requestRelease(LockKey key) {
            throw new UnsupportedOperationException("this test's sessions only join elections");
        }

        @Override
        public int breakLock(LockKey key) {
            throw new UnsupportedOperationException("this test's sessions only join elections");
        }

        @Override
        public synchronized LeaderElection election(String name, String participantId) {
            if (closed) {
                throw new IllegalStateException("LockService is closed: cannot join election " + name);
            }
            LeaderElection e = store.election(name, participantId);
            joined.add(e);
            return e;
        }

        synchronized boolean leads() {
            return joined.stream().anyMatch(LeaderElection::isLeader);
        }

        @Override
        public void close() {
            List<LeaderElection> toClose;
            synchronized (this) {
                if (closed) {
                    return;
                }
                closed = true;
                toClose = new ArrayList<>(joined);
            }
            toClose.forEach(LeaderElection::close);
        }
    }

    // ------------------------------------------------------- the real service, not a session

    @Test
    void closingTheServiceClosesEveryElectionAndNoFollowerTakesOver() throws Exception {
        InMemoryLockService s = new InMemoryLockService();
        try {
            String name = name("realclose");
            LeaderElection first = s.election(name, "first");
            LeaderElection second = s.election(name, "second");
            Leadership term = first.awaitLeadership(Duration.ZERO);
            List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
            term.onLost(lost::add);
            List<Leadership> secondGained = Collections.synchronizedList(new ArrayList<>());
            second.addListener(new LeadershipListener() {
                @Override
                public void gained(Leadership leadership) {
                    secondGained.add(leadership);
                }
            });
            CountDownLatch running = new CountDownLatch(1);
            AtomicBoolean interrupted = new AtomicBoolean();
            Singleton job = first.runAsSingleton(leadership -> {
                running.countDown();
                try {
                    new CountDownLatch(1).await(PATIENCE.toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    interrupted.set(true);
                    throw e;
                }
            });
            assertTrue(running.await(PATIENCE.toSeconds(), TimeUnit.SECONDS));

            s.close();
            s.close();
            assertFalse(term.isValid());
            assertEquals(1, lost.size());
            assertEquals(LossReason.RESIGNED, lost.get(0).reason());
            await().atMost(PATIENCE).until(() -> !job.isRunning());
            assertTrue(interrupted.get(), "the job was not interrupted");
            assertFalse(second.isLeader());
            assertEquals(List.of(), secondGained, "a follower began a term in a closed service");
            assertThrows(IllegalStateException.class, () -> first.awaitLeadership(Duration.ZERO));
            assertThrows(IllegalStateException.class, () -> second.awaitLeadership(Duration.ZERO));
            assertThrows(IllegalStateException.class, () -> second.runAsSingleton(l -> { }));
            assertThrows(IllegalStateException.class, () -> s.election(name, "third"));
        } finally {
            s.close();
        }
    }

    @Test
    void loseAllMovesTheLeaderToTheBackOfItsGroup() throws Exception {
        InMemoryLockService s = new InMemoryLockService();
        try {
            String name = name("rotate");
            LeaderElection p0 = s.election(name, "p0");
            LeaderElection p1 = s.election(name, "p1");
            LeaderElection p2 = s.election(name, "p2");
            Leadership t0 = p0.awaitLeadership(Duration.ZERO);
            s.loseAll(LossReason.SESSION_EXPIRED);
            assertFalse(t0.isValid());
            LockLostException e = assertThrows(LockLostException.class, t0::ensureValid);
            assertEquals(LossReason.SESSION_EXPIRED, e.reason());
            Leadership t1 = p1.awaitLeadership(Duration.ZERO);
            assertTrue(t1.token().isNewerThan(t0.token()));
            assertEquals(List.of("p1", "p2", "p0"), p2.participants());
            assertFalse(p0.isLeader());
            assertFalse(p2.isLeader());
        } finally {
            s.close();
        }
    }

    @Test
    void aListenerMayQueryTheServiceWhileAnotherThreadEndsTheTerm() throws Exception {
        InMemoryLockService s = new InMemoryLockService();
        List<Thread> threads = new ArrayList<>();
        try {
            String name = name("nodeadlock");
            LeaderElection p0 = s.election(name, "p0");
            s.election(name, "p1");
            p0.awaitLeadership(Duration.ZERO);
            CountDownLatch inListener = new CountDownLatch(1);
            CountDownLatch proceed = new CountDownLatch(1);
            java.util.concurrent.atomic.AtomicReference<Object> seen = new java.util.concurrent.atomic.AtomicReference<>();
            // told of the current term at once, on the election's listener thread
            Thread adder = new Thread(() -> p0.addListener(new LeadershipListener() {
                @Override
                public void gained(Leadership leadership) {
                    inListener.countDown();
                    try {
                        proceed.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    seen.set(p0.currentLeader()); // needs the service's lock
                }
            }));
            adder.setDaemon(true);
            threads.add(adder);
            adder.start();
            assertTrue(inListener.await(PATIENCE.toSeconds(), TimeUnit.SECONDS));
            Thread loser = new Thread(() -> s.loseAll(LossReason.SESSION_EXPIRED));
            loser.setDaemon(true);
            threads.add(loser);
            loser.start();
            // the loser ends p0's term at once (the listener runs on the election's listener
            // thread), or waits for it: either way neither may be stuck once the listener goes on
            await().atMost(PATIENCE).until(() -> loser.getState() == Thread.State.TERMINATED
                    || loser.getState() == Thread.State.BLOCKED || loser.getState() == Thread.State.WAITING);
            proceed.countDown();
            adder.join(PATIENCE.toMillis());
            loser.join(PATIENCE.toMillis());
            assertFalse(adder.isAlive(), "the listener deadlocked against loseAll");
            assertFalse(loser.isAlive(), "loseAll deadlocked against the listener");
            await().alias("the listener's query returns").atMost(PATIENCE).until(() -> seen.get() != null);
        } finally {
            if (threads.stream().noneMatch(Thread::isAlive)) {
                s.close(); // after a deadlock, close would hang too
            }
        }
    }
}
