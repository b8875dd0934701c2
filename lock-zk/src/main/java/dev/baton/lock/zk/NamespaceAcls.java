package dev.baton.lock.zk;

import dev.baton.lock.LockException;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.ACLProvider;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.proto.CreateRequest;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The ACLs of a {@link SecuredNamespace}, as a Curator {@link ACLProvider}: the client Baton
 * creates with it (or a caller's client built with it) asks it for every znode it creates, and
 * Baton's own creates ask the client's provider too. A node is one of two kinds, told by its path
 * alone:
 * <ul>
 *   <li><b>own</b>: a request's queue node ({@code .../locks/<key>/_q/<name>} or {@code _s}, except
 *       lock-delay markers), a clock node ({@code .../locks/_t/<name>}), a latch node (Curator's
 *       protected name {@code _c_...} under {@code .../elections/}): world READ, the creator's
 *       identities ({@code auth}) READ and WRITE, admins ALL;</li>
 *   <li><b>shared</b>: everything else: world READ, lock users READ, WRITE, CREATE and DELETE,
 *       admins ALL.</li>
 * </ul>
 * Curator passes full paths (with the namespace), except to transaction creates on a namespaced
 * client, which get the path without it; both are read relative to the namespace when they
 * begin with it. Immutable and thread-safe.
 */
final class NamespaceAcls implements ACLProvider {
    private static final int LOCK_USER = Perms.READ | Perms.WRITE | Perms.CREATE | Perms.DELETE;
    /** How Curator's protected mode begins a node's name (its {@code ProtectedUtils}, not public). */
    private static final String PROTECTED_PREFIX = "_c_";

    private final String root;
    private final List<ACL> shared;
    private final List<ACL> own;

    NamespaceAcls(SecuredNamespace secured, String root) {
        this.root = root;
        List<ACL> s = new ArrayList<>();
        List<ACL> o = new ArrayList<>();
        s.add(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE));
        o.add(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE));
        o.add(new ACL(Perms.READ | Perms.WRITE, Ids.AUTH_IDS));
        for (String user : secured.lockUserIds()) {
            s.add(new ACL(LOCK_USER, id(user)));
        }
        for (String admin : secured.adminIds()) {
            s.add(new ACL(Perms.ALL, id(admin)));
            o.add(new ACL(Perms.ALL, id(admin)));
        }
        // not List.copyOf: ZooKeeper's client asks its ACLs contains(null), which that list refuses
        this.shared = Collections.unmodifiableList(s);
        this.own = Collections.unmodifiableList(o);
    }

    private static Id id(String schemeAndId) {
        int colon = schemeAndId.indexOf(':');
        return new Id(schemeAndId.substring(0, colon), schemeAndId.substring(colon + 1));
    }

    @Override
    public List<ACL> getDefaultAcl() {
        return shared;
    }

    @Override
    public List<ACL> getAclForPath(String path) {
        return isOwn(path) ? own : shared;
    }

    /** Whether {@code path} is a node only its creator (and admins) may write. */
    boolean isOwn(String path) {
        String relative = path.startsWith(root + "/") ? path.substring(root.length()) : path;
        ZKPaths.PathAndNode pn = ZKPaths.getPathAndNode(relative);
        String parent = ZKPaths.getNodeFromPath(pn.getPath());
        if (relative.startsWith(Layout.LOCKS + "/")) {
            if (parent.equals(Layout.QUEUE) || parent.equals(Layout.STRONG)) {
                return !pn.getNode().startsWith(NodeNames.MARKER);
            }
            return pn.getPath().equals(Layout.CLOCKS);
        }
        return relative.startsWith(ZkLeaderElection.ELECTIONS + "/") && pn.getNode().startsWith(PROTECTED_PREFIX);
    }

    /** The ACL this rule gives shared nodes. */
    List<ACL> shared() {
        return shared;
    }

    /** The ACL this rule gives a request's own nodes. */
    List<ACL> own() {
        return own;
    }

    /**
     * Makes sure the namespace node and its {@code locks} node exist, as PERSISTENT nodes with the
     * shared ACL (a container would be removed when empty, and anyone allowed to create at its
     * parent, often the open root or a client without the secured mode, could make it again with
     * an ACL of their own), and refuses one that lets the world do more than read.
     *
     * @param root the client without a namespace
     * @throws LockException if one of them grants the world more than READ, or cannot be made
     */
    void prepare(CuratorFramework root) throws Exception {
        persistent(root, this.root, true);
        persistent(root, this.root + Layout.LOCKS, false);
    }

    private void persistent(CuratorFramework root, String path, boolean withParents) throws Exception {
        // looked for first: ZooKeeper refuses to create an existing node to a client without
        // CREATE on its parent, which lock users need not have above the namespace
        if (root.checkExists().forPath(path) == null) {
            try {
                if (withParents) {
                    root.create().creatingParentsIfNeeded().withMode(CreateMode.PERSISTENT).forPath(path);
                } else {
                    root.create().withMode(CreateMode.PERSISTENT).forPath(path);
                }
                return;
            } catch (KeeperException.NodeExistsException raced) {
                // made meanwhile: checked below
            } catch (KeeperException e) {
                if (Access.refused(e.code())) {
                    throw Access.denied("create the secured namespace's " + path, "it needs CREATE on its parent", e);
                }
                throw e;
            }
        }
        for (ACL acl : root.getACL().forPath(path)) {
            if (acl.getId().equals(Ids.ANYONE_ID_UNSAFE) && (acl.getPerms() & ~Perms.READ) != 0) {
                throw new LockException("The znode " + path + " exists with the ACL " + describe(
                        root.getACL().forPath(path)) + ", which lets any client change what is under it: a "
                        + "secured namespace grants the world READ alone. It was made without the secured mode: "
                        + "use a new namespace, or setAcl it (world:anyone:r plus the lock users and admins)");
            }
        }
    }

    /**
     * Checks that a caller's client gives Baton's nodes these ACLs (it was built with
     * {@link SecuredNamespace#aclProvider}).
     *
     * @param root the caller's client without a namespace
     * @throws IllegalStateException if it does not
     */
    void checkInstalled(CuratorFramework root, String namespace) {
        String sampleOwn = this.root + Layout.queuePath(dev.baton.lock.LockKey.of("k")) + "/X-";
        if (!aclOf(root, sampleOwn).equals(own) || !aclOf(root, this.root).equals(shared)) {
            throw new IllegalStateException("With client(..), securedNamespace(..) needs your CuratorFramework to "
                    + "create Baton's znodes with the secured ACLs: build it with "
                    + "aclProvider(secured.aclProvider(\"" + this.root + "\")) (Baton's namespace " + namespace
                    + " as your client's paths see it)");
        }
    }

    /** The ACL the client's provider gives {@code fullPath}, asked as Curator's own creates ask it. */
    private static List<ACL> aclOf(CuratorFramework root, String fullPath) {
        try {
            Op op = root.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(fullPath).get();
            return ((CreateRequest) op.toRequestRecord()).getAcl();
        } catch (Exception e) {
            throw new IllegalStateException("Cannot compute the ACL of " + fullPath, e);
        }
    }

    /** An ACL as ZooKeeper's shell prints it: {@code world:anyone:cdrwa,sasl:ops:cdrwa}. */
    static String describe(List<ACL> acls) {
        StringBuilder b = new StringBuilder();
        for (ACL acl : acls) {
            b.append(b.length() == 0 ? "" : ",").append(acl.getId().getScheme()).append(':')
                    .append(acl.getId().getId()).append(':').append(perms(acl.getPerms()));
        }
        return b.toString();
    }

    private static String perms(int p) {
        return ((p & Perms.CREATE) != 0 ? "c" : "") + ((p & Perms.DELETE) != 0 ? "d" : "")
                + ((p & Perms.READ) != 0 ? "r" : "") + ((p & Perms.WRITE) != 0 ? "w" : "")
                + ((p & Perms.ADMIN) != 0 ? "a" : "");
    }
}
