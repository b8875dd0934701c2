package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.internal.Granule;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.CreateOptions;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.proto.CreateRequest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The ZooKeeper calls of one service, as futures: enqueue and marker ops with the client's ACLs,
 * parents as CONTAINER nodes, listings, stats, data, writes, deletes, the lookup of a request by
 * its id, and the ensemble's clock ({@link #now}). It decides nothing; where nodes live is
 * {@link Layout}'s, what they mean {@link Grants}'.
 *
 * <p>Calls go to the raw {@link ZooKeeper} handle Curator holds, not through Curator's retrying
 * wrappers: a retried {@code multi} after a connection loss could create a request's nodes twice,
 * and a call on an expired handle must fail rather than move to the next session (that is how a
 * grant is never decided on an earlier session's nodes). Thread-safe.
 */
final class Store {
    private static final byte[] NO_DATA = new byte[0];

    private final CuratorFramework client;
    private final String namespace;
    private final int prefixLength;
    /** Request ids: a counter XOR a random 64-bit mask, unique within the service, random across services. */
    private final long idMask = new java.security.SecureRandom().nextLong();
    private final AtomicLong ids = new AtomicLong();
    /**
     * The same client without a namespace, to ask the ACL provider with full paths, as Curator's
     * creates do, and for calls made on ZooKeeper's event thread: the namespaced client makes
     * sure its namespace node exists before its first call, synchronously, waiting for a
     * connection that only the event thread itself could report.
     */
    private final CuratorFramework root;

    private final Zxids zxids;

    Store(CuratorFramework namespaced, Sending sending) {
        this.sending = sending;
        this.client = namespaced;
        this.root = namespaced.usingNamespace(null);
        this.namespace = namespaced.getNamespace();
        this.prefixLength = full(Layout.LOCKS).length() - Layout.LOCKS.length();
        this.zxids = new Zxids(full(clockNode));
    }

    /** How enqueues learn their transaction's zxid on this ensemble's server version. */
    Zxids zxids() {
        return zxids;
    }

    /** The client without a namespace: paths are {@link #full} paths. */
    CuratorFramework root() {
        return root;
    }

    /** {@code full} without the namespace in front, as Curator's namespaced client takes it. */
    String relative(String full) {
        return full.substring(prefixLength);
    }

    /** {@code relative} with the namespace in front, as the raw handle needs it. */
    String full(String relative) {
        return ZKPaths.fixForNamespace(namespace, relative);
    }

    /** A fresh request id: 16 hex digits, unique within this service, random across services. */
    String newRequestId() {
        return String.format("%016x", ids.incrementAndGet() ^ idMask);
    }

    // ---------------------------------------------------------------------------------- calls

    /**
     * The {@code multi} that enqueues a request: for each level, coarse first, a node in its
     * {@code _q}, and for strong granules a second one in its {@code _s}, with the client's ACL
     * provider's ACLs. Each op creates with a stat result, whose czxid is the request's zxid.
     */
    List<Op> enqueueOps(Map<LockKey, Granule> plan, String requestId, java.util.Set<LockKey> asked, byte[] record) {
        List<Op> ops = new ArrayList<>(plan.size() + 1);
        for (Map.Entry<LockKey, Granule> level : plan.entrySet()) {
            String name = "/" + level.getValue() + "-" + requestId + "-";
            // the holder record goes on the queue nodes of the keys asked for; an intention node
            // names a key asked for under it, where a coarse waiter finds the holder's record
            ops.add(create(Layout.queuePath(level.getKey()) + name, asked.contains(level.getKey()) ? record
                    : Layout.pointer(level.getKey(), level.getValue(), plan)));
            if (level.getValue().isStrong()) {
                ops.add(create(Layout.strongPath(level.getKey()) + name, NO_DATA));
            }
        }
        return ops;
    }

    private Op create(String relative, byte[] data) {
        String path = full(relative);
        return Op.create(path, data,
                CreateOptions.newBuilder(aclFor(path, CreateMode.EPHEMERAL_SEQUENTIAL), CreateMode.EPHEMERAL_SEQUENTIAL).build());
    }

    /**
     * The ACL the client's ACL provider gives a node, asked through Curator's public API with
     * the full path, as Curator's own creates ask it (the provider sees the namespace).
     */
    private List<ACL> aclFor(String fullPath, CreateMode mode) {
        try {
            Op op = root.transactionOp().create().withMode(mode).forPath(fullPath).get();
            return ((CreateRequest) op.toRequestRecord()).getAcl();
        } catch (Exception e) {
            throw new IllegalStateException("Cannot compute the ACL of " + fullPath, e);
        }
    }

    /**
     * Creates, as CONTAINER nodes, the parents the request's nodes need, coarse first, all sent
     * at once: the server applies one session's requests in order, so each parent exists before
     * its child is created, and the chain costs one round trip. The answers are not awaited: the
     * multi sent right after tells whether a parent is still missing.
     *
     * <p>{@code failed} is the path of the op that made the last multi fail with NONODE. The ops
     * before it succeeded, so the levels before its level had their parents: only its level and
     * the finer ones are created (a fresh key under a used prefix costs its own three creates,
     * not failed creates of every existing ancestor, each a logged transaction). A path of no
     * level (the namespace was missing, or unknown) creates the whole chain: namespace, locks
     * root, every level's key node and reserved children. The clock node is made when it was
     * the one missing, or with the whole chain while enqueues rewrite it.
     *
     * @return completes once every create is answered (the server answers in order, so before
     *     the multi sent after them): with a create refused for this client's identity
     *     ({@link Access}) of a parent not shown to exist by a child created or found under it,
     *     or with null
     */
    CompletableFuture<KeeperException> createParents(ZooKeeper zk, Map<LockKey, Granule> plan, String failed) {
        List<String> paths = new ArrayList<>();
        String clock = full(clockNode);
        boolean clockOnly = clock.equals(failed);
        int from = clockOnly ? plan.size() : firstLevelUnder(plan, failed);
        if (from == 0) {
            String ns = full(Layout.LOCKS).substring(0, prefixLength); // "/baton", "/app/baton", or "" without one
            for (int i = ns.indexOf('/', 1); i > 0; i = ns.indexOf('/', i + 1)) {
                paths.add(ns.substring(0, i));
            }
            if (!ns.isEmpty()) {
                paths.add(ns);
            }
            paths.add(full(Layout.LOCKS));
        }
        int i = 0;
        for (Map.Entry<LockKey, Granule> level : plan.entrySet()) { // every ancestor, coarse first
            if (i++ < from) {
                continue;
            }
            paths.add(full(Layout.keyPath(level.getKey())));
            paths.add(full(Layout.queuePath(level.getKey())));
            if (level.getValue().isStrong()) {
                paths.add(full(Layout.strongPath(level.getKey())));
            }
        }
        boolean withClock = clockOnly || (from == 0 && zxids.viaClock());
        if (withClock) {
            paths.add(full(Layout.CLOCKS));
        }
        CompletableFuture<KeeperException> refused = new CompletableFuture<>();
        Map<String, KeeperException.Code> answers = new ConcurrentHashMap<>();
        for (String path : paths) {
            zk.create(path, NO_DATA, aclFor(path, CreateMode.CONTAINER), CreateMode.CONTAINER, (rc, p, ctx, name) -> {
                answers.put(p, KeeperException.Code.get(rc));
                if (answers.size() == paths.size()) {
                    refused.complete(refusedParent(paths, answers));
                }
            }, null);
        }
        if (withClock) { // the enqueue rewrites it; ephemeral, so gone with an earlier session
            zk.create(clock, NO_DATA, aclFor(clock, CreateMode.EPHEMERAL), CreateMode.EPHEMERAL,
                    (rc, p, ctx, name) -> { }, null);
        }
        return refused;
    }

    /**
     * A create refused for the client's identity whose node no answer shows to exist: a create
     * under it succeeded or found its node. (A refused create of an existing node is harmless:
     * ZooKeeper checks the parent's ACL before it looks for the node.)
     */
    private static KeeperException refusedParent(List<String> paths, Map<String, KeeperException.Code> answers) {
        for (String path : paths) {
            KeeperException.Code code = answers.get(path);
            if (code == null || !Access.refused(code)) {
                continue;
            }
            boolean exists = false;
            for (Map.Entry<String, KeeperException.Code> other : answers.entrySet()) {
                exists |= other.getKey().startsWith(path + "/") && (other.getValue() == KeeperException.Code.OK
                        || other.getValue() == KeeperException.Code.NODEEXISTS);
            }
            if (!exists) {
                return KeeperException.create(code, path);
            }
        }
        return null;
    }

    /**
     * The index, in {@code plan}'s order, of the level whose queue or strong index holds
     * {@code fullPath}; 0 if none does.
     */
    private int firstLevelUnder(Map<LockKey, Granule> plan, String fullPath) {
        if (fullPath == null) {
            return 0;
        }
        int i = 0;
        for (LockKey level : plan.keySet()) {
            if (fullPath.startsWith(full(Layout.queuePath(level)) + "/") || fullPath.startsWith(full(Layout.strongPath(level)) + "/")) {
                return i;
            }
            i++;
        }
        return 0;
    }

    /**
     * Looks for a request's nodes by its id: a {@code sync} first (so the server answering is as
     * recent as the leader, and a multi applied before a connection broke shows), then the
     * listing of every parent, sent at once.
     *
     * @return the nodes found, as full paths, in {@code parents}' order; fails with the
     *     KeeperException of the first call that failed
     */
    CompletableFuture<List<String>> findRequest(ZooKeeper zk, List<String> parents, String requestId) {
        CompletableFuture<Void> synced = new CompletableFuture<>();
        zk.sync(full(Layout.LOCKS), (rc, path, ctx) -> {
            if (rc == KeeperException.Code.OK.intValue()) {
                synced.complete(null);
            } else {
                synced.completeExceptionally(KeeperException.create(KeeperException.Code.get(rc), path));
            }
        }, null);
        return synced.thenCompose(ignored -> {
            List<CompletableFuture<List<String>>> listings = new ArrayList<>(parents.size());
            for (String parent : parents) {
                listings.add(children(zk, full(parent)));
            }
            return CompletableFuture.allOf(listings.toArray(new CompletableFuture<?>[0])).thenApply(done -> {
                List<String> found = new ArrayList<>();
                for (int i = 0; i < parents.size(); i++) {
                    for (String name : listings.get(i).join()) {
                        if (NodeNames.ofRequest(name, requestId)) {
                            found.add(full(parents.get(i) + "/" + name));
                        }
                    }
                }
                return found;
            });
        });
    }

    /**
     * How this store sends a {@code multi}: {@code ZooKeeper::multi}, or in tests one that loses
     * answers (a package-private seam; production code never changes it).
     */
    interface Sending {
        void multi(ZooKeeper zk, List<Op> ops, AsyncCallback.MultiCallback callback);

        /** Sends the listing of a level behind an enqueue's multi. */
        default void listing(ZooKeeper zk, String fullPath, AsyncCallback.ChildrenCallback callback) {
            zk.getChildren(fullPath, false, callback, null);
        }

        /** Sends it as it is. */
        Sending DIRECT = (zk, ops, callback) -> zk.multi(ops, callback, null);
    }

    private final Sending sending;

    /** Sends a {@code multi}; the future completes with its results or fails with its KeeperException. */
    CompletableFuture<List<OpResult>> multi(ZooKeeper zk, List<Op> ops) {
        CompletableFuture<List<OpResult>> f = new CompletableFuture<>();
        sending.multi(zk, ops, (rc, path, ctx, results) -> {
            if (rc == KeeperException.Code.OK.intValue()) {
                f.complete(results);
            } else {
                f.completeExceptionally(failed(rc, ops, results));
            }
        });
        return f;
    }

    /** The exception of a failed multi, carrying the path of the op that failed. */
    private static KeeperException failed(int rc, List<Op> ops, List<OpResult> results) {
        if (results != null) {
            for (int i = 0; i < results.size() && i < ops.size(); i++) {
                OpResult r = results.get(i);
                if (r instanceof OpResult.ErrorResult) {
                    int err = ((OpResult.ErrorResult) r).getErr();
                    if (err != KeeperException.Code.OK.intValue()
                            && err != KeeperException.Code.RUNTIMEINCONSISTENCY.intValue()) {
                        return KeeperException.create(KeeperException.Code.get(err), ops.get(i).getPath());
                    }
                }
            }
        }
        return KeeperException.create(KeeperException.Code.get(rc));
    }

    /** Lists a znode's children; a missing znode lists as empty. */
    static CompletableFuture<List<String>> children(ZooKeeper zk, String fullPath) {
        CompletableFuture<List<String>> f = new CompletableFuture<>();
        zk.getChildren(fullPath, false, childrenInto(f), null);
        return f;
    }

    /** {@link #children}, sent as the listing of a level behind an enqueue's multi (through {@link Sending}). */
    CompletableFuture<List<String>> listing(ZooKeeper zk, String fullPath) {
        CompletableFuture<List<String>> f = new CompletableFuture<>();
        sending.listing(zk, fullPath, childrenInto(f));
        return f;
    }

    /** Completes {@code f} with a listing's answer: the children, empty for a missing znode, or the KeeperException. */
    private static AsyncCallback.ChildrenCallback childrenInto(CompletableFuture<List<String>> f) {
        return (rc, path, ctx, kids) -> {
            if (rc == KeeperException.Code.OK.intValue()) {
                f.complete(kids);
            } else if (rc == KeeperException.Code.NONODE.intValue()) {
                f.complete(List.of());
            } else {
                f.completeExceptionally(KeeperException.create(KeeperException.Code.get(rc), path));
            }
        };
    }

    /** A znode's stat, or null if it does not exist; no watch. */
    static CompletableFuture<Stat> stat(ZooKeeper zk, String fullPath) {
        CompletableFuture<Stat> f = new CompletableFuture<>();
        zk.exists(fullPath, false, (rc, path, ctx, stat) -> {
            if (rc == KeeperException.Code.OK.intValue()) {
                f.complete(stat);
            } else if (rc == KeeperException.Code.NONODE.intValue()) {
                f.complete(null);
            } else {
                f.completeExceptionally(KeeperException.create(KeeperException.Code.get(rc), path));
            }
        }, null);
        return f;
    }

    /** A znode's data and stat. */
    record Data(byte[] bytes, Stat stat) { }

    /** A znode's data and stat, or null if it does not exist; no watch. */
    static CompletableFuture<Data> data(ZooKeeper zk, String fullPath) {
        CompletableFuture<Data> f = new CompletableFuture<>();
        zk.getData(fullPath, false, (rc, path, ctx, bytes, stat) -> {
            if (rc == KeeperException.Code.OK.intValue()) {
                f.complete(new Data(bytes == null ? NO_DATA : bytes, stat));
            } else if (rc == KeeperException.Code.NONODE.intValue()) {
                f.complete(null);
            } else {
                f.completeExceptionally(KeeperException.create(KeeperException.Code.get(rc), path));
            }
        }, null);
        return f;
    }

    /** Writes a znode's data; the future completes with its new stat or fails with the KeeperException. */
    static CompletableFuture<Stat> setData(ZooKeeper zk, String fullPath, byte[] data, int version) {
        CompletableFuture<Stat> f = new CompletableFuture<>();
        zk.setData(fullPath, data, version, (rc, path, ctx, stat) -> {
            if (rc == KeeperException.Code.OK.intValue()) {
                f.complete(stat);
            } else {
                f.completeExceptionally(KeeperException.create(KeeperException.Code.get(rc), path));
            }
        }, null);
        return f;
    }

    /**
     * A time the ensemble stamped on a write: its leader's wall clock in epoch milliseconds, and
     * the write's zxid. Two such times are comparable only within one epoch (one leader's
     * term): {@link #sameLeader}.
     */
    record Stamp(long millis, long zxid) {
        long epoch() {
            return zxid >>> 32;
        }

        /** Whether {@code zxid} was stamped by the same leader (same epoch) as this. */
        boolean sameLeader(long otherZxid) {
            return (otherZxid >>> 32) == epoch();
        }
    }

    private final String clockNode = Layout.CLOCKS + "/" + String.format("%016x", new java.security.SecureRandom().nextLong());

    /**
     * The ensemble's time now: the mtime and zxid of a fresh {@code setData} on this service's
     * own clock node (an ephemeral node under {@link Layout#CLOCKS}, made on first use in each
     * session). ZooKeeper stamps a write with its leader's wall clock, so a stamp is compared
     * only with stamps of the same leader ({@link Stamp#sameLeader}), never with a local clock.
     */
    Stamp now(ZooKeeper zk) throws KeeperException, InterruptedException {
        for (int attempt = 1; ; attempt++) {
            try {
                return tick(zk);
            } catch (KeeperException.NoNodeException missing) {
                if (attempt == 3) {
                    throw missing; // its parents keep vanishing: an empty container, removed as it is made
                }
            }
            try {
                client.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(clockNode);
            } catch (KeeperException.NodeExistsException raced) {
                // made by another thread meanwhile
            } catch (KeeperException.NoNodeException removed) {
                // a parent container was removed between its creation and the clock node's: again
            } catch (KeeperException | InterruptedException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException("Cannot create " + clockNode, e);
            }
        }
    }

    private Stamp tick(ZooKeeper zk) throws KeeperException, InterruptedException {
        Stat stat = zk.setData(full(clockNode), NO_DATA, -1);
        return new Stamp(stat.getMtime(), stat.getMzxid());
    }

    /** Ops creating a request's lock-delay markers: persistent, data = the delay in milliseconds. */
    List<Op> markerOps(Map<LockKey, Granule> plan, String requestId, java.time.Duration lockDelay) {
        byte[] data = HolderRecord.millis(lockDelay).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        List<Op> ops = new ArrayList<>();
        for (String relative : Layout.markerPaths(plan, requestId)) {
            String path = full(relative);
            ops.add(Op.create(path, data,
                    CreateOptions.newBuilder(aclFor(path, CreateMode.PERSISTENT), CreateMode.PERSISTENT).build()));
        }
        return ops;
    }

    /**
     * Sends one {@code multi} deleting every node in {@code fullPaths}; the future completes with
     * the result code (OK, or the first failure).
     */
    static CompletableFuture<Integer> deleteAll(ZooKeeper zk, List<String> fullPaths) {
        List<Op> ops = new ArrayList<>(fullPaths.size());
        for (String p : fullPaths) {
            ops.add(Op.delete(p, -1));
        }
        CompletableFuture<Integer> f = new CompletableFuture<>();
        zk.multi(ops, (rc, path, ctx, results) -> f.complete(rc), null);
        return f;
    }
}
