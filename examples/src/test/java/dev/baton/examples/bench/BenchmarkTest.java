package dev.baton.examples.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the benchmark's quick mode in-process to prove that it works: every row and every target
 * is reported. No figure is checked (the suite runs without fsync, on whatever machine).
 */
class BenchmarkTest {

    @Test
    @Timeout(120)
    void theQuickRunReportsEveryRowAndTarget() throws Exception {
        Path file = Path.of("target", "benchmark-smoke.md");
        Files.deleteIfExists(file);
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        int exit;
        try (PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8)) {
            exit = Benchmark.run(new String[] {"--quick", "--out", file.toString()}, out);
        }
        String console = buffer.toString(StandardCharsets.UTF_8);
        System.out.println(console); // kept in target/surefire-reports
        assertEquals(0, exit, console);

        String report = Files.readString(file, StandardCharsets.UTF_8);
        assertTrue(console.contains(report), "the table is printed as well as written");
        assertTrue(report.contains("- Machine: " + Runtime.getRuntime().availableProcessors() + " cores"), report);
        assertTrue(report.contains("- JVM: "), report);
        assertTrue(report.contains("- Date: "), report);
        assertTrue(report.contains("ZooKeeper fsync: OFF"), "the suite runs without fsync and the report says so");
        assertTrue(report.contains("QUICK MODE"), report);

        List<String> rows = report.lines().filter(l -> l.matches("\\| [0-9, ]+ \\|.*")).collect(Collectors.toList());
        for (String measure : List.of(
                "| 1, 3 | 1 thread, 1 key: acquire+release throughput | floor: raw ZooKeeper create+delete |",
                "| 1, 3 | 1 thread, 1 key: acquire+release p50 | floor: raw ZooKeeper create+delete |",
                "| 1, 3 | 1 thread, 1 key: acquire+release p99 | floor: raw ZooKeeper create+delete |",
                "| 2, 3 | 1 thread, 1 key: acquire+release throughput | raw Curator InterProcessMutex |",
                "| 2, 3 | 1 thread, 1 key: acquire+release p50 | raw Curator InterProcessMutex |",
                "| 2, 3 | 1 thread, 1 key: acquire+release p99 | raw Curator InterProcessMutex |",
                "| 3 | 1 thread, depth-4 key: acquire+release throughput | Baton, depth-1 key |",
                "| 3 | 1 thread, depth-4 key: acquire+release p50 | Baton, depth-1 key |",
                "| 3 | 1 thread, depth-4 key: acquire+release p99 | Baton, depth-1 key |",
                "| 4 | 8 threads, 8 sessions, distinct keys: aggregate throughput | raw Curator InterProcessMutex |",
                "| 4 | 8 threads, 8 sessions, distinct keys: acquire+release p50 | raw Curator InterProcessMutex |",
                "| 4 | 8 threads, 8 sessions, distinct keys: acquire+release p99 | raw Curator InterProcessMutex |",
                "| 5 | 8 clients, 1 key: hand-off p50 (release → next grant) | raw Curator InterProcessMutex |",
                "| 5 | 8 clients, 1 key: hand-off p99 | raw Curator InterProcessMutex |",
                "| 5 | 8 clients, 1 key: acquisitions per second | raw Curator InterProcessMutex |",
                "| 6 | Election: graceful hand-over p50 (leader closes → other leads) | raw Curator LeaderLatch |",
                "| 6 | Election: graceful hand-over p99 | raw Curator LeaderLatch |",
                "| 6 | Election: crash fail-over p50 (leader's session expired → other leads) | raw Curator LeaderLatch |",
                "| 6 | Election: crash fail-over p99 | raw Curator LeaderLatch |",
                "| 7 | Fine lock acquire p50, 100 held siblings | Baton, 0 siblings |",
                "| 7 | Fine lock acquire p99, 100 held siblings | Baton, 0 siblings |",
                "| 7 | Fine lock acquire p50, 1,000 held siblings | Baton, 0 siblings |",
                "| 7 | Fine lock acquire p99, 1,000 held siblings | Baton, 0 siblings |",
                "| 8 | Client heap per held lock (1,000 held) | raw Curator InterProcessMutex |",
                "| 9 | 8 threads, 8 sessions, every acquire on a fresh key: aggregate throughput | raw Curator InterProcessMutex |",
                "| 9 | 8 threads, 8 sessions, every acquire on a fresh key: acquire+release p50 | raw Curator InterProcessMutex |",
                "| 10 | znodes left under the namespace 1.0 s after a 2.0 s stream of fresh keys (8 sessions; server with default container cleanup) | raw Curator InterProcessMutex |")) {
            assertEquals(1, rows.stream().filter(r -> r.startsWith(measure)).count(), "one row " + measure + "\n" + report);
        }
        Pattern figures = Pattern.compile("\\| [0-9, ]+ \\| [^|]+ \\| [^|]+ \\| [0-9,.]+ (ops/s|ms|B) \\| [0-9,.]+ (ops/s|ms|B) \\| [0-9]+\\.[0-9]{2}× \\|");
        Pattern footprint = Pattern.compile("\\| 10 \\| [^|]+ \\| [^|]+ \\| ([0-9,]+ znodes after [0-9,]+ keys at [0-9,]+/s \\([0-9.]+ per key\\) \\| ){2}[0-9]+\\.[0-9]{2}× \\|");
        for (String row : rows) {
            assertTrue(figures.matcher(row).matches() || footprint.matcher(row).matches(),
                    "a baseline, a Baton figure and a ratio: " + row);
        }
        assertEquals(27, rows.size(), report);

        assertTrue(report.contains("### Targets"), report);
        Pattern target = Pattern.compile("- (met|not met): .+: measured [0-9]+\\.[0-9]{2}×");
        List<String> targets = report.lines().filter(l -> target.matcher(l).matches()).collect(Collectors.toList());
        assertEquals(6, targets.size(), report);
        for (String t : List.of("at least 1.25× raw Curator's throughput", "within 1.1× of the floor's p50",
                "8-thread distinct-key throughput", "hand-off p50 no slower", "Depth-4", "1,000 held siblings")) {
            assertEquals(1, targets.stream().filter(l -> l.contains(t)).count(), t + "\n" + report);
        }
        assertTrue(Pattern.compile("- (met|not met): At most one znode per fresh key left to the server's container cleanup:"
                + " measured [0-9]+\\.[0-9]{3} znodes per fresh key").matcher(report).find(), report);
    }

    @Test
    void helpExitsZeroAndBadArgumentsExitTwo() {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8)) {
            assertEquals(0, Benchmark.run(new String[] {"--help"}, out));
            assertEquals(2, Benchmark.run(new String[] {"--bogus"}, out));
            assertEquals(2, Benchmark.run(new String[] {"--out"}, out));
        }
        assertTrue(buffer.toString(StandardCharsets.UTF_8).contains("Usage: Benchmark"));
    }
}
