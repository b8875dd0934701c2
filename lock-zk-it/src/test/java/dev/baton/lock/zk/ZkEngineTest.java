package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockMode;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LockTimeoutException;
import dev.baton.lock.test.BatonZooKeeper;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ZooKeeper engine's own promises: one transaction per request, recovery of a lost answer, a small strong index. */
class ZkEngineTest {
    private static final Duration PATIENCE = Duration.ofSeconds(30);
    private final List<ZkLockService> services = new ArrayList<>();
    private final LostAnswers lostAnswers = new LostAnswers();
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @RegisterExtension
    static final BatonZooKeeper zk = BatonZooKeeper.server().tickTime(Duration.ofMillis(500));

    @AfterEach
    void closeAll() {
        pool.shutdownNow();
        services.forEach(ZkLockService::close);
    }

    private ZkLockService service() {
        ZkLockService s = ZkLockService.builder().connectString(zk.connectString()).namespace(zk.namespace())
                .sessionTimeout(Duration.ofSeconds(10)).sending(lostAnswers).build();
        services.add(s);
        return s;
    }

    private static List<String> queue(LockKey key) throws Exception {
        return ZkTesting.descendants(zk.observer(), "/" + zk.namespace() + Layout.queuePath(key));
    }

    private static int children(String relative) throws Exception {
        Stat stat = zk.observer().checkExists().forPath("/" + zk.namespace() + relative);
        return stat == null ? 0 : stat.getNumChildren();
    }

    @Test
    void everyNodeOfARequestComesFromOneTransactionWhoseZxidIsTheToken() throws Exception {
        ZkLockService s = service();
        Map<LockKey, LockMode> keys = new LinkedHashMap<>();
        keys.put(LockKey.parse("one/a/x"), LockMode.EXCLUSIVE);
        keys.put(LockKey.parse("one/b"), LockMode.SHARED);
        keys.put(LockKey.parse("one"), LockMode.SHARED);
        try (Lease lease = s.acquireAll(keys, LockOptions.defaults())) {
            List<String> nodes = ZkLockService.nodesOf(lease);
            // levels one (S+IX = SIX, strong: 2 nodes), one/a (IX), one/a/x (X: 2), one/b (S: 2)
            assertEquals(7, nodes.size(), nodes.toString());
            for (String node : nodes) {
                Stat stat = zk.observer().checkExists().forPath("/" + zk.namespace() + node);
                assertEquals(lease.token().value(), stat.getCzxid(), node);
            }
            assertTrue(nodes.stream().anyMatch(n -> n.startsWith("/locks/one/_q/SIX-")), nodes.toString());
            assertEquals(List.of(LockKey.parse("one"), LockKey.parse("one/b"), LockKey.parse("one/a/x")),
                    new ArrayList<>(lease.keys().keySet()), "coarse keys first");
            assertEquals(LockKey.parse("one"), lease.key());
        }
        await().atMost(PATIENCE).until(() -> children("/locks/one/_q") + children("/locks/one/a/x/_q") == 0);
    }

    @Test
    void aFineLockUnderAParentWithManyHeldSiblingsListsOnlyTheParentsStrongIndex() throws Exception {
        ZkLockService s = service();
        List<Lease> held = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            held.add(s.acquire(LockKey.of("wide", "row", Integer.toString(i)), Duration.ofSeconds(5)));
        }
        assertEquals(300, children("/locks/wide/row/_q"), "one intention node per held sibling");
        assertEquals(0, children("/locks/wide/row/_s"), "intentions stay out of the strong index");
        try (Lease coarse = s.acquire(LockKey.of("wide", "other"), Duration.ofSeconds(5))) {
            assertTrue(coarse.isValid());
        }
        // a coarse request must see them all, and waits for them
        assertThrows(LockTimeoutException.class, () -> s.acquire(LockKey.of("wide", "row"), Duration.ofMillis(200)));
        held.forEach(Lease::close);
        try (Lease coarse = s.acquire(LockKey.of("wide", "row"), Duration.ofSeconds(10))) {
            assertTrue(coarse.token().isNewerThan(held.get(299).token()));
        }
    }

    @Test
    void aMultiWhoseAnswerWasLostIsFoundByItsRequestIdNotCreatedTwice() throws Exception {
        ZkLockService s = service();
        ZkLockService other = service();
        LockKey key = LockKey.parse("lost/answer/k");
        LockOptions shared = LockOptions.defaults().mode(LockMode.SHARED).waitAtMost(Duration.ofSeconds(20));
        try (Lease keepsTheQueue = other.acquire(key, shared)) { // so no container is missing or removed meanwhile
            int createdBefore = zk.observer().checkExists().forPath("/" + zk.namespace() + Layout.queuePath(key)).getCversion();
            lostAnswers.lose(1);
            try (Lease lease = s.acquire(key, shared)) {
                assertEquals(0, lostAnswers.left(), "the answer was not lost: the test proves nothing");
                assertEquals(2, queue(key).size(), "nodes created twice: " + queue(key));
                int changes = zk.observer().checkExists().forPath("/" + zk.namespace() + Layout.queuePath(key)).getCversion()
                        - createdBefore;
                assertEquals(1, changes, "the queue changed more than once: enqueued again, not adopted");
                Stat stat = zk.observer().checkExists().forPath("/" + zk.namespace() + ZkLockService.nodeOf(lease));
                assertEquals(lease.token().value(), stat.getCzxid());
                assertTrue(keepsTheQueue.isValid() && lease.isValid());
            }
        }
        await().atMost(PATIENCE).until(() -> queue(key).isEmpty());
    }

    @Test
    void aWaiterWhoseAnswerWasLostKeepsItsPlaceAndIsGrantedAfterTheHolder() throws Exception {
        ZkLockService holderService = service();
        ZkLockService waiterService = service();
        LockKey key = LockKey.parse("lost/wait");
        Lease holder = holderService.acquire(key, Duration.ofSeconds(5));
        lostAnswers.lose(1);
        Future<Lease> waiter = pool.submit(() -> waiterService.acquire(key, Duration.ofSeconds(30)));
        await().atMost(PATIENCE).until(() -> lostAnswers.left() == 0 && queue(key).size() == 2);
        assertFalse(waiter.isDone());
        holder.close();
        try (Lease lease = waiter.get(PATIENCE.toSeconds(), SECONDS)) {
            assertTrue(lease.token().isNewerThan(holder.token()));
            assertEquals(1, queue(key).size(), queue(key).toString());
        }
        await().atMost(PATIENCE).until(() -> queue(key).isEmpty());
    }

    @Test
    void aListingLostBehindTheMultiIsSentAgainNotAwaitedForever() throws Exception {
        ZkLockService s = service();
        LockKey key = LockKey.parse("lost/listing");
        lostAnswers.loseListings(1);
        try (Lease lease = s.acquire(key, Duration.ofSeconds(20))) {
            assertEquals(0, lostAnswers.listingsLeft(), "the listing's answer was not lost: the test proves nothing");
            assertTrue(lease.isValid());
            assertEquals(1, queue(key).size(), queue(key).toString());
        }
        await().atMost(PATIENCE).until(() -> queue(key).isEmpty());
    }

    @Test
    void aRequestThatTimesOutAfterALostAnswerLeavesNoNodeBehind() throws Exception {
        ZkLockService holderService = service();
        ZkLockService waiterService = service();
        LockKey key = LockKey.parse("lost/timeout");
        try (Lease holder = holderService.acquire(key, Duration.ofSeconds(5))) {
            lostAnswers.lose(1);
            assertThrows(LockTimeoutException.class, () -> waiterService.acquire(key, Duration.ofMillis(300)));
            assertEquals(0, lostAnswers.left(), "the answer was not lost: the test proves nothing");
            await().atMost(PATIENCE).until(() -> queue(key).size() == 1);
            assertTrue(holder.isValid());
        }
        await().atMost(PATIENCE).until(() -> queue(key).isEmpty());
    }

    @Test
    void aWaiterKeepsItsPlaceThroughDroppedConnections() throws Exception {
        ZkLockService holderService = service();
        ZkLockService waiterService = service();
        LockKey key = LockKey.parse("dropped/k");
        Lease holder = holderService.acquire(key, Duration.ofSeconds(5));
        Future<Lease> waiter = pool.submit(() -> waiterService.acquire(key, Duration.ofSeconds(60)));
        await().atMost(PATIENCE).until(() -> queue(key).size() == 2);
        String waiterNode = queue(key).stream().filter(n -> !n.equals("/" + zk.namespace() + ZkLockService.nodeOf(holder)))
                .findFirst().orElseThrow();
        for (int i = 0; i < 5; i++) {
            waiterService.client().getZookeeperClient().getZooKeeper().getTestable().closeSocket();
            await().atMost(PATIENCE).until(() -> waiterService.client().getZookeeperClient().isConnected());
        }
        assertFalse(waiter.isDone(), "the waiter gave up or was granted while the holder held");
        assertEquals(2, queue(key).size(), queue(key).toString());
        assertTrue(queue(key).contains(waiterNode), "the waiter lost its place: " + queue(key));
        holder.close();
        try (Lease lease = waiter.get(PATIENCE.toSeconds(), SECONDS)) {
            assertTrue(lease.token().isNewerThan(holder.token()));
            assertEquals(waiterNode, "/" + zk.namespace() + ZkLockService.nodeOf(lease), "granted on another node than it queued with");
        }
    }

    @Test
    void sequenceNumbersKeepTheirOrderWhenTheParentsCounterWrapsAround() {
        // ZooKeeper formats the parent's int cversion with %010d: after 2^31 creates it is negative
        String id = "0123456789abcdef";
        int last = NodeNames.sequence("IX-" + id + "-2147483647");
        int wrapped = NodeNames.sequence("X-" + id + "-" + String.format("%010d", Integer.MIN_VALUE));
        int next = NodeNames.sequence("X-" + id + "-" + String.format("%010d", Integer.MIN_VALUE + 1));
        assertTrue(Layout.before(last, wrapped) && Layout.before(wrapped, next) && Layout.before(last, next));
        assertFalse(Layout.before(wrapped, last) || Layout.before(next, wrapped));
        List<Integer> sorted = new ArrayList<>(List.of(next, last, wrapped, 2147483000));
        sorted.sort(Layout.SEQUENCE_ORDER); // live nodes of one queue lie within a window far below 2^31
        assertEquals(List.of(2147483000, last, wrapped, next), sorted);
        assertEquals(5, NodeNames.sequence("S-" + id + "-0000000005"));
        assertThrows(IllegalArgumentException.class, () -> NodeNames.sequence("lock-0000000005"));
    }

    @Test
    void theNodesOfTheKeysAskedForRecordTheirHolderAndIntentionsNameTheKey() throws Exception {
        ZkLockService s = service();
        LockKey key = LockKey.parse("recorded/account/42");
        java.util.concurrent.atomic.AtomicReference<Lease> held = new java.util.concurrent.atomic.AtomicReference<>();
        Thread worker = new Thread(() -> {
            try {
                held.set(s.acquire(key, LockOptions.defaults().leaseTime(Duration.ofSeconds(30))));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "invoice-worker-2\nwith a line break");
        worker.start();
        worker.join(PATIENCE.toMillis());
        try (Lease lease = held.get()) {
            byte[] data = zk.observer().getData().forPath("/" + zk.namespace() + ZkLockService.nodeOf(lease));
            HolderRecord record = HolderRecord.parse(data);
            assertTrue(new String(data, java.nio.charset.StandardCharsets.UTF_8).startsWith("baton-lock/1\n"));
            assertEquals(ProcessHandle.current().pid(), record.pid());
            assertEquals("invoice-worker-2 with a line break", record.thread());
            assertEquals(Duration.ofSeconds(30), record.leaseTime());
            assertTrue(record.holder().contains(":" + ProcessHandle.current().pid() + ":"), record.holder());
            assertFalse(record.host().isBlank());
            for (String node : ZkLockService.nodesOf(lease)) {
                if (node.contains("/_s/")) { // the _s twin: empty (release requests write there)
                    assertEquals(0, zk.observer().getData().forPath("/" + zk.namespace() + node).length, node);
                } else if (!node.equals(ZkLockService.nodeOf(lease))) { // intentions name the key asked for
                    assertEquals("recorded/account/42", new String(zk.observer().getData().forPath("/" + zk.namespace() + node),
                            java.nio.charset.StandardCharsets.UTF_8), node);
                }
            }
        }
        try (Lease plain = s.acquire(key, Duration.ofSeconds(5))) {
            assertEquals(null, HolderRecord.parse(zk.observer().getData().forPath("/" + zk.namespace() + ZkLockService.nodeOf(plain))).leaseTime());
        }
        assertEquals(HolderRecord.UNKNOWN, HolderRecord.parse("something else".getBytes()));
    }
}
