package dev.baton.safety;

import static dev.baton.safety.Event.LEADER;
import static dev.baton.safety.Verdict.Invariant.CONFLICTING_GRANTS;
import static dev.baton.safety.Verdict.Invariant.DOUBLE_SINGLETON_RUN;
import static dev.baton.safety.Verdict.Invariant.DUPLICATE_TOKEN;
import static dev.baton.safety.Verdict.Invariant.GRANT_ORDER;
import static dev.baton.safety.Verdict.Invariant.INTERLEAVING;
import static dev.baton.safety.Verdict.Invariant.LIVENESS;
import static dev.baton.safety.Verdict.Invariant.LOSS_NOTICE;
import static dev.baton.safety.Verdict.Invariant.LOST_UPDATE;
import static dev.baton.safety.Verdict.Invariant.STUCK_REQUEST;
import static dev.baton.safety.Verdict.Invariant.TOKEN_ORDER;
import static dev.baton.safety.Verdict.Invariant.ZNODES;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.baton.safety.Event.Type;
import dev.baton.safety.Verdict.Figures;
import dev.baton.safety.Verdict.Invariant;
import dev.baton.safety.Verdict.LeaderFigures;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The checker on small hand-made histories (no ZooKeeper). */
class CheckerTest {
    static final Duration SESSION = Duration.ofMillis(1000);
    static final Duration MARGIN = Duration.ofMillis(500);
    static final Duration BOUND = Duration.ofMillis(5000);
    static final Duration REQUEST_MARGIN = Duration.ofMillis(500);

    static final String AT_SUSPENDED = "LOSE_AT_SUSPENDED";
    static final String AT_LOST = "LOSE_AT_LOST";

    /** A token of {@code epoch} with counter {@code n}, like a zxid. */
    static long tk(int epoch, int n) {
        return ((long) epoch << 32) | n;
    }

    /** Builds a history; each event is 1 ms after the previous one unless {@link #at} says otherwise. */
    static final class H {
        private final History history = new History(0);
        private final Map<String, Long> sessions = new HashMap<>();
        private final Set<String> closed = new HashSet<>();
        private long nanos;

        H at(long ms) {
            assertTrue(ms * 1_000_000 >= nanos, "time goes forward in a history");
            nanos = ms * 1_000_000;
            return this;
        }

        H add(String client, Type type, String key, long token, long session, String op, boolean accepted,
              long value, String detail) {
            history.append(new Event(0, nanos, client, type, key, token, session, op, accepted, value, detail));
            nanos += 1_000_000;
            return this;
        }

        H client(String c, String policy, String style, long session) {
            sessions.put(c, session);
            add(c, Type.CLIENT, null, 0, session, null, false, 0,
                    "policy=" + policy + " style=" + style + " jvm=child");
            return add(c, Type.SESSION, null, 0, session, null, false, 0, null);
        }

        H session(String c, long session) {
            sessions.put(c, session);
            return add(c, Type.SESSION, null, 0, session, null, false, 0, null);
        }

        H conn(String c, String state) {
            return add(c, Type.CONN, null, 0, sessions.get(c), state, false, 0, null);
        }

        H grant(String c, String key, long token) {
            return add(c, Type.GRANT, key, token, sessions.get(c), null, false, 0, null);
        }

        H lost(String c, String key, long token) {
            return add(c, Type.LOST, key, token, 0, "SESSION_EXPIRED", false, 0, null);
        }

        H release(String c, String key, long token) {
            return add(c, Type.RELEASE, key, token, 0, null, false, 0, null);
        }

        H op(String c, String key, long token, String op, boolean accepted, long value) {
            return add(c, Type.OP, key, token, 0, op, accepted, value, null);
        }

        H nop(String c, String key, String op, long value) {
            return add(c, Type.NOP, key, 0, 0, op, true, value, null);
        }

        /** A whole accepted critical section that reads {@code read} from both stores and writes read+1. */
        H section(String c, String key, long token, long read) {
            return op(c, key, token, "BEGIN", true, 0).op(c, key, token, "READ", true, read).nop(c, key, "READ", read)
                    .op(c, key, token, "WRITE", true, read + 1).nop(c, key, "WRITE", read + 1)
                    .op(c, key, token, "COMMIT", true, 0);
        }

        /** grant, section, release. */
        H lease(String c, String key, long token, long read) {
            return grant(c, key, token).section(c, key, token, read).release(c, key, token);
        }

        H request(String c, String spec, long waitMs, int req) {
            return add(c, Type.REQUEST, spec, 0, 0, null, false, waitMs, "req=" + req);
        }

        /** The grant of request {@code req}. */
        H grant(String c, String spec, long token, int req) {
            return add(c, Type.GRANT, spec, token, sessions.get(c), null, false, 0, "req=" + req);
        }

        H timeout(String c, String spec, int req) {
            return add(c, Type.TIMEOUT, spec, 0, 0, null, false, 0, "req=" + req);
        }

        /** An operation in shared mode. */
        H sop(String c, String leaf, long token, String op, boolean accepted, long value) {
            return add(c, Type.OP, leaf, token, 0, op, accepted, value, "mode=S");
        }

        /** A whole accepted read-only section in shared mode. */
        H readOnly(String c, String leaf, long token, long read) {
            return sop(c, leaf, token, "BEGIN", true, 0).sop(c, leaf, token, "READ", true, read)
                    .sop(c, leaf, token, "COMMIT", true, 0);
        }

        H start(long id, String kind, String detail) {
            return add("injector", Type.FAULT_START, null, id, 0, kind, false, 0, detail);
        }

        H end(long id, String kind, String detail) {
            return add("injector", Type.FAULT_END, null, id, 0, kind, false, 0, detail);
        }

        H close(String c) {
            closed.add(c);
            return add(c, Type.CLOSED, null, 0, 0, null, false, 0, null);
        }

        /** Every client not yet closed closes, then the znode count. */
        H finish(long znodes) {
            for (String c : sessions.keySet().stream().sorted().toList()) {
                if (!closed.contains(c)) {
                    close(c);
                }
            }
            return add("test", Type.ZNODES, null, 0, 0, null, false, znodes, null);
        }

        List<Event> events() {
            return history.events();
        }

        Verdict check() {
            return Checker.check(events(), SESSION, MARGIN, BOUND, REQUEST_MARGIN);
        }
    }

    /** Asserts the violation counts: those given, and 0 for every other invariant. */
    static void assertViolations(Verdict v, Map<Invariant, Long> expected) {
        for (Invariant i : Invariant.values()) {
            assertEquals(expected.getOrDefault(i, 0L), v.violations(i), i + "\n" + v.report());
            assertEquals(Math.min(v.violations(i), Checker.MAX_EXAMPLES) > 0, !v.examples(i).isEmpty(),
                    i + " examples\n" + v.report());
        }
        assertEquals(expected.values().stream().allMatch(n -> n == 0), v.ok(), v.report());
    }

    static void assertClean(Verdict v) {
        assertViolations(v, Map.of());
    }

    static long ms(Duration d) {
        return d.toMillis();
    }

    /** Three clients on two keys; c1's session is expired while it holds k0 and it is told in 31 ms. */
    @Test
    void cleanHistoryPassesWithItsFigures() {
        H h = new H();
        h.at(0).client("c1", AT_SUSPENDED, "diligent", 0x11).client("c2", AT_LOST, "stubborn", 0x22)
                .client("c3", AT_SUSPENDED, "diligent", 0x33);
        h.at(10).lease("c1", "k0", tk(1, 1), 0).lease("c2", "k0", tk(1, 2), 1).lease("c3", "k1", tk(1, 3), 0);
        h.at(100).grant("c1", "k0", tk(1, 4)).op("c1", "k0", tk(1, 4), "BEGIN", true, 0)
                .op("c1", "k0", tk(1, 4), "READ", true, 2).nop("c1", "k0", "READ", 2);
        h.at(200).start(1, "EXPIRE", "target=c1 key=k0");
        h.at(230).conn("c1", "LOST").lost("c1", "k0", tk(1, 4)).session("c1", 0x12).conn("c1", "RECONNECTED");
        h.at(300).end(1, "EXPIRE", "target=c1 key=k0");
        h.at(400).lease("c2", "k0", tk(1, 5), 2);
        h.at(500).lease("c3", "k0", tk(1, 6), 3);
        h.at(600).lease("c1", "k0", tk(1, 7), 4);
        h.at(700).finish(0);

        Verdict v = h.check();
        assertClean(v);
        Figures f = v.figures();
        assertEquals(3, f.clients());
        assertEquals(7, f.acquisitions());
        assertEquals(6, f.acceptedWrites());
        assertEquals(1, f.faults("EXPIRE"));
        assertEquals(1, f.bit("EXPIRE"));
        assertTrue(f.allFaultsBit());
        assertEquals(1, f.lossNotices());
        assertEquals(1, f.lossTold());
        assertEquals(31, ms(f.lossP50()));
        assertEquals(31, ms(f.lossMax()));
        assertEquals(300, ms(f.healToGrantMax()));
        assertEquals(0, f.suspended());
        assertEquals(1, f.reconnected());
        assertEquals(1, f.connLost());
        assertEquals(1, f.sessionChanges());
        assertEquals(0, f.staleTotal());
        assertEquals(0, f.naiveViolations());
        assertEquals(0, f.overlaps());
        assertEquals(0, f.acceptedAfterLoss());
        assertEquals(0.5, f.violationRateBound(), 1e-9);
        assertTrue(v.summary().startsWith("OK"), v.summary());
        assertTrue(v.report().contains("EXPIRE"), v.report());
    }

    @Test
    void tokenOrderViolation() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.lease("c1", "k0", tk(1, 1), 0).lease("c2", "k0", tk(1, 2), 1);
        h.op("c1", "k0", tk(1, 1), "READ", true, 2); // an old token accepted after a newer one
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(TOKEN_ORDER, 1L));
        assertTrue(v.examples(TOKEN_ORDER).get(0).startsWith("#20 k0 READ"), v.report());
        assertTrue(v.summary().startsWith("FAIL TOKEN_ORDER=1"), v.summary());
    }

    /**
     * An accepted op of another token between begin(t) and commit(t) is always also a token-order violation
     * (it is either below t, or t's commit comes below it), so this history violates both; and c2 was
     * granted k0 while c1 held it, with no fault to explain it.
     */
    @Test
    void interleavingViolation() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0);
        h.lease("c2", "k0", tk(1, 2), 0);
        h.op("c1", "k0", tk(1, 1), "COMMIT", true, 0).release("c1", "k0", tk(1, 1));
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(INTERLEAVING, 1L, TOKEN_ORDER, 1L, CONFLICTING_GRANTS, 1L));
        assertTrue(v.examples(INTERLEAVING).get(0).contains("enclose 4 accepted conflicting op(s)"), v.report());
    }

    @Test
    void lostUpdateViolationCountsEachBreakOnce() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33);
        h.lease("c1", "k0", tk(1, 1), 0);
        h.lease("c2", "k0", tk(1, 2), 0); // read a stale 0: writes 1 again
        h.lease("c3", "k0", tk(1, 3), 1); // continues from the value actually written: no second break
        h.lease("c1", "k1", tk(1, 4), 0);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LOST_UPDATE, 1L));
        assertTrue(v.examples(LOST_UPDATE).get(0).startsWith("k0: first break at #"), v.report());
        assertEquals(1, v.figures().naiveViolations()); // the naive store saw the same stale read
    }

    @Test
    void duplicateTokenViolation() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.lease("c1", "k0", tk(1, 1), 0).lease("c2", "k0", tk(1, 1), 1);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(DUPLICATE_TOKEN, 1L));
        assertTrue(v.examples(DUPLICATE_TOKEN).get(0).contains("already granted at #4 to c1"), v.report());
    }

    /** c1 is told 1600 ms after its connection froze: the bound is 1000 + 500. The freeze bit. */
    @Test
    void lateLossNotice() {
        H h = new H();
        h.at(0).client("c1", AT_SUSPENDED, "diligent", 0x11).client("c2", AT_SUSPENDED, "diligent", 0x22);
        h.grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0)
                .op("c1", "k0", tk(1, 1), "READ", true, 0);
        h.at(100).start(1, "FREEZE_LONG", "target=c1 key=k0");
        h.at(120).conn("c1", "SUSPENDED");
        h.at(1300).lease("c2", "k0", tk(1, 2), 0);
        h.at(1700).lost("c1", "k0", tk(1, 1)).session("c1", 0x12).conn("c1", "RECONNECTED");
        h.at(1800).end(1, "FREEZE_LONG", "target=c1 key=k0");
        h.at(1900).lease("c1", "k0", tk(1, 3), 1).lease("c2", "k0", tk(1, 4), 2);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LOSS_NOTICE, 1L));
        assertTrue(v.examples(LOSS_NOTICE).get(0).contains("told late"), v.report());
        assertEquals(1600, ms(v.figures().lossMax()));
        assertEquals(1, v.figures().bit("FREEZE_LONG"));
    }

    /**
     * Curator runs its listeners in no fixed order, so the lease's LOST can arrive before the client's
     * own CONN SUSPENDED. It is still a notice: counted as due and told, and timed from the fault.
     */
    @Test
    void aNoticeArrivingBeforeTheConnectionEventIsCountedAndTimed() {
        H h = new H();
        h.at(0).client("c1", AT_SUSPENDED, "diligent", 0x11).client("c2", AT_SUSPENDED, "diligent", 0x22);
        h.grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0)
                .op("c1", "k0", tk(1, 1), "READ", true, 0);
        h.at(100).start(1, "FREEZE_SHORT", "target=c1 key=k0");
        h.at(800).add("c1", Type.LOST, "k0", tk(1, 1), 0, "CONNECTION_SUSPENDED", false, 0, null)
                .conn("c1", "SUSPENDED");
        h.at(900).conn("c1", "RECONNECTED").end(1, "FREEZE_SHORT", "target=c1 key=k0");
        h.at(1000).lease("c1", "k0", tk(1, 2), 0).lease("c2", "k0", tk(1, 3), 1);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(1, v.figures().lossNotices());
        assertEquals(1, v.figures().lossTold());
        assertEquals(700, ms(v.figures().lossMax()));
    }

    /**
     * Run 9 of the first ten short runs: after c1's old session expired, its lease k0 was lost and
     * its next lease (k1, on the new session) was granted and reported before c1's own CONN LOST and
     * SESSION reports arrived. The old session's events must not oblige a notice for k1; they still
     * do for a lease of the old session that was never told (k2).
     */
    @Test
    void aLeaseOfTheNewSessionIsNotHeldToTheOldSessionsLoss() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0);
        h.add("c1", Type.GRANT, "k2", tk(1, 2), 0x11, null, false, 0, null);
        h.at(100).start(1, "EXPIRE", "target=c1 key=k0").end(1, "EXPIRE", "target=c1 key=k0");
        h.at(200).conn("c1", "SUSPENDED");
        h.at(900).add("c1", Type.GRANT, "k1", tk(1, 3), 0x12, null, false, 0, null)
                .lost("c1", "k0", tk(1, 1))
                .add("c1", Type.CONN, null, 0, 0x12, "LOST", false, 0, null)
                .session("c1", 0x12);
        h.at(950).op("c1", "k1", tk(1, 3), "BEGIN", true, 0).op("c1", "k1", tk(1, 3), "READ", true, 0)
                .op("c1", "k1", tk(1, 3), "WRITE", true, 1).op("c1", "k1", tk(1, 3), "COMMIT", true, 0)
                .release("c1", "k1", tk(1, 3)).release("c1", "k2", tk(1, 2));
        h.at(1000).lease("c2", "k0", tk(1, 4), 0).lease("c1", "k0", tk(1, 5), 1).lease("c2", "k1", tk(1, 6), 1);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LOSS_NOTICE, 1L));
        assertTrue(v.examples(LOSS_NOTICE).get(0).contains("k2"), v.report());
        assertEquals(2, v.figures().lossNotices());
    }

    /**
     * c2 (at LOST) is expired and releases without being told; c3's connection is LOST with no fault and it is
     * never told. c1 (at LOST) is only suspended and keeps its lease: no notice due. c4 released before it was
     * suspended: nothing due either.
     */
    @Test
    void missingLossNotices() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33).client("c4", AT_SUSPENDED, "diligent", 0x44);
        h.grant("c1", "k0", tk(1, 1)).grant("c2", "k1", tk(1, 2)).grant("c3", "k2", tk(1, 3));
        h.lease("c4", "k3", tk(1, 4), 0);
        h.conn("c4", "SUSPENDED").conn("c4", "RECONNECTED");
        h.at(100).start(1, "EXPIRE", "target=c2 key=k1");
        h.conn("c1", "SUSPENDED").conn("c1", "RECONNECTED").section("c1", "k0", tk(1, 1), 0)
                .release("c1", "k0", tk(1, 1));
        h.conn("c2", "LOST").session("c2", 0x23).release("c2", "k1", tk(1, 2));
        h.end(1, "EXPIRE", "target=c2 key=k1");
        h.conn("c3", "LOST").session("c3", 0x34);
        h.at(200).grant("c1", "k0", tk(1, 5)).grant("c2", "k1", tk(1, 6)).grant("c3", "k3", tk(1, 7))
                .grant("c4", "k4", tk(1, 8));
        h.release("c1", "k0", tk(1, 5)).release("c2", "k1", tk(1, 6)).release("c3", "k3", tk(1, 7))
                .release("c4", "k4", tk(1, 8));
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LOSS_NOTICE, 2L));
        assertTrue(v.examples(LOSS_NOTICE).get(0).startsWith("lease c2 k1"), v.report());
        assertTrue(v.examples(LOSS_NOTICE).get(0).contains("released at #"), v.report());
        assertTrue(v.examples(LOSS_NOTICE).get(1).startsWith("lease c3 k2"), v.report());
        assertTrue(v.examples(LOSS_NOTICE).get(1).contains("never told"), v.report());
        assertEquals(2, v.figures().lossNotices());
        assertEquals(0, v.figures().lossTold());
    }

    /**
     * A paused stubborn holder is told 30 ms after SIGCONT (2930 ms after the SIGSTOP): in time, since a stopped
     * process can be told nothing. Its late write is rejected, so the pause bit; its lease overlapped c2's.
     */
    @Test
    void pauseIsMeasuredFromResumeAndBitesByARejectedWrite() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0)
                .op("c1", "k0", tk(1, 1), "READ", true, 0);
        h.at(100).start(1, "PAUSE", "target=c1 key=k0");
        h.at(1300).lease("c2", "k0", tk(1, 2), 0);
        h.at(3000).end(1, "PAUSE", "target=c1 key=k0");
        h.at(3010).conn("c1", "SUSPENDED");
        h.at(3020).conn("c1", "LOST");
        h.at(3030).lost("c1", "k0", tk(1, 1));
        h.at(3040).op("c1", "k0", tk(1, 1), "WRITE", false, 1).session("c1", 0x12);
        h.at(3100).lease("c1", "k0", tk(1, 3), 1).lease("c2", "k0", tk(1, 4), 2);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        Figures f = v.figures();
        assertEquals(1, f.bit("PAUSE"));
        assertEquals(30, ms(f.lossMax()));
        assertEquals(Map.of("WRITE", 1L), f.staleOps());
        assertEquals(1, f.overlaps());
        assertEquals(0, f.acceptedAfterLoss()); // the rejected write is not counted
    }

    @Test
    void pauseWithoutARejectedOpDidNotBite() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11);
        h.lease("c1", "k0", tk(1, 1), 0);
        h.at(100).start(7, "PAUSE", "target=c1");
        h.at(200).end(7, "PAUSE", "target=c1");
        h.at(300).op("c1", "k0", tk(1, 1), "READ", true, 1).lease("c1", "k0", tk(1, 2), 1);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(1, v.figures().faults("PAUSE"));
        assertEquals(0, v.figures().bit("PAUSE"));
        assertEquals(List.of(7L), v.figures().faults().get("PAUSE").notBitten());
        assertFalse(v.figures().allFaultsBit());
    }

    @Test
    void freezeLongNeedsAnExpiryAndAnotherHolder() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        // fault 1: c1's session expires, but nobody else takes k0 before fault 2: not bitten
        h.at(10).start(1, "FREEZE_LONG", "target=c1 key=k0").conn("c1", "SUSPENDED");
        h.at(1500).end(1, "FREEZE_LONG", "target=c1 key=k0").conn("c1", "LOST").session("c1", 0x12);
        // fault 2: expiry and c2 takes k1 while c1 is cut off: bitten
        h.at(2000).grant("c1", "k1", tk(1, 1));
        h.at(2100).start(2, "FREEZE_LONG", "target=c1 key=k1").conn("c1", "SUSPENDED");
        h.at(3000).conn("c1", "LOST").lost("c1", "k1", tk(1, 1)).lease("c2", "k1", tk(1, 2), 0);
        h.at(3600).end(2, "FREEZE_LONG", "target=c1 key=k1").session("c1", 0x13);
        h.at(3700).lease("c1", "k0", tk(1, 3), 0).lease("c2", "k0", tk(1, 4), 1);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(2, v.figures().faults("FREEZE_LONG"));
        assertEquals(1, v.figures().bit("FREEZE_LONG"));
        assertEquals(List.of(1L), v.figures().faults().get("FREEZE_LONG").notBitten());
        assertEquals(901, ms(v.figures().lossMax())); // from the start of fault 2
    }

    @Test
    void expireBitesOnlyWhenTheTargetLosesItsSession() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.at(10).start(1, "EXPIRE", "target=c1").conn("c1", "LOST").end(1, "EXPIRE", "target=c1");
        h.at(20).start(2, "EXPIRE", "target=c2").session("c1", 0x12).end(2, "EXPIRE", "target=c2");
        h.at(30).start(3, "EXPIRE", "target=c2").session("c2", 0x23).end(3, "EXPIRE", "target=c2");
        h.at(40).lease("c1", "k0", tk(1, 1), 0).lease("c2", "k0", tk(1, 2), 1);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(3, v.figures().faults("EXPIRE"));
        assertEquals(2, v.figures().bit("EXPIRE"));
        assertEquals(List.of(2L), v.figures().faults().get("EXPIRE").notBitten());
        assertEquals(2, v.figures().sessionChanges());
    }

    @Test
    void freezeShortBitesWithTheSameSessionAndAbortsInTime() {
        H h = new H();
        h.at(0).client("c1", AT_SUSPENDED, "diligent", 0x11);
        h.grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0);
        h.at(100).start(1, "FREEZE_SHORT", "target=c1 key=k0");
        h.at(150).conn("c1", "SUSPENDED");
        h.at(160).lost("c1", "k0", tk(1, 1));
        h.at(400).end(1, "FREEZE_SHORT", "target=c1 key=k0").conn("c1", "RECONNECTED");
        // fault 2: the session changed, so it was not a short freeze
        h.at(500).start(2, "FREEZE_SHORT", "target=c1").conn("c1", "SUSPENDED").session("c1", 0x12)
                .conn("c1", "RECONNECTED").end(2, "FREEZE_SHORT", "target=c1");
        h.at(600).lease("c1", "k0", tk(1, 2), 0);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(1, v.figures().bit("FREEZE_SHORT"));
        assertEquals(List.of(2L), v.figures().faults().get("FREEZE_SHORT").notBitten());
        assertEquals(60, ms(v.figures().lossMax()));
        assertEquals(2, v.figures().suspended());
        assertEquals(2, v.figures().reconnected());
    }

    @Test
    void leaderKillShowsANewEpoch() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.lease("c1", "k0", tk(1, 10), 0);
        h.at(100).start(1, "KILL_LEADER", "target=zk2");
        h.at(150).conn("c2", "SUSPENDED").conn("c2", "RECONNECTED");
        h.at(300).end(1, "KILL_LEADER", "target=zk2");
        h.at(400).lease("c2", "k0", tk(2, 1), 1).lease("c1", "k0", tk(2, 2), 2);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(1, v.figures().bit("KILL_LEADER"));
        assertEquals(1, v.figures().leaderKills());
        assertEquals(1, v.figures().leaderKillsNewEpoch());
        assertTrue(v.report().contains("higher epoch: 1 of 1"), v.report());
    }

    @Test
    void leftZnodes() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).lease("c1", "k0", tk(1, 1), 0).finish(3);
        Verdict v = h.check();
        assertViolations(v, Map.of(ZNODES, 1L));
        assertTrue(v.examples(ZNODES).get(0).contains("3 znode(s) left"), v.report());
    }

    @Test
    void missingZnodesEvent() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).lease("c1", "k0", tk(1, 1), 0);
        assertViolations(h.check(), Map.of(ZNODES, 1L));
    }

    /** After the heal at 200 ms, c2 waits 5.8 s (bound 5 s) and c3 closes without a grant. */
    @Test
    void livenessViolations() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33);
        h.lease("c3", "k0", tk(1, 1), 0);
        h.at(100).start(1, "RESTART", "target=zk1").conn("c1", "SUSPENDED");
        h.at(200).end(1, "RESTART", "target=zk1").conn("c1", "RECONNECTED");
        h.at(300).lease("c1", "k0", tk(1, 2), 1);
        h.at(400).close("c3");
        h.at(6000).lease("c2", "k0", tk(1, 3), 2);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LIVENESS, 2L));
        assertEquals(5800, ms(v.figures().healToGrantMax()));
        assertEquals(1, v.figures().bit("RESTART"));
        assertTrue(v.examples(LIVENESS).get(1).startsWith("c3: no grant after heal"), v.report());
    }

    @Test
    void naiveViolationsAreCountedPerKeyInOrder() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11);
        h.nop("c1", "k0", "WRITE", 1).nop("c1", "k0", "WRITE", 2).nop("c1", "k1", "WRITE", 2)
                .nop("c1", "k0", "WRITE", 2).nop("c1", "k0", "WRITE", 3).nop("c1", "k1", "WRITE", 3);
        h.lease("c1", "k2", tk(1, 1), 0).finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(2, v.figures().naiveViolations()); // k1 starting at 2, k0 writing 2 twice
    }

    @Test
    void overlapsArePairsOfDifferentClientsOnOneKey() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33);
        h.grant("c1", "k0", tk(1, 1)).grant("c2", "k0", tk(1, 2)).release("c1", "k0", tk(1, 1));
        h.grant("c3", "k0", tk(1, 3)).lost("c2", "k0", tk(1, 2)).release("c3", "k0", tk(1, 3));
        h.grant("c1", "k1", tk(1, 4)).release("c1", "k1", tk(1, 4)).grant("c2", "k1", tk(1, 5));
        h.grant("c2", "k2", tk(1, 6)).grant("c2", "k2", tk(1, 7)); // the same client twice: not an overlap
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(CONFLICTING_GRANTS, 2L)); // no fault explains them
        assertEquals(2, v.figures().overlaps()); // c1/c2 and c2/c3 on k0
    }

    /** A stubborn client keeps writing after LOST: accepted while it is still the newest token, then rejected. */
    @Test
    void stubbornOpsAfterLossAreJudgedOnlyByTheStore() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0)
                .op("c1", "k0", tk(1, 1), "READ", true, 0);
        h.at(100).start(1, "EXPIRE", "target=c1 key=k0");
        h.at(120).conn("c1", "LOST").lost("c1", "k0", tk(1, 1));
        h.op("c1", "k0", tk(1, 1), "WRITE", true, 1).op("c1", "k0", tk(1, 1), "COMMIT", true, 0);
        h.session("c1", 0x12).end(1, "EXPIRE", "target=c1 key=k0");
        h.at(200).lease("c2", "k0", tk(1, 2), 1);
        h.op("c1", "k0", tk(1, 1), "BEGIN", false, 0);
        h.at(300).lease("c1", "k0", tk(1, 3), 2);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(2, v.figures().acceptedAfterLoss());
        assertEquals(Map.of("BEGIN", 1L), v.figures().staleOps());
        assertEquals(1, v.figures().bit("EXPIRE"));
        assertEquals(3, v.figures().acceptedWrites());
    }

    // ------------------------------------------------------------------------------- leader scope

    /**
     * c1 (stubborn, LOSE_AT_LOST) leads and runs two sections with its one term token (one GRANT:
     * no duplicate); a FREEZE_LONG aimed at its job cuts it off, c2 takes over before c1 is told,
     * and c1's late write is rejected while the naive store takes it. c2 resigns and c3 leads.
     */
    @Test
    void cleanLeaderHistoryWithHandoversAndAStaleTermRejected() {
        long a = tk(1, 10);
        long b = tk(1, 20);
        long c = tk(1, 30);
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_SUSPENDED, "diligent", 0x33);
        h.at(10).grant("c1", LEADER, a).section("c1", LEADER, a, 0).section("c1", LEADER, a, 1);
        h.lease("c2", "k0", tk(1, 11), 0).lease("c3", "k0", tk(1, 12), 1);
        h.at(100).op("c1", LEADER, a, "BEGIN", true, 0).op("c1", LEADER, a, "READ", true, 2)
                .nop("c1", LEADER, "READ", 2);
        h.at(200).start(1, "FREEZE_LONG", "target=c1 key=leader");
        h.at(220).conn("c1", "SUSPENDED");
        h.at(1300).grant("c2", LEADER, b).section("c2", LEADER, b, 2);
        h.at(1350).conn("c1", "LOST").lost("c1", LEADER, a).session("c1", 0x12);
        h.at(1400).end(1, "FREEZE_LONG", "target=c1 key=leader");
        h.at(1500).op("c1", LEADER, a, "WRITE", false, 3).nop("c1", LEADER, "WRITE", 3);
        h.at(2000).release("c2", LEADER, b).grant("c3", LEADER, c).section("c3", LEADER, c, 3);
        h.at(2100).lease("c1", "k1", tk(1, 40), 0).lease("c2", "k1", tk(1, 41), 1).lease("c3", "k1", tk(1, 42), 2);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        Figures f = v.figures();
        assertEquals(5, f.acquisitions()); // locks only
        LeaderFigures lf = f.leader();
        assertEquals(3, lf.terms());
        assertEquals(2, lf.handovers());
        assertEquals(1, lf.lost());
        assertEquals(1, lf.resigned());
        assertEquals(4, lf.sections());
        assertEquals(1, lf.staleOps());
        assertEquals(1, lf.naiveViolations());
        assertEquals(1, lf.overlaps()); // c1 believed it led until 1350, c2 led from 1300
        assertEquals(1, lf.faultsAimed());
        assertEquals(1, lf.faultsAimedBit());
        assertEquals(1, lf.faultsEndedTerm());
        assertEquals(607, ms(lf.healToCommit())); // c3's commit at 2007, heal at 1400
        assertEquals(Map.of("WRITE", 1L), f.staleOps());
        assertEquals(1, f.naiveViolations());
        assertEquals(0, f.overlaps()); // locks only
        assertEquals(1, f.lossNotices());
        assertEquals(1151, ms(f.lossMax())); // from the start of the fault to the notice at 1351
        assertTrue(v.summary().contains("leader scope: 3 terms, 2 handovers, 4 sections"), v.summary());
    }

    /**
     * Two terms' records interleaved: c2's whole section is accepted between c1's begin and commit,
     * and c1's write and commit after it. Every store invariant sees it, and so does
     * DOUBLE_SINGLETON_RUN.
     */
    @Test
    void twoTermsInterleavedAtTheResource() {
        long a = tk(1, 10);
        long b = tk(1, 20);
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.lease("c1", "k0", tk(1, 1), 0).lease("c2", "k0", tk(1, 2), 1);
        h.grant("c1", LEADER, a).op("c1", LEADER, a, "BEGIN", true, 0).op("c1", LEADER, a, "READ", true, 0);
        h.grant("c2", LEADER, b).section("c2", LEADER, b, 0);
        h.op("c1", LEADER, a, "WRITE", true, 1).op("c1", LEADER, a, "COMMIT", true, 0);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(DOUBLE_SINGLETON_RUN, 1L, INTERLEAVING, 1L, TOKEN_ORDER, 2L, LOST_UPDATE, 1L));
        assertTrue(v.examples(DOUBLE_SINGLETON_RUN).get(0).contains("WRITE of the term of c1 token=0x1:0xa ACCEPTED"
                + " after that term was taken over at #"), v.report());
        assertTrue(v.examples(DOUBLE_SINGLETON_RUN).get(0).contains("by the term of c2 token=0x1:0x14"), v.report());
        assertTrue(v.summary().startsWith("FAIL TOKEN_ORDER=2 INTERLEAVING=1 DOUBLE_SINGLETON_RUN=1 LOST_UPDATE=1"), v.summary());
    }

    /** A stale term, already told of its loss, runs a whole section after the next term's: accepted. */
    @Test
    void aStaleTermAcceptedAfterANewerOne() {
        long a = tk(1, 10);
        long b = tk(1, 20);
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.lease("c1", "k0", tk(1, 1), 0).lease("c2", "k0", tk(1, 2), 1);
        h.grant("c1", LEADER, a).section("c1", LEADER, a, 0).lost("c1", LEADER, a);
        h.grant("c2", LEADER, b).section("c2", LEADER, b, 1);
        h.section("c1", LEADER, a, 2); // the fence should have refused all of it
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(DOUBLE_SINGLETON_RUN, 1L, TOKEN_ORDER, 4L));
        assertTrue(v.examples(DOUBLE_SINGLETON_RUN).get(0).contains("BEGIN of the term of c1"), v.report());
        assertEquals(4, v.figures().acceptedAfterLoss());
        assertEquals(3, v.figures().leader().sections());
    }

    /**
     * Two clients believe they lead with the same token and take turns between sections: no
     * token decreases and no section encloses another's operation, so only the duplicate grant
     * and DOUBLE_SINGLETON_RUN see it; without c2's GRANT (a phantom term), only the latter.
     */
    @Test
    void twoTermsSharingATokenTakeTurns() {
        for (boolean reported : new boolean[] {true, false}) {
            long a = tk(1, 10);
            H h = new H();
            h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
            h.lease("c1", "k0", tk(1, 1), 0).lease("c2", "k0", tk(1, 2), 1);
            h.grant("c1", LEADER, a);
            if (reported) {
                h.grant("c2", LEADER, a);
            }
            h.section("c1", LEADER, a, 0).section("c2", LEADER, a, 1).section("c1", LEADER, a, 2);
            h.finish(0);

            Verdict v = h.check();
            assertViolations(v, reported ? Map.of(DOUBLE_SINGLETON_RUN, 1L, DUPLICATE_TOKEN, 1L)
                    : Map.of(DOUBLE_SINGLETON_RUN, 1L));
            assertTrue(v.examples(DOUBLE_SINGLETON_RUN).get(0).contains("of the term of c1 token=0x1:0xa ACCEPTED"),
                    v.report());
        }
    }

    /** A leader whose session was expired is never told: LOSS_NOTICE holds for terms as for leases. */
    @Test
    void aTermNeverToldOfItsLoss() {
        long a = tk(1, 10);
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.grant("c1", LEADER, a).section("c1", LEADER, a, 0);
        h.at(100).start(1, "EXPIRE", "target=c1 key=leader").conn("c1", "LOST").session("c1", 0x12)
                .end(1, "EXPIRE", "target=c1 key=leader");
        h.at(200).grant("c2", LEADER, tk(1, 20)).section("c2", LEADER, tk(1, 20), 1);
        h.lease("c1", "k0", tk(1, 21), 0).lease("c2", "k0", tk(1, 22), 1);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LOSS_NOTICE, 1L));
        assertTrue(v.examples(LOSS_NOTICE).get(0).startsWith("lease c1 leader token=0x1:0xa"), v.report());
        assertEquals(1, v.figures().bit("EXPIRE"));
        assertEquals(1, v.figures().leader().faultsAimed());
        assertEquals(0, v.figures().leader().faultsEndedTerm()); // no LOST came
    }

    /**
     * After the heal only the stale term's section commits (it was told of its loss): nobody leads
     * again. Each client is granted a lock, so only the leader's liveness fails.
     */
    @Test
    void noTermCommitsAfterTheHeal() {
        long a = tk(1, 10);
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.grant("c1", LEADER, a).section("c1", LEADER, a, 0);
        h.at(100).start(1, "EXPIRE", "target=c1 key=leader").conn("c1", "LOST").lost("c1", LEADER, a)
                .session("c1", 0x12).end(1, "EXPIRE", "target=c1 key=leader");
        h.at(200).section("c1", LEADER, a, 1);
        h.lease("c1", "k0", tk(1, 21), 0).lease("c2", "k0", tk(1, 22), 1);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LIVENESS, 1L));
        assertTrue(v.examples(LIVENESS).get(0).startsWith("leader: no term committed after heal #"), v.report());
    }

    /** The leader's liveness is judged only when the run elects leaders; a slow first commit fails it. */
    @Test
    void aLeaderCommittingLateAfterTheHeal() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11);
        h.grant("c1", LEADER, tk(1, 10)).section("c1", LEADER, tk(1, 10), 0);
        h.at(100).start(1, "RESTART", "target=server").conn("c1", "SUSPENDED").lost("c1", LEADER, tk(1, 10));
        h.at(200).end(1, "RESTART", "target=server").conn("c1", "RECONNECTED");
        h.at(300).lease("c1", "k0", tk(1, 11), 0);
        h.at(6000).grant("c1", LEADER, tk(1, 12)).section("c1", LEADER, tk(1, 12), 1);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(LIVENESS, 1L));
        assertTrue(v.examples(LIVENESS).get(0).contains("first commit of a term after heal"), v.report());
        assertEquals(5806, ms(v.figures().leader().healToCommit()));
    }

    // ------------------------------------------------------------------------------- hierarchy

    /**
     * The mixed workload across levels: shared holders of a coarse and a fine key read together (their
     * tokens in either order), an exclusive holder of a leaf comes after them with a greater token, an
     * acquireAll holds a shared key and an exclusive one, a request times out, one waits on a key that
     * conflicts with nothing. Every operation on a leaf, in the mode its lease holds it.
     */
    @Test
    void cleanMixedHistoryAcrossLevels() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "stubborn", 0x22)
                .client("c3", AT_SUSPENDED, "diligent", 0x33);
        h.at(10).request("c1", "acct=S", 2000, 1).request("c2", "acct/a/1=S", 2000, 1)
                .grant("c2", "acct/a/1=S", tk(1, 6), 1).grant("c1", "acct=S", tk(1, 5), 1);
        h.readOnly("c2", "acct/a/1", tk(1, 6), 0).readOnly("c1", "acct/a/1", tk(1, 5), 0)
                .readOnly("c1", "acct/a/2", tk(1, 5), 0).readOnly("c1", "acct/b/1", tk(1, 5), 0);
        h.request("c3", "acct/a/1", 0, 1).timeout("c3", "acct/a/1", 1);
        h.request("c3", "acct/a/1", 2000, 2);
        h.release("c1", "acct=S", tk(1, 5)).release("c2", "acct/a/1=S", tk(1, 6));
        h.grant("c3", "acct/a/1", tk(1, 7), 2).section("c3", "acct/a/1", tk(1, 7), 0)
                .release("c3", "acct/a/1", tk(1, 7));
        h.request("c1", "acct/b=S,acct/a", 2000, 2).grant("c1", "acct/b=S,acct/a", tk(1, 8), 2)
                .readOnly("c1", "acct/b/1", tk(1, 8), 0).section("c1", "acct/a/1", tk(1, 8), 1)
                .section("c1", "acct/a/2", tk(1, 8), 0);
        h.request("c2", "k0", 2000, 2).grant("c2", "k0", tk(1, 9), 2).section("c2", "k0", tk(1, 9), 0)
                .release("c2", "k0", tk(1, 9));
        h.release("c1", "acct/b=S,acct/a", tk(1, 8));
        h.request("c2", "acct/b/1", 2000, 3)
                .add("c2", Type.GRANT, "acct/b/1", tk(1, 10), 0x22, null, false, 0, "req=3 granted=acct/b/1=S")
                .section("c2", "acct/b/1", tk(1, 10), 0).release("c2", "acct/b/1", tk(1, 10));
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        Verdict.Mix m = v.figures().mix();
        assertEquals(7, m.requests());
        assertEquals(6, m.granted());
        assertEquals(1, m.timedOut());
        assertEquals(1, m.acquireAll());
        assertEquals(1, m.mismatched());
        assertEquals(Map.of("S1", 1L, "S3", 1L, "X3", 2L, "S2", 1L, "X2", 1L, "X1", 1L), m.byModeDepth());
        assertEquals(3, m.keys("S"));
        assertEquals(2, m.keysAtDepth(1));
        assertEquals(0, v.figures().overlaps()); // the two shared holders do not conflict
        assertEquals(5, v.figures().acceptedWrites());
        assertTrue(v.summary().contains("requests 7: granted 6, timed out 1, failed 0"), v.summary());
    }

    /**
     * A shared read below an exclusive token, and an exclusive write below a shared token, are accepted:
     * both violate token order; a shared read below another shared token does not.
     */
    @Test
    void tokenOrderAcrossModes() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33);
        h.sop("c1", "acct/a/1", tk(1, 12), "READ", true, 0).sop("c2", "acct/a/1", tk(1, 11), "READ", true, 0);
        h.op("c3", "acct/a/1", tk(1, 10), "WRITE", true, 1); // below a shared 12
        h.op("c3", "acct/a/2", tk(1, 20), "WRITE", true, 1).sop("c1", "acct/a/2", tk(1, 19), "READ", true, 1);
        h.lease("c1", "k0", tk(1, 30), 0).lease("c2", "k0", tk(1, 31), 1).lease("c3", "k0", tk(1, 32), 2);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(TOKEN_ORDER, 2L));
        assertTrue(v.examples(TOKEN_ORDER).get(0).startsWith("#"), v.report());
        assertTrue(v.examples(TOKEN_ORDER).get(0).contains("acct/a/1 WRITE token=0x1:0xa ACCEPTED by c3 below"
                + " token=0x1:0xc accepted at #6 (c1, shared)"), v.report());
        assertTrue(v.examples(TOKEN_ORDER).get(1).contains("acct/a/2 READ shared token=0x1:0x13"), v.report());
    }

    /**
     * c1 holds acct/a exclusively and begins on its leaf acct/a/1; c2, granted acct/a/1 shared while c1
     * holds it (no fault), reads that leaf inside c1's section, and c1's commit is accepted after it.
     * Shared operations of another token inside a shared section are no interleaving.
     */
    @Test
    void interleavingOfACoarseAndAFineHolderAtALeaf() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33);
        h.grant("c1", "acct/a", tk(1, 10)).op("c1", "acct/a/1", tk(1, 10), "BEGIN", true, 0);
        h.grant("c2", "acct/a/1=S", tk(1, 11)).readOnly("c2", "acct/a/1", tk(1, 11), 0);
        h.op("c1", "acct/a/1", tk(1, 10), "COMMIT", true, 0).release("c1", "acct/a", tk(1, 10));
        h.release("c2", "acct/a/1=S", tk(1, 11));
        h.grant("c3", "acct/b=S", tk(1, 20)).sop("c3", "acct/b/1", tk(1, 20), "BEGIN", true, 0);
        h.grant("c2", "acct=S", tk(1, 19)).readOnly("c2", "acct/b/1", tk(1, 19), 0);
        h.sop("c3", "acct/b/1", tk(1, 20), "COMMIT", true, 0);
        h.release("c3", "acct/b=S", tk(1, 20)).release("c2", "acct=S", tk(1, 19));
        h.lease("c1", "k0", tk(1, 30), 0).lease("c2", "k0", tk(1, 31), 1).lease("c3", "k0", tk(1, 32), 2);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(INTERLEAVING, 1L, TOKEN_ORDER, 1L, CONFLICTING_GRANTS, 1L));
        assertTrue(v.examples(INTERLEAVING).get(0).startsWith("acct/a/1: BEGIN #"), v.report());
        assertTrue(v.examples(INTERLEAVING).get(0).contains("enclose 3 accepted conflicting op(s) of other tokens,"
                + " first #9 BEGIN token=0x1:0xb (c2, shared)"), v.report());
        assertTrue(v.examples(CONFLICTING_GRANTS).get(0).contains("GRANT acct/a/1=S token=0x1:0xb to c2 while c1"
                + " acct/a token=0x1:0xa"), v.report());
        assertEquals(1, v.figures().overlaps());
    }

    /** The same token on a coarse and a fine grant that conflict; shared grants may share one. */
    @Test
    void duplicateTokenAcrossLevels() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.grant("c1", "acct/a", tk(1, 5)).section("c1", "acct/a/1", tk(1, 5), 0).release("c1", "acct/a", tk(1, 5));
        h.grant("c2", "acct/a/1=S", tk(1, 5)).readOnly("c2", "acct/a/1", tk(1, 5), 1)
                .release("c2", "acct/a/1=S", tk(1, 5));
        h.grant("c1", "acct=S", tk(1, 7)).grant("c2", "acct/b=S,k0=S", tk(1, 7));
        h.release("c1", "acct=S", tk(1, 7)).release("c2", "acct/b=S,k0=S", tk(1, 7));
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(DUPLICATE_TOKEN, 1L));
        assertTrue(v.examples(DUPLICATE_TOKEN).get(0).contains("GRANT acct/a/1=S token=0x1:0x5 to c2: token already"
                + " granted at #4 to c1 (acct/a)"), v.report());
    }

    /**
     * A coarse grant after a fine one, and a fine grant after a coarse one, each requested after the
     * earlier grant was reported, with a lower token. Not judged: grants that do not conflict (shared
     * and shared, unrelated keys), and a request made before the earlier grant was reported.
     */
    @Test
    void grantOrderCoarseAfterFineAndTheReverse() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33);
        h.request("c1", "acct/a/1", 100, 1).grant("c1", "acct/a/1", tk(1, 20), 1).release("c1", "acct/a/1", tk(1, 20));
        h.request("c2", "acct=S", 100, 1).grant("c2", "acct=S", tk(1, 15), 1).release("c2", "acct=S", tk(1, 15));
        h.request("c1", "acct", 100, 2).grant("c1", "acct", tk(1, 30), 2).release("c1", "acct", tk(1, 30));
        h.request("c3", "k0,acct/b/1=S", 100, 1).grant("c3", "k0,acct/b/1=S", tk(1, 25), 1)
                .release("c3", "k0,acct/b/1=S", tk(1, 25));
        h.request("c1", "acct/a/2=S", 100, 3).grant("c1", "acct/a/2=S", tk(1, 40), 3)
                .release("c1", "acct/a/2=S", tk(1, 40));
        h.request("c2", "acct=S", 100, 2).grant("c2", "acct=S", tk(1, 35), 2).release("c2", "acct=S", tk(1, 35));
        h.request("c3", "acct/b", 100, 2); // asked before the next grant was reported: it may come first
        h.request("c1", "k1", 100, 4).grant("c1", "k1", tk(1, 50), 4).release("c1", "k1", tk(1, 50));
        h.grant("c3", "acct/b", tk(1, 36), 2).release("c3", "acct/b", tk(1, 36));
        h.request("c2", "acct/b/1=S", 100, 3).grant("c2", "acct/b/1=S", tk(1, 45), 3)
                .release("c2", "acct/b/1=S", tk(1, 45));
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(GRANT_ORDER, 2L));
        assertTrue(v.examples(GRANT_ORDER).get(0).contains("GRANT acct=S token=0x1:0xf to c2, requested at #"),
                v.report());
        assertTrue(v.examples(GRANT_ORDER).get(0).contains("after the conflicting GRANT acct/a/1 token=0x1:0x14"),
                v.report());
        assertTrue(v.examples(GRANT_ORDER).get(1).contains("GRANT k0,acct/b/1=S token=0x1:0x19 to c3"), v.report());
        assertTrue(v.examples(GRANT_ORDER).get(1).contains("conflicting GRANT acct token=0x1:0x1e"), v.report());
    }

    /**
     * c2 is granted a leaf under c1's coarse lease while c1 is cut off (a fault explains it), and later,
     * with no fault, while c1 holds another coarse lease: only the second is a violation. A grant while
     * c3's connection is suspended is explained too.
     */
    @Test
    void conflictingGrantsAreJudgedOutsideFaults() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "diligent", 0x33);
        h.at(10).grant("c1", "acct", tk(1, 10));
        h.at(100).start(1, "FREEZE_LONG", "target=c1 key=acct");
        h.at(1200).grant("c2", "acct/a/1", tk(1, 11)).section("c2", "acct/a/1", tk(1, 11), 0)
                .release("c2", "acct/a/1", tk(1, 11));
        h.at(1300).lost("c1", "acct", tk(1, 10)).session("c1", 0x12);
        h.at(1400).end(1, "FREEZE_LONG", "target=c1 key=acct");
        h.at(3000).grant("c1", "acct/b", tk(1, 20));
        h.at(3100).grant("c2", "acct/b/1=S", tk(1, 21)).release("c2", "acct/b/1=S", tk(1, 21));
        h.release("c1", "acct/b", tk(1, 20));
        h.at(3200).grant("c3", "k0", tk(1, 30)).conn("c3", "SUSPENDED");
        h.at(3300).grant("c1", "k0", tk(1, 31)).release("c1", "k0", tk(1, 31));
        h.at(3400).conn("c3", "RECONNECTED").lost("c3", "k0", tk(1, 30));
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(CONFLICTING_GRANTS, 1L));
        assertTrue(v.examples(CONFLICTING_GRANTS).get(0).startsWith("#"), v.report());
        assertTrue(v.examples(CONFLICTING_GRANTS).get(0).contains("GRANT acct/b/1=S token=0x1:0x15 to c2 while c1"
                + " acct/b token=0x1:0x14"), v.report());
        assertEquals(2, v.figures().mix().excusedOverlaps());
        assertEquals(3, v.figures().overlaps());
    }

    /**
     * Requests that never end, or end long after their wait (granted or timed out), are stuck; one whose
     * client was paused meanwhile is given the pause. A timeout before the wait has passed is counted.
     */
    @Test
    void stuckRequests() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                .client("c3", AT_LOST, "stubborn", 0x33);
        h.at(10).request("c1", "acct", 100, 1).request("c2", "acct/a=S", 100, 1).request("c3", "k0", 100, 1);
        h.at(50).timeout("c1", "acct", 1); // early
        h.at(100).start(1, "PAUSE", "target=c3 key=k1");
        h.at(700).grant("c2", "acct/a=S", tk(1, 1), 1).release("c2", "acct/a=S", tk(1, 1));
        h.at(2100).end(1, "PAUSE", "target=c3 key=k1");
        h.at(2300).timeout("c3", "k0", 1); // 2.29 s, paused 2 s of it
        h.at(2400).request("c1", "acct/b", 1000, 2).request("c2", "k0", 0, 2).request("c3", "k0", 0, 2);
        h.at(2410).timeout("c2", "k0", 2);
        h.at(3000).timeout("c3", "k0", 2); // 600 ms for a try-once
        h.at(3100).lease("c1", "k1", tk(1, 2), 0).lease("c2", "k1", tk(1, 3), 1).lease("c3", "k1", tk(1, 4), 2);
        h.finish(0);

        Verdict v = h.check();
        assertViolations(v, Map.of(STUCK_REQUEST, 3L));
        List<String> x = v.examples(STUCK_REQUEST);
        assertTrue(x.get(0).startsWith("c2 request 1 (#"), v.report());
        assertTrue(x.get(0).contains("ended at #"), v.report());
        assertTrue(x.get(0).contains("(GRANT) after 689.0 ms, margin 500.0 ms"), v.report());
        assertTrue(x.get(1).startsWith("c1 request 2 (#"), v.report());
        assertTrue(x.get(1).contains("acct/b, wait 1000 ms) never ended"), v.report());
        assertTrue(x.get(2).startsWith("c3 request 2"), v.report());
        assertTrue(x.get(2).contains("(TIMEOUT) after 598.0 ms"), v.report());
        Verdict.Mix m = v.figures().mix();
        assertEquals(6, m.requests());
        assertEquals(1, m.earlyTimeouts());
        assertEquals(4, m.timedOut());
        assertEquals(1, m.granted());
        assertEquals(2188, ms(m.maxOverrun())); // c3's first, explained by its pause
    }

    /** LOSE_ALL (in-memory runs) bit when some lease was lost in its window; it explains a conflicting grant. */
    @Test
    void loseAllBitesByALossAndExplainsTheNextGrant() {
        H h = new H();
        h.at(0).client("c1", AT_LOST, "stubborn", 0x11).client("c2", AT_LOST, "diligent", 0x22);
        h.at(10).grant("c1", "acct/a", tk(1, 1));
        h.at(100).start(1, "LOSE_ALL", "reason=SESSION_EXPIRED").end(1, "LOSE_ALL", "reason=SESSION_EXPIRED");
        h.grant("c2", "acct/a/2", tk(1, 2)).section("c2", "acct/a/2", tk(1, 2), 0);
        h.add("c1", Type.LOST, "acct/a", tk(1, 1), 0, "SESSION_EXPIRED", false, 0, null);
        h.release("c2", "acct/a/2", tk(1, 2));
        h.at(200).start(2, "LOSE_ALL", "reason=CONNECTION_SUSPENDED").end(2, "LOSE_ALL", "reason=CONNECTION_SUSPENDED");
        h.at(300).lease("c1", "k0", tk(1, 3), 0).lease("c2", "k0", tk(1, 4), 1);
        h.finish(0);

        Verdict v = h.check();
        assertClean(v);
        assertEquals(2, v.figures().faults("LOSE_ALL"));
        assertEquals(1, v.figures().bit("LOSE_ALL"));
        assertEquals(1, v.figures().mix().excusedOverlaps());
        assertEquals(1, v.figures().lossTold());
    }

    /**
     * An in-memory PAUSE also loses every lease (its detail says loseAll=): the first in-memory runs
     * reported CONFLICTING_GRANTS for a client that was not the paused one and lost its lease in it.
     * Without that mark the same grant is a violation.
     */
    @Test
    void anInMemoryPauseThatLosesEveryLeaseExplainsAnotherHoldersOverlap() {
        for (boolean losesAll : new boolean[] {true, false}) {
            String detail = "target=c3 key=acct/b" + (losesAll ? " loseAll=SESSION_EXPIRED" : "");
            H h = new H();
            h.at(0).client("c1", AT_LOST, "diligent", 0x11).client("c2", AT_LOST, "diligent", 0x22)
                    .client("c3", AT_LOST, "stubborn", 0x33);
            h.at(10).grant("c3", "acct/b", tk(1, 1)).grant("c1", "acct/a/2,k0=S", tk(1, 2));
            h.at(100).start(1, "PAUSE", detail).lost("c3", "acct/b", tk(1, 1));
            h.grant("c2", "acct/a/2=S", tk(1, 3)).release("c2", "acct/a/2=S", tk(1, 3));
            h.add("c1", Type.LOST, "acct/a/2,k0=S", tk(1, 2), 0, "SESSION_EXPIRED", false, 0, null);
            h.end(1, "PAUSE", detail);
            h.at(300).lease("c1", "k1", tk(1, 4), 0).lease("c2", "k1", tk(1, 5), 1).lease("c3", "k1", tk(1, 6), 2);
            h.finish(0);

            Verdict v = h.check();
            assertViolations(v, losesAll ? Map.of() : Map.of(CONFLICTING_GRANTS, 1L));
            assertEquals(losesAll ? 1 : 0, v.figures().mix().excusedOverlaps());
        }
    }

    /**
     * HUNG: c1 is granted k0 with a lease time of 1000 ms and hangs in its section. Its lease ends
     * on time (LEASE_EXPIRED), c2 is granted k0 while c1 is still in its section (reported before
     * c1's loss: the fault explains it), and c1's late write with its old token is rejected: it
     * bit. Without the rejected write, with the lease ending later than its time plus the margin,
     * or lost for another reason, it did not.
     */
    @Test
    void hungHolderBitesWhenItsLeaseEndsOnTimeAndItsLateWriteIsRejected() {
        for (String variant : List.of("bites", "no late write", "ended late", "session expired")) {
            String detail = "target=c1 key=k0 lease=1000ms";
            H h = new H();
            h.at(0).client("c1", AT_SUSPENDED, "diligent", 0x11).client("c2", AT_SUSPENDED, "diligent", 0x22);
            h.at(10).grant("c1", "k0", tk(1, 1)).op("c1", "k0", tk(1, 1), "BEGIN", true, 0)
                    .op("c1", "k0", tk(1, 1), "READ", true, 0).nop("c1", "k0", "READ", 0);
            h.at(20).start(1, "HUNG", detail);
            h.at(variant.equals("ended late") ? 1600 : 1010).grant("c2", "k0", tk(1, 2));
            h.add("c1", Type.LOST, "k0", tk(1, 1), 0, variant.equals("session expired") ? "SESSION_EXPIRED"
                    : "LEASE_EXPIRED", false, 0, null);
            h.section("c2", "k0", tk(1, 2), 0).release("c2", "k0", tk(1, 2));
            h.at(1700).end(1, "HUNG", detail);
            h.at(2010).nop("c1", "k0", "WRITE", 1);
            if (!variant.equals("no late write")) {
                h.op("c1", "k0", tk(1, 1), "WRITE", false, 1);
            }
            h.at(2100).lease("c1", "k0", tk(1, 3), 1).lease("c2", "k0", tk(1, 4), 2);
            h.finish(0);

            Verdict v = h.check();
            assertClean(v);
            Figures f = v.figures();
            assertEquals(1, f.faults("HUNG"), variant);
            assertEquals(variant.equals("bites") ? 1 : 0, f.bit("HUNG"), variant + "\n" + v.report());
            assertEquals(1, f.mix().excusedOverlaps(), variant);
            assertEquals(1, f.naiveViolations(), variant);
        }
    }

    @Test
    void percentilesAreNearestRank() {
        List<Long> values = java.util.stream.LongStream.rangeClosed(1, 200).boxed().toList();
        assertEquals(100, Checker.percentile(values, 0.50));
        assertEquals(198, Checker.percentile(values, 0.99));
        assertEquals(200, Checker.percentile(values, 1.0));
        assertEquals(0, Checker.percentile(List.of(), 0.5));
        assertEquals(7, Checker.percentile(List.of(7L), 0.99));
    }
}
