package dev.baton.lock.zk;

/**
 * Marks the threads that are delivering ZooKeeper's or Curator's callbacks to this package
 * (ZooKeeper's event thread, Curator's connection-state thread) for as long as they do: code
 * reached from there, such as a user's {@code onLost} listener closing the service, must never
 * wait for an answer only that thread can deliver.
 */
final class Callbacks {
    private static final ThreadLocal<Integer> DEPTH = new ThreadLocal<>();

    private Callbacks() {
    }

    /** Runs {@code callback} marked as a delivery. */
    static void deliver(Runnable callback) {
        Integer outer = DEPTH.get();
        DEPTH.set(outer == null ? 1 : outer + 1);
        try {
            callback.run();
        } finally {
            if (outer == null) {
                DEPTH.remove();
            } else {
                DEPTH.set(outer);
            }
        }
    }

    /** Whether the current thread is delivering a callback. */
    static boolean delivering() {
        return DEPTH.get() != null;
    }
}
