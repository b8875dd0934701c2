package dev.baton.safety;

import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
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
            case PAUSE -> cutOffLongJob(fault, id, c -> c.spec.child());
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

    private boolean await(BooleanSupplier condition, Duration max) throws InterruptedException {
        long until = System.nanoTime() + max.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                return false;
            }
            Thread.sleep(2);
        }
        return true;
    }

    /** A client in the middle of a critical section, preferring those {@code preferred} accepts; null if none came. */
    private Map.Entry<String, StoreServer.Section> holder(Predicate<Client> eligible, Duration max)
            throws InterruptedException {
        List<Map.Entry<String, StoreServer.Section>> found = new ArrayList<>();
        await(() -> {
            store.working().entrySet().stream().filter(e -> eligible.test(client(e.getKey()))).forEach(found::add);
            return !found.isEmpty();
        }, max);
        if (found.isEmpty()) {
            return null;
        }
        found.sort(Comparator.comparing(Map.Entry::getKey));
        return found.get(random.nextInt(found.size()));
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
        Map.Entry<String, StoreServer.Section> h = holder(c -> true, session.multipliedBy(3));
        String target = h != null ? h.getKey() : clients.get(random.nextInt(clients.size())).spec.id();
        String detail = "target=" + target + (h != null ? " key=" + h.getValue().key() : "");
        StoreServer.Credentials credentials = store.credentials(target);
        long before = store.lastNewSession(target);
        start(Fault.EXPIRE, id, detail);
        CountDownLatch attached = new CountDownLatch(1);
        ZooKeeper other = new ZooKeeper(ensemble.connectString(), (int) session.toMillis(), e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                attached.countDown();
            }
        }, credentials.sessionId(), credentials.password());
        try {
            if (!attached.await(30, TimeUnit.SECONDS)) {
                problems.add("fault#" + id + ": could not attach to " + target + "'s session");
            }
        } finally {
            other.close();
        }
        end(Fault.EXPIRE, id, detail);
        if (!await(() -> store.lastNewSession(target) > before, session.multipliedBy(5))) {
            problems.add("fault#" + id + ": " + target + " did not come back on a new session");
        }
    }

    private void restart(long id) throws Exception {
        Ensemble.Single single = (Ensemble.Single) ensemble;
        Duration down = between(0.3, 1.5);
        String detail = "target=server down=" + down.toMillis() + "ms";
        start(Fault.RESTART, id, detail);
        single.stop();
        hold(down);
        single.start();
        end(Fault.RESTART, id, detail);
    }

    private void kill(Fault fault, long id) throws Exception {
        Ensemble.Cluster cluster = (Ensemble.Cluster) ensemble;
        int[] leader = {-1};
        if (!await(() -> (leader[0] = cluster.leader()) >= 0, Duration.ofSeconds(30))) {
            problems.add("fault#" + id + ": no leader to aim at");
            return;
        }
        int victim = leader[0];
        if (fault == Fault.KILL_FOLLOWER) {
            victim = (leader[0] + 1 + random.nextInt(cluster.size() - 1)) % cluster.size();
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
    }

    private void freezeShort(long id) throws Exception {
        Map.Entry<String, StoreServer.Section> h = holder(c -> true, session.multipliedBy(3));
        Client target = h != null ? client(h.getKey()) : clients.get(random.nextInt(clients.size()));
        String detail = "target=" + target.spec.id() + (h != null ? " key=" + h.getValue().key() : "");
        long since = history.now();
        start(Fault.FREEZE_SHORT, id, detail);
        target.freeze();
        // Resume as soon as the client has noticed (after 2/3 of a session timeout of silence): it
        // then reconnects after ZooKeeper's random 0-1 s back-off, within the last third.
        boolean noticed = await(() -> store.lastSuspended(target.spec.id()) > since, session.multipliedBy(2));
        target.resume();
        end(Fault.FREEZE_SHORT, id, detail + (noticed ? "" : " (never suspended)"));
    }

    /**
     * FREEZE_LONG and PAUSE: make a client (stubborn ones preferred, they keep writing) start a
     * long job, cut it off in the middle of it (connection frozen, or process stopped) until
     * another client has begun a critical section on the same key, then let it go on: its late
     * write must be rejected.
     */
    private void cutOffLongJob(Fault fault, long id, Predicate<Client> eligible) throws Exception {
        List<Client> candidates = clients.stream().filter(eligible).toList();
        List<Client> stubborn = candidates.stream().filter(c -> c.spec.stubborn()).toList();
        List<Client> pool = !stubborn.isEmpty() && random.nextInt(4) != 0 ? stubborn : candidates;
        Client target = pool.get(random.nextInt(pool.size()));
        String id0 = target.spec.id();
        long asked = history.now();
        target.requestLongJob();
        StoreServer.Section job = holderOf(id0, asked);
        if (job == null) {
            problems.add("fault#" + id + ": " + id0 + " never started its long job");
            return;
        }
        String key = job.key();
        String detail = "target=" + id0 + " key=" + key;
        store.watchBegins(key);
        start(fault, id, detail);
        if (fault == Fault.PAUSE) {
            target.pause();
        } else {
            target.freeze();
        }
        boolean takenOver = await(() -> store.otherBegan(key, id0), session.multipliedBy(6));
        if (fault == Fault.PAUSE) {
            target.unpause();
        } else {
            target.resume();
        }
        end(fault, id, detail + (takenOver ? "" : " (nobody took the key over)"));
        // Let the cut-off holder finish (or abort) its job before the next fault, so that its late
        // write belongs to this one. A stubborn holder works on after it is told of the loss; its
        // next grant shows that the job is over.
        long jobGranted = store.lastGrant(id0);
        if (!await(() -> store.lastGrant(id0) > jobGranted, session.multipliedBy(8))) {
            problems.add("fault#" + id + ": " + id0 + " did not get past its long job");
        }
    }

    /** The section {@code client} is working in, once it has begun one after {@code since}; null if it did not. */
    private StoreServer.Section holderOf(String client, long since) throws InterruptedException {
        java.util.concurrent.atomic.AtomicReference<StoreServer.Section> out = new java.util.concurrent.atomic.AtomicReference<>();
        await(() -> {
            StoreServer.Section s = store.working().get(client);
            if (s != null && s.longJob() && store.lastGrant(client) > since) {
                out.set(s);
                return true;
            }
            return false;
        }, session.multipliedBy(10));
        return out.get();
    }
}
