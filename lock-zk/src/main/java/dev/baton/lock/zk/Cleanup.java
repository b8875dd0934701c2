package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.internal.Granule;
import dev.baton.lock.internal.Ticker;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Everything that removes a service's nodes: releases, the nodes of lost leases, abandoned
 * requests (found by id when their multi went unanswered), containers an abandoned acquire made
 * and never used, and idle keys ({@link IdleKeys}). Deletes are sent at once and retried with
 * Curator's guaranteed delete until they land or the node is gone; what cannot be looked at now
 * is looked at again after every reconnection. Background work runs on the sweeper thread.
 * Thread-safe.
 */
final class Cleanup implements Session.Subscriber {
    private static final Logger LOG = LoggerFactory.getLogger(Cleanup.class);

    /** How often idle keys are looked for. */
    static final long SWEEP_MS = 250;

    private final Store store;
    private final CuratorFramework client;
    private final Session session;
    private final LockDelay lockDelay;
    private final IdleKeys idleKeys;
    private final ScheduledExecutorService sweeper;
    private final Duration patience;
    private final Ticker ticker;

    /** Nodes of lost leases whose deletion has not been confirmed; retried on reconnection. */
    private final Set<String> orphans = ConcurrentHashMap.newKeySet();

    /**
     * Requests whose multi went unanswered and that gave up before learning whether it applied,
     * by request id, with the parents their nodes would be in. Each is looked for until a look
     * gets a definite answer: now, after every reconnection, and when the service closes over a
     * caller's client (whose session outlives the service). A session's end clears them: its
     * nodes are gone.
     */
    private final Map<String, List<String>> pendingPurges = new ConcurrentHashMap<>();

    Cleanup(Store store, CuratorFramework client, Session session, LockDelay lockDelay, IdleKeys idleKeys,
            ScheduledExecutorService sweeper, Duration patience, Ticker ticker) {
        this.store = store;
        this.client = client;
        this.session = session;
        this.lockDelay = lockDelay;
        this.idleKeys = idleKeys;
        this.sweeper = sweeper;
        this.patience = patience;
        this.ticker = ticker;
    }

    /** Starts the idle sweep. */
    void start() {
        sweeper.scheduleWithFixedDelay(this::sweepIdleKeys, SWEEP_MS, SWEEP_MS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void ended() {
        pendingPurges.clear(); // the session's nodes are gone with it
    }

    @Override
    public void reconnected(long sessionId) {
        if (!orphans.isEmpty()) {
            deleteNodes(new ArrayList<>(orphans));
        }
        runPurges();
    }

    // ------------------------------------------------------------------- releases and losses

    /**
     * Deletes a released lease's nodes without waiting for ZooKeeper's answer, with its lock-delay
     * markers in the same multi. If that fails, a node was gone (broken meanwhile) or the
     * connection broke: the nodes then go one by one and the markers are left to run their delay
     * out (a release that was not one must not end a delay).
     */
    void release(ZkLease lease) {
        if (lease.markers().isEmpty()) {
            deleteNodes(lease.nodes());
            return;
        }
        List<String> full = new ArrayList<>();
        for (String node : lease.allNodes()) {
            full.add(store.full(node));
        }
        try {
            Store.deleteAll(client.getZookeeperClient().getZooKeeper(), full).whenComplete((rc, e) -> {
                if (rc == null || rc != KeeperException.Code.OK.intValue()) {
                    orphans.addAll(lease.nodes());
                    lease.nodes().forEach(this::deleteGuaranteed);
                    lockDelay.retire(lease.markers());
                }
            });
        } catch (Exception e) {
            lease.nodes().forEach(this::deleteGuaranteed);
            lockDelay.retire(lease.markers());
        }
    }

    /** A lease was lost: its nodes go (retried until confirmed), its lock delay runs. */
    void lost(ZkLease lease) {
        orphans.addAll(lease.nodes());
        deleteNodes(lease.nodes());
        if (!lease.markers().isEmpty()) {
            lockDelay.retire(lease.markers());
        }
    }

    /**
     * Deletes nodes (relative paths) in the background, in one multi on the current session, sent
     * before this returns: the session's later requests are ordered after it. If that fails
     * (connection trouble, or a node already gone), each node is deleted on its own with
     * Curator's guaranteed delete. The future completes when the first attempt has been answered.
     */
    CompletableFuture<Void> deleteNodes(List<String> nodes) {
        CompletableFuture<Void> answered = new CompletableFuture<>();
        List<String> full = new ArrayList<>(nodes.size());
        for (String node : nodes) {
            full.add(store.full(node));
        }
        try {
            Store.deleteAll(client.getZookeeperClient().getZooKeeper(), full).whenComplete((rc, e) -> {
                if (rc != null && rc == KeeperException.Code.OK.intValue()) {
                    orphans.removeAll(nodes);
                } else {
                    nodes.forEach(this::deleteGuaranteed);
                }
                answered.complete(null);
            });
        } catch (Exception e) {
            nodes.forEach(this::deleteGuaranteed);
            answered.complete(null);
        }
        return answered;
    }

    /**
     * Curator's guaranteed delete of {@code node}, in the background, through the client without a
     * namespace: this runs on ZooKeeper's event thread (from the answer to a failed multi), where
     * the namespaced client would first check its namespace node synchronously and, while
     * disconnected, block the very thread that must report the reconnection.
     */
    private void deleteGuaranteed(String node) {
        try {
            store.root().delete().quietly().guaranteed().inBackground((c, event) -> {
                int rc = event.getResultCode();
                if (rc == KeeperException.Code.OK.intValue() || rc == KeeperException.Code.NONODE.intValue()) {
                    orphans.remove(node);
                }
            }).forPath(store.full(node));
        } catch (Exception e) {
            // only when the client is closed, which also ends the session and its nodes
            LOG.debug("Could not send delete of {}", node, e);
        }
    }

    // -------------------------------------------------------------------- abandoned requests

    /**
     * Cleans up after an attempt that will not be granted: deletes its nodes in the background
     * once their fate is known (now, when the multi returns, or, after an unanswered multi, by
     * looking them up by request id), and sweeps containers made for it that were never used.
     */
    CompletableFuture<?> abandon(Request.Attempt a) {
        if (a.created != null) {
            List<String> all = new ArrayList<>(a.created.nodes());
            all.addAll(a.markers());
            return deleteNodes(all); // the multi succeeded, so any container made has had a child
        }
        if (a.multi == null) {
            return CompletableFuture.completedFuture(null);
        }
        // unanswered when the thread stopped waiting, failed, or answered before it was recorded
        String id = a.id;
        boolean madeContainers = a.madeContainers;
        Map<LockKey, Granule> plan = a.request.plan();
        return a.multi.handle((results, e) -> {
            if (results != null) {
                List<String> nodes = new ArrayList<>(results.size());
                for (String path : Zxids.created(results)) {
                    nodes.add(store.relative(path));
                }
                return deleteNodes(nodes);
            }
            if (e instanceof KeeperException ke && SessionGone.inDoubt(ke.code())) {
                purgeLater(plan, id);
            }
            if (madeContainers) {
                sweepNeverUsed(plan.keySet());
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
    boolean awaitCleanup(CompletableFuture<?> cleanup) {
        if (!session.isConnected()) {
            return false;
        }
        boolean interrupted = Thread.interrupted();
        long until = ticker.nanos() + patience.toNanos();
        while (true) {
            try {
                cleanup.get(Math.max(0, until - ticker.nanos()), TimeUnit.NANOSECONDS);
                return interrupted;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (ExecutionException | TimeoutException e) {
                return interrupted;
            }
        }
    }

    /** Looks for, and deletes, the nodes of a request whose multi went unanswered. */
    void purgeLater(Map<LockKey, Granule> plan, String id) {
        pendingPurges.put(id, Layout.parentsOf(plan));
        runPurges();
    }

    /** Runs the pending purges on the sweeper, if any. */
    void runPurges() {
        if (pendingPurges.isEmpty()) {
            return;
        }
        try {
            sweeper.execute(this::purgeNow);
        } catch (RejectedExecutionException closing) {
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
                List<String> found = store.findRequest(zk, e.getValue(), id)
                        .get(patience.toMillis(), TimeUnit.MILLISECONDS);
                if (!found.isEmpty()) {
                    LOG.debug("Deleting {} node(s) of abandoned request {}", found.size(), id);
                    List<String> relative = new ArrayList<>(found.size());
                    found.forEach(path -> relative.add(store.relative(path)));
                    deleteNodes(relative);
                }
                for (String parent : e.getValue()) { // lock-delay markers, if it asked for a delay
                    for (String name : SessionGone.await(Store.children(zk, store.full(parent)))) {
                        if (id.equals(NodeNames.markerRequest(name))) {
                            zk.delete(store.full(parent + "/" + name), -1, (rc, p, ctx) -> { }, null);
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

    // -------------------------------------------------------------------------- containers

    /**
     * Deletes the containers an abandoned acquire may have left empty and never used: parents are
     * created one level at a time, and an acquire interrupted between two of those creates, or
     * whose multi failed after them, can leave one without ever a child, which the server's
     * cleanup never removes (unless {@code znode.container.maxNeverUsedIntervalMs} is set). For
     * each level the reserved children, then the deepest existing key node, are checked: deleting
     * a never-used node is enough, since its parent has then had a child and is empty, so the
     * server's cleanup takes it and everything above. A client that has just created a container
     * for itself sees NoNode, which the acquire loop answers by creating it again.
     */
    private void sweepNeverUsed(Collection<LockKey> levels) {
        List<LockKey> deepestFirst = new ArrayList<>(levels);
        deepestFirst.sort(Granule.ORDER.reversed());
        try {
            sweeper.execute(() -> {
                for (LockKey key : deepestFirst) {
                    try {
                        deleteIfNeverUsed(Layout.queuePath(key));
                        deleteIfNeverUsed(Layout.strongPath(key));
                        for (LockKey k = key; k != null; k = k.parent().orElse(null)) {
                            Stat stat = client.checkExists().forPath(Layout.keyPath(k));
                            if (stat != null) {
                                deleteIfNeverUsed(Layout.keyPath(k));
                                break; // the deepest existing node decides
                            }
                        }
                    } catch (Exception e) {
                        LOG.debug("Could not sweep containers of {}", key, e);
                    }
                }
            });
        } catch (RejectedExecutionException closing) {
            // the service is closing; nothing is lost but a container
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

    /** Deletes the znodes of keys idle for a while ({@link IdleKeys}); on the sweeper thread. */
    private void sweepIdleKeys() {
        if (!session.isConnected()) {
            return;
        }
        try {
            idleKeys.sweep(client.getZookeeperClient().getZooKeeper(), store, patience);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the service is closing
        } catch (Exception e) {
            LOG.debug("Could not sweep idle keys", e);
        }
    }
}
