package dev.baton.lock.zk;

import dev.baton.lock.HierarchyContract;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockService;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;

/**
 * The HierarchyContract scenarios tagged {@code every-line} on a standalone server of the newest release
 * of each supported line, in its own JVM (the server-lines execution in interop/pom.xml).
 */
@Execution(ExecutionMode.CONCURRENT) // the releases side by side
@ParameterizedClass(name = "ZooKeeper {0}")
@MethodSource("dev.baton.lock.zk.Versions#lines")
class ServerLineHierarchyTest extends HierarchyContract {
    private final String version;

    ServerLineHierarchyTest(String version) {
        this.version = version;
    }

    private String connectString() {
        return Servers.single(version).connectString();
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
