package dev.baton.examples.lockctl;

import dev.baton.lock.Tries;
import dev.baton.lock.test.BatonZooKeeper;
import dev.baton.lock.test.EmbeddedEnsemble;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * lockctl on any argument array, against a real server or an address where nothing listens:
 * the exit code is one of the documented 0-4, the output a few short lines with nothing a
 * terminal would act on (the usage when help is asked for), never a stack trace.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LockCtlArgumentsPropertiesTest {
    private static final Pattern STACK_FRAME = Pattern.compile("^\\s+at [\\w.$/]+\\(.*\\)\\s*$");

    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server();
    /** An address where nothing listens. */
    private static final String NOBODY = "127.0.0.1:" + EmbeddedEnsemble.freePorts(1)[0];

    private record Result(int code, String out, String err) {
    }

    @Test
    void anyArgumentsExitWithADocumentedCodeInAFewLinesNeverAStackTrace() {
        java.util.Map<Integer, Integer> codes = new java.util.TreeMap<>();
        Tries.check(100, LockCtlArgumentsPropertiesTest::anyArguments, args -> {
            Result r = run(args);
            codes.merge(r.code(), 1, Integer::sum);
            assertTrue(r.code() >= 0 && r.code() <= 4, "exit code " + r.code());
            String all = r.out() + r.err();
            assertFalse(all.lines().anyMatch(l -> STACK_FRAME.matcher(l).matches() || l.startsWith("Caused by:")
                    || l.startsWith("Exception in thread")), all);
            if (r.out().contains("Usage: lockctl")) {
                assertEquals(0, r.code(), "help");
                assertEquals("", r.err());
                return;
            }
            assertTrue(all.lines().count() <= 3, () -> "a few lines:\n" + all);
            assertTrue(all.lines().allMatch(l -> l.length() <= 600), "short lines");
            assertTrue(all.codePoints().noneMatch(c -> c != '\n' && c != '\r' && (Character.getType(c) == Character.CONTROL
                    || Character.getType(c) == Character.FORMAT)), () -> "nothing a terminal acts on: " + Tries.shown(all));
            if (r.code() >= 2) {
                assertTrue(r.err().startsWith("lockctl: "), r.err());
                assertTrue(r.err().lines().count() <= 2, r.err());
            }
        });
        System.out.println("lockctl exit codes over the tries: " + codes); // how much of lockctl the inputs reached
    }

    /** lockctl on its own thread; a watch is stopped (interrupted) once it has printed its first state. */
    private static Result run(String[] args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CompletableFuture<Integer> code = new CompletableFuture<>();
        Thread t = new Thread(() -> code.complete(LockCtl.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), new ByteArrayInputStream(new byte[0]), false)),
                "lockctl-property");
        t.setDaemon(true);
        t.start();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        try {
            while (!code.isDone()) {
                String printed = out.toString(StandardCharsets.UTF_8);
                boolean watching = printed.startsWith("Watching ") ? printed.lines().count() >= 2 : printed.contains("\"event\"");
                if (watching) {
                    t.interrupt();
                }
                assertTrue(System.nanoTime() - until < 0, () -> "lockctl " + Tries.shown(args) + " did not return: " + out);
                try {
                    code.get(20, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException notYet) {
                    // look at its output again
                }
            }
            t.join(TimeUnit.SECONDS.toMillis(5));
            return new Result(code.get(), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /**
     * An argument array: a connection to the test server (most tries) or to an address where
     * nothing listens, then anything from lockctl's vocabulary, values near its rules, and junk.
     */
    private static String[] anyArguments(Random r) {
        List<String> args = new ArrayList<>();
        if (r.nextInt(5) > 0) {
            args.addAll(List.of("--connect", zk.connectString(), "--namespace", "lockctl-properties", "--timeout", "3s"));
        } else {
            args.addAll(List.of("--connect", NOBODY, "--timeout", "200ms"));
        }
        if (r.nextBoolean()) { // a command as documented, in any order with its options
            List<String> command = new ArrayList<>();
            String name = Tries.oneOf(r, "list", "inspect", "break", "watch");
            command.add(name);
            if (r.nextInt(10) > 0 && (!name.equals("list") || r.nextBoolean())) {
                command.add(r.nextInt(8) > 0 ? Tries.oneOf(r, "a", "billing/account/42", "@ops", "jobs/nightly")
                        : Tries.oneOf(r, "a//b", "_x", "x".repeat(129)));
            }
            if (r.nextBoolean()) {
                command.add("--json");
            }
            if (name.equals("break") ? r.nextInt(4) > 0 : r.nextInt(10) == 0) {
                command.add("--yes");
            }
            java.util.Collections.shuffle(command.subList(1, command.size()), r);
            args.addAll(command);
            return args.toArray(new String[0]);
        }
        for (int n = Tries.length(r, 6); n > 0; n--) {
            args.add(switch (r.nextInt(7)) {
                case 0, 1 -> Tries.oneOf(r, "list", "inspect", "break", "watch", "frobnicate", "LIST", "");
                case 2 -> Tries.oneOf(r, "--json", "--yes", "-y", "--help", "-h", "--bogus", "--connect", "--namespace",
                        "--timeout", "--", "-", "-yh", "--json=true", "--timeout=1");
                case 3 -> Tries.oneOf(r, "a", "billing/account/42", "@ops", "a//b", "_x", "bad name", ".x", "/",
                        "x".repeat(129), "a/".repeat(17) + "a", "\u00e9", "a\u001b[2Jb");
                case 4 -> Tries.oneOf(r, "1", "5ms", "0", "soon", "200ms", "99999999999", "-1s", "2");
                case 5 -> Tries.oneOf(r, NOBODY, "bad::::", "localhost:notaport", "", "a/b", "zookeeper", "/x",
                        zk.connectString() + "/chroot");
                default -> r.nextInt(5) == 0 ? "y".repeat(50_000) : Tries.anyText(r, 20);
            });
        }
        return args.toArray(new String[0]);
    }
}
