package dev.baton.lock;

import java.time.Instant;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * One term of leadership in a {@link LeaderElection}: from the moment this participant was
 * confirmed leader until it lost leadership or resigned. A later term, even of the same
 * participant, is a different {@code Leadership} with a larger {@link #token()}.
 *
 * <p>A term is lost the way a {@link Lease} is: by default the moment the connection to the
 * store is suspended, otherwise when the session expires, and when the election is closed
 * ({@link LossReason#RESIGNED}). The holder learns it through {@link #onLost} listeners, the
 * interruption of a singleton job, and {@link #isValid()} / {@link #ensureValid()}; a holder that
 * is paused learns nothing, and its writes carry the old token, which a {@link Fence} refuses once
 * the next leader has used the resource.
 *
 * <p>Thread-safe.
 */
public interface Leadership {
    /** The name of the election this term belongs to. */
    String election();

    /**
     * The fencing token of this term: strictly greater than the token of every earlier term of
     * this election, whoever held it. Pass it to the resource with every operation the leader makes.
     */
    FencingToken token();

    /** When the term began, as the lock store's clock saw it. */
    Instant since();

    /** Whether this term is still going on. */
    boolean isValid();

    /**
     * Returns normally while the term goes on.
     *
     * @throws LockLostException if it has ended, with the reason
     */
    void ensureValid();

    /**
     * Registers a listener to be told, once, when the term ends; at once if it has already ended.
     * It runs on the thread that detects the end (for ZooKeeper, a client thread): it must be
     * quick and must not block. An exception it throws is logged and ignored.
     */
    void onLost(Consumer<? super LockLostException> listener);

    /** Registers a listener, run on {@code executor}, to be told once when the term ends. */
    void onLost(Consumer<? super LockLostException> listener, Executor executor);
}
