package dev.baton.lock;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LockKey}'s naming rule as properties, against an oracle written from the rule itself:
 * every valid key round-trips through {@code toString} and {@code parse}, and every invalid input
 * is refused with an {@link IllegalArgumentException} that names the bad segment or the rule.
 */
class LockKeyPropertiesTest {
    private static final String ALLOWED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:@";
    private static final String FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:@";

    @Test
    void everyValidKeyRoundTripsThroughItsText() {
        Tries.check(1000, LockKeyPropertiesTest::validSegments, segments -> {
            LockKey key = LockKey.of(segments);
            assertEquals(segments, key.segments());
            assertEquals(String.join("/", segments), key.toString());
            assertEquals(key, LockKey.parse(key.toString()));
            assertEquals(key.hashCode(), LockKey.parse(key.toString()).hashCode());
            assertEquals(segments.size(), key.depth());
            key.parent().ifPresent(p -> {
                assertTrue(p.isAncestorOf(key));
                assertEquals(key, p.child(key.name()));
            });
        });
    }

    @Test
    void anyTextIsAKeyExactlyWhenTheRuleSaysSoAndIsOtherwiseRefusedNamingWhy() {
        Tries.check(1000, LockKeyPropertiesTest::anyKeyText, text -> {
            String problem = problem(Arrays.asList(text.split("/", -1)));
            LockKey key;
            try {
                key = LockKey.parse(text);
            } catch (Throwable e) {
                assertNotNull(problem, () -> "refused a valid key: " + e);
                assertRefusal(e, problem);
                return;
            }
            assertEquals(null, problem, "accepted an invalid key");
            assertEquals(text, key.toString());
        });
    }

    @Test
    void anySegmentListIsAKeyExactlyWhenTheRuleSaysSo() {
        Tries.check(1000, r -> {
            List<String> segments = new ArrayList<>();
            int n = r.nextInt(10) == 0 ? 17 + r.nextInt(3) : Tries.length(r, 6);
            for (int i = 0; i < n; i++) {
                segments.add(r.nextInt(30) == 0 ? null : r.nextBoolean() ? validSegment(r) : Tries.anyText(r, 140));
            }
            return segments;
        }, segments -> {
            String problem = problem(segments);
            LockKey key;
            try {
                key = LockKey.of(segments);
            } catch (NullPointerException e) {
                assertEquals(NULL, problem, "NullPointerException only for a null segment: " + e);
                assertTrue(e.getMessage().contains("null segment"), e.getMessage());
                return;
            } catch (Throwable e) {
                assertNotNull(problem, () -> "refused a valid key: " + e);
                assertRefusal(e, problem);
                return;
            }
            assertEquals(null, problem, "accepted an invalid key");
            assertEquals(segments, key.segments());
        });
    }

    private static final String NULL = "\0null";
    private static final String TOO_DEEP = "\0deep";
    private static final String EMPTY = "\0empty";

    /**
     * What is wrong with a key of these segments, by the rule: {@link #EMPTY}, {@link #TOO_DEEP},
     * {@link #NULL} or the first bad segment; null if nothing is.
     */
    private static String problem(List<String> segments) {
        if (segments.isEmpty()) {
            return EMPTY;
        }
        if (segments.size() > LockKey.MAX_DEPTH) {
            return TOO_DEEP;
        }
        for (String s : segments) {
            if (s == null) {
                return NULL;
            }
            if (s.isEmpty() || s.length() > LockKey.MAX_SEGMENT_LENGTH || FIRST.indexOf(s.charAt(0)) < 0
                    || !s.chars().allMatch(c -> ALLOWED.indexOf(c) >= 0)) {
                return s;
            }
        }
        return null;
    }

    private static void assertRefusal(Throwable e, String problem) {
        assertInstanceOf(IllegalArgumentException.class, e, "only IllegalArgumentException: " + e);
        String message = e.getMessage();
        assertTrue(message.startsWith("Invalid lock key"), message);
        if (problem.equals(TOO_DEEP)) {
            assertTrue(message.contains("at most " + LockKey.MAX_DEPTH), message);
        } else if (problem.equals(EMPTY)) {
            assertTrue(message.contains("at least one segment"), message);
        } else {
            assertTrue(message.contains(LockKey.SEGMENT_RULE), message);
            String shown = problem.length() <= 140 ? problem : problem.substring(0, 140);
            assertTrue(message.contains("segment \"" + shown), () -> "names " + Tries.shown(problem) + ": " + message);
            assertTrue(message.length() < 1_000, "a refusal does not echo a huge input whole");
        }
    }

    // ---------------------------------------------------------------------------- inputs

    private static List<String> validSegments(Random r) {
        int depth = 1 + Tries.length(r, LockKey.MAX_DEPTH - 1);
        List<String> segments = new ArrayList<>(depth);
        for (int i = 0; i < depth; i++) {
            segments.add(validSegment(r));
        }
        return segments;
    }

    private static String validSegment(Random r) {
        int length = 1 + Tries.length(r, LockKey.MAX_SEGMENT_LENGTH - 1);
        return Tries.of(r, FIRST, 1) + Tries.of(r, ALLOWED, length - 1);
    }

    /** Text near the rule's edges: valid keys, keys with one thing wrong, and anything at all. */
    private static String anyKeyText(Random r) {
        String valid = String.join("/", validSegments(r));
        return switch (r.nextInt(10)) {
            case 0 -> valid;
            case 1 -> Tries.anyText(r, 300);
            case 2 -> valid + "/" + Tries.oneOf(r, "", ".x", "_x", "x".repeat(129), "x y", "é");
            case 3 -> Tries.oneOf(r, "/", "//", "/" + valid, valid + "/", valid.replaceFirst("/", "//"), "");
            case 4 -> String.join("/", java.util.Collections.nCopies(LockKey.MAX_DEPTH + 1 + r.nextInt(3), "a"));
            case 5 -> "x".repeat(r.nextInt(10) == 0 ? 100_000 : 129 + r.nextInt(200));
            default -> {
                StringBuilder b = new StringBuilder(valid);
                int at = r.nextInt(b.length() + 1);
                yield b.insert(at, Tries.anyText(r, 3)).toString();
            }
        };
    }
}
