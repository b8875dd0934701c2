package dev.baton.lock.zk;

import dev.baton.lock.Claim;
import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockState;
import dev.baton.lock.test.EmbeddedEnsemble;
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
        try (EmbeddedEnsemble zk = EmbeddedEnsemble.server(Duration.ofMillis(500))) {
            String connectString = zk.connectString();
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

    @Test
    void theReadmeHierarchyExampleRuns() throws Exception {
        try (EmbeddedEnsemble zk = EmbeddedEnsemble.server(Duration.ofMillis(500));
             ZkLockService locks = ZkLockService.builder().connectString(zk.connectString()).build();
             ZkLockService others = ZkLockService.builder().connectString(zk.connectString()).build()) {
            Ledger ledger = new Ledger();
            // a worker of another process is in the middle of account 43 when the batch asks
            Lease worker43 = others.acquire(LockKey.parse("billing/account/43"), Duration.ofSeconds(5));
            java.util.concurrent.atomic.AtomicReference<FencingToken> lastWorker = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.concurrent.CompletableFuture<Void> batchGranted = new java.util.concurrent.CompletableFuture<>();

            // --- README hierarchy example begins
            LockKey billing = LockKey.of("billing");

            // account workers: in parallel with each other, never during the batch
            locks.withLock(billing.child("account").child("42"), lease -> ledger.add("account-42", lease.token(), 100));

            // the batch: waits for the workers holding accounts, then keeps every new one out
            java.util.concurrent.Future<?> batchJob = java.util.concurrent.Executors.newSingleThreadExecutor().submit(() -> {
            try (Lease batch = locks.acquire(billing, Duration.ofMinutes(1))) {
                batchGranted.complete(null);
                ledger.add("account-42", batch.token(), -1);   // its token is newer than every earlier worker's
                assertTrue(batch.token().isNewerThan(lastWorker.get()));
            }
            return null;
            });
            // (test: the batch waits for worker 43, and a worker asking after the batch waits for it)
            org.awaitility.Awaitility.await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                    .until(() -> !batchGranted.isDone());
            lastWorker.set(worker43.token());
            worker43.close();
            batchJob.get(30, java.util.concurrent.TimeUnit.SECONDS);

            // several keys at once, each in its mode: granted together or not at all, in any order
            try (Lease both = locks.acquireAll(Map.of(
                    billing.child("rates"), LockMode.SHARED,
                    billing.child("account").child("43"), LockMode.EXCLUSIVE), LockOptions.defaults())) {
                ledger.add("account-43", both.token(), 7);
            }
            // --- README hierarchy example ends
            assertEquals(99, ledger.add("account-42", FencingToken.of(Long.MAX_VALUE), 0));
            org.junit.jupiter.api.Assertions.assertThrows(dev.baton.lock.StaleTokenException.class,
                    () -> ledger.add("account-42", lastWorker.get(), 1), "a worker's late write after the batch");
        }
    }

    @Test
    void theReadmeLeaseExampleRuns() throws Exception {
        try (EmbeddedEnsemble zk = EmbeddedEnsemble.server(Duration.ofMillis(500));
             ZkLockService locks = ZkLockService.builder().connectString(zk.connectString()).build()) {
            Ledger ledger = new Ledger();
            LockKey account = LockKey.of("billing", "account", "42");
            java.util.List<Long> batches = java.util.List.of(5L, 7L, 11L);
            // --- README lease example begins
            LockOptions options = LockOptions.defaults().leaseTime(Duration.ofSeconds(30));
            long balance = locks.withLock(account, options, lease -> {
                long total = 0;
                for (long amount : batches) {
                    total = ledger.add("account-42", lease.token(), amount);
                    lease.extend(Duration.ofSeconds(30));   // still moving: 30 s more
                }
                return total;
            });
            // --- README lease example ends
            assertEquals(23, balance);
        }
    }

    @Test
    void theReadmeInspectionExampleRuns() throws Exception {
        try (EmbeddedEnsemble zk = EmbeddedEnsemble.server(Duration.ofMillis(500));
             ZkLockService locks = ZkLockService.builder().connectString(zk.connectString()).build();
             ZkLockService elsewhere = ZkLockService.builder().connectString(zk.connectString()).build()) {
            Ledger ledger = new Ledger();
            LockKey account = LockKey.of("billing", "account", "42");
            // a cooperative holder elsewhere: lets go when asked
            Lease theirs = elsewhere.acquire(account, Duration.ofSeconds(10));
            theirs.onReleaseRequested(theirs::close);
            // --- README inspection example begins
            // who holds the account, for how long (on the ensemble's clock), who waits
            LockState state = locks.inspect(account);
            for (Claim holder : state.holders()) {
                System.out.printf("%s (pid %d, thread %s) holds %s with token %d for %s%n",
                        holder.host(), holder.pid(), holder.thread(), holder.mode(),
                        holder.token().value(), holder.heldFor().map(Duration::toString).orElse("?"));
            }
            int asked = locks.requestRelease(account);   // runs the holders' onReleaseRequested listeners

            // wait at most 5 minutes, and break a holder that has held it for more than 2
            LockOptions patient = LockOptions.defaults()
                    .staleAfter(Duration.ofMinutes(2))
                    .waitAtMost(Duration.ofMinutes(5));
            try (Lease lease = locks.acquire(account, patient)) {
                ledger.add("account-42", lease.token(), 1);
            }
            // --- README inspection example ends
            assertEquals(1, asked);
            assertEquals(1, state.holders().size());
            assertEquals(theirs.token(), state.holders().get(0).token());
            assertEquals(Thread.currentThread().getName(), state.holders().get(0).thread());
            assertTrue(!theirs.isValid(), "the holder let go on request, not through breaking");
        }
    }

    @Test
    void theReadmeSecurityExampleRuns() throws Exception {
        try (EmbeddedEnsemble zk = EmbeddedEnsemble.server(Duration.ofMillis(500))) {
            String connectString = zk.connectString();
            String billingPassword = java.util.UUID.randomUUID().toString();
            String opsPassword = java.util.UUID.randomUUID().toString();
            Ledger ledger = new Ledger();
            LockKey account = LockKey.of("billing", "account", "42");

            // --- README security begins
            SecuredNamespace secured = SecuredNamespace
                    .lockUsers(SecuredNamespace.digestId("billing", billingPassword))  // may take locks
                    .admins(SecuredNamespace.digestId("ops", opsPassword));            // may also break them

            try (ZkLockService locks = ZkLockService.builder().connectString(connectString)
                         .digest("billing", billingPassword)           // or .sasl(jaasSection), .tls(..)
                         .securedNamespace(secured)
                         .build();
                 ZkLockService anyone = ZkLockService.builder().connectString(connectString).build()) {
                Lease lease = locks.acquire(account, Duration.ofSeconds(5));
                ledger.add("account-42", lease.token(), 100);

                anyone.inspect(account);        // reading is open to every client
                try {
                    anyone.breakLock(account);  // but only lock users and admins may delete
                } catch (AccessDeniedException e) {
                    System.err.println(e.getMessage()); // Could not break billing/account/42: ZooKeeper refused
                }                                       // it (NoAuth for /baton/locks/billing/_q/IX-...): ...
                lease.close();
            }
            // --- README security ends
            assertEquals(100, ledger.add("account-42", FencingToken.of(Long.MAX_VALUE), 0));
            try (ZkLockService anyone = ZkLockService.builder().connectString(connectString).build();
                 ZkLockService locks = ZkLockService.builder().connectString(connectString)
                         .digest("billing", billingPassword).securedNamespace(secured).build()) {
                Lease lease = locks.acquire(account, Duration.ofSeconds(5));
                assertTrue(anyone.inspect(account).isHeld());
                org.junit.jupiter.api.Assertions.assertThrows(AccessDeniedException.class, () -> anyone.breakLock(account));
                assertTrue(lease.isValid());
                lease.close();
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
        try (EmbeddedEnsemble zk = EmbeddedEnsemble.server(Duration.ofMillis(500))) {
            String connectString = zk.connectString();
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
