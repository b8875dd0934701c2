package dev.baton.lock.zk;

import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.StaleTokenException;
import dev.baton.lock.test.EmbeddedEnsemble;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A singleton job on a 3-server ensemble whose leader server is killed: never two runs at once,
 * no interleaving at the fenced resource, and the job runs again once the ensemble has recovered.
 */
class ZkLeaderElectionClusterTest {
    private static final Duration PATIENCE = Duration.ofSeconds(60);
    private static final Duration SESSION = Duration.ofSeconds(4);

    private EmbeddedEnsemble cluster;
    private final List<ZkLockService> services = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        cluster = EmbeddedEnsemble.cluster(3, Duration.ofMillis(500));
    }

    @AfterEach
    void stop() throws Exception {
        services.forEach(ZkLockService::close);
        cluster.close();
    }

    /** The resource the job protects: fenced, and it counts begin/commit pairs broken by another token. */
    static final class Ledger {
        private final Fence fence = new Fence();
        private FencingToken open;
        int commits;
        int interleavings;
        int stale;
        long lastCommitNanos;
        FencingToken lastCommitted;

        synchronized void begin(FencingToken t) {
            try {
                fence.check("ledger", t);
                open = t;
            } catch (StaleTokenException e) {
                stale++;
                throw e;
            }
        }

        synchronized void commit(FencingToken t) {
            try {
                fence.check("ledger", t);
            } catch (StaleTokenException e) {
                stale++;
                throw e;
            }
            if (!t.equals(open)) {
                interleavings++;
            }
            commits++;
            lastCommitted = t;
            lastCommitNanos = System.nanoTime();
        }

        synchronized FencingToken lastCommitted() {
            return lastCommitted;
        }
    }

    @Test
    void killingTheEnsembleLeaderNeverRunsTwoJobsAtOnceAndTheJobRunsAgainAfterRecovery() throws Exception {
        Ledger ledger = new Ledger();
        AtomicInteger running = new AtomicInteger();
        AtomicInteger maxRunning = new AtomicInteger();
        List<LeaderElection> elections = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ZkLockService s = ZkLockService.builder().connectString(cluster.connectString())
                    .sessionTimeout(SESSION).connectionTimeout(Duration.ofSeconds(10)).build();
            services.add(s);
            LeaderElection e = s.election("billing-run", "p" + i);
            elections.add(e);
            e.runAsSingleton("billing-run", LeaderElection.Repeat.WHILE_LEADER, leadership -> {
                maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                try {
                    while (true) {
                        ledger.begin(leadership.token());
                        TimeUnit.MILLISECONDS.sleep(10);
                        ledger.commit(leadership.token());
                    }
                } finally {
                    running.decrementAndGet();
                }
            });
        }
        await().atMost(PATIENCE).until(() -> ledger.lastCommitted() != null);
        FencingToken before = ledger.lastCommitted();

        long killed = System.nanoTime();
        int victim = cluster.killLeader();
        // the job runs again under a term of the new ZooKeeper epoch (the high 32 bits of a zxid)
        await().atMost(PATIENCE).until(() -> ledger.lastCommitted().value() >>> 32 > before.value() >>> 32);
        long resumedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
        cluster.start(victim);
        int commitsAfterRestart = ledger.commits;
        await().atMost(PATIENCE).until(() -> {
            synchronized (ledger) {
                return ledger.commits > commitsAfterRestart + 10;
            }
        });
        System.out.printf("ensemble leader killed: job ran again after %d ms; %d commits, %d stale writes refused%n",
                resumedMs, ledger.commits, ledger.stale);

        assertEquals(1, maxRunning.get(), "two runs of the singleton job at once");
        synchronized (ledger) {
            assertEquals(0, ledger.interleavings, "two leaders' writes interleaved at the resource");
        }
        long leaders = elections.stream().filter(LeaderElection::isLeader).count();
        assertTrue(leaders <= 1, leaders + " participants believe they lead");
    }
}
