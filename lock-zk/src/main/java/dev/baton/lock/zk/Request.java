package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.internal.Granule;
import org.apache.zookeeper.OpResult;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * What one acquire asks for, made for each of its attempts (whose record carries the time it was
 * written): the keys and modes, every level it touches with its granule there (coarse first), the
 * holder record its queue nodes carry, and its options. Immutable.
 *
 * @param keys the keys asked for, with their modes
 * @param label the key that names the request in messages
 * @param plan every level touched, coarse first ({@link Granule#plan})
 * @param levels the plan's entries, by index
 * @param holder the record on the queue nodes of the keys asked for, and its bytes in {@code record}
 * @param leaseTime the lease time, or null for as long as the session
 * @param lockDelay the lock delay asked for, or null; markers are made in the multi when set
 * @param staleAfter the age past which holders are broken, or null
 */
record Request(Map<LockKey, LockMode> keys, LockKey label, Map<LockKey, Granule> plan,
               List<Map.Entry<LockKey, Granule>> levels, HolderRecord holder, byte[] record, Duration leaseTime,
               Duration lockDelay, Duration staleAfter) {

    /** Well under ZooKeeper's default 1 MB packet limit (jute.maxbuffer). */
    static final int MAX_REQUEST_BYTES = 256 * 1024;

    /** Refuses an {@code acquireAll} too large for one transaction, before anything is sent. */
    static void checkSize(Map<LockKey, LockMode> ordered) {
        Map<LockKey, Granule> plan = Granule.plan(ordered);
        int bytes = 0;
        for (LockKey level : plan.keySet()) {
            bytes += 2 * (Layout.queuePath(level).length() + 40);
        }
        bytes += 512 * ordered.size(); // holder records
        int longest = 0;
        for (LockKey key : ordered.keySet()) {
            longest = Math.max(longest, key.toString().length());
        }
        bytes += longest * plan.size(); // intention nodes name a key under them
        if (bytes > MAX_REQUEST_BYTES) {
            throw new IllegalArgumentException("acquireAll of " + ordered.size() + " keys needs about " + bytes
                    + " bytes of paths in one ZooKeeper transaction, more than the " + MAX_REQUEST_BYTES
                    + " allowed: ask for fewer or shorter keys");
        }
    }

    static Request of(Map<LockKey, LockMode> keys, LockKey label, HolderRecord holder, Duration leaseTime,
                      Duration lockDelay, Duration staleAfter) {
        Map<LockKey, Granule> plan = Granule.plan(keys);
        return new Request(keys, label, plan, List.copyOf(plan.entrySet()), holder, holder.encode(), leaseTime,
                lockDelay, staleAfter);
    }

    Set<LockKey> asked() {
        return keys.keySet();
    }

    LockKey key(int level) {
        return levels.get(level).getKey();
    }

    Granule granule(int level) {
        return levels.get(level).getValue();
    }

    /** The path whose children decide level {@code i} ({@link Layout#listed}). */
    String listed(int level) {
        return Layout.listed(key(level), granule(level));
    }

    /**
     * The nodes one successful multi created, and what they tell: relative paths in enqueue
     * order, this request's node name in each level's queue, the transaction's zxid (the token),
     * and the session that owns them. Immutable.
     */
    record Created(List<String> nodes, List<String> ownNames, long zxid, long sessionId) {
        /**
         * From the paths a multi created, relative, in enqueue order: each level's queue node, and
         * its strong-index node for a strong granule; lock-delay markers after them are not the
         * request's nodes (a loss leaves them behind).
         */
        static Created of(Request request, List<String> relativePaths, long zxid, long sessionId) {
            List<String> own = new ArrayList<>(request.levels().size());
            int op = 0;
            for (int i = 0; i < request.levels().size(); i++) {
                String q = relativePaths.get(op++);
                own.add(q.substring(q.lastIndexOf('/') + 1));
                if (request.granule(i).isStrong()) {
                    op++;
                }
            }
            return new Created(List.copyOf(relativePaths.subList(0, op)), List.copyOf(own), zxid, sessionId);
        }

        String ownName(int level) {
            return ownNames.get(level);
        }

        int ownSequence(int level) {
            return NodeNames.sequence(ownNames.get(level));
        }
    }

    /**
     * One attempt at the request on one session: the request id it enqueued under, the multi in
     * flight, what it created, and what it learnt while waiting. Used by the one acquiring thread
     * (and its cleanup, once the thread has let go of it).
     */
    static final class Attempt {
        final Request request;
        final Watches.Waiting waiting;
        String id;
        /** The multi in flight or done; null before the first. */
        CompletableFuture<List<OpResult>> multi;
        /** What the multi created, once known; null before. */
        Created created;
        /** Whether this attempt created parent containers (which may be left never used). */
        boolean madeContainers;
        /** The connection epoch ({@link Session#epoch}) the grant is checked against. */
        long[] epoch;
        /** Whether it was blocked at some point (its grant is then stamped). */
        boolean waited;
        /** When it was first blocked, on the service's ticker; 0 before. */
        long blockedSince;
        /** What judging holders learnt, kept for the attempt. */
        final Judging judging = new Judging();

        Attempt(Request request, String id, Watches.Waiting waiting) {
            this.request = request;
            this.id = id;
            this.waiting = waiting;
        }

        /** The lock-delay markers this attempt made, relative paths. */
        List<String> markers() {
            return request.lockDelay() == null ? List.of() : Layout.markerPaths(request.plan(), id);
        }
    }

    /** What a waiter learnt of the nodes it judged: kept for the attempt so it asks once. */
    static final class Judging {
        /** Nodes named like requests' that turned out not to be ephemeral: not Baton's, ignored. */
        final Set<String> foreign = new HashSet<>();
        /** Nodes named like requests' seen to be ephemeral (an owner never changes). */
        final Set<String> ephemeral = new HashSet<>();
        /** When this waiter first saw each holder it judges holding (by node name), on the ensemble's clock. */
        final Map<String, FirstSeen> firstSeen = new HashMap<>();
    }

    /** When a waiter first saw a holder holding: the ensemble's time, and the holder's record version then. */
    record FirstSeen(Store.Stamp at, int version) { }
}
