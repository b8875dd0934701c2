package dev.baton.safety;

import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;
import dev.baton.lock.StaleTokenException;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The protected resource and the ground truth of a run: a fenced store (one register per key,
 * behind a {@link Fence}: an operation is accepted only if its token is at least the highest seen
 * for that key, and reads and begins register their token too) and, beside it, a naive store that
 * accepts everything. Every operation is recorded in the history while the key's lock is held, so
 * the history's order per key is the accept order. Thread-safe.
 */
final class Stores {
    /** Result of a fenced operation: accepted with a value, or rejected with the highest token. */
    record Result(boolean accepted, long value) {
    }

    private final History history;
    private final Fence fence = new Fence();
    private final Map<String, long[]> fenced = new ConcurrentHashMap<>();
    private final Map<String, long[]> naive = new ConcurrentHashMap<>();

    Stores(History history) {
        this.history = history;
    }

    /**
     * A fenced operation: BEGIN, READ, WRITE (value = the new value) or COMMIT with {@code token}.
     * Rejected ones change nothing and return the highest accepted token as the value.
     */
    Result fenced(String client, String op, String key, long token, long value) {
        long[] register = fenced.computeIfAbsent(key, k -> new long[1]);
        synchronized (register) {
            try {
                long result = fence.guard(key, FencingToken.of(token), () -> {
                    if (op.equals("WRITE")) {
                        register[0] = value;
                    }
                    return register[0];
                });
                history.record(client, Event.Type.OP, key, token, 0, op, true,
                        op.equals("READ") || op.equals("WRITE") ? result : 0, null);
                return new Result(true, result);
            } catch (StaleTokenException e) {
                history.record(client, Event.Type.OP, key, token, 0, op, false, 0,
                        "highest=" + e.highest().value());
                return new Result(false, e.highest().value());
            }
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
