package dev.baton.lock.zk;

import dev.baton.lock.Fence;
import dev.baton.lock.FencingToken;
import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.LockLostException;
import dev.baton.lock.LossReason;
import dev.baton.lock.StaleTokenException;
import org.apache.curator.framework.CuratorFramework;
import dev.baton.lock.test.EmbeddedEnsemble;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Elections on a real server: terms across reconnections, loss policies, and what is left in ZooKeeper. */
class ZkLeaderElectionTest {
    private static final Duration PATIENCE = Duration.ofSeconds(30);

    private EmbeddedEnsemble server;
    private CuratorFramework observer;
    private final List<ZkLockService> services = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        server = EmbeddedEnsemble.server(Duration.ofMillis(500));
        observer = ZkTesting.observer(server.connectString());
    }

    @AfterEach
    void stop() throws Exception {
        services.forEach(ZkLockService::close);
        observer.close();
        server.close();
    }

    private ZkLockService service(LossPolicy policy, Duration session) {
        ZkLockService s = ZkLockService.builder().connectString(server.connectString())
                .sessionTimeout(session).connectionTimeout(Duration.ofSeconds(10)).lossPolicy(policy).build();
        services.add(s);
        return s;
    }

    private long sessionOf(ZkLockService s) throws Exception {
        return s.client().getZookeeperClient().getZooKeeper().getSessionId();
    }

    @Test
    void aParticipantWhoseLatchNodeCouldNotBeMadeJoinsAgainAndLeads() throws Exception {
        // Curator's latch only logs a failed creation of its node and then waits without one. It
        // fails when a parent container is removed under it (seen in CI); here, deterministically,
        // the election's node is an ephemeral of another session, which can have no children
        CuratorFramework other = ZkTesting.observer(server.connectString());
        try {
            other.create().creatingParentContainersIfNeeded().withMode(org.apache.zookeeper.CreateMode.EPHEMERAL)
                    .forPath("/baton/elections/rejoin");
            ZkLockService svc = service(LossPolicy.LOSE_AT_SUSPENDED, Duration.ofSeconds(8));
            LeaderElection election = svc.election("rejoin", "only");
            await().during(ZkLeaderElection.JOIN_CHECK.multipliedBy(ZkLeaderElection.JOIN_CHECKS + 1)).atMost(PATIENCE)
                    .until(() -> ((ZkLeaderElection) election).latchNode() == null && !election.isLeader());
            other.delete().forPath("/baton/elections/rejoin");

            Leadership term = election.awaitLeadership(PATIENCE);
            assertTrue(term.isValid());
            assertEquals(List.of("only"), election.participants());
        } finally {
            other.close();
        }
    }

    @Test
    void aTermWonAgainOnTheSameLatchNodeGetsALargerToken() throws Exception {
        // a session that outlives the restart: the latch comes back on the very node it had
        ZkLockService svc = service(LossPolicy.LOSE_AT_SUSPENDED, Duration.ofSeconds(8));
        LeaderElection election = svc.election("same-node");
        Leadership first = election.awaitLeadership(PATIENCE);
        String node = ((ZkLeaderElection) election).latchNode();
        long session = sessionOf(svc);
        AtomicReference<LockLostException> told = new AtomicReference<>();
        first.onLost(told::set);

        server.stop(0);
        await().atMost(PATIENCE).until(() -> told.get() != null);
        assertEquals(LossReason.CONNECTION_SUSPENDED, told.get().reason());
        assertFalse(election.isLeader());
        server.start(0);

        Leadership second = election.awaitLeadership(PATIENCE);
        assertEquals(session, sessionOf(svc), "the session did not survive, so the node could not be reused");
        assertEquals(node, ((ZkLeaderElection) election).latchNode(), "the latch took a new node; nothing proven");
        assertTrue(second.token().isNewerThan(first.token()),
                "second term on the same node must have a larger token: " + first.token() + " then " + second.token());
        Stat latchNode = observer.checkExists().forPath("/baton" + node);
        assertTrue(second.token().isNewerThan(FencingToken.of(latchNode.getCzxid())),
                "the token is not the node's czxid, which both terms share");

        // a stray write from the interrupted term is refused once the new term has written
        Fence fence = new Fence();
        fence.check("billing-run", second.token());
        assertThrows(StaleTokenException.class, () -> fence.check("billing-run", first.token()));
    }

    @Test
    void lostOnlyPolicyKeepsTheTermThroughAShortServerRestart() throws Exception {
        ZkLockService leader = service(LossPolicy.LOSE_AT_LOST, Duration.ofSeconds(8));
        LeaderElection election = leader.election("lost-only");
        Leadership term = election.awaitLeadership(PATIENCE);
        ZkLockService otherSvc = service(LossPolicy.LOSE_AT_SUSPENDED, Duration.ofSeconds(8));
        LeaderElection other = otherSvc.election("lost-only");
        AtomicReference<LockLostException> told = new AtomicReference<>();
        term.onLost(told::set);

        server.stop(0);
        await().atMost(PATIENCE).until(() -> !leader.client().getZookeeperClient().isConnected());
        assertTrue(term.isValid(), "ended at suspension under LOSE_AT_LOST: " + told.get());
        server.start(0);
        await().atMost(PATIENCE).until(() -> leader.client().getZookeeperClient().isConnected()
                && otherSvc.client().getZookeeperClient().isConnected());
        await().atMost(PATIENCE).until(() -> other.currentLeader().isPresent());

        assertTrue(term.isValid(), "ended although the session survived: " + told.get());
        assertSame(term, election.leadership().orElseThrow(), "a new term began: the old one was not kept");
        assertEquals(election.participantId(), other.currentLeader().orElseThrow());
        assertFalse(other.isLeader());
        assertNull(told.get());
    }

    @Test
    void lostOnlyPolicyEndsTheTermOnItsOwnDeadlineWhenTheServerStaysAway() throws Exception {
        ZkLockService leader = service(LossPolicy.LOSE_AT_LOST, Duration.ofSeconds(3));
        LeaderElection election = leader.election("deadline");
        Leadership term = election.awaitLeadership(PATIENCE);
        AtomicReference<LockLostException> told = new AtomicReference<>();
        term.onLost(told::set);

        long stopped = System.nanoTime();
        server.stop(0);
        await().atMost(PATIENCE).until(() -> told.get() != null);
        long tookMs = (System.nanoTime() - stopped) / 1_000_000;
        assertEquals(LossReason.SESSION_EXPIRED, told.get().reason());
        // suspended after about 2/3 of the session, ended one session timeout later at most
        assertTrue(tookMs <= 3_000 + 3_000 + 2_000, "term outlived the session by far: " + tookMs + " ms");
    }

    @Test
    void leavingRemovesTheElectionsZnodesButKeepsTheScheduleRecord() throws Exception {
        ZkLockService a = service(LossPolicy.LOSE_AT_SUSPENDED, Duration.ofSeconds(3));
        ZkLockService b = service(LossPolicy.LOSE_AT_SUSPENDED, Duration.ofSeconds(3));
        LeaderElection ea = a.election("tidy/run", "a");
        ea.awaitLeadership(PATIENCE);
        LeaderElection eb = b.election("tidy/run", "b");
        java.util.concurrent.CountDownLatch ran = new java.util.concurrent.CountDownLatch(1);
        ea.schedule("nightly", Duration.ofHours(1), l -> ran.countDown());
        eb.schedule("nightly", Duration.ofHours(1), l -> ran.countDown());
        assertTrue(ran.await(PATIENCE.toSeconds(), java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(List.of("a", "b"), eb.participants());

        byte[] record = observer.getData().forPath("/baton/schedules/tidy/run/nightly");
        String text = new String(record, java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(text.contains("participant=a") && text.contains("token=" + ea.leadership().orElseThrow().token().value()),
                text);

        ea.close();
        eb.close();
        await().atMost(PATIENCE).until(() -> observer.checkExists().forPath("/baton/elections") == null);
        assertEquals(List.of("/baton/schedules/tidy", "/baton/schedules/tidy/run", "/baton/schedules/tidy/run/nightly"),
                ZkTesting.descendants(observer, "/baton/schedules"));
    }

    @Test
    void aNewLeaderAfterAnExpiryDoesNotRunAScheduledJobAgainInsideThePeriod() throws Exception {
        ZkLockService a = service(LossPolicy.LOSE_AT_SUSPENDED, Duration.ofSeconds(3));
        ZkLockService b = service(LossPolicy.LOSE_AT_SUSPENDED, Duration.ofSeconds(3));
        LeaderElection ea = a.election("nightly-expiry", "a");
        ea.awaitLeadership(PATIENCE);
        LeaderElection eb = b.election("nightly-expiry", "b");
        List<String> runs = java.util.Collections.synchronizedList(new ArrayList<>());
        ea.schedule("job", Duration.ofHours(1), l -> runs.add("a"));
        eb.schedule("job", Duration.ofHours(1), l -> runs.add("b"));
        await().atMost(PATIENCE).until(() -> runs.size() == 1);

        server.expireSession(a.client());
        Leadership next = eb.awaitLeadership(PATIENCE);
        // b's scheduler probes the store's clock with a write after its term write: once that is
        // seen, it has read the record and decided
        await().atMost(PATIENCE).until(() -> observer.checkExists().forPath("/baton/elections/nightly-expiry")
                .getMzxid() > next.token().value());
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5)).until(() -> runs.size() == 1);
        assertEquals(List.of("a"), runs, "the job ran again inside its period after the failover");
    }
}
