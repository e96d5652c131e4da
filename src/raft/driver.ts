// Runs the pure Raft core (src/raft) over an Env, feeding a StateMachine. Identical in the
// simulator and in a node process: it sees only the Env (clock, timers, rng, transport, metrics,
// log) and a durable RaftPersistence (the WAL-backed storage in production, over the Env's Disk).
//
// Processing a Ready (the order the core requires, see src/raft/raft.ts `Ready`):
//   1. send messages and flush the transport: they may leave before this Ready is durable (Raft
//      thesis §10.2.1; the core holds back those that depend on it), so followers fsync alongside
//   2. persist snapshot, entries (truncate-then-append), hard state; ONE sync for all of it when
//      `mustSync` (a hard state that only moves the commit index is written, not synced)
//   3. restore a received snapshot; apply committed entries in order; settle proposals
//   4. answer ReadIndex results (the state machine has applied their index by now)
//   5. advance; maybe take a snapshot and compact the log
// Group commit: work from one event-loop turn (many proposals, many incoming messages) is folded
// into one Ready by scheduling `process` once with `timers.after(0)`, so one fsync covers it all.
//
// Client requests: `submit` on the leader proposes directly; on a follower it forwards the command
// to the leader over the peer transport and waits for the leader's answer. The leader stamps each
// command it proposes, its own and forwarded ones, through `stampProposal` (log time comes from
// the leader, never from the node a client reached), and takes a forwarded request in at most once
// per (sender, incarnation, request id) however often the network delivers it (forward-dedup.ts).
// A command that cannot be forwarded is refused before anything waits on it. Outcomes are typed:
//   definite failure  not_leader / no_leader (not proposed), proposal_dropped (the entry at our
//                     index was applied with another term: it will never apply)
//   indefinite        timeout, leadership lost while forwarding (may or may not have applied)
// A proposal whose index a newer term's proposal takes on this leader is NOT answered then: its
// entry is gone from this log, but another node may still hold it and commit it (Raft Figure 8:
// a later leader that kept it). It waits, displaced, until its index is applied (then the term
// applied there decides, definitely), a snapshot covers it, or its deadline passes (indefinite).
// Reads use ReadIndex (`read`): the callback runs once this node's state machine has applied
// everything committed before the read began, so reading local state then is linearizable.
// Every pending map has a bound; beyond it requests fail fast with a LimitError (backpressure).
//
// Groups: a node runs one driver per Raft group (group-router.ts). The driver sends and receives
// only through its group's link, so every message carries its group id; its metrics carry the
// label group="<id>" and its log lines a `group` field (scopedEnv below), and its randomness is
// its own stream (`raft/<group>`), so two groups on a node do not time out in lockstep.
//
// Membership (member-changes.ts): operators' add/remove/promote/replace run on the leader (a
// follower forwards them); a node started with `rejoin` (its data is gone, src/node/identity.ts)
// asks the leader once per rejoinRequestIntervalMs to re-add it, and withholds its vote until it
// has committed the entry that re-added it (the leader's answer names its index).

import type { Counter, Env, Gauge, Histogram, Labels, Metrics } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { BaristaError, LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { fnv1a32 } from '../lib/hash.ts';
import { MessageType } from '../lib/message-types.ts';
import { decodeMessage, encodeMessage } from './codec.ts';
import type { RaftGroupLink, RaftGroupRouter } from './group-router.ts';
import { members } from './conf.ts';
import { type FollowerRegression, type Ready, RaftNode } from './raft.ts';
import type { RaftLogStorage } from './storage.ts';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MsgType,
  type NodeId,
  type Role,
  type Snapshot,
} from './types.ts';
import { MemberChanges, type MemberOpDone } from './member-changes.ts';
import {
  decodeMemberRequest,
  decodeRejoinAnswer,
  encodeMemberRequest,
  encodeRejoinAnswer,
  type MemberOp,
} from './member-codec.ts';
import {
  decodeForwardedRequest,
  decodeForwardedResponse,
  encodeForwardedRequest,
  encodeForwardedResponse,
  type ForwardedResponse,
} from './client-codec.ts';
import { ForwardDedup } from './forward-dedup.ts';
import { decodeReadCtx, encodeReadCtx } from './read-ctx.ts';
import type { StateMachine } from './state-machine.ts';
import { IndexMarks, type WriteStage, WRITE_STAGES, writeStageHistogram } from './write-stages.ts';

/** Raft storage plus the one operation the core does not see: making writes durable. */
export interface RaftPersistence extends RaftLogStorage {
  /** Makes every write since the last sync durable (one fsync for a whole Ready). */
  sync(): void;
  /**
   * The hard state as of the last sync that returned (or as recovered): what a restart must find
   * again. The simulator's durability check reads it (src/node/sim-raft-invariants.ts).
   */
  durableHardState?(): HardState;
  /**
   * Optional: createSnapshot in slices, at most `sliceBytes` of the image written (and synced) per
   * step, one step per turn of the event loop (a 150 MiB image written in one call held the loop
   * ~0.5 s); the last step stages the snapshot's marker and returns it. A received snapshot
   * (applySnapshot) ends a save in progress.
   */
  createSnapshotInSlices?(index: number, confState: ConfState, data: Uint8Array, sliceBytes: number): SnapshotSave;
  /**
   * Optional: applySnapshot in slices (a follower's received snapshot), at most `sliceBytes` of its
   * file written and synced per step; the last step stages the log's replacement and returns
   * true. The driver holds the Ready (its acknowledgement included) and writes nothing else until
   * then: a 150 MiB snapshot written in one call held the follower's loop ~0.5 s.
   */
  applySnapshotInSlices?(snapshot: Snapshot, sliceBytes: number): { step(): boolean };
}

/** A snapshot being written in slices: step() until it returns the snapshot, or abort(). */
export interface SnapshotSave {
  step(): Snapshot | undefined;
  abort(): void;
}

export interface RaftDriverOptions {
  /** The Raft group this driver runs (group-router.ts isValidGroupId): its messages, metrics label, rng stream. */
  readonly group: string;
  readonly voters: readonly NodeId[];
  /**
   * This process's incarnation (grows on every start; the membership driver's). It names this
   * node's forwarded requests uniquely across restarts, for the leader's duplicate filter.
   */
  readonly incarnation: number;
  /**
   * Called by the leader on every command it proposes (its own and forwarded ones), with its
   * term; returns the command to put in the log (the KV service stamps log time into it).
   * Default: the command unchanged.
   */
  readonly stampProposal?: (command: Uint8Array, term: number) => Uint8Array;
  readonly storage: RaftPersistence;
  readonly stateMachine: StateMachine;
  readonly tickMs: number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly requestTimeoutMs: number;
  /** Proposals, forwarded requests and reads waiting at once on this node. */
  readonly pendingRequestsMax: number;
  /**
   * Take a state-machine snapshot after this many applied entries, or after `snapshotEveryBytes`
   * of applied entry data, whichever comes first. Each node draws its next threshold between half
   * and all of these (ZooKeeper's snapCount roll), so a group's nodes do not all take one at once.
   */
  readonly snapshotEveryEntries: number;
  /**
   * See snapshotEveryEntries. With the entries kept behind a snapshot bounded by it too (besides
   * snapshotRetainEntries), the log held in memory stays within about twice it, plus what is
   * applied while a snapshot is being taken in slices.
   */
  readonly snapshotEveryBytes?: number;
  /** Entries kept behind a snapshot so slightly-lagging followers need no snapshot transfer. */
  readonly snapshotRetainEntries: number;
  /**
   * A snapshot of at least this many bytes is restored at start-up in slices, when the state
   * machine offers restoreInSlices (default defaultRaftTiming's 4 MiB: a smaller one takes well
   * under a second in one go, and its group is whole before any service reads it).
   */
  readonly restoreInSlicesAtStartBytes?: number;
  /**
   * This node's snapshot file is written at most this many bytes (then synced) per turn of the
   * event loop, when the storage offers createSnapshotInSlices (default 1 MiB; 8 MiB before
   * 2026-12-05: a 1.5 MB file written and fdatasync'd in one turn held a loaded node's loop up to
   * 26 ms). A snapshot taken in slices starts its file the turn after its image's last slice.
   */
  readonly snapshotWriteSliceBytes?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /**
   * 'safe' (default): every linearizable read confirms leadership with a heartbeat round.
   * 'lease': the leader answers reads from a lease without a round trip; correct only while every
   * node's clock rate is within leaseClockDriftRateMax of true time (see RaftOptions.readOnly).
   * In lease mode the core is ticked by the monotonic clock (catch-up ticks after a pause), so
   * a stalled leader cannot outlive its lease.
   */
  readonly readOnly?: 'safe' | 'lease';
  readonly leaseClockDriftRateMax?: number;
  /**
   * This node lost its data and rejoins (src/node/identity.ts): start with `voters: []`, ask the
   * leader to re-add it, withhold votes until it has committed the entry that re-added it, and
   * call `onRejoined` once a committed config makes it a voter again.
   */
  readonly rejoin?: { readonly rejoinId: string; readonly peers: readonly NodeId[]; onRejoined(): void };
}

/** A rejoining node repeats its request to the leader this often until it is a voter. */
export const rejoinRequestIntervalMs = 1_000;
/** Operators' membership operations (replace waits for catch-up) expire after this long. */
export const memberOpTimeoutMs = 60_000;

export const defaultRaftTiming = {
  tickMs: 50,
  electionTimeoutTicks: 10,
  heartbeatTicks: 2,
  requestTimeoutMs: 5_000,
  pendingRequestsMax: limits.raftPendingRequestsMax,
  // etcd's --snapshot-count and ZooKeeper's snapCount (10,000 before 2026-12-06: at a 7k/s write
  // load every node took one every 1.5 s, all at the same index).
  snapshotEveryEntries: 100_000,
  snapshotEveryBytes: 64 * 1024 * 1024,
  snapshotRetainEntries: 1_000,
  restoreInSlicesAtStartBytes: 4 * 1024 * 1024,
  snapshotWriteSliceBytes: 1024 * 1024,
  leaseClockDriftRateMax: 0.05,
} as const;

/** At most one log line per this interval about followers that lost acknowledged entries. */
export const regressionLogIntervalMs = 10_000;

export type Outcome =
  | { readonly ok: true; readonly result: Uint8Array }
  | { readonly ok: false; readonly error: BaristaError };
export type OutcomeCallback = (outcome: Outcome) => void;

interface PendingProposal {
  readonly term: number;
  readonly deadlineMs: number;
  readonly startedMs: number;
  readonly done: OutcomeCallback;
}

interface ForwardedIn {
  readonly term: number;
  readonly from: NodeId;
  readonly requestId: number;
  readonly startedMs: number;
}

interface PendingRead {
  readonly deadlineMs: number;
  readonly done: (error: BaristaError | undefined) => void;
  /** Set once the ReadIndex answer arrived: serve when applied >= index. */
  index: number | undefined;
}

const ROLE_CODE: Record<Role, number> = { follower: 0, preCandidate: 1, candidate: 2, leader: 3, learner: 4 };

export function timeoutError(what: string): BaristaError {
  return new BaristaError('timeout', `${what} timed out; it may or may not have taken effect`, {
    definite: false,
  });
}

/** Metrics whose every series carries `labels` too (a group's driver and storage: group="kv"). */
export function labelledMetrics(metrics: Metrics, labels: Labels): Metrics {
  return {
    counter: (name, help, more) => metrics.counter(name, help, { ...labels, ...more }),
    gauge: (name, help, more) => metrics.gauge(name, help, { ...labels, ...more }),
    histogram: (name, help, more) => metrics.histogram(name, help, { ...labels, ...more }),
  };
}

/** The node's Env as one group sees it: metrics labelled and log lines tagged with the group. */
export function scopedEnv(env: Env, group: string): Env {
  return { ...env, metrics: labelledMetrics(env.metrics, { group }), log: env.log.child({ group }) };
}

export class RaftDriver {
  readonly core: RaftNode;
  private readonly env: Env;
  private readonly link: RaftGroupLink;
  private readonly proposals = new Map<number, PendingProposal>();
  /** Requests this node forwarded to the leader, by request id. */
  /** Requests this node forwarded, by request id; a client request names the leader it went to. */
  private readonly forwarded = new Map<
    number,
    { deadlineMs: number; startedMs: number; done: OutcomeCallback; leader?: NodeId }
  >();
  /** Requests other nodes forwarded to us (we are or were leader), by log index. */
  private readonly forwardedIn = new Map<number, ForwardedIn>();
  /**
   * Proposals (ours and forwarded-in) whose index a newer term's proposal took on this leader;
   * one per index (a third term at the index answers the older one outcome_unknown), counted
   * in pendingCount, so bounded like the rest.
   */
  private readonly displaced = new Map<number, { mine?: PendingProposal; theirs?: ForwardedIn }>();
  /** Forwarded requests already taken in, so a duplicated frame is not proposed twice. */
  private readonly forwardedSeen: ForwardDedup;
  private readonly reads = new Map<number, PendingRead>();
  private nextRequestId = 1;
  private nextReadId = 1;
  private processScheduled = false;
  private applied: number;
  private lastSnapshotIndex: number;
  /**
   * Entry data applied since start; its value at lastSnapshotIndex (the byte trigger's mark); its
   * value at the index of the snapshot of our own being taken (one at a time), the next mark.
   */
  private appliedBytes = 0;
  private snapshotBytesMark = 0;
  private snapshotTakenBytes = 0;
  /** This node's share (1/2 to 1) of the snapshot thresholds, drawn per lastSnapshotIndex. */
  private snapshotShare = 1;
  private snapshotShareAt = -1;
  /** A snapshot being taken in slices (applies go on: the state machine keeps a frozen view), with the configuration of its index. */
  private slicing:
    | { readonly index: number; readonly conf: ConfState; readonly step: () => Uint8Array | undefined }
    | undefined;
  /** This node's snapshot file being written in slices. */
  private saving: { readonly index: number; readonly save: SnapshotSave } | undefined;
  /**
   * A received snapshot being installed in slices (applies held until it is in); `held` are the
   * committed entries that came in the same Ready as the snapshot, applied once it is in.
   */
  private restoring: { readonly index: number; readonly step: () => boolean; readonly held: Entry[] } | undefined;
  /**
   * A Ready whose received snapshot's file is being written in slices: the rest of its handling
   * (entries, hard state, sync, install, applies, advance) waits for the last slice, and no other
   * Ready is taken meanwhile; messages still step into the core, their answers held with it.
   */
  private receiving: { readonly rd: Ready; readonly save: { step(): boolean } } | undefined;
  private stopped = false;
  private readonly timer;
  private readonly gauges: Record<
    'term' | 'role' | 'commit' | 'applied' | 'pending' | 'inflightBytes' | 'logEntries' | 'bytesSinceSnapshot',
    Gauge
  >;
  private readonly syncLatency: Histogram;
  private readonly commitLatency: Histogram;
  /** Write-path stage timings (src/raft/write-stages.ts). */
  private readonly stages: Record<WriteStage, Histogram>;
  /** Leader: Appends sent per Ready, until the commit index covers them. */
  private readonly replicationMarks: IndexMarks;
  /** Commit advances, until the applied index covers them. */
  private readonly commitMarks: IndexMarks;
  /** The highest commit index this driver has seen (to notice advances). */
  private commitSeen = 0;
  /** Follower: when the first Append with entries since our last acknowledgement arrived. */
  private appendArrivedMs: number | undefined;
  private lastLeader: NodeId | undefined;
  readonly members: MemberChanges;
  /** Set while rejoining (until a committed config makes this node a voter again). */
  private rejoin: RaftDriverOptions['rejoin'];
  /** Rejoining and not yet re-added by a committed entry: vote requests are dropped. */
  private withholdVotes: boolean;
  private lastRejoinRequestMs = Number.NEGATIVE_INFINITY;
  /** Rejoining: the index of the entry that re-added us (from the leader's answer); 0 = unknown. */
  private reAddedAt = 0;
  private rejoinPeerCursor = 0;
  private readonly regressionsTotal: Counter;
  /** Lease mode: ticks follow the monotonic clock from here, not the count of timer firings. */
  private readonly tickOriginMs: number;
  private ticksDone = 0;
  /** After a longer gap every lease and election timer has run out anyway: skip the rest. */
  private readonly catchUpTicksMax: number;
  private regressionLoggedAtMs: number | undefined;
  private regressionsSuppressed = 0;
  /** Observer of applies and snapshot restores (the simulator feeds Raft's State Machine Safety check). */
  observer: { applied(entry: Entry): void; restored(index: number): void } | undefined;

  constructor(
    nodeEnv: Env,
    groups: RaftGroupRouter,
    private readonly options: RaftDriverOptions,
  ) {
    const env = scopedEnv(nodeEnv, options.group);
    this.env = env;
    this.link = groups.attach(options.group);
    const storage = options.storage;
    // The window must cover every request a sender can have waiting at once (forward-dedup.ts).
    this.forwardedSeen = new ForwardDedup({
      windowIds: options.pendingRequestsMax,
      sendersMax: limits.clusterNodesMax,
    });
    const snap = storage.snapshot();
    // The snapshot at start-up: a large one in slices when the state machine offers them (a
    // million znodes took 20-40 s in one go, with no peer answered and every other group of the
    // node waiting). The first slice runs here; when it is not the last, the rest go one per turn
    // of the loop as for a received snapshot (installSnapshot): applies held, `applied` kept at 0
    // so no read is served from the partial state, and `restoringSnapshot` true so services serve
    // no client. A small one is restored in one go, so its group is whole before services start.
    let startup: { readonly index: number; readonly step: () => boolean } | undefined;
    if (snap.meta.index > 0) {
      const sm = options.stateMachine;
      const sliceFrom = options.restoreInSlicesAtStartBytes ?? defaultRaftTiming.restoreInSlicesAtStartBytes;
      if (sm.restoreInSlices === undefined || snap.data.length < sliceFrom) sm.restore(snap.meta.index, snap.data);
      else {
        const step = sm.restoreInSlices(snap.meta.index, snap.data);
        if (!step()) startup = { index: snap.meta.index, step };
      }
    }
    this.applied = startup === undefined ? snap.meta.index : 0;
    this.lastSnapshotIndex = this.applied;
    this.core = new RaftNode({
      id: env.nodeId,
      voters: options.voters,
      storage,
      rng: env.rng.fork(`raft/${options.group}`),
      electionTimeoutTicks: options.electionTimeoutTicks,
      heartbeatTicks: options.heartbeatTicks,
      preVote: options.preVote ?? true,
      checkQuorum: options.checkQuorum ?? true,
      appliedIndex: snap.meta.index,
      mutationReuseReadIds: env.mutations.has('raft-reuse-read-ids'),
      mutationLeaseUntilStepDown: env.mutations.has('raft-lease-check-quorum-window'),
      mutations: env.mutations,
      readOnly: options.readOnly ?? 'safe',
      leaseClockDriftRateMax: options.leaseClockDriftRateMax ?? defaultRaftTiming.leaseClockDriftRateMax,
    });
    this.members = new MemberChanges(this.core, (fields, message) => env.log.info(fields, message));
    this.rejoin = options.rejoin;
    this.withholdVotes = options.rejoin !== undefined;
    this.tickOriginMs = env.clock.monotonicMs();
    this.catchUpTicksMax = 2 * options.electionTimeoutTicks;
    const m = env.metrics;
    this.gauges = {
      term: m.gauge('raft_term', 'Current Raft term'),
      role: m.gauge('raft_role', 'Raft role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader, 4 learner'),
      commit: m.gauge('raft_commit_index', 'Highest log index known committed'),
      applied: m.gauge('raft_applied_index', 'Highest log index applied to the state machine'),
      pending: m.gauge('raft_pending_requests', 'Client requests waiting on this node'),
      inflightBytes: m.gauge(
        'raft_inflight_append_bytes',
        'Leader: entry bytes sent to followers and not yet acknowledged',
      ),
      logEntries: m.gauge('raft_log_entries', 'Entries the log holds in memory (behind and after the last snapshot)'),
      bytesSinceSnapshot: m.gauge(
        'raft_applied_bytes_since_snapshot',
        "Entry data applied since the last snapshot (one follows at this node's share, 1/2 to 1, of snapshotEveryBytes)",
      ),
    };
    this.regressionsTotal = m.counter(
      'raft_follower_regressions_total',
      'Leader: probes a follower rejected at an index it had acknowledged (it lost data)',
    );
    this.syncLatency = m.histogram('raft_persist_sync_latency_ms', 'Time to persist and sync one Ready');
    this.commitLatency = m.histogram('raft_commit_latency_ms', 'Proposal to apply, for proposals made on this node');
    this.stages = Object.fromEntries(WRITE_STAGES.map((s) => [s, writeStageHistogram(m, s)])) as Record<
      WriteStage,
      Histogram
    >;
    this.replicationMarks = new IndexMarks(this.stages.replication);
    this.commitMarks = new IndexMarks(this.stages.commit_to_apply);
    this.commitSeen = this.core.commitIndex;
    this.link.on(MessageType.Raft, (msg) => {
      const decoded = decodeMessage(msg.payload);
      if (decoded instanceof Error) {
        m.counter('raft_messages_rejected_total', 'Raft messages that failed to decode', { code: decoded.code }).inc();
        return;
      }
      if (decoded.from !== msg.from || decoded.to !== env.nodeId) {
        m.counter('raft_messages_rejected_total', 'Raft messages that failed to decode', {
          code: 'misaddressed',
        }).inc();
        return;
      }
      this.syncLeaseTicks(); // a read request or an acknowledgement is judged against the time now
      if (this.withholdVotes && (decoded.type === MsgType.Vote || decoded.type === MsgType.PreVote)) {
        // Our hard state is gone: we may have voted in this very term before the wipe.
        m.counter('raft_votes_withheld_total', 'Vote requests ignored while rejoining after data loss').inc();
        return;
      }
      if (decoded.type === MsgType.Append && decoded.entries.length > 0)
        this.appendArrivedMs ??= env.clock.monotonicMs();
      this.core.step(decoded);
      this.noteCommit();
      this.schedule();
    });
    this.link.on(MessageType.RaftMemberRequest, (msg) => this.onMemberRequest(msg.from, msg.payload));
    this.link.on(MessageType.RaftClientRequest, (msg) => this.onForwardedRequest(msg.from, msg.payload));
    this.link.on(MessageType.RaftClientResponse, (msg) => this.onForwardedResponse(msg.payload));
    this.timer = env.timers.every(options.tickMs, () => {
      if (this.options.readOnly === 'lease' && !env.mutations.has('raft-lease-ticks-per-timer')) this.syncLeaseTicks();
      else this.core.tick();
      this.expire();
      this.members.step(env.clock.monotonicMs());
      this.rejoinStep();
      this.process();
      this.updateGauges();
    });
    if (startup !== undefined) {
      const restoring = { index: startup.index, step: startup.step, held: [] };
      this.restoring = restoring;
      this.core.pauseApply(true);
      env.timers.after(1, () => {
        if (this.restoring === restoring) this.restoreSlice();
      });
    }
    this.process();
  }

  /**
   * Lease mode: runs as many core ticks as the monotonic clock says have elapsed, on every timer
   * firing AND before every read and every incoming Raft message. A pause (GC, a stalled disk,
   * SIGSTOP) then ends the leader's lease instead of freezing it: a timer that fires once after a
   * long stall would count one tick, and work that runs before the late timer (a read a client
   * sent during the stall) would be judged by the tick count from before it (found by the
   * simulator: 3 nodes, seed 4, a paused leader served a stale read). Safe mode: no-op.
   */
  private syncLeaseTicks(): void {
    if (this.options.readOnly !== 'lease' || this.env.mutations.has('raft-lease-ticks-per-timer')) return;
    const elapsed = Math.floor((this.env.clock.monotonicMs() - this.tickOriginMs) / this.options.tickMs);
    const due = Math.min(elapsed - this.ticksDone, this.catchUpTicksMax);
    this.ticksDone = elapsed;
    for (let n = due; n > 0; n--) this.core.tick();
  }

  /** Whether this node is rejoining after losing its data (until a committed config makes it a voter). */
  get rejoining(): boolean {
    return this.rejoin !== undefined;
  }

  /** The storage's durable hard state (RaftPersistence.durableHardState), if it tracks one. */
  durableHardState(): HardState | undefined {
    return this.options.storage.durableHardState?.();
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** The state machine this driver applies to (the simulator's replicas-agree check reads its image). */
  get stateMachine(): StateMachine {
    return this.options.stateMachine;
  }

  /** Whether this node is taking a snapshot in slices. */
  get snapshotting(): boolean {
    return this.slicing !== undefined;
  }

  /** The index of the last snapshot this node saved (0: none yet). */
  get snapshotIndex(): number {
    return this.lastSnapshotIndex;
  }

  /**
   * Whether a snapshot (received, or this node's own at start-up) is being installed in slices:
   * the state machine is behind meanwhile.
   */
  get restoringSnapshot(): boolean {
    return this.restoring !== undefined;
  }

  /** Client requests waiting on this node (proposals, forwarded both ways, reads). */
  get pendingRequests(): number {
    return this.pendingCount();
  }

  status(): {
    role: Role;
    term: number;
    commitIndex: number;
    appliedIndex: number;
    leader: NodeId | null;
    lastIndex: number;
  } {
    return {
      role: this.core.role,
      term: this.core.currentTerm,
      commitIndex: this.core.commitIndex,
      appliedIndex: this.applied,
      leader: this.core.leader ?? null,
      lastIndex: this.core.lastIndex,
    };
  }

  /** Proposes `command` (through the leader) and calls `done` with the state machine's result. */
  submit(command: Uint8Array, done: OutcomeCallback): void {
    if (this.stopped) return done({ ok: false, error: new BaristaError('stopped', 'node is stopping') });
    if (this.pendingCount() >= this.options.pendingRequestsMax) {
      return done({
        ok: false,
        error: new LimitError('pendingRequestsMax', `more than ${this.options.pendingRequestsMax} requests waiting`),
      });
    }
    if (command.length > limits.raftEntryBytesMax) {
      return done({ ok: false, error: new LimitError('raftEntryBytesMax', `command of ${command.length} bytes`) });
    }
    const now = this.env.clock.monotonicMs();
    if (this.core.role === 'leader') {
      const r = this.core.propose(this.stamp(command));
      if (!r.ok) return done({ ok: false, error: r.error });
      this.supersede(r.value.index);
      this.proposals.set(r.value.index, {
        term: r.value.term,
        deadlineMs: now + this.options.requestTimeoutMs,
        startedMs: now,
        done,
      });
      this.schedule();
      return;
    }
    const leader = this.core.leader;
    if (leader === undefined || leader === this.env.nodeId) {
      return done({
        ok: false,
        error: new BaristaError('no_leader', 'no leader is known right now'),
      });
    }
    const requestId = this.nextRequestId++;
    // Encode before registering: a command that cannot be forwarded is a definite failure now,
    // not an indefinite timeout later for a request that never left this node.
    let frame: Uint8Array;
    try {
      frame = encodeForwardedRequest({ incarnation: this.options.incarnation, requestId, command });
    } catch (err) {
      if (err instanceof BaristaError) return done({ ok: false, error: err });
      throw err;
    }
    this.forwarded.set(requestId, { deadlineMs: now + this.options.requestTimeoutMs, startedMs: now, done, leader });
    this.link.send(leader, MessageType.RaftClientRequest, frame);
  }

  /** The command as the leader proposes it (log time stamped, unless the planted bug is on). */
  private stamp(command: Uint8Array): Uint8Array {
    const stamp = this.options.stampProposal;
    if (stamp === undefined || this.env.mutations.has('kv-time-from-contacted-node')) return command;
    return stamp(command, this.core.currentTerm);
  }

  /** Linearizable read barrier: `done(undefined)` once local state reflects every earlier commit. */
  read(done: (error: BaristaError | undefined) => void): void {
    if (this.pendingCount() >= this.options.pendingRequestsMax) {
      return done(
        new LimitError('pendingRequestsMax', `more than ${this.options.pendingRequestsMax} requests waiting`),
      );
    }
    this.syncLeaseTicks();
    const id = this.nextReadId++;
    const r = this.core.readIndex(encodeReadCtx(id));
    if (!r.ok) return done(r.error);
    this.reads.set(id, {
      deadlineMs: this.env.clock.monotonicMs() + this.options.requestTimeoutMs,
      done,
      index: undefined,
    });
    this.schedule();
  }

  /** Proposes a membership change on the leader (one server at a time; see src/raft). */
  changeMembership(change: ConfChange): BaristaError | undefined {
    const r = this.core.proposeConfChange(change);
    if (!r.ok) return r.error;
    this.schedule();
    return undefined;
  }

  /**
   * An operator's membership operation (member-changes.ts), run on the leader: directly here, or
   * forwarded to the leader this node knows. `done` runs once it finished, failed or timed out.
   */
  memberOp(op: MemberOp, nodeId: NodeId, done: MemberOpDone): void {
    const now = this.env.clock.monotonicMs();
    if (this.core.role === 'leader') {
      this.members.start(op, nodeId, now + memberOpTimeoutMs, done);
      this.schedule();
      return;
    }
    const leader = this.core.leader;
    if (leader === undefined || leader === this.env.nodeId)
      return done(new BaristaError('no_leader', 'no leader is known right now'));
    if (this.pendingCount() >= this.options.pendingRequestsMax)
      return done(
        new LimitError('pendingRequestsMax', `more than ${this.options.pendingRequestsMax} requests waiting`),
      );
    const requestId = this.nextRequestId++;
    this.forwarded.set(requestId, {
      deadlineMs: now + memberOpTimeoutMs,
      startedMs: now,
      done: (o) => done(o.ok ? undefined : o.error),
    });
    this.link.send(leader, MessageType.RaftMemberRequest, encodeMemberRequest({ requestId, op, nodeId }));
  }

  /** The configuration as this node's log has it, with the leader's view of each member. */
  membersView(): {
    nodeId: NodeId;
    leader: NodeId | null;
    term: number;
    role: Role;
    voters: readonly NodeId[];
    learners: readonly NodeId[];
    rejoining: boolean;
    progress?: Record<NodeId, { match: number; next: number; state: string }>;
  } {
    const conf = this.core.config;
    const view = {
      nodeId: this.env.nodeId,
      leader: this.core.leader ?? null,
      term: this.core.currentTerm,
      role: this.core.role,
      voters: conf.voters,
      learners: conf.learners,
      rejoining: this.rejoin !== undefined,
    };
    if (this.core.role !== 'leader') return view;
    const progress: Record<NodeId, { match: number; next: number; state: string }> = {};
    for (const id of [...conf.voters, ...conf.learners]) {
      const pr = this.core.progress(id);
      if (pr !== undefined) progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    }
    return { ...view, progress };
  }

  transferLeadership(to: NodeId): BaristaError | undefined {
    const r = this.core.transferLeadership(to);
    if (!r.ok) return r.error;
    this.schedule();
    return undefined;
  }

  stop(): void {
    this.stopped = true;
    this.timer.cancel();
    // A snapshot file half written stays as its temp file, removed at the next start, as after a
    // crash: the disk is not touched here (a crash stops the node after its disk is gone; swarm
    // seed 279166134362); its handle closes when the process exits.
    this.saving = undefined;
    this.receiving = undefined;
  }

  private pendingCount(): number {
    return this.proposals.size + this.forwarded.size + this.reads.size + this.forwardedIn.size + this.displaced.size;
  }

  private schedule(): void {
    if (this.processScheduled || this.stopped) return;
    this.processScheduled = true;
    this.env.timers.after(0, () => {
      this.processScheduled = false;
      this.process();
    });
  }

  private process(): void {
    // While a received snapshot's file is written, its Ready is outstanding: the core gives no other.
    while (this.receiving === undefined && !this.stopped) {
      const rd = this.core.ready();
      if (rd === undefined) return;
      this.handle(rd);
    }
  }

  /** Gauges are refreshed once per tick, not on every processed Ready (a hot path). */
  private updateGauges(): void {
    this.gauges.term.set(this.core.currentTerm);
    this.gauges.role.set(ROLE_CODE[this.core.role]);
    this.gauges.commit.set(this.core.commitIndex);
    this.gauges.applied.set(this.applied);
    this.gauges.pending.set(this.pendingCount());
    const storage = this.options.storage;
    this.gauges.logEntries.set(Math.max(0, storage.lastIndex() - storage.firstIndex() + 1));
    this.gauges.bytesSinceSnapshot.set(this.appliedBytes - this.snapshotBytesMark);
    let inflight = 0;
    if (this.core.role === 'leader') {
      const conf = this.core.config;
      for (const id of [...conf.voters, ...conf.learners]) {
        if (id !== this.env.nodeId) inflight += this.core.progress(id)?.inflights.bytes ?? 0;
      }
    }
    this.gauges.inflightBytes.set(inflight);
  }

  private handle(rd: Ready): void {
    const storage = this.options.storage;
    const started = this.env.clock.monotonicMs();
    const leading = this.core.role === 'leader';
    if (leading) this.observeProposeWait(rd.entries, started);
    // Send first, then persist (Raft thesis §10.2.1): the followers' fsync runs alongside ours
    // instead of after it. The core holds back every message that depends on this Ready's writes
    // (acknowledgements always; everything when the term or vote changes) and counts the leader
    // toward commit only after advance(). The transport batches per turn, so it is told to put
    // the frames on the wire now, before the synchronous fsync blocks this thread (with them the
    // answers to forwarded requests settled by an earlier Ready of this turn).
    // A follower's acknowledgement goes at once too: the leader's commit waits for it, and the
    // turn's end comes after this Ready's applies (and, on a loaded machine, after other work).
    if (this.sendAll(rd.messages) || rd.mustSync) this.env.transport.flushNow?.();
    const lastEntry = rd.entries.at(-1);
    if (leading && lastEntry !== undefined) this.replicationMarks.mark(lastEntry.index, started);
    if (rd.snapshot !== undefined) {
      // A received snapshot replaces the log: ours still being taken or written is of an older state.
      this.abandonSlicing();
      const sliceBytes = this.options.snapshotWriteSliceBytes ?? defaultRaftTiming.snapshotWriteSliceBytes;
      if (storage.applySnapshotInSlices !== undefined && rd.snapshot.data.byteLength > sliceBytes) {
        const receiving = { rd, save: storage.applySnapshotInSlices(rd.snapshot, sliceBytes) };
        this.receiving = receiving;
        this.receiveSlice(receiving);
        return;
      }
    }
    this.persisted(rd, 'in-call');
  }

  /** One slice of a received snapshot's file; after the last, the rest of its Ready's handling. */
  private receiveSlice(receiving: NonNullable<RaftDriver['receiving']>): void {
    if (this.receiving !== receiving || this.stopped) return;
    let done: boolean;
    try {
      done = receiving.save.step();
    } catch (err) {
      this.receiving = undefined;
      this.rethrowUnlessIgnored(err);
      // As when the one-call applySnapshot throws: the rest of the Ready's persistence is skipped.
      this.persisted(receiving.rd, 'failed');
      this.schedule();
      return;
    }
    if (!done) {
      this.env.metrics
        .counter('raft_snapshot_receive_slices_total', 'Slices of received snapshot files written in slices')
        .inc();
      // Heartbeat answers and the like go out between slices (the Ready's own wait for its end).
      if (!this.env.mutations.has('raft-hold-all-while-receiving')) this.sendAll(this.core.takeUnheldMessages());
      // A millisecond apart, as a snapshot of our own: the loop's I/O runs in between.
      this.env.timers.after(1, () => this.receiveSlice(receiving));
      return;
    }
    this.receiving = undefined;
    this.persisted(receiving.rd, 'written');
    this.schedule(); // the Readys that waited
  }

  /**
   * The rest of a Ready's handling. `snapshot`: 'written' when its snapshot's file went in slices,
   * 'failed' when a slice's disk error was ignored (the planted mutation: nothing more persisted).
   */
  private persisted(rd: Ready, snapshot: 'in-call' | 'written' | 'failed'): void {
    const storage = this.options.storage;
    if (snapshot === 'failed') return this.handled(rd);
    const persistStartedMs = this.env.clock.monotonicMs();
    try {
      if (rd.snapshot !== undefined && snapshot === 'in-call') storage.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) storage.append(rd.entries);
      if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
      if (rd.mustSync) {
        storage.sync();
        const syncedMs = this.env.clock.monotonicMs();
        this.syncLatency.observe(syncedMs - persistStartedMs);
        this.stages.wal_sync.observe(syncedMs - persistStartedMs);
      }
    } catch (err) {
      this.rethrowUnlessIgnored(err);
    }
    this.handled(rd);
  }

  /** A disk error while persisting a Ready goes on up: a real node exits on it. */
  private rethrowUnlessIgnored(err: unknown): void {
    // PLANTED BUG (mutation 'raft-ignore-disk-error'): the error is ignored; the node serves on.
    if (!(err instanceof BaristaError) || !this.env.mutations.has('raft-ignore-disk-error')) throw err;
  }

  /** A Ready's handling after its persistence: leader changes, install, applies, reads, advance. */
  private handled(rd: Ready): void {
    if (rd.followerRegressions.length > 0) this.reportRegressions(rd.followerRegressions);
    if (rd.softState !== undefined && rd.softState.leader !== this.lastLeader) {
      this.lastLeader = rd.softState.leader;
      this.env.metrics.counter('raft_leader_changes_total', 'Leader changes seen by this node').inc();
      this.failForwardedTo(rd.softState.leader);
      this.env.log.info(
        { leader: rd.softState.leader ?? null, role: rd.softState.role, term: this.core.currentTerm },
        'raft: leader changed',
      );
    }
    if (rd.softState !== undefined && rd.softState.role !== 'leader') this.replicationMarks.clear();
    if (rd.snapshot !== undefined) this.installSnapshot(rd.snapshot.meta.index, rd.snapshot.data);
    if (this.restoring !== undefined) this.restoring.held.push(...rd.committedEntries);
    else this.applyEntries(rd.committedEntries);
    for (const rs of rd.readStates) {
      // The core hands back the context this driver gave readIndex (stored locally, never sent to a
      // peer); it is still decoded defensively, so a malformed one is counted, not a crash.
      const id = decodeReadCtx(rs.requestCtx);
      if (id instanceof ProtocolError) {
        this.env.metrics
          .counter('raft_read_states_rejected_total', 'Read answers with a malformed context', { code: id.code })
          .inc();
        continue;
      }
      const read = this.reads.get(id);
      if (read !== undefined) read.index = rs.index;
    }
    this.serveReads();
    this.core.advance(rd);
    this.noteCommit();
    this.maybeSnapshot();
  }

  /**
   * The leader changed: client requests forwarded to another leader are answered now, indefinite
   * (leadership_lost: they may or may not apply), instead of at their deadline. A request sent to
   * a leader that died would otherwise hold its caller for requestTimeoutMs (5 s): a ZooKeeper
   * client resuming its session here after the leader's kill -9 waited that long to be told.
   */
  private failForwardedTo(current: NodeId | undefined): void {
    for (const [id, f] of this.forwarded) {
      if (f.leader === undefined || f.leader === current) continue;
      this.forwarded.delete(id);
      f.done({ ok: false, error: new BaristaError('leadership_lost', 'the leader changed; may or may not apply') });
    }
  }

  /**
   * Hands a Ready's messages to the transport; a follower's first acknowledgement ends its stage.
   * True when an acknowledgement of appended entries was among them.
   */
  private sendAll(messages: readonly Message[]): boolean {
    let acked = false;
    for (const m of messages) {
      if (m.type === MsgType.AppendResponse && this.appendArrivedMs !== undefined) {
        this.stages.follower_append.observe(this.env.clock.monotonicMs() - this.appendArrivedMs);
        this.appendArrivedMs = undefined;
        acked = true;
      }
      this.link.send(m.to, MessageType.Raft, encodeMessage(m));
    }
    return acked;
  }

  /** Leader: how long each new entry waited between its proposal and its Ready. */
  private observeProposeWait(entries: readonly Entry[], nowMs: number): void {
    for (const e of entries) {
      const p = this.proposals.get(e.index) ?? this.forwardedIn.get(e.index);
      if (p !== undefined) this.stages.propose_wait.observe(nowMs - p.startedMs);
    }
  }

  /** Stage timing at a commit advance: the leader's replication round ends, the wait to apply starts. */
  private noteCommit(): void {
    const commit = this.core.commitIndex;
    if (commit <= this.commitSeen) return;
    this.commitSeen = commit;
    const now = this.env.clock.monotonicMs();
    this.commitMarks.mark(commit, now);
    if (this.core.role === 'leader') this.replicationMarks.reached(commit, now);
  }

  /**
   * A follower rejected entries it had acknowledged: its data was lost (wiped, or synced WAL
   * bytes gone). Counted always; logged at most once per regressionLogIntervalMs with the count
   * of lines suppressed meanwhile (a flapping follower must not flood the log).
   */
  private reportRegressions(regressions: readonly FollowerRegression[]): void {
    let count = 0;
    for (const r of regressions) count += r.count;
    this.regressionsTotal.inc(count);
    const now = this.env.clock.monotonicMs();
    if (this.regressionLoggedAtMs !== undefined && now - this.regressionLoggedAtMs < regressionLogIntervalMs) {
      this.regressionsSuppressed += count;
      return;
    }
    this.regressionLoggedAtMs = now;
    for (const r of regressions) {
      this.env.log.warn(
        {
          follower: r.follower,
          acknowledgedIndex: r.matchIndexBefore,
          rejectedIndex: r.rejectedIndex,
          suppressed: this.regressionsSuppressed,
        },
        'raft: follower lost entries it had acknowledged; re-replicating (failure tolerance reduced until it catches up)',
      );
    }
    this.regressionsSuppressed = 0;
  }

  private applyEntries(entries: readonly Entry[]): void {
    const applyStartedMs = this.env.clock.monotonicMs();
    for (const e of entries) {
      const result = e.type === EntryType.Normal ? this.options.stateMachine.apply(e.index, e.data) : undefined;
      this.applied = e.index;
      this.appliedBytes += e.data.byteLength;
      this.observer?.applied(e);
      this.settle(e.index, e.term, result);
    }
    if (entries.length > 0) {
      const appliedMs = this.env.clock.monotonicMs();
      this.stages.apply.observe(appliedMs - applyStartedMs);
      this.commitMarks.reached(this.applied, appliedMs);
    }
  }

  /**
   * A received snapshot replaces the state machine's state. With restoreInSlices it goes in slices,
   * one per turn of the event loop (a million znodes took 20-44 s in one go, answering nothing):
   * applies are held meanwhile (the core keeps committed entries back; those of this Ready wait in
   * `held`) and `applied` stays at the old index, so ReadIndex reads wait too. The state machine
   * keeps its old state, whole, until the last slice swaps the new one in.
   */
  private installSnapshot(index: number, data: Uint8Array): void {
    this.abandonSlicing();
    const sm = this.options.stateMachine;
    if (sm.restoreInSlices === undefined) {
      sm.restore(index, data);
      this.restored(index);
      return;
    }
    // A newer snapshot replaces one still going in: Raft accepts a snapshot only beyond its commit
    // index, so no entry held for the older one is above it.
    if (this.restoring !== undefined)
      assert(
        this.restoring.held.every((e) => e.index <= index),
        'held entry beyond a newer snapshot',
      );
    this.restoring = { index, step: sm.restoreInSlices(index, data), held: [] };
    this.core.pauseApply(true);
    this.restoreSlice();
  }

  /** One slice of the snapshot being installed; the next is a timer turn away. */
  private restoreSlice(): void {
    const restoring = this.restoring;
    if (restoring === undefined || this.stopped) return;
    const done = restoring.step();
    this.env.metrics
      .counter(
        'raft_snapshot_restore_slices_total',
        'Slices of snapshots installed in slices (received, or at start-up)',
      )
      .inc();
    if (!done) {
      // A millisecond apart, as for snapshots taken in slices (sliceSnapshot).
      this.env.timers.after(1, () => {
        if (this.restoring === restoring) this.restoreSlice();
      });
      return;
    }
    this.restoring = undefined;
    this.core.pauseApply(false);
    this.restored(restoring.index);
    this.applyEntries(restoring.held.filter((e) => e.index > restoring.index));
    this.serveReads();
    this.schedule();
  }

  /** The state machine holds the snapshot at `index`: settle what it covers. */
  private restored(index: number): void {
    this.applied = index;
    this.lastSnapshotIndex = index;
    this.snapshotBytesMark = this.appliedBytes;
    this.observer?.restored(index);
    // Our proposals at or below the snapshot were applied (or not) elsewhere: we cannot know.
    for (const [i, p] of this.proposals) {
      if (i > index) continue;
      this.proposals.delete(i);
      p.done({
        ok: false,
        error: new BaristaError('outcome_unknown', 'replaced by a snapshot before the outcome was seen'),
      });
    }
    for (const [i, f] of this.forwardedIn) {
      if (i > index) continue;
      this.forwardedIn.delete(i);
      this.reply(f.from, {
        requestId: f.requestId,
        ok: false,
        error: new BaristaError('outcome_unknown', 'outcome not seen'),
      });
    }
    for (const i of this.displaced.keys()) if (i <= index) this.undisplace(i, 'replaced by a snapshot');
  }

  /** Answers the displaced proposals at `index` outcome_unknown (their entry may yet commit). */
  private undisplace(index: number, why: string): void {
    const d = this.displaced.get(index);
    if (d === undefined) return;
    this.displaced.delete(index);
    const unknown = (): BaristaError => new BaristaError('outcome_unknown', `${why}; may or may not apply`);
    d.mine?.done({ ok: false, error: unknown() });
    if (d.theirs !== undefined)
      this.reply(d.theirs.from, { requestId: d.theirs.requestId, ok: false, error: unknown() });
  }

  /**
   * A new proposal took `index`, so whatever was proposed there in an earlier term is gone from
   * this leader's log — but not necessarily from every log: another node that kept it may still
   * lead and commit it (Raft Figure 8). So it is not answered now; it moves to `displaced` and
   * is settled when `index` applies (see the header).
   */
  private supersede(index: number): void {
    const mine = this.proposals.get(index);
    const theirs = this.forwardedIn.get(index);
    if (mine === undefined && theirs === undefined) return;
    this.undisplace(index, 'displaced twice by newer terms');
    this.proposals.delete(index);
    this.forwardedIn.delete(index);
    this.displaced.set(index, { ...(mine !== undefined ? { mine } : {}), ...(theirs !== undefined ? { theirs } : {}) });
  }

  private settle(index: number, term: number, result: Uint8Array | undefined): void {
    const d = this.displaced.get(index);
    if (d !== undefined) {
      this.displaced.delete(index);
      if (d.mine !== undefined) this.settleMine(d.mine, term, result);
      if (d.theirs !== undefined) this.settleTheirs(d.theirs, term, result);
    }
    const mine = this.proposals.get(index);
    if (mine !== undefined) {
      this.proposals.delete(index);
      this.settleMine(mine, term, result);
    }
    const theirs = this.forwardedIn.get(index);
    if (theirs !== undefined) {
      this.forwardedIn.delete(index);
      this.settleTheirs(theirs, term, result);
    }
  }

  /** The entry at a proposal's index applied with `term`: ours iff the terms match. */
  private settleMine(mine: PendingProposal, term: number, result: Uint8Array | undefined): void {
    if (mine.term === term && result !== undefined) {
      const tookMs = this.env.clock.monotonicMs() - mine.startedMs;
      this.commitLatency.observe(tookMs);
      this.stages.leader.observe(tookMs);
      mine.done({ ok: true, result });
    } else {
      mine.done({
        ok: false,
        error: new BaristaError('proposal_dropped', 'a new leader replaced the proposal; it will not apply'),
      });
    }
  }

  private settleTheirs(theirs: ForwardedIn, term: number, result: Uint8Array | undefined): void {
    if (theirs.term === term && result !== undefined) {
      this.stages.leader.observe(this.env.clock.monotonicMs() - theirs.startedMs);
      this.reply(theirs.from, { requestId: theirs.requestId, ok: true, result });
    } else
      this.reply(theirs.from, {
        requestId: theirs.requestId,
        ok: false,
        error: new BaristaError('proposal_dropped', 'replaced by a new leader'),
      });
  }

  private serveReads(): void {
    for (const [id, r] of this.reads) {
      if (r.index !== undefined && this.applied >= r.index) {
        this.reads.delete(id);
        r.done(undefined);
      }
    }
  }

  private onForwardedRequest(from: NodeId, payload: Uint8Array): void {
    const req = decodeForwardedRequest(payload);
    if (req instanceof Error) {
      this.env.metrics
        .counter('raft_client_rejected_total', 'Forwarded client requests rejected', { code: req.code })
        .inc();
      return;
    }
    if (req.incarnation !== 0 && !this.env.mutations.has('raft-forward-no-dedup')) {
      const verdict = this.forwardedSeen.admit(from, req.incarnation, req.requestId);
      if (verdict !== 'new') {
        // Not answered: the first copy is (or was) answered; a stale or too-old one has nobody
        // waiting for it.
        this.env.metrics
          .counter('raft_client_forwarded_ignored_total', 'Forwarded client requests not proposed again', {
            reason: verdict,
          })
          .inc();
        return;
      }
    }
    const fail = (error: BaristaError): void => this.reply(from, { requestId: req.requestId, ok: false, error });
    if (this.core.role !== 'leader')
      return fail(new BaristaError('not_leader', 'not the leader (forwarded to a stale leader)'));
    if (this.pendingCount() >= this.options.pendingRequestsMax)
      return fail(new LimitError('pendingRequestsMax', 'leader is overloaded'));
    if (req.command.length > limits.raftEntryBytesMax) {
      return fail(new LimitError('raftEntryBytesMax', `forwarded command of ${req.command.length} bytes`));
    }
    const r = this.core.propose(this.stamp(req.command));
    if (!r.ok) return fail(r.error);
    this.supersede(r.value.index);
    this.forwardedIn.set(r.value.index, {
      term: r.value.term,
      from,
      requestId: req.requestId,
      startedMs: this.env.clock.monotonicMs(),
    });
    this.schedule();
  }

  private onMemberRequest(from: NodeId, payload: Uint8Array): void {
    const req = decodeMemberRequest(payload);
    if (req instanceof Error) {
      this.env.metrics
        .counter('raft_member_requests_rejected_total', 'Membership requests rejected', { code: req.code })
        .inc();
      return;
    }
    const deadlineMs = this.env.clock.monotonicMs() + memberOpTimeoutMs;
    if (req.op === 'rejoin') {
      if (this.core.role !== 'leader') {
        // A rejoining node that knows no leader asks any peer; relay once (never a relayed one).
        const leader = this.core.leader;
        if (from === req.nodeId && leader !== undefined && leader !== this.env.nodeId && leader !== from)
          this.link.send(leader, MessageType.RaftMemberRequest, payload);
        return;
      }
      const learnerIndex = this.members.rejoin(req.nodeId, req.rejoinId, deadlineMs);
      this.reply(req.nodeId, { requestId: req.requestId, ok: true, result: encodeRejoinAnswer(learnerIndex) });
      this.schedule();
      return;
    }
    const answer: MemberOpDone = (error) =>
      this.reply(
        from,
        error === undefined
          ? { requestId: req.requestId, ok: true, result: new Uint8Array(0) }
          : { requestId: req.requestId, ok: false, error },
      );
    if (this.core.role !== 'leader')
      return answer(new BaristaError('not_leader', 'not the leader (forwarded to a stale leader)'));
    this.members.start(req.op, req.nodeId, deadlineMs, answer);
    this.schedule();
  }

  /**
   * Rejoining: lift the vote guard once a committed config lists us (every later leader holds the
   * entry that removed our old self, so no config that counts our lost votes can win again); ask
   * the leader to re-add us until our log shows us a voter; report when that is committed.
   */
  private rejoinStep(): void {
    const rejoin = this.rejoin;
    if (rejoin === undefined) return;
    const id = this.env.nodeId;
    const commit = this.core.commitIndex;
    // Configs committed before the re-add may list us from before the wipe: only the one at or
    // after the re-adding entry counts.
    const committed = this.reAddedAt > 0 && commit >= this.reAddedAt ? this.core.confStateAt(commit) : undefined;
    if (this.withholdVotes && committed !== undefined && members(committed).includes(id)) {
      this.withholdVotes = false;
      this.env.log.info({ commit, reAddedAt: this.reAddedAt }, 'raft: rejoin: re-added; votes count again');
    }
    if (!this.withholdVotes && committed?.voters.includes(id) === true) {
      this.rejoin = undefined;
      this.env.log.info({ commit }, 'raft: rejoin: a voter again');
      rejoin.onRejoined();
      return;
    }
    const now = this.env.clock.monotonicMs();
    if (now - this.lastRejoinRequestMs < rejoinRequestIntervalMs) return;
    if (this.pendingCount() >= this.options.pendingRequestsMax) return;
    this.lastRejoinRequestMs = now;
    let to = this.core.leader;
    if (to === undefined || to === id) {
      if (rejoin.peers.length === 0) return;
      to = rejoin.peers[this.rejoinPeerCursor++ % rejoin.peers.length]!;
    }
    const requestId = this.nextRequestId++;
    this.forwarded.set(requestId, {
      deadlineMs: now + this.options.requestTimeoutMs,
      startedMs: now,
      done: (o) => {
        if (!o.ok) return;
        const index = decodeRejoinAnswer(o.result);
        if (index instanceof Error || index <= this.reAddedAt) return;
        this.reAddedAt = index;
        this.env.log.info({ reAddedAt: index }, 'raft: rejoin: the leader re-added this node');
      },
    });
    this.link.send(
      to,
      MessageType.RaftMemberRequest,
      encodeMemberRequest({ requestId, op: 'rejoin', nodeId: id, rejoinId: rejoin.rejoinId }),
    );
  }

  private onForwardedResponse(payload: Uint8Array): void {
    const res = decodeForwardedResponse(payload);
    if (res instanceof Error) {
      this.env.metrics
        .counter('raft_client_rejected_total', 'Forwarded client responses rejected', { code: res.code })
        .inc();
      return;
    }
    const waiting = this.forwarded.get(res.requestId);
    if (waiting === undefined) return; // timed out already
    this.forwarded.delete(res.requestId);
    this.stages.forward.observe(this.env.clock.monotonicMs() - waiting.startedMs);
    waiting.done(res.ok ? { ok: true, result: res.result } : { ok: false, error: res.error });
  }

  private reply(to: NodeId, response: ForwardedResponse): void {
    let frame: Uint8Array;
    try {
      frame = encodeForwardedResponse(response);
    } catch (err) {
      if (!(err instanceof BaristaError)) throw err;
      // A result larger than a forwarded frame (validateLimits keeps KV results far below it):
      // the command did apply, so the sender must not be told it failed definitely.
      frame = encodeForwardedResponse({
        requestId: response.requestId,
        ok: false,
        error: new BaristaError('result_too_large', `applied, but the result does not fit: ${err.message}`),
      });
    }
    this.link.send(to, MessageType.RaftClientResponse, frame);
  }

  private expire(): void {
    const now = this.env.clock.monotonicMs();
    // PLANTED BUG (mutation 'raft-timeout-definite'): "no answer in time" taken for "did not happen".
    const timedOut = (what: string): BaristaError =>
      this.env.mutations.has('raft-timeout-definite')
        ? new BaristaError('timeout', `${what} timed out`, { definite: true })
        : timeoutError(what);
    for (const [i, p] of this.proposals) {
      if (now < p.deadlineMs) continue;
      this.proposals.delete(i);
      p.done({ ok: false, error: timedOut('proposal') });
    }
    for (const [i, d] of this.displaced) {
      // Ours time out like any proposal; forwarded-in ones once we no longer lead (as below).
      const ourDeadline = d.mine === undefined ? now : d.mine.deadlineMs;
      if (now >= ourDeadline && (d.theirs === undefined || this.core.role !== 'leader'))
        this.undisplace(i, 'timed out while displaced by a newer term');
    }
    for (const [id, f] of this.forwarded) {
      if (now < f.deadlineMs) continue;
      this.forwarded.delete(id);
      f.done({ ok: false, error: timedOut('forwarded proposal') });
    }
    for (const [id, r] of this.reads) {
      if (now < r.deadlineMs) continue;
      this.reads.delete(id);
      // A read has no effect, so a timed-out read is a definite failure.
      r.done(new BaristaError('timeout', 'read timed out', { definite: true }));
    }
    // Forwarded-in entries are bounded by the log: they settle when their index applies. Entries
    // from a lost leadership that never apply would linger, so drop them after the timeout too.
    if (this.core.role !== 'leader') {
      for (const [i, f] of this.forwardedIn) {
        if (i <= this.core.commitIndex) continue;
        this.forwardedIn.delete(i);
        this.reply(f.from, {
          requestId: f.requestId,
          ok: false,
          error: new BaristaError('leadership_lost', 'leadership lost; may or may not apply'),
        });
      }
    }
  }

  /**
   * Entries or bytes applied since the last snapshot reached this node's share of the thresholds.
   * The share is drawn from a hash of the node, the group and the last snapshot's index, between 1/2 and 1
   * (ZooKeeper rolls its snapCount the same way): every node of a group applies the same entries,
   * and with one threshold they all took their snapshot at the same index, each slowing its
   * writes at the same moment.
   */
  private snapshotDue(): boolean {
    if (this.snapshotShareAt !== this.lastSnapshotIndex) {
      this.snapshotShareAt = this.lastSnapshotIndex;
      const key = `${this.env.nodeId}/${this.options.group}/${this.lastSnapshotIndex}`;
      this.snapshotShare = 0.5 + fnv1a32(key) / 2 ** 33;
      // PLANTED BUG (mutation 'raft-snapshot-same-threshold'): every node at the full threshold.
      if (this.env.mutations.has('raft-snapshot-same-threshold')) this.snapshotShare = 1;
    }
    const entries = Math.max(1, Math.floor(this.options.snapshotEveryEntries * this.snapshotShare));
    if (this.applied - this.lastSnapshotIndex >= entries) return true;
    return this.appliedBytes - this.snapshotBytesMark >= this.snapshotEveryBytes * this.snapshotShare;
  }

  private get snapshotEveryBytes(): number {
    return this.options.snapshotEveryBytes ?? defaultRaftTiming.snapshotEveryBytes;
  }

  private maybeSnapshot(): void {
    if (this.slicing !== undefined || this.saving !== undefined || this.restoring !== undefined) return;
    if (this.receiving !== undefined) return;
    if (!this.snapshotDue()) return;
    // Before it is re-added, a rejoining node's view of the configuration starts from `[]`, not
    // the cluster's bootstrap config: a snapshot taken now would record a wrong ConfState.
    if (this.withholdVotes) return;
    const sm = this.options.stateMachine;
    // The configuration as of this index, read now: applies go on while a snapshot is taken in
    // slices, and a membership change applied meanwhile prunes the core's record of this one.
    const conf = this.core.confStateAt(this.applied);
    this.snapshotTakenBytes = this.appliedBytes;
    if (sm.snapshotInSlices === undefined) {
      this.saveSnapshot(this.applied, conf, sm.snapshot());
      return;
    }
    // Snapshot in slices: the state machine's stepper describes the state at this index (a frozen
    // view, copy on write), and one slice runs per turn of the event loop, between which the node
    // handles its peers and clients and goes on applying: nothing waits for the snapshot.
    const slicing = { index: this.applied, conf, step: sm.snapshotInSlices() };
    this.slicing = slicing;
    this.sliceSnapshot(slicing);
  }

  /** One slice of the snapshot being taken (this one: not one begun after it was dropped); the next is a timer turn away. */
  private sliceSnapshot(slicing: NonNullable<RaftDriver['slicing']>): void {
    if (this.slicing !== slicing || this.stopped) return;
    const image = slicing.step();
    this.env.metrics.counter('raft_snapshot_slices_total', 'Slices of state-machine snapshots taken in slices').inc();
    if (image === undefined) {
      // A millisecond apart (not 0): the loop's I/O runs in between for real, and in the simulator
      // (where a slice takes no virtual time) messages and applies-in-waiting interleave with it.
      this.env.timers.after(1, () => this.sliceSnapshot(slicing));
      return;
    }
    // The file from the next turn on: this turn took the image's last slice (both in one turn held
    // the loop 27 ms on a loaded node). `slicing` stays set until then (no other snapshot starts;
    // a received one drops it).
    if (this.env.mutations.has('raft-snapshot-file-same-turn')) {
      // PLANTED BUG (mutation 'raft-snapshot-file-same-turn'): the file's first slice in this turn.
      this.slicing = undefined;
      this.saveSnapshot(slicing.index, slicing.conf, image);
      return;
    }
    this.env.timers.after(1, () => {
      if (this.slicing !== slicing || this.stopped) return;
      this.slicing = undefined;
      this.saveSnapshot(slicing.index, slicing.conf, image);
    });
  }

  /** A received snapshot replaced the state: the one being taken or written in slices is dropped. */
  private abandonSlicing(): void {
    this.slicing = undefined;
    this.saving?.save.abort();
    this.saving = undefined;
  }

  /**
   * Writes the snapshot's file (in slices when the storage offers it: one slice per turn 1 ms
   * apart, while the node goes on; a file of one slice in this turn, as before), then compacts the
   * log behind it.
   */
  private saveSnapshot(index: number, conf: ConfState, image: Uint8Array): void {
    const storage = this.options.storage;
    if (storage.createSnapshotInSlices === undefined) {
      storage.createSnapshot(index, conf, image);
      this.snapshotSaved(index);
      return;
    }
    const sliceBytes = this.options.snapshotWriteSliceBytes ?? defaultRaftTiming.snapshotWriteSliceBytes;
    const saving = { index, save: storage.createSnapshotInSlices(index, conf, image, sliceBytes) };
    this.saving = saving;
    this.saveSlice(saving);
  }

  private saveSlice(saving: NonNullable<RaftDriver['saving']>): void {
    if (this.saving !== saving || this.stopped) return;
    let saved: Snapshot | undefined;
    try {
      saved = saving.save.step();
    } catch (err) {
      // A disk error: the save is over (its file closed and left as a temp); the error goes on up.
      this.saving = undefined;
      throw err;
    }
    if (saved === undefined) {
      this.env.metrics.counter('raft_snapshot_write_slices_total', 'Slices of snapshot files written in slices').inc();
      this.env.timers.after(1, () => this.saveSlice(saving));
      return;
    }
    this.saving = undefined;
    this.snapshotSaved(saving.index);
  }

  private snapshotSaved(index: number): void {
    const storage = this.options.storage;
    // Entries kept behind the snapshot (for followers slightly behind): snapshotRetainEntries, and
    // at most snapshotEveryBytes of them, so the log held in memory stays within about twice it.
    let compactTo = index - this.options.snapshotRetainEntries;
    let kept = 0;
    // PLANTED BUG (mutation 'raft-snapshot-retain-count-only'): no byte bound on what is kept.
    const retainBytes = this.env.mutations.has('raft-snapshot-retain-count-only')
      ? Number.POSITIVE_INFINITY
      : this.snapshotEveryBytes;
    for (let i = index; i > compactTo && i >= storage.firstIndex(); i--) {
      kept += storage.entryAt(i)?.data.byteLength ?? 0;
      if (kept > retainBytes) compactTo = i;
    }
    if (compactTo >= storage.firstIndex()) storage.compact(compactTo);
    storage.sync();
    this.lastSnapshotIndex = index;
    this.snapshotBytesMark = this.snapshotTakenBytes;
    this.env.metrics.counter('raft_snapshots_total', 'State-machine snapshots taken').inc();
  }
}
