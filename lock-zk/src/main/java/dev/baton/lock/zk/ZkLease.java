package dev.baton.lock.zk;

import dev.baton.lock.FencingToken;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.internal.AbstractLease;
import org.apache.zookeeper.Watcher;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A lease granted on ZooKeeper: the nodes its request created (on the session that owns them),
 * its lock-delay markers, and the upkeep state {@link Leases} keeps for it. Loss, release and
 * the lease-time timer are {@link AbstractLease}'s.
 */
final class ZkLease extends AbstractLease {
    private final Leases upkeep;
    /** Relative paths of every node of the request. */
    private final List<String> nodes;
    /** Its lock-delay markers (persistent): deleted by a release, left behind by a loss. */
    private final List<String> markers;
    /** The queue nodes of the keys asked for, which carry the record. */
    final List<String> recordNodes;
    /** The strong-index nodes of the keys asked for: watched for breaking and release requests. */
    final List<String> strongNodes;
    final long sessionId;
    final HolderRecord record;
    /** When it was granted, on the service's ticker. */
    final long grantedAt;
    /** One watcher object for all its nodes, so ZooKeeper keeps it once per node. */
    final Watcher watcher;
    /** Orders the rewrites of its records (grant stamp, extend). */
    final Object recordLock = new Object();

    /** The lease time last recorded (rewritten by extend). */
    volatile Duration leaseTime;
    /** Whether a grant stamp is due and not yet known to have landed: sent again on reconnection. */
    volatile boolean stampPending;
    /** Whether it was settled: its watches are then armed again after a reconnection. */
    volatile boolean settled;
    /** The last data version of each strong node whose release request was delivered; made on first use. */
    private Map<String, Integer> requestsSeen;

    ZkLease(Leases upkeep, Request.Attempt a, long grantedAt) {
        super(a.request.keys(), FencingToken.of(a.created.zxid()));
        Map<LockKey, LockMode> keys = a.request.keys();
        this.upkeep = upkeep;
        this.grantedAt = grantedAt;
        this.leaseTime = a.request.leaseTime();
        this.stampPending = a.waited || keys.size() > 1;
        this.nodes = a.created.nodes();
        this.markers = a.markers();
        this.sessionId = a.created.sessionId();
        this.record = a.request.holder();
        this.recordNodes = Layout.nodesIn(nodes, keys.keySet(), Layout::queuePath);
        this.strongNodes = Layout.nodesIn(nodes, keys.keySet(), Layout::strongPath);
        this.watcher = event -> Callbacks.deliver(() -> upkeep.ownNodeChanged(this, event));
    }

    /** Relative paths of every node of its request. */
    List<String> nodes() {
        return nodes;
    }

    /** Its lock-delay markers, relative paths. */
    List<String> markers() {
        return markers;
    }

    /** Its nodes and its markers. */
    List<String> allNodes() {
        if (markers.isEmpty()) {
            return nodes;
        }
        List<String> all = new ArrayList<>(nodes);
        all.addAll(markers);
        return all;
    }

    /** Whether version {@code version} of {@code node} is a release request not delivered yet. */
    synchronized boolean newRequest(String node, int version) {
        if (requestsSeen == null) {
            requestsSeen = new HashMap<>(2);
        }
        Integer seen = requestsSeen.put(node, version);
        return seen == null || seen < version;
    }

    @Override
    protected void release() {
        upkeep.release(this);
    }

    @Override
    protected void extended(Duration leaseTime) {
        upkeep.extended(this, leaseTime);
    }
}
