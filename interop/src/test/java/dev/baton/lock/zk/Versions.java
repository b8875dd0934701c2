package dev.baton.lock.zk;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * The server releases under test, as the build pins them (parent pom, {@code zk.server.*}) and
 * passes them to surefire.
 */
final class Versions {
    private Versions() {
    }

    /** Where the build copied the releases' jars. */
    static Path serversDir() {
        return Path.of(property("baton.zk.servers"));
    }

    /** The oldest release Baton supports; its ensemble runs the whole contract suite. */
    static String oldest() {
        return property("baton.zk.oldest");
    }

    /** The newest release of each supported line, oldest line first. */
    static List<String> lines() {
        return Arrays.asList(property("baton.zk.lines").split(","));
    }

    /** A release too old for Baton. */
    static String unsupported() {
        return property("baton.zk.unsupported");
    }

    /** For {@code @MethodSource}: the oldest release, then the newest of each line. */
    static Stream<String> everyRelease() {
        return Stream.concat(Stream.of(oldest()), lines().stream());
    }

    private static String property(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("System property " + name + " is not set: run through Maven (interop/pom.xml)");
        }
        return value;
    }
}
