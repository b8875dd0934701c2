package dev.baton.lock.zk;

import dev.baton.lock.test.EmbeddedEnsemble;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Servers shared by the test classes of this JVM: one standalone server per release and one
 * 3-server ensemble of the oldest, each started on first use and stopped when the JVM exits.
 */
final class Servers {
    private Servers() {
    }

    static final Duration START_PATIENCE = Duration.ofSeconds(60);

    /** A started ensemble: its servers and the connect string naming all of them. */
    record Ensemble(List<ServerProcess> servers, String connectString) { }

    private static final Map<String, Ensemble> RUNNING = new ConcurrentHashMap<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.values().forEach(e -> e.servers().forEach(ServerProcess::close)),
                "zk-servers-stop"));
    }

    /** The shared standalone server of {@code version}. */
    static Ensemble single(String version) {
        return RUNNING.computeIfAbsent("single-" + version, k -> start(version, 1));
    }

    /** The shared 3-server ensemble of {@code version}. */
    static Ensemble ensemble(String version) {
        return RUNNING.computeIfAbsent("ensemble-" + version, k -> start(version, 3));
    }

    /** A new ensemble of {@code size} servers (1 = standalone) that the caller stops. */
    static Ensemble start(String version, int size) {
        List<ServerProcess> servers = new ArrayList<>();
        try {
            int[] ports = EmbeddedEnsemble.freePorts(3 * size);
            StringBuilder connect = new StringBuilder();
            Map<String, String> quorum = new LinkedHashMap<>();
            if (size > 1) {
                for (int i = 0; i < size; i++) {
                    quorum.put("server." + (i + 1), "127.0.0.1:" + ports[3 * i + 1] + ":" + ports[3 * i + 2]);
                }
            }
            for (int i = 0; i < size; i++) {
                String name = "zk-" + version + (size > 1 ? "-" + (i + 1) + "of" + size : "") + "-" + ports[3 * i];
                servers.add(ServerProcess.start(version, name, i + 1, ports[3 * i], quorum, List.of()));
                connect.append(connect.length() == 0 ? "" : ",").append("127.0.0.1:").append(ports[3 * i]);
            }
            for (ServerProcess s : servers) {
                s.awaitServing(START_PATIENCE);
            }
            return new Ensemble(List.copyOf(servers), connect.toString());
        } catch (IOException | RuntimeException e) {
            servers.forEach(ServerProcess::close);
            throw new IllegalStateException("Could not start ZooKeeper " + version + " x" + size + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            servers.forEach(ServerProcess::close);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while starting ZooKeeper " + version, e);
        }
    }
}
