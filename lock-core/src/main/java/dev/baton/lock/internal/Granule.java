package dev.baton.lock.internal;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Multi-granularity locking (Gray et al.): the mode a request holds at one level of the key
 * hierarchy. A request for {@link LockMode#SHARED} on a key takes {@link #S} there and
 * {@link #IS} on every ancestor; {@link LockMode#EXCLUSIVE} takes {@link #X} and {@link #IX}.
 * A request over several keys takes, at each level, the {@link #join} of what its keys need there
 * ({@code S} on {@code billing} with {@code X} on {@code billing/account/42} is {@link #SIX} on
 * {@code billing}). Two requests conflict exactly when some level holds incompatible modes of
 * both. Not part of Baton's API.
 *
 * <pre>
 *          IS   IX   S    SIX  X
 *     IS   ok   ok   ok   ok   -
 *     IX   ok   ok   -    -    -
 *     S    ok   -    ok   -    -
 *     SIX  ok   -    -    -    -
 *     X    -    -    -    -    -
 * </pre>
 */
public enum Granule {
    /** Intention shared: some finer key is held shared. */
    IS,
    /** Intention exclusive: some finer key is held exclusively. */
    IX,
    /** Shared on this key and everything under it. */
    S,
    /** Shared on this key and everything under it, and some finer key exclusively. */
    SIX,
    /** Exclusive on this key and everything under it. */
    X;

    // rows and columns in declaration order
    private static final boolean[][] COMPATIBLE = {
        {true, true, true, true, false},
        {true, true, false, false, false},
        {true, false, true, false, false},
        {true, false, false, false, false},
        {false, false, false, false, false},
    };

    /** Whether a holder of this mode and a holder of {@code other} may hold the same key at once. */
    public boolean compatibleWith(Granule other) {
        return COMPATIBLE[ordinal()][other.ordinal()];
    }

    /** Whether this mode covers the key itself (S, SIX, X), rather than only finer keys. */
    public boolean isStrong() {
        return this == S || this == SIX || this == X;
    }

    /** The weakest mode that grants everything this one and {@code other} grant. */
    public Granule join(Granule other) {
        if (this == other) {
            return this;
        }
        if (this == X || other == X) {
            return X;
        }
        if (this == IS) {
            return other;
        }
        if (other == IS) {
            return this;
        }
        return SIX; // the remaining pairs: IX+S, IX+SIX, S+SIX
    }

    /** The mode taken on the key itself. */
    public static Granule of(LockMode mode) {
        return mode == LockMode.EXCLUSIVE ? X : S;
    }

    /** The intention taken on every ancestor of a key locked in {@code mode}. */
    public static Granule intentionOf(LockMode mode) {
        return mode == LockMode.EXCLUSIVE ? IX : IS;
    }

    /**
     * Every level a request touches, with its mode there, coarse levels first (by depth, then by
     * name): the keys asked for and all their ancestors.
     */
    public static Map<LockKey, Granule> plan(Map<LockKey, LockMode> keys) {
        Map<LockKey, Granule> levels = new TreeMap<>(ORDER);
        for (Map.Entry<LockKey, LockMode> e : keys.entrySet()) {
            levels.merge(e.getKey(), of(e.getValue()), Granule::join);
            Granule intention = intentionOf(e.getValue());
            for (LockKey k = e.getKey().parent().orElse(null); k != null; k = k.parent().orElse(null)) {
                levels.merge(k, intention, Granule::join);
            }
        }
        return new LinkedHashMap<>(levels);
    }

    /**
     * Whether two requests conflict: some level both touch holds modes of the two that are
     * incompatible. The rule every implementation grants by.
     */
    public static boolean conflict(Map<LockKey, Granule> a, Map<LockKey, Granule> b) {
        Map<LockKey, Granule> small = a.size() <= b.size() ? a : b;
        Map<LockKey, Granule> large = small == a ? b : a;
        for (Map.Entry<LockKey, Granule> level : small.entrySet()) {
            Granule there = large.get(level.getKey());
            if (there != null && !there.compatibleWith(level.getValue())) {
                return true;
            }
        }
        return false;
    }

    /** Coarse before fine, then by name: the order of {@link #plan} and of a lease's keys. */
    public static final Comparator<LockKey> ORDER =
            Comparator.comparingInt(LockKey::depth).thenComparing(LockKey::toString);

    /**
     * Checks an {@code acquireAll} request and returns its keys in {@link #ORDER}.
     *
     * @throws NullPointerException naming a null argument, key or mode
     * @throws IllegalArgumentException if there are no keys or more than {@code max}
     */
    public static Map<LockKey, LockMode> checkAll(Map<LockKey, LockMode> keys, int max) {
        Objects.requireNonNull(keys, "keys must not be null");
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("acquireAll needs at least one key, got none");
        }
        if (keys.size() > max) {
            throw new IllegalArgumentException("acquireAll takes at most " + max + " keys at once, got "
                    + keys.size());
        }
        List<LockKey> sorted = new ArrayList<>(keys.size());
        for (Map.Entry<LockKey, LockMode> e : keys.entrySet()) {
            Objects.requireNonNull(e.getKey(), "keys must not contain a null key");
            Objects.requireNonNull(e.getValue(), "the mode of " + e.getKey() + " must not be null");
            sorted.add(e.getKey());
        }
        sorted.sort(ORDER);
        Map<LockKey, LockMode> ordered = new LinkedHashMap<>();
        for (LockKey k : sorted) {
            ordered.put(k, keys.get(k));
        }
        return ordered;
    }
}
