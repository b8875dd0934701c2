package dev.baton.lock.zk;

import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockOptions;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The README's quickstart, compiled and run against a real server so the README cannot rot. */
class QuickstartTest {

    /** The resource side of the README example: a ledger that checks fencing tokens. */
    static final class Ledger {
        private final Fence fence = new Fence();
        private final Map<String, Long> balances = new HashMap<>();

        long add(String account, FencingToken token, long amount) {
            return fence.guard(account, token, () -> balances.merge(account, amount, Long::sum));
        }
    }

    @Test
    void theReadmeExampleRuns() throws Exception {
        try (TestingServer zk = ZkTesting.server(500)) {
            String connectString = zk.getConnectString();
            Ledger ledger = new Ledger();

            // --- README quickstart begins
            try (ZkLockService locks = ZkLockService.builder().connectString(connectString).build()) {
                LockKey account = LockKey.of("billing", "account", "42");

                // Wait up to 5 s for the lock (LockTimeoutException after that).
                try (Lease lease = locks.acquire(account, Duration.ofSeconds(5))) {
                    lease.onLost(e -> System.err.println("lost " + e.key() + ": " + e.reason()));
                    ledger.add("account-42", lease.token(), 100);   // the ledger rejects stale tokens
                }

                // Or let Baton run the critical section, and abort it if the lock is lost.
                long balance = locks.withLock(account, LockOptions.defaults().waitAtMost(Duration.ofSeconds(5)),
                        lease -> ledger.add("account-42", lease.token(), -30));
                // --- README quickstart ends
                assertEquals(70, balance);
            }
        }
    }
}
