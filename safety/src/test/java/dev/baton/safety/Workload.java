package dev.baton.safety;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * What the clients of a run ask for, drawn request by request from a seeded generator.
 *
 * <p>{@link Kind#FLAT}: one exclusive key of {@code k0 ... k(n-1)} per request, waiting two
 * session timeouts (the suite's original workload, for an engine without the hierarchy).
 *
 * <p>{@link Kind#MIXED}: keys of {@link #TREE} at depths 1 to 3, each {@link LockMode#SHARED} or
 * {@link LockMode#EXCLUSIVE}; one request in four is an {@code acquireAll} over two or three keys
 * (possibly nested, in random order, each with its own mode); waits are sometimes zero (try once),
 * sometimes short, mostly two session timeouts, so that some requests time out.
 */
final class Workload {
    /** Which workload. */
    enum Kind { FLAT, MIXED }

    /**
     * The keys of the mixed workload. Its leaves ({@code acct/a/1}, {@code acct/a/2},
     * {@code acct/b/1}, {@code k0}) are the fenced store's registers; see {@link Scopes}.
     */
    static final List<String> TREE = List.of("acct", "k0", "acct/a", "acct/b", "acct/a/1", "acct/a/2", "acct/b/1");

    /**
     * One request: its keys in the order asked (an {@code acquireAll} when {@code all}), and how
     * long it may wait.
     */
    record Request(Map<LockKey, LockMode> keys, boolean all, Duration maxWait) {
        /** The spec of what is asked, in the order asked (see {@link Scopes}). */
        String spec() {
            return spec(keys);
        }

        static String spec(Map<LockKey, LockMode> keys) {
            List<Scopes.Part> parts = new ArrayList<>();
            keys.forEach((k, m) -> parts.add(new Scopes.Part(k.toString(), m == LockMode.SHARED)));
            return Scopes.format(parts);
        }
    }

    private final Kind kind;
    private final int flatKeys;
    private final Duration session;

    Workload(Kind kind, int flatKeys, Duration session) {
        this.kind = kind;
        this.flatKeys = flatKeys;
        this.session = session;
    }

    Kind kind() {
        return kind;
    }

    /** The next request. */
    Request next(Random random) {
        if (kind == Kind.FLAT) {
            return new Request(Map.of(LockKey.of("k" + random.nextInt(flatKeys)), LockMode.EXCLUSIVE), false,
                    session.multipliedBy(2));
        }
        Duration wait;
        int w = random.nextInt(100);
        if (w < 15) {
            wait = Duration.ZERO;
        } else if (w < 40) {
            wait = Duration.ofMillis(20 + random.nextInt((int) Math.max(1, session.toMillis() / 4)));
        } else {
            wait = session.multipliedBy(2);
        }
        Map<LockKey, LockMode> keys = new LinkedHashMap<>();
        if (random.nextInt(4) == 0) {
            List<String> pool = new ArrayList<>(TREE);
            Collections.shuffle(pool, random);
            int n = 2 + random.nextInt(2);
            for (String k : pool.subList(0, n)) {
                keys.put(LockKey.parse(k), mode(random));
            }
            return new Request(keys, true, wait);
        }
        keys.put(LockKey.parse(key(random)), mode(random));
        return new Request(keys, false, wait);
    }

    /** A key of the tree: depth 1 one time in five, depth 2 one in four, else a depth-3 leaf. */
    private static String key(Random random) {
        int d = random.nextInt(20);
        List<String> at = TREE.stream().filter(k -> Scopes.depth(k) == (d < 4 ? 1 : d < 9 ? 2 : 3)).toList();
        return at.get(random.nextInt(at.size()));
    }

    /** Shared two times in five. */
    private static LockMode mode(Random random) {
        return random.nextInt(5) < 2 ? LockMode.SHARED : LockMode.EXCLUSIVE;
    }
}
