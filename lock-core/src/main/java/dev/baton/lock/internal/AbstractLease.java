package dev.baton.lock.internal;

import dev.baton.lock.FencingToken;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LossReason;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The state machine every {@link Lease} implementation shares: VALID, then either RELEASED (by
 * its holder) or LOST (with a reason), each terminal and reached once. Not part of Baton's API.
 *
 * <p>Loss is split in two steps so that a service losing many leases at once can mark them all
 * lost (and interrupt their critical sections) before running any user listener, which may be
 * slow: {@link #markLost} then {@link #fireLost}.
 */
public abstract class AbstractLease implements Lease {
    private static final System.Logger LOG = System.getLogger(AbstractLease.class.getName());

    private enum State { VALID, RELEASED, LOST }

    private final LockKey key;
    private final LockMode mode;
    private final Map<LockKey, LockMode> keys;
    private final FencingToken token;

    private State state = State.VALID;
    /** Held by {@link #extend} for its whole course, store write included. */
    private final Object extending = new Object();
    private ScheduledExecutorService leaseTimer;
    private ScheduledFuture<?> leaseEnd;
    private LockLostException loss;
    private List<Listener> listeners = new ArrayList<>(2);

    /** A valid lease. */
    protected AbstractLease(LockKey key, LockMode mode, FencingToken token) {
        this.key = Objects.requireNonNull(key, "key");
        this.mode = Objects.requireNonNull(mode, "mode");
        this.keys = Map.of(key, mode);
        this.token = Objects.requireNonNull(token, "token");
    }

    /** A valid lease over several keys, given coarse keys first; {@link #key()} is the first. */
    protected AbstractLease(Map<LockKey, LockMode> keys, FencingToken token) {
        if (keys.size() == 1) {
            Map.Entry<LockKey, LockMode> only = keys.entrySet().iterator().next();
            this.key = only.getKey();
            this.mode = only.getValue();
            this.keys = Map.of(key, mode);
        } else {
            this.keys = Collections.unmodifiableMap(new LinkedHashMap<>(keys));
            Map.Entry<LockKey, LockMode> first = this.keys.entrySet().iterator().next();
            this.key = first.getKey();
            this.mode = first.getValue();
        }
        this.token = Objects.requireNonNull(token, "token");
    }

    @Override
    public final Map<LockKey, LockMode> keys() {
        return keys;
    }

    @Override
    public final LockKey key() {
        return key;
    }

    @Override
    public final LockMode mode() {
        return mode;
    }

    @Override
    public final FencingToken token() {
        return token;
    }

    /**
     * Arms the lease time: called by the service right after the grant, with its timer and the
     * lease time to apply (null for none; {@link #extend} may still set one later).
     */
    public final synchronized void startLeaseTime(ScheduledExecutorService timer, Duration leaseTime) {
        this.leaseTimer = Objects.requireNonNull(timer, "timer");
        if (leaseTime != null && state == State.VALID) {
            scheduleEnd(leaseTime);
        }
    }

    @Override
    public final void extend(Duration leaseTime) {
        Objects.requireNonNull(leaseTime, "leaseTime must not be null");
        if (leaseTime.isNegative() || leaseTime.isZero()) {
            throw new IllegalArgumentException("leaseTime must be positive, got " + leaseTime);
        }
        synchronized (extending) { // one at a time: each must see the end the store last had
            long callStart = System.nanoTime();
            long nanos = Requests.saturatedNanos(leaseTime);
            synchronized (this) {
                if (state == State.VALID) {
                    if (leaseTimer == null) {
                        throw new IllegalStateException("Lease on " + key + " has no timer to extend it with");
                    }
                    // until the store has the renewal, others judge the lease by the old record:
                    // it ends at the earlier of its old and new ends
                    if (leaseEnd == null || leaseEnd.getDelay(TimeUnit.NANOSECONDS) > nanos) {
                        scheduleEnd(leaseTime);
                    }
                }
            }
            ensureValid(); // throws: LockLostException if lost, IllegalStateException if closed
            extended(leaseTime); // if it throws, the earlier end stays: the write may or may not have landed
            synchronized (this) {
                if (state == State.VALID) {
                    // recorded: the store counts the lease time from its write, after callStart
                    scheduleEnd(Duration.ofNanos(Math.max(0, callStart + nanos - System.nanoTime())));
                }
            }
        }
        ensureValid(); // the store may have found the lease gone meanwhile
    }

    /**
     * Records an {@link #extend} with the grant, while the local lease end is the earlier of the
     * old and the new one, outside the lease's monitor (the lease time and the moment of renewal, in the lock store); by
     * default nothing. May lose the lease (it is then reported by {@code extend}).
     *
     * @throws dev.baton.lock.LockException if the store could not record it
     */
    protected void extended(Duration leaseTime) {
    }

    private void scheduleEnd(Duration leaseTime) {
        if (leaseEnd != null) {
            leaseEnd.cancel(false);
        }
        long nanos = Requests.saturatedNanos(leaseTime);
        leaseEnd = leaseTimer.schedule(this::leaseRanOut, nanos, TimeUnit.NANOSECONDS);
    }

    private void cancelLeaseEnd() {
        if (leaseEnd != null) {
            leaseEnd.cancel(false);
            leaseEnd = null;
        }
    }

    private void leaseRanOut() {
        synchronized (this) {
            if (state != State.VALID || leaseEnd == null || leaseEnd.getDelay(TimeUnit.NANOSECONDS) > 0) {
                return; // closed, lost, or extended since this run was scheduled
            }
        }
        if (markLost(LossReason.LEASE_EXPIRED)) {
            try {
                leaseExpired();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "Releasing the expired lease on " + key + " failed", e);
            }
            fireLost();
        }
    }

    /**
     * Gives the lock back in the store after its lease time ran out (the lease is already marked
     * lost); by default the same as {@link #release()}. Must not throw.
     */
    protected void leaseExpired() {
        release();
    }

    @Override
    public final synchronized boolean isValid() {
        return state == State.VALID;
    }

    @Override
    public final void ensureValid() {
        LockLostException cause;
        synchronized (this) {
            if (state == State.VALID) {
                return;
            }
            if (state == State.RELEASED) {
                throw new IllegalStateException("Lease on " + key + " (" + token + ") was released by its holder");
            }
            cause = loss;
        }
        // A fresh exception so the stack trace shows the caller; same key, token, reason and message.
        throw new LockLostException(cause.key(), cause.token(), cause.reason(), cause.getMessage());
    }

    @Override
    public final void onLost(Consumer<? super LockLostException> listener) {
        onLost(listener, Runnable::run);
    }

    @Override
    public final void onLost(Consumer<? super LockLostException> listener, Executor executor) {
        Objects.requireNonNull(listener, "listener must not be null");
        Objects.requireNonNull(executor, "executor must not be null");
        Listener l = new Listener(listener, executor);
        LockLostException now;
        synchronized (this) {
            if (state == State.VALID || (state == State.LOST && listeners != null)) {
                // still valid, or lost but listeners not fired yet: fireLost will run it
                listeners.add(l);
                return;
            }
            if (state == State.RELEASED) {
                return;
            }
            now = loss;
        }
        l.run(now);
    }

    /** Made on first use: most leases never get one. */
    private volatile List<Runnable> releaseListeners = List.of();

    @Override
    public final void onReleaseRequested(Runnable listener) {
        Objects.requireNonNull(listener, "listener must not be null");
        synchronized (this) {
            List<Runnable> more = new ArrayList<>(releaseListeners);
            more.add(listener);
            releaseListeners = List.copyOf(more);
        }
    }

    /**
     * Tells the {@link #onReleaseRequested} listeners that someone asked for the key, if the lease
     * is still valid.
     *
     * @return true if the lease was valid (the request was delivered)
     */
    public final boolean releaseRequested() {
        if (!isValid()) {
            return false;
        }
        for (Runnable l : releaseListeners) {
            try {
                l.run();
            } catch (RuntimeException t) {
                LOG.log(System.Logger.Level.WARNING, "onReleaseRequested listener for " + key + " threw", t);
            }
        }
        return true;
    }

    /** The reason this lease was lost, or null if it is valid or was released. */
    public final synchronized LossReason lossReason() {
        return loss == null ? null : loss.reason();
    }

    /**
     * Marks the lease lost, if it is still valid. Listeners are not run yet: call
     * {@link #fireLost()} after.
     *
     * @return true if this call ended the lease
     */
    public final synchronized boolean markLost(LossReason reason) {
        if (state != State.VALID) {
            return false;
        }
        state = State.LOST;
        loss = lossOf(reason);
        cancelLeaseEnd();
        return true;
    }

    /** The exception that tells of this lease's loss; the standard one unless overridden. */
    protected LockLostException lossOf(LossReason reason) {
        return new LockLostException(key, token, reason);
    }

    /** Runs, once, the listeners of a lease that {@link #markLost} ended. */
    public final void fireLost() {
        List<Listener> toRun;
        LockLostException e;
        synchronized (this) {
            if (state != State.LOST || listeners == null) {
                return;
            }
            toRun = listeners;
            listeners = null;
            e = loss;
        }
        for (Listener l : toRun) {
            l.run(e);
        }
    }

    /** Marks the lease lost and runs its listeners; returns true if this call ended the lease. */
    public final boolean lose(LossReason reason) {
        boolean ended = markLost(reason);
        fireLost();
        return ended;
    }

    @Override
    public final void close() {
        synchronized (this) {
            if (state != State.VALID) {
                return;
            }
            state = State.RELEASED;
            listeners = null;
            cancelLeaseEnd();
        }
        release();
    }

    /**
     * Releases the lock in the store. Called once, by {@link #close()} on a valid lease, on the
     * closing thread; must not throw.
     */
    protected abstract void release();

    @Override
    public String toString() {
        synchronized (this) {
            return getClass().getSimpleName() + "{" + (keys.size() == 1 ? key + ", " + mode : keys) + ", " + token + ", "
                    + (state == State.LOST ? "LOST " + loss.reason() : state) + "}";
        }
    }

    private static final class Listener {
        private final Consumer<? super LockLostException> consumer;
        private final Executor executor;

        Listener(Consumer<? super LockLostException> consumer, Executor executor) {
            this.consumer = consumer;
            this.executor = executor;
        }

        void run(LockLostException e) {
            try {
                executor.execute(() -> {
                    try {
                        consumer.accept(e);
                    } catch (RuntimeException t) {
                        LOG.log(System.Logger.Level.WARNING, "onLost listener for " + e.key() + " threw", t);
                    }
                });
            } catch (RuntimeException rejected) {
                LOG.log(System.Logger.Level.WARNING, "onLost listener for " + e.key() + " could not be scheduled",
                        rejected);
            }
        }
    }
}
