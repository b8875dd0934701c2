package dev.baton.lock;

import java.time.Duration;

/**
 * A job registered with {@link LeaderElection#runAsSingleton} or {@link LeaderElection#schedule}.
 * Closing it stops it on this participant; closing the election stops all of them.
 *
 * <p>Thread-safe.
 */
public interface Singleton extends AutoCloseable {
    /** The job's name, used in logs and, for scheduled jobs, in the lock store. */
    String name();

    /** Whether a run of the job is going on on this participant right now. */
    boolean isRunning();

    /** How many runs of the job have started on this participant. */
    long runs();

    /**
     * The longest time a run went on after its term had ended (it ignored the interrupt), or
     * {@link Duration#ZERO}. Each such overrun is also logged as a warning with the job's name.
     */
    Duration longestOverrun();

    /**
     * Stops the job on this participant: a running run is interrupted, and no new run starts.
     * Does not wait for the run to end. Idempotent.
     */
    @Override
    void close();
}
