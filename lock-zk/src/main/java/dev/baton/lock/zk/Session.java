package dev.baton.lock.zk;

import dev.baton.lock.LossReason;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The one connection watcher of a service: turns Curator's connection states into what leases
 * and elections must do, under the service's {@link LossPolicy}, and tells its subscribers.
 *
 * <ul>
 *   <li>SUSPENDED or READ_ONLY: under LOSE_AT_SUSPENDED everything held is lost at once
 *       ({@link LossReason#CONNECTION_SUSPENDED}); under LOSE_AT_LOST a deadline of one negotiated
 *       session timeout starts, on the monotonic clock (Curator times its LOST on the wall clock
 *       and delivers it from a queue; the server heard from this client last at least that long
 *       ago, so past the deadline it has expired the session, whatever Curator says). READ_ONLY
 *       after SUSPENDED continues the same suspension.</li>
 *   <li>LOST: the session and its ephemeral nodes are gone: everything is lost
 *       ({@link LossReason#SESSION_EXPIRED}).</li>
 *   <li>CONNECTED or RECONNECTED: the deadline is disarmed; subscribers learn the session id and
 *       let go of what an earlier session held.</li>
 * </ul>
 *
 * <p>A grant is trusted only if nothing that would have lost it happened while it was decided:
 * {@link #epoch()} before, {@link #refusal} after. Subscribers are told after the epoch has
 * moved, on Curator's connection-state thread (or the deadline's timer), in subscription order.
 * Thread-safe.
 */
final class Session {
    private static final Logger LOG = LoggerFactory.getLogger(Session.class);

    /** What a lease registry or an election does when the connection changes. All by default nothing. */
    interface Subscriber {
        /** Any change of the connection: waiters look again. */
        default void changed() {
        }

        /** Everything held on this session must be given up now, for {@code reason}. */
        default void lose(LossReason reason) {
        }

        /** The session ended (LOST): its ephemeral nodes are gone with it. */
        default void ended() {
        }

        /** Connected again, on session {@code sessionId}, or -1 if it cannot be read. */
        default void reconnected(long sessionId) {
        }
    }

    private final CuratorFramework client;
    private final LossPolicy lossPolicy;
    private final ScheduledExecutorService timer;
    private final List<Subscriber> subscribers = new CopyOnWriteArrayList<>();
    private final ConnectionStateListener listener = (c, state) -> Callbacks.deliver(() -> stateChanged(state));

    // guarded by this
    private boolean connected;
    /** SUSPENDED, READ_ONLY and LOST events seen: a grant checked across one is not trusted. */
    private long suspensions;
    /** Losses of the session seen (LOST, or the deadline past). */
    private long expirations;
    /** Advanced by every reconnection and loss; a pending deadline belongs to one. */
    private long generation;
    private ScheduledFuture<?> deadline;
    private boolean closed;

    Session(CuratorFramework client, LossPolicy lossPolicy, ScheduledExecutorService timer) {
        this.client = client;
        this.lossPolicy = lossPolicy;
        this.timer = timer;
    }

    /** Starts listening; the connection is read after the listener is added, so no change goes unseen. */
    void start() {
        client.getConnectionStateListenable().addListener(listener);
        synchronized (this) {
            connected = client.getZookeeperClient().isConnected();
        }
    }

    /** Stops listening and disarms the deadline; subscribers hear nothing more. */
    void close() {
        client.getConnectionStateListenable().removeListener(listener);
        synchronized (this) {
            closed = true;
            disarm();
        }
    }

    LossPolicy lossPolicy() {
        return lossPolicy;
    }

    void subscribe(Subscriber s) {
        subscribers.add(s);
    }

    void unsubscribe(Subscriber s) {
        subscribers.remove(s);
    }

    synchronized boolean isConnected() {
        return connected;
    }

    /** Where the connection stands now: [suspensions, expirations] seen so far. */
    synchronized long[] epoch() {
        return new long[] {suspensions, expirations};
    }

    /**
     * Why a grant checked since {@code epoch} cannot be trusted, or null if it can. A suspension
     * before the epoch was read does not matter: the node's owner was checked after it, so the
     * session holding the node was alive and connected then. Call it where a grant is registered,
     * under the registry's lock: a loss after that point reaches the registry through
     * {@link Subscriber#lose}.
     */
    synchronized LossReason refusal(long[] epoch) {
        if (expirations != epoch[1]) {
            return LossReason.SESSION_EXPIRED;
        }
        if (lossPolicy == LossPolicy.LOSE_AT_SUSPENDED && suspensions != epoch[0]) {
            return LossReason.CONNECTION_SUSPENDED;
        }
        return null;
    }

    private void stateChanged(ConnectionState state) {
        LOG.debug("Connection state {}", state);
        subscribers.forEach(Subscriber::changed);
        switch (state) {
            case SUSPENDED:
            case READ_ONLY:
                suspended();
                break;
            case LOST:
                lost();
                break;
            case CONNECTED:
            case RECONNECTED:
                reconnected();
                break;
            default:
                break;
        }
    }

    private void suspended() {
        synchronized (this) {
            connected = false;
            suspensions++;
            if (lossPolicy == LossPolicy.LOSE_AT_LOST) {
                if (deadline == null && !closed) {
                    long gen = generation;
                    long timeoutMs = client.getZookeeperClient().getLastNegotiatedSessionTimeoutMs();
                    try {
                        deadline = timer.schedule(() -> outlived(gen), timeoutMs, TimeUnit.MILLISECONDS);
                    } catch (RejectedExecutionException closing) {
                        // the service is closing: it ends everything itself
                    }
                }
                return;
            }
        }
        tellLose(LossReason.CONNECTION_SUSPENDED);
    }

    private void outlived(long gen) {
        synchronized (this) {
            deadline = null;
            if (connected || generation != gen) {
                return;
            }
            expirations++; // a grant checked before this point is not trusted
        }
        tellLose(LossReason.SESSION_EXPIRED);
    }

    private void lost() {
        synchronized (this) {
            connected = false;
            suspensions++;
            expirations++;
            generation++;
            disarm();
        }
        tellLose(LossReason.SESSION_EXPIRED);
        subscribers.forEach(Subscriber::ended);
    }

    private void reconnected() {
        synchronized (this) {
            connected = true;
            generation++;
            disarm();
        }
        long sessionId;
        try {
            sessionId = client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            LOG.warn("Cannot read the session id after reconnecting; giving up everything held", e);
            sessionId = -1;
        }
        for (Subscriber s : subscribers) {
            s.reconnected(sessionId);
        }
    }

    private void tellLose(LossReason reason) {
        for (Subscriber s : subscribers) {
            s.lose(reason);
        }
    }

    private void disarm() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }
}
