package dev.baton.lock.zk;

import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.data.Stat;

import java.util.ArrayList;
import java.util.List;

/**
 * How an enqueue learns the zxid of its transaction (the request's fencing token) on every
 * server version, without a second round trip.
 *
 * <p>Servers with ZOOKEEPER-4026 (3.9, and the later releases of 3.7 and 3.8) answer each create
 * inside a {@code multi} with the new node's Stat, whose czxid is the transaction's zxid; earlier
 * ones (3.5, 3.6, early 3.7 and 3.8) answer it with the path alone. Once a service has met such an answer, each of its enqueues also rewrites the
 * service's own ephemeral clock node in the same transaction: every version answers a
 * {@code setData} inside a {@code multi} with its Stat, and its mzxid is the transaction's zxid.
 * A reply carrying neither (the first enqueue on an older server) leaves the zxid unknown; the
 * caller then reads its own node's czxid, once.
 *
 * <p>Thread-safe: the one flag only ever turns on.
 */
final class Zxids {
    private static final byte[] NO_DATA = new byte[0];

    private final String clockNode;
    private volatile boolean viaClock;

    /** @param clockNode the full path of this service's ephemeral clock node */
    Zxids(String clockNode) {
        this.clockNode = clockNode;
    }

    /** Whether enqueues rewrite the clock node: its parents and it must exist before the multi. */
    boolean viaClock() {
        return viaClock;
    }

    /** The op to append to an enqueue's multi, or null while creates are answered with their Stat. */
    Op extraOp() {
        return viaClock ? Op.setData(clockNode, NO_DATA, -1) : null;
    }

    /**
     * The transaction's zxid from a successful enqueue's results, or 0 if no result carries it
     * (the server omitted the create's Stat and the clock node was not rewritten): from then on
     * {@link #extraOp} rewrites it.
     */
    long of(List<OpResult> results) {
        for (OpResult result : results) {
            if (result instanceof OpResult.CreateResult) {
                Stat stat = ((OpResult.CreateResult) result).getStat();
                if (stat != null) {
                    return stat.getCzxid();
                }
            } else if (result instanceof OpResult.SetDataResult) {
                Stat stat = ((OpResult.SetDataResult) result).getStat();
                if (stat != null) {
                    return stat.getMzxid();
                }
            }
        }
        viaClock = true;
        return 0;
    }

    /** The full paths of the nodes a successful multi created, in the order of its ops. */
    static List<String> created(List<OpResult> results) {
        List<String> paths = new ArrayList<>(results.size());
        for (OpResult result : results) {
            if (result instanceof OpResult.CreateResult) {
                paths.add(((OpResult.CreateResult) result).getPath());
            }
        }
        return paths;
    }
}
