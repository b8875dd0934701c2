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
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;
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
            return NodeNames.request(name);
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

        static Ancestors read(Store store, ZooKeeper zk, LockKey key) throws KeeperException, InterruptedException {
            Ancestors a = new Ancestors();
            List<LockKey> ancestors = new ArrayList<>();
            for (LockKey k = key.parent().orElse(null); k != null; k = k.parent().orElse(null)) {
                ancestors.add(k);
            }
            List<CompletableFuture<List<String>>> listings = new ArrayList<>();
            List<CompletableFuture<Stat>> indexStats = new ArrayList<>();
            List<CompletableFuture<Stat>> keyStats = new ArrayList<>();
            for (LockKey k : ancestors) {
                String index = store.full(Layout.strongPath(k));
                a.indexPaths.add(index);
                listings.add(Store.children(zk, index));
                indexStats.add(Store.stat(zk, index));
                keyStats.add(Store.stat(zk, store.full(Layout.keyPath(k))));
            }
            List<List<CompletableFuture<Stat>>> stats = new ArrayList<>();
            for (int i = 0; i < ancestors.size(); i++) {
                List<String> names = get(listings.get(i));
                List<CompletableFuture<Stat>> s = new ArrayList<>();
                for (String name : names) {
                    s.add(NodeNames.granule(name) != null ? Store.stat(zk, a.indexPaths.get(i) + "/" + name)
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
                Map<String, Grants.Read> read = new HashMap<>();
                for (int j = 0; j < names.get(i).size(); j++) {
                    Stat stat = stats.get(i).get(j);
                    read.put(names.get(i).get(j), stat == null ? Grants.Read.GONE
                            : new Grants.Read(true, stat.getCzxid(), NodeNames.ephemeral(stat)));
                }
                if (!(Grants.inIndex(intention, czxid, names.get(i), read) instanceof Grants.Granted)) {
                    return true;
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
    final Store.Stamp now;

    private Claims(LockKey key, List<String> queue, Store.Stamp now) {
        this.key = key;
        this.queue = queue;
        this.now = now;
    }

    /**
     * Reads the key. {@code now} is the ensemble's time if the caller has it; else one write
     * learns it (if that write is refused, say by an ACL, times are left out).
     */
    static Claims read(Store store, ZooKeeper zk, LockKey key, Store.Stamp now)
            throws KeeperException, InterruptedException {
        CompletableFuture<List<String>> queued = Store.children(zk, store.full(Layout.queuePath(key)));
        Ancestors ancestors = Ancestors.read(store, zk, key);
        if (now == null) {
            now = nowIfKnown(store, zk);
        }
        CompletableFuture<Stat> queueStat = Store.stat(zk, store.full(Layout.queuePath(key))); // after the listing
        List<String> listing = Layout.ordered(get(queued));
        Stat qstat = get(queueStat);
        // every node that can decide a verdict is read for its stat: the strong ones with their
        // records, and the intentions before the last strong one; one that is not ephemeral is foreign
        int lastStrong = -1;
        for (int i = 0; i < listing.size(); i++) {
            Granule g = NodeNames.granule(listing.get(i));
            if (g != null && g.isStrong()) {
                lastStrong = i;
            }
        }
        Set<String> listed = Layout.present(listing);
        List<String> strong = new ArrayList<>();
        List<CompletableFuture<Store.Data>> records = new ArrayList<>();
        List<String> intentions = new ArrayList<>();
        List<CompletableFuture<Stat>> intentionStats = new ArrayList<>();
        List<CompletableFuture<Store.Data>> markers = new ArrayList<>();
        for (int i = 0; i < listing.size(); i++) {
            String name = listing.get(i);
            Granule g = NodeNames.granule(name);
            if (g != null && g.isStrong()) {
                strong.add(name);
                records.add(Store.data(zk, store.full(Layout.queuePath(key) + "/" + name)));
            } else if (g != null && i < lastStrong) {
                intentions.add(name);
                intentionStats.add(Store.stat(zk, store.full(Layout.queuePath(key) + "/" + name)));
            }
            if (NodeNames.markerGranule(name) != null && !listed.contains(NodeNames.markerRequest(name))) {
                markers.add(Store.data(zk, store.full(Layout.queuePath(key) + "/" + name)));
            }
        }
        Set<String> foreign = new HashSet<>();
        List<Store.Data> data = new ArrayList<>(strong.size());
        for (int i = 0; i < strong.size(); i++) {
            Store.Data d = get(records.get(i));
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
                for (CompletableFuture<Store.Data> f : markers) {
            Store.Data d = get(f);
            if (d != null) {
                c.orphanMarkers.add(new Orphan(d.stat(), HolderRecord.delayMillis(d.bytes())));
            }
        }
        for (int i = 0; i < strong.size(); i++) {
            Store.Data d = data.get(i);
            String name = strong.get(i);
            if (d == null || foreign.contains(name)) {
                continue; // gone since the listing, or not Baton's
            }
            Granule g = NodeNames.granule(name);
            HolderRecord record = HolderRecord.parse(d.bytes());
            boolean granted = record.granted() || (record.keys() <= 1
                    && Grants.inQueue(g, name, queue, Set.of()) instanceof Grants.Granted
                    && !ancestors.holdsBack(g, d.stat().getCzxid()));
            Stat stat = d.stat();
            Long since = holdSince(record, stat, now, () -> grantedAtCreation(name, stat, queue, qstat, ancestors));
            if (since == null && granted && now != null && now.sameLeader(stat.getCzxid())) {
                // shown, never judged: a grant after waiting, until its stamp lands half a second
                // in, counts its wait too
                since = stat.getCtime();
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
    static Store.Stamp nowIfKnown(Store store, ZooKeeper zk) throws KeeperException, InterruptedException {
        try {
            return store.now(zk);
        } catch (KeeperException e) {
            if (e.code() == KeeperException.Code.CONNECTIONLOSS || e.code() == KeeperException.Code.SESSIONEXPIRED
                    || e.code() == KeeperException.Code.SESSIONMOVED || e.code() == KeeperException.Code.OPERATIONTIMEOUT) {
                throw e;
            }
            return null;
        }
    }

    /**
     * When a hold began, on the ensemble's clock, as far as the holder's records prove it: its
     * grant stamp (or last extend) less what it had held then, if this leader stamped it; its
     * creation, if this leader made it and the queue proves it was granted on its first look;
     * otherwise null (unknown: a judge counts from when it first saw the hold). The one reading
     * breaking and inspection share.
     */
    static Long holdSince(HolderRecord record, Stat stat, Store.Stamp now, BooleanSupplier grantedAtCreation) {
        if (now == null) {
            return null;
        }
        if (record.granted()) {
            return now.sameLeader(stat.getMzxid()) ? stat.getMtime() - record.heldMs() : null;
        }
        return now.sameLeader(stat.getCzxid()) && grantedAtCreation.getAsBoolean() ? stat.getCtime() : null;
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
        int seq = NodeNames.sequence(name);
        Map<String, Integer> sequences = new HashMap<>();
        for (String n : queue) {
            if (NodeNames.granule(n) != null) {
                sequences.put(NodeNames.request(n), NodeNames.sequence(n));
            }
        }
        int after = 0;
        for (String n : queue) {
            if (NodeNames.granule(n) != null) {
                if (Layout.before(seq, NodeNames.sequence(n))) {
                    after++;
                }
                continue;
            }
            String marked = NodeNames.markerRequest(n);
            if (marked != null) {
                // a marker is made in its request's transaction, right after its queue node
                Integer of = sequences.get(marked);
                if (of == null) {
                    return false; // of a request that left: something held this one back, maybe
                }
                if (of == seq || Layout.before(seq, of)) {
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
        h.sort(Comparator.comparingLong(e -> e.stat().getCzxid()));
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
