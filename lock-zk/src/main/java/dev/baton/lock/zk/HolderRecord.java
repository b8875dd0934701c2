package dev.baton.lock.zk;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Who made a lock request, as recorded in the data of its queue nodes on the keys it asked for
 * (intention nodes on ancestors carry no data). UTF-8 text, one {@code name=value} per line,
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
 * Values never contain a line break (replaced by a space). Readers ignore names they do not know
 * and take missing ones as empty; a new version changes the first line.
 */
record HolderRecord(String holder, String host, long pid, String thread, Duration leaseTime, int keys,
                    Duration lockDelay, long hostTime, boolean granted, long heldMs) {
    static final String FORMAT = "baton-lock/1";

    HolderRecord {
        Objects.requireNonNull(holder, "holder");
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(thread, "thread");
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
        b.append("holder=").append(clean(holder)).append('\n');
        b.append("host=").append(clean(host)).append('\n');
        b.append("pid=").append(pid).append('\n');
        b.append("thread=").append(clean(thread)).append('\n');
        b.append("leaseMs=").append(millis(leaseTime)).append('\n');
        b.append("keys=").append(keys).append('\n');
        b.append("lockDelayMs=").append(millis(lockDelay)).append('\n');
        b.append("hostTime=").append(hostTime).append('\n');
        b.append("granted=").append(granted).append('\n');
        b.append("heldMs=").append(heldMs).append('\n');
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Reads a record back.
     *
     * @throws IllegalArgumentException if the data is not a record of a version this code reads
     */
    static HolderRecord parse(byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        String[] lines = text.split("\n");
        if (lines.length == 0 || !lines[0].equals(FORMAT)) {
            throw new IllegalArgumentException("Not a " + FORMAT + " holder record: "
                    + (text.length() > 60 ? text.substring(0, 60) + "..." : text));
        }
        Map<String, String> fields = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int eq = lines[i].indexOf('=');
            if (eq > 0) {
                fields.put(lines[i].substring(0, eq), lines[i].substring(eq + 1));
            }
        }
        try {
            return new HolderRecord(fields.getOrDefault("holder", ""), fields.getOrDefault("host", ""),
                    Long.parseLong(fields.getOrDefault("pid", "-1")), fields.getOrDefault("thread", ""),
                    duration(fields.get("leaseMs")), Integer.parseInt(fields.getOrDefault("keys", "1")),
                    duration(fields.get("lockDelayMs")), Long.parseLong(fields.getOrDefault("hostTime", "0")),
                    Boolean.parseBoolean(fields.get("granted")), Long.parseLong(fields.getOrDefault("heldMs", "0")));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Bad number in holder record: " + fields, e);
        }
    }

    private static Duration duration(String ms) {
        return ms == null || ms.isEmpty() ? null : Duration.ofMillis(Long.parseLong(ms));
    }

    private static String millis(Duration d) {
        return d == null ? "" : Long.toString(d.toMillis());
    }

    private static String clean(String s) {
        return s.replace('\n', ' ').replace('\r', ' ');
    }
}
