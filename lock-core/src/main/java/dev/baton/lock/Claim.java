package dev.baton.lock;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * One request on a key as {@link LockService#inspect inspection} sees it: a holder or a waiter,
 * with what its holder recorded when it asked. A snapshot: it does not change when the lock does.
 *
 * <p>What the holder recorded may be unknown (on ZooKeeper, a record Baton cannot read): its text
 * is then empty and its pid -1; the mode, token and whether it holds come from the store itself.
 *
 * <p>Times are measured on the lock store's clock (for ZooKeeper, the ensemble's), never by
 * comparing this machine's clock with the holder's.
 *
 * <p>Immutable.
 */
public final class Claim {
    private final String holderId;
    private final String host;
    private final long pid;
    private final String thread;
    private final LockMode mode;
    private final FencingToken token;
    private final boolean granted;
    private final Duration leaseTime;
    private final Duration heldFor;
    private final Duration lockDelay;

    /**
     * @param holderId  the requesting service's holder id (host:pid:random), or empty if unknown
     * @param host      the requesting host's name, or empty if unknown
     * @param pid       the requesting process id, or -1 if unknown
     * @param thread    the name of the thread that asked, or empty if unknown
     * @param mode      the mode asked for on the inspected key
     * @param token     the grant's fencing token (a waiter's is the one it will hold when granted)
     * @param granted   whether the request holds the key (else it waits)
     * @param leaseTime the lease time recorded, or null for none
     * @param heldFor   for a holder, how long it has held the key (since its grant or its last
     *                  {@link Lease#extend extend}) on the store's clock; null for a waiter
     * @param lockDelay the lock delay it asked for, or null for none
     */
    public Claim(String holderId, String host, long pid, String thread, LockMode mode, FencingToken token,
                 boolean granted, Duration leaseTime, Duration heldFor, Duration lockDelay) {
        this.holderId = Objects.requireNonNull(holderId, "holderId");
        this.host = Objects.requireNonNull(host, "host");
        this.pid = pid;
        this.thread = Objects.requireNonNull(thread, "thread");
        this.mode = Objects.requireNonNull(mode, "mode");
        this.token = Objects.requireNonNull(token, "token");
        this.granted = granted;
        this.leaseTime = leaseTime;
        this.heldFor = heldFor;
        this.lockDelay = lockDelay;
    }

    /** The id of the service that asked: host, process id and a random part; empty if unknown. */
    public String holderId() {
        return holderId;
    }

    /** The name of the host that asked; empty if unknown. */
    public String host() {
        return host;
    }

    /** The process id that asked, or -1 if unknown. */
    public long pid() {
        return pid;
    }

    /** The name of the thread that asked; empty if unknown. */
    public String thread() {
        return thread;
    }

    /** The mode asked for on the inspected key. */
    public LockMode mode() {
        return mode;
    }

    /** The grant's fencing token (for a waiter, the token it will hold once granted). */
    public FencingToken token() {
        return token;
    }

    /** Whether this request holds the key; false for a waiter. */
    public boolean granted() {
        return granted;
    }

    /** The lease time recorded with the grant (rewritten by {@link Lease#extend}); empty for none. */
    public Optional<Duration> leaseTime() {
        return Optional.ofNullable(leaseTime);
    }

    /**
     * For a holder: how long since its grant, or since its last {@link Lease#extend extend}, on
     * the lock store's clock. Empty for a waiter, and for a holder whose start the store cannot
     * tell yet (on ZooKeeper: the first half second of a grant after waiting, before the holder
     * stamps it; or when the store's time could not be read).
     */
    public Optional<Duration> heldFor() {
        return Optional.ofNullable(heldFor);
    }

    /** The lock delay the request asked for ({@link LockOptions#lockDelay}); empty for none. */
    public Optional<Duration> lockDelay() {
        return Optional.ofNullable(lockDelay);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Claim)) {
            return false;
        }
        Claim c = (Claim) o;
        return pid == c.pid && granted == c.granted && holderId.equals(c.holderId) && host.equals(c.host)
                && thread.equals(c.thread) && mode == c.mode && token.equals(c.token)
                && Objects.equals(leaseTime, c.leaseTime) && Objects.equals(heldFor, c.heldFor)
                && Objects.equals(lockDelay, c.lockDelay);
    }

    @Override
    public int hashCode() {
        return Objects.hash(holderId, host, pid, thread, mode, token, granted, leaseTime, heldFor, lockDelay);
    }

    @Override
    public String toString() {
        return (granted ? "holder " : "waiter ") + holderId + " " + mode + " token " + token.value()
                + " (host " + host + ", pid " + pid + ", thread " + thread + ")"
                + (leaseTime == null ? "" : ", lease " + leaseTime)
                + (heldFor == null ? "" : ", held for " + heldFor)
                + (lockDelay == null ? "" : ", lock delay " + lockDelay);
    }
}
