package dev.baton.lock;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Collections;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LockKeyTest {

    @Test
    void buildsAndPrintsHierarchicalKeys() {
        LockKey key = LockKey.of("billing", "account", "42");
        assertEquals("billing/account/42", key.toString());
        assertEquals(List.of("billing", "account", "42"), key.segments());
        assertEquals(3, key.depth());
        assertEquals("42", key.name());
        assertEquals(key, LockKey.parse("billing/account/42"));
        assertEquals(key.hashCode(), LockKey.parse("billing/account/42").hashCode());
        assertEquals(Optional.of(LockKey.of("billing", "account")), key.parent());
        assertEquals(Optional.empty(), LockKey.of("billing").parent());
        assertEquals(key, LockKey.of("billing", "account").child("42"));
        assertThrows(UnsupportedOperationException.class, () -> key.segments().add("x"));
    }

    @Test
    void ancestorIsStrictAndSegmentWise() {
        LockKey billing = LockKey.of("billing");
        LockKey account = LockKey.parse("billing/account/42");
        assertTrue(billing.isAncestorOf(account));
        assertTrue(account.parent().orElseThrow().isAncestorOf(account));
        assertFalse(account.isAncestorOf(billing));
        assertFalse(billing.isAncestorOf(billing));
        assertFalse(LockKey.of("bill").isAncestorOf(account), "a prefix of a segment is not an ancestor");
        assertNotEquals(LockKey.of("a", "b"), LockKey.of("a", "b", "c"));
    }

    @Test
    void acceptsEveryAllowedCharacter() {
        LockKey key = LockKey.of("Az09.-_:@", "user@example.com", "a:b-c.d_e");
        assertEquals(3, key.depth());
        assertEquals(LockKey.MAX_SEGMENT_LENGTH, LockKey.of("x".repeat(LockKey.MAX_SEGMENT_LENGTH)).name().length());
        assertEquals(LockKey.MAX_DEPTH, LockKey.of(Collections.nCopies(LockKey.MAX_DEPTH, "s")).depth());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "/billing", "billing/", "billing//42", "_q", "billing/_q", ".hidden", "billing/.",
        "..", "with space", "slash\\back", "tab\there", "ünïcode", "star*", "new\nline", "a/b?c"})
    void rejectsBadTextNamingTheSegmentAndTheRule(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LockKey.parse(text));
        assertTrue(e.getMessage().contains(LockKey.SEGMENT_RULE), e.getMessage());
        assertTrue(e.getMessage().contains("Invalid lock key segment"), e.getMessage());
    }

    @Test
    void rejectsTooLongSegmentsAndTooDeepKeys() {
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> LockKey.of("x".repeat(LockKey.MAX_SEGMENT_LENGTH + 1)));
        assertTrue(tooLong.getMessage().contains("1-128 characters"), tooLong.getMessage());
        IllegalArgumentException tooDeep = assertThrows(IllegalArgumentException.class,
                () -> LockKey.of(Collections.nCopies(LockKey.MAX_DEPTH + 1, "s")));
        assertTrue(tooDeep.getMessage().contains("at most 16"), tooDeep.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LockKey.of(List.of()));
        assertThrows(IllegalArgumentException.class,
                () -> LockKey.of(Collections.nCopies(LockKey.MAX_DEPTH, "s")).child("t"));
    }

    @Test
    void rejectsNullsWithANamedMessage() {
        assertThrows(NullPointerException.class, () -> LockKey.parse(null));
        assertThrows(NullPointerException.class, () -> LockKey.of("a", (String) null));
        assertThrows(NullPointerException.class, () -> LockKey.of((List<String>) null));
        assertThrows(NullPointerException.class, () -> LockKey.of("a").child(null));
    }
}
