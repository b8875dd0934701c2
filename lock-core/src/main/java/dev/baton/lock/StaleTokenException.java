package dev.baton.lock;

import java.util.Objects;

/**
 * Thrown by a {@link Fence} when an operation carries a token lower than the highest the
 * resource has already accepted: the caller's lease was lost and a newer holder has used the
 * resource since. The operation was not performed.
 */
public class StaleTokenException extends LockException {
    private static final long serialVersionUID = 1L;

    private final String resource;
    private final transient FencingToken offered;
    private final transient FencingToken highest;

    /** A rejection of {@code offered} for {@code resource}, which has accepted {@code highest}. */
    public StaleTokenException(String resource, FencingToken offered, FencingToken highest) {
        super("Stale " + offered + " for resource '" + resource + "': it has already accepted " + highest);
        this.resource = Objects.requireNonNull(resource, "resource");
        this.offered = Objects.requireNonNull(offered, "offered");
        this.highest = Objects.requireNonNull(highest, "highest");
    }

    /** The resource that refused the operation. */
    public String resource() {
        return resource;
    }

    /** The token the refused operation carried. */
    public FencingToken offered() {
        return offered;
    }

    /** The highest token the resource had accepted when it refused. */
    public FencingToken highest() {
        return highest;
    }
}
