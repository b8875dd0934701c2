package dev.baton.lock;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A snapshot of one key, as {@link LockService#inspect} found it: the requests holding it, the
 * requests waiting for it in the order they will be served, and what remains of a lock delay.
 * Only requests that name the key itself appear (through {@code acquire} or {@code acquireAll});
 * holders of finer or coarser keys that block it do not.
 *
 * <p>Immutable.
 */
public final class LockState {
    private final LockKey key;
    private final List<Claim> holders;
    private final List<Claim> waiters;
    private final Duration lockDelayLeft;

    /**
     * @param key           the key inspected
     * @param holders       the requests holding it, earliest grant first
     * @param waiters       the requests waiting for it, in the order they asked
     * @param lockDelayLeft how long the key stays unavailable after a lost holder's lock delay
     *                      ({@link LockOptions#lockDelay}), or null if none is running
     */
    public LockState(LockKey key, List<Claim> holders, List<Claim> waiters, Duration lockDelayLeft) {
        this.key = Objects.requireNonNull(key, "key");
        this.holders = List.copyOf(holders);
        this.waiters = List.copyOf(waiters);
        this.lockDelayLeft = lockDelayLeft;
    }

    /** The key inspected. */
    public LockKey key() {
        return key;
    }

    /** The requests holding the key, earliest grant first; several only in {@link LockMode#SHARED}. */
    public List<Claim> holders() {
        return holders;
    }

    /** The requests waiting for the key, in the order they asked. */
    public List<Claim> waiters() {
        return waiters;
    }

    /** Whether anyone holds the key. */
    public boolean isHeld() {
        return !holders.isEmpty();
    }

    /**
     * What remains of a lock delay: after a holder with a {@link LockOptions#lockDelay lock delay}
     * lost the key (session end or breaking), it stays unavailable this much longer. Empty if no
     * delay is running.
     */
    public Optional<Duration> lockDelayLeft() {
        return Optional.ofNullable(lockDelayLeft);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof LockState)) {
            return false;
        }
        LockState s = (LockState) o;
        return key.equals(s.key) && holders.equals(s.holders) && waiters.equals(s.waiters)
                && Objects.equals(lockDelayLeft, s.lockDelayLeft);
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, holders, waiters, lockDelayLeft);
    }

    @Override
    public String toString() {
        return key + ": holders " + holders + ", waiters " + waiters
                + (lockDelayLeft == null ? "" : ", lock delay left " + lockDelayLeft);
    }
}
