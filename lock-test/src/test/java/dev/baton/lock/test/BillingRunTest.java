package dev.baton.lock.test;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LossReason;
import dev.baton.lock.memory.InMemoryLockService;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

// The README's in-memory example, run as it is printed there (ReadmeTest checks that the two agree).

// --- README in-memory begins
class BillingRunTest {
    @Test
    void aLostLeaseRefusesToBeUsed() throws Exception {
        try (InMemoryLockService locks = new InMemoryLockService()) {   // same semantics, no server
            Lease lease = locks.acquire(LockKey.of("billing", "run"), Duration.ofSeconds(1));

            assertEquals(1, locks.loseAll(LossReason.SESSION_EXPIRED)); // every lease, as a lost session

            LockLostException lost = assertThrows(LockLostException.class, lease::ensureValid);
            assertEquals(LossReason.SESSION_EXPIRED, lost.reason());
        }
    }
}
// --- README in-memory ends
