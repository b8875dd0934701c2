package dev.baton.lock.test;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.FourLetterWordMain;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ZooKeeper servers in this JVM: one curator-test {@code TestingServer}, or a
 * {@code TestingCluster} of several, on loopback ports that are all different, with the faults a
 * test injects into them. {@link BatonZooKeeper} runs one per test class; use this class directly
 * where a JUnit extension does not fit (a harness that starts an ensemble per run).
 *
 * <p><b>Tick.</b> The server bounds every session timeout to 2-20 ticks, so a short tick allows
 * the short sessions that fault tests need (100 ms: 0.2 s to 2 s). Unless the JVM already sets
 * {@code znode.container.checkIntervalMs}, starting an ensemble sets it to 100 ms, so the servers
 * remove empty container znodes within a fraction of a second (ZooKeeper's default is a minute)
 * and a test can wait for "nothing left behind".
 *
 * <p><b>Servers</b> are numbered from 0 in the order of {@link #addresses()}. {@link #stop} and
 * {@link #start} keep a server's port and data, as a crash and a restart would. A started ensemble
 * is serving: a cluster's constructor returns once every server has joined the quorum.
 *
 * <p><b>Session expiry</b> ({@link #expireSession(long, byte[])}) happens on the server, as after a
 * crash or a partition: a second handle attaches to the session with its id and password, and
 * closes it. (curator-test's {@code KillSession} only makes the client believe its session
 * expired, and races with the client's own reconnection.)
 *
 * <p>Thread-safe. Methods that wait do so for a bounded time, then throw
 * {@link IllegalStateException} saying what did not happen; {@link #close()} is idempotent and
 * deletes the servers' data.
 */
public final class EmbeddedEnsemble implements Closeable {
    /** How long {@link #expireSession} and {@link #killLeader} wait, and a cluster's start. */
    private static final Duration PATIENCE = Duration.ofSeconds(60);
    private static final Duration SRVR_TIMEOUT = Duration.ofSeconds(2);
    private static final Pattern CONNECTIONS = Pattern.compile("Connections: (\\d+)");

    private final TestingServer server;
    private final TestingCluster cluster;
    private final List<InstanceSpec> specs;
    private final Duration tickTime;
    /** Servers stopped and not started since; guarded by this. */
    private final BitSet stopped = new BitSet();
    private boolean closed; // guarded by this

    private EmbeddedEnsemble(TestingServer server, TestingCluster cluster, List<InstanceSpec> specs, Duration tickTime) {
        this.server = server;
        this.cluster = cluster;
        this.specs = List.copyOf(specs);
        this.tickTime = tickTime;
    }

    /**
     * Starts one server with the given tick.
     *
     * @throws IllegalArgumentException if the tick is not between 1 ms and 1 minute
     * @throws IllegalStateException if the server does not start
     */
    public static EmbeddedEnsemble server(Duration tickTime) {
        int tick = tickMillis(tickTime);
        containerCleanupSoon();
        InstanceSpec spec = new InstanceSpec(null, freePorts(1)[0], -1, -1, true, -1, tick, -1);
        try {
            return new EmbeddedEnsemble(new TestingServer(spec, true), null, List.of(spec), tickTime);
        } catch (Exception e) {
            throw new IllegalStateException("Could not start a ZooKeeper server on port " + spec.getPort() + ": " + e, e);
        }
    }

    /**
     * Starts a cluster of {@code size} servers with the given tick, on ports that are all
     * different ({@link #freePorts}), and waits until every server has joined the quorum.
     *
     * @throws IllegalArgumentException if {@code size} is below 2 or the tick is not between 1 ms
     *     and 1 minute
     * @throws IllegalStateException if the cluster does not start or form a quorum within a minute
     * @throws InterruptedException if interrupted while waiting for the quorum (the cluster is closed)
     */
    public static EmbeddedEnsemble cluster(int size, Duration tickTime) throws InterruptedException {
        if (size < 2) {
            throw new IllegalArgumentException("A cluster needs at least 2 servers, got " + size
                    + " (use server(..) for one)");
        }
        int tick = tickMillis(tickTime);
        containerCleanupSoon();
        int[] ports = freePorts(3 * size);
        List<InstanceSpec> specs = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            specs.add(new InstanceSpec(null, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], true, -1, tick, -1));
        }
        TestingCluster cluster = new TestingCluster(specs);
        EmbeddedEnsemble ensemble = new EmbeddedEnsemble(null, cluster, specs, tickTime);
        boolean ok = false;
        try {
            cluster.start();
            for (int i = 0; i < size; i++) {
                if (!ensemble.awaitServing(i, PATIENCE)) {
                    throw new IllegalStateException("Server " + i + " of " + ensemble + " did not join the quorum within "
                            + PATIENCE);
                }
            }
            ok = true;
            return ensemble;
        } catch (InterruptedException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("Could not start " + ensemble + ": " + e, e);
        } finally {
            if (!ok) {
                ensemble.close();
            }
        }
    }

    /**
     * {@code count} free loopback ports, all different: every socket stays bound until all are
     * chosen, then all are closed. (curator-test's own choice binds and closes one socket per
     * port, so two servers of one cluster can be handed the same port.) A port is free when
     * chosen; nothing stops another process from taking it before it is used.
     *
     * @throws UncheckedIOException if a socket cannot be bound
     */
    public static int[] freePorts(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("count must be positive, got " + count);
        }
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) {
                ServerSocket socket = new ServerSocket(0);
                sockets.add(socket);
                ports[i] = socket.getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("Could not find " + count + " free ports: " + e.getMessage(), e);
        } finally {
            for (ServerSocket socket : sockets) {
                try {
                    socket.close();
                } catch (IOException e) {
                    // it was only a probe
                }
            }
        }
    }

    /** A connect string for every server, direct (not through any proxy). */
    public String connectString() {
        return server != null ? server.getConnectString() : cluster.getConnectString();
    }

    /** The servers' client addresses, in server order. */
    public List<InetSocketAddress> addresses() {
        return specs.stream().map(s -> new InetSocketAddress("127.0.0.1", s.getPort())).toList();
    }

    /** How many servers. */
    public int size() {
        return specs.size();
    }

    /** The servers' tick. */
    public Duration tickTime() {
        return tickTime;
    }

    /**
     * Stops server {@code index} (a crash: its clients' connections drop), keeping its port and
     * data. Stopping a stopped server does nothing.
     *
     * @throws IndexOutOfBoundsException if there is no such server
     * @throws IllegalStateException if the ensemble is closed or the server cannot be stopped
     */
    public synchronized void stop(int index) {
        checkOpen(index);
        if (stopped.get(index)) {
            return;
        }
        try {
            if (server != null) {
                server.stop();
            } else {
                cluster.killServer(specs.get(index));
            }
        } catch (Exception e) {
            throw new IllegalStateException("Could not stop server " + index + " of " + this + ": " + e, e);
        }
        stopped.set(index);
    }

    /**
     * Starts server {@code index} again on its port, with its data, after {@link #stop}; returns
     * once it runs (a cluster's server may take a moment more to rejoin the quorum:
     * {@link #awaitServing}). Starting a running server does nothing.
     *
     * @throws IndexOutOfBoundsException if there is no such server
     * @throws IllegalStateException if the ensemble is closed or the server does not start
     */
    public synchronized void start(int index) {
        checkOpen(index);
        if (!stopped.get(index)) {
            return;
        }
        try {
            if (server != null) {
                server.restart();
            } else {
                cluster.restartServer(specs.get(index));
            }
        } catch (Exception e) {
            throw new IllegalStateException("Could not start server " + index + " of " + this + " again: " + e, e);
        }
        stopped.clear(index);
    }

    /**
     * Stops server {@code index}, starts it again, and waits until it serves (up to a minute).
     *
     * @throws IllegalStateException if it does not serve again within a minute
     */
    public void restart(int index) throws InterruptedException {
        stop(index);
        start(index);
        if (!awaitServing(index, PATIENCE)) {
            throw new IllegalStateException("Server " + index + " of " + this + " did not serve within " + PATIENCE
                    + " of its restart");
        }
    }

    /** Whether server {@code index} runs and answers as part of a quorum, or as a standalone server. */
    public boolean isServing(int index) {
        String srvr = srvr(index);
        return srvr.contains("Mode: leader") || srvr.contains("Mode: follower") || srvr.contains("Mode: standalone");
    }

    /** Waits until server {@code index} {@link #isServing serves}; whether it did within {@code max}. */
    public boolean awaitServing(int index, Duration max) throws InterruptedException {
        Objects.checkIndex(index, size());
        return poll(() -> isServing(index), max);
    }

    /**
     * The index of the server that says it leads the quorum (ZooKeeper's {@code srvr} command),
     * or empty if none does right now (an election is going on, or this is a single server,
     * which has no quorum leader).
     */
    public OptionalInt leader() {
        for (int i = 0; i < size(); i++) {
            if (srvr(i).contains("Mode: leader")) {
                return OptionalInt.of(i);
            }
        }
        return OptionalInt.empty();
    }

    /**
     * Waits until a server leads the quorum (up to a minute) and {@link #stop stops} it; returns
     * its index, for {@link #start}. The others elect a new leader; with a majority left the
     * cluster goes on serving.
     *
     * @throws IllegalStateException if this is a single server, or no server led within a minute
     */
    public int killLeader() throws InterruptedException {
        if (server != null) {
            throw new IllegalStateException("A single server has no quorum leader: stop(0) or restart(0) it instead");
        }
        int[] leader = {-1};
        if (!poll(() -> {
            leader[0] = leader().orElse(-1);
            return leader[0] >= 0;
        }, PATIENCE)) {
            throw new IllegalStateException("No server of " + this + " led within " + PATIENCE);
        }
        stop(leader[0]);
        return leader[0];
    }

    /** How many client connections server {@code index} reports; 0 if it does not answer. */
    public int connections(int index) {
        Matcher m = CONNECTIONS.matcher(srvr(index));
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    /**
     * Expires {@code client}'s current session on the server ({@link #expireSession(long, byte[])}).
     *
     * @throws IllegalStateException if the client has no ZooKeeper handle, or as {@link #expireSession(long, byte[])}
     */
    public void expireSession(CuratorFramework client) throws InterruptedException {
        ZooKeeper zk;
        try {
            zk = client.getZookeeperClient().getZooKeeper();
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("The client has no ZooKeeper handle to expire: " + e, e);
        }
        expireSession(zk.getSessionId(), zk.getSessionPasswd());
    }

    /**
     * Expires the session {@code sessionId} on the server, as a crash or a partition would once
     * its timeout had passed: a second handle attaches to the session with its id and password,
     * waits until the ensemble has accepted it (up to a minute), and closes it. When this returns
     * the session is gone on the server: its ephemeral nodes are deleted and its client learns of
     * the expiry at its next contact (its connection is dropped at once, so under Curator it is
     * first SUSPENDED, then LOST on reconnecting).
     *
     * @throws IllegalStateException if the handle could not attach within a minute (the session
     *     was already gone, or no server answered)
     */
    public void expireSession(long sessionId, byte[] password) throws InterruptedException {
        expireSession(connectString(), sessionId, password, tickTime.multipliedBy(20));
    }

    /**
     * Expires {@code client}'s current session on the ensemble at {@code connectString}, any
     * ensemble (servers in child JVMs, say), as {@link #expireSession(CuratorFramework)} does on
     * this one.
     *
     * @throws IllegalStateException if the client has no ZooKeeper handle, or the twin handle
     *     could not attach within a minute
     */
    public static void expireSession(String connectString, CuratorFramework client) throws InterruptedException {
        ZooKeeper zk;
        try {
            zk = client.getZookeeperClient().getZooKeeper();
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("The client has no ZooKeeper handle to expire: " + e, e);
        }
        expireSession(connectString, zk.getSessionId(), zk.getSessionPasswd(), Duration.ofSeconds(20));
    }

    private static void expireSession(String connectString, long sessionId, byte[] password, Duration timeout)
            throws InterruptedException {
        Objects.requireNonNull(password, "password must not be null");
        CountDownLatch attached = new CountDownLatch(1);
        Watcher watcher = e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                attached.countDown();
            }
        };
        ZooKeeper twin;
        try {
            twin = new ZooKeeper(connectString, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()), watcher,
                    sessionId, password);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not open a handle to expire session 0x" + Long.toHexString(sessionId), e);
        }
        try {
            if (!attached.await(PATIENCE.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("Could not attach to session 0x" + Long.toHexString(sessionId)
                        + " within " + PATIENCE + " to expire it");
            }
        } finally {
            twin.close();
        }
    }

    /** Stops every server and deletes their data. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (server != null) {
                server.close();
            } else {
                cluster.close();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Could not close " + this, e);
        }
    }

    /** For example {@code "3 servers (TestingCluster, tick 200 ms)"}. */
    @Override
    public String toString() {
        return server != null ? "1 server (TestingServer, tick " + tickTime.toMillis() + " ms)"
                : specs.size() + " servers (TestingCluster, tick " + tickTime.toMillis() + " ms)";
    }

    /** Starts every server a test stopped and left stopped; whether all then serve within {@code max}. */
    boolean startStopped(Duration max) throws InterruptedException {
        List<Integer> down = new ArrayList<>();
        synchronized (this) {
            for (int i = stopped.nextSetBit(0); i >= 0; i = stopped.nextSetBit(i + 1)) {
                down.add(i);
            }
        }
        for (int i : down) {
            start(i);
        }
        for (int i = 0; i < size(); i++) {
            if (!awaitServing(i, max)) {
                return false;
            }
        }
        return true;
    }

    private void checkOpen(int index) {
        Objects.checkIndex(index, size());
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
    }

    /** ZooKeeper's {@code srvr} answer of server {@code index}; empty if it does not answer. */
    private String srvr(int index) {
        Objects.checkIndex(index, size());
        try {
            return FourLetterWordMain.send4LetterWord("127.0.0.1", specs.get(index).getPort(), "srvr", false,
                    (int) SRVR_TIMEOUT.toMillis());
        } catch (Exception e) {
            return ""; // down or not answering
        }
    }

    /** Polls {@code condition} every 20 ms until it holds (true) or {@code max} has passed (false). */
    private static boolean poll(BooleanSupplier condition, Duration max) throws InterruptedException {
        long until = System.nanoTime() + max.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - until > 0) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    private static int tickMillis(Duration tickTime) {
        Objects.requireNonNull(tickTime, "tickTime must not be null");
        if (tickTime.compareTo(Duration.ofMillis(1)) < 0 || tickTime.compareTo(Duration.ofMinutes(1)) > 0) {
            throw new IllegalArgumentException("tickTime must be between 1 ms and 1 minute, got " + tickTime);
        }
        return (int) tickTime.toMillis();
    }

    /** Lets the servers remove empty containers every 100 ms unless the JVM says otherwise. */
    private static void containerCleanupSoon() {
        if (System.getProperty("znode.container.checkIntervalMs") == null) {
            System.setProperty("znode.container.checkIntervalMs", "100");
        }
    }
}
