package dev.baton.lock;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * How to acquire a lock: the mode, how long to wait, and what to do when the lease is lost.
 * Start from {@link #defaults()} and change what you need; every wither returns a new instance.
 *
 * <pre>{@code
 * LockOptions options = LockOptions.defaults().waitAtMost(Duration.ofSeconds(5));
 * }</pre>
 *
 * <p>Defaults: {@link LockMode#EXCLUSIVE}, wait without limit, interrupt a
 * {@link LockService#withLock withLock} body when its lease is lost, no lease time, no stale
 * breaking, no lock delay.
 *
 * <p>Immutable and thread-safe. Invalid values fail at once with a message that names them.
 */
public final class LockOptions {
    private static final LockOptions DEFAULTS = new LockOptions(LockMode.EXCLUSIVE, null, null, null, true, null);

    private final LockMode mode;
    private final Duration waitAtMost;
    private final Duration leaseTime;
    private final Duration staleAfter;
    private final Duration lockDelay;
    private final boolean interruptOnLoss;

    private LockOptions(LockMode mode, Duration waitAtMost, Duration leaseTime, Duration staleAfter,
                        boolean interruptOnLoss, Duration lockDelay) {
        this.lockDelay = lockDelay;
        this.mode = mode;
        this.waitAtMost = waitAtMost;
        this.leaseTime = leaseTime;
        this.staleAfter = staleAfter;
        this.interruptOnLoss = interruptOnLoss;
    }

    /** Exclusive, wait without limit, interrupt on loss. */
    public static LockOptions defaults() {
        return DEFAULTS;
    }

    /** With the given mode. */
    public LockOptions mode(LockMode mode) {
        Objects.requireNonNull(mode, "mode must not be null");
        return new LockOptions(mode, waitAtMost, leaseTime, staleAfter, interruptOnLoss, lockDelay);
    }

    /**
     * Wait at most {@code maxWait} for the grant; {@link Duration#ZERO} tries once without
     * waiting. When the wait runs out, {@code acquire} throws {@link LockTimeoutException}.
     *
     * @throws IllegalArgumentException if {@code maxWait} is negative
     */
    public LockOptions waitAtMost(Duration maxWait) {
        return new LockOptions(mode, requireNonNegative(maxWait, "waitAtMost"), leaseTime, staleAfter,
                interruptOnLoss, lockDelay);
    }

    /** Wait for the grant without limit (the default); only an interrupt ends the wait. */
    public LockOptions waitForever() {
        return new LockOptions(mode, null, leaseTime, staleAfter, interruptOnLoss, lockDelay);
    }

    /**
     * The longest a grant may be held before it is taken away with {@link LossReason#LEASE_EXPIRED},
     * on the holder's own monotonic clock, unless {@link Lease#extend extended}: the holder's
     * {@code withLock} body is interrupted and the lock released so the next waiter proceeds. It
     * overrides the service's default lease time, if it has one.
     *
     * @throws IllegalArgumentException if {@code leaseTime} is zero or negative
     */
    public LockOptions leaseTime(Duration leaseTime) {
        return new LockOptions(mode, waitAtMost, requirePositive(leaseTime, "leaseTime"), staleAfter,
                interruptOnLoss, lockDelay);
    }

    /**
     * While waiting, break the lock of a holder that has held it longer than this (since its grant
     * or its last {@link Lease#extend extend}), and proceed. Age is judged on the lock store's
     * clock only (for ZooKeeper: the holder node's write time against a fresh write of the
     * waiter's, both stamped by the ensemble), never by comparing this machine's clock with the
     * holder's. The broken holder is told with {@link LossReason#BROKEN}; its later fenced writes
     * carry an older token than the next grant's. Without this option a waiter still breaks a
     * holder found past its recorded {@link #leaseTime lease time} (plus a grace for the holder to
     * end the lease itself).
     *
     * <p>Use it for locks whose holders may hang with their process alive; choose it well above
     * the longest legitimate hold, or have long jobs {@link Lease#extend extend} their lease.
     *
     * @throws IllegalArgumentException if {@code staleAfter} is zero or negative
     */
    public LockOptions staleAfter(Duration staleAfter) {
        return new LockOptions(mode, waitAtMost, leaseTime, requirePositive(staleAfter, "staleAfter"),
                interruptOnLoss, lockDelay);
    }

    /**
     * After the lease is lost through the end of its session or through breaking (not after a
     * normal release, nor the end of its lease time on the holder's side), keep the key
     * unavailable to everyone for this long, as Chubby and Consul do: protection for resources
     * that cannot check a fencing token, giving a holder that does not yet know it lost the lock
     * time to notice and stop. The delay is stored in the lock store with the grant and judged on
     * its clock; {@link LockService#inspect} shows what remains of it.
     *
     * @throws IllegalArgumentException if {@code lockDelay} is zero or negative
     */
    public LockOptions lockDelay(Duration lockDelay) {
        return new LockOptions(mode, waitAtMost, leaseTime, staleAfter, interruptOnLoss,
                requirePositive(lockDelay, "lockDelay"));
    }

    /**
     * Whether {@link LockService#withLock withLock} interrupts its body's thread when the lease is
     * lost (default {@code true}). Either way {@code withLock} then throws
     * {@link LockLostException}.
     */
    public LockOptions interruptOnLoss(boolean interrupt) {
        return new LockOptions(mode, waitAtMost, leaseTime, staleAfter, interrupt, lockDelay);
    }

    /** The mode. */
    public LockMode mode() {
        return mode;
    }

    /** The longest wait for the grant, or empty to wait without limit. */
    public Optional<Duration> waitAtMost() {
        return Optional.ofNullable(waitAtMost);
    }

    /** The maximum hold time, or empty for as long as the session lives. */
    public Optional<Duration> leaseTime() {
        return Optional.ofNullable(leaseTime);
    }

    /** The age after which a holder may be broken, or empty to never break. */
    public Optional<Duration> staleAfter() {
        return Optional.ofNullable(staleAfter);
    }

    /** The lock delay, if any; see {@link #lockDelay(Duration)}. */
    public Optional<Duration> lockDelay() {
        return Optional.ofNullable(lockDelay);
    }

    /** Whether {@code withLock} interrupts its body on loss. */
    public boolean interruptOnLoss() {
        return interruptOnLoss;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof LockOptions)) {
            return false;
        }
        LockOptions other = (LockOptions) o;
        return mode == other.mode && Objects.equals(waitAtMost, other.waitAtMost)
                && Objects.equals(leaseTime, other.leaseTime) && Objects.equals(staleAfter, other.staleAfter)
                && Objects.equals(lockDelay, other.lockDelay)
                && interruptOnLoss == other.interruptOnLoss;
    }

    @Override
    public int hashCode() {
        return Objects.hash(mode, waitAtMost, leaseTime, staleAfter, interruptOnLoss, lockDelay);
    }

    @Override
    public String toString() {
        return "LockOptions{mode=" + mode + ", waitAtMost=" + (waitAtMost == null ? "forever" : waitAtMost)
                + (leaseTime == null ? "" : ", leaseTime=" + leaseTime)
                + (staleAfter == null ? "" : ", staleAfter=" + staleAfter)
                + (lockDelay == null ? "" : ", lockDelay=" + lockDelay)
                + ", interruptOnLoss=" + interruptOnLoss + '}';
    }

    static Duration requireNonNegative(Duration d, String name) {
        Objects.requireNonNull(d, name + " must not be null");
        if (d.isNegative()) {
            throw new IllegalArgumentException(name + " must not be negative, got " + d);
        }
        return d;
    }

    private static Duration requirePositive(Duration d, String name) {
        Objects.requireNonNull(d, name + " must not be null");
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, got " + d);
        }
        return d;
    }
}
