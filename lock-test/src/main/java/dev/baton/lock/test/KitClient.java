package dev.baton.lock.test;

import dev.baton.lock.zk.LossPolicy;
import dev.baton.lock.zk.ZkLockService;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.SessionConnectionStateErrorPolicy;
import org.apache.curator.framework.state.StandardConnectionStateErrorPolicy;
import org.apache.curator.retry.ExponentialBackoffRetry;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** A kit service with the Curator client and proxies it runs on. */
final class KitClient {
    final CuratorFramework curator;
    final List<TcpProxy> proxies;
    /** Set once built. */
    ZkLockService service;

    private KitClient(CuratorFramework curator, List<TcpProxy> proxies) {
        this.curator = curator;
        this.proxies = proxies;
    }

    /** Opens proxies (if asked) and a started, connected client configured as the builder would. */
    static KitClient open(EmbeddedEnsemble servers, ServiceOptions options) {
        List<TcpProxy> proxies = new ArrayList<>();
        try {
            if (options.isThroughProxy()) {
                servers.addresses().forEach(a -> proxies.add(TcpProxy.to(a)));
            }
            String connect = proxies.isEmpty() ? servers.connectString()
                    : proxies.stream().map(p -> "127.0.0.1:" + p.port()).collect(Collectors.joining(","));
            int connectMs = (int) options.connectionTimeout().toMillis();
            CuratorFramework curator = CuratorFrameworkFactory.builder()
                    .connectString(connect)
                    .sessionTimeoutMs((int) options.sessionTimeout().toMillis())
                    .connectionTimeoutMs(connectMs)
                    .retryPolicy(new ExponentialBackoffRetry(100, 3))
                    .connectionStateErrorPolicy(options.lossPolicy() == LossPolicy.LOSE_AT_LOST
                            ? new SessionConnectionStateErrorPolicy() : new StandardConnectionStateErrorPolicy())
                    // keep the connect string given (the proxies): the tracker would replace it
                    // with the servers' own addresses from the ensemble's configuration
                    .ensembleTracker(false)
                    .build();
            KitClient client = new KitClient(curator, List.copyOf(proxies));
            curator.start();
            boolean up;
            try {
                up = curator.blockUntilConnected(connectMs, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                up = false;
            }
            if (!up) {
                client.close();
                throw new IllegalStateException("A kit service could not connect to " + connect + " within "
                        + options.connectionTimeout() + (Thread.currentThread().isInterrupted() ? " (interrupted)" : ""));
            }
            return client;
        } catch (RuntimeException e) {
            proxies.forEach(TcpProxy::close);
            throw e;
        }
    }

    /** Closes the service (if built), then the client, then the proxies. */
    void close() {
        try {
            if (service != null) {
                service.close();
            }
        } finally {
            try {
                curator.close();
            } finally {
                proxies.forEach(TcpProxy::close);
            }
        }
    }
}
