package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.internal.Granule;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooKeeper;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Removes the znodes of keys this service asked for once they are idle, so that a stream of
 * fresh keys (a lock per record, per account) leaves nothing for the server's container cleanup,
 * which removes at most {@code znode.container.maxPerMinute} containers a minute (10,000 by
 * default) and looks every {@code znode.container.checkIntervalMs} (60 s by default).
 *
 * <p>Each key a request of this service touches (the keys asked for and their ancestors) counts
 * the requests that hold or wait on it. When the count drops to zero the key is idle; once it
 * has stayed idle for {@link #IDLE_NANOS}, one multi deletes its strong index (if this service
 * made one there), its queue and its key node, each only if it has no children, finer keys
 * before coarser ones:
 * ZooKeeper refuses to delete a node with children, so a key that another client holds or waits
 * for, that has a lock-delay marker left, or that has finer keys under it, is left as it is
 * (the multi fails as a whole and changes nothing) for the server's cleanup; a node the server
 * removed first is left out of the multi, sent again. This is what that
 * cleanup would do later; a client that meets the missing parents creates them again, as it does
 * after the server's cleanup. A key this service uses again within the idle time (a hot key,
 * or the shared ancestor of a stream of fresh keys) is not swept while in use, so it keeps its
 * one-round-trip acquire. Only the namespace and the locks root are left to the server.
 *
 * <p>Thread-safe. Accounting slips (a key counted in use for ever, or idle too early) cost at
 * most a znode left to the server or one refused multi, never a lock.
 */
final class IdleKeys {
    /** How long a key stays idle before its znodes are deleted. */
    static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final LongSupplier nanoTime;
    private final Map<LockKey, Usage> keys = new ConcurrentHashMap<>();

    /** Requests holding or waiting on a key's level, since when it has had none, and whether one was strong. */
    private static final class Usage {
        int requests;
        long idleSince;
        boolean strong;
    }

    /** @param nanoTime the monotonic clock ({@code System::nanoTime}, or a test's) */
    IdleKeys(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** A request begins, with its granule on each level (the keys asked for and their ancestors). */
    void begin(Map<LockKey, Granule> plan) {
        for (Map.Entry<LockKey, Granule> level : plan.entrySet()) {
            keys.compute(level.getKey(), (k, u) -> {
                Usage usage = u == null ? new Usage() : u;
                usage.requests++;
                usage.strong |= level.getValue().isStrong();
                return usage;
            });
        }
    }

    /** A request that {@link #begin began} with {@code plan} ended: released, lost, or given up. */
    void end(Map<LockKey, Granule> plan) {
        long now = nanoTime.getAsLong();
        for (LockKey key : plan.keySet()) {
            keys.computeIfPresent(key, (k, usage) -> {
                usage.requests = Math.max(0, usage.requests - 1);
                if (usage.requests == 0) {
                    usage.idleSince = now;
                }
                return usage;
            });
        }
    }

    /**
     * The keys idle for {@link #IDLE_NANOS} or more, finest first, each with whether a request of
     * this service held it in a strong granule (only then did it make its strong index); forgotten
     * as they are returned.
     */
    Map<LockKey, Boolean> takeIdle() {
        long now = nanoTime.getAsLong();
        Map<LockKey, Boolean> idle = new TreeMap<>(FINEST_FIRST);
        for (LockKey key : keys.keySet()) {
            keys.computeIfPresent(key, (k, usage) -> {
                if (usage.requests == 0 && now - usage.idleSince >= IDLE_NANOS) {
                    idle.put(k, usage.strong);
                    return null;
                }
                return usage;
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
