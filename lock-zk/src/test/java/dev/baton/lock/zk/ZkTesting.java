package dev.baton.lock.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Real ZooKeeper servers and the faults tests inject into them. No mocks. */
final class ZkTesting {
    private ZkTesting() {
    }

    /**
     * An in-process server with the given tick; it bounds session timeouts to 1-20 ticks, so a
     * short tick allows the short sessions that fault tests need.
     */
    static TestingServer server(int tickMs) throws Exception {
        return new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, tickMs, -1), true);
    }

    /**
     * Specs for an in-process cluster of {@code size} servers with the given tick, on ports that
     * are all different ({@link #distinctPorts}).
     */
    static List<InstanceSpec> clusterSpecs(int size, int tickMs) throws IOException {
        int[] ports = distinctPorts(3 * size);
        List<InstanceSpec> specs = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            specs.add(new InstanceSpec(null, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], true, -1, tickMs, -1));
        }
        return specs;
    }

    /**
     * Free ports, all different: every socket stays bound until all are chosen. curator-test's
     * own choice binds and closes one socket per port, so two servers of one cluster can be
     * handed the same port.
     */
    static int[] distinctPorts(int count) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) {
                ServerSocket socket = new ServerSocket(0);
                sockets.add(socket);
                ports[i] = socket.getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket socket : sockets) {
                socket.close();
            }
        }
    }

    /** A started plain client (no namespace) for looking at what the service wrote. */
    static CuratorFramework observer(String connectString) throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(connectString)
                .sessionTimeoutMs(10_000).connectionTimeoutMs(10_000).retryPolicy(new RetryOneTime(100)).build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("observer could not connect to " + connectString);
        }
        return c;
    }

    /**
     * Expires {@code client}'s session on the server, as a crash or a partition would: a second
     * handle attaches to the same session (id and password) and closes it. curator-test's
     * KillSession only fakes expiry on the client side and races.
     */
    static void expireSession(CuratorFramework client, String connectString) throws Exception {
        ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
        long id = zk.getSessionId();
        byte[] password = zk.getSessionPasswd();
        CountDownLatch attached = new CountDownLatch(1);
        ZooKeeper other = new ZooKeeper(connectString, 10_000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                attached.countDown();
            }
        }, id, password);
        try {
            if (!attached.await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException("could not attach to session 0x" + Long.toHexString(id));
            }
        } finally {
            other.close();
        }
    }

    /** Every znode below {@code path} (not counting it), depth first; empty if it does not exist. */
    static List<String> descendants(CuratorFramework c, String path) throws Exception {
        List<String> out = new ArrayList<>();
        List<String> children;
        try {
            children = c.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return out;
        }
        for (String child : children) {
            String p = path.equals("/") ? "/" + child : path + "/" + child;
            out.add(p);
            out.addAll(descendants(c, p));
        }
        return out;
    }

    /** Children of a key's queue in the default namespace; 0 if the queue does not exist. */
    static int queueLength(CuratorFramework observer, String namespace, String queuePath) throws Exception {
        try {
            return observer.getChildren().forPath("/" + namespace + queuePath).size();
        } catch (KeeperException.NoNodeException e) {
            return 0;
        }
    }

    static Duration millis(long ms) {
        return Duration.ofMillis(ms);
    }

    /** Every znode under {@code path}, for failure messages. */
    static String dump(CuratorFramework observer, String path) {
        StringBuilder b = new StringBuilder();
        try {
            org.apache.zookeeper.data.Stat st = observer.checkExists().forPath(path);
            b.append(path).append(st == null ? " (gone)" : " cv=" + st.getCversion()).append('\n');
            if (st != null) {
                for (String c : observer.getChildren().forPath(path)) {
                    b.append(dump(observer, path + "/" + c));
                }
            }
        } catch (Exception e) {
            b.append(path).append(": ").append(e).append('\n');
        }
        return b.toString();
    }
}
