package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import org.apache.curator.framework.CuratorFramework;
import dev.baton.lock.test.EmbeddedEnsemble;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What fresh keys leave behind on a server whose container cleanup is as slow as a default one
 * per key (at most 10,000 containers a minute), checking every 200 ms.
 */
class ZkFootprintTest {
    private static EmbeddedEnsemble server;
    private static CuratorFramework observer;

    @BeforeAll
    static void startServer() throws Exception {
        // read once, when the server starts: the other test classes' servers keep theirs
        String interval = System.setProperty("znode.container.checkIntervalMs", "200");
        String max = System.setProperty("znode.container.maxPerMinute", "10000");
        try {
            server = EmbeddedEnsemble.server(Duration.ofMillis(500));
        } finally {
            restore("znode.container.checkIntervalMs", interval);
            restore("znode.container.maxPerMinute", max);
        }
        observer = ZkTesting.observer(server.connectString());
    }

    @AfterAll
    static void stopServer() throws Exception {
        observer.close();
        server.close();
    }

    @Test
    void aStreamOfTwoThousandFreshKeysIsCleanWithinTwentySeconds() throws Exception {
        int keys = 2_000;
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (ZkLockService s = ZkLockService.builder().connectString(server.connectString()).namespace("stream")
                .sessionTimeout(Duration.ofSeconds(10)).build()) {
            List<Future<Void>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int first = t;
                futures.add(pool.submit(() -> {
                    for (int i = first; i < keys; i += threads) {
                        try (Lease lease = s.acquire(LockKey.of("record", "r" + i), Duration.ofSeconds(30))) {
                            assertTrue(lease.isValid());
                        }
                    }
                    return null;
                }));
            }
            for (Future<Void> f : futures) {
                f.get(2, TimeUnit.MINUTES);
            }
            long streamEnded = System.nanoTime();
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(250))
                    .until(() -> ZkTesting.descendants(observer, "/stream").isEmpty());
            System.out.printf("2,000 fresh keys: clean %d ms after the stream ended%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - streamEnded));
            assertEquals(0, s.idleKeysRemembered(), "every swept key is forgotten");
        } finally {
            pool.shutdownNow();
        }
    }

    private static void restore(String name, String value) {
        if (value == null) {
            System.clearProperty(name);
        } else {
            System.setProperty(name, value);
        }
    }
}
