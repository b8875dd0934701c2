package dev.baton.safety;

import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * Injects the faults of a run, one at a time, aimed by a seeded random generator, and records each
 * as FAULT_START / FAULT_END. Waits are bounded polls on what the {@link StoreServer} has seen;
 * the only timed pauses are the fault durations themselves (how long a server stays down or a
 * connection stays frozen).
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
        /** A holder's whole process is SIGSTOPped until another client takes its key, then SIGCONTed. */
        PAUSE
    }

    private final History history;
    private final StoreServer store;
    private final Ensemble ensemble;
    private final List<Client> clients;
    private final Duration session;
    private final Random random;
    private final List<String> problems;

    Injector(History history, StoreServer store, Ensemble ensemble, List<Client> clients, Duration session,
             Random random, List<String> problems) {
        this.history = history;
        this.store = store;
        this.ensemble = ensemble;
        this.clients = clients;
        this.session = session;
        this.random = random;
        this.problems = problems;
    }

    /** The faults this ensemble supports. */
    static List<Fault> supported(Ensemble ensemble, boolean children) {
        List<Fault> out = new ArrayList<>(List.of(Fault.EXPIRE, Fault.FREEZE_SHORT, Fault.FREEZE_LONG));
        if (ensemble instanceof Ensemble.Single) {
            out.add(Fault.RESTART);
        } else {
            out.add(Fault.KILL_LEADER);
            out.add(Fault.KILL_FOLLOWER);
        }
        if (children) {
            out.add(Fault.PAUSE);
        }
        return out;
    }

    /** Injects one fault and heals it. */
    void inject(Fault fault, long id) throws Exception {
        switch (fault) {
            case EXPIRE -> expire(id);
            case RESTART -> restart(id);
            case KILL_LEADER, KILL_FOLLOWER -> kill(fault, id);
            case FREEZE_SHORT -> freezeShort(id);
            case FREEZE_LONG -> cutOffLongJob(fault, id, c -> true);
            // a stubborn child: it writes after it resumes, which is what the fence must stop (a
            // diligent one is aborted instead; expiry and freezes cover that)
            case PAUSE -> cutOffLongJob(fault, id, c -> c.spec.child() && c.spec.stubborn());
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
     * A fault aimed at a holder in the middle of a long job: asks {@code target} for one and waits
     * until it has read its register in it, so the fault lands while it holds the lock and has work
     * left. Returns the section, or null (recorded as a problem) if the job never started.
     */
    private StoreServer.Section longJob(Client target, long id) throws Exception {
        String c = target.spec.id();
        long asked = history.now();
        target.requestLongJob();
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
     * next grant shows that the job is over.
     */
    private void awaitJobOver(Client target, long id) throws InterruptedException {
        String c = target.spec.id();
        long jobGranted = store.lastGrant(c);
        if (!await(() -> store.lastGrant(c) > jobGranted, session.multipliedBy(8))) {
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

    private void expire(long id) throws Exception {
        Client target = pick(c -> true);
        StoreServer.Section job = longJob(target, id);
        if (job == null) {
            return;
        }
        String c = target.spec.id();
        String detail = "target=" + c + " key=" + job.key();
        StoreServer.Credentials credentials = store.credentials(c);
        long before = store.lastNewSession(c);
        start(Fault.EXPIRE, id, detail);
        CountDownLatch attached = new CountDownLatch(1);
        ZooKeeper other = new ZooKeeper(ensemble.connectString(), (int) session.toMillis(), e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                attached.countDown();
            }
        }, credentials.sessionId(), credentials.password());
        try {
            if (!attached.await(30, TimeUnit.SECONDS)) {
                problems.add("fault#" + id + ": could not attach to " + c + "'s session");
            }
        } finally {
            other.close();
        }
        end(Fault.EXPIRE, id, detail);
        if (!await(() -> store.lastNewSession(c) > before, session.multipliedBy(5))) {
            problems.add("fault#" + id + ": " + c + " did not come back on a new session");
        }
        awaitJobOver(target, id);
    }

    private void restart(long id) throws Exception {
        Client busy = pick(c -> true);
        longJob(busy, id); // so that at least one holder is mid-job when the server goes
        Ensemble.Single single = (Ensemble.Single) ensemble;
        Duration down = between(0.3, 1.5);
        String detail = "target=server down=" + down.toMillis() + "ms";
        start(Fault.RESTART, id, detail);
        single.stop();
        hold(down);
        single.start();
        end(Fault.RESTART, id, detail);
        awaitJobOver(busy, id);
    }

    private void kill(Fault fault, long id) throws Exception {
        Client busy = pick(c -> true);
        longJob(busy, id); // so that at least one holder is mid-job when the server goes
        Ensemble.Cluster cluster = (Ensemble.Cluster) ensemble;
        int[] leader = {-1};
        if (!await(() -> (leader[0] = cluster.leader()) >= 0, Duration.ofSeconds(30))) {
            problems.add("fault#" + id + ": no leader to aim at");
            return;
        }
        int victim = leader[0];
        if (fault == Fault.KILL_FOLLOWER) {
            // the follower serving the most clients, so that the kill reaches some (ties: the seed decides)
            List<Integer> followers = new ArrayList<>();
            for (int i = 0; i < cluster.size(); i++) {
                if (i != leader[0]) {
                    followers.add(i);
                }
            }
            java.util.Collections.shuffle(followers, random);
            victim = followers.stream().max(java.util.Comparator.comparingInt(cluster::connections)).orElseThrow();
        }
        Duration down = between(0.5, 2.0);
        String detail = "target=server" + victim + (fault == Fault.KILL_LEADER ? " (leader)" : " (follower)")
                + " down=" + down.toMillis() + "ms";
        start(fault, id, detail);
        cluster.kill(victim);
        hold(down);
        cluster.restart(victim);
        int back = victim;
        if (!await(() -> cluster.serving(back), Duration.ofSeconds(60))) {
            problems.add("fault#" + id + ": server" + victim + " did not rejoin");
        }
        end(fault, id, detail);
        awaitJobOver(busy, id);
    }

    private void freezeShort(long id) throws Exception {
        Client target = pick(c -> true);
        StoreServer.Section job = longJob(target, id);
        if (job == null) {
            return;
        }
        String detail = "target=" + target.spec.id() + " key=" + job.key();
        long since = history.now();
        start(Fault.FREEZE_SHORT, id, detail);
        target.freeze();
        // Resume as soon as the client has noticed (after 2/3 of a session timeout of silence): it
        // then reconnects after ZooKeeper's random 0-1 s back-off, within the last third.
        boolean noticed = await(() -> store.lastSuspended(target.spec.id()) > since, session.multipliedBy(2));
        target.resume();
        end(Fault.FREEZE_SHORT, id, detail + (noticed ? "" : " (never suspended)"));
        awaitJobOver(target, id);
    }

    /**
     * FREEZE_LONG and PAUSE: make a client (stubborn ones preferred, they keep writing) start a
     * long job, cut it off in the middle of it (connection frozen, or process stopped) until
     * another client has begun a critical section on the same key, then let it go on: its late
     * write must be rejected.
     */
    private void cutOffLongJob(Fault fault, long id, Predicate<Client> eligible) throws Exception {
        Client target = pick(eligible);
        StoreServer.Section job = longJob(target, id);
        if (job == null) {
            return;
        }
        String c = target.spec.id();
        String key = job.key();
        String detail = "target=" + c + " key=" + key;
        store.watchBegins(key);
        start(fault, id, detail);
        if (fault == Fault.PAUSE) {
            target.pause();
        } else {
            target.freeze();
        }
        boolean takenOver = await(() -> store.otherBegan(key, c), session.multipliedBy(6));
        if (fault == Fault.PAUSE) {
            target.unpause();
        } else {
            target.resume();
        }
        end(fault, id, detail + (takenOver ? "" : " (nobody took the key over)"));
        awaitJobOver(target, id);
    }
}
