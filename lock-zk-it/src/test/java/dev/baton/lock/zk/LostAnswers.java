package dev.baton.lock.zk;

import org.apache.zookeeper.AsyncCallback.ChildrenCallback;
import org.apache.zookeeper.AsyncCallback.MultiCallback;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.ZooKeeper;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fault for a service's multis and the listings sent behind them, plugged in through the package-private
 * {@link ZkLockServiceBuilder#sending} seam: the next {@link #lose} successful multis are applied
 * by the server, but their answer is lost as if the connection broke (the client's socket is
 * closed too, so the handle reconnects).
 */
final class LostAnswers implements Store.Sending {
    private final AtomicInteger toLose = new AtomicInteger();
    private final AtomicInteger listingsToLose = new AtomicInteger();

    /** Loses the answers of the next {@code count} successful multis. */
    void lose(int count) {
        toLose.set(count);
    }

    /** How many of the answers asked to be lost have not been lost yet. */
    int left() {
        return toLose.get();
    }

    /**
     * Loses the answers of the next {@code count} listings sent behind an enqueue's multi, the
     * multi's own answer having arrived: the connection breaks between the two.
     */
    void loseListings(int count) {
        listingsToLose.set(count);
    }

    /** How many of the listings asked to be lost have not been lost yet. */
    int listingsLeft() {
        return listingsToLose.get();
    }

    @Override
    public void listing(ZooKeeper zk, String fullPath, ChildrenCallback callback) {
        zk.getChildren(fullPath, false, (rc, path, ctx, children) -> {
            if (rc == KeeperException.Code.OK.intValue() && listingsToLose.get() > 0
                    && listingsToLose.getAndDecrement() > 0) {
                closeSocket(zk);
                callback.processResult(KeeperException.Code.CONNECTIONLOSS.intValue(), path, ctx, null);
            } else {
                callback.processResult(rc, path, ctx, children);
            }
        }, null);
    }

    private static void closeSocket(ZooKeeper zk) {
        try {
            zk.getTestable().closeSocket();
        } catch (IOException ignored) {
            // the lost answer is what matters
        }
    }

    @Override
    public void multi(ZooKeeper zk, List<Op> ops, MultiCallback callback) {
        zk.multi(ops, (rc, path, ctx, results) -> {
            if (rc == KeeperException.Code.OK.intValue() && toLose.get() > 0 && toLose.getAndDecrement() > 0) {
                closeSocket(zk);
                callback.processResult(KeeperException.Code.CONNECTIONLOSS.intValue(), path, ctx, null);
            } else {
                callback.processResult(rc, path, ctx, results);
            }
        }, null);
    }
}
