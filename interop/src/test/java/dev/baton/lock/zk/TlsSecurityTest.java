package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A ZooKeeper 3.9 server with a secure client port only (Netty, TLS, client certificates
 * required, {@code X509AuthenticationProvider}); key stores made by keytool in the test's
 * directory, each side trusting the other's self-signed certificate (a PEM file).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TlsSecurityTest {
    private static final Duration REFUSAL_TIMEOUT = Duration.ofSeconds(2);

    @TempDir
    static Path dir;
    private static SecureServers.TlsServer server;
    private static String connect;
    private static char[] password;
    private static SecureServers.Identity worker;
    private static SecureServers.Identity zk;

    @BeforeAll
    static void startServer() throws Exception {
        password = UUID.randomUUID().toString().toCharArray();
        List<SecureServers.Identity> ids = SecureServers.identities(dir, new String(password), "zk-server", "baton-worker");
        zk = ids.get(0);
        worker = ids.get(1);
        List<String> lines = Versions.lines();
        server = SecureServers.tlsOnly(lines.get(lines.size() - 1), zk, worker.certificate(), new String(password));
        connect = server.connectString();
    }

    @AfterAll
    static void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void withTheClientCertificateBatonLocksAndTheCertificateIsItsIdentity() throws Exception {
        Path keyStore = worker.keyStore();
        Path trustStore = zk.certificate();
        char[] keyPassword = password;
        char[] trustPassword = new char[0]; // a PEM file of certificates has none
        SecuredNamespace secured = SecuredNamespace.lockUsers("x509:CN=baton-worker");
        // --- README tls begins
        ZkLockService locks = ZkLockService.builder()
                .connectString(connect)                                    // the servers' secure client ports
                .tls(keyStore, keyPassword, trustStore, trustPassword)     // client certificate, trusted servers
                .securedNamespace(secured)                                 // lock user: x509:CN=baton-worker
                .build();
        // --- README tls ends
        try (locks; Lease lease = locks.acquire(LockKey.of("billing", "account", "42"), Duration.ofSeconds(10))) {
            assertTrue(lease.isValid());
            List<ACL> acl = locks.store().root().getACL().forPath(locks.store().full(ZkLockService.nodeOf(lease)));
            assertEquals(new ACL(Perms.READ | Perms.WRITE, new Id("x509", "CN=baton-worker")), acl.get(1), acl.toString());
        }
    }

    @Test
    void withoutTlsTheClientIsRefusedWithinTheConnectionTimeout() {
        long start = System.nanoTime();
        LockException refused = assertThrows(LockException.class, () -> ZkLockService.builder().connectString(connect)
                .connectionTimeout(REFUSAL_TIMEOUT).build());
        assertTrue(refused.getMessage().startsWith("Cannot reach ZooKeeper at " + connect + " within PT2S (if the "
                + "ensemble takes TLS connections only, on a secure client port, configure tls(..))"), refused.getMessage());
        assertTrue(System.nanoTime() - start < REFUSAL_TIMEOUT.plusSeconds(3).toNanos(), "within the connection timeout");
    }

    @Test
    void withoutAClientCertificateTheClientIsRefused() {
        LockException refused = assertThrows(LockException.class, () -> ZkLockService.builder().connectString(connect)
                .connectionTimeout(REFUSAL_TIMEOUT).tls(zk.certificate(), new char[0]).build());
        assertTrue(refused.getMessage().contains("within PT2S (over TLS: check"), refused.getMessage());
    }

    @Test
    void badStoresAreRefusedBeforeConnectingAndNoPasswordIsShown() throws Exception {
        char[] wrong = ("wrong-" + UUID.randomUUID()).toCharArray();
        IllegalArgumentException badPassword = assertThrows(IllegalArgumentException.class, () -> ZkLockService.builder()
                .connectString(connect).tls(worker.keyStore(), wrong, zk.certificate(), new char[0]).build());
        assertTrue(badPassword.getMessage().startsWith("Cannot use the TLS stores (key store " + worker.keyStore()),
                badPassword.getMessage());
        assertTrue(!badPassword.getMessage().contains(new String(wrong))
                && !badPassword.getMessage().contains(new String(password)), badPassword.getMessage());

        Path missing = dir.resolve("missing.p12");
        IllegalArgumentException notThere = assertThrows(IllegalArgumentException.class, () -> ZkLockService.builder()
                .tls(missing, password));
        assertEquals("The trust store " + missing + " is not a readable file", notThere.getMessage());

        Path odd = Files.copy(zk.certificate(), dir.resolve("zk-server.crt"));
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> ZkLockService.builder()
                .tls(odd, new char[0]));
        assertTrue(unknown.getMessage().startsWith("Cannot tell the type of the trust store " + odd), unknown.getMessage());
    }
}
