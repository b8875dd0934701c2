package dev.baton.lock.zk;

import dev.baton.lock.Claim;
import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockState;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.test.BatonZooKeeper;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Foreign and hostile data in Baton's znodes, planted with a plain Curator client on a real
 * server: acquire still grants with the right exclusion, inspect and list return and show what
 * they can. The rules are in {@link NodeNames} and {@link HolderRecord}.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ZkHostileDataTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    /** Names in {@code _q} and {@code _s} that cannot be Baton's. */
    private static final List<String> FOREIGN_NAMES = List.of("foo", "X-", "X-nothex-0000000001",
            "X-0123456789abcdef-notanumber", "X-0123456789ABCDEF-0000000001", "X-0123456789abcde-0000000001",
            "X-0123456789abcdef0-0000000001", "S-0123456789abcdef-00000000001", "IX-0123456789abcdef-0000000001x",
            "Y-0123456789abcdef-0000000001", "X-0123456789abcdef-9999999999", "-0123456789abcdef-0000000001",
            "delay.", "delay.X", "delay.X.junk", "delay.Q.0123456789abcdef", "delay.X.0123456789abcdef.extra");

    private final List<ZkLockService> services = new ArrayList<>();
    private final List<String> planted = new ArrayList<>();

    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofMillis(200));

    @AfterEach
    void cleanUp() throws Exception {
        services.forEach(ZkLockService::close);
        for (String path : planted) {
            zk.observer().delete().quietly().deletingChildrenIfNeeded().forPath(path);
        }
    }

    private ZkLockService service() {
        return service(zk.namespace());
    }

    private ZkLockService service(String namespace) {
        ZkLockService s = ZkLockService.builder().connectString(zk.connectString()).namespace(namespace)
                .sessionTimeout(Duration.ofSeconds(10)).build();
        services.add(s);
        return s;
    }

    // ------------------------------------------------------------------------------ names

    @Test
    void namesThatCannotBeBatonsAreIgnoredByAcquireInspectAndList() throws Exception {
        LockKey parent = LockKey.of("hostile", "names");
        LockKey key = parent.child("7");
        for (LockKey k : List.of(parent, key)) {
            for (String name : FOREIGN_NAMES) {
                byte[] junk = ("junk " + name).getBytes(StandardCharsets.UTF_8);
                plant("/" + zk.namespace() + Layout.queuePath(k) + "/" + name, junk, CreateMode.EPHEMERAL);
                plant("/" + zk.namespace() + Layout.strongPath(k) + "/" + name, junk, CreateMode.PERSISTENT);
            }
        }
        ZkLockService a = service();
        ZkLockService b = service();

        try (Lease lease = a.acquire(key, WAIT)) {
            assertTrue(b.tryAcquire(key).isEmpty(), "the holder excludes a second request");
            assertTrue(b.tryAcquire(parent).isEmpty(), "and one on its parent");
            assertTrue(b.tryAcquire(key, LockOptions.defaults().mode(LockMode.SHARED)).isEmpty());
            LockState state = b.inspect(key);
            assertEquals(1, state.holders().size(), state.toString());
            assertEquals(lease.token(), state.holders().get(0).token());
            assertTrue(state.waiters().isEmpty(), state.toString());
            assertTrue(state.lockDelayLeft().isEmpty(), "junk named like a marker is no lock delay: " + state);
            assertEquals(List.of(key), keys(b.list()));
            assertEquals(List.of(key), keys(b.list(parent)));
            assertFalse(b.inspect(parent).isHeld());
        }
        try (Lease coarse = b.acquire(parent, WAIT)) {
            assertTrue(a.tryAcquire(key).isEmpty(), "the coarse holder excludes the fine key");
            assertEquals(coarse.token(), a.inspect(parent).holders().get(0).token());
        }
        for (String name : FOREIGN_NAMES) {
            assertNotNull(zk.observer().checkExists().forPath("/" + zk.namespace() + Layout.queuePath(key) + "/" + name),
                    name + " was left alone");
        }
    }

    @Test
    void nodesNamedLikeRequestsButPersistentDoNotBlockForever() throws Exception {
        LockKey parent = LockKey.of("hostile", "persistent");
        LockKey key = parent.child("1");
        byte[] record = new HolderRecord("ghost:1:1", "ghost", 1, "restored", null, 1, null, 0, true, 0).encode();
        // as a copy tool restoring a backup would leave them: a holder on the key, a coarse one and
        // an intention on the parent
        String id = "0123456789abcdef";
        plant("/" + zk.namespace() + Layout.queuePath(parent) + "/IX-" + id + "-", new byte[0], CreateMode.PERSISTENT_SEQUENTIAL);
        plant("/" + zk.namespace() + Layout.queuePath(key) + "/X-" + id + "-", record, CreateMode.PERSISTENT_SEQUENTIAL);
        plant("/" + zk.namespace() + Layout.strongPath(key) + "/X-" + id + "-", new byte[0], CreateMode.PERSISTENT_SEQUENTIAL);
        String other = "fedcba9876543210";
        plant("/" + zk.namespace() + Layout.queuePath(parent) + "/S-" + other + "-", record, CreateMode.PERSISTENT_SEQUENTIAL);
        plant("/" + zk.namespace() + Layout.strongPath(parent) + "/S-" + other + "-", new byte[0], CreateMode.PERSISTENT_SEQUENTIAL);
        ZkLockService a = service();
        ZkLockService b = service();

        try (Lease fine = a.acquire(key, WAIT)) {
            assertTrue(b.tryAcquire(key).isEmpty(), "the holder still excludes");
            LockState state = b.inspect(key);
            assertEquals(List.of(fine.token()), state.holders().stream().map(Claim::token).toList(), state.toString());
            assertTrue(state.waiters().isEmpty(), state.toString());
        }
        try (Lease coarse = a.acquire(parent, WAIT)) {
            assertTrue(b.tryAcquire(key).isEmpty(), "the coarse holder excludes the fine key");
            LockState state = b.inspect(parent);
            assertEquals(List.of(coarse.token()), state.holders().stream().map(Claim::token).toList(), state.toString());
            assertEquals(List.of(parent), keys(b.list()));
        }
        assertEquals(5, planted.size());
        for (String path : planted) {
            assertNotNull(zk.observer().checkExists().forPath(path), path + " was left alone");
        }
    }

    @Test
    void aPersistentNodeNamedLikeAnEarlierRequestDoesNotShieldAHungHolderFromStaleAfter() throws Exception {
        LockKey key = LockKey.of("hostile", "shield");
        byte[] record = new HolderRecord("ghost:1:1", "ghost", 1, "restored", null, 1, null, 0, true, 0).encode();
        plant("/" + zk.namespace() + Layout.queuePath(key) + "/X-0123456789abcdef-", record, CreateMode.PERSISTENT_SEQUENTIAL);
        plant("/" + zk.namespace() + Layout.strongPath(key) + "/X-0123456789abcdef-", new byte[0], CreateMode.PERSISTENT_SEQUENTIAL);
        ZkLockService a = service();
        ZkLockService b = service();
        Lease hung = a.acquire(key, WAIT);
        LockOptions stale = LockOptions.defaults().staleAfter(Duration.ofMillis(300)).waitAtMost(WAIT);
        try (Lease next = b.acquire(key, stale)) {
            assertTrue(next.token().isNewerThan(hung.token()));
            await().atMost(WAIT).until(() -> !hung.isValid());
        }
        assertNotNull(zk.observer().checkExists().forPath(planted.get(0)), "the foreign node was left alone");
    }

    // ---------------------------------------------------------------------------- records

    /** Data a request's node may carry that Baton cannot read, by what it is. */
    private static Map<String, byte[]> unreadableRecords() {
        Map<String, byte[]> records = new LinkedHashMap<>();
        records.put("a later format", "baton-lock/2\nholder=future:1:1\n".getBytes(StandardCharsets.UTF_8));
        records.put("plain text", "locked by ops, do not touch".getBytes(StandardCharsets.UTF_8));
        records.put("empty", new byte[0]);
        byte[] random = new byte[512];
        new Random(13).nextBytes(random);
        records.put("random bytes", random);
        records.put("invalid UTF-8", new byte[] {(byte) 0xC3, (byte) 0x28, (byte) 0xFF, (byte) 0xFE, 'b', 'a'});
        records.put("the format line alone", HolderRecord.FORMAT.getBytes(StandardCharsets.UTF_8));
        return records;
    }

    @Test
    void aHolderWhoseRecordBatonCannotReadIsShownWithWhatIsKnownAndCanBeBroken() throws Exception {
        ZkLockService a = service();
        int n = 0;
        for (Map.Entry<String, byte[]> e : unreadableRecords().entrySet()) {
            LockKey key = LockKey.of("hostile", "unreadable", Integer.toString(n++));
            String node = plantRequest(key, "X", e.getValue());
            long czxid = zk.observer().checkExists().forPath(node).getCzxid();

            assertTrue(a.tryAcquire(key).isEmpty(), e.getKey() + ": the planted request holds the key");
            LockState state = a.inspect(key);
            assertEquals(1, state.holders().size(), e.getKey() + ": " + state);
            Claim holder = state.holders().get(0);
            assertEquals(czxid, holder.token().value(), e.getKey());
            assertEquals(LockMode.EXCLUSIVE, holder.mode(), e.getKey());
            assertEquals("", holder.holderId(), e.getKey());
            assertEquals("", holder.thread(), e.getKey());
            assertEquals(-1, holder.pid(), e.getKey());
            assertTrue(holder.leaseTime().isEmpty(), e.getKey());
            assertTrue(keys(a.list()).contains(key), e.getKey());

            assertEquals(1, a.breakLock(key), e.getKey() + ": broken on request");
            a.acquire(key, WAIT).close();
        }
    }

    @Test
    void aHugeRecordIsReadWithoutEchoingIt() throws Exception {
        LockKey key = LockKey.of("hostile", "huge");
        StringBuilder thread = new StringBuilder();
        while (thread.length() < 1_000_000) {
            thread.append("0123456789abcdef");
        }
        byte[] huge = (HolderRecord.FORMAT + "\nholder=big:1:1\nthread=" + thread + "\n").getBytes(StandardCharsets.UTF_8);
        plantRequest(key, "X", huge);
        ZkLockService a = service();

        LockState state = a.inspect(key);
        assertEquals(1, state.holders().size(), () -> "holders: " + state.holders().size());
        Claim holder = state.holders().get(0);
        assertEquals("big:1:1", holder.holderId());
        assertEquals(HolderRecord.MAX_TEXT, holder.thread().length(), "cut to the longest value a record holds");
        assertTrue(state.toString().length() < 2_000, "inspect's answer carries no megabyte");
        LockTimeoutException timeout = assertThrows(LockTimeoutException.class,
                () -> a.acquire(key, Duration.ofMillis(300)));
        assertTrue(timeout.getMessage().length() < 500, timeout.getMessage());
        assertEquals(1, a.breakLock(key));
        a.acquire(key, WAIT).close();
    }

    @Test
    void fieldsThatAreMalformedOrOutOfRangeAreUnknownAndTheRestIsShown() throws Exception {
        LockKey key = LockKey.of("hostile", "fields");
        byte[] data = (HolderRecord.FORMAT + "\nholder=odd:1:1\nhost=odd-host\npid=abc\nthread=worker\nleaseMs=-5\n"
                + "keys=4294967297\nlockDelayMs=1e3\nhostTime=x\ngranted=maybe\nheldMs=99999999999999999999\n"
                + "no equals sign\n=no name\nfuture=1\n").getBytes(StandardCharsets.UTF_8);
        plantRequest(key, "S", data);
        ZkLockService a = service();

        LockState state = a.inspect(key);
        assertEquals(1, state.holders().size(), state.toString());
        Claim holder = state.holders().get(0);
        assertEquals("odd:1:1", holder.holderId());
        assertEquals("odd-host", holder.host());
        assertEquals("worker", holder.thread());
        assertEquals(-1, holder.pid());
        assertEquals(LockMode.SHARED, holder.mode());
        assertTrue(holder.leaseTime().isEmpty());
        assertTrue(holder.lockDelay().isEmpty());
        try (Lease shared = a.acquire(key, LockOptions.defaults().mode(LockMode.SHARED).waitAtMost(WAIT))) {
            assertEquals(2, a.inspect(key).holders().size(), "shared with the planted holder");
        }
        assertTrue(a.tryAcquire(key).isEmpty(), "exclusive still waits for it");
    }

    @Test
    void aRecordClaimingAnEndlessLeaseIsNotTakenForOneThatRanOut() throws Exception {
        LockKey key = LockKey.of("hostile", "endless");
        byte[] data = (HolderRecord.FORMAT + "\nholder=long:1:1\nleaseMs=9223372036854775807\nkeys=1\n")
                .getBytes(StandardCharsets.UTF_8);
        String node = plantRequest(key, "X", data);
        ZkLockService a = service();

        assertEquals(Duration.ofMillis(HolderRecord.MAX_MILLIS), a.inspect(key).holders().get(0).leaseTime().orElseThrow());
        // a plain waiter judges lease times after a second; the lease plus its grace must not overflow into the past
        assertThrows(LockTimeoutException.class, () -> a.acquire(key, Duration.ofMillis(2_500)));
        assertNotNull(zk.observer().checkExists().forPath(node), "not broken");
    }

    @Test
    void durationsLongerThanARecordHoldsAreWrittenAsTheLongestItHolds() throws Exception {
        LockKey key = LockKey.of("hostile", "forever");
        Duration endless = Duration.ofSeconds(Long.MAX_VALUE); // more milliseconds than a long holds
        ZkLockService a = service();
        try (Lease lease = a.acquire(key, LockOptions.defaults().leaseTime(endless).lockDelay(endless).waitAtMost(WAIT))) {
            Claim holder = a.inspect(key).holders().get(0);
            assertEquals(Duration.ofMillis(HolderRecord.MAX_MILLIS), holder.leaseTime().orElseThrow());
            assertEquals(Duration.ofMillis(HolderRecord.MAX_MILLIS), holder.lockDelay().orElseThrow());
            assertTrue(lease.isValid());
        }
    }

    @Test
    void aMarkerWhoseDelayCannotBeReadHoldsNoDelayAndOneThatCanIsShown() throws Exception {
        ZkLockService a = service();
        LockKey junk = LockKey.of("hostile", "marker", "junk");
        String junkMarker = plant("/" + zk.namespace() + Layout.queuePath(junk) + "/" + Layout.markerName(
                dev.baton.lock.internal.Granule.X, "0123456789abcdef"), "soon".getBytes(StandardCharsets.UTF_8),
                CreateMode.PERSISTENT);
        assertTrue(a.inspect(junk).lockDelayLeft().isEmpty());
        a.acquire(junk, WAIT).close();
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> {
            a.tryAcquire(junk).ifPresent(Lease::close); // a later look deletes a marker whose delay has passed
            return zk.observer().checkExists().forPath(junkMarker) == null;
        });

        LockKey held = LockKey.of("hostile", "marker", "long");
        plant("/" + zk.namespace() + Layout.queuePath(held) + "/" + Layout.markerName(dev.baton.lock.internal.Granule.X,
                "fedcba9876543210"), "99999999999999999999".getBytes(StandardCharsets.UTF_8), CreateMode.PERSISTENT);
        assertEquals(Duration.ofMillis(HolderRecord.MAX_MILLIS), a.inspect(held).lockDelayLeft().orElseThrow(),
                "a delay Baton's form can hold is kept, and shown");
        assertTrue(a.tryAcquire(held).isEmpty());
    }

    // ---------------------------------------------------------------------- pointers, tree

    @Test
    void anIntentionNamingNoKeyOrAKeyOutsideItsOwnIsNotFollowed() throws Exception {
        ZkLockService victimSide = service();
        LockKey victimKey = LockKey.of("elsewhere", "victim");
        Lease victim = victimSide.acquire(victimKey, WAIT);
        AtomicReference<LockLostException> lost = new AtomicReference<>();
        victim.onLost(lost::set);
        String victimNode = ZkLockService.nodeOf(victim);
        String victimId = NodeNames.request(victimNode.substring(victimNode.lastIndexOf('/') + 1));

        LockKey coarse = LockKey.of("hostile", "pointers");
        List<byte[]> pointers = List.of("elsewhere/victim".getBytes(StandardCharsets.UTF_8),
                "not a key!!".getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xFF, 0, 1}, new byte[0]);
        for (byte[] pointer : pointers) { // ephemeral, with the victim's request id: indistinguishable from a request
            plant("/" + zk.namespace() + Layout.queuePath(coarse.child("f")) + "/X-" + victimId + "-", new byte[0],
                    CreateMode.EPHEMERAL_SEQUENTIAL);
            plant("/" + zk.namespace() + Layout.queuePath(coarse) + "/IX-" + victimId + "-", pointer, CreateMode.EPHEMERAL_SEQUENTIAL);
        }
        ZkLockService waiter = service();
        assertThrows(LockTimeoutException.class, () -> waiter.acquire(coarse,
                LockOptions.defaults().staleAfter(Duration.ofMillis(200)).waitAtMost(Duration.ofMillis(2_500))));
        assertTrue(victim.isValid(), "a pointer to a key outside the coarse one broke its holder: " + lost.get());
        assertNotNull(zk.observer().checkExists().forPath("/" + zk.namespace() + victimNode));
        assertFalse(waiter.inspect(coarse).isHeld());
        victim.close();
    }

    @Test
    void childrenOfTheKeyTreeThatAreNotKeysAreSkippedByList() throws Exception {
        String[] strange = {".hidden", "_x", "bad name", "a%b", "x".repeat(129), "é"};
        for (String name : strange) {
            plant("/" + zk.namespace() + "/locks/" + name, new byte[0], CreateMode.PERSISTENT);
            plant("/" + zk.namespace() + "/locks/tree/" + name, new byte[0], CreateMode.PERSISTENT);
        }
        plant("/" + zk.namespace() + "/locks/_t/foreign", "x".getBytes(StandardCharsets.UTF_8), CreateMode.PERSISTENT);
        plant("/" + zk.namespace() + "/locks/_t/foreign/deeper", new byte[0], CreateMode.EPHEMERAL);
        ZkLockService a = service();
        LockKey key = LockKey.of("tree", "held");
        try (Lease lease = a.acquire(key, WAIT)) {
            assertEquals(List.of(key), keys(a.list()));
            assertEquals(List.of(key), keys(a.list(LockKey.of("tree"))));
            assertNotNull(a.inspect(key).holders().get(0).heldFor().orElse(null), "the clock still works");
        }
    }

    @Test
    void aForeignNodeWhereTheClockBelongsLeavesOnlyTheAgesOut() throws Exception {
        String namespace = "hostile-clock";
        plant("/" + namespace + "/locks/_t", "not a parent".getBytes(StandardCharsets.UTF_8), CreateMode.EPHEMERAL);
        ZkLockService a = service(namespace);
        LockKey key = LockKey.of("clockless");
        try (Lease lease = a.acquire(key, WAIT)) {
            LockState state = a.inspect(key);
            assertEquals(lease.token(), state.holders().get(0).token());
            assertTrue(state.holders().get(0).heldFor().isEmpty(), "no age without the ensemble's time");
            assertEquals(List.of(key), keys(a.list()));
        }
    }

    // ---------------------------------------------------------------------------- helpers

    private static List<LockKey> keys(List<LockState> states) {
        return states.stream().map(LockState::key).toList();
    }

    /**
     * Plants a request's two nodes on {@code key} (ephemeral, on the zk.observer()'s session, named as
     * Baton names them, with a fresh id), its queue node carrying {@code data}; returns its path.
     */
    private String plantRequest(LockKey key, String granule, byte[] data) throws Exception {
        String id = String.format("%016x", new Random().nextLong());
        String node = plant("/" + zk.namespace() + Layout.queuePath(key) + "/" + granule + "-" + id + "-", data,
                CreateMode.EPHEMERAL_SEQUENTIAL);
        plant("/" + zk.namespace() + Layout.strongPath(key) + "/" + granule + "-" + id + "-", new byte[0],
                CreateMode.EPHEMERAL_SEQUENTIAL);
        return node;
    }

    /** Creates a node, its missing parents as containers (again if the server removed one meanwhile). */
    private String plant(String path, byte[] data, CreateMode mode) throws Exception {
        for (int attempt = 0; ; attempt++) {
            try {
                String made = zk.observer().create().creatingParentContainersIfNeeded().withMode(mode).forPath(path, data);
                planted.add(made);
                return made;
            } catch (KeeperException.NoNodeException raced) {
                assertTrue(attempt < 10, "cannot plant " + path);
            }
        }
    }

}
