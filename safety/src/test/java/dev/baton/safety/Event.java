package dev.baton.safety;

/**
 * One entry of a safety run's history, recorded in the test process in arrival order.
 *
 * <p>Fields not meaningful for a type are {@code null} (strings) or 0 (numbers).
 *
 * @param seq      position in the history, from 0, strictly increasing
 * @param nanos    when it was recorded, in nanoseconds since the run started (test process clock)
 * @param client   who it concerns: a client id ({@code c1}, {@code c2}, ...), or {@code injector}
 * @param type     what happened
 * @param key      for REQUEST, TIMEOUT, FAILED, GRANT, LOST, RELEASE: the lease spec ({@code k0},
 *                 {@code acct/a=S,acct/b/1}, see {@link Scopes}) or {@link #LEADER}; for OP, NOP: the
 *                 store register (a leaf, or {@link #LEADER})
 * @param token    the fencing token, for GRANT, LOST, RELEASE, OP; the fault id for FAULT_START/END
 * @param session  the ZooKeeper session id, for CLIENT, SESSION, CONN, GRANT (0 in an in-memory run)
 * @param op       BEGIN, READ, WRITE, COMMIT for OP; READ, WRITE for NOP; the fault kind for FAULT_*;
 *                 SUSPENDED, RECONNECTED, LOST for CONN; the loss reason for LOST; the exception for FAILED
 * @param accepted for OP: whether the fenced store accepted it
 * @param value    for OP/NOP READ: the value read; WRITE: the value written; for ZNODES: the count;
 *                 for REQUEST: the wait asked for, in milliseconds
 * @param detail   free text: CLIENT "policy=LOSE_AT_LOST style=stubborn jvm=child"; FAULT_* "target=c2 key=k1";
 *                 OP "mode=S" for an operation in shared mode; REQUEST, TIMEOUT, FAILED "req=N" (the
 *                 client's request number); GRANT "req=N" and, if the lease's keys differ from what
 *                 was asked, "granted=spec"
 */
public record Event(long seq, long nanos, String client, Type type, String key, long token, long session,
                    String op, boolean accepted, long value, String detail) {

    /**
     * The key of the leader scope: every client joins one election, and its singleton job works on
     * this register only while it leads. A GRANT on it is the start of a term (its token is the
     * term's), LOST and RELEASE its end; one term runs many sections with its one token.
     */
    public static final String LEADER = "leader";

    /** What an event records. */
    public enum Type {
        /** A client started: detail says its loss policy, critical-section style and where it runs. */
        CLIENT,
        /** A client's ZooKeeper session is (now) {@code session}: at start and after each new session. */
        SESSION,
        /** A client's connection state changed ({@code op}: SUSPENDED, RECONNECTED, LOST). */
        CONN,
        /** A client asks for the lease {@code key}, waiting at most {@code value} ms. */
        REQUEST,
        /** A request's wait ran out (the client's LockTimeoutException). */
        TIMEOUT,
        /** A request ended without a grant otherwise ({@code op}: the exception). */
        FAILED,
        /** A lease on {@code key} with {@code token} was granted to {@code client}. */
        GRANT,
        /** The client was told (onLost) that the lease {@code key}/{@code token} was lost; {@code op} is the reason. */
        LOST,
        /** The client released the lease {@code key}/{@code token}. */
        RELEASE,
        /** An operation on the fenced store, accepted or rejected. */
        OP,
        /** An operation on the naive store (which accepts everything). */
        NOP,
        /** The injector started fault number {@code token} of kind {@code op}. */
        FAULT_START,
        /** The injector healed fault number {@code token} of kind {@code op}. */
        FAULT_END,
        /** The client closed its lock service and stopped. */
        CLOSED,
        /** After every client closed: {@code value} znodes were left under the namespace. */
        ZNODES
    }

    /** One readable line, for the history log. */
    public String line() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("%6d %10.3f ms %-8s %-11s", seq, nanos / 1e6, client, type));
        if (key != null) {
            b.append(" key=").append(key);
        }
        if (op != null) {
            b.append(' ').append(op);
        }
        if (type == Type.OP) {
            b.append(accepted ? " ACCEPTED" : " REJECTED");
        }
        if (token != 0) {
            b.append(type == Type.FAULT_START || type == Type.FAULT_END ? " fault#" : " token=").append(token);
            if (type != Type.FAULT_START && type != Type.FAULT_END) {
                b.append(" (epoch ").append(token >>> 32).append(')');
            }
        }
        if (session != 0) {
            b.append(" session=0x").append(Long.toHexString(session));
        }
        if (type == Type.REQUEST) {
            b.append(" wait=").append(value).append("ms");
        }
        if (type == Type.OP || type == Type.NOP || type == Type.ZNODES) {
            b.append(" value=").append(value);
        }
        if (detail != null) {
            b.append(' ').append(detail);
        }
        return b.toString();
    }
}
