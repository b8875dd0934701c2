package dev.baton.lock.zk;

import dev.baton.lock.LockException;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Refuses a ZooKeeper server too old for Baton, with a message naming what it lacks, before
 * anything is written to it.
 *
 * <p>Baton needs CONTAINER znodes and multi-op creates that carry their mode and ACL, both from
 * ZooKeeper 3.5; the oldest release tested is {@value #OLDEST_TESTED}. A server before 3.5 has no
 * {@code /zookeeper/config} node (its dynamic configuration, also new in 3.5), so reading it tells
 * the two apart in one round trip, whatever chroot the client uses. Checked once per session:
 * at {@code build()}, and before the first request, election or operator call of each session
 * while connected.
 *
 * <p>Thread-safe.
 */
final class ServerCheck {
    /** The oldest server release Baton is tested against. */
    static final String OLDEST_TESTED = "3.5.5";

    private volatile long checkedSession;

    /**
     * Returns if the server this handle talks to is recent enough, or the answer was not
     * definite (connection trouble, no answer within {@code patience}: the caller's own request
     * meets the same trouble and handles it; the check runs again next time).
     *
     * @param where the ensemble's connect string, for the message
     * @throws LockException if the server is older than 3.5
     */
    void verify(ZooKeeper zk, String where, Duration patience) throws InterruptedException {
        long session = zk.getSessionId();
        if (session != 0 && session == checkedSession) {
            return;
        }
        CompletableFuture<KeeperException.Code> answer = new CompletableFuture<>();
        zk.getConfig(false, (rc, path, ctx, data, stat) -> answer.complete(KeeperException.Code.get(rc)), null);
        KeeperException.Code code;
        try {
            code = answer.get(patience.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException notDefinite) {
            return;
        }
        if (code == KeeperException.Code.NONODE) {
            throw new LockException("The ZooKeeper server at " + where + " is older than 3.5: it has no "
                    + "/zookeeper/config node, and none of the CONTAINER znodes and multi-op creates Baton needs. "
                    + "Baton supports ZooKeeper servers 3.5 to 3.9 (tested from " + OLDEST_TESTED + ")");
        }
        if (code == KeeperException.Code.OK || code == KeeperException.Code.NOAUTH) { // NoAuth: it exists
            checkedSession = session;
        }
    }
}
