package dev.baton.lock.zk;

import dev.baton.lock.LockException;
import dev.baton.lock.LockKey;
import dev.baton.lock.LockState;
import dev.baton.lock.internal.Granule;
import dev.baton.lock.internal.Ticker;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The operator calls: inspect, list, requestRelease, breakLock. Each runs on the current
 * ZooKeeper handle and is retried on connection trouble until the connection timeout; a refusal
 * for this client's identity is an {@link AccessDeniedException} naming what it needs. Reads
 * judge grants with {@link Grants} through {@link Claims}. Thread-safe.
 */
final class Operator {
    private static final Logger LOG = LoggerFactory.getLogger(Operator.class);

    private final Store store;
    private final CuratorFramework client;
    private final Breaker breaker;
    private final Acquirer.ServerGate serverGate;
    private final Duration patience;
    private final Ticker ticker;
    private final String holderId;

    Operator(Store store, CuratorFramework client, Breaker breaker, Acquirer.ServerGate serverGate, Duration patience,
             Ticker ticker, String holderId) {
        this.store = store;
        this.client = client;
        this.breaker = breaker;
        this.serverGate = serverGate;
        this.patience = patience;
        this.ticker = ticker;
        this.holderId = holderId;
    }

    /** Work done on the current ZooKeeper handle. */
    interface ZkCall<T> {
        T run(ZooKeeper zk) throws Exception;
    }

    /**
     * Runs an operator call, retried on connection trouble until the connection timeout; a
     * refusal for this client's identity is reported as needing {@code needs} ({@link Access}).
     *
     * @throws AccessDeniedException if ZooKeeper refused it for this client's identity
     * @throws LockException if it failed
     */
    <T> T operate(String what, String needs, ZkCall<T> call) {
        long until = ticker.nanos() + patience.toNanos();
        while (true) {
            try {
                ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
                if (client.getZookeeperClient().isConnected()) { // else the call's own requests meet the trouble
                    serverGate.verify(zk);
                }
                return call.run(zk);
            } catch (KeeperException e) {
                if (Access.refused(e.code())) {
                    throw Access.denied(what, needs, e);
                }
                if (!SessionGone.inDoubt(e.code()) || ticker.nanos() - until > 0) {
                    throw new LockException("Could not " + what + ": " + e, e);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LockException("Interrupted while trying to " + what, e);
            } catch (SessionGone e) {
                if (ticker.nanos() - until > 0) {
                    throw new LockException("Could not " + what + ": the session ended", e);
                }
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new LockException("Could not " + what + ": " + e, e);
            }
            try {
                Thread.sleep(20); // the handle reconnects on its own; pace the retries
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LockException("Interrupted while trying to " + what, e);
            }
        }
    }

    LockState inspect(LockKey key) {
        return operate("inspect " + key, Access.TO_READ, zk -> Claims.read(store, zk, key, null).state());
    }

    List<LockState> list(LockKey prefix) {
        return operate("list " + prefix, Access.TO_READ, zk -> walk(zk, List.of(prefix)));
    }

    List<LockState> list() {
        return operate("list the held locks", Access.TO_READ, zk -> {
            List<LockKey> top = new ArrayList<>();
            for (String name : SessionGone.await(Store.children(zk, store.full(Layout.LOCKS)))) {
                if (isKeyName(name)) {
                    try {
                        top.add(LockKey.of(name));
                    } catch (IllegalArgumentException notAKey) {
                        // not one of ours
                    }
                }
            }
            return walk(zk, top);
        });
    }

    private static boolean isKeyName(String name) {
        return !name.startsWith("_") && !name.startsWith(".");
    }

    /**
     * Walks the key tree from {@code start} one depth at a time, listing each key's children and
     * strong index once (all of a depth sent at once), then reads each key with a strong node.
     */
    private List<LockState> walk(ZooKeeper zk, List<LockKey> start) throws Exception {
        List<LockState> held = new ArrayList<>();
        Store.Stamp now = null;
        boolean timed = false;
        List<LockKey> depth = start;
        while (!depth.isEmpty()) {
            List<CompletableFuture<List<String>>> children = new ArrayList<>();
            List<CompletableFuture<List<String>>> strong = new ArrayList<>();
            for (LockKey k : depth) {
                children.add(Store.children(zk, store.full(Layout.keyPath(k))));
                strong.add(Store.children(zk, store.full(Layout.strongPath(k))));
            }
            List<LockKey> next = new ArrayList<>();
            for (int i = 0; i < depth.size(); i++) {
                if (!SessionGone.await(strong.get(i)).isEmpty()) {
                    if (!timed) {
                        now = Claims.nowIfKnown(store, zk);
                        timed = true;
                    }
                    LockState state = Claims.read(store, zk, depth.get(i), now).state();
                    if (state.isHeld()) {
                        held.add(state);
                    }
                }
                for (String name : SessionGone.await(children.get(i))) {
                    if (isKeyName(name) && depth.get(i).depth() < LockKey.MAX_DEPTH) {
                        try {
                            next.add(depth.get(i).child(name));
                        } catch (IllegalArgumentException notAKey) {
                            // not one of ours
                        }
                    }
                }
            }
            depth = next;
        }
        held.sort(Comparator.comparing(LockState::key, Granule.ORDER));
        return held;
    }

    /** Writes a line to each holder's node in the key's strong index, which the holder's service watches. */
    int requestRelease(LockKey key) {
        return operate("request the release of " + key, Access.TO_REQUEST_RELEASE, zk -> {
            Claims claims = Claims.read(store, zk, key, null);
            List<String> index = SessionGone.await(Store.children(zk, store.full(Layout.strongPath(key))));
            byte[] note = ("release requested by " + holderId).getBytes(StandardCharsets.UTF_8);
            int asked = 0;
            for (Claims.Entry holder : claims.holders()) {
                for (String name : index) {
                    if (NodeNames.ofRequest(name, holder.id())) {
                        try {
                            SessionGone.await(Store.setData(zk, store.full(Layout.strongPath(key) + "/" + name), note, -1));
                            asked++;
                        } catch (KeeperException.NoNodeException gone) {
                            // released meanwhile
                        }
                    }
                }
            }
            return asked;
        });
    }

    /** Breaks every holder of the key, each in one version-checked multi ({@link Breaker#breakRequest}). */
    int breakLock(LockKey key) {
        return operate("break " + key, Access.TO_BREAK, zk -> {
            int broken = 0;
            Set<String> done = new HashSet<>();
            for (int attempt = 0; attempt < 5; attempt++) { // a stamp or an extend may race a break: read again
                boolean raced = false;
                Claims claims = Claims.read(store, zk, key, null);
                for (Claims.Entry holder : claims.holders()) {
                    if (done.contains(holder.name())) {
                        continue;
                    }
                    if (breaker.breakRequest(zk, key, holder.name(), holder.stat().getVersion(), holder.record(),
                            claims.queue)) {
                        LOG.info("Broke {}'s {} lock on {} on request", holder.record().holder(), holder.mode(), key);
                        done.add(holder.name());
                        broken++;
                    } else {
                        raced = true;
                    }
                }
                if (!raced) {
                    break;
                }
            }
            return broken;
        });
    }
}
