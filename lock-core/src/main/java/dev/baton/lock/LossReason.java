package dev.baton.lock;

/** Why a {@link Lease} or a {@link Leadership} stopped being valid before its holder released it. */
public enum LossReason {
    /**
     * The client lost its connection to the lock store. The session may still be alive, but the
     * holder cannot know whether the store has already given the lock to someone else, so by
     * default the lease ends at once.
     */
    CONNECTION_SUSPENDED,
    /** The session that held the lock expired; the lock is gone and may already be held by another client. */
    SESSION_EXPIRED,
    /** The lease reached its maximum hold time. */
    LEASE_EXPIRED,
    /** Another client judged the lock stale and broke it. */
    BROKEN,
    /** The lock was taken away on request. */
    REVOKED,
    /** The {@link LockService} that granted the lease was closed. */
    SERVICE_CLOSED,
    /** The leader gave up its term by closing its {@link LeaderElection}. */
    RESIGNED;

    /** What happened, in words, as loss messages say it. */
    public String description() {
        switch (this) {
            case CONNECTION_SUSPENDED:
                return "connection to the lock store suspended (the session may expire and the lock pass on)";
            case SESSION_EXPIRED:
                return "session expired";
            case LEASE_EXPIRED:
                return "lease time ran out";
            case BROKEN:
                return "broken by another client as stale";
            case REVOKED:
                return "revoked";
            case SERVICE_CLOSED:
                return "lock service closed";
            case RESIGNED:
                return "resigned";
            default:
                return name();
        }
    }
}
