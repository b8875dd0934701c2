package dev.baton.examples.bench;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Client heap per held lock: the heap in use (after full collections) with {@code count} locks
 * held on distinct keys, minus the heap in use before, divided by {@code count}. The server runs
 * in another JVM, so only the client's side counts: the lease or mutex objects, the client's
 * bookkeeping of them, and the caller's reference to each (kept by both sides alike).
 */
final class HeapBench {
    /** Takes and gives back one lock per key. */
    interface Holder {
        Object hold(int i) throws Exception;

        void release(Object held) throws Exception;
    }

    private static final int THREADS = 16;

    private HeapBench() {
    }

    /** Raw Curator: one {@code InterProcessMutex} per key. */
    static Holder curator(CuratorFramework client) {
        return new Holder() {
            @Override
            public Object hold(int i) throws Exception {
                InterProcessMutex m = new InterProcessMutex(client, "/curator-mem/k" + i);
                m.acquire();
                return m;
            }

            @Override
            public void release(Object held) throws Exception {
                ((InterProcessMutex) held).release();
            }
        };
    }

    /** Baton: one lease per key. */
    static Holder baton(ZkLockService service) {
        return new Holder() {
            @Override
            public Object hold(int i) throws InterruptedException {
                return service.acquire(LockKey.of("mem", "k" + i));
            }

            @Override
            public void release(Object held) {
                ((Lease) held).close();
            }
        };
    }

    /**
     * Bytes of client heap per held lock, with {@code count} held. The locks are left held: the
     * caller ends the session, which releases them all at once.
     */
    static long bytesPerLock(Holder holder, int count) throws Exception {
        // warm the code paths (classes, caches) on other keys first
        for (int i = 0; i < 100; i++) {
            holder.release(holder.hold(count + i));
        }
        List<Object> held = Collections.synchronizedList(new ArrayList<>(count));
        long before = usedHeapAfterGc();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int first = t;
            Thread thread = new Thread(() -> {
                try {
                    for (int i = first; i < count && failure.get() == null; i += THREADS) {
                        held.add(holder.hold(i));
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "bench-holder-" + t);
            thread.setDaemon(true);
            threads.add(thread);
            thread.start();
        }
        for (Thread t : threads) {
            t.join(TimeUnit.MINUTES.toMillis(10));
            if (t.isAlive()) {
                throw new IllegalStateException("Holding " + count + " locks took more than 10 minutes");
            }
        }
        if (failure.get() != null) {
            throw new IllegalStateException("Holding locks failed: " + failure.get(), failure.get());
        }
        long after = usedHeapAfterGc();
        if (held.size() != count) {
            throw new IllegalStateException("Held " + held.size() + " locks, not " + count);
        }
        return Math.round((after - before) / (double) count);
    }

    /**
     * The heap in use once full collections stop freeing anything: collections are repeated until
     * two in a row free less than {@link #SETTLED_BYTES} (at most {@link #MAX_COLLECTIONS}), so
     * garbage and soft references left by earlier measures do not count on one side only.
     */
    private static long usedHeapAfterGc() {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        memory.gc();
        long previous = memory.getHeapMemoryUsage().getUsed();
        for (int i = 1; i < MAX_COLLECTIONS; i++) {
            memory.gc();
            long used = memory.getHeapMemoryUsage().getUsed();
            if (previous - used < SETTLED_BYTES) {
                return Math.min(previous, used);
            }
            previous = used;
        }
        return previous;
    }

    private static final long SETTLED_BYTES = 16 * 1024;
    private static final int MAX_COLLECTIONS = 10;
}
