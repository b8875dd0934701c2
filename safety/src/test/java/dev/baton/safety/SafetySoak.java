package dev.baton.safety;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The soak profile, run only with {@code -Psoak}: runs alternate between a single server and a
 * 3-server cluster, each injecting random faults for {@code baton.soak.runMinutes} (default 2),
 * until {@code baton.soak.minutes} (default 20) have passed. Seeds start at {@code baton.soak.seed}
 * (default: the clock) and go up by one. Every run's summary lands in target/safety/summary.txt.
 */
class SafetySoak {
    @Test
    void soak() throws Exception {
        Duration total = Duration.ofMinutes(Long.getLong("baton.soak.minutes", 20));
        Duration perRun = Duration.ofMinutes(Long.getLong("baton.soak.runMinutes", 2));
        long seed = Long.getLong("baton.soak.seed", System.currentTimeMillis());
        long end = System.nanoTime() + total.toNanos();
        List<String> failures = new ArrayList<>();
        int runs = 0;
        while (System.nanoTime() < end) {
            boolean cluster = runs % 2 == 1;
            SafetyRun.Outcome outcome = SafetyRun.run(
                    SafetyRun.Config.shortRun(cluster ? "soak-cluster" : "soak-single", seed + runs, cluster).withSoak(perRun));
            System.out.println(outcome.summary());
            if (!outcome.ok()) {
                failures.add(outcome.summary() + " history " + outcome.log().toAbsolutePath());
            }
            runs++;
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + runs + " runs failed:\n" + String.join("\n", failures));
    }
}
