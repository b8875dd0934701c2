package dev.baton.lock.internal;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.baton.lock.internal.Granule.IS;
import static dev.baton.lock.internal.Granule.IX;
import static dev.baton.lock.internal.Granule.S;
import static dev.baton.lock.internal.Granule.SIX;
import static dev.baton.lock.internal.Granule.X;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The multi-granularity compatibility table, cell by cell, and what a request takes on each level. */
class GranuleTest {

    /** Gray's table, written out independently of the implementation: the pairs that may share a key. */
    private static final List<List<Granule>> COMPATIBLE = List.of(
            List.of(IS, IS), List.of(IS, IX), List.of(IS, S), List.of(IS, SIX),
            List.of(IX, IX),
            List.of(S, S));

    private static boolean expected(Granule a, Granule b) {
        return COMPATIBLE.contains(List.of(a, b)) || COMPATIBLE.contains(List.of(b, a));
    }

    @Test
    void everyCellOfTheCompatibilityTable() {
        int cells = 0;
        for (Granule a : Granule.values()) {
            for (Granule b : Granule.values()) {
                assertEquals(expected(a, b), a.compatibleWith(b), a + " with " + b);
                cells++;
            }
        }
        assertEquals(25, cells);
    }

    @Test
    void onlyIntentionsAreWeak() {
        for (Granule g : Granule.values()) {
            assertEquals(g == S || g == SIX || g == X, g.isStrong(), g.toString());
        }
    }

    @Test
    void joinIsTheWeakestModeCoveringBoth() {
        for (Granule a : Granule.values()) {
            for (Granule b : Granule.values()) {
                Granule j = a.join(b);
                assertEquals(j, b.join(a), a + " join " + b + " is not symmetric");
                for (Granule other : Granule.values()) {
                    // whatever conflicts with a or with b conflicts with their join
                    if (!a.compatibleWith(other) || !b.compatibleWith(other)) {
                        assertEquals(false, j.compatibleWith(other), a + " join " + b + " = " + j + " admits " + other);
                    }
                }
            }
        }
        assertEquals(SIX, S.join(IX));
        assertEquals(SIX, IX.join(S));
        assertEquals(S, IS.join(S));
        assertEquals(X, SIX.join(X));
    }

    @Test
    void aPlanTakesTheModeOnTheKeyAndTheIntentionOnEveryAncestorCoarseFirst() {
        LockKey key = LockKey.parse("a/b/c");
        assertEquals(List.of(Map.entry(LockKey.parse("a"), IX), Map.entry(LockKey.parse("a/b"), IX), Map.entry(key, X)),
                List.copyOf(Granule.plan(Map.of(key, LockMode.EXCLUSIVE)).entrySet()));
        Map<LockKey, Granule> both = Granule.plan(Map.of(LockKey.parse("a"), LockMode.SHARED, key, LockMode.EXCLUSIVE));
        assertEquals(SIX, both.get(LockKey.parse("a")), "S on a and X under it: " + both);
        assertEquals(IX, both.get(LockKey.parse("a/b")));
    }
}
