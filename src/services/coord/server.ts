// The coord service's node-local runtime: what one node keeps beside the replicated znode tree.
//   - session liveness: touches from this node's clients go to the leader's tracker (directly on
//     the leader; batched once per tick in a CoordTouches message from a follower, like
//     ZooKeeper's learner pings); the leader proposes closeSession for the expired, gives every
//     session a full timeout when it takes over, and reconciles its tracker with the tree's
//     sessions (a session created through another node is tracked from its first touch, or from
//     the next reconcile at the latest).
//   - the watch manager (src/coord/watches.ts), fed the tree's triggers as entries apply, and the
//     client connections by watcher id so events reach them.
//   - waiters for the local applied index (a write's reply waits until this replica applied it).
//   - leader contact: a node that knows no leader for longer than leaderLostCloseMs closes every
//     client connection (clients then move to a node that has one, as from a ZooKeeper follower
//     out of sync), and refuses handshakes meanwhile.
//   - syncing: while the coord group installs a received snapshot in slices (src/raft/driver.ts)
//     this node's tree is the old one, whole, and writes wait for the new one: like a ZooKeeper
//     follower syncing from its leader, it serves no client (closes them at the next tick and
//     refuses handshakes) until the snapshot is in. Pings to peers go on between slices.
//   - session moves: when a setOwner applies (a reconnect here or elsewhere), this node's other
//     connections of that session are closed (ZooKeeper's SessionMoved; session.ts).
// The ZooKeeper front end (session.ts) uses this through the CoordNode interface below.

import type { Env, Logger, Metrics, NodeId } from '../../env/types.ts';
import { limits } from '../../lib/limits.ts';
import { MessageType } from '../../lib/message-types.ts';
import type { PeerMessage } from '../../env/types.ts';
import type { RaftDriver } from '../../raft/driver.ts';
import { SessionTracker } from '../../coord/session-tracker.ts';
import { type WatchEvent, WatchManager, type WatchTrigger } from '../../coord/watches.ts';
import { AppliedWaiters } from './applied-waiters.ts';
import type { CoordConfig } from './config.ts';
import { decodeTouches, encodeTouches } from './touch-codec.ts';

/** What the runtime needs of the replicated tree (an adapter over src/coord's namespace). */
export interface SessionDirectory {
  /** Live sessions with their negotiated timeouts. */
  sessions(): Iterable<{ readonly id: number; readonly timeoutMs: number }>;
  sessionTimeoutMs(id: number): number | undefined;
}

/** A client connection the runtime can push events to and close. */
export interface WatchTarget {
  /** The session the connection serves (0 before its handshake). */
  readonly sessionId: number;
  /** The owner token this connection writes under (the session's owner while it holds it). */
  readonly owner: number;
  notify(event: WatchEvent, zxid: number): void;
  /** Close the connection (leader contact lost, session closed). */
  close(why: string): void;
}

/** Reconcile the leader's tracker with the tree every this many ticks. */
const RECONCILE_EVERY_TICKS = 10;

export class CoordRuntime {
  readonly watches = new WatchManager({
    watchesPerWatcherMax: limits.coordConnectionWatchesCountMax,
    watchesTotalMax: limits.coordNodeWatchesCountMax,
    pathCharsPerWatcherMax: limits.coordConnectionWatchPathsCharsMax,
    pathCharsTotalMax: limits.coordNodeWatchPathsCharsMax,
  });
  readonly tracker: SessionTracker;
  readonly waiters: AppliedWaiters;
  /** Connections by watcher id (their ClientConnection id). */
  readonly targets = new Map<number, WatchTarget>();
  /** Sessions this follower's clients touched since the last batch went to the leader. */
  private readonly pendingTouches = new Set<number>();
  private wasLeader = false;
  /** The leader's container and TTL cleanup (service.ts proposes the deletions); wall ms. */
  cleanup: ((nowWallMs: number) => void) | undefined;
  private lastCleanupMs = Number.NEGATIVE_INFINITY;
  private ticks = 0;
  /** Monotonic time this node last knew a leader (itself included). */
  private leaderSeenMs: number;
  private readonly log: Logger;
  private readonly m: {
    expiries: ReturnType<Metrics['counter']>;
    touchesSent: ReturnType<Metrics['counter']>;
    touchesDropped: ReturnType<Metrics['counter']>;
    leaderLostCloses: ReturnType<Metrics['counter']>;
  };
  private readonly timer: { cancel(): void };

  constructor(
    private readonly env: Env,
    private readonly driver: RaftDriver,
    private readonly directory: SessionDirectory,
    private readonly config: CoordConfig,
    /** Proposes closeSession for an expired session (the tree's command); errors are retried later. */
    private readonly proposeClose: (sessionId: number) => void,
    log: Logger,
  ) {
    this.log = log;
    this.tracker = new SessionTracker({
      tickTimeMs: config.tickTimeMs,
      // It mirrors the tree's sessions, so the tree's bound is its own.
      sessionsMax: limits.coordSessionsMax,
      closeRetryMs: 2 * config.tickTimeMs,
    });
    this.waiters = new AppliedWaiters(driver.appliedIndex);
    this.leaderSeenMs = env.clock.monotonicMs();
    const m = env.metrics;
    this.m = {
      expiries: m.counter('coord_session_expiries_total', 'closeSession proposals for expired sessions (leader)'),
      touchesSent: m.counter('coord_touch_batches_sent_total', 'Session touch batches sent to the leader (follower)'),
      touchesDropped: m.counter(
        'coord_touches_dropped_total',
        'Session touches dropped: no leader known, or the batch bound was reached',
      ),
      leaderLostCloses: m.counter(
        'coord_leader_lost_closes_total',
        'Client connections closed because this node lost contact with the coord leader',
      ),
    };
    this.timer = env.timers.every(Math.max(10, Math.floor(config.tickTimeMs / 2)), () => this.tick());
  }

  stop(): void {
    this.timer.cancel();
  }

  /** The router's handler for CoordTouches (the leader records them; others ignore them). */
  onPeerMessage(message: PeerMessage): void {
    if (message.type !== MessageType.CoordTouches) return;
    const ids = decodeTouches(message.payload);
    if (this.driver.status().role !== 'leader') return;
    if (this.env.mutations.has('coord-ignore-follower-touches')) return;
    const now = this.env.clock.monotonicMs();
    for (const id of ids) this.touchOnLeader(id, now);
  }

  /** Heard from a client of `sessionId` on this node. */
  touch(sessionId: number): void {
    if (this.driver.status().role === 'leader') {
      this.touchOnLeader(sessionId, this.env.clock.monotonicMs());
      return;
    }
    if (this.pendingTouches.size >= limits.coordTouchBatchSessionsMax && !this.pendingTouches.has(sessionId)) {
      this.m.touchesDropped.inc();
      return;
    }
    this.pendingTouches.add(sessionId);
  }

  /** Whether this node may serve clients: it knew a leader within leaderLostCloseMs. */
  get leaderInContact(): boolean {
    return this.env.clock.monotonicMs() - this.leaderSeenMs <= this.config.leaderLostCloseMs;
  }

  /** Whether a received snapshot is being installed: no client is served meanwhile. */
  get syncing(): boolean {
    return this.driver.restoringSnapshot;
  }

  /** The tree applied `index`, firing `triggers` (ZooKeeper's order): deliver events, release waiters. */
  onApplied(index: number, triggers: readonly WatchTrigger[]): void {
    if (triggers.length > 0) {
      for (const event of this.watches.trigger(triggers)) this.targets.get(event.watcher)?.notify(event, index);
    }
    this.waiters.advance(index);
  }

  /**
   * Session `sessionId` now belongs to connection `owner` (a reconnect here or on another node
   * applied): this node's other connections of it are the client's past. ZooKeeper closes such a
   * connection at its next write (SessionMoved, then the close); closing it as soon as the move
   * applies also stops its reads, which would otherwise go on from a session the client left.
   */
  onOwnerChanged(sessionId: number, owner: number): void {
    for (const t of [...this.targets.values()])
      if (t.sessionId === sessionId && t.owner !== owner) t.close('session_moved');
  }

  /**
   * A snapshot replaced the tree: the entries it covers fired no watch triggers here, so every
   * client of this node is disconnected; on reconnect its setWatches is answered against the new
   * tree (events for what changed since its last zxid), as after any move to another node.
   */
  onRestored(index: number): void {
    for (const t of [...this.targets.values()]) t.close('snapshot_installed');
    this.waiters.advance(index);
  }

  private touchOnLeader(sessionId: number, now: number): void {
    if (this.tracker.touch(sessionId, now)) return;
    if (this.tracker.has(sessionId)) return; // closing: its expiry stands
    const timeoutMs = this.directory.sessionTimeoutMs(sessionId);
    if (timeoutMs !== undefined) this.tracker.add(sessionId, timeoutMs, now);
  }

  private tick(): void {
    const now = this.env.clock.monotonicMs();
    const status = this.driver.status();
    this.waiters.advance(this.driver.appliedIndex);
    if (status.leader !== null) this.leaderSeenMs = now;
    const leader = status.role === 'leader';
    if (leader && !this.wasLeader) {
      this.tracker.grantAll(this.directory.sessions(), now);
      this.pendingTouches.clear();
      this.log.info({ sessions: this.tracker.size }, 'coord: leader; every session granted a full timeout');
    }
    this.wasLeader = leader;
    this.ticks++;
    if (leader) {
      if (this.ticks % RECONCILE_EVERY_TICKS === 0) this.reconcile(now);
      if (now - this.lastCleanupMs >= this.config.containerCheckIntervalMs) {
        this.lastCleanupMs = now;
        this.cleanup?.(Math.floor(this.env.clock.wallMs()));
      }
      for (const id of this.tracker.expired(now)) {
        if (this.directory.sessionTimeoutMs(id) === undefined) {
          this.tracker.remove(id); // closed meanwhile (its close applied before we saw it)
          continue;
        }
        this.m.expiries.inc();
        this.proposeClose(id);
      }
    } else if (this.pendingTouches.size > 0) {
      this.sendTouches(status.leader);
    }
    // A session closed by the log (expired, or closed through another node): its connection here goes.
    for (const t of [...this.targets.values()]) {
      if (t.sessionId !== 0 && this.directory.sessionTimeoutMs(t.sessionId) === undefined) t.close('session_closed');
    }
    if (!this.leaderInContact && this.targets.size > 0) {
      for (const t of [...this.targets.values()]) {
        this.m.leaderLostCloses.inc();
        t.close('leader_lost');
      }
    }
    if (this.syncing) for (const t of [...this.targets.values()]) t.close('syncing');
  }

  private sendTouches(leader: NodeId | null): void {
    if (leader === null) {
      this.m.touchesDropped.inc(this.pendingTouches.size);
      this.pendingTouches.clear();
      return;
    }
    const ids = [...this.pendingTouches];
    this.pendingTouches.clear();
    this.env.transport.send(leader, MessageType.CoordTouches, encodeTouches(ids));
    this.m.touchesSent.inc();
  }

  /** Tracks every live session of the tree the tracker lacks (created through another node). */
  private reconcile(now: number): void {
    for (const s of this.directory.sessions()) if (!this.tracker.has(s.id)) this.tracker.add(s.id, s.timeoutMs, now);
  }
}
