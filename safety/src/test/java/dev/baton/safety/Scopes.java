package dev.baton.safety;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Lease specs and the leaf scopes they cover: the text forms the workers, the store server, the
 * injector and the checker share. Pure functions.
 *
 * <p>A <em>spec</em> names what one lease holds: its keys with their modes, comma-separated, a
 * shared key marked {@code =S} ({@code acct/a=S,acct/b/1}); a key without a mark is exclusive, so a
 * flat key ({@code k0}) or the leader scope is a spec of one exclusive key. A spec has no spaces.
 *
 * <p>The fenced store has one register per <em>leaf</em> of {@link Workload#TREE} (a key with no
 * key of the tree under it); a key outside the tree (a flat key, the leader scope) is a leaf of its
 * own. A lease covers every leaf under (or equal to) one of its keys, exclusively if one of the
 * keys covering it is exclusive, else shared. Two leases conflict exactly when some leaf is covered
 * by both, exclusively by at least one: every key of the tree has a leaf under it, so this is
 * {@link dev.baton.lock.LockMode}'s rule (equal or nested keys, at least one exclusive).
 */
final class Scopes {
    /** One key of a spec. */
    record Part(String key, boolean shared) {
        @Override
        public String toString() {
            return shared ? key + "=S" : key;
        }
    }

    private Scopes() {
    }

    /** The parts of {@code spec}, in its order. */
    static List<Part> parse(String spec) {
        List<Part> parts = new ArrayList<>();
        for (String p : spec.split(",")) {
            if (p.endsWith("=S")) {
                parts.add(new Part(p.substring(0, p.length() - 2), true));
            } else if (p.endsWith("=X")) {
                parts.add(new Part(p.substring(0, p.length() - 2), false));
            } else {
                parts.add(new Part(p, false));
            }
        }
        return parts;
    }

    /** The spec of {@code parts}, in their order. */
    static String format(List<Part> parts) {
        StringBuilder b = new StringBuilder();
        for (Part p : parts) {
            b.append(b.length() == 0 ? "" : ",").append(p);
        }
        return b.toString();
    }

    /** Whether key {@code a} is {@code b} or an ancestor of it ({@code acct} of {@code acct/a/1}). */
    static boolean covers(String a, String b) {
        return b.equals(a) || b.startsWith(a + "/");
    }

    /** Whether two keys are equal or nested. */
    static boolean related(String a, String b) {
        return covers(a, b) || covers(b, a);
    }

    /** Whether leases of specs {@code a} and {@code b} conflict: nested or equal keys, one of them exclusive. */
    static boolean conflict(String a, String b) {
        for (Part p : parse(a)) {
            for (Part q : parse(b)) {
                if ((!p.shared() || !q.shared()) && related(p.key(), q.key())) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * How {@code spec} covers the register {@code leaf}: null if it does not, TRUE if only
     * shared, FALSE if exclusively.
     */
    static Boolean sharedAt(String spec, String leaf) {
        Boolean shared = null;
        for (Part p : parse(spec)) {
            if (covers(p.key(), leaf)) {
                shared = (shared == null || shared) && p.shared();
            }
        }
        return shared;
    }

    /** The leaves of {@link Workload#TREE} under (or equal to) {@code key}; the key itself if none. */
    static List<String> leavesUnder(String key) {
        List<String> out = new ArrayList<>();
        for (String k : Workload.TREE) {
            if (covers(key, k) && Workload.TREE.stream().noneMatch(c -> !c.equals(k) && covers(k, c))) {
                out.add(k);
            }
        }
        if (out.isEmpty()) {
            out.add(key);
        }
        return out;
    }

    /** Every leaf {@code spec} covers, by name, with whether only shared (TRUE) or exclusively (FALSE). */
    static Map<String, Boolean> leaves(String spec) {
        Map<String, Boolean> out = new TreeMap<>();
        for (Part p : parse(spec)) {
            for (String leaf : leavesUnder(p.key())) {
                out.merge(leaf, p.shared(), (x, y) -> x && y);
            }
        }
        return out;
    }

    /** The depth of a key: its number of segments. */
    static int depth(String key) {
        return key.split("/").length;
    }
}
