package dev.baton.lock.zk;

import dev.baton.lock.internal.Ticker;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Which ZooKeeper answers mean "not with this identity", and the {@link AccessDeniedException}
 * that reports one: the operation, the znode, what it needs and who has that in a secured
 * namespace. Pure, except {@link #firstRequest}.
 */
final class Access {
    private Access() {
    }

    /** What an acquire needs. */
    static final String TO_ACQUIRE = "it needs CREATE and DELETE in the queues of the key and its ancestors, "
            + "which a secured namespace grants its lock users and admins alone";
    /** What breaking needs. */
    static final String TO_BREAK = "breaking needs DELETE in the key's queues, which a secured namespace grants "
            + "its lock users and admins alone";
    /** What a release request needs. */
    static final String TO_REQUEST_RELEASE = "a release request writes to each holder's node, which a secured "
            + "namespace lets only the holder's own identity and its admins do";
    /** What joining an election needs. */
    static final String TO_JOIN = "joining needs CREATE and WRITE on the election's node, which a secured "
            + "namespace grants its lock users and admins alone";
    /** What reading needs. */
    static final String TO_READ = "it needs READ, which a secured namespace grants everyone";

    /** Whether ZooKeeper refused for the client's identity, not for the state of the data. */
    static boolean refused(KeeperException.Code code) {
        return code == KeeperException.Code.NOAUTH || code == KeeperException.Code.INVALIDACL
                || code == KeeperException.Code.AUTHFAILED || code == KeeperException.Code.SESSIONCLOSEDREQUIRESASLAUTH;
    }

    /**
     * The exception for a refusal.
     *
     * @param what what was refused, after "Could not": {@code "break billing/account/42"}
     * @param needs the permission it needs and who has it (for NoAuth)
     */
    static AccessDeniedException denied(String what, String needs, KeeperException e) {
        String where = e.getPath() == null ? "" : " for " + e.getPath();
        String message = "Could not " + what + ": ";
        switch (e.code()) {
            case NOAUTH:
                message += "ZooKeeper refused it (NoAuth" + where + "): " + needs
                        + ", and this client's identity is not among them";
                break;
            case INVALIDACL:
                message += "ZooKeeper refused it (InvalidACL" + where + "): the znode's ACL names its creator's "
                        + "identity and this client is not authenticated (configure digest(..), sasl(..) or a TLS "
                        + "client certificate), or it names an identity whose scheme the server does not know "
                        + "(check the SecuredNamespace ids against the servers' authProvider settings)";
                break;
            case AUTHFAILED:
                message += "ZooKeeper rejected this client's credentials (AuthFailed), and the session cannot be "
                        + "used: check the digest(..) password or the SASL login";
                break;
            default:
                message += "the ensemble requires clients to authenticate (enforce.auth.enabled or "
                        + "sessionRequireClientSASLAuth) and closed this client's session, which is not "
                        + "authenticated with a scheme it accepts: configure sasl(..), or what the ensemble requires";
                break;
        }
        return new AccessDeniedException(message, e);
    }

    /**
     * Sends a first request on a new connection and refuses the connection if the ensemble
     * refuses the client's identity (bad SASL or digest credentials, an ensemble that requires
     * authentication). An ensemble that requires authentication answers the first request of a
     * connection and then drops it, so a request that lost its connection (another request was
     * first) is sent again. Returns on any other answer, and when none came within
     * {@code patience}: the service's own calls meet what went wrong.
     *
     * @throws AccessDeniedException if the ensemble refused the client
     */
    static void firstRequest(ZooKeeper zk, String where, Duration patience, Ticker ticker) throws InterruptedException {
        long until = ticker.nanos() + patience.toNanos();
        while (true) {
            CompletableFuture<Integer> answer = new CompletableFuture<>();
            zk.exists("/", false, (rc, path, ctx, stat) -> answer.complete(rc), null);
            KeeperException.Code code;
            try {
                code = KeeperException.Code.get(answer.get(Math.max(0, until - ticker.nanos()), TimeUnit.NANOSECONDS));
            } catch (ExecutionException | TimeoutException notDefinite) {
                return;
            }
            if (code != null && refused(code)) {
                throw denied("connect to ZooKeeper at " + where, TO_READ, KeeperException.create(code));
            }
            if (code != KeeperException.Code.CONNECTIONLOSS || ticker.nanos() - until > 0) {
                return;
            }
            TimeUnit.MILLISECONDS.sleep(20); // the handle reconnects on its own and queues the next one
        }
    }
}
