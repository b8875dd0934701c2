package dev.baton.lock;

import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import static dev.baton.lock.ContractTags.EVERY_LINE;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The behaviour every {@link LeaderElection} must have. An implementation's test extends this
 * class and supplies {@link #newService()} and {@link #loseSession}; every test here then runs
 * against it. Each test uses its own election names, so implementations may share one lock store
 * across tests.
 *
 * <p>Participants of one group normally come from different services (for ZooKeeper: different
 * sessions), so that one participant's session can be lost while the others go on.
 *
 * <p>Waits are bounded (Awaitility, latches and futures with timeouts); nothing here sleeps to
 * synchronise. The slowest test (scheduled jobs across a failover) takes about one
 * {@link #SCHEDULE_PERIOD}.
 */
public abstract class LeaderElectionContract extends ContractBase {
    /** For subclasses, one per implementation under test. */
    protected LeaderElectionContract() {
    }

    /** Upper bound for anything that should happen "soon" on a loaded machine. */
    /** The period of the scheduled job in {@link #scheduledJobRunsAtMostOncePerPeriodAcrossAFailover}. */
    protected static final Duration SCHEDULE_PERIOD = Duration.ofSeconds(2);
    /**
     * How much closer than {@link #SCHEDULE_PERIOD} two scheduled runs may start, as this JVM sees
     * it: the store's clock decides, and a run starts a little after its record is written.
     */
    protected static final Duration SCHEDULE_TOLERANCE = Duration.ofMillis(200);
    /** How long a "nothing more happens" check watches. */
    private static final Duration QUIET = Duration.ofMillis(300);

    /**
     * Makes {@code service} lose its session (or connection) as a fault would: for ZooKeeper, the
     * server expires the session. Its leader, if it has one, loses its term; afterwards the service
     * keeps working and its participants rejoin (with a new session) behind the others. The suite
     * calls it only for a service whose participant leads.
     */
    protected abstract void loseSession(LockService service) throws Exception;

    /** An election name (one key segment) unique to this test run. */
    protected final String name(String suffix) {
        return "contract-" + prefix() + "-" + suffix;
    }

    // ------------------------------------------------------------------------------ helpers

    /** One participant, joined through its own service. */
    private static final class Member {
        final LockService service;
        final LeaderElection election;

        Member(LockService service, LeaderElection election) {
            this.service = service;
            this.election = election;
        }

        String id() {
            return election.participantId();
        }

        @Override
        public String toString() {
            return id();
        }
    }

    /** Joins {@code name} as {@code id} through a new service, reporting terms to {@code history} if given. */
    private Member join(String name, String id, History history) throws Exception {
        LockService s = service();
        LeaderElection e = s.election(name, id);
        if (history != null) {
            e.addListener(history.listener(id));
        }
        return new Member(s, e);
    }

    private static ConditionFactory soon() {
        return await().atMost(PATIENCE).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(10));
    }

    /**
     * Checks that {@code condition} holds now and for the next {@link #QUIET} (for conditions
     * that, once false, stay false: it then fails soon instead of after {@link #PATIENCE}).
     */
    private static void stays(String alias, Callable<Boolean> condition) {
        await().alias(alias).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(10)).during(QUIET)
                .atMost(QUIET.plusSeconds(2)).until(condition);
    }

    /** Waits until one of {@code members} leads, and returns it. */
    private static Member awaitLeader(Collection<Member> members) {
        AtomicReference<Member> leader = new AtomicReference<>();
        soon().alias("one of " + members + " leads").until(() -> {
            for (Member m : members) {
                if (m.election.isLeader()) {
                    leader.set(m);
                    return true;
                }
            }
            return false;
        });
        return leader.get();
    }

    /** Waits until {@code m} leads a term with a token greater than {@code after} (if given). */
    private static Leadership awaitTerm(Member m, Leadership after) {
        AtomicReference<Leadership> term = new AtomicReference<>();
        soon().alias(m + " leads a new term").until(() -> {
            Optional<Leadership> now = m.election.leadership();
            if (now.isPresent() && (after == null || now.get().token().isNewerThan(after.token()))) {
                term.set(now.get());
                return true;
            }
            return false;
        });
        return term.get();
    }

    private static void assertMessage(Class<? extends Throwable> type, String fragment, Executable call) {
        Throwable t = assertThrows(type, call);
        assertNotNull(t.getMessage(), type.getSimpleName() + " without a message");
        if (!t.getMessage().contains(fragment)) {
            fail("message \"" + t.getMessage() + "\" does not name \"" + fragment + "\"");
        }
    }

    /** Gained and lost notices of every participant of a group, in the order the listeners ran. */
    private static final class History {
        record Event(long seq, long nanos, String participant, Leadership gained, LockLostException lost) {
            FencingToken token() {
                return gained != null ? gained.token() : lost.token();
            }
        }

        private final List<Event> events = new ArrayList<>();

        LeadershipListener listener(String participant) {
            return new LeadershipListener() {
                @Override
                public void gained(Leadership leadership) {
                    record(participant, leadership, null);
                }

                @Override
                public void lost(LockLostException why) {
                    record(participant, null, why);
                }
            };
        }

        private synchronized void record(String participant, Leadership gained, LockLostException lost) {
            events.add(new Event(events.size(), System.nanoTime(), participant, gained, lost));
        }

        synchronized List<Event> events() {
            return new ArrayList<>(events);
        }

        /** The gained notice of the term with {@code token}, if it came. */
        synchronized Optional<Event> gainedOf(FencingToken token) {
            return events.stream().filter(e -> e.gained != null && e.token().equals(token)).findFirst();
        }

        /**
         * Checks that terms never overlapped (each lost notice comes before the next term's gained
         * notice), that each term was gained once and lost at most once by the participant that
         * gained it, and that tokens strictly increase from term to term.
         */
        void assertSequential() {
            List<Event> all = events();
            Event open = null;
            FencingToken last = null;
            Set<FencingToken> seen = new HashSet<>();
            for (Event e : all) {
                if (e.gained != null) {
                    if (open != null) {
                        fail(e.participant + " gained " + e.token() + " while " + open.participant + "'s term "
                                + open.token() + " had not ended: " + all);
                    }
                    if (last != null && !e.token().isNewerThan(last)) {
                        fail("term " + e.token() + " of " + e.participant + " is not newer than the earlier " + last
                                + ": " + all);
                    }
                    assertTrue(seen.add(e.token()), "term " + e.token() + " gained twice: " + all);
                    open = e;
                    last = e.token();
                } else {
                    if (open == null || !open.token().equals(e.token()) || !open.participant.equals(e.participant)) {
                        fail(e.participant + " lost " + e.token() + ", which was not the term going on (" + open
                                + "): " + all);
                    }
                    open = null;
                }
            }
        }
    }

    /**
     * A singleton job that records each run, then waits until it is interrupted (at most
     * {@link #PATIENCE}). It counts how many of its runs, on any participant, go on at once.
     */
    private static final class Probe {
        static final class Run {
            final String participant;
            final FencingToken token;
            final long startNanos;
            final AtomicBoolean interrupted = new AtomicBoolean();
            final AtomicBoolean ended = new AtomicBoolean();
            final AtomicReference<RuntimeException> fenceRefused = new AtomicReference<>();

            Run(String participant, FencingToken token, long startNanos) {
                this.participant = participant;
                this.token = token;
                this.startNanos = startNanos;
            }

            @Override
            public String toString() {
                return participant + "@" + token.value();
            }
        }

        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger maxRunning = new AtomicInteger();
        final List<Run> runs = Collections.synchronizedList(new ArrayList<>());
        final Fence fence;
        final String resource;

        Probe(Fence fence, String resource) {
            this.fence = fence;
            this.resource = resource;
        }

        Probe() {
            this(null, null);
        }

        SingletonJob jobOf(String participant) {
            return leadership -> {
                maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                Run run = new Run(participant, leadership.token(), System.nanoTime());
                try {
                    if (fence != null) {
                        try {
                            fence.check(resource, leadership.token());
                        } catch (RuntimeException e) {
                            run.fenceRefused.set(e);
                        }
                    }
                    runs.add(run);
                    try {
                        new CountDownLatch(1).await(PATIENCE.toMillis(), TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        run.interrupted.set(true);
                        throw e;
                    }
                } finally {
                    running.decrementAndGet();
                    run.ended.set(true);
                }
            };
        }

        List<Run> runs() {
            synchronized (runs) {
                return new ArrayList<>(runs);
            }
        }
    }

    /**
     * Watches a group for two valid terms at once. A term, once ended, is never valid again; so if
     * a term read valid in the first pass is still valid when the second pass rechecks it, it was
     * valid throughout, including when the first pass read the next participant's term valid.
     */
    private Future<Void> overlapSampler(List<Member> members, AtomicBoolean stop, AtomicLong samples,
                                        List<String> overlaps) {
        return async(() -> {
            while (!stop.get()) {
                List<Leadership> seen = new ArrayList<>();
                List<Member> who = new ArrayList<>();
                for (Member m : members) {
                    Optional<Leadership> l = m.election.leadership();
                    if (l.isPresent()) {
                        seen.add(l.get());
                        who.add(m);
                    }
                }
                for (int i = 0; i < seen.size() - 1; i++) {
                    if (seen.get(i).isValid()) {
                        overlaps.add(who.get(i) + " (" + seen.get(i).token() + ") and " + who.get(seen.size() - 1) + " ("
                                + seen.get(seen.size() - 1).token() + ") led at once");
                    }
                }
                samples.incrementAndGet();
                LockSupport.parkNanos(200_000);
            }
            return null;
        });
    }

    // ------------------------------------------------------------------ one leader, handovers

    @Test
    @Tag(EVERY_LINE)
    void exactlyOneLeaderAndOrderlyHandoversWithIncreasingTokens() throws Exception {
        String name = name("five");
        History history = new History();
        List<Member> alive = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            alive.add(join(name, "p" + i, history));
        }
        Set<String> ids = new HashSet<>();
        alive.forEach(m -> ids.add(m.id()));

        Member leader = awaitLeader(alive);
        Leadership term = leader.election.awaitLeadership(Duration.ZERO);
        assertSame(term, leader.election.leadership().orElseThrow());
        for (Member m : alive) {
            if (m != leader) {
                assertFalse(m.election.isLeader(), m + " leads too, beside " + leader);
                assertEquals(Optional.empty(), m.election.leadership());
            }
        }
        String leaderId = leader.id();
        for (Member m : alive) {
            soon().alias(m + " sees " + leaderId + " lead").until(() -> m.election.currentLeader().equals(Optional.of(leaderId)));
            soon().alias(m + " sees all five, the leader first").until(() -> {
                List<String> p = m.election.participants();
                return p.size() == 5 && new HashSet<>(p).equals(ids) && p.get(0).equals(leaderId);
            });
        }

        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong samples = new AtomicLong();
        List<String> overlaps = Collections.synchronizedList(new ArrayList<>());
        Future<Void> sampler = overlapSampler(new ArrayList<>(alive), stop, samples, overlaps);
        List<Long> handoverNanos = new ArrayList<>();
        try {
            while (alive.size() > 1) {
                Member old = leader;
                Leadership oldTerm = old.election.leadership().orElseThrow();
                String next = old.election.participants().get(1);
                long closedAt = System.nanoTime();
                old.election.close();
                alive.remove(old);
                assertFalse(old.election.isLeader());
                assertFalse(oldTerm.isValid());
                leader = awaitLeader(alive);
                Leadership newTerm = leader.election.leadership().orElseThrow();
                assertEquals(next, leader.id(), "the participant listed second did not take over");
                assertTrue(newTerm.token().isNewerThan(oldTerm.token()),
                        newTerm.token() + " of " + leader + " is not newer than " + oldTerm.token());
                Leadership t = newTerm;
                soon().until(() -> history.gainedOf(t.token()).isPresent());
                long nanos = history.gainedOf(t.token()).orElseThrow().nanos() - closedAt;
                handoverNanos.add(nanos);
                System.out.printf("handover %s -> %s: %.3f ms%n", old, leader, nanos / 1e6);
                String nowLeading = leader.id();
                Set<String> left = new HashSet<>();
                alive.forEach(m -> left.add(m.id()));
                for (Member m : alive) {
                    soon().alias(m + " sees " + nowLeading + " lead").until(
                            () -> m.election.currentLeader().equals(Optional.of(nowLeading)));
                    soon().alias(m + " sees the rest, the leader first").until(() -> {
                        List<String> p = m.election.participants();
                        return p.size() == left.size() && new HashSet<>(p).equals(left) && p.get(0).equals(nowLeading);
                    });
                }
            }
        } finally {
            stop.set(true);
        }
        sampler.get(PATIENCE.toSeconds(), SECONDS);
        System.out.printf("overlap sampler: %d samples%n", samples.get());
        history.assertSequential();
        assertEquals(List.of(), overlaps, "the sampler saw two terms valid at once");
        assertTrue(samples.get() > 0, "the sampler never ran");
        assertTrue(leader.election.isLeader());
        long terms = history.events().stream().filter(e -> e.gained() != null).count();
        assertEquals(5, terms, "expected five terms, one per participant: " + history.events());
        for (History.Event e : history.events()) {
            if (e.lost() != null) {
                assertEquals(LossReason.RESIGNED, e.lost().reason(), e.participant() + " lost its term: " + e.lost());
            }
        }
        System.out.printf("handover times (ms): %s%n", handoverNanos.stream().map(n -> String.format("%.3f", n / 1e6)).toList());
    }

    // ------------------------------------------------------------------------ awaitLeadership

    @Test
    void awaitLeadershipTimesOutWaitsAndIsInterruptible() throws Exception {
        String name = name("await");
        Member leader = join(name, "first", null);
        Leadership term = awaitTerm(leader, null);
        Member follower = join(name, "second", null);
        soon().until(() -> leader.election.participants().size() == 2);

        assertSame(term, leader.election.awaitLeadership(Duration.ZERO));
        assertSame(term, leader.election.awaitLeadership(PATIENCE));

        long start = System.nanoTime();
        assertThrows(LockTimeoutException.class, () -> follower.election.awaitLeadership(Duration.ZERO));
        assertTrue(System.nanoTime() - start < SECONDS.toNanos(1), "Duration.ZERO did not fail at once");

        start = System.nanoTime();
        LockTimeoutException timeout = assertThrows(LockTimeoutException.class,
                () -> follower.election.awaitLeadership(Duration.ofMillis(200)));
        long waited = System.nanoTime() - start;
        assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(200), "gave up after " + waited / 1_000_000 + " ms");
        assertEquals(Duration.ofMillis(200), timeout.waited());
        assertTrue(timeout.getMessage().contains(name), timeout.getMessage());

        // an interrupted waiter
        AtomicReference<Thread> waiter = new AtomicReference<>();
        Future<Object> interrupted = async(() -> {
            waiter.set(Thread.currentThread());
            try {
                return follower.election.awaitLeadership(PATIENCE);
            } catch (InterruptedException e) {
                return e;
            }
        });
        soon().alias("the waiter waits").until(() -> waiting(waiter.get()) || interrupted.isDone());
        waiter.get().interrupt();
        assertInstanceOf(InterruptedException.class, interrupted.get(PATIENCE.toSeconds(), SECONDS));

        // an already interrupted thread
        Thread.currentThread().interrupt();
        try {
            assertThrows(InterruptedException.class, () -> follower.election.awaitLeadership(PATIENCE));
        } finally {
            Thread.interrupted();
        }

        // a waiter that becomes leader
        AtomicReference<Thread> heir = new AtomicReference<>();
        Future<Leadership> next = async(() -> {
            heir.set(Thread.currentThread());
            return follower.election.awaitLeadership(PATIENCE);
        });
        soon().alias("the follower waits").until(() -> waiting(heir.get()) || next.isDone());
        leader.election.close();
        Leadership followerTerm = next.get(PATIENCE.toSeconds(), SECONDS);
        assertTrue(followerTerm.token().isNewerThan(term.token()));
        assertTrue(followerTerm.isValid());
        assertThrows(IllegalStateException.class, () -> leader.election.awaitLeadership(Duration.ZERO),
                "awaitLeadership on a closed election");
    }

    @Test
    void awaitLeadershipFailsWhenTheElectionIsClosedWhileWaiting() throws Exception {
        String name = name("awaitclose");
        Member leader = join(name, "first", null);
        awaitTerm(leader, null);
        Member follower = join(name, "second", null);
        AtomicReference<Thread> waiter = new AtomicReference<>();
        Future<Object> waiting = async(() -> {
            waiter.set(Thread.currentThread());
            try {
                return follower.election.awaitLeadership(PATIENCE);
            } catch (IllegalStateException e) {
                return e;
            }
        });
        soon().alias("the waiter waits").until(() -> waiting(waiter.get()) || waiting.isDone());
        long start = System.nanoTime();
        follower.election.close();
        Object outcome = waiting.get(PATIENCE.toSeconds(), SECONDS);
        assertInstanceOf(IllegalStateException.class, outcome, "awaitLeadership returned " + outcome);
        assertTrue(System.nanoTime() - start < PATIENCE.toNanos() / 2, "the waiter was not woken by close");
        assertThrows(IllegalStateException.class, () -> follower.election.awaitLeadership(PATIENCE));
        assertTrue(leader.election.isLeader(), "closing a follower ended the leader's term");
    }

    @Test
    void awaitLeadershipRejectsANegativeOrNullWait() throws Exception {
        String name = name("awaitbad");
        Member leader = join(name, "first", null);
        awaitTerm(leader, null);
        Member follower = join(name, "second", null);
        Future<Object> nullWait = async(() -> {
            try {
                return follower.election.awaitLeadership(null);
            } catch (RuntimeException e) {
                return e;
            }
        });
        assertAll(
                () -> assertThrows(IllegalArgumentException.class,
                        () -> leader.election.awaitLeadership(Duration.ofMillis(-1)), "negative wait on the leader"),
                () -> assertThrows(IllegalArgumentException.class,
                        () -> follower.election.awaitLeadership(Duration.ofMillis(-1)), "negative wait on a follower"),
                () -> assertThrows(NullPointerException.class,
                        () -> leader.election.awaitLeadership(null), "null wait on the leader"),
                () -> {
                    Object outcome;
                    try {
                        outcome = nullWait.get(2, SECONDS);
                    } catch (TimeoutException e) {
                        nullWait.cancel(true);
                        throw new AssertionError("awaitLeadership(null) on a follower waits (without limit?) instead of"
                                + " throwing NullPointerException");
                    }
                    assertInstanceOf(NullPointerException.class, outcome, "null wait on a follower");
                });
    }

    private static boolean waiting(Thread t) {
        Thread.State s = t == null ? null : t.getState();
        return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
    }

    // ------------------------------------------------------------------------ the Leadership

    @Test
    void leadershipIsValidWhileLeadingAndResignedAfterClose() throws Exception {
        Instant before = Instant.now();
        String name = name("term");
        Member m = join(name, "only", null);
        Leadership term = m.election.awaitLeadership(PATIENCE);
        assertEquals(name, m.election.name());
        assertEquals("only", m.election.participantId());
        assertEquals(name, term.election());
        assertNotNull(term.token());
        assertNotNull(term.since());
        assertFalse(term.since().isBefore(before.minus(Duration.ofMinutes(1))), "since " + term.since());
        assertFalse(term.since().isAfter(Instant.now().plus(Duration.ofMinutes(1))), "since " + term.since());
        assertTrue(term.isValid());
        term.ensureValid();
        assertTrue(m.election.isLeader());
        assertSame(term, m.election.leadership().orElseThrow());

        List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
        List<LockLostException> lostOnExecutor = Collections.synchronizedList(new ArrayList<>());
        term.onLost(lost::add);
        term.onLost(lostOnExecutor::add, pool());
        m.election.close();
        m.election.close();

        assertFalse(term.isValid());
        assertFalse(m.election.isLeader());
        assertEquals(Optional.empty(), m.election.leadership());
        LockLostException e = assertThrows(LockLostException.class, term::ensureValid);
        assertEquals(LossReason.RESIGNED, e.reason());
        assertEquals(term.token(), e.token());
        assertEquals(LockKey.parse(name), e.key());
        assertTrue(e.getMessage().contains(name), e.getMessage());
        soon().until(() -> lost.size() == 1 && lostOnExecutor.size() == 1);
        assertEquals(LossReason.RESIGNED, lost.get(0).reason());
        assertEquals(term.token(), lost.get(0).token());
        assertEquals(LossReason.RESIGNED, lostOnExecutor.get(0).reason());

        List<LockLostException> late = new ArrayList<>();
        term.onLost(late::add);
        assertEquals(1, late.size(), "a listener registered after the loss was not told at once");
        assertEquals(LossReason.RESIGNED, late.get(0).reason());
        assertEquals(1, lost.size(), "onLost fired twice");
    }

    // ------------------------------------------------------------------------ singleton jobs

    @Test
    void singletonRunsOnlyOnTheLeaderAndMovesWithIt() throws Exception {
        String name = name("singleton");
        Probe probe = new Probe();
        List<Member> members = new ArrayList<>();
        Map<Member, Singleton> jobs = new HashMap<>();
        for (int i = 0; i < 3; i++) {
            Member m = join(name, "p" + i, null);
            members.add(m);
            jobs.put(m, m.election.runAsSingleton(probe.jobOf(m.id())));
        }
        Member first = awaitLeader(members);
        Leadership firstTerm = first.election.leadership().orElseThrow();
        soon().alias("the job runs on the leader").until(() -> probe.runs.size() == 1);
        Probe.Run run1 = probe.runs().get(0);
        assertEquals(first.id(), run1.participant);
        assertEquals(firstTerm.token(), run1.token);
        assertEquals(name, jobs.get(first).name(), "runAsSingleton(job) is named after the election");
        soon().until(() -> jobs.get(first).isRunning());
        assertEquals(1, jobs.get(first).runs());
        for (Member m : members) {
            if (m != first) {
                assertEquals(0, jobs.get(m).runs(), "the job ran on " + m + ", which does not lead");
                assertFalse(jobs.get(m).isRunning());
            }
        }

        first.election.close();
        soon().alias("the old leader's run ends").until(run1.ended::get);
        assertTrue(run1.interrupted.get(), "the old leader's run was not interrupted");
        List<Member> rest = new ArrayList<>(members);
        rest.remove(first);
        Member second = awaitLeader(rest);
        Leadership secondTerm = second.election.leadership().orElseThrow();
        soon().alias("the job runs on the new leader").until(() -> probe.runs.size() == 2);
        Probe.Run run2 = probe.runs().get(1);
        assertEquals(second.id(), run2.participant);
        assertEquals(secondTerm.token(), run2.token);
        assertTrue(run2.token.isNewerThan(run1.token));
        assertFalse(jobs.get(first).isRunning());
        assertEquals(1, jobs.get(first).runs());
        for (Member m : rest) {
            if (m != second) {
                assertEquals(0, jobs.get(m).runs(), "the job ran on " + m + ", which does not lead");
            }
        }
        assertEquals(1, probe.maxRunning.get(), "two runs of the singleton went on at once");
    }

    @Test
    void onceJobIsNotRepeatedInATermButRunsAgainInTheNext() throws Exception {
        String name = name("once");
        Member m = join(name, "only", null);
        List<FencingToken> tokens = Collections.synchronizedList(new ArrayList<>());
        Singleton job = m.election.runAsSingleton("once", LeaderElection.Repeat.ONCE_PER_TERM,
                leadership -> tokens.add(leadership.token()));
        assertEquals("once", job.name());
        Leadership first = m.election.awaitLeadership(PATIENCE);
        soon().until(() -> job.runs() == 1 && !job.isRunning() && tokens.size() == 1);
        stays("no second run in the same term", () -> job.runs() == 1 && tokens.size() == 1);
        assertEquals(List.of(first.token()), tokens);

        loseSession(m.service);
        Leadership second = awaitTerm(m, first);
        assertFalse(first.isValid());
        soon().alias("the job runs again in the new term").until(() -> job.runs() == 2 && tokens.size() == 2);
        assertEquals(second.token(), tokens.get(1));
        assertTrue(tokens.get(1).isNewerThan(tokens.get(0)));
        assertEquals(Duration.ZERO, job.longestOverrun());
    }

    @Test
    void whileLeaderJobRunsInALoop() throws Exception {
        String name = name("loop");
        Member m = join(name, "only", null);
        List<FencingToken> tokens = Collections.synchronizedList(new ArrayList<>());
        Singleton job = m.election.runAsSingleton("loop", LeaderElection.Repeat.WHILE_LEADER, leadership -> {
            tokens.add(leadership.token());
            Thread.sleep(10); // the job's own pacing
        });
        Leadership term = m.election.awaitLeadership(PATIENCE);
        soon().alias("the job runs three times").until(() -> job.runs() >= 3 && tokens.size() >= 3);
        synchronized (tokens) {
            tokens.forEach(t -> assertEquals(term.token(), t));
        }
        job.close();
        job.close();
        soon().until(() -> !job.isRunning());
        long runs = job.runs();
        stays("no run after the job was closed", () -> job.runs() == runs);
        assertTrue(m.election.isLeader(), "closing the job ended the term");
    }

    @Test
    void defaultSingletonWorksForAHierarchicalElectionName() throws Exception {
        String name = "contract/contract-" + prefix() + "/eu/run";
        Member m = join(name, "only", null);
        Leadership term = m.election.awaitLeadership(PATIENCE);
        assertEquals(name, term.election());
        AtomicInteger runs = new AtomicInteger();
        Singleton job = m.election.runAsSingleton(leadership -> runs.incrementAndGet());
        soon().until(() -> runs.get() == 1 && job.runs() == 1);
    }

    // --------------------------------------------------------------------------- session loss

    @Test
    @Tag(EVERY_LINE)
    void sessionLossEndsTheTermAndTheOldTokenIsFenced() throws Exception {
        String name = name("session");
        String resource = name + "-ledger";
        Fence fence = new Fence();
        Probe probe = new Probe(fence, resource);
        List<Member> members = new ArrayList<>();
        Map<Member, Singleton> jobs = new HashMap<>();
        for (int i = 0; i < 2; i++) {
            Member m = join(name, "p" + i, null);
            members.add(m);
            jobs.put(m, m.election.runAsSingleton(probe.jobOf(m.id())));
        }
        Member old = awaitLeader(members);
        Leadership oldTerm = old.election.leadership().orElseThrow();
        List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
        oldTerm.onLost(lost::add);
        soon().alias("the job runs on the leader").until(() -> probe.runs.size() == 1);
        Probe.Run run1 = probe.runs().get(0);
        assertEquals(old.id(), run1.participant);
        assertNull(run1.fenceRefused.get());

        loseSession(old.service);

        soon().alias("the leader is told").until(() -> lost.size() == 1);
        LossReason reason = lost.get(0).reason();
        assertTrue(reason == LossReason.SESSION_EXPIRED || reason == LossReason.CONNECTION_SUSPENDED,
                "lost with " + reason);
        assertEquals(oldTerm.token(), lost.get(0).token());
        assertFalse(oldTerm.isValid());
        soon().alias("the old leader's run ends").until(run1.ended::get);
        assertTrue(run1.interrupted.get(), "the old leader's run was not interrupted");

        Member other = members.get(0) == old ? members.get(1) : members.get(0);
        Leadership newTerm = awaitTerm(other, null);
        assertTrue(newTerm.token().isNewerThan(oldTerm.token()));
        soon().alias("the job runs on the new leader").until(() -> probe.runs.size() == 2);
        Probe.Run run2 = probe.runs().get(1);
        assertEquals(other.id(), run2.participant);
        assertEquals(newTerm.token(), run2.token);
        assertNull(run2.fenceRefused.get(), "the new leader's write was refused");

        StaleTokenException stale = assertThrows(StaleTokenException.class, () -> fence.check(resource, oldTerm.token()));
        assertEquals(oldTerm.token(), stale.offered());
        assertEquals(newTerm.token(), stale.highest());
        AtomicBoolean wrote = new AtomicBoolean();
        assertThrows(StaleTokenException.class, () -> fence.guard(resource, oldTerm.token(), () -> {
            wrote.set(true);
            return null;
        }));
        assertFalse(wrote.get());

        // the old leader's service still works: it is back in the group, behind the new leader
        String newLeader = other.id();
        soon().alias("the old leader rejoins behind the new one").until(
                () -> old.election.participants().equals(List.of(newLeader, old.id())));
        assertEquals(Optional.of(newLeader), old.election.currentLeader());
        assertFalse(old.election.isLeader());
        assertEquals(1, jobs.get(old).runs(), "the job ran again on the participant that lost its session");
    }

    @Test
    void aRunThatIgnoresTheInterruptIsNeverDoubledAndIsReported() throws Exception {
        String name = name("stubborn");
        Member m = join(name, "only", null);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger running = new AtomicInteger();
        AtomicInteger maxRunning = new AtomicInteger();
        AtomicInteger interrupts = new AtomicInteger();
        List<FencingToken> tokens = Collections.synchronizedList(new ArrayList<>());
        Singleton job = m.election.runAsSingleton("stubborn", LeaderElection.Repeat.ONCE_PER_TERM, leadership -> {
            maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
            tokens.add(leadership.token());
            try {
                long until = System.nanoTime() + PATIENCE.toNanos();
                while (System.nanoTime() < until) {
                    try {
                        if (release.await(until - System.nanoTime(), TimeUnit.NANOSECONDS)) {
                            break;
                        }
                    } catch (InterruptedException swallowed) {
                        interrupts.incrementAndGet();
                    }
                }
            } finally {
                running.decrementAndGet();
            }
        });
        Leadership first = m.election.awaitLeadership(PATIENCE);
        soon().until(() -> job.runs() == 1 && job.isRunning());

        loseSession(m.service);
        soon().alias("the run is interrupted").until(() -> interrupts.get() >= 1);
        Leadership second = awaitTerm(m, first);
        long overrunFrom = System.nanoTime();
        stays("no second run while the first goes on", () -> job.runs() == 1 && tokens.size() == 1);
        long watched = System.nanoTime() - overrunFrom;
        assertEquals(1, maxRunning.get(), "two runs at once on one participant");
        assertEquals(1, running.get(), "the first run ended by itself");
        boolean reportedRunning = job.isRunning(); // checked last, so the rest is judged too

        release.countDown();
        soon().alias("the job runs in the new term").until(() -> job.runs() == 2 && tokens.size() == 2);
        assertEquals(second.token(), tokens.get(1));
        assertTrue(tokens.get(1).isNewerThan(tokens.get(0)));
        assertEquals(1, maxRunning.get(), "two runs at once on one participant");
        Duration overrun = job.longestOverrun();
        assertTrue(overrun.toNanos() >= watched, "longestOverrun " + overrun + " but the run went on for at least "
                + Duration.ofNanos(watched) + " after its term ended");
        assertTrue(reportedRunning, "isRunning() was false while the first run still went on (after its term ended)");
    }

    // -------------------------------------------------------------------------- scheduled jobs

    @Test
    @Tag(EVERY_LINE)
    void scheduledJobRunsAtMostOncePerPeriodAcrossAFailover() throws Exception {
        String name = name("schedule");
        record Start(String participant, FencingToken token, long nanos) {
        }
        List<Start> starts = Collections.synchronizedList(new ArrayList<>());
        List<Member> members = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Member m = join(name, "p" + i, null);
            members.add(m);
            String id = m.id();
            m.election.schedule("tick", SCHEDULE_PERIOD,
                    leadership -> starts.add(new Start(id, leadership.token(), System.nanoTime())));
        }
        Member first = awaitLeader(members);
        Leadership firstTerm = first.election.leadership().orElseThrow();
        soon().alias("the leader runs the job").until(() -> !starts.isEmpty());
        first.election.close();
        long failover = System.nanoTime();
        Start run1 = starts.get(0);
        assertEquals(first.id(), run1.participant());
        assertEquals(firstTerm.token(), run1.token());
        assertEquals(1, starts.size(), "ran more than once before the failover: " + starts);
        assertTrue(failover - run1.nanos() < SCHEDULE_PERIOD.toNanos() - SCHEDULE_TOLERANCE.toNanos(),
                "the failover came too late to test anything");

        List<Member> rest = new ArrayList<>(members);
        rest.remove(first);
        Member second = awaitLeader(rest);
        Leadership secondTerm = second.election.leadership().orElseThrow();
        soon().alias("the new leader runs the job").until(() -> starts.size() >= 2);
        long end = System.nanoTime();
        List<Start> all;
        synchronized (starts) {
            all = new ArrayList<>(starts);
        }
        Start run2 = all.get(1);
        assertEquals(second.id(), run2.participant());
        assertEquals(secondTerm.token(), run2.token());
        long minGap = SCHEDULE_PERIOD.toNanos() - SCHEDULE_TOLERANCE.toNanos();
        for (int i = 1; i < all.size(); i++) {
            long gap = all.get(i).nanos() - all.get(i - 1).nanos();
            System.out.printf("scheduled run %d: %s after the previous one%n", i, Duration.ofNanos(gap));
            assertTrue(gap >= minGap, "runs " + (i - 1) + " and " + i + " started " + Duration.ofNanos(gap)
                    + " apart, period " + SCHEDULE_PERIOD + ": " + all);
        }
        // measured from run 1's start, which may lag its record by up to the tolerance
        long window = end - run1.nanos() + SCHEDULE_TOLERANCE.toNanos();
        long allowed = window / SCHEDULE_PERIOD.toNanos() + 1;
        assertTrue(all.size() <= allowed, all.size() + " runs in " + Duration.ofNanos(window) + ": " + all);

        assertThrows(IllegalStateException.class, () -> second.election.schedule("tick", SCHEDULE_PERIOD, l -> { }),
                "a second job named tick in the same election");
        assertThrows(IllegalStateException.class, () -> second.election.schedule("tick", Duration.ofSeconds(5), l -> { }));
    }

    // ------------------------------------------------------------------------------- listeners

    @Test
    void listenersHearGainsAndLossesUntilRemoved() throws Exception {
        String name = name("listeners");
        Member a = join(name, "a", null);
        Leadership aTerm = awaitTerm(a, null);
        Member b = join(name, "b", null);
        soon().until(() -> a.election.participants().size() == 2);

        Recorder ra = new Recorder();
        a.election.addListener(ra);
        soon().alias("a listener added while leading is told").until(() -> ra.gained.size() == 1);
        assertSame(aTerm, ra.gained.get(0));
        assertTrue(ra.threads.get(0).startsWith("baton-election-listeners-"), ra.threads.toString());
        Recorder raExec = new Recorder();
        a.election.addListener(raExec, pool());
        soon().until(() -> raExec.gained.size() == 1);
        assertSame(aTerm, raExec.gained.get(0));
        assertNotEquals(Thread.currentThread().getName(), raExec.threads.get(0), "the executor was not used");

        Recorder rb = new Recorder();
        Recorder witness = new Recorder();
        b.election.addListener(rb);
        b.election.addListener(witness);
        assertEquals(List.of(), rb.gained, "told a follower's listener that it leads");

        a.election.close();
        soon().until(() -> ra.lost.size() == 1 && raExec.lost.size() == 1);
        assertEquals(LossReason.RESIGNED, ra.lost.get(0).reason());
        assertEquals(aTerm.token(), ra.lost.get(0).token());
        assertEquals(LockKey.parse(name), ra.lost.get(0).key());
        Leadership bTerm = awaitTerm(b, null);
        soon().until(() -> rb.gained.size() == 1 && witness.gained.size() == 1);
        assertSame(bTerm, rb.gained.get(0));
        assertTrue(bTerm.token().isNewerThan(aTerm.token()));
        assertEquals(List.of(), rb.lost);
        assertEquals(1, ra.gained.size());

        b.election.removeListener(rb);
        b.election.removeListener(new Recorder()); // never added: nothing happens
        b.election.close();
        soon().until(() -> witness.lost.size() == 1);
        assertEquals(List.of(), rb.lost, "a removed listener was told");
        assertEquals(1, rb.gained.size());
    }

    @Test
    void aListenerThatBlocksHoldsUpNeitherTheElectionNorItsClose() throws Exception {
        String name = name("blocking-listener");
        Member a = join(name, "a", null);
        CountDownLatch inGained = new CountDownLatch(1);
        CountDownLatch letGo = new CountDownLatch(1);
        List<String> heard = Collections.synchronizedList(new ArrayList<>());
        // added from another thread, so that this one is free even if a listener is told on the adding thread
        pool().submit(() -> a.election.addListener(new LeadershipListener() {
            @Override
            public void gained(Leadership leadership) {
                heard.add("gained");
                inGained.countDown();
                try {
                    letGo.await(PATIENCE.toSeconds(), SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void lost(LockLostException why) {
                heard.add("lost " + why.reason());
            }
        }));
        Leadership term = awaitTerm(a, null);
        assertTrue(inGained.await(PATIENCE.toSeconds(), SECONDS), "the listener was not told of the term");

        // while the listener is busy, the term still ends and close() returns
        Future<?> closing = pool().submit(() -> a.election.close());
        closing.get(10, SECONDS); // the listener stays busy for PATIENCE
        assertFalse(term.isValid());
        assertFalse(a.election.isLeader());
        assertEquals(List.of("gained"), heard);

        letGo.countDown();
        soon().until(() -> heard.size() == 2);
        assertEquals(List.of("gained", "lost " + LossReason.RESIGNED), heard, "told out of order");
    }

    /** A listener that records what it is told and on which thread. */
    private static final class Recorder implements LeadershipListener {
        final List<Leadership> gained = Collections.synchronizedList(new ArrayList<>());
        final List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
        final List<String> threads = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void gained(Leadership leadership) {
            threads.add(Thread.currentThread().getName());
            gained.add(leadership);
        }

        @Override
        public void lost(LockLostException why) {
            threads.add(Thread.currentThread().getName());
            lost.add(why);
        }
    }

    // ------------------------------------------------------------------------------- bad input

    @Test
    void badElectionNamesAndIdsAreRejected() throws Exception {
        LockService s = service();
        for (String bad : List.of("", "a//b", "_x", ".x", "/a", "a/", "a b")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.election(bad, "id"),
                    "election name \"" + bad + "\"");
            assertNotNull(e.getMessage());
            assertTrue(e.getMessage().contains(bad.isEmpty() ? "\"\"" : bad), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> s.election(bad), "election name \"" + bad + "\"");
        }
        assertMessage(NullPointerException.class, "name", () -> s.election(null, "id"));
        assertMessage(NullPointerException.class, "name", () -> s.election(null));

        String name = name("ids");
        assertMessage(IllegalArgumentException.class, "participantId", () -> s.election(name, ""));
        assertMessage(IllegalArgumentException.class, "participantId", () -> s.election(name, "  \t"));
        assertMessage(IllegalArgumentException.class, "1025", () -> s.election(name, "x".repeat(1025)));
        assertMessage(NullPointerException.class, "participantId", () -> s.election(name, null));
        try (LeaderElection longest = s.election(name, "x".repeat(1024))) {
            assertEquals(1024, longest.participantId().length());
        }

        try (LeaderElection one = s.election(name);
             LeaderElection two = s.election(name)) {
            assertFalse(one.participantId().isBlank());
            assertFalse(two.participantId().isBlank());
            assertNotEquals(one.participantId(), two.participantId(), "two default participant ids are equal");
        }
    }

    @Test
    void badJobsAndListenersAreRejected() throws Exception {
        LockService s = service();
        LeaderElection e = s.election(name("jobs"), "only");
        SingletonJob job = l -> { };
        for (String bad : List.of("", "a/b", "_x", ".x", "a b")) {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                    () -> e.runAsSingleton(bad, LeaderElection.Repeat.ONCE_PER_TERM, job), "job name \"" + bad + "\"");
            assertTrue(x.getMessage() != null && x.getMessage().contains(bad.isEmpty() ? "\"\"" : bad), x.getMessage());
            assertThrows(IllegalArgumentException.class, () -> e.schedule(bad, Duration.ofSeconds(1), job),
                    "job name \"" + bad + "\"");
        }
        assertMessage(NullPointerException.class, "name",
                () -> e.runAsSingleton(null, LeaderElection.Repeat.ONCE_PER_TERM, job));
        assertMessage(NullPointerException.class, "repeat", () -> e.runAsSingleton("j", null, job));
        assertMessage(NullPointerException.class, "job", () -> e.runAsSingleton(null));
        assertMessage(NullPointerException.class, "job",
                () -> e.runAsSingleton("j", LeaderElection.Repeat.ONCE_PER_TERM, null));
        assertMessage(NullPointerException.class, "job", () -> e.schedule("j", Duration.ofSeconds(1), null));
        assertMessage(NullPointerException.class, "period", () -> e.schedule("j", null, job));
        assertMessage(IllegalArgumentException.class, "PT0S", () -> e.schedule("j", Duration.ZERO, job));
        assertMessage(IllegalArgumentException.class, "PT-1S", () -> e.schedule("j", Duration.ofSeconds(-1), job));
        assertMessage(NullPointerException.class, "listener", () -> e.addListener(null));
        assertMessage(NullPointerException.class, "executor", () -> e.addListener(new Recorder(), null));
        Leadership term = e.awaitLeadership(PATIENCE);
        assertMessage(NullPointerException.class, "listener", () -> term.onLost(null));
        assertMessage(NullPointerException.class, "executor", () -> term.onLost(x -> { }, null));

        e.close();
        assertThrows(IllegalStateException.class, () -> e.runAsSingleton(job), "runAsSingleton on a closed election");
        assertThrows(IllegalStateException.class,
                () -> e.runAsSingleton("j", LeaderElection.Repeat.WHILE_LEADER, job));
        assertThrows(IllegalStateException.class, () -> e.schedule("j", Duration.ofSeconds(1), job),
                "schedule on a closed election");
        assertThrows(IllegalStateException.class, () -> e.awaitLeadership(Duration.ZERO));

        s.close();
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> s.election(name("late"), "id"),
                "election on a closed service");
        assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
        assertThrows(IllegalStateException.class, () -> s.election(name("late")));
    }

    // ------------------------------------------------------------------------- closing services

    @Test
    void closingTheServiceClosesItsElectionsAndAnotherTakesOver() throws Exception {
        String name = name("svcclose");
        Probe probe = new Probe();
        Member a = join(name, "a", null);
        Leadership aTerm = awaitTerm(a, null);
        Singleton aJob = a.election.runAsSingleton("job", LeaderElection.Repeat.ONCE_PER_TERM, probe.jobOf("a"));
        Member b = join(name, "b", null);
        Singleton bJob = b.election.runAsSingleton("job", LeaderElection.Repeat.ONCE_PER_TERM, probe.jobOf("b"));
        soon().until(() -> probe.runs.size() == 1);
        Probe.Run run1 = probe.runs().get(0);
        List<LockLostException> lost = Collections.synchronizedList(new ArrayList<>());
        aTerm.onLost(lost::add);

        a.service.close();
        assertFalse(a.election.isLeader());
        assertFalse(aTerm.isValid());
        soon().until(() -> lost.size() == 1 && run1.ended.get());
        LossReason reason = lost.get(0).reason();
        assertTrue(reason == LossReason.RESIGNED || reason == LossReason.SERVICE_CLOSED, "lost with " + reason);
        assertTrue(run1.interrupted.get(), "the job of the closed service's election was not interrupted");
        assertFalse(aJob.isRunning());

        Leadership bTerm = awaitTerm(b, null);
        assertTrue(bTerm.token().isNewerThan(aTerm.token()));
        soon().until(() -> probe.runs.size() == 2 && bJob.runs() == 1);
        assertEquals("b", probe.runs().get(1).participant);
        soon().until(() -> b.election.participants().equals(List.of("b")));

        a.service.close();
        a.election.close();
        assertThrows(IllegalStateException.class, () -> a.election.awaitLeadership(Duration.ZERO),
                "the closed service's election is not closed");
        assertThrows(IllegalStateException.class, () -> a.election.runAsSingleton(l -> { }));
        assertThrows(IllegalStateException.class, () -> a.service.election(name, "again"));
        assertEquals(1, lost.size(), "onLost fired twice");
        assertEquals(1, aJob.runs());
        assertTrue(b.election.isLeader());
        assertEquals(1, probe.maxRunning.get(), "two runs of the singleton went on at once");
    }
}
