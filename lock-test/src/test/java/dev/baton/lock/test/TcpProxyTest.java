package dev.baton.lock.test;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The proxy on plain sockets, against an echo server: it forwards, freezes both ways, thaws, and cuts. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TcpProxyTest {
    /** How long a frozen connection is watched for bytes that must not arrive. */
    private static final int QUIET_MS = 300;

    private ServerSocket echo;
    private TcpProxy proxy;

    @BeforeEach
    void start() throws IOException {
        echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::echoLoop, "echo-accept");
        acceptor.setDaemon(true);
        acceptor.start();
        proxy = TcpProxy.to(new InetSocketAddress(InetAddress.getLoopbackAddress(), echo.getLocalPort()));
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        echo.close();
    }

    private void echoLoop() {
        while (!echo.isClosed()) {
            try {
                Socket s = echo.accept();
                Thread t = new Thread(() -> {
                    try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                        in.transferTo(out);
                    } catch (IOException e) {
                        // the client went away
                    }
                }, "echo");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private Socket connect() throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
        s.setSoTimeout(10_000);
        return s;
    }

    private static byte[] roundTrip(Socket s, String text) throws IOException {
        byte[] sent = text.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        s.getOutputStream().write(sent);
        s.getOutputStream().flush();
        return s.getInputStream().readNBytes(sent.length);
    }

    @Test
    void forwardsBothWays() throws IOException {
        try (Socket s = connect()) {
            assertArrayEquals("hello".getBytes(java.nio.charset.StandardCharsets.US_ASCII), roundTrip(s, "hello"));
        }
    }

    @Test
    void aFrozenProxyHoldsEverythingBackWithoutClosingAndThawingDeliversIt() throws IOException {
        try (Socket s = connect()) {
            roundTrip(s, "warm");
            proxy.freeze();
            assertTrue(proxy.isFrozen());
            s.getOutputStream().write(new byte[] {1, 2, 3});
            s.getOutputStream().flush();
            s.setSoTimeout(QUIET_MS);
            assertThrows(SocketTimeoutException.class, () -> s.getInputStream().read(),
                    "a byte came back through a frozen proxy");
            assertFalse(s.isClosed());

            proxy.thaw();
            s.setSoTimeout(10_000);
            assertArrayEquals(new byte[] {1, 2, 3}, s.getInputStream().readNBytes(3), "what was held back");
            assertArrayEquals("after".getBytes(java.nio.charset.StandardCharsets.US_ASCII), roundTrip(s, "after"));
        }
    }

    @Test
    void aConnectionMadeWhileFrozenIsFrozenToo() throws IOException {
        proxy.freeze();
        try (Socket s = connect()) {
            s.getOutputStream().write(7);
            s.getOutputStream().flush();
            s.setSoTimeout(QUIET_MS);
            assertThrows(SocketTimeoutException.class, () -> s.getInputStream().read());
            proxy.thaw();
            s.setSoTimeout(10_000);
            assertEquals(7, s.getInputStream().read());
        }
    }

    @Test
    void cuttingClosesOpenConnectionsAndTheProxyKeepsListening() throws IOException {
        try (Socket before = connect()) {
            roundTrip(before, "x");
            proxy.cutConnections();
            assertEquals(-1, readOrEnd(before), "the cut connection is still open");
            try (Socket after = connect()) {
                assertArrayEquals("y".getBytes(java.nio.charset.StandardCharsets.US_ASCII), roundTrip(after, "y"));
            }
        }
    }

    @Test
    void cuttingAFrozenConnectionClosesIt() throws IOException {
        try (Socket s = connect()) {
            roundTrip(s, "x");
            proxy.freeze();
            s.getOutputStream().write(9);
            s.getOutputStream().flush();
            proxy.cutConnections();
            assertEquals(-1, readOrEnd(s), "the cut connection is still open");
        }
    }

    @Test
    void closingRefusesNewConnections() throws IOException {
        proxy.close();
        proxy.close(); // idempotent
        assertThrows(IOException.class, this::connectAndRead);
    }

    private void connectAndRead() throws IOException {
        try (Socket s = connect()) {
            s.getOutputStream().write(1);
            if (s.getInputStream().read() < 0) {
                throw new IOException("closed");
            }
        }
    }

    /** The next byte, -1 at the end of the stream or on a reset, -2 if nothing came within the socket's timeout. */
    private static int readOrEnd(Socket s) {
        try {
            return s.getInputStream().read();
        } catch (SocketTimeoutException e) {
            return -2;
        } catch (IOException e) {
            return -1;
        }
    }
}
