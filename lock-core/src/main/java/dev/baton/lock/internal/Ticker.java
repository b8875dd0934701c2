package dev.baton.lock.internal;

/**
 * A monotonic clock in nanoseconds, as {@link System#nanoTime()}: only differences between two
 * readings mean anything. Wait deadlines, lease upkeep, settling and lock delays read it, so a
 * test can advance time instead of sleeping. Not part of Baton's API.
 */
@FunctionalInterface
public interface Ticker {
    /** The current reading; successive readings never decrease (modulo the wrap of a long). */
    long nanos();

    /** {@link System#nanoTime()}. */
    static Ticker system() {
        return System::nanoTime;
    }
}
