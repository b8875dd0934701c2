package dev.baton.safety;

import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.client.FourLetterWordMain;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/** The ZooKeeper servers of a run: one {@link TestingServer}, or a 3-server {@link TestingCluster}. */
abstract class Ensemble implements Closeable {
    /** The servers' client addresses, in a fixed order. */
    abstract List<InetSocketAddress> addresses();

    /** A connect string that reaches the servers directly (not through any client's proxy). */
    abstract String connectString();

    abstract String describe();

    static Ensemble single(int tickMs) throws Exception {
        return new Single(new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, tickMs, -1), true), tickMs);
    }

    static Ensemble cluster(int size, int tickMs) throws Exception {
        int[] ports = distinctPorts(3 * size);
        List<InstanceSpec> specs = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            specs.add(new InstanceSpec(null, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], true, -1, tickMs, -1));
        }
        TestingCluster cluster = new TestingCluster(specs);
        cluster.start();
        return new Cluster(cluster, specs, tickMs);
    }

    /**
     * {@code n} free ports, all different: curator-test's own choice binds and closes one socket
     * per port, so two servers of one cluster can be handed the same port (seen in CI). Holding
     * every socket open until all are chosen rules that out.
     */
    static int[] distinctPorts(int n) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                ServerSocket socket = new ServerSocket(0);
                sockets.add(socket);
                ports[i] = socket.getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket socket : sockets) {
                socket.close();
            }
        }
    }

    private static InetSocketAddress loopback(int port) {
        return new InetSocketAddress("127.0.0.1", port);
    }

    static final class Single extends Ensemble {
        private final TestingServer server;
        private final int tickMs;

        Single(TestingServer server, int tickMs) {
            this.server = server;
            this.tickMs = tickMs;
        }

        @Override
        List<InetSocketAddress> addresses() {
            return List.of(loopback(server.getPort()));
        }

        @Override
        String connectString() {
            return server.getConnectString();
        }

        @Override
        String describe() {
            return "1 server (TestingServer, tick " + tickMs + " ms)";
        }

        void stop() throws IOException {
            server.stop();
        }

        void start() throws Exception {
            server.restart();
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    static final class Cluster extends Ensemble {
        private final TestingCluster cluster;
        private final List<InstanceSpec> specs;
        private final int tickMs;

        Cluster(TestingCluster cluster, List<InstanceSpec> specs, int tickMs) {
            this.cluster = cluster;
            this.specs = specs;
            this.tickMs = tickMs;
        }

        @Override
        List<InetSocketAddress> addresses() {
            return specs.stream().map(s -> loopback(s.getPort())).toList();
        }

        @Override
        String connectString() {
            return cluster.getConnectString();
        }

        @Override
        String describe() {
            return specs.size() + " servers (TestingCluster, tick " + tickMs + " ms)";
        }

        int size() {
            return specs.size();
        }

        /** The index of the server that says it leads, or -1 if none does right now. */
        int leader() {
            for (int i = 0; i < specs.size(); i++) {
                try {
                    String srvr = FourLetterWordMain.send4LetterWord("127.0.0.1", specs.get(i).getPort(), "srvr", false, 2_000);
                    if (srvr.contains("Mode: leader")) {
                        return i;
                    }
                } catch (Exception e) {
                    // down or not answering
                }
            }
            return -1;
        }

        /** How many client connections server {@code i} reports (0 if it does not answer). */
        int connections(int i) {
            try {
                String srvr = FourLetterWordMain.send4LetterWord("127.0.0.1", specs.get(i).getPort(), "srvr", false, 2_000);
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("Connections: (\\d+)").matcher(srvr);
                return m.find() ? Integer.parseInt(m.group(1)) : 0;
            } catch (Exception e) {
                return 0;
            }
        }

        /** Whether server {@code i} answers as leader or follower (it has joined a quorum). */
        boolean serving(int i) {
            try {
                String srvr = FourLetterWordMain.send4LetterWord("127.0.0.1", specs.get(i).getPort(), "srvr", false, 2_000);
                return srvr.contains("Mode: leader") || srvr.contains("Mode: follower");
            } catch (Exception e) {
                return false;
            }
        }

        void kill(int i) throws Exception {
            cluster.killServer(specs.get(i));
        }

        void restart(int i) throws Exception {
            cluster.restartServer(specs.get(i));
        }

        @Override
        public void close() throws IOException {
            cluster.close();
        }
    }
}
