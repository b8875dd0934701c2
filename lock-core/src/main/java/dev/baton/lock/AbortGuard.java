package dev.baton.lock;

import java.util.function.Consumer;

/**
 * Turns a lease's loss into the interruption of a {@code withLock} body, and makes sure the
 * interrupt never outlives the body: once {@link #finish} has run, a late loss interrupts
 * nothing, and an interrupt this guard caused is cleared.
 */
final class AbortGuard implements Consumer<LockLostException> {
    private final Thread thread;
    private final boolean interrupt;
    private boolean running = true;
    private boolean interrupted;
    private LockLostException lost;

    AbortGuard(Thread thread, boolean interrupt) {
        this.thread = thread;
        this.interrupt = interrupt;
    }

    @Override
    public synchronized void accept(LockLostException e) {
        if (lost == null) {
            lost = e;
        }
        if (running && interrupt) {
            interrupted = true;
            thread.interrupt();
        }
    }

    /**
     * Ends the body; returns the loss, if there was one before this call: one told to this guard,
     * or one already marked on {@code lease} whose listeners (this guard among them) have not run
     * yet, as when a service hands the key on before it tells the old holder.
     */
    LockLostException finish(Lease lease) {
        synchronized (this) {
            running = false;
            if (interrupted) {
                Thread.interrupted();
            }
            if (lost != null) {
                return lost;
            }
        }
        if (lease.isValid()) {
            return null;
        }
        try {
            lease.ensureValid();
            return null;
        } catch (LockLostException e) {
            return e;
        } catch (IllegalStateException releasedByTheBody) {
            return null;
        }
    }

    @SuppressWarnings("unchecked")
    static <E extends Exception> E rethrow(Throwable t) throws E {
        if (t instanceof RuntimeException) {
            throw (RuntimeException) t;
        }
        if (t instanceof Error) {
            throw (Error) t;
        }
        throw (E) t;
    }
}
