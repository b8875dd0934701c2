package dev.baton.lock;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * One participant in a named leader election, from {@link LockService#election(String)}. It
 * joins the group at once; {@link #close()} leaves it (resigning, if it leads, so that another
 * participant takes over without waiting for a session to expire).
 *
 * <pre>{@code
 * LeaderElection election = locks.election("billing-run");
 * election.runAsSingleton(leadership -> {
 *     for (Batch batch : pendingBatches()) {
 *         ledger.apply(batch, leadership.token());   // the resource checks the token
 *     }
 * });
 * }</pre>
 *
 * <p><b>Guarantees.</b> At most one participant holds a valid {@link Leadership} at a time while
 * the store works, and each term's token is greater than every earlier term's, across leader
 * crashes, resignations and reconnections. A term ends when the store can no longer vouch for
 * it, under the same policy as a lease (by default the moment the connection is suspended); a
 * leader that is paused learns this late, so a resource it writes must check the token.
 *
 * <p><b>Singleton jobs.</b> {@link #runAsSingleton} runs a job only while this participant leads,
 * interrupts it when the term ends, and runs it again when a new term begins. A run that
 * ignores the interrupt is reported (a warning with the job's name and how long it overran), is
 * never run twice at once on this participant, and is stopped at the resource by its old token.
 *
 * <p>Listeners added without an executor run on the election's own listener thread, one call
 * at a time, in the order of the changes: one that blocks delays only the next calls to those
 * listeners, never the election itself (a term still ends while a listener is busy, and
 * {@link #close()}, which lets the listeners hear of the resignation before it leaves the group,
 * waits for them no longer than it waits for singleton jobs). A {@link Leadership#onLost} listener is different: it runs on the
 * thread that detects the end and must not block.
 *
 * <p>Thread-safe.
 */
public interface LeaderElection extends AutoCloseable {

    /** Whether a job registered with {@link #runAsSingleton} runs once per term or in a loop. */
    enum Repeat {
        /**
         * Run once when a term begins; a run that ends (normally or with an exception) is not
         * started again until the next term.
         */
        ONCE_PER_TERM,
        /**
         * Run again as soon as a run ends, for as long as the term lasts (after an exception,
         * one second later). A job that returns at once is started again at once: pace it.
         */
        WHILE_LEADER
    }

    /** The election's name (it follows {@link LockKey}'s rules). */
    String name();

    /** This participant's id, as other participants see it. */
    String participantId();

    /** Whether this participant holds a valid term right now. */
    boolean isLeader();

    /** The current term of this participant, if it leads. */
    Optional<Leadership> leadership();

    /**
     * Waits until this participant leads, at most {@code maxWait} ({@link Duration#ZERO}: check
     * once).
     *
     * @return the current term
     * @throws LockTimeoutException if it did not become leader in time
     * @throws InterruptedException if the waiting thread was interrupted
     * @throws IllegalStateException if the election is closed, or is closed while waiting
     * @throws IllegalArgumentException if {@code maxWait} is negative
     */
    Leadership awaitLeadership(Duration maxWait) throws InterruptedException;

    /**
     * The id of the participant that leads now, as the lock store sees it (it asks the store),
     * or empty if there is none.
     *
     * @throws LockException if the store cannot be asked
     */
    Optional<String> currentLeader();

    /**
     * The ids of every participant, the leader (or next leader) first, then in the order in which
     * they would take over. Asks the store.
     *
     * @throws LockException if the store cannot be asked
     */
    List<String> participants();

    /**
     * Adds a listener, run on this election's listener thread, one call at a time and in order
     * (see above). If a term is going on, it is told at once.
     */
    void addListener(LeadershipListener listener);

    /** Adds a listener run on {@code executor}. If a term is going on, it is told at once. */
    void addListener(LeadershipListener listener, Executor executor);

    /** Removes a listener added earlier; does nothing if it was not added. */
    void removeListener(LeadershipListener listener);

    /**
     * Runs {@code job} once per term, named after the election (its last segment). See
     * {@link #runAsSingleton(String, Repeat, SingletonJob)}.
     */
    default Singleton runAsSingleton(SingletonJob job) {
        String election = name();
        return runAsSingleton(election.substring(election.lastIndexOf('/') + 1), Repeat.ONCE_PER_TERM, job);
    }

    /**
     * Runs {@code job} on its own thread whenever this participant leads. Returns at once. When
     * the term ends the thread is interrupted; when a new term begins the job runs again (only
     * after the previous run has ended).
     *
     * @param name the job's name, for logs (a {@link LockKey} segment: letters, digits, {@code . _ - : @})
     * @throws IllegalStateException if the election is closed
     * @throws IllegalArgumentException if the name is invalid
     */
    Singleton runAsSingleton(String name, Repeat repeat, SingletonJob job);

    /**
     * Runs {@code job} at most once per {@code period} across the whole group: the leader runs it
     * when a period has passed since the group's last run began, and records each run (its start
     * on the store's clock, its term's token, the participant) in the lock store before it
     * starts, so that a new leader after a failover does not run it again inside the same period.
     * Periods are judged by the lock store's clock, never by comparing two machines' clocks.
     *
     * <p>For ZooKeeper, the record is one small persistent znode per election and job name,
     * kept when every participant has gone (that is how the group remembers).
     *
     * @param name the job's name (a {@link LockKey} segment), unique within the election
     * @throws IllegalStateException if the election is closed, or a job of that name is already scheduled here
     * @throws IllegalArgumentException if the name is invalid or the period not positive
     */
    Singleton schedule(String name, Duration period, SingletonJob job);

    /**
     * Leaves the election: stops every job (interrupting runs and waiting up to two seconds for
     * them to end), ends the current term with {@link LossReason#RESIGNED}, and withdraws from the
     * group so another participant takes over at once. Idempotent.
     */
    @Override
    void close();
}
