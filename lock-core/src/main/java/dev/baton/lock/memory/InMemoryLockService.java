package dev.baton.lock.memory;

import dev.baton.lock.Claim;
import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.LockState;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.AbstractLease;
import dev.baton.lock.internal.Elections;
import dev.baton.lock.internal.Granule;
import dev.baton.lock.internal.Requests;
import dev.baton.lock.internal.Ticker;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;

/**
 * A {@link LockService} in one JVM, with the same semantics as the ZooKeeper implementation:
 * coarse-to-fine locking with intention modes, first-come grants, fencing tokens from one counter
 * (a request takes its token when it arrives, as a ZooKeeper request takes the zxid of the
 * transaction that enqueues it), timeouts, interruptible waits that leave nothing behind, lease
 * times, stale breaking and lock delays, inspection, and loss of every lease with
 * {@link LossReason#SERVICE_CLOSED} on {@link #close()}. Use it in unit tests of code that takes a
 * {@code LockService}, and as the reference the ZooKeeper implementation is checked against.
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
 * <p><b>Time.</b> Ages ({@link LockOptions#staleAfter}, {@link Claim#heldFor()}) and lock delays
 * are measured on this JVM's monotonic clock. A waiter with {@code staleAfter} breaks, when it
 * arrives and again at the moment a holder blocking it would turn stale, every conflicting holder
 * that has gone that long without a grant or an {@link Lease#extend extend}. A lock delay is kept
 * as an exclusive claim on the lost grant's keys that no request may overtake until it ends.
 *
 * <p>{@link #loseAll(LossReason)} ends every lease as a session loss would (lock delays
 * included), so tests can exercise a holder's loss handling without a ZooKeeper server. The
 * service is one holder: every {@link Claim} it shows has the same holder id.
 *
 * <p>Thread-safe. Loss listeners run on the thread that caused the loss (for a holder broken as
 * stale, the waiter's thread or the service's timer thread).
 */
public final class InMemoryLockService implements LockService {
    private final ReentrantLock lock = new ReentrantLock();
    /** Every request that holds or waits, in arrival order. */
    private final List<MemoryRequest> requests = new ArrayList<>();
    /** Running lock delays of lost grants. */
    private final List<MemoryDelay> delays = new ArrayList<>();
    private long lastToken;
    /** The monotonic clock of ages, lock delays and scheduled runs. */
    private final Ticker ticker = Ticker.system();
    private final InMemoryElections elections = new InMemoryElections(lock, () -> ++this.lastToken,
            () -> this.closed, ticker);
    /** Counts grants, to show holders earliest grant first. */
    private long grants;
    /** The next re-check of waiters (a holder turning stale, a lock delay ending), or null. */
    private ScheduledFuture<?> nextRecheck;
    /** When {@link #nextRecheck} runs, on the service's ticker. */
    private long recheckAt;
    private boolean closed;

    private static final String HOST = Elections.hostName();
    private static final long PID = ProcessHandle.current().pid();
    /** This service's holder id, host:pid:random, shown with each of its requests. */
    private final String holderId = Elections.defaultParticipantId();

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
        List<AbstractLease> broken = new ArrayList<>();
        MemoryRequest request;
        lock.lockInterruptibly();
        try {
            checkOpen("acquire " + first);
            request = new MemoryRequest(keys, options, defaultLeaseTime, FencingToken.of(++lastToken), lock.newCondition());
            requests.add(request);
            if (request.staleAfter == 0 && delays.isEmpty()) {
                if (grantable(request)) { // the common case: nothing else can have changed
                    grant(request);
                }
            } else {
                settle(broken);
            }
            if (request.lease != null) {
                return request.lease;
            }
        } finally {
            lock.unlock();
            broken.forEach(AbstractLease::fireLost);
        }
        broken.clear();
        lock.lock();
        try {
            try {
                long left;
                while (request.lease == null && !request.cancelled
                        && (left = Requests.remainingNanos(deadline)) > 0) {
                    request.granted.awaitNanos(left);
                }
            } catch (InterruptedException e) {
                abandon(request, broken);
                throw e;
            }
            if (request.lease != null) {
                return request.lease;
            }
            if (request.cancelled) {
                throw new IllegalStateException("LockService closed while waiting for " + describe(keys));
            }
            abandon(request, broken);
            throw new LockTimeoutException(first, options.waitAtMost().orElseThrow());
        } finally {
            lock.unlock();
            broken.forEach(AbstractLease::fireLost);
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
        return elections.join(name, participantId);
    }

    /**
     * Ends every lease this service has granted, as if its session had been lost: each is marked
     * lost with {@code reason}, its listeners run and its {@code withLock} body is interrupted,
     * and its keys pass to the waiters it held back, after the lease's {@link LockOptions#lockDelay
     * lock delay} if it asked for one. Every leader's term ends too, and the leader goes to
     * the back of its group, as a participant whose session expired rejoins.
     *
     * @return how many leases were lost
     */
    public int loseAll(LossReason reason) {
        Objects.requireNonNull(reason, "reason must not be null");
        List<AbstractLease> lost = new ArrayList<>();
        elections.loseAll(reason);
        List<AbstractLease> broken = new ArrayList<>();
        lock.lock();
        try {
            long now = ticker.nanos();
            for (Iterator<MemoryRequest> it = requests.iterator(); it.hasNext(); ) {
                MemoryRequest request = it.next();
                if (request.lease != null && request.lease.markLost(reason)) {
                    lost.add(request.lease);
                    it.remove();
                    startDelay(request, now);
                }
            }
            settle(broken);
        } finally {
            lock.unlock();
        }
        lost.forEach(AbstractLease::fireLost);
        broken.forEach(AbstractLease::fireLost);
        return lost.size();
    }

    @Override
    public LockState inspect(LockKey key) {
        Objects.requireNonNull(key, "key must not be null");
        lock.lock();
        try {
            checkOpen("inspect " + key);
            return stateOf(key, ticker.nanos());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<LockState> list(LockKey prefix) {
        Objects.requireNonNull(prefix, "prefix must not be null");
        return held(k -> k.equals(prefix) || prefix.isAncestorOf(k));
    }

    @Override
    public List<LockState> list() {
        return held(k -> true);
    }

    /** The state of every held key that {@code wanted} accepts, coarse keys first. */
    private List<LockState> held(Predicate<LockKey> wanted) {
        lock.lock();
        try {
            checkOpen("list locks");
            TreeSet<LockKey> keys = new TreeSet<>(Granule.ORDER);
            for (MemoryRequest request : requests) {
                if (request.holds()) {
                    request.keys.keySet().stream().filter(wanted).forEach(keys::add);
                }
            }
            long now = ticker.nanos();
            List<LockState> states = new ArrayList<>(keys.size());
            for (LockKey key : keys) {
                states.add(stateOf(key, now));
            }
            return states;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int requestRelease(LockKey key) {
        Objects.requireNonNull(key, "key must not be null");
        List<AbstractLease> holders = new ArrayList<>();
        lock.lock();
        try {
            checkOpen("request the release of " + key);
            for (MemoryRequest request : requests) {
                if (request.holds() && request.keys.containsKey(key)) {
                    holders.add(request.lease);
                }
            }
        } finally {
            lock.unlock();
        }
        int asked = 0;
        for (AbstractLease holder : holders) { // listeners run outside the lock, as loss listeners do
            if (holder.releaseRequested()) {
                asked++;
            }
        }
        return asked;
    }

    @Override
    public int breakLock(LockKey key) {
        Objects.requireNonNull(key, "key must not be null");
        List<AbstractLease> broken = new ArrayList<>();
        int count;
        lock.lock();
        try {
            checkOpen("break " + key);
            long now = ticker.nanos();
            for (MemoryRequest request : new ArrayList<>(requests)) {
                if (request.lease != null && request.keys.containsKey(key)) {
                    breakHolder(request, now, broken);
                }
            }
            count = broken.size();
            settle(broken);
        } finally {
            lock.unlock();
        }
        broken.forEach(AbstractLease::fireLost);
        return count;
    }

    @Override
    public void close() {
        List<AbstractLease> lost = new ArrayList<>();
        List<LeaderElection> joined;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            joined = elections.joined();
            for (MemoryRequest request : requests) {
                if (request.lease == null) {
                    request.cancelled = true;
                    request.granted.signal();
                } else if (request.lease.markLost(LossReason.SERVICE_CLOSED)) {
                    lost.add(request.lease);
                }
            }
            requests.clear();
            delays.clear();
            if (nextRecheck != null) {
                nextRecheck.cancel(false);
                nextRecheck = null;
            }
        } finally {
            lock.unlock();
        }
        lost.forEach(AbstractLease::fireLost);
        joined.forEach(LeaderElection::close);
    }

    /**
     * How many requests hold or wait at {@code key}'s level: requests for it and, through their
     * intentions, for keys under it. What a test checks to prove nothing was left behind.
     */
    int queueLength(LockKey key) {
        lock.lock();
        try {
            int n = 0;
            for (MemoryRequest request : requests) {
                if (request.levels.containsKey(key)) {
                    n++;
                }
            }
            return n;
        } finally {
            lock.unlock();
        }
    }

    private void checkOpen(String what) {
        if (closed) {
            throw new IllegalStateException("LockService is closed: cannot " + what);
        }
    }

    /**
     * Whether no running lock delay and no request ahead of {@code request} in the list needs, at
     * a level both touch, a mode incompatible with {@code request}'s; caller holds the lock.
     */
    private boolean grantable(MemoryRequest request) {
        for (MemoryDelay delay : delays) {
            if (Granule.conflict(delay.levels, request.levels)) {
                return false;
            }
        }
        for (MemoryRequest earlier : requests) {
            if (earlier == request) {
                return true;
            }
            if (Granule.conflict(earlier.levels, request.levels)) {
                return false;
            }
        }
        throw new IllegalStateException("request not in the list: " + request.levels);
    }

    /** Grants a request its lease; caller holds the lock and checked {@link #grantable}. */
    private void grant(MemoryRequest request) {
        request.lease = new MemLease(request);
        request.grantOrder = ++grants;
        request.renewedAt = ticker.nanos();
        request.lease.startLeaseTime(LEASE_TIMER, request.leaseTime);
    }

    /**
     * Brings the list up to date; caller holds the lock. Ends the lock delays that ran out; breaks
     * every holder that a waiter with {@code staleAfter} finds stale (adding its lease to
     * {@code broken}, whose listeners the caller runs once it has released the lock); grants, in
     * arrival order, every waiting request that nothing holds back any more; and schedules a
     * re-check for the next moment a wait can end by itself (a holder turning stale, a lock delay
     * running out). One pass is enough: granting a request does not change what it holds back,
     * only leaving the list or a delay ending does.
     */
    private void settle(List<AbstractLease> broken) {
        long now = ticker.nanos();
        delays.removeIf(delay -> delay.until - now <= 0);
        List<MemoryRequest> stale = new ArrayList<>();
        for (MemoryRequest waiter : requests) {
            if (waiter.lease == null && waiter.staleAfter > 0) {
                for (MemoryRequest holder : requests) {
                    if (holder.lease != null && now - holder.renewedAt >= waiter.staleAfter
                            && Granule.conflict(holder.levels, waiter.levels) && !stale.contains(holder)) {
                        stale.add(holder);
                    }
                }
            }
        }
        for (MemoryRequest holder : stale) {
            breakHolder(holder, now, broken);
        }
        long next = Long.MAX_VALUE; // nanoseconds from now to the next re-check
        for (MemoryRequest request : requests) {
            if (request.lease != null || request.cancelled) {
                continue;
            }
            if (grantable(request)) {
                grant(request);
                request.granted.signal();
                continue;
            }
            for (MemoryDelay delay : delays) {
                if (Granule.conflict(delay.levels, request.levels)) {
                    next = Math.min(next, delay.until - now);
                }
            }
            if (request.staleAfter > 0) {
                for (MemoryRequest holder : requests) {
                    if (holder.lease != null && Granule.conflict(holder.levels, request.levels)) {
                        next = Math.min(next, request.staleAfter - (now - holder.renewedAt));
                    }
                }
            }
        }
        if (next == Long.MAX_VALUE || (nextRecheck != null && recheckAt - (now + next) <= 0)) {
            return; // nothing to wait for, or a re-check comes soon enough
        }
        if (nextRecheck != null) {
            nextRecheck.cancel(false);
        }
        recheckAt = now + next;
        nextRecheck = LEASE_TIMER.schedule(this::recheck, Math.max(0, next), TimeUnit.NANOSECONDS);
    }

    /** Runs on the timer when a holder may have turned stale or a lock delay ended. */
    private void recheck() {
        List<AbstractLease> broken = new ArrayList<>();
        lock.lock();
        try {
            nextRecheck = null;
            if (!closed) {
                settle(broken);
            }
        } finally {
            lock.unlock();
        }
        broken.forEach(AbstractLease::fireLost);
    }

    /**
     * Takes a granted request's keys away: its lease is lost with {@link LossReason#BROKEN}
     * (added to {@code broken}; the caller runs its listeners after releasing the lock), it
     * leaves the list, and its lock delay starts. Caller holds the lock and calls
     * {@link #settle} after.
     */
    private void breakHolder(MemoryRequest holder, long now, List<AbstractLease> broken) {
        requests.remove(holder);
        if (holder.lease.markLost(LossReason.BROKEN)) {
            broken.add(holder.lease);
            startDelay(holder, now);
        } // else its holder closed it or it expired just now, and its release will find it gone
    }

    /** Starts the lock delay of a grant lost through breaking or session loss, if it asked for one. */
    private void startDelay(MemoryRequest request, long now) {
        if (request.lockDelay != null) {
            delays.add(new MemoryDelay(request.keys, now + Requests.saturatedNanos(request.lockDelay)));
        }
    }

    /** A snapshot of {@code key}; caller holds the lock. */
    private LockState stateOf(LockKey key, long now) {
        List<MemoryRequest> holders = new ArrayList<>();
        List<Claim> waiters = new ArrayList<>();
        for (MemoryRequest request : requests) {
            if (!request.keys.containsKey(key)) {
                continue;
            }
            if (request.holds()) {
                holders.add(request);
            } else if (request.lease == null && !request.cancelled) {
                waiters.add(request.claim(key, now, holderId));
            }
        }
        holders.sort(Comparator.comparingLong(r -> r.grantOrder));
        List<Claim> holderClaims = new ArrayList<>(holders.size());
        holders.forEach(h -> holderClaims.add(h.claim(key, now, holderId)));
        long left = 0;
        for (MemoryDelay delay : delays) {
            if (delay.keys.containsKey(key)) {
                left = Math.max(left, delay.until - now);
            }
        }
        return new LockState(key, holderClaims, waiters, left > 0 ? Duration.ofNanos(left) : null);
    }

    /**
     * Withdraws a request whose caller gives up waiting; if it was granted meanwhile, releases
     * that grant. Caller holds the lock.
     */
    private void abandon(MemoryRequest request, List<AbstractLease> broken) {
        if (request.lease != null) {
            request.lease.close();
            return;
        }
        if (requests.remove(request)) {
            settle(broken);
        }
    }

    private void release(MemLease lease) {
        List<AbstractLease> broken = new ArrayList<>();
        lock.lock();
        try {
            if (requests.remove(lease.request)) {
                settle(broken);
            }
        } finally {
            lock.unlock();
        }
        broken.forEach(AbstractLease::fireLost);
    }

    /** Records an {@link Lease#extend extend}: the holder's age starts again, with the new lease time. */
    private void extended(MemoryRequest request, Duration leaseTime) {
        lock.lock();
        try {
            request.leaseTime = leaseTime;
            request.renewedAt = ticker.nanos();
        } finally {
            lock.unlock();
        }
    }

    private static String describe(Map<LockKey, LockMode> keys) {
        return keys.size() == 1 ? keys.keySet().iterator().next().toString() : keys.keySet().toString();
    }

    private final class MemLease extends AbstractLease {
        final MemoryRequest request;

        MemLease(MemoryRequest request) {
            super(request.keys, request.token);
            this.request = request;
        }

        @Override
        protected void release() {
            InMemoryLockService.this.release(this);
        }

        @Override
        protected void extended(Duration leaseTime) {
            InMemoryLockService.this.extended(request, leaseTime);
        }
    }
}
