package dev.baton.lock.zk;

import org.apache.curator.framework.api.ACLProvider;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Who may do what in a secured namespace: the identities Baton names in the ZooKeeper ACLs of
 * every znode it creates there (see {@link ZkLockServiceBuilder#securedNamespace}).
 *
 * <p>The rules, as ZooKeeper enforces them:
 * <ul>
 *   <li>every znode: {@code world:anyone} may READ, so any client can inspect, list and watch;</li>
 *   <li>the namespace's shared znodes (the namespace node, {@code locks}, key nodes and their
 *       {@code _q}, {@code _s} and {@code _t} children, lock-delay markers, {@code elections} and
 *       election nodes, {@code schedules} and schedule records): each lock user may READ, WRITE,
 *       CREATE and DELETE; each admin has every permission;</li>
 *   <li>a request's own queue nodes (in {@code _q} and {@code _s}), a service's clock node (in
 *       {@code _t}) and a participant's latch node: the identities of the session that created it
 *       ({@code auth}) may READ and WRITE; each admin has every permission.</li>
 * </ul>
 *
 * <p>What that allows. Only lock users and admins take locks and join elections. ZooKeeper checks
 * a delete against the <em>parent's</em> ACL, and every lock user must delete its own nodes from
 * a key's queue, so <b>any lock user can delete any request's nodes</b>: lock users break stale
 * holders through {@code staleAfter} and can call {@code breakLock}; an identity that is neither
 * lock user nor admin cannot. Rewriting a holder's record and {@code requestRelease} (a write to
 * the holder's node) need the holder's own identity or an admin's: services that share one
 * identity can do both to each other. A client authenticated as ZooKeeper's super user bypasses
 * every ACL.
 *
 * <p>Identities are written as ZooKeeper writes them in ACLs, {@code scheme:id}:
 * {@code sasl:worker} (a SASL user, as the server's authorization id; for Kerberos, the
 * principal as the server maps it), {@code x509:CN=worker,O=Example} (a TLS client certificate's
 * subject, with the server's {@code X509AuthenticationProvider}), {@code digest:worker:<base64
 * SHA-1>} ({@link #digestId}). {@code world}, {@code auth}, {@code ip} and {@code super} are
 * refused: they do not name one authenticated identity.
 *
 * <p>Immutable and thread-safe.
 */
public final class SecuredNamespace {
    private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9]*");
    private static final Pattern BASE64 = Pattern.compile("[A-Za-z0-9+/]+=*");
    private static final Set<String> NOT_IDENTITIES = Set.of("world", "auth", "ip", "super");

    private final List<String> lockUsers;
    private final List<String> admins;

    private SecuredNamespace(List<String> lockUsers, List<String> admins) {
        this.lockUsers = lockUsers;
        this.admins = admins;
    }

    /**
     * A secured namespace whose locks may be taken by these identities (at least one), with no
     * admin yet ({@link #admins}).
     *
     * @throws IllegalArgumentException if none is given or one is not a valid identity (the
     *     message echoes it, never a password)
     */
    public static SecuredNamespace lockUsers(String... ids) {
        Objects.requireNonNull(ids, "lock users must not be null");
        List<String> users = checked(ids, "lock user");
        if (users.isEmpty()) {
            throw new IllegalArgumentException("A secured namespace needs at least one lock user, such as "
                    + "\"sasl:worker\": only lock users and admins can take locks");
        }
        return new SecuredNamespace(users, List.of());
    }

    /**
     * The same lock users with these admins: identities that may also break locks
     * ({@code breakLock}), ask holders to let go ({@code requestRelease}) and change ACLs.
     *
     * @throws IllegalArgumentException if one is not a valid identity
     */
    public SecuredNamespace admins(String... ids) {
        Objects.requireNonNull(ids, "admins must not be null");
        return new SecuredNamespace(lockUsers, checked(ids, "admin"));
    }

    /** The lock users' identities, {@code scheme:id}, in the order given. */
    public List<String> lockUserIds() {
        return lockUsers;
    }

    /** The admins' identities, {@code scheme:id}, in the order given. */
    public List<String> adminIds() {
        return admins;
    }

    /**
     * The ACL identity of a digest user ({@code addauth digest user:password}), as the server
     * computes it with its default SHA-1 digest: {@code digest:<user>:<base64 SHA-1 of
     * user:password>}. Naming an identity does not need its password: anyone who has the
     * identity string can put it in an ACL, only its password authenticates.
     *
     * @throws IllegalArgumentException if the user is empty or has a {@code :}, or the password is empty
     */
    public static String digestId(String user, String password) {
        ClientSecurity.checkDigest(user, password);
        try {
            byte[] sha1 = MessageDigest.getInstance("SHA-1")
                    .digest((user + ":" + password).getBytes(StandardCharsets.UTF_8));
            return "digest:" + user + ":" + Base64.getEncoder().encodeToString(sha1);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("This JVM has no SHA-1", e);
        }
    }

    /**
     * The ACL provider that gives Baton's znodes under {@code namespacePath} these ACLs, for a
     * {@code CuratorFramework} of your own ({@code CuratorFrameworkFactory.builder().aclProvider(..)})
     * handed to {@link ZkLockServiceBuilder#client}. {@code namespacePath} is Baton's namespace
     * as that client's paths see it: {@code "/app/baton"} for namespace {@code "baton"} on a
     * client whose own namespace is {@code "app"}. Every other path gets the shared rule.
     */
    public ACLProvider aclProvider(String namespacePath) {
        Objects.requireNonNull(namespacePath, "namespacePath must not be null");
        return new NamespaceAcls(this, "/" + namespacePath.replaceAll("^/+|/+$", ""));
    }

    private static List<String> checked(String[] ids, String role) {
        Set<String> seen = new LinkedHashSet<>();
        for (String id : ids) {
            seen.add(check(id, role));
        }
        return List.copyOf(new ArrayList<>(seen));
    }

    private static String check(String id, String role) {
        Objects.requireNonNull(id, role + " id must not be null");
        int colon = id.indexOf(':');
        String scheme = colon < 0 ? id : id.substring(0, colon);
        String rest = colon < 0 ? "" : id.substring(colon + 1);
        if (scheme.equals("digest")) {
            int second = rest.indexOf(':');
            if (second <= 0 || !BASE64.matcher(rest.substring(second + 1)).matches()) {
                String shown = second < 0 ? "digest:" + rest : "digest:" + rest.substring(0, second) + ":...";
                throw new IllegalArgumentException("Invalid " + role + " id \"" + shown + "\": a digest identity is "
                        + "digest:<user>:<base64 SHA-1 of user:password>; SecuredNamespace.digestId(user, password) "
                        + "makes one");
            }
            return id;
        }
        if (colon <= 0 || rest.isEmpty() || !SCHEME.matcher(scheme).matches()) {
            throw new IllegalArgumentException("Invalid " + role + " id \"" + id + "\": write it as ZooKeeper "
                    + "writes identities in ACLs, scheme:id, such as sasl:worker or x509:CN=worker");
        }
        if (NOT_IDENTITIES.contains(scheme)) {
            throw new IllegalArgumentException("Invalid " + role + " id \"" + id + "\": the " + scheme
                    + " scheme does not name one authenticated identity; use sasl, digest or x509");
        }
        return id;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SecuredNamespace s && s.lockUsers.equals(lockUsers) && s.admins.equals(admins);
    }

    @Override
    public int hashCode() {
        return Objects.hash(lockUsers, admins);
    }

    @Override
    public String toString() {
        return "SecuredNamespace[lockUsers=" + lockUsers + ", admins=" + admins + "]";
    }
}
