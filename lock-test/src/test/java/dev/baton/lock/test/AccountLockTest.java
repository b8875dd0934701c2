package dev.baton.lock.test;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LossReason;
import dev.baton.lock.zk.ZkLockService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

// The README's test kit example, run as it is printed there (ReadmeTest checks that the two agree).

// --- README test kit begins
class AccountLockTest {
    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server();   // one embedded ZooKeeper for the class

    @Test
    void aHolderWhoseSessionExpiresLosesTheLock() throws Exception {
        LockKey account = LockKey.of("billing", "account", "42");
        ZkLockService locks = zk.service();                      // in a fresh namespace, closed after the test
        Lease lease = locks.acquire(account, Duration.ofSeconds(5));
        CompletableFuture<LockLostException> lost = new CompletableFuture<>();
        lease.onLost(lost::complete);

        zk.expireSession(locks);                                 // on the server, as after a crash

        // the server drops the connection first, and the default LossPolicy gives the lease up
        // at that suspension (under LOSE_AT_LOST the reason would be SESSION_EXPIRED)
        assertEquals(LossReason.CONNECTION_SUSPENDED, lost.get(10, TimeUnit.SECONDS).reason());
        assertFalse(lease.isValid());
        try (Lease next = zk.newService().acquire(account, Duration.ofSeconds(5))) {
            assertTrue(next.token().isNewerThan(lease.token()));  // another client, a newer token
        }
    }
}
// --- README test kit ends
