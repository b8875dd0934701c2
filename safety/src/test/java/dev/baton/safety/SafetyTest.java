package dev.baton.safety;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The short profile of the safety suite, in the normal test run: one run on a single server and
 * one on a 3-server cluster, each injecting every fault kind its ensemble supports once, in an
 * order set by the seed, every other fault a leader can take aimed at the elected leader's
 * singleton job; and the same mixed workload on the in-memory implementation under lost leases,
 * paused holders and a hung holder.
 * {@code -Dbaton.safety.seed=N} replays a seed (the log and failure messages print it).
 */
class SafetyTest {
    private static long seed(long fallback) {
        return Long.getLong("baton.safety.seed", fallback);
    }

    @Test
    void singleServerUnderSessionExpiryRestartsFreezesAndPauses() throws Exception {
        check(SafetyRun.run(SafetyRun.Config.shortRun("single", seed(System.nanoTime()), false)));
    }

    /**
     * The mixed workload on the in-memory implementation: every lease lost at random moments, paused
     * holders and a hung one.
     */
    @Test
    void inMemoryMixedWorkloadUnderLossesAndPauses() throws Exception {
        check(SafetyRun.run(SafetyRun.Config.memoryRun("memory", seed(System.nanoTime()))));
    }

    @Test
    void threeServerClusterUnderLeaderAndFollowerKillsFreezesAndPauses() throws Exception {
        check(SafetyRun.run(SafetyRun.Config.shortRun("cluster", seed(System.nanoTime()), true)));
    }

    /**
     * Seeds that once failed because of a real engine bug, replayed in every build. A seed fixes the
     * fault schedule, its aim and the clients' key choices, not thread timing, so each bug also has
     * a targeted test in lock-zk that fails deterministically without its fix. (The injector's aim
     * has been refined since these seeds failed, so they now drive a somewhat different schedule.)
     * <ul>
     *   <li>5571488873408 (cluster): one znode left after the run, a container that an acquire
     *       interrupted while Curator created its parents left never used (regression test:
     *       {@code ZkLockServiceTest.acquiresInterruptedWhileCreatingParentsLeaveNoContainerBehind}).</li>
     * </ul>
     */
    @ParameterizedTest
    @ValueSource(longs = {5571488873408L})
    void clusterRegressionSeeds(long seed) throws Exception {
        check(SafetyRun.run(SafetyRun.Config.shortRun("cluster-regression", seed, true)));
    }

    private static void check(SafetyRun.Outcome outcome) {
        String where = outcome.summary() + "\n  history: " + outcome.log().toAbsolutePath()
                + "\n  replay: -Dbaton.safety.seed=" + outcome.config().seed();
        assertTrue(outcome.ok(), "safety violated or run incomplete: " + where + "\n" + outcome.verdict().report());
        // the faults must have bitten: pauses and long freezes of stubborn holders make an unfenced store lose updates
        assertTrue(outcome.verdict().figures().naiveViolations() > 0, "the naive store saw no violation, so the faults did not bite: " + where);
        assertTrue(outcome.verdict().figures().staleTotal() > 0, "the fence rejected nothing: " + where);
        // a hung holder's lease ended at its lease time, another client got the lock while it was still
        // in its section, and its late write was rejected
        Verdict.Figures figures = outcome.verdict().figures();
        assertTrue(figures.faults("HUNG") > 0 && figures.bit("HUNG") == figures.faults("HUNG"),
                "no hung holder, or its fault did not bite: " + figures.faults().get("HUNG") + " " + where);
        // the workload was mixed: both modes, every depth, acquireAll, and waits that ran out; and
        // every lease held what its request asked for
        if (outcome.config().workload() == Workload.Kind.MIXED) {
            Verdict.Mix mix = outcome.verdict().figures().mix();
            assertTrue(mix.keys("S") > 0 && mix.keys("X") > 0 && mix.keysAtDepth(1) > 0 && mix.keysAtDepth(2) > 0
                    && mix.keysAtDepth(3) > 0 && mix.acquireAll() > 0 && mix.timedOut() > 0,
                    "the mixed workload was not exercised: " + mix + " " + where);
            assertTrue(mix.mismatched() == 0, mix.mismatched() + " lease(s) held other keys or modes than asked: "
                    + where);
        }
        // the leader scope was exercised: someone led, its job committed, and faults were aimed at it
        Verdict.LeaderFigures leader = outcome.verdict().figures().leader();
        assertTrue(leader.terms() > 0 && leader.sections() > 0 && leader.faultsAimed() > 0,
                "the singleton job did not run under faults: " + where);
    }
}
