package dev.baton.lock.memory;

import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.internal.Granule;

import java.util.LinkedHashMap;
import java.util.Map;

/** A running lock delay: the keys of a lost grant, unavailable to every request until {@code until}. */
final class MemoryDelay {
    final Map<LockKey, LockMode> keys;
    /** As if an exclusive holder of the keys were still there. */
    final Map<LockKey, Granule> levels;
    /** On System.nanoTime. */
    final long until;

    MemoryDelay(Map<LockKey, LockMode> keys, long until) {
        this.keys = keys;
        Map<LockKey, LockMode> exclusive = new LinkedHashMap<>();
        keys.keySet().forEach(k -> exclusive.put(k, LockMode.EXCLUSIVE));
        this.levels = Granule.plan(exclusive);
        this.until = until;
    }
}
