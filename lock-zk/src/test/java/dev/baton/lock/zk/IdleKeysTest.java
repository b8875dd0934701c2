package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Which keys are idle long enough to sweep, on a clock the test moves. */
class IdleKeysTest {
    private final AtomicLong now = new AtomicLong(1_000);
    private final IdleKeys idle = new IdleKeys(now::get);
    private final LockKey a = LockKey.of("a");
    private final LockKey b = LockKey.of("b");
    private final LockKey bc = LockKey.of("b", "c");

    @Test
    void aKeyIsSweptOnlyAfterStayingIdleForTheIdleTime() {
        idle.begin(Set.of(a));
        idle.end(Set.of(a));
        now.addAndGet(IdleKeys.IDLE_NANOS - 1);
        assertEquals(Map.of(), idle.takeIdle());
        now.addAndGet(1);
        assertEquals(Map.of(a, true), idle.takeIdle());
        assertEquals(Map.of(), idle.takeIdle(), "forgotten once taken");
        assertEquals(0, idle.size());
    }

    @Test
    void ancestorsAreSweptTooFinestFirstAndOnlyKeysAskedForHaveAStrongIndex() {
        idle.begin(Set.of(bc));
        idle.end(Set.of(bc));
        now.addAndGet(IdleKeys.IDLE_NANOS);
        Map<LockKey, Boolean> taken = idle.takeIdle();
        assertEquals(List.of(bc, b), List.copyOf(taken.keySet()), "children before their parent");
        assertEquals(Map.of(bc, true, b, false), taken, "b held only an intention: no strong index of ours");
    }

    @Test
    void aKeyAskedForOnceKeepsItsStrongIndexInTheSweep() {
        idle.begin(Set.of(b, bc));
        idle.end(Set.of(b, bc));
        idle.begin(Set.of(bc)); // b: in use as an ancestor again, then idle again as one
        idle.end(Set.of(bc));
        now.addAndGet(IdleKeys.IDLE_NANOS);
        assertEquals(Map.of(b, false, bc, true), idle.takeIdle(), "b idle since the second end, as an ancestor only");
    }

    @Test
    void aKeyInUseIsNotSwept() {
        idle.begin(Set.of(a));
        now.addAndGet(10 * IdleKeys.IDLE_NANOS);
        assertEquals(Map.of(), idle.takeIdle(), "held, never ended");
        idle.end(Set.of(a));
        idle.begin(Set.of(a)); // taken again before it was idle long
        now.addAndGet(10 * IdleKeys.IDLE_NANOS);
        assertEquals(Map.of(), idle.takeIdle());
    }

    @Test
    void usingAKeyAgainRestartsItsIdleTime() {
        idle.begin(Set.of(a));
        idle.end(Set.of(a));
        now.addAndGet(IdleKeys.IDLE_NANOS / 2);
        idle.begin(Set.of(a)); // a hot key: used again before it was idle long
        idle.end(Set.of(a));
        now.addAndGet(IdleKeys.IDLE_NANOS / 2 + 1);
        assertEquals(Map.of(), idle.takeIdle());
        now.addAndGet(IdleKeys.IDLE_NANOS / 2);
        assertEquals(Map.of(a, true), idle.takeIdle());
    }

    @Test
    void aStreamOfFreshKeysKeepsTheirSharedAncestorBusy() {
        LockKey parent = LockKey.of("stream");
        for (int i = 0; i < 5; i++) {
            LockKey key = parent.child("k" + i);
            idle.begin(Set.of(key));
            idle.end(Set.of(key));
            now.addAndGet(IdleKeys.IDLE_NANOS / 2);
        }
        // every key ended at least half an idle time ago; the parent only just
        Map<LockKey, Boolean> taken = idle.takeIdle();
        assertEquals(4, taken.size(), taken.toString());
        assertEquals(false, taken.containsKey(parent));
        now.addAndGet(IdleKeys.IDLE_NANOS / 2);
        assertEquals(Map.of(parent.child("k4"), true, parent, false), idle.takeIdle());
    }

    @Test
    void theLocksRootIsDueOnlyOnceNoRequestHasBegunForTheIdleTime() {
        assertEquals(false, idle.takeRoot(), "nothing ended yet");
        idle.begin(Set.of(a));
        idle.begin(Set.of(bc));
        idle.end(Set.of(a));
        now.addAndGet(IdleKeys.IDLE_NANOS);
        assertEquals(true, idle.takeRoot(), "no request began since the last end: bc's request holds no state here");
        idle.end(Set.of(bc));
        idle.begin(Set.of(a));
        now.addAndGet(10 * IdleKeys.IDLE_NANOS);
        assertEquals(false, idle.takeRoot(), "a request began after the last end");
        idle.end(Set.of(a));
        now.addAndGet(IdleKeys.IDLE_NANOS - 1);
        assertEquals(false, idle.takeRoot());
        now.addAndGet(1);
        assertEquals(true, idle.takeRoot());
        assertEquals(false, idle.takeRoot(), "forgotten once taken");
    }
}
