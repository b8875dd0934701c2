package dev.baton.lock;

/** JUnit tags on contract scenarios, for suites that run a subset of them. */
public final class ContractTags {
    private ContractTags() {
    }

    /**
     * Scenarios a server-version matrix runs on every server line: together they use every kind
     * of request the ZooKeeper implementation sends (enqueue, waits and hand-offs across levels,
     * lease time, breaking, lock delay, inspection, elections and their terms).
     */
    public static final String EVERY_LINE = "every-line";
}
