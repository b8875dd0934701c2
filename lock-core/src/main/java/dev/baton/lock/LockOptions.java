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
 * breaking.
 *
 * <p><b>Current behaviour:</b> {@link #staleAfter} is part of the contract but not implemented
 * yet: an {@code acquire} with it fails with {@link UnsupportedOperationException} before anything is written.
 *
 * <p>Immutable and thread-safe. Invalid values fail at once with a message that names them.
 */
public final class LockOptions {
    private static final LockOptions DEFAULTS = new LockOptions(LockMode.EXCLUSIVE, null, null, null, true);

    private final LockMode mode;
    private final Duration waitAtMost;
    private final Duration leaseTime;
    private final Duration staleAfter;
    private final boolean interruptOnLoss;

    private LockOptions(LockMode mode, Duration waitAtMost, Duration leaseTime, Duration staleAfter,
                        boolean interruptOnLoss) {
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
        return new LockOptions(mode, waitAtMost, leaseTime, staleAfter, interruptOnLoss);
    }

    /**
     * Wait at most {@code maxWait} for the grant; {@link Duration#ZERO} tries once without
     * waiting. When the wait runs out, {@code acquire} throws {@link LockTimeoutException}.
     *
     * @throws IllegalArgumentException if {@code maxWait} is negative
     */
    public LockOptions waitAtMost(Duration maxWait) {
        return new LockOptions(mode, requireNonNegative(maxWait, "waitAtMost"), leaseTime, staleAfter,
                interruptOnLoss);
    }

    /** Wait for the grant without limit (the default); only an interrupt ends the wait. */
    public LockOptions waitForever() {
        return new LockOptions(mode, null, leaseTime, staleAfter, interruptOnLoss);
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
                interruptOnLoss);
    }

    /**
     * Break a holder's lock once it has been held longer than this, judged on the lock store's
     * clock (not implemented yet).
     *
     * @throws IllegalArgumentException if {@code staleAfter} is zero or negative
     */
    public LockOptions staleAfter(Duration staleAfter) {
        return new LockOptions(mode, waitAtMost, leaseTime, requirePositive(staleAfter, "staleAfter"),
                interruptOnLoss);
    }

    /**
     * Whether {@link LockService#withLock withLock} interrupts its body's thread when the lease is
     * lost (default {@code true}). Either way {@code withLock} then throws
     * {@link LockLostException}.
     */
    public LockOptions interruptOnLoss(boolean interrupt) {
        return new LockOptions(mode, waitAtMost, leaseTime, staleAfter, interrupt);
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
                && interruptOnLoss == other.interruptOnLoss;
    }

    @Override
    public int hashCode() {
        return Objects.hash(mode, waitAtMost, leaseTime, staleAfter, interruptOnLoss);
    }

    @Override
    public String toString() {
        return "LockOptions{mode=" + mode + ", waitAtMost=" + (waitAtMost == null ? "forever" : waitAtMost)
                + (leaseTime == null ? "" : ", leaseTime=" + leaseTime)
                + (staleAfter == null ? "" : ", staleAfter=" + staleAfter)
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
