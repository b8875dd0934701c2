package dev.baton.safety;

import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.LeadershipListener;
import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.LossReason;
import dev.baton.lock.zk.LossPolicy;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.SessionConnectionStateErrorPolicy;
import org.apache.curator.framework.state.StandardConnectionStateErrorPolicy;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.ZooKeeper;

import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One client of a safety run: its own ZooKeeper session and {@link ZkLockService}, looping over
 * random keys; in each critical section it begins, reads, works, writes the value read plus one,
 * and commits, on the fenced store (carrying its token) and on the naive store. Everything it
 * sees (grants, losses, releases, connection changes) is reported to the {@link StoreServer}.
 *
 * <p>Every client also joins the election {@value #ELECTION} on the same service and session, with
 * a singleton job ({@code WHILE_LEADER}) that runs the same section on the register
 * {@link Event#LEADER} with its term's token, over and over while it leads. It reports the term's
 * start as a GRANT on that scope (once per term, from a leadership listener), its loss as LOST
 * (from the term's onLost), and a resignation as RELEASE.
 *
 * <p>Two styles. A <em>diligent</em> client uses {@code withLock}: its work is interruptible, so
 * a loss aborts it. A <em>stubborn</em> client acquires, ignores every loss notification and
 * always finishes, as careless code would: only the fence stands between it and the data. Its
 * singleton job likewise ignores the interrupt that ends its term and finishes its section.
 */
final class Worker implements Runnable {
    /** What a client is: its id, loss policy, style, and whether it runs in a child JVM. */
    record Spec(String id, LossPolicy policy, boolean stubborn, boolean child) {
        String describe() {
            return "policy=" + policy + " style=" + (stubborn ? "stubborn" : "diligent") + " jvm="
                    + (child ? "child" : "test");
        }
    }

    /** The election every client joins. */
    static final String ELECTION = "safety-leader";

    private final Spec spec;
    private final String connectString;
    private final Duration sessionTimeout;
    private final int keys;
    private final long seed;
    private final int storePort;
    private final String namespace;
    private volatile boolean stopping;
    private volatile boolean longJobNext;
    private volatile boolean longLeaderJobNext;
    private volatile ZkLockService locks;
    private volatile StoreClient store;
    private LeaderElection election; // guarded by this
    private final Random jobRandom;
    private volatile Thread thread;
    private volatile CuratorFramework curator;
    private long lastSession;

    Worker(Spec spec, String connectString, Duration sessionTimeout, int keys, long seed, int storePort,
           String namespace) {
        this.spec = spec;
        this.connectString = connectString;
        this.sessionTimeout = sessionTimeout;
        this.keys = keys;
        this.seed = seed;
        this.storePort = storePort;
        this.namespace = namespace;
        this.jobRandom = new Random(seed * 17 + 1);
    }

    /** Makes the next critical section a long job (two session timeouts of work). */
    void requestLongJob() {
        longJobNext = true;
    }

    /** Makes the next section of its singleton job (when it leads) a long job. */
    void requestLongLeaderJob() {
        longLeaderJobNext = true;
    }

    /**
     * Leaves the election (resigning, if it leads, so the next participant takes over at once)
     * and joins it again, at the back of the queue.
     */
    synchronized void resign() {
        if (stopping || election == null) {
            return;
        }
        election.close();
        election = null;
        try {
            join();
        } catch (IllegalStateException e) {
            // the service is closing
        }
    }

    /** Joins the election, reports each term's start and end, and registers the singleton job. */
    private synchronized void join() {
        StoreClient store = this.store;
        election = locks.election(ELECTION, spec.id());
        election.addListener(new LeadershipListener() {
            @Override
            public void gained(Leadership term) {
                // told before the term's job starts (and before its end), on the thread that began it
                String key = Event.LEADER;
                long t = term.token().value();
                store.request("GRANT " + key + " " + t + " " + session());
                // a resignation is the holder's own release; anything else is a loss
                term.onLost(e -> store.request(e.reason() == LossReason.RESIGNED ? "RELEASE " + key + " " + t
                        : "LOST " + key + " " + t + " " + e.reason()));
            }
        });
        election.runAsSingleton("safety-job", LeaderElection.Repeat.WHILE_LEADER, this::leaderJob);
    }

    /** Asks the loop to end; it closes its service and reports CLOSED. */
    void stop() {
        stopping = true;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    @Override
    public void run() {
        thread = Thread.currentThread();
        try (StoreClient store = new StoreClient(storePort, spec.id())) {
            CuratorFramework curator = CuratorFrameworkFactory.builder()
                    .connectString(connectString)
                    .sessionTimeoutMs((int) sessionTimeout.toMillis())
                    .connectionTimeoutMs((int) sessionTimeout.toMillis())
                    .retryPolicy(new ExponentialBackoffRetry(100, 3))
                    // keep the connect string we were given (our proxies): the tracker would replace
                    // it with the servers' own addresses from the ensemble's config
                    .ensembleTracker(false)
                    // as a service built from a connect string does: the election's latch keeps a
                    // LOSE_AT_LOST term through a suspension and leaves its end to the service
                    .connectionStateErrorPolicy(spec.policy() == LossPolicy.LOSE_AT_LOST
                            ? new SessionConnectionStateErrorPolicy() : new StandardConnectionStateErrorPolicy())
                    .build();
            this.curator = curator;
            curator.getConnectionStateListenable().addListener((c, state) -> reportState(store, c, state));
            curator.start();
            try {
                if (!curator.blockUntilConnected(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException(spec.id() + " could not connect to " + connectString);
                }
                ZooKeeper zk = curator.getZookeeperClient().getZooKeeper();
                synchronized (this) {
                    lastSession = zk.getSessionId();
                }
                store.request("CLIENT " + zk.getSessionId() + " " + spec.describe());
                store.request("SESSION " + zk.getSessionId() + " " + HexFormat.of().formatHex(zk.getSessionPasswd()));
                try (ZkLockService locks = ZkLockService.builder().client(curator).namespace(namespace)
                        .lossPolicy(spec.policy()).connectionTimeout(sessionTimeout).build()) {
                    this.store = store;
                    this.locks = locks;
                    join();
                    loop(store, locks);
                } // closes the election first (a term still going on ends as RESIGNED: RELEASE)
                store.request("CLOSED");
            } finally {
                curator.close();
            }
        } catch (UncheckedIOException e) {
            // the store went away: the run is over
        } catch (Exception e) {
            throw new IllegalStateException(spec.id() + " failed", e);
        }
    }

    private void loop(StoreClient store, ZkLockService locks) {
        Random random = new Random(seed);
        LockOptions wait = LockOptions.defaults().waitAtMost(sessionTimeout.multipliedBy(2));
        while (!stopping) {
            String key = "k" + random.nextInt(keys);
            boolean longJob = longJobNext;
            longJobNext = false;
            long work = longJob ? sessionTimeout.multipliedBy(2).toMillis() : 5 + random.nextInt(35);
            try {
                if (spec.stubborn()) {
                    stubbornSection(store, locks, key, wait, work, longJob);
                } else {
                    diligentSection(store, locks, key, wait, work, longJob);
                }
            } catch (LockTimeoutException | LockLostException e) {
                // a busy key, or an aborted critical section (its loss is reported by onLost)
            } catch (InterruptedException e) {
                if (stopping) {
                    return;
                }
            } catch (IllegalStateException e) {
                if (stopping) {
                    return;
                }
                throw e;
            } catch (LockException e) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50)); // the ensemble is unreachable; try again
            }
        }
    }

    private void diligentSection(StoreClient store, ZkLockService locks, String key, LockOptions wait, long work,
                                 boolean longJob) throws InterruptedException {
        locks.withLock(LockKey.of("safety", key), wait, lease -> {
            granted(store, key, lease, longJob);
            section(store, key, lease.token().value(), work, true);
            finished(store, key, lease);
            return null;
        });
    }

    private void stubbornSection(StoreClient store, ZkLockService locks, String key, LockOptions wait, long work,
                                 boolean longJob) throws InterruptedException {
        Lease lease = locks.acquire(LockKey.of("safety", key), wait);
        try {
            granted(store, key, lease, longJob);
            section(store, key, lease.token().value(), work, false);
            finished(store, key, lease);
        } finally {
            lease.close();
        }
    }

    private void granted(StoreClient store, String key, Lease lease, boolean longJob) {
        store.request("GRANT " + key + " " + lease.token().value() + " " + session() + (longJob ? " long-job" : ""));
        lease.onLost(e -> store.request("LOST " + key + " " + e.token().value() + " " + e.reason()));
    }

    /** The session a grant was verified on: the reports of a session change may still be on their way. */
    private long session() {
        try {
            return curator.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            return 0;
        }
    }

    /**
     * One run of the singleton job: one section on the leader scope with the term's token. Runs
     * never overlap on one participant (the election starts a term's runs only after the previous
     * term's run has ended, so a stubborn run that overran delays the next term's first section).
     */
    private void leaderJob(Leadership term) throws InterruptedException {
        StoreClient store = this.store;
        String key = Event.LEADER;
        long t = term.token().value();
        boolean longJob = longLeaderJobNext;
        longLeaderJobNext = false;
        long work = longJob ? sessionTimeout.multipliedBy(2).toMillis() : 5 + jobRandom.nextInt(35);
        store.request("JOB " + key + " " + t + (longJob ? " long-job" : ""));
        boolean committed;
        try {
            committed = section(store, key, t, work, !spec.stubborn());
        } finally {
            store.request("JOBEND " + key + " " + t);
        }
        if (!committed) {
            // refused by the fence: another term has used the register. The election runs the job
            // again at once while this term lasts; pace it, or a leader that has not yet learnt of
            // its loss would spin on refused begins
            Thread.sleep(5 + jobRandom.nextInt(35));
        }
    }

    /**
     * Reports RELEASE when the holder is done with a lease it still believes in, just before it
     * closes it (so the history shows the holder's belief, not how long the close took); a lost
     * lease was reported by its onLost listener.
     */
    private static void finished(StoreClient store, String key, Lease lease) {
        if (lease.isValid()) {
            store.request("RELEASE " + key + " " + lease.token().value());
        }
    }

    /**
     * Begin, read, work, write read+1, commit; stops at the first operation the fence rejects.
     * Returns whether the commit was accepted.
     */
    private static boolean section(StoreClient store, String key, long t, long workMillis, boolean interruptible)
            throws InterruptedException {
        if (store.fenced("BEGIN", key, t, 0) == null) {
            return false;
        }
        Long value = store.fenced("READ", key, t, 0);
        if (value == null) {
            return false;
        }
        long naive = store.naive("READ", key, 0);
        if (interruptible) {
            Thread.sleep(workMillis);
        } else {
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(workMillis);
            for (long left; (left = until - System.nanoTime()) > 0; ) {
                LockSupport.parkNanos(left); // ignores interrupts, as careless code would
            }
        }
        store.naive("WRITE", key, naive + 1); // what would happen without a fence
        if (store.fenced("WRITE", key, t, value + 1) == null) {
            return false;
        }
        return store.fenced("COMMIT", key, t, 0) != null;
    }

    private void reportState(StoreClient store, CuratorFramework curator, ConnectionState state) {
        long session = 0;
        byte[] password = null;
        try {
            ZooKeeper zk = curator.getZookeeperClient().getZooKeeper();
            session = zk.getSessionId();
            password = zk.getSessionPasswd();
        } catch (Exception e) {
            // no handle right now
        }
        try {
            store.request("CONN " + state + " " + session);
            if (state.isConnected() && session != 0 && password != null) {
                boolean fresh;
                synchronized (this) {
                    fresh = session != lastSession && lastSession != 0;
                    if (fresh) {
                        lastSession = session;
                    }
                }
                if (fresh) {
                    store.request("SESSION " + session + " " + HexFormat.of().formatHex(password));
                }
            }
        } catch (UncheckedIOException e) {
            // the store went away
        }
    }
}
