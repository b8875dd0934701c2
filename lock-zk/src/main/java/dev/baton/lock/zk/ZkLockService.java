package dev.baton.lock.zk;

import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.AbstractLease;
import dev.baton.lock.internal.Requests;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.imps.CuratorFrameworkState;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.curator.framework.state.SessionConnectionStateErrorPolicy;
import org.apache.curator.framework.state.StandardConnectionStateErrorPolicy;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.utils.PathUtils;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

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
 * lives at {@code /baton/locks/billing/account/42}, and its queue of requests in the reserved child
 * {@code _q}, one ephemeral-sequential node per request (Curator's {@code InterProcessMutex}
 * algorithm: the oldest node holds the lock, each other node watches the one before it). Every
 * parent is a CONTAINER node, which the server deletes once empty, so locking many distinct keys
 * leaves nothing behind.
 *
 * <p><b>Fencing token.</b> The czxid (creation zxid) of the holder's own lock node. It increases
 * from one holder of a key to the next: see {@link #acquireOnce}.
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
 * deliver. Closing a lease waits (at most the connection timeout) for ZooKeeper to acknowledge
 * the release, except on a ZooKeeper event thread, where it only sends it.
 *
 * <p><b>Current behaviour:</b> keys are independent locks and only exclusive mode exists. Each
 * acquisition creates its own Curator mutex; no thread is kept per held lock.
 */
public final class ZkLockService implements LockService {
    private static final Logger LOG = LoggerFactory.getLogger(ZkLockService.class);

    static final String LOCKS = "/locks";
    static final String QUEUE = "_q";

    private final CuratorFramework client;
    private final CuratorFramework ownedClient;
    private final LossPolicy lossPolicy;
    private final Duration connectionTimeout;
    private final ConnectionStateListener stateListener = (c, state) -> stateChanged(state);
    private final ScheduledExecutorService timer;
    /** Sweeps never-used parent containers after failed acquires; see {@link #sweepNeverUsed}. */
    private final java.util.concurrent.ExecutorService sweeper;

    private final Object stateLock = new Object();
    // guarded by stateLock
    private final Set<ZkLease> leases = new HashSet<>();
    private final Map<Thread, Waiter> waiting = new HashMap<>();
    private boolean connected;
    /** SUSPENDED, READ_ONLY and LOST events seen: a grant checked across one is not trusted. */
    private long suspensions;
    /** LOST events seen. */
    private long expirations;
    /** Advanced by every reconnection and session loss; a pending expiry deadline belongs to one. */
    private long generation;
    private boolean closed;
    private ScheduledFuture<?> expiryDeadline;

    /** Elections joined through this service and not yet left. */
    private final Set<ZkLeaderElection> elections = ConcurrentHashMap.newKeySet();

    /** Paths of lost leases whose deletion has not been confirmed; retried on reconnection. */
    private final Set<String> orphans = ConcurrentHashMap.newKeySet();

    /**
     * Mutexes whose last attempt was not granted, by queue path, reused by the next attempt on the
     * same key. A failed attempt leaves Curator's watch on its predecessor until that node
     * changes; reusing the mutex reuses the same watcher object, which ZooKeeper's client keeps
     * once per path, instead of piling up one per attempt. A granted mutex is never reused (its
     * per-thread state would make the next acquire on that thread re-entrant).
     */
    private final ConcurrentMap<String, BatonMutex> spareMutexes = new ConcurrentHashMap<>();
    static final int MAX_SPARE_MUTEXES = 1024;

    /** Why the service interrupted a waiting thread. */
    private enum Interruption { CLOSE, DEADLINE }

    /** One thread in {@code acquire}; guarded by stateLock. */
    private static final class Waiter {
        Interruption interruption;
    }

    private ZkLockService(CuratorFramework namespaced, CuratorFramework ownedClient, LossPolicy lossPolicy,
                          Duration connectionTimeout) {
        this.client = namespaced;
        this.ownedClient = ownedClient;
        this.lossPolicy = lossPolicy;
        this.connectionTimeout = connectionTimeout;
        this.sweeper = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "baton-container-sweep");
            t.setDaemon(true);
            return t;
        });
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "baton-session-deadline");
            t.setDaemon(true);
            return t;
        });
        client.getConnectionStateListenable().addListener(stateListener);
        synchronized (stateLock) {
            // read after adding the listener, so no change between the two goes unseen
            this.connected = client.getZookeeperClient().isConnected();
        }
    }

    /** A new builder. */
    public static Builder builder() {
        return new Builder();
    }

    // ------------------------------------------------------------------------------------ acquire

    /**
     * {@inheritDoc}
     *
     * <p>While the ensemble answers, the wait ends within {@code maxWait}. When it does not (the
     * connection is down), Curator's retries could stretch a wait far beyond it; a watchdog on the
     * monotonic clock ends any timed wait at most one connection timeout after its deadline, with
     * {@link LockTimeoutException}. If the wait ended in the middle of a ZooKeeper call, the
     * request's node is deleted in the background right after.
     */
    @Override
    public Lease acquire(LockKey key, LockOptions options) throws InterruptedException {
        long deadline = Requests.begin(key, options);
        Thread me = Thread.currentThread();
        Waiter waiter = new Waiter();
        ScheduledFuture<?> watchdog = null;
        synchronized (stateLock) {
            checkOpen(key);
            waiting.put(me, waiter);
            long grace = Requests.remainingNanos(deadline) + connectionTimeout.toNanos();
            if (deadline != Long.MAX_VALUE && grace > 0) {
                watchdog = timer.schedule(() -> interrupt(me, waiter, Interruption.DEADLINE), grace,
                        TimeUnit.NANOSECONDS);
            }
        }
        try {
            while (true) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("Interrupted while acquiring " + key);
                }
                ZkLease lease = acquireOnce(key, options, deadline);
                if (lease != null) {
                    return lease;
                }
            }
        } catch (InterruptedException e) {
            Interruption why;
            synchronized (stateLock) {
                why = waiter.interruption;
            }
            if (why == Interruption.CLOSE) {
                throw new IllegalStateException("LockService closed while waiting for " + key, e);
            }
            if (why == Interruption.DEADLINE) {
                LockTimeoutException timeout = new LockTimeoutException(key, options.waitAtMost().orElseThrow());
                timeout.initCause(e); // ZooKeeper did not answer in time
                throw timeout;
            }
            throw e;
        } finally {
            if (watchdog != null) {
                watchdog.cancel(false);
            }
            boolean ours;
            synchronized (stateLock) {
                waiting.remove(me);
                ours = waiter.interruption != null;
                stateLock.notifyAll(); // close() waits for interrupted waiters to leave
            }
            if (ours) {
                Thread.interrupted(); // the interrupt was ours, to end the wait; do not leak it
            }
        }
    }

    @Override
    public Lease acquireAll(java.util.Map<LockKey, LockMode> keys, LockOptions options) {
        throw new UnsupportedOperationException("acquireAll: not yet"); // TODO hierarchy engine
    }

    /** Interrupts a thread still waiting in {@code acquire}, recording why; the first reason wins. */
    private void interrupt(Thread thread, Waiter waiter, Interruption why) {
        synchronized (stateLock) {
            if (waiting.get(thread) == waiter && waiter.interruption == null) {
                waiter.interruption = why;
                thread.interrupt();
            }
        }
    }

    /**
     * One attempt: enqueue a lock node, wait for it to come first, check that this session owns
     * it, register the lease.
     *
     * <p>Why the token (the node's czxid) increases from holder to holder: the queue is served in
     * sequence order, and a node's sequence number and its czxid are both assigned when the
     * create is committed, so within one life of the queue node a later sequence has a later
     * czxid. A node is granted only when every node with a lower sequence has been deleted, so
     * the next holder's node is younger than the previous holder's, and its czxid larger. When
     * the (container) queue node is deleted and recreated its sequence restarts, but it is
     * deleted only once empty, so every node of the new life is created after every node of the
     * old one: the czxid keeps growing. Nodes are found by the random prefix of Curator's
     * protected mode, never by sequence number alone.
     *
     * @return the lease, or null to try again (the grant could not be trusted)
     */
    private ZkLease acquireOnce(LockKey key, LockOptions options, long deadline) throws InterruptedException {
        String queue = queuePath(key);
        BatonMutex spare = spareMutexes.remove(queue);
        BatonMutex mutex = spare != null ? spare : new BatonMutex(client, queue);
        boolean granted = false;
        try {
            if (deadline == Long.MAX_VALUE) {
                mutex.acquire();
                granted = true;
            } else {
                long nanos = Requests.remainingNanos(deadline);
                granted = mutex.acquire((nanos + 999_999) / 1_000_000, TimeUnit.MILLISECONDS);
            }
        } catch (KeeperException.NoNodeException e) {
            // our queue node vanished under us (session expired while waiting): enqueue again
            LOG.debug("Lock node for {} vanished while waiting; retrying", key, e);
            return retryOrTimeOut(key, options, deadline);
        } catch (Exception e) {
            // an acquire that ends in an exception (an interrupt, above all) may have stopped
            // between creating its key's parent containers and its lock node
            sweepNeverUsed(key);
            throw failure(key, e);
        } finally {
            if (!granted && spareMutexes.size() < MAX_SPARE_MUTEXES) {
                spareMutexes.putIfAbsent(queue, mutex);
            }
        }
        if (!granted) {
            // Curator has deleted our node before returning false; it returns false at once when
            // its client is closed, and it times the wait on the wall clock: our deadline decides
            if (client.getState() != CuratorFrameworkState.STARTED) {
                synchronized (stateLock) {
                    if (closed) {
                        throw new IllegalStateException("LockService closed while waiting for " + key);
                    }
                }
                throw new LockException("Could not acquire " + key + ": the Curator client is " + client.getState());
            }
            return retryOrTimeOut(key, options, deadline);
        }
        String node = mutex.lockNode();
        long[] epoch = epoch();
        Stat stat;
        long sessionId;
        try {
            stat = client.checkExists().forPath(node);
            // read after the stat: if the session changed before this line, the owner cannot match
            sessionId = client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            deleteNode(node);
            throw failure(key, e);
        }
        if (stat == null || stat.getEphemeralOwner() != sessionId) {
            // A "phantom" grant: the node Curator granted us is gone, or belongs to an earlier
            // session of this client (Curator can grant a waiter on a node left by its own expired
            // session). Holding it would let another client in when that session's expiry removes
            // it. Drop it and queue again.
            LOG.warn("Refusing grant of {} on {}: node owner {} is not this session 0x{}", key, node,
                    stat == null ? "(gone)" : "0x" + Long.toHexString(stat.getEphemeralOwner()),
                    Long.toHexString(sessionId));
            deleteNode(node);
            return retryOrTimeOut(key, options, deadline);
        }
        ZkLease lease = new ZkLease(key, FencingToken.of(stat.getCzxid()), node, sessionId);
        LossReason refused = register(lease, epoch);
        if (refused == null) {
            return lease;
        }
        deleteNode(node);
        if (refused == LossReason.SERVICE_CLOSED) {
            throw new IllegalStateException("LockService closed while acquiring " + key);
        }
        // the connection was suspended or the session lost while we checked the grant: start over
        return retryOrTimeOut(key, options, deadline);
    }

    /**
     * Deletes the container an interrupted acquire may have left empty and never used.
     *
     * <p>Curator creates a lock node's missing parents one level at a time, as CONTAINER nodes.
     * An acquire interrupted between two of those creates leaves the deepest one without ever a
     * child, and the server removes only containers that have had one (unless
     * {@code znode.container.maxNeverUsedIntervalMs} is set): measured here, interrupted acquires
     * on fresh keys left one such node for about one acquire in ten. Deleting that deepest node is
     * enough: its parent has then had a child and is empty, so the server's cleanup takes it and
     * everything above. Runs on its own thread, since the failed thread may be interrupted. A
     * client that has just created the container for itself sees NoNode, which Curator and the
     * acquire loop answer by creating it again.
     */
    private void sweepNeverUsed(LockKey key) {
        List<String> chain = new ArrayList<>();
        chain.add(queuePath(key));
        for (LockKey k = key; k != null; k = k.parent().orElse(null)) {
            chain.add(LOCKS + "/" + k);
        }
        chain.add(LOCKS);
        try {
            sweeper.execute(() -> {
                try {
                    for (String path : chain) {
                        Stat stat = client.checkExists().forPath(path);
                        if (stat == null) {
                            continue; // look one level up
                        }
                        if (stat.getCversion() == 0 && stat.getNumChildren() == 0) {
                            client.delete().quietly().forPath(path);
                            LOG.debug("Deleted never-used container {}", path);
                        }
                        return; // the deepest existing node decides
                    }
                } catch (KeeperException.NotEmptyException raced) {
                    // someone is using it after all
                } catch (Exception e) {
                    LOG.debug("Could not sweep containers of {}", key, e);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // the service is closing; the session's end cannot remove containers, but nothing is lost
        }
    }

    private static ZkLease retryOrTimeOut(LockKey key, LockOptions options, long deadline) {
        if (Requests.remainingNanos(deadline) <= 0) {
            throw new LockTimeoutException(key, options.waitAtMost().orElseThrow());
        }
        return null;
    }

    private RuntimeException failure(LockKey key, Exception e) throws InterruptedException {
        if (e instanceof InterruptedException || Thread.currentThread().isInterrupted()) {
            // Curator re-sets the flag before rethrowing; the exception carries the interrupt now
            Thread.interrupted();
            InterruptedException ie = new InterruptedException("Interrupted while acquiring " + key);
            ie.initCause(e);
            throw ie;
        }
        synchronized (stateLock) {
            if (closed) {
                return new IllegalStateException("LockService closed while acquiring " + key, e);
            }
        }
        return new LockException("Could not acquire " + key + ": " + e, e);
    }

    /** The connection epoch: [suspensions, expirations] seen so far. */
    private long[] epoch() {
        synchronized (stateLock) {
            return new long[] {suspensions, expirations};
        }
    }

    /**
     * Adds a verified lease to the held set, unless something happened since {@code epoch} that
     * would have lost it had it been registered already.
     *
     * @return null if registered, otherwise the reason it was refused
     */
    private LossReason register(ZkLease lease, long[] epoch) {
        synchronized (stateLock) {
            if (closed) {
                return LossReason.SERVICE_CLOSED;
            }
            if (expirations != epoch[1]) {
                return LossReason.SESSION_EXPIRED;
            }
            // A suspension before the epoch was read does not matter: the node's owner was checked
            // after it, so the session that holds the node was alive and connected then.
            if (lossPolicy == LossPolicy.LOSE_AT_SUSPENDED && suspensions != epoch[0]) {
                return LossReason.CONNECTION_SUSPENDED;
            }
            leases.add(lease);
            return null;
        }
    }

    private void checkOpen(LockKey key) {
        if (closed) {
            throw new IllegalStateException("LockService is closed: cannot acquire " + key);
        }
    }

    // ---------------------------------------------------------------------------- connection loss

    private void stateChanged(ConnectionState state) {
        LOG.debug("Connection state {}", state);
        switch (state) {
            case SUSPENDED:
            case READ_ONLY:
                suspended();
                break;
            case LOST:
                sessionLost();
                break;
            case CONNECTED:
            case RECONNECTED:
                reconnected();
                break;
            default:
                break;
        }
    }

    private void suspended() {
        List<ZkLease> victims = List.of();
        synchronized (stateLock) {
            connected = false;
            suspensions++;
            if (lossPolicy == LossPolicy.LOSE_AT_SUSPENDED) {
                victims = drainLeases();
            } else if (expiryDeadline == null && !closed) {
                // Our own deadline on the monotonic clock: Curator's LOST is timed on the wall
                // clock and delivered from a queue. The server heard from this client last at
                // least as long ago as this event, so past this point it has expired the session,
                // whatever Curator says. (READ_ONLY after SUSPENDED continues the same suspension:
                // only a reconnection or a loss moves the generation and disarms the deadline.)
                long gen = generation;
                long timeoutMs = client.getZookeeperClient().getLastNegotiatedSessionTimeoutMs();
                expiryDeadline = timer.schedule(() -> suspensionOutlived(gen), timeoutMs, TimeUnit.MILLISECONDS);
            }
        }
        loseAll(victims, LossReason.CONNECTION_SUSPENDED);
    }

    private void suspensionOutlived(long gen) {
        List<ZkLease> victims = List.of();
        synchronized (stateLock) {
            expiryDeadline = null;
            if (!connected && generation == gen) {
                victims = drainLeases();
            }
        }
        loseAll(victims, LossReason.SESSION_EXPIRED);
    }

    private void sessionLost() {
        List<ZkLease> victims;
        synchronized (stateLock) {
            connected = false;
            suspensions++;
            expirations++;
            generation++;
            cancelDeadline();
            victims = drainLeases();
        }
        loseAll(victims, LossReason.SESSION_EXPIRED);
    }

    private void reconnected() {
        synchronized (stateLock) {
            connected = true;
            generation++;
            cancelDeadline();
        }
        List<ZkLease> victims = new ArrayList<>();
        long sessionId;
        try {
            sessionId = client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            // cannot tell which session holds our nodes: vouch for none
            LOG.warn("Cannot read the session id after reconnecting; losing every lease", e);
            synchronized (stateLock) {
                victims = drainLeases();
            }
            loseAll(victims, LossReason.CONNECTION_SUSPENDED);
            return;
        }
        synchronized (stateLock) {
            for (Iterator<ZkLease> it = leases.iterator(); it.hasNext(); ) {
                ZkLease lease = it.next();
                if (lease.sessionId != sessionId) {
                    victims.add(lease);
                    it.remove();
                }
            }
        }
        loseAll(victims, LossReason.SESSION_EXPIRED);
        for (String path : orphans) {
            deleteNode(path);
        }
    }

    private List<ZkLease> drainLeases() {
        List<ZkLease> all = new ArrayList<>(leases);
        leases.clear();
        return all;
    }

    private void cancelDeadline() {
        if (expiryDeadline != null) {
            expiryDeadline.cancel(false);
            expiryDeadline = null;
        }
    }

    /** Marks every victim lost first (interrupting critical sections), then runs listeners. */
    private void loseAll(List<ZkLease> victims, LossReason reason) {
        if (victims.isEmpty()) {
            return;
        }
        List<ZkLease> ended = new ArrayList<>(victims.size());
        for (ZkLease lease : victims) {
            if (lease.markLost(reason)) {
                ended.add(lease);
                orphans.add(lease.node);
                deleteNode(lease.node);
            }
        }
        LOG.info("Lost {} lease(s): {}", ended.size(), reason);
        for (ZkLease lease : ended) {
            lease.fireLost();
        }
    }

    // ------------------------------------------------------------------------------ elections

    /**
     * {@inheritDoc}
     *
     * <p>Built on Curator's {@code LeaderLatch} under {@code <namespace>/elections/<name>}; each
     * term's token is the zxid of a write made when the term begins (see the package's
     * {@code ZkLeaderElection}). Terms end under this service's {@link LossPolicy}. Elections
     * share this service's ZooKeeper session with its locks.
     */
    @Override
    public LeaderElection election(String name, String participantId) {
        ZkLeaderElection election = new ZkLeaderElection(this, client, lossPolicy, name, participantId);
        synchronized (stateLock) {
            if (closed) {
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

    void forget(ZkLeaderElection election) {
        elections.remove(election);
    }

    ScheduledExecutorService timer() {
        return timer;
    }

    // ---------------------------------------------------------------------------- release, close

    /**
     * Deletes a lock node in the background, guaranteed: Curator retries until it succeeds or
     * the node is gone. The future completes when the first attempt has been answered.
     */
    private CompletableFuture<Void> deleteNode(String path) {
        CompletableFuture<Void> answered = new CompletableFuture<>();
        try {
            client.delete().quietly().guaranteed().inBackground((c, event) -> {
                int rc = event.getResultCode();
                if (rc == KeeperException.Code.OK.intValue() || rc == KeeperException.Code.NONODE.intValue()) {
                    orphans.remove(path);
                }
                answered.complete(null);
            }).forPath(path);
        } catch (Exception e) {
            // only when the client is closed, which also ends the session and its nodes
            LOG.debug("Could not send delete of {}", path, e);
            answered.complete(null);
        }
        return answered;
    }

    private void release(ZkLease lease) {
        boolean wait;
        synchronized (stateLock) {
            leases.remove(lease);
            wait = connected;
        }
        awaitAnswer(deleteNode(lease.node), wait);
    }

    private void awaitAnswer(CompletableFuture<Void> answered, boolean connectedNow) {
        if (!connectedNow || Thread.currentThread().getName().endsWith("-EventThread")) {
            return; // the release goes on in the background; waiting here could only stall
        }
        try {
            answered.get(connectionTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.debug("Release not yet acknowledged; it continues in the background", e);
        }
    }

    @Override
    public void close() {
        List<ZkLease> held;
        boolean wait;
        synchronized (stateLock) {
            if (closed) {
                return;
            }
            closed = true;
            cancelDeadline();
            held = drainLeases();
            for (Map.Entry<Thread, Waiter> w : waiting.entrySet()) {
                interrupt(w.getKey(), w.getValue(), Interruption.CLOSE);
            }
            wait = connected;
        }
        for (ZkLeaderElection election : new ArrayList<>(elections)) {
            election.close(); // before the leases: a job may still be writing under a lock
        }
        client.getConnectionStateListenable().removeListener(stateListener);
        List<ZkLease> ended = new ArrayList<>();
        List<CompletableFuture<Void>> deletes = new ArrayList<>();
        for (ZkLease lease : held) {
            if (lease.markLost(LossReason.SERVICE_CLOSED)) {
                ended.add(lease);
                deletes.add(deleteNode(lease.node));
            }
        }
        for (ZkLease lease : ended) {
            lease.fireLost();
        }
        awaitAnswer(CompletableFuture.allOf(deletes.toArray(new CompletableFuture<?>[0])), wait);
        timer.shutdownNow();
        awaitWaitersGone(); // their cleanup (sweepNeverUsed) must be queued before the sweeper stops
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
    }

    private void awaitWaitersGone() {
        long until = System.nanoTime() + connectionTimeout.toNanos();
        synchronized (stateLock) {
            long left;
            while (!waiting.isEmpty() && (left = until - System.nanoTime()) > 0) {
                try {
                    TimeUnit.NANOSECONDS.timedWait(stateLock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    // ------------------------------------------------------------------------------- for tests

    /** The namespaced client this service works through. */
    CuratorFramework client() {
        return client;
    }

    /** The queue node of {@code key}, relative to the namespace. */
    static String queuePath(LockKey key) {
        return LOCKS + "/" + key + "/" + QUEUE;
    }

    /** The lock node behind a lease of this service. */
    static String nodeOf(Lease lease) {
        return ((ZkLease) lease).node;
    }

    // ---------------------------------------------------------------------------------- lease

    private final class ZkLease extends AbstractLease {
        private final String node;
        private final long sessionId;

        ZkLease(LockKey key, FencingToken token, String node, long sessionId) {
            super(key, LockMode.EXCLUSIVE, token);
            this.node = node;
            this.sessionId = sessionId;
        }

        @Override
        protected void release() {
            ZkLockService.this.release(this);
        }
    }

    // -------------------------------------------------------------------------------- builder

    /**
     * Configures a {@link ZkLockService}. Set either {@link #connectString} (the service owns its
     * Curator client and closes it) or {@link #client} (your started client, which the service
     * never closes). Mutable and single-use: {@link #build()} may be called once.
     */
    public static final class Builder {
        private String connectString;
        private CuratorFramework client;
        private String namespace = "baton";
        private Duration sessionTimeout;
        private Duration connectionTimeout;
        private LossPolicy lossPolicy = LossPolicy.LOSE_AT_SUSPENDED;
        private boolean built;

        private Builder() {
        }

        /**
         * Connect to this ensemble ({@code host:port,host:port,...}) with a client the service
         * creates, owns and closes.
         */
        public Builder connectString(String connectString) {
            Objects.requireNonNull(connectString, "connectString must not be null");
            if (connectString.isBlank()) {
                throw new IllegalArgumentException("connectString must not be blank");
            }
            this.connectString = connectString;
            return this;
        }

        /**
         * Work through an existing, started Curator client. The service stays inside the client's
         * own namespace (its znodes go under {@code <client namespace>/<namespace>}), uses the
         * client's ACL provider, and leaves the client open when it closes.
         */
        public Builder client(CuratorFramework client) {
            this.client = Objects.requireNonNull(client, "client must not be null");
            return this;
        }

        /**
         * The znode under which all locks live, {@code "baton"} by default; {@code "a/b"} nests.
         *
         * @throws IllegalArgumentException if it is not a valid ZooKeeper path
         */
        public Builder namespace(String namespace) {
            Objects.requireNonNull(namespace, "namespace must not be null");
            String trimmed = namespace.replaceAll("^/+|/+$", "");
            try {
                PathUtils.validatePath("/" + trimmed);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("Invalid namespace \"" + namespace + "\": " + e.getMessage(), e);
            }
            if (trimmed.isEmpty()) {
                throw new IllegalArgumentException("Invalid namespace \"" + namespace + "\": it must name a znode");
            }
            this.namespace = trimmed;
            return this;
        }

        /**
         * The session timeout to ask for (default 20 s; the server bounds it to 2-20 ticks). How
         * long after a crash its locks pass on. Only with {@link #connectString}.
         */
        public Builder sessionTimeout(Duration sessionTimeout) {
            this.sessionTimeout = requirePositiveMillis(sessionTimeout, "sessionTimeout");
            return this;
        }

        /**
         * How long to wait for a connection (default 10 s): in {@link #build()}, and for
         * ZooKeeper to acknowledge a release. Only with {@link #connectString} for the former.
         */
        public Builder connectionTimeout(Duration connectionTimeout) {
            this.connectionTimeout = requirePositiveMillis(connectionTimeout, "connectionTimeout");
            return this;
        }

        /** When leases are given up after connection trouble; {@link LossPolicy#LOSE_AT_SUSPENDED} by default. */
        public Builder lossPolicy(LossPolicy lossPolicy) {
            this.lossPolicy = Objects.requireNonNull(lossPolicy, "lossPolicy must not be null");
            return this;
        }

        /**
         * Builds the service. With a connect string, waits up to the connection timeout for the
         * first connection.
         *
         * @throws IllegalStateException if neither or both of connectString and client are set, a
         *     given client is not started, the timeouts are set with a client, or build() was
         *     already called
         * @throws LockException if the ensemble cannot be reached within the connection timeout
         */
        public ZkLockService build() {
            if (built) {
                throw new IllegalStateException("This builder was already used; builders are single-use");
            }
            if ((connectString == null) == (client == null)) {
                throw new IllegalStateException("Set exactly one of connectString(..) or client(..)");
            }
            Duration connect = connectionTimeout != null ? connectionTimeout : Duration.ofSeconds(10);
            ZkLockService service;
            if (client != null) {
                if (sessionTimeout != null) {
                    throw new IllegalStateException("sessionTimeout applies only with connectString(..): "
                            + "configure it on your CuratorFramework");
                }
                if (client.getState() != CuratorFrameworkState.STARTED) {
                    throw new IllegalStateException("The CuratorFramework must be started, it is " + client.getState());
                }
                String base = client.getNamespace();
                String full = base == null || base.isEmpty() ? namespace : base + "/" + namespace;
                service = new ZkLockService(client.usingNamespace(full), null, lossPolicy, connect);
            } else {
                Duration session = sessionTimeout != null ? sessionTimeout : Duration.ofSeconds(20);
                CuratorFramework owned = CuratorFrameworkFactory.builder()
                        .connectString(connectString)
                        .sessionTimeoutMs((int) session.toMillis())
                        .connectionTimeoutMs((int) connect.toMillis())
                        .retryPolicy(new ExponentialBackoffRetry(100, 3))
                        // LeaderLatch keeps leadership through a suspension only with this policy
                        .connectionStateErrorPolicy(lossPolicy == LossPolicy.LOSE_AT_LOST
                                ? new SessionConnectionStateErrorPolicy() : new StandardConnectionStateErrorPolicy())
                        .build();
                owned.start();
                boolean up;
                try {
                    up = owned.blockUntilConnected((int) connect.toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    up = false;
                }
                if (!up) {
                    owned.close();
                    throw new LockException("Cannot reach ZooKeeper at " + connectString + " within " + connect);
                }
                service = new ZkLockService(owned.usingNamespace(namespace), owned, lossPolicy, connect);
            }
            built = true;
            return service;
        }

        private static Duration requirePositiveMillis(Duration d, String name) {
            Objects.requireNonNull(d, name + " must not be null");
            if (d.isNegative() || d.isZero() || d.toMillis() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(name + " must be positive and at most "
                        + Integer.MAX_VALUE + " ms, got " + d);
            }
            return d;
        }
    }
}
