package dev.baton.lock.zk;

import dev.baton.lock.internal.Granule;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The grant rule, and its only copy: at one level of the key hierarchy, is a request's node
 * granted, which node must it wait for, or may a lock delay hold it back. Pure: it reads names
 * (and, at an intention level, creation zxids the caller read), never ZooKeeper, and never
 * throws on a foreign name. Acquire, inspection, breaking and lock delay all ask it.
 *
 * <p>A node is granted at a level when no earlier node there holds an incompatible granule
 * ({@link Granule#compatibleWith}). Two listings decide a level:
 * <ul>
 *   <li>{@link #inQueue}: for a strong granule, the key's queue {@code _q}, where the node itself
 *       is listed: earlier means an earlier sequence ({@link Layout#before}, across the wrap). The
 *       node waits for the latest earlier incompatible one, as Curator's lock waits for its
 *       predecessor.</li>
 *   <li>{@link #inIndex}: for an intention, the key's strong index {@code _s}, which lists only
 *       requests on the key itself and not the node: earlier means a smaller creation zxid,
 *       which the caller reads. Index nodes are in creation order, so the first incompatible one
 *       still there decides: made before the node, it blocks; after, nothing does.</li>
 * </ul>
 * With no blocker, a lock-delay marker at the level whose request has left (lost or broken) and
 * whose granule is incompatible may still hold the node back: {@link HeldBack} names them, and
 * {@link LockDelay} decides on their stats whether their delay still runs. Both verdicts list
 * every marker of a request that left, so the caller reads the listing for markers once.
 *
 * <p>Nodes named like requests' that are not ephemeral are foreign ({@link NodeNames}): the
 * caller passes those it found, and they never block.
 */
final class Grants {
    private Grants() {
    }

    /** What the rule says about a node at one level. */
    sealed interface Verdict permits Granted, WaitFor, HeldBack, Missing, NeedZxids { }

    /**
     * Nothing earlier and incompatible is at the level, and no marker of a request that left
     * conflicts; {@code left} lists the level's markers of requests that left (compatible ones,
     * still to be retired once their delay ends), usually none.
     */
    record Granted(List<String> left) implements Verdict { }

    /** The node must wait for {@code name} (in the listing) to go. */
    record WaitFor(String name) implements Verdict { }

    /**
     * Nothing earlier blocks, but {@code markers} of requests that left conflict: their delay may
     * still run. {@code left} lists every marker of a request that left the level, these included.
     */
    record HeldBack(List<String> markers, List<String> left) implements Verdict { }

    /** The node is not in its own queue: only its session's end deletes it. */
    record Missing() implements Verdict { }

    /** At an intention level: the creation zxids of these index nodes are needed first. */
    record NeedZxids(List<String> names) implements Verdict { }

    private static final Granted GRANTED = new Granted(List.of());
    private static final Missing MISSING = new Missing();

    /** What the caller read of an index node: gone since the listing, or its creation zxid and whether it is ephemeral. */
    record Read(boolean exists, long czxid, boolean ephemeral) {
        static final Read GONE = new Read(false, 0, false);
    }

    /**
     * The verdict for queue node {@code own} (a name in {@code queue}) of granule {@code mine}.
     *
     * @param queue the key's queue as listed, any order
     * @param foreign names in it known not to be Baton's
     */
    static Verdict inQueue(Granule mine, String own, List<String> queue, Set<String> foreign) {
        int ownSeq = NodeNames.sequence(own);
        String blocker = null;
        int blockerSeq = 0;
        boolean listed = false;
        for (String name : queue) {
            if (name.equals(own)) {
                listed = true;
                continue;
            }
            Granule g = NodeNames.granule(name);
            if (g == null || mine.compatibleWith(g) || foreign.contains(name)) {
                continue;
            }
            int seq = NodeNames.sequence(name);
            if (Layout.before(seq, ownSeq) && (blocker == null || Layout.before(blockerSeq, seq))) {
                blocker = name;
                blockerSeq = seq;
            }
        }
        if (!listed) {
            return MISSING;
        }
        return blocker != null ? new WaitFor(blocker) : afterBlockers(mine, queue);
    }

    /**
     * The verdict at an intention level for a node of granule {@code mine} created at
     * {@code ownZxid}.
     *
     * @param index the key's strong index as listed, any order
     * @param read what the caller read of index nodes, by name; a name asked for in
     *     {@link NeedZxids} and then absent from the map is asked for again
     */
    static Verdict inIndex(Granule mine, long ownZxid, List<String> index, Map<String, Read> read) {
        List<String> unread = new ArrayList<>();
        for (String name : Layout.ordered(index)) {
            Granule g = NodeNames.granule(name);
            if (g == null || mine.compatibleWith(g)) {
                continue;
            }
            Read r = read.get(name);
            if (r == null) {
                unread.add(name);
                continue;
            }
            if (!r.exists() || !r.ephemeral()) {
                continue; // gone since the listing, or not Baton's
            }
            if (r.czxid() < ownZxid) {
                return new WaitFor(name);
            }
            break; // made after the node, as is every later one; an earlier unread one may still block
        }
        return unread.isEmpty() ? afterBlockers(mine, index) : new NeedZxids(unread);
    }

    /** The incompatible request nodes of an index whose creation zxids {@link #inIndex} may need. */
    static List<String> incompatible(Granule mine, List<String> index) {
        List<String> names = new ArrayList<>();
        for (String name : index) {
            Granule g = NodeNames.granule(name);
            if (g != null && !mine.compatibleWith(g)) {
                names.add(name);
            }
        }
        return names;
    }

    /** Granted, or held back by conflicting markers of requests that left the level. */
    private static Verdict afterBlockers(Granule mine, List<String> listing) {
        List<String> left = leftMarkers(listing);
        if (left.isEmpty()) {
            return GRANTED;
        }
        List<String> conflicting = new ArrayList<>(left.size());
        for (String marker : left) {
            if (!mine.compatibleWith(NodeNames.markerGranule(marker))) {
                conflicting.add(marker);
            }
        }
        return conflicting.isEmpty() ? new Granted(List.copyOf(left))
                : new HeldBack(List.copyOf(conflicting), List.copyOf(left));
    }

    /** The lock-delay markers in a listing whose request has no node in it any more (lost or broken). */
    static List<String> leftMarkers(List<String> listing) {
        List<String> markers = null;
        Set<String> present = null;
        for (String name : listing) {
            String id = NodeNames.markerRequest(name);
            if (id == null) {
                continue;
            }
            if (present == null) {
                present = Layout.present(listing);
            }
            if (!present.contains(id)) {
                if (markers == null) {
                    markers = new ArrayList<>(1);
                }
                markers.add(name);
            }
        }
        return markers == null ? List.of() : markers;
    }
}
