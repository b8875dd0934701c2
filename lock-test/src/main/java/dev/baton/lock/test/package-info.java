/**
 * Baton's test kit: real ZooKeeper servers in the test's JVM, and the faults that lock code must
 * survive. Depend on {@code dev.baton:lock-test} in test scope.
 *
 * <ul>
 *   <li>{@link dev.baton.lock.test.BatonZooKeeper}: the JUnit 5 extension. Per class an embedded
 *       server or cluster; per test a fresh namespace, a ready {@code ZkLockService}, more
 *       services on {@link dev.baton.lock.test.ServiceOptions}, an observer client, the znodes
 *       left under the namespace, and the faults: server-side session expiry, a frozen or cut
 *       connection, server restarts and the quorum leader's death.</li>
 *   <li>{@link dev.baton.lock.test.EmbeddedEnsemble}: the servers on their own, for a harness
 *       that is not a JUnit extension.</li>
 *   <li>{@link dev.baton.lock.test.TcpProxy}: the freezable proxy, for clients the kit did not
 *       make (another process, another library).</li>
 * </ul>
 *
 * <p>Without a server, a unit test can take {@code dev.baton.lock.memory.InMemoryLockService},
 * which has the same semantics, and make every lease it granted lost at once with
 * {@code loseAll(LossReason)}, as a session loss would.
 *
 * <p>Faults come from outside the code under test: the kit never reaches into Baton's internals,
 * only its public API, the servers and the network between them.
 */
package dev.baton.lock.test;
