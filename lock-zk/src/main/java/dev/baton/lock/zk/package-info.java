/**
 * Baton's lock service and leader election on ZooKeeper, through Apache Curator: start from
 * {@link dev.baton.lock.zk.ZkLockService#builder()}.
 *
 * <h2>The lock engine</h2>
 *
 * <p>Multi-granularity locking (Gray et al.). A request for {@code SHARED} or {@code EXCLUSIVE}
 * on a key holds {@code S} or {@code X} on it and the intention {@code IS} or {@code IX} on every
 * ancestor; a request over several keys holds, at each level, the join of what its keys need
 * there ({@code SIX} for a shared key above an exclusive one). Each key's znode has two reserved
 * children: {@code _q}, where every request touching the key has one ephemeral-sequential node,
 * and {@code _s}, where the requests holding the key itself ({@code S}, {@code SIX}, {@code X})
 * have a second one. Node names carry the granule and a request id:
 * {@code IX-3f09c1a27be44d10-0000000007}.
 *
 * <p><b>Enqueue.</b> All of a request's nodes, on every level, are created in one ZooKeeper
 * {@code multi}: one transaction, so they appear together or not at all, and share one zxid, the
 * request's <em>zxid</em> and fencing token. The listing of every level is sent right behind the
 * multi without waiting: the server answers a session's requests in order, so an uncontended
 * request is decided after one round trip, whatever its depth. Servers with ZOOKEEPER-4026 (3.9,
 * later 3.7 and 3.8 releases) answer each create of the multi with its Stat, whose czxid is the
 * zxid; older ones (3.5, 3.6) give only the path: a service that meets such an answer reads its
 * node's czxid once, and from then on adds to every enqueue a {@code setData} of its own clock
 * node, answered with its Stat on every version, whose mzxid is the transaction's zxid. Missing
 * parents (CONTAINER nodes) are created, pipelined in front of the multi sent again, from the
 * level whose op failed down. A server older than 3.5 (no containers) is refused before anything
 * is written ({@code ServerCheck}).
 *
 * <p><b>Grant.</b> A request is granted when, at every level, no incompatible node of an
 * <em>earlier</em> request (smaller zxid) remains. Where it holds a strong granule, the level's
 * {@code _q} lists every request on the key, in creation order, and its own node's sequence
 * number tells earlier from later. Where it holds an intention, only strong requests can be
 * incompatible, so it lists {@code _s} alone (a key with a thousand fine locks held under it
 * lists a handful of names, not a thousand) and compares the first incompatible node's czxid with
 * its own zxid; sequence and czxid grow together within one life of a container, and a container
 * is removed only when empty. While blocked, a request watches the blocking node and looks again
 * when it changes; a level once clear stays clear, because no earlier node can appear later.
 *
 * <p><b>No deadlock.</b> A request waits only for requests with a smaller zxid, and a granted
 * request waits for nothing. zxids are totally ordered, so the waits-for relation has no cycle:
 * the request with the smallest zxid among those waiting is blocked by nobody that waits, only by
 * holders, and is granted once they release (or their sessions end). This holds whatever keys,
 * modes and orders requests name, and for {@code acquireAll}, whose keys share one transaction.
 * It does not cover a thread that holds one lease and asks for another that conflicts with a
 * third party's: hold-and-wait across separate requests can deadlock as with any locks; take the
 * keys together with {@code acquireAll}.
 *
 * <p><b>Fairness.</b> The same rule makes grants first-come per conflict: a request never
 * overtakes an earlier incompatible one at any level, so a coarse request waiting behind fine
 * holders blocks fine requests that arrive after it, and is not starved.
 *
 * <p><b>Fencing tokens.</b> If two requests conflict, some level holds incompatible granules of
 * both; the later (larger zxid) is granted only after the earlier's node there is deleted, so
 * after the earlier's grant: conflicting grants get strictly increasing tokens, at whatever levels
 * they meet.
 *
 * <p><b>Faults.</b> Calls go to the raw ZooKeeper handle of the current session. A grant is
 * decided only by answers on the session that created the request's nodes; when that session
 * ends, calls on its handle fail and the request starts again on the next (a node of an expired
 * session can never be taken for one of ours). When a connection loss hides the multi's answer,
 * the request syncs and looks for nodes carrying its request id: found, it adopts them and keeps
 * its place; not found, it enqueues afresh under a new id (and a background look deletes the old
 * id's nodes should they show up). A release is one multi of deletes, sent before
 * {@code close()} returns and not awaited; if it fails it is retried node by node until it lands.
 * An acquire that gives up (timeout, interrupt) does wait, up to the connection timeout, for
 * its own deletes to be answered before it returns: it has cleaned up after itself, and a caller
 * that retries at once does not queue behind its own leftovers (measured: under a storm of
 * interrupts on a loaded machine, not waiting let abandoned nodes pile up ahead of every live
 * request, and nothing was granted).
 *
 * <p><b>Data Baton did not write.</b> Anyone with access to the namespace can leave nodes and
 * data there; none of it makes a call fail. A child of {@code _q} or {@code _s} is a request's
 * node only if its name has Baton's exact form and it is ephemeral, and a lock-delay marker only
 * if its name has the marker's form ({@code NodeNames}); anything else is ignored by acquire,
 * inspection, breaking and clean-up, and never deleted, so it blocks nobody. What Baton cannot
 * tell from its own is treated as its own, visibly: an ephemeral node of a request's form on
 * someone else's session holds or waits, shows in inspection and can be broken; a marker of the
 * marker's form holds its delay, which inspection shows (unreadable data: no delay, and the
 * marker is deleted). A holder record that cannot be read (another format, text, bytes, a bad
 * field) leaves only what it cannot tell unknown, never the request: it shows with its mode (from
 * its name) and token (its czxid), and unknowns err on the late side of breaking
 * ({@code HolderRecord}). A child of the key tree that is not a valid key segment is skipped by
 * {@code list}; an intention node whose data names no key under its own is not followed; a
 * foreign node where the clock node belongs leaves ages out.
 *
 * <p><b>Footprint.</b> A key (or ancestor) is idle from the end of a request of the service on it
 * until one begins; one idle for a second is swept, finer levels first, one depth at a time, by
 * one multi deleting its strong index, queue and key node, which ZooKeeper refuses as a whole
 * where any of them has children (any client's request, a lock-delay marker, finer keys). A
 * client that then finds parents missing creates them again, as after the server's container
 * cleanup. Fresh keys leave nothing for the server, whose cleanup is rate-limited; hot keys are
 * never idle long and keep their one-round-trip grant. The locks root goes too once the service
 * has been idle for a second, except in a secured namespace, where it is persistent.
 *
 * <h2>Breaking, lock delay, release requests</h2>
 *
 * <p><b>The ensemble's clock.</b> ZooKeeper stamps each write with its leader's wall clock
 * (mtime, ctime). Every age Baton judges is a difference of two such stamps made by the same
 * leader (same epoch, the high half of the zxid): "now" is the mtime of a fresh {@code setData}
 * on the service's own ephemeral clock node (under {@code locks/_t}, gone with its session). A
 * stamp of an earlier leader is not compared; the hold is then timed from when this waiter first
 * saw it under the current leader. No host's clock is compared with another's or with a stamp;
 * local clocks only time how long to wait before judging again. (A leader whose wall clock is
 * stepped, not slewed, would still skew ages: keep the ensemble's clocks under NTP.)
 *
 * <p><b>When a hold began.</b> A request granted after waiting rewrites its record half a second
 * into its hold (one naming several keys at once): {@code granted=true} and {@code heldMs}, how
 * long it had held by then on its own monotonic clock (one multi, sent again after a reconnection
 * until it lands); {@code extend} rewrites it with {@code heldMs=0}. The mtime less
 * {@code heldMs} is then the hold's start. Only then, too, does a holder watch its own nodes:
 * a hold shorter than half a second costs nothing beyond its acquire and release, and one broken
 * or asked to let go in its first half second hears of it that much later at most (a grant
 * decided late after connection trouble rewrites its record unchanged before checking again, so
 * no waiter takes it for a grant at creation). A request granted on its first look writes nothing: its ctime is its grant, and a waiter
 * uses the ctime when it can prove the grant came at creation (the key's queue has lost no node
 * since: its cversion, which counts creates and deletes and was the node's sequence number at its
 * creation, grew only by the nodes now after it; no marker in it; no ancestor's strong index
 * changed since). Otherwise it times the hold from when it first saw it holding: never too early,
 * at worst late by what it cannot prove.
 *
 * <p><b>Breaking.</b> A blocked request judges the holders that block it: strong nodes,
 * incompatible with it, earlier, held back by nothing (no earlier incompatible node in the queue,
 * none in an ancestor's strong index, no lock delay left by a lost request). An unstamped request
 * naming several keys may be waiting for another key: judged once stamped (looked at again every
 * second). A holder older than the waiter's {@code staleAfter}, or than its recorded lease time
 * plus a grace of two seconds (its own process normally ends it first), is broken: one multi
 * deletes its two nodes on the key, its queue node only at the version judged (a stamp or an
 * extend in between makes the break fail, and the waiter judges again), and starts its lock delay
 * there; a request naming only this key loses all its nodes, on every level, while one naming
 * several keeps its intention nodes on ancestors, standing for its other keys, until its service
 * lets go of them. The holder watches its own {@code _s} nodes: their deletion by anyone else
 * loses its lease with {@code BROKEN}, and it deletes its remaining nodes. Its token is older
 * than every later conflicting grant's, so a fence refuses its late writes. Only a waiter with
 * {@code staleAfter} judges holders of other keys: of a coarser key (at an intention level, by
 * listing the coarse key's whole queue) and of finer keys (each intention node in its queue names
 * a key its request asked for, where its record is); lease times alone do not justify those
 * listings.
 *
 * <p><b>Lock delay.</b> A request with a lock delay also creates, in the same multi, a persistent
 * marker {@code delay.<granule>.<request id>} next to each of its nodes (in {@code _q} on every
 * level, and in {@code _s} on strong levels), holding the delay. A release or an abandoned acquire
 * deletes them; a loss (session end, suspension, breaking) leaves them. Every request checks, on
 * each level it lists, the markers of requests that have left, were made before it and conflict
 * with it: it waits until the marker's stamp plus the delay, on the ensemble's clock. Breaking
 * stamps the key's markers (the delay starts then); otherwise the lost holder's service, once it
 * reaches the ensemble again, or the first request to find the marker, stamps it, so a delay never
 * starts before the loss. Once past, the marker is deleted by whoever finds it, the lost holder's
 * service included. A request whose session ends while it still waits leaves its markers too: the
 * store cannot tell it from a holder's, and the delay errs on the safe side.
 *
 * <p><b>Release requests</b> write a line into the holder's {@code _s} node on the key; the
 * holder's watch on that node runs its {@code onReleaseRequested} listeners (requests that come
 * faster than the watch is armed again are delivered once).
 *
 * <h2>Identities and ACLs</h2>
 *
 * <p>Baton asks the client's ACL provider for every znode it creates. In a secured namespace
 * that provider is {@code NamespaceAcls}: everyone reads; lock users create and delete in the
 * shared nodes; a request's own nodes are written by their creator's identity and admins alone.
 * ZooKeeper checks a delete against the parent's ACL, so the queues' ACL, which every lock user
 * needs to release its own nodes, lets every lock user delete any holder's: the mode keeps out
 * identities that are not lock users, not lock users from each other ({@code SecuredNamespace}).
 * A refusal for the client's identity (NoAuth, InvalidACL, AuthFailed, or an ensemble that
 * requires authentication) is final, never retried: it becomes an {@code AccessDeniedException}
 * naming the operation, the znode and the rule ({@code Access}). An acquire's parents are created
 * without awaiting their answers; a refused one is judged once the multi behind them answers that
 * a parent is missing, and only if no create under it succeeded or found its node (ZooKeeper
 * refuses to create an existing node to a client without CREATE on its parent, harmlessly).
 *
 * <h2>Where each job lives</h2>
 *
 * <table>
 * <caption>The package's classes, each one job</caption>
 * <tr><th>class</th><th>its job</th></tr>
 * <tr><td>{@code ZkLockService}</td><td>the facade: lifecycle (an explicit state), delegation, close</td></tr>
 * <tr><td>{@code ZkLockServiceBuilder}</td><td>configuration, the Curator client, security, the first checks</td></tr>
 * <tr><td>{@code Session}</td><td>the one connection watcher: loss policy, the LOSE_AT_LOST deadline; leases and elections subscribe</td></tr>
 * <tr><td>{@code Acquirer}</td><td>the acquire loop: enqueue, ask {@code Grants}, wait, adopt after a lost answer, the watchdog</td></tr>
 * <tr><td>{@code Request}</td><td>what an acquire asks for, one attempt's progress, what its multi created</td></tr>
 * <tr><td>{@code Grants}</td><td>the grant rule, pure: granted, wait for this node, or held back by a marker</td></tr>
 * <tr><td>{@code Layout}, {@code NodeNames}</td><td>paths, order across the sequence wrap, which names are Baton's; pure</td></tr>
 * <tr><td>{@code Store}, {@code Watches}, {@code Zxids}</td><td>the ZooKeeper calls as futures, the waits on watches, the token on every server version</td></tr>
 * <tr><td>{@code Leases}, {@code ZkLease}</td><td>held leases: registration, loss, settling, stamps, extend, release</td></tr>
 * <tr><td>{@code Breaker}</td><td>judging holders on the ensemble's clock and the version-checked break</td></tr>
 * <tr><td>{@code LockDelay}</td><td>lock-delay markers: the rule for one marker, stamping, waiting, retiring</td></tr>
 * <tr><td>{@code Cleanup}, {@code IdleKeys}</td><td>deleting what a service leaves: releases, losses, abandoned requests, containers, idle keys</td></tr>
 * <tr><td>{@code Claims}, {@code Operator}</td><td>reading a key for inspection and judgement; inspect, list, requestRelease, breakLock</td></tr>
 * <tr><td>{@code KeyWatches}</td><td>{@code watch} and its follower threads</td></tr>
 * <tr><td>{@code ZkLeaderElection}</td><td>Curator's {@code LeaderLatch} with per-term tokens, subscribed to {@code Session}</td></tr>
 * <tr><td>{@code ServerCheck}, {@code Access}, {@code NamespaceAcls}, {@code ClientSecurity}</td><td>server versions, refusals, ACLs, credentials</td></tr>
 * </table>
 */
package dev.baton.lock.zk;
