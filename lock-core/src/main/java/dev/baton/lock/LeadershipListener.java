package dev.baton.lock;

/**
 * Told when this participant of a {@link LeaderElection} gains or loses leadership. Both
 * methods do nothing by default.
 */
public interface LeadershipListener {
    /** A term began: this participant leads until {@code leadership} is lost. */
    default void gained(Leadership leadership) {
    }

    /** The term that began with the matching {@link #gained} call ended. */
    default void lost(LockLostException why) {
    }
}
