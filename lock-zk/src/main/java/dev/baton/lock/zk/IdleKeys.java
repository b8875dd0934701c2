package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Removes the znodes of keys this service used once they are idle, so that a stream of fresh
 * keys (a lock per record, per account) leaves nothing for the server's container cleanup, which
 * removes at most {@code znode.container.maxPerMinute} containers a minute (10,000 by default)
 * and looks every {@code znode.container.checkIntervalMs} (60 s by default).
 *
 * <p>A key (one asked for, or an ancestor of one) becomes idle when a request of this service on
 * it ends (released, lost, given up), and stops being idle when one begins. Once it has stayed
 * idle for {@link #IDLE_NANOS}, one multi deletes its strong index (if a request asked for the
 * key itself), its queue and its key node, finer keys before coarser ones. ZooKeeper refuses to
 * delete a node with children, so where another request still holds or waits for the key (of
 * another client, or of this one, which is not counted: keeping no state per held lock), a
 * lock-delay marker is left, or finer keys live under it, the multi fails as a whole and changes
 * nothing, and the server's cleanup has the key later; a node the server removed first is left
 * out and the multi sent again. Unlike that cleanup it does not spare an empty container that
 * never had a child (no delete is conditional on that): a client between its parent creates and
 * its multi then finds a parent missing and creates it again, as after the server's cleanup,
 * which the acquire loop bounds. A key used again within the
 * idle time (a hot key, or the shared ancestor of a stream of fresh keys) is not swept, so it
 * keeps its one-round-trip acquire. Once no request of this service has begun for that long, the
 * locks root goes the same way (refused while any key or clock node is under it; kept in a
 * secured namespace, {@link #keepRoot}); only the namespace node is left to the server.
 *
 * <p>Thread-safe. Remembers idle keys only, for at most about {@link #IDLE_NANOS} each.
 */
final class IdleKeys {
    /** How long a key stays idle before its znodes are deleted. */
    static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private static final long NOT_IDLE = Long.MIN_VALUE;

    private final LongSupplier nanoTime;
    private final Map<LockKey, Idle> keys = new ConcurrentHashMap<>();
    /** Since when no request of this service has begun (the end of the last), or NOT_IDLE. */
    private final AtomicLong rootIdleSince = new AtomicLong(NOT_IDLE);
    /** Whether the locks root is swept too (not in a secured namespace, where it stays). */
    private volatile boolean sweepRoot = true;

    /** Since when a key is idle, and whether a request that ended on it asked for the key itself. */
    private record Idle(long since, boolean asked) { }

    /** @param nanoTime the monotonic clock ({@code System::nanoTime}, or a test's) */
    IdleKeys(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** A request for the keys {@code asked} begins: they and their ancestors are not idle. */
    void begin(Collection<LockKey> asked) {
        rootIdleSince.set(NOT_IDLE);
        for (LockKey key : asked) {
            for (LockKey level = key; level != null; level = level.parent().orElse(null)) {
                keys.remove(level);
            }
        }
    }

    /** A request for the keys {@code asked} ended: they and their ancestors are idle from now. */
    void end(Collection<LockKey> asked) {
        long now = nanoTime.getAsLong();
        rootIdleSince.set(now);
        for (LockKey key : asked) {
            for (LockKey level = key; level != null; level = level.parent().orElse(null)) {
                keys.merge(level, new Idle(now, asked.contains(level)),
                        (old, idle) -> new Idle(now, old.asked() || idle.asked()));
            }
        }
    }

    /**
     * The keys idle for {@link #IDLE_NANOS} or more, finest first, each with whether a request
     * asked for the key itself (only then was a strong index made there); forgotten as returned.
     */
    Map<LockKey, Boolean> takeIdle() {
        long now = nanoTime.getAsLong();
        Map<LockKey, Boolean> idle = new TreeMap<>(FINEST_FIRST);
        for (LockKey key : keys.keySet()) {
            keys.computeIfPresent(key, (k, since) -> {
                if (now - since.since() >= IDLE_NANOS) {
                    idle.put(k, since.asked());
                    return null;
                }
                return since;
            });
        }
        return idle;
    }

    /** Deeper keys first, so a key's children are deleted before it in one sweep. */
    private static final Comparator<LockKey> FINEST_FIRST =
            Comparator.comparingInt(LockKey::depth).reversed().thenComparing(LockKey::toString);

    /**
     * Leaves the locks root alone: a secured namespace keeps it, persistent with its ACL, so
     * that a client without the secured mode cannot make it again open to everyone.
     */
    void keepRoot() {
        sweepRoot = false;
    }

    /** How many keys are remembered as idle and not swept yet. */
    int size() {
        return keys.size();
    }

    /**
     * Whether the locks root is due: every request of this service ended {@link #IDLE_NANOS} ago
     * or more, and none began since (so every key it used is due too); forgotten once returned.
     */
    boolean takeRoot() {
        long since = rootIdleSince.get();
        return since != NOT_IDLE && nanoTime.getAsLong() - since >= IDLE_NANOS
                && rootIdleSince.compareAndSet(since, NOT_IDLE);
    }

    /**
     * Deletes the znodes of the keys that are due, finest first: one multi per key deleting its
     * strong index, queue and key node (full paths through {@code store}), which fails as a
     * whole, harmlessly, where a node has children, and is sent again without a node the
     * server's cleanup already removed. Keys of one depth go together; the next depth waits for
     * their answers (at most {@code patience}), so a parent is not refused for children being
     * deleted. Then, if due, the locks root. Blocks: run it on a thread of its own.
     */
    void sweep(ZooKeeper zk, Store store, Duration patience) throws InterruptedException {
        List<CompletableFuture<Void>> sent = new ArrayList<>();
        int depth = -1;
        for (Map.Entry<LockKey, Boolean> idle : takeIdle().entrySet()) {
            LockKey key = idle.getKey();
            if (key.depth() != depth) {
                await(sent, patience);
                depth = key.depth();
            }
            List<Op> ops = new ArrayList<>(3);
            if (idle.getValue()) {
                ops.add(Op.delete(store.full(Layout.strongPath(key)), -1));
            }
            ops.add(Op.delete(store.full(Layout.queuePath(key)), -1));
            ops.add(Op.delete(store.full(Layout.keyPath(key)), -1));
            sent.add(delete(zk, ops));
        }
        await(sent, patience);
        if (takeRoot() && sweepRoot) {
            delete(zk, List.of(Op.delete(store.full(Layout.LOCKS), -1)));
        }
    }

    private static void await(List<CompletableFuture<Void>> sent, Duration patience) throws InterruptedException {
        try {
            CompletableFuture.allOf(sent.toArray(new CompletableFuture<?>[0])).get(patience.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            // connection trouble: what is left goes to the server's cleanup
        }
        sent.clear();
    }

    /** Sends the multi; completes when it, or the last of its resends without a missing node, is answered. */
    private static CompletableFuture<Void> delete(ZooKeeper zk, List<Op> ops) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        zk.multi(ops, (rc, path, ctx, results) -> {
            if (rc != KeeperException.Code.NONODE.intValue() || results == null) {
                done.complete(null); // OK: gone; NOTEMPTY: in use or has finer keys; else connection trouble
                return;
            }
            List<Op> left = new ArrayList<>(ops);
            for (int i = 0; i < results.size(); i++) {
                if (results.get(i) instanceof OpResult.ErrorResult
                        && ((OpResult.ErrorResult) results.get(i)).getErr() == KeeperException.Code.NONODE.intValue()) {
                    left.remove(i);
                    break;
                }
            }
            if (left.size() < ops.size() && !left.isEmpty()) {
                delete(zk, left).whenComplete((v, e) -> done.complete(null));
            } else {
                done.complete(null);
            }
        }, null);
        return done;
    }
}
