package dev.baton.lock.zk;

import dev.baton.lock.Claim;
import dev.baton.lock.FencingToken;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockState;
import dev.baton.lock.internal.Granule;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * What ZooKeeper holds for one key, read for {@code inspect}, {@code breakLock} and
 * {@code requestRelease}: the requests naming the key (strong nodes in its queue, each with its
 * holder record and stat), whether each is granted, and the key's lock-delay markers.
 *
 * <p>A request is taken as granted when its record says so (written when it was granted after
 * waiting, or names several keys), or when it names this key only and no earlier incompatible
 * request blocks it, neither in this key's queue nor in an ancestor's strong index: then it was
 * granted on its first look, at its creation. One read of each queue and index, sent at once.
 */
final class Claims {
    /** One request naming the key. */
    record Entry(String name, Granule granule, HolderRecord record, Stat stat, boolean granted) {
        /** The request id. */
        String id() {
            return Engine.requestOf(name);
        }

        /** The mode asked for on this key. */
        LockMode mode() {
            return granule == Granule.X ? LockMode.EXCLUSIVE : LockMode.SHARED;
        }

        /** When the current hold began on the ensemble's clock: the stamp's mtime, else the ctime. */
        long since() {
            return record.granted() ? stat.getMtime() : stat.getCtime();
        }
    }

    /** A lock-delay marker of a request no longer in the queue: the key is delayed until {@code until}. */
    record Marker(String name, Stat stat, long delayMs) {
        /** When the delay ends on the ensemble's clock, or -1 if it has not started (never stamped). */
        long until() {
            return stat.getVersion() == 0 ? -1 : stat.getMtime() + delayMs;
        }
    }

    final LockKey key;
    /** The queue's children, every request touching the key. */
    final List<String> queue;
    /** Requests naming the key, in queue order. */
    final List<Entry> entries = new ArrayList<>();
    /** Markers whose request has left the queue (lost or broken). */
    final List<Marker> orphanMarkers = new ArrayList<>();
    /** The ensemble's time when read, in epoch milliseconds. */
    final long now;

    private Claims(LockKey key, List<String> queue, long now) {
        this.key = key;
        this.queue = queue;
        this.now = now;
    }

    /** Reads the key; {@code now} is the ensemble's time if the caller has it, else null (one write). */
    static Claims read(Engine engine, ZooKeeper zk, LockKey key, Long now)
            throws KeeperException, InterruptedException {
        CompletableFuture<List<String>> queued = Engine.children(zk, engine.full(Engine.queuePath(key)));
        List<LockKey> ancestors = new ArrayList<>();
        for (LockKey a = key.parent().orElse(null); a != null; a = a.parent().orElse(null)) {
            ancestors.add(a);
        }
        List<CompletableFuture<List<String>>> indexes = new ArrayList<>();
        for (LockKey a : ancestors) {
            indexes.add(Engine.children(zk, engine.full(Engine.strongPath(a))));
        }
        if (now == null) {
            now = engine.now(zk);
        }
        List<String> queue = new ArrayList<>(get(queued));
        queue.sort((a, b) -> {
            boolean qa = Engine.granuleOf(a) != null;
            boolean qb = Engine.granuleOf(b) != null;
            if (qa != qb) {
                return qa ? -1 : 1;
            }
            return qa ? Engine.SEQUENCE_ORDER.compare(Engine.sequenceOf(a), Engine.sequenceOf(b)) : a.compareTo(b);
        });
        Claims c = new Claims(key, queue, now);
        // every strong node's record and stat, every ancestor's strong nodes' stats, sent at once
        List<String> strong = new ArrayList<>();
        List<CompletableFuture<Engine.Data>> records = new ArrayList<>();
        List<String> markers = new ArrayList<>();
        List<CompletableFuture<Engine.Data>> markerData = new ArrayList<>();
        java.util.Set<String> present = new java.util.HashSet<>();
        for (String name : queue) {
            Granule g = Engine.granuleOf(name);
            if (g != null) {
                present.add(Engine.requestOf(name));
                if (g.isStrong()) {
                    strong.add(name);
                    records.add(Engine.data(zk, engine.full(Engine.queuePath(key) + "/" + name)));
                }
            }
        }
        for (String name : queue) {
            String id = Engine.markerRequest(name);
            if (id != null && !present.contains(id)) {
                markers.add(name);
                markerData.add(Engine.data(zk, engine.full(Engine.queuePath(key) + "/" + name)));
            }
        }
        List<List<String>> ancestorNodes = new ArrayList<>();
        List<List<CompletableFuture<Stat>>> ancestorStats = new ArrayList<>();
        for (int i = 0; i < ancestors.size(); i++) {
            List<String> names = get(indexes.get(i));
            List<CompletableFuture<Stat>> stats = new ArrayList<>();
            for (String name : names) {
                stats.add(Engine.stat(zk, engine.full(Engine.strongPath(ancestors.get(i)) + "/" + name)));
            }
            ancestorNodes.add(names);
            ancestorStats.add(stats);
        }
        for (int i = 0; i < strong.size(); i++) {
            Engine.Data d = get(records.get(i));
            if (d == null) {
                continue; // gone since the listing
            }
            String name = strong.get(i);
            Granule g = Engine.granuleOf(name);
            HolderRecord record;
            try {
                record = HolderRecord.parse(d.bytes());
            } catch (IllegalArgumentException notOurs) {
                continue;
            }
            boolean granted = record.granted()
                    || (record.keys() <= 1 && !blockedInQueue(queue, name, g)
                        && !blockedByAncestor(g, d.stat().getCzxid(), ancestorNodes, ancestorStats));
            c.entries.add(new Entry(name, g, record, d.stat(), granted));
        }
        for (int i = 0; i < markers.size(); i++) {
            Engine.Data d = get(markerData.get(i));
            if (d != null) {
                long ms;
                try {
                    ms = Long.parseLong(new String(d.bytes(), java.nio.charset.StandardCharsets.UTF_8).trim());
                } catch (NumberFormatException e) {
                    continue;
                }
                c.orphanMarkers.add(new Marker(markers.get(i), d.stat(), ms));
            }
        }
        return c;
    }

    /** Whether an earlier node of the queue is incompatible with {@code name}'s granule. */
    static boolean blockedInQueue(List<String> queue, String name, Granule g) {
        int own = Engine.sequenceOf(name);
        for (String other : queue) {
            Granule og = Engine.granuleOf(other);
            if (og != null && !other.equals(name) && !g.compatibleWith(og)
                    && Engine.before(Engine.sequenceOf(other), own)) {
                return true;
            }
        }
        return false;
    }

    /** Whether a strong node of an ancestor, created earlier, is incompatible with the intention of {@code g}. */
    private static boolean blockedByAncestor(Granule g, long czxid, List<List<String>> names,
                                             List<List<CompletableFuture<Stat>>> stats)
            throws KeeperException, InterruptedException {
        Granule intention = g == Granule.S ? Granule.IS : Granule.IX;
        for (int i = 0; i < names.size(); i++) {
            for (int j = 0; j < names.get(i).size(); j++) {
                Granule other = Engine.granuleOf(names.get(i).get(j));
                if (other != null && !intention.compatibleWith(other)) {
                    Stat stat = get(stats.get(i).get(j));
                    if (stat != null && stat.getCzxid() < czxid) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** The granted entries, earliest token first. */
    List<Entry> holders() {
        List<Entry> h = new ArrayList<>();
        for (Entry e : entries) {
            if (e.granted()) {
                h.add(e);
            }
        }
        h.sort(java.util.Comparator.comparingLong(e -> e.stat().getCzxid()));
        return h;
    }

    /** This key as the API shows it. */
    LockState state() {
        List<Claim> holders = new ArrayList<>();
        List<Claim> waiters = new ArrayList<>();
        for (Entry e : holders()) {
            holders.add(claim(e, Duration.ofMillis(Math.max(0, now - e.since()))));
        }
        for (Entry e : entries) {
            if (!e.granted()) {
                waiters.add(claim(e, null));
            }
        }
        Duration delay = null;
        for (Marker m : orphanMarkers) {
            long left = m.until() < 0 ? m.delayMs() : m.until() - now;
            if (left > 0 && (delay == null || left > delay.toMillis())) {
                delay = Duration.ofMillis(left);
            }
        }
        return new LockState(key, holders, waiters, delay);
    }

    private static Claim claim(Entry e, Duration heldFor) {
        HolderRecord r = e.record();
        return new Claim(r.holder(), r.host(), r.pid(), r.thread(), e.mode(), FencingToken.of(e.stat().getCzxid()),
                heldFor != null, r.leaseTime(), heldFor, r.lockDelay());
    }

    private static <T> T get(CompletableFuture<T> f) throws KeeperException, InterruptedException {
        try {
            return f.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof KeeperException) {
                throw (KeeperException) e.getCause();
            }
            throw new IllegalStateException(e.getCause());
        }
    }
}
