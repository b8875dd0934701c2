package dev.baton.lock.zk;

import dev.baton.lock.LockException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.Ticker;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The leases a service holds, and their upkeep from grant to release: registration against the
 * session's epoch, loss when the session says so, settling (after {@link #SETTLE_MS} a holder
 * watches its own strong nodes, whose deletion by anyone else is a break and whose data is a
 * release request, and stamps its grant in its records if it waited or names several keys),
 * extend, and release. No thread or timer task per held lock: settling runs from one queue.
 * Thread-safe.
 */
final class Leases implements Session.Subscriber {
    private static final Logger LOG = LoggerFactory.getLogger(Leases.class);

    /**
     * How long a grant is held before its holder watches its own nodes and stamps its grant: a
     * short hold (most holds) costs no request beyond its acquire and release; a hold broken or
     * asked to let go within this time hears of it this much later at most.
     */
    static final long SETTLE_MS = 500;

    private final Store store;
    private final CuratorFramework client;
    private final Session session;
    private final Cleanup cleanup;
    private final IdleKeys idleKeys;
    private final ScheduledExecutorService timer;
    private final Duration patience;
    private final Ticker ticker;
    /** The host's wall clock, for the informational {@code hostTime} of records only. */
    private final Clock clock;

    // guarded by this
    private final Set<ZkLease> held = new HashSet<>();
    private boolean closed;

    /** Grants not settled yet, in grant order. */
    private final ConcurrentLinkedQueue<ZkLease> unsettled = new ConcurrentLinkedQueue<>();

    Leases(Store store, CuratorFramework client, Session session, Cleanup cleanup, IdleKeys idleKeys,
           ScheduledExecutorService timer, Duration patience, Ticker ticker, Clock clock) {
        this.store = store;
        this.client = client;
        this.session = session;
        this.cleanup = cleanup;
        this.idleKeys = idleKeys;
        this.timer = timer;
        this.patience = patience;
        this.ticker = ticker;
        this.clock = clock;
    }

    /** Starts settling on {@code settler}, every {@link #SETTLE_MS}/4. */
    void start(ScheduledExecutorService settler) {
        settler.scheduleWithFixedDelay(this::settleDue, SETTLE_MS / 4, SETTLE_MS / 4, TimeUnit.MILLISECONDS);
    }

    // ---------------------------------------------------------------------------- registry

    /**
     * Adds a checked grant, unless something happened since {@code epoch} that would have lost it
     * had it been registered already, or the service closed; then starts its upkeep.
     *
     * @return null if registered, otherwise the reason it was refused
     */
    LossReason grant(ZkLease lease, long[] epoch, ZooKeeper zk) {
        synchronized (this) {
            if (closed) {
                return LossReason.SERVICE_CLOSED;
            }
            LossReason refused = session.refusal(epoch);
            if (refused != null) {
                return refused;
            }
            held.add(lease);
        }
        if (lease.keys().size() > 1) {
            stamp(zk, lease); // until stamped, others cannot tell it holds rather than waits
        }
        unsettled.add(lease);
        try {
            lease.startLeaseTime(timer, lease.leaseTime);
        } catch (RejectedExecutionException closing) {
            // the service closed right after the grant: close() loses this lease anyway
        }
        return null;
    }

    /** Refuses later grants and hands over every lease held, for the service's close. */
    synchronized List<ZkLease> close() {
        closed = true;
        return drain();
    }

    private List<ZkLease> drain() {
        List<ZkLease> all = new ArrayList<>(held);
        held.clear();
        return all;
    }

    @Override
    public void lose(LossReason reason) {
        List<ZkLease> victims;
        synchronized (this) {
            victims = drain();
        }
        loseAll(victims, reason);
    }

    @Override
    public void reconnected(long sessionId) {
        List<ZkLease> victims = new ArrayList<>();
        synchronized (this) {
            for (Iterator<ZkLease> it = held.iterator(); it.hasNext(); ) {
                ZkLease lease = it.next();
                if (lease.sessionId != sessionId) {
                    victims.add(lease);
                    it.remove();
                }
            }
        }
        // a session id that cannot be read vouches for none
        loseAll(victims, sessionId == -1 ? LossReason.CONNECTION_SUSPENDED : LossReason.SESSION_EXPIRED);
        List<ZkLease> kept;
        synchronized (this) {
            kept = new ArrayList<>(held);
        }
        for (ZkLease lease : kept) {
            if (!lease.settled) {
                continue; // its settle is still to come
            }
            try {
                ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
                watchOwn(zk, lease);
                if (lease.stampPending) {
                    stamp(zk, lease);
                }
            } catch (Exception e) {
                LOG.debug("Cannot watch the nodes of {} again", lease.key(), e);
            }
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
                cleanup.lost(lease);
            }
        }
        LOG.info("Lost {} lease(s): {}", ended.size(), reason);
        for (ZkLease lease : ended) {
            lease.fireLost();
        }
    }

    /** Releases a lease without waiting for ZooKeeper's answer (see {@link Cleanup#release}). */
    void release(ZkLease lease) {
        synchronized (this) {
            held.remove(lease);
        }
        idleKeys.end(lease.keys().keySet());
        cleanup.release(lease);
    }

    // ---------------------------------------------------------------------------- settling

    /** Settles the grants held long enough, drops the released; every {@link #SETTLE_MS}/4. */
    private void settleDue() {
        long now = ticker.nanos();
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
     * A grant held for {@link #SETTLE_MS}: its holder watches its own strong nodes and, if it was
     * granted after waiting or names several keys, stamps its grant in its records (the hold then
     * counts from this stamp, a little after the grant: breaking errs late, never early).
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
            zk.getData(store.full(node), lease.watcher, (rc, path, ctx, data, stat) -> Callbacks.deliver(() -> {
                if (rc == KeeperException.Code.OK.intValue()) {
                    if (stat.getVersion() > 0 && data != null && data.length > 0
                            && lease.newRequest(node, stat.getVersion())) {
                        lease.releaseRequested();
                    }
                } else if (rc == KeeperException.Code.NONODE.intValue()) {
                    broken(lease);
                }
                // connection trouble: armed again on reconnection
            }), null);
        }
    }

    void ownNodeChanged(ZkLease lease, WatchedEvent event) {
        if (event.getType() == Watcher.Event.EventType.NodeDeleted) {
            broken(lease);
        } else if (event.getType() == Watcher.Event.EventType.NodeDataChanged && lease.isValid()) {
            try {
                watchOwn(client.getZookeeperClient().getZooKeeper(), lease);
            } catch (Exception e) {
                LOG.debug("Cannot watch the nodes of {} again", lease.key(), e);
            }
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
        synchronized (this) {
            if (!held.remove(lease)) {
                return; // released, lost or closed already: the deletion was ours
            }
        }
        LOG.warn("Lease on {} ({}) was broken by another client", lease.key(), lease.token());
        loseAll(List.of(lease), LossReason.BROKEN);
    }

    // ------------------------------------------------------------------- stamps and extends

    /**
     * Stamps a grant in the records of the lease's keys, in one multi not awaited: its hold
     * starts now on the ensemble's clock. Sent again after a reconnection until it lands.
     */
    private void stamp(ZooKeeper zk, ZkLease lease) {
        synchronized (lease.recordLock) { // an extend's rewrite is sent after, or instead of, this
            if (!lease.stampPending) {
                return;
            }
            long heldMs = TimeUnit.NANOSECONDS.toMillis(ticker.nanos() - lease.grantedAt);
            byte[] data = lease.record.stamped(lease.leaseTime, clock.millis(), heldMs).encode();
            store.multi(zk, rewrites(lease, data)).whenComplete((ok, e) -> {
                if (ok != null || (e instanceof KeeperException ke && !SessionGone.inDoubt(ke.code()))) {
                    lease.stampPending = false; // landed, or can never land (the node is gone)
                }
            });
        }
    }

    /** The ops rewriting a lease's records with {@code data}. */
    private List<Op> rewrites(ZkLease lease, byte[] data) {
        List<Op> ops = new ArrayList<>(lease.recordNodes.size());
        for (String node : lease.recordNodes) {
            ops.add(Op.setData(store.full(node), data, -1));
        }
        return ops;
    }

    /** Records an extend: the lease's records are rewritten in one multi, so their mtime is the hold's new start. */
    void extended(ZkLease lease, Duration leaseTime) {
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
            written = store.multi(zk, rewrites(lease, data));
        }
        boolean recorded = false;
        try {
            written.get(patience.toMillis(), TimeUnit.MILLISECONDS);
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
}
