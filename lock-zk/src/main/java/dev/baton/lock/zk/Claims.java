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
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * What ZooKeeper holds for one key, read for {@code inspect}, {@code breakLock},
 * {@code requestRelease} and the judgement of holders: the requests naming the key (strong nodes
 * in its queue, each with its holder record and stat), whether each is granted, and the key's
 * lock-delay markers.
 *
 * <p>A request naming the key is taken as granted when its record says so (written when it was
 * granted after waiting, or names several keys), or when it names this key only and nothing
 * holds it back: no earlier incompatible node in this key's queue, no earlier incompatible node
 * in an ancestor's strong index, no lock delay left by a lost request on those levels. Every
 * listing of a read is sent at once.
 *
 * <p>Foreign nodes ({@link NodeNames}: a name not of Baton's form, or a request's name on a node
 * that is not ephemeral) are left out, as acquire leaves them out. A request whose record cannot
 * be read is still shown, with what its node tells ({@link HolderRecord#parse}).
 */
final class Claims {
    /** One request naming the key. */
    record Entry(String name, Granule granule, HolderRecord record, Stat stat, boolean granted, Long since) {
        /** The request id. */
        String id() {
            return Engine.requestOf(name);
        }

        /** The mode asked for on this key. */
        LockMode mode() {
            return granule == Granule.X ? LockMode.EXCLUSIVE : LockMode.SHARED;
        }

    }

    /**
     * The strong indexes of a key's ancestors, with the stats a judgement needs: whether a node
     * is held back by an ancestor, and whether anything left them since it was created.
     */
    static final class Ancestors {
        private final List<String> indexPaths = new ArrayList<>();
        private final List<List<String>> names = new ArrayList<>();
        private final List<List<Stat>> stats = new ArrayList<>();
        private final List<Stat> indexStats = new ArrayList<>();
        private final List<Stat> keyStats = new ArrayList<>();

        static Ancestors read(Engine engine, ZooKeeper zk, LockKey key) throws KeeperException, InterruptedException {
            Ancestors a = new Ancestors();
            List<LockKey> ancestors = new ArrayList<>();
            for (LockKey k = key.parent().orElse(null); k != null; k = k.parent().orElse(null)) {
                ancestors.add(k);
            }
            List<CompletableFuture<List<String>>> listings = new ArrayList<>();
            List<CompletableFuture<Stat>> indexStats = new ArrayList<>();
            List<CompletableFuture<Stat>> keyStats = new ArrayList<>();
            for (LockKey k : ancestors) {
                String index = engine.full(Engine.strongPath(k));
                a.indexPaths.add(index);
                listings.add(Engine.children(zk, index));
                indexStats.add(Engine.stat(zk, index));
                keyStats.add(Engine.stat(zk, engine.full(Engine.keyPath(k))));
            }
            List<List<CompletableFuture<Stat>>> stats = new ArrayList<>();
            for (int i = 0; i < ancestors.size(); i++) {
                List<String> names = get(listings.get(i));
                List<CompletableFuture<Stat>> s = new ArrayList<>();
                for (String name : names) {
                    s.add(Engine.granuleOf(name) != null ? Engine.stat(zk, a.indexPaths.get(i) + "/" + name)
                            : CompletableFuture.completedFuture(null));
                }
                a.names.add(names);
                stats.add(s);
            }
            for (int i = 0; i < ancestors.size(); i++) {
                List<Stat> s = new ArrayList<>();
                for (CompletableFuture<Stat> f : stats.get(i)) {
                    s.add(get(f));
                }
                a.stats.add(s);
                a.indexStats.add(get(indexStats.get(i)));
                a.keyStats.add(get(keyStats.get(i)));
            }
            return a;
        }

        /**
         * Whether a node with granule {@code g} at the key, created at {@code czxid}, is held back
         * at an ancestor: by an earlier incompatible strong node, or by a lock-delay marker of an
         * incompatible request that has left.
         */
        boolean holdsBack(Granule g, long czxid) {
            Granule intention = g == Granule.S ? Granule.IS : Granule.IX;
            for (int i = 0; i < names.size(); i++) {
                Set<String> present = new HashSet<>();
                for (String name : names.get(i)) {
                    if (Engine.granuleOf(name) != null) {
                        present.add(Engine.requestOf(name));
                    }
                }
                for (int j = 0; j < names.get(i).size(); j++) {
                    String name = names.get(i).get(j);
                    Granule other = Engine.granuleOf(name);
                    Stat stat = stats.get(i).get(j);
                    if (other != null && !intention.compatibleWith(other) && stat != null && NodeNames.ephemeral(stat)
                            && stat.getCzxid() < czxid) {
                        return true;
                    }
                    Granule marked = Engine.markerGranule(name);
                    if (marked != null && !intention.compatibleWith(marked)
                            && !present.contains(Engine.markerRequest(name))) {
                        return true;
                    }
                }
            }
            return false;
        }

        /** Whether no strong index of an ancestor changed its children since {@code czxid}. */
        boolean unchangedSince(long czxid) {
            for (int i = 0; i < indexStats.size(); i++) {
                Stat index = indexStats.get(i);
                Stat key = keyStats.get(i);
                long changed = index != null ? index.getPzxid() : key != null ? key.getPzxid() : Long.MAX_VALUE;
                if (changed > czxid) {
                    return false;
                }
            }
            return true;
        }
    }

    final LockKey key;
    /** The queue's children, every request touching the key, in creation order; markers last. */
    final List<String> queue;
    /** Requests naming the key, in queue order. */
    final List<Entry> entries = new ArrayList<>();
    /** A lock-delay marker whose request has left the queue (lost or broken): its stat and delay. */
    record Orphan(Stat stat, long delayMs) { }

    /** Markers whose request has left the queue. */
    final List<Orphan> orphanMarkers = new ArrayList<>();
    /** The ensemble's time when read, or null if it could not be learnt. */
    final Engine.Stamp now;

    private Claims(LockKey key, List<String> queue, Engine.Stamp now) {
        this.key = key;
        this.queue = queue;
        this.now = now;
    }

    /** Sorts a queue listing into creation order, markers last. */
    static List<String> ordered(List<String> listing) {
        List<String> queue = new ArrayList<>(listing);
        queue.sort((a, b) -> {
            boolean qa = Engine.granuleOf(a) != null;
            boolean qb = Engine.granuleOf(b) != null;
            if (qa != qb) {
                return qa ? -1 : 1;
            }
            return qa ? Engine.SEQUENCE_ORDER.compare(Engine.sequenceOf(a), Engine.sequenceOf(b)) : a.compareTo(b);
        });
        return queue;
    }

    /** The request ids with a node (not a marker) in a listing. */
    static Set<String> present(List<String> listing) {
        Set<String> ids = new HashSet<>();
        for (String name : listing) {
            if (Engine.granuleOf(name) != null) {
                ids.add(Engine.requestOf(name));
            }
        }
        return ids;
    }

    /**
     * Reads the key. {@code now} is the ensemble's time if the caller has it; else one write
     * learns it (if that write is refused, say by an ACL, times are left out).
     */
    static Claims read(Engine engine, ZooKeeper zk, LockKey key, Engine.Stamp now)
            throws KeeperException, InterruptedException {
        CompletableFuture<List<String>> queued = Engine.children(zk, engine.full(Engine.queuePath(key)));
        Ancestors ancestors = Ancestors.read(engine, zk, key);
        if (now == null) {
            now = nowIfKnown(engine, zk);
        }
        CompletableFuture<Stat> queueStat = Engine.stat(zk, engine.full(Engine.queuePath(key))); // after the listing
        List<String> listing = ordered(get(queued));
        Stat qstat = get(queueStat);
        // every node that can decide a verdict is read for its stat: the strong ones with their
        // records, and the intentions before the last strong one; one that is not ephemeral is foreign
        int lastStrong = -1;
        for (int i = 0; i < listing.size(); i++) {
            Granule g = Engine.granuleOf(listing.get(i));
            if (g != null && g.isStrong()) {
                lastStrong = i;
            }
        }
        Set<String> listed = present(listing);
        List<String> strong = new ArrayList<>();
        List<CompletableFuture<Engine.Data>> records = new ArrayList<>();
        List<String> intentions = new ArrayList<>();
        List<CompletableFuture<Stat>> intentionStats = new ArrayList<>();
        List<CompletableFuture<Engine.Data>> markers = new ArrayList<>();
        for (int i = 0; i < listing.size(); i++) {
            String name = listing.get(i);
            Granule g = Engine.granuleOf(name);
            if (g != null && g.isStrong()) {
                strong.add(name);
                records.add(Engine.data(zk, engine.full(Engine.queuePath(key) + "/" + name)));
            } else if (g != null && i < lastStrong) {
                intentions.add(name);
                intentionStats.add(Engine.stat(zk, engine.full(Engine.queuePath(key) + "/" + name)));
            }
            if (Engine.markerGranule(name) != null && !listed.contains(Engine.markerRequest(name))) {
                markers.add(Engine.data(zk, engine.full(Engine.queuePath(key) + "/" + name)));
            }
        }
        Set<String> foreign = new HashSet<>();
        List<Engine.Data> data = new ArrayList<>(strong.size());
        for (int i = 0; i < strong.size(); i++) {
            Engine.Data d = get(records.get(i));
            data.add(d);
            if (d != null && !NodeNames.ephemeral(d.stat())) {
                foreign.add(strong.get(i));
            }
        }
        for (int i = 0; i < intentions.size(); i++) {
            Stat stat = get(intentionStats.get(i));
            if (stat != null && !NodeNames.ephemeral(stat)) {
                foreign.add(intentions.get(i));
            }
        }
        List<String> queue = new ArrayList<>(listing);
        queue.removeAll(foreign);
        Claims c = new Claims(key, queue, now);
        Set<String> present = present(queue);
        for (CompletableFuture<Engine.Data> f : markers) {
            Engine.Data d = get(f);
            if (d != null) {
                c.orphanMarkers.add(new Orphan(d.stat(), Engine.markerDelay(d.bytes())));
            }
        }
        for (int i = 0; i < strong.size(); i++) {
            Engine.Data d = data.get(i);
            String name = strong.get(i);
            if (d == null || foreign.contains(name)) {
                continue; // gone since the listing, or not Baton's
            }
            Granule g = Engine.granuleOf(name);
            HolderRecord record = HolderRecord.parse(d.bytes());
            boolean granted = record.granted()
                    || (record.keys() <= 1 && !blockedInQueue(queue, name, g) && !delayedInQueue(queue, present, g)
                        && !ancestors.holdsBack(g, d.stat().getCzxid()));
            // when its hold began: its stamp (less how long it had held then), else its creation
            // (exact for a grant on its first look; for a grant after waiting, until its stamp half
            // a second in, this counts its wait too)
            Long since = null;
            if (now != null && record.granted() && now.sameLeader(d.stat().getMzxid())) {
                since = d.stat().getMtime() - record.heldMs();
            } else if (now != null && granted && now.sameLeader(d.stat().getCzxid())) {
                since = d.stat().getCtime();
            }
            c.entries.add(new Entry(name, g, record, d.stat(), granted, since));
        }
        return c;
    }

    /**
     * The ensemble's time, or null if Baton's clock node cannot be written (a read-only server, an
     * ACL, a foreign node where it belongs): ages are then left out.
     *
     * @throws KeeperException on connection trouble or the session's end
     */
    static Engine.Stamp nowIfKnown(Engine engine, ZooKeeper zk) throws KeeperException, InterruptedException {
        try {
            return engine.now(zk);
        } catch (KeeperException e) {
            if (e.code() == KeeperException.Code.CONNECTIONLOSS || e.code() == KeeperException.Code.SESSIONEXPIRED
                    || e.code() == KeeperException.Code.SESSIONMOVED || e.code() == KeeperException.Code.OPERATIONTIMEOUT) {
                throw e;
            }
            return null;
        }
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

    /** Whether the queue has a lock-delay marker, of a request that left it, incompatible with {@code g}. */
    static boolean delayedInQueue(List<String> queue, Set<String> present, Granule g) {
        for (String name : queue) {
            Granule marked = Engine.markerGranule(name);
            if (marked != null && !g.compatibleWith(marked) && !present.contains(Engine.markerRequest(name))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the queue and the ancestors prove that an unblocked node was granted when it was
     * created: nothing has left the queue since (its cversion, which counts creates and deletes of
     * children and was the node's sequence number at its creation, has grown only by the nodes
     * created after it), no marker is in it, and no ancestor's strong index has changed since.
     * Then nothing held it back at its creation that is gone now. Otherwise unknown.
     */
    static boolean grantedAtCreation(String name, Stat stat, List<String> queue, Stat queueStat,
                                             Claims.Ancestors ancestors) {
        if (queueStat == null || stat.getVersion() != 0) {
            return false; // rewritten: its grant may have been decided late
        }
        int seq = Engine.sequenceOf(name);
        java.util.Map<String, Integer> sequences = new java.util.HashMap<>();
        for (String n : queue) {
            if (Engine.granuleOf(n) != null) {
                sequences.put(Engine.requestOf(n), Engine.sequenceOf(n));
            }
        }
        int after = 0;
        for (String n : queue) {
            if (Engine.granuleOf(n) != null) {
                if (Engine.before(seq, Engine.sequenceOf(n))) {
                    after++;
                }
                continue;
            }
            String marked = Engine.markerRequest(n);
            if (marked != null) {
                // a marker is made in its request's transaction, right after its queue node
                Integer of = sequences.get(marked);
                if (of == null) {
                    return false; // of a request that left: something held this one back, maybe
                }
                if (of == seq || Engine.before(seq, of)) {
                    after++;
                }
            }
        }
        return queueStat.getCversion() - seq - 1 == after && ancestors.unchangedSince(stat.getCzxid());
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
            holders.add(claim(e, true, e.since() == null ? null : Duration.ofMillis(Math.max(0, now.millis() - e.since()))));
        }
        for (Entry e : entries) {
            if (!e.granted()) {
                waiters.add(claim(e, false, null));
            }
        }
        Duration delay = null;
        for (Orphan o : orphanMarkers) {
            Stat stat = o.stat();
            long ms = o.delayMs();
            long left = stat.getVersion() == 0 || now == null ? ms : stat.getMtime() + ms - now.millis();
            if (left > 0 && (delay == null || left > delay.toMillis())) {
                delay = Duration.ofMillis(left);
            }
        }
        return new LockState(key, holders, waiters, delay);
    }

    private static Claim claim(Entry e, boolean granted, Duration heldFor) {
        HolderRecord r = e.record();
        return new Claim(r.holder(), r.host(), r.pid(), r.thread(), e.mode(), FencingToken.of(e.stat().getCzxid()),
                granted, r.leaseTime(), heldFor, r.lockDelay());
    }

    static <T> T get(CompletableFuture<T> f) throws KeeperException, InterruptedException {
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
