package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooKeeper;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
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
 * out and the multi sent again. It deletes only what that cleanup would, and a client that meets
 * the missing parents creates them again, as after that cleanup. A key used again within the
 * idle time (a hot key, or the shared ancestor of a stream of fresh keys) is not swept, so it
 * keeps its one-round-trip acquire. Only the namespace and the locks root are left to the server.
 *
 * <p>Thread-safe. Remembers idle keys only, for at most about {@link #IDLE_NANOS} each.
 */
final class IdleKeys {
    /** How long a key stays idle before its znodes are deleted. */
    static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final LongSupplier nanoTime;
    private final Map<LockKey, Idle> keys = new ConcurrentHashMap<>();

    /** Since when a key is idle, and whether a request that ended on it asked for the key itself. */
    private record Idle(long since, boolean asked) { }

    /** @param nanoTime the monotonic clock ({@code System::nanoTime}, or a test's) */
    IdleKeys(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** A request for the keys {@code asked} begins: they and their ancestors are not idle. */
    void begin(Collection<LockKey> asked) {
        for (LockKey key : asked) {
            for (LockKey level = key; level != null; level = level.parent().orElse(null)) {
                keys.remove(level);
            }
        }
    }

    /** A request for the keys {@code asked} ended: they and their ancestors are idle from now. */
    void end(Collection<LockKey> asked) {
        long now = nanoTime.getAsLong();
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

    /** How many keys are remembered (in use, or idle and not swept yet). */
    int size() {
        return keys.size();
    }

    /**
     * Sends, without waiting, one multi per idle key deleting its strong index, queue and key
     * node (full paths through {@code engine}). It fails as a whole, harmlessly, where a node has
     * children; where one is already gone (the server's cleanup came first) it is sent again
     * without that one.
     */
    void sweep(ZooKeeper zk, Engine engine) {
        for (Map.Entry<LockKey, Boolean> idle : takeIdle().entrySet()) {
            LockKey key = idle.getKey();
            List<Op> ops = new ArrayList<>(3);
            if (idle.getValue()) {
                ops.add(Op.delete(engine.full(Engine.strongPath(key)), -1));
            }
            ops.add(Op.delete(engine.full(Engine.queuePath(key)), -1));
            ops.add(Op.delete(engine.full(Engine.keyPath(key)), -1));
            delete(zk, ops);
        }
    }

    private static void delete(ZooKeeper zk, List<Op> ops) {
        zk.multi(ops, (rc, path, ctx, results) -> {
            if (rc != KeeperException.Code.NONODE.intValue() || results == null) {
                return; // OK: gone; NOTEMPTY: in use or has finer keys; else connection trouble
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
                delete(zk, left);
            }
        }, null);
    }
}
