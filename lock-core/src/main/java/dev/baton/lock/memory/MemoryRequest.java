package dev.baton.lock.memory;

import dev.baton.lock.Claim;
import dev.baton.lock.FencingToken;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.internal.AbstractLease;
import dev.baton.lock.internal.Elections;
import dev.baton.lock.internal.Granule;
import dev.baton.lock.internal.Requests;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.locks.Condition;

/**
 * One request, holding or waiting: its keys, the mode it needs at every level it touches, and
 * what inspection shows of it. Fields change only under the service's lock.
 */
final class MemoryRequest {
    private static final String HOST = Elections.hostName();
    private static final long PID = ProcessHandle.current().pid();

    final Map<LockKey, LockMode> keys;
    final Map<LockKey, Granule> levels;
    final Condition granted;
    final FencingToken token;
    /** The name of the thread that asked. */
    final String thread;
    /** Its staleAfter in nanoseconds, 0 for none. */
    final long staleAfter;
    /** Its lock delay, or null. */
    final Duration lockDelay;
    AbstractLease lease;
    boolean cancelled;
    /** The lease time: the one the grant starts with, then the last extend's; or null. */
    Duration leaseTime;
    /** Position among grants; set when granted. */
    long grantOrder;
    /** When it was granted or last extended, on the service's ticker. */
    long renewedAt;

    MemoryRequest(Map<LockKey, LockMode> keys, LockOptions options, Duration defaultLeaseTime, FencingToken token,
                  Condition granted) {
        this.granted = granted;
        this.keys = keys;
        this.levels = Granule.plan(keys);
        this.token = token;
        this.thread = Thread.currentThread().getName();
        this.staleAfter = options.staleAfter().map(Requests::saturatedNanos).orElse(0L);
        this.lockDelay = options.lockDelay().orElse(null);
        this.leaseTime = options.leaseTime().orElse(defaultLeaseTime);
    }

    /** Whether it holds its keys: granted, and the lease neither closed nor lost yet. */
    boolean holds() {
        return lease != null && lease.isValid();
    }

    /** What inspection shows of it on {@code key}, {@code now} on the service's ticker. */
    Claim claim(LockKey key, long now, String holderId) {
        boolean isHolder = lease != null;
        return new Claim(holderId, HOST, PID, thread, keys.get(key), token, isHolder, leaseTime,
                isHolder ? Duration.ofNanos(now - renewedAt) : null, lockDelay);
    }
}
