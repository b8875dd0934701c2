package dev.baton.examples;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP proxy on the loopback interface, between ZooKeeper clients and one server, that can be
 * frozen. While frozen it forwards nothing in either direction but keeps every connection open,
 * which is what a server sees of a client whose process has stopped (a long garbage-collection
 * pause): no heartbeats, no answers, no reset. Connections made while frozen are accepted and
 * frozen too. {@link #resume()} forwards again, starting with whatever was held back.
 *
 * <p>Plain blocking sockets, two daemon threads per connection. Thread-safe. Public because the
 * safety suite freezes its clients' connections with it too.
 */
public final class TcpProxy implements Closeable {
    private final InetSocketAddress upstream;
    private final ServerSocket listener;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private boolean frozen; // guarded by this

    /** A proxy to {@code upstream}, listening on a free loopback port; it forwards at once. */
    public TcpProxy(InetSocketAddress upstream) throws IOException {
        this.upstream = upstream;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        daemon("proxy-accept", this::acceptLoop).start();
    }

    /** The loopback port clients connect to. */
    public int port() {
        return listener.getLocalPort();
    }

    /** Stops forwarding in both directions; connections stay open. */
    public synchronized void freeze() {
        frozen = true;
    }

    /** Forwards again. */
    public synchronized void resume() {
        frozen = false;
        notifyAll();
    }

    /** Closes the listener and every connection. Idempotent. */
    @Override
    public void close() {
        closed = true;
        synchronized (this) {
            notifyAll();
        }
        closeQuietly(listener);
        for (Socket s : sockets) {
            closeQuietly(s);
        }
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
            daemon("proxy-up", () -> pump(client, server)).start();
            daemon("proxy-down", () -> pump(server, client)).start();
        }
    }

    private void pump(Socket from, Socket to) {
        byte[] buffer = new byte[16 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                awaitThawed();
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // one side closed, or the proxy is closing: end the connection both ways
        } finally {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private synchronized void awaitThawed() throws InterruptedException {
        while (frozen && !closed) {
            wait();
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
