package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.CreateOptions;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On every release: a grant's token is the zxid of the transaction that created its nodes, read
 * from the multi's answer where the server gives it (3.9, and later releases of 3.7 and 3.8) and otherwise from the
 * service's clock node rewritten in the same transaction, or, for the first request, from its
 * own node.
 */
class EveryReleaseTokenTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @ParameterizedTest(name = "ZooKeeper {0}")
    @MethodSource("dev.baton.lock.zk.Versions#everyRelease")
    void everyGrantsTokenIsTheZxidThatCreatedItsNodes(String version) throws Exception {
        String connect = Servers.single(version).connectString();
        CuratorFramework observer = Clients.observer(connect);
        String prefix = "token-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
        try (ZkLockService locks = (ZkLockService) Clients.service(connect, Duration.ofSeconds(10))) {
            boolean withStat = answersCreateInMultiWithStat(observer, prefix);
            long previous = 0;
            for (int i = 0; i < 3; i++) { // the first learns how the server answers, the others use it
                LockKey key = LockKey.of(prefix, "account", Integer.toString(i));
                try (Lease lease = locks.acquire(key, WAIT)) {
                    assertTokenIsCzxidOfEveryNode(observer, lease);
                    assertTrue(lease.token().value() > previous, "tokens grow");
                    previous = lease.token().value();
                    if (!withStat && i > 0) { // one round trip: the clock node was rewritten in the same transaction
                        List<String> clocks = observer.getChildren().forPath("/baton/locks/_t");
                        assertEquals(1, clocks.size(), clocks.toString());
                        assertEquals(lease.token().value(),
                                observer.checkExists().forPath("/baton/locks/_t/" + clocks.get(0)).getMzxid());
                    }
                }
            }
            assertEquals(!withStat, locks.store().zxids().viaClock(), "ZooKeeper " + version + " answers a multi's creates "
                    + (withStat ? "with" : "without") + " their Stat: Baton must " + (withStat ? "not " : "") + "rewrite its clock node");

            LockOptions delayed = LockOptions.defaults().waitAtMost(WAIT).lockDelay(Duration.ofMillis(50));
            try (Lease both = locks.acquireAll(Map.of(LockKey.of(prefix, "a"), LockMode.EXCLUSIVE,
                    LockKey.of(prefix, "b", "c"), LockMode.SHARED), delayed)) {
                assertTokenIsCzxidOfEveryNode(observer, both);
                assertTrue(both.token().value() > previous, "tokens grow");
            }
        }
        for (String node : ZkTesting.descendants(observer, "/baton/locks/" + prefix)) {
            assertFalse(node.matches(".*/_[qs]/.+"), "left behind: " + node);
        }
    }

    /** Every queue node the lease's request made (found by its keys' queues) has the token as czxid. */
    private static void assertTokenIsCzxidOfEveryNode(CuratorFramework observer, Lease lease) throws Exception {
        int nodes = 0;
        for (LockKey key : lease.keys().keySet()) {
            for (LockKey level = key; level != null; level = level.parent().orElse(null)) {
                for (String parent : List.of(ZkLockService.queuePath(level), ZkLockService.queuePath(level).replace("/_q", "/_s"))) {
                    for (String child : ZkTesting.descendants(observer, "/baton" + parent)) {
                        if (child.substring(child.lastIndexOf('/') + 1).startsWith("delay.")) {
                            continue; // a lock-delay marker: persistent, made in the same transaction
                        }
                        Stat stat = observer.checkExists().forPath(child);
                        assertEquals(lease.token().value(), stat.getCzxid(), child);
                        nodes++;
                    }
                }
            }
        }
        assertTrue(nodes >= lease.keys().size() * 2, "found only " + nodes + " nodes of " + lease.keys());
    }

    /**
     * Whether the server answers a create inside a multi with the node's Stat (ZOOKEEPER-4026:
     * 3.5 and 3.6 do not; it was fixed in 3.9.0 and in later releases of 3.7 and 3.8), asked with
     * a raw handle, independently of Baton.
     */
    private static boolean answersCreateInMultiWithStat(CuratorFramework observer, String prefix) throws Exception {
        ZooKeeper zk = observer.getZookeeperClient().getZooKeeper();
        String path = "/" + prefix + "-probe";
        List<OpResult> results = zk.multi(List.of(
                Op.create(path, new byte[0], CreateOptions.newBuilder(ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL).build()),
                Op.delete(path, -1)));
        return ((OpResult.CreateResult) results.get(0)).getStat() != null;
    }
}
