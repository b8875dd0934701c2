package dev.baton.safety;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@link Checker} found in one history: for each invariant the number of violations and a few
 * examples, plus the measured figures (which are reported, never judged).
 *
 * @param findings one entry per {@link Invariant}, in declaration order
 * @param figures  the measured figures
 */
record Verdict(Map<Invariant, Finding> findings, Figures figures) {

    Verdict {
        findings = Collections.unmodifiableMap(new EnumMap<>(findings));
    }

    /** The invariants; each must have 0 violations. */
    enum Invariant {
        /**
         * Per register, the tokens of accepted fenced operations never decrease between operations
         * that conflict: an exclusive one is at least every token accepted before it, a shared one
         * at least every exclusive token accepted before it.
         */
        TOKEN_ORDER,
        /**
         * Per register, no accepted operation of another token that conflicts (one of the two
         * exclusive) between an accepted begin(t) and commit(t): two conflicting holders never
         * interleave at the resource, whatever the levels of their locks.
         */
        INTERLEAVING,
        /**
         * On the leader scope, the fenced store accepts one term's records at a time: once another
         * term (client and token) has had an operation accepted, no earlier term ever has one
         * accepted again (SAFETY.md invariant 7: 0 double singleton runs).
         */
        DOUBLE_SINGLETON_RUN,
        /** Per key, accepted writes are 1, 2, 3, ... in history order. */
        LOST_UPDATE,
        /** No two conflicting grants (the same key, or nested keys, one of them exclusive) carry the same token. */
        DUPLICATE_TOKEN,
        /**
         * A grant's token is greater than that of every conflicting grant reported before the
         * request was made (so certainly granted earlier), at whatever level they conflict: a
         * coarse grant after a fine one and the reverse. Terms are not requests: not judged here.
         */
        GRANT_ORDER,
        /**
         * No lock is granted while a conflicting lease of another client is held (granted, not yet
         * released or lost), unless a fault or connection trouble of that holder's explains it: a
         * fault affecting it that started before the grant and had not ended more than the loss
         * margin before the lease was granted, or a connection or session event of its since the
         * lease was granted (or a connection not back when it was). Believed-holder overlaps that
         * faults explain are measured, not judged.
         */
        CONFLICTING_GRANTS,
        /** Every holder whose session expired or connection was suspended (by its policy) was told in time. */
        LOSS_NOTICE,
        /** No znode left at the end (in an in-memory run: every key of the tree is free once the clients have stopped). */
        ZNODES,
        /**
         * No deadlock: every request ends (GRANT, TIMEOUT or FAILED) within its wait plus the
         * request margin, plus the time its client was paused meanwhile.
         */
        STUCK_REQUEST,
        /**
         * Every client is granted a lock again, and some term of the election commits on the leader
         * scope, within the bound after the last fault heals.
         */
        LIVENESS
    }

    /**
     * The violations of one invariant.
     *
     * @param count    how many
     * @param examples up to {@link Checker#MAX_EXAMPLES} readable lines, with the events' seq numbers
     */
    record Finding(long count, List<String> examples) {
        Finding {
            examples = List.copyOf(examples);
        }
    }

    /**
     * Faults of one kind.
     *
     * @param kind      the fault kind (EXPIRE, PAUSE, ...)
     * @param count     how many were started
     * @param bit       how many showed their sign of having bitten
     * @param notBitten the ids of those that did not
     */
    record FaultFigure(String kind, int count, int bit, List<Long> notBitten) {
        FaultFigure {
            notBitten = List.copyOf(notBitten);
        }
    }

    /**
     * The leader scope's figures (all 0 when nobody led).
     *
     * @param terms             GRANTs on the leader scope: terms whose singleton job ran
     * @param handovers         terms whose previous term was another client's
     * @param lost              terms that ended with a loss notice (LOST)
     * @param resigned          terms that ended with a resignation (RELEASE)
     * @param sections          accepted COMMITs on the leader scope: sections the singleton job completed
     * @param staleOps          rejected fenced operations on the leader scope
     * @param naiveViolations   naive-store violations on the leader scope
     * @param overlaps          pairs of terms of different clients whose lifetimes overlap (believed-leader overlaps)
     * @param faultsAimed       faults aimed at the elected leader's singleton job ({@code key=leader})
     * @param faultsAimedBit    of those, how many bit
     * @param faultsEndedTerm   of those, how many were followed (before the next fault) by a loss of the target's term
     * @param healToCommit      from the last heal to the first commit on the leader scope of a term not told of its loss
     */
    record LeaderFigures(long terms, long handovers, long lost, long resigned, long sections, long staleOps,
                         long naiveViolations, long overlaps, int faultsAimed, int faultsAimedBit, int faultsEndedTerm,
                         Duration healToCommit) {
    }

    /**
     * The workload's figures.
     *
     * @param requests        REQUEST events
     * @param granted         requests that ended with a GRANT
     * @param timedOut        requests that ended with a TIMEOUT
     * @param failed          requests that ended with a FAILED, by exception
     * @param acquireAll      grants of more than one key
     * @param byModeDepth     keys granted by mode and depth ({@code X1} ... {@code S3}), every key of
     *                        an {@code acquireAll} counted (terms are not counted)
     * @param mismatched      grants whose lease's keys or modes differ from what was asked
     * @param maxOverrun      the largest time by which a request outlasted its wait (0 if none did)
     * @param earlyTimeouts   TIMEOUTs that came before the wait had passed
     * @param excusedOverlaps grants made while a conflicting lease of another client was still held,
     *                        explained by a fault (see {@link Invariant#CONFLICTING_GRANTS})
     */
    record Mix(long requests, long granted, long timedOut, Map<String, Long> failed, long acquireAll,
               Map<String, Long> byModeDepth, long mismatched, Duration maxOverrun, long earlyTimeouts,
               long excusedOverlaps) {
        Mix {
            failed = Map.copyOf(failed);
            byModeDepth = Map.copyOf(byModeDepth);
        }

        /** Keys granted in {@code mode} ({@code X} or {@code S}), all depths. */
        long keys(String mode) {
            return byModeDepth.entrySet().stream().filter(e -> e.getKey().startsWith(mode))
                    .mapToLong(Map.Entry::getValue).sum();
        }

        /** Keys granted at {@code depth}, both modes. */
        long keysAtDepth(int depth) {
            return byModeDepth.entrySet().stream().filter(e -> e.getKey().substring(1).equals(String.valueOf(depth)))
                    .mapToLong(Map.Entry::getValue).sum();
        }
    }

    /**
     * The measured figures.
     *
     * @param events              events in the history
     * @param runLength           time of the last event
     * @param clients             clients that recorded a CLIENT event
     * @param acquisitions        GRANT events of locks (terms are counted in {@code leader})
     * @param acceptedWrites      accepted fenced WRITEs (the N of the rule of three)
     * @param faults              per fault kind, sorted by kind
     * @param leaderKills         KILL_LEADER faults whose epoch could be compared (grants before and after)
     * @param leaderKillsNewEpoch of those, how many were followed by grants of a higher epoch
     * @param suspended           CONN SUSPENDED events
     * @param reconnected         CONN RECONNECTED events
     * @param connLost            CONN LOST events
     * @param sessionChanges      SESSION events with a new id for a client that already had one
     * @param staleOps            rejected fenced operations by operation (BEGIN, READ, WRITE, COMMIT), all scopes
     * @param naiveViolations     naive-store writes that are not the previous naive write + 1, all scopes
     * @param overlaps            pairs of conflicting leases of different clients whose lifetimes overlap
     * @param acceptedAfterLoss   accepted fenced operations with a token after that lease's LOST (stubborn
     *                            bodies, or a racing diligent one); judged only by the store invariants
     * @param lossNotices         leases that had to be told of a loss (invariant LOSS_NOTICE)
     * @param lossTold            of those, how many got a LOST (in time or late)
     * @param lossP50             median delay from reference to LOST over the told ones (0 if none)
     * @param lossP99             99th percentile (nearest rank)
     * @param lossMax             maximum
     * @param healToGrantMax      over clients, the largest time from the heal to its first grant after it
     * @param violationRateBound  the rule of three: 3/N, the 95% upper bound on the violation rate when
     *                            0 of N accepted writes violated (at most 1.0; 1.0 when N is 0)
     * @param leader              the leader scope's figures
     * @param mix                 the workload's figures
     */
    record Figures(long events, Duration runLength, int clients, long acquisitions, long acceptedWrites,
                   Map<String, FaultFigure> faults, int leaderKills, int leaderKillsNewEpoch,
                   long suspended, long reconnected, long connLost, long sessionChanges,
                   Map<String, Long> staleOps, long naiveViolations, long overlaps, long acceptedAfterLoss,
                   int lossNotices, int lossTold, Duration lossP50, Duration lossP99, Duration lossMax,
                   Duration healToGrantMax, double violationRateBound, LeaderFigures leader, Mix mix) {
        Figures {
            faults = Map.copyOf(faults);
            staleOps = Map.copyOf(staleOps);
        }

        /** Faults started, all kinds. */
        int faultCount() {
            return faults.values().stream().mapToInt(FaultFigure::count).sum();
        }

        /** Faults that bit, all kinds. */
        int faultsBit() {
            return faults.values().stream().mapToInt(FaultFigure::bit).sum();
        }

        /** Whether every fault showed its sign of having bitten. */
        boolean allFaultsBit() {
            return faultsBit() == faultCount();
        }

        /** Faults of {@code kind} started (0 if none). */
        int faults(String kind) {
            FaultFigure f = faults.get(kind);
            return f == null ? 0 : f.count();
        }

        /** Faults of {@code kind} that bit (0 if none). */
        int bit(String kind) {
            FaultFigure f = faults.get(kind);
            return f == null ? 0 : f.bit();
        }

        /** Rejected fenced operations, all kinds. */
        long staleTotal() {
            return staleOps.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /** Whether every invariant holds. */
    boolean ok() {
        return findings.values().stream().allMatch(f -> f.count() == 0);
    }

    /** Violations of {@code invariant}. */
    long violations(Invariant invariant) {
        return findings.get(invariant).count();
    }

    /** Examples of violations of {@code invariant}. */
    List<String> examples(Invariant invariant) {
        return findings.get(invariant).examples();
    }

    /** Violations of all invariants. */
    long totalViolations() {
        return findings.values().stream().mapToLong(Finding::count).sum();
    }

    /** One line: OK or FAIL, the violated invariants, and the headline figures. */
    String summary() {
        StringBuilder b = new StringBuilder(ok() ? "OK" : "FAIL");
        for (Map.Entry<Invariant, Finding> e : findings.entrySet()) {
            if (e.getValue().count() != 0) {
                b.append(' ').append(e.getKey()).append('=').append(e.getValue().count());
            }
        }
        Figures f = figures;
        StringBuilder kinds = new StringBuilder();
        new java.util.TreeMap<>(f.faults()).forEach((kind, ff) ->
                kinds.append(kinds.length() == 0 ? "" : " ").append(kind).append(' ').append(ff.bit()).append('/')
                        .append(ff.count()));
        b.append(String.format(Locale.ROOT, " (%d violations): %d acquisitions, %d accepted writes; faults bit %d/%d [%s];"
                        + " %d stale ops rejected; naive-store violations %d; loss notices %d, worst %s;"
                        + " believed-holder overlaps %d",
                totalViolations(), f.acquisitions(), f.acceptedWrites(), f.faultsBit(), f.faultCount(), kinds,
                f.staleTotal(), f.naiveViolations(), f.lossTold(), ms(f.lossMax()), f.overlaps()));
        Mix m = f.mix();
        b.append(String.format(Locale.ROOT, "; requests %d: granted %d, timed out %d, failed %d; keys granted %s,"
                        + " acquireAll %d", m.requests(), m.granted(), m.timedOut(),
                m.failed().values().stream().mapToLong(Long::longValue).sum(), new TreeMap<>(m.byModeDepth()),
                m.acquireAll()));
        LeaderFigures lf = f.leader();
        if (lf.terms() > 0) {
            b.append(String.format(Locale.ROOT, "; leader scope: %d terms, %d handovers, %d sections, %d stale ops"
                            + " rejected, naive-store violations %d, faults aimed at the leader %d (bit %d, ended its term %d)",
                    lf.terms(), lf.handovers(), lf.sections(), lf.staleOps(), lf.naiveViolations(), lf.faultsAimed(),
                    lf.faultsAimedBit(), lf.faultsEndedTerm()));
        }
        if (ok()) {
            // the bound only means something for a clean run
            b.append(String.format(Locale.ROOT, ", violation rate <= %.2g (95%%, 3/N)", f.violationRateBound()));
        }
        return b.toString();
    }

    /** Several lines: every invariant with its examples, then every figure. */
    String report() {
        List<String> l = new ArrayList<>();
        l.add("verdict: " + summary());
        l.add("invariants:");
        for (Map.Entry<Invariant, Finding> e : findings.entrySet()) {
            l.add(String.format(Locale.ROOT, "  %-16s %d", e.getKey(), e.getValue().count()));
            for (String x : e.getValue().examples()) {
                l.add("      " + x);
            }
        }
        Figures f = figures;
        l.add("figures:");
        l.add(String.format(Locale.ROOT, "  events %d over %s, clients %d, acquisitions %d, accepted fenced writes %d",
                f.events(), ms(f.runLength()), f.clients(), f.acquisitions(), f.acceptedWrites()));
        l.add(String.format(Locale.ROOT, "  faults %d, bit %d", f.faultCount(), f.faultsBit()));
        for (FaultFigure ff : new TreeMap<>(f.faults()).values()) {
            l.add(String.format(Locale.ROOT, "    %-14s %d, bit %d%s", ff.kind(), ff.count(), ff.bit(),
                    ff.notBitten().isEmpty() ? "" : ", not bitten: fault#" + ff.notBitten()));
        }
        if (f.faults("KILL_LEADER") > 0) {
            l.add(String.format(Locale.ROOT, "    leader kills followed by a higher epoch: %d of %d comparable",
                    f.leaderKillsNewEpoch(), f.leaderKills()));
        }
        l.add(String.format(Locale.ROOT, "  connection: SUSPENDED %d, RECONNECTED %d, LOST %d; session changes %d",
                f.suspended(), f.reconnected(), f.connLost(), f.sessionChanges()));
        l.add(String.format(Locale.ROOT, "  stale fenced ops rejected %d %s; accepted ops after their lease's LOST %d",
                f.staleTotal(), new TreeMap<>(f.staleOps()), f.acceptedAfterLoss()));
        l.add(String.format(Locale.ROOT, "  naive-store violations %d; believed-holder overlaps %d",
                f.naiveViolations(), f.overlaps()));
        l.add(String.format(Locale.ROOT, "  loss notices due %d, told %d; delay p50 %s, p99 %s, max %s",
                f.lossNotices(), f.lossTold(), ms(f.lossP50()), ms(f.lossP99()), ms(f.lossMax())));
        l.add(String.format(Locale.ROOT, "  heal to first grant, max over clients: %s", ms(f.healToGrantMax())));
        Mix m = f.mix();
        l.add(String.format(Locale.ROOT, "  requests %d: granted %d, timed out %d (early %d), failed %s; longest overrun"
                        + " of a wait %s", m.requests(), m.granted(), m.timedOut(), m.earlyTimeouts(),
                new TreeMap<>(m.failed()), ms(m.maxOverrun())));
        l.add(String.format(Locale.ROOT, "  keys granted by mode and depth %s; acquireAll grants %d; grants unlike"
                        + " their request %d; conflicting grants explained by faults %d", new TreeMap<>(m.byModeDepth()),
                m.acquireAll(), m.mismatched(), m.excusedOverlaps()));
        LeaderFigures lf = f.leader();
        l.add(String.format(Locale.ROOT, "  leader scope: terms %d (lost %d, resigned %d), handovers %d, sections committed %d,"
                        + " stale ops rejected %d, naive-store violations %d, believed-leader overlaps %d",
                lf.terms(), lf.lost(), lf.resigned(), lf.handovers(), lf.sections(), lf.staleOps(), lf.naiveViolations(),
                lf.overlaps()));
        l.add(String.format(Locale.ROOT, "    faults aimed at the leader %d, bit %d, followed by the loss of its term %d;"
                + " heal to first commit of a term %s", lf.faultsAimed(), lf.faultsAimedBit(), lf.faultsEndedTerm(),
                ms(lf.healToCommit())));
        l.add(String.format(Locale.ROOT, "  rule of three: 3/%d = %.4g", f.acceptedWrites(), f.violationRateBound()));
        return String.join("\n", l);
    }

    /** {@code d} in milliseconds, e.g. {@code 12.3 ms}. */
    static String ms(Duration d) {
        return String.format(Locale.ROOT, "%.1f ms", d.toNanos() / 1e6);
    }
}
