package dev.baton.lock;

/**
 * How a lock is held. A lock on a key covers the key and every key under it.
 *
 * <p>Two leases conflict when one key is the other's or an ancestor of it (or the two are the
 * same), and at least one of them is {@link #EXCLUSIVE}. Leases on unrelated keys
 * ({@code billing/account/42}, {@code billing/account/43}) never conflict.
 */
public enum LockMode {
    /** One holder at a time, of the key and everything under it. */
    EXCLUSIVE,
    /** Any number of shared holders of the key and its descendants at a time, and no exclusive one. */
    SHARED
}
