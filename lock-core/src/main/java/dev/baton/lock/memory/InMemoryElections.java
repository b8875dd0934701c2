package dev.baton.lock.memory;

import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.AbstractElection;
import dev.baton.lock.internal.Ticker;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * The leader elections of an {@link InMemoryLockService}: participants of one name form a group;
 * the one that joined first leads, then the next in joining order. Terms take their tokens from
 * the service's one counter, under the service's lock; scheduled runs are timed on the service's
 * monotonic clock. Thread-safe.
 */
final class InMemoryElections {
    private final ReentrantLock lock;
    /** The service's token counter; called under {@link #lock}. */
    private final LongSupplier nextToken;
    /** Whether the service is closed; read under {@link #lock}. */
    private final BooleanSupplier closed;
    private final Ticker ticker;
    private final Map<LockKey, List<MemElection>> elections = new HashMap<>();
    /**
     * Orders the beginnings and ends of terms. Held while they run, after {@link #lock} is
     * released, so that listeners they call may query the service from any thread.
     */
    private final Object transitions = new Object();
    /** Start of the last run of each scheduled job, by election and job name, on the ticker. */
    private final Map<String, Long> lastRuns = new HashMap<>();

    InMemoryElections(ReentrantLock lock, LongSupplier nextToken, BooleanSupplier closed, Ticker ticker) {
        this.lock = lock;
        this.nextToken = nextToken;
        this.closed = closed;
        this.ticker = ticker;
    }

    /** Joins {@code name}'s group; the first to join leads at once. */
    LeaderElection join(String name, String participantId) {
        MemElection election = new MemElection(name, participantId);
        synchronized (transitions) {
            List<Runnable> then = new ArrayList<>(1);
            lock.lock();
            try {
                if (closed.getAsBoolean()) {
                    throw new IllegalStateException("LockService is closed: cannot join election " + name);
                }
                List<MemElection> group = elections.computeIfAbsent(LockKey.parse(election.name()), k -> new ArrayList<>());
                group.add(election);
                if (group.size() == 1) {
                    then.add(election.begin());
                }
            } finally {
                lock.unlock();
            }
            then.forEach(Runnable::run);
        }
        return election;
    }

    /** Ends every leader's term with {@code reason}; the leader goes to the back of its group. */
    void loseAll(LossReason reason) {
        synchronized (transitions) {
            List<Runnable> then = new ArrayList<>();
            lock.lock();
            try {
                for (List<MemElection> group : elections.values()) {
                    MemElection leader = group.remove(0);
                    then.add(() -> leader.end(reason));
                    group.add(leader);
                    then.add(group.get(0).begin());
                }
            } finally {
                lock.unlock();
            }
            then.forEach(Runnable::run);
        }
    }

    /** Every participant, for the service's close; caller holds the lock. */
    List<LeaderElection> joined() {
        List<LeaderElection> all = new ArrayList<>();
        elections.values().forEach(all::addAll);
        return all;
    }

    private final class MemElection extends AbstractElection {
        MemElection(String name, String participantId) {
            super(name, participantId);
        }

        void end(LossReason reason) {
            endTerm(reason);
        }

        /**
         * Takes the next token and returns the step that begins a term with it, to run after the
         * lock is released (listeners must not run under it); caller holds the lock and
         * {@code transitions}, which orders the steps.
         */
        Runnable begin() {
            if (closed.getAsBoolean()) {
                return () -> { }; // the service is closing its elections one by one: no new terms
            }
            FencingToken token = FencingToken.of(nextToken.getAsLong());
            return () -> beginTerm(token, Instant.now(), epoch());
        }

        @Override
        protected Duration claimRun(String job, Duration period, Leadership term) {
            lock.lock();
            try {
                List<MemElection> group = elections.get(LockKey.parse(name()));
                if (group == null || group.isEmpty() || group.get(0) != this || !term.isValid()) {
                    term.ensureValid();
                    throw new LockLostException(LockKey.parse(name()), term.token(), LossReason.REVOKED);
                }
                String id = name() + "/" + job;
                long now = ticker.nanos();
                Long last = lastRuns.get(id);
                if (last != null && now - last < period.toNanos()) {
                    return Duration.ofNanos(period.toNanos() - (now - last));
                }
                lastRuns.put(id, now);
                return Duration.ZERO;
            } finally {
                lock.unlock();
            }
        }

        @Override
        protected void leave() {
            synchronized (transitions) {
                Runnable then = () -> { };
                lock.lock();
                try {
                    LockKey key = LockKey.parse(name());
                    List<MemElection> group = elections.get(key);
                    if (group == null) {
                        return;
                    }
                    boolean led = !group.isEmpty() && group.get(0) == this;
                    group.remove(this);
                    if (group.isEmpty()) {
                        elections.remove(key);
                    } else if (led) {
                        then = group.get(0).begin();
                    }
                } finally {
                    lock.unlock();
                }
                then.run();
            }
        }

        @Override
        public Optional<String> currentLeader() {
            lock.lock();
            try {
                List<MemElection> group = elections.get(LockKey.parse(name()));
                return group == null || group.isEmpty() ? Optional.empty() : Optional.of(group.get(0).participantId());
            } finally {
                lock.unlock();
            }
        }

        @Override
        public List<String> participants() {
            lock.lock();
            try {
                List<MemElection> group = elections.get(LockKey.parse(name()));
                List<String> ids = new ArrayList<>();
                if (group != null) {
                    group.forEach(e -> ids.add(e.participantId()));
                }
                return ids;
            } finally {
                lock.unlock();
            }
        }
    }
}
