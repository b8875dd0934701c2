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
import dev.baton.lock.internal.Granule;
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
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
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
import java.util.concurrent.CountDownLatch;
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
 * lives at {@code /baton/locks/billing/account/42}. Its reserved child {@code _q} holds one
 * ephemeral-sequential node per request that touches the key (the key itself, an ancestor of it,
 * or a descendant: an intention), and {@code _s} a second node per request holding the key
 * itself. Every parent is a CONTAINER node; the service deletes a key's nodes once it has left
 * the key idle for a second (if nobody else uses it), and the server deletes what is left empty,
 * so locking many distinct keys leaves nothing behind. Works with ZooKeeper servers 3.5 to 3.9;
 * an older server is refused at {@link Builder#build()}. The algorithm, and why it cannot
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
 * per held lock.
 */
public final class ZkLockService implements LockService {
    private static final Logger LOG = LoggerFactory.getLogger(ZkLockService.class);

    private final CuratorFramework client;
    private final Engine engine;
    private final CuratorFramework ownedClient;
    private final LossPolicy lossPolicy;
    private final Duration connectionTimeout;
    /** How this service's requests name their holder in the lock store: host:pid:random. */
    private final String holderId = dev.baton.lock.internal.Elections.defaultParticipantId();
    private static final long PID = ProcessHandle.current().pid();
    private static final String HOST = dev.baton.lock.internal.Elections.hostName();

    /**
     * The host's wall clock, used only for the informational {@code hostTime} of holder records:
     * ages and lock delays are judged on the ensemble's clock alone.
     */
    private final java.time.Clock clock;

    /** The lease time of grants whose options ask for none; null for "as long as the session". */
    private final Duration defaultLeaseTime;
    private final ConnectionStateListener stateListener = (c, state) -> stateChanged(state);
    private final ScheduledExecutorService timer;
    /** Runs {@link #settleDue}. */
    private final ScheduledExecutorService settler;
    /** Sweeps never-used parent containers after failed acquires; see {@link #sweepNeverUsed}. */
    private final ScheduledExecutorService sweeper;

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

    /** The keys this service asked for, and the sweep of their znodes once idle. */
    private final IdleKeys idleKeys = new IdleKeys(System::nanoTime);

    /** Refuses servers before 3.5, once per session. */
    private final ServerCheck serverCheck = new ServerCheck();

    /** Paths of lost leases whose deletion has not been confirmed; retried on reconnection. */
    private final Set<String> orphans = ConcurrentHashMap.newKeySet();

    /** Why the service interrupted a waiting thread. */
    private enum Interruption { CLOSE, DEADLINE }

    /** One thread in {@code acquire}; guarded by stateLock. */
    private static final class Waiter {
        Interruption interruption;
    }

    private ZkLockService(CuratorFramework namespaced, CuratorFramework ownedClient, LossPolicy lossPolicy,
                          Duration connectionTimeout, Duration defaultLeaseTime, java.time.Clock clock) {
        this.defaultLeaseTime = defaultLeaseTime;
        this.clock = clock;
        this.client = namespaced;
        this.engine = new Engine(namespaced);
        this.ownedClient = ownedClient;
        this.lossPolicy = lossPolicy;
        this.connectionTimeout = connectionTimeout;
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "baton-container-sweep");
            t.setDaemon(true);
            return t;
        });
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "baton-session-deadline");
            t.setDaemon(true);
            return t;
        });
        this.settler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "baton-settle");
            t.setDaemon(true);
            return t;
        });
        // its own thread: the timer's runs onLost listeners, which may block
        settler.scheduleWithFixedDelay(this::settleDue, SETTLE_MS / 4, SETTLE_MS / 4, TimeUnit.MILLISECONDS);
        sweeper.scheduleWithFixedDelay(this::sweepIdleKeys, SWEEP_MS, SWEEP_MS, TimeUnit.MILLISECONDS);
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
     * connection is down), a watchdog on the monotonic clock ends any timed wait at most one
     * connection timeout after its deadline, with {@link LockTimeoutException}. If the wait ended
     * in the middle of a ZooKeeper call, the request's nodes are deleted in the background as soon
     * as their fate is known.
     */
    @Override
    public Lease acquire(LockKey key, LockOptions options) throws InterruptedException {
        long deadline = Requests.begin(key, options);
        return acquire(Map.of(key, options.mode()), key, options, deadline);
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
        int bytes = 0;
        for (LockKey level : Granule.plan(ordered).keySet()) {
            bytes += 2 * (Engine.queuePath(level).length() + 40);
        }
        bytes += 512 * ordered.size(); // holder records
        int longest = 0;
        for (LockKey key : ordered.keySet()) {
            longest = Math.max(longest, key.toString().length());
        }
        bytes += longest * Granule.plan(ordered).size(); // intention nodes name a key under them
        if (bytes > MAX_REQUEST_BYTES) {
            throw new IllegalArgumentException("acquireAll of " + ordered.size() + " keys needs about " + bytes
                    + " bytes of paths in one ZooKeeper transaction, more than the " + MAX_REQUEST_BYTES
                    + " allowed: ask for fewer or shorter keys");
        }
        long deadline = Requests.beginAll(ordered, options);
        return acquire(ordered, ordered.keySet().iterator().next(), options, deadline);
    }

    /** Well under ZooKeeper's default 1 MB packet limit (jute.maxbuffer). */
    static final int MAX_REQUEST_BYTES = 256 * 1024;

    private Lease acquire(Map<LockKey, LockMode> keys, LockKey label, LockOptions options, long deadline)
            throws InterruptedException {
        Map<LockKey, Granule> plan = Granule.plan(keys);
        Thread me = Thread.currentThread();
        Waiter waiter = new Waiter();
        ScheduledFuture<?> watchdog = null;
        synchronized (stateLock) {
            checkOpen(label);
            waiting.put(me, waiter);
            long grace = Requests.remainingNanos(deadline) + connectionTimeout.toNanos();
            if (deadline != Long.MAX_VALUE && grace > 0) {
                watchdog = timer.schedule(() -> interrupt(me, waiter, Interruption.DEADLINE), grace,
                        TimeUnit.NANOSECONDS);
            }
        }
        idleKeys.begin(keys.keySet());
        boolean granted = false;
        try {
            while (true) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("Interrupted while acquiring " + label);
                }
                ZkLease lease = acquireOnce(keys, plan, label, options, deadline);
                if (lease != null) {
                    granted = true;
                    return lease;
                }
            }
        } catch (InterruptedException e) {
            Interruption why;
            synchronized (stateLock) {
                why = waiter.interruption;
            }
            if (why == Interruption.CLOSE) {
                throw new IllegalStateException("LockService closed while waiting for " + label, e);
            }
            if (why == Interruption.DEADLINE) {
                LockTimeoutException timeout = new LockTimeoutException(label, options.waitAtMost().orElseThrow());
                timeout.initCause(e); // ZooKeeper did not answer in time
                throw timeout;
            }
            throw e;
        } finally {
            if (!granted) {
                idleKeys.end(keys.keySet());
            }
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

    /** Interrupts a thread still waiting in {@code acquire}, recording why; the first reason wins. */
    private void interrupt(Thread thread, Waiter waiter, Interruption why) {
        synchronized (stateLock) {
            if (waiting.get(thread) == waiter && waiter.interruption == null) {
                waiter.interruption = why;
                thread.interrupt();
            }
        }
    }

    /** One request's nodes and progress; used by one acquiring thread. */
    private static final class Request {
        final Map<LockKey, Granule> plan;
        final List<Map.Entry<LockKey, Granule>> levels;
        final Engine.Waiting waiting = new Engine.Waiting();
        String id;
        /** The multi in flight or done; null before the first. */
        CompletableFuture<List<OpResult>> multi;
        /** Our nodes, relative paths, once known; our node's sequence in each level's queue. */
        List<String> nodes;
        int[] ownSequence;
        /** Our node's name in each level's queue. */
        String[] ownName;
        long zxid;
        long sessionId;
        long[] epoch;
        boolean madeContainers;

        /** The keys asked for, whose queue nodes carry {@link #record}. */
        Set<LockKey> asked;
        HolderRecord holder;
        byte[] record;
        /** The lock delay asked for, or null; markers are made in the multi when set. */
        Duration lockDelay;
        /** Whether the request was blocked at some point (its grant is then stamped). */
        boolean waited;
        /** When it was first blocked (System.nanoTime), 0 before. */
        long blockedSince;
        /** Nodes named like requests' that turned out not to be ephemeral: not Baton's, ignored (names). */
        final Set<String> foreign = new HashSet<>();
        /** Nodes named like requests' seen to be ephemeral (an owner never changes): not looked at again. */
        final Set<String> ephemeral = new HashSet<>();
        /** When this waiter first saw each holder it judges holding (by node name), on the ensemble's clock. */
        final Map<String, FirstSeen> firstSeen = new HashMap<>();

        /** The lock-delay markers this request made, relative paths. */
        List<String> markers() {
            return lockDelay == null ? List.of() : Engine.markerPaths(plan, id);
        }

        Request(Map<LockKey, Granule> plan, String id) {
            this.plan = plan;
            this.levels = new ArrayList<>(plan.entrySet());
            this.id = id;
        }
    }

    /** When a waiter first saw a holder holding: the ensemble's time, and the holder's record version then. */
    private record FirstSeen(Engine.Stamp at, int version) { }

    /** Thrown inside an attempt when its session is gone: start again on the next one. */
    private static final class SessionGone extends Exception {
        private static final long serialVersionUID = 1L;

        SessionGone() {
            super(null, null, false, false);
        }
    }

    /**
     * One attempt on one ZooKeeper session: enqueue the request's nodes in one multi, then check
     * each level, coarse first, waiting for the node that blocks it until none does.
     *
     * @return the lease, or null to try again (the session ended, or the grant could not be trusted)
     */
    private ZkLease acquireOnce(Map<LockKey, LockMode> keys, Map<LockKey, Granule> plan, LockKey label,
                                LockOptions options, long deadline) throws InterruptedException {
        ZooKeeper zk;
        try {
            zk = client.getZookeeperClient().getZooKeeper();
        } catch (Exception e) {
            throw failure(label, e);
        }
        checkServer(zk);
        Request r = new Request(plan, engine.newRequestId());
        r.asked = keys.keySet();
        Duration leaseTime = options.leaseTime().orElse(defaultLeaseTime);
        r.lockDelay = options.lockDelay().orElse(null);
        r.holder = new HolderRecord(holderId, HOST, PID, Thread.currentThread().getName(), leaseTime, keys.size(),
                r.lockDelay, clock.millis(), false, 0);
        r.record = r.holder.encode();
        Duration staleAfter = options.staleAfter().orElse(null);
        boolean granted = false;
        boolean leavingInterrupted = false;
        try {
            List<CompletableFuture<List<String>>> listings = enqueue(zk, r, label, options, deadline);
            while (true) {
                for (int i = 0; i < r.levels.size(); i++) {
                    List<String> kids = null;
                    while (true) {
                        try {
                            if (kids == null && listings != null) {
                                kids = await(listings.get(i)); // sent behind the multi
                            }
                            if (kids == null) {
                                r.epoch = epoch();
                                r.waited = true; // decided by a later look: its grant is stamped
                                kids = await(Engine.children(zk, engine.full(listed(r, i))));
                            }
                            String blocker = blocker(zk, r, i, kids);
                            if (blocker == null) {
                                long delay = delayed(zk, r, i, kids);
                                if (delay == 0) {
                                    break;
                                }
                                r.waited = true;
                                long left = Requests.remainingNanos(deadline);
                                if (left <= 0) {
                                    throw timedOut(label, options);
                                }
                                r.waiting.await(Math.min(left, delay)); // a lock delay runs: no node to watch
                                kids = null;
                                listings = null;
                                continue;
                            }
                            r.waited = true;
                            long left = Requests.remainingNanos(deadline);
                            if (left <= 0) {
                                throw timedOut(label, options);
                            }
                            if (r.blockedSince == 0) {
                                r.blockedSince = System.nanoTime();
                            }
                            long quiet = PLAIN_JUDGE_AFTER_NANOS - (System.nanoTime() - r.blockedSince);
                            // a waiter without staleAfter judges only holders' lease times, each at
                            // least two seconds of grace away: it starts once it has waited a second
                            long judged = staleAfter == null && quiet > 0 ? quiet : judge(zk, r, i, kids, staleAfter);
                            if (judged < 0) {
                                kids = null; // broke a stale holder: look again
                                listings = null;
                                continue;
                            }
                            Stat seen = new Stat();
                            if (engine.watch(zk, blocker, r.waiting, seen)) {
                                try {
                                    if (NodeNames.ephemeral(seen)) {
                                        r.waiting.await(Math.min(left, judged));
                                    } else {
                                        foreign(r, ZKPaths.getNodeFromPath(blocker), blocker);
                                    }
                                } finally {
                                    engine.unwatch(blocker, r.waiting);
                                }
                            }
                        } catch (KeeperException e) {
                            if (e.code() == KeeperException.Code.SESSIONEXPIRED) {
                                throw new SessionGone();
                            }
                            if (!inDoubt(e.code())) {
                                throw e;
                            }
                            // the handle reconnects on its own (same session) and queues our next call
                            // until then; a short pause keeps a flapping connection from spinning us
                            if (Requests.remainingNanos(deadline) <= 0) {
                                throw timedOut(label, options);
                            }
                            r.waiting.await(Math.min(Requests.remainingNanos(deadline), TimeUnit.MILLISECONDS.toNanos(20)));
                            unproven(zk, r);
                        }
                        kids = null;
                        listings = null;
                    }
                }
                ZkLease lease = new ZkLease(keys, FencingToken.of(r.zxid), r, leaseTime);
                LossReason refused = register(lease, r.epoch);
                if (refused == null) {
                    granted = true;
                    if (keys.size() > 1) {
                        stamp(zk, lease); // until stamped, others cannot tell it holds rather than waits
                    }
                    settleLater(lease);
                    try {
                        lease.startLeaseTime(timer, leaseTime);
                    } catch (java.util.concurrent.RejectedExecutionException closing) {
                        // the service closed right after the grant: close() loses this lease anyway
                    }
                    return lease;
                }
                if (refused == LossReason.SERVICE_CLOSED) {
                    throw new IllegalStateException("LockService closed while acquiring " + label);
                }
                if (refused == LossReason.CONNECTION_SUSPENDED) {
                    // a suspension was reported while we checked: our nodes are still ours if the
                    // session is, so check again on it rather than give up our place
                    listings = null;
                    unproven(zk, r);
                    continue;
                }
                return retryOrTimeOut(label, options, deadline); // the session ended meanwhile
            }
        } catch (SessionGone gone) {
            LOG.debug("Session ended while acquiring {}; trying again on the next", label);
            return retryOrTimeOut(label, options, deadline);
        } catch (KeeperException e) {
            throw failure(label, e);
        } catch (InterruptedException e) {
            leavingInterrupted = true;
            throw e;
        } finally {
            if (!granted && awaitCleanup(abandon(r, label)) && !leavingInterrupted) {
                Thread.currentThread().interrupt(); // an interrupt that came while we cleaned up
            }
        }
    }

    /**
     * Whether a call failed on a connection that broke, its answer unknown, with the session
     * still alive: SESSIONMOVED is the answer to a call sent on the old connection after the
     * session moved to a new one.
     */
    private static boolean inDoubt(KeeperException.Code code) {
        return code == KeeperException.Code.CONNECTIONLOSS || code == KeeperException.Code.OPERATIONTIMEOUT
                || code == KeeperException.Code.SESSIONMOVED;
    }

    private static Granule level(Request r, int i) {
        return r.levels.get(i).getValue();
    }

    /** The path whose children decide level {@code i}: the queue for a strong granule, else the strong index. */
    private static String listed(Request r, int i) {
        Map.Entry<LockKey, Granule> level = r.levels.get(i);
        return level.getValue().isStrong() ? Engine.queuePath(level.getKey()) : Engine.strongPath(level.getKey());
    }

    /**
     * Creates the request's nodes in one multi and sends, right behind it, the listing of every
     * level: the server answers one session's requests in order, so the listings see the new
     * nodes and an uncontended grant costs one round trip.
     *
     * @return the listings sent behind the multi, or null if the nodes were found after a
     *     connection loss (list again)
     */
    private List<CompletableFuture<List<String>>> enqueue(ZooKeeper zk, Request r, LockKey label, LockOptions options,
                                                          long deadline)
            throws InterruptedException, KeeperException, SessionGone {
        int missingParents = 0;
        String missingUnder = null; // the op that failed for a missing parent, if one did
        CompletableFuture<KeeperException> parentsRefused = null;
        while (true) {
            r.epoch = epoch();
            if (missingUnder != null) {
                // the missing parents, then the multi, sent together: applied in this order, so
                // a container we make gets its first child right after, whatever happens to us
                parentsRefused = engine.createParents(zk, r.plan, missingUnder);
                r.madeContainers = true;
            }
            List<org.apache.zookeeper.Op> ops = engine.enqueueOps(r.plan, r.id, r.asked, r.record);
            if (r.lockDelay != null) {
                ops.addAll(engine.markerOps(r.plan, r.id, r.lockDelay));
            }
            org.apache.zookeeper.Op zxidOp = engine.zxids().extraOp();
            if (zxidOp != null) {
                ops.add(zxidOp);
            }
            r.multi = Engine.multi(zk, ops);
            List<CompletableFuture<List<String>>> listings = new ArrayList<>(r.levels.size());
            for (int i = 0; i < r.levels.size(); i++) {
                listings.add(Engine.children(zk, engine.full(listed(r, i))));
            }
            KeeperException.Code code;
            try {
                List<OpResult> results = r.multi.get();
                created(zk, r, results, label, options, deadline);
                return listings;
            } catch (ExecutionException e) {
                KeeperException ke = (KeeperException) e.getCause();
                code = ke.code();
                if (code == KeeperException.Code.NONODE) {
                    if (parentsRefused != null && parentsRefused.getNow(null) != null) {
                        throw parentsRefused.getNow(null); // a parent we may not create: no retry helps
                    }
                    missingUnder = ke.getPath();
                    // part of trying once, even with no time to wait; bounded, as the server may
                    // remove an empty container again right after we made it
                    if (++missingParents <= 2 * r.levels.size() + 8) {
                        continue;
                    }
                } else if (inDoubt(code)) {
                    if (findOwnNodes(zk, r, label, deadline)) {
                        return null;
                    }
                    // not found; if that is because time ran out, look again in the background
                    purgeLater(r.plan, r.id);
                    r.id = engine.newRequestId();
                } else if (code == KeeperException.Code.SESSIONEXPIRED) {
                    throw new SessionGone();
                } else {
                    throw ke;
                }
            }
            if (Requests.remainingNanos(deadline) <= 0) {
                throw timedOut(label, options);
            }
        }
    }

    /**
     * Records the nodes a successful multi created, and their common czxid, the request's zxid:
     * from the multi's answer, or, when the server gave none ({@link Zxids}), from a read of our
     * first node.
     */
    private void created(ZooKeeper zk, Request r, List<OpResult> results, LockKey label, LockOptions options,
                         long deadline) throws InterruptedException, KeeperException, SessionGone {
        ownNodes(r, Zxids.created(results));
        r.sessionId = zk.getSessionId();
        r.zxid = engine.zxids().of(results);
        while (r.zxid == 0) {
            try {
                Stat stat = await(Engine.stat(zk, engine.full(r.nodes.get(0))));
                if (stat == null || stat.getEphemeralOwner() != r.sessionId) {
                    throw new SessionGone(); // deleted under us: only a session's end does that
                }
                r.zxid = stat.getCzxid();
            } catch (KeeperException e) {
                if (!inDoubt(e.code())) {
                    throw e;
                }
                if (Requests.remainingNanos(deadline) <= 0) {
                    throw timedOut(label, options); // abandon() deletes the nodes
                }
                r.waiting.await(Math.min(Requests.remainingNanos(deadline), TimeUnit.MILLISECONDS.toNanos(20)));
            }
        }
    }

    /** Stores our nodes (full paths, in enqueueOps order) as relative paths, and our queue sequences. */
    private void ownNodes(Request r, List<String> fullPaths) {
        List<String> relative = new ArrayList<>(fullPaths.size());
        int[] own = new int[r.levels.size()];
        String[] names = new String[r.levels.size()];
        int op = 0;
        for (int i = 0; i < r.levels.size(); i++) {
            String q = fullPaths.get(op++);
            names[i] = ZKPaths.getNodeFromPath(q);
            own[i] = Engine.sequenceOf(names[i]);
            relative.add(engine.relative(q));
            if (r.levels.get(i).getValue().isStrong()) {
                relative.add(engine.relative(fullPaths.get(op++)));
            }
        }
        r.nodes = relative;
        r.ownSequence = own;
        r.ownName = names;
    }

    /**
     * After a connection loss hid a multi's answer: did it create our nodes? A {@code sync} first
     * brings the server we now talk to up to date with the leader, then the levels' queues are
     * listed for nodes carrying our request id. A multi is all or nothing, so one found node means
     * all were created; they are adopted (the request keeps its place) rather than created twice.
     *
     * @return true if the nodes exist (now recorded in {@code r}), false if the multi did not apply
     */
    private boolean findOwnNodes(ZooKeeper zk, Request r, LockKey label, long deadline)
            throws InterruptedException, KeeperException, SessionGone {
        while (true) {
            try {
                List<String> found = await(engine.findRequest(zk, Engine.parentsOf(r.plan), r.id));
                if (found.isEmpty()) {
                    return false;
                }
                Stat stat = await(Engine.stat(zk, found.get(0)));
                if (stat == null || stat.getEphemeralOwner() != zk.getSessionId()) {
                    throw new SessionGone(); // deleted under us: only a session's end does that
                }
                r.zxid = stat.getCzxid();
                r.sessionId = zk.getSessionId();
                ownNodes(r, found);
                LOG.debug("Found request {} for {} after a connection loss", r.id, label);
                return true;
            } catch (KeeperException e) {
                if (!inDoubt(e.code())) {
                    throw e;
                }
                if (Requests.remainingNanos(deadline) <= 0) {
                    // cannot tell: abandon() will look for the nodes in the background
                    return false;
                }
            }
        }
    }

    /**
     * The node that blocks level {@code i}, as a full path, or null if none does.
     *
     * <p>For a strong granule the level's queue lists every request on the key: the blocker is
     * the latest node before ours whose granule is incompatible with ours. For an intention the
     * strong index lists only requests holding the key itself (few, however many finer keys are
     * held): nodes there are in creation order, so the first incompatible one still present
     * decides, by its czxid: created before our request, it blocks; after, nothing does.
     */
    private String blocker(ZooKeeper zk, Request r, int i, List<String> kids)
            throws InterruptedException, KeeperException, SessionGone {
        Map.Entry<LockKey, Granule> level = r.levels.get(i);
        Granule mine = level.getValue();
        if (mine.isStrong()) {
            int own = r.ownSequence[i];
            String best = null;
            int bestSeq = 0;
            boolean sawOwn = false;
            for (String name : kids) {
                if (name.equals(r.ownName[i])) {
                    sawOwn = true;
                    continue;
                }
                Granule g = Engine.granuleOf(name);
                if (g == null || mine.compatibleWith(g) || r.foreign.contains(name)) {
                    continue;
                }
                int seq = Engine.sequenceOf(name);
                if (Engine.before(seq, own) && (best == null || Engine.before(bestSeq, seq))) {
                    best = name;
                    bestSeq = seq;
                }
            }
            if (!sawOwn) {
                throw new SessionGone(); // our node is gone: only the end of our session deletes it
            }
            return best == null ? null : engine.full(Engine.queuePath(level.getKey()) + "/" + best);
        }
        List<String> candidates = new ArrayList<>();
        for (String name : kids) {
            Granule g = Engine.granuleOf(name);
            if (g != null && !mine.compatibleWith(g) && !r.foreign.contains(name)) {
                candidates.add(name); // none of ours: an intention level has no node in _s
            }
        }
        candidates.sort(java.util.Comparator.comparing(Engine::sequenceOf, Engine.SEQUENCE_ORDER));
        for (String name : candidates) {
            String path = engine.full(Engine.strongPath(level.getKey()) + "/" + name);
            Stat stat = await(Engine.stat(zk, path));
            if (stat != null && !NodeNames.ephemeral(stat)) {
                foreign(r, name, path);
            } else if (stat != null) {
                return stat.getCzxid() < r.zxid ? path : null;
            }
        }
        return null;
    }

    /**
     * Looks, once per node, at the nodes of level {@code i}'s queue named like requests' and
     * earlier than ours: one that is not ephemeral is foreign ({@link #foreign}). Judging must
     * leave them out: a foreign node earlier than a holder would make the holder look held back,
     * and it would never be judged.
     */
    private void findForeign(ZooKeeper zk, Request r, int i, List<String> queue)
            throws KeeperException, InterruptedException, SessionGone {
        LockKey key = r.levels.get(i).getKey();
        List<String> names = new ArrayList<>();
        List<CompletableFuture<Stat>> stats = new ArrayList<>();
        for (String name : queue) {
            if (Engine.granuleOf(name) != null && !r.ephemeral.contains(name) && !r.foreign.contains(name)
                    && Engine.before(Engine.sequenceOf(name), r.ownSequence[i])) {
                names.add(name);
                stats.add(Engine.stat(zk, engine.full(Engine.queuePath(key) + "/" + name)));
            }
        }
        for (int n = 0; n < names.size(); n++) {
            Stat stat = await(stats.get(n));
            if (stat != null && NodeNames.ephemeral(stat)) {
                r.ephemeral.add(names.get(n));
            } else if (stat != null) {
                foreign(r, names.get(n), engine.full(Engine.queuePath(key) + "/" + names.get(n)));
            }
        }
    }

    /**
     * Ignores, for the rest of the request, a node named like a request's that is not ephemeral:
     * Baton's queue nodes always are, and no session's end would remove this one.
     */
    private static void foreign(Request r, String name, String path) {
        if (r.foreign.add(name)) {
            LOG.warn("Ignoring {}: named like a Baton request but not ephemeral, so not Baton's", path);
        }
    }

    /**
     * Waits for a ZooKeeper answer; unwraps its KeeperException, and turns the end of the
     * session into {@link SessionGone}.
     */
    private static <T> T await(CompletableFuture<T> answer) throws InterruptedException, KeeperException, SessionGone {
        try {
            return answer.get();
        } catch (ExecutionException e) {
            KeeperException ke = (KeeperException) e.getCause();
            if (ke.code() == KeeperException.Code.SESSIONEXPIRED) {
                throw new SessionGone();
            }
            throw ke;
        }
    }

    /**
     * Cleans up after a request that will not be granted: deletes its nodes in the background
     * once their fate is known (now, when the multi returns, or, after an unanswered multi, by
     * looking them up by request id), and sweeps containers made for it that were never used.
     */
    private CompletableFuture<?> abandon(Request r, LockKey label) {
        if (r.nodes != null) {
            List<String> all = new ArrayList<>(r.nodes);
            all.addAll(r.markers());
            return deleteNodes(all); // the multi succeeded, so any container we made has had a child
        }
        if (r.multi == null) {
            return CompletableFuture.completedFuture(null);
        }
        // unanswered when we stopped waiting, failed, or answered before its results were recorded
        String id = r.id;
        boolean madeContainers = r.madeContainers;
        return r.multi.handle((results, e) -> {
            if (results != null) {
                List<String> nodes = new ArrayList<>(results.size());
                for (String path : Zxids.created(results)) {
                    nodes.add(engine.relative(path));
                }
                return deleteNodes(nodes);
            }
            if (e instanceof KeeperException && inDoubt(((KeeperException) e).code())) {
                purgeLater(r.plan, id);
            }
            if (madeContainers) {
                sweepNeverUsed(r.plan.keySet());
            }
            return CompletableFuture.completedFuture(null);
        }).thenCompose(f -> f);
    }

    /**
     * Waits, without being interrupted and at most the connection timeout, until the store has
     * answered an abandoned request's deletes: an acquire that fails has then cleaned up after
     * itself (and a thread retrying at once does not queue behind its own leftovers). While the
     * connection is down it does not wait; the cleanup goes on in the background.
     *
     * @return whether the thread was interrupted meanwhile (the flag is cleared)
     */
    private boolean awaitCleanup(CompletableFuture<?> cleanup) {
        synchronized (stateLock) {
            if (!connected) {
                return false;
            }
        }
        boolean interrupted = Thread.interrupted();
        long until = System.nanoTime() + connectionTimeout.toNanos();
        while (true) {
            try {
                cleanup.get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                return interrupted;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (ExecutionException | TimeoutException e) {
                return interrupted;
            }
        }
    }

    /**
     * Requests whose multi went unanswered and that gave up before learning whether it applied,
     * by request id, with the parents their nodes would be in. Each is looked for until a look
     * gets a definite answer: now, after every reconnection, and when the service closes over a
     * caller's client (whose session outlives the service). A session's end clears them: its
     * nodes are gone.
     */
    private final Map<String, List<String>> pendingPurges = new ConcurrentHashMap<>();

    /** Looks for, and deletes, the nodes of a request whose multi went unanswered. */
    private void purgeLater(Map<LockKey, Granule> plan, String id) {
        pendingPurges.put(id, Engine.parentsOf(plan));
        runPurges();
    }

    private void runPurges() {
        if (pendingPurges.isEmpty()) {
            return;
        }
        try {
            sweeper.execute(this::purgeNow);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // close() runs what is left itself
        }
    }

    /**
     * One look for every pending purge, on the current session: a sync (so the server is as
     * recent as the leader), then each parent's children; an id whose look completed is done.
     */
    private void purgeNow() {
        for (Map.Entry<String, List<String>> e : new ArrayList<>(pendingPurges.entrySet())) {
            String id = e.getKey();
            try {
                ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
                List<String> found = engine.findRequest(zk, e.getValue(), id)
                        .get(connectionTimeout.toMillis(), TimeUnit.MILLISECONDS);
                if (!found.isEmpty()) {
                    LOG.debug("Deleting {} node(s) of abandoned request {}", found.size(), id);
                    List<String> relative = new ArrayList<>(found.size());
                    found.forEach(path -> relative.add(engine.relative(path)));
                    deleteNodes(relative);
                }
                for (String parent : e.getValue()) { // lock-delay markers, if it asked for a delay
                    for (String name : await(Engine.children(zk, engine.full(parent)))) {
                        if (id.equals(Engine.markerRequest(name))) {
                            zk.delete(engine.full(parent + "/" + name), -1, (rc, p, ctx) -> { }, null);
                        }
                    }
                }
                pendingPurges.remove(id);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception ex) {
                LOG.debug("Could not look for the nodes of abandoned request {} yet; again after reconnecting", id, ex);
            }
        }
    }

    /**
     * Deletes the containers an abandoned acquire may have left empty and never used.
     *
     * <p>Parents are created one level at a time, as CONTAINER nodes. An acquire interrupted
     * between two of those creates, or whose multi failed after them, can leave one without ever
     * a child, and the server removes only containers that have had one (unless
     * {@code znode.container.maxNeverUsedIntervalMs} is set): measured here, interrupted acquires
     * on fresh keys left one such node for about one acquire in ten. For each level the reserved
     * children, then the deepest existing key node, are checked; deleting a never-used node is
     * enough, since its parent has then had a child and is empty, so the server's cleanup takes
     * it and everything above. Runs on its own thread, since the failed thread may be
     * interrupted. A client that has just created a container for itself sees NoNode, which the
     * acquire loop answers by creating it again.
     */
    private void sweepNeverUsed(java.util.Collection<LockKey> levels) {
        List<LockKey> deepestFirst = new ArrayList<>(levels);
        deepestFirst.sort(Granule.ORDER.reversed());
        try {
            sweeper.execute(() -> {
                for (LockKey key : deepestFirst) {
                    try {
                        deleteIfNeverUsed(Engine.queuePath(key));
                        deleteIfNeverUsed(Engine.strongPath(key));
                        for (LockKey k = key; k != null; k = k.parent().orElse(null)) {
                            Stat stat = client.checkExists().forPath(Engine.keyPath(k));
                            if (stat != null) {
                                deleteIfNeverUsed(Engine.keyPath(k));
                                break; // the deepest existing node decides
                            }
                        }
                    } catch (Exception e) {
                        LOG.debug("Could not sweep containers of {}", key, e);
                    }
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // the service is closing; the session's end cannot remove containers, but nothing is lost
        }
    }

    private void deleteIfNeverUsed(String path) throws Exception {
        Stat stat = client.checkExists().forPath(path);
        if (stat != null && stat.getCversion() == 0 && stat.getNumChildren() == 0) {
            try {
                client.delete().withVersion(stat.getVersion()).forPath(path);
                LOG.debug("Deleted never-used container {}", path);
            } catch (KeeperException.NotEmptyException | KeeperException.NoNodeException
                     | KeeperException.BadVersionException raced) {
                // someone is using it after all, or it is gone
            }
        }
    }

    private static ZkLease retryOrTimeOut(LockKey key, LockOptions options, long deadline) {
        if (Requests.remainingNanos(deadline) <= 0) {
            throw timedOut(key, options);
        }
        return null;
    }

    private static LockTimeoutException timedOut(LockKey key, LockOptions options) {
        return new LockTimeoutException(key, options.waitAtMost().orElseThrow());
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
        if (e instanceof KeeperException ke && Access.refused(ke.code())) {
            return Access.denied("acquire " + key, Access.TO_ACQUIRE, ke);
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
        engine.wakeAll(); // waiting requests look again, and learn of a session's end
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
                expirations++; // for register(): a grant checked before this point is not trusted
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
        pendingPurges.clear(); // the session's nodes are gone with it
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
        List<ZkLease> kept;
        synchronized (stateLock) {
            kept = new ArrayList<>(leases);
        }
        for (ZkLease lease : kept) {
            if (!lease.settled) {
                continue; // its settle is still to come
            }
            try {
                watchOwn(client.getZookeeperClient().getZooKeeper(), lease);
                if (lease.stampPending) {
                    stamp(client.getZookeeperClient().getZooKeeper(), lease);
                }
            } catch (Exception e) {
                LOG.debug("Cannot watch the nodes of {} again", lease.key(), e);
            }
        }
        if (!orphans.isEmpty()) {
            deleteNodes(new ArrayList<>(orphans));
        }
        runPurges();
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
                idleKeys.end(lease.keys().keySet());
                orphans.addAll(lease.nodes);
                deleteNodes(lease.nodes);
                if (!lease.markers.isEmpty()) {
                    retireMarkers(lease.markers); // lost, not released: its lock delay runs
                }
            }
        }
        LOG.info("Lost {} lease(s): {}", ended.size(), reason);
        for (ZkLease lease : ended) {
            lease.fireLost();
        }
    }

    // ------------------------------------------------------------- breaking, lock delay, watches

    /** How long past its recorded lease time a holder is left to end its lease itself before waiters break it. */
    static final long LEASE_GRACE_MS = 2_000;
    /** How long a waiter without {@code staleAfter} waits before it first judges the holders' lease times. */
    private static final long PLAIN_JUDGE_AFTER_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** How soon a waiter judges again holders it could not judge yet (held back, or not yet stamped). */
    private static final long REJUDGE_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** A holder's node on the key it asked for, with that key's queue (creation order). */
    private record Target(LockKey at, String name, List<String> queue) { }

    /** A holder a waiter judges: its queue node, what it recorded, and how long it may hold. */
    private record Judged(Target target, Granule granule, Engine.Data data, HolderRecord record, long limitMs) { }

    /**
     * Judges the holders that block level {@code i} of a waiting request, and breaks one held
     * longer than the waiter's {@code staleAfter}, or past its recorded lease time plus
     * {@link #LEASE_GRACE_MS}. See the package documentation for the rules: ages are differences
     * of two times one leader stamped; a hold starts at its record's stamp (a grant after waiting,
     * an extend), at its node's ctime when the queue and the ancestors prove it was granted on its
     * first look, and otherwise when this waiter first saw it holding. A node held back (by an
     * earlier node, an ancestor, or a lock delay) is waiting, not holding, and is not judged; nor
     * is an unstamped request naming several keys. With {@code staleAfter}, a waiter also judges
     * holders of finer keys (found through the key their intention node names) and, at an
     * intention level, of coarser ones: both cost listings that lease times alone do not justify.
     *
     * @return -1 if a holder was broken (look again), else how many nanoseconds until the next
     *     judgement is due ({@link Long#MAX_VALUE}: none)
     */
    private long judge(ZooKeeper zk, Request r, int i, List<String> kids, Duration staleAfter)
            throws KeeperException, InterruptedException, SessionGone {
        Map.Entry<LockKey, Granule> level = r.levels.get(i);
        LockKey key = level.getKey();
        Granule mine = level.getValue();
        if (!mine.isStrong() && staleAfter == null) {
            return Long.MAX_VALUE;
        }
        List<String> queue = Claims.ordered(mine.isStrong() ? kids
                : await(Engine.children(zk, engine.full(Engine.queuePath(key)))));
        findForeign(zk, r, i, queue);
        queue.removeAll(r.foreign);
        Set<String> present = Claims.present(queue);
        List<Target> targets = new ArrayList<>();
        List<String> finer = new ArrayList<>();
        for (String name : queue) {
            Granule g = Engine.granuleOf(name);
            if (g == null || mine.compatibleWith(g) || Engine.belongsTo(name, r.id)
                    || (mine.isStrong() && !Engine.before(Engine.sequenceOf(name), r.ownSequence[i]))) {
                continue;
            }
            if (Claims.blockedInQueue(queue, name, g) || Claims.delayedInQueue(queue, present, g)) {
                continue;
            }
            if (g.isStrong()) {
                targets.add(new Target(key, name, queue));
            } else if (staleAfter != null && mine.isStrong()) {
                finer.add(name); // holds a key under ours
            }
        }
        targets.addAll(finerTargets(zk, key, finer));
        if (targets.isEmpty()) {
            return Long.MAX_VALUE;
        }
        List<CompletableFuture<Engine.Data>> data = new ArrayList<>(targets.size());
        for (Target t : targets) {
            data.add(Engine.data(zk, engine.full(Engine.queuePath(t.at()) + "/" + t.name())));
        }
        List<Judged> judged = new ArrayList<>();
        boolean unsure = false;
        for (int c = 0; c < targets.size(); c++) {
            Engine.Data d = await(data.get(c));
            if (d == null || d.stat().getCzxid() > r.zxid || !NodeNames.ephemeral(d.stat())) {
                continue; // gone, came after us, or not Baton's
            }
            HolderRecord record = HolderRecord.parse(d.bytes());
            if (!record.granted() && record.keys() > 1) {
                unsure = true; // may be waiting for another of its keys: judged once it stamps its grant
                continue;
            }
            long limit = Long.MAX_VALUE;
            if (staleAfter != null) {
                limit = Math.min(limit, staleAfter.toMillis());
            }
            if (record.leaseTime() != null) {
                limit = Math.min(limit, record.leaseTime().toMillis() + LEASE_GRACE_MS);
            }
            if (limit != Long.MAX_VALUE) {
                judged.add(new Judged(targets.get(c), Engine.granuleOf(targets.get(c).name()), d, record, limit));
            }
        }
        long next = unsure ? REJUDGE_NANOS : Long.MAX_VALUE;
        if (judged.isEmpty()) {
            return next;
        }
        Map<LockKey, Claims.Ancestors> ancestors = new HashMap<>();
        Map<LockKey, CompletableFuture<Stat>> queueStats = new HashMap<>();
        for (Judged j : judged) {
            LockKey at = j.target().at();
            if (!ancestors.containsKey(at)) {
                ancestors.put(at, Claims.Ancestors.read(engine, zk, at));
                queueStats.put(at, Engine.stat(zk, engine.full(Engine.queuePath(at)))); // after the listing
            }
        }
        Engine.Stamp now;
        try {
            now = engine.now(zk);
        } catch (KeeperException e) {
            if (inDoubt(e.code()) || e.code() == KeeperException.Code.SESSIONEXPIRED) {
                throw e;
            }
            LOG.warn("Cannot learn the ensemble's time to judge the holders of {} ({}); not breaking", key, e.code());
            return TimeUnit.SECONDS.toNanos(5);
        }
        for (Judged j : judged) {
            Target t = j.target();
            Stat stat = j.data().stat();
            boolean heldBack = !j.record().granted() && (ancestors.get(t.at()).holdsBack(j.granule(), stat.getCzxid())
                    || (t.queue() != queue && (Claims.blockedInQueue(t.queue(), t.name(), j.granule())
                        || Claims.delayedInQueue(t.queue(), Claims.present(t.queue()), j.granule()))));
            if (heldBack) {
                r.firstSeen.remove(t.name()); // waiting, not holding
                next = Math.min(next, REJUDGE_NANOS);
                continue;
            }
            long since;
            if (j.record().granted() && now.sameLeader(stat.getMzxid())) {
                since = stat.getMtime() - j.record().heldMs();
            } else if (!j.record().granted() && now.sameLeader(stat.getCzxid())
                    && Claims.grantedAtCreation(t.name(), stat, t.queue(), await(queueStats.get(t.at())),
                        ancestors.get(t.at()))) {
                since = stat.getCtime();
            } else {
                FirstSeen f = r.firstSeen.get(t.name());
                if (f == null || f.at().epoch() != now.epoch() || f.version() != stat.getVersion()) {
                    f = new FirstSeen(now, stat.getVersion());
                    r.firstSeen.put(t.name(), f);
                }
                since = f.at().millis();
            }
            long age = now.millis() - since;
            if (age >= j.limitMs()) {
                LOG.info("Breaking {}'s {} lock on {}: held {} ms on the ensemble's clock, limit {} ms",
                        j.record().holder(), j.granule(), t.at(), age, j.limitMs());
                breakRequest(zk, t.at(), t.name(), stat.getVersion(), j.record(), t.queue());
                return -1; // broken, or changed meanwhile: look again either way
            }
            next = Math.min(next, TimeUnit.MILLISECONDS.toNanos(j.limitMs() - age));
        }
        return next;
    }

    /**
     * The holders of finer keys behind intention nodes in {@code key}'s queue: each intention node
     * names a key its request asked for under {@code key}, whose queue holds the request's record.
     */
    private List<Target> finerTargets(ZooKeeper zk, LockKey key, List<String> intentions)
            throws KeeperException, InterruptedException, SessionGone {
        if (intentions.isEmpty()) {
            return List.of();
        }
        List<CompletableFuture<Engine.Data>> pointers = new ArrayList<>(intentions.size());
        for (String name : intentions) {
            pointers.add(Engine.data(zk, engine.full(Engine.queuePath(key) + "/" + name)));
        }
        Map<LockKey, CompletableFuture<List<String>>> listings = new HashMap<>();
        List<LockKey> pointed = new ArrayList<>(intentions.size());
        for (CompletableFuture<Engine.Data> p : pointers) {
            Engine.Data d = await(p);
            LockKey q = d == null ? null : Engine.pointedKey(d.bytes());
            q = q != null && key.isAncestorOf(q) ? q : null; // names no key under this one: not followed
            pointed.add(q);
            if (q != null && !listings.containsKey(q)) {
                listings.put(q, Engine.children(zk, engine.full(Engine.queuePath(q))));
            }
        }
        Map<LockKey, List<String>> queues = new HashMap<>();
        List<Target> targets = new ArrayList<>();
        for (int n = 0; n < intentions.size(); n++) {
            LockKey q = pointed.get(n);
            if (q == null) {
                continue;
            }
            List<String> queue = queues.get(q);
            if (queue == null) {
                queue = Claims.ordered(await(listings.get(q)));
                queues.put(q, queue);
            }
            String id = Engine.requestOf(intentions.get(n));
            for (String name : queue) {
                Granule g = Engine.granuleOf(name);
                if (g != null && g.isStrong() && Engine.belongsTo(name, id)) {
                    targets.add(new Target(q, name, queue));
                }
            }
        }
        return targets;
    }

    /**
     * Breaks a request's hold on {@code key}: one multi deletes its nodes (its queue node on the
     * key only at the version judged, so a grant stamp or an extend in between stops the break)
     * and starts its lock delay on the key. A request naming this key only loses all its nodes, on
     * every level. A request naming several keys loses only its two nodes on this key: its
     * intention nodes on ancestors stay, standing for its other keys, until its service lets go of
     * them on hearing of the break (through the watch on its own node: {@link LossReason#BROKEN})
     * or its session ends.
     *
     * @return whether it was broken
     */
    private boolean breakRequest(ZooKeeper zk, LockKey key, String name, int version, HolderRecord record,
                                 List<String> queue) throws KeeperException, InterruptedException, SessionGone {
        String id = Engine.requestOf(name);
        String target = engine.full(Engine.queuePath(key) + "/" + name);
        List<String> index = await(Engine.children(zk, engine.full(Engine.strongPath(key))));
        List<String> doomed = new ArrayList<>();
        if (record.keys() == 1) { // unknown (0): as for several, only its nodes on this key
            Granule g = Engine.granuleOf(name);
            doomed.addAll(await(engine.findRequest(zk, Engine.parentsOf(Granule.plan(
                    Map.of(key, g == Granule.X ? LockMode.EXCLUSIVE : LockMode.SHARED))), id)));
            if (!doomed.contains(target)) {
                return false;
            }
        } else {
            doomed.add(target);
            for (String n : index) {
                if (Engine.belongsTo(n, id)) {
                    doomed.add(engine.full(Engine.strongPath(key) + "/" + n));
                }
            }
        }
        List<org.apache.zookeeper.Op> ops = new ArrayList<>();
        for (String path : doomed) {
            ops.add(org.apache.zookeeper.Op.delete(path, path.equals(target) ? version : -1));
        }
        if (record.lockDelay() != null) { // the delay starts now, on the ensemble's clock
            byte[] delay = Long.toString(record.lockDelay().toMillis()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            for (Map.Entry<String, List<String>> level : Map.of(Engine.strongPath(key), index,
                    Engine.queuePath(key), queue).entrySet()) {
                for (String n : level.getValue()) {
                    if (id.equals(Engine.markerRequest(n))) {
                        ops.add(org.apache.zookeeper.Op.setData(engine.full(level.getKey() + "/" + n), delay, -1));
                    }
                }
            }
        }
        try {
            await(Engine.multi(zk, ops));
            return true;
        } catch (KeeperException e) {
            if (e.code() == KeeperException.Code.BADVERSION || e.code() == KeeperException.Code.NONODE) {
                return false; // stamped, extended, released or broken meanwhile
            }
            throw e;
        }
    }

    /**
     * A running lock delay at level {@code i}: the markers in the level's listing ({@code _q} for a
     * strong level, {@code _s} for an intention) whose request has left (lost or broken), made
     * before this request, of a granule incompatible with ours. A marker not yet stamped, or
     * stamped by an earlier leader, is stamped now (its delay starts when first noticed, never
     * before the loss); an expired one is deleted. Markers of compatible requests are stamped and
     * deleted the same way, so they do not stay forever.
     *
     * @return nanoseconds until the level's delay ends, 0 if none runs
     */
    private long delayed(ZooKeeper zk, Request r, int i, List<String> kids)
            throws KeeperException, InterruptedException, SessionGone {
        Set<String> present = null;
        List<String> orphans = new ArrayList<>();
        for (String name : kids) {
            String id = Engine.markerRequest(name);
            if (id != null && !id.equals(r.id)) {
                if (present == null) {
                    present = Claims.present(kids);
                }
                if (!present.contains(id)) {
                    orphans.add(name);
                }
            }
        }
        if (orphans.isEmpty()) {
            return 0;
        }
        Granule mine = level(r, i);
        String parent = listed(r, i);
        List<CompletableFuture<Engine.Data>> data = new ArrayList<>();
        for (String name : orphans) {
            data.add(Engine.data(zk, engine.full(parent + "/" + name)));
        }
        Engine.Stamp now = null;
        long wait = 0;
        for (int m = 0; m < orphans.size(); m++) {
            Engine.Data d = await(data.get(m));
            if (d == null || d.stat().getCzxid() > r.zxid) {
                continue; // gone, or left by a request that came after us
            }
            String path = engine.full(parent + "/" + orphans.get(m));
            boolean conflicts = !mine.compatibleWith(Engine.markerGranule(orphans.get(m)));
            long delayMs = Engine.markerDelay(d.bytes());
            if (now == null) {
                try {
                    now = engine.now(zk);
                } catch (KeeperException e) {
                    if (inDoubt(e.code()) || e.code() == KeeperException.Code.SESSIONEXPIRED) {
                        throw e;
                    }
                    // cannot tell the ensemble's time (ACL, read-only): wait the whole delay
                    LOG.warn("Cannot learn the ensemble's time for the lock delay on level {} ({})", parent, e.code());
                    if (conflicts) {
                        wait = Math.max(wait, TimeUnit.MILLISECONDS.toNanos(delayMs));
                    }
                    continue;
                }
            }
            if (d.stat().getVersion() == 0 || !now.sameLeader(d.stat().getMzxid())) {
                try {
                    await(Engine.setData(zk, path, d.bytes(), d.stat().getVersion())); // the delay starts now
                } catch (KeeperException e) {
                    if (e.code() != KeeperException.Code.BADVERSION && e.code() != KeeperException.Code.NONODE) {
                        throw e;
                    }
                    return TimeUnit.MILLISECONDS.toNanos(1); // stamped or deleted meanwhile: look again
                }
                if (conflicts) {
                    wait = Math.max(wait, TimeUnit.MILLISECONDS.toNanos(delayMs));
                }
                continue;
            }
            long until = d.stat().getMtime() + delayMs;
            if (until > now.millis()) {
                if (conflicts) {
                    wait = Math.max(wait, TimeUnit.MILLISECONDS.toNanos(until - now.millis()));
                }
            } else {
                zk.delete(path, d.stat().getVersion(), (rc, p, ctx) -> { }, null);
            }
        }
        return wait;
    }

    /**
     * Ends the lock delay of a lost lease's markers in the background: each is stamped (the
     * delay starts now, after the loss) unless already stamped by this leader, and deleted once
     * its delay has passed on the ensemble's clock; retried while the connection is down. A
     * marker of a process that died is ended the same way by the next request that finds it.
     */
    private void retireMarkers(List<String> markers) {
        try {
            sweeper.execute(() -> retireNow(markers));
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // the service is closing: the next request to find them ends them
        }
    }

    private void retireNow(List<String> markers) {
        List<String> left = new ArrayList<>();
        long waitMs = 0;
        try {
            ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
            Engine.Stamp now = engine.now(zk);
            for (String marker : markers) {
                String path = engine.full(marker);
                Engine.Data d = Engine.data(zk, path).get(connectionTimeout.toMillis(), TimeUnit.MILLISECONDS);
                if (d == null) {
                    continue;
                }
                long delayMs = Engine.markerDelay(d.bytes());
                if (d.stat().getVersion() == 0 || !now.sameLeader(d.stat().getMzxid())) {
                    Engine.setData(zk, path, d.bytes(), d.stat().getVersion())
                            .get(connectionTimeout.toMillis(), TimeUnit.MILLISECONDS);
                    left.add(marker);
                    waitMs = Math.max(waitMs, delayMs);
                } else if (d.stat().getMtime() + delayMs > now.millis()) {
                    left.add(marker);
                    waitMs = Math.max(waitMs, d.stat().getMtime() + delayMs - now.millis());
                } else {
                    zk.delete(path, d.stat().getVersion(), (rc, p, ctx) -> { }, null);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (Exception e) {
            LOG.debug("Cannot end the lock delay of {} yet; trying again", markers, e);
            left = markers;
            waitMs = 1_000;
        }
        if (!left.isEmpty()) {
            List<String> again = left;
            try {
                timer.schedule(() -> retireMarkers(again), waitMs + 10, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                // the service is closing: the next request to find them ends them
            }
        }
    }

    /**
     * How long a grant is held before its holder starts watching its own nodes and stamps its
     * grant: a short hold (most holds) costs no request beyond its acquire and release; a hold
     * broken or asked to let go within this time hears of it this much later at most.
     */
    static final long SETTLE_MS = 500;

    /**
     * Rewrites a request's records unchanged before it checks again after connection trouble: a
     * grant decided late must not look, to a waiter proving it was granted at its creation, like
     * one decided then (the proof requires records never rewritten). Not awaited.
     */
    private void unproven(ZooKeeper zk, Request r) {
        if (r.nodes == null || r.holder == null) {
            return;
        }
        for (String node : Engine.nodesIn(r.nodes, r.asked, Engine::queuePath)) {
            Engine.setData(zk, engine.full(node), r.record, -1);
        }
    }

    /** Grants not settled yet, in grant order; {@link #settleDue} takes them once due. */
    private final java.util.concurrent.ConcurrentLinkedQueue<ZkLease> unsettled = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** Queues a new grant for {@link #settle}, {@link #SETTLE_MS} from now (no timer task per grant). */
    private void settleLater(ZkLease lease) {
        unsettled.add(lease);
    }

    /** Runs every {@link #SETTLE_MS}/4 on the timer: settles the grants held long enough, drops the released. */
    private void settleDue() {
        long now = System.nanoTime();
        for (ZkLease lease; (lease = unsettled.peek()) != null; ) {
            if (lease.isValid() && now - lease.grantedAt < TimeUnit.MILLISECONDS.toNanos(SETTLE_MS)) {
                return; // the rest came later
            }
            unsettled.poll();
            try {
                settle(lease);
            } catch (RuntimeException e) { // never let it end the periodic task
                LOG.warn("Settling the lease on {} failed", lease.key(), e);
            }
        }
    }

    /**
     * A grant held for {@link #SETTLE_MS}: its holder watches its own strong nodes (their deletion
     * by anyone else is a break, data written to them a release request) and, if it was granted
     * after waiting or names several keys, stamps its grant in its records (the hold then counts
     * from this stamp, a little after the grant: breaking errs late, never early).
     */
    private void settle(ZkLease lease) {
        if (!lease.isValid()) {
            return;
        }
        lease.settled = true;
        try {
            ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
            if (zk.getSessionId() != lease.sessionId) {
                return; // the session that holds it has ended: the lease is being lost
            }
            watchOwn(zk, lease);
            if (lease.stampPending) {
                stamp(zk, lease);
            }
        } catch (Exception e) {
            LOG.debug("Cannot watch the nodes of {} yet; again after reconnecting", lease.key(), e);
        }
    }

    /** Watches the strong-index nodes of a granted lease's keys: deleted = broken, data = a release request. */
    private void watchOwn(ZooKeeper zk, ZkLease lease) {
        for (String node : lease.strongNodes) {
            zk.getData(engine.full(node), lease.watcher, (rc, path, ctx, data, stat) -> {
                if (rc == KeeperException.Code.OK.intValue()) {
                    if (stat.getVersion() > 0 && data != null && data.length > 0
                            && lease.newRequest(node, stat.getVersion())) {
                        lease.releaseRequested();
                    }
                } else if (rc == KeeperException.Code.NONODE.intValue()) {
                    broken(lease);
                }
                // connection trouble: armed again on reconnection
            }, null);
        }
    }

    private void ownNodeChanged(ZkLease lease, org.apache.zookeeper.WatchedEvent event) {
        if (event.getType() == org.apache.zookeeper.Watcher.Event.EventType.NodeDeleted) {
            broken(lease);
        } else if (event.getType() == org.apache.zookeeper.Watcher.Event.EventType.NodeDataChanged
                && lease.isValid()) {
            try {
                watchOwn(client.getZookeeperClient().getZooKeeper(), lease);
            } catch (Exception e) {
                LOG.debug("Cannot watch the nodes of {} again", lease.key(), e);
            }
        }
    }

    /** How often idle keys are looked for. */
    private static final long SWEEP_MS = 250;

    /** Deletes the znodes of keys idle for a while ({@link IdleKeys}); on the sweeper thread. */
    private void sweepIdleKeys() {
        synchronized (stateLock) {
            if (!connected || closed) {
                return;
            }
        }
        try {
            idleKeys.sweep(client.getZookeeperClient().getZooKeeper(), engine, connectionTimeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the service is closing
        } catch (Exception e) {
            LOG.debug("Could not sweep idle keys", e);
        }
    }

    /** A node of a held lease was deleted by someone else: the lease was broken. */
    private void broken(ZkLease lease) {
        try {
            if (client.getZookeeperClient().getZooKeeper().getSessionId() != lease.sessionId) {
                return; // its session ended: the loss is reported as that
            }
        } catch (Exception e) {
            return; // the client is closing
        }
        synchronized (stateLock) {
            if (!leases.remove(lease)) {
                return; // released, lost or closed already: the deletion was ours
            }
        }
        LOG.warn("Lease on {} ({}) was broken by another client", lease.key(), lease.token());
        loseAll(List.of(lease), LossReason.BROKEN);
    }

    /**
     * Stamps a grant in the records of the lease's keys, in one multi not awaited: its hold
     * starts now on the ensemble's clock. Sent again after a reconnection until it lands.
     */
    private void stamp(ZooKeeper zk, ZkLease lease) {
        synchronized (lease.recordLock) { // an extend's rewrite is sent after, or instead of, this
            if (!lease.stampPending) {
                return;
            }
            long heldMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lease.grantedAt);
            byte[] data = lease.record.stamped(lease.leaseTime, clock.millis(), heldMs).encode();
            Engine.multi(zk, rewrites(lease, data)).whenComplete((ok, e) -> {
                if (ok != null || (e instanceof KeeperException && !inDoubt(((KeeperException) e).code()))) {
                    lease.stampPending = false; // landed, or can never land (the node is gone)
                }
            });
        }
    }

    /** The ops rewriting a lease's records with {@code data}. */
    private List<org.apache.zookeeper.Op> rewrites(ZkLease lease, byte[] data) {
        List<org.apache.zookeeper.Op> ops = new ArrayList<>(lease.recordNodes.size());
        for (String node : lease.recordNodes) {
            ops.add(org.apache.zookeeper.Op.setData(engine.full(node), data, -1));
        }
        return ops;
    }

    /** Records an extend: the lease's records are rewritten in one multi, so their mtime is the hold's new start. */
    private void extended(ZkLease lease, Duration leaseTime) {
        CompletableFuture<List<OpResult>> written;
        ZooKeeper zk;
        try {
            zk = client.getZookeeperClient().getZooKeeper();
        } catch (Exception e) {
            throw new LockException("Could not record the extended lease on " + lease.key() + ": " + e, e);
        }
        if (zk.getSessionId() != lease.sessionId) {
            throw new LockException("Could not record the extended lease on " + lease.key()
                    + ": its session has ended (the lease is being lost)");
        }
        Duration leaseTimeBefore;
        boolean stampWasPending;
        synchronized (lease.recordLock) { // sent after any grant stamp, which it replaces
            leaseTimeBefore = lease.leaseTime;
            stampWasPending = lease.stampPending;
            lease.leaseTime = leaseTime;
            lease.stampPending = false;
            byte[] data = lease.record.stamped(leaseTime, clock.millis(), 0).encode();
            written = Engine.multi(zk, rewrites(lease, data));
        }
        boolean recorded = false;
        try {
            written.get(connectionTimeout.toMillis(), TimeUnit.MILLISECONDS);
            recorded = true;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof KeeperException.NoNodeException) {
                broken(lease);
                return; // extend reports the loss
            }
            throw new LockException("Could not record the extended lease on " + lease.key() + ": " + e.getCause(),
                    e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LockException("Interrupted while extending the lease on " + lease.key(), e);
        } catch (Exception e) {
            throw new LockException("Could not record the extended lease on " + lease.key() + ": " + e, e);
        } finally {
            if (!recorded) {
                synchronized (lease.recordLock) { // the grant stamp it replaced is still owed, with the old lease time
                    lease.leaseTime = leaseTimeBefore;
                    lease.stampPending = stampWasPending;
                }
            }
        }
    }

    // ---------------------------------------------------------------------------- inspection

    /** Work done on the current ZooKeeper handle for the operator calls. */
    private interface ZkCall<T> {
        T run(ZooKeeper zk) throws Exception;
    }

    /**
     * Runs an operator call, retried on connection trouble until the connection timeout.
     *
     * @throws LockException if it failed
     */
    private <T> T operate(String what, ZkCall<T> call) {
        return operate(what, Access.TO_READ, call);
    }

    /**
     * {@link #operate(String, ZkCall)}, whose refusal for this client's identity is reported as
     * needing {@code needs} ({@link Access}).
     *
     * @throws AccessDeniedException if ZooKeeper refused it for this client's identity
     */
    private <T> T operate(String what, String needs, ZkCall<T> call) {
        synchronized (stateLock) {
            if (closed) {
                throw new IllegalStateException("LockService is closed: cannot " + what);
            }
        }
        long until = System.nanoTime() + connectionTimeout.toNanos();
        while (true) {
            try {
                ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
                checkServer(zk);
                return call.run(zk);
            } catch (KeeperException e) {
                if (Access.refused(e.code())) {
                    throw Access.denied(what, needs, e);
                }
                if (!inDoubt(e.code()) || System.nanoTime() - until > 0) {
                    throw new LockException("Could not " + what + ": " + e, e);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LockException("Interrupted while trying to " + what, e);
            } catch (SessionGone e) {
                if (System.nanoTime() - until > 0) {
                    throw new LockException("Could not " + what + ": the session ended", e);
                }
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new LockException("Could not " + what + ": " + e, e);
            }
            try {
                Thread.sleep(20); // the handle reconnects on its own; pace the retries
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LockException("Interrupted while trying to " + what, e);
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Reads the key's queue, the holders' records and the ancestors' strong indexes, and makes
     * one write to learn the ensemble's time (Baton's clock node), for {@code heldFor}.
     */
    @Override
    public dev.baton.lock.LockState inspect(LockKey key) {
        Objects.requireNonNull(key, "key must not be null");
        return operate("inspect " + key, zk -> Claims.read(engine, zk, key, null).state());
    }

    /**
     * {@inheritDoc}
     *
     * <p>Walks the key tree under {@code prefix} one depth at a time, listing each key's children
     * and strong index once (all of a depth sent at once), then reads each key with a strong node.
     */
    @Override
    public List<dev.baton.lock.LockState> list(LockKey prefix) {
        Objects.requireNonNull(prefix, "prefix must not be null");
        return operate("list " + prefix, zk -> walk(zk, List.of(prefix)));
    }

    @Override
    public List<dev.baton.lock.LockState> list() {
        return operate("list the held locks", zk -> {
            List<LockKey> top = new ArrayList<>();
            for (String name : await(Engine.children(zk, engine.full(Engine.LOCKS)))) {
                if (isKeyName(name)) {
                    try {
                        top.add(LockKey.of(name));
                    } catch (IllegalArgumentException notAKey) {
                        // not one of ours
                    }
                }
            }
            return walk(zk, top);
        });
    }

    private static boolean isKeyName(String name) {
        return !name.startsWith("_") && !name.startsWith(".");
    }

    private List<dev.baton.lock.LockState> walk(ZooKeeper zk, List<LockKey> start) throws Exception {
        List<dev.baton.lock.LockState> held = new ArrayList<>();
        Engine.Stamp now = null;
        boolean timed = false;
        List<LockKey> depth = start;
        while (!depth.isEmpty()) {
            List<CompletableFuture<List<String>>> children = new ArrayList<>();
            List<CompletableFuture<List<String>>> strong = new ArrayList<>();
            for (LockKey k : depth) {
                children.add(Engine.children(zk, engine.full(Engine.keyPath(k))));
                strong.add(Engine.children(zk, engine.full(Engine.strongPath(k))));
            }
            List<LockKey> next = new ArrayList<>();
            for (int i = 0; i < depth.size(); i++) {
                if (!await(strong.get(i)).isEmpty()) {
                    if (!timed) {
                        now = Claims.nowIfKnown(engine, zk);
                        timed = true;
                    }
                    dev.baton.lock.LockState state = Claims.read(engine, zk, depth.get(i), now).state();
                    if (state.isHeld()) {
                        held.add(state);
                    }
                }
                for (String name : await(children.get(i))) {
                    if (isKeyName(name) && depth.get(i).depth() < LockKey.MAX_DEPTH) {
                        try {
                            next.add(depth.get(i).child(name));
                        } catch (IllegalArgumentException notAKey) {
                            // not one of ours
                        }
                    }
                }
            }
            depth = next;
        }
        held.sort(java.util.Comparator.comparing(dev.baton.lock.LockState::key, Granule.ORDER));
        return held;
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
        return operate("request the release of " + key, Access.TO_REQUEST_RELEASE, zk -> {
            Claims claims = Claims.read(engine, zk, key, null);
            List<String> index = await(Engine.children(zk, engine.full(Engine.strongPath(key))));
            byte[] note = ("release requested by " + holderId).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            int asked = 0;
            for (Claims.Entry holder : claims.holders()) {
                for (String name : index) {
                    if (Engine.belongsTo(name, holder.id())) {
                        try {
                            await(Engine.setData(zk, engine.full(Engine.strongPath(key) + "/" + name), note, -1));
                            asked++;
                        } catch (KeeperException.NoNodeException gone) {
                            // released meanwhile
                        }
                    }
                }
            }
            return asked;
        });
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
        return operate("break " + key, Access.TO_BREAK, zk -> {
            int broken = 0;
            Set<String> done = new HashSet<>();
            for (int attempt = 0; attempt < 5; attempt++) { // a stamp or an extend may race a break: read again
                boolean raced = false;
                Claims claims = Claims.read(engine, zk, key, null);
                for (Claims.Entry holder : claims.holders()) {
                    if (done.contains(holder.name())) {
                        continue;
                    }
                    if (breakRequest(zk, key, holder.name(), holder.stat().getVersion(), holder.record(), claims.queue)) {
                        LOG.info("Broke {}'s {} lock on {} on request", holder.record().holder(), holder.mode(), key);
                        done.add(holder.name());
                        broken++;
                    } else {
                        raced = true;
                    }
                }
                if (!raced) {
                    break;
                }
            }
            return broken;
        });
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
        try {
            checkServer(client.getZookeeperClient().getZooKeeper());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // not checked now; the latch's own calls see the interrupt
        } catch (LockException e) {
            throw e;
        } catch (Exception e) {
            // no handle yet: the latch waits for the connection, and the next call checks
        }
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

    /**
     * Refuses a server before 3.5 (see {@link ServerCheck}); once per session.
     *
     * @throws LockException naming the server and the versions supported
     */
    private void checkServer(ZooKeeper zk) throws InterruptedException {
        if (client.getZookeeperClient().isConnected()) { // else the call's own requests meet the trouble
            serverCheck.verify(zk, client.getZookeeperClient().getCurrentConnectionString(), connectionTimeout);
        }
    }

    void forget(ZkLeaderElection election) {
        elections.remove(election);
    }

    ScheduledExecutorService timer() {
        return timer;
    }

    // ---------------------------------------------------------------------------- release, close

    /**
     * Deletes a request's nodes (relative paths) in the background, in one multi on the current
     * session, sent before this returns: the session's later requests are ordered after it. If
     * that fails (connection trouble, or a node already gone), each node is deleted on its own
     * with Curator's guaranteed delete, which retries until it lands or the node is gone. The
     * future completes when the first attempt has been answered.
     */
    private CompletableFuture<Void> deleteNodes(List<String> nodes) {
        CompletableFuture<Void> answered = new CompletableFuture<>();
        List<String> full = new ArrayList<>(nodes.size());
        for (String node : nodes) {
            full.add(engine.full(node));
        }
        try {
            Engine.deleteAll(client.getZookeeperClient().getZooKeeper(), full).whenComplete((rc, e) -> {
                if (rc != null && rc == KeeperException.Code.OK.intValue()) {
                    orphans.removeAll(nodes);
                } else {
                    for (String node : nodes) {
                        deleteGuaranteed(node);
                    }
                }
                answered.complete(null);
            });
        } catch (Exception e) {
            for (String node : nodes) {
                deleteGuaranteed(node);
            }
            answered.complete(null);
        }
        return answered;
    }

    /**
     * Curator's guaranteed delete of {@code node}, in the background. Often called on ZooKeeper's
     * event thread (from the answer to a failed multi), so it goes through the client without a
     * namespace: the namespaced one would first check its namespace node synchronously and, while
     * disconnected, block the event thread until its connection timeout, so that the client
     * could not even hear that it had reconnected (seen in CI: 30 s without a connection).
     */
    private void deleteGuaranteed(String node) {
        try {
            engine.root().delete().quietly().guaranteed().inBackground((c, event) -> {
                int rc = event.getResultCode();
                if (rc == KeeperException.Code.OK.intValue() || rc == KeeperException.Code.NONODE.intValue()) {
                    orphans.remove(node);
                }
            }).forPath(engine.full(node));
        } catch (Exception e) {
            // only when the client is closed, which also ends the session and its nodes
            LOG.debug("Could not send delete of {}", node, e);
        }
    }

    /**
     * Releases a lease without waiting for ZooKeeper's answer: the delete is sent before this
     * returns, so this client's later requests come after it, and it is retried until it lands.
     */
    private void release(ZkLease lease) {
        synchronized (stateLock) {
            leases.remove(lease);
        }
        idleKeys.end(lease.keys().keySet());
        if (lease.markers.isEmpty()) {
            deleteNodes(lease.nodes);
            return;
        }
        // with its lock-delay markers in the same multi: if that fails, a node was gone (broken
        // meanwhile) or the connection broke; then the nodes go one by one and the markers are
        // left to run their delay out (a release that was not one must not end a delay)
        List<String> full = new ArrayList<>();
        for (String node : lease.allNodes()) {
            full.add(engine.full(node));
        }
        try {
            Engine.deleteAll(client.getZookeeperClient().getZooKeeper(), full).whenComplete((rc, e) -> {
                if (rc == null || rc != KeeperException.Code.OK.intValue()) {
                    orphans.addAll(lease.nodes);
                    lease.nodes.forEach(this::deleteGuaranteed);
                    retireMarkers(lease.markers);
                }
            });
        } catch (Exception e) {
            lease.nodes.forEach(this::deleteGuaranteed);
            retireMarkers(lease.markers);
        }
    }

    /** Whether this is a ZooKeeper client's event thread, which delivers every answer and watch (known by its name). */
    private static boolean onEventThread() {
        return Thread.currentThread().getName().endsWith("-EventThread");
    }

    private void awaitAnswer(CompletableFuture<Void> answered, boolean connectedNow) {
        if (!connectedNow || onEventThread()) {
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

    /**
     * Follows {@code key}: {@code onChange} gets the key's state at once, then again after every
     * change of its queue (requests arriving, released, broken or timed out) and at least every
     * {@value #WATCH_REFRESH_MS} ms (a grant caused elsewhere, such as the release of a coarser
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
    public java.io.Closeable watch(LockKey key, KeyListener onChange) {
        Objects.requireNonNull(key, "key must not be null");
        Objects.requireNonNull(onChange, "onChange must not be null");
        java.util.concurrent.Semaphore changed = new java.util.concurrent.Semaphore(0);
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        org.apache.zookeeper.Watcher watcher = event -> changed.release();
        org.apache.curator.framework.state.ConnectionStateListener connection = (c, newState) -> changed.release();
        String queue = engine.full(Engine.queuePath(key));
        Thread follower = new Thread(() -> {
            boolean up = true; // as told to onChange: a service starts connected or tells at once
            while (!stop.get()) {
                try {
                    changed.drainPermits();
                    boolean connected = client.getZookeeperClient().isConnected();
                    if (connected != up) {
                        up = connected;
                        onChange.connection(connected);
                    }
                    if (!connected) {
                        changed.tryAcquire(WATCH_REFRESH_MS, TimeUnit.MILLISECONDS);
                        continue;
                    }
                    ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
                    try {
                        zk.getChildren(queue, watcher);
                    } catch (KeeperException.NoNodeException none) {
                        if (zk.exists(queue, watcher) != null) {
                            continue; // made meanwhile: watch its children
                        }
                    }
                    dev.baton.lock.LockState state = Claims.read(engine, zk, key, null).state();
                    if (!stop.get()) {
                        onChange.changed(state);
                    }
                    // a grant caused elsewhere (a coarser key's release, the end of a lock delay)
                    // does not change the queue: read again now and then anyway
                    changed.tryAcquire(WATCH_REFRESH_MS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    if (stop.get()) {
                        return;
                    }
                    LOG.debug("Watching {} failed; trying again", key, e);
                    try {
                        changed.tryAcquire(200, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }, "baton-watch-" + key);
        follower.setDaemon(true);
        java.io.Closeable handle = new java.io.Closeable() {
            @Override
            public void close() {
                if (!stop.compareAndSet(false, true)) {
                    return;
                }
                followers.remove(this);
                client.getConnectionStateListenable().removeListener(connection);
                follower.interrupt();
                try {
                    follower.join(connectionTimeout.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                try {
                    client.getZookeeperClient().getZooKeeper().removeWatches(queue, watcher,
                            org.apache.zookeeper.Watcher.WatcherType.Any, true);
                } catch (Exception e) {
                    // none left, or the client is closed: nothing to remove
                }
            }
        };
        synchronized (stateLock) { // a close from here on finds the handle and closes it
            if (closed) {
                throw new IllegalStateException("LockService is closed: cannot watch " + key);
            }
            followers.add(handle);
        }
        client.getConnectionStateListenable().addListener(connection);
        if (stop.get()) {
            client.getConnectionStateListenable().removeListener(connection); // closed meanwhile
        }
        follower.start(); // ends at once if closed meanwhile
        return handle;
    }

    /**
     * What {@link #watch} tells: the key's successive states, and the connection to the ensemble
     * going down and coming back. Called on the watch's one thread, in order.
     */
    @FunctionalInterface
    public interface KeyListener {
        /** The key's state as just read from the ensemble. */
        void changed(dev.baton.lock.LockState state);

        /**
         * The connection to the ensemble went down ({@code false}: nothing is read until it is
         * back, so grants and releases meanwhile are not seen as they happen) or came back
         * ({@code true}: a fresh state follows). By default nothing.
         */
        default void connection(boolean connected) {
        }
    }

    /** How often {@link #watch} reads the key again when nothing changed in its queue. */
    static final long WATCH_REFRESH_MS = 2_000;

    /** The open {@link #watch} handles, closed with the service. */
    private final Set<java.io.Closeable> followers = ConcurrentHashMap.newKeySet();

    /**
     * {@inheritDoc}
     *
     * <p>Called on one of the client's own threads (ZooKeeper's event thread or Curator's
     * connection-state thread, as from an {@code onLost} listener), it refuses later calls at
     * once and hands the rest to a thread of its own: waiting there for ZooKeeper's answers would
     * wait for the very thread that delivers them. Its elections and leases end a moment later.
     * Called again while a close is going on, it waits for that one (except on those threads).
     */
    @Override
    public void close() {
        boolean handOff = onEventThread()
                || Thread.currentThread().getName().startsWith("Curator-ConnectionStateManager");
        List<ZkLease> held;
        boolean wait;
        synchronized (stateLock) {
            if (closed) {
                held = null;
                wait = false;
            } else {
                closed = true; // later calls are refused from here on
                cancelDeadline();
                held = drainLeases();
                for (Map.Entry<Thread, Waiter> w : waiting.entrySet()) {
                    interrupt(w.getKey(), w.getValue(), Interruption.CLOSE);
                }
                wait = connected;
            }
        }
        if (held == null) { // closed already: wait until that close is done, unless this is part of it
            if (!handOff && Thread.currentThread() != closingThread) {
                try {
                    closeDone.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return;
        }
        if (handOff) {
            Thread closer = new Thread(() -> finishClose(held, wait), "baton-close");
            closer.setDaemon(false); // the releases should be sent even if the program ends now
            closer.start();
            return;
        }
        finishClose(held, wait);
    }

    /** Counted down when {@link #close()} is done. */
    private final CountDownLatch closeDone = new CountDownLatch(1);
    /** The thread finishing {@link #close()}: its listeners may call close() again. */
    private volatile Thread closingThread;

    private void finishClose(List<ZkLease> held, boolean wait) {
        closingThread = Thread.currentThread();
        try {
            finishCloseNow(held, wait);
        } finally {
            closeDone.countDown();
        }
    }

    private void finishCloseNow(List<ZkLease> held, boolean wait) {
        for (ZkLeaderElection election : new ArrayList<>(elections)) {
            election.close(); // before the leases: a job may still be writing under a lock
        }
        for (java.io.Closeable follower : new ArrayList<>(followers)) {
            try {
                follower.close();
            } catch (java.io.IOException e) {
                LOG.debug("Closing a watch failed", e);
            }
        }
        client.getConnectionStateListenable().removeListener(stateListener);
        List<ZkLease> ended = new ArrayList<>();
        List<CompletableFuture<Void>> deletes = new ArrayList<>();
        for (ZkLease lease : held) {
            if (lease.markLost(LossReason.SERVICE_CLOSED)) {
                ended.add(lease);
                deletes.add(deleteNodes(lease.allNodes())); // closing is letting go: no lock delay
            }
        }
        for (ZkLease lease : ended) {
            lease.fireLost();
        }
        awaitAnswer(CompletableFuture.allOf(deletes.toArray(new CompletableFuture<?>[0])), wait);
        timer.shutdownNow();
        settler.shutdownNow();
        awaitWaitersGone(); // their cleanup (sweepNeverUsed, purges) must be queued before the sweeper stops
        if (ownedClient == null) {
            runPurges(); // a caller's client keeps its session, and would keep such nodes with it
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

    /** How many keys this service remembers as idle and not swept yet. */
    int idleKeysRemembered() {
        return idleKeys.size();
    }

    /** The queue layout and ZooKeeper calls of this service. */
    Engine engine() {
        return engine;
    }

    /** The namespaced client this service works through. */
    CuratorFramework client() {
        return client;
    }

    /** The queue node of {@code key}, relative to the namespace. */
    static String queuePath(LockKey key) {
        return Engine.queuePath(key);
    }

    /** The lease's node in its first key's queue, relative to the namespace. */
    static String nodeOf(Lease lease) {
        ZkLease zl = (ZkLease) lease;
        String queue = Engine.queuePath(zl.key()) + "/";
        for (String node : zl.nodes) {
            if (node.startsWith(queue)) {
                return node;
            }
        }
        throw new IllegalStateException("no queue node for " + zl.key());
    }

    /** Every node behind a lease of this service, relative to the namespace. */
    static List<String> nodesOf(Lease lease) {
        return ((ZkLease) lease).nodes;
    }


    // ---------------------------------------------------------------------------------- lease

    private final class ZkLease extends AbstractLease {
        /** Relative paths of every node of the request. */
        private final List<String> nodes;
        /** Its lock-delay markers (persistent): deleted by a release, left behind by a loss. */
        private final List<String> markers;
        /** The queue nodes of the keys asked for, which carry the record. */
        private final List<String> recordNodes;
        /** The strong-index nodes of the keys asked for: watched for breaking and release requests. */
        private final List<String> strongNodes;
        private final long sessionId;
        private final HolderRecord record;
        /** The last data version of each strong node whose release request was delivered; made on first use. */
        private Map<String, Integer> requestsSeen;

        /** Whether version {@code version} of {@code node} is a release request not delivered yet. */
        synchronized boolean newRequest(String node, int version) {
            if (requestsSeen == null) {
                requestsSeen = new HashMap<>(2);
            }
            Integer seen = requestsSeen.put(node, version);
            return seen == null || seen < version;
        }
        /** One watcher object for all its nodes, so ZooKeeper keeps it once per node. */
        private final org.apache.zookeeper.Watcher watcher = event -> ownNodeChanged(this, event);

        /** The lease time last recorded (rewritten by extend). */
        private volatile Duration leaseTime;
        /** Whether a grant stamp is due and not yet known to have landed: sent again on reconnection. */
        private volatile boolean stampPending;
        /** Whether {@link #settle} ran: its watches are then armed again after a reconnection. */
        private volatile boolean settled;
        /** When it was granted, on System.nanoTime. */
        private final long grantedAt = System.nanoTime();
        /** Orders the rewrites of its records (grant stamp, extend). */
        private final Object recordLock = new Object();

        ZkLease(Map<LockKey, LockMode> keys, FencingToken token, Request r, Duration leaseTime) {
            super(keys, token);
            this.leaseTime = leaseTime;
            this.stampPending = r.waited || keys.size() > 1;
            this.nodes = List.copyOf(r.nodes);
            this.markers = r.markers();
            this.sessionId = r.sessionId;
            this.record = r.holder;
            this.recordNodes = Engine.nodesIn(nodes, keys.keySet(), Engine::queuePath);
            this.strongNodes = Engine.nodesIn(nodes, keys.keySet(), Engine::strongPath);
        }

        List<String> allNodes() {
            if (markers.isEmpty()) {
                return nodes;
            }
            List<String> all = new ArrayList<>(nodes);
            all.addAll(markers);
            return all;
        }

        @Override
        protected void release() {
            ZkLockService.this.release(this);
        }

        @Override
        protected void extended(Duration leaseTime) {
            ZkLockService.this.extended(this, leaseTime);
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
        private Duration defaultLeaseTime;
        private java.time.Clock clock = java.time.Clock.systemUTC();
        private final ClientSecurity security = new ClientSecurity();
        private SecuredNamespace secured;
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

        /**
         * This host's wall clock (default: the system's UTC clock). Baton reads it only to write
         * the informational {@code hostTime} of its holder records; lease ages, stale breaking and
         * lock delays are judged on the ensemble's clock alone, so a skewed host clock changes
         * none of them.
         */
        public Builder clock(java.time.Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock must not be null");
            return this;
        }

        /**
         * The lease time of grants whose {@link LockOptions} ask for none (default: none, a lease
         * lasts as long as the session): past it the lease is lost with
         * {@link LossReason#LEASE_EXPIRED} and released, unless {@link Lease#extend extended}.
         */
        public Builder defaultLeaseTime(Duration leaseTime) {
            Objects.requireNonNull(leaseTime, "defaultLeaseTime must not be null");
            if (leaseTime.isNegative() || leaseTime.isZero()) {
                throw new IllegalArgumentException("defaultLeaseTime must be positive, got " + leaseTime);
            }
            this.defaultLeaseTime = leaseTime;
            return this;
        }

        /**
         * Connect over TLS, trusting the servers whose certificates the trust store vouches for
         * (servers' host names are verified), without a client certificate. The store's type comes
         * from its name ({@code .jks}, {@code .p12}, {@code .pem}, {@code .bcfks}); a PEM store's
         * password is empty. Only with {@link #connectString}; the servers must listen on a secure
         * client port (ZooKeeper's {@code secureClientPort}), which the connect string names.
         * The stores are opened in {@link #build()}, which fails on a wrong password or file.
         *
         * <pre>{@code
         * ZkLockService.builder().connectString("zk1:2281,zk2:2281,zk3:2281")
         *         .tls(Path.of("/etc/baton/zk-truststore.p12"), trustPassword)
         *         .build();
         * }</pre>
         *
         * @throws IllegalArgumentException if the store is not a readable file of a known type
         */
        public Builder tls(Path trustStore, char[] trustPassword) {
            security.tls(null, null, trustStore, trustPassword);
            return this;
        }

        /**
         * Connect over TLS with a client certificate: the key store holds this client's key and
         * certificate, which servers that require client authentication ({@code ssl.clientAuth})
         * check, and which names this client as {@code x509:<subject>} to a server with ZooKeeper's
         * {@code X509AuthenticationProvider}. Otherwise as {@link #tls(Path, char[])}.
         *
         * @throws IllegalArgumentException if a store is not a readable file of a known type
         */
        public Builder tls(Path keyStore, char[] keyPassword, Path trustStore, char[] trustPassword) {
            Objects.requireNonNull(keyStore, "the key store must not be null");
            security.tls(keyStore, keyPassword, trustStore, trustPassword);
            return this;
        }

        /**
         * Authenticate with ZooKeeper's digest scheme, as {@code addauth digest user:password}
         * does, on every connection: the client then acts as the ACL identity
         * {@code digest:<user>:<hash>} ({@link SecuredNamespace#digestId}). Digest credentials
         * travel in clear text unless the connection uses TLS. Only with {@link #connectString}.
         *
         * @throws IllegalArgumentException if the user is empty or has a {@code :}, or the password
         *     is empty (the message names the user, never the password)
         */
        public Builder digest(String user, String password) {
            security.digest(user, password);
            return this;
        }

        /**
         * Authenticate with SASL through the named section of the JVM's JAAS configuration
         * (the file named by {@code java.security.auth.login.config}): a section with
         * ZooKeeper's {@code DigestLoginModule} (DIGEST-MD5, {@code username} and
         * {@code password}), or with {@code Krb5LoginModule} for Kerberos. The client then acts as
         * {@code sasl:<user>}. Naming the section keeps other ZooKeeper clients in the JVM, which
         * look for the section {@code Client}, from logging in with it. DIGEST-MD5 is not a FIPS
         * mechanism, and ZooKeeper 3.9 clients refuse it in their default FIPS mode
         * ({@code zookeeper.fips-mode}): for a section with {@code DigestLoginModule} Baton turns
         * FIPS mode off on its own client's configuration. Only with {@link #connectString};
         * {@link #build()} fails if the section does not exist, and if the ensemble rejects the
         * login.
         *
         * @throws IllegalArgumentException if the name is blank
         */
        public Builder sasl(String jaasSection) {
            security.sasl(jaasSection);
            return this;
        }

        /**
         * The ZooKeeper client configuration of the client the service creates, for what the
         * other options do not cover (a Kerberos server principal, TLS protocols or ciphers,
         * {@code zookeeper.ssl.*} settings): used as given, for every connection. Only with
         * {@link #connectString}; not with {@link #tls} or {@link #sasl}, whose properties it
         * would have to hold itself.
         */
        public Builder clientConfig(ZKClientConfig config) {
            security.clientConfig(config);
            return this;
        }

        /**
         * Creates every znode of the namespace with ACLs that let everyone read it, the lock
         * users and admins of {@code secured} take locks and join elections, and only a holder's
         * own identity and the admins write a holder's nodes; what that does and does not allow is
         * in {@link SecuredNamespace}. {@link #build()} makes the namespace node persistent with
         * those ACLs, and refuses one that already lets the world do more than read (made without
         * this mode). The client must have an identity (digest, SASL or a TLS client
         * certificate); to take locks, a lock user's or an admin's. With {@link #client}, your
         * client must have been built with {@link SecuredNamespace#aclProvider}: checked in
         * {@link #build()}.
         *
         * <pre>{@code
         * ZkLockService.builder().connectString(zk)
         *         .digest("worker", workerPassword)
         *         .securedNamespace(SecuredNamespace.lockUsers(SecuredNamespace.digestId("worker", workerPassword))
         *                 .admins("sasl:ops"))
         *         .build();
         * }</pre>
         */
        public Builder securedNamespace(SecuredNamespace secured) {
            this.secured = Objects.requireNonNull(secured, "secured must not be null");
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
         *     given client is not started, the timeouts or security options are set with a client
         *     (or a secured namespace with a client lacking its ACL provider), or build() was
         *     already called
         * @throws IllegalArgumentException if a TLS store cannot be opened or the SASL section
         *     does not exist (checked before connecting)
         * @throws AccessDeniedException if the ensemble rejects this client's credentials, requires
         *     an authentication it did not make, or will not let it create the secured namespace
         * @throws LockException if the ensemble cannot be reached within the connection timeout,
         *     runs a ZooKeeper server older than 3.5 (a caller's client not yet connected is checked
         *     at its first request or election instead), or has the secured namespace open to all
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
            NamespaceAcls acls = null;
            if (client != null) {
                if (sessionTimeout != null) {
                    throw new IllegalStateException("sessionTimeout applies only with connectString(..): "
                            + "configure it on your CuratorFramework");
                }
                if (security.any()) {
                    throw new IllegalStateException("tls(..), digest(..), sasl(..) and clientConfig(..) apply only "
                            + "with connectString(..): configure them on your CuratorFramework");
                }
                if (client.getState() != CuratorFrameworkState.STARTED) {
                    throw new IllegalStateException("The CuratorFramework must be started, it is " + client.getState());
                }
                String base = client.getNamespace();
                String full = base == null || base.isEmpty() ? namespace : base + "/" + namespace;
                if (secured != null) {
                    acls = new NamespaceAcls(secured, "/" + full);
                    acls.checkInstalled(client.usingNamespace(null), full);
                }
                service = new ZkLockService(client.usingNamespace(full), null, lossPolicy, connect, defaultLeaseTime, clock);
            } else {
                if (secured != null && !security.identifies()) {
                    throw new IllegalStateException("securedNamespace(..) needs a client with an identity its ACLs "
                            + "can name: configure digest(..), sasl(..) or tls(..) with a key store");
                }
                security.check();
                Duration session = sessionTimeout != null ? sessionTimeout : Duration.ofSeconds(20);
                CuratorFrameworkFactory.Builder curator = CuratorFrameworkFactory.builder()
                        .connectString(connectString)
                        .sessionTimeoutMs((int) session.toMillis())
                        .connectionTimeoutMs((int) connect.toMillis())
                        .retryPolicy(new ExponentialBackoffRetry(100, 3))
                        // LeaderLatch keeps leadership through a suspension only with this policy
                        .connectionStateErrorPolicy(lossPolicy == LossPolicy.LOSE_AT_LOST
                                ? new SessionConnectionStateErrorPolicy() : new StandardConnectionStateErrorPolicy());
                security.applyTo(curator);
                if (secured != null) {
                    acls = new NamespaceAcls(secured, "/" + namespace);
                    curator.aclProvider(acls);
                }
                CuratorFramework owned = curator.build();
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
                    throw new LockException("Cannot reach ZooKeeper at " + connectString + " within " + connect
                            + security.unreachableHint());
                }
                try {
                    Access.firstRequest(owned.getZookeeperClient().getZooKeeper(), connectString, connect);
                } catch (AccessDeniedException refused) {
                    owned.close();
                    throw refused;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt(); // the service's first call meets a refusal instead
                } catch (Exception e) {
                    // no handle: the service's first call meets what went wrong
                }
                service = new ZkLockService(owned.usingNamespace(namespace), owned, lossPolicy, connect, defaultLeaseTime, clock);
            }
            built = true;
            if (service.client.getZookeeperClient().isConnected()) {
                try {
                    service.checkServer(service.client.getZookeeperClient().getZooKeeper());
                } catch (LockException refused) {
                    service.close();
                    throw refused;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt(); // checked at the first request instead
                } catch (Exception e) {
                    // no handle: checked at the first request instead
                }
            }
            if (acls != null) {
                service.idleKeys.keepRoot();
                try {
                    acls.prepare(service.engine.root());
                } catch (RuntimeException e) {
                    service.close();
                    throw e;
                } catch (Exception e) {
                    service.close();
                    throw new LockException("Could not prepare the secured namespace " + namespace + ": " + e, e);
                }
            }
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
