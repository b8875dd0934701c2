package dev.baton.lock.zk;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One ZooKeeper server of a given release in a child JVM, on that release's own class path
 * ({@code <servers>/<version>/*} and the shared {@code <servers>/lib/*}, copied there by the
 * build), so the client in the test JVM stays on the project's ZooKeeper. Runs
 * {@code QuorumPeerMain} on a written {@code zoo.cfg}; logs to {@code <servers>/logs/<name>.log}.
 */
final class ServerProcess implements AutoCloseable {
    final String version;
    final String name;
    final int clientPort;
    private final Path log;
    private final Process process;

    private ServerProcess(String version, String name, int clientPort, Path log, Process process) {
        this.version = version;
        this.name = name;
        this.clientPort = clientPort;
        this.log = log;
        this.process = process;
    }

    /**
     * Starts a server; returns at once (see {@link #awaitServing}).
     *
     * @param config zoo.cfg lines beyond dataDir, clientPort and tickTime (a quorum's
     *     {@code server.N}, TLS settings...); a null value leaves clientPort out
     * @param jvmArgs extra JVM options (system properties the server reads)
     */
    static ServerProcess start(String version, String name, int myId, Integer clientPort, Map<String, String> config,
                               List<String> jvmArgs) throws IOException {
        Path root = Versions.serversDir();
        Path release = root.resolve(version);
        if (!Files.isDirectory(release)) {
            throw new IllegalStateException("No jars for ZooKeeper " + version + " in " + release
                    + ": the build copies them there (mvn process-test-resources)");
        }
        Path data = Files.createTempDirectory(Files.createDirectories(root.resolve("data")), name + "-");
        Files.writeString(data.resolve("myid"), Integer.toString(myId));
        StringBuilder cfg = new StringBuilder()
                .append("tickTime=500\n")
                .append("initLimit=20\n")
                .append("syncLimit=10\n")
                .append("dataDir=").append(data).append('\n')
                .append("forceSync=no\n")
                .append("4lw.commands.whitelist=*\n")
                .append("admin.enableServer=false\n");
        if (clientPort != null) {
            cfg.append("clientPort=").append(clientPort).append('\n');
        }
        config.forEach((k, v) -> cfg.append(k).append('=').append(v).append('\n'));
        Path cfgFile = data.resolve("zoo.cfg");
        Files.writeString(cfgFile, cfg.toString());
        Path log = Files.createDirectories(root.resolve("logs")).resolve(name + ".log");

        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx256m");
        command.add("-XX:+UseSerialGC");
        command.add("-Xshare:auto");
        command.add("-Dzookeeper.admin.enableServer=false");
        command.add("-Dzookeeper.jmx.log4j.disable=true");
        // as the in-process test servers: empty containers go within a tenth of a second
        command.add("-Dznode.container.checkIntervalMs=100");
        command.add("-Dznode.container.maxPerMinute=10000000");
        command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
        command.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
        command.addAll(jvmArgs);
        command.add("-cp");
        command.add(release.resolve("*") + java.io.File.pathSeparator + root.resolve("lib").resolve("*"));
        command.add("org.apache.zookeeper.server.quorum.QuorumPeerMain");
        command.add(cfgFile.toString());
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        return new ServerProcess(version, name, clientPort == null ? -1 : clientPort, log, p);
    }

    /**
     * Waits until the server answers {@code srvr} as serving (standalone, leader or follower)
     * and checks that it runs the release asked for.
     */
    ServerProcess awaitServing(Duration patience) throws IOException, InterruptedException {
        long until = System.nanoTime() + patience.toNanos();
        String last = null;
        while (System.nanoTime() < until) {
            if (!process.isAlive()) {
                throw new IllegalStateException("ZooKeeper " + version + " (" + name + ") exited with "
                        + process.exitValue() + "; see " + log);
            }
            try {
                last = fourLetters("srvr");
                if (last.contains("Mode: ")) {
                    String expected = "Zookeeper version: " + version + "-";
                    if (!last.startsWith(expected)) {
                        throw new IllegalStateException("Expected ZooKeeper " + version + " on port " + clientPort
                                + ", found: " + last.lines().findFirst().orElse(last));
                    }
                    return this;
                }
            } catch (IOException notYet) {
                last = notYet.toString();
            }
            TimeUnit.MILLISECONDS.sleep(100); // polling a child process's port: nothing to wait on
        }
        throw new IllegalStateException("ZooKeeper " + version + " (" + name + ") not serving within " + patience
                + " (last answer: " + last + "); see " + log);
    }

    /** The server's answer to a four-letter command on its client port. */
    String fourLetters(String command) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", clientPort), 1000);
            s.setSoTimeout(2000);
            OutputStream out = s.getOutputStream();
            out.write(command.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The server's mode ({@code leader}, {@code follower}, {@code standalone}), or null if not serving. */
    String mode() {
        try {
            for (String line : fourLetters("srvr").split("\n")) {
                if (line.startsWith("Mode: ")) {
                    return line.substring("Mode: ".length()).trim();
                }
            }
        } catch (IOException e) {
            return null;
        }
        return null;
    }

    String connectString() {
        return "127.0.0.1:" + clientPort;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    Path log() {
        return log;
    }

    /** Kills the server as a crash would (SIGKILL) and waits for the process to end. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(20, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
