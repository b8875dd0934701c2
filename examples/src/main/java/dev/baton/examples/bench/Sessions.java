package dev.baton.examples.bench;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.CuratorWatcher;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntPredicate;

/**
 * ZooKeeper sessions for the benchmark, all configured alike, closed together. Raw Curator and
 * Baton run over identical Curator clients: Baton wraps one ({@code ZkLockService.builder().client(..)}).
 */
final class Sessions implements AutoCloseable {
    /** The longest session a server with a 200 ms tick grants (20 ticks). */
    static final int SESSION_MS = 4_000;
    static final Duration WAIT = Duration.ofSeconds(30);

    private final String connect;
    private final Deque<AutoCloseable> open = new ArrayDeque<>();

    Sessions(String connect) {
        this.connect = connect;
    }

    /** A started, connected Curator client with its own session. */
    CuratorFramework curator() throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(SESSION_MS)
                .connectionTimeoutMs(3_000)
                .retryPolicy(new ExponentialBackoffRetry(100, 3))
                .build();
        c.start();
        open.push(c);
        if (!c.blockUntilConnected(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("No connection to ZooKeeper at " + connect + " within 10 s");
        }
        return c;
    }

    /** A Baton service over {@code client} (which stays the caller's to close). */
    ZkLockService baton(CuratorFramework client) {
        ZkLockService s = ZkLockService.builder().client(client).build();
        open.push(s);
        return s;
    }

    /** A Baton service over a new client of its own. */
    ZkLockService baton() throws InterruptedException {
        return baton(curator());
    }

    /** A plain ZooKeeper handle, connected. */
    ZooKeeper zookeeper() throws Exception {
        ZooKeeper zk = connected(connect, 0, null);
        open.push(zk::close);
        return zk;
    }

    @Override
    public void close() {
        while (!open.isEmpty()) {
            try {
                open.pop().close();
            } catch (Exception e) {
                // closing anyway; a session left behind expires with the server
            }
        }
    }

    /**
     * Expires the session of {@code client} on the server, as a crash would once its timeout
     * passed: a second handle joins the same session and closes it.
     *
     * @return {@link System#nanoTime()} just before the close was sent
     */
    static long expire(String connect, CuratorFramework client) throws Exception {
        ZooKeeper own = client.getZookeeperClient().getZooKeeper();
        ZooKeeper twin = connected(connect, own.getSessionId(), own.getSessionPasswd());
        long t0 = System.nanoTime();
        twin.close();
        return t0;
    }

    private static ZooKeeper connected(String connect, long sessionId, byte[] password) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        Watcher watcher = e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                up.countDown();
            }
        };
        ZooKeeper zk = password == null ? new ZooKeeper(connect, SESSION_MS, watcher)
                : new ZooKeeper(connect, SESSION_MS, watcher, sessionId, password);
        if (!up.await(10, TimeUnit.SECONDS)) {
            zk.close();
            throw new IllegalStateException("No ZooKeeper connection within 10 s");
        }
        return zk;
    }

    /** Waits, on watches, until the number of children of {@code path} is as {@code wanted} ({@code what} says it). */
    static void awaitChildren(CuratorFramework client, String path, IntPredicate wanted, String what)
            throws Exception {
        long until = System.nanoTime() + WAIT.toNanos();
        while (true) {
            CountDownLatch changed = new CountDownLatch(1);
            CuratorWatcher watcher = e -> changed.countDown();
            int count;
            try {
                count = client.getChildren().usingWatcher(watcher).forPath(path).size();
            } catch (KeeperException.NoNodeException e) {
                client.checkExists().usingWatcher(watcher).forPath(path);
                count = 0;
            }
            if (wanted.test(count)) {
                return;
            }
            long left = until - System.nanoTime();
            if (left <= 0 || !changed.await(left, TimeUnit.NANOSECONDS)) {
                throw new IllegalStateException(path + " did not get " + what + " within " + WAIT + " (it has "
                        + count + ")");
            }
        }
    }

    // --------------------------------------------------------------------------------- locks

    /** One lock, taken and given back by one thread at a time. */
    interface Mutex {
        void lock() throws Exception;

        void unlock() throws Exception;
    }

    /** The floor: what any ZooKeeper lock pays, an ephemeral-sequential create and its delete. */
    static Mutex floor(ZooKeeper zk, String parent) throws Exception {
        try {
            zk.create(parent, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException e) {
            // there already
        }
        String prefix = parent + "/n-";
        return new Mutex() {
            private String node;

            @Override
            public void lock() throws Exception {
                node = zk.create(prefix, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL);
            }

            @Override
            public void unlock() throws Exception {
                zk.delete(node, -1);
            }
        };
    }

    /** Raw Curator: one {@code InterProcessMutex}, used the way Curator is meant to be used. */
    static Mutex curator(CuratorFramework client, String path) {
        InterProcessMutex mutex = new InterProcessMutex(client, path);
        return new Mutex() {
            @Override
            public void lock() throws Exception {
                mutex.acquire();
            }

            @Override
            public void unlock() throws Exception {
                mutex.release();
            }
        };
    }

    /** Raw Curator on fresh keys: each acquire a new {@code InterProcessMutex} on a path never used before. */
    static Mutex curatorFresh(CuratorFramework client, String parent, AtomicLong keys) {
        return new Mutex() {
            private InterProcessMutex mutex;

            @Override
            public void lock() throws Exception {
                mutex = new InterProcessMutex(client, parent + "/k" + keys.incrementAndGet());
                mutex.acquire();
            }

            @Override
            public void unlock() throws Exception {
                mutex.release();
            }
        };
    }

    /** Baton on fresh keys: each acquire on a key never used before, under {@code parent}. */
    static Mutex batonFresh(ZkLockService service, String parent, AtomicLong keys) {
        return new Mutex() {
            private Lease lease;

            @Override
            public void lock() throws Exception {
                lease = service.acquire(LockKey.of(parent, "k" + keys.incrementAndGet()));
            }

            @Override
            public void unlock() {
                lease.close();
            }
        };
    }

    /** Baton: {@code acquire} then {@code close} the lease. */
    static Mutex baton(ZkLockService service, LockKey key) {
        return new Mutex() {
            private Lease lease;

            @Override
            public void lock() throws Exception {
                lease = service.acquire(key);
            }

            @Override
            public void unlock() {
                lease.close();
            }
        };
    }

    // --------------------------------------------------------------------------------- loops

    /** Times acquire and release together. */
    static Window.Loop acquireRelease(Mutex m) {
        return () -> {
            long t0 = System.nanoTime();
            m.lock();
            m.unlock();
            return System.nanoTime() - t0;
        };
    }

    /** Times the acquire only. */
    static Window.Loop acquireOnly(Mutex m) {
        return () -> {
            long t0 = System.nanoTime();
            m.lock();
            long t1 = System.nanoTime();
            m.unlock();
            return t1 - t0;
        };
    }

    /**
     * Contends for one lock and times hand-offs: from the moment the previous holder began its
     * release to the moment this acquire returned. A grant counts as a hand-off only if this
     * acquire was already waiting when that release began.
     */
    static Window.Loop handOff(Mutex m, AtomicLong releaseBegan) {
        return () -> {
            long asked = System.nanoTime();
            m.lock();
            long granted = System.nanoTime();
            long released = releaseBegan.get();
            long sample = released != 0 && asked < released ? granted - released : Window.Loop.NO_SAMPLE;
            releaseBegan.set(System.nanoTime());
            m.unlock();
            return sample;
        };
    }
}
