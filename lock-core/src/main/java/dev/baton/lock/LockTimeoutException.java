package dev.baton.lock;

import java.time.Duration;
import java.util.Objects;

/**
 * Thrown by {@code acquire} when the lock was not granted within the allowed wait. Nothing the
 * request created is left behind in the lock store.
 */
public class LockTimeoutException extends LockException {
    private static final long serialVersionUID = 1L;

    private final transient LockKey key;
    private final Duration waited;

    /** An exception for a wait of {@code waited} on {@code key} that ran out. */
    public LockTimeoutException(LockKey key, Duration waited) {
        super("Timed out after " + waited + " waiting for lock " + key);
        this.key = Objects.requireNonNull(key, "key");
        this.waited = Objects.requireNonNull(waited, "waited");
    }

    /** The key that was not granted. */
    public LockKey key() {
        return key;
    }

    /** The wait that ran out. */
    public Duration waited() {
        return waited;
    }
}
