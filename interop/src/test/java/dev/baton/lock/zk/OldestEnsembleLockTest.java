package dev.baton.lock.zk;

import dev.baton.lock.LockServiceContract;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockService;

import java.time.Duration;

/** The whole LockServiceContract on a 3-server ensemble of the oldest supported release, each server in its own JVM. */
class OldestEnsembleLockTest extends LockServiceContract {
    private static String connectString() {
        return Servers.ensemble(Versions.oldest()).connectString();
    }

    @Override
    protected LockService newService() {
        return Clients.service(connectString(), Duration.ofSeconds(10));
    }

    @Override
    protected int queueLength(LockService service, LockKey key) throws Exception {
        return Clients.queueLength(connectString(), key);
    }
}
