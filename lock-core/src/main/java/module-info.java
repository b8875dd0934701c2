/**
 * Baton's API ({@code dev.baton.lock}) and its in-memory implementation
 * ({@code dev.baton.lock.memory}). The {@code internal} package is shared with Baton's ZooKeeper
 * implementation only; it is not part of the API.
 */
module dev.baton.lock {
    exports dev.baton.lock;
    exports dev.baton.lock.memory;
    exports dev.baton.lock.internal to dev.baton.lock.zk;
}
