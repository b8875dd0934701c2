package dev.baton.lock.zk;

import dev.baton.lock.test.EmbeddedEnsemble;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The secured namespace's identities and which of Baton's znodes are a creator's own (pure: no server). */
class SecuredNamespaceRulesTest {
    private static final SecuredNamespace SECURED = SecuredNamespace.lockUsers("sasl:worker", "x509:CN=batch")
            .admins("sasl:ops");
    private final NamespaceAcls acls = new NamespaceAcls(SECURED, "/app/baton");

    @Test
    void ownNodesAreRequestsClocksAndLatchesAndEverythingElseIsShared() {
        for (String own : List.of(
                "/app/baton/locks/billing/_q/X-0123456789abcdef-",              // as Baton asks: before the sequence
                "/app/baton/locks/billing/account/42/_s/S-0123456789abcdef-0000000003",
                "/app/baton/locks/_t/0123456789abcdef",
                "/app/baton/elections/billing-run/_c_1c5d2a9e-8f0e-4b4e-9a55-3f0b1f6e7d11-latch-")) {
            assertTrue(acls.isOwn(own), own);
            assertEquals(acls.own(), acls.getAclForPath(own), own);
        }
        for (String shared : List.of("/app", "/app/baton", "/app/baton/locks", "/app/baton/locks/billing",
                "/app/baton/locks/billing/_q", "/app/baton/locks/billing/_s", "/app/baton/locks/_t",
                "/app/baton/locks/billing/_q/delay.X.0123456789abcdef",
                "/app/baton/elections", "/app/baton/elections/billing-run", "/app/baton/elections/billing/run",
                "/app/baton/schedules/billing-run/nightly",
                "/schedules/billing-run/nightly")) {                             // a namespaced transaction's path
            assertFalse(acls.isOwn(shared), shared);
            assertEquals(acls.shared(), acls.getAclForPath(shared), shared);
        }
        // a namespace whose own segments look like reserved names changes nothing
        NamespaceAcls odd = new NamespaceAcls(SECURED, "/_q/locks");
        assertFalse(odd.isOwn("/_q/locks/locks"));
        assertTrue(odd.isOwn("/_q/locks/locks/k/_q/X-0123456789abcdef-"));
    }

    @Test
    void theAclsAreTheRules() {
        int user = Perms.READ | Perms.WRITE | Perms.CREATE | Perms.DELETE;
        assertEquals(List.of(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE), new ACL(user, new Id("sasl", "worker")),
                new ACL(user, new Id("x509", "CN=batch")), new ACL(Perms.ALL, new Id("sasl", "ops"))), acls.shared());
        assertEquals(List.of(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE), new ACL(Perms.READ | Perms.WRITE, Ids.AUTH_IDS),
                new ACL(Perms.ALL, new Id("sasl", "ops"))), acls.own());
        assertEquals("world:anyone:r,sasl:worker:cdrw,x509:CN=batch:cdrw,sasl:ops:cdrwa", NamespaceAcls.describe(acls.shared()));
    }

    @Test
    void identitiesAreCheckedAndDigestSecretsNeverEchoed() {
        assertEquals("digest:ops:ES2gJ1gn6mrx/820WildLbjhZY8=", SecuredNamespace.digestId("ops", "ops-secret"));
        assertEquals(List.of("sasl:a"), SecuredNamespace.lockUsers("sasl:a", "sasl:a").lockUserIds());

        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, SecuredNamespace::lockUsers);
        assertTrue(none.getMessage().startsWith("A secured namespace needs at least one lock user"), none.getMessage());
        IllegalArgumentException world = assertThrows(IllegalArgumentException.class,
                () -> SecuredNamespace.lockUsers("world:anyone"));
        assertEquals("Invalid lock user id \"world:anyone\": the world scheme does not name one authenticated "
                + "identity; use sasl, digest or x509", world.getMessage());
        IllegalArgumentException ip = assertThrows(IllegalArgumentException.class,
                () -> SecuredNamespace.lockUsers("sasl:a").admins("ip:10.0.0.1"));
        assertTrue(ip.getMessage().startsWith("Invalid admin id \"ip:10.0.0.1\": the ip scheme"), ip.getMessage());
        IllegalArgumentException bare = assertThrows(IllegalArgumentException.class, () -> SecuredNamespace.lockUsers("ops"));
        assertTrue(bare.getMessage().startsWith("Invalid lock user id \"ops\": write it as ZooKeeper writes"),
                bare.getMessage());
        IllegalArgumentException secret = assertThrows(IllegalArgumentException.class,
                () -> SecuredNamespace.lockUsers("digest:ops:my secret"));
        assertEquals("Invalid lock user id \"digest:ops:...\": a digest identity is digest:<user>:<base64 SHA-1 of "
                + "user:password>; SecuredNamespace.digestId(user, password) makes one", secret.getMessage());
        IllegalArgumentException colon = assertThrows(IllegalArgumentException.class,
                () -> SecuredNamespace.digestId("a:b", "pw"));
        assertTrue(colon.getMessage().startsWith("Invalid digest user \"a:b\""), colon.getMessage());
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> ZkLockService.builder().digest("ops", ""));
        assertEquals("The digest password of user \"ops\" must not be empty", empty.getMessage());
    }

    @Test
    void securityOptionsBelongToAnOwnedClient() throws Exception {
        try (EmbeddedEnsemble zk = EmbeddedEnsemble.server(Duration.ofMillis(500))) {
            org.apache.curator.framework.CuratorFramework client = ZkTesting.observer(zk.connectString());
            try (client) {
                IllegalStateException digest = assertThrows(IllegalStateException.class,
                        () -> ZkLockService.builder().client(client).digest("worker", "pw").build());
                assertEquals("tls(..), digest(..), sasl(..) and clientConfig(..) apply only with connectString(..): "
                        + "configure them on your CuratorFramework", digest.getMessage());
                IllegalStateException both = assertThrows(IllegalStateException.class, () -> ZkLockService.builder()
                        .connectString(zk.connectString()).sasl("Baton")
                        .clientConfig(new org.apache.zookeeper.client.ZKClientConfig()).build());
                assertTrue(both.getMessage().startsWith("clientConfig(..) cannot be combined with tls(..) or sasl(..)"),
                        both.getMessage());
            }
        }
    }
}
