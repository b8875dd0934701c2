package dev.baton.lock;

/**
 * A number handed out with every grant, strictly greater for every later grant that conflicts
 * with an earlier one. A resource that remembers the highest token it has seen and refuses lower
 * ones (see {@link Fence}) is safe from a holder that lost its lock without noticing, for example
 * because it was paused by garbage collection.
 *
 * <p>On ZooKeeper the value is a zxid (epoch in the high 32 bits, counter in the low 32); in
 * memory it is a counter. Only the order of tokens carries meaning, and only between tokens of
 * the same lock store.
 *
 * <p>Immutable and thread-safe.
 */
public final class FencingToken implements Comparable<FencingToken> {
    private final long value;

    private FencingToken(long value) {
        this.value = value;
    }

    /**
     * The token with the given value.
     *
     * @throws IllegalArgumentException if {@code value} is not positive
     */
    public static FencingToken of(long value) {
        if (value <= 0) {
            throw new IllegalArgumentException("A fencing token must be positive, got " + value);
        }
        return new FencingToken(value);
    }

    /** The raw value, for storing next to the data the token protects. */
    public long value() {
        return value;
    }

    /** Whether this token is strictly greater than {@code other}. */
    public boolean isNewerThan(FencingToken other) {
        return compareTo(other) > 0;
    }

    @Override
    public int compareTo(FencingToken other) {
        return Long.compare(value, other.value);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FencingToken && ((FencingToken) o).value == value;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(value);
    }

    /** The value in decimal, such as {@code token 4294967301}. */
    @Override
    public String toString() {
        return "token " + value;
    }
}
