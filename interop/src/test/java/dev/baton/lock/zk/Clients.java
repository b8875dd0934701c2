package dev.baton.lock.zk;

import dev.baton.lock.test.EmbeddedEnsemble;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockService;
import org.apache.curator.framework.CuratorFramework;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Services and observers on the servers of this module, as the contract tests need them. */
final class Clients {
    private Clients() {
    }

    private static final Map<String, CuratorFramework> OBSERVERS = new ConcurrentHashMap<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OBSERVERS.values().forEach(CuratorFramework::close),
                "observers-close"));
    }

    /** A service with its own session on the ensemble {@code connectString}. */
    static LockService service(String connectString, Duration sessionTimeout) {
        return ZkLockService.builder().connectString(connectString)
                .sessionTimeout(sessionTimeout).connectionTimeout(Duration.ofSeconds(10)).build();
    }

    /** A plain client (no namespace) on {@code connectString}, shared, for looking at what services wrote. */
    static CuratorFramework observer(String connectString) {
        return OBSERVERS.computeIfAbsent(connectString, c -> {
            try {
                return ZkTesting.observer(c);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        });
    }

    /** How many nodes the key's queue holds in the default namespace. */
    static int queueLength(String connectString, LockKey key) throws Exception {
        return ZkTesting.queueLength(observer(connectString), "baton", ZkLockService.queuePath(key));
    }

    /** Expires the service's session on the server, as a crash or a partition would. */
    static void loseSession(LockService service, String connectString) throws Exception {
        EmbeddedEnsemble.expireSession(connectString, ((ZkLockService) service).client());
    }
}
