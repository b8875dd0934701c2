package dev.baton.lock;

import java.util.Objects;

/**
 * A lease stopped being valid before its holder released it: the holder must stop acting on the
 * protected resource. Delivered to {@link Lease#onLost} listeners, thrown by
 * {@link Lease#ensureValid()}, and thrown by {@link LockService#withLock} when the critical
 * section was aborted.
 *
 * <p>Writes made with {@link #token()} after this point may still reach a resource that does
 * not check fencing tokens; a resource behind a {@link Fence} rejects them once a newer holder
 * has used it.
 */
public class LockLostException extends LockException {
    private static final long serialVersionUID = 1L;

    private final transient LockKey key;
    private final transient FencingToken token;
    private final LossReason reason;

    /** A loss of the lease on {@code key} granted with {@code token}. */
    public LockLostException(LockKey key, FencingToken token, LossReason reason) {
        this(key, token, reason, "Lock " + key + " (" + token + ") lost: " + reason.description());
    }

    /** A loss with a custom message. */
    public LockLostException(LockKey key, FencingToken token, LossReason reason, String message) {
        super(message);
        this.key = Objects.requireNonNull(key, "key");
        this.token = Objects.requireNonNull(token, "token");
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    /** The key of the lost lease. */
    public LockKey key() {
        return key;
    }

    /** The token of the lost lease; a fenced resource rejects it once a newer holder has used the resource. */
    public FencingToken token() {
        return token;
    }

    /** Why the lease was lost. */
    public LossReason reason() {
        return reason;
    }
}
