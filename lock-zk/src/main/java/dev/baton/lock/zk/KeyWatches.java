package dev.baton.lock.zk;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockState;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The followers of {@link ZkLockService#watch}: one thread per watched key that reads the key's
 * state at once, then after every change of its queue, after every change of the connection,
 * and at least every {@link #REFRESH_MS}. Thread-safe.
 */
final class KeyWatches {
    private static final Logger LOG = LoggerFactory.getLogger(KeyWatches.class);

    /** How often a follower reads the key again when nothing changed in its queue. */
    static final long REFRESH_MS = 2_000;

    private final Store store;
    private final CuratorFramework client;
    private final Duration patience;
    /** The open handles, closed with the service. */
    private final Set<Follower> followers = ConcurrentHashMap.newKeySet();
    private boolean closed;

    KeyWatches(Store store, CuratorFramework client, Duration patience) {
        this.store = store;
        this.client = client;
        this.patience = patience;
    }

    /** Starts following {@code key}; see {@link ZkLockService#watch}. */
    ZkLockService.Watching follow(LockKey key, ZkLockService.KeyListener onChange) {
        Follower f = new Follower(key, onChange);
        synchronized (this) { // a close from here on finds the handle and closes it
            if (closed) {
                throw new IllegalStateException("LockService is closed: cannot watch " + key);
            }
            followers.add(f);
        }
        client.getConnectionStateListenable().addListener(f.connection);
        if (f.stop.get()) {
            client.getConnectionStateListenable().removeListener(f.connection); // closed meanwhile
        }
        f.thread.start(); // ends at once if closed meanwhile
        return f;
    }

    /** Closes every follower and refuses new ones. */
    void close() {
        synchronized (this) {
            closed = true;
        }
        for (Follower f : new ArrayList<>(followers)) {
            f.close();
        }
    }

    private final class Follower implements ZkLockService.Watching {
        private final Semaphore changed = new Semaphore(0);
        private final AtomicBoolean stop = new AtomicBoolean();
        private final Watcher watcher = event -> changed.release();
        private final ConnectionStateListener connection = (c, newState) -> changed.release();
        private final String queue;
        private final Thread thread;

        Follower(LockKey key, ZkLockService.KeyListener onChange) {
            this.queue = store.full(Layout.queuePath(key));
            this.thread = new Thread(() -> follow(key, onChange), "baton-watch-" + key);
            thread.setDaemon(true);
        }

        private void follow(LockKey key, ZkLockService.KeyListener onChange) {
            boolean up = true; // as told to onChange: a service starts connected or tells at once
            while (!stop.get()) {
                try {
                    changed.drainPermits();
                    boolean connected = client.getZookeeperClient().isConnected();
                    if (connected != up) {
                        up = connected;
                        onChange.connection(connected);
                    }
                    if (!connected) {
                        changed.tryAcquire(REFRESH_MS, TimeUnit.MILLISECONDS);
                        continue;
                    }
                    ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
                    try {
                        zk.getChildren(queue, watcher);
                    } catch (KeeperException.NoNodeException none) {
                        if (zk.exists(queue, watcher) != null) {
                            continue; // made meanwhile: watch its children
                        }
                    }
                    LockState state = Claims.read(store, zk, key, null).state();
                    if (!stop.get()) {
                        onChange.changed(state);
                    }
                    // a grant caused elsewhere (a coarser key's release, the end of a lock delay)
                    // does not change the queue: read again now and then anyway
                    changed.tryAcquire(REFRESH_MS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    if (stop.get()) {
                        return;
                    }
                    LOG.debug("Watching {} failed; trying again", key, e);
                    try {
                        changed.tryAcquire(200, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }

        @Override
        public void close() {
            if (!stop.compareAndSet(false, true)) {
                return;
            }
            followers.remove(this);
            client.getConnectionStateListenable().removeListener(connection);
            thread.interrupt();
            try {
                thread.join(patience.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                client.getZookeeperClient().getZooKeeper().removeWatches(queue, watcher, Watcher.WatcherType.Any, true);
            } catch (Exception e) {
                // none left, or the client is closed: nothing to remove
            }
        }
    }
}
