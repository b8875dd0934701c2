package dev.baton.lock.test;

import dev.baton.lock.zk.LossPolicy;
import dev.baton.lock.zk.ZkLockService;
import dev.baton.lock.zk.ZkLockServiceBuilder;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A JUnit 5 extension that gives each test class a ZooKeeper ensemble in this JVM, and each test a
 * fresh namespace, a ready {@link ZkLockService}, and the faults to inject. Register it on a
 * static field:
 *
 * <pre>{@code
 * @RegisterExtension
 * static final BatonZooKeeper zk = BatonZooKeeper.server();          // or .cluster(3), .tickTime(..)
 *
 * @Test
 * void holderLearnsOfExpiry() throws Exception {
 *     Lease lease = zk.service().acquire(LockKey.of("orders", "42"), Duration.ofSeconds(5));
 *     zk.expireSession(zk.service());
 *     await().until(() -> !lease.isValid());
 * }
 * }</pre>
 *
 * <p><b>Per class</b> (before the class's own {@code @BeforeAll} methods, closed after its
 * {@code @AfterAll} ones): an {@link EmbeddedEnsemble} (one server, or a cluster whose servers are
 * all serving), with a tick of 500 ms unless {@link #tickTime} says otherwise, and a plain
 * {@link #observer()} client without a namespace.
 *
 * <p><b>Per test</b> (from before the test's {@code @BeforeEach} methods to after its
 * {@code @AfterEach} ones): a {@link #namespace()} no other test uses; {@link #service()}, made
 * at its first call in the test with {@link ServiceOptions#defaults()}; and as many more services
 * as {@link #newService(ServiceOptions)} makes, all in that namespace. After the test, the kit
 * thaws their proxies, closes every service it made (a lease still held is lost with
 * {@code SERVICE_CLOSED}), then their clients and proxies, starts again any server the test left
 * stopped, and deletes what is left under the namespace (except znodes whose ACL forbids the
 * observer to delete them). A failure to do so fails the test.
 *
 * <p><b>Kit services.</b> {@link ZkLockService} does not show its session, which server-side
 * expiry needs. So the kit builds each service over a Curator client it creates and owns
 * ({@code ZkLockService.builder().client(curator).namespace(namespace())}), configured as the
 * builder configures its own: the options' session and connection timeouts,
 * {@code ExponentialBackoffRetry(100, 3)}, and {@code SessionConnectionStateErrorPolicy} under
 * {@link LossPolicy#LOSE_AT_LOST}, else the standard policy; and, unlike the builder, with
 * Curator's ensemble tracking off, so a client behind proxies stays behind them. The kit closes
 * that client after the service. The fault helpers ({@link #expireSession(ZkLockService)},
 * {@link #freeze}, {@link #thaw}, {@link #cutConnections}, {@link #sessionId}) accept only
 * services the kit made in the current test, and throw {@link IllegalArgumentException} for any
 * other.
 *
 * <p><b>Servers.</b> {@link #ensemble()} stops, starts and restarts servers and kills the quorum
 * leader.
 *
 * <p>Immutable configuration, mutable run state: the per-test methods may be called from any
 * thread while a test runs, and throw {@link IllegalStateException} outside a test. Tests of one
 * class must not run concurrently (they share the current test's state). On an instance field the
 * extension does not get the class callbacks; it then refuses to run the test with a message
 * saying to make the field static.
 */
public final class BatonZooKeeper implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback,
        AfterEachCallback {
    private static final Duration DEFAULT_TICK = Duration.ofMillis(500);
    /** How long after a test the kit waits for servers it starts again. */
    private static final Duration RECOVERY = Duration.ofSeconds(60);
    private static final AtomicLong NAMESPACES = new AtomicLong();

    private final int size;
    private final Duration tickTime;

    private final Object lock = new Object();
    private EmbeddedEnsemble ensemble; // guarded by lock
    private CuratorFramework observer; // guarded by lock
    private TestScope scope; // guarded by lock

    private BatonZooKeeper(int size, Duration tickTime) {
        this.size = size;
        this.tickTime = tickTime;
    }

    /** One embedded server ({@code TestingServer}). */
    public static BatonZooKeeper server() {
        return new BatonZooKeeper(1, DEFAULT_TICK);
    }

    /**
     * A cluster of {@code size} servers ({@code TestingCluster}), on ports that are all different.
     *
     * @throws IllegalArgumentException if {@code size} is below 2
     */
    public static BatonZooKeeper cluster(int size) {
        if (size < 2) {
            throw new IllegalArgumentException("A cluster needs at least 2 servers, got " + size
                    + " (use server() for one)");
        }
        return new BatonZooKeeper(size, DEFAULT_TICK);
    }

    /**
     * The same extension with the servers' tick set to {@code tickTime} (default 500 ms). The
     * servers bound session timeouts to 2-20 ticks, so a short tick allows short sessions: with
     * 100 ms, 0.2 s to 2 s.
     *
     * @throws IllegalArgumentException if it is not between 1 ms and 1 minute
     */
    public BatonZooKeeper tickTime(Duration tickTime) {
        Objects.requireNonNull(tickTime, "tickTime must not be null");
        if (tickTime.compareTo(Duration.ofMillis(1)) < 0 || tickTime.compareTo(Duration.ofMinutes(1)) > 0) {
            throw new IllegalArgumentException("tickTime must be between 1 ms and 1 minute, got " + tickTime);
        }
        return new BatonZooKeeper(size, tickTime);
    }

    // ------------------------------------------------------------------------------ per class

    /** The running servers: stop, start or restart one, kill the quorum leader. */
    public EmbeddedEnsemble ensemble() {
        synchronized (lock) {
            if (ensemble == null) {
                throw new IllegalStateException("The ZooKeeper servers run only while the test class does");
            }
            return ensemble;
        }
    }

    /** A connect string for every server, direct (not through any proxy). */
    public String connectString() {
        return ensemble().connectString();
    }

    /**
     * A started plain client without a namespace, shared by the test class (do not close it): it
     * sees every znode, and ephemeral nodes it creates live until the class ends.
     */
    public CuratorFramework observer() {
        synchronized (lock) {
            if (observer == null) {
                throw new IllegalStateException("The observer runs only while the test class does");
            }
            return observer;
        }
    }

    // ------------------------------------------------------------------------------- per test

    /**
     * The current test's namespace: a znode name no other test of this JVM uses, under which its
     * kit services keep their locks ({@code /<namespace>/locks/...}).
     */
    public String namespace() {
        return scope().namespace;
    }

    /**
     * The current test's service, made at the first call in the test with
     * {@link ServiceOptions#defaults()}, connected, in {@link #namespace()}; closed after the test.
     *
     * @throws IllegalStateException outside a test, or if it cannot connect within the connection timeout
     */
    public ZkLockService service() {
        TestScope s = scope();
        synchronized (s) {
            if (s.service == null) {
                s.service = newService(ServiceOptions.defaults());
            }
            return s.service;
        }
    }

    /** Another service with {@link ServiceOptions#defaults()}: its own session, the same namespace. */
    public ZkLockService newService() {
        return newService(ServiceOptions.defaults());
    }

    /**
     * Another service configured by {@code options}, with its own client and session, connected,
     * in {@link #namespace()}; closed after the test with its client and proxies.
     *
     * @throws IllegalStateException outside a test, or if it cannot connect within the options'
     *     connection timeout (the interrupt flag is kept if the wait was interrupted)
     */
    public ZkLockService newService(ServiceOptions options) {
        Objects.requireNonNull(options, "options must not be null");
        TestScope s = scope();
        EmbeddedEnsemble servers = ensemble();
        KitClient client = KitClient.open(servers, options);
        try {
            ZkLockServiceBuilder builder = ZkLockService.builder().client(client.curator).namespace(s.namespace)
                    .lossPolicy(options.lossPolicy()).connectionTimeout(options.connectionTimeout());
            if (options.defaultLeaseTime() != null) {
                builder.defaultLeaseTime(options.defaultLeaseTime());
            }
            client.service = builder.build();
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
        s.add(client);
        return client.service;
    }

    /**
     * Every znode under the current test's namespace (the namespace node itself not included), as
     * absolute paths, each parent before its children; empty if there is none. Close the services
     * first to check that nothing is left behind: the servers remove empty containers within a
     * moment ({@link EmbeddedEnsemble}), so wait for it rather than assert at once.
     *
     * @throws IllegalStateException outside a test, or if the observer cannot list them
     */
    public List<String> znodes() {
        String root = "/" + namespace();
        try {
            List<String> out = new ArrayList<>();
            collect(observer(), root, out);
            return Collections.unmodifiableList(out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while listing " + root, e);
        } catch (Exception e) {
            throw new IllegalStateException("Could not list the znodes under " + root + ": " + e, e);
        }
    }

    // -------------------------------------------------------------------------------- faults

    /**
     * Expires the session of {@code service} on the server ({@link EmbeddedEnsemble#expireSession(long, byte[])}):
     * when this returns its ephemeral nodes are gone and another client can take its locks. The
     * service hears of it through its dropped connection: under {@link LossPolicy#LOSE_AT_SUSPENDED}
     * its leases are lost with {@code CONNECTION_SUSPENDED} at once, under
     * {@link LossPolicy#LOSE_AT_LOST} with {@code SESSION_EXPIRED} once it has reconnected and been
     * told. Its client then goes on with a new session.
     *
     * @throws IllegalArgumentException if the kit did not make {@code service} in this test
     * @throws IllegalStateException if the session could not be reached within a minute
     */
    public void expireSession(ZkLockService service) throws InterruptedException {
        ensemble().expireSession(client(service).curator);
    }

    /**
     * Expires the current session of any client of this ensemble on the server
     * ({@link EmbeddedEnsemble#expireSession(CuratorFramework)}).
     */
    public void expireSession(CuratorFramework client) throws InterruptedException {
        ensemble().expireSession(Objects.requireNonNull(client, "client must not be null"));
    }

    /**
     * Freezes the connection of {@code service}, made with {@link ServiceOptions#throughProxy()}:
     * nothing passes either way but no connection closes ({@link TcpProxy#freeze()}). The client
     * notices after two thirds of its session timeout (SUSPENDED); the server expires the session
     * once its timeout has passed. {@link #thaw} ends it; the kit thaws after the test.
     *
     * @throws IllegalArgumentException if the kit did not make {@code service} in this test through a proxy
     */
    public void freeze(ZkLockService service) {
        proxied(service).forEach(TcpProxy::freeze);
    }

    /** Ends a {@link #freeze}: the connection forwards again, and whatever was held back. */
    public void thaw(ZkLockService service) {
        proxied(service).forEach(TcpProxy::thaw);
    }

    /**
     * Closes the connections of {@code service}, made with {@link ServiceOptions#throughProxy()},
     * as a reset would ({@link TcpProxy#cutConnections()}): the client sees the disconnection at
     * once (SUSPENDED) and reconnects through the proxy, on the same session if it does so within
     * the session timeout.
     *
     * @throws IllegalArgumentException if the kit did not make {@code service} in this test through a proxy
     */
    public void cutConnections(ZkLockService service) {
        proxied(service).forEach(TcpProxy::cutConnections);
    }

    /**
     * The id of the ZooKeeper session that {@code service}'s client has now (after an expiry, the
     * new one once it has reconnected).
     *
     * @throws IllegalArgumentException if the kit did not make {@code service} in this test
     */
    public long sessionId(ZkLockService service) {
        try {
            return client(service).curator.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while reading the session id", e);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("The service's client has no ZooKeeper handle: " + e, e);
        }
    }

    // -------------------------------------------------------------------------------- JUnit

    /** Starts the servers and the observer. */
    @Override
    public void beforeAll(ExtensionContext context) throws InterruptedException {
        synchronized (lock) {
            if (ensemble != null) {
                throw new IllegalStateException("This BatonZooKeeper already runs for another test class");
            }
            EmbeddedEnsemble servers = size == 1 ? EmbeddedEnsemble.server(tickTime)
                    : EmbeddedEnsemble.cluster(size, tickTime);
            try {
                CuratorFramework plain = CuratorFrameworkFactory.builder().connectString(servers.connectString())
                        .sessionTimeoutMs((int) tickTime.multipliedBy(20).toMillis()).connectionTimeoutMs(10_000)
                        .retryPolicy(new RetryNTimes(10, 100)).build();
                plain.start();
                if (!plain.blockUntilConnected(30, TimeUnit.SECONDS)) {
                    plain.close();
                    throw new IllegalStateException("The observer could not connect to " + servers + " within 30 s");
                }
                observer = plain;
                ensemble = servers;
            } catch (InterruptedException | RuntimeException e) {
                servers.close();
                throw e;
            }
        }
    }

    /** Stops the observer and the servers. */
    @Override
    public void afterAll(ExtensionContext context) {
        synchronized (lock) {
            try {
                if (observer != null) {
                    observer.close();
                }
            } finally {
                observer = null;
                if (ensemble != null) {
                    ensemble.close();
                }
                ensemble = null;
            }
        }
    }

    /** Opens the test's namespace. */
    @Override
    public void beforeEach(ExtensionContext context) {
        synchronized (lock) {
            if (ensemble == null) {
                throw new IllegalStateException("BatonZooKeeper starts its servers once per class: register it on a "
                        + "static field (@RegisterExtension static final BatonZooKeeper zk = BatonZooKeeper.server();)");
            }
            scope = new TestScope(namespaceFor(context));
        }
    }

    /** Closes what the test made, starts stopped servers again, and cleans the namespace. */
    @Override
    public void afterEach(ExtensionContext context) {
        TestScope ending;
        EmbeddedEnsemble servers;
        CuratorFramework plain;
        synchronized (lock) {
            ending = scope;
            scope = null;
            servers = ensemble;
            plain = observer;
        }
        if (ending == null || servers == null) {
            return;
        }
        List<Throwable> failures = new ArrayList<>();
        ending.close(failures);
        try {
            if (!servers.startStopped(RECOVERY)) {
                failures.add(new IllegalStateException("Servers the test stopped did not serve again within " + RECOVERY));
            } else {
                deleteTree(plain, "/" + ending.namespace);
            }
        } catch (Exception e) {
            failures.add(e);
        }
        if (!failures.isEmpty()) {
            Throwable first = failures.get(0);
            IllegalStateException failure = new IllegalStateException("Cleaning up after the test failed: " + first,
                    first);
            failures.subList(1, failures.size()).forEach(failure::addSuppressed);
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "BatonZooKeeper(" + (size == 1 ? "1 server" : size + " servers") + ", tick " + tickTime.toMillis()
                + " ms)";
    }

    // ------------------------------------------------------------------------------- inside

    private TestScope scope() {
        synchronized (lock) {
            if (scope == null) {
                throw new IllegalStateException("No test is running: use BatonZooKeeper's per-test methods in a test "
                        + "or its @BeforeEach and @AfterEach methods");
            }
            return scope;
        }
    }

    private KitClient client(ZkLockService service) {
        Objects.requireNonNull(service, "service must not be null");
        KitClient c = scope().find(service);
        if (c == null) {
            throw new IllegalArgumentException("This service was not made by this BatonZooKeeper in the current test: "
                    + "use service() or newService(..)");
        }
        return c;
    }

    private List<TcpProxy> proxied(ZkLockService service) {
        KitClient c = client(service);
        if (c.proxies.isEmpty()) {
            throw new IllegalArgumentException("This service connects directly: make it with "
                    + "newService(ServiceOptions.defaults().throughProxy()) to freeze or cut its connection");
        }
        return c.proxies;
    }

    /** A znode name for the test: a counter, and the test's method name for whoever reads the tree. */
    private static String namespaceFor(ExtensionContext context) {
        String method = context.getTestMethod().map(Method::getName).orElse("test")
                .replaceAll("[^A-Za-z0-9_-]", "");
        if (method.length() > 48) {
            method = method.substring(0, 48);
        }
        return "baton-test-" + NAMESPACES.incrementAndGet() + (method.isEmpty() ? "" : "-" + method);
    }

    private static void collect(CuratorFramework c, String path, List<String> out) throws Exception {
        List<String> children;
        try {
            children = c.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return;
        }
        Collections.sort(children);
        for (String child : children) {
            String p = path + "/" + child;
            out.add(p);
            collect(c, p, out);
        }
    }

    /**
     * Deletes {@code path} and everything under it that {@code c} may delete, children first;
     * subtrees whose ACL forbids it, and nodes that gain a child meanwhile, are left.
     */
    private static void deleteTree(CuratorFramework c, String path) throws Exception {
        List<String> children;
        try {
            children = c.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return;
        } catch (KeeperException.NoAuthException e) {
            return;
        }
        for (String child : children) {
            deleteTree(c, path + "/" + child);
        }
        try {
            c.delete().forPath(path);
        } catch (KeeperException.NoNodeException | KeeperException.NoAuthException | KeeperException.NotEmptyException e) {
            // gone already, not ours to delete, or someone's node appeared under it
        }
    }

    /** What one test made. */
    private static final class TestScope {
        final String namespace;
        /** The default service, once made; guarded by this. */
        ZkLockService service;
        /** Every client made in this test, in order; guarded by this. */
        private final List<KitClient> clients = new ArrayList<>();

        TestScope(String namespace) {
            this.namespace = namespace;
        }

        synchronized void add(KitClient client) {
            clients.add(client);
        }

        synchronized KitClient find(ZkLockService service) {
            for (KitClient c : clients) {
                if (c.service == service) {
                    return c;
                }
            }
            return null;
        }

        /** Thaws every proxy, then closes the clients, the latest first; failures go to {@code failures}. */
        void close(List<Throwable> failures) {
            List<KitClient> all;
            synchronized (this) {
                all = new ArrayList<>(clients);
                clients.clear();
            }
            all.forEach(c -> c.proxies.forEach(TcpProxy::thaw));
            Collections.reverse(all);
            for (KitClient c : all) {
                try {
                    c.close();
                } catch (RuntimeException e) {
                    failures.add(e);
                }
            }
        }
    }
}
