package dev.baton.lock.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;

/**
 * Curator's {@link InterProcessMutex}, used once per acquisition, exposing the path of the lock
 * node it created. Baton never calls {@link #release()}: it deletes that node itself, so a lease
 * can be released from any thread (the mutex's own bookkeeping is per thread and is simply
 * dropped with this object).
 */
final class BatonMutex extends InterProcessMutex {
    BatonMutex(CuratorFramework client, String queuePath) {
        super(client, queuePath);
    }

    /** The lock node this mutex holds, on the thread that acquired it; null if it holds none. */
    String lockNode() {
        return getLockPath();
    }
}
