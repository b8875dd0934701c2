package dev.baton.examples.bench;

import org.HdrHistogram.Histogram;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * The rounds of one measured configuration. Each figure it reports is the median of that figure
 * over the rounds: the median round's throughput, p50 and p99 (each taken separately).
 */
final class Series {
    /** One round: its throughput (NaN when it has none) and the latencies recorded in it. */
    record Round(double opsPerSecond, Histogram latency, String note) {
        double p50Millis() {
            return millis(latency.getValueAtPercentile(50));
        }

        double p99Millis() {
            return millis(latency.getValueAtPercentile(99));
        }
    }

    final String name;
    private final List<Round> rounds = new ArrayList<>();

    Series(String name) {
        this.name = name;
    }

    /** A histogram for nanosecond latencies up to one minute, three significant digits. */
    static Histogram histogram() {
        return new Histogram(TimeUnit.MINUTES.toNanos(1), 3);
    }

    static void record(Histogram h, long nanos) {
        h.recordValue(Math.min(Math.max(nanos, 0), h.getHighestTrackableValue()));
    }

    void add(Round round) {
        if (round.latency.getTotalCount() == 0) {
            throw new IllegalStateException(name + ": a round recorded no latency sample");
        }
        rounds.add(round);
    }

    double opsPerSecond() {
        return median(Round::opsPerSecond);
    }

    double p50Millis() {
        return median(Round::p50Millis);
    }

    double p99Millis() {
        return median(Round::p99Millis);
    }

    private double median(ToDoubleFunction<Round> figure) {
        if (rounds.isEmpty()) {
            throw new IllegalStateException(name + " has no rounds");
        }
        List<Double> values = new ArrayList<>();
        for (Round r : rounds) {
            values.add(figure.applyAsDouble(r));
        }
        Collections.sort(values);
        int n = values.size();
        return n % 2 == 1 ? values.get(n / 2) : (values.get(n / 2 - 1) + values.get(n / 2)) / 2;
    }

    /** One line per round, for the detail section of the report. */
    String describeRounds() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < rounds.size(); i++) {
            Round r = rounds.get(i);
            b.append(String.format(Locale.ROOT, "  round %d: ", i + 1));
            if (!Double.isNaN(r.opsPerSecond)) {
                b.append(String.format(Locale.ROOT, "%,.0f ops/s, ", r.opsPerSecond));
            }
            b.append(String.format(Locale.ROOT, "p50 %.3f ms, p99 %.3f ms, %d samples", r.p50Millis(),
                    r.p99Millis(), r.latency.getTotalCount()));
            if (!r.note.isEmpty()) {
                b.append(", ").append(r.note);
            }
            b.append('\n');
        }
        return b.toString();
    }

    static double millis(double nanos) {
        return nanos / 1_000_000.0;
    }
}
