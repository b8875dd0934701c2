package dev.baton.lock;

/**
 * The body of {@link LockService#withLock}: code that runs while a lease is held.
 *
 * @param <T> what the body returns
 * @param <E> the checked exception the body may throw, inferred from the lambda
 *     ({@link RuntimeException} when it throws none)
 */
@FunctionalInterface
public interface CriticalSection<T, E extends Exception> {
    /**
     * Runs the body. Pass {@code lease.token()} to every resource you touch, and expect to be
     * interrupted if the lease is lost.
     */
    T run(Lease lease) throws E;
}
