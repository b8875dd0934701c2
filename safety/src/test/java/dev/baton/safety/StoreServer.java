package dev.baton.safety;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The stores and the history, served to clients over a line protocol on the loopback interface,
 * so that clients in child JVMs (which the suite freezes with SIGSTOP) reach the same ground truth
 * as clients in the test process. One request, one answer; a client's requests are recorded in the
 * order it sent them.
 *
 * <pre>
 * HELLO id                      CLIENT session detail...      SESSION session passwordHex
 * CONN state session            REQUEST spec waitMs req       TIMEOUT spec req
 * FAILED spec req exception     GRANT spec token session [req=N] [long-job] [granted=spec]
 * LOST spec token reason        RELEASE spec token            CLOSED
 * WORK spec token               JOB key token [long-job]      JOBEND key token   (not recorded)
 * F op leaf token value [S] -&gt;  OK value | STALE highest   (fenced store; S: shared mode)
 * N op leaf value           -&gt;  OK value                   (naive store)
 * </pre>
 *
 * <p>A spec names the keys of a lease with their modes, a leaf one register of the stores (see
 * {@link Scopes}); WORK says that a section (or a section of the singleton job, on
 * {@link Event#LEADER}) has read its registers and is working.
 *
 * <p>It also keeps what the fault injector needs to aim: each client's session credentials, where
 * each client is in its critical section, which client leads (GRANT, LOST and RELEASE on
 * {@link Event#LEADER} are a term's start and end) and where its singleton job is (JOB and JOBEND
 * frame each of the job's sections; they are not part of the history).
 */
final class StoreServer implements Closeable {
    /**
     * Where a client is: holding {@code key} (a lease spec, or {@link Event#LEADER}) with
     * {@code token}, in {@code phase} (GRANTED, WORKING, WRITTEN), whether this section is a long
     * job, and when (history time) the section started.
     */
    record Section(String key, long token, String phase, boolean longJob, long started) {
        Section in(String newPhase) {
            return new Section(key, token, newPhase, longJob, started);
        }
    }

    /** A client's current session, as it reported it. */
    record Credentials(long sessionId, byte[] password) {
    }

    private final History history;
    private final Stores stores;
    private final ServerSocket listener;
    private final Set<Socket> connections = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    // what the injector reads; guarded by this
    private final Map<String, Credentials> credentials = new HashMap<>();
    private final Map<String, Section> sections = new HashMap<>();
    private final Map<String, Long> lastGrant = new HashMap<>();
    private final Map<String, Long> lastNewSession = new HashMap<>();
    private final Map<String, Long> lastSuspended = new HashMap<>();
    private final Map<String, Watch> watches = new HashMap<>();
    private final Map<String, Long> openTerms = new HashMap<>();
    private final Map<String, Section> jobs = new HashMap<>();
    private final Map<String, Long> jobsEnded = new HashMap<>();
    private long lastLeaderCommit = -1;

    StoreServer(History history, Stores stores) throws IOException {
        this.history = history;
        this.stores = stores;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::acceptLoop, "store-accept");
        t.setDaemon(true);
        t.start();
    }

    int port() {
        return listener.getLocalPort();
    }

    // ------------------------------------------------------------------------------ for the injector

    synchronized Credentials credentials(String client) {
        return credentials.get(client);
    }

    /** Clients in the middle of a critical section (between their read and their write), with the lease. */
    synchronized Map<String, Section> working() {
        Map<String, Section> out = new HashMap<>();
        sections.forEach((c, s) -> {
            if (s.phase().equals("WORKING")) {
                out.put(c, s);
            }
        });
        return out;
    }

    /** Clients in the middle of a section of their singleton job (between its read and its write). */
    synchronized Map<String, Section> jobsWorking() {
        Map<String, Section> out = new HashMap<>();
        jobs.forEach((c, s) -> {
            if (s.phase().equals("WORKING")) {
                out.put(c, s);
            }
        });
        return out;
    }

    /** How many sections of its singleton job the client has ended. */
    synchronized long jobsEnded(String client) {
        return jobsEnded.getOrDefault(client, 0L);
    }

    /** The client whose term began last among those not yet ended (the highest token), or null. */
    synchronized String leader() {
        return openTerms.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(null);
    }

    /** History time of the last COMMIT the fenced store accepted on the leader scope, or -1. */
    synchronized long lastLeaderCommit() {
        return lastLeaderCommit;
    }

    /** History time of the client's last grant of a lock (terms are not counted), or -1. */
    synchronized long lastGrant(String client) {
        return lastGrant.getOrDefault(client, -1L);
    }

    /** History time at which the client last reported a new session, or -1. */
    synchronized long lastNewSession(String client) {
        return lastNewSession.getOrDefault(client, -1L);
    }

    /** History time at which the client last reported its connection SUSPENDED, or -1. */
    synchronized long lastSuspended(String client) {
        return lastSuspended.getOrDefault(client, -1L);
    }

    /** Which registers a client's section covers (TRUE: only shared), and whether another has begun on one. */
    private static final class Watch {
        final Map<String, Boolean> leaves;
        boolean otherBegan;

        Watch(Map<String, Boolean> leaves) {
            this.leaves = leaves;
        }
    }

    /**
     * Starts tracking whether a client other than {@code target} begins, in a conflicting mode, on
     * one of the registers the section {@code spec} covers (see {@link Scopes#leaves}).
     */
    synchronized void watchBegins(String target, String spec) {
        watches.put(target, new Watch(Scopes.leaves(spec)));
    }

    /** Whether, since {@link #watchBegins}, another client had a BEGIN accepted that conflicts with {@code target}'s section. */
    synchronized boolean otherBegan(String target) {
        Watch w = watches.get(target);
        return w != null && w.otherBegan;
    }

    // ------------------------------------------------------------------------------ serving

    private void acceptLoop() {
        while (!closed) {
            Socket s;
            try {
                s = listener.accept();
                s.setTcpNoDelay(true);
            } catch (IOException e) {
                return;
            }
            connections.add(s);
            Thread t = new Thread(() -> serve(s), "store-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(Socket socket) {
        String client = "?";
        try (socket;
             BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(socket.getOutputStream(), false, StandardCharsets.UTF_8)) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] w = line.split(" ", -1);
                String answer;
                if (w[0].equals("HELLO")) {
                    client = w[1];
                    answer = "OK";
                } else {
                    answer = handle(client, w, line);
                }
                out.print(answer);
                out.print('\n');
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            if (!closed) {
                history.record(client, Event.Type.CONN, null, 0, 0, "STORE_DISCONNECTED", false, 0, String.valueOf(e));
            }
        } finally {
            connections.remove(socket);
        }
    }

    private String handle(String client, String[] w, String line) {
        switch (w[0]) {
            case "F": {
                String op = w[1];
                String key = w[2];
                long token = Long.parseLong(w[3]);
                boolean shared = w.length > 5 && w[5].equals("S");
                Stores.Result r = stores.fenced(client, op, key, token, Long.parseLong(w[4]), shared);
                if (r.accepted()) {
                    noteAccepted(client, op, key, token, shared);
                }
                return (r.accepted() ? "OK " : "STALE ") + r.value();
            }
            case "N":
                return "OK " + stores.naive(client, w[1], w[2], Long.parseLong(w[3]));
            case "CLIENT":
                history.record(client, Event.Type.CLIENT, null, 0, Long.parseLong(w[1]), null, false, 0, rest(line, 2));
                return "OK";
            case "SESSION": {
                long id = Long.parseLong(w[1]);
                history.record(client, Event.Type.SESSION, null, 0, id, null, false, 0, null);
                synchronized (this) {
                    credentials.put(client, new Credentials(id, java.util.HexFormat.of().parseHex(w[2])));
                    lastNewSession.put(client, history.now());
                }
                return "OK";
            }
            case "CONN":
                history.record(client, Event.Type.CONN, null, 0, Long.parseLong(w[2]), w[1], false, 0, null);
                if (w[1].equals("SUSPENDED")) {
                    synchronized (this) {
                        lastSuspended.put(client, history.now());
                    }
                }
                return "OK";
            case "REQUEST":
                history.record(client, Event.Type.REQUEST, w[1], 0, 0, null, false, Long.parseLong(w[2]),
                        "req=" + w[3]);
                return "OK";
            case "TIMEOUT":
                history.record(client, Event.Type.TIMEOUT, w[1], 0, 0, null, false, 0, "req=" + w[2]);
                return "OK";
            case "FAILED":
                history.record(client, Event.Type.FAILED, w[1], 0, 0, w[3], false, 0, "req=" + w[2]);
                return "OK";
            case "WORK":
                synchronized (this) {
                    Map<String, Section> where = w[1].equals(Event.LEADER) ? jobs : sections;
                    Section s = where.get(client);
                    if (s != null && s.token() == Long.parseLong(w[2])) {
                        where.put(client, s.in("WORKING"));
                    }
                }
                return "OK";
            case "GRANT": {
                long token = Long.parseLong(w[2]);
                String flags = rest(line, 4);
                boolean longJob = java.util.Arrays.asList(flags.split(" ")).contains("long-job");
                history.record(client, Event.Type.GRANT, w[1], token, Long.parseLong(w[3]), null, false, 0,
                        flags.isEmpty() ? null : flags);
                synchronized (this) {
                    if (w[1].equals(Event.LEADER)) {
                        openTerms.put(client, token);
                    } else {
                        sections.put(client, new Section(w[1], token, "GRANTED", longJob, history.now()));
                        lastGrant.put(client, history.now());
                    }
                }
                return "OK";
            }
            case "LOST":
                history.record(client, Event.Type.LOST, w[1], Long.parseLong(w[2]), 0, w[3], false, 0, null);
                endSection(client, w[1], Long.parseLong(w[2]));
                return "OK";
            case "RELEASE":
                history.record(client, Event.Type.RELEASE, w[1], Long.parseLong(w[2]), 0, null, false, 0, null);
                endSection(client, w[1], Long.parseLong(w[2]));
                return "OK";
            case "JOB":
                synchronized (this) {
                    jobs.put(client, new Section(w[1], Long.parseLong(w[2]), "GRANTED",
                            w.length > 3 && w[3].equals("long-job"), history.now()));
                }
                return "OK";
            case "JOBEND":
                synchronized (this) {
                    Section s = jobs.get(client);
                    if (s != null && s.token() == Long.parseLong(w[2])) {
                        jobs.remove(client);
                    }
                    jobsEnded.merge(client, 1L, Long::sum);
                }
                return "OK";
            case "CLOSED":
                history.record(client, Event.Type.CLOSED, null, 0, 0, null, false, 0, null);
                return "OK";
            default:
                throw new IllegalArgumentException("unknown request: " + line);
        }
    }

    private synchronized void noteAccepted(String client, String op, String key, long token, boolean shared) {
        boolean leader = key.equals(Event.LEADER);
        Map<String, Section> where = leader ? jobs : sections;
        Section s = where.get(client);
        if (s != null && s.token() == token && op.equals("WRITE")) {
            where.put(client, s.in("WRITTEN"));
        }
        if (leader && op.equals("COMMIT")) {
            lastLeaderCommit = history.now();
        }
        if (op.equals("BEGIN")) {
            watches.forEach((target, w) -> {
                Boolean theirs = w.leaves.get(key);
                if (!target.equals(client) && theirs != null && !(theirs && shared)) {
                    w.otherBegan = true;
                }
            });
        }
    }

    private synchronized void endSection(String client, String key, long token) {
        if (key.equals(Event.LEADER)) {
            openTerms.remove(client, token);
            return;
        }
        Section s = sections.get(client);
        if (s != null && s.token() == token) {
            sections.remove(client);
        }
    }

    private static String rest(String line, int words) {
        int at = 0;
        for (int i = 0; i < words && at >= 0; i++) {
            at = line.indexOf(' ', at + 1);
        }
        return at < 0 ? "" : line.substring(at + 1);
    }

    @Override
    public void close() {
        closed = true;
        try {
            listener.close();
        } catch (IOException e) {
            // nothing to do
        }
        for (Socket s : connections) {
            try {
                s.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
    }
}
