package dev.baton.safety;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A client's end of the {@link StoreServer} protocol. Thread-safe: one request at a time. */
final class StoreClient implements Closeable {
    private final Socket socket;
    private final BufferedReader in;
    private final PrintWriter out;

    StoreClient(int port, String clientId) throws IOException {
        socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setTcpNoDelay(true);
        in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        out = new PrintWriter(socket.getOutputStream(), false, StandardCharsets.UTF_8);
        request("HELLO " + clientId);
    }

    /** Sends one request line and returns the answer line. */
    synchronized String request(String line) {
        out.print(line);
        out.print('\n');
        out.flush();
        try {
            String answer = in.readLine();
            if (answer == null) {
                throw new UncheckedIOException(new IOException("store connection closed"));
            }
            return answer;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A fenced operation, in {@code shared} mode or exclusive; returns the value, or null if the
     * store rejected the token.
     */
    Long fenced(String op, String key, long token, long value, boolean shared) {
        String answer = request("F " + op + " " + key + " " + token + " " + value + (shared ? " S" : ""));
        return answer.startsWith("OK ") ? Long.valueOf(answer.substring(3)) : null;
    }

    /** A naive operation; returns the value. */
    long naive(String op, String key, long value) {
        return Long.parseLong(request("N " + op + " " + key + " " + value).substring(3));
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
