package dev.baton.lock.test;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's test kit examples are the code of {@link AccountLockTest} and {@link BillingRunTest}, verbatim. */
class ReadmeTest {
    private static final Path README = Path.of("..", "README.md");
    private static final Path TESTS = Path.of("src", "test", "java", "dev", "baton", "lock", "test");

    @Test
    void theReadmeShowsTheTestKitExampleAsItRuns() throws IOException {
        assertInReadme("AccountLockTest.java", "test kit");
    }

    @Test
    void theReadmeShowsTheInMemoryExampleAsItRuns() throws IOException {
        assertInReadme("BillingRunTest.java", "in-memory");
    }

    private static void assertInReadme(String file, String name) throws IOException {
        String source = Files.readString(TESTS.resolve(file), StandardCharsets.UTF_8);
        String begins = "// --- README " + name + " begins\n";
        String ends = "// --- README " + name + " ends";
        int from = source.indexOf(begins);
        int to = source.indexOf(ends);
        assertTrue(from >= 0 && to > from, "markers in " + file);
        String fragment = source.substring(from + begins.length(), to);
        String readme = Files.readString(README, StandardCharsets.UTF_8);
        assertTrue(readme.contains("```java\n" + fragment + "```\n"), "README.md does not show " + file + " as it is:\n"
                + fragment);
    }
}
