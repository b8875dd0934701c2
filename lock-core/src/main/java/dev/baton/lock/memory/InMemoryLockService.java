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
import dev.baton.lock.internal.Granule;
import dev.baton.lock.internal.Requests;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A {@link LockService} in one JVM, with the same semantics as the ZooKeeper implementation:
 * coarse-to-fine locking with intention modes, first-come grants, fencing tokens from one counter
 * (strictly increasing across all grants), timeouts, interruptible waits that leave nothing
 * behind, and loss of every lease with {@link LossReason#SERVICE_CLOSED} on {@link #close()}. Use
 * it in unit tests of code that takes a {@code LockService}, and as the reference the ZooKeeper
 * implementation is checked against.
 *
 * <p><b>The engine.</b> Every request ({@code acquire} is a request for one key,
 * {@code acquireAll} for several) joins one list in arrival order, with the mode it needs at every
 * level of the hierarchy it touches: its keys and all their ancestors ({@code Granule.plan}). It is
 * granted as soon as no earlier request in the list, granted or still waiting, needs an
 * incompatible mode at any of those levels; it then takes the next token. A request leaves the
 * list when its lease is released or lost, or when it gives up waiting, and the requests behind it
 * are looked at again. So a request never overtakes an earlier conflicting one (an exclusive lock
 * on {@code billing} waiting for holders of {@code billing/account/42} holds back later requests
 * under {@code billing}), and every wait is for an older request: no deadlock.
 *
 * <p>{@link #loseAll(LossReason)} ends every lease as a session loss would, so tests can exercise
 * a holder's loss handling without a ZooKeeper server.
 *
 * <p>Thread-safe. Loss listeners run on the thread that caused the loss.
 */
public final class InMemoryLockService implements LockService {
    private final ReentrantLock lock = new ReentrantLock();
    /** Every request that holds or waits, in arrival order. */
    private final List<Request> requests = new ArrayList<>();
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

    /** Ends leases whose lease time runs out; one daemon thread shared by every in-memory service. */
    private static final ScheduledExecutorService LEASE_TIMER = leaseTimer();

    private final Duration defaultLeaseTime;

    /** A new, empty service; leases last until closed or lost unless they ask for a lease time. */
    public InMemoryLockService() {
        this.defaultLeaseTime = null;
    }

    /**
     * A new, empty service whose leases end after {@code defaultLeaseTime} unless their options
     * ask for another lease time or they are {@link Lease#extend extended}.
     *
     * @throws IllegalArgumentException if {@code defaultLeaseTime} is zero or negative
     */
    public InMemoryLockService(Duration defaultLeaseTime) {
        Objects.requireNonNull(defaultLeaseTime, "defaultLeaseTime must not be null");
        if (defaultLeaseTime.isNegative() || defaultLeaseTime.isZero()) {
            throw new IllegalArgumentException("defaultLeaseTime must be positive, got " + defaultLeaseTime);
        }
        this.defaultLeaseTime = defaultLeaseTime;
    }

    private static ScheduledExecutorService leaseTimer() {
        java.util.concurrent.ScheduledThreadPoolExecutor t = new java.util.concurrent.ScheduledThreadPoolExecutor(1, r -> {
            Thread thread = new Thread(r, "baton-memory-lease-timer");
            thread.setDaemon(true);
            return thread;
        });
        t.setRemoveOnCancelPolicy(true);
        return t;
    }

    @Override
    public Lease acquire(LockKey key, LockOptions options) throws InterruptedException {
        long deadline = Requests.begin(key, options);
        return await(Map.of(key, options.mode()), options, deadline);
    }

    @Override
    public Lease acquireAll(Map<LockKey, LockMode> keys, LockOptions options) throws InterruptedException {
        Map<LockKey, LockMode> ordered = Requests.checkAll(keys, options);
        long deadline = Requests.beginAll(ordered, options);
        return await(ordered, options, deadline);
    }

    /** Enqueues a checked request for {@code keys} (coarse keys first) and waits for its grant. */
    private Lease await(Map<LockKey, LockMode> keys, LockOptions options, long deadline) throws InterruptedException {
        LockKey first = keys.keySet().iterator().next();
        lock.lockInterruptibly();
        try {
            checkOpen(first);
            Request request = new Request(keys, options.leaseTime().orElse(defaultLeaseTime));
            requests.add(request);
            if (grantable(request)) {
                return grant(request);
            }
            try {
                long left;
                while (request.lease == null && !request.cancelled
                        && (left = Requests.remainingNanos(deadline)) > 0) {
                    request.granted.awaitNanos(left);
                }
            } catch (InterruptedException e) {
                abandon(request);
                throw e;
            }
            if (request.lease != null) {
                return request.lease;
            }
            if (request.cancelled) {
                throw new IllegalStateException("LockService closed while waiting for " + describe(keys));
            }
            abandon(request);
            throw new LockTimeoutException(first, options.waitAtMost().orElseThrow());
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
     * and its keys pass to the waiters it held back. Every leader's term ends too, and the leader goes to
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
            for (Iterator<Request> it = requests.iterator(); it.hasNext(); ) {
                MemLease holder = it.next().lease;
                if (holder != null && holder.markLost(reason)) {
                    lost.add(holder);
                    it.remove();
                }
            }
            grantWaiters();
        } finally {
            lock.unlock();
        }
        lost.forEach(AbstractLease::fireLost);
        return lost.size();
    }

    @Override
    public dev.baton.lock.LockState inspect(LockKey key) {
        throw new UnsupportedOperationException("inspect: not yet");
    }

    @Override
    public List<dev.baton.lock.LockState> list(LockKey prefix) {
        throw new UnsupportedOperationException("list: not yet");
    }

    @Override
    public List<dev.baton.lock.LockState> list() {
        throw new UnsupportedOperationException("list: not yet");
    }

    @Override
    public int requestRelease(LockKey key) {
        throw new UnsupportedOperationException("requestRelease: not yet");
    }

    @Override
    public int breakLock(LockKey key) {
        throw new UnsupportedOperationException("breakLock: not yet");
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
            for (Request request : requests) {
                if (request.lease == null) {
                    request.cancelled = true;
                    request.granted.signal();
                } else if (request.lease.markLost(LossReason.SERVICE_CLOSED)) {
                    lost.add(request.lease);
                }
            }
            requests.clear();
        } finally {
            lock.unlock();
        }
        lost.forEach(AbstractLease::fireLost);
        joined.forEach(MemElection::close);
    }

    /**
     * How many requests hold or wait at {@code key}'s level: requests for it and, through their
     * intentions, for keys under it. What a test checks to prove nothing was left behind.
     */
    int queueLength(LockKey key) {
        lock.lock();
        try {
            int n = 0;
            for (Request request : requests) {
                if (request.levels.containsKey(key)) {
                    n++;
                }
            }
            return n;
        } finally {
            lock.unlock();
        }
    }

    private void checkOpen(LockKey key) {
        if (closed) {
            throw new IllegalStateException("LockService is closed: cannot acquire " + key);
        }
    }

    /**
     * Whether no request ahead of {@code request} in the list needs, at a level both touch, a mode
     * incompatible with {@code request}'s; caller holds the lock.
     */
    private boolean grantable(Request request) {
        for (Request earlier : requests) {
            if (earlier == request) {
                return true;
            }
            if (earlier.conflictsWith(request)) {
                return false;
            }
        }
        throw new IllegalStateException("request not in the list: " + request.levels);
    }

    /** Grants a request its lease with the next token; caller holds the lock and checked {@link #grantable}. */
    private MemLease grant(Request request) {
        request.lease = new MemLease(request, FencingToken.of(++lastToken));
        request.lease.startLeaseTime(LEASE_TIMER, request.leaseTime);
        return request.lease;
    }

    /**
     * Grants, in arrival order, every waiting request that nothing ahead of it holds back any
     * more; caller holds the lock. One pass is enough: granting a request does not change what it
     * holds back, only leaving the list does.
     */
    private void grantWaiters() {
        for (Request request : requests) {
            if (request.lease == null && !request.cancelled && grantable(request)) {
                grant(request);
                request.granted.signal();
            }
        }
    }

    /**
     * Withdraws a request whose caller gives up waiting; if it was granted meanwhile, releases
     * that grant. Caller holds the lock.
     */
    private void abandon(Request request) {
        if (request.lease != null) {
            request.lease.close();
            return;
        }
        if (requests.remove(request)) {
            grantWaiters();
        }
    }

    private void release(MemLease lease) {
        lock.lock();
        try {
            if (requests.remove(lease.request)) {
                grantWaiters();
            }
        } finally {
            lock.unlock();
        }
    }

    private static String describe(Map<LockKey, LockMode> keys) {
        return keys.size() == 1 ? keys.keySet().iterator().next().toString() : keys.keySet().toString();
    }

    /** One request, holding or waiting: its keys, and the mode it needs at every level it touches. */
    private final class Request {
        final Map<LockKey, LockMode> keys;
        final Map<LockKey, Granule> levels;
        final Condition granted = lock.newCondition();
        MemLease lease;
        boolean cancelled;

        /** The lease time the grant starts with, or null. */
        final Duration leaseTime;

        Request(Map<LockKey, LockMode> keys, Duration leaseTime) {
            this.keys = keys;
            this.leaseTime = leaseTime;
            this.levels = Granule.plan(keys);
        }

        /** Whether some level both touch holds modes of the two that are incompatible. */
        boolean conflictsWith(Request other) {
            Map<LockKey, Granule> small = levels.size() <= other.levels.size() ? levels : other.levels;
            Map<LockKey, Granule> large = small == levels ? other.levels : levels;
            for (Map.Entry<LockKey, Granule> level : small.entrySet()) {
                Granule there = large.get(level.getKey());
                if (there != null && !there.compatibleWith(level.getValue())) {
                    return true;
                }
            }
            return false;
        }
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
        final Request request;

        MemLease(Request request, FencingToken token) {
            super(request.keys, token);
            this.request = request;
        }

        @Override
        protected void release() {
            InMemoryLockService.this.release(this);
        }
    }
}
