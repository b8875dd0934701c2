package dev.baton.lock.test;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.zk.ZkLockService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The extension on a 3-server cluster: every server serves on its own port, and the leader's death is survived. */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BatonZooKeeperClusterTest {
    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.cluster(3).tickTime(Duration.ofMillis(200));

    private static final Duration PATIENCE = Duration.ofSeconds(30);
    private static final LockKey KEY = LockKey.of("jobs", "nightly");

    @Test
    void everyServerServesOnAPortOfItsOwnAndOneLeads() {
        List<InetSocketAddress> addresses = zk.ensemble().addresses();
        assertEquals(3, addresses.size());
        Set<Integer> ports = new HashSet<>();
        addresses.forEach(a -> ports.add(a.getPort()));
        assertEquals(3, ports.size(), addresses.toString());
        assertTrue(IntStream.range(0, 3).allMatch(i -> zk.ensemble().isServing(i)));
        assertTrue(zk.ensemble().leader().isPresent());
    }

    @Test
    void killingTheLeaderKeepsTheClusterServingUnderANewLeader() throws Exception {
        ZkLockService locks = zk.service();
        long epochBefore;
        try (Lease before = locks.acquire(KEY, PATIENCE)) {
            epochBefore = before.token().value() >>> 32;
        }

        int killed = zk.ensemble().killLeader();

        assertFalse(zk.ensemble().isServing(killed));
        await().atMost(PATIENCE).until(() -> {
            OptionalInt leader = zk.ensemble().leader();
            return leader.isPresent() && leader.getAsInt() != killed;
        });
        // the two servers left grant locks, and tokens carry the new leader's epoch
        try (Lease during = zk.newService().acquire(KEY, PATIENCE)) {
            assertTrue((during.token().value() >>> 32) > epochBefore,
                    "no new epoch: " + during.token() + " after epoch " + epochBefore);
        }
        try (Lease again = locks.acquire(KEY, PATIENCE)) {
            assertTrue(again.isValid());
        }

        zk.ensemble().start(killed);
        assertTrue(zk.ensemble().awaitServing(killed, PATIENCE), "the killed leader did not rejoin");
    }

    @Test
    void expireSessionWorksOnACluster() throws Exception {
        ZkLockService holder = zk.newService();
        long session = zk.sessionId(holder);
        Lease lease = holder.acquire(KEY, PATIENCE);

        zk.expireSession(holder);

        try (Lease next = zk.newService().acquire(KEY, Duration.ofSeconds(10))) {
            assertTrue(next.token().isNewerThan(lease.token()));
        }
        await().atMost(PATIENCE).until(() -> !lease.isValid());
        try (Lease again = holder.acquire(KEY, PATIENCE)) {
            assertTrue(again.isValid());
        }
        assertTrue(zk.sessionId(holder) != session);
    }
}
