package dev.baton.lock.zk;

import dev.baton.lock.LockException;

/**
 * ZooKeeper refused an operation because of this client's identity: a znode's ACL does not grant
 * it the permission the operation needs ({@code NoAuth}), a create needs an authenticated identity
 * the client does not have ({@code InvalidACL}), the ensemble rejected the client's credentials
 * ({@code AuthFailed}) or requires an authentication the client did not make. The message names
 * the operation, the key or znode, and the rule; the cause is ZooKeeper's
 * {@link org.apache.zookeeper.KeeperException}. Nothing the refused operation began is left
 * behind. Retrying with the same identity fails the same way.
 */
public final class AccessDeniedException extends LockException {
    private static final long serialVersionUID = 1L;

    AccessDeniedException(String message, Throwable cause) {
        super(message, cause);
    }
}
