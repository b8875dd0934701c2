package dev.baton.lock;

/**
 * How a lock is held.
 *
 * <p><b>Current behaviour:</b> only {@link #EXCLUSIVE} is implemented; asking for
 * {@link #SHARED} fails with {@link UnsupportedOperationException} before anything is written,
 * until the hierarchy work lands.
 */
public enum LockMode {
    /** One holder at a time. */
    EXCLUSIVE,
    /** Any number of shared holders at a time, excluding every exclusive holder (not yet implemented). */
    SHARED
}
