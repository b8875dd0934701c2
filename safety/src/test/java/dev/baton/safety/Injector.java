package dev.baton.safety;

import dev.baton.lock.LossReason;
import dev.baton.lock.memory.InMemoryLockService;
import dev.baton.lock.test.EmbeddedEnsemble;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * Injects the faults of a run, one at a time, aimed by a seeded random generator, and records each
 * as FAULT_START / FAULT_END. Waits are bounded polls on what the {@link StoreServer} has seen;
 * the only timed pauses are the fault durations themselves (how long a server stays down or a
 * connection stays frozen).
 *
 * <p>A fault is aimed either at a lock holder in a long critical section, or at the elected
 * leader in a long section of its singleton job (on {@link Event#LEADER}; the fault's detail then
 * says {@code key=leader}). When the leader is not a client the fault may take, it is asked to
 * resign (and rejoin) until one is.
 */
final class Injector {
    /** The faults a run can inject; see ../shared/SAFETY.md for the sign that each bit. */
    enum Fault {
        /** Server-side expiry of a holder's session: a second handle attaches to it and closes it. */
        EXPIRE,
        /** The single server stops and restarts (sometimes within the session timeout, sometimes not). */
        RESTART,
        /** The cluster's leader is killed, and restarted after a while. */
        KILL_LEADER,
        /** A follower is killed, and restarted after a while. */
        KILL_FOLLOWER,
        /** A holder's connection is frozen until it reports SUSPENDED: its session should survive. */
        FREEZE_SHORT,
        /** A holder in a long job is cut off until its session expires and another client takes its key. */
        FREEZE_LONG,
        /**
         * A holder's whole process is SIGSTOPped until another client takes its key, then SIGCONTed.
         * In an in-memory run: the holder's section stops before its writes, every lease is lost
         * (what a pause longer than a session leads to), and it goes on once another client has
         * begun on one of its registers.
         */
        PAUSE,
        /** In-memory runs: the shared service loses every lease at once, as a session loss would. */
        LOSE_ALL,
        /**
         * A hung holder: a diligent client takes its next lock with a lease time
         * ({@link Worker#hungLease}) and its section ignores the interrupt that the lease's end
         * brings: it works on for twice its lease time, and then until another client has begun on
         * one of its registers. Its process and session stay alive all along; its late write must be
         * rejected.
         */
        HUNG
    }

    private final History history;
    private final StoreServer store;
    private final EmbeddedEnsemble ensemble;
    /** In an in-memory run, the service every client shares (and {@link #ensemble} is null). */
    private final InMemoryLockService memory;
    private final List<Client> clients;
    private final Duration session;
    private final Random random;
    private final List<String> problems;

    Injector(History history, StoreServer store, EmbeddedEnsemble ensemble, List<Client> clients, Duration session,
             Random random, List<String> problems) {
        this(history, store, ensemble, null, clients, session, random, problems);
    }

    /** For an in-memory run: faults on the service every client shares. */
    Injector(History history, StoreServer store, InMemoryLockService memory, List<Client> clients, Duration session,
             Random random, List<String> problems) {
        this(history, store, null, memory, clients, session, random, problems);
    }

    private Injector(History history, StoreServer store, EmbeddedEnsemble ensemble, InMemoryLockService memory,
                     List<Client> clients, Duration session, Random random, List<String> problems) {
        this.history = history;
        this.store = store;
        this.ensemble = ensemble;
        this.memory = memory;
        this.clients = clients;
        this.session = session;
        this.random = random;
        this.problems = problems;
    }

    /** The faults this ensemble supports. */
    static List<Fault> supported(EmbeddedEnsemble ensemble, boolean children) {
        List<Fault> out = new ArrayList<>(List.of(Fault.EXPIRE, Fault.FREEZE_SHORT, Fault.FREEZE_LONG));
        if (ensemble.size() == 1) {
            out.add(Fault.RESTART);
        } else {
            out.add(Fault.KILL_LEADER);
            out.add(Fault.KILL_FOLLOWER);
        }
        if (children) {
            out.add(Fault.PAUSE);
        }
        out.add(Fault.HUNG);
        return out;
    }

    /**
     * Injects one fault and heals it; {@code atLeader}: aimed at the elected leader's singleton
     * job rather than at a lock holder (not for HUNG: a term has no lease time).
     */
    void inject(Fault fault, long id, boolean atLeader) throws Exception {
        switch (fault) {
            case EXPIRE -> expire(id, atLeader);
            case RESTART -> restart(id, atLeader);
            case KILL_LEADER, KILL_FOLLOWER -> kill(fault, id, atLeader);
            case FREEZE_SHORT -> freezeShort(id, atLeader);
            case FREEZE_LONG -> cutOffLongJob(fault, id, c -> true, atLeader);
            // a stubborn child: it writes after it resumes, which is what the fence must stop (a
            // diligent one is aborted instead; expiry and freezes cover that)
            case PAUSE -> cutOffLongJob(fault, id, c -> (memory != null || c.spec.child()) && c.spec.stubborn(),
                    atLeader);
            case LOSE_ALL -> loseAll(id, atLeader);
            case HUNG -> hung(id);
            default -> throw new IllegalArgumentException(fault.name());
        }
    }

    /** Sleeps for a fault's duration: the one kind of timed wait this suite allows. */
    private static void hold(Duration d) throws InterruptedException {
        Thread.sleep(d.toMillis());
    }

    private Duration between(double fromSessions, double toSessions) {
        double f = fromSessions + random.nextDouble() * (toSessions - fromSessions);
        return Duration.ofMillis((long) (session.toMillis() * f));
    }

    /**
     * Polls {@code condition} every 2 ms until it holds or {@code max} has passed; whether it held.
     * The suite's one way to wait for something (the only sleeps are fault durations).
     */
    static boolean await(BooleanSupplier condition, Duration max) throws InterruptedException {
        long until = System.nanoTime() + max.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                return false;
            }
            Thread.sleep(2);
        }
        return true;
    }

    /** A client that {@code eligible} accepts, stubborn ones three times out of four when there are some. */
    private Client pick(Predicate<Client> eligible) {
        List<Client> candidates = clients.stream().filter(eligible).toList();
        if (candidates.isEmpty()) {
            throw new IllegalStateException("no client can take this fault; check the run's client mix");
        }
        List<Client> stubborn = candidates.stream().filter(c -> c.spec.stubborn()).toList();
        List<Client> pool = !stubborn.isEmpty() && random.nextInt(4) != 0 ? stubborn : candidates;
        return pool.get(random.nextInt(pool.size()));
    }

    /**
     * What a fault is aimed at: {@code client} in the middle of a long job, a critical section on
     * a lock's key or a section of its singleton job on {@link Event#LEADER} ({@code job.key()}).
     */
    private record Aim(Client client, StoreServer.Section job) {
        String id() {
            return client.spec.id();
        }

        boolean leader() {
            return job.key().equals(Event.LEADER);
        }

        /** For the fault's detail. */
        String describe() {
            return "target=" + id() + " key=" + job.key();
        }
    }

    /**
     * Picks the target of a fault among the clients {@code eligible} accepts and gets it into a
     * long job: a lock holder ({@link #pick}), or with {@code atLeader} the elected leader
     * ({@link #leader}). Returns null (recorded as a problem) if none got into one.
     */
    private Aim aim(Predicate<Client> eligible, boolean atLeader, long id) throws Exception {
        if (!atLeader) {
            Client target = pick(eligible);
            StoreServer.Section job = longJob(target, id, false);
            return job == null ? null : new Aim(target, job);
        }
        // stubborn leaders three times out of four, as for lock holders: they write after their term
        Predicate<Client> wanted = random.nextInt(4) != 0 && clients.stream().anyMatch(c -> eligible.test(c)
                && c.spec.stubborn()) ? eligible.and(c -> c.spec.stubborn()) : eligible;
        int before = problems.size();
        Client leader = leader(wanted, id);
        if (leader == null) {
            if (problems.size() == before) {
                // no eligible client came to lead (the one this fault needs kept rejoining behind
                // others): aim at a lock holder instead of leaving the fault out
                return aim(eligible, false, id);
            }
            return null;
        }
        String c = leader.spec.id();
        long asked = history.now();
        leader.requestLongLeaderJob();
        java.util.concurrent.atomic.AtomicReference<StoreServer.Section> job = new java.util.concurrent.atomic.AtomicReference<>();
        await(() -> {
            StoreServer.Section s = store.jobsWorking().get(c);
            if (s != null && s.longJob() && s.started() > asked) {
                job.set(s);
                return true;
            }
            return false;
        }, session.multipliedBy(10));
        if (job.get() == null) {
            problems.add("fault#" + id + ": leader " + c + " never started its long job");
            return null;
        }
        return new Aim(leader, job.get());
    }

    /**
     * The elected leader, once one is in a term and {@code eligible} accepts it: a leader that it
     * does not accept is asked to resign (it rejoins at the back of the queue) until one is.
     * Returns null: recorded as a problem if no client led at all, not if only none eligible did.
     */
    private Client leader(Predicate<Client> eligible, long id) throws Exception {
        for (int turn = 0; turn <= clients.size(); turn++) {
            String[] now = new String[1];
            if (!await(() -> (now[0] = store.leader()) != null, session.multipliedBy(10))) {
                problems.add("fault#" + id + ": no client led within " + session.multipliedBy(10));
                return null;
            }
            Client leader = client(now[0]);
            if (eligible.test(leader)) {
                return leader;
            }
            leader.resign();
            await(() -> {
                String next = store.leader();
                return next != null && !next.equals(now[0]);
            }, session.multipliedBy(5));
        }
        // not a problem of the system under test: the caller aims elsewhere
        return null;
    }

    /**
     * A fault aimed at a holder in the middle of a long job: asks {@code target} for one (a hung
     * one with {@code hung}) and waits until it has read its register in it, so the fault lands
     * while it holds the lock and has work left. Returns the section, or null (recorded as a
     * problem) if the job never started.
     */
    private StoreServer.Section longJob(Client target, long id, boolean hung) throws Exception {
        String c = target.spec.id();
        long asked = history.now();
        if (hung) {
            target.requestHungJob();
        } else {
            target.requestLongJob();
        }
        java.util.concurrent.atomic.AtomicReference<StoreServer.Section> job = new java.util.concurrent.atomic.AtomicReference<>();
        await(() -> {
            StoreServer.Section s = store.working().get(c);
            if (s != null && s.longJob() && store.lastGrant(c) > asked) {
                job.set(s);
                return true;
            }
            return false;
        }, session.multipliedBy(10));
        if (job.get() == null) {
            problems.add("fault#" + id + ": " + c + " never started its long job");
        }
        return job.get();
    }

    /**
     * Lets a targeted holder finish (or abort) its long job before the next fault, so its late
     * write belongs to this fault. A stubborn holder works on after it is told of the loss; its
     * next grant shows that the job is over (for a leader: the end of its job's section).
     */
    private void awaitJobOver(Aim aim, long id) throws InterruptedException {
        String c = aim.id();
        boolean over;
        if (aim.leader()) {
            long ended = store.jobsEnded(c);
            StoreServer.Section now = store.jobsWorking().get(c);
            // the long section has ended once a section has ended since it was last seen going on
            over = now == null || now.started() != aim.job().started()
                    || await(() -> store.jobsEnded(c) > ended, session.multipliedBy(8));
        } else {
            long jobGranted = store.lastGrant(c);
            over = await(() -> store.lastGrant(c) > jobGranted, session.multipliedBy(8));
        }
        if (!over) {
            problems.add("fault#" + id + ": " + c + " did not get past its long job");
        }
    }

    private Client client(String id) {
        return clients.stream().filter(c -> c.spec.id().equals(id)).findFirst().orElseThrow();
    }

    private void start(Fault fault, long id, String detail) {
        history.record("injector", Event.Type.FAULT_START, null, id, 0, fault.name(), false, 0, detail);
    }

    private void end(Fault fault, long id, String detail) {
        history.record("injector", Event.Type.FAULT_END, null, id, 0, fault.name(), false, 0, detail);
    }

    // ------------------------------------------------------------------------------------- faults

    private void expire(long id, boolean atLeader) throws Exception {
        Aim aim = aim(c -> true, atLeader, id);
        if (aim == null) {
            return;
        }
        String c = aim.id();
        String detail = aim.describe();
        StoreServer.Credentials credentials = store.credentials(c);
        long before = store.lastNewSession(c);
        start(Fault.EXPIRE, id, detail);
        try {
            ensemble.expireSession(credentials.sessionId(), credentials.password());
        } catch (IllegalStateException e) {
            problems.add("fault#" + id + ": could not attach to " + c + "'s session: " + e.getMessage());
        }
        end(Fault.EXPIRE, id, detail);
        if (!await(() -> store.lastNewSession(c) > before, session.multipliedBy(5))) {
            problems.add("fault#" + id + ": " + c + " did not come back on a new session");
        }
        awaitJobOver(aim, id);
    }

    private void restart(long id, boolean atLeader) throws Exception {
        Aim busy = aim(c -> true, atLeader, id); // so that at least one holder is mid-job when the server goes
        Duration down = between(0.3, 1.5);
        String detail = "target=server down=" + down.toMillis() + "ms" + busy(busy);
        start(Fault.RESTART, id, detail);
        ensemble.stop(0);
        hold(down);
        ensemble.start(0);
        end(Fault.RESTART, id, detail);
        if (busy != null) {
            awaitJobOver(busy, id);
        }
    }

    /** For the detail of a fault that hits every client: who was mid-job, on which key. */
    private static String busy(Aim busy) {
        return busy == null ? "" : " busy=" + busy.id() + " key=" + busy.job().key();
    }

    private void kill(Fault fault, long id, boolean atLeader) throws Exception {
        Aim busy = aim(c -> true, atLeader, id); // so that at least one holder is mid-job when the server goes
        int[] leader = {-1};
        if (!await(() -> (leader[0] = ensemble.leader().orElse(-1)) >= 0, Duration.ofSeconds(30))) {
            problems.add("fault#" + id + ": no leader to aim at");
            return;
        }
        int victim = leader[0];
        if (fault == Fault.KILL_FOLLOWER) {
            // the follower serving the most clients, so that the kill reaches some (ties: the seed decides)
            List<Integer> followers = new ArrayList<>();
            for (int i = 0; i < ensemble.size(); i++) {
                if (i != leader[0]) {
                    followers.add(i);
                }
            }
            java.util.Collections.shuffle(followers, random);
            victim = followers.stream().max(java.util.Comparator.comparingInt(ensemble::connections)).orElseThrow();
        }
        Duration down = between(0.5, 2.0);
        String detail = "target=server" + victim + (fault == Fault.KILL_LEADER ? " (leader)" : " (follower)")
                + " down=" + down.toMillis() + "ms" + busy(busy);
        start(fault, id, detail);
        ensemble.stop(victim);
        hold(down);
        ensemble.start(victim);
        if (!ensemble.awaitServing(victim, Duration.ofSeconds(60))) {
            problems.add("fault#" + id + ": server" + victim + " did not rejoin");
        }
        end(fault, id, detail);
        if (busy != null) {
            awaitJobOver(busy, id);
        }
    }

    private void freezeShort(long id, boolean atLeader) throws Exception {
        Aim aim = aim(c -> true, atLeader, id);
        if (aim == null) {
            return;
        }
        Client target = aim.client();
        String detail = aim.describe();
        long since = history.now();
        start(Fault.FREEZE_SHORT, id, detail);
        target.freeze();
        // Resume as soon as the client has noticed (after 2/3 of a session timeout of silence): it
        // then reconnects after ZooKeeper's random 0-1 s back-off, within the last third.
        boolean noticed = await(() -> store.lastSuspended(target.spec.id()) > since, session.multipliedBy(2));
        target.resume();
        end(Fault.FREEZE_SHORT, id, detail + (noticed ? "" : " (never suspended)"));
        awaitJobOver(aim, id);
    }

    /**
     * FREEZE_LONG and PAUSE: make a client (stubborn ones preferred, they keep writing) start a
     * long job, cut it off in the middle of it (connection frozen, or process stopped) until
     * another client has begun a critical section on the same key (for the leader scope: a new
     * leader has begun a section), then let it go on: its late write must be rejected.
     */
    private void cutOffLongJob(Fault fault, long id, Predicate<Client> eligible, boolean atLeader) throws Exception {
        Aim aim = aim(eligible, atLeader, id);
        if (aim == null) {
            return;
        }
        Client target = aim.client();
        String c = aim.id();
        String key = aim.job().key();
        String detail = aim.describe();
        store.watchBegins(c, key);
        if (memory != null) {
            detail += " loseAll=" + LossReason.SESSION_EXPIRED; // it affects every client
        }
        start(fault, id, detail);
        String lost = "";
        if (fault == Fault.PAUSE) {
            target.pause();
            if (memory != null) {
                // no session to expire: lose every lease, as a pause longer than a session would
                lost = " lost=" + memory.loseAll(LossReason.SESSION_EXPIRED);
            }
        } else {
            target.freeze();
        }
        boolean takenOver = await(() -> store.otherBegan(c), session.multipliedBy(6));
        if (fault == Fault.PAUSE) {
            target.unpause();
        } else {
            target.resume();
        }
        end(fault, id, detail + lost + (takenOver ? "" : " (nobody took the key over)"));
        awaitJobOver(aim, id);
    }

    /**
     * HUNG: a diligent holder (its body is interrupted when its lease ends, and ignores it) starts
     * a hung job; once another client has begun, in a conflicting mode, on one of its registers
     * (its lease ended and the lock went on while it was still in its section), it is woken, and
     * its late write must be rejected. Always aimed at a lock holder.
     */
    private void hung(long id) throws Exception {
        Client target = pick(c -> !c.spec.stubborn());
        StoreServer.Section job = longJob(target, id, true);
        if (job == null) {
            target.wake(); // should it start later after all, it must not wait for a wake-up that never comes
            return;
        }
        Aim aim = new Aim(target, job);
        String c = aim.id();
        String detail = aim.describe() + " lease=" + Worker.hungLease(session).toMillis() + "ms";
        store.watchBegins(c, job.key());
        start(Fault.HUNG, id, detail);
        boolean takenOver = await(() -> store.otherBegan(c), session.multipliedBy(6));
        target.wake();
        end(Fault.HUNG, id, detail + (takenOver ? "" : " (nobody took the key over)"));
        awaitJobOver(aim, id);
    }

    /**
     * LOSE_ALL: every lease of the in-memory service is lost, with a reason a session loss gives;
     * every other time at a moment a holder (or the leader) is in the middle of a long job.
     */
    private void loseAll(long id, boolean atLeader) throws Exception {
        Aim busy = random.nextBoolean() ? aim(c -> true, atLeader, id) : null;
        LossReason reason = random.nextBoolean() ? LossReason.SESSION_EXPIRED : LossReason.CONNECTION_SUSPENDED;
        String detail = "reason=" + reason + busy(busy);
        start(Fault.LOSE_ALL, id, detail);
        int lost = memory.loseAll(reason);
        end(Fault.LOSE_ALL, id, detail + " lost=" + lost);
        if (busy != null) {
            awaitJobOver(busy, id);
        }
    }
}
