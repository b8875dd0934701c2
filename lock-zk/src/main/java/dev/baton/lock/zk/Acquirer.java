package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.Elections;
import dev.baton.lock.internal.Granule;
import dev.baton.lock.internal.Requests;
import dev.baton.lock.internal.Ticker;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The acquire loop: enqueue a request's nodes on every level in one {@code multi} with the
 * levels' listings pipelined behind it, then ask {@link Grants} about each level, coarse first,
 * waiting on a watch (and judging holders, {@link Breaker}) until every level is granted; adopt
 * the nodes after a lost answer; start again on the next session when the session ends. A
 * watchdog on the monotonic clock ends a timed wait that ZooKeeper leaves unanswered. Whatever
 * ends an acquire without a grant, its nodes are cleaned up ({@link Cleanup#abandon}).
 * Thread-safe; each attempt is used by its one thread.
 */
final class Acquirer {
    private static final Logger LOG = LoggerFactory.getLogger(Acquirer.class);

    /** Checks the server an attempt is about to use ({@link ServerCheck}). */
    @FunctionalInterface
    interface ServerGate {
        void verify(ZooKeeper zk) throws InterruptedException;
    }

    private final Store store;
    private final CuratorFramework client;
    private final Session session;
    private final Watches watches;
    private final Leases leases;
    private final Cleanup cleanup;
    private final Breaker breaker;
    private final LockDelay lockDelay;
    private final IdleKeys idleKeys;
    private final ServerGate serverGate;
    private final ScheduledExecutorService timer;
    private final Duration connectionTimeout;
    private final Ticker ticker;
    private final Clock clock;
    /** How this service's requests name their holder: host:pid:random. */
    private final String holderId;
    private static final long PID = ProcessHandle.current().pid();
    private static final String HOST = Elections.hostName();
    private final Duration defaultLeaseTime;

    /** Why the service interrupted a waiting thread. */
    private enum Interruption { CLOSE, DEADLINE }

    /** One thread in {@code acquire}; guarded by {@code this}. */
    private static final class Waiter {
        Interruption interruption;
    }

    // guarded by this
    private final Map<Thread, Waiter> waiting = new HashMap<>();
    private boolean closed;

    Acquirer(Store store, CuratorFramework client, Session session, Watches watches, Leases leases, Cleanup cleanup,
             Breaker breaker, LockDelay lockDelay, IdleKeys idleKeys, ServerGate serverGate,
             ScheduledExecutorService timer, Duration connectionTimeout, Ticker ticker, Clock clock,
             String holderId, Duration defaultLeaseTime) {
        this.store = store;
        this.client = client;
        this.session = session;
        this.watches = watches;
        this.leases = leases;
        this.cleanup = cleanup;
        this.breaker = breaker;
        this.lockDelay = lockDelay;
        this.idleKeys = idleKeys;
        this.serverGate = serverGate;
        this.timer = timer;
        this.connectionTimeout = connectionTimeout;
        this.ticker = ticker;
        this.clock = clock;
        this.holderId = holderId;
        this.defaultLeaseTime = defaultLeaseTime;
    }

    /**
     * Acquires {@code keys} by {@code deadline} (on the ticker), retrying on each new session.
     *
     * @throws LockTimeoutException when the wait runs out, or ZooKeeper leaves it unanswered past
     *     the watchdog (one connection timeout after the deadline)
     * @throws IllegalStateException if the service is or gets closed
     */
    Lease acquire(Map<LockKey, LockMode> keys, LockKey label, LockOptions options, long deadline)
            throws InterruptedException {
        Thread me = Thread.currentThread();
        Waiter waiter = new Waiter();
        ScheduledFuture<?> watchdog = null;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("LockService is closed: cannot acquire " + label);
            }
            waiting.put(me, waiter);
            long grace = Requests.remainingNanos(deadline, ticker) + connectionTimeout.toNanos();
            if (deadline != Long.MAX_VALUE && grace > 0) {
                watchdog = timer.schedule(() -> interrupt(me, waiter, Interruption.DEADLINE), grace,
                        TimeUnit.NANOSECONDS);
            }
        }
        idleKeys.begin(keys.keySet());
        Duration leaseTime = options.leaseTime().orElse(defaultLeaseTime);
        Duration delay = options.lockDelay().orElse(null);
        boolean granted = false;
        try {
            while (true) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("Interrupted while acquiring " + label);
                }
                // each attempt writes its own record: hostTime is when it was written
                HolderRecord holder = new HolderRecord(holderId, HOST, PID, me.getName(), leaseTime, keys.size(), delay,
                        clock.millis(), false, 0);
                Request request = Request.of(keys, label, holder, leaseTime, delay, options.staleAfter().orElse(null));
                ZkLease lease = attempt(request, options, deadline);
                if (lease != null) {
                    granted = true;
                    return lease;
                }
            }
        } catch (InterruptedException e) {
            Interruption why;
            synchronized (this) {
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
            synchronized (this) {
                waiting.remove(me);
                ours = waiter.interruption != null;
                notifyAll(); // close() waits for interrupted waiters to leave
            }
            if (ours) {
                Thread.interrupted(); // the interrupt was ours, to end the wait; do not leak it
            }
        }
    }

    /** Interrupts a thread still waiting in {@code acquire}, recording why; the first reason wins. */
    private synchronized void interrupt(Thread thread, Waiter waiter, Interruption why) {
        if (waiting.get(thread) == waiter && waiter.interruption == null) {
            waiter.interruption = why;
            thread.interrupt();
        }
    }

    /** Refuses later acquires and interrupts the waiting ones; they fail with IllegalStateException. */
    synchronized void close() {
        closed = true;
        for (Map.Entry<Thread, Waiter> w : waiting.entrySet()) {
            interrupt(w.getKey(), w.getValue(), Interruption.CLOSE);
        }
    }

    /** Waits, at most {@code patience}, until every interrupted acquire has left (and queued its cleanup). */
    void awaitGone(Duration patience) {
        long until = ticker.nanos() + patience.toNanos();
        synchronized (this) {
            long left;
            while (!waiting.isEmpty() && (left = until - ticker.nanos()) > 0) {
                try {
                    TimeUnit.NANOSECONDS.timedWait(this, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    // ----------------------------------------------------------------------------- attempts

    /**
     * One attempt on one session: enqueue, then check each level, coarse first, waiting for what
     * blocks it until nothing does.
     *
     * @return the lease, or null to try again (the session ended, or the grant could not be trusted)
     */
    private ZkLease attempt(Request request, LockOptions options, long deadline) throws InterruptedException {
        ZooKeeper zk;
        try {
            zk = client.getZookeeperClient().getZooKeeper();
        } catch (Exception e) {
            throw failure(request.label(), e);
        }
        if (client.getZookeeperClient().isConnected()) { // else the attempt's own requests meet the trouble
            serverGate.verify(zk);
        }
        Request.Attempt a = new Request.Attempt(request, store.newRequestId(), watches.newWaiting());
        boolean granted = false;
        boolean leavingInterrupted = false;
        try {
            List<CompletableFuture<List<String>>> listings = enqueue(zk, a, options, deadline);
            while (true) {
                for (int i = 0; i < request.levels().size(); i++) {
                    if (!awaitLevel(zk, a, i, listings == null ? null : listings.get(i), options, deadline)) {
                        listings = null; // it looked again: so do the levels after it
                    }
                }
                ZkLease lease = new ZkLease(leases, a, ticker.nanos());
                LossReason refused = leases.grant(lease, a.epoch, zk);
                if (refused == null) {
                    granted = true;
                    return lease;
                }
                if (refused == LossReason.SERVICE_CLOSED) {
                    throw new IllegalStateException("LockService closed while acquiring " + request.label());
                }
                if (refused == LossReason.CONNECTION_SUSPENDED) {
                    // a suspension was reported while we checked: our nodes are still ours if the
                    // session is, so check again on it rather than give up our place
                    listings = null;
                    unproven(zk, a);
                    continue;
                }
                return retryOrTimeOut(request.label(), options, deadline); // the session ended meanwhile
            }
        } catch (SessionGone gone) {
            LOG.debug("Session ended while acquiring {}; trying again on the next", request.label());
            return retryOrTimeOut(request.label(), options, deadline);
        } catch (KeeperException e) {
            throw failure(request.label(), e);
        } catch (InterruptedException e) {
            leavingInterrupted = true;
            throw e;
        } finally {
            if (!granted && cleanup.awaitCleanup(cleanup.abandon(a)) && !leavingInterrupted) {
                Thread.currentThread().interrupt(); // an interrupt that came while we cleaned up
            }
        }
    }

    /**
     * Waits until level {@code i} grants the attempt: asks {@link Grants}, waits on the node it
     * names (judging its holders meanwhile) or for a lock delay, and looks again.
     *
     * @param sent the level's listing sent behind the multi, or null to list it now
     * @return whether the level was granted on {@code sent}, without looking again
     */
    private boolean awaitLevel(ZooKeeper zk, Request.Attempt a, int i, CompletableFuture<List<String>> sent,
                            LockOptions options, long deadline)
            throws InterruptedException, KeeperException, SessionGone {
        Request r = a.request;
        boolean first = sent != null;
        while (true) {
            try {
                List<String> kids;
                if (sent != null) {
                    CompletableFuture<List<String>> pending = sent;
                    sent = null; // used once: after connection trouble the level is listed again
                    kids = SessionGone.await(pending);
                } else {
                    first = false;
                    a.epoch = session.epoch();
                    a.waited = true; // decided by a later look: its grant is stamped
                    kids = SessionGone.await(Store.children(zk, store.full(r.listed(i))));
                }
                Grants.Verdict verdict = verdict(zk, a, i, kids);
                if (verdict instanceof Grants.Missing) {
                    throw new SessionGone(); // our node is gone: only the end of our session deletes it
                }
                long left;
                if (!(verdict instanceof Grants.WaitFor wait)) {
                    List<String> markers = verdict instanceof Grants.Granted g ? g.left()
                            : ((Grants.HeldBack) verdict).left();
                    long delay = markers.isEmpty() ? 0 : lockDelay.remaining(zk, a, i, markers);
                    if (delay == 0) {
                        return first;
                    }
                    a.waited = true;
                    left = remainingOrTimeOut(r.label(), options, deadline);
                    a.waiting.await(Math.min(left, delay)); // a lock delay runs: no node to watch
                    continue;
                }
                a.waited = true;
                left = remainingOrTimeOut(r.label(), options, deadline);
                if (a.blockedSince == 0) {
                    a.blockedSince = ticker.nanos();
                }
                long quiet = Breaker.PLAIN_JUDGE_AFTER_NANOS - (ticker.nanos() - a.blockedSince);
                // a waiter without staleAfter judges only holders' lease times, each at least two
                // seconds of grace away: it starts once it has waited a second
                long judged = r.staleAfter() == null && quiet > 0 ? quiet : breaker.judge(zk, a, i, kids);
                if (judged < 0) {
                    continue; // broke a stale holder: look again
                }
                String blocker = store.full(r.listed(i) + "/" + wait.name());
                Stat seen = new Stat();
                if (watches.watch(zk, blocker, a.waiting, seen)) {
                    try {
                        if (NodeNames.ephemeral(seen)) {
                            a.waiting.await(Math.min(left, judged));
                        } else {
                            Breaker.foreign(a.judging, wait.name(), blocker);
                        }
                    } finally {
                        watches.unwatch(blocker, a.waiting);
                    }
                }
            } catch (KeeperException e) {
                if (e.code() == KeeperException.Code.SESSIONEXPIRED) {
                    throw new SessionGone();
                }
                if (!SessionGone.inDoubt(e.code())) {
                    throw e;
                }
                // the handle reconnects on its own (same session) and queues our next call until
                // then; a short pause keeps a flapping connection from spinning us
                long left = remainingOrTimeOut(r.label(), options, deadline);
                a.waiting.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(20)));
                unproven(zk, a);
            }
        }
    }

    /**
     * What {@link Grants} says of level {@code i} from its listing: at a strong level from the
     * queue alone; at an intention level after reading the creation zxids of the incompatible
     * index nodes it asks for, all at once.
     */
    private Grants.Verdict verdict(ZooKeeper zk, Request.Attempt a, int i, List<String> kids)
            throws InterruptedException, KeeperException, SessionGone {
        Granule mine = a.request.granule(i);
        if (mine.isStrong()) {
            return Grants.inQueue(mine, a.created.ownName(i), kids, a.judging.foreign);
        }
        Map<String, Grants.Read> read = new HashMap<>();
        while (true) {
            Grants.Verdict v = Grants.inIndex(mine, a.created.zxid(), kids, read);
            if (!(v instanceof Grants.NeedZxids need)) {
                return v;
            }
            List<CompletableFuture<Stat>> stats = new ArrayList<>(need.names().size());
            for (String name : need.names()) {
                stats.add(Store.stat(zk, store.full(a.request.listed(i) + "/" + name)));
            }
            for (int n = 0; n < stats.size(); n++) {
                String name = need.names().get(n);
                Stat stat = SessionGone.await(stats.get(n));
                read.put(name, stat == null ? Grants.Read.GONE
                        : new Grants.Read(true, stat.getCzxid(), NodeNames.ephemeral(stat)));
                if (stat != null && !NodeNames.ephemeral(stat)) {
                    Breaker.foreign(a.judging, name, store.full(a.request.listed(i) + "/" + name));
                }
            }
        }
    }

    /**
     * Creates the attempt's nodes in one multi and sends, right behind it, the listing of every
     * level: the server answers one session's requests in order, so the listings see the new
     * nodes and an uncontended grant costs one round trip.
     *
     * @return the listings sent behind the multi, or null if the nodes were found after a
     *     connection loss (list again)
     */
    private List<CompletableFuture<List<String>>> enqueue(ZooKeeper zk, Request.Attempt a, LockOptions options,
                                                          long deadline)
            throws InterruptedException, KeeperException, SessionGone {
        Request r = a.request;
        int missingParents = 0;
        String missingUnder = null; // the op that failed for a missing parent, if one did
        CompletableFuture<KeeperException> parentsRefused = null;
        while (true) {
            a.epoch = session.epoch();
            if (missingUnder != null) {
                // the missing parents, then the multi, sent together: applied in this order, so
                // a container we make gets its first child right after, whatever happens to us
                parentsRefused = store.createParents(zk, r.plan(), missingUnder);
                a.madeContainers = true;
            }
            List<Op> ops = store.enqueueOps(r.plan(), a.id, r.asked(), r.record());
            if (r.lockDelay() != null) {
                ops.addAll(store.markerOps(r.plan(), a.id, r.lockDelay()));
            }
            Op zxidOp = store.zxids().extraOp();
            if (zxidOp != null) {
                ops.add(zxidOp);
            }
            a.multi = store.multi(zk, ops);
            List<CompletableFuture<List<String>>> listings = new ArrayList<>(r.levels().size());
            for (int i = 0; i < r.levels().size(); i++) {
                listings.add(store.listing(zk, store.full(r.listed(i))));
            }
            try {
                created(zk, a, a.multi.get(), options, deadline);
                return listings;
            } catch (ExecutionException e) {
                KeeperException ke = (KeeperException) e.getCause();
                KeeperException.Code code = ke.code();
                if (code == KeeperException.Code.NONODE) {
                    if (parentsRefused != null && parentsRefused.getNow(null) != null) {
                        throw parentsRefused.getNow(null); // a parent we may not create: no retry helps
                    }
                    missingUnder = ke.getPath();
                    // part of trying once, even with no time to wait; bounded, as the server may
                    // remove an empty container again right after we made it
                    if (++missingParents <= 2 * r.levels().size() + 8) {
                        continue;
                    }
                } else if (SessionGone.inDoubt(code)) {
                    if (findOwnNodes(zk, a, deadline)) {
                        return null;
                    }
                    // not found; if that is because time ran out, look again in the background
                    cleanup.purgeLater(r.plan(), a.id);
                    a.id = store.newRequestId();
                } else if (code == KeeperException.Code.SESSIONEXPIRED) {
                    throw new SessionGone();
                } else {
                    throw ke;
                }
            }
            remainingOrTimeOut(r.label(), options, deadline);
        }
    }

    /**
     * Records what a successful multi created, and the request's zxid: from the multi's answer,
     * or, when the server gave none ({@link Zxids}), from a read of the first node.
     */
    private void created(ZooKeeper zk, Request.Attempt a, List<OpResult> results, LockOptions options, long deadline)
            throws InterruptedException, KeeperException, SessionGone {
        List<String> nodes = relative(Zxids.created(results));
        long sessionId = zk.getSessionId();
        long zxid = store.zxids().of(results);
        while (zxid == 0) {
            try {
                Stat stat = SessionGone.await(Store.stat(zk, store.full(nodes.get(0))));
                if (stat == null || stat.getEphemeralOwner() != sessionId) {
                    throw new SessionGone(); // deleted under us: only a session's end does that
                }
                zxid = stat.getCzxid();
            } catch (KeeperException e) {
                if (!SessionGone.inDoubt(e.code())) {
                    throw e;
                }
                long left = remainingOrTimeOut(a.request.label(), options, deadline); // abandon() deletes the nodes
                a.waiting.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(20)));
            }
        }
        a.created = Request.Created.of(a.request, nodes, zxid, sessionId);
    }

    private List<String> relative(List<String> fullPaths) {
        List<String> relative = new ArrayList<>(fullPaths.size());
        for (String path : fullPaths) {
            relative.add(store.relative(path));
        }
        return relative;
    }

    /**
     * After a connection loss hid a multi's answer: did it create the nodes? A {@code sync} first
     * brings the server now answering up to date with the leader, then the levels' queues are
     * listed for nodes carrying the request id. A multi is all or nothing, so one found node means
     * all were created; they are adopted (the request keeps its place) rather than created twice.
     *
     * @return true if the nodes exist (now recorded in the attempt), false if the multi did not apply
     */
    private boolean findOwnNodes(ZooKeeper zk, Request.Attempt a, long deadline)
            throws InterruptedException, KeeperException, SessionGone {
        while (true) {
            try {
                List<String> found = SessionGone.await(store.findRequest(zk, Layout.parentsOf(a.request.plan()), a.id));
                if (found.isEmpty()) {
                    return false;
                }
                Stat stat = SessionGone.await(Store.stat(zk, found.get(0)));
                if (stat == null || stat.getEphemeralOwner() != zk.getSessionId()) {
                    throw new SessionGone(); // deleted under us: only a session's end does that
                }
                a.created = Request.Created.of(a.request, relative(found), stat.getCzxid(), zk.getSessionId());
                LOG.debug("Found request {} for {} after a connection loss", a.id, a.request.label());
                return true;
            } catch (KeeperException e) {
                if (!SessionGone.inDoubt(e.code())) {
                    throw e;
                }
                if (Requests.remainingNanos(deadline, ticker) <= 0) {
                    return false; // cannot tell: abandon() looks for the nodes in the background
                }
            }
        }
    }

    /**
     * Rewrites an attempt's records unchanged before it checks again after connection trouble: a
     * grant decided late must not look, to a waiter proving it was granted at its creation, like
     * one decided then (the proof requires records never rewritten). Not awaited.
     */
    private void unproven(ZooKeeper zk, Request.Attempt a) {
        if (a.created == null) {
            return;
        }
        for (String node : Layout.nodesIn(a.created.nodes(), a.request.asked(), Layout::queuePath)) {
            Store.setData(zk, store.full(node), a.request.record(), -1);
        }
    }

    private long remainingOrTimeOut(LockKey key, LockOptions options, long deadline) {
        long left = Requests.remainingNanos(deadline, ticker);
        if (left <= 0) {
            throw timedOut(key, options);
        }
        return left;
    }

    private ZkLease retryOrTimeOut(LockKey key, LockOptions options, long deadline) {
        remainingOrTimeOut(key, options, deadline);
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
        synchronized (this) {
            if (closed) {
                return new IllegalStateException("LockService closed while acquiring " + key, e);
            }
        }
        if (e instanceof KeeperException ke && Access.refused(ke.code())) {
            return Access.denied("acquire " + key, Access.TO_ACQUIRE, ke);
        }
        return new LockException("Could not acquire " + key + ": " + e, e);
    }
}
