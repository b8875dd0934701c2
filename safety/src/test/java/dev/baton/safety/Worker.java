package dev.baton.safety;

import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.LeadershipListener;
import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
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
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * One client of a safety run: its own ZooKeeper session and {@link ZkLockService} (or, in an
 * in-memory run, a share of one {@link dev.baton.lock.memory.InMemoryLockService}), looping over
 * the requests its {@link Workload} draws. Each request is reported (REQUEST) before it is made and
 * its outcome after (GRANT, TIMEOUT or FAILED). In each critical section it works on every leaf
 * register its lease covers (see {@link Scopes}): it begins and reads each, works, then writes the
 * value read plus one to each leaf it holds exclusively and commits each; a leaf it holds only
 * shared is begun, read and committed, never written. Fenced operations carry its token and its
 * mode at the leaf; the naive store sees the same reads and writes of the exclusive leaves.
 * Everything it sees (grants, losses, releases, connection changes) is reported to the
 * {@link StoreServer}.
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
 * singleton job likewise ignores the interrupt that ends its term and finishes its section. When
 * the injector asks for a <em>hung job</em>, the next lock is taken with a lease time and its
 * section, diligent or not, ignores interrupts and outstays the lease, as a hung body would.
 */
final class Worker implements Runnable {
    /**
     * What a client is: its id, loss policy (null in an in-memory run: there is no session),
     * style, and whether it runs in a child JVM.
     */
    record Spec(String id, LossPolicy policy, boolean stubborn, boolean child) {
        String describe() {
            return "policy=" + (policy == null ? "none" : policy) + " style=" + (stubborn ? "stubborn" : "diligent")
                    + " jvm=" + (child ? "child" : "test");
        }
    }

    /** The election every client joins. */
    static final String ELECTION = "safety-leader";

    private final Spec spec;
    private final String connectString;
    private final Duration sessionTimeout;
    private final Workload workload;
    private final long seed;
    private final int storePort;
    private final String namespace;
    /** In an in-memory run: the service every client shares (not closed by a worker); else null. */
    private final LockService shared;
    private volatile boolean stopping;
    private volatile boolean longJobNext;
    private volatile boolean hungJobNext;
    private volatile boolean longLeaderJobNext;
    /**
     * Closed while the injector "pauses" this in-memory client (sections stop before their writes),
     * and for a hung section until the injector wakes it.
     */
    private final Object gate = new Object();
    private boolean paused; // guarded by gate
    private boolean hung; // guarded by gate
    private volatile LockService locks;
    private volatile StoreClient store;
    private LeaderElection election; // guarded by this
    private final Random jobRandom;
    private volatile Thread thread;
    private volatile CuratorFramework curator;
    private long lastSession;

    /** A client with its own ZooKeeper session, through {@code connectString}. */
    Worker(Spec spec, String connectString, Duration sessionTimeout, Workload workload, long seed, int storePort,
           String namespace) {
        this(spec, connectString, sessionTimeout, workload, seed, storePort, namespace, null);
    }

    /**
     * A client of the in-memory {@code service}, shared by every client of the run;
     * {@code sessionTimeout} only scales waits and long jobs.
     */
    Worker(Spec spec, LockService service, Duration sessionTimeout, Workload workload, long seed, int storePort) {
        this(spec, null, sessionTimeout, workload, seed, storePort, null, service);
    }

    private Worker(Spec spec, String connectString, Duration sessionTimeout, Workload workload, long seed,
                   int storePort, String namespace, LockService shared) {
        this.spec = spec;
        this.connectString = connectString;
        this.sessionTimeout = sessionTimeout;
        this.workload = workload;
        this.seed = seed;
        this.storePort = storePort;
        this.namespace = namespace;
        this.shared = shared;
        this.jobRandom = new Random(seed * 17 + 1);
    }

    /** Makes the next critical section a long job (two session timeouts of work). */
    void requestLongJob() {
        longJobNext = true;
    }

    /**
     * The lease time of a hung job's grant: half a session timeout, so that it ends halfway through
     * the job's work (one session timeout), long after the section has read its registers, while
     * the session itself stays alive.
     */
    static Duration hungLease(Duration sessionTimeout) {
        return sessionTimeout.dividedBy(2);
    }

    /**
     * Makes the next critical section a hung job: a long job whose lock is granted with a lease
     * time ({@link #hungLease}), whose section ignores interrupts (so the lease's end does not
     * abort it), works for twice its lease time and then waits until {@link #wake} before its
     * writes.
     */
    void requestHungJob() {
        synchronized (gate) {
            hung = true;
        }
        hungJobNext = true;
    }

    /** Lets a hung section go on to its writes (with its old token). */
    void wake() {
        synchronized (gate) {
            hung = false;
            gate.notifyAll();
        }
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
        }, Runnable::run); // on the thread that begins the term, not the listener thread: before the job runs
        election.runAsSingleton("safety-job", LeaderElection.Repeat.WHILE_LEADER, this::leaderJob);
    }

    /**
     * In-memory runs: stops this client's sections just before their writes until {@link #unpause},
     * as a process stop would, without interruption (a diligent section notices a loss only when
     * it resumes).
     */
    void pause() {
        synchronized (gate) {
            paused = true;
        }
    }

    void unpause() {
        synchronized (gate) {
            paused = false;
            gate.notifyAll();
        }
    }

    /** Waits (ignoring interrupts) while paused, or in a {@code hungSection} until {@link #wake}. */
    private void passGate(boolean hungSection) {
        synchronized (gate) {
            boolean interrupted = false;
            while (paused || (hungSection && hung)) {
                try {
                    gate.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Asks the loop to end; it closes its service (its election, in an in-memory run) and reports CLOSED. */
    void stop() {
        stopping = true;
        unpause();
        wake();
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    @Override
    public void run() {
        thread = Thread.currentThread();
        if (shared != null) {
            runShared();
            return;
        }
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

    /** An in-memory client: the shared service stays open; its election is closed when the loop ends. */
    private void runShared() {
        try (StoreClient store = new StoreClient(storePort, spec.id())) {
            store.request("CLIENT 0 " + spec.describe());
            this.store = store;
            this.locks = shared;
            synchronized (this) {
                join();
            }
            try {
                loop(store, shared);
            } finally {
                synchronized (this) {
                    if (election != null) {
                        election.close(); // a term still going on ends as RESIGNED: RELEASE
                        election = null;
                    }
                }
            }
            store.request("CLOSED");
        } catch (UncheckedIOException e) {
            // the store went away: the run is over
        } catch (Exception e) {
            throw new IllegalStateException(spec.id() + " failed", e);
        }
    }

    /**
     * One request of the loop: what it asked, its number, whether it is a long job, its lease
     * time (a hung job's; else null), and whether it was granted.
     */
    private static final class Attempt {
        final Workload.Request request;
        final long id;
        final String spec;
        final boolean longJob;
        final Duration leaseTime;
        boolean granted;

        Attempt(Workload.Request request, long id, boolean longJob, Duration leaseTime) {
            this.request = request;
            this.id = id;
            this.spec = request.spec();
            this.longJob = longJob;
            this.leaseTime = leaseTime;
        }

        /** Whether this is a hung job. */
        boolean hung() {
            return leaseTime != null;
        }

        /** The options of the request: its wait, its lease time if any, and for one key its mode. */
        LockOptions options() {
            LockOptions o = LockOptions.defaults().waitAtMost(request.maxWait());
            if (leaseTime != null) {
                o = o.leaseTime(leaseTime);
            }
            return request.all() ? o : o.mode(request.keys().values().iterator().next());
        }

        LockKey key() {
            return request.keys().keySet().iterator().next();
        }
    }

    private void loop(StoreClient store, LockService locks) {
        Random random = new Random(seed);
        long requests = 0;
        while (!stopping) {
            Workload.Request drawn = workload.next(random);
            boolean hungJob = hungJobNext;
            hungJobNext = false;
            boolean longJob = longJobNext || hungJob;
            longJobNext = false;
            if (longJob && drawn.maxWait().compareTo(sessionTimeout.multipliedBy(2)) < 0) {
                // the injector waits for this job: let it wait its turn as long as a normal request
                drawn = new Workload.Request(drawn.keys(), drawn.all(), sessionTimeout.multipliedBy(2));
            }
            long work = hungJob ? hungLease(sessionTimeout).multipliedBy(2).toMillis()
                    : longJob ? sessionTimeout.multipliedBy(2).toMillis() : 5 + random.nextInt(35);
            Attempt a = new Attempt(drawn, ++requests, longJob, hungJob ? hungLease(sessionTimeout) : null);
            store.request("REQUEST " + a.spec + " " + drawn.maxWait().toMillis() + " " + a.id);
            try {
                if (spec.stubborn()) {
                    stubbornSection(store, locks, a, work);
                } else {
                    diligentSection(store, locks, a, work);
                }
            } catch (LockTimeoutException e) {
                ended(store, a, "TIMEOUT " + a.spec + " " + a.id);
            } catch (LockLostException e) {
                // an aborted critical section (its loss is reported by onLost)
                ended(store, a, "FAILED " + a.spec + " " + a.id + " " + e.getClass().getSimpleName());
            } catch (InterruptedException e) {
                ended(store, a, "FAILED " + a.spec + " " + a.id + " " + e.getClass().getSimpleName());
                if (stopping) {
                    return;
                }
            } catch (IllegalStateException e) {
                ended(store, a, "FAILED " + a.spec + " " + a.id + " " + e.getClass().getSimpleName());
                if (stopping) {
                    return;
                }
                throw e;
            } catch (LockException e) {
                ended(store, a, "FAILED " + a.spec + " " + a.id + " " + e.getClass().getSimpleName());
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50)); // the ensemble is unreachable; try again
            } catch (RuntimeException e) {
                ended(store, a, "FAILED " + a.spec + " " + a.id + " " + e.getClass().getSimpleName());
                throw e;
            }
        }
    }

    /**
     * Reports how a request that was not granted ended; a long (or hung) job asked for and not run
     * is asked for again.
     */
    private void ended(StoreClient store, Attempt a, String line) {
        if (a.granted) {
            return;
        }
        if (a.longJob) {
            longJobNext = true;
        }
        if (a.hung()) {
            hungJobNext = true;
        }
        store.request(line);
    }

    private Lease acquire(LockService locks, Attempt a) throws InterruptedException {
        return a.request.all() ? locks.acquireAll(a.request.keys(), a.options()) : locks.acquire(a.key(), a.options());
    }

    private void diligentSection(StoreClient store, LockService locks, Attempt a, long work)
            throws InterruptedException {
        if (!a.request.all()) {
            locks.withLock(a.key(), a.options(), lease -> {
                granted(store, a, lease);
                try {
                    section(store, a.spec, lease.token().value(), work, !a.hung(), a.hung());
                } finally {
                    finished(store, a.spec, lease); // also when stopping interrupts the section
                }
                return null;
            });
            return;
        }
        // withLock takes one key: the same, by hand, for a lease over several
        try (Lease lease = acquire(locks, a)) {
            Abort abort = new Abort(Thread.currentThread());
            lease.onLost(abort);
            granted(store, a, lease);
            try {
                section(store, a.spec, lease.token().value(), work, !a.hung(), a.hung());
            } finally {
                abort.finish();
                finished(store, a.spec, lease);
            }
        }
    }

    /** Interrupts a diligent section when its lease is lost; never after {@link #finish}, whose interrupt it clears. */
    private static final class Abort implements Consumer<LockLostException> {
        private final Thread thread;
        private boolean running = true;
        private boolean interrupted;

        Abort(Thread thread) {
            this.thread = thread;
        }

        @Override
        public synchronized void accept(LockLostException e) {
            if (running) {
                interrupted = true;
                thread.interrupt();
            }
        }

        synchronized void finish() {
            running = false;
            if (interrupted) {
                Thread.interrupted();
            }
        }
    }

    private void stubbornSection(StoreClient store, LockService locks, Attempt a, long work)
            throws InterruptedException {
        Lease lease = acquire(locks, a);
        try {
            granted(store, a, lease);
            section(store, a.spec, lease.token().value(), work, false, a.hung());
        } finally {
            finished(store, a.spec, lease);
            lease.close();
        }
    }

    /**
     * Reports the grant of a request (with {@code granted=...} when the lease's keys differ from
     * what was asked) and registers the report of its loss.
     */
    private void granted(StoreClient store, Attempt a, Lease lease) {
        a.granted = true;
        String held = Workload.Request.spec(lease.keys());
        boolean same = Scopes.parse(held).stream().sorted(java.util.Comparator.comparing(Scopes.Part::key)).toList()
                .equals(Scopes.parse(a.spec).stream().sorted(java.util.Comparator.comparing(Scopes.Part::key)).toList());
        store.request("GRANT " + a.spec + " " + lease.token().value() + " " + session() + " req=" + a.id
                + (a.longJob ? " long-job" : "") + (a.hung() ? " lease=" + a.leaseTime.toMillis() + "ms" : "")
                + (same ? "" : " granted=" + held));
        lease.onLost(e -> store.request("LOST " + a.spec + " " + e.token().value() + " " + e.reason()));
    }

    /** The session a grant was verified on: the reports of a session change may still be on their way. */
    private long session() {
        if (curator == null) {
            return 0;
        }
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
            committed = section(store, key, t, work, !spec.stubborn(), false);
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
     * Reports RELEASE when the holder is done with a lease it still believes in (however its
     * section ended), just before it closes it (so the history shows the holder's belief, not how
     * long the close took); a lost lease was reported by its onLost listener.
     */
    private static void finished(StoreClient store, String key, Lease lease) {
        if (lease.isValid()) {
            store.request("RELEASE " + key + " " + lease.token().value());
        }
    }

    /**
     * On every leaf {@code spec} covers: begin, read; then work; then write read+1 to each leaf
     * held exclusively, and commit each leaf. Stops at the first operation the fence rejects.
     * Returns whether every commit was accepted. A shared leaf's operations carry the shared mode
     * and are never writes. A {@code hung} section (not interruptible) also waits, after its
     * work, until the injector wakes it.
     */
    private boolean section(StoreClient store, String spec, long t, long workMillis, boolean interruptible,
                            boolean hung) throws InterruptedException {
        Map<String, Boolean> leaves = Scopes.leaves(spec);
        Map<String, Long> read = new java.util.HashMap<>();
        Map<String, Long> naive = new java.util.HashMap<>();
        for (Map.Entry<String, Boolean> l : leaves.entrySet()) {
            if (store.fenced("BEGIN", l.getKey(), t, 0, l.getValue()) == null) {
                return false;
            }
        }
        for (Map.Entry<String, Boolean> l : leaves.entrySet()) {
            Long value = store.fenced("READ", l.getKey(), t, 0, l.getValue());
            if (value == null) {
                return false;
            }
            read.put(l.getKey(), value);
            if (!l.getValue()) {
                naive.put(l.getKey(), store.naive("READ", l.getKey(), 0));
            }
        }
        store.request("WORK " + spec + " " + t);
        if (interruptible) {
            Thread.sleep(workMillis);
        } else {
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(workMillis);
            for (long left; (left = until - System.nanoTime()) > 0; ) {
                LockSupport.parkNanos(left); // ignores interrupts, as careless code would
            }
        }
        passGate(hung);
        if (interruptible && Thread.interrupted()) {
            throw new InterruptedException("lost while paused");
        }
        for (Map.Entry<String, Boolean> l : leaves.entrySet()) {
            if (!l.getValue()) {
                store.naive("WRITE", l.getKey(), naive.get(l.getKey()) + 1); // what would happen without a fence
                if (store.fenced("WRITE", l.getKey(), t, read.get(l.getKey()) + 1, false) == null) {
                    return false;
                }
            }
        }
        for (Map.Entry<String, Boolean> l : leaves.entrySet()) {
            if (store.fenced("COMMIT", l.getKey(), t, 0, l.getValue()) == null) {
                return false;
            }
        }
        return true;
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
