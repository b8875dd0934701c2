package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.Granule;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Breaking stale holds: a waiter judges the holders that block it and breaks one held longer
 * than its {@code staleAfter}, or past its recorded lease time plus {@link #LEASE_GRACE_MS}. The
 * rules (in the package documentation): ages are differences of two times one leader stamped;
 * a hold starts when {@link Claims#holdSince} says, else when this waiter first saw it holding.
 * A node held back ({@link Grants}) is waiting, not holding, and is not judged; nor is an
 * unstamped request naming several keys. The break itself ({@link #breakRequest}) is one
 * version-checked multi, also used by {@code breakLock}. Thread-safe; each attempt's memory is in
 * its {@link Request.Judging}.
 */
final class Breaker {
    private static final Logger LOG = LoggerFactory.getLogger(Breaker.class);

    /** How long past its recorded lease time a holder is left to end its lease itself before waiters break it. */
    static final long LEASE_GRACE_MS = 2_000;
    /** How long a waiter without {@code staleAfter} waits before it first judges the holders' lease times. */
    static final long PLAIN_JUDGE_AFTER_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** How soon a waiter judges again holders it could not judge yet (held back, or not yet stamped). */
    private static final long REJUDGE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Store store;

    Breaker(Store store) {
        this.store = store;
    }

    /** A holder's node on the key it asked for, with that key's queue (creation order). */
    private record Target(LockKey at, String name, List<String> queue) { }

    /** A holder a waiter judges: its queue node, what it recorded, and how long it may hold. */
    private record Judged(Target target, Granule granule, Store.Data data, HolderRecord record, long limitMs) { }

    /**
     * Judges the holders that block level {@code i} of a waiting attempt, and breaks one that is
     * stale. With {@code staleAfter}, a waiter also judges holders of finer keys (found through
     * the key their intention node names) and, at an intention level, of coarser ones: both cost
     * listings that lease times alone do not justify.
     *
     * @return -1 if a holder was broken (look again), else how many nanoseconds until the next
     *     judgement is due ({@link Long#MAX_VALUE}: none)
     */
    long judge(ZooKeeper zk, Request.Attempt a, int i, List<String> kids)
            throws KeeperException, InterruptedException, SessionGone {
        Request r = a.request;
        Duration staleAfter = r.staleAfter();
        LockKey key = r.key(i);
        Granule mine = r.granule(i);
        if (!mine.isStrong() && staleAfter == null) {
            return Long.MAX_VALUE;
        }
        List<String> queue = Layout.ordered(mine.isStrong() ? kids
                : SessionGone.await(Store.children(zk, store.full(Layout.queuePath(key)))));
        findForeign(zk, a, i, queue);
        queue.removeAll(a.judging.foreign);
        List<Target> targets = new ArrayList<>();
        List<String> finer = new ArrayList<>();
        int own = a.created.ownSequence(i);
        for (String name : queue) {
            Granule g = NodeNames.granule(name);
            if (g == null || mine.compatibleWith(g) || NodeNames.ofRequest(name, a.id)
                    || (mine.isStrong() && !Layout.before(NodeNames.sequence(name), own))) {
                continue;
            }
            if (!(Grants.inQueue(g, name, queue, Set.of()) instanceof Grants.Granted)) {
                continue; // waiting, not holding
            }
            if (g.isStrong()) {
                targets.add(new Target(key, name, queue));
            } else if (staleAfter != null && mine.isStrong()) {
                finer.add(name); // holds a key under ours
            }
        }
        targets.addAll(finerTargets(zk, key, finer));
        if (targets.isEmpty()) {
            return Long.MAX_VALUE;
        }
        List<CompletableFuture<Store.Data>> data = new ArrayList<>(targets.size());
        for (Target t : targets) {
            data.add(Store.data(zk, store.full(Layout.queuePath(t.at()) + "/" + t.name())));
        }
        List<Judged> judged = new ArrayList<>();
        boolean unsure = false;
        for (int c = 0; c < targets.size(); c++) {
            Store.Data d = SessionGone.await(data.get(c));
            if (d == null || d.stat().getCzxid() > a.created.zxid() || !NodeNames.ephemeral(d.stat())) {
                continue; // gone, came after us, or not Baton's
            }
            HolderRecord record = HolderRecord.parse(d.bytes());
            if (!record.granted() && record.keys() > 1) {
                unsure = true; // may be waiting for another of its keys: judged once it stamps its grant
                continue;
            }
            long limit = Long.MAX_VALUE;
            if (staleAfter != null) {
                limit = Math.min(limit, staleAfter.toMillis());
            }
            if (record.leaseTime() != null) {
                limit = Math.min(limit, record.leaseTime().toMillis() + LEASE_GRACE_MS);
            }
            if (limit != Long.MAX_VALUE) {
                judged.add(new Judged(targets.get(c), NodeNames.granule(targets.get(c).name()), d, record, limit));
            }
        }
        long next = unsure ? REJUDGE_NANOS : Long.MAX_VALUE;
        return judged.isEmpty() ? next : Math.min(next, age(zk, a, key, queue, judged));
    }

    /** Ages the judged holders on the ensemble's clock and breaks the first past its limit; as {@link #judge}. */
    private long age(ZooKeeper zk, Request.Attempt a, LockKey key, List<String> queue, List<Judged> judged)
            throws KeeperException, InterruptedException, SessionGone {
        Map<LockKey, Claims.Ancestors> ancestors = new HashMap<>();
        Map<LockKey, CompletableFuture<Stat>> queueStats = new HashMap<>();
        for (Judged j : judged) {
            LockKey at = j.target().at();
            if (!ancestors.containsKey(at)) {
                ancestors.put(at, Claims.Ancestors.read(store, zk, at));
                queueStats.put(at, Store.stat(zk, store.full(Layout.queuePath(at)))); // after the listing
            }
        }
        Store.Stamp now;
        try {
            now = store.now(zk);
        } catch (KeeperException e) {
            if (SessionGone.inDoubt(e.code()) || e.code() == KeeperException.Code.SESSIONEXPIRED) {
                throw e;
            }
            LOG.warn("Cannot learn the ensemble's time to judge the holders of {} ({}); not breaking", key, e.code());
            return TimeUnit.SECONDS.toNanos(5);
        }
        long next = Long.MAX_VALUE;
        for (Judged j : judged) {
            Target t = j.target();
            Stat stat = j.data().stat();
            boolean heldBack = !j.record().granted() && (ancestors.get(t.at()).holdsBack(j.granule(), stat.getCzxid())
                    || (t.queue() != queue
                        && !(Grants.inQueue(j.granule(), t.name(), t.queue(), Set.of()) instanceof Grants.Granted)));
            if (heldBack) {
                a.judging.firstSeen.remove(t.name()); // waiting, not holding
                next = Math.min(next, REJUDGE_NANOS);
                continue;
            }
            Stat queueStat = SessionGone.await(queueStats.get(t.at()));
            Long since = Claims.holdSince(j.record(), stat, now,
                    () -> Claims.grantedAtCreation(t.name(), stat, t.queue(), queueStat, ancestors.get(t.at())));
            if (since == null) {
                Request.FirstSeen f = a.judging.firstSeen.get(t.name());
                if (f == null || f.at().epoch() != now.epoch() || f.version() != stat.getVersion()) {
                    f = new Request.FirstSeen(now, stat.getVersion());
                    a.judging.firstSeen.put(t.name(), f);
                }
                since = f.at().millis();
            }
            long age = now.millis() - since;
            if (age >= j.limitMs()) {
                LOG.info("Breaking {}'s {} lock on {}: held {} ms on the ensemble's clock, limit {} ms",
                        j.record().holder(), j.granule(), t.at(), age, j.limitMs());
                breakRequest(zk, t.at(), t.name(), stat.getVersion(), j.record(), t.queue());
                return -1; // broken, or changed meanwhile: look again either way
            }
            next = Math.min(next, TimeUnit.MILLISECONDS.toNanos(j.limitMs() - age));
        }
        return next;
    }

    /**
     * The holders of finer keys behind intention nodes in {@code key}'s queue: each intention node
     * names a key its request asked for under {@code key}, whose queue holds the request's record.
     */
    private List<Target> finerTargets(ZooKeeper zk, LockKey key, List<String> intentions)
            throws KeeperException, InterruptedException, SessionGone {
        if (intentions.isEmpty()) {
            return List.of();
        }
        List<CompletableFuture<Store.Data>> pointers = new ArrayList<>(intentions.size());
        for (String name : intentions) {
            pointers.add(Store.data(zk, store.full(Layout.queuePath(key) + "/" + name)));
        }
        Map<LockKey, CompletableFuture<List<String>>> listings = new HashMap<>();
        List<LockKey> pointed = new ArrayList<>(intentions.size());
        for (CompletableFuture<Store.Data> p : pointers) {
            Store.Data d = SessionGone.await(p);
            LockKey q = d == null ? null : Layout.pointedKey(d.bytes());
            q = q != null && key.isAncestorOf(q) ? q : null; // names no key under this one: not followed
            pointed.add(q);
            if (q != null && !listings.containsKey(q)) {
                listings.put(q, Store.children(zk, store.full(Layout.queuePath(q))));
            }
        }
        Map<LockKey, List<String>> queues = new HashMap<>();
        List<Target> targets = new ArrayList<>();
        for (int n = 0; n < intentions.size(); n++) {
            LockKey q = pointed.get(n);
            if (q == null) {
                continue;
            }
            List<String> queue = queues.get(q);
            if (queue == null) {
                queue = Layout.ordered(SessionGone.await(listings.get(q)));
                queues.put(q, queue);
            }
            String id = NodeNames.request(intentions.get(n));
            for (String name : queue) {
                Granule g = NodeNames.granule(name);
                if (g != null && g.isStrong() && NodeNames.ofRequest(name, id)) {
                    targets.add(new Target(q, name, queue));
                }
            }
        }
        return targets;
    }

    /**
     * Looks, once per node, at the nodes of level {@code i}'s queue named like requests' and
     * earlier than the attempt's: one that is not ephemeral is foreign. Judging must leave them
     * out: a foreign node earlier than a holder would make the holder look held back, and it
     * would never be judged.
     */
    private void findForeign(ZooKeeper zk, Request.Attempt a, int i, List<String> queue)
            throws KeeperException, InterruptedException, SessionGone {
        LockKey key = a.request.key(i);
        Request.Judging j = a.judging;
        List<String> names = new ArrayList<>();
        List<CompletableFuture<Stat>> stats = new ArrayList<>();
        int own = a.created.ownSequence(i);
        for (String name : queue) {
            if (NodeNames.granule(name) != null && !j.ephemeral.contains(name) && !j.foreign.contains(name)
                    && Layout.before(NodeNames.sequence(name), own)) {
                names.add(name);
                stats.add(Store.stat(zk, store.full(Layout.queuePath(key) + "/" + name)));
            }
        }
        for (int n = 0; n < names.size(); n++) {
            Stat stat = SessionGone.await(stats.get(n));
            if (stat != null && NodeNames.ephemeral(stat)) {
                j.ephemeral.add(names.get(n));
            } else if (stat != null) {
                foreign(j, names.get(n), store.full(Layout.queuePath(key) + "/" + names.get(n)));
            }
        }
    }

    /**
     * Ignores, for the rest of the attempt, a node named like a request's that is not ephemeral:
     * Baton's queue nodes always are, and no session's end would remove this one.
     */
    static void foreign(Request.Judging j, String name, String path) {
        if (j.foreign.add(name)) {
            LOG.warn("Ignoring {}: named like a Baton request but not ephemeral, so not Baton's", path);
        }
    }

    /**
     * Breaks a request's hold on {@code key}: one multi deletes its nodes (its queue node on the
     * key only at the version judged, so a grant stamp or an extend in between stops the break)
     * and starts its lock delay on the key. A request naming this key only loses all its nodes, on
     * every level. A request naming several keys loses only its two nodes on this key: its
     * intention nodes on ancestors stay, standing for its other keys, until its service lets go of
     * them on hearing of the break (through the watch on its own node: {@link LossReason#BROKEN})
     * or its session ends.
     *
     * @return whether it was broken
     */
    boolean breakRequest(ZooKeeper zk, LockKey key, String name, int version, HolderRecord record,
                         List<String> queue) throws KeeperException, InterruptedException, SessionGone {
        String id = NodeNames.request(name);
        String target = store.full(Layout.queuePath(key) + "/" + name);
        List<String> index = SessionGone.await(Store.children(zk, store.full(Layout.strongPath(key))));
        List<String> doomed = new ArrayList<>();
        if (record.keys() == 1) { // unknown (0): as for several, only its nodes on this key
            Granule g = NodeNames.granule(name);
            doomed.addAll(SessionGone.await(store.findRequest(zk, Layout.parentsOf(Granule.plan(
                    Map.of(key, g == Granule.X ? LockMode.EXCLUSIVE : LockMode.SHARED))), id)));
            if (!doomed.contains(target)) {
                return false;
            }
        } else {
            doomed.add(target);
            for (String n : index) {
                if (NodeNames.ofRequest(n, id)) {
                    doomed.add(store.full(Layout.strongPath(key) + "/" + n));
                }
            }
        }
        List<Op> ops = new ArrayList<>();
        for (String path : doomed) {
            ops.add(Op.delete(path, path.equals(target) ? version : -1));
        }
        if (record.lockDelay() != null) { // the delay starts now, on the ensemble's clock
            byte[] delay = Long.toString(record.lockDelay().toMillis()).getBytes(StandardCharsets.UTF_8);
            for (Map.Entry<String, List<String>> level : Map.of(Layout.strongPath(key), index,
                    Layout.queuePath(key), queue).entrySet()) {
                for (String n : level.getValue()) {
                    if (id.equals(NodeNames.markerRequest(n))) {
                        ops.add(Op.setData(store.full(level.getKey() + "/" + n), delay, -1));
                    }
                }
            }
        }
        try {
            SessionGone.await(store.multi(zk, ops));
            return true;
        } catch (KeeperException e) {
            if (e.code() == KeeperException.Code.BADVERSION || e.code() == KeeperException.Code.NONODE) {
                return false; // stamped, extended, released or broken meanwhile
            }
            throw e;
        }
    }
}
