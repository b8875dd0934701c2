package dev.baton.lock;

/**
 * Work that must run on at most one participant of a {@link LeaderElection} at a time: see
 * {@link LeaderElection#runAsSingleton(SingletonJob)}.
 */
@FunctionalInterface
public interface SingletonJob {
    /**
     * Does the work for one run. When the term ends, the thread is interrupted: stop promptly,
     * and pass {@code leadership.token()} with every write so that a run that does not stop in
     * time is refused by the resource.
     *
     * @param leadership the term this run belongs to
     * @throws Exception anything; it is logged and ends this run
     */
    void run(Leadership leadership) throws Exception;
}
