package dev.baton.lock.test;

import dev.baton.lock.LossReason;
import dev.baton.lock.zk.LossPolicy;

import java.time.Duration;
import java.util.Objects;

/**
 * How {@link BatonZooKeeper#newService(ServiceOptions)} builds a service: its loss policy, the
 * session and connection timeouts its client asks for, its default lease time, and whether it
 * reaches the servers through a {@link TcpProxy} per server (so a test can
 * {@link BatonZooKeeper#freeze freeze} or {@link BatonZooKeeper#cutConnections cut} its
 * connection). Immutable and thread-safe: every wither returns a new instance; a bad value fails
 * at once with a message that echoes it.
 */
public final class ServiceOptions {
    private static final ServiceOptions DEFAULTS = new ServiceOptions(LossPolicy.LOSE_AT_SUSPENDED,
            Duration.ofSeconds(20), Duration.ofSeconds(10), null, false);

    private final LossPolicy lossPolicy;
    private final Duration sessionTimeout;
    private final Duration connectionTimeout;
    private final Duration defaultLeaseTime;
    private final boolean throughProxy;

    private ServiceOptions(LossPolicy lossPolicy, Duration sessionTimeout, Duration connectionTimeout,
                           Duration defaultLeaseTime, boolean throughProxy) {
        this.lossPolicy = lossPolicy;
        this.sessionTimeout = sessionTimeout;
        this.connectionTimeout = connectionTimeout;
        this.defaultLeaseTime = defaultLeaseTime;
        this.throughProxy = throughProxy;
    }

    /**
     * The builder's defaults: {@link LossPolicy#LOSE_AT_SUSPENDED}, a session timeout of 20 s
     * (which the server bounds to 2-20 ticks), a connection timeout of 10 s, no default lease
     * time, and a direct connection.
     */
    public static ServiceOptions defaults() {
        return DEFAULTS;
    }

    /** When leases are given up after connection trouble ({@code ZkLockServiceBuilder#lossPolicy}). */
    public ServiceOptions lossPolicy(LossPolicy policy) {
        return new ServiceOptions(Objects.requireNonNull(policy, "lossPolicy must not be null"), sessionTimeout,
                connectionTimeout, defaultLeaseTime, throughProxy);
    }

    /**
     * The session timeout the client asks for; the server bounds it to 2-20 of its ticks.
     *
     * @throws IllegalArgumentException if it is below 1 ms or above {@code Integer.MAX_VALUE} ms
     */
    public ServiceOptions sessionTimeout(Duration timeout) {
        return new ServiceOptions(lossPolicy, millis(timeout, "sessionTimeout"), connectionTimeout, defaultLeaseTime,
                throughProxy);
    }

    /**
     * How long the client waits for a connection (the first one too: a kit service is built once
     * connected) and the service for ZooKeeper to acknowledge a release.
     *
     * @throws IllegalArgumentException if it is below 1 ms or above {@code Integer.MAX_VALUE} ms
     */
    public ServiceOptions connectionTimeout(Duration timeout) {
        return new ServiceOptions(lossPolicy, sessionTimeout, millis(timeout, "connectionTimeout"), defaultLeaseTime,
                throughProxy);
    }

    /**
     * The lease time of grants whose options ask for none: past it a lease is lost with
     * {@link LossReason#LEASE_EXPIRED} ({@code ZkLockServiceBuilder#defaultLeaseTime}).
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public ServiceOptions defaultLeaseTime(Duration leaseTime) {
        Objects.requireNonNull(leaseTime, "defaultLeaseTime must not be null");
        if (leaseTime.isNegative() || leaseTime.isZero()) {
            throw new IllegalArgumentException("defaultLeaseTime must be positive, got " + leaseTime);
        }
        return new ServiceOptions(lossPolicy, sessionTimeout, connectionTimeout, leaseTime, throughProxy);
    }

    /**
     * Connect through a {@link TcpProxy} per server, which {@link BatonZooKeeper#freeze},
     * {@link BatonZooKeeper#thaw} and {@link BatonZooKeeper#cutConnections} act on.
     */
    public ServiceOptions throughProxy() {
        return new ServiceOptions(lossPolicy, sessionTimeout, connectionTimeout, defaultLeaseTime, true);
    }

    LossPolicy lossPolicy() {
        return lossPolicy;
    }

    Duration sessionTimeout() {
        return sessionTimeout;
    }

    Duration connectionTimeout() {
        return connectionTimeout;
    }

    /** Null for none. */
    Duration defaultLeaseTime() {
        return defaultLeaseTime;
    }

    boolean isThroughProxy() {
        return throughProxy;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ServiceOptions other && lossPolicy == other.lossPolicy
                && sessionTimeout.equals(other.sessionTimeout) && connectionTimeout.equals(other.connectionTimeout)
                && Objects.equals(defaultLeaseTime, other.defaultLeaseTime) && throughProxy == other.throughProxy;
    }

    @Override
    public int hashCode() {
        return Objects.hash(lossPolicy, sessionTimeout, connectionTimeout, defaultLeaseTime, throughProxy);
    }

    @Override
    public String toString() {
        return "ServiceOptions[lossPolicy=" + lossPolicy + ", sessionTimeout=" + sessionTimeout + ", connectionTimeout="
                + connectionTimeout + ", defaultLeaseTime=" + (defaultLeaseTime == null ? "none" : defaultLeaseTime)
                + (throughProxy ? ", through a proxy" : ", direct") + "]";
    }

    private static Duration millis(Duration d, String name) {
        Objects.requireNonNull(d, name + " must not be null");
        if (d.compareTo(Duration.ofMillis(1)) < 0 || d.compareTo(Duration.ofMillis(Integer.MAX_VALUE)) > 0) {
            throw new IllegalArgumentException(name + " must be between 1 ms and " + Integer.MAX_VALUE
                    + " ms, got " + d);
        }
        return d;
    }
}
