package dev.baton.examples;

import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LossReason;
import dev.baton.lock.StaleTokenException;
import dev.baton.lock.test.TcpProxy;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The story of why Baton exists, told in a few seconds against a real ZooKeeper server.
 *
 * <p>Four billing workers, each with its own ZooKeeper session, add entries to a handful of
 * accounts under per-account locks ({@code billing/account/<id>}) and write them to a
 * {@code Ledger} that checks the lease's fencing token on every read and write. Then two things
 * go wrong, as they do in production:
 * <ol>
 *   <li><b>A long pause.</b> worker-1 freezes in the middle of a critical section, as in a long
 *       garbage-collection pause: its thread stops and its connection to ZooKeeper goes silent
 *       (a {@code TcpProxy} stops forwarding). The server expires its session and grants the lock
 *       to worker-3, with a larger token. When worker-1 resumes it knows nothing and writes with
 *       its old token: the fence rejects the write, so worker-3's entry is not lost.</li>
 *   <li><b>A lost session.</b> worker-2's session is expired on the server while it works.
 *       Baton interrupts its critical section and {@code withLock} throws
 *       {@link LockLostException}: the section is aborted instead of finishing unprotected.</li>
 * </ol>
 * Then everyone goes back to work. Last, three workers join the election {@code billing-run}; the
 * leader runs the billing run as a singleton job, its session is expired, and another worker takes
 * the run over with a larger token. A report checks the invariants: no lost update, accepted
 * tokens never decrease per account, the late write was rejected, the abort was reported, the
 * billing run never ran twice at once and failed over.
 *
 * <p>With no arguments it runs an embedded ZooKeeper (short tick, so 2-second sessions are
 * allowed); {@code --connect host:port,...} uses a real ensemble instead, with the locks under
 * {@code /baton-demo}. Exit code 0 when every invariant holds, 1 when one fails or the demo
 * cannot run, 2 for bad usage.
 */
public final class Demo {
    static final String USAGE = String.join(System.lineSeparator(),
            "Usage: Demo [--connect host:port,...] [--help]",
            "",
            "Four billing workers lock accounts on ZooKeeper and write to a fenced ledger; one",
            "freezes mid-section (a long GC pause), another loses its session. Then a singleton",
            "billing run, led by one of them, fails over when the leader's session expires. A",
            "report checks that no update was lost, that the stale write was rejected and that",
            "the billing run never ran on two workers at once.",
            "",
            "  --connect host:port,...  use this ZooKeeper ensemble (locks under /" + "baton-demo)",
            "                           instead of an embedded server",
            "  --help                   show this help",
            "",
            "Exit code: 0 if every invariant held, 1 if one failed or the demo could not run,",
            "2 for bad usage. Logs are off unless -Dorg.slf4j.simpleLogger.logFile=FILE and",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info are set (the Maven profile does).");

    static final String NAMESPACE = "baton-demo";
    private static final List<String> ACCOUNTS = List.of("1001", "1002", "1003", "1004", "1005");
    private static final Duration SESSION = Duration.ofSeconds(2);
    private static final Duration CONNECT_WAIT = Duration.ofSeconds(10);
    private static final int TICK_MS = 200;
    private static final long WORK_MS = 10;
    private static final long BATCH_MS = 50;

    private final PrintStream out;
    private final String connectString;
    private final String serverDescription;
    private final Ledger ledger = new Ledger();
    private final List<Worker> workers = new ArrayList<>();
    private final List<Aborted> aborted = new CopyOnWriteArrayList<>();
    private final List<Rejected> rejected = new CopyOnWriteArrayList<>();
    private final List<String> problems = new CopyOnWriteArrayList<>();
    private final Pause pause = new Pause();
    private final Job job = new Job();
    private final Ledger billingRuns = new Ledger();
    private final Billing billing = new Billing();
    private TcpProxy proxy;
    private Duration sessionTimeout = SESSION;

    private Demo(PrintStream out, String connectString, String serverDescription) {
        this.out = out;
        this.connectString = connectString;
        this.serverDescription = serverDescription;
    }

    /** Runs the demo and exits with its exit code. */
    public static void main(String[] args) {
        System.exit(run(args, System.out));
    }

    /** Runs the demo, printing the story and the report to {@code out}; returns the exit code. */
    static int run(String[] args, PrintStream out) {
        String connect = null;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--help") || arg.equals("-h")) {
                out.println(USAGE);
                return 0;
            } else if (arg.equals("--connect") && i + 1 < args.length && !args[i + 1].isBlank()) {
                connect = args[++i].trim();
            } else if (arg.startsWith("--connect=") && arg.length() > "--connect=".length()) {
                connect = arg.substring("--connect=".length()).trim();
            } else {
                out.println(arg.startsWith("--connect") ? "--connect needs host:port,..." : "Unknown argument: " + arg);
                out.println(USAGE);
                return 2;
            }
        }
        // lock-core logs through System.Logger, by default into java.util.logging (the console):
        // send that into SLF4J, which the demo's profile points at a file, so the story stays readable
        if (!org.slf4j.bridge.SLF4JBridgeHandler.isInstalled()) {
            org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
            org.slf4j.bridge.SLF4JBridgeHandler.install();
        }
        long start = System.nanoTime();
        TestingServer server = null;
        Demo demo = null;
        try {
            String description;
            if (connect == null) {
                System.setProperty("zookeeper.admin.enableServer", "false");
                if (System.getProperty("znode.container.checkIntervalMs") == null) {
                    System.setProperty("znode.container.checkIntervalMs", "100");
                }
                server = new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, TICK_MS, -1), true);
                connect = server.getConnectString();
                description = "embedded at " + connect + " (tick " + TICK_MS + " ms)";
            } else {
                description = "ensemble at " + connect;
            }
            demo = new Demo(out, connect, description);
            return demo.tell(start);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            out.println("The demo was interrupted.");
            return 1;
        } catch (Exception e) {
            out.println("The demo could not run: " + describe(e));
            return 1;
        } finally {
            if (demo != null) {
                demo.close();
            }
            if (server != null) {
                try {
                    server.close();
                } catch (Exception e) {
                    out.println("Could not stop the embedded ZooKeeper: " + describe(e));
                }
            }
        }
    }

    private int tell(long start) throws Exception {
        setUp();
        businessAsUsual();
        longPause();
        sessionExpiry();
        backToWork();
        billingRun();
        return report(start);
    }

    // ------------------------------------------------------------------------------- the story

    private void setUp() throws Exception {
        InetSocketAddress first = firstServer(connectString);
        proxy = TcpProxy.to(first);
        String viaProxy = "127.0.0.1:" + proxy.port() + chroot(connectString);
        for (int i = 2; i <= 4; i++) { // the direct ones first, so a wrong address is reported as given
            workers.add(Worker.start("worker-" + i, connectString, SESSION, CONNECT_WAIT, NAMESPACE));
        }
        workers.add(0, Worker.start("worker-1", viaProxy, SESSION, CONNECT_WAIT, NAMESPACE));
        sessionTimeout = Duration.ofMillis(workers.get(0).sessionTimeoutMs());
        out.println("Baton demo: billing workers, per-account locks, a fenced ledger");
        out.println("  ZooKeeper  " + serverDescription);
        out.println("  workers    " + workers.size() + ", each with its own ZooKeeper session (timeout "
                + sessionTimeout.toMillis() + " ms);");
        out.println("             worker-1 reaches ZooKeeper through a proxy that can freeze");
        out.println("  accounts   " + key(ACCOUNTS.get(0)) + " .. " + ACCOUNTS.get(ACCOUNTS.size() - 1)
                + ", in a ledger that checks the fencing token on every read and write");
    }

    private void businessAsUsual() throws InterruptedException {
        section("1. Business as usual");
        long t0 = System.nanoTime();
        int entries = traffic(6);
        say("%d workers add %d entries to random accounts, each under the account's lock (%d ms)",
                workers.size(), entries, millisSince(t0));
    }

    private void longPause() throws InterruptedException {
        section("2. A long pause (think garbage collection)");
        Worker frozen = workers.get(0);
        Worker rescuer = workers.get(2);
        String account = ACCOUNTS.get(0);
        Future<Void> late = frozen.submit(() -> {
            frozenSection(frozen, account);
            return null;
        });
        try {
            if (!await(pause.paused, bound(), frozen.name() + " pausing inside its critical section")) {
                return;
            }
            Write attempt = pause.attempt;
            say("%s locks %s (%s), reads balance %d, and freezes:", frozen.name(), key(account), attempt.token,
                    attempt.before);
            say("   its thread stops and its connection to ZooKeeper goes silent");
            say("%s asks for the same lock", rescuer.name());
            long t0 = System.nanoTime();
            Write next = await(rescuer.submit(() -> increment(rescuer, account)), bound(),
                    rescuer.name() + " taking " + key(account));
            if (next == null) {
                return;
            }
            say("%s gets it %d ms later, once ZooKeeper has expired %s's session:", rescuer.name(),
                    millisSince(t0), frozen.name());
            say("   %s > %s, balance %d -> %d", next.token, attempt.token, next.before, next.after);
        } finally {
            proxy.thaw();
            pause.wake.countDown();
        }
        await(late, bound(), frozen.name() + "'s late write");
        Write attempt = pause.attempt;
        say("%s wakes up knowing nothing and writes balance %d with its old %s", frozen.name(), attempt.after,
                attempt.token);
        if (pause.refused != null) {
            say("the fence REJECTS it: account %s has already accepted %s", account, pause.refused.highest());
            say("   (without the fence, %s's entry would be silently lost: two increments, one counted)",
                    rescuer.name());
        } else if (pause.accepted) {
            say("the ledger ACCEPTED it: a stale write got through");
        }
        if (pause.lost != null) {
            say("%s's withLock then throws LockLostException (%s): section aborted", frozen.name(),
                    pause.lost.reason());
            if (pause.interruptedWhilePaused) {
                say("   (Baton interrupted it when the connection went silent; a paused thread hears nothing)");
            }
        }
    }

    /**
     * worker-1's critical section: read, then freeze (thread and connection) until woken, then
     * write with the token it had before the pause, as a process resuming from a GC pause would.
     */
    private void frozenSection(Worker w, String account) throws InterruptedException {
        try {
            w.locks().withLock(key(account), options(), lease -> {
                w.granted();
                long balance = ledger.read(account, lease.token());
                pause.attempt = new Write(w.name(), account, lease.token(), balance, balance + 1);
                proxy.freeze();
                pause.paused.countDown();
                pause.interruptedWhilePaused = pauseUninterruptibly(pause.wake, bound().multipliedBy(3));
                try {
                    ledger.write(account, lease.token(), balance + 1);
                    pause.accepted = true;
                } catch (StaleTokenException e) {
                    pause.refused = e;
                    rejected.add(new Rejected(w.name(), account, e.offered(), e.highest()));
                }
                return null;
            });
        } catch (LockLostException e) {
            pause.lost = e;
            aborted.add(new Aborted(w.name(), e.key(), e.token(), e.reason(), "frozen mid-section"));
        }
    }

    private void sessionExpiry() throws Exception {
        section("3. A session expires mid-job");
        Worker victim = workers.get(1);
        Worker next = workers.get(3);
        String account = ACCOUNTS.get(1);
        Future<Void> running = victim.submit(() -> {
            longJob(victim, account);
            return null;
        });
        if (await(job.started, bound(), victim.name() + " starting its job")) {
            say("%s locks %s (%s), reads balance %d and starts a long job", victim.name(), key(account),
                    job.token, job.before);
            long t0 = System.nanoTime();
            victim.expireSession(connectString);
            say("%s's session is expired on the server (as after a crash or a network partition)", victim.name());
            await(running, bound(), victim.name() + "'s job");
            if (job.lost != null) {
                say("%s is interrupted %d ms later; withLock throws LockLostException (%s):", victim.name(),
                        TimeUnit.NANOSECONDS.toMillis(job.lostAt - t0), job.lost.reason());
                say("   the critical section is aborted and nothing is written");
                say("   (%s)", explain(job.lost.reason()));
            } else if (job.finished) {
                say("%s's job ran to the end: the critical section was NOT aborted", victim.name());
            }
        } else {
            await(running, bound(), victim.name() + "'s job");
        }
        Write after = await(next.submit(() -> increment(next, account)), bound(),
                next.name() + " taking " + key(account));
        if (after != null) {
            say("%s takes %s at once: %s, balance %d -> %d", next.name(), key(account), after.token, after.before,
                    after.after);
        }
    }

    /** worker-2's critical section: a job of many interruptible steps, then a write. */
    private void longJob(Worker w, String account) throws InterruptedException {
        try {
            w.locks().withLock(key(account), options(), lease -> {
                w.granted();
                job.token = lease.token();
                job.before = ledger.read(account, lease.token());
                job.started.countDown();
                for (int step = 0; step < 50; step++) {
                    Thread.sleep(100); // the work; an interrupt ends it
                }
                ledger.write(account, lease.token(), job.before + 1);
                job.finished = true;
                return null;
            });
        } catch (LockLostException e) {
            job.lostAt = System.nanoTime();
            job.lost = e;
            aborted.add(new Aborted(w.name(), e.key(), e.token(), e.reason(), "session expired mid-job"));
        }
    }

    private void backToWork() throws InterruptedException {
        section("4. Back to work");
        for (Worker w : List.of(workers.get(0), workers.get(1))) {
            if (!w.awaitConnected(bound())) {
                problems.add(w.name() + " did not reconnect within " + bound().toMillis() + " ms");
            }
        }
        long t0 = System.nanoTime();
        int entries = traffic(3);
        say("worker-1 and worker-2 are back on new sessions; %d workers add %d more entries (%d ms)",
                workers.size(), entries, millisSince(t0));
    }

    /** The first term after the first that has run three batches, or null. */
    private static Term laterTerm(Billing billing) {
        for (int i = 1; i < billing.terms.size(); i++) {
            if (billing.terms.get(i).batches.get() >= 3) {
                return billing.terms.get(i);
            }
        }
        return null;
    }

    /**
     * Three workers join the election "billing-run"; the leader runs the billing run, a singleton
     * job that advances a fenced cursor with its term's token. The leader's session is expired:
     * its run is interrupted and another worker takes over with a larger token.
     */
    private void billingRun() throws Exception {
        section("5. A singleton billing run fails over");
        List<LeaderElection> elections = new ArrayList<>();
        try {
            for (Worker w : workers.subList(0, 3)) {
                LeaderElection election = w.locks().election("billing-run", w.name());
                elections.add(election);
                election.runAsSingleton("billing-run", LeaderElection.Repeat.WHILE_LEADER, l -> billingRunJob(w, l));
            }
            if (!await(billing.firstBatch, bound(), "the first billing batch")) {
                return;
            }
            Term first = billing.terms.get(0);
            say("%s leads the election (term %s) and runs the billing run: one batch every %d ms",
                    first.worker, first.token, BATCH_MS);
            Worker leader = workers.stream().filter(w -> w.name().equals(first.worker)).findFirst().orElseThrow();
            LeaderElection mine = elections.get(workers.indexOf(leader));
            if (!awaitCondition(() -> first.batches.get() >= 3, "three batches of " + first.worker)) {
                return;
            }
            billing.failedOverAt = System.nanoTime();
            leader.expireSession(connectString);
            say("%s's session is expired on the server, as if it crashed after %d batches", leader.name(),
                    first.batches.get());
            // a later leader runs three batches (on a loaded machine the first to take over may
            // itself lose its term at once, and the next one carries on)
            if (!awaitCondition(() -> laterTerm(billing) != null, "a new leader's billing batches")) {
                return;
            }
            Term next = laterTerm(billing);
            say("%s took over with term %s, %d ms after the expiry", next.worker, next.token,
                    TimeUnit.NANOSECONDS.toMillis(next.startedAt - billing.failedOverAt));
            say("%s's run was interrupted when its client noticed (%s)", first.worker,
                    first.endedBy == null ? "not yet told" : first.endedBy);
            if (first.refused.get() > 0) {
                say("   until then it still believed it led; batches of its term refused by the fence: %d",
                        first.refused.get());
            }
            say("%s rejoined the election at the back of the queue: %s", first.worker,
                    awaitParticipants(mine));
        } finally {
            elections.forEach(LeaderElection::close);
        }
        say("every worker left the election; the billing cursor stands at %d after %d batches",
                billingRuns.snapshot().get("billing-run").balance(), billing.totalBatches());
    }

    /**
     * The billing run: batches that advance a fenced cursor, until the term ends. A refused
     * batch means a newer term exists: the run ends with the fence's exception, and the
     * election runs it again (after a pause) only if this term is still believed valid.
     */
    private void billingRunJob(Worker w, Leadership leadership) throws InterruptedException {
        Term term = billing.termOf(w.name(), leadership);
        int now = billing.running.incrementAndGet();
        billing.maxRunning.accumulateAndGet(now, Math::max);
        try {
            while (true) {
                long cursor = billingRuns.read("billing-run", leadership.token());
                Thread.sleep(BATCH_MS); // the batch; an interrupt ends the run
                billingRuns.write("billing-run", leadership.token(), cursor + 1);
                term.batches.incrementAndGet();
                billing.firstBatch.countDown();
            }
        } catch (StaleTokenException e) {
            term.refused.incrementAndGet();
            throw e;
        } finally {
            billing.running.decrementAndGet();
        }
    }

    private String awaitParticipants(LeaderElection election) throws InterruptedException {
        awaitCondition(() -> election.participants().size() == 3, "the participants' list");
        return String.join(", ", election.participants());
    }

    /** Polls {@code condition} until it holds or {@link #bound()} passes; records a problem if it never does. */
    private boolean awaitCondition(java.util.function.BooleanSupplier condition, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + bound().toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        problems.add(what + ": not done within " + bound().toMillis() + " ms");
        return false;
    }

    // ------------------------------------------------------------------------------- the report

    private int report(long start) {
        section("Report");
        StringJoiner perWorker = new StringJoiner(", ");
        int grants = 0;
        for (Worker w : workers) {
            grants += w.grants();
            perWorker.add(w.name() + " " + w.grants());
        }
        say("acquisitions            %d (%s)", grants, perWorker);
        say("aborted sections        %d", aborted.size());
        for (Aborted a : aborted) {
            say("   %s on %s (%s): %s, %s", a.worker, a.key, a.token, a.reason, a.what);
        }
        say("stale writes rejected   %d", rejected.size());
        for (Rejected r : rejected) {
            say("   %s on account %s: offered %s, the fence had accepted %s", r.worker, r.account, r.offered,
                    r.highest);
        }
        Map<String, Ledger.Snapshot> accounts = ledger.snapshot();
        StringJoiner balances = new StringJoiner(", ");
        boolean noLostUpdate = true;
        boolean monotonic = true;
        for (Map.Entry<String, Ledger.Snapshot> e : accounts.entrySet()) {
            Ledger.Snapshot s = e.getValue();
            balances.add(e.getKey() + ": " + s.balance() + "/" + s.writes());
            noLostUpdate &= s.balance() == s.writes();
            monotonic &= s.tokensNeverDecreased();
        }
        say("balance/accepted writes %s", balances);
        for (String p : problems) {
            say("problem: %s", p);
        }

        out.println();
        boolean lateRejected = pause.attempt != null && pause.refused != null && !pause.accepted
                && pause.refused.offered().equals(pause.attempt.token);
        boolean abortReported = job.lost != null && !job.finished
                && aborted.stream().anyMatch(a -> a.worker.equals(workers.get(1).name()));
        say("billing-run terms       %d", billing.terms.size());
        for (Term t : billing.terms) {
            say("   %s (%s): %d batches, %d refused%s", t.worker, t.token, t.batches.get(), t.refused.get(),
                    t.endedBy == null ? "" : ", ended: " + t.endedBy);
        }
        out.println();
        say("believed leaders at once %d (at most 1 unless a leader learned of its loss late)",
                billing.maxRunning.get());
        boolean oneAtATime = billingRuns.snapshot().getOrDefault("billing-run", EMPTY).tokensNeverDecreased()
                && tokensIncrease(billing.terms);
        boolean failedOver = billing.terms.size() >= 2
                && !billing.terms.get(0).worker.equals(billing.terms.get(1).worker);
        Ledger.Snapshot cursor = billingRuns.snapshot().getOrDefault("billing-run", EMPTY);
        boolean ok = check(noLostUpdate && cursor.balance() == cursor.writes(), "(1) no lost update: every balance equals its number of accepted writes");
        ok &= check(monotonic, "(2) accepted tokens never decreased, per account, in accept order");
        ok &= check(lateRejected, "(3) the frozen worker's late write was rejected by the fence");
        ok &= check(abortReported, "(4) the aborted critical section was reported (LockLostException)");
        ok &= check(oneAtATime, "(5) the billing cursor took batches from one term at a time: each term's token"
                + " was larger, and the fence accepted no batch from an older term after a newer one");
        ok &= check(failedOver, "(6) another worker took the billing run over when the leader's session expired");
        ok &= check(problems.isEmpty(), "(7) every step finished within its time bound, without errors");
        out.printf("%nResult: %s (%.1f s)%n", ok ? "PASS" : "FAIL", millisSince(start) / 1000.0);
        return ok ? 0 : 1;
    }

    private static final Ledger.Snapshot EMPTY = new Ledger.Snapshot(0, 0, List.of());

    private static boolean tokensIncrease(List<Term> terms) {
        for (int i = 1; i < terms.size(); i++) {
            if (!terms.get(i).token.isNewerThan(terms.get(i - 1).token)) {
                return false;
            }
        }
        return true;
    }

    private boolean check(boolean holds, String invariant) {
        out.println("  " + (holds ? "PASS" : "FAIL") + "  " + invariant);
        return holds;
    }

    // ---------------------------------------------------------------------------------- helpers

    /** Every worker adds {@code perWorker} entries to random accounts; returns how many were written. */
    private int traffic(int perWorker) throws InterruptedException {
        List<Future<Integer>> loops = new ArrayList<>();
        for (Worker w : workers) {
            loops.add(w.submit(() -> {
                int written = 0;
                for (int i = 0; i < perWorker; i++) {
                    String account = ACCOUNTS.get(ThreadLocalRandom.current().nextInt(ACCOUNTS.size()));
                    if (increment(w, account) != null) {
                        written++;
                    }
                }
                return written;
            }));
        }
        int total = 0;
        for (int i = 0; i < loops.size(); i++) {
            Integer written = await(loops.get(i), bound(), workers.get(i).name() + "'s entries");
            total += written == null ? 0 : written;
        }
        return total;
    }

    /**
     * One ordinary critical section: read the balance with the lease's token, work briefly, write
     * balance + 1 with the token. Returns null (and records why) if the section was aborted or
     * the write refused.
     */
    private Write increment(Worker w, String account) throws InterruptedException {
        try {
            return w.locks().withLock(key(account), options(), lease -> {
                w.granted();
                long balance = ledger.read(account, lease.token());
                Thread.sleep(WORK_MS);
                ledger.write(account, lease.token(), balance + 1);
                return new Write(w.name(), account, lease.token(), balance, balance + 1);
            });
        } catch (LockLostException e) {
            aborted.add(new Aborted(w.name(), e.key(), e.token(), e.reason(), "ordinary entry"));
        } catch (StaleTokenException e) {
            rejected.add(new Rejected(w.name(), account, e.offered(), e.highest()));
        }
        return null;
    }

    /**
     * Blocks until {@code wake} opens or {@code max} passes, ignoring interrupts as a paused
     * process would; re-asserts an interrupt afterwards. Returns whether one came.
     */
    private static boolean pauseUninterruptibly(CountDownLatch wake, Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        boolean interrupted = false;
        long left;
        while (wake.getCount() > 0 && (left = deadline - System.nanoTime()) > 0) {
            try {
                wake.await(left, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return interrupted;
    }

    /** Waits at most {@code max} for {@code task}; on failure or timeout records a problem and returns null. */
    private <T> T await(Future<T> task, Duration max, String what) throws InterruptedException {
        try {
            return task.get(max.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            task.cancel(true);
            problems.add(what + ": not done within " + max.toMillis() + " ms");
        } catch (ExecutionException e) {
            problems.add(what + ": " + describe(e.getCause()));
        }
        return null;
    }

    private boolean await(CountDownLatch latch, Duration max, String what) throws InterruptedException {
        if (latch.await(max.toMillis(), TimeUnit.MILLISECONDS)) {
            return true;
        }
        problems.add(what + ": not done within " + max.toMillis() + " ms");
        return false;
    }

    /** The bound on every wait: a few session timeouts, so a real ensemble's longer sessions fit. */
    private Duration bound() {
        return sessionTimeout.multipliedBy(3).plusSeconds(5);
    }

    private LockOptions options() {
        return LockOptions.defaults().waitAtMost(bound());
    }

    private static LockKey key(String account) {
        return LockKey.of("billing", "account", account);
    }

    private void section(String title) {
        out.println();
        out.println(title);
    }

    private void say(String format, Object... args) {
        out.println("   " + String.format(format, args));
    }

    private static String explain(LossReason reason) {
        switch (reason) {
            case CONNECTION_SUSPENDED:
                return "its client saw the connection drop, and by default Baton gives the lease up at once";
            case SESSION_EXPIRED:
                return "its client learned that the session had expired";
            default:
                return "the lease was lost";
        }
    }

    private static long millisSince(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - nanos);
    }

    private static String describe(Throwable e) {
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }

    /** The first server of a connect string such as {@code zk1:2181,zk2:2181/chroot}. */
    static InetSocketAddress firstServer(String connectString) {
        String first = connectString.split("/", 2)[0].split(",")[0].trim();
        int colon = first.lastIndexOf(':');
        if (colon < 0) {
            return new InetSocketAddress(first, 2181);
        }
        try {
            return new InetSocketAddress(first.substring(0, colon), Integer.parseInt(first.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad port in connect string '" + connectString + "'", e);
        }
    }

    /** The chroot suffix of a connect string ({@code /chroot}), or "". */
    static String chroot(String connectString) {
        int slash = connectString.indexOf('/');
        return slash < 0 ? "" : connectString.substring(slash);
    }

    private void close() {
        pause.wake.countDown();
        if (proxy != null) {
            proxy.thaw();
        }
        for (Worker w : workers) {
            try {
                w.close();
            } catch (RuntimeException e) {
                out.println("Could not close " + w.name() + ": " + describe(e));
            }
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    // ------------------------------------------------------------------------------ the records

    /** An accepted write. */
    private record Write(String worker, String account, FencingToken token, long before, long after) {
    }

    /** A critical section that {@code withLock} aborted. */
    private record Aborted(String worker, LockKey key, FencingToken token, LossReason reason, String what) {
    }

    /** A write the fence refused. */
    private record Rejected(String worker, String account, FencingToken offered, FencingToken highest) {
    }

    /** What happened to the frozen worker, written by its thread, read by the story after a latch or future. */
    private static final class Pause {
        final CountDownLatch paused = new CountDownLatch(1);
        final CountDownLatch wake = new CountDownLatch(1);
        volatile Write attempt;
        volatile boolean interruptedWhilePaused;
        volatile boolean accepted;
        volatile StaleTokenException refused;
        volatile LockLostException lost;
    }

    /** One term of the billing run: who led, with which token, how many batches it did. */
    private static final class Term {
        final String worker;
        final FencingToken token;
        final long startedAt;
        final java.util.concurrent.atomic.AtomicInteger batches = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger refused = new java.util.concurrent.atomic.AtomicInteger();
        volatile LossReason endedBy;

        Term(String worker, FencingToken token, long startedAt) {
            this.worker = worker;
            this.token = token;
            this.startedAt = startedAt;
        }
    }

    /** The billing run's terms, in the order they began, and its overlap counters. */
    private static final class Billing {
        final List<Term> terms = new CopyOnWriteArrayList<>();
        final CountDownLatch firstBatch = new CountDownLatch(1);
        final java.util.concurrent.atomic.AtomicInteger running = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger maxRunning = new java.util.concurrent.atomic.AtomicInteger();
        volatile long failedOverAt;

        /** The record of a term, made when its first run starts. */
        synchronized Term termOf(String worker, Leadership leadership) {
            for (Term t : terms) {
                if (t.token.equals(leadership.token())) {
                    return t;
                }
            }
            Term t = new Term(worker, leadership.token(), System.nanoTime());
            terms.add(t);
            leadership.onLost(e -> t.endedBy = e.reason());
            return t;
        }

        int totalBatches() {
            return terms.stream().mapToInt(t -> t.batches.get()).sum();
        }
    }

    /** What happened to the worker whose session expires mid-job. */
    private static final class Job {
        final CountDownLatch started = new CountDownLatch(1);
        volatile FencingToken token;
        volatile long before;
        volatile boolean finished;
        volatile long lostAt;
        volatile LockLostException lost;
    }
}
