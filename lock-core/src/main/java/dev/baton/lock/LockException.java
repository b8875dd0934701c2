package dev.baton.lock;

/**
 * The root of Baton's exceptions. All are unchecked; a waiting thread that is interrupted gets a
 * plain {@link InterruptedException} instead.
 */
public class LockException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** An exception with the given message. */
    public LockException(String message) {
        super(message);
    }

    /** An exception with the given message and cause. */
    public LockException(String message, Throwable cause) {
        super(message, cause);
    }
}
