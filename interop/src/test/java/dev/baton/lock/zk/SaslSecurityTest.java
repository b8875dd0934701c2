package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockState;
import dev.baton.lock.LossReason;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A ZooKeeper 3.9 server that requires SASL (DIGEST-MD5) of every client
 * ({@code zookeeper.enforce.auth.enabled}, schemes {@code sasl}), with a secured namespace whose
 * lock user is {@code sasl:worker} and admin {@code sasl:ops}; {@code sasl:other} is neither.
 * The clients' logins are sections of one JAAS file, each chosen by {@code sasl(section)}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SaslSecurityTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final SecuredNamespace SECURED = SecuredNamespace.lockUsers("sasl:worker").admins("sasl:ops");

    @TempDir
    static Path dir;
    private static ServerProcess server;
    private static String connect;

    private final List<AutoCloseable> closeAtEnd = new ArrayList<>();

    @BeforeAll
    static void startServer() throws Exception {
        String worker = UUID.randomUUID().toString();
        String ops = UUID.randomUUID().toString();
        String other = UUID.randomUUID().toString();
        server = SecureServers.saslRequired(newest(), dir, Map.of("worker", worker, "ops", ops, "other", other));
        connect = server.connectString();
        Path jaas = Files.writeString(dir.resolve("client-jaas.conf"), section("BatonSaslWorker", "worker", worker)
                + section("BatonSaslOps", "ops", ops) + section("BatonSaslOther", "other", other)
                + section("BatonSaslWrong", "worker", "not-" + worker));
        SecureServers.addJaasSections(jaas, "BatonSaslWorker", "BatonSaslOps", "BatonSaslOther", "BatonSaslWrong");
    }

    private static String section(String name, String user, String password) {
        return name + " {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"" + user
                + "\"\n  password=\"" + password + "\";\n};\n";
    }

    @AfterAll
    static void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeAtEnd.size() - 1; i >= 0; i--) {
            closeAtEnd.get(i).close();
        }
    }

    private static String newest() {
        List<String> lines = Versions.lines();
        return lines.get(lines.size() - 1);
    }

    private ZkLockService as(String section) {
        ZkLockService s = ZkLockService.builder().connectString(connect).connectionTimeout(WAIT)
                .sasl(section).securedNamespace(SECURED).build();
        closeAtEnd.add(s);
        return s;
    }

    @Test
    void anotherIdentityInspectsButIsRefusedAndTheAdminBreaks() throws Exception {
        ZkLockService worker = as("BatonSaslWorker");
        ZkLockService nextWorker = as("BatonSaslWorker");
        ZkLockService other = as("BatonSaslOther");
        ZkLockService ops = as("BatonSaslOps");
        LockKey key = LockKey.of("billing", "account", "42");
        Lease held = worker.acquire(key, WAIT);
        CompletableFuture<LockLostException> lost = new CompletableFuture<>();
        held.onLost(lost::complete);
        CompletableFuture<Lease> next = CompletableFuture.supplyAsync(() -> {
            try {
                return nextWorker.acquire(key, Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(WAIT).until(() -> other.inspect(key).waiters().size() == 1);

        LockState seen = other.inspect(key);
        assertEquals(held.token(), seen.holders().get(0).token());
        assertEquals(List.of(key), other.list().stream().map(LockState::key).toList());
        AccessDeniedException breaking = assertThrows(AccessDeniedException.class, () -> other.breakLock(key));
        assertTrue(breaking.getMessage().startsWith("Could not break billing/account/42: ZooKeeper refused it (NoAuth "
                + "for /baton/locks/billing"), breaking.getMessage());
        AccessDeniedException asking = assertThrows(AccessDeniedException.class, () -> other.requestRelease(key));
        assertTrue(asking.getMessage().contains("a release request writes to each holder's node"), asking.getMessage());
        String node = worker.store().full(ZkLockService.nodeOf(held));
        assertThrows(KeeperException.NoAuthException.class, () -> other.store().root().delete().forPath(node));
        assertTrue(held.isValid());

        assertEquals(1, ops.breakLock(key));
        assertEquals(LossReason.BROKEN, lost.get(WAIT.toSeconds(), TimeUnit.SECONDS).reason());
        Lease second = next.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        closeAtEnd.add(second);
        assertTrue(second.token().compareTo(held.token()) > 0, second.token() + " after " + held.token());
    }

    @Test
    void anUnauthenticatedClientIsRefusedAtBuild() {
        long start = System.nanoTime();
        AccessDeniedException refused = assertThrows(AccessDeniedException.class, () -> ZkLockService.builder()
                .connectString(connect).connectionTimeout(WAIT).build());
        assertTrue(refused.getMessage().startsWith("Could not connect to ZooKeeper at " + connect + ": the ensemble "
                + "requires clients to authenticate"), refused.getMessage());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "refused at once, not after a timeout");
    }

    @Test
    void aWrongPasswordIsRefusedAtBuild() {
        long start = System.nanoTime();
        AccessDeniedException refused = assertThrows(AccessDeniedException.class, () -> as("BatonSaslWrong"));
        assertTrue(refused.getMessage().startsWith("Could not connect to ZooKeeper at " + connect + ": ZooKeeper "
                + "rejected this client's credentials (AuthFailed)"), refused.getMessage());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "refused at once, not after a timeout");
    }

    @Test
    void aMissingSectionIsRefusedBeforeConnecting() {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> as("BatonSaslNoSuch"));
        assertTrue(missing.getMessage().startsWith("The JAAS configuration has no section \"BatonSaslNoSuch\""),
                missing.getMessage());
    }
}
