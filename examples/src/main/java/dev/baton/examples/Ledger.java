package dev.baton.examples;

import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The resource the locks protect: an in-process billing ledger that keeps a balance per account.
 * Every read and every write carries the caller's fencing token and goes through a
 * {@link Fence}: a read registers the token, and a write runs inside {@link Fence#guard}, so an
 * operation whose token is older than one the account has already accepted is refused with a
 * {@link dev.baton.lock.StaleTokenException} and changes nothing.
 *
 * <p>Each account also records what it accepted (the tokens, in accept order, and the number of
 * writes), so the demo can check its invariants afterwards. Thread-safe.
 */
final class Ledger {
    private final Fence fence = new Fence();
    private final ConcurrentMap<String, Account> accounts = new ConcurrentHashMap<>();

    /** The balance of {@code account}, read with {@code token}. */
    long read(String account, FencingToken token) {
        return fence.guard(account, token, () -> accountOf(account).read(token));
    }

    /** Sets the balance of {@code account}, with {@code token}. */
    void write(String account, FencingToken token, long balance) {
        fence.guard(account, token, () -> {
            accountOf(account).write(token, balance);
            return null;
        });
    }

    /** What every account holds and has accepted, by account id. */
    Map<String, Snapshot> snapshot() {
        Map<String, Snapshot> all = new TreeMap<>();
        accounts.forEach((id, account) -> all.put(id, account.snapshot()));
        return all;
    }

    private Account accountOf(String id) {
        return accounts.computeIfAbsent(id, i -> new Account());
    }

    /** One account's state: its balance, the writes it accepted, and every accepted token in order. */
    record Snapshot(long balance, int writes, List<FencingToken> accepted) {
        /** Whether no accepted token is lower than one accepted before it. */
        boolean tokensNeverDecreased() {
            for (int i = 1; i < accepted.size(); i++) {
                if (accepted.get(i).compareTo(accepted.get(i - 1)) < 0) {
                    return false;
                }
            }
            return true;
        }
    }

    private static final class Account {
        private long balance;
        private int writes;
        private final List<FencingToken> accepted = new ArrayList<>();

        synchronized long read(FencingToken token) {
            accepted.add(token);
            return balance;
        }

        synchronized void write(FencingToken token, long newBalance) {
            accepted.add(token);
            balance = newBalance;
            writes++;
        }

        synchronized Snapshot snapshot() {
            return new Snapshot(balance, writes, List.copyOf(accepted));
        }
    }
}
