package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.internal.Granule;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Which keys are idle long enough to sweep, on a clock the test moves. */
class IdleKeysTest {
    private final AtomicLong now = new AtomicLong(1_000);
    private final IdleKeys idle = new IdleKeys(now::get);
    private final LockKey a = LockKey.of("a");
    private final LockKey bc = LockKey.of("b", "c");
    private final LockKey b = LockKey.of("b");
    private final Map<LockKey, Granule> onA = Granule.plan(Map.of(a, LockMode.EXCLUSIVE));
    private final Map<LockKey, Granule> onBc = Granule.plan(Map.of(bc, LockMode.SHARED));

    @Test
    void aKeyIsSweptOnlyAfterStayingIdleForTheIdleTime() {
        idle.begin(onA);
        idle.end(onA);
        now.addAndGet(IdleKeys.IDLE_NANOS - 1);
        assertEquals(Map.of(), idle.takeIdle());
        now.addAndGet(1);
        assertEquals(Map.of(a, true), idle.takeIdle());
        assertEquals(Map.of(), idle.takeIdle(), "forgotten once taken");
        assertEquals(0, idle.size());
    }

    @Test
    void ancestorsAreSweptTooFinestFirstAndOnlyStrongLevelsHaveAStrongIndex() {
        idle.begin(onBc);
        idle.end(onBc);
        now.addAndGet(IdleKeys.IDLE_NANOS);
        Map<LockKey, Boolean> taken = idle.takeIdle();
        assertEquals(List.of(bc, b), List.copyOf(taken.keySet()), "children before their parent");
        assertEquals(Map.of(bc, true, b, false), taken, "b held only an intention: no strong index of ours");
    }

    @Test
    void aKeyInUseIsNeverSwept() {
        Map<LockKey, Granule> both = Granule.plan(Map.of(a, LockMode.EXCLUSIVE, bc, LockMode.EXCLUSIVE));
        idle.begin(both);
        idle.begin(onA);
        idle.end(both);
        now.addAndGet(10 * IdleKeys.IDLE_NANOS);
        assertEquals(List.of(bc, b), List.copyOf(idle.takeIdle().keySet()), "a is still held by the second request");
        idle.end(onA);
        now.addAndGet(IdleKeys.IDLE_NANOS);
        assertEquals(Map.of(a, true), idle.takeIdle());
    }

    @Test
    void usingAKeyAgainRestartsItsIdleTime() {
        idle.begin(onA);
        idle.end(onA);
        now.addAndGet(IdleKeys.IDLE_NANOS / 2);
        idle.begin(onA); // a hot key: used again before it was idle long
        idle.end(onA);
        now.addAndGet(IdleKeys.IDLE_NANOS / 2 + 1);
        assertEquals(Map.of(), idle.takeIdle());
        now.addAndGet(IdleKeys.IDLE_NANOS / 2);
        assertEquals(Map.of(a, true), idle.takeIdle());
    }

    @Test
    void anEndWithoutABeginIsHarmless() {
        idle.end(onA);
        assertEquals(0, idle.size());
        idle.begin(onA);
        idle.end(onA);
        idle.end(onA); // counted twice: stays idle, never negative
        idle.begin(onA);
        now.addAndGet(10 * IdleKeys.IDLE_NANOS);
        assertEquals(Map.of(), idle.takeIdle(), "in use again");
    }
}
