package dev.baton.lock.memory;

import dev.baton.lock.HierarchyContract;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.LossReason;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hierarchy contract against the in-memory implementation. An {@link InMemoryLockService} has
 * no separate clients, so every "client" the contract asks for is this test's one service (JUnit
 * makes a new test instance, hence a new service, per test).
 */
class InMemoryHierarchyTest extends HierarchyContract {
    private final InMemoryLockService store = new InMemoryLockService();

    @Override
    protected LockService newService() {
        return store;
    }

    @Override
    protected int queueLength(LockService service, LockKey key) {
        return ((InMemoryLockService) service).queueLength(key);
    }

    @Test
    void loseAllHandsEveryKeyOfAMultiKeyLeaseOn() throws Exception {
        LockKey coarse = key("r");
        LockKey fine = key("r/a/b");
        LockKey other = key("q");
        Lease lease = store.acquireAll(Map.of(fine, LockMode.EXCLUSIVE, other, LockMode.SHARED),
                LockOptions.defaults().waitAtMost(Duration.ZERO));
        List<LockLostException> lost = new ArrayList<>();
        lease.onLost(lost::add);
        CompletableFuture<Lease> waiter = CompletableFuture.supplyAsync(() -> {
            try {
                return store.acquireAll(Map.of(coarse, LockMode.SHARED, other, LockMode.EXCLUSIVE),
                        LockOptions.defaults().waitAtMost(PATIENCE));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        org.awaitility.Awaitility.await().atMost(PATIENCE).until(() -> store.queueLength(other) == 2);
        assertEquals(1, store.loseAll(LossReason.SESSION_EXPIRED));
        assertFalse(lease.isValid());
        assertEquals(1, lost.size());
        assertEquals(LossReason.SESSION_EXPIRED, lost.get(0).reason());
        assertEquals(other, lost.get(0).key()); // depth 1 before depth 3
        try (Lease next = waiter.get(PATIENCE.toSeconds(), TimeUnit.SECONDS)) {
            assertTrue(next.token().isNewerThan(lease.token()));
            assertEquals(Map.of(coarse, LockMode.SHARED, other, LockMode.EXCLUSIVE), next.keys());
        }
        lease.close();
        assertEquals(0, store.queueLength(coarse));
        assertEquals(0, store.queueLength(other));
    }
}
