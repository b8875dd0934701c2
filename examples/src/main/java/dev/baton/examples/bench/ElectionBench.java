package dev.baton.examples.bench;

import dev.baton.lock.LeaderElection;
import dev.baton.lock.Leadership;
import dev.baton.lock.LeadershipListener;
import dev.baton.lock.zk.ZkLockService;
import org.HdrHistogram.Histogram;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Leader election take-over times, for raw Curator {@code LeaderLatch} and for Baton's election.
 * Every participant has its own session. A sample runs from the moment the leader leaves (closes
 * its latch or election: graceful) or its session is expired on the server (crash) to the moment
 * the next participant is told it leads ({@code isLeader} for Curator, {@code gained} for Baton,
 * which comes after Baton's term write).
 */
final class ElectionBench implements AutoCloseable {
    private static final AtomicInteger IDS = new AtomicInteger();

    private final String connect;
    /**
     * Closes expired clients: closing one waits for its reconnection attempt (up to a second or
     * two), which must not hold up the next sample.
     */
    private final ExecutorService closer = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "bench-closer");
        t.setDaemon(true);
        return t;
    });

    /** One participant. */
    interface Candidate {
        /** Leaves the election (the timed step of a graceful hand-over). */
        void leave() throws Exception;

        /** Leaves, if not yet, and frees what joining took. */
        void dispose();

        /** Waits until told it leads; returns {@link System#nanoTime()} at that moment. */
        long awaitGained() throws InterruptedException;
    }

    /** Raw Curator or Baton. */
    interface Side {
        Candidate join(Sessions sessions, CuratorFramework client, String election) throws Exception;

        /** The znode whose children are the participants. */
        String groupPath(String election);
    }

    /** Shared by both sides: the moment leadership was gained. */
    private abstract static class Gain implements Candidate {
        private final CountDownLatch gained = new CountDownLatch(1);
        private volatile long gainedAt;

        final void gained() {
            gainedAt = System.nanoTime();
            gained.countDown();
        }

        @Override
        public final long awaitGained() throws InterruptedException {
            if (!gained.await(Sessions.WAIT.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new IllegalStateException("No participant took over within " + Sessions.WAIT);
            }
            return gainedAt;
        }
    }

    static final Side CURATOR = new Side() {
        @Override
        public Candidate join(Sessions sessions, CuratorFramework client, String election) throws Exception {
            LeaderLatch latch = new LeaderLatch(client, groupPath(election), "p" + IDS.incrementAndGet());
            Gain candidate = new Gain() {
                @Override
                public void leave() throws Exception {
                    if (latch.getState() == LeaderLatch.State.STARTED) {
                        latch.close();
                    }
                }

                @Override
                public void dispose() {
                    try {
                        leave();
                    } catch (Exception e) {
                        // its session's end removes its node
                    }
                }
            };
            latch.addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    candidate.gained();
                }

                @Override
                public void notLeader() {
                }
            });
            latch.start();
            return candidate;
        }

        @Override
        public String groupPath(String election) {
            return "/curator-elections/" + election;
        }
    };

    static final Side BATON = new Side() {
        @Override
        public Candidate join(Sessions sessions, CuratorFramework client, String election) {
            ZkLockService service = sessions.baton(client);
            LeaderElection joined = service.election(election, "p" + IDS.incrementAndGet());
            Gain candidate = new Gain() {
                @Override
                public void leave() {
                    joined.close();
                }

                @Override
                public void dispose() {
                    joined.close();
                    service.close();
                }
            };
            joined.addListener(new LeadershipListener() {
                @Override
                public void gained(Leadership leadership) {
                    candidate.gained();
                }
            }, Runnable::run); // when the term begins, without the hop to the listener thread
            return candidate;
        }

        @Override
        public String groupPath(String election) {
            return "/baton/elections/" + election; // ZkLockService's documented layout
        }
    };

    ElectionBench(String connect) {
        this.connect = connect;
    }

    /** Waits for the expired clients to be closed. */
    @Override
    public void close() {
        closer.shutdown();
        try {
            closer.awaitTermination(1, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** {@code samples} graceful hand-overs in a group of two: the leader closes, the other takes over. */
    Series.Round graceful(Side side, String election, int samples) throws Exception {
        Histogram took = Series.histogram();
        try (Sessions sessions = new Sessions(connect)) {
            CuratorFramework leaderClient = sessions.curator();
            CuratorFramework nextClient = sessions.curator();
            String group = side.groupPath(election);
            Candidate leader = side.join(sessions, leaderClient, election);
            leader.awaitGained();
            for (int i = 0; i < samples; i++) {
                Candidate next = side.join(sessions, nextClient, election);
                Sessions.awaitChildren(nextClient, group, n -> n == 2, "two participants");
                long t0 = System.nanoTime();
                leader.leave();
                Series.record(took, next.awaitGained() - t0);
                leader.dispose();
                leader = next;
                CuratorFramework c = leaderClient;
                leaderClient = nextClient;
                nextClient = c; // the old leader's session joins again, at the back
            }
            leader.dispose();
        }
        return new Series.Round(Double.NaN, took, "");
    }

    /**
     * {@code samples} crash fail-overs in a group of two: the leader's session is expired on the
     * server, the other takes over. The expired participant is then dropped and a new session
     * joins. A sample in which the other participant took over before the expiry (possible only
     * if the leader's own client raced the expiring handle for the session) is discarded and counted.
     */
    Series.Round crash(Side side, String election, int samples) throws Exception {
        Histogram took = Series.histogram();
        int discarded = 0;
        try (Sessions sessions = new Sessions(connect)) {
            CuratorFramework leaderClient = sessions.curator();
            String group = side.groupPath(election);
            Candidate leader = side.join(sessions, leaderClient, election);
            leader.awaitGained();
            for (int i = 0; i < samples; ) {
                CuratorFramework nextClient = sessions.curator();
                Candidate next = side.join(sessions, nextClient, election);
                Sessions.awaitChildren(nextClient, group, n -> n == 2, "two participants");
                long t0 = Sessions.expire(connect, leaderClient);
                long gainedAt = next.awaitGained();
                if (gainedAt > t0) {
                    Series.record(took, gainedAt - t0);
                    i++;
                } else if (++discarded > samples) {
                    throw new IllegalStateException("Too many crash samples in which the take-over came first");
                }
                leader.dispose();
                closer.execute(leaderClient::close); // ends any session it opened since, and its nodes
                Sessions.awaitChildren(nextClient, group, n -> n == 1, "only the new leader");
                leader = next;
                leaderClient = nextClient;
            }
            leader.dispose();
        }
        return new Series.Round(Double.NaN, took, discarded == 0 ? "" : discarded + " discarded");
    }
}
