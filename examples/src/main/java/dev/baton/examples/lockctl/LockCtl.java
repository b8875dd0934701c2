package dev.baton.examples.lockctl;

import dev.baton.lock.Claim;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockState;
import dev.baton.lock.zk.AccessDeniedException;
import dev.baton.lock.zk.ZkLockService;
import dev.baton.lock.zk.ZkLockServiceBuilder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help.Ansi;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ScopeType;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lockctl}, the operator's command line for Baton locks on ZooKeeper: {@code list} the
 * held keys, {@code inspect} one, {@code break} one, {@code watch} one. Every command takes
 * {@code --json} for scripts. Run it with {@code mvn -q -pl examples -am verify -Plockctl
 * -DskipTests -Dexec.args="--connect host:port list"}; {@code --help} prints the usage and the
 * exit codes (0 ok, 1 not held, 2 usage, 3 ZooKeeper unreachable, 4 any other failure).
 *
 * <p>Failures are reported in one line on the error stream, never as a stack trace; ZooKeeper's
 * and Curator's logs never reach the console (slf4j-simple is off unless configured).
 *
 * <p>Not thread-safe: an instance runs one command; {@link #main} and {@code run} make their own.
 */
@Command(name = "lockctl",
        synopsisSubcommandLabel = "COMMAND",
        description = {"Lists, inspects, breaks and watches Baton locks on a ZooKeeper ensemble.",
                "Options may come before or after the command."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
                "0:ok (list: also when nothing is held)",
                "1:the key is not held (inspect, break), or the break was declined",
                "2:usage: bad arguments or key, or break without --yes and no terminal",
                "3:ZooKeeper could not be reached within --timeout, or was lost",
                "4:any other failure, such as a refusal for this identity (the message says what)"},
        footerHeading = "%nExamples:%n",
        footer = {"  lockctl --connect zk1:2181 list billing",
                "  lockctl --connect zk1:2181 inspect billing/account/42 --json",
                "  lockctl --connect zk1:2181 break billing/account/42 --yes",
                "  lockctl --connect zk1:2181 watch billing/account/42",
                "  lockctl --connect zk1:2281 --truststore ca.pem --sasl LockCtl break billing/account/42 --yes"})
public final class LockCtl implements Callable<Integer> {
    static final int OK = 0;
    static final int NOT_HELD = 1;
    static final int USAGE = 2;
    static final int UNREACHABLE = 3;
    static final int FAILED = 4;

    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS", Locale.ROOT);

    @Option(names = "--connect", paramLabel = "HOST:PORT[,...]", defaultValue = "localhost:2181",
            scope = ScopeType.INHERIT,
            description = "the ZooKeeper ensemble, a /chroot suffix allowed (default: ${DEFAULT-VALUE})")
    private String connect;

    @Option(names = "--namespace", paramLabel = "ZNODE", defaultValue = "baton", scope = ScopeType.INHERIT,
            description = "the namespace the locks live under, as in ZkLockService.builder().namespace(..)"
                    + " (default: ${DEFAULT-VALUE})")
    private String namespace;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5s", scope = ScopeType.INHERIT,
            converter = DurationConverter.class,
            description = "the most to wait for a connection to ZooKeeper, counted from the start, e.g. 5s, "
                    + "1500ms, 1m (default: ${DEFAULT-VALUE})")
    private Duration timeout;

    @Option(names = "--digest", paramLabel = "USER:PASSWORD", scope = ScopeType.INHERIT,
            description = "authenticate as this digest user (addauth digest); visible to other users of this host")
    private String digest;

    @Option(names = "--sasl", paramLabel = "SECTION", scope = ScopeType.INHERIT,
            description = "authenticate with SASL through this section of the JAAS configuration "
                    + "(-Djava.security.auth.login.config=FILE)")
    private String sasl;

    @Option(names = "--truststore", paramLabel = "FILE", scope = ScopeType.INHERIT,
            description = "connect over TLS, trusting the servers this store vouches for (.jks, .p12, .pem; "
                    + "password in LOCKCTL_TRUSTSTORE_PASSWORD)")
    private Path trustStore;

    @Option(names = "--keystore", paramLabel = "FILE", scope = ScopeType.INHERIT,
            description = "with --truststore: this client's certificate and key (password in LOCKCTL_KEYSTORE_PASSWORD)")
    private Path keyStore;

    @Option(names = "--json", scope = ScopeType.INHERIT,
            description = "print JSON for scripts: one document (list, inspect, break), one object per line (watch)")
    private boolean json;

    @Option(names = {"-h", "--help"}, usageHelp = true, scope = ScopeType.INHERIT, description = "show this help")
    private boolean help;

    private final PrintStream out;
    private final PrintStream err;
    private final InputStream in;
    private final boolean terminal;
    private final long started = System.nanoTime();

    private LockCtl(PrintStream out, PrintStream err, InputStream in, boolean terminal) {
        this.out = out;
        this.err = err;
        this.in = in;
        this.terminal = terminal;
    }

    /** Runs one lockctl command on the console and exits the JVM with its exit code. */
    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err, System.in, System.console() != null));
    }

    /**
     * Runs one lockctl command and returns its exit code. {@code terminal} says whether someone
     * can answer the confirmation of {@code break} on {@code in}. {@code watch} runs until the
     * calling thread is interrupted, then returns 0 with the interrupt flag set again.
     */
    static int run(String[] args, PrintStream out, PrintStream err, InputStream in, boolean terminal) {
        // lock-core logs through System.Logger (java.util.logging, the console by default): into SLF4J
        if (!org.slf4j.bridge.SLF4JBridgeHandler.isInstalled()) {
            org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
            org.slf4j.bridge.SLF4JBridgeHandler.install();
        }
        LockCtl lockctl = new LockCtl(out, err, in, terminal);
        CommandLine cl = new CommandLine(lockctl)
                .setOut(new PrintWriter(out, true, StandardCharsets.UTF_8))
                .setErr(new PrintWriter(err, true, StandardCharsets.UTF_8))
                .setColorScheme(CommandLine.Help.defaultColorScheme(terminal ? Ansi.AUTO : Ansi.OFF))
                .setExpandAtFiles(false) // a key segment may start with @
                .setParameterExceptionHandler((e, a) -> lockctl.usage(e.getMessage(),
                        e.getCommandLine().getCommandSpec().qualifiedName()))
                .setExecutionExceptionHandler((e, c, p) -> lockctl.fail(e));
        int code = cl.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    /** No command given. */
    @Override
    public Integer call() {
        return usage("name a command: list, inspect, break or watch", "lockctl");
    }

    @Command(name = "list", description = {"Lists the held keys at or under PREFIX (every held key without one), "
            + "coarse keys first, with their holders and waiters.", "Exit code 0, also when nothing is held."})
    int list(@Parameters(arity = "0..1", paramLabel = "PREFIX", description = "a key, e.g. billing") String prefix) {
        LockKey key = null;
        if (prefix != null) {
            key = parse(prefix, "lockctl list");
            if (key == null) {
                return USAGE;
            }
        }
        LockKey under = key;
        return withService(service -> {
            List<LockState> states = under == null ? service.list() : service.list(under);
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("prefix", under == null ? null : under.toString());
                List<Object> keys = new ArrayList<>();
                states.forEach(s -> keys.add(stateJson(s)));
                doc.put("keys", keys);
                out.println(Json.write(doc));
            } else if (states.isEmpty()) {
                out.println(under == null ? "No lock is held." : "No lock is held at or under " + under + ".");
            } else {
                states.forEach(s -> printState(out, s));
            }
            return OK;
        });
    }

    @Command(name = "inspect", description = {"Shows who holds KEY (holder id, thread, token, how long) and who "
            + "waits for it, in order.", "Exit code 0 if it is held, 1 if it is free."})
    int inspect(@Parameters(paramLabel = "KEY", description = "the key, e.g. billing/account/42") String text) {
        LockKey key = parse(text, "lockctl inspect");
        if (key == null) {
            return USAGE;
        }
        return withService(service -> {
            LockState state = service.inspect(key);
            if (json) {
                out.println(Json.write(stateJson(state)));
            } else {
                printState(out, state);
            }
            return state.isHeld() ? OK : NOT_HELD;
        });
    }

    @Command(name = "break", description = {"Takes KEY away from its holders: their leases are lost with BROKEN "
            + "and the next waiter proceeds, with a larger token. Asks y/N first unless --yes; without a "
            + "terminal to ask on, refuses unless --yes.", "Exit code 0 if it broke a holder, 1 if the key "
            + "was free or the answer was not y, 2 without --yes and no terminal."})
    int breakKey(@Option(names = {"-y", "--yes"}, description = "do not ask") boolean yes,
                 @Parameters(paramLabel = "KEY", description = "the key, e.g. billing/account/42") String text) {
        LockKey key = parse(text, "lockctl break");
        if (key == null) {
            return USAGE;
        }
        if (!yes && !terminal) {
            return usage("break needs --yes when there is no terminal to confirm on; nothing was broken",
                    "lockctl break");
        }
        return withService(service -> {
            if (!yes) {
                PrintStream talk = json ? err : out; // keep standard output one JSON document
                LockState state = service.inspect(key);
                if (!state.isHeld()) {
                    return printBroken(key, 0);
                }
                printState(talk, state);
                talk.print("Break " + key + ", taking it from " + plural(state.holders().size(), "holder")
                        + "? [y/N] ");
                talk.flush();
                String answer = readLine();
                if (answer == null || !(answer.trim().equalsIgnoreCase("y") || answer.trim().equalsIgnoreCase("yes"))) {
                    talk.println("Not broken.");
                    return NOT_HELD;
                }
            }
            return printBroken(key, service.breakLock(key));
        });
    }

    @Command(name = "watch", description = {"Prints KEY's state, then every grant, release and new waiter as it "
            + "happens, until stopped (Ctrl-C).", "With --json one object per line and event."})
    int watch(@Parameters(paramLabel = "KEY", description = "the key, e.g. billing/account/42") String text) {
        LockKey key = parse(text, "lockctl watch");
        if (key == null) {
            return USAGE;
        }
        boolean[] interrupted = {false};
        int code = withService(service -> {
            if (!json) {
                out.println("Watching " + key + " on " + connect + "; Ctrl-C to stop.");
            }
            ZkLockService.Watching watch = service.watch(key, new WatchPrinter(key, json, out));
            try {
                new CountDownLatch(1).await(); // until the thread is interrupted (or the JVM ends)
            } catch (InterruptedException e) {
                interrupted[0] = true;
            } finally {
                watch.close();
            }
            return OK;
        });
        if (interrupted[0]) {
            Thread.currentThread().interrupt();
        }
        return code;
    }

    private int printBroken(LockKey key, int broken) {
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("key", key.toString());
            doc.put("broken", broken);
            out.println(Json.write(doc));
        } else if (broken == 0) {
            out.println(key + ": free, nothing to break");
        } else {
            out.println("Broke " + key + ": " + plural(broken, "holder") + " lost it (BROKEN).");
        }
        return broken == 0 ? NOT_HELD : OK;
    }

    private String readLine() {
        try {
            return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).readLine();
        } catch (IOException e) {
            return null;
        }
    }

    /** What a command does with a connected service; returns the exit code. */
    private interface Action {
        int run(ZkLockService service);
    }

    /**
     * Connects, runs {@code action}, closes; failures become one line and an exit code. The
     * connection must be up within the timeout counted from the start of the command, so the
     * message comes on time however long the JVM took to load Curator; a connection that comes
     * up after that is closed in the background.
     */
    private int withService(Action action) {
        ZkLockServiceBuilder builder;
        try {
            builder = ZkLockService.builder().namespace(namespace).connectString(connect).connectionTimeout(timeout);
            secure(builder);
        } catch (IllegalArgumentException e) {
            return usage(e.getMessage(), "lockctl");
        }
        CompletableFuture<ZkLockService> connecting = CompletableFuture.supplyAsync(builder::build, task -> {
            Thread t = new Thread(task, "lockctl-connect");
            t.setDaemon(true);
            t.start();
        });
        ZkLockService service;
        try {
            service = connecting.get(Math.max(0, started + timeout.toNanos() - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException | InterruptedException | ExecutionException e) {
            connecting.thenAccept(ZkLockService::close);
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
                return fail(e);
            }
            if (e.getCause() instanceof IllegalArgumentException) { // a bad connect string, TLS store or JAAS section
                return usage((secured() ? "" : "bad --connect " + connect + ": ") + e.getCause().getMessage(), "lockctl");
            }
            if (e.getCause() instanceof AccessDeniedException) {
                return fail(e.getCause());
            }
            if (e.getCause() != null && !(e.getCause() instanceof LockException)) {
                return fail(e.getCause());
            }
            err.println("lockctl: cannot reach ZooKeeper at " + printable(connect, 200) + " within " + human(timeout));
            return UNREACHABLE;
        }
        try (service) {
            return action.run(service);
        } catch (AccessDeniedException e) {
            return fail(e); // not a lost connection: this identity may not do it
        } catch (LockException e) {
            err.println("lockctl: lost ZooKeeper at " + printable(connect, 200) + ": "
                    + printable(e.getMessage(), MESSAGE_LENGTH));
            return UNREACHABLE;
        } catch (RuntimeException e) {
            return fail(e);
        }
    }

    /** Puts the authentication and TLS options on the builder. */
    private void secure(ZkLockServiceBuilder builder) {
        if (digest != null) {
            int colon = digest.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("--digest takes USER:PASSWORD, got a value without ':'");
            }
            builder.digest(digest.substring(0, colon), digest.substring(colon + 1));
        }
        if (sasl != null) {
            builder.sasl(sasl);
        }
        if (keyStore != null && trustStore == null) {
            throw new IllegalArgumentException("--keystore needs --truststore");
        }
        if (trustStore != null) {
            char[] trustPassword = env("LOCKCTL_TRUSTSTORE_PASSWORD");
            if (keyStore != null) {
                builder.tls(keyStore, env("LOCKCTL_KEYSTORE_PASSWORD"), trustStore, trustPassword);
            } else {
                builder.tls(trustStore, trustPassword);
            }
        }
    }

    private boolean secured() {
        return digest != null || sasl != null || trustStore != null;
    }

    private static char[] env(String name) {
        String value = System.getenv(name);
        return value == null ? new char[0] : value.toCharArray();
    }

    private int usage(String message, String command) {
        err.println("lockctl: " + printable(message, MESSAGE_LENGTH));
        err.println("Try '" + command + " --help'.");
        return USAGE;
    }

    private int fail(Throwable e) {
        err.println("lockctl: " + printable(e.getMessage() == null ? e.toString() : e.getMessage(), MESSAGE_LENGTH));
        return FAILED;
    }

    /** The key, or null after printing LockKey's reason (which names the bad segment). */
    private LockKey parse(String text, String command) {
        try {
            return LockKey.parse(text);
        } catch (IllegalArgumentException e) {
            usage(e.getMessage(), command);
            return null;
        }
    }

    /** The longest message lockctl prints, in characters: a bad value is echoed, not a megabyte of it. */
    static final int MESSAGE_LENGTH = 300;

    /**
     * {@code s} fit for one line of a terminal: line breaks and the white space around them as one
     * space, every other control or format character (escape sequences, direction overrides) as
     * {@code ?}, cut to {@code max} characters; null as {@code ?}.
     */
    static String printable(String s, int max) {
        if (s == null) {
            return "?";
        }
        StringBuilder b = new StringBuilder(Math.min(s.length(), max) + 3);
        boolean broken = false; // a line break since the last character kept
        for (int i = 0; i < s.length(); i = s.offsetByCodePoints(i, 1)) {
            int c = s.codePointAt(i);
            if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x85 || c == 0x2028 || c == 0x2029) {
                broken = true;
                continue;
            }
            if (broken && Character.isWhitespace(c)) {
                continue;
            }
            if (b.length() >= max) {
                return b.append("...").toString();
            }
            if (broken) {
                b.setLength(b.toString().stripTrailing().length());
                b.append(b.length() > 0 ? " " : "");
                broken = false;
            }
            int type = Character.getType(c);
            if (c == '\t') {
                b.append(' ');
            } else if (type == Character.CONTROL || type == Character.FORMAT || type == Character.SURROGATE
                    || type == Character.UNASSIGNED || type == Character.PRIVATE_USE) {
                b.append('?');
            } else {
                b.appendCodePoint(c);
            }
        }
        return b.toString().strip();
    }

    /** A value a holder recorded, for text output: {@code ?} when unknown (empty). */
    private static String recorded(String s) {
        return s.isEmpty() ? "?" : printable(s, 256);
    }

    static String plural(int n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    /** A duration for people: 250ms, 1.5s, 12s, 4m05s, 2h10m. */
    static String human(Duration d) {
        long ms = d.toMillis();
        if (ms < 1000) {
            return ms + "ms";
        }
        if (ms < 60_000) {
            return ms % 1000 == 0 ? ms / 1000 + "s" : String.format(Locale.ROOT, "%.1fs", ms / 1000.0);
        }
        long s = d.toSeconds();
        return s < 3600 ? String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60)
                : String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60);
    }

    private static void printState(PrintStream p, LockState s) {
        StringBuilder head = new StringBuilder(s.key() + ": " + (s.isHeld() ? "held" : "free"));
        if (!s.waiters().isEmpty()) {
            head.append(", ").append(s.waiters().size()).append(" waiting");
        }
        s.lockDelayLeft().ifPresent(d -> head.append(", lock delay ").append(human(d)).append(" left"));
        p.println(head);
        s.holders().forEach(c -> p.println("  " + claimText(c)));
        s.waiters().forEach(c -> p.println("  " + claimText(c)));
    }

    private static String claimText(Claim c) {
        StringBuilder sb = new StringBuilder(c.granted() ? "holder " : "waiter ");
        sb.append(recorded(c.holderId())).append("  ").append(c.mode()).append("  token ").append(c.token().value())
                .append("  thread \"").append(recorded(c.thread())).append('"');
        c.heldFor().ifPresent(d -> sb.append("  held ").append(human(d)));
        c.leaseTime().ifPresent(d -> sb.append("  lease ").append(human(d)));
        c.lockDelay().ifPresent(d -> sb.append("  lock delay ").append(human(d)));
        return sb.toString();
    }

    static Map<String, Object> stateJson(LockState s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("key", s.key().toString());
        m.put("held", s.isHeld());
        List<Object> holders = new ArrayList<>();
        s.holders().forEach(c -> holders.add(claimJson(c)));
        m.put("holders", holders);
        List<Object> waiters = new ArrayList<>();
        s.waiters().forEach(c -> waiters.add(claimJson(c)));
        m.put("waiters", waiters);
        m.put("lockDelayLeftMs", s.lockDelayLeft().map(Duration::toMillis).orElse(null));
        return m;
    }

    static Map<String, Object> claimJson(Claim c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("holderId", c.holderId().isEmpty() ? null : c.holderId());
        m.put("host", c.host().isEmpty() ? null : c.host());
        m.put("pid", c.pid() < 0 ? null : c.pid());
        m.put("thread", c.thread().isEmpty() ? null : c.thread());
        m.put("mode", c.mode().name());
        m.put("token", c.token().value());
        m.put("granted", c.granted());
        m.put("leaseTimeMs", c.leaseTime().map(Duration::toMillis).orElse(null));
        m.put("heldForMs", c.heldFor().map(Duration::toMillis).orElse(null));
        m.put("lockDelayMs", c.lockDelay().map(Duration::toMillis).orElse(null));
        return m;
    }

    /**
     * Turns the successive states {@code watch} delivers into events: the first state as
     * {@code held}, {@code waiting} or {@code free}, then {@code released}, {@code granted},
     * {@code waiting}, {@code left} (stopped waiting without a grant) and {@code lock-delay};
     * also {@code disconnected} and {@code reconnected} (what changed meanwhile shows as the
     * events between the states before and after). Requests are told apart by token. Called on
     * the watch's one thread.
     */
    private static final class WatchPrinter implements ZkLockService.KeyListener {
        private final LockKey key;
        private final boolean json;
        private final PrintStream out;
        private LockState last;

        WatchPrinter(LockKey key, boolean json, PrintStream out) {
            this.key = key;
            this.json = json;
            this.out = out;
        }

        @Override
        public void connection(boolean connected) {
            event(connected ? "reconnected" : "disconnected", null, null);
            out.flush();
        }

        @Override
        public void changed(LockState now) {
            if (last == null) {
                now.holders().forEach(c -> event("held", c, null));
                now.waiters().forEach(c -> event("waiting", c, null));
                if (!now.isHeld()) {
                    event("free", null, now.lockDelayLeft().orElse(null));
                }
            } else {
                Map<Long, Claim> oldHolders = byToken(last.holders());
                Map<Long, Claim> oldWaiters = byToken(last.waiters());
                Map<Long, Claim> newHolders = byToken(now.holders());
                Map<Long, Claim> newWaiters = byToken(now.waiters());
                oldHolders.forEach((t, c) -> {
                    if (!newHolders.containsKey(t)) {
                        event("released", c, null);
                    }
                });
                newHolders.forEach((t, c) -> {
                    if (!oldHolders.containsKey(t)) {
                        event("granted", c, null);
                    }
                });
                newWaiters.forEach((t, c) -> {
                    if (!oldWaiters.containsKey(t) && !oldHolders.containsKey(t)) {
                        event("waiting", c, null);
                    }
                });
                oldWaiters.forEach((t, c) -> {
                    if (!newWaiters.containsKey(t) && !newHolders.containsKey(t)) {
                        event("left", c, null);
                    }
                });
                if (now.lockDelayLeft().isPresent() && last.lockDelayLeft().isEmpty()) {
                    event("lock-delay", null, now.lockDelayLeft().get());
                }
            }
            last = now;
            out.flush();
        }

        private static Map<Long, Claim> byToken(List<Claim> claims) {
            Map<Long, Claim> m = new LinkedHashMap<>();
            claims.forEach(c -> m.put(c.token().value(), c));
            return m;
        }

        private void event(String kind, Claim c, Duration delayLeft) {
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("time", Instant.now().toString());
                m.put("key", key.toString());
                m.put("event", kind);
                if (c != null) {
                    m.put("claim", claimJson(c));
                }
                if (delayLeft != null) {
                    m.put("lockDelayLeftMs", delayLeft.toMillis());
                }
                out.println(Json.write(m));
                return;
            }
            String what = switch (kind) {
                case "held" -> "held by " + recorded(c.holderId()) + " " + c.mode() + " (token " + c.token().value()
                        + ", thread \"" + recorded(c.thread()) + "\"" + c.heldFor().map(d -> ", held " + human(d)).orElse("")
                        + ")";
                case "granted" -> "granted " + c.mode() + " to " + recorded(c.holderId()) + " (token " + c.token().value()
                        + ", thread \"" + recorded(c.thread()) + "\")";
                case "released" -> "released by " + recorded(c.holderId()) + " (token " + c.token().value() + ")";
                case "waiting" -> "waiting: " + recorded(c.holderId()) + " " + c.mode() + " (token " + c.token().value()
                        + ", thread \"" + recorded(c.thread()) + "\")";
                case "left" -> "stopped waiting: " + recorded(c.holderId()) + " (token " + c.token().value() + ")";
                case "free" -> "free" + (delayLeft == null ? "" : ", lock delay " + human(delayLeft) + " left");
                case "disconnected" -> "connection to the ensemble lost: changes are not seen until it is back";
                case "reconnected" -> "connection back";
                default -> "lock delay " + human(delayLeft) + " left";
            };
            out.println(LocalTime.now().format(CLOCK) + " " + key + " " + what);
        }
    }

    /** Parses 5s, 1500ms, 1m (a bare number is seconds); positive. */
    static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
        private static final Pattern FORM = Pattern.compile("(\\d{1,9})(ms|s|m)?");

        @Override
        public Duration convert(String text) {
            Matcher m = FORM.matcher(text.trim());
            if (!m.matches() || Long.parseLong(m.group(1)) == 0) {
                throw new CommandLine.TypeConversionException("'" + text
                        + "' is not a positive duration like 5s, 1500ms or 1m");
            }
            long n = Long.parseLong(m.group(1));
            String unit = m.group(2) == null ? "s" : m.group(2);
            return switch (unit) {
                case "ms" -> Duration.ofMillis(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofSeconds(n);
            };
        }
    }
}
