package dev.baton.lock.zk;

import dev.baton.lock.LeaderElection;
import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.LockState;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.Elections;
import dev.baton.lock.internal.Requests;
import dev.baton.lock.internal.Ticker;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.ZooKeeper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A {@link LockService} on ZooKeeper, through Apache Curator.
 *
 * <pre>{@code
 * try (ZkLockService locks = ZkLockService.builder().connectString("zk1:2181,zk2:2181,zk3:2181").build()) {
 *     try (Lease lease = locks.acquire(LockKey.parse("billing/account/42"), Duration.ofSeconds(5))) {
 *         ledger.write("account-42", lease.token(), entry);
 *     }
 * }
 * }</pre>
 *
 * <p><b>Layout.</b> Under the namespace (default {@code /baton}), key {@code billing/account/42}
 * lives at {@code /baton/locks/billing/account/42}. Its reserved child {@code _q} holds one
 * ephemeral-sequential node per request that touches the key (the key itself, an ancestor of it,
 * or a descendant: an intention), and {@code _s} a second node per request holding the key
 * itself. Every parent is a CONTAINER node; the service deletes a key's nodes once it has left
 * the key idle for a second (if nobody else uses it), and the server deletes what is left empty,
 * so locking many distinct keys leaves nothing behind. Works with ZooKeeper servers 3.5 to 3.9;
 * an older server is refused at {@link ZkLockServiceBuilder#build()}. The algorithm, and why it cannot
 * deadlock, is in the package documentation.
 *
 * <p><b>Fencing token.</b> The zxid of the one transaction that created all of a request's
 * nodes. A request is granted only after every earlier conflicting request, at any level, has
 * left, so conflicting grants get strictly increasing tokens.
 *
 * <p><b>Losing a lock.</b> A lock is held by this client's ZooKeeper session. Under the default
 * {@link LossPolicy#LOSE_AT_SUSPENDED} every lease is lost the moment Curator reports the
 * connection SUSPENDED ({@link LossReason#CONNECTION_SUSPENDED}); under
 * {@link LossPolicy#LOSE_AT_LOST} only once the session is gone ({@link LossReason#SESSION_EXPIRED}).
 * Loss is told to {@code onLost} listeners, interrupts {@code withLock} bodies, and makes
 * {@code isValid()} false. If a lost lease's node still exists when the client reconnects with the
 * same session, it is deleted, so others do not wait for an expiry that will never come.
 *
 * <p><b>Threads.</b> Thread-safe. A lease may be closed from any thread. Do not call
 * {@code acquire} from a ZooKeeper or Curator callback: it blocks on replies those threads
 * deliver. Closing a lease sends the release and returns without waiting for ZooKeeper's answer:
 * this service's later requests are ordered after it; other clients see the key free once
 * ZooKeeper has applied it (one round trip later, while the ensemble answers). No thread is kept
 * per held lock. Each job lives in a class of its own; the package documentation maps them.
 */
public final class ZkLockService implements LockService {
    private static final Logger LOG = LoggerFactory.getLogger(ZkLockService.class);

    /** Where a service is in its life; changed by compare-and-set, never back. */
    private enum State { OPEN, CLOSING, CLOSED }

    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    /** Counted down when {@link #close()} is done. */
    private final CountDownLatch closed = new CountDownLatch(1);
    /** Set on the thread finishing {@link #close()}: listeners it runs may call close() again. */
    private final ThreadLocal<Boolean> closingHere = new ThreadLocal<>();

    private final CuratorFramework client;
    private final CuratorFramework ownedClient;
    private final Duration connectionTimeout;
    private final Ticker ticker;
    /** How this service's requests name their holder in the lock store: host:pid:random. */
    private final String holderId = Elections.defaultParticipantId();

    private final ScheduledExecutorService timer = daemonScheduler("baton-timer");
    private final ScheduledExecutorService settler = daemonScheduler("baton-settle");
    private final ScheduledExecutorService sweeper = daemonScheduler("baton-sweep");

    private final Store store;
    private final Session session;
    private final IdleKeys idleKeys;
    private final Cleanup cleanup;
    private final Leases leases;
    private final Acquirer acquirer;
    private final Operator operator;
    private final KeyWatches keyWatches;
    /** Refuses servers before 3.5, once per session. */
    private final ServerCheck serverCheck = new ServerCheck();
    /** Elections joined through this service and not yet left. */
    private final Set<ZkLeaderElection> elections = ConcurrentHashMap.newKeySet();

    ZkLockService(CuratorFramework namespaced, CuratorFramework ownedClient, LossPolicy lossPolicy,
                  Duration connectionTimeout, Duration defaultLeaseTime, Clock clock, Ticker ticker,
                  Store.Sending sending) {
        this.client = namespaced;
        this.ownedClient = ownedClient;
        this.connectionTimeout = connectionTimeout;
        this.ticker = ticker;
        this.store = new Store(namespaced, sending);
        this.session = new Session(namespaced, lossPolicy, timer);
        Watches watches = new Watches(ticker);
        this.idleKeys = new IdleKeys(ticker::nanos);
        LockDelay lockDelay = new LockDelay(store, namespaced, sweeper, timer, connectionTimeout);
        this.cleanup = new Cleanup(store, namespaced, session, lockDelay, idleKeys, sweeper, connectionTimeout, ticker);
        this.leases = new Leases(store, namespaced, session, cleanup, idleKeys, timer, connectionTimeout, ticker, clock);
        Breaker breaker = new Breaker(store);
        this.acquirer = new Acquirer(store, namespaced, session, watches, leases, cleanup, breaker, lockDelay, idleKeys,
                this::checkServer, timer, connectionTimeout, ticker, clock, holderId, defaultLeaseTime);
        this.operator = new Operator(store, namespaced, breaker, this::checkServer, connectionTimeout, ticker, holderId);
        this.keyWatches = new KeyWatches(store, namespaced, connectionTimeout);
        session.subscribe(new Session.Subscriber() {
            @Override
            public void changed() {
                watches.wakeAll(); // waiting requests look again, and learn of a session's end
            }
        });
        session.subscribe(leases);
        session.subscribe(cleanup);
        leases.start(settler); // its own thread: the timer's runs onLost listeners, which may block
        cleanup.start();
        session.start();
    }

    private static ScheduledExecutorService daemonScheduler(String name) {
        return Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    /** A new builder. */
    public static ZkLockServiceBuilder builder() {
        return new ZkLockServiceBuilder();
    }

    // ------------------------------------------------------------------------------------ locks

    /**
     * {@inheritDoc}
     *
     * <p>While the ensemble answers, the wait ends within {@code maxWait}. When it does not (the
     * connection is down), a watchdog on the monotonic clock ends any timed wait at most one
     * connection timeout after its deadline, with {@link LockTimeoutException}. If the wait ended
     * in the middle of a ZooKeeper call, the request's nodes are deleted in the background as soon
     * as their fate is known.
     */
    @Override
    public Lease acquire(LockKey key, LockOptions options) throws InterruptedException {
        long deadline = Requests.begin(key, options, ticker);
        return acquirer.acquire(Map.of(key, options.mode()), key, options, deadline);
    }

    /**
     * {@inheritDoc}
     *
     * <p>All the request's queue nodes, on every key and every ancestor, are created in one
     * ZooKeeper {@code multi}; a request too large for one (deep keys, hundreds of keys) is
     * refused before anything is sent.
     */
    @Override
    public Lease acquireAll(Map<LockKey, LockMode> keys, LockOptions options) throws InterruptedException {
        Map<LockKey, LockMode> ordered = Requests.checkAll(keys, options);
        Request.checkSize(ordered);
        long deadline = Requests.beginAll(ordered, options, ticker);
        return acquirer.acquire(ordered, ordered.keySet().iterator().next(), options, deadline);
    }

    // ------------------------------------------------------------------------------- operator

    /**
     * {@inheritDoc}
     *
     * <p>Reads the key's queue, the holders' records and the ancestors' strong indexes, and makes
     * one write to learn the ensemble's time (Baton's clock node), for {@code heldFor}.
     */
    @Override
    public LockState inspect(LockKey key) {
        Objects.requireNonNull(key, "key must not be null");
        checkOpen("inspect " + key);
        return operator.inspect(key);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Walks the key tree under {@code prefix} one depth at a time, listing each key's children
     * and strong index once (all of a depth sent at once), then reads each key with a strong node.
     */
    @Override
    public List<LockState> list(LockKey prefix) {
        Objects.requireNonNull(prefix, "prefix must not be null");
        checkOpen("list " + prefix);
        return operator.list(prefix);
    }

    @Override
    public List<LockState> list() {
        checkOpen("list the held locks");
        return operator.list();
    }

    /**
     * {@inheritDoc}
     *
     * <p>Writes a line to the holder's node in the key's strong index; the holder's service
     * watches that node.
     */
    @Override
    public int requestRelease(LockKey key) {
        Objects.requireNonNull(key, "key must not be null");
        checkOpen("request the release of " + key);
        return operator.requestRelease(key);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Each holder's nodes on the key and its ancestors are deleted in one multi (only if its
     * record was not rewritten since it was read).
     */
    @Override
    public int breakLock(LockKey key) {
        Objects.requireNonNull(key, "key must not be null");
        checkOpen("break " + key);
        return operator.breakLock(key);
    }

    /**
     * Follows {@code key}: {@code onChange} gets the key's state at once, then again after every
     * change of its queue (requests arriving, released, broken or timed out) and at least every
     * {@value KeyWatches#REFRESH_MS} ms (a grant caused elsewhere, such as the release of a coarser
     * key, shows then), on one thread, in order, until the returned handle or the service is
     * closed. States between two deliveries may be skipped when changes come faster than they can
     * be read. A failed read is retried. When the connection to the ensemble goes down,
     * {@link KeyListener#connection} is told ({@code false}) before anything else, and again
     * ({@code true}) when it is back, followed by a fresh state: changes made meanwhile show
     * only in the difference between the states before and after. For tools such as
     * {@code lockctl watch}.
     *
     * @throws IllegalStateException if the service is closed
     */
    public Watching watch(LockKey key, KeyListener onChange) {
        Objects.requireNonNull(key, "key must not be null");
        Objects.requireNonNull(onChange, "onChange must not be null");
        checkOpen("watch " + key);
        return keyWatches.follow(key, onChange);
    }

    /**
     * What {@link #watch} tells: the key's successive states, and the connection to the ensemble
     * going down and coming back. Called on the watch's one thread, in order.
     */
    @FunctionalInterface
    public interface KeyListener {
        /** The key's state as just read from the ensemble. */
        void changed(LockState state);

        /**
         * The connection to the ensemble went down ({@code false}: nothing is read until it is
         * back, so grants and releases meanwhile are not seen as they happen) or came back
         * ({@code true}: a fresh state follows). By default nothing.
         */
        default void connection(boolean connected) {
        }
    }

    /** A running {@link #watch}; closing it stops the follower, waiting for it at most the connection timeout. */
    public interface Watching extends AutoCloseable {
        /** Stops following; idempotent, never throws. */
        @Override
        void close();
    }

    // ------------------------------------------------------------------------------ elections

    /**
     * {@inheritDoc}
     *
     * <p>Built on Curator's {@code LeaderLatch} under {@code <namespace>/elections/<name>}; each
     * term's token is the zxid of a write made when the term begins (see the package's
     * {@code ZkLeaderElection}). Terms end under this service's {@link LossPolicy}, told by the
     * service's one connection watcher. Elections share this service's ZooKeeper session with
     * its locks.
     */
    @Override
    public LeaderElection election(String name, String participantId) {
        try {
            checkServer(client.getZookeeperClient().getZooKeeper());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // not checked now; the latch's own calls see the interrupt
        } catch (LockException e) {
            throw e;
        } catch (Exception e) {
            // no handle yet: the latch waits for the connection, and the next call checks
        }
        ZkLeaderElection election = new ZkLeaderElection(session, client, name, participantId, elections::remove);
        synchronized (elections) {
            if (state.get() != State.OPEN) {
                throw new IllegalStateException("LockService is closed: cannot join election " + name);
            }
            elections.add(election);
        }
        try {
            election.start();
        } catch (RuntimeException e) {
            elections.remove(election);
            throw e;
        }
        return election;
    }

    /**
     * Refuses a server before 3.5 (see {@link ServerCheck}); once per session.
     *
     * @throws LockException naming the server and the versions supported
     */
    void checkServer(ZooKeeper zk) throws InterruptedException {
        if (client.getZookeeperClient().isConnected()) { // else the call's own requests meet the trouble
            serverCheck.verify(zk, client.getZookeeperClient().getCurrentConnectionString(), connectionTimeout);
        }
    }

    private void checkOpen(String what) {
        if (state.get() != State.OPEN) {
            throw new IllegalStateException("LockService is closed: cannot " + what);
        }
    }

    // ------------------------------------------------------------------------------------ close

    /**
     * {@inheritDoc}
     *
     * <p>Called while delivering one of ZooKeeper's or Curator's callbacks (as from an
     * {@code onLost} listener), it refuses later calls at once and hands the rest to a thread of
     * its own: waiting there for ZooKeeper's answers would wait for the very thread that delivers
     * them. Its elections and leases end a moment later. Called again while a close is going on,
     * it waits for that one (except from those callbacks, or from the closing thread itself).
     */
    @Override
    public void close() {
        boolean handOff = Callbacks.delivering();
        if (!state.compareAndSet(State.OPEN, State.CLOSING)) {
            if (!handOff && closingHere.get() == null) {
                try {
                    closed.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return;
        }
        synchronized (elections) { // no election joins from here on
            acquirer.close(); // later acquires are refused, waiting ones interrupted
        }
        List<ZkLease> held = leases.close();
        boolean wait = session.isConnected();
        if (handOff) {
            Thread closer = new Thread(() -> finishClose(held, wait), "baton-close");
            closer.setDaemon(false); // the releases should be sent even if the program ends now
            closer.start();
            return;
        }
        finishClose(held, wait);
    }

    private void finishClose(List<ZkLease> held, boolean wait) {
        closingHere.set(Boolean.TRUE);
        try {
            for (ZkLeaderElection election : new ArrayList<>(elections)) {
                election.close(); // before the leases: a job may still be writing under a lock
            }
            keyWatches.close();
            session.close();
            List<ZkLease> ended = new ArrayList<>();
            List<CompletableFuture<Void>> deletes = new ArrayList<>();
            for (ZkLease lease : held) {
                if (lease.markLost(LossReason.SERVICE_CLOSED)) {
                    ended.add(lease);
                    deletes.add(cleanup.deleteNodes(lease.allNodes())); // closing is letting go: no lock delay
                }
            }
            for (ZkLease lease : ended) {
                lease.fireLost();
            }
            if (wait) {
                awaitAnswers(CompletableFuture.allOf(deletes.toArray(new CompletableFuture<?>[0])));
            }
            timer.shutdownNow();
            settler.shutdownNow();
            acquirer.awaitGone(connectionTimeout); // their cleanup must be queued before the sweeper stops
            if (ownedClient == null) {
                cleanup.runPurges(); // a caller's client keeps its session, and would keep such nodes with it
            }
            sweeper.shutdown();
            try {
                if (!sweeper.awaitTermination(connectionTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    sweeper.shutdownNow();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (ownedClient != null) {
                ownedClient.close();
            }
        } finally {
            closingHere.remove();
            state.set(State.CLOSED);
            closed.countDown();
        }
    }

    private void awaitAnswers(CompletableFuture<Void> answered) {
        try {
            answered.get(connectionTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.debug("Releases not yet acknowledged; they continue in the background", e);
        }
    }

    // ------------------------------------------------------------ package-private, for the builder and tests

    /** The namespaced client this service works through. */
    CuratorFramework client() {
        return client;
    }

    /** The ZooKeeper calls of this service. */
    Store store() {
        return store;
    }

    /** Keeps the locks root (a secured namespace's), which the idle sweep would delete. */
    void keepRoot() {
        idleKeys.keepRoot();
    }

    /** How many keys this service remembers as idle and not swept yet. */
    int idleKeysRemembered() {
        return idleKeys.size();
    }

    /** The queue node of {@code key}, relative to the namespace. */
    static String queuePath(LockKey key) {
        return Layout.queuePath(key);
    }

    /** The lease's node in its first key's queue, relative to the namespace. */
    static String nodeOf(Lease lease) {
        ZkLease zl = (ZkLease) lease;
        String queue = Layout.queuePath(zl.key()) + "/";
        for (String node : zl.nodes()) {
            if (node.startsWith(queue)) {
                return node;
            }
        }
        throw new IllegalStateException("no queue node for " + zl.key());
    }

    /** Every node behind a lease of this service, relative to the namespace. */
    static List<String> nodesOf(Lease lease) {
        return ((ZkLease) lease).nodes();
    }
}
