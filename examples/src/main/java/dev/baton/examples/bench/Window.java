package dev.baton.examples.bench;

import org.HdrHistogram.Histogram;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs loops, one thread each, for a fixed window of time, and measures them: every thread
 * starts at the same instant and repeats its operation until the window ends (finishing the one
 * it is in). Throughput is the operations of all threads over the time until the last one
 * finished; latencies are the samples the operations returned.
 */
final class Window {
    /** The operation a thread repeats. */
    interface Loop {
        /** Returned by {@link #once()} when the operation counts but gives no latency sample. */
        long NO_SAMPLE = -1;

        /** Runs the operation once; returns its latency sample in nanoseconds, or {@link #NO_SAMPLE}. */
        long once() throws Exception;
    }

    private Window() {
    }

    /** Runs {@code loops} (one thread each) for {@code length}, then returns the round they made. */
    static Series.Round run(List<? extends Loop> loops, Duration length) throws Exception {
        int n = loops.size();
        Histogram[] latencies = new Histogram[n];
        long[] operations = new long[n];
        long[] finished = new long[n];
        long[] window = new long[2]; // start, end: written before the go signal
        CountDownLatch ready = new CountDownLatch(n);
        CountDownLatch go = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int me = i;
            Loop loop = loops.get(i);
            latencies[i] = Series.histogram();
            Thread t = new Thread(() -> {
                ready.countDown();
                try {
                    go.await();
                    long end = window[1];
                    while (System.nanoTime() < end && failure.get() == null) {
                        long sample = loop.once();
                        operations[me]++;
                        if (sample != Loop.NO_SAMPLE) {
                            Series.record(latencies[me], sample);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
                finished[me] = System.nanoTime();
            }, "bench-loop-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        ready.await();
        window[0] = System.nanoTime();
        window[1] = window[0] + length.toNanos();
        go.countDown();
        long joinUntil = window[1] + TimeUnit.SECONDS.toNanos(60);
        for (Thread t : threads) {
            t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(joinUntil - System.nanoTime())));
            if (t.isAlive()) {
                threads.forEach(Thread::interrupt);
                throw new IllegalStateException(t.getName() + " did not finish its operation within 60 s of the window's end");
            }
        }
        if (failure.get() != null) {
            throw new IllegalStateException("An operation failed: " + failure.get(), failure.get());
        }
        Histogram all = Series.histogram();
        long total = 0;
        long last = window[0];
        for (int i = 0; i < n; i++) {
            all.add(latencies[i]);
            total += operations[i];
            last = Math.max(last, finished[i]);
        }
        double seconds = (last - window[0]) / 1e9;
        return new Series.Round(total / seconds, all, "");
    }
}
