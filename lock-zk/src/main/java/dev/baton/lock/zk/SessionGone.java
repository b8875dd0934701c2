package dev.baton.lock.zk;

import org.apache.zookeeper.KeeperException;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Thrown inside an attempt when its session is gone (expired, or a node only its end deletes
 * is missing): the attempt starts again on the next session. Also the two rules for reading a
 * ZooKeeper answer that every part shares.
 */
final class SessionGone extends Exception {
    private static final long serialVersionUID = 1L;

    SessionGone() {
        super(null, null, false, false);
    }

    /**
     * Whether a call failed on a connection that broke, its answer unknown, with the session
     * still alive: SESSIONMOVED is the answer to a call sent on the old connection after the
     * session moved to a new one.
     */
    static boolean inDoubt(KeeperException.Code code) {
        return code == KeeperException.Code.CONNECTIONLOSS || code == KeeperException.Code.OPERATIONTIMEOUT
                || code == KeeperException.Code.SESSIONMOVED;
    }

    /** Waits for a ZooKeeper answer; unwraps its KeeperException, and turns the session's end into SessionGone. */
    static <T> T await(CompletableFuture<T> answer) throws InterruptedException, KeeperException, SessionGone {
        try {
            return answer.get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof KeeperException ke)) {
                throw new IllegalStateException(e.getCause());
            }
            if (ke.code() == KeeperException.Code.SESSIONEXPIRED) {
                throw new SessionGone();
            }
            throw ke;
        }
    }
}
