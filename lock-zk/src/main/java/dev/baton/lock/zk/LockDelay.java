package dev.baton.lock.zk;

import dev.baton.lock.internal.Granule;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Lock delay: a request that asked for one leaves a persistent marker beside each of its nodes;
 * when it is lost or broken rather than released, the markers stay and hold back conflicting
 * requests that came before the loss for the delay, counted on the ensemble's clock from when
 * the marker was first noticed after the loss (its stamp). {@link #verdict} is the rule for one
 * marker; the rest is its I/O: stamping, waiting, deleting. Thread-safe.
 */
final class LockDelay {
    private static final Logger LOG = LoggerFactory.getLogger(LockDelay.class);

    private final Store store;
    private final CuratorFramework client;
    private final ScheduledExecutorService sweeper;
    private final ScheduledExecutorService timer;
    private final Duration patience;

    LockDelay(Store store, CuratorFramework client, ScheduledExecutorService sweeper, ScheduledExecutorService timer,
              Duration patience) {
        this.store = store;
        this.client = client;
        this.sweeper = sweeper;
        this.timer = timer;
        this.patience = patience;
    }

    /** What to do with one marker of a request that left. */
    enum Action { STAMP, WAIT, DELETE }

    /**
     * The rule for one marker whose request has left: not stamped yet, or stamped by an earlier
     * leader (whose clock cannot be compared with this one's), it is stamped now and its whole
     * delay runs from there, never from before the loss; stamped by this leader, it holds back
     * until its stamp plus its delay, then is deleted.
     *
     * @param marker the marker's stat; {@code now} the ensemble's time
     * @return the action, and for WAIT (and STAMP) how many milliseconds the delay still runs
     */
    static Verdict verdict(Stat marker, long delayMs, Store.Stamp now) {
        if (marker.getVersion() == 0 || !now.sameLeader(marker.getMzxid())) {
            return new Verdict(Action.STAMP, delayMs);
        }
        long left = marker.getMtime() + delayMs - now.millis();
        return left > 0 ? new Verdict(Action.WAIT, left) : new Verdict(Action.DELETE, 0);
    }

    /** An action and the milliseconds the delay still runs after it. */
    record Verdict(Action action, long leftMs) { }

    /**
     * The lock delay running at a level for an attempt, in nanoseconds (0: none): of the markers
     * {@code left} in the level's listing by requests that left ({@link Grants}), those made
     * before the attempt, of a granule incompatible with the attempt's there. Markers of compatible requests are stamped and
     * deleted the same way, so they do not stay forever.
     */
    long remaining(ZooKeeper zk, Request.Attempt a, int level, List<String> left)
            throws KeeperException, InterruptedException, SessionGone {
        Granule mine = a.request.granule(level);
        String parent = a.request.listed(level);
        List<CompletableFuture<Store.Data>> data = new ArrayList<>();
        for (String name : left) {
            data.add(Store.data(zk, store.full(parent + "/" + name)));
        }
        Store.Stamp now = null;
        long wait = 0;
        for (int m = 0; m < left.size(); m++) {
            Store.Data d = SessionGone.await(data.get(m));
            if (d == null || d.stat().getCzxid() > a.created.zxid()) {
                continue; // gone, or left by a request that came after this one
            }
            String path = store.full(parent + "/" + left.get(m));
            boolean conflicts = !mine.compatibleWith(NodeNames.markerGranule(left.get(m)));
            long delayMs = HolderRecord.delayMillis(d.bytes());
            if (now == null) {
                try {
                    now = store.now(zk);
                } catch (KeeperException e) {
                    if (SessionGone.inDoubt(e.code()) || e.code() == KeeperException.Code.SESSIONEXPIRED) {
                        throw e;
                    }
                    // cannot tell the ensemble's time (ACL, read-only): wait the whole delay
                    LOG.warn("Cannot learn the ensemble's time for the lock delay on level {} ({})", parent, e.code());
                    if (conflicts) {
                        wait = Math.max(wait, TimeUnit.MILLISECONDS.toNanos(delayMs));
                    }
                    continue;
                }
            }
            Verdict v = verdict(d.stat(), delayMs, now);
            if (v.action() == Action.STAMP) {
                try {
                    SessionGone.await(Store.setData(zk, path, d.bytes(), d.stat().getVersion()));
                } catch (KeeperException e) {
                    if (e.code() != KeeperException.Code.BADVERSION && e.code() != KeeperException.Code.NONODE) {
                        throw e;
                    }
                    return TimeUnit.MILLISECONDS.toNanos(1); // stamped or deleted meanwhile: look again
                }
            } else if (v.action() == Action.DELETE) {
                zk.delete(path, d.stat().getVersion(), (rc, p, ctx) -> { }, null);
            }
            if (conflicts) {
                wait = Math.max(wait, TimeUnit.MILLISECONDS.toNanos(v.leftMs()));
            }
        }
        return wait;
    }

    /**
     * Ends the lock delay of a lost lease's markers in the background: each is stamped (the delay
     * starts now, after the loss) unless already stamped by this leader, and deleted once its
     * delay has passed on the ensemble's clock; retried while the connection is down. A marker
     * of a process that died is ended the same way by the next request that finds it.
     */
    void retire(List<String> markers) {
        try {
            sweeper.execute(() -> retireNow(markers));
        } catch (RejectedExecutionException closing) {
            // the service is closing: the next request to find them ends them
        }
    }

    private void retireNow(List<String> markers) {
        List<String> left = new ArrayList<>();
        long waitMs = 0;
        try {
            ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
            Store.Stamp now = store.now(zk);
            for (String marker : markers) {
                String path = store.full(marker);
                Store.Data d = Store.data(zk, path).get(patience.toMillis(), TimeUnit.MILLISECONDS);
                if (d == null) {
                    continue;
                }
                Verdict v = verdict(d.stat(), HolderRecord.delayMillis(d.bytes()), now);
                if (v.action() == Action.STAMP) {
                    Store.setData(zk, path, d.bytes(), d.stat().getVersion())
                            .get(patience.toMillis(), TimeUnit.MILLISECONDS);
                } else if (v.action() == Action.DELETE) {
                    zk.delete(path, d.stat().getVersion(), (rc, p, ctx) -> { }, null);
                    continue;
                }
                left.add(marker);
                waitMs = Math.max(waitMs, v.leftMs());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (Exception e) {
            LOG.debug("Cannot end the lock delay of {} yet; trying again", markers, e);
            left = markers;
            waitMs = 1_000;
        }
        if (!left.isEmpty()) {
            List<String> again = left;
            try {
                timer.schedule(() -> retire(again), waitMs + 10, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException closing) {
                // the service is closing: the next request to find them ends them
            }
        }
    }
}
