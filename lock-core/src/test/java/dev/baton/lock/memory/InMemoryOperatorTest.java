package dev.baton.lock.memory;

import dev.baton.lock.Claim;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockService;
import dev.baton.lock.LossReason;
import dev.baton.lock.OperatorContract;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator contract against the in-memory implementation. An {@link InMemoryLockService} has
 * no separate clients, so every "client" the contract asks for is this test's one service (JUnit
 * makes a new test instance, hence a new service, per test), and a lost session is
 * {@link InMemoryLockService#loseAll}.
 */
class InMemoryOperatorTest extends OperatorContract {
    private final InMemoryLockService store = new InMemoryLockService();

    @Override
    protected LockService newService() {
        return store;
    }

    @Override
    protected void loseSession(LockService service) {
        ((InMemoryLockService) service).loseAll(LossReason.SESSION_EXPIRED);
    }

    @Test
    void oneServiceIsOneHolderAndAnotherServiceAnother() throws Exception {
        LockKey a = key("a");
        LockKey b = key("b");
        try (InMemoryLockService other = new InMemoryLockService();
             Lease first = store.acquireAll(Map.of(a, LockMode.SHARED, b, LockMode.EXCLUSIVE), LockOptions.defaults());
             Lease second = store.acquire(a, LockOptions.defaults().mode(LockMode.SHARED));
             Lease elsewhere = other.acquire(a, LockOptions.defaults())) {
            List<Claim> holders = store.inspect(a).holders();
            assertEquals(2, holders.size());
            assertEquals(holders.get(0).holderId(), holders.get(1).holderId());
            assertEquals(first.token(), holders.get(0).token());
            assertEquals(second.token(), holders.get(1).token());
            assertNotEquals(holders.get(0).holderId(), other.inspect(a).holders().get(0).holderId());
            assertTrue(elsewhere.isValid());
        }
    }

    @Test
    void aLockDelayOnAKeyHoldsBackItsAncestorsAndDescendantsButNotItsSiblings() throws Exception {
        LockKey key = key("r/a");
        Lease held = store.acquire(key, LockOptions.defaults().mode(LockMode.SHARED).lockDelay(Duration.ofMinutes(1)));
        assertEquals(1, store.breakLock(key));
        assertTrue(store.tryAcquire(key, LockOptions.defaults().mode(LockMode.SHARED)).isEmpty());
        assertTrue(store.tryAcquire(key("r/a/b")).isEmpty());
        assertTrue(store.tryAcquire(key("r")).isEmpty());
        try (Lease sibling = store.tryAcquire(key("r/c")).orElseThrow()) {
            assertTrue(sibling.token().isNewerThan(held.token()));
        }
        assertTrue(store.inspect(key).lockDelayLeft().isPresent());
        assertTrue(store.inspect(key("r")).lockDelayLeft().isEmpty(), "the delay is shown on the key it was taken for");
    }
}
