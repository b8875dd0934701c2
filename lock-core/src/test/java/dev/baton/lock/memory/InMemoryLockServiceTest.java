package dev.baton.lock.memory;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockService;
import dev.baton.lock.LockServiceContract;
import dev.baton.lock.LossReason;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The contract, against the in-memory reference implementation, plus its own loss simulation. */
class InMemoryLockServiceTest extends LockServiceContract {

    @Override
    protected LockService newService() {
        return new InMemoryLockService();
    }

    @Override
    protected int queueLength(LockService service, LockKey key) {
        return ((InMemoryLockService) service).queueLength(key);
    }

    @Test
    void loseAllEndsEveryLeaseAndHandsTheKeyOn() throws Exception {
        InMemoryLockService s = (InMemoryLockService) service();
        LockKey key = key("loseall");
        Lease lease = s.acquire(key);
        List<LockLostException> lost = new ArrayList<>();
        lease.onLost(lost::add);
        assertEquals(1, s.loseAll(LossReason.SESSION_EXPIRED));
        assertFalse(lease.isValid());
        assertEquals(1, lost.size());
        assertEquals(LossReason.SESSION_EXPIRED, lost.get(0).reason());
        try (Lease next = s.tryAcquire(key).orElseThrow()) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }
        lease.close();
        assertEquals(0, s.queueLength(key));
    }
}
