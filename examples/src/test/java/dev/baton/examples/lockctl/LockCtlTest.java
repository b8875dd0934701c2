package dev.baton.examples.lockctl;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LossReason;
import dev.baton.lock.test.BatonZooKeeper;
import dev.baton.lock.test.EmbeddedEnsemble;
import dev.baton.lock.test.ServiceOptions;
import dev.baton.lock.zk.SecuredNamespace;
import dev.baton.lock.zk.ZkLockService;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * lockctl in-process against a real ZooKeeper server (the test kit's), with leases held by real
 * {@link ZkLockService}s on named threads; each test in its own namespace (the kit's fresh one),
 * so {@code --namespace} is exercised by every command.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LockCtlTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String HOST = hostName();
    /** How every holder id of this process begins: host:pid:random. */
    private static final String PREFIX = HOST + ":" + ProcessHandle.current().pid() + ":";

    /**
     * The server, a fresh namespace per test, and the observer: a plain client that plants what
     * Baton did not write; its ephemeral nodes live as long as the tests. A 1 s tick lets sessions
     * last the 20 s that services and lockctl ask for, so the outage test's holder comes back on
     * its session.
     */
    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofSeconds(1));

    /** Leases (and services the kit did not make), closed after each test, the latest first. */
    private final List<AutoCloseable> closeAtEnd = new ArrayList<>();

    @AfterEach
    void closeEverything() throws Exception {
        for (int i = closeAtEnd.size() - 1; i >= 0; i--) {
            closeAtEnd.get(i).close();
        }
    }

    // ---- list

    @Test
    void listShowsTheHeldKeysUnderThePrefixCoarseFirst() throws Exception {
        ZkLockService a = service();
        Lease account = hold(a, "billing/account/42", LockMode.EXCLUSIVE, "account-worker");
        Lease rates = hold(a, "billing/rates", LockMode.SHARED, "rates-reader");
        hold(a, "reports/daily", LockMode.EXCLUSIVE, "reporter");

        Result text = ctl("list", "billing");
        assertEquals(0, text.code, text.toString());
        assertTrue(text.out.contains("billing/account/42: held"), text.out);
        assertTrue(text.out.contains("billing/rates: held"), text.out);
        assertTrue(text.out.contains("\"account-worker\""), text.out);
        assertFalse(text.out.contains("reports/daily"), text.out);
        assertEquals("", text.err);

        Result json = ctl("list", "billing", "--json");
        assertEquals(0, json.code, json.toString());
        Map<String, Object> doc = MiniJson.object(json.out.trim());
        assertEquals("billing", doc.get("prefix"));
        List<Map<String, Object>> keys = list(doc.get("keys"));
        assertEquals(List.of("billing/rates", "billing/account/42"), keys.stream().map(k -> k.get("key")).toList());
        assertClaim(list(keys.get(0).get("holders")).get(0), rates, "rates-reader", "SHARED", true);
        assertClaim(list(keys.get(1).get("holders")).get(0), account, "account-worker", "EXCLUSIVE", true);

        Result all = ctl("--json", "list");
        assertEquals(0, all.code, all.toString());
        assertEquals(List.of("billing/rates", "reports/daily", "billing/account/42"),
                list(MiniJson.object(all.out.trim()).get("keys")).stream().map(k -> k.get("key")).toList());
    }

    @Test
    void listWithNothingHeldIsAnEmptyListAndExitsZero() {
        Result text = ctl("list");
        assertEquals(0, text.code, text.toString());
        assertEquals("No lock is held.", text.out.trim());

        Result json = ctl("list", "billing", "--json");
        assertEquals(0, json.code, json.toString());
        assertEquals(Map.of("prefix", "billing", "keys", List.of()), MiniJson.object(json.out.trim()));
    }

    // ---- inspect

    @Test
    void inspectShowsTheHolderAndItsWaiter() throws Exception {
        ZkLockService a = service();
        ZkLockService b = service();
        String holderThread = "holder \"one\" \\ thread"; // quotes and a backslash, to exercise escaping
        Lease held = hold(a, "billing/account/7", LockMode.EXCLUSIVE, holderThread);
        CompletableFuture<Lease> waiting = acquireOn(b, "billing/account/7", LockMode.EXCLUSIVE, "waiter-thread");
        await().atMost(WAIT).until(() -> a.inspect(LockKey.parse("billing/account/7")).waiters().size() == 1);

        Result json = ctl("inspect", "billing/account/7", "--json");
        assertEquals(0, json.code, json.toString());
        Map<String, Object> state = MiniJson.object(json.out.trim());
        assertEquals("billing/account/7", state.get("key"));
        assertEquals(true, state.get("held"));
        Map<String, Object> holder = list(state.get("holders")).get(0);
        Map<String, Object> waiter = list(state.get("waiters")).get(0);
        assertClaim(holder, held, holderThread, "EXCLUSIVE", true);
        assertEquals("waiter-thread", waiter.get("thread"));
        assertEquals(false, waiter.get("granted"));
        assertEquals(null, waiter.get("heldForMs"));
        assertNotEquals(holder.get("holderId"), waiter.get("holderId"), "two services, two holder ids");
        assertTrue((Long) waiter.get("token") > held.token().value(), json.out);

        Result text = ctl("inspect", "billing/account/7");
        assertEquals(0, text.code, text.toString());
        assertTrue(text.out.startsWith("billing/account/7: held, 1 waiting"), text.out);
        assertTrue(text.out.contains("token " + held.token().value()), text.out);
        assertTrue(text.out.contains("waiter-thread"), text.out);

        held.close();
        waiting.get(WAIT.toSeconds(), TimeUnit.SECONDS).close();
    }

    @Test
    void inspectOfAFreeKeyPrintsFreeAndExitsOne() {
        Result text = ctl("inspect", "billing/account/8");
        assertEquals(1, text.code, text.toString());
        assertEquals("billing/account/8: free", text.out.trim());

        Result json = ctl("inspect", "--json", "billing/account/8");
        assertEquals(1, json.code, json.toString());
        Map<String, Object> state = MiniJson.object(json.out.trim());
        assertEquals(false, state.get("held"));
        assertEquals(List.of(), state.get("holders"));
        assertEquals(List.of(), state.get("waiters"));
    }

    // ---- break

    @Test
    void breakWithYesTakesTheLockAndTheWaiterProceeds() throws Exception {
        ZkLockService a = service();
        ZkLockService b = service();
        Lease held = hold(a, "jobs/nightly", LockMode.EXCLUSIVE, "stuck-holder");
        AtomicReference<LockLostException> lost = new AtomicReference<>();
        held.onLost(lost::set);
        CompletableFuture<Lease> waiting = acquireOn(b, "jobs/nightly", LockMode.EXCLUSIVE, "next-in-line");
        await().atMost(WAIT).until(() -> a.inspect(LockKey.parse("jobs/nightly")).waiters().size() == 1);

        Result json = ctl("break", "jobs/nightly", "--yes", "--json");
        assertEquals(0, json.code, json.toString());
        assertEquals(Map.of("key", "jobs/nightly", "broken", 1L), MiniJson.object(json.out.trim()));

        await().atMost(WAIT).until(() -> lost.get() != null);
        assertEquals(LossReason.BROKEN, lost.get().reason());
        assertFalse(held.isValid());
        Lease next = waiting.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertTrue(next.token().compareTo(held.token()) > 0, "the waiter's token is larger than the broken one's");
        next.close();

        Result again = ctl("break", "jobs/nightly", "--yes");
        assertEquals(1, again.code, again.toString());
        assertEquals("jobs/nightly: free, nothing to break", again.out.trim());
    }

    @Test
    void breakWithoutYesAndNoTerminalRefusesAndBreaksNothing() throws Exception {
        ZkLockService a = service();
        Lease held = hold(a, "jobs/hourly", LockMode.EXCLUSIVE, "holder");

        Result refused = ctl("break", "jobs/hourly");
        assertEquals(2, refused.code, refused.toString());
        assertTrue(refused.err.startsWith("lockctl: break needs --yes"), refused.err);
        assertEquals("", refused.out);

        assertTrue(held.isValid());
        assertTrue(service().tryAcquire(LockKey.parse("jobs/hourly")).isEmpty(), "still held");
    }

    @Test
    void breakOnATerminalAsksAndOnlyYesBreaks() throws Exception {
        ZkLockService a = service();
        Lease held = hold(a, "jobs/weekly", LockMode.EXCLUSIVE, "weekly-holder");

        Result declined = ctlOnTerminal("n\n", "break", "jobs/weekly");
        assertEquals(1, declined.code, declined.toString());
        assertTrue(declined.out.contains("weekly-holder"), declined.out);
        assertTrue(declined.out.contains("Break jobs/weekly, taking it from 1 holder? [y/N]"), declined.out);
        assertTrue(declined.out.trim().endsWith("Not broken."), declined.out);
        assertTrue(held.isValid());

        Result noAnswer = ctlOnTerminal("", "break", "jobs/weekly");
        assertEquals(1, noAnswer.code, noAnswer.toString());
        assertTrue(held.isValid());

        Result broke = ctlOnTerminal("y\n", "break", "jobs/weekly");
        assertEquals(0, broke.code, broke.toString());
        assertTrue(broke.out.trim().endsWith("Broke jobs/weekly: 1 holder lost it (BROKEN)."), broke.out);
        await().atMost(WAIT).until(() -> !held.isValid());
    }

    // ---- watch

    @Test
    void watchPrintsGrantsAndReleasesUntilInterrupted() throws Exception {
        Watch watch = new Watch("jobs/report");
        watch.await("jobs/report free");

        ZkLockService a = service();
        ZkLockService b = service();
        Lease first = hold(a, "jobs/report", LockMode.EXCLUSIVE, "first-holder");
        watch.await("jobs/report granted EXCLUSIVE to " + PREFIX,
                "(token " + first.token().value() + ", thread \"first-holder\")");

        CompletableFuture<Lease> waiting = acquireOn(b, "jobs/report", LockMode.EXCLUSIVE, "second-holder");
        watch.await("jobs/report waiting: " + PREFIX, "thread \"second-holder\"");
        first.close();
        Lease second = waiting.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        watch.await("jobs/report released by " + PREFIX, "(token " + first.token().value() + ")");
        watch.await("jobs/report granted EXCLUSIVE to " + PREFIX,
                "(token " + second.token().value() + ", thread \"second-holder\")");
        second.close();
        watch.await("jobs/report released by " + PREFIX, "(token " + second.token().value() + ")");

        Result stopped = watch.stop();
        assertEquals(0, stopped.code, stopped.toString());
        assertEquals("", stopped.err);
        assertTrue(stopped.out.startsWith("Watching jobs/report on " + zk.connectString()), stopped.out);
    }

    @Test
    void watchStartsWithTheCurrentHoldersAndWaiters() throws Exception {
        ZkLockService a = service();
        Lease held = hold(a, "jobs/busy", LockMode.EXCLUSIVE, "busy-holder");
        CompletableFuture<Lease> waiting = acquireOn(service(), "jobs/busy", LockMode.EXCLUSIVE, "busy-waiter");
        await().atMost(WAIT).until(() -> a.inspect(LockKey.parse("jobs/busy")).waiters().size() == 1);

        Watch watch = new Watch("jobs/busy");
        watch.await("jobs/busy held by " + PREFIX,
                "EXCLUSIVE (token " + held.token().value() + ", thread \"busy-holder\", held ");
        watch.await("jobs/busy waiting: " + PREFIX, "thread \"busy-waiter\"");
        held.close();
        Lease next = waiting.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        watch.await("jobs/busy granted EXCLUSIVE to " + PREFIX, "(token " + next.token().value() + ", ");
        assertEquals(0, watch.stop().code);
    }

    @Test
    void watchJsonPrintsOneObjectPerEvent() throws Exception {
        Watch watch = new Watch("jobs/json", "--json");
        watch.await("\"event\":\"free\"");

        Lease held = hold(service(), "jobs/json", LockMode.SHARED, "json-holder");
        watch.await("\"event\":\"granted\"");
        held.close();
        watch.await("\"event\":\"released\"");
        Result stopped = watch.stop();
        assertEquals(0, stopped.code, stopped.toString());

        List<Map<String, Object>> events = stopped.out.lines().map(MiniJson::object).toList();
        assertEquals(List.of("free", "granted", "released"), events.stream().map(e -> e.get("event")).toList());
        events.forEach(e -> assertEquals("jobs/json", e.get("key")));
        assertClaim(map(events.get(1).get("claim")), held, "json-holder", "SHARED", true);
        assertEquals(held.token().value(), map(events.get(2).get("claim")).get("token"));
    }

    @Test
    void watchSaysWhenItsConnectionDropsAndShowsWhatChangedMeanwhile() throws Exception {
        Watch watch = new Watch("jobs/outage", "--json");
        watch.await("\"event\":\"free\"");
        Lease held = hold(service(), "jobs/outage", LockMode.EXCLUSIVE, "outage-holder");
        watch.await("\"event\":\"granted\"");

        zk.ensemble().stop(0); // the holder loses its lease at suspension; its node goes once it is back
        try {
            watch.await("\"event\":\"disconnected\"");
            await().atMost(WAIT).until(() -> !held.isValid());
        } finally {
            zk.ensemble().start(0);
        }
        watch.await("\"event\":\"reconnected\"");
        watch.await("\"event\":\"released\"");
        Result stopped = watch.stop();
        assertEquals(0, stopped.code, stopped.toString());
        List<Map<String, Object>> events = stopped.out.lines().map(MiniJson::object).toList();
        assertEquals(List.of("free", "granted", "disconnected", "reconnected", "released"),
                events.stream().map(e -> e.get("event")).toList());
        assertEquals(held.token().value(), map(events.get(4).get("claim")).get("token"));
    }

    // ---- data lockctl did not expect

    @Test
    void foreignAndUnreadableDataIsSkippedOrShownWithWhatIsKnown() throws Exception {
        String locks = "/" + zk.namespace() + "/locks";
        for (String name : List.of("bad name", ".hidden", "_x", "x".repeat(129))) {
            plant(locks + "/" + name, new byte[0], CreateMode.PERSISTENT);
            plant(locks + "/jobs/" + name, new byte[0], CreateMode.PERSISTENT);
        }
        for (String name : List.of("foo", "X-", "X-nothex-0000000001", "delay.X.junk", "S-0123456789abcdef-notanumber")) {
            plant(locks + "/jobs/odd/_q/" + name, "junk".getBytes(StandardCharsets.UTF_8), CreateMode.EPHEMERAL);
            plant(locks + "/jobs/odd/_s/" + name, new byte[0], CreateMode.PERSISTENT);
        }
        plant(locks + "/jobs/odd/_q/X-fedcba9876543210-", new byte[0], CreateMode.PERSISTENT_SEQUENTIAL);
        long unreadable = plantRequest(locks + "/jobs/odd", "baton-lock/2\nholder=\u001b[2Jfuture".getBytes(StandardCharsets.UTF_8));
        String evilThread = "\u001b[31mred\u001b[0m \u202eTHGIR\u0007";
        long evil = plantRequest(locks + "/jobs/evil", ("baton-lock/1\nholder=" + "h".repeat(100_000) + "\nthread="
                + evilThread + "\npid=-7\nleaseMs=soon\n").getBytes(StandardCharsets.UTF_8));

        Result text = ctl("list");
        assertEquals(0, text.code, text.toString());
        assertEquals("", text.err);
        assertEquals(List.of("jobs/evil: held", "jobs/odd: held"),
                text.out.lines().filter(l -> !l.startsWith(" ")).toList(), text.out);
        assertTrue(text.out.contains("holder ?  EXCLUSIVE  token " + unreadable + "  thread \"?\""), text.out);
        assertTrue(text.out.contains("token " + evil + "  thread \"?[31mred?[0m ?THGIR?\""), text.out);
        assertPrintable(text.out);

        Result json = ctl("list", "--json");
        assertEquals(0, json.code, json.toString());
        List<Map<String, Object>> keys = list(MiniJson.object(json.out.trim()).get("keys"));
        Map<String, Object> unknown = list(keys.get(1).get("holders")).get(0);
        assertEquals(unreadable, unknown.get("token"));
        assertEquals(null, unknown.get("holderId"));
        assertEquals(null, unknown.get("thread"));
        assertEquals(null, unknown.get("pid"));
        assertEquals(null, unknown.get("leaseTimeMs"));
        Map<String, Object> cut = list(keys.get(0).get("holders")).get(0);
        assertEquals(evilThread, cut.get("thread"), "JSON carries the value, escaped");
        assertEquals(256, ((String) cut.get("holderId")).length(), "a record's text is cut to 256 characters");
        assertFalse(json.out.contains("\u001b"), "control characters are escaped in JSON");

        Result inspect = ctl("inspect", "jobs/odd");
        assertEquals(0, inspect.code, inspect.toString());
        assertEquals(2, inspect.out.lines().count(), inspect.out);

        Watch watch = new Watch("jobs/odd");
        watch.await("jobs/odd held by ? EXCLUSIVE (token " + unreadable + ", thread \"?\"");
        Result broke = ctl("break", "jobs/odd", "--yes");
        assertEquals(0, broke.code, broke.toString());
        assertEquals("Broke jobs/odd: 1 holder lost it (BROKEN).", broke.out.trim());
        watch.await("jobs/odd released by ? (token " + unreadable + ")");
        assertEquals(0, watch.stop().code);
        assertEquals(1, ctl("inspect", "jobs/odd").code, "free once broken: the foreign nodes left are not holders");
    }

    @Test
    void aHugeOrHostileArgumentIsEchoedCutAndPrintable() {
        for (String[] args : List.of(new String[] {"list", "--" + "x".repeat(100_000)},
                new String[] {"inspect", "a\u001b[2J" + "b".repeat(100_000)}, new String[] {"inspect", "a\nb"},
                new String[] {"--timeout", "9".repeat(100_000), "list"})) {
            Result r = ctl(args);
            assertEquals(2, r.code, r.toString());
            assertEquals("", r.out);
            assertEquals(2, r.err.lines().count(), r.err);
            assertTrue(r.err.lines().allMatch(l -> l.length() <= LockCtl.MESSAGE_LENGTH + 20), r.err);
            assertPrintable(r.err);
        }
    }

    // ---- secured namespace

    @Test
    void anotherIdentityListsAndInspectsAndItsBreakIsRefusedInOneLineTheAdminsIsNot() throws Exception {
        SecuredNamespace secured = SecuredNamespace.lockUsers(SecuredNamespace.digestId("worker", "w-secret"))
                .admins(SecuredNamespace.digestId("ops", "o-secret"));
        ZkLockService worker = ZkLockService.builder().connectString(zk.connectString()).namespace(zk.namespace())
                .connectionTimeout(WAIT).digest("worker", "w-secret").securedNamespace(secured).build();
        closeAtEnd.add(worker);
        Lease held = hold(worker, "billing/account/42", LockMode.EXCLUSIVE, "secured-holder");
        AtomicReference<LockLostException> lost = new AtomicReference<>();
        held.onLost(lost::set);

        Result list = ctl("--digest", "reader:r-secret", "list");
        assertEquals(0, list.code, list.toString());
        assertTrue(list.out.contains("billing/account/42: held"), list.out);
        Result inspect = ctl("inspect", "billing/account/42", "--digest", "reader:r-secret", "--json");
        assertEquals(0, inspect.code, inspect.toString());
        assertEquals(held.token().value(), list(MiniJson.object(inspect.out.trim()).get("holders")).get(0).get("token"));

        Result refused = ctl("--digest", "reader:r-secret", "break", "billing/account/42", "--yes");
        assertEquals(4, refused.code, refused.toString());
        assertEquals("", refused.out);
        assertEquals(1, refused.err.lines().count(), refused.err);
        assertTrue(refused.err.startsWith("lockctl: Could not break billing/account/42: ZooKeeper refused it (NoAuth for /"
                + zk.namespace() + "/locks/billing/"), refused.err);
        assertTrue(refused.err.contains("lock users and admins"), refused.err);
        assertTrue(held.isValid());

        Result broken = ctl("--digest", "ops:o-secret", "break", "billing/account/42", "--yes");
        assertEquals(0, broken.code, broken.toString());
        await().atMost(WAIT).until(() -> lost.get() != null);
        assertEquals(LossReason.BROKEN, lost.get().reason());

        Result badDigest = ctl("--digest", "reader", "list");
        assertEquals(2, badDigest.code, badDigest.toString());
        assertEquals("lockctl: --digest takes USER:PASSWORD, got a value without ':'", badDigest.err.lines().findFirst().orElse(""));
    }

    // ---- usage and unreachable ensemble

    @Test
    void badArgumentsAndBadKeysExitTwoWithTheReason() {
        Result badKey = ctl("inspect", "billing/_x/42");
        assertEquals(2, badKey.code, badKey.toString());
        assertTrue(badKey.err.startsWith("lockctl: Invalid lock key segment \"_x\""), badKey.err);
        assertEquals("", badKey.out);

        for (String[] args : List.of(new String[0], new String[] {"inspect"}, new String[] {"list", "bill ing"},
                new String[] {"frobnicate"}, new String[] {"list", "--bogus"}, new String[] {"watch", "a//b"},
                new String[] {"--timeout", "soon", "list"}, new String[] {"break", "a", "b", "--yes"})) {
            Result r = ctl(args);
            assertEquals(2, r.code, String.join(" ", args) + ": " + r);
            assertTrue(r.err.startsWith("lockctl: "), r.err);
        }
    }

    @Test
    void helpListsTheCommandsAndTheExitCodes() {
        Result help = ctl("--help");
        assertEquals(0, help.code, help.toString());
        for (String s : List.of("list", "inspect", "break", "watch", "--json", "--timeout", "--namespace", "Exit codes:",
                "0   ok", "1   the key is not held", "2   usage", "3   ZooKeeper could not be reached")) {
            assertTrue(help.out.contains(s), s + " in " + help.out);
        }
        Result breakHelp = ctl("break", "--help");
        assertEquals(0, breakHelp.code, breakHelp.toString());
        assertTrue(breakHelp.out.contains("--yes"), breakHelp.out);
    }

    @Test
    void anUnreachableEnsembleIsOneLineAndExitThreeWithinTheTimeout() throws Exception {
        String connect = "127.0.0.1:" + EmbeddedEnsemble.freePorts(1)[0];
        long start = System.nanoTime();
        Result r = run(false, "", "--connect", connect, "--timeout", "1s", "list");
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        System.out.println("unreachable ensemble reported after " + millis + " ms (timeout 1 s)");

        assertEquals(3, r.code, r.toString());
        assertEquals("lockctl: cannot reach ZooKeeper at " + connect + " within 1s" + System.lineSeparator(), r.err);
        assertEquals("", r.out);
        assertTrue(millis >= 900 && millis < 1000 + 2000, millis + " ms");

        // "@ops" is a key (a segment may start with @), not picocli's @file expansion
        for (String[] args : List.of(new String[] {"inspect", "@ops"}, new String[] {"break", "a", "--yes"},
                new String[] {"watch", "a"}, new String[] {"list", "--json"})) {
            Result each = run(false, "", Stream.concat(Stream.of("--connect", connect, "--timeout", "300ms"),
                    Stream.of(args)).toArray(String[]::new));
            assertEquals(3, each.code, String.join(" ", args) + ": " + each);
            assertEquals(1, each.err.lines().count(), each.err);
        }
    }

    // ---- helpers

    private record Result(int code, String out, String err) {
    }

    /** No control character but line breaks: nothing that would move a terminal's cursor or colour it. */
    private static void assertPrintable(String output) {
        assertTrue(output.codePoints().noneMatch(c -> c != '\n' && c != '\r'
                && (Character.getType(c) == Character.CONTROL || Character.getType(c) == Character.FORMAT)), output);
    }

    /** Creates a node with a plain client, its missing parents as containers (again if one was removed meanwhile). */
    private static String plant(String path, byte[] data, CreateMode mode) throws Exception {
        for (int attempt = 0; ; attempt++) {
            try {
                return zk.observer().create().creatingParentContainersIfNeeded().withMode(mode).forPath(path, data);
            } catch (KeeperException.NoNodeException raced) {
                assertTrue(attempt < 10, "cannot plant " + path);
            }
        }
    }

    /** Plants an exclusive request's two nodes under a key's znode, as Baton names them; returns its token. */
    private static long plantRequest(String keyPath, byte[] record) throws Exception {
        String id = String.format("%016x", new java.util.Random().nextLong());
        String node = plant(keyPath + "/_q/X-" + id + "-", record, CreateMode.EPHEMERAL_SEQUENTIAL);
        plant(keyPath + "/_s/X-" + id + "-", new byte[0], CreateMode.EPHEMERAL_SEQUENTIAL);
        return zk.observer().checkExists().forPath(node).getCzxid();
    }


    /** lockctl watch on its own thread, stopped by interrupting it. */
    private final class Watch {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteArrayOutputStream err = new ByteArrayOutputStream();
        private final CompletableFuture<Integer> code = new CompletableFuture<>();
        private final Thread thread;

        Watch(String... args) {
            String[] full = Stream.concat(Stream.of("watch"), Stream.of(args)).toArray(String[]::new);
            thread = new Thread(() -> code.complete(LockCtl.run(withServer(full), new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8), new ByteArrayInputStream(new byte[0]), false)),
                    "lockctl-watch");
            thread.setDaemon(true);
            thread.start();
        }

        String out() {
            return out.toString(StandardCharsets.UTF_8);
        }

        /** Waits until one line of output contains every fragment; fails at once if lockctl has ended. */
        void await(String... fragments) {
            org.awaitility.Awaitility.await().alias("lockctl watch printing " + String.join(" ... ", fragments)
                    + "; it printed:\n" + out() + err).atMost(WAIT).until(() -> {
                assertFalse(code.isDone(), () -> "lockctl watch ended: " + code.join() + " " + out() + err);
                return out().lines().anyMatch(line -> Stream.of(fragments).allMatch(line::contains));
            });
        }

        Result stop() throws Exception {
            thread.interrupt();
            int exit = code.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            thread.join(WAIT.toMillis());
            assertFalse(thread.isAlive());
            Result r = new Result(exit, out(), err.toString(StandardCharsets.UTF_8));
            System.out.println("lockctl watch:" + System.lineSeparator() + r.out + r.err);
            return r;
        }
    }

    private Result ctl(String... args) {
        return run(false, "", withServer(args));
    }

    private Result ctlOnTerminal(String input, String... args) {
        return run(true, input, withServer(args));
    }

    private String[] withServer(String... args) {
        return Stream.concat(Stream.of("--connect", zk.connectString(), "--namespace", zk.namespace()),
                Stream.of(args)).toArray(String[]::new);
    }

    private static Result run(boolean terminal, String input, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = LockCtl.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)), terminal);
        Result r = new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        System.out.println("lockctl " + String.join(" ", args) + " -> " + code + System.lineSeparator() + r.out + r.err);
        return r;
    }

    /** A service of the kit's in the test's namespace, with its own session; the kit closes it after the test. */
    private ZkLockService service() {
        return zk.newService(ServiceOptions.defaults().connectionTimeout(WAIT));
    }

    /** Acquires {@code key} on a new thread named {@code threadName} (the name its record carries). */
    private CompletableFuture<Lease> acquireOn(ZkLockService s, String key, LockMode mode, String threadName) {
        CompletableFuture<Lease> lease = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                lease.complete(s.acquire(LockKey.parse(key), LockOptions.defaults().mode(mode).waitAtMost(WAIT)));
            } catch (Throwable e) {
                lease.completeExceptionally(e);
            }
        }, threadName);
        t.setDaemon(true);
        t.start();
        lease.thenAccept(closeAtEnd::add);
        return lease;
    }

    private Lease hold(ZkLockService s, String key, LockMode mode, String threadName) throws Exception {
        return acquireOn(s, key, mode, threadName).get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    /** A claim in lockctl's JSON against the real lease it describes. */
    private static void assertClaim(Map<String, Object> claim, Lease lease, String thread, String mode, boolean granted) {
        assertEquals(lease.token().value(), claim.get("token"), claim.toString());
        assertEquals(thread, claim.get("thread"), claim.toString());
        assertEquals(mode, claim.get("mode"), claim.toString());
        assertEquals(granted, claim.get("granted"), claim.toString());
        assertTrue(((String) claim.get("holderId")).startsWith(PREFIX), claim.toString());
        assertEquals(HOST, claim.get("host"), claim.toString());
        assertEquals(ProcessHandle.current().pid(), claim.get("pid"), claim.toString());
        assertTrue(claim.get("heldForMs") instanceof Long, claim.toString());
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "unknown-host";
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> list(Object o) {
        return ((List<Object>) o).stream().map(e -> (Map<String, Object>) e).collect(Collectors.toList());
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }
}
