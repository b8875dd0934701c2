package dev.baton.lock.zk;

import dev.baton.lock.HierarchyContract;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockService;
import dev.baton.lock.test.BatonZooKeeper;
import dev.baton.lock.test.ServiceOptions;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;

/**
 * The hierarchy contract against ZooKeeper: every service has its own session on one real server
 * (the test kit's), each test its own namespace.
 */
class ZkHierarchyContractTest extends HierarchyContract {
    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server();

    @Override
    protected LockService newService() {
        return zk.newService(ServiceOptions.defaults().sessionTimeout(Duration.ofSeconds(10)));
    }

    @Override
    protected int queueLength(LockService service, LockKey key) throws Exception {
        return ZkTesting.queueLength(zk.observer(), zk.namespace(), ZkLockService.queuePath(key));
    }
}
