package dev.baton.lock.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What lock-zk's tests read of Baton's layout on a real server: plain observer clients, subtrees,
 * queue lengths. Servers, session expiry and ports come from the test kit ({@code lock-test}).
 */
final class ZkTesting {
    private ZkTesting() {
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
            Stat st = observer.checkExists().forPath(path);
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
