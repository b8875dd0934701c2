package dev.baton.lock.zk;

import dev.baton.lock.LeaderElectionContract;
import dev.baton.lock.LockService;

import java.time.Duration;

/** The whole LeaderElectionContract on a 3-server ensemble of the oldest supported release, each server in its own JVM. */
class OldestEnsembleLeaderElectionTest extends LeaderElectionContract {
    private static String connectString() {
        return Servers.ensemble(Versions.oldest()).connectString();
    }

    @Override
    protected LockService newService() {
        return Clients.service(connectString(), Duration.ofSeconds(3));
    }

    @Override
    protected void loseSession(LockService service) throws Exception {
        Clients.loseSession(service, connectString());
    }
}
