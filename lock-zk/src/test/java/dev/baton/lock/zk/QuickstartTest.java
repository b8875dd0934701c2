package dev.baton.lock.zk;

import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockOptions;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /** The scheduled job of the README's election example. */
    static final class Invoices {
        final java.util.concurrent.CountDownLatch sent = new java.util.concurrent.CountDownLatch(1);

        void sendDue(FencingToken token) {
            sent.countDown();
        }
    }

    @Test
    void theReadmeElectionExampleRuns() throws Exception {
        try (TestingServer zk = ZkTesting.server(500)) {
            String connectString = zk.getConnectString();
            Ledger ledger = new Ledger();
            Invoices invoices = new Invoices();
            java.util.concurrent.atomic.AtomicLong batches = new java.util.concurrent.atomic.AtomicLong();

            // --- README election begins
            try (ZkLockService locks = ZkLockService.builder().connectString(connectString).build();
                 LeaderElection election = locks.election("billing-run")) {      // joins the group at once

                // Runs on one member of the group at a time: interrupted when this one stops
                // leading, started again on whichever member leads next.
                election.runAsSingleton(leadership -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        ledger.add("billing-cursor", leadership.token(), 1);   // stale terms are rejected
                        Thread.sleep(100);
                    }
                });

                // At most once an hour across the whole group, even across failovers.
                election.schedule("hourly-invoices", Duration.ofHours(1), leadership -> invoices.sendDue(leadership.token()));
                // --- README election ends
                Leadership term = election.awaitLeadership(Duration.ofSeconds(20));
                assertTrue(invoices.sent.await(20, java.util.concurrent.TimeUnit.SECONDS));
                org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20))
                        .until(() -> ledger.add("billing-cursor", term.token(), 0) >= 3);
                batches.set(ledger.add("billing-cursor", term.token(), 0));
            }
            assertTrue(batches.get() >= 3);
        }
    }
}
