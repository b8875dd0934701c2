package dev.baton.lock.internal;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/** Argument checks and time arithmetic shared by the implementations. Not part of Baton's API. */
public final class Requests {
    private Requests() {
    }

    /**
     * Starts an acquire: checks the request ({@link #checkAcquire}), fails at once if the thread
     * is already interrupted (clearing the flag, as a thrown {@link InterruptedException} does),
     * and returns the {@link System#nanoTime()} deadline of the wait ({@link #deadline}).
     */
    public static long begin(LockKey key, LockOptions options) throws InterruptedException {
        checkAcquire(key, options);
        return startWait(options, key);
    }

    /**
     * Starts an {@code acquireAll} whose keys {@link #checkAll} returned, as {@link #begin} starts
     * an {@code acquire}: fails at once if the thread is interrupted, returns the deadline.
     */
    public static long beginAll(Map<LockKey, LockMode> checkedKeys, LockOptions options) throws InterruptedException {
        return startWait(options, checkedKeys.keySet());
    }

    private static long startWait(LockOptions options, Object what) throws InterruptedException {
        long deadline = deadline(options.waitAtMost().orElse(null));
        if (Thread.interrupted()) {
            throw new InterruptedException("Interrupted before acquiring " + what);
        }
        return deadline;
    }

    /**
     * Starts an {@code acquireAll}: checks the keys ({@link Granule#checkAll}) and the options, as
     * {@link #begin} does for one key.
     *
     * @return the keys in {@link Granule#ORDER}; the deadline is {@link #deadline} of the wait
     */
    public static Map<LockKey, LockMode> checkAll(Map<LockKey, LockMode> keys, LockOptions options) {
        Map<LockKey, LockMode> ordered = Granule.checkAll(keys, dev.baton.lock.LockService.MAX_KEYS_PER_REQUEST);
        checkAcquire(ordered.keySet().iterator().next(), options);
        return ordered;
    }

    /**
     * Checks an acquire request before anything is done with it: nulls.
     *
     * @throws NullPointerException naming the null argument
     */
    public static void checkAcquire(LockKey key, LockOptions options) {
        Objects.requireNonNull(key, "key must not be null");
        Objects.requireNonNull(options, "options must not be null");
    }

    /**
     * The {@link System#nanoTime()} deadline for a wait of {@code maxWait} starting now, saturating
     * instead of overflowing; {@link Long#MAX_VALUE} for no limit (a null wait).
     */
    public static long deadline(Duration maxWait) {
        if (maxWait == null) {
            return Long.MAX_VALUE;
        }
        try {
            return Math.addExact(System.nanoTime(), saturatedNanos(maxWait));
        } catch (ArithmeticException tooFar) {
            return Long.MAX_VALUE;
        }
    }

    /** Nanoseconds left until {@code deadline} (from {@link #deadline}), at least 0. */
    public static long remainingNanos(long deadline) {
        if (deadline == Long.MAX_VALUE) {
            return Long.MAX_VALUE;
        }
        return Math.max(0, deadline - System.nanoTime());
    }

    /** {@code d} in nanoseconds, {@link Long#MAX_VALUE} if it does not fit. */
    public static long saturatedNanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException tooLong) {
            return d.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
    }
}
