package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.test.BatonZooKeeper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Settling runs on the service's injected monotonic clock: a grant after waiting is stamped in its
 * record once {@link Leases#SETTLE_MS} has passed on that clock, with the time held then, and not
 * while the clock stands still.
 */
class SettleOnTheServicesClockTest {

    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofMillis(200));

    private static HolderRecord record(Lease lease) throws Exception {
        return HolderRecord.parse(zk.observer().getData().forPath("/" + zk.namespace() + ZkLockService.nodeOf(lease)));
    }

    @Test
    void aGrantAfterWaitingIsStampedOnlyOnceTheSettleTimeHasPassedOnTheServicesClock() throws Exception {
        FakeTicker ticker = new FakeTicker();
        LockKey key = LockKey.of("settle", "k");
        try (ZkLockService holder = ZkLockService.builder().connectString(zk.connectString()).namespace(zk.namespace()).build();
             ZkLockService waiter = ZkLockService.builder().connectString(zk.connectString()).namespace(zk.namespace())
                     .ticker(ticker).build()) {
            Lease first = holder.acquire(key, Duration.ofSeconds(10));
            CompletableFuture<Lease> second = CompletableFuture.supplyAsync(() -> {
                try {
                    return waiter.acquire(key); // no deadline: the frozen clock never ends the wait
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            await().atMost(Duration.ofSeconds(20)).until(() -> holder.inspect(key).waiters().size() == 1);
            first.close();
            try (Lease lease = second.get(20, TimeUnit.SECONDS)) {
                // the clock stands still: the settle never comes, however long the real wait
                await().during(Duration.ofMillis(4 * Leases.SETTLE_MS)).atMost(Duration.ofSeconds(10))
                        .until(() -> !record(lease).granted());
                ticker.advance(Duration.ofMillis(Leases.SETTLE_MS + 250));
                await().atMost(Duration.ofSeconds(10)).until(() -> record(lease).granted());
                assertEquals(Leases.SETTLE_MS + 250, record(lease).heldMs(), "held as long as the service's clock says");
            }
        }
    }
}
