package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockService;
import dev.baton.lock.HierarchyContract;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;

/** The hierarchy contract against ZooKeeper: every service has its own session on one real server. */
class ZkHierarchyContractTest extends HierarchyContract {
    private static TestingServer server;
    private static CuratorFramework observer;

    @BeforeAll
    static void startServer() throws Exception {
        server = ZkTesting.server(500);
        observer = ZkTesting.observer(server.getConnectString());
    }

    @AfterAll
    static void stopServer() throws Exception {
        observer.close();
        server.close();
    }

    @Override
    protected LockService newService() {
        return ZkLockService.builder().connectString(server.getConnectString())
                .sessionTimeout(Duration.ofSeconds(10)).connectionTimeout(Duration.ofSeconds(10)).build();
    }

    @Override
    protected int queueLength(LockService service, LockKey key) throws Exception {
        return ZkTesting.queueLength(observer, "baton", ZkLockService.queuePath(key));
    }
}
