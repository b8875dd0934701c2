package dev.baton.lock.zk;

import dev.baton.lock.FencingToken;
import dev.baton.lock.Leadership;
import dev.baton.lock.LockException;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.AbstractElection;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A participant in a leader election on ZooKeeper: Curator's {@link LeaderLatch} decides who
 * leads, Baton decides when a term begins and ends and what its token is.
 *
 * <p><b>Layout.</b> The latch's nodes (ephemeral-sequential, one per participant, holding its
 * id) live under {@code <namespace>/elections/<name>}, a CONTAINER node that the server removes
 * once every participant has left. Scheduled jobs keep their last run in the persistent node
 * {@code <namespace>/schedules/<name>/<job>}. The server may remove an empty container just as a
 * participant joins under it; Curator's latch then waits without a node, so a participant checks
 * every {@link #JOIN_CHECK} that it has one and joins again if not.
 *
 * <p><b>The term token.</b> When the latch reports leadership, this participant makes one
 * write: a ZooKeeper {@code multi} that checks that its latch node still exists and sets the
 * election node's data to its id. The term's token is that write's zxid (the election node's
 * mzxid). Why it strictly increases from term to term, whoever leads:
 * <ol>
 * <li>A latch node is the lowest of its group from the moment the latch sees it first until it
 *     is deleted: later nodes get higher sequence numbers, and the election node cannot be
 *     deleted and recreated (restarting the sequence) while the node exists. Node names carry a
 *     random prefix (Curator's protected mode), so a check on that name cannot match another node.</li>
 * <li>The term write commits only while the node exists, after the latch saw it lowest, so its
 *     zxid lies inside the interval in which that node is lowest. Two nodes' intervals do not
 *     overlap (only one node is lowest at a time), so a later leader's write has a larger zxid.</li>
 * <li>Two terms on the same node (the latch may win again on the node it had before a
 *     suspension) are two writes, and every write has a zxid larger than all before it.</li>
 * </ol>
 * The node's own czxid would not do: after a reconnection it would repeat across two terms, and
 * a stray write from the interrupted term would pass the fence. The write does not touch the
 * latch node itself, whose data watch (held by the next participant) must fire only on deletion.
 *
 * <p><b>Loss.</b> Under {@link LossPolicy#LOSE_AT_SUSPENDED} a term ends the moment the connection
 * is suspended; under {@link LossPolicy#LOSE_AT_LOST} when ZooKeeper reports the session expired,
 * when the client reconnects with another session, or one session timeout (on the monotonic
 * clock) after the suspension, whichever is first, and also whenever the latch gives up
 * leadership. Curator's latch gives it up at SUSPENDED unless the client's
 * {@code ConnectionStateErrorPolicy} is session-based; a service built from a connect string sets
 * that for LOSE_AT_LOST, a caller's client keeps its own policy.
 */
final class ZkLeaderElection extends AbstractElection implements Session.Subscriber {
    private static final Logger LOG = LoggerFactory.getLogger(ZkLeaderElection.class);

    static final String ELECTIONS = "/elections";
    static final String SCHEDULES = "/schedules";
    /** Pause before trying a failed term write again while the latch still says we lead. */
    private static final Duration CONFIRM_RETRY = Duration.ofMillis(500);
    /**
     * How often a participant checks that its latch has a node; one missing at
     * {@link #JOIN_CHECKS} checks in a row while connected is made again.
     */
    static final Duration JOIN_CHECK = Duration.ofSeconds(1);
    /** How many join checks in a row must find the latch without a node before it joins again. */
    static final int JOIN_CHECKS = 3;

    private final Session session;
    private final CuratorFramework client;
    private final Consumer<ZkLeaderElection> onLeave;
    private final String path;
    private final byte[] idBytes;
    private final Latch latch;
    /** Confirms terms and runs anything that may block on ZooKeeper. */
    private final ScheduledExecutorService worker;

    // guarded by this
    private String termNode;
    private long termSession;
    /** How many join checks in a row found the latch without a node (worker thread only). */
    private int nodeMissing;

    ZkLeaderElection(Session session, CuratorFramework client, String name, String participantId,
                     Consumer<ZkLeaderElection> onLeave) {
        super(name, participantId);
        this.session = session;
        this.client = client;
        this.onLeave = onLeave;
        this.path = ELECTIONS + "/" + name();
        this.idBytes = participantId.getBytes(StandardCharsets.UTF_8);
        this.latch = new Latch(client, path, participantId);
        this.worker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "baton-election-" + name());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Joins the group.
     *
     * @throws AccessDeniedException if this client's identity may not create the election's node
     *     (checked while connected; the latch would only log it and never lead)
     */
    void start() {
        mayJoin();
        session.subscribe(this);
        latch.addListener(new LeaderLatchListener() {
            @Override
            public void isLeader() {
                submitConfirm(Duration.ZERO);
            }

            @Override
            public void notLeader() {
                Callbacks.deliver(() -> endTerm(reasonNow()));
            }
        }, Runnable::run);
        try {
            latch.start();
        } catch (Exception e) {
            session.unsubscribe(this);
            worker.shutdownNow();
            throw new LockException("Could not join election " + name() + ": " + e, e);
        }
        long period = JOIN_CHECK.toNanos();
        try {
            worker.scheduleWithFixedDelay(this::checkJoined, period, period, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // closed while joining: leave() has shut the worker down and closes the latch
        }
    }

    /**
     * Creates the election's node, as the latch would, to learn whether this client may: ZooKeeper
     * checks the parent's ACL before it looks for the node, so an existing node answers NodeExists
     * only to a client allowed to create there. Connection trouble is left to the latch.
     */
    private void mayJoin() {
        if (!client.getZookeeperClient().isConnected()) {
            return;
        }
        try {
            client.create().creatingParentContainersIfNeeded().withMode(CreateMode.CONTAINER).forPath(path);
        } catch (KeeperException.NodeExistsException allowed) {
            // the usual case
        } catch (KeeperException e) {
            if (Access.refused(e.code())) {
                throw Access.denied("join election " + name(), Access.TO_JOIN, e);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the latch's own calls see the interrupt
        } catch (Exception e) {
            // the latch meets the same trouble and handles it
        }
    }

    /**
     * Curator's latch makes its node in the background and, if that fails for any reason but a
     * lost connection, only logs it: it then waits without a node, never leading, until the
     * next reconnection. It does fail when a parent container of the election is removed by
     * the server (it was empty) between the latch finding it and creating under it. A latch
     * seen without a node at {@value #JOIN_CHECKS} checks in a row while connected is therefore
     * started over. (A create that Curator still holds back, for a retry, may then make a second
     * node; whichever answers last deletes the other.)
     */
    private void checkJoined() {
        boolean missing = latch.getState() == LeaderLatch.State.STARTED && latch.getOurPath() == null
                && client.getZookeeperClient().isConnected();
        nodeMissing = missing ? nodeMissing + 1 : 0;
        if (nodeMissing >= JOIN_CHECKS) {
            LOG.warn("Participant {} of election {} has no latch node (its creation failed); joining again",
                    participantId(), name());
            try {
                latch.rejoin();
            } catch (RuntimeException e) {
                LOG.warn("Could not rejoin election {}; trying again", name(), e); // and keep checking
            }
            nodeMissing = 0; // the new attempt gets its full time
        }
    }

    /** Curator's latch, which can be told to look for its node again (and make it if missing). */
    private static final class Latch extends LeaderLatch {
        Latch(CuratorFramework client, String path, String participantId) {
            super(client, path, participantId, CloseMode.SILENT);
        }

        /** Reads the group again as after a reconnection: a latch without its node makes one. */
        void rejoin() {
            handleStateChange(ConnectionState.RECONNECTED);
        }
    }

    // ------------------------------------------------------------------------------- terms

    private void submitConfirm(Duration delay) {
        try {
            worker.schedule(this::confirm, delay.toNanos(), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // leaving the election
        }
    }

    /** On the worker: turns the latch's leadership into a term with a fresh token. */
    private void confirm() {
        if (isClosed() || !latch.hasLeadership() || currentTerm().isPresent()) {
            return;
        }
        long epoch = epoch();
        String node = latch.getLastPathIsLeader();
        if (node == null) {
            return;
        }
        Stat stat;
        long session;
        try {
            stat = termWrite(node);
            // read after the write: if the session changed before this line, the next
            // reconnection sees a different session and ends the term
            session = client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (KeeperException.NoNodeException gone) {
            LOG.debug("Latch node {} of election {} is gone; no term", node, name());
            return;
        } catch (Exception e) {
            if (latch.hasLeadership() && !isClosed()) {
                LOG.info("Could not begin a term in election {} ({}); trying again", name(), e.toString());
                submitConfirm(CONFIRM_RETRY);
            }
            return;
        }
        synchronized (this) {
            termNode = node;
            termSession = session;
        }
        if (!latch.hasLeadership()) {
            return; // the latch gave up meanwhile; its notLeader advanced the epoch too
        }
        beginTerm(FencingToken.of(stat.getMzxid()), Instant.ofEpochMilli(stat.getMtime()), epoch);
    }

    /**
     * One write that commits only while {@code node} exists: its zxid is a token, its mtime the
     * ensemble leader's clock now.
     */
    private Stat termWrite(String node) throws Exception {
        List<CuratorTransactionResult> results = client.transaction().forOperations(
                client.transactionOp().check().forPath(node),
                client.transactionOp().setData().forPath(path, idBytes));
        return results.get(1).getResultStat();
    }

    /**
     * Why the latch gave up leadership, judged from the connection right now. Curator's own
     * connected flag is cleared before it reports a suspension (ZooKeeper's handle may still say
     * CONNECTED for a while after its socket broke). A latch whose client treats SUSPENDED as no
     * error gives up only when the session is lost.
     */
    private LossReason reasonNow() {
        if (client.getZookeeperClient().isConnected()) {
            return LossReason.REVOKED;
        }
        return client.getConnectionStateErrorPolicy().isErrorState(ConnectionState.SUSPENDED)
                ? LossReason.CONNECTION_SUSPENDED : LossReason.SESSION_EXPIRED;
    }

    /** The service's session says terms end now: at a suspension or at the session's loss, by its policy. */
    @Override
    public void lose(LossReason reason) {
        endTerm(reason);
    }

    @Override
    public void reconnected(long sessionId) {
        if (sessionId == -1) {
            endTerm(LossReason.SESSION_EXPIRED);
            return;
        }
        boolean otherSession;
        synchronized (this) {
            otherSession = termSession != sessionId;
        }
        if (otherSession && currentTerm().isPresent()) {
            endTerm(LossReason.SESSION_EXPIRED);
        }
        if (latch.hasLeadership()) {
            submitConfirm(Duration.ZERO); // does nothing if the term goes on
        }
    }

    // ------------------------------------------------------------------------ scheduled jobs

    @Override
    protected Duration claimRun(String job, Duration period, Leadership term) throws Exception {
        String node;
        synchronized (this) {
            node = termNode;
        }
        String record = SCHEDULES + "/" + name() + "/" + job;
        while (true) {
            term.ensureValid();
            Stat last = new Stat();
            boolean exists;
            try {
                client.getData().storingStatIn(last).forPath(record);
                exists = true;
            } catch (KeeperException.NoNodeException e) {
                exists = false;
            }
            Stat now;
            try {
                now = termWrite(node); // proves we still lead, and reads the ensemble's clock
            } catch (KeeperException.NoNodeException e) {
                throw new LockException("Election " + name() + ": this participant no longer leads (its latch node "
                        + node + " is gone)", e);
            }
            if (exists) {
                long elapsed = Math.max(0, now.getMtime() - last.getMtime());
                if (elapsed < period.toMillis()) {
                    return Duration.ofMillis(period.toMillis() - elapsed);
                }
            }
            byte[] data = ("token=" + term.token().value() + "\nparticipant=" + participantId() + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            CuratorOp write;
            if (exists) {
                write = client.transactionOp().setData().withVersion(last.getVersion()).forPath(record, data);
            } else {
                client.createContainers(ZKPaths.getPathAndNode(record).getPath());
                write = client.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(record, data);
            }
            try {
                client.transaction().forOperations(client.transactionOp().check().forPath(node), write);
                return Duration.ZERO;
            } catch (KeeperException.BadVersionException | KeeperException.NodeExistsException raced) {
                LOG.debug("Run of {} in election {} recorded by someone else meanwhile; reading again", job, name());
            }
        }
    }

    // ----------------------------------------------------------------------------- queries

    @Override
    public Optional<String> currentLeader() {
        try {
            Participant leader = latch.getLeader();
            return leader.isLeader() && !leader.getId().isEmpty() ? Optional.of(leader.getId()) : Optional.empty();
        } catch (KeeperException.NoNodeException e) {
            return Optional.empty();
        } catch (Exception e) {
            throw new LockException("Could not read the leader of election " + name() + ": " + e, e);
        }
    }

    @Override
    public List<String> participants() {
        try {
            List<String> ids = new ArrayList<>();
            for (Participant p : latch.getParticipants()) {
                ids.add(p.getId());
            }
            return ids;
        } catch (KeeperException.NoNodeException e) {
            return List.of();
        } catch (Exception e) {
            throw new LockException("Could not read the participants of election " + name() + ": " + e, e);
        }
    }

    // ------------------------------------------------------------------------------- leave

    @Override
    protected void leave() {
        session.unsubscribe(this);
        worker.shutdownNow();
        try {
            if (latch.getState() == LeaderLatch.State.STARTED) {
                latch.close(); // deletes our node in the background, guaranteed
            }
        } catch (Exception e) {
            LOG.warn("Could not leave election {} cleanly; the session's end will remove its node", name(), e);
        }
        onLeave.accept(this);
    }

    /** The latch node path, for tests. */
    String latchNode() {
        return latch.getOurPath();
    }
}
