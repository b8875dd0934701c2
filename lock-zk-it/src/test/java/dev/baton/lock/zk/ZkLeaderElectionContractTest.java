package dev.baton.lock.zk;

import dev.baton.lock.LeaderElectionContract;
import dev.baton.lock.LockService;
import dev.baton.lock.test.BatonZooKeeper;
import dev.baton.lock.test.ServiceOptions;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;

/**
 * The election contract against ZooKeeper: every participant's service has its own session on
 * one real server; a session is lost by expiring it on the server, as a crash or partition would.
 */
class ZkLeaderElectionContractTest extends LeaderElectionContract {
    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server();

    @Override
    protected LockService newService() {
        return zk.newService(ServiceOptions.defaults().sessionTimeout(Duration.ofSeconds(3)));
    }

    @Override
    protected void loseSession(LockService service) throws Exception {
        zk.expireSession((ZkLockService) service);
    }
}
