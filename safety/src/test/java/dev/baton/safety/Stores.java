package dev.baton.safety;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The protected resource and the ground truth of a run: a fenced store (one register per leaf
 * scope, see {@link Scopes}) and, beside it, a naive store that accepts everything. Every
 * operation is recorded in the history while the register's lock is held, so the history's order
 * per register is the accept order. Thread-safe.
 *
 * <p>The fence of a register is {@link dev.baton.lock.Fence}'s rule with a shared mode (which
 * {@code Fence} does not have). An operation carries its
 * token and the mode its lease holds the register in. An exclusive one is accepted only if its
 * token is at least the highest of every accepted operation; a shared one (a holder that only
 * reads) only if its token is at least the highest of every accepted <em>exclusive</em>
 * operation, because two shared leases do not conflict and their tokens need not be ordered.
 * Begins and reads register their token too, in both modes: once a later shared holder has read,
 * an earlier exclusive holder may no longer write, and once a later exclusive holder has begun, an
 * earlier shared holder may no longer read or commit.
 */
final class Stores {
    /** Result of a fenced operation: accepted with a value, or rejected with the highest token. */
    record Result(boolean accepted, long value) {
    }

    private final History history;
    /** Per register: its value, the highest accepted token of any operation, and of exclusive ones. */
    private final Map<String, long[]> fenced = new ConcurrentHashMap<>();
    private final Map<String, long[]> naive = new ConcurrentHashMap<>();

    Stores(History history) {
        this.history = history;
    }

    /**
     * A fenced operation: BEGIN, READ, WRITE (value = the new value; never shared) or COMMIT with
     * {@code token}, in {@code shared} mode or exclusive. Rejected ones change nothing and return
     * the highest conflicting token as the value. A shared operation is recorded with detail
     * {@code mode=S}.
     */
    Result fenced(String client, String op, String key, long token, long value, boolean shared) {
        if (shared && op.equals("WRITE")) {
            throw new IllegalArgumentException(client + " writes " + key + " in shared mode");
        }
        long[] register = fenced.computeIfAbsent(key, k -> new long[] {0, Long.MIN_VALUE, Long.MIN_VALUE});
        String mode = shared ? "mode=S" : null;
        synchronized (register) {
            long highest = shared ? register[2] : register[1]; // what this operation conflicts with
            if (token < highest) {
                history.record(client, Event.Type.OP, key, token, 0, op, false, 0,
                        (mode == null ? "" : mode + " ") + "highest=" + highest);
                return new Result(false, highest);
            }
            register[1] = Math.max(register[1], token);
            if (!shared) {
                register[2] = token;
            }
            if (op.equals("WRITE")) {
                register[0] = value;
            }
            long result = register[0];
            history.record(client, Event.Type.OP, key, token, 0, op, true,
                    op.equals("READ") || op.equals("WRITE") ? result : 0, mode);
            return new Result(true, result);
        }
    }

    /** A naive operation: READ returns the value, WRITE sets it; always accepted. */
    long naive(String client, String op, String key, long value) {
        long[] register = naive.computeIfAbsent(key, k -> new long[1]);
        synchronized (register) {
            if (op.equals("WRITE")) {
                register[0] = value;
            }
            history.record(client, Event.Type.NOP, key, 0, 0, op, true, register[0], null);
            return register[0];
        }
    }

    /** The fenced store's value of {@code key} (0 if never written). */
    long fencedValue(String key) {
        long[] register = fenced.get(key);
        if (register == null) {
            return 0;
        }
        synchronized (register) {
            return register[0];
        }
    }
}
