package dev.baton.lock;

import dev.baton.lock.internal.AbstractLease;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/** How a {@code withLock} body's guard learns that the lease was lost. */
class AbortGuardTest {

    private static AbstractLease lease() {
        return new AbstractLease(LockKey.of("guarded"), LockMode.EXCLUSIVE, FencingToken.of(1)) {
            @Override
            protected void release() {
            }
        };
    }

    @Test
    void aLossMarkedOnTheLeaseCountsAlthoughItsListenersHaveNotRunYet() {
        AbstractLease lease = lease();
        AbortGuard guard = new AbortGuard(Thread.currentThread(), true);
        lease.onLost(guard);
        lease.markLost(LossReason.BROKEN); // the service handed the key on; fireLost comes later
        LockLostException lost = guard.finish(lease);
        assertEquals(LossReason.BROKEN, lost.reason());
        lease.fireLost(); // too late to interrupt anything
        assertFalse(Thread.interrupted(), "the guard interrupted after the body ended");
    }

    @Test
    void aValidOrReleasedLeaseIsNoLoss() {
        AbstractLease lease = lease();
        AbortGuard guard = new AbortGuard(Thread.currentThread(), true);
        assertNull(guard.finish(lease));
        lease.close();
        assertNull(new AbortGuard(Thread.currentThread(), true).finish(lease));
    }
}
