package dev.baton.lock.memory;

import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.AbstractElection;
import dev.baton.lock.internal.AbstractLease;
import dev.baton.lock.internal.Requests;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A {@link LockService} in one JVM, with the same semantics as the ZooKeeper implementation:
 * first-come grants per key, fencing tokens from one counter (strictly increasing across all
 * keys), timeouts, interruptible waits that leave nothing behind, and loss of every lease with
 * {@link LossReason#SERVICE_CLOSED} on {@link #close()}. Use it in unit tests of code that takes a
 * {@code LockService}, and as the reference the ZooKeeper implementation is checked against.
 *
 * <p>{@link #loseAll(LossReason)} ends every lease as a session loss would, so tests can exercise
 * a holder's loss handling without a ZooKeeper server.
 *
 * <p>Thread-safe. Loss listeners run on the thread that caused the loss.
 */
public final class InMemoryLockService implements LockService {
    private final ReentrantLock lock = new ReentrantLock();
    private final Map<LockKey, Queue> queues = new HashMap<>();
    private final Map<LockKey, List<MemElection>> elections = new HashMap<>();
    /**
     * Orders the beginnings and ends of terms. Held while they run, after {@link #lock} is
     * released, so that listeners they call may query the service from any thread.
     */
    private final Object transitions = new Object();
    /** Start of the last run of each scheduled job, by election and job name, on System.nanoTime. */
    private final Map<String, Long> lastRuns = new HashMap<>();
    private long lastToken;
    private boolean closed;

    /** A new, empty service. */
    public InMemoryLockService() {
    }

    @Override
    public Lease acquireAll(java.util.Map<LockKey, dev.baton.lock.LockMode> keys, LockOptions options) {
        throw new UnsupportedOperationException("acquireAll: not yet"); // TODO hierarchy engine
    }

    @Override
    public Lease acquire(LockKey key, LockOptions options) throws InterruptedException {
        long deadline = Requests.begin(key, options);
        lock.lockInterruptibly();
        try {
            checkOpen(key);
            Queue queue = queues.computeIfAbsent(key, Queue::new);
            if (queue.holder == null && queue.waiters.isEmpty()) {
                return grant(queue);
            }
            Waiter waiter = new Waiter();
            queue.waiters.addLast(waiter);
            try {
                long left;
                while (waiter.lease == null && !waiter.cancelled && (left = Requests.remainingNanos(deadline)) > 0) {
                    waiter.granted.awaitNanos(left);
                }
            } catch (InterruptedException e) {
                abandon(queue, waiter);
                throw e;
            }
            if (waiter.lease != null) {
                return waiter.lease;
            }
            if (waiter.cancelled) {
                throw new IllegalStateException("LockService closed while waiting for " + key);
            }
            abandon(queue, waiter);
            throw new LockTimeoutException(key, options.waitAtMost().orElseThrow());
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Participants of one name in this service form a group; the one that joined first leads,
     * then the next in joining order. Scheduled runs are timed on this JVM's monotonic clock.
     */
    @Override
    public LeaderElection election(String name, String participantId) {
        MemElection election = new MemElection(name, participantId);
        synchronized (transitions) {
            List<Runnable> then = new ArrayList<>(1);
            lock.lock();
            try {
                if (closed) {
                    throw new IllegalStateException("LockService is closed: cannot join election " + name);
                }
                List<MemElection> group = elections.computeIfAbsent(LockKey.parse(election.name()), k -> new ArrayList<>());
                group.add(election);
                if (group.size() == 1) {
                    then.add(election.begin());
                }
            } finally {
                lock.unlock();
            }
            then.forEach(Runnable::run);
        }
        return election;
    }

    /**
     * Ends every lease this service has granted, as if its session had been lost: each is marked
     * lost with {@code reason}, its listeners run and its {@code withLock} body is interrupted,
     * and its key passes to the next waiter. Every leader's term ends too, and the leader goes to
     * the back of its group, as a participant whose session expired rejoins.
     *
     * @return how many leases were lost
     */
    public int loseAll(LossReason reason) {
        Objects.requireNonNull(reason, "reason must not be null");
        List<MemLease> lost = new ArrayList<>();
        synchronized (transitions) {
            List<Runnable> then = new ArrayList<>();
            lock.lock();
            try {
                for (List<MemElection> group : elections.values()) {
                    MemElection leader = group.remove(0);
                    then.add(() -> leader.end(reason));
                    group.add(leader);
                    then.add(group.get(0).begin());
                }
            } finally {
                lock.unlock();
            }
            then.forEach(Runnable::run);
        }
        lock.lock();
        try {
            for (Queue queue : new ArrayList<>(queues.values())) {
                MemLease holder = queue.holder;
                if (holder != null && holder.markLost(reason)) {
                    lost.add(holder);
                    handOn(queue);
                }
            }
        } finally {
            lock.unlock();
        }
        lost.forEach(AbstractLease::fireLost);
        return lost.size();
    }

    @Override
    public void close() {
        List<MemLease> lost = new ArrayList<>();
        List<MemElection> joined = new ArrayList<>();
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            elections.values().forEach(joined::addAll);
            for (Queue queue : queues.values()) {
                if (queue.holder != null && queue.holder.markLost(LossReason.SERVICE_CLOSED)) {
                    lost.add(queue.holder);
                }
                for (Waiter waiter : queue.waiters) {
                    waiter.cancelled = true;
                    waiter.granted.signal();
                }
            }
            queues.clear();
        } finally {
            lock.unlock();
        }
        lost.forEach(AbstractLease::fireLost);
        joined.forEach(MemElection::close);
    }

    /** How many requests hold or wait for {@code key}: what a test checks to prove nothing was left behind. */
    int queueLength(LockKey key) {
        lock.lock();
        try {
            Queue queue = queues.get(key);
            return queue == null ? 0 : (queue.holder == null ? 0 : 1) + queue.waiters.size();
        } finally {
            lock.unlock();
        }
    }

    private void checkOpen(LockKey key) {
        if (closed) {
            throw new IllegalStateException("LockService is closed: cannot acquire " + key);
        }
    }

    /** Grants the queue's key to a new lease; caller holds the lock and the key is free. */
    private MemLease grant(Queue queue) {
        MemLease lease = new MemLease(queue.key, FencingToken.of(++lastToken));
        queue.holder = lease;
        return lease;
    }

    /** Passes a freed key to the first waiter, or forgets the key; caller holds the lock. */
    private void handOn(Queue queue) {
        queue.holder = null;
        Waiter next = queue.waiters.pollFirst();
        if (next != null) {
            next.lease = grant(queue);
            next.granted.signal();
        } else {
            queues.remove(queue.key, queue);
        }
    }

    /** Withdraws a waiter that gives up; if it was granted meanwhile, releases that grant. */
    private void abandon(Queue queue, Waiter waiter) {
        if (waiter.lease != null) {
            release(waiter.lease);
            return;
        }
        queue.waiters.remove(waiter);
        if (queue.holder == null && queue.waiters.isEmpty()) {
            queues.remove(queue.key, queue);
        }
    }

    private void release(MemLease lease) {
        lock.lock();
        try {
            Queue queue = queues.get(lease.key());
            if (queue != null && queue.holder == lease) {
                handOn(queue);
            }
        } finally {
            lock.unlock();
        }
    }

    private static final class Queue {
        final LockKey key;
        MemLease holder;
        final ArrayDeque<Waiter> waiters = new ArrayDeque<>();

        Queue(LockKey key) {
            this.key = key;
        }
    }

    private final class Waiter {
        final Condition granted = lock.newCondition();
        MemLease lease;
        boolean cancelled;
    }

    private final class MemElection extends AbstractElection {
        MemElection(String name, String participantId) {
            super(name, participantId);
        }

        void end(LossReason reason) {
            endTerm(reason);
        }

        /**
         * Takes the next token and returns the step that begins a term with it, to run after the
         * lock is released (listeners must not run under it); caller holds the lock and
         * {@code transitions}, which orders the steps.
         */
        Runnable begin() {
            if (closed) {
                return () -> { }; // the service is closing its elections one by one: no new terms
            }
            FencingToken token = FencingToken.of(++lastToken);
            return () -> beginTerm(token, Instant.now(), epoch());
        }

        @Override
        protected Duration claimRun(String job, Duration period, Leadership term) {
            lock.lock();
            try {
                List<MemElection> group = elections.get(LockKey.parse(name()));
                if (group == null || group.isEmpty() || group.get(0) != this || !term.isValid()) {
                    term.ensureValid();
                    throw new LockLostException(LockKey.parse(name()), term.token(), LossReason.REVOKED);
                }
                String id = name() + "/" + job;
                long now = System.nanoTime();
                Long last = lastRuns.get(id);
                if (last != null && now - last < period.toNanos()) {
                    return Duration.ofNanos(period.toNanos() - (now - last));
                }
                lastRuns.put(id, now);
                return Duration.ZERO;
            } finally {
                lock.unlock();
            }
        }

        @Override
        protected void leave() {
            synchronized (transitions) {
                Runnable then = () -> { };
                lock.lock();
                try {
                    LockKey key = LockKey.parse(name());
                    List<MemElection> group = elections.get(key);
                    if (group == null) {
                        return;
                    }
                    boolean led = !group.isEmpty() && group.get(0) == this;
                    group.remove(this);
                    if (group.isEmpty()) {
                        elections.remove(key);
                    } else if (led) {
                        then = group.get(0).begin();
                    }
                } finally {
                    lock.unlock();
                }
                then.run();
            }
        }

        @Override
        public Optional<String> currentLeader() {
            lock.lock();
            try {
                List<MemElection> group = elections.get(LockKey.parse(name()));
                return group == null || group.isEmpty() ? Optional.empty() : Optional.of(group.get(0).participantId());
            } finally {
                lock.unlock();
            }
        }

        @Override
        public List<String> participants() {
            lock.lock();
            try {
                List<MemElection> group = elections.get(LockKey.parse(name()));
                List<String> ids = new ArrayList<>();
                if (group != null) {
                    group.forEach(e -> ids.add(e.participantId()));
                }
                return ids;
            } finally {
                lock.unlock();
            }
        }
    }

    private final class MemLease extends AbstractLease {
        MemLease(LockKey key, FencingToken token) {
            super(key, LockMode.EXCLUSIVE, token);
        }

        @Override
        protected void release() {
            InMemoryLockService.this.release(this);
        }
    }
}
