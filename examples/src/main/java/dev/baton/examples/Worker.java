package dev.baton.examples;

import dev.baton.lock.test.EmbeddedEnsemble;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One billing worker, standing for one process: its own Curator client (so its own ZooKeeper
 * session), a {@link ZkLockService} over it, and one thread that runs its tasks.
 */
final class Worker implements AutoCloseable {
    private final String name;
    private final CuratorFramework curator;
    private final ZkLockService locks;
    private final ExecutorService thread;
    private final AtomicInteger grants = new AtomicInteger();

    private Worker(String name, CuratorFramework curator, ZkLockService locks) {
        this.name = name;
        this.curator = curator;
        this.locks = locks;
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Connects a worker to {@code connectString}, asking for {@code sessionTimeout}.
     *
     * @throws IllegalStateException if ZooKeeper cannot be reached within {@code connectWait}
     */
    static Worker start(String name, String connectString, Duration sessionTimeout, Duration connectWait,
                        String namespace) throws InterruptedException {
        CuratorFramework curator = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs((int) sessionTimeout.toMillis())
                .connectionTimeoutMs((int) sessionTimeout.toMillis())
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        curator.start();
        if (!curator.blockUntilConnected((int) connectWait.toMillis(), TimeUnit.MILLISECONDS)) {
            curator.close();
            throw new IllegalStateException("cannot reach ZooKeeper at " + connectString + " within "
                    + connectWait.toMillis() + " ms");
        }
        ZkLockService locks = ZkLockService.builder().client(curator).namespace(namespace).build();
        return new Worker(name, curator, locks);
    }

    String name() {
        return name;
    }

    ZkLockService locks() {
        return locks;
    }

    /** Counts a grant; called at the start of every critical section. */
    void granted() {
        grants.incrementAndGet();
    }

    int grants() {
        return grants.get();
    }

    /** Runs {@code task} on this worker's thread. */
    <T> Future<T> submit(Callable<T> task) {
        return thread.submit(task);
    }

    /** The session timeout the server granted, in milliseconds. */
    int sessionTimeoutMs() throws Exception {
        return curator.getZookeeperClient().getZooKeeper().getSessionTimeout();
    }

    /** Waits until the client is connected (after an expiry: on its new session). */
    boolean awaitConnected(Duration max) throws InterruptedException {
        return curator.blockUntilConnected((int) max.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Expires this worker's session on the server, as a crash or a partition would (the test kit's
     * server-side expiry: a second handle attaches to the same session and closes it).
     */
    void expireSession(String connectString) throws InterruptedException {
        EmbeddedEnsemble.expireSession(connectString, curator);
    }

    /** Closes the lock service (losing any lease left), the client, and stops the thread. */
    @Override
    public void close() {
        try {
            locks.close();
        } finally {
            curator.close();
            thread.shutdownNow();
            try {
                thread.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
