package dev.baton.lock;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The name of a lock: an immutable path of segments, coarse to fine, such as
 * {@code billing/account/42}.
 *
 * <p>A segment is 1 to 128 characters of ASCII letters, digits and {@code . _ - : @}, and does
 * not start with {@code .} or {@code _} (those names are reserved for Baton's own bookkeeping).
 * A key has 1 to 16 segments. Every factory method rejects anything else with an
 * {@link IllegalArgumentException} whose message names the offending segment and the rule, so a
 * bad name never reaches the lock store.
 *
 * <p>A lock on a key covers every key under it: an exclusive lock on {@code billing} excludes
 * locks on {@code billing/account/42}, while {@code billing/account/42} and
 * {@code billing/account/43} are independent (see {@link LockService}).
 *
 * <p>Instances are immutable and thread-safe; {@link #equals} and {@link #hashCode} compare the
 * segments.
 */
public final class LockKey {
    /** The most segments a key may have. */
    public static final int MAX_DEPTH = 16;
    /** The longest a single segment may be. */
    public static final int MAX_SEGMENT_LENGTH = 128;

    static final String SEGMENT_RULE = "a segment is 1-" + MAX_SEGMENT_LENGTH
            + " characters of ASCII letters, digits and . _ - : @, and must not start with . or _";

    private final List<String> segments;
    private final String path;

    private LockKey(List<String> segments) {
        this.segments = List.copyOf(segments);
        this.path = String.join("/", this.segments);
    }

    /**
     * Builds a key from its segments, coarse to fine: {@code LockKey.of("billing", "account", "42")}.
     *
     * @throws IllegalArgumentException if a segment breaks the naming rule or there are more than
     *     {@value #MAX_DEPTH} segments
     * @throws NullPointerException if any argument is null
     */
    public static LockKey of(String first, String... more) {
        Objects.requireNonNull(first, "lock key segment must not be null");
        Objects.requireNonNull(more, "lock key segments must not be null");
        List<String> all = new ArrayList<>(1 + more.length);
        all.add(first);
        all.addAll(Arrays.asList(more));
        return of(all);
    }

    /**
     * Builds a key from a list of segments, coarse to fine.
     *
     * @throws IllegalArgumentException if the list is empty, longer than {@value #MAX_DEPTH}, or a
     *     segment breaks the naming rule
     * @throws NullPointerException if the list or a segment is null
     */
    public static LockKey of(List<String> segments) {
        Objects.requireNonNull(segments, "lock key segments must not be null");
        String shown = describe(segments);
        if (segments.isEmpty()) {
            throw new IllegalArgumentException("Invalid lock key " + shown + ": a key has at least one segment");
        }
        if (segments.size() > MAX_DEPTH) {
            throw new IllegalArgumentException("Invalid lock key " + shown + ": it has " + segments.size()
                    + " segments, a key has at most " + MAX_DEPTH);
        }
        for (String segment : segments) {
            checkSegment(segment, shown);
        }
        return new LockKey(segments);
    }

    /**
     * Parses the {@code /}-separated form that {@link #toString()} produces, such as
     * {@code "billing/account/42"}. Leading, trailing and doubled slashes are rejected (they
     * would make an empty segment).
     *
     * @throws IllegalArgumentException if the text is not a valid key
     * @throws NullPointerException if {@code text} is null
     */
    public static LockKey parse(String text) {
        Objects.requireNonNull(text, "lock key text must not be null");
        return of(Arrays.asList(text.split("/", -1)));
    }

    /** The segments, coarse to fine; an unmodifiable list. */
    public List<String> segments() {
        return segments;
    }

    /** The number of segments, 1 to {@value #MAX_DEPTH}. */
    public int depth() {
        return segments.size();
    }

    /** The last (finest) segment: {@code "42"} for {@code billing/account/42}. */
    public String name() {
        return segments.get(segments.size() - 1);
    }

    /** The key one level coarser, or empty for a key of depth 1. */
    public Optional<LockKey> parent() {
        return depth() == 1 ? Optional.empty() : Optional.of(new LockKey(segments.subList(0, depth() - 1)));
    }

    /**
     * The key one level finer: {@code LockKey.of("billing").child("account")}.
     *
     * @throws IllegalArgumentException if the segment breaks the naming rule or the key is
     *     already {@value #MAX_DEPTH} deep
     */
    public LockKey child(String segment) {
        Objects.requireNonNull(segment, "lock key segment must not be null");
        List<String> all = new ArrayList<>(segments);
        all.add(segment);
        return of(all);
    }

    /**
     * Whether this key is a strict ancestor of {@code other}: {@code billing} is an ancestor of
     * {@code billing/account/42}; a key is not its own ancestor.
     */
    public boolean isAncestorOf(LockKey other) {
        Objects.requireNonNull(other, "other must not be null");
        return other.depth() > depth() && other.segments.subList(0, depth()).equals(segments);
    }

    /** The {@code /}-separated form, such as {@code billing/account/42}; {@link #parse} reads it back. */
    @Override
    public String toString() {
        return path;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LockKey && ((LockKey) o).path.equals(path);
    }

    @Override
    public int hashCode() {
        return path.hashCode();
    }

    private static void checkSegment(String segment, String shownKey) {
        if (segment == null) {
            throw new NullPointerException("lock key " + shownKey + " has a null segment");
        }
        boolean ok = !segment.isEmpty() && segment.length() <= MAX_SEGMENT_LENGTH
                && segment.charAt(0) != '.' && segment.charAt(0) != '_';
        for (int i = 0; ok && i < segment.length(); i++) {
            ok = allowed(segment.charAt(i));
        }
        if (!ok) {
            throw new IllegalArgumentException("Invalid lock key segment \"" + abbreviate(segment) + "\" in key "
                    + shownKey + ": " + SEGMENT_RULE);
        }
    }

    private static boolean allowed(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '.' || c == '_' || c == '-' || c == ':' || c == '@';
    }

    private static String describe(List<String> segments) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < segments.size(); i++) {
            if (i > 0) {
                b.append('/');
            }
            b.append(segments.get(i));
            if (b.length() > 200) {
                b.setLength(200);
                b.append("...");
                break;
            }
        }
        return b.append('"').toString();
    }

    private static String abbreviate(String s) {
        return s.length() <= 140 ? s : s.substring(0, 140) + "...(" + s.length() + " characters)";
    }
}
