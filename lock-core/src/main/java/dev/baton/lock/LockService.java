package dev.baton.lock;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Grants named locks, each with a {@link FencingToken}, and tells holders when they lose them.
 *
 * <pre>{@code
 * try (Lease lease = locks.acquire(LockKey.of("billing", "account", "42"), Duration.ofSeconds(5))) {
 *     ledger.write("account-42", lease.token(), entry);   // the resource checks the token
 * }
 * }</pre>
 *
 * <p><b>Guarantees.</b> While the lock store works, no two valid leases conflict (an exclusive
 * lease on a key shares neither that key nor an ancestor or descendant of it with any other
 * lease), and each grant's token is greater than the token of every earlier grant it conflicts
 * with, at whatever level they conflict. When the
 * store can no longer vouch for a lease (connection suspended, session expired, service closed),
 * the lease is marked lost and its holder told; a holder that is paused and learns nothing is
 * stopped by the token at a {@link Fence}. Nothing is promised about code that ignores both.
 *
 * <p><b>Waiting.</b> {@code acquire} waits in first-come order. When the wait runs out it throws
 * {@link LockTimeoutException}; when the waiting thread is interrupted it throws
 * {@link InterruptedException}. In both cases nothing the request created is left in the lock
 * store (an implementation may finish that cleanup in the background when the wait ended in the
 * middle of a call to the store). A thread that is already interrupted fails at once, before
 * contacting the store.
 *
 * <p><b>Bad input</b> (null, an invalid key, a negative wait) fails with a
 * {@link NullPointerException} or {@link IllegalArgumentException} naming the input, and
 * {@code acquire} on a closed service with {@link IllegalStateException}; in each case nothing
 * is written to the lock store.
 *
 * <p><b>Coarse to fine.</b> Keys form a hierarchy, and a lock on a key covers everything under
 * it: an exclusive lock on {@code billing} excludes every lock on {@code billing/account/42}
 * (and the reverse), while {@code billing/account/42} and {@code billing/account/43} are locked
 * in parallel. {@link LockMode#SHARED} locks on the same key, or on a key and its descendants,
 * are held together; {@link LockMode#EXCLUSIVE} excludes every other lock on the key, its
 * ancestors and its descendants. This is multi-granularity locking with intention modes: a
 * request takes an intention on every ancestor of its key, and is granted only when no
 * <em>earlier</em> conflicting request is still there, at any level. So a request never
 * overtakes an earlier conflicting one (a coarse lock is not starved by a stream of fine ones),
 * and no set of requests can deadlock, whatever keys they name, as long as each thread holds at
 * most one lease at a time or takes several keys together with {@link #acquireAll}.
 *
 * <p>Implementations are thread-safe.
 */
public interface LockService extends AutoCloseable {

    /**
     * Acquires {@code key} as {@code options} say, waiting at most
     * {@link LockOptions#waitAtMost()}.
     *
     * @return the valid lease; close it to release the lock
     * @throws LockTimeoutException if the wait ran out; nothing is left behind
     * @throws InterruptedException if the waiting thread was interrupted; nothing is left behind
     * @throws IllegalStateException if the service is closed, or is closed while waiting
     * @throws LockException if the lock store failed in a way that retries did not overcome
     */
    Lease acquire(LockKey key, LockOptions options) throws InterruptedException;

    /**
     * Acquires every key of {@code keys}, all in {@link LockOptions#mode()}, as one lease: granted
     * all together or not at all. See {@link #acquireAll(Map, LockOptions)}.
     *
     * @throws IllegalArgumentException if {@code keys} is empty or has more than
     *     {@link #MAX_KEYS_PER_REQUEST} keys
     */
    default Lease acquireAll(Set<LockKey> keys, LockOptions options) throws InterruptedException {
        Objects.requireNonNull(keys, "keys must not be null");
        Objects.requireNonNull(options, "options must not be null");
        Map<LockKey, LockMode> modes = new LinkedHashMap<>();
        for (LockKey key : keys) {
            modes.put(Objects.requireNonNull(key, "keys must not contain a null key"), options.mode());
        }
        return acquireAll(modes, options);
    }

    /**
     * Acquires several keys, each in its own mode, as one lease: the request is granted when all of
     * them can be, at once, and waits holding none of them meanwhile (nothing is granted
     * piecemeal). Callers may list keys in any order: two {@code acquireAll} calls naming the same
     * keys in opposite orders cannot deadlock. Keys may nest ({@code billing} shared with
     * {@code billing/account/42} exclusive). The lease's {@link Lease#key()} is the first of its
     * {@link Lease#keys()}, coarse keys first; its token is greater than that of every earlier
     * grant that conflicts with any of its keys. {@link LockOptions#mode()} is not used.
     *
     * <p>Waiting, timeouts, interrupts, cleanup and bad input are as for
     * {@link #acquire(LockKey, LockOptions)}.
     *
     * @throws IllegalArgumentException if {@code keys} is empty or has more than
     *     {@link #MAX_KEYS_PER_REQUEST} keys (an implementation may refuse smaller requests it
     *     cannot send in one piece, saying why)
     */
    Lease acquireAll(Map<LockKey, LockMode> keys, LockOptions options) throws InterruptedException;

    /** The most keys one {@link #acquireAll} request may name. */
    int MAX_KEYS_PER_REQUEST = 128;

    /** Acquires {@code key} exclusively, waiting without limit. See {@link #acquire(LockKey, LockOptions)}. */
    default Lease acquire(LockKey key) throws InterruptedException {
        return acquire(key, LockOptions.defaults());
    }

    /**
     * Acquires {@code key} exclusively, waiting at most {@code maxWait} ({@link Duration#ZERO}:
     * try once). See {@link #acquire(LockKey, LockOptions)}.
     *
     * @throws IllegalArgumentException if {@code maxWait} is negative
     */
    default Lease acquire(LockKey key, Duration maxWait) throws InterruptedException {
        return acquire(key, LockOptions.defaults().waitAtMost(maxWait));
    }

    /** Tries once to acquire {@code key} exclusively, without waiting. See {@link #tryAcquire(LockKey, LockOptions)}. */
    default Optional<Lease> tryAcquire(LockKey key) {
        return tryAcquire(key, LockOptions.defaults());
    }

    /**
     * Tries once to acquire {@code key}, without waiting whatever {@code options} say about waiting.
     * "Not now" is an empty result, not an exception. If the calling thread is interrupted, the
     * result is empty and the interrupt flag stays set; nothing is left behind.
     *
     * @return the lease, or empty if the lock is held by someone else
     * @throws IllegalStateException if the service is closed
     */
    default Optional<Lease> tryAcquire(LockKey key, LockOptions options) {
        Objects.requireNonNull(options, "options must not be null");
        try {
            return Optional.of(acquire(key, options.waitAtMost(Duration.ZERO)));
        } catch (LockTimeoutException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** Runs {@code body} under an exclusive lock on {@code key}. See {@link #withLock(LockKey, LockOptions, CriticalSection)}. */
    default <T, E extends Exception> T withLock(LockKey key, CriticalSection<T, E> body)
            throws E, InterruptedException {
        return withLock(key, LockOptions.defaults(), body);
    }

    /**
     * Acquires {@code key}, runs {@code body} with the lease, and releases the lock however the
     * body ends.
     *
     * <p>If the lease is lost while the body runs, the body's thread is interrupted (unless
     * {@link LockOptions#interruptOnLoss(boolean)} turned that off) and {@code withLock} throws
     * {@link LockLostException}: the critical section was <em>aborted</em>. It throws even if the
     * body swallowed the interrupt or returned normally after the loss, because its work can no
     * longer be trusted; an exception the body threw is attached as suppressed. The interrupt
     * that {@code withLock} caused is cleared before it returns.
     *
     * @return what the body returned, if the lease stayed valid until it did
     * @throws E what the body threw, if the lease stayed valid
     * @throws LockLostException if the lease was lost before the body finished
     * @throws LockTimeoutException if the lock was not granted in time
     * @throws InterruptedException if the thread was interrupted while waiting for the lock
     */
    default <T, E extends Exception> T withLock(LockKey key, LockOptions options, CriticalSection<T, E> body)
            throws E, InterruptedException {
        Objects.requireNonNull(body, "body must not be null");
        try (Lease lease = acquire(key, options)) {
            AbortGuard guard = new AbortGuard(Thread.currentThread(), options.interruptOnLoss());
            lease.onLost(guard);
            T result = null;
            Throwable failure = null;
            try {
                result = body.run(lease);
            } catch (Throwable t) {
                failure = t;
            }
            LockLostException lost = guard.finish(lease);
            if (lost != null) {
                LockLostException aborted = new LockLostException(lost.key(), lost.token(), lost.reason(),
                        "Critical section on " + lost.key() + " aborted: " + lost.getMessage());
                if (failure != null) {
                    aborted.addSuppressed(failure);
                }
                throw aborted;
            }
            if (failure != null) {
                throw AbortGuard.<E>rethrow(failure);
            }
            return result;
        }
    }

    /**
     * What the lock store knows about {@code key} right now: its holders (with what they recorded:
     * holder id, host, pid, thread, lease time, token, and how long they have held it on the store's
     * clock), its waiters in order, and any running lock delay. Only requests naming the key itself
     * are shown. Changes no lock (the ZooKeeper implementation makes one write to its own
     * ephemeral clock node to learn the ensemble's time; where that is refused, ages are left out).
     *
     * @throws IllegalStateException if the service is closed
     * @throws LockException if the lock store could not be read
     */
    LockState inspect(LockKey key);

    /**
     * Every held key at or under {@code prefix}, coarse keys first (by depth, then by path), each
     * as {@link #inspect} would show it. Keys only waited for are left out.
     *
     * @throws IllegalStateException if the service is closed
     * @throws LockException if the lock store could not be read
     */
    java.util.List<LockState> list(LockKey prefix);

    /** Every held key; see {@link #list(LockKey)}. */
    java.util.List<LockState> list();

    /**
     * Asks the current holders of {@code key} to let go: each holder's
     * {@link Lease#onReleaseRequested} listeners run. Cooperative: nothing is taken away; a holder
     * that does not listen, or ignores the request, keeps the lock. Use {@link #breakLock} to take
     * it away.
     *
     * @return how many holders were asked (0 if the key is free)
     * @throws IllegalStateException if the service is closed
     * @throws LockException if the lock store could not be reached
     */
    int requestRelease(LockKey key);

    /**
     * Takes {@code key} away from its current holders, as an operator would: each holder's lease is
     * lost with {@link LossReason#BROKEN} (its body interrupted, its listeners told, as soon as its
     * process hears of it), the next waiter proceeds, and its token is greater than the broken
     * holders' so a {@link Fence} refuses their late writes. A holder's lock delay
     * ({@link LockOptions#lockDelay}) applies. Waiters are left alone. Meant for tools like
     * {@code lockctl}; programs should prefer {@link LockOptions#staleAfter}.
     *
     * @return how many holders were broken (0 if the key was free)
     * @throws IllegalStateException if the service is closed
     * @throws LockException if the lock store could not be reached
     */
    int breakLock(LockKey key);

    /**
     * Joins the leader election {@code name} with a participant id made of this host's name, the
     * process id and a random suffix. See {@link #election(String, String)}.
     */
    default LeaderElection election(String name) {
        return election(name, dev.baton.lock.internal.Elections.defaultParticipantId());
    }

    /**
     * Joins the leader election {@code name} as {@code participantId}, at once. Participants of the
     * same name on the same lock store form one group, whatever service they joined through.
     * Close the returned election to leave the group; closing the service closes it too.
     *
     * @param name the election's name, with {@link LockKey}'s rules ({@code billing-run},
     *     {@code billing/eu/run})
     * @param participantId how others see this participant: non-blank, at most 1024 characters
     * @throws IllegalArgumentException if the name or id breaks those rules
     * @throws IllegalStateException if the service is closed
     */
    LeaderElection election(String name, String participantId);

    /**
     * Closes the service: every election joined through it is closed (a term ends with
     * {@link LossReason#RESIGNED}), every lease it granted is lost with
     * {@link LossReason#SERVICE_CLOSED} and released, waiting {@code acquire} calls fail with
     * {@link IllegalStateException}, and later calls are rejected. Idempotent.
     */
    @Override
    void close();
}
