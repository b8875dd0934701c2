package dev.baton.examples.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/** The benchmark's markdown report: the table, the targets, the rounds. */
final class Report {
    private final Benchmark b;
    private final Benchmark.Plan plan;
    private final boolean fsync;
    private final double loadBefore;
    private final double loadAfter;
    private final Duration took;
    private final Path file;
    private final StringBuilder md = new StringBuilder();

    Report(Benchmark b, Benchmark.Plan plan, boolean fsync, double loadBefore, double loadAfter, Duration took,
           Path file) {
        this.b = b;
        this.plan = plan;
        this.fsync = fsync;
        this.loadBefore = loadBefore;
        this.loadAfter = loadAfter;
        this.took = took;
        this.file = file;
    }

    String markdown() {
        header();
        table();
        targets();
        rounds();
        return md.toString();
    }

    private void header() {
        line("## Baton benchmark results");
        line("");
        line("- Date: " + Benchmark.now() + "; mode: " + plan.mode() + " (" + plan.rounds() + " rounds of "
                + Benchmark.seconds(plan.window()) + " per configuration after a " + Benchmark.seconds(plan.warmUp())
                + " warm-up; elections " + plan.electionSamples() + " take-overs per round); whole run "
                + Benchmark.seconds(took));
        line("- Machine: " + Benchmark.machine() + String.format(Locale.ROOT,
                "; load average %.2f at the start, %.2f at the end", loadBefore, loadAfter));
        line("- JVM: " + Benchmark.jvm());
        line("- " + Benchmark.versions() + "; one in-process ZooKeeper server (curator-test TestingServer, tick "
                + Benchmark.TICK_MS + " ms), every client its own session over localhost");
        line(fsync
                ? "- ZooKeeper fsync: ON (every write is forced to disk before it is acknowledged, as in production)"
                : "- ZooKeeper fsync: OFF (zookeeper.forceSync=no): these figures are not comparable with fsync-on runs");
        line("- Every figure is the median over the rounds; rounds of compared configurations are interleaved;"
                + " a ratio is Baton's figure divided by its baseline's, both from this run. Above 1 is better for"
                + " throughput, below 1 is better for times and memory.");
        if (plan == Benchmark.QUICK) {
            line("- QUICK MODE: a smoke test of the benchmark itself; its figures mean little.");
        }
        line("");
    }

    private void table() {
        line("| # | Measure | Baseline | Baseline figure | Baton figure | Baton ÷ baseline |");
        line("| --- | --- | --- | --- | --- | --- |");
        String floor = "floor: raw ZooKeeper create+delete";
        String curator = "raw Curator InterProcessMutex";
        String depth1 = "Baton, depth-1 key";
        throughput("1, 3", "1 thread, 1 key: acquire+release throughput", floor, b.floor, b.baton1);
        p50("1, 3", "1 thread, 1 key: acquire+release p50", floor, b.floor, b.baton1);
        p99("1, 3", "1 thread, 1 key: acquire+release p99", floor, b.floor, b.baton1);
        throughput("2, 3", "1 thread, 1 key: acquire+release throughput", curator, b.curator1, b.baton1);
        p50("2, 3", "1 thread, 1 key: acquire+release p50", curator, b.curator1, b.baton1);
        p99("2, 3", "1 thread, 1 key: acquire+release p99", curator, b.curator1, b.baton1);
        throughput("3", "1 thread, depth-4 key: acquire+release throughput", depth1, b.baton1, b.baton4);
        p50("3", "1 thread, depth-4 key: acquire+release p50", depth1, b.baton1, b.baton4);
        p99("3", "1 thread, depth-4 key: acquire+release p99", depth1, b.baton1, b.baton4);
        throughput("4", "8 threads, 8 sessions, distinct keys: aggregate throughput", curator, b.curator8, b.baton8);
        p50("4", "8 threads, 8 sessions, distinct keys: acquire+release p50", curator, b.curator8, b.baton8);
        p99("4", "8 threads, 8 sessions, distinct keys: acquire+release p99", curator, b.curator8, b.baton8);
        p50("5", "8 clients, 1 key: hand-off p50 (release → next grant)", curator, b.curatorHandOff, b.batonHandOff);
        p99("5", "8 clients, 1 key: hand-off p99", curator, b.curatorHandOff, b.batonHandOff);
        throughput("5", "8 clients, 1 key: acquisitions per second", curator, b.curatorHandOff, b.batonHandOff);
        String latch = "raw Curator LeaderLatch";
        p50("6", "Election: graceful hand-over p50 (leader closes → other leads)", latch, b.curatorGraceful,
                b.batonGraceful);
        p99("6", "Election: graceful hand-over p99", latch, b.curatorGraceful, b.batonGraceful);
        p50("6", "Election: crash fail-over p50 (leader's session expired → other leads)", latch, b.curatorCrash,
                b.batonCrash);
        p99("6", "Election: crash fail-over p99", latch, b.curatorCrash, b.batonCrash);
        Series none = b.siblings.get(0);
        for (int i = 1; i < Benchmark.SIBLINGS.length; i++) {
            String n = String.format(Locale.ROOT, "%,d", Benchmark.SIBLINGS[i]);
            p50("7", "Fine lock acquire p50, " + n + " held siblings", "Baton, 0 siblings", none, b.siblings.get(i));
            p99("7", "Fine lock acquire p99, " + n + " held siblings", "Baton, 0 siblings", none, b.siblings.get(i));
        }
        long curatorBytes = median(b.curatorBytes);
        long batonBytes = median(b.batonBytes);
        row("8", String.format(Locale.ROOT, "Client heap per held lock (%,d held)", plan.leases()), curator,
                String.format(Locale.ROOT, "%,d B", curatorBytes), String.format(Locale.ROOT, "%,d B", batonBytes),
                ratio((double) batonBytes / curatorBytes));
        throughput("9", "8 threads, 8 sessions, every acquire on a fresh key: aggregate throughput", curator,
                b.curatorFresh, b.batonFresh);
        p50("9", "8 threads, 8 sessions, every acquire on a fresh key: acquire+release p50", curator,
                b.curatorFresh, b.batonFresh);
        row("10", String.format(Locale.ROOT, "znodes left under the namespace %s after a %s stream of fresh keys"
                        + " (8 sessions; server with default container cleanup)", Benchmark.seconds(plan.settle()),
                Benchmark.seconds(plan.stream())), curator, footprint(b.curatorFootprint),
                footprint(b.batonFootprint), ratio((double) b.batonFootprint.znodesLeft()
                        / Math.max(1, b.curatorFootprint.znodesLeft())));
        line("");
        line(String.format(Locale.ROOT, "Context: raw Curator's own acquire+release p50 is %s the floor's;"
                        + " the floor is %,.0f ops/s on one thread.",
                ratio(b.curator1.p50Millis() / b.floor.p50Millis()), b.floor.opsPerSecond()));
        line("");
    }

    private void targets() {
        line("### Targets (from this run's ratios)");
        line("");
        atLeast("Uncontended acquire+release at least 1.25× raw Curator's throughput",
                b.baton1.opsPerSecond() / b.curator1.opsPerSecond(), 1.25);
        atMost("Uncontended acquire+release p50 within 1.1× of the floor's p50",
                b.baton1.p50Millis() / b.floor.p50Millis(), 1.10);
        atLeast("8-thread distinct-key throughput at least 1.25× raw Curator's",
                b.baton8.opsPerSecond() / b.curator8.opsPerSecond(), 1.25);
        atMost("Contended hand-off p50 no slower than raw Curator's",
                b.batonHandOff.p50Millis() / b.curatorHandOff.p50Millis(), 1.0);
        atMost("Depth-4 acquire+release p50 within 1.5× of depth-1",
                b.baton4.p50Millis() / b.baton1.p50Millis(), 1.5);
        atMost("Fine lock acquire p50 with 1,000 held siblings within 1.3× of none",
                b.siblings.get(b.siblings.size() - 1).p50Millis() / b.siblings.get(0).p50Millis(), 1.3);
        double perKey = b.batonFootprint.perKey();
        line("- " + (perKey <= 1.0 ? "met" : "not met") + ": At most one znode per fresh key left to the server's"
                + " container cleanup: measured " + String.format(Locale.ROOT, "%.3f znodes per fresh key", perKey));
        line("");
    }

    private void rounds() {
        line("### Rounds");
        line("");
        line("```");
        for (Series s : List.of(b.floor, b.curator1, b.baton1, b.baton4, b.curator8, b.baton8, b.curatorHandOff,
                b.batonHandOff, b.curatorGraceful, b.batonGraceful, b.curatorCrash, b.batonCrash, b.curatorFresh,
                b.batonFresh)) {
            md.append(s.name).append('\n').append(s.describeRounds());
        }
        for (Series s : b.siblings) {
            md.append(s.name).append('\n').append(s.describeRounds());
        }
        line("client heap per held lock, raw Curator: " + b.curatorBytes + " B; Baton: " + b.batonBytes + " B");
        line("```");
        line("");
        line("The server of the memory measurement logged to " + file.resolveSibling("bench-zk-server.log") + ".");
    }

    // ------------------------------------------------------------------------------ rows

    private void throughput(String n, String measure, String baseline, Series base, Series baton) {
        row(n, measure, baseline, ops(base.opsPerSecond()), ops(baton.opsPerSecond()),
                ratio(baton.opsPerSecond() / base.opsPerSecond()));
    }

    private void p50(String n, String measure, String baseline, Series base, Series baton) {
        row(n, measure, baseline, ms(base.p50Millis()), ms(baton.p50Millis()), ratio(baton.p50Millis() / base.p50Millis()));
    }

    private void p99(String n, String measure, String baseline, Series base, Series baton) {
        row(n, measure, baseline, ms(base.p99Millis()), ms(baton.p99Millis()), ratio(baton.p99Millis() / base.p99Millis()));
    }

    private static String footprint(Benchmark.Footprint f) {
        return String.format(Locale.ROOT, "%,d znodes after %,d keys at %,.0f/s (%.3f per key)", f.znodesLeft(), f.keys(),
                f.keysPerSecond(), f.perKey());
    }

    private void row(String n, String measure, String baseline, String baseFigure, String batonFigure, String ratio) {
        line("| " + n + " | " + measure + " | " + baseline + " | " + baseFigure + " | " + batonFigure + " | " + ratio + " |");
    }

    private void atLeast(String target, double measured, double bound) {
        line("- " + (measured >= bound ? "met" : "not met") + ": " + target + ": measured " + ratio(measured));
    }

    private void atMost(String target, double measured, double bound) {
        line("- " + (measured <= bound ? "met" : "not met") + ": " + target + ": measured " + ratio(measured));
    }

    private void line(String s) {
        md.append(s).append('\n');
    }

    private static String ops(double v) {
        return String.format(Locale.ROOT, "%,.0f ops/s", v);
    }

    private static String ms(double v) {
        return String.format(Locale.ROOT, "%.3f ms", v);
    }

    private static String ratio(double v) {
        return String.format(Locale.ROOT, "%.2f×", v);
    }

    private static long median(List<Long> values) {
        List<Long> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
}
