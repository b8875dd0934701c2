package dev.baton.safety;

import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.zk.LossPolicy;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.ZooKeeper;

import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One client of a safety run: its own ZooKeeper session and {@link ZkLockService}, looping over
 * random keys; in each critical section it begins, reads, works, writes the value read plus one,
 * and commits, on the fenced store (carrying its token) and on the naive store. Everything it
 * sees (grants, losses, releases, connection changes) is reported to the {@link StoreServer}.
 *
 * <p>Two styles. A <em>diligent</em> client uses {@code withLock}: its work is interruptible, so
 * a loss aborts it. A <em>stubborn</em> client acquires, ignores every loss notification and
 * always finishes, as careless code would: only the fence stands between it and the data.
 */
final class Worker implements Runnable {
    /** What a client is: its id, loss policy, style, and whether it runs in a child JVM. */
    record Spec(String id, LossPolicy policy, boolean stubborn, boolean child) {
        String describe() {
            return "policy=" + policy + " style=" + (stubborn ? "stubborn" : "diligent") + " jvm="
                    + (child ? "child" : "test");
        }
    }

    private final Spec spec;
    private final String connectString;
    private final Duration sessionTimeout;
    private final int keys;
    private final long seed;
    private final int storePort;
    private final String namespace;
    private volatile boolean stopping;
    private volatile boolean longJobNext;
    private volatile Thread thread;
    private volatile CuratorFramework curator;
    private long lastSession;

    Worker(Spec spec, String connectString, Duration sessionTimeout, int keys, long seed, int storePort,
           String namespace) {
        this.spec = spec;
        this.connectString = connectString;
        this.sessionTimeout = sessionTimeout;
        this.keys = keys;
        this.seed = seed;
        this.storePort = storePort;
        this.namespace = namespace;
    }

    /** Makes the next critical section a long job (two session timeouts of work). */
    void requestLongJob() {
        longJobNext = true;
    }

    /** Asks the loop to end; it closes its service and reports CLOSED. */
    void stop() {
        stopping = true;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    @Override
    public void run() {
        thread = Thread.currentThread();
        try (StoreClient store = new StoreClient(storePort, spec.id())) {
            CuratorFramework curator = CuratorFrameworkFactory.builder()
                    .connectString(connectString)
                    .sessionTimeoutMs((int) sessionTimeout.toMillis())
                    .connectionTimeoutMs((int) sessionTimeout.toMillis())
                    .retryPolicy(new ExponentialBackoffRetry(100, 3))
                    // keep the connect string we were given (our proxies): the tracker would replace
                    // it with the servers' own addresses from the ensemble's config
                    .ensembleTracker(false)
                    .build();
            this.curator = curator;
            curator.getConnectionStateListenable().addListener((c, state) -> reportState(store, c, state));
            curator.start();
            try {
                if (!curator.blockUntilConnected(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException(spec.id() + " could not connect to " + connectString);
                }
                ZooKeeper zk = curator.getZookeeperClient().getZooKeeper();
                synchronized (this) {
                    lastSession = zk.getSessionId();
                }
                store.request("CLIENT " + zk.getSessionId() + " " + spec.describe());
                store.request("SESSION " + zk.getSessionId() + " " + HexFormat.of().formatHex(zk.getSessionPasswd()));
                try (ZkLockService locks = ZkLockService.builder().client(curator).namespace(namespace)
                        .lossPolicy(spec.policy()).connectionTimeout(sessionTimeout).build()) {
                    loop(store, locks);
                }
                store.request("CLOSED");
            } finally {
                curator.close();
            }
        } catch (UncheckedIOException e) {
            // the store went away: the run is over
        } catch (Exception e) {
            throw new IllegalStateException(spec.id() + " failed", e);
        }
    }

    private void loop(StoreClient store, ZkLockService locks) {
        Random random = new Random(seed);
        LockOptions wait = LockOptions.defaults().waitAtMost(sessionTimeout.multipliedBy(2));
        while (!stopping) {
            String key = "k" + random.nextInt(keys);
            boolean longJob = longJobNext;
            longJobNext = false;
            long work = longJob ? sessionTimeout.multipliedBy(2).toMillis() : 5 + random.nextInt(35);
            try {
                if (spec.stubborn()) {
                    stubbornSection(store, locks, key, wait, work, longJob);
                } else {
                    diligentSection(store, locks, key, wait, work, longJob);
                }
            } catch (LockTimeoutException | LockLostException e) {
                // a busy key, or an aborted critical section (its loss is reported by onLost)
            } catch (InterruptedException e) {
                if (stopping) {
                    return;
                }
            } catch (IllegalStateException e) {
                if (stopping) {
                    return;
                }
                throw e;
            } catch (LockException e) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50)); // the ensemble is unreachable; try again
            }
        }
    }

    private void diligentSection(StoreClient store, ZkLockService locks, String key, LockOptions wait, long work,
                                 boolean longJob) throws InterruptedException {
        locks.withLock(LockKey.of("safety", key), wait, lease -> {
            granted(store, key, lease, longJob);
            section(store, key, lease, work, true);
            finished(store, key, lease);
            return null;
        });
    }

    private void stubbornSection(StoreClient store, ZkLockService locks, String key, LockOptions wait, long work,
                                 boolean longJob) throws InterruptedException {
        Lease lease = locks.acquire(LockKey.of("safety", key), wait);
        try {
            granted(store, key, lease, longJob);
            section(store, key, lease, work, false);
            finished(store, key, lease);
        } finally {
            lease.close();
        }
    }

    private void granted(StoreClient store, String key, Lease lease, boolean longJob) {
        // the session the grant was verified on: the reports of a session change may still be on their way
        long session;
        try {
            session = curator.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            session = 0;
        }
        store.request("GRANT " + key + " " + lease.token().value() + " " + session + (longJob ? " long-job" : ""));
        lease.onLost(e -> store.request("LOST " + key + " " + e.token().value() + " " + e.reason()));
    }

    /**
     * Reports RELEASE when the holder is done with a lease it still believes in, just before it
     * closes it (so the history shows the holder's belief, not how long the close took); a lost
     * lease was reported by its onLost listener.
     */
    private static void finished(StoreClient store, String key, Lease lease) {
        if (lease.isValid()) {
            store.request("RELEASE " + key + " " + lease.token().value());
        }
    }

    /** Begin, read, work, write read+1, commit; stops at the first operation the fence rejects. */
    private static void section(StoreClient store, String key, Lease lease, long workMillis, boolean interruptible)
            throws InterruptedException {
        long t = lease.token().value();
        if (store.fenced("BEGIN", key, t, 0) == null) {
            return;
        }
        Long value = store.fenced("READ", key, t, 0);
        if (value == null) {
            return;
        }
        long naive = store.naive("READ", key, 0);
        if (interruptible) {
            Thread.sleep(workMillis);
        } else {
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(workMillis);
            for (long left; (left = until - System.nanoTime()) > 0; ) {
                LockSupport.parkNanos(left); // ignores interrupts, as careless code would
            }
        }
        store.naive("WRITE", key, naive + 1); // what would happen without a fence
        if (store.fenced("WRITE", key, t, value + 1) == null) {
            return;
        }
        store.fenced("COMMIT", key, t, 0);
    }

    private void reportState(StoreClient store, CuratorFramework curator, ConnectionState state) {
        long session = 0;
        byte[] password = null;
        try {
            ZooKeeper zk = curator.getZookeeperClient().getZooKeeper();
            session = zk.getSessionId();
            password = zk.getSessionPasswd();
        } catch (Exception e) {
            // no handle right now
        }
        try {
            store.request("CONN " + state + " " + session);
            if (state.isConnected() && session != 0 && password != null) {
                boolean fresh;
                synchronized (this) {
                    fresh = session != lastSession && lastSession != 0;
                    if (fresh) {
                        lastSession = session;
                    }
                }
                if (fresh) {
                    store.request("SESSION " + session + " " + HexFormat.of().formatHex(password));
                }
            }
        } catch (UncheckedIOException e) {
            // the store went away
        }
    }
}
