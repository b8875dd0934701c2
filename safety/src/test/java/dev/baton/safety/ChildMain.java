package dev.baton.safety;

import dev.baton.lock.zk.LossPolicy;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A safety-run client in its own JVM, so that the whole process can be frozen with SIGSTOP.
 * Commands on standard input: {@code LONGJOB} (the next critical section works for two session
 * timeouts), {@code HUNGJOB} (the next critical section is a hung job), {@code WAKE} (a hung section
 * goes on to its writes), {@code LEADERJOB} (the same as LONGJOB for the next section of its
 * singleton job, when it leads), {@code RESIGN} (leave the election and join it again),
 * {@code STOP} (close and exit); end of input also stops it.
 *
 * <p>Arguments: id policy stubborn(true|false) connectString sessionTimeoutMs keys seed storePort namespace
 * workload(FLAT|MIXED)
 */
public final class ChildMain {
    private ChildMain() {
    }

    public static void main(String[] args) throws Exception {
        Worker.Spec spec = new Worker.Spec(args[0], LossPolicy.valueOf(args[1]), Boolean.parseBoolean(args[2]), true);
        Duration session = Duration.ofMillis(Long.parseLong(args[4]));
        Workload workload = new Workload(Workload.Kind.valueOf(args[9]), Integer.parseInt(args[5]), session);
        Worker worker = new Worker(spec, args[3], session, workload, Long.parseLong(args[6]),
                Integer.parseInt(args[7]), args[8]);
        Thread commands = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.equals("LONGJOB")) {
                        worker.requestLongJob();
                    } else if (line.equals("HUNGJOB")) {
                        worker.requestHungJob();
                    } else if (line.equals("WAKE")) {
                        worker.wake();
                    } else if (line.equals("LEADERJOB")) {
                        worker.requestLongLeaderJob();
                    } else if (line.equals("RESIGN")) {
                        worker.resign();
                    } else if (line.equals("STOP")) {
                        break;
                    }
                }
            } catch (Exception e) {
                // the parent is gone
            }
            worker.stop();
        }, "commands");
        commands.setDaemon(true);
        commands.start();
        worker.run();
        System.exit(0);
    }
}
