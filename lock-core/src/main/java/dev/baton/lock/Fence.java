package dev.baton.lock;

import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Supplier;

/**
 * The resource side of fencing: remembers, per resource, the highest {@link FencingToken} it has
 * accepted, and refuses any operation that carries a lower one with a
 * {@link StaleTokenException}. An operation with a token equal to the highest is accepted, so one
 * holder may use its token many times.
 *
 * <p>This is what makes a holder that lost its lock without noticing (paused by garbage
 * collection, frozen, cut off from ZooKeeper) harmless: by the time it resumes, a newer holder
 * has used the resource with a greater token, and the late operation is refused. The HTTP
 * analogue is {@code 412 Precondition Failed} on a stale {@code ETag}.
 *
 * <p><b>Check reads too, not only writes.</b> Call {@link #check} (or {@link #guard}) when a
 * critical section begins and before each read, not only before writes. Otherwise an old holder
 * can still write after the new holder has read and before it has written, and the new holder's
 * write silently overwrites a value computed from stale input.
 *
 * <p><b>Check and act atomically.</b> {@link #check} alone only records the token: an old holder
 * that passes the check and is then paused can still write afterwards. Put the write inside
 * {@link #guard}, which runs it while no other operation on the same resource can be admitted,
 * or store the token with the data and compare it in the same transaction (a conditional update
 * in a database, a {@code check} in a ZooKeeper {@code multi}).
 *
 * <p>Thread-safe. Operations on different resources do not block each other. Resource ids are
 * kept for the life of the fence; use one fence per data set, not one per request.
 */
public final class Fence {
    private final ConcurrentMap<String, Register> registers = new ConcurrentHashMap<>();

    /** An empty fence: every resource accepts any first token. */
    public Fence() {
    }

    /**
     * Admits an operation with {@code token} on {@code resource}: accepts it if the token is at
     * least the highest accepted so far and raises the highest to it, atomically.
     *
     * @throws StaleTokenException if a greater token has already been accepted; nothing changes
     */
    public void check(String resource, FencingToken token) {
        guard(resource, token, () -> null);
    }

    /**
     * Admits {@code token} as {@link #check} does and, only if it is accepted, runs
     * {@code action} before any other operation on the same resource can be admitted.
     *
     * <p>If {@code action} throws, the exception propagates and the token stays accepted (the
     * action may have had effects).
     *
     * @return what {@code action} returned
     * @throws StaleTokenException if a greater token has already been accepted; the action is not run
     */
    public <T> T guard(String resource, FencingToken token, Supplier<T> action) {
        Objects.requireNonNull(resource, "resource must not be null");
        Objects.requireNonNull(token, "token must not be null");
        Objects.requireNonNull(action, "action must not be null");
        Register register = registers.computeIfAbsent(resource, r -> new Register());
        synchronized (register) {
            if (register.highest != null && token.compareTo(register.highest) < 0) {
                throw new StaleTokenException(resource, token, register.highest);
            }
            register.highest = token;
            return action.get();
        }
    }

    /** The highest token accepted for {@code resource}, or empty if it has accepted none. */
    public Optional<FencingToken> highest(String resource) {
        Objects.requireNonNull(resource, "resource must not be null");
        Register register = registers.get(resource);
        if (register == null) {
            return Optional.empty();
        }
        synchronized (register) {
            return Optional.ofNullable(register.highest);
        }
    }

    private static final class Register {
        private FencingToken highest;
    }
}
