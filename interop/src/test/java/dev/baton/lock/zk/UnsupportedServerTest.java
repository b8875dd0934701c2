package dev.baton.lock.zk;

import dev.baton.lock.LockException;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A server too old for Baton (before 3.5: no CONTAINER znodes) is refused at {@code build()} with
 * a message naming what it lacks and what is supported, before anything is written to it.
 */
class UnsupportedServerTest {
    private static Servers.Ensemble server;
    private static CuratorFramework observer;

    @BeforeAll
    static void start() {
        server = Servers.start(Versions.unsupported(), 1);
        observer = Clients.observer(server.connectString());
    }

    @AfterAll
    static void stop() {
        server.servers().forEach(ServerProcess::close);
    }

    @Test
    void buildRefusesAServerBefore35AndWritesNothing() throws Exception {
        LockException refused = assertThrows(LockException.class, () -> ZkLockService.builder()
                .connectString(server.connectString()).connectionTimeout(Duration.ofSeconds(10)).build());
        assertMessageNamesTheRule(refused);
        assertEquals(List.of("zookeeper"), observer.getChildren().forPath("/"), "nothing written");
    }

    @Test
    void buildOverACallersClientRefusesItToo() throws Exception {
        try (CuratorFramework app = CuratorFrameworkFactory.newClient(server.connectString(), new RetryOneTime(100))) {
            app.start();
            assertTrue(app.blockUntilConnected(20, TimeUnit.SECONDS));
            LockException refused = assertThrows(LockException.class, () -> ZkLockService.builder().client(app).build());
            assertMessageNamesTheRule(refused);
            assertEquals(List.of("zookeeper"), observer.getChildren().forPath("/"), "nothing written");
        }
    }

    private static void assertMessageNamesTheRule(LockException e) {
        String message = e.getMessage();
        assertTrue(message.contains(server.connectString()), message);
        assertTrue(message.contains("older than 3.5"), message);
        assertTrue(message.contains("CONTAINER"), message);
        assertTrue(message.contains("3.5 to 3.9"), message);
    }
}
