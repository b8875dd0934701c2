package dev.baton.lock.internal;

import dev.baton.lock.LockService;
import org.junit.jupiter.api.Test;

import java.lang.module.ModuleDescriptor;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * lock-core's module exports the API and the in-memory implementation to everyone, and the
 * internal package (leases' loss hooks, the conflict table) only to lock-zk: a caller on the
 * module path cannot reach {@code AbstractLease#markLost} by casting a lease.
 */
class ModuleBoundaryTest {

    @Test
    void theInternalPackageIsExportedToLockZkAlone() {
        Module module = LockService.class.getModule();
        ModuleDescriptor descriptor = module.getDescriptor();
        assertEquals("dev.baton.lock", descriptor.name(), "the tests must run on the module path");
        Map<String, Set<String>> exports = descriptor.exports().stream()
                .collect(Collectors.toMap(ModuleDescriptor.Exports::source, ModuleDescriptor.Exports::targets));
        assertEquals(Map.of("dev.baton.lock", Set.of(), "dev.baton.lock.memory", Set.of(),
                "dev.baton.lock.internal", Set.of("dev.baton.lock.zk")), exports);
    }
}
