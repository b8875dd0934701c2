package dev.baton.safety;

import dev.baton.safety.Verdict.FaultFigure;
import dev.baton.safety.Verdict.Figures;
import dev.baton.safety.Verdict.Finding;
import dev.baton.safety.Verdict.Invariant;
import dev.baton.safety.Verdict.LeaderFigures;
import dev.baton.safety.Verdict.Mix;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * Judges a recorded history (see SAFETY.md): a pure function of the events, no I/O.
 *
 * <p>"Before" and "after" are history order (seq); delays are differences of the events' nanos.
 *
 * <p>The leader scope ({@link Event#LEADER}) is judged by the same invariants as a lock's key,
 * with a term as the holder: its GRANT is the term's start, one GRANT per term however many
 * sections its job runs (so a second GRANT of a token is a DUPLICATE_TOKEN), LOST or RELEASE its
 * end. On top of them, DOUBLE_SINGLETON_RUN (SAFETY.md invariant 7) and a liveness check: after
 * the last fault heals, some term commits again within the bound.
 *
 * <p>Locks are hierarchical: a GRANT's key is a lease spec (see {@link Scopes}), and the store's
 * registers are leaf scopes, each operation in the mode its lease holds the leaf in. The store
 * invariants are judged per register across levels, with the conflict rule of the modes (two
 * shared operations never conflict); the grant invariants with the conflict rule of the specs.
 * On top of them: GRANT_ORDER, CONFLICTING_GRANTS and STUCK_REQUEST (no deadlock).
 */
final class Checker {
    /** At most this many examples are kept per invariant. */
    static final int MAX_EXAMPLES = 10;

    /** Fault kinds that affect every client (a server goes away; an in-memory service loses every lease). */
    static final Set<String> GLOBAL_FAULTS = Set.of("RESTART", "KILL_LEADER", "KILL_FOLLOWER", "LOSE_ALL");

    private Checker() {
    }

    /**
     * Checks {@code events} (a run's history, in order).
     *
     * @param sessionTimeout the ZooKeeper session timeout of the clients
     * @param lossMargin     how much later than the session timeout a loss notice may come
     * @param livenessBound  how soon after the last fault heals every client must be granted again
     * @param requestMargin  how much longer than its wait a request may take to end
     */
    static Verdict check(List<Event> events, Duration sessionTimeout, Duration lossMargin, Duration livenessBound,
                         Duration requestMargin) {
        return new Run(events, sessionTimeout.toNanos(), lossMargin.toNanos(), livenessBound.toNanos(),
                requestMargin.toNanos()).check();
    }

    /** Violations of one invariant: a count and the first few examples. */
    private static final class Tally {
        long count;
        final List<String> examples = new ArrayList<>();

        void add(String example) {
            count++;
            if (example != null && examples.size() < MAX_EXAMPLES) {
                examples.add(example);
            }
        }

        Finding finding() {
            return new Finding(count, examples);
        }
    }

    /** One lease: a GRANT, its end (LOST or RELEASE), and the first event that obliged a loss notice. */
    private static final class Lease {
        final Event grant;
        final List<Scopes.Part> parts;
        Event end;
        Event trigger;

        Lease(Event grant) {
            this.grant = grant;
            this.parts = Scopes.parse(grant.key());
        }

        /** Whether this lease covers the register {@code leaf}. */
        boolean covers(String leaf) {
            return parts.stream().anyMatch(p -> Scopes.covers(p.key(), leaf));
        }

        String name() {
            return grant.client() + " " + grant.key() + " token=" + tok(grant.token()) + " (granted #" + grant.seq()
                    + ")";
        }
    }

    /** What is known of one client. */
    private static final class Client {
        final String id;
        boolean declared;
        String policy = "LOSE_AT_SUSPENDED";
        long session;
        Event closed;
        final Map<String, Lease> held = new LinkedHashMap<>();
        final List<Event> grants = new ArrayList<>();
        final List<Event> sessionChanges = new ArrayList<>();
        final List<Event> conn = new ArrayList<>();
        final List<Event> rejected = new ArrayList<>();

        Client(String id) {
            this.id = id;
        }
    }

    /** One injected fault. */
    private static final class Fault {
        final Event start;
        final String kind;
        final String target;
        final String key;
        /** For a fault that hits every client: the client that was mid-job when it came, if named. */
        final String busy;
        /** An in-memory PAUSE also loses every lease (detail {@code loseAll=reason}): it affects every client. */
        final boolean losesAll;
        Event end;

        Fault(Event start) {
            this.start = start;
            this.kind = String.valueOf(start.op());
            this.target = attr(start.detail(), "target");
            this.key = attr(start.detail(), "key");
            this.busy = attr(start.detail(), "busy");
            this.losesAll = attr(start.detail(), "loseAll") != null;
        }

        boolean affects(String client) {
            return GLOBAL_FAULTS.contains(kind) || losesAll || Objects.equals(client, target);
        }

        /** Whether it was aimed at the elected leader's singleton job. */
        boolean atLeader() {
            return Event.LEADER.equals(key);
        }

        /** The client whose job it was aimed at: the target, or for a fault that hits every client the busy one. */
        String holder() {
            return GLOBAL_FAULTS.contains(kind) ? busy : target;
        }

        String name() {
            return kind + " fault#" + start.token() + " (#" + start.seq() + (target == null ? "" : " target=" + target)
                    + ")";
        }
    }

    /** One request: its REQUEST and its end (GRANT, TIMEOUT or FAILED). */
    private static final class Request {
        final Event start;
        Event end;

        Request(Event start) {
            this.start = start;
        }
    }

    /**
     * The tokens granted on one key in one mode, in history order, with the running maximum: what
     * GRANT_ORDER compares a later request with.
     */
    private static final class Granted {
        final List<Long> seqs = new ArrayList<>();
        final List<Event> maxBy = new ArrayList<>();

        void add(Event grant) {
            Event max = maxBy.isEmpty() ? null : maxBy.get(maxBy.size() - 1);
            seqs.add(grant.seq());
            maxBy.add(max == null || grant.token() > max.token() ? grant : max);
        }

        /** The grant with the greatest token among those before {@code seq}, or null. */
        Event maxBefore(long seq) {
            int lo = 0;
            int hi = seqs.size(); // first index with seqs >= seq
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (seqs.get(mid) < seq) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo == 0 ? null : maxBy.get(lo - 1);
        }
    }

    /** The fenced and naive registers of one key. */
    private static final class Register {
        /** The accepted operation with the greatest token, and the exclusive one with the greatest token. */
        Event maxBy;
        Event maxExclusiveBy;
        long lastWrite;
        boolean broken;
        final List<Event> accepted = new ArrayList<>();
        final Map<Long, Integer> lastBegin = new HashMap<>();
        long naiveLast;
    }

    /** One pass over a history. */
    private static final class Run {
        final List<Event> events;
        final long sessionTimeout;
        final long lossMargin;
        final long livenessBound;
        final long requestMargin;

        final Map<Invariant, Tally> tallies = new EnumMap<>(Invariant.class);
        final Map<String, Client> clients = new LinkedHashMap<>();
        final Map<String, Register> registers = new HashMap<>();
        /** Leases by client and token: an operation's lease is the one of them that covers its register. */
        final Map<String, List<Lease>> leasesByToken = new HashMap<>();
        final Map<Long, List<Event>> grantsByToken = new HashMap<>();
        /** For GRANT_ORDER: by key, the grants of that key exclusive (index 0) and shared (1). */
        final Map<String, Granted[]> grantedByKey = new HashMap<>();
        final Map<String, Request> requests = new LinkedHashMap<>();
        final List<Lease> leases = new ArrayList<>();
        final List<Fault> faults = new ArrayList<>();
        final Map<Long, Fault> faultById = new HashMap<>();
        final List<Event> grants = new ArrayList<>();
        final List<Event> terms = new ArrayList<>();
        final List<Event> suspensions = new ArrayList<>();
        final Map<String, Long> staleOps = new TreeMap<>();
        Event lastFaultEnd;
        Event znodes;
        long suspended;
        long reconnected;
        long connLost;
        long sessionChangeCount;
        long acceptedWrites;
        long naiveViolations;
        long acceptedAfterLoss;
        // the leader scope
        long leaderStale;
        long leaderNaiveViolations;
        long leaderCommits;
        long healToLeaderCommit;
        /** The term (client and token) whose operations the fenced store accepted last on the leader scope. */
        String runningTerm;
        /** For each term another one took over from at the resource: the first accepted operation of the next. */
        final Map<String, Event> supersededBy = new HashMap<>();

        long acquireAll;
        long mismatched;
        long excusedOverlaps;
        final Map<String, Long> byModeDepth = new TreeMap<>();

        Run(List<Event> events, long sessionTimeout, long lossMargin, long livenessBound, long requestMargin) {
            this.events = events;
            this.sessionTimeout = sessionTimeout;
            this.lossMargin = lossMargin;
            this.livenessBound = livenessBound;
            this.requestMargin = requestMargin;
            for (Invariant i : Invariant.values()) {
                tallies.put(i, new Tally());
            }
        }

        Tally tally(Invariant i) {
            return tallies.get(i);
        }

        Client client(String id) {
            return clients.computeIfAbsent(id, Client::new);
        }

        Verdict check() {
            for (Event e : events) {
                switch (e.type()) {
                    case CLIENT -> onClient(e);
                    case SESSION -> onSession(e);
                    case CONN -> onConn(e);
                    case REQUEST -> requests.putIfAbsent(requestId(e), new Request(e));
                    case TIMEOUT, FAILED -> onRequestEnd(e);
                    case GRANT -> onGrant(e);
                    case LOST, RELEASE -> onEnd(e);
                    case OP -> onOp(e);
                    case NOP -> onNaive(e);
                    case FAULT_START -> {
                        Fault f = new Fault(e);
                        faults.add(f);
                        faultById.put(e.token(), f);
                    }
                    case FAULT_END -> {
                        Fault f = faultById.get(e.token());
                        if (f != null && f.end == null) {
                            f.end = e;
                        }
                        lastFaultEnd = e;
                    }
                    case CLOSED -> client(e.client()).closed = e;
                    case ZNODES -> znodes = e;
                }
            }
            List<Long> delays = judgeLossNotices();
            judgeZnodes();
            long healToGrantMax = judgeLiveness();
            Mix mix = judgeRequests();
            return new Verdict(findings(), figures(delays, healToGrantMax, mix));
        }

        Map<Invariant, Finding> findings() {
            Map<Invariant, Finding> m = new EnumMap<>(Invariant.class);
            tallies.forEach((i, t) -> m.put(i, t.finding()));
            return m;
        }

        void onClient(Event e) {
            Client c = client(e.client());
            c.declared = true;
            String policy = attr(e.detail(), "policy");
            if (policy != null) {
                c.policy = policy;
            }
            if (e.session() != 0) {
                c.session = e.session();
            }
        }

        void onSession(Event e) {
            Client c = client(e.client());
            if (c.session != 0 && e.session() != c.session) {
                sessionChangeCount++;
                c.sessionChanges.add(e);
                trigger(c, e);
            }
            c.session = e.session();
        }

        void onConn(Event e) {
            Client c = client(e.client());
            c.conn.add(e);
            switch (String.valueOf(e.op())) {
                case "SUSPENDED" -> {
                    suspended++;
                    suspensions.add(e);
                    if ("LOSE_AT_SUSPENDED".equals(c.policy)) {
                        trigger(c, e);
                    }
                }
                case "RECONNECTED" -> reconnected++;
                case "LOST" -> {
                    connLost++;
                    trigger(c, e);
                }
                default -> {
                }
            }
        }

        /**
         * {@code e} obliges a loss notice for every lease {@code c} holds on the session it concerns
         * (the first trigger counts): a new SESSION ends the leases of every other session; a CONN
         * event concerns the session the client last reported (its own session field is read when
         * the report is sent, and may already be the next one). A lease granted on the new session
         * before the client's reports of the change arrived is not the old session's.
         */
        void trigger(Client c, Event e) {
            if (c.closed != null) {
                return;
            }
            for (Lease l : c.held.values()) {
                long granted = l.grant.session();
                boolean concerned = e.type() == Event.Type.SESSION
                        ? granted != e.session()
                        : granted == 0 || c.session == 0 || granted == c.session;
                if (l.trigger == null && concerned) {
                    l.trigger = e;
                }
            }
        }

        void onGrant(Event e) {
            grants.add(e);
            if (leader(e)) {
                terms.add(e);
            }
            Client c = client(e.client());
            c.grants.add(e);
            List<Event> sameToken = grantsByToken.computeIfAbsent(e.token(), t -> new ArrayList<>());
            Event earlier = sameToken.stream().filter(g -> Scopes.conflict(g.key(), e.key())).findFirst().orElse(null);
            if (earlier != null) {
                tally(Invariant.DUPLICATE_TOKEN).add(String.format(Locale.ROOT,
                        "#%d GRANT %s token=%s to %s: token already granted at #%d to %s (%s)",
                        e.seq(), e.key(), tok(e.token()), e.client(), earlier.seq(), earlier.client(), earlier.key()));
            }
            sameToken.add(e);
            Lease l = new Lease(e);
            if (!leader(e)) {
                onLockGrant(e, l);
            }
            Lease again = c.held.put(e.key() + "|" + e.token(), l);
            if (again != null && again.end == null) {
                again.end = e; // a repeated grant of a held lease supersedes it
            }
            leasesByToken.computeIfAbsent(e.client() + "|" + e.token(), k -> new ArrayList<>()).add(l);
            leases.add(l);
        }

        /** The grant of a lock (not a term): its request, GRANT_ORDER, CONFLICTING_GRANTS and the workload's figures. */
        void onLockGrant(Event e, Lease l) {
            Request r = requests.get(requestId(e));
            if (r != null && r.end == null) {
                r.end = e;
            }
            if (l.parts.size() > 1) {
                acquireAll++;
            }
            if (attr(e.detail(), "granted") != null) {
                mismatched++;
            }
            for (Scopes.Part p : l.parts) {
                byModeDepth.merge((p.shared() ? "S" : "X") + Scopes.depth(p.key()), 1L, Long::sum);
            }
            if (r != null) {
                judgeGrantOrder(e, l, r.start.seq());
            }
            for (Scopes.Part p : l.parts) {
                grantedByKey.computeIfAbsent(p.key(), k -> new Granted[] {new Granted(), new Granted()})
                        [p.shared() ? 1 : 0].add(e);
            }
            for (Client other : clients.values()) {
                if (other.id.equals(e.client())) {
                    continue;
                }
                for (Lease held : other.held.values()) {
                    if (held.end != null || leader(held.grant) || !Scopes.conflict(held.grant.key(), e.key())) {
                        continue;
                    }
                    String why = excuse(other, held, e);
                    if (why != null) {
                        excusedOverlaps++;
                        continue;
                    }
                    tally(Invariant.CONFLICTING_GRANTS).add(String.format(Locale.ROOT,
                            "#%d GRANT %s token=%s to %s while %s was held, with no fault or connection trouble of %s"
                                    + " since", e.seq(), e.key(), tok(e.token()), e.client(), held.name(), other.id));
                }
            }
        }

        /**
         * Invariant GRANT_ORDER for the grant {@code e} of a request made at {@code requested}:
         * every conflicting grant reported before the request was certainly granted before it, so
         * its token must be lower.
         */
        void judgeGrantOrder(Event e, Lease l, long requested) {
            Event worst = null;
            for (Scopes.Part p : l.parts) {
                for (Map.Entry<String, Granted[]> k : grantedByKey.entrySet()) {
                    if (!Scopes.related(p.key(), k.getKey())) {
                        continue;
                    }
                    for (int mode = 0; mode < 2; mode++) {
                        if (p.shared() && mode == 1) {
                            continue; // shared and shared do not conflict
                        }
                        Event max = k.getValue()[mode].maxBefore(requested);
                        if (max != null && max.token() >= e.token() && (worst == null || max.token() > worst.token())) {
                            worst = max;
                        }
                    }
                }
            }
            if (worst != null) {
                tally(Invariant.GRANT_ORDER).add(String.format(Locale.ROOT,
                        "#%d GRANT %s token=%s to %s, requested at #%d after the conflicting GRANT %s token=%s to %s"
                                + " at #%d: a later conflicting grant needs a greater token",
                        e.seq(), e.key(), tok(e.token()), e.client(), requested, worst.key(), tok(worst.token()),
                        worst.client(), worst.seq()));
            }
        }

        /**
         * Why {@code held} (of client {@code c}) may legitimately still look held when the
         * conflicting {@code grant} is made, or null: a fault affecting {@code c} that started
         * before the grant and had not ended more than the loss margin before {@code held} was
         * granted; a connection or session event of {@code c} since {@code held} was granted; or
         * {@code c}'s connection not back when it was.
         */
        String excuse(Client c, Lease held, Event grant) {
            long from = held.grant.seq();
            if (held.trigger != null) {
                return "trigger #" + held.trigger.seq();
            }
            for (Fault f : faults) {
                if (f.start.seq() < grant.seq() && f.affects(c.id)
                        && (f.end == null || f.end.nanos() + lossMargin >= held.grant.nanos())) {
                    return f.name();
                }
            }
            Event lastConn = null;
            for (Event x : c.conn) {
                if (x.seq() > from) {
                    return "connection " + x.op() + " #" + x.seq();
                }
                lastConn = x;
            }
            if (lastConn != null && !"RECONNECTED".equals(lastConn.op()) && !"CONNECTED".equals(lastConn.op())) {
                return "connection " + lastConn.op() + " #" + lastConn.seq() + " when granted";
            }
            if (within(c.sessionChanges, from, grant.seq())) {
                return "session change";
            }
            return null;
        }

        void onRequestEnd(Event e) {
            Request r = requests.get(requestId(e));
            if (r != null && r.end == null) {
                r.end = e;
            }
        }

        /**
         * Invariant STUCK_REQUEST: every request ended, within its wait plus the margin plus the
         * time its client was paused meanwhile. Returns the workload's figures.
         */
        Mix judgeRequests() {
            Tally t = tally(Invariant.STUCK_REQUEST);
            long granted = 0;
            long timedOut = 0;
            long early = 0;
            long maxOverrun = 0;
            Map<String, Long> failed = new TreeMap<>();
            for (Request r : requests.values()) {
                Event s = r.start;
                long wait = s.value() * 1_000_000L;
                if (r.end == null) {
                    t.add(String.format(Locale.ROOT, "%s request %s (#%d %s, wait %d ms) never ended", s.client(),
                            attr(s.detail(), "req"), s.seq(), s.key(), s.value()));
                    continue;
                }
                switch (r.end.type()) {
                    case GRANT -> granted++;
                    case TIMEOUT -> timedOut++;
                    default -> failed.merge(String.valueOf(r.end.op()), 1L, Long::sum);
                }
                long took = r.end.nanos() - s.nanos();
                if (r.end.type() == Event.Type.TIMEOUT && took < wait) {
                    early++;
                }
                long overrun = took - wait;
                maxOverrun = Math.max(maxOverrun, overrun);
                long paused = pausedDuring(s.client(), s.nanos(), r.end.nanos());
                if (overrun > requestMargin + paused) {
                    t.add(String.format(Locale.ROOT, "%s request %s (#%d %s, wait %d ms) ended at #%d (%s) after %s,"
                                    + " margin %s%s", s.client(), attr(s.detail(), "req"), s.seq(), s.key(), s.value(),
                            r.end.seq(), r.end.type(), Verdict.ms(nanos(took)), Verdict.ms(nanos(requestMargin)),
                            paused == 0 ? "" : " + paused " + Verdict.ms(nanos(paused))));
                }
            }
            return new Mix(requests.size(), granted, timedOut, failed, acquireAll, byModeDepth, mismatched,
                    nanos(maxOverrun), early, excusedOverlaps);
        }

        /** How long faults that stop {@code client}'s process (PAUSE) overlapped [from, to]. */
        long pausedDuring(String client, long from, long to) {
            long total = 0;
            for (Fault f : faults) {
                if ("PAUSE".equals(f.kind) && client.equals(f.target)) {
                    long a = Math.max(from, f.start.nanos());
                    long b = Math.min(to, f.end == null ? to : f.end.nanos());
                    total += Math.max(0, b - a);
                }
            }
            return total;
        }

        void onEnd(Event e) {
            Client c = client(e.client());
            Lease l = c.held.remove(e.key() + "|" + e.token());
            if (l != null) {
                l.end = e;
                // A loss told for connection trouble often arrives before the client's own report
                // of that trouble (Curator runs its listeners in no fixed order): it is a notice
                // all the same, judged against the fault as if the connection event had come first.
                if (l.trigger == null && e.type() == Event.Type.LOST
                        && ("CONNECTION_SUSPENDED".equals(e.op()) || "SESSION_EXPIRED".equals(e.op()))) {
                    l.trigger = e;
                }
            }
        }

        void onOp(Event e) {
            if (!e.accepted()) {
                staleOps.merge(String.valueOf(e.op()), 1L, Long::sum);
                client(e.client()).rejected.add(e);
                if (leader(e)) {
                    leaderStale++;
                }
                return;
            }
            if (leader(e)) {
                onSingletonRecord(e);
            }
            Register r = registers.computeIfAbsent(e.key(), k -> new Register());
            boolean shared = shared(e);
            Event above = shared ? r.maxExclusiveBy : r.maxBy; // what this operation conflicts with
            if (above != null && e.token() < above.token()) {
                tally(Invariant.TOKEN_ORDER).add(String.format(Locale.ROOT,
                        "#%d %s %s%s token=%s ACCEPTED by %s below token=%s accepted at #%d (%s%s)",
                        e.seq(), e.key(), e.op(), shared ? " shared" : "", tok(e.token()), e.client(),
                        tok(above.token()), above.seq(), above.client(), shared(above) ? ", shared" : ""));
            }
            if (r.maxBy == null || e.token() > r.maxBy.token()) {
                r.maxBy = e;
            }
            if (!shared && (r.maxExclusiveBy == null || e.token() > r.maxExclusiveBy.token())) {
                r.maxExclusiveBy = e;
            }
            int at = r.accepted.size();
            r.accepted.add(e);
            switch (String.valueOf(e.op())) {
                case "BEGIN" -> r.lastBegin.put(e.token(), at);
                case "COMMIT" -> {
                    if (leader(e)) {
                        leaderCommits++;
                    }
                    Integer begin = r.lastBegin.get(e.token());
                    if (begin != null) {
                        Event first = null;
                        int intruders = 0;
                        for (int j = begin + 1; j < at; j++) {
                            Event o = r.accepted.get(j);
                            if (o.token() != e.token() && !(shared && shared(o))) {
                                intruders++;
                                first = first == null ? o : first;
                            }
                        }
                        if (first != null) {
                            tally(Invariant.INTERLEAVING).add(String.format(Locale.ROOT,
                                    "%s: BEGIN #%d and COMMIT #%d of token=%s (%s%s) enclose %d accepted conflicting"
                                            + " op(s) of other tokens, first #%d %s token=%s (%s%s)",
                                    e.key(), r.accepted.get(begin).seq(), e.seq(), tok(e.token()), e.client(),
                                    shared ? ", shared" : "", intruders, first.seq(), first.op(), tok(first.token()),
                                    first.client(), shared(first) ? ", shared" : ""));
                        }
                    }
                }
                case "WRITE" -> {
                    acceptedWrites++;
                    if (e.value() != r.lastWrite + 1) {
                        tally(Invariant.LOST_UPDATE).add(r.broken ? null : String.format(Locale.ROOT,
                                "%s: first break at #%d WRITE %d by %s token=%s, previous accepted write was %d",
                                e.key(), e.seq(), e.value(), e.client(), tok(e.token()), r.lastWrite));
                        r.broken = true;
                    }
                    r.lastWrite = e.value();
                }
                default -> {
                }
            }
            Lease l = leaseOf(e);
            if (l != null && l.end != null && l.end.type() == Event.Type.LOST && l.end.seq() < e.seq()) {
                acceptedAfterLoss++;
            }
        }

        void onNaive(Event e) {
            if (!"WRITE".equals(e.op())) {
                return;
            }
            Register r = registers.computeIfAbsent(e.key(), k -> new Register());
            if (e.value() != r.naiveLast + 1) {
                naiveViolations++;
                if (leader(e)) {
                    leaderNaiveViolations++;
                }
            }
            r.naiveLast = e.value();
        }

        /**
         * Invariant DOUBLE_SINGLETON_RUN, for an accepted operation on the leader scope: the
         * resource accepts the records of one term (client and token) at a time. Once another
         * term's record has been accepted, a record of the earlier term must never be accepted
         * again, whatever its token: that would be two singleton runs interleaving at the resource
         * (a stale term after a newer one is also a TOKEN_ORDER violation; two clients taking turns
         * with one token, granted or not, are caught only here).
         */
        void onSingletonRecord(Event e) {
            String term = e.client() + " token=" + tok(e.token());
            if (term.equals(runningTerm)) {
                return;
            }
            Event by = supersededBy.get(term);
            if (by != null) {
                tally(Invariant.DOUBLE_SINGLETON_RUN).add(String.format(Locale.ROOT,
                        "#%d %s of the term of %s ACCEPTED after that term was taken over at #%d by the term of %s"
                                + " token=%s: two singleton runs interleave at the resource",
                        e.seq(), e.op(), term, by.seq(), by.client(), tok(by.token())));
            }
            if (runningTerm != null) {
                supersededBy.putIfAbsent(runningTerm, e);
            }
            runningTerm = term;
        }

        /** Invariant LOSS_NOTICE; returns the delays of the notices given. */
        List<Long> judgeLossNotices() {
            long bound = sessionTimeout + lossMargin;
            List<Long> delays = new ArrayList<>();
            Tally t = tally(Invariant.LOSS_NOTICE);
            for (Lease l : leases) {
                Event trig = l.trigger;
                if (trig == null) {
                    continue;
                }
                Fault f = referenceFault(l.grant.client(), trig);
                long ref;
                String from;
                if (f == null) {
                    ref = trig.nanos();
                    from = "trigger";
                } else if ("PAUSE".equals(f.kind) && f.end != null && l.grant.client().equals(f.target)) {
                    ref = f.end.nanos();
                    from = "end of " + f.name() + " #" + f.end.seq();
                } else {
                    ref = f.start.nanos();
                    from = "start of " + f.name();
                }
                String cause = String.format(Locale.ROOT, "%s %s #%d", trig.type(),
                        trig.type() == Event.Type.CONN ? trig.op() : "0x" + Long.toHexString(trig.session()),
                        trig.seq());
                if (l.end == null) {
                    t.add(String.format(Locale.ROOT, "lease %s: never told after %s (reference %s)",
                            l.name(), cause, from));
                } else if (l.end.type() == Event.Type.RELEASE) {
                    t.add(String.format(Locale.ROOT, "lease %s: released at #%d without notice after %s"
                            + " (reference %s)", l.name(), l.end.seq(), cause, from));
                } else {
                    long delay = l.end.nanos() - ref;
                    delays.add(delay);
                    if (delay > bound) {
                        t.add(String.format(Locale.ROOT, "lease %s: told late at #%d, %s after the %s,"
                                        + " bound %s (cause %s)", l.name(), l.end.seq(), Verdict.ms(nanos(delay)),
                                from, Verdict.ms(nanos(bound)), cause));
                    }
                }
            }
            return delays;
        }

        /**
         * The latest fault affecting {@code client} that started before {@code trigger} and had not
         * ended more than a notice bound before it, or null: a trigger long after a fault healed is
         * spontaneous, and measured from itself.
         */
        Fault referenceFault(String client, Event trigger) {
            for (int i = faults.size() - 1; i >= 0; i--) {
                Fault f = faults.get(i);
                long healed = (f.end != null ? f.end : f.start).nanos();
                if (f.start.seq() < trigger.seq() && f.affects(client)
                        && trigger.nanos() <= healed + sessionTimeout + lossMargin) {
                    return f;
                }
            }
            return null;
        }

        void judgeZnodes() {
            if (znodes == null) {
                tally(Invariant.ZNODES).add("no ZNODES event in the history");
            } else if (znodes.value() != 0) {
                tally(Invariant.ZNODES).add(String.format(Locale.ROOT, "#%d %d znode(s) left under the namespace",
                        znodes.seq(), znodes.value()));
            }
        }

        /**
         * Invariant LIVENESS: every client is granted a lock again, and if the run elects leaders,
         * some term that has not been told of its loss commits a section on the leader scope,
         * within the bound after the last fault heals. Returns the largest heal-to-first-grant time
         * over the clients granted (and sets the leader's heal-to-commit time).
         */
        long judgeLiveness() {
            long healSeq = lastFaultEnd == null ? -1 : lastFaultEnd.seq();
            long heal = lastFaultEnd == null ? 0 : lastFaultEnd.nanos();
            String healName = lastFaultEnd == null ? "run start" : "heal #" + lastFaultEnd.seq();
            long max = 0;
            Tally t = tally(Invariant.LIVENESS);
            if (!terms.isEmpty()) {
                Event commit = events.stream().filter(e -> e.seq() > healSeq && e.type() == Event.Type.OP
                        && e.accepted() && "COMMIT".equals(e.op()) && leader(e) && inTerm(e)).findFirst().orElse(null);
                if (commit == null) {
                    t.add(String.format(Locale.ROOT, "%s: no term committed after %s", Event.LEADER, healName));
                } else {
                    healToLeaderCommit = commit.nanos() - heal;
                    if (healToLeaderCommit > livenessBound) {
                        t.add(String.format(Locale.ROOT, "%s: first commit of a term after %s at #%d (%s), %s later,"
                                        + " bound %s", Event.LEADER, healName, commit.seq(), commit.client(),
                                Verdict.ms(nanos(healToLeaderCommit)), Verdict.ms(nanos(livenessBound))));
                    }
                }
            }
            for (Client c : clients.values()) {
                if (!c.declared) {
                    continue;
                }
                Event first = c.grants.stream().filter(g -> g.seq() > healSeq && !leader(g)).findFirst().orElse(null);
                if (first == null) {
                    t.add(String.format(Locale.ROOT, "%s: no grant after %s%s", c.id, healName,
                            c.closed == null ? "" : String.format(Locale.ROOT, " (closed at #%d, %s after it)",
                                    c.closed.seq(), Verdict.ms(nanos(c.closed.nanos() - heal)))));
                    continue;
                }
                long delay = first.nanos() - heal;
                max = Math.max(max, delay);
                if (delay > livenessBound) {
                    t.add(String.format(Locale.ROOT, "%s: first grant after %s at #%d, %s later, bound %s", c.id,
                            healName, first.seq(), Verdict.ms(nanos(delay)), Verdict.ms(nanos(livenessBound))));
                }
            }
            return max;
        }

        /** The seq at which the next fault affecting {@code f}'s target starts (the end of f's window). */
        long windowEnd(Fault f) {
            for (int i = faults.indexOf(f) + 1; i < faults.size(); i++) {
                Fault g = faults.get(i);
                if (f.target != null && g.affects(f.target)) {
                    return g.start.seq();
                }
            }
            return Long.MAX_VALUE;
        }

        boolean bit(Fault f) {
            long from = f.start.seq();
            long to = windowEnd(f);
            Client target = f.target == null ? null : clients.get(f.target);
            switch (f.kind) {
                case "RESTART", "KILL_LEADER", "KILL_FOLLOWER" -> {
                    long until = (f.end != null ? f.end.nanos() : lastNanos()) + sessionTimeout;
                    return suspensions.stream().anyMatch(s -> s.seq() > from && s.nanos() <= until);
                }
                case "EXPIRE" -> {
                    return target != null && (within(target.sessionChanges, from, to)
                            || target.conn.stream().anyMatch(c -> "LOST".equals(c.op()) && in(c, from, to)));
                }
                case "FREEZE_SHORT" -> {
                    if (target == null || within(target.sessionChanges, from, to)) {
                        return false;
                    }
                    Event suspension = target.conn.stream()
                            .filter(c -> "SUSPENDED".equals(c.op()) && in(c, from, to)).findFirst().orElse(null);
                    return suspension != null && target.conn.stream()
                            .anyMatch(c -> "RECONNECTED".equals(c.op()) && in(c, suspension.seq(), to));
                }
                case "FREEZE_LONG" -> {
                    return target != null && within(target.sessionChanges, from, to)
                            && (f.key == null || grants.stream().anyMatch(g -> in(g, from, to)
                            && Scopes.conflict(f.key, g.key()) && !f.target.equals(g.client())));
                }
                case "PAUSE" -> {
                    long after = f.end != null ? f.end.seq() : from;
                    return target != null && within(target.rejected, after, to);
                }
                case "HUNG" -> {
                    return target != null && hungBit(f, target, to);
                }
                case "LOSE_ALL" -> {
                    long until = f.end != null ? f.end.seq() : from;
                    long next = faults.indexOf(f) + 1 < faults.size() ? faults.get(faults.indexOf(f) + 1).start.seq()
                            : Long.MAX_VALUE;
                    return events.stream().anyMatch(e -> e.type() == Event.Type.LOST && in(e, from, Math.max(until, next)));
                }
                default -> {
                    return false;
                }
            }
        }

        /**
         * Whether the HUNG fault {@code f} bit. The hung lease is the target's last grant of the
         * fault's key before the fault. It bit if that lease was lost with LEASE_EXPIRED at its lease
         * time (the detail's {@code lease=Nms}, give or take the loss margin, from its grant); if the
         * fence then rejected an operation of the target with that lease's token, before the next
         * fault affecting it ({@code to}); and if another client was granted a conflicting lock
         * between the grant and that operation, while the target was still in its section.
         */
        boolean hungBit(Fault f, Client target, long to) {
            Lease hung = null;
            for (Lease l : leases) {
                if (l.grant.client().equals(f.target) && l.grant.key().equals(f.key)
                        && l.grant.seq() < f.start.seq()) {
                    hung = l;
                }
            }
            String lease = attr(f.start.detail(), "lease");
            if (hung == null || lease == null || hung.end == null || hung.end.type() != Event.Type.LOST
                    || !"LEASE_EXPIRED".equals(hung.end.op())) {
                return false;
            }
            long leaseTime = Long.parseLong(lease.replace("ms", "")) * 1_000_000L;
            if (Math.abs(hung.end.nanos() - hung.grant.nanos() - leaseTime) > lossMargin) {
                return false;
            }
            long granted = hung.grant.seq();
            long token = hung.grant.token();
            Event late = target.rejected.stream().filter(e -> e.token() == token && in(e, granted, to))
                    .findFirst().orElse(null);
            return late != null && grants.stream().anyMatch(g -> in(g, granted, late.seq())
                    && !f.target.equals(g.client()) && Scopes.conflict(f.key, g.key()));
        }

        /** The lease an operation was made under: its client's lease with its token that covers its register. */
        Lease leaseOf(Event op) {
            List<Lease> ls = leasesByToken.get(op.client() + "|" + op.token());
            if (ls == null) {
                return null;
            }
            for (int i = ls.size() - 1; i >= 0; i--) {
                if (ls.get(i).covers(op.key())) {
                    return ls.get(i);
                }
            }
            return null;
        }

        /** Whether {@code e} was made in a term that was granted and not yet told of its loss. */
        boolean inTerm(Event e) {
            Lease l = leaseOf(e);
            return l != null && (l.end == null || l.end.type() != Event.Type.LOST || l.end.seq() > e.seq());
        }

        long lastNanos() {
            return events.isEmpty() ? 0 : events.get(events.size() - 1).nanos();
        }

        Figures figures(List<Long> delays, long healToGrantMax, Mix mix) {
            Map<String, List<Fault>> byKind = new TreeMap<>();
            for (Fault f : faults) {
                byKind.computeIfAbsent(f.kind, k -> new ArrayList<>()).add(f);
            }
            Map<String, FaultFigure> faultFigures = new TreeMap<>();
            byKind.forEach((kind, fs) -> {
                List<Long> notBitten = new ArrayList<>();
                for (Fault f : fs) {
                    if (!bit(f)) {
                        notBitten.add(f.start.token());
                    }
                }
                faultFigures.put(kind, new FaultFigure(kind, fs.size(), fs.size() - notBitten.size(), notBitten));
            });
            int leaderKills = 0;
            int newEpoch = 0;
            for (Fault f : faults) {
                if (!"KILL_LEADER".equals(f.kind)) {
                    continue;
                }
                long healedAt = f.end != null ? f.end.seq() : f.start.seq();
                long before = grants.stream().filter(g -> g.seq() < f.start.seq())
                        .mapToLong(g -> g.token() >>> 32).max().orElse(-1);
                long after = grants.stream().filter(g -> g.seq() > healedAt)
                        .mapToLong(g -> g.token() >>> 32).max().orElse(-1);
                if (before >= 0 && after >= 0) {
                    leaderKills++;
                    if (after > before) {
                        newEpoch++;
                    }
                }
            }
            List<Long> sorted = delays.stream().sorted().toList();
            int declared = (int) clients.values().stream().filter(c -> c.declared).count();
            return new Figures(events.size(), nanos(lastNanos()), declared, grants.size() - terms.size(), acceptedWrites,
                    faultFigures, leaderKills, newEpoch, suspended, reconnected, connLost, sessionChangeCount,
                    staleOps, naiveViolations, overlaps(false), acceptedAfterLoss,
                    (int) leases.stream().filter(l -> l.trigger != null).count(), sorted.size(),
                    nanos(percentile(sorted, 0.50)), nanos(percentile(sorted, 0.99)), nanos(percentile(sorted, 1.0)),
                    nanos(healToGrantMax), Math.min(1.0, 3.0 / Math.max(1, acceptedWrites)), leaderFigures(), mix);
        }

        LeaderFigures leaderFigures() {
            long handovers = 0;
            for (int i = 1; i < terms.size(); i++) {
                if (!terms.get(i).client().equals(terms.get(i - 1).client())) {
                    handovers++;
                }
            }
            long lost = 0;
            long resigned = 0;
            for (Lease l : leases) {
                if (leader(l.grant) && l.end != null) {
                    if (l.end.type() == Event.Type.LOST) {
                        lost++;
                    } else if (l.end.type() == Event.Type.RELEASE) {
                        resigned++;
                    }
                }
            }
            int aimed = 0;
            int aimedBit = 0;
            int endedTerm = 0;
            for (int i = 0; i < faults.size(); i++) {
                Fault f = faults.get(i);
                if (!f.atLeader()) {
                    continue;
                }
                aimed++;
                if (bit(f)) {
                    aimedBit++;
                }
                long from = f.start.seq();
                long to = i + 1 < faults.size() ? faults.get(i + 1).start.seq() : Long.MAX_VALUE;
                if (events.stream().anyMatch(e -> e.type() == Event.Type.LOST && leader(e) && in(e, from, to)
                        && e.client().equals(f.holder()))) {
                    endedTerm++;
                }
            }
            return new LeaderFigures(terms.size(), handovers, lost, resigned, leaderCommits, leaderStale,
                    leaderNaiveViolations, overlaps(true), aimed, aimedBit, endedTerm, nanos(healToLeaderCommit));
        }

        /**
         * Pairs of conflicting leases of different clients whose [GRANT, LOST or RELEASE) overlap:
         * on the leader scope ({@code leader}), believed-leader overlaps of terms; else of locks.
         */
        long overlaps(boolean leader) {
            List<Lease> open = new ArrayList<>();
            long pairs = 0;
            for (Lease l : leases) { // in grant order
                if (leader(l.grant) != leader) {
                    continue;
                }
                long start = l.grant.seq();
                open.removeIf(o -> o.end != null && o.end.seq() <= start);
                for (Lease o : open) {
                    if (!o.grant.client().equals(l.grant.client()) && Scopes.conflict(o.grant.key(), l.grant.key())) {
                        pairs++;
                    }
                }
                open.add(l);
            }
            return pairs;
        }
    }

    /** The value of {@code name=value} in a detail string, or null. */
    static String attr(String detail, String name) {
        if (detail == null) {
            return null;
        }
        for (String part : detail.trim().split("\\s+")) {
            if (part.startsWith(name + "=")) {
                return part.substring(name.length() + 1);
            }
        }
        return null;
    }

    static boolean in(Event e, long afterSeq, long beforeSeq) {
        return e.seq() > afterSeq && e.seq() < beforeSeq;
    }

    static boolean within(List<Event> es, long afterSeq, long beforeSeq) {
        return es.stream().anyMatch(e -> in(e, afterSeq, beforeSeq));
    }

    /** Whether {@code e} concerns the leader scope. */
    static boolean leader(Event e) {
        return Event.LEADER.equals(e.key());
    }

    /** Whether an operation was made in shared mode. */
    static boolean shared(Event e) {
        return "S".equals(attr(e.detail(), "mode"));
    }

    /** A request's identity: its client and number. */
    static String requestId(Event e) {
        return e.client() + "|" + attr(e.detail(), "req");
    }

    /** A token as epoch:counter, e.g. {@code 0x1:0x2a}. */
    static String tok(long token) {
        return "0x" + Long.toHexString(token >>> 32) + ":0x" + Long.toHexString(token & 0xffffffffL);
    }

    static Duration nanos(long n) {
        return Duration.ofNanos(n);
    }

    /** Nearest-rank percentile of sorted values; 0 for none. */
    static long percentile(List<Long> sorted, double p) {
        if (sorted.isEmpty()) {
            return 0;
        }
        int rank = (int) Math.ceil(p * sorted.size());
        return sorted.get(Math.max(0, Math.min(sorted.size(), rank) - 1));
    }
}
