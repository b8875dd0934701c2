package dev.baton.safety;

import dev.baton.lock.test.TcpProxy;

import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import java.util.concurrent.TimeUnit;

/**
 * The test process's handle on one client: its proxies to every server (so its connection can be
 * frozen), and its {@link Worker}, running either on a thread here or in a child JVM (which can
 * be paused with SIGSTOP). In an in-memory run there are no proxies, the worker runs on a thread,
 * and a pause stops its sections before their writes.
 */
final class Client implements Closeable {
    final Worker.Spec spec;
    private final List<TcpProxy> proxies = new ArrayList<>();
    private Worker worker;
    private Thread thread;
    private Process process;

    private Client(Worker.Spec spec) {
        this.spec = spec;
    }

    /** A client of the in-memory {@code service} that every client of the run shares. */
    static Client inMemory(Worker.Spec spec, dev.baton.lock.LockService service, Duration sessionTimeout,
                           Workload workload, long seed, int storePort) {
        Client c = new Client(spec);
        c.worker = new Worker(spec, service, sessionTimeout, workload, seed, storePort);
        c.thread = new Thread(c.worker, "client-" + spec.id());
        c.thread.setDaemon(true);
        c.thread.start();
        return c;
    }

    static Client start(Worker.Spec spec, List<InetSocketAddress> servers, Duration sessionTimeout,
                        Workload workload, int keys, long seed, int storePort, String namespace, Path logDir)
            throws IOException {
        Client c = new Client(spec);
        StringJoiner connect = new StringJoiner(",");
        for (InetSocketAddress server : servers) {
            TcpProxy proxy = TcpProxy.to(server);
            c.proxies.add(proxy);
            connect.add("127.0.0.1:" + proxy.port());
        }
        if (spec.child()) {
            List<String> command = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dzookeeper.admin.enableServer=false",
                    "-Dorg.slf4j.simpleLogger.logFile=" + logDir.resolve(spec.id() + ".log"),
                    "-cp", System.getProperty("java.class.path"),
                    ChildMain.class.getName(),
                    spec.id(), spec.policy().name(), String.valueOf(spec.stubborn()), connect.toString(),
                    String.valueOf(sessionTimeout.toMillis()), String.valueOf(keys), String.valueOf(seed),
                    String.valueOf(storePort), namespace, workload.kind().name()));
            c.process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(logDir.resolve(spec.id() + ".out").toFile())
                    .start();
        } else {
            c.worker = new Worker(spec, connect.toString(), sessionTimeout, workload, seed, storePort, namespace);
            c.thread = new Thread(c.worker, "client-" + spec.id());
            c.thread.setDaemon(true);
            c.thread.start();
        }
        return c;
    }

    /** Stops forwarding between this client and every server. */
    void freeze() {
        proxies.forEach(TcpProxy::freeze);
    }

    void resume() {
        proxies.forEach(TcpProxy::thaw);
    }

    /** SIGSTOP: the whole child process stops (its heartbeats too); in-process, the worker's sections stop. */
    void pause() throws IOException, InterruptedException {
        if (worker != null) {
            worker.pause();
        } else {
            signal("-STOP");
        }
    }

    /** SIGCONT. */
    void unpause() throws IOException, InterruptedException {
        if (worker != null) {
            worker.unpause();
        } else {
            signal("-CONT");
        }
    }

    private void signal(String signal) throws IOException, InterruptedException {
        if (process == null) {
            throw new IllegalStateException(spec.id() + " does not run in its own process");
        }
        // the shell's builtin kill: /bin/kill comes from procps, which a minimal machine may lack
        Process kill = new ProcessBuilder("sh", "-c", "kill " + signal + " " + process.pid()).inheritIO().start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IllegalStateException("kill " + signal + " " + process.pid() + " failed");
        }
    }

    void requestLongJob() throws IOException {
        if (worker != null) {
            worker.requestLongJob();
        } else {
            command("LONGJOB");
        }
    }

    /** The next critical section is a hung job (see {@link Worker#requestHungJob}). */
    void requestHungJob() throws IOException {
        if (worker != null) {
            worker.requestHungJob();
        } else {
            command("HUNGJOB");
        }
    }

    /** Lets a hung section go on to its writes. */
    void wake() throws IOException {
        if (worker != null) {
            worker.wake();
        } else {
            command("WAKE");
        }
    }

    void requestLongLeaderJob() throws IOException {
        if (worker != null) {
            worker.requestLongLeaderJob();
        } else {
            command("LEADERJOB");
        }
    }

    /** The client leaves the election (resigning if it leads) and joins it again, at the back of the queue. */
    void resign() throws IOException {
        if (worker != null) {
            worker.resign();
        } else {
            command("RESIGN");
        }
    }

    private void command(String line) throws IOException {
        OutputStream in = process.getOutputStream();
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
    }

    /** Asks the client to close its service and stop; true if it did within {@code max}. */
    boolean stop(Duration max) throws InterruptedException {
        resume();
        if (worker != null) {
            worker.stop();
            thread.join(max.toMillis());
            return !thread.isAlive();
        }
        try {
            unpause();
            command("STOP");
        } catch (IOException | IllegalStateException e) {
            // already gone
        }
        return process.waitFor(max.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
        }
        proxies.forEach(TcpProxy::close);
    }
}
