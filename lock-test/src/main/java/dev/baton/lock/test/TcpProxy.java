package dev.baton.lock.test;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP proxy on the loopback interface, between ZooKeeper clients and one server, that can be
 * frozen or cut. Point a client's connect string at {@link #port()} instead of the server's.
 *
 * <ul>
 *   <li>{@link #freeze()}: forwards nothing in either direction but keeps every connection open,
 *       which is what a server sees of a client whose process has stopped (a long
 *       garbage-collection pause) and what the client sees of a partition: no heartbeats, no
 *       answers, no reset. The client notices after two thirds of its session timeout
 *       (SUSPENDED); the server expires the session once its timeout has passed. Connections made
 *       while frozen are accepted and frozen too.</li>
 *   <li>{@link #thaw()}: forwards again, starting with whatever was held back.</li>
 *   <li>{@link #cutConnections()}: closes every connection open at that moment, as a reset would;
 *       the client sees the disconnection at once and reconnects through the proxy, which keeps
 *       listening.</li>
 * </ul>
 *
 * <p>When the server refuses or drops the proxy's own connection, the client's connection is
 * closed too, so a server restart looks to the client as it would without the proxy. Plain
 * blocking sockets, two daemon threads per connection. Thread-safe; {@link #close()} is
 * idempotent.
 */
public final class TcpProxy implements Closeable {
    private final InetSocketAddress upstream;
    private final ServerSocket listener;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private boolean frozen; // guarded by this

    private TcpProxy(InetSocketAddress upstream) throws IOException {
        this.upstream = upstream;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    }

    /**
     * A proxy to {@code upstream}, listening on a free loopback port; it forwards at once.
     *
     * @throws UncheckedIOException if no loopback port can be bound
     */
    public static TcpProxy to(InetSocketAddress upstream) {
        Objects.requireNonNull(upstream, "upstream must not be null");
        TcpProxy proxy;
        try {
            proxy = new TcpProxy(upstream);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not open a proxy to " + upstream + ": " + e.getMessage(), e);
        }
        daemon("baton-proxy-accept-" + proxy.port(), proxy::acceptLoop).start();
        return proxy;
    }

    /** The loopback port clients connect to. */
    public int port() {
        return listener.getLocalPort();
    }

    /** Where the proxy forwards to. */
    public InetSocketAddress upstream() {
        return upstream;
    }

    /** Stops forwarding in both directions; connections stay open. Idempotent. */
    public synchronized void freeze() {
        frozen = true;
    }

    /** Forwards again, in both directions. Idempotent. */
    public synchronized void thaw() {
        frozen = false;
        notifyAll();
    }

    /** Whether the proxy is frozen. */
    public synchronized boolean isFrozen() {
        return frozen;
    }

    /**
     * Closes every connection open now, both ways; the proxy keeps listening, so clients
     * reconnect through it (frozen, if it is). Data held back by a freeze is dropped.
     */
    public void cutConnections() {
        for (Socket s : sockets) {
            closeQuietly(s);
        }
        synchronized (this) {
            notifyAll(); // pumps held by a freeze see their sockets closed
        }
    }

    /** Closes the listener and every connection. Idempotent. */
    @Override
    public void close() {
        closed = true;
        closeQuietly(listener);
        cutConnections();
    }

    @Override
    public String toString() {
        return "TcpProxy(127.0.0.1:" + port() + " -> " + upstream + (isFrozen() ? ", frozen" : "") + ")";
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return; // the listener was closed
            }
            Socket server = new Socket();
            try {
                server.connect(upstream, 5_000);
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
            } catch (IOException e) {
                closeQuietly(client);
                closeQuietly(server);
                continue;
            }
            sockets.add(client);
            sockets.add(server);
            if (closed) {
                closeQuietly(client);
                closeQuietly(server);
                return;
            }
            daemon("baton-proxy-up-" + port(), () -> pump(client, server)).start();
            daemon("baton-proxy-down-" + port(), () -> pump(server, client)).start();
        }
    }

    private void pump(Socket from, Socket to) {
        byte[] buffer = new byte[16 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                awaitThawed(from, to);
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // one side closed, the connection was cut, or the proxy is closing: end it both ways
        } finally {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private synchronized void awaitThawed(Socket from, Socket to) throws InterruptedException, IOException {
        while (frozen && !closed && !from.isClosed() && !to.isClosed()) {
            wait();
        }
        if (from.isClosed() || to.isClosed()) {
            throw new IOException("cut");
        }
    }

    private void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // nothing to do
        }
        if (c instanceof Socket) {
            sockets.remove(c);
        }
    }

    private static Thread daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        return t;
    }
}
