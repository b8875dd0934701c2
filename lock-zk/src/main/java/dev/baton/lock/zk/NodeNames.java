package dev.baton.lock.zk;

import dev.baton.lock.internal.Granule;
import org.apache.zookeeper.data.Stat;

/**
 * Which children of a key's {@code _q} and {@code _s} are Baton's, by their names alone (pure: no
 * I/O, never throws). Baton creates exactly two kinds of node there:
 *
 * <ul>
 *   <li>a queue node, ephemeral-sequential, named {@code <granule>-<request id>-<sequence>}: the
 *       granule one of {@code IS IX S SIX X}, the request id 16 lowercase hex digits, the sequence
 *       ZooKeeper's suffix ({@code %010d} of the parent's cversion, an int: ten digits, or a minus
 *       sign and nine or ten digits once it wrapped);</li>
 *   <li>a lock-delay marker, persistent, named {@code delay.<granule>.<request id>}.</li>
 * </ul>
 *
 * <p>Any other name is foreign: no request waits for it, inspection does not show it, breaking and
 * lock-delay clean-up never delete it. A name of either form can still belong to a node Baton did
 * not make; a queue-node name on a node that is not ephemeral ({@link #ephemeral}) is foreign too,
 * since Baton's queue nodes always are (see the package documentation).
 */
final class NodeNames {
    static final int ID_LENGTH = 16;
    static final String MARKER = "delay.";

    private NodeNames() {
    }

    /** The granule of a queue node's name; null if the name is not a queue node's. */
    static Granule granule(String name) {
        int dash = name.indexOf('-');
        if (dash <= 0) {
            return null;
        }
        Granule g = granuleNamed(name, 0, dash);
        int seq = dash + 1 + ID_LENGTH + 1;
        if (g == null || name.length() <= seq || name.charAt(seq - 1) != '-' || !isId(name, dash + 1)
                || !isSequence(name, seq)) {
            return null;
        }
        return g;
    }

    /** The request id of a queue node's name; null if the name is not a queue node's. */
    static String request(String name) {
        if (granule(name) == null) {
            return null;
        }
        int start = name.indexOf('-') + 1;
        return name.substring(start, start + ID_LENGTH);
    }

    /**
     * The sequence number of a queue node's name.
     *
     * @throws IllegalArgumentException if the name is not a queue node's
     */
    static int sequence(String name) {
        if (granule(name) == null) {
            throw new IllegalArgumentException("Not a queue node name: " + clip(name));
        }
        return Integer.parseInt(name.substring(name.indexOf('-') + 1 + ID_LENGTH + 1));
    }

    /** Whether {@code name} is a queue node's name of request {@code requestId}. */
    static boolean ofRequest(String name, String requestId) {
        int dash = name.indexOf('-');
        return dash > 0 && name.startsWith(requestId, dash + 1) && granule(name) != null;
    }

    /** The granule of a lock-delay marker's name; null if the name is not a marker's. */
    static Granule markerGranule(String name) {
        if (!name.startsWith(MARKER)) {
            return null;
        }
        int dot = name.indexOf('.', MARKER.length());
        if (dot < 0 || name.length() != dot + 1 + ID_LENGTH || !isId(name, dot + 1)) {
            return null;
        }
        return granuleNamed(name, MARKER.length(), dot);
    }

    /** The request id of a marker's name; null if the name is not a marker's. */
    static String markerRequest(String name) {
        return markerGranule(name) == null ? null : name.substring(name.length() - ID_LENGTH);
    }

    /**
     * Whether a node is ephemeral, as Baton's queue nodes are: false for persistent and container
     * nodes, which no session's end removes. (A TTL node's owner field is not told apart from a
     * session's: such a node counts as ephemeral, which errs on the side of waiting for it.)
     */
    static boolean ephemeral(Stat stat) {
        long owner = stat.getEphemeralOwner();
        return owner != 0 && owner != Long.MIN_VALUE; // Long.MIN_VALUE: ZooKeeper's mark of a container
    }

    /** {@code s}, cut to 100 characters for a message. */
    static String clip(String s) {
        return s.length() <= 100 ? s : s.substring(0, 100) + "...(" + s.length() + " characters)";
    }

    private static Granule granuleNamed(String s, int from, int to) {
        switch (s.substring(from, to)) {
            case "IS": return Granule.IS;
            case "IX": return Granule.IX;
            case "S": return Granule.S;
            case "SIX": return Granule.SIX;
            case "X": return Granule.X;
            default: return null;
        }
    }

    private static boolean isId(String s, int from) {
        if (s.length() < from + ID_LENGTH) {
            return false;
        }
        for (int i = from; i < from + ID_LENGTH; i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code s} from {@code from} on is exactly what ZooKeeper appends: {@code %010d} of an int. */
    private static boolean isSequence(String s, int from) {
        int length = s.length() - from;
        boolean negative = length > 0 && s.charAt(from) == '-';
        if (length != 10 && !(negative && length == 11)) {
            return false;
        }
        long value = 0;
        for (int i = negative ? from + 1 : from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
            value = value * 10 + (c - '0');
        }
        if (negative) {
            // "-000000005" pads to ten characters; only values below -999999999 take eleven, unpadded
            return value > 0 && value <= -(long) Integer.MIN_VALUE && (length == 10 || s.charAt(from + 1) != '0');
        }
        return value <= Integer.MAX_VALUE;
    }
}
