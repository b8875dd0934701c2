package dev.baton.lock.zk;

import dev.baton.lock.LeaderElection;
import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockState;
import dev.baton.lock.LossReason;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The secured namespace with digest identities ({@code addauth digest}) on the newest release's
 * shared plain server: what a lock user, an identity that is neither lock user nor admin, an
 * unauthenticated client and an admin can do, as ZooKeeper enforces it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SecuredNamespaceTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String WORKER = "worker-secret";
    private static final String WORKER2 = "worker2-secret";
    private static final String OPS = "ops-secret";
    private static final String OTHER = "other-secret";
    private static final SecuredNamespace SECURED = SecuredNamespace
            .lockUsers(SecuredNamespace.digestId("worker", WORKER), SecuredNamespace.digestId("worker2", WORKER2))
            .admins(SecuredNamespace.digestId("ops", OPS));

    private final String connect = Servers.single(newest()).connectString();
    private final String namespace = "secured-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
    private final List<AutoCloseable> closeAtEnd = new ArrayList<>();

    private static String newest() {
        List<String> lines = Versions.lines();
        return lines.get(lines.size() - 1);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeAtEnd.size() - 1; i >= 0; i--) {
            closeAtEnd.get(i).close();
        }
    }

    private ZkLockService secured(String user, String password) {
        return keep(ZkLockService.builder().connectString(connect).namespace(namespace).connectionTimeout(WAIT)
                .digest(user, password).securedNamespace(SECURED).build());
    }

    private <T extends AutoCloseable> T keep(T closeable) {
        closeAtEnd.add(closeable);
        return closeable;
    }

    private static String full(ZkLockService service, String relative) {
        return service.store().full(relative);
    }

    @Test
    void anotherIdentityReadsButCannotBreakAskOrDeleteAndItsRefusedAcquireLeavesNothing() throws Exception {
        ZkLockService worker = secured("worker", WORKER);
        ZkLockService other = secured("other", OTHER);
        LockKey key = LockKey.of("billing", "account", "42");
        Lease lease = worker.acquire(key, WAIT);
        CompletableFuture<LockLostException> lost = new CompletableFuture<>();
        lease.onLost(lost::complete);

        LockState seen = other.inspect(key);
        assertTrue(seen.isHeld());
        assertEquals(lease.token(), seen.holders().get(0).token());
        assertEquals(List.of(key), other.list().stream().map(LockState::key).toList());

        AccessDeniedException breaking = assertThrows(AccessDeniedException.class, () -> other.breakLock(key));
        assertTrue(breaking.getMessage().startsWith("Could not break billing/account/42: ZooKeeper refused it (NoAuth "
                + "for /" + namespace + "/locks/billing/"), breaking.getMessage());
        assertTrue(breaking.getMessage().contains("breaking needs DELETE in the key's queues"), breaking.getMessage());
        assertTrue(breaking.getMessage().contains("identity is not among them"), breaking.getMessage());

        AccessDeniedException asking = assertThrows(AccessDeniedException.class, () -> other.requestRelease(key));
        assertTrue(asking.getMessage().startsWith("Could not request the release of billing/account/42: ZooKeeper "
                + "refused it (NoAuth for /" + namespace + "/locks/billing/account/42/_s/X-"), asking.getMessage());

        String node = full(worker, ZkLockService.nodeOf(lease));
        assertThrows(KeeperException.NoAuthException.class, () -> other.store().root().delete().forPath(node));
        assertThrows(KeeperException.NoAuthException.class, () -> other.store().root().setData().forPath(node, new byte[1]));

        // refused at once on a key whose queues exist, and on a fresh one, and nothing is left
        AccessDeniedException taking = assertThrows(AccessDeniedException.class, () -> other.tryAcquire(key));
        assertTrue(taking.getMessage().startsWith("Could not acquire billing/account/42: ZooKeeper refused it (NoAuth "
                + "for /" + namespace + "/locks/billing/"), taking.getMessage());
        LockKey fresh = LockKey.of("payroll", "run", "1"); // no queue of it exists: the multi answers NoNode
        AccessDeniedException fresher = assertThrows(AccessDeniedException.class, () -> other.acquire(fresh, WAIT));
        assertTrue(fresher.getMessage().contains("it needs CREATE and DELETE in the queues of the key and its ancestors"),
                fresher.getMessage());
        CuratorFramework observer = Clients.observer(connect);
        assertNull(observer.checkExists().forPath("/" + namespace + "/locks/payroll"));
        assertEquals(1, observer.getChildren().forPath("/" + namespace + "/locks/billing/account/42/_q").size());

        AccessDeniedException joining = assertThrows(AccessDeniedException.class, () -> other.election("billing-run"));
        assertTrue(joining.getMessage().startsWith("Could not join election billing-run: ZooKeeper refused it (NoAuth"),
                joining.getMessage());

        assertTrue(lease.isValid(), "nothing the other identity tried took the lease away");
        assertFalse(lost.isDone());
        lease.close();
    }

    @Test
    void theAdminBreaksAndAsksAndTheNextLockUserGetsALargerToken() throws Exception {
        ZkLockService worker = secured("worker", WORKER);
        ZkLockService worker2 = secured("worker2", WORKER2);
        ZkLockService ops = secured("ops", OPS);
        LockKey key = LockKey.of("billing", "account", "7");
        Lease held = worker.acquire(key, WAIT);
        CompletableFuture<LockLostException> lost = new CompletableFuture<>();
        held.onLost(lost::complete);
        CompletableFuture<Void> asked = new CompletableFuture<>();
        held.onReleaseRequested(() -> asked.complete(null));
        CompletableFuture<Lease> next = CompletableFuture.supplyAsync(() -> {
            try {
                return worker2.acquire(key, Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(WAIT).until(() -> ops.inspect(key).waiters().size() == 1);

        AccessDeniedException notTheHolder = assertThrows(AccessDeniedException.class, () -> worker2.requestRelease(key));
        assertTrue(notTheHolder.getMessage().contains("NoAuth for /" + namespace + "/locks/billing/account/7/_s/X-"),
                notTheHolder.getMessage()); // a lock user, but not the holder's identity
        assertEquals(1, ops.requestRelease(key));
        asked.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(1, ops.breakLock(key));
        assertEquals(LossReason.BROKEN, lost.get(WAIT.toSeconds(), TimeUnit.SECONDS).reason());
        Lease second = keep(next.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        assertTrue(second.token().compareTo(held.token()) > 0, second.token() + " after " + held.token());
    }

    @Test
    void nodesCarryTheRulesAclsElectionsAndSchedulesToo() throws Exception {
        ZkLockService worker = secured("worker", WORKER);
        CuratorFramework observer = secured("ops", OPS).store().root(); // 3.9 shows digests to admins alone
        LockKey key = LockKey.of("reports", "daily");
        Id workerId = digest(SecuredNamespace.digestId("worker", WORKER));
        Id worker2Id = digest(SecuredNamespace.digestId("worker2", WORKER2));
        Id opsId = digest(SecuredNamespace.digestId("ops", OPS));
        List<ACL> own = List.of(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE), new ACL(Perms.READ | Perms.WRITE, workerId),
                new ACL(Perms.ALL, opsId));
        int user = Perms.READ | Perms.WRITE | Perms.CREATE | Perms.DELETE;
        List<ACL> shared = List.of(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE), new ACL(user, workerId),
                new ACL(user, worker2Id), new ACL(Perms.ALL, opsId));
        try (Lease lease = worker.acquire(key, WAIT);
             LeaderElection election = worker.election("reports-run")) {
            String node = full(worker, ZkLockService.nodeOf(lease));
            assertEquals(own, observer.getACL().forPath(node));
            assertEquals(shared, observer.getACL().forPath(node.substring(0, node.lastIndexOf('/'))));
            assertEquals(shared, observer.getACL().forPath("/" + namespace));

            election.awaitLeadership(WAIT);
            CompletableFuture<Void> ran = new CompletableFuture<>();
            election.schedule("nightly", Duration.ofHours(1), l -> ran.complete(null));
            ran.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            String latch = ((ZkLeaderElection) election).latchNode();
            latch = latch.startsWith("/" + namespace + "/") ? latch : "/" + namespace + latch;
            assertEquals(own, observer.getACL().forPath(latch), latch);
            assertEquals(shared, observer.getACL().forPath("/" + namespace + "/elections/reports-run"));
            assertEquals(shared, observer.getACL().forPath("/" + namespace + "/schedules/reports-run/nightly"));
        }
    }

    @Test
    void theNamespaceAndItsLocksNodeOutliveTheKeysUnderThemSoNoClientWithoutTheModeMakesThemAgainOpen() throws Exception {
        CuratorFramework observer = Clients.observer(connect);
        LockKey key = LockKey.of("once");
        try (ZkLockService worker = ZkLockService.builder().connectString(connect).namespace(namespace)
                .digest("worker", WORKER).securedNamespace(SECURED).build()) {
            worker.acquire(key, WAIT).close();
            // the service's idle sweep (a second after) and the server's cleanup (100 ms here) take the key
            await().atMost(WAIT).until(() -> observer.checkExists().forPath("/" + namespace + "/locks/once") == null);
            await().during(Duration.ofMillis(1_500)).atMost(Duration.ofSeconds(3))
                    .until(() -> observer.checkExists().forPath("/" + namespace + "/locks") != null);
        }
        // an operator's client without the mode (lockctl) reads, and writes its clock node under locks
        try (ZkLockService ops = ZkLockService.builder().connectString(connect).namespace(namespace)
                .digest("ops", OPS).connectionTimeout(WAIT).build()) {
            assertFalse(ops.inspect(key).isHeld());
        }
        for (String path : List.of("/" + namespace, "/" + namespace + "/locks")) {
            for (ACL acl : observer.getACL().forPath(path)) {
                if (acl.getId().equals(Ids.ANYONE_ID_UNSAFE)) {
                    assertEquals(Perms.READ, acl.getPerms(), path + " must stay read-only to the world");
                }
            }
        }
    }

    @Test
    void withoutAnIdentityReadingWorksAndWritingIsRefused() throws Exception {
        ZkLockService worker = secured("worker", WORKER);
        LockKey key = LockKey.of("cursor");
        Lease lease = keep(worker.acquire(key, WAIT));
        ZkLockService anonymous = keep(ZkLockService.builder().connectString(connect).namespace(namespace)
                .connectionTimeout(WAIT).build());
        assertEquals(lease.token(), anonymous.inspect(key).holders().get(0).token());
        AccessDeniedException breaking = assertThrows(AccessDeniedException.class, () -> anonymous.breakLock(key));
        assertTrue(breaking.getMessage().contains("NoAuth"), breaking.getMessage());
        assertTrue(lease.isValid());

        IllegalStateException noIdentity = assertThrows(IllegalStateException.class, () -> ZkLockService.builder()
                .connectString(connect).namespace(namespace).securedNamespace(SECURED).build());
        assertTrue(noIdentity.getMessage().contains("needs a client with an identity"), noIdentity.getMessage());
    }

    @Test
    void aNamespaceMadeWithoutTheModeIsRefusedNotAdopted() throws Exception {
        CuratorFramework observer = Clients.observer(connect);
        observer.create().withMode(CreateMode.PERSISTENT).forPath("/" + namespace); // world:anyone:cdrwa
        LockException open = assertThrows(LockException.class, () -> secured("worker", WORKER));
        assertTrue(open.getMessage().startsWith("The znode /" + namespace + " exists with the ACL world:anyone:cdrwa,"),
                open.getMessage());
    }

    @Test
    void lockUsersNeedNothingAboveTheNamespaceOnceAnAdminMadeIt() throws Exception {
        String locked = namespace + "-locked";
        secured("ops", OPS).store().root().create().withACL(List.of(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE),
                new ACL(Perms.ALL, digest(SecuredNamespace.digestId("ops", OPS))))).forPath("/" + locked);
        String nested = locked + "/baton";
        keep(ZkLockService.builder().connectString(connect).namespace(nested).digest("ops", OPS)
                .securedNamespace(SECURED).build()); // makes /<locked>/baton
        ZkLockService worker = keep(ZkLockService.builder().connectString(connect).namespace(nested)
                .digest("worker", WORKER).securedNamespace(SECURED).build());
        try (Lease lease = worker.acquire(LockKey.of("fresh", "key"), WAIT)) {
            assertTrue(lease.isValid());
        }
    }

    @Test
    void aCallersClientMustCarryTheProviderAndThenWorksAsAnOwnedOne() throws Exception {
        String base = namespace + "-app";
        CuratorFramework plain = keep(client(base, null));
        IllegalStateException missing = assertThrows(IllegalStateException.class, () -> ZkLockService.builder()
                .client(plain).securedNamespace(SECURED).build());
        assertTrue(missing.getMessage().contains("aclProvider(secured.aclProvider(\"/" + base + "/baton\"))"),
                missing.getMessage());

        CuratorFramework withAcls = keep(client(base, SECURED));
        ZkLockService locks = keep(ZkLockService.builder().client(withAcls).securedNamespace(SECURED).build());
        try (Lease lease = locks.acquire(LockKey.of("k"), WAIT)) {
            List<ACL> acl = secured("ops", OPS).store().root().getACL().forPath(full(locks, ZkLockService.nodeOf(lease)));
            assertEquals(digest(SecuredNamespace.digestId("worker", WORKER)), acl.get(1).getId());
        }
    }

    private CuratorFramework client(String base, SecuredNamespace secured) throws InterruptedException {
        CuratorFrameworkFactory.Builder b = CuratorFrameworkFactory.builder().connectString(connect).namespace(base)
                .retryPolicy(new RetryOneTime(100))
                .authorization("digest", ("worker:" + WORKER).getBytes(StandardCharsets.UTF_8));
        if (secured != null) {
            b.aclProvider(secured.aclProvider("/" + base + "/baton"));
        }
        CuratorFramework c = b.build();
        c.start();
        assertTrue(c.blockUntilConnected(10, TimeUnit.SECONDS));
        return c;
    }

    private static Id digest(String id) {
        return new Id("digest", id.substring("digest:".length()));
    }
}
