package dev.baton.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the whole demo in-process, on an embedded ZooKeeper, and reads its report. */
class DemoTest {

    @Test
    @Timeout(120)
    void theDemoPassesEveryInvariant() {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        int exit;
        try (PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8)) {
            exit = Demo.run(new String[0], out);
        }
        String report = buffer.toString(StandardCharsets.UTF_8);
        System.out.println(report); // kept in target/surefire-reports

        assertEquals(0, exit, report);
        assertTrue(report.contains("the fence REJECTS it"), report);
        assertTrue(report.contains("PASS  (3) the frozen worker's late write was rejected by the fence"), report);
        assertTrue(report.contains("PASS  (4) the aborted critical section was reported"), report);
        assertTrue(report.matches("(?s).*stale writes rejected +[1-9].*"), report);
        assertTrue(report.matches("(?s).*aborted sections +[1-9].*"), report);
        assertTrue(report.contains("PASS  (5) the billing cursor took batches from one term at a time"), report);
        assertTrue(report.contains("PASS  (6) another worker took the billing run over"), report);
        assertTrue(report.matches("(?s).*billing-run terms +([2-9]|\\d\\d).*"), report);
        assertTrue(report.contains("Result: PASS"), report);
    }

    @Test
    void helpExitsZeroAndBadArgumentsExitTwo() {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8)) {
            assertEquals(0, Demo.run(new String[] {"--help"}, out));
            assertEquals(2, Demo.run(new String[] {"--bogus"}, out));
            assertEquals(2, Demo.run(new String[] {"--connect"}, out));
        }
        assertTrue(buffer.toString(StandardCharsets.UTF_8).contains("Usage: Demo"));
    }

    @Test
    void connectStringsAreSplitIntoFirstServerAndChroot() {
        assertEquals(2181, Demo.firstServer("zk1,zk2:2182").getPort());
        assertEquals(2182, Demo.firstServer("zk1:2182,zk2:2183/apps/x").getPort());
        assertEquals("zk1", Demo.firstServer("zk1:2182,zk2:2183/apps/x").getHostString());
        assertEquals("/apps/x", Demo.chroot("zk1:2182,zk2:2183/apps/x"));
        assertEquals("", Demo.chroot("zk1:2182"));
    }
}
