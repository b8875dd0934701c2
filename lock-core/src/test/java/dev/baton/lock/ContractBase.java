package dev.baton.lock;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInfo;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every contract suite shares: the services a test makes (closed after it), a pool for the
 * test's own threads (stopped after it, which must happen within {@link #PATIENCE}), and a prefix
 * no other test's keys or names use.
 */
public abstract class ContractBase {
    protected static final Duration PATIENCE = Duration.ofSeconds(20);

    private final List<LockService> services = Collections.synchronizedList(new ArrayList<>());
    private ExecutorService pool;
    private String prefix;

    /** For the contract suites. */
    protected ContractBase() {
    }

    /** A new service of the implementation under test, with its own session where it has one. */
    protected abstract LockService newService() throws Exception;

    @BeforeEach
    void setUpContractBase(TestInfo info) {
        pool = Executors.newCachedThreadPool();
        prefix = info.getTestMethod().orElseThrow().getName() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL);
    }

    @AfterEach
    void tearDownContractBase() throws InterruptedException {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(PATIENCE.toSeconds(), SECONDS), "test threads did not stop");
        synchronized (services) {
            services.forEach(LockService::close);
            services.clear();
        }
    }

    /** A new service, closed after the test. */
    protected final LockService service() throws Exception {
        LockService s = newService();
        services.add(s);
        return s;
    }

    /** This test's own prefix: its method's name and a random part. */
    protected final String prefix() {
        return prefix;
    }

    /** The pool for the test's own threads. */
    protected final ExecutorService pool() {
        return pool;
    }

    /** Runs {@code task} on the test's pool. */
    protected final <T> Future<T> async(Callable<T> task) {
        return pool.submit(task);
    }
}
