package dev.baton.lock.internal;

import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.LeadershipListener;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.LossReason;
import dev.baton.lock.Singleton;
import dev.baton.lock.SingletonJob;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * What every {@link LeaderElection} implementation shares: the current term, listeners, and the
 * threads of singleton and scheduled jobs. An implementation reports the store's verdicts through
 * {@link #beginTerm} and {@link #endTerm}, records scheduled runs in {@link #claimRun}, and leaves
 * the group in {@link #leave}. Not part of Baton's API.
 *
 * <p><b>Ordering.</b> A term begins only if no end signal came since the implementation read
 * {@link #epoch()} before confirming it, so a loss that races with a confirmation is never
 * forgotten. Begin and end notifications are delivered in order.
 */
public abstract class AbstractElection implements LeaderElection {
    private static final System.Logger LOG = System.getLogger(AbstractElection.class.getName());

    /** A run still going this long after its term ended is reported as overrunning. */
    static final Duration OVERRUN_GRACE = Duration.ofSeconds(1);
    /** How long {@link #close()} waits for runs to end before resigning anyway. */
    static final Duration CLOSE_WAIT = Duration.ofSeconds(2);
    /** Pause after a failed run (WHILE_LEADER) or a failed attempt to record a scheduled run. */
    static final Duration RETRY_PAUSE = Duration.ofSeconds(1);

    private final LockKey key;
    private final String participantId;

    /** Held while a term begins or ends, so that listeners hear of both in order. */
    private final Object transitions = new Object();
    private final Object lock = new Object();
    // guarded by lock
    private Term term;
    private long epoch;
    private boolean closed;
    private final List<Runner> runners = new ArrayList<>();
    private final Map<LeadershipListener, Executor> listeners = new LinkedHashMap<>();
    /**
     * Runs the listeners added without an executor, one call at a time in order, so that a slow
     * one holds up neither the store's threads nor a term's end; made on first use, shut down
     * (after what it was given) by {@link #close()}.
     */
    private ExecutorService notifier;
    /** The notifier's thread, once made. */
    private volatile Thread notifierThread;

    protected AbstractElection(String name, String participantId) {
        this.key = Elections.checkName(name);
        this.participantId = Elections.checkParticipantId(participantId);
    }

    // ------------------------------------------------------------------ for implementations

    /** Advanced by every {@link #endTerm}; read it before confirming a term. */
    protected final long epoch() {
        synchronized (lock) {
            return epoch;
        }
    }

    /**
     * Begins a term, unless the election is closed, a term is already going on, or an end signal
     * came after {@code epochBefore} was read.
     *
     * @return the new term, or null if none began
     */
    protected final Leadership beginTerm(FencingToken token, Instant since, long epochBefore) {
        synchronized (transitions) {
            Term t;
            List<Runner> toStart;
            Map<LeadershipListener, Executor> toTell;
            synchronized (lock) {
                if (closed || term != null || epoch != epochBefore) {
                    return null;
                }
                t = new Term(token, since);
                term = t;
                toStart = new ArrayList<>(runners);
                toTell = new LinkedHashMap<>(listeners);
                lock.notifyAll();
            }
            LOG.log(System.Logger.Level.INFO, "{0} leads election {1} ({2})", participantId, key, token);
            toTell.forEach((l, e) -> tell(e, () -> l.gained(t)));
            toStart.forEach(r -> r.termBegan(t));
            return t;
        }
    }

    /** Ends the current term, if any, for {@code reason}; in any case advances the epoch. Does not block. */
    protected final void endTerm(LossReason reason) {
        Objects.requireNonNull(reason, "reason");
        synchronized (transitions) {
            Term t;
            List<Runner> toStop;
            Map<LeadershipListener, Executor> toTell;
            synchronized (lock) {
                epoch++;
                t = term;
                term = null;
                if (t == null || !t.markLost(reason)) {
                    return;
                }
                toStop = new ArrayList<>(runners);
                toTell = new LinkedHashMap<>(listeners);
            }
            LOG.log(System.Logger.Level.INFO, "{0} no longer leads election {1} ({2}): {3}", participantId, key,
                    t.token(), reason.description());
            toStop.forEach(r -> r.termEnded(t));
            t.fireLost();
            LockLostException why = t.lossOf(reason);
            toTell.forEach((l, e) -> tell(e, () -> l.lost(why)));
        }
    }

    /** The current term, if any. */
    protected final Optional<Leadership> currentTerm() {
        synchronized (lock) {
            return Optional.ofNullable(term);
        }
    }

    /** Whether {@link #close()} has begun. */
    protected final boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    /**
     * Records in the store that the leader of {@code term} starts a run of the scheduled job
     * {@code job} now, if at least {@code period} has passed, on the store's clock, since the
     * group's last recorded run began.
     *
     * @return {@link Duration#ZERO} if the run was recorded and may start; otherwise how long to
     *     wait before asking again
     * @throws LockLostException if {@code term} is no longer the store's current term
     * @throws Exception if the store failed; asked again after a pause
     */
    protected abstract Duration claimRun(String job, Duration period, Leadership term) throws Exception;

    /** Withdraws this participant from the group. Called once, by {@link #close()}; must not throw. */
    protected abstract void leave();

    // ------------------------------------------------------------------------------------ API

    @Override
    public final String name() {
        return key.toString();
    }

    @Override
    public final String participantId() {
        return participantId;
    }

    @Override
    public final boolean isLeader() {
        synchronized (lock) {
            return term != null && term.isValid();
        }
    }

    @Override
    public final Optional<Leadership> leadership() {
        synchronized (lock) {
            return term != null && term.isValid() ? Optional.of(term) : Optional.empty();
        }
    }

    @Override
    public final Leadership awaitLeadership(Duration maxWait) throws InterruptedException {
        Objects.requireNonNull(maxWait, "maxWait must not be null");
        if (maxWait.isNegative()) {
            throw new IllegalArgumentException("maxWait must not be negative, got " + maxWait);
        }
        long deadline = Requests.deadline(maxWait);
        if (Thread.interrupted()) {
            throw new InterruptedException("Interrupted while waiting to lead " + key);
        }
        synchronized (lock) {
            while (true) {
                if (closed) {
                    throw new IllegalStateException("Election " + key + " is closed");
                }
                if (term != null && term.isValid()) {
                    return term;
                }
                long left = Requests.remainingNanos(deadline);
                if (left <= 0) {
                    throw new LockTimeoutException(key, maxWait);
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
        }
    }

    @Override
    public final void addListener(LeadershipListener listener) {
        Executor executor;
        synchronized (lock) {
            if (notifier == null && !closed) {
                notifier = Executors.newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "baton-election-listeners-" + key);
                    t.setDaemon(true);
                    notifierThread = t;
                    return t;
                });
            }
            // once closed nothing more is told: no thread is made for it
            executor = notifier != null ? notifier : Runnable::run;
        }
        addListener(listener, executor);
    }

    @Override
    public final void addListener(LeadershipListener listener, Executor executor) {
        Objects.requireNonNull(listener, "listener must not be null");
        Objects.requireNonNull(executor, "executor must not be null");
        synchronized (transitions) {
            Term now;
            synchronized (lock) {
                listeners.put(listener, executor);
                now = term;
            }
            if (now != null && now.isValid()) {
                tell(executor, () -> listener.gained(now));
            }
        }
    }

    @Override
    public final void removeListener(LeadershipListener listener) {
        synchronized (lock) {
            listeners.remove(listener);
        }
    }

    @Override
    public final Singleton runAsSingleton(String name, Repeat repeat, SingletonJob job) {
        Objects.requireNonNull(repeat, "repeat must not be null");
        return register(new Runner(Elections.checkJobName(name), repeat, null, job));
    }

    @Override
    public final Singleton schedule(String name, Duration period, SingletonJob job) {
        Objects.requireNonNull(period, "period must not be null");
        if (period.isNegative() || period.isZero()) {
            throw new IllegalArgumentException("period must be positive, got " + period);
        }
        return register(new Runner(Elections.checkJobName(name), Repeat.WHILE_LEADER, period, job));
    }

    private Runner register(Runner runner) {
        Objects.requireNonNull(runner.job, "job must not be null");
        synchronized (transitions) {
            Term now;
            synchronized (lock) {
                if (closed) {
                    throw new IllegalStateException("Election " + key + " is closed: cannot run " + runner.name);
                }
                if (runner.period != null) {
                    for (Runner r : runners) {
                        if (r.period != null && r.name.equals(runner.name)) {
                            throw new IllegalStateException("A job named " + runner.name
                                    + " is already scheduled in election " + key);
                        }
                    }
                }
                runners.add(runner);
                now = term;
            }
            if (now != null && now.isValid()) {
                runner.termBegan(now);
            }
            return runner;
        }
    }

    private void unregister(Runner runner) {
        synchronized (lock) {
            runners.remove(runner);
        }
    }

    @Override
    public final void close() {
        List<Runner> toStop;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            toStop = new ArrayList<>(runners);
            lock.notifyAll();
        }
        endTerm(LossReason.RESIGNED);
        ExecutorService listenersThread;
        synchronized (lock) {
            listenersThread = notifier;
        }
        if (listenersThread != null) {
            listenersThread.shutdown(); // after telling the listeners of the resignation
        }
        toStop.forEach(Runner::close);
        long until = System.nanoTime() + CLOSE_WAIT.toNanos();
        boolean interrupted = false;
        for (Runner r : toStop) {
            try {
                r.awaitStopped(until);
            } catch (InterruptedException e) {
                interrupted = true;
                break;
            }
        }
        // tell the listeners of the resignation before leaving, so that in this process the next
        // leader's gained comes after it; waiting no longer than for the jobs
        if (listenersThread != null && !interrupted && Thread.currentThread() != notifierThread) {
            try {
                listenersThread.awaitTermination(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        leave();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "{" + key + ", " + participantId + (isLeader() ? ", leader" : "") + "}";
    }

    private void tell(Executor executor, Runnable r) {
        try {
            executor.execute(() -> {
                try {
                    r.run();
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "Leadership listener of election " + key + " threw", e);
                }
            });
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "Leadership listener of election " + key + " could not be scheduled", e);
        }
    }

    // -------------------------------------------------------------------------------- term

    private final class Term extends AbstractLease implements Leadership {
        private final Instant since;

        Term(FencingToken token, Instant since) {
            super(key, LockMode.EXCLUSIVE, token);
            this.since = Objects.requireNonNull(since, "since");
        }

        @Override
        public String election() {
            return key.toString();
        }

        @Override
        public Instant since() {
            return since;
        }

        @Override
        protected LockLostException lossOf(LossReason reason) {
            return new LockLostException(key, token(), reason, "Leadership of election " + key + " ("
                    + token() + ") by " + participantId + " ended: " + reason.description());
        }

        @Override
        protected void release() {
            // a term ends only by loss or resignation (closing the election)
        }
    }

    // ------------------------------------------------------------------------------- runner

    /** One registered job: starts a run per term, interrupts it when the term ends. */
    private final class Runner implements Singleton {
        final String name;
        final Repeat repeat;
        final Duration period;
        final SingletonJob job;

        // guarded by this
        private Run current;
        private boolean stopped;
        private long runs;
        private long longestOverrunNanos;

        Runner(String name, Repeat repeat, Duration period, SingletonJob job) {
            this.name = name;
            this.repeat = repeat;
            this.period = period;
            this.job = job;
        }

        synchronized void termBegan(Term t) {
            if (stopped || (current != null && current.term == t)) {
                return;
            }
            current = new Run(t, current);
            current.thread.start();
        }

        synchronized void termEnded(Term t) {
            if (current != null && current.term == t) {
                current.stop();
            }
        }

        void awaitStopped(long until) throws InterruptedException {
            List<Thread> threads = new ArrayList<>();
            synchronized (this) {
                for (Run r = current; r != null; r = r.previous) {
                    threads.add(r.thread);
                }
            }
            threads.remove(Thread.currentThread()); // a job closing its own election
            for (Thread t : threads) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public synchronized boolean isRunning() {
            // a new term's run waits for the previous one, which may still overrun
            for (Run r = current; r != null; r = r.previous) {
                if (r.inJob) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public synchronized long runs() {
            return runs;
        }

        @Override
        public synchronized Duration longestOverrun() {
            return Duration.ofNanos(longestOverrunNanos);
        }

        @Override
        public void close() {
            synchronized (this) {
                if (stopped) {
                    return;
                }
                stopped = true;
                if (current != null) {
                    current.stop();
                }
            }
            unregister(this);
        }

        synchronized boolean shouldGoOn(Term t) {
            return !stopped && t.isValid();
        }

        synchronized void started(Run run) {
            runs++;
            run.inJob = true;
        }

        synchronized void ended(Run run, long overrunNanos) {
            run.inJob = false;
            longestOverrunNanos = Math.max(longestOverrunNanos, overrunNanos);
        }

        /** One term's worth of runs, on its own thread. */
        private final class Run {
            final Term term;
            final Thread thread;
            // guarded by Runner.this
            /** The run of an earlier term, until it has ended (then null, so runs do not chain up). */
            Run previous;
            boolean inJob;
            long stoppedAt;

            Run(Term term, Run previous) {
                this.term = term;
                this.previous = previous;
                this.thread = new Thread(this::loop, "baton-job-" + name);
                this.thread.setDaemon(true);
            }

            /** Caller holds Runner.this. */
            void stop() {
                if (stoppedAt != 0 || !thread.isAlive()) {
                    return;
                }
                stoppedAt = System.nanoTime();
                thread.interrupt();
                if (inJob) {
                    CompletableFuture.delayedExecutor(OVERRUN_GRACE.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
                        if (thread.isAlive()) {
                            LOG.log(System.Logger.Level.WARNING, "Singleton job {0} of election {1} is still running {2} ms"
                                    + " after its term ({3}) ended: it ignores the interrupt; its late writes carry the"
                                    + " old token", name, key, OVERRUN_GRACE.toMillis(), term.token());
                        }
                    });
                }
            }

            void loop() {
                try {
                    Run before;
                    synchronized (Runner.this) {
                        before = previous;
                    }
                    if (before != null) {
                        before.thread.join(); // never two runs of one job at once on this participant
                        synchronized (Runner.this) {
                            previous = null;
                        }
                    }
                    while (shouldGoOn(term)) {
                        if (period != null) {
                            Duration wait;
                            try {
                                wait = claimRun(name, period, term);
                            } catch (InterruptedException e) {
                                throw e;
                            } catch (Exception e) {
                                if (term.isValid()) {
                                    LOG.log(System.Logger.Level.WARNING, "Could not record a run of " + name
                                            + " in election " + key + "; trying again", e);
                                    pause(RETRY_PAUSE);
                                }
                                continue;
                            }
                            if (!wait.isZero()) {
                                pause(wait.compareTo(period) > 0 ? period : wait);
                                continue;
                            }
                        }
                        boolean failed = runOnce();
                        if (Thread.interrupted() || (period == null && repeat == Repeat.ONCE_PER_TERM)) {
                            return;
                        }
                        if (failed && shouldGoOn(term)) {
                            pause(RETRY_PAUSE);
                        }
                    }
                } catch (InterruptedException e) {
                    // the term ended or the job was closed while waiting
                }
            }

            /** Runs the job once; returns whether it failed. */
            private boolean runOnce() {
                started(this);
                boolean failed = false;
                try {
                    job.run(term);
                } catch (Throwable t) {
                    failed = true;
                    if (term.isValid() && !(t instanceof InterruptedException)) {
                        LOG.log(System.Logger.Level.WARNING, "Singleton job " + name + " of election " + key + " failed", t);
                    }
                } finally {
                    long overrun;
                    synchronized (Runner.this) {
                        overrun = stoppedAt == 0 ? 0 : System.nanoTime() - stoppedAt;
                    }
                    ended(this, overrun);
                    if (overrun >= OVERRUN_GRACE.toNanos()) {
                        LOG.log(System.Logger.Level.WARNING, "Singleton job {0} of election {1} overran its term ({2})"
                                + " by {3} ms: it ignored the interrupt", name, key, term.token(),
                                TimeUnit.NANOSECONDS.toMillis(overrun));
                    }
                }
                return failed;
            }
        }
    }

    private static void pause(Duration d) throws InterruptedException {
        TimeUnit.NANOSECONDS.sleep(Requests.saturatedNanos(d));
    }
}
