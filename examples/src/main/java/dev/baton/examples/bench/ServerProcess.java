package dev.baton.examples.bench;

import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A ZooKeeper server ({@code TestingServer}, fsync on) in a child JVM, for the memory
 * measurement: the znodes of 10,000 held locks must not count in the heap of the client being
 * measured. The child serves until its standard input closes (when this object is closed or the
 * benchmark's JVM ends).
 */
final class ServerProcess implements AutoCloseable {
    private final Process process;
    final String connectString;

    private ServerProcess(Process process, String connectString) {
        this.process = process;
        this.connectString = connectString;
    }

    /** Starts the child server, logging to {@code log}, and waits until it serves. */
    static ServerProcess start(int tickMs, Path log) throws Exception {
        List<String> command = List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m",
                "-Dzookeeper.admin.enableServer=false",
                "-Dorg.slf4j.simpleLogger.logFile=System.err",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", classPath(),
                ServerProcess.class.getName(), Integer.toString(tickMs));
        Process p = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine(); // the child prints its connect string once it serves
        if (line == null || !line.startsWith("connect ")) {
            p.destroyForcibly();
            throw new IllegalStateException("The child ZooKeeper server did not start (see " + log + "): " + line);
        }
        return new ServerProcess(p, line.substring("connect ".length()).trim());
    }

    @Override
    public void close() {
        try {
            process.getOutputStream().close();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (java.io.IOException e) {
            process.destroyForcibly();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /**
     * This program's class path: the URLs of the class loader that loaded it when that is its
     * own (exec:java runs it in one), otherwise the JVM's class path (a plain java command,
     * surefire).
     */
    private static String classPath() throws URISyntaxException {
        ClassLoader loader = ServerProcess.class.getClassLoader();
        if (loader instanceof URLClassLoader && loader != ClassLoader.getSystemClassLoader()) {
            List<String> entries = new ArrayList<>();
            for (URL url : ((URLClassLoader) loader).getURLs()) {
                entries.add(new File(url.toURI()).getPath());
            }
            return String.join(File.pathSeparator, entries);
        }
        return System.getProperty("java.class.path");
    }

    /** The child: serves until its standard input closes. Argument: the tick in milliseconds. */
    public static void main(String[] args) throws Exception {
        int tickMs = Integer.parseInt(args[0]);
        try (TestingServer server = new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, tickMs, -1), true)) {
            System.out.println("connect " + server.getConnectString());
            System.out.flush();
            while (System.in.read() != -1) {
                // wait for the parent to close our input, or to end
            }
        }
    }
}
