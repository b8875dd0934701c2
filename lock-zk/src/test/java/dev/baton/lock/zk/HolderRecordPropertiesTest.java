package dev.baton.lock.zk;

import dev.baton.lock.LockService;
import dev.baton.lock.Tries;
import dev.baton.lock.internal.Granule;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What Baton reads from ZooKeeper as properties: holder records and node names, for any data
 * and any name. Parsing never throws; what Baton writes reads back as written.
 */
class HolderRecordPropertiesTest {

    @Test
    void everyRecordReadsBackAsWritten() {
        Tries.check(1000, HolderRecordPropertiesTest::anyRecord, record -> {
            assertWithinBounds(record);
            assertEquals(record, HolderRecord.parse(record.encode()));
            assertEquals(record, new HolderRecord(record.holder(), record.host(), record.pid(), record.thread(),
                    record.leaseTime(), record.keys(), record.lockDelay(), record.hostTime(), record.granted(),
                    record.heldMs()), "bringing values within bounds twice changes nothing");
            HolderRecord stamped = record.stamped(record.leaseTime(), 5, 7);
            assertEquals(stamped, HolderRecord.parse(stamped.encode()));
        });
    }

    @Test
    void textValuesKeepWhatARecordCanCarry() {
        Tries.check(1000, r -> Tries.anyText(r, 400), text -> {
            HolderRecord record = new HolderRecord(text, text, 1, text, null, 1, null, 0, false, 0);
            String kept = record.thread();
            assertTrue(kept.length() <= HolderRecord.MAX_TEXT);
            assertEquals(kept, record.holder());
            String expected = text.replace('\n', ' ').replace('\r', ' ');
            String comparable = kept.replace('?', '\0');
            // what is kept is the beginning of the value, a lone surrogate written as ?, as UTF-8 would
            for (int i = 0; i < kept.length(); i++) {
                char original = expected.charAt(i);
                boolean lone = Character.isSurrogate(original) && !pairedAt(expected, i);
                assertEquals(lone ? '\0' : original == '?' ? '\0' : original, comparable.charAt(i), "at " + i);
            }
            assertTrue(kept.length() == expected.length() || kept.length() >= HolderRecord.MAX_TEXT - 1,
                    "cut only at the bound");
        });
    }

    @Test
    void anyDataParsesToARecordWithinBoundsNeverAnException() {
        Tries.check(1000, r -> r.nextBoolean() ? Tries.anyBytes(r, 2_000, HolderRecord.FORMAT + "\n")
                : fieldsWithAnyValues(r), data -> {
            HolderRecord record = HolderRecord.parse(data);
            assertWithinBounds(record);
            assertEquals(record, HolderRecord.parse(record.encode()));
            if (!startsWithFormat(data)) {
                assertEquals(HolderRecord.UNKNOWN, record, "not a record: nothing is known");
            }
        });
    }

    @Test
    void aMarkersDelayIsReadByTheSameRule() {
        Tries.check(1000, r -> r.nextBoolean() ? Tries.anyBytes(r, 60, "")
                : Long.toString(r.nextLong() >> r.nextInt(64)).getBytes(StandardCharsets.UTF_8), data -> {
            long ms = HolderRecord.delayMillis(data);
            assertTrue(ms >= 0 && ms <= HolderRecord.MAX_MILLIS, Long.toString(ms));
            String text = new String(data, StandardCharsets.UTF_8).trim();
            if (text.matches("[0-9]{1,18}")) {
                assertEquals(Math.min(Long.parseLong(text), HolderRecord.MAX_MILLIS), ms);
            }
        });
    }

    // ---------------------------------------------------------------------------- names

    private static final Pattern QUEUE_NODE = Pattern.compile("(IS|IX|S|SIX|X)-([0-9a-f]{16})-(-?[0-9]{9,10})");
    private static final Pattern MARKER = Pattern.compile("delay\\.(IS|IX|S|SIX|X)\\.([0-9a-f]{16})");

    @Test
    void aNameIsBatonsExactlyWhenItHasTheFormBatonWrites() {
        Tries.check(1000, HolderRecordPropertiesTest::anyName, name -> {
            var queue = QUEUE_NODE.matcher(name);
            boolean isQueueNode = queue.matches() && zooKeeperSuffix(queue.group(3));
            Granule g = NodeNames.granule(name);
            assertEquals(isQueueNode, g != null, "a queue node's name");
            if (isQueueNode) {
                assertEquals(queue.group(1), g.name());
                assertEquals(queue.group(2), NodeNames.request(name));
                assertEquals(Integer.parseInt(queue.group(3)), NodeNames.sequence(name));
                assertTrue(NodeNames.ofRequest(name, queue.group(2)));
            } else {
                assertEquals(null, NodeNames.request(name));
                assertTrue(refused(() -> NodeNames.sequence(name)));
            }
            var marker = MARKER.matcher(name);
            assertEquals(marker.matches(), NodeNames.markerGranule(name) != null, "a marker's name");
            assertEquals(marker.matches() ? marker.group(2) : null, NodeNames.markerRequest(name));
        });
    }

    /** Whether {@code s} is what ZooKeeper appends to a sequential node: {@code %010d} of an int. */
    private static boolean zooKeeperSuffix(String s) {
        try {
            return String.format("%010d", Integer.parseInt(s)).equals(s);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static boolean refused(Runnable r) {
        try {
            r.run();
            return false;
        } catch (IllegalArgumentException expected) {
            return true;
        }
    }

    // ---------------------------------------------------------------------------- inputs

    private static void assertWithinBounds(HolderRecord r) {
        for (String text : new String[] {r.holder(), r.host(), r.thread()}) {
            assertTrue(text.length() <= HolderRecord.MAX_TEXT, "at most " + HolderRecord.MAX_TEXT);
            assertTrue(text.indexOf('\n') < 0 && text.indexOf('\r') < 0, "no line break");
            for (int i = 0; i < text.length(); i++) {
                assertTrue(!Character.isSurrogate(text.charAt(i)) || pairedAt(text, i), "no lone surrogate");
            }
        }
        assertTrue(r.pid() >= -1);
        assertTrue(r.keys() >= 0 && r.keys() <= LockService.MAX_KEYS_PER_REQUEST);
        assertTrue(r.heldMs() >= 0 && r.heldMs() <= HolderRecord.MAX_MILLIS);
        for (Duration d : new Duration[] {r.leaseTime(), r.lockDelay()}) {
            assertTrue(d == null || (!d.isNegative() && d.toMillis() <= HolderRecord.MAX_MILLIS
                    && d.equals(Duration.ofMillis(d.toMillis()))), String.valueOf(d));
        }
    }

    private static boolean pairedAt(String s, int i) {
        char c = s.charAt(i);
        return Character.isHighSurrogate(c) ? i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))
                : i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
    }

    private static boolean startsWithFormat(byte[] data) {
        byte[] head = (HolderRecord.FORMAT + "\n").getBytes(StandardCharsets.UTF_8);
        return data.length >= head.length && java.util.Arrays.equals(data, 0, head.length, head, 0, head.length);
    }

    private static HolderRecord anyRecord(Random r) {
        return new HolderRecord(Tries.anyText(r, 300), Tries.anyText(r, 40), anyLong(r), Tries.anyText(r, 300),
                anyDuration(r), r.nextInt(4) == 0 ? r.nextInt() : r.nextInt(200), anyDuration(r), anyLong(r),
                r.nextBoolean(), anyLong(r));
    }

    /** Records whose known fields carry anything: numbers out of range, text, huge values. */
    private static byte[] fieldsWithAnyValues(Random r) {
        StringBuilder b = new StringBuilder(HolderRecord.FORMAT).append('\n');
        for (int n = Tries.length(r, 14); n > 0; n--) {
            String name = Tries.oneOf(r, "holder", "host", "pid", "thread", "leaseMs", "keys", "lockDelayMs",
                    "hostTime", "granted", "heldMs", "unknown", "", "pid ", "=");
            String value = switch (r.nextInt(5)) {
                case 0 -> Long.toString(anyLong(r));
                case 1 -> "9".repeat(1 + r.nextInt(40));
                case 2 -> Tries.oneOf(r, "", "true", "false", "-0", "+5", "1e3", " 5", "0x10", "NaN");
                case 3 -> "x".repeat(r.nextInt(10) == 0 ? 100_000 : r.nextInt(600));
                default -> Tries.anyText(r, 50);
            };
            b.append(name).append('=').append(value).append(r.nextInt(10) == 0 ? "\r\n" : "\n");
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static long anyLong(Random r) {
        return switch (r.nextInt(4)) {
            case 0 -> Tries.oneOf(r, 0L, -1L, 1L, Long.MAX_VALUE, Long.MIN_VALUE, HolderRecord.MAX_MILLIS,
                    HolderRecord.MAX_MILLIS + 1);
            case 1 -> r.nextInt(10_000);
            default -> r.nextLong() >> r.nextInt(64);
        };
    }

    private static Duration anyDuration(Random r) {
        return switch (r.nextInt(6)) {
            case 0 -> null;
            case 1 -> Duration.ofSeconds(Long.MAX_VALUE, 999_999_999);
            case 2 -> Duration.ofNanos(r.nextLong());
            case 3 -> Duration.ofMillis(HolderRecord.MAX_MILLIS + Tries.oneOf(r, -1L, 0L, 1L));
            default -> Duration.ofMillis(r.nextInt(100_000));
        };
    }

    /** Names near Baton's forms (one thing off) and anything at all. */
    private static String anyName(Random r) {
        String granule = Tries.oneOf(r, "IS", "IX", "S", "SIX", "X");
        String id = String.format("%016x", r.nextLong());
        int sequence = r.nextInt(4) == 0 ? Tries.oneOf(r, 0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, -999_999_999,
                -1_000_000_000) : r.nextInt();
        String name = r.nextInt(3) == 0 ? "delay." + granule + "." + id
                : granule + "-" + id + "-" + String.format("%010d", sequence);
        return switch (r.nextInt(8)) {
            case 0, 1 -> name;
            case 2 -> Tries.anyText(r, 40);
            case 3 -> name.substring(0, r.nextInt(name.length() + 1));
            case 4 -> name + Tries.oneOf(r, "0", "x", "-", ".", " ");
            case 5 -> Tries.oneOf(r, "Y", "is", "XS", "delay", "lock", "") + name.substring(name.indexOf(
                    name.startsWith("delay.") ? '.' : '-'));
            default -> {
                StringBuilder b = new StringBuilder(name);
                b.setCharAt(r.nextInt(b.length()), Tries.oneOf(r, 'A', 'g', '-', '.', '0', '9', 'F', ' ', '\u00e9'));
                yield b.toString();
            }
        };
    }
}
