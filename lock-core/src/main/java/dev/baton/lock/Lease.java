package dev.baton.lock;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * A granted lock: a handle, not a thread. Any thread may use or {@link #close() close} it,
 * which suits asynchronous code. Leases are not re-entrant: acquiring a key again while holding
 * it waits like any other request, even on the same thread.
 *
 * <p>A lease is valid from its grant until it is closed or lost. It is <em>lost</em> when the lock
 * store can no longer vouch for it (see {@link LossReason}); the holder learns this three ways:
 * {@link #onLost} listeners, the interruption of a {@link LockService#withLock withLock} body,
 * and {@link #isValid()} / {@link #ensureValid()}. A holder that is paused (garbage collection,
 * a frozen process) learns nothing until it resumes; its operations then carry an old
 * {@link #token()}, which a {@link Fence} refuses.
 *
 * <p><b>Lease time.</b> A lease granted with {@link LockOptions#leaseTime} (or a service's
 * default) ends after that long on the holder's own monotonic clock unless {@link #extend}ed:
 * it is lost with {@link LossReason#LEASE_EXPIRED}, a {@code withLock} body is interrupted, and
 * the lock is released so the next waiter proceeds. A holder that hangs cannot keep a lock longer
 * than its lease time; its later writes carry an old token.
 *
 * <p>Thread-safe.
 */
public interface Lease extends AutoCloseable {
    /** The key this lease holds; for a lease over several keys, the first of {@link #keys()}. */
    LockKey key();

    /** The mode this lease holds its {@link #key()} in. */
    LockMode mode();

    /**
     * Every key this lease holds with its mode, coarse keys first (by depth, then by path): one
     * entry for a lease from {@code acquire}, several for one from
     * {@link LockService#acquireAll(java.util.Map, LockOptions) acquireAll}. Unmodifiable.
     */
    default Map<LockKey, LockMode> keys() {
        return Map.of(key(), mode());
    }

    /**
     * The fencing token of this grant: strictly greater than the token of every earlier
     * conflicting grant. Pass it to the resource with every operation made under the lock.
     */
    FencingToken token();

    /**
     * Renews the lease's time: it now ends {@code leaseTime} from now (on this process's
     * monotonic clock), unless closed or lost before. Works whether or not the lease was granted
     * with a {@link LockOptions#leaseTime lease time}; a lease without one gets one.
     *
     * @throws LockLostException if the lease is already lost (its lease time ran out, or its
     *     session ended): a lost lease cannot be revived
     * @throws IllegalStateException if the lease was closed
     * @throws IllegalArgumentException if {@code leaseTime} is zero or negative
     * <p>Other clients judge the lease by what the lock store recorded, so until the renewal is
     * recorded the lease ends at the earlier of its old and new ends, and concurrent calls take
     * turns.
     *
     * @throws LockException if the lock store could not record the renewal (on ZooKeeper: the
     *     connection is down, or the write timed out); the lease then keeps the earlier of its old
     *     and new ends, since the renewal may or may not have been recorded
     */
    void extend(Duration leaseTime);

    /** Whether the lease is still held: neither closed nor lost. */
    boolean isValid();

    /**
     * Returns normally if the lease is still held.
     *
     * @throws LockLostException if the lease was lost, with the reason
     * @throws IllegalStateException if the lease was closed by its holder
     */
    void ensureValid();

    /**
     * Registers a listener to be told, once, when the lease is lost. It is not called when the
     * holder closes the lease. If the lease is already lost, the listener runs at once.
     *
     * <p>The listener runs on the thread that detects the loss (for ZooKeeper, the client's event
     * thread): it must be quick and must not block. Use {@link #onLost(Consumer, Executor)} for
     * anything more. An exception thrown by a listener is logged and ignored.
     */
    void onLost(Consumer<? super LockLostException> listener);

    /** Registers a listener, run on {@code executor}, to be told once when the lease is lost. */
    void onLost(Consumer<? super LockLostException> listener, Executor executor);

    /**
     * Registers a listener to be told when someone asks this lease's holder to let go
     * ({@link LockService#requestRelease}); it runs each time a request arrives while the lease is
     * valid. Revocation is cooperative: the lease stays valid until its holder closes it. The
     * listener runs on the thread that hears the request (for ZooKeeper, the client's event
     * thread): it must be quick and must not block; an exception it throws is logged and ignored.
     */
    void onReleaseRequested(Runnable listener);

    /**
     * Releases the lock. Idempotent; never throws for a lease that is already lost. After it
     * returns the lease is no longer valid, and later requests through the same service see the
     * lock released. Other clients may see it released a moment later: an implementation may send
     * the release without waiting for the lock store's answer (the ZooKeeper one does, to save a
     * round trip), and if the store cannot be reached, the release completes in the background as
     * soon as it can (the store's session expiry removes the lock in any case).
     */
    @Override
    void close();
}
