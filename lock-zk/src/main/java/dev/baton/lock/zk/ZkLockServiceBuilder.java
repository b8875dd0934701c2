package dev.baton.lock.zk;

import dev.baton.lock.Lease;
import dev.baton.lock.LockException;
import dev.baton.lock.LockOptions;
import dev.baton.lock.LossReason;
import dev.baton.lock.internal.Ticker;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.imps.CuratorFrameworkState;
import org.apache.curator.framework.state.SessionConnectionStateErrorPolicy;
import org.apache.curator.framework.state.StandardConnectionStateErrorPolicy;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.utils.PathUtils;
import org.apache.zookeeper.client.ZKClientConfig;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * Configures a {@link ZkLockService}: {@code ZkLockService.builder()...build()}. Set either
 * {@link #connectString} (the service owns its Curator client and closes it) or {@link #client}
 * (your started client, which the service never closes). Mutable, not thread-safe, and
 * single-use: {@link #build()} may be called once; the service it builds is thread-safe.
 */
public final class ZkLockServiceBuilder {
    private String connectString;
    private CuratorFramework client;
    private String namespace = "baton";
    private Duration sessionTimeout;
    private Duration connectionTimeout;
    private LossPolicy lossPolicy = LossPolicy.LOSE_AT_SUSPENDED;
    private Duration defaultLeaseTime;
    private Clock clock = Clock.systemUTC();
    private Ticker ticker = Ticker.system();
    private Store.Sending sending = Store.Sending.DIRECT;
    private final ClientSecurity security = new ClientSecurity();
    private SecuredNamespace secured;
    private boolean built;

    ZkLockServiceBuilder() {
    }

    /**
     * Connect to this ensemble ({@code host:port,host:port,...}) with a client the service
     * creates, owns and closes.
     */
    public ZkLockServiceBuilder connectString(String connectString) {
        Objects.requireNonNull(connectString, "connectString must not be null");
        if (connectString.isBlank()) {
            throw new IllegalArgumentException("connectString must not be blank");
        }
        this.connectString = connectString;
        return this;
    }

    /**
     * Work through an existing, started Curator client. The service stays inside the client's
     * own namespace (its znodes go under {@code <client namespace>/<namespace>}), uses the
     * client's ACL provider, and leaves the client open when it closes.
     */
    public ZkLockServiceBuilder client(CuratorFramework client) {
        this.client = Objects.requireNonNull(client, "client must not be null");
        return this;
    }

    /**
     * The znode under which all locks live, {@code "baton"} by default; {@code "a/b"} nests.
     *
     * @throws IllegalArgumentException if it is not a valid ZooKeeper path
     */
    public ZkLockServiceBuilder namespace(String namespace) {
        Objects.requireNonNull(namespace, "namespace must not be null");
        String trimmed = namespace.replaceAll("^/+|/+$", "");
        try {
            PathUtils.validatePath("/" + trimmed);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Invalid namespace \"" + namespace + "\": " + e.getMessage(), e);
        }
        if (trimmed.isEmpty()) {
            throw new IllegalArgumentException("Invalid namespace \"" + namespace + "\": it must name a znode");
        }
        this.namespace = trimmed;
        return this;
    }

    /**
     * The session timeout to ask for (default 20 s; the server bounds it to 2-20 ticks). How
     * long after a crash its locks pass on. Only with {@link #connectString}.
     */
    public ZkLockServiceBuilder sessionTimeout(Duration sessionTimeout) {
        this.sessionTimeout = requirePositiveMillis(sessionTimeout, "sessionTimeout");
        return this;
    }

    /**
     * How long to wait for a connection (default 10 s): in {@link #build()}, and for
     * ZooKeeper to acknowledge a release. Only with {@link #connectString} for the former.
     */
    public ZkLockServiceBuilder connectionTimeout(Duration connectionTimeout) {
        this.connectionTimeout = requirePositiveMillis(connectionTimeout, "connectionTimeout");
        return this;
    }

    /**
     * This host's wall clock (default: the system's UTC clock). Baton reads it only to write
     * the informational {@code hostTime} of its holder records; lease ages, stale breaking and
     * lock delays are judged on the ensemble's clock alone, so a skewed host clock changes
     * none of them.
     */
    public ZkLockServiceBuilder clock(Clock clock) {
        this.clock = Objects.requireNonNull(clock, "clock must not be null");
        return this;
    }

    /**
     * The lease time of grants whose {@link LockOptions} ask for none (default: none, a lease
     * lasts as long as the session): past it the lease is lost with
     * {@link LossReason#LEASE_EXPIRED} and released, unless {@link Lease#extend extended}.
     */
    public ZkLockServiceBuilder defaultLeaseTime(Duration leaseTime) {
        Objects.requireNonNull(leaseTime, "defaultLeaseTime must not be null");
        if (leaseTime.isNegative() || leaseTime.isZero()) {
            throw new IllegalArgumentException("defaultLeaseTime must be positive, got " + leaseTime);
        }
        this.defaultLeaseTime = leaseTime;
        return this;
    }

    /**
     * Connect over TLS, trusting the servers whose certificates the trust store vouches for
     * (servers' host names are verified), without a client certificate. The store's type comes
     * from its name ({@code .jks}, {@code .p12}, {@code .pem}, {@code .bcfks}); a PEM store's
     * password is empty. Only with {@link #connectString}; the servers must listen on a secure
     * client port (ZooKeeper's {@code secureClientPort}), which the connect string names.
     * The stores are opened in {@link #build()}, which fails on a wrong password or file.
     *
     * <pre>{@code
     * ZkLockService.builder().connectString("zk1:2281,zk2:2281,zk3:2281")
     *         .tls(Path.of("/etc/baton/zk-truststore.p12"), trustPassword)
     *         .build();
     * }</pre>
     *
     * @throws IllegalArgumentException if the store is not a readable file of a known type
     */
    public ZkLockServiceBuilder tls(Path trustStore, char[] trustPassword) {
        security.tls(null, null, trustStore, trustPassword);
        return this;
    }

    /**
     * Connect over TLS with a client certificate: the key store holds this client's key and
     * certificate, which servers that require client authentication ({@code ssl.clientAuth})
     * check, and which names this client as {@code x509:<subject>} to a server with ZooKeeper's
     * {@code X509AuthenticationProvider}. Otherwise as {@link #tls(Path, char[])}.
     *
     * @throws IllegalArgumentException if a store is not a readable file of a known type
     */
    public ZkLockServiceBuilder tls(Path keyStore, char[] keyPassword, Path trustStore, char[] trustPassword) {
        Objects.requireNonNull(keyStore, "the key store must not be null");
        security.tls(keyStore, keyPassword, trustStore, trustPassword);
        return this;
    }

    /**
     * Authenticate with ZooKeeper's digest scheme, as {@code addauth digest user:password}
     * does, on every connection: the client then acts as the ACL identity
     * {@code digest:<user>:<hash>} ({@link SecuredNamespace#digestId}). Digest credentials
     * travel in clear text unless the connection uses TLS. Only with {@link #connectString}.
     *
     * @throws IllegalArgumentException if the user is empty or has a {@code :}, or the password
     *     is empty (the message names the user, never the password)
     */
    public ZkLockServiceBuilder digest(String user, String password) {
        security.digest(user, password);
        return this;
    }

    /**
     * Authenticate with SASL through the named section of the JVM's JAAS configuration
     * (the file named by {@code java.security.auth.login.config}): a section with
     * ZooKeeper's {@code DigestLoginModule} (DIGEST-MD5, {@code username} and
     * {@code password}), or with {@code Krb5LoginModule} for Kerberos. The client then acts as
     * {@code sasl:<user>}. Naming the section keeps other ZooKeeper clients in the JVM, which
     * look for the section {@code Client}, from logging in with it. DIGEST-MD5 is not a FIPS
     * mechanism, and ZooKeeper 3.9 clients refuse it in their default FIPS mode
     * ({@code zookeeper.fips-mode}): for a section with {@code DigestLoginModule} Baton turns
     * FIPS mode off on its own client's configuration. Only with {@link #connectString};
     * {@link #build()} fails if the section does not exist, and if the ensemble rejects the
     * login.
     *
     * @throws IllegalArgumentException if the name is blank
     */
    public ZkLockServiceBuilder sasl(String jaasSection) {
        security.sasl(jaasSection);
        return this;
    }

    /**
     * The ZooKeeper client configuration of the client the service creates, for what the
     * other options do not cover (a Kerberos server principal, TLS protocols or ciphers,
     * {@code zookeeper.ssl.*} settings): used as given, for every connection. Only with
     * {@link #connectString}; not with {@link #tls} or {@link #sasl}, whose properties it
     * would have to hold itself.
     */
    public ZkLockServiceBuilder clientConfig(ZKClientConfig config) {
        security.clientConfig(config);
        return this;
    }

    /**
     * Creates every znode of the namespace with ACLs that let everyone read it, the lock
     * users and admins of {@code secured} take locks and join elections, and only a holder's
     * own identity and the admins write a holder's nodes; what that does and does not allow is
     * in {@link SecuredNamespace}. {@link #build()} makes the namespace node persistent with
     * those ACLs, and refuses one that already lets the world do more than read (made without
     * this mode). The client must have an identity (digest, SASL or a TLS client
     * certificate); to take locks, a lock user's or an admin's. With {@link #client}, your
     * client must have been built with {@link SecuredNamespace#aclProvider}: checked in
     * {@link #build()}.
     *
     * <pre>{@code
     * ZkLockService.builder().connectString(zk)
     *         .digest("worker", workerPassword)
     *         .securedNamespace(SecuredNamespace.lockUsers(SecuredNamespace.digestId("worker", workerPassword))
     *                 .admins("sasl:ops"))
     *         .build();
     * }</pre>
     */
    public ZkLockServiceBuilder securedNamespace(SecuredNamespace secured) {
        this.secured = Objects.requireNonNull(secured, "secured must not be null");
        return this;
    }

    /** When leases are given up after connection trouble; {@link LossPolicy#LOSE_AT_SUSPENDED} by default. */
    public ZkLockServiceBuilder lossPolicy(LossPolicy lossPolicy) {
        this.lossPolicy = Objects.requireNonNull(lossPolicy, "lossPolicy must not be null");
        return this;
    }

    /** The monotonic clock of waits, settling and idle keys; for tests (package-private). */
    ZkLockServiceBuilder ticker(Ticker ticker) {
        this.ticker = Objects.requireNonNull(ticker, "ticker must not be null");
        return this;
    }

    /** How the service sends its multis; for tests that lose answers (package-private). */
    ZkLockServiceBuilder sending(Store.Sending sending) {
        this.sending = Objects.requireNonNull(sending, "sending must not be null");
        return this;
    }

    /**
     * Builds the service. With a connect string, waits up to the connection timeout for the
     * first connection.
     *
     * @throws IllegalStateException if neither or both of connectString and client are set, a
     *     given client is not started, the timeouts or security options are set with a client
     *     (or a secured namespace with a client lacking its ACL provider), or build() was
     *     already called
     * @throws IllegalArgumentException if a TLS store cannot be opened or the SASL section
     *     does not exist (checked before connecting)
     * @throws AccessDeniedException if the ensemble rejects this client's credentials, requires
     *     an authentication it did not make, or will not let it create the secured namespace
     * @throws LockException if the ensemble cannot be reached within the connection timeout,
     *     runs a ZooKeeper server older than 3.5 (a caller's client not yet connected is checked
     *     at its first request or election instead), or has the secured namespace open to all
     */
    public ZkLockService build() {
        if (built) {
            throw new IllegalStateException("This builder was already used; builders are single-use");
        }
        if ((connectString == null) == (client == null)) {
            throw new IllegalStateException("Set exactly one of connectString(..) or client(..)");
        }
        Duration connect = connectionTimeout != null ? connectionTimeout : Duration.ofSeconds(10);
        ZkLockService service;
        NamespaceAcls acls = null;
        if (client != null) {
            if (sessionTimeout != null) {
                throw new IllegalStateException("sessionTimeout applies only with connectString(..): "
                        + "configure it on your CuratorFramework");
            }
            if (security.any()) {
                throw new IllegalStateException("tls(..), digest(..), sasl(..) and clientConfig(..) apply only "
                        + "with connectString(..): configure them on your CuratorFramework");
            }
            if (client.getState() != CuratorFrameworkState.STARTED) {
                throw new IllegalStateException("The CuratorFramework must be started, it is " + client.getState());
            }
            String base = client.getNamespace();
            String full = base == null || base.isEmpty() ? namespace : base + "/" + namespace;
            if (secured != null) {
                acls = new NamespaceAcls(secured, "/" + full);
                acls.checkInstalled(client.usingNamespace(null), full);
            }
            service = new ZkLockService(client.usingNamespace(full), null, lossPolicy, connect, defaultLeaseTime, clock, ticker,
                    sending);
        } else {
            if (secured != null && !security.identifies()) {
                throw new IllegalStateException("securedNamespace(..) needs a client with an identity its ACLs "
                        + "can name: configure digest(..), sasl(..) or tls(..) with a key store");
            }
            security.check();
            Duration session = sessionTimeout != null ? sessionTimeout : Duration.ofSeconds(20);
            CuratorFrameworkFactory.Builder curator = CuratorFrameworkFactory.builder()
                    .connectString(connectString)
                    .sessionTimeoutMs((int) session.toMillis())
                    .connectionTimeoutMs((int) connect.toMillis())
                    .retryPolicy(new ExponentialBackoffRetry(100, 3))
                    // LeaderLatch keeps leadership through a suspension only with this policy
                    .connectionStateErrorPolicy(lossPolicy == LossPolicy.LOSE_AT_LOST
                            ? new SessionConnectionStateErrorPolicy() : new StandardConnectionStateErrorPolicy());
            security.applyTo(curator);
            if (secured != null) {
                acls = new NamespaceAcls(secured, "/" + namespace);
                curator.aclProvider(acls);
            }
            CuratorFramework owned = curator.build();
            owned.start();
            boolean up;
            try {
                up = owned.blockUntilConnected((int) connect.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                up = false;
            }
            if (!up) {
                owned.close();
                throw new LockException("Cannot reach ZooKeeper at " + connectString + " within " + connect
                        + security.unreachableHint());
            }
            try {
                Access.firstRequest(owned.getZookeeperClient().getZooKeeper(), connectString, connect, ticker);
            } catch (AccessDeniedException refused) {
                owned.close();
                throw refused;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // the service's first call meets a refusal instead
            } catch (Exception e) {
                // no handle: the service's first call meets what went wrong
            }
            service = new ZkLockService(owned.usingNamespace(namespace), owned, lossPolicy, connect, defaultLeaseTime,
                    clock, ticker, sending);
        }
        built = true;
        if (service.client().getZookeeperClient().isConnected()) {
            try {
                service.checkServer(service.client().getZookeeperClient().getZooKeeper());
            } catch (LockException refused) {
                service.close();
                throw refused;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // checked at the first request instead
            } catch (Exception e) {
                // no handle: checked at the first request instead
            }
        }
        if (acls != null) {
            service.keepRoot();
            try {
                acls.prepare(service.store().root());
            } catch (RuntimeException e) {
                service.close();
                throw e;
            } catch (Exception e) {
                service.close();
                throw new LockException("Could not prepare the secured namespace " + namespace + ": " + e, e);
            }
        }
        return service;
    }

    private static Duration requirePositiveMillis(Duration d, String name) {
        Objects.requireNonNull(d, name + " must not be null");
        if (d.isNegative() || d.isZero() || d.toMillis() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + " must be positive and at most "
                    + Integer.MAX_VALUE + " ms, got " + d);
        }
        return d;
    }
}
