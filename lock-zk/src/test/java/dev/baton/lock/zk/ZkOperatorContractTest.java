package dev.baton.lock.zk;

import dev.baton.lock.LockService;
import dev.baton.lock.OperatorContract;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;

/**
 * The operator contract against ZooKeeper: every service has its own session on one real server;
 * a session is lost by expiring it on the server, as a crash or partition would.
 */
class ZkOperatorContractTest extends OperatorContract {
    private static TestingServer server;

    @BeforeAll
    static void startServer() throws Exception {
        server = ZkTesting.server(500);
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    @Override
    protected LockService newService() {
        return ZkLockService.builder().connectString(server.getConnectString())
                .sessionTimeout(Duration.ofSeconds(10)).connectionTimeout(Duration.ofSeconds(10)).build();
    }

    @Override
    protected void loseSession(LockService service) throws Exception {
        ZkTesting.expireSession(((ZkLockService) service).client(), server.getConnectString());
    }
}
