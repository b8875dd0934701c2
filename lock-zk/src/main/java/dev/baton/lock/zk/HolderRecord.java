package dev.baton.lock.zk;

import dev.baton.lock.LockService;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;

/**
 * Who made a lock request, as recorded in the data of its queue nodes on the keys it asked for
 * (intention nodes on ancestors carry no record). UTF-8 text, one {@code name=value} per line,
 * after a first line naming the format and its version:
 *
 * <pre>
 * baton-lock/1
 * holder=billing-3:4711:9f2c1a
 * host=billing-3
 * pid=4711
 * thread=invoice-worker-2
 * leaseMs=30000
 * keys=1
 * lockDelayMs=
 * hostTime=1795000000000
 * granted=false
 * heldMs=0
 * </pre>
 *
 * {@code leaseMs} is the lease time (empty for none), rewritten by {@code extend};
 * {@code keys} how many keys the request names; {@code lockDelayMs} its lock delay (empty for
 * none); {@code hostTime} the requesting host's wall clock in epoch milliseconds when it wrote the
 * record, for people reading logs only: Baton never compares it with any other clock.
 * {@code granted=true} is written (one {@code setData}) half a second into a hold granted after
 * waiting, or naming several keys, with {@code heldMs} how long it had been held then (on the
 * holder's monotonic clock: a duration, not a time), and by {@code extend} (with
 * {@code heldMs=0}): from then on the node's mtime, stamped by the ensemble, minus
 * {@code heldMs} is when the current hold began; for a request granted on its first look the
 * ctime is. The token is not in the data: it is the node's czxid (all of a request's nodes share it).
 *
 * <p><b>What a record can hold.</b> A value never contains a line break (written as a space), a
 * text value is at most {@value #MAX_TEXT} characters (cut at a character boundary), a duration
 * is whole milliseconds up to {@value #MAX_MILLIS} (a longer one is written as that, about 317
 * years), {@code keys} is 1 to {@link LockService#MAX_KEYS_PER_REQUEST}. The constructor brings
 * every value within these bounds, so a record reads back equal to what was written.
 *
 * <p><b>Data Baton cannot read.</b> {@link #parse} never fails. Data whose first line is not
 * {@value #FORMAT} (another version, plain text, binary bytes, nothing) reads as {@link #UNKNOWN};
 * within a record, names it does not know are ignored, and a field that is missing, malformed or
 * out of range is unknown: empty text, pid {@code -1}, {@code keys} 0, no lease time, no lock
 * delay, {@code hostTime} 0, {@code granted=false}, {@code heldMs} 0; a duration above
 * {@value #MAX_MILLIS} counts as {@value #MAX_MILLIS}. Each unknown errs on the late side of
 * breaking: no lease time means only a waiter's {@code staleAfter} breaks the holder, a hold is
 * dated from its stamp, and an unknown {@code keys} breaks the request on this key only. Bytes
 * that are not UTF-8 read as U+FFFD. The request itself still shows: its mode comes from the
 * node's name, its token from the node's czxid, whether it holds from the queue.
 */
record HolderRecord(String holder, String host, long pid, String thread, Duration leaseTime, int keys,
                    Duration lockDelay, long hostTime, boolean granted, long heldMs) {
    static final String FORMAT = "baton-lock/1";
    /** The longest text value, in characters. */
    static final int MAX_TEXT = 256;
    /** The longest duration a record holds, in milliseconds: about 317 years. */
    static final long MAX_MILLIS = 10_000_000_000_000L;
    /** A record of which nothing is known: what {@link #parse} makes of data it cannot read. */
    private static final byte[] HEAD = (FORMAT + "\n").getBytes(StandardCharsets.UTF_8);
    static final HolderRecord UNKNOWN = new HolderRecord("", "", -1, "", null, 0, null, 0, false, 0);

    /** Brings every value within what the text form holds (see the class documentation). */
    HolderRecord {
        holder = text(holder);
        host = text(host);
        thread = text(thread);
        pid = pid < 0 ? -1 : pid;
        leaseTime = bounded(leaseTime);
        keys = keys < 1 || keys > LockService.MAX_KEYS_PER_REQUEST ? 0 : keys;
        lockDelay = bounded(lockDelay);
        heldMs = heldMs < 0 || heldMs > MAX_MILLIS ? 0 : heldMs;
    }

    /**
     * This record as rewritten at a grant or an extend, with {@code leaseTime}, the host's time
     * now, and how long the hold has lasted (on the holder's monotonic clock) when written.
     */
    HolderRecord stamped(Duration newLeaseTime, long newHostTime, long newHeldMs) {
        return new HolderRecord(holder, host, pid, thread, newLeaseTime, keys, lockDelay, newHostTime, true, newHeldMs);
    }

    byte[] encode() {
        StringBuilder b = new StringBuilder(FORMAT).append('\n');
        b.append("holder=").append(holder).append('\n');
        b.append("host=").append(host).append('\n');
        b.append("pid=").append(pid).append('\n');
        b.append("thread=").append(thread).append('\n');
        b.append("leaseMs=").append(millis(leaseTime)).append('\n');
        b.append("keys=").append(keys).append('\n');
        b.append("lockDelayMs=").append(millis(lockDelay)).append('\n');
        b.append("hostTime=").append(hostTime).append('\n');
        b.append("granted=").append(granted).append('\n');
        b.append("heldMs=").append(heldMs).append('\n');
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Reads a record back. Never fails: what cannot be read is unknown (see the class
     * documentation), and data that is not a {@value #FORMAT} record at all is {@link #UNKNOWN}.
     */
    static HolderRecord parse(byte[] data) {
        if (data == null || data.length < HEAD.length
                || !Arrays.equals(data, 0, HEAD.length, HEAD, 0, HEAD.length)) {
            return UNKNOWN;
        }
        String text = new String(data, StandardCharsets.UTF_8);
        String holder = "";
        String host = "";
        String thread = "";
        String pid = "";
        String leaseMs = "";
        String keys = "";
        String lockDelayMs = "";
        String hostTime = "";
        String granted = "";
        String heldMs = "";
        for (int start = HEAD.length; start < text.length(); ) {
            int end = text.indexOf('\n', start);
            end = end < 0 ? text.length() : end;
            int eq = text.indexOf('=', start);
            if (eq > start && eq < end) {
                String value = text.substring(eq + 1, Math.min(end, eq + 1 + MAX_TEXT + 1));
                switch (text.substring(start, eq)) {
                    case "holder" -> holder = value;
                    case "host" -> host = value;
                    case "thread" -> thread = value;
                    case "pid" -> pid = value;
                    case "leaseMs" -> leaseMs = value;
                    case "keys" -> keys = value;
                    case "lockDelayMs" -> lockDelayMs = value;
                    case "hostTime" -> hostTime = value;
                    case "granted" -> granted = value;
                    case "heldMs" -> heldMs = value;
                    default -> { } // a name this version does not know
                }
            }
            start = end + 1;
        }
        return new HolderRecord(holder, host, number(pid, -1), thread, duration(leaseMs), count(keys),
                duration(lockDelayMs), number(hostTime, 0), granted.equals("true"), number(heldMs, 0));
    }

    /** A key count; 0 (unknown) if not one. */
    private static int count(String s) {
        long n = number(s, 0);
        return n < 1 || n > LockService.MAX_KEYS_PER_REQUEST ? 0 : (int) n;
    }

    /** A decimal long, or {@code unknown} if {@code s} is not one (or does not fit). */
    private static long number(String s, long unknown) {
        int digits = s.startsWith("-") ? s.length() - 1 : s.length();
        if (digits < 1 || digits > 19) {
            return unknown;
        }
        for (int i = s.length() - digits; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return unknown;
            }
        }
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException tooLarge) {
            return unknown;
        }
    }

    /** Whole milliseconds, at most {@link #MAX_MILLIS}; null if {@code ms} is empty, negative or malformed. */
    private static Duration duration(String ms) {
        boolean digits = !ms.isEmpty();
        for (int i = 0; digits && i < ms.length(); i++) {
            digits = ms.charAt(i) >= '0' && ms.charAt(i) <= '9';
        }
        if (!digits) {
            return null;
        }
        long value = ms.length() > 18 ? MAX_MILLIS : Math.min(Long.parseLong(ms), MAX_MILLIS);
        return Duration.ofMillis(value);
    }

    private static Duration bounded(Duration d) {
        if (d == null || d.isNegative()) {
            return null;
        }
        return d.compareTo(Duration.ofMillis(MAX_MILLIS)) > 0 ? Duration.ofMillis(MAX_MILLIS) : Duration.ofMillis(d.toMillis());
    }

    /** A duration as a record writes it: whole milliseconds, at most {@link #MAX_MILLIS}; empty for null. */
    static String millis(Duration d) {
        Duration b = bounded(d);
        return b == null ? "" : Long.toString(b.toMillis());
    }

    /**
     * A lock-delay marker's delay, read by the same rule as a record's durations: whole
     * milliseconds (surrounding white space allowed), at most {@link #MAX_MILLIS}; 0 if unreadable.
     */
    static long delayMillis(byte[] data) {
        if (data == null || data.length > 40) {
            return 0;
        }
        Duration d = duration(new String(data, StandardCharsets.UTF_8).trim());
        return d == null ? 0 : d.toMillis();
    }

    /**
     * {@code s} as a record holds it: line breaks as spaces, a lone surrogate as {@code ?} (as
     * UTF-8 writes it), at most {@link #MAX_TEXT} characters without splitting a pair; null as empty.
     */
    private static String text(String s) {
        if (s == null) {
            return "";
        }
        if (clean(s)) {
            return s; // the same instance: every lease keeps its record, sharing the service's strings
        }
        StringBuilder b = new StringBuilder(Math.min(s.length(), MAX_TEXT));
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                if (b.length() + 2 > MAX_TEXT) {
                    break;
                }
                b.append(c).append(s.charAt(++i));
                continue;
            }
            if (b.length() + 1 > MAX_TEXT) {
                break;
            }
            b.append(c == '\n' || c == '\r' ? ' ' : Character.isSurrogate(c) ? '?' : c);
        }
        return b.toString();
    }

    /** Whether {@code s} is already what {@link #text} makes of it (one with surrogates is left to text). */
    private static boolean clean(String s) {
        if (s.length() > MAX_TEXT) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\r' || Character.isSurrogate(c)) {
                return false;
            }
        }
        return true;
    }
}
