package dev.baton.lock.zk;

import dev.baton.lock.internal.Granule;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.baton.lock.internal.Granule.IS;
import static dev.baton.lock.internal.Granule.IX;
import static dev.baton.lock.internal.Granule.S;
import static dev.baton.lock.internal.Granule.X;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** The grant rule on its own, without a server: every cell of the table, and the ordering edge cases. */
class GrantsTest {
    private static final Grants.Verdict GRANTED = new Grants.Granted(List.of());

    /** A queue node's name as ZooKeeper makes it: {@code %010d} of the parent's cversion. */
    private static String node(Granule g, long id, int sequence) {
        return String.format("%s-%016x-%010d", g, id, sequence);
    }

    private static String marker(Granule g, long id) {
        return Layout.markerName(g, String.format("%016x", id));
    }

    private static Grants.Read made(long czxid) {
        return new Grants.Read(true, czxid, true);
    }

    @Test
    void inAQueueEveryIncompatibleEarlierNodeBlocksAndNoCompatibleOneDoes() {
        for (Granule earlier : Granule.values()) {
            for (Granule mine : List.of(Granule.S, Granule.SIX, Granule.X)) {
                String other = node(earlier, 1, 4);
                String own = node(mine, 2, 5);
                Grants.Verdict v = Grants.inQueue(mine, own, List.of(own, other), Set.of());
                Grants.Verdict expected = mine.compatibleWith(earlier) ? GRANTED : new Grants.WaitFor(other);
                assertEquals(expected, v, mine + " after " + earlier);
            }
        }
    }

    @Test
    void atAnIntentionLevelEveryIncompatibleEarlierIndexNodeBlocksAndNoCompatibleOneDoes() {
        for (Granule held : List.of(Granule.S, Granule.SIX, Granule.X)) {
            for (Granule mine : List.of(IS, IX)) {
                String other = node(held, 1, 4);
                Grants.Verdict v = Grants.inIndex(mine, 100, List.of(other), Map.of(other, made(99)));
                Grants.Verdict expected = mine.compatibleWith(held) ? GRANTED : new Grants.WaitFor(other);
                assertEquals(expected, v, mine + " under " + held);
            }
        }
    }

    @Test
    void laterNodesNeverBlock() {
        String own = node(S, 1, 5);
        assertEquals(GRANTED, Grants.inQueue(S, own, List.of(node(X, 2, 6), own, node(X, 3, 9)), Set.of()));
        String later = node(X, 2, 1);
        assertEquals(GRANTED, Grants.inIndex(IS, 100, List.of(later), Map.of(later, made(101))));
    }

    @Test
    void aQueueNodeWaitsForTheLatestEarlierIncompatibleOne() {
        String own = node(S, 9, 10);
        String first = node(X, 1, 3);
        String latest = node(X, 2, 7);
        String laterButCompatible = node(IS, 3, 8);
        assertEquals(new Grants.WaitFor(latest),
                Grants.inQueue(S, own, List.of(latest, own, laterButCompatible, first), Set.of()));
    }

    @Test
    void sequencesCompareAcrossTheIntWrap() {
        // the parent's cversion passed 2^31: the node made just before the wrap is earlier
        String beforeWrap = node(X, 1, Integer.MAX_VALUE - 1);
        String own = node(X, 2, Integer.MIN_VALUE + 3);
        assertEquals(new Grants.WaitFor(beforeWrap), Grants.inQueue(X, own, List.of(own, beforeWrap), Set.of()));
        String afterWrap = node(X, 3, Integer.MIN_VALUE + 4);
        assertEquals(GRANTED, Grants.inQueue(X, own, List.of(afterWrap, own), Set.of()));
        assertEquals(new Grants.WaitFor(own), Grants.inQueue(X, afterWrap, List.of(afterWrap, own, beforeWrap), Set.of()),
                "the latest earlier node is the one just before, across the wrap");
    }

    @Test
    void aMissingOwnNodeMeansTheSessionEnded() {
        assertInstanceOf(Grants.Missing.class, Grants.inQueue(X, node(X, 1, 5), List.of(node(S, 2, 3)), Set.of()));
    }

    @Test
    void foreignAndUnknownNamesNeverBlock() {
        String own = node(X, 1, 5);
        String foreign = node(X, 2, 3);
        assertEquals(GRANTED, Grants.inQueue(X, own,
                List.of(own, foreign, "X-not-a-request", "lock-0000000001", "delay.X.short"), Set.of(foreign)));
        String persistent = node(X, 3, 1);
        assertEquals(GRANTED, Grants.inIndex(IX, 100, List.of(persistent, "junk"),
                Map.of(persistent, new Grants.Read(true, 50, false))));
    }

    @Test
    void aMarkerOfARequestThatLeftHoldsBackOnlyIncompatibleGranules() {
        String own = node(X, 1, 5);
        String left = marker(X, 7);
        assertEquals(new Grants.HeldBack(List.of(left), List.of(left)), Grants.inQueue(X, own, List.of(own, left), Set.of()));
        String sharedLeft = marker(S, 8);
        String ownS = node(S, 1, 5);
        assertEquals(new Grants.Granted(List.of(sharedLeft)), Grants.inQueue(S, ownS, List.of(ownS, sharedLeft), Set.of()),
                "S after an S that left: granted, its marker to retire");
        assertEquals(new Grants.HeldBack(List.of(left), List.of(left)), Grants.inIndex(IX, 100, List.of(left), Map.of()));
    }

    @Test
    void aMarkerWhoseRequestIsStillQueuedIsNotALockDelay() {
        String own = node(X, 1, 5);
        String holder = node(S, 7, 9); // later than us: does not block
        assertEquals(GRANTED, Grants.inQueue(X, own, List.of(own, holder, marker(S, 7)), Set.of()));
    }

    @Test
    void aBlockerComesBeforeAnyMarker() {
        String own = node(X, 1, 5);
        String earlier = node(S, 2, 4);
        assertEquals(new Grants.WaitFor(earlier), Grants.inQueue(X, own, List.of(own, earlier, marker(X, 9)), Set.of()));
    }

    @Test
    void anIntentionLevelAsksForTheZxidsItNeedsThenDecidesOnTheFirstNodeStillThere() {
        String first = node(X, 1, 3);
        String second = node(S, 2, 4);
        String compatible = node(S, 3, 5);
        List<String> index = List.of(second, compatible, first);
        Grants.Verdict asked = Grants.inIndex(IS, 100, index, Map.of());
        assertEquals(new Grants.NeedZxids(List.of(first)), asked, "IS conflicts with X only");
        Grants.Verdict askedIx = Grants.inIndex(IX, 100, index, Map.of());
        assertEquals(new Grants.NeedZxids(List.of(first, second, compatible)), askedIx);

        Map<String, Grants.Read> read = new HashMap<>();
        read.put(first, Grants.Read.GONE);
        read.put(second, made(40));
        read.put(compatible, made(120));
        assertEquals(new Grants.WaitFor(second), Grants.inIndex(IX, 100, index, read), "the first is gone: the next decides");
        read.put(second, made(140));
        assertEquals(GRANTED, Grants.inIndex(IX, 100, index, read), "made after the node: nothing later blocks");
    }

    @Test
    void anEarlierUnreadIndexNodeIsAskedForUnlessALaterOneAlreadyBlocks() {
        String first = node(X, 1, 3);
        String second = node(X, 2, 4);
        assertEquals(new Grants.NeedZxids(List.of(first)),
                Grants.inIndex(IX, 100, List.of(first, second), Map.of(second, made(140))));
        assertEquals(new Grants.WaitFor(second),
                Grants.inIndex(IX, 100, List.of(first, second), Map.of(second, made(40))));
    }

    @Test
    void leftMarkersAreThoseWhoseRequestHasNoNode() {
        String stays = node(X, 7, 1);
        assertEquals(List.of(marker(S, 8)), Grants.leftMarkers(List.of(stays, marker(X, 7), marker(S, 8), "delay.X.zz")));
    }
}
