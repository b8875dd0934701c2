package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.internal.Granule;
import org.apache.curator.utils.ZKPaths;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Where Baton's znodes live and in what order they were made; pure (no I/O, never throws on a
 * foreign name). Paths are relative to the service's namespace ({@link Store#full} prefixes it).
 *
 * <p>Key {@code billing/account/42} is the znode {@code /locks/billing/account/42} (a CONTAINER,
 * as are all parents); its reserved child {@code _q} holds one ephemeral-sequential node per
 * request that touches the key, named {@code <granule>-<request id>-<sequence>}; its reserved child
 * {@code _s} holds a second node of the same form per request holding a strong granule
 * ({@code S}, {@code SIX}, {@code X}) on the key. Lock-delay markers ({@code delay.<granule>.<id>})
 * sit beside a request's nodes. Which names are Baton's is {@link NodeNames}' rule.
 */
final class Layout {
    static final String LOCKS = "/locks";
    static final String QUEUE = "_q";
    static final String STRONG = "_s";
    /** Where services' clock nodes live: ephemeral, so each goes with its session. */
    static final String CLOCKS = LOCKS + "/_t";

    private Layout() {
    }

    /** The key's znode. */
    static String keyPath(LockKey key) {
        return LOCKS + "/" + key;
    }

    /** The key's queue: every request touching it. */
    static String queuePath(LockKey key) {
        return keyPath(key) + "/" + QUEUE;
    }

    /** The key's strong index: the requests holding a strong granule on it. */
    static String strongPath(LockKey key) {
        return keyPath(key) + "/" + STRONG;
    }

    /**
     * The path whose children decide a level: the queue for a strong granule; for an intention
     * the strong index, which lists only requests on the key itself (few, however many finer keys
     * are held).
     */
    static String listed(LockKey key, Granule granule) {
        return granule.isStrong() ? queuePath(key) : strongPath(key);
    }

    /**
     * The parents a request's nodes go in, in enqueue order: each level's queue, and its strong
     * index for a strong granule.
     */
    static List<String> parentsOf(Map<LockKey, Granule> plan) {
        List<String> parents = new ArrayList<>();
        for (Map.Entry<LockKey, Granule> level : plan.entrySet()) {
            parents.add(queuePath(level.getKey()));
            if (level.getValue().isStrong()) {
                parents.add(strongPath(level.getKey()));
            }
        }
        return parents;
    }

    /** The nodes whose parent is {@code parentOf} one of {@code keys}, in order. */
    static List<String> nodesIn(List<String> nodes, Collection<LockKey> keys, Function<LockKey, String> parentOf) {
        Set<String> parents = new HashSet<>();
        for (LockKey key : keys) {
            parents.add(parentOf.apply(key));
        }
        List<String> in = new ArrayList<>();
        for (String node : nodes) {
            if (parents.contains(ZKPaths.getPathAndNode(node).getPath())) {
                in.add(node);
            }
        }
        return in;
    }

    // ----------------------------------------------------------------------------- order

    /**
     * Creation order of sequence numbers from one life of a parent, across the int wrap-around:
     * ZooKeeper formats the parent's cversion, an int, which turns negative after 2^31 creates in
     * one life of a busy queue (the live nodes of one queue span far fewer than 2^31 creates).
     * Never compare sequences as plain numbers.
     */
    static final Comparator<Integer> SEQUENCE_ORDER = (a, b) -> Integer.signum(a - b);

    /** Whether sequence {@code a} was created before {@code b} in one life of their parent. */
    static boolean before(int a, int b) {
        return a - b < 0;
    }

    /** A listing sorted into creation order: queue nodes by sequence, then markers and foreign names. */
    static List<String> ordered(List<String> listing) {
        List<String> sorted = new ArrayList<>(listing);
        sorted.sort((a, b) -> {
            boolean qa = NodeNames.granule(a) != null;
            boolean qb = NodeNames.granule(b) != null;
            if (qa != qb) {
                return qa ? -1 : 1;
            }
            return qa ? SEQUENCE_ORDER.compare(NodeNames.sequence(a), NodeNames.sequence(b)) : a.compareTo(b);
        });
        return sorted;
    }

    /** The request ids with a queue node (not a marker) in a listing. */
    static Set<String> present(List<String> listing) {
        Set<String> ids = new HashSet<>();
        for (String name : listing) {
            String id = NodeNames.request(name);
            if (id != null) {
                ids.add(id);
            }
        }
        return ids;
    }

    // ---------------------------------------------------------------------------- markers

    /**
     * A lock-delay marker's name: a persistent node beside the request's node in the queue of every
     * level it touches (and in the strong index of its strong levels), kept while the request
     * lives and left behind when it is lost. Not a queue node's name.
     */
    static String markerName(Granule granule, String requestId) {
        return NodeNames.MARKER + granule + "." + requestId;
    }

    /** A request's lock-delay markers: each level's queue, and strong index for strong levels. */
    static List<String> markerPaths(Map<LockKey, Granule> plan, String requestId) {
        List<String> paths = new ArrayList<>();
        for (Map.Entry<LockKey, Granule> level : plan.entrySet()) {
            String name = "/" + markerName(level.getValue(), requestId);
            paths.add(queuePath(level.getKey()) + name);
            if (level.getValue().isStrong()) {
                paths.add(strongPath(level.getKey()) + name);
            }
        }
        return paths;
    }

    // -------------------------------------------------------------------------- intentions

    /**
     * An intention node's data: a key asked for under {@code level} that needs exactly this
     * intention (an exclusive key for IX, a shared one for IS), so a coarse waiter that breaks it
     * frees what conflicts with it; empty if the plan has none.
     */
    static byte[] pointer(LockKey level, Granule intention, Map<LockKey, Granule> plan) {
        LockKey any = null;
        for (Map.Entry<LockKey, Granule> e : plan.entrySet()) {
            if (e.getValue().isStrong() && level.isAncestorOf(e.getKey())) {
                Granule needs = e.getValue() == Granule.S ? Granule.IS : Granule.IX;
                if (needs == intention) {
                    return e.getKey().toString().getBytes(StandardCharsets.UTF_8);
                }
                any = any == null ? e.getKey() : any;
            }
        }
        return any == null ? new byte[0] : any.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The key an intention node's data names, or null if it names none. */
    static LockKey pointedKey(byte[] data) {
        if (data == null || data.length == 0) {
            return null;
        }
        try {
            return LockKey.parse(new String(data, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException notAKey) {
            return null;
        }
    }
}
