package dev.baton.lock.zk;

import dev.baton.lock.internal.Ticker;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The waits of acquiring threads on nodes: one watcher object shared by every wait, which
 * ZooKeeper's client keeps once per path, so failed waits do not pile up watchers. A change of
 * the watched node, or of the connection, wakes the waiters. Thread-safe.
 */
final class Watches {
    /** Waiting requests by the full path whose change they wait for. */
    private final Map<String, Set<Waiting>> watching = new ConcurrentHashMap<>();
    private final Watcher wake = this::changed;
    private final Ticker ticker;

    Watches(Ticker ticker) {
        this.ticker = ticker;
    }

    /** A new wait, for one acquiring thread. */
    Waiting newWaiting() {
        return new Waiting(ticker);
    }

    /** One request waiting for a node to change; {@link #await} parks on it. */
    static final class Waiting {
        private final Ticker ticker;
        private boolean woken;

        private Waiting(Ticker ticker) {
            this.ticker = ticker;
        }

        synchronized void wake() {
            woken = true;
            notifyAll();
        }

        /** Waits until woken or {@code nanos} pass on the ticker; consumes the wake-up. */
        synchronized void await(long nanos) throws InterruptedException {
            long until = ticker.nanos() + nanos;
            long left = nanos;
            while (!woken && left > 0) {
                TimeUnit.NANOSECONDS.timedWait(this, left);
                left = until - ticker.nanos();
            }
            woken = false;
        }
    }

    /**
     * Watches {@code fullPath} for {@code w} with {@code getData} (so a node gone already is seen
     * at once, and no watch is left on a path that never comes back), filling {@code stat} if not
     * null.
     *
     * @return false if the node is already gone (no need to wait), true if {@code w} will be woken
     *     when it changes
     */
    boolean watch(ZooKeeper zk, String fullPath, Waiting w, Stat stat) throws KeeperException, InterruptedException {
        watching.computeIfAbsent(fullPath, p -> ConcurrentHashMap.newKeySet()).add(w);
        boolean exists = false;
        try {
            zk.getData(fullPath, wake, stat);
            exists = true;
            return true;
        } catch (KeeperException.NoNodeException gone) {
            return false;
        } finally {
            if (!exists) {
                unwatch(fullPath, w);
            }
        }
    }

    void unwatch(String fullPath, Waiting w) {
        watching.computeIfPresent(fullPath, (p, set) -> {
            set.remove(w);
            return set.isEmpty() ? null : set;
        });
    }

    /** Wakes every waiting request: the connection changed, so each must look again. */
    void wakeAll() {
        for (Set<Waiting> set : watching.values()) {
            for (Waiting w : set) {
                w.wake();
            }
        }
    }

    private void changed(WatchedEvent event) {
        if (event.getType() == Watcher.Event.EventType.None) {
            if (event.getState() != Watcher.Event.KeeperState.SyncConnected) {
                wakeAll();
            }
            return;
        }
        Set<Waiting> set = watching.remove(event.getPath());
        if (set != null) {
            for (Waiting w : set) {
                w.wake();
            }
        }
    }
}
