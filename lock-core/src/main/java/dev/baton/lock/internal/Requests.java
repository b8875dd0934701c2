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
        return begin(key, options, Ticker.system());
    }

    /** {@link #begin(LockKey, LockOptions)}, the deadline on {@code ticker}. */
    public static long begin(LockKey key, LockOptions options, Ticker ticker) throws InterruptedException {
        checkAcquire(key, options);
        return startWait(options, key, ticker);
    }

    /**
     * Starts an {@code acquireAll} whose keys {@link #checkAll} returned, as {@link #begin} starts
     * an {@code acquire}: fails at once if the thread is interrupted, returns the deadline.
     */
    public static long beginAll(Map<LockKey, LockMode> checkedKeys, LockOptions options) throws InterruptedException {
        return beginAll(checkedKeys, options, Ticker.system());
    }

    /** {@link #beginAll(Map, LockOptions)}, the deadline on {@code ticker}. */
    public static long beginAll(Map<LockKey, LockMode> checkedKeys, LockOptions options, Ticker ticker)
            throws InterruptedException {
        return startWait(options, checkedKeys.keySet(), ticker);
    }

    private static long startWait(LockOptions options, Object what, Ticker ticker) throws InterruptedException {
        long deadline = deadline(options.waitAtMost().orElse(null), ticker);
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
        return deadline(maxWait, Ticker.system());
    }

    /** {@link #deadline(Duration)} on {@code ticker}. */
    public static long deadline(Duration maxWait, Ticker ticker) {
        if (maxWait == null) {
            return Long.MAX_VALUE;
        }
        try {
            return Math.addExact(ticker.nanos(), saturatedNanos(maxWait));
        } catch (ArithmeticException tooFar) {
            return Long.MAX_VALUE;
        }
    }

    /** Nanoseconds left until {@code deadline} (from {@link #deadline}), at least 0. */
    public static long remainingNanos(long deadline) {
        return remainingNanos(deadline, Ticker.system());
    }

    /** {@link #remainingNanos(long)} on {@code ticker}, which made the deadline. */
    public static long remainingNanos(long deadline, Ticker ticker) {
        if (deadline == Long.MAX_VALUE) {
            return Long.MAX_VALUE;
        }
        return Math.max(0, deadline - ticker.nanos());
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
