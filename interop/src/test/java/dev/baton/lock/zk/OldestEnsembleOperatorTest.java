package dev.baton.lock.zk;

import dev.baton.lock.OperatorContract;
import dev.baton.lock.LockService;

import java.time.Duration;

/** The whole OperatorContract on a 3-server ensemble of the oldest supported release, each server in its own JVM. */
class OldestEnsembleOperatorTest extends OperatorContract {
    private static String connectString() {
        return Servers.ensemble(Versions.oldest()).connectString();
    }

    @Override
    protected LockService newService() {
        return Clients.service(connectString(), Duration.ofSeconds(10));
    }

    @Override
    protected void loseSession(LockService service) throws Exception {
        Clients.loseSession(service, connectString());
    }
}
