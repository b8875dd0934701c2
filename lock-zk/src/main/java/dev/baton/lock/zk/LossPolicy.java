package dev.baton.lock.zk;

/**
 * When a {@link ZkLockService} gives up its leases after trouble with the ZooKeeper connection.
 */
public enum LossPolicy {
    /**
     * Lose every lease as soon as the connection is suspended, with
     * {@link dev.baton.lock.LossReason#CONNECTION_SUSPENDED}. The default, and the safe choice: a
     * client that cannot reach the ensemble cannot know whether its session has already expired
     * on the server and its locks passed to someone else.
     */
    LOSE_AT_SUSPENDED,

    /**
     * Keep leases through a suspension and lose them only when the session is known to be gone,
     * with {@link dev.baton.lock.LossReason#SESSION_EXPIRED}: when ZooKeeper reports the
     * expiry, when the client reconnects with a different session, or when the negotiated
     * session timeout has passed since the suspension (measured on this JVM's monotonic clock),
     * whichever comes first. Survives short network blips and server restarts, at a price: the
     * ensemble may expire the session and give the lock to someone else while this holder still
     * believes in it. The client notices silence only after two thirds of the session timeout, so
     * that window lasts up to about two thirds of a session timeout, longer if Curator's event
     * thread is slow to deliver the suspension. Use it only where every protected resource checks
     * fencing tokens.
     */
    LOSE_AT_LOST
}
