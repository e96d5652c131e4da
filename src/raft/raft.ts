// RaftNode: the pure Raft consensus core (Ongaro & Ousterhout 2014, and the Raft dissertation),
// in the etcd-raft "Ready" style. Inputs: tick(), step(message), and commands (propose,
// proposeConfChange, readIndex, transferLeadership). Output: one Ready at a time, which the driver
// persists, sends and applies, then acknowledges with advance(ready).
//
// What this file owns and the rules it keeps:
// - Election Safety: at most one leader per term. A vote is recorded in the hard state and every
//   Vote / VoteResponse / AppendResponse / SnapshotResponse leaves the node only in a Ready AFTER
//   the one that persisted the state it depends on was acknowledged by advance() ("persist before
//   send" is enforced by the core, not trusted to the driver).
// - Randomized election timeouts in [electionTimeoutTicks, 2*electionTimeoutTicks) from the
//   injected Rng; pre-vote (§9.6: no term bump unless a majority would vote); check-quorum (a
//   leader that has not heard from a majority within an election timeout steps down) and, with
//   it, the leader lease on followers (they ignore vote requests while they have a live leader).
// - Commit only by counting replicas of current-term entries (§5.4.2); a new leader appends a
//   no-op. A leader counts itself only for entries it has persisted.
// - Committed entries are handed out in order, never beyond what is persisted and committed.
// - Membership: one server at a time, config takes effect when APPENDED (see conf.ts).
// - Reads: ReadIndex (§6.4) confirmed by a heartbeat quorum, after an entry of the leader's term
//   committed; optional lease reads (clock-dependent, see RaftOptions.readOnly and
//   README.md "Lease reads").
//
// Each role has its own step function (stepLeader / stepCandidate / stepFollower) and tick function.

import type { Rng } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { type Mutations, noMutations } from '../lib/mutations.ts';
import { type BaristaError, ConfigError, LimitError } from '../lib/errors.ts';
import type { Result } from '../lib/result.ts';
import {
  applyConfChange,
  decodeConfChangeEntry,
  encodeConfChangeEntry,
  isVoter,
  members,
  normalizeConf,
} from './conf.ts';
import { ConfChangeRejectedError, NotLeaderError, ProposalDroppedError, TransferRejectedError } from './errors.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import type { RaftLogStorageView } from './storage.ts';
import {
  type AppendMsg,
  type AppendResponseMsg,
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  entryBytes,
  type HardState,
  type HeartbeatMsg,
  type Message,
  MsgType,
  type NodeId,
  type ReadIndexResponseMsg,
  type ReadState,
  type Role,
  type Snapshot,
  type SnapshotMsg,
  type SnapshotResponseMsg,
  type SoftState,
  type VoteMsg,
} from './types.ts';
import { limits } from '../lib/limits.ts';

export interface RaftOptions {
  readonly id: NodeId;
  /**
   * Bootstrap configuration, used only when neither the stored snapshot nor the stored log holds
   * one (a brand-new cluster). A node joining an existing cluster passes [] and learns its config
   * from the leader (it starts as a non-member that cannot campaign).
   */
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly storage: RaftLogStorageView;
  readonly rng: Rng;
  /** Followers wait a random [electionTimeoutTicks, 2*electionTimeoutTicks) before campaigning. */
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  /** Pre-vote phase before a real election (default true). */
  readonly preVote?: boolean;
  /** Leader steps down without a heartbeat majority; followers honour the leader lease (default true). */
  readonly checkQuorum?: boolean;
  /**
   * 'safe' (default): ReadIndex confirms leadership with a heartbeat round.
   * 'lease': the leader answers from its commit index without a round trip while it holds a
   * lease: leaseTicks() ticks from the moment it SENT a heartbeat round that a voter quorum
   * acknowledged. Each acknowledging follower reset its election timer after that moment and
   * refuses (pre-)votes for electionTimeoutTicks of its own ticks, so no other leader can be
   * elected before the lease ends — provided tick RATES differ by at most
   * leaseClockDriftRateMax (see leaseTicks()), and ticks follow real time (a driver must tick
   * for the time that passed, including pauses, before it hands the core a read or a message). The lease is given up for the rest of the term
   * once a TimeoutNow is sent (transfer campaigns bypass followers' leases), and a restarted
   * node refuses (pre-)votes for its first electionTimeoutTicks (it may have acknowledged a
   * round before the crash). Every node of the cluster must run with the same mode. Requires
   * checkQuorum.
   */
  readonly readOnly?: 'safe' | 'lease';
  /**
   * Lease mode: the largest |tick rate - 1| any node may have (0.05 = ticks run 5 % fast or
   * slow). The lease shrinks to floor((electionTimeoutTicks - 1) * (1 - d) / (1 + d)) ticks.
   * Default 0.05.
   */
  readonly leaseClockDriftRateMax?: number;
  /** Unacknowledged Append messages per follower in replicate state (default 256). */
  readonly inflightCountMax?: number;
  /** Unacknowledged Append bytes per follower (default inflightCountMax * appendBatchBytesMax). */
  readonly inflightBytesMax?: number;
  /** Entry bytes per Append message (at least one entry is always sent; default 1 MiB). */
  readonly appendBatchBytesMax?: number;
  /** Leader's bytes of proposals appended but not committed; beyond this, propose fails (default 64 MiB). */
  readonly maxUncommittedBytes?: number;
  /** Committed entry bytes per Ready (default 16 MiB). */
  readonly maxCommittedBytesPerReady?: number;
  /** InstallSnapshot chunk size (default 1 MiB). */
  readonly snapshotChunkBytes?: number;
  /** Largest snapshot a follower accepts (default 1 GiB). */
  readonly snapshotBytesMax?: number;
  /** ReadIndex requests waiting (for a heartbeat round, a commit in term, or to be applied) (default 4096). */
  readonly readIndexPendingMax?: number;
  /** A learner may be promoted once it is at most this many entries behind the leader (default 64). */
  readonly learnerCatchUpLagEntriesMax?: number;
  /** The state machine's applied index at start-up (default: the stored snapshot's index). */
  readonly appliedIndex?: number;
  /**
   * PLANTED BUG for the simulator's swarm (mutation 'raft-reuse-read-ids', src/lib/mutations.ts):
   * forwarded ReadIndex ids restart at 1 with no per-incarnation prefix, and answers are accepted
   * from any sender. Never set outside the simulator.
   */
  readonly mutationReuseReadIds?: boolean;
  /**
   * PLANTED BUG (mutation 'raft-lease-check-quorum-window'): the old lease — a lease-mode leader
   * answers every read at once for as long as it is leader (until check-quorum deposes it), and
   * a restarted node grants votes at once. Never set outside the simulator.
   */
  readonly mutationLeaseUntilStepDown?: boolean;
  /** Planted bugs for the simulator's swarm (src/lib/mutations.ts); absent = none. Never set outside the simulator. */
  readonly mutations?: Mutations;
}

/**
 * One batch of work for the driver. Process it in this order, then call advance(ready):
 *  1. Persist `snapshot` (if any), then `entries`, then `hardState`, and make them durable
 *     (fsync) when `mustSync`. With RaftLogStorageWriter: applySnapshot, append, setHardState.
 *  2. Send `messages` (any order, best effort). Sending in parallel with step 1 is safe: the core
 *     withholds every message that depends on this Ready's writes and releases it in a LATER
 *     Ready, after advance(): votes and append/snapshot acknowledgements always, and ALL messages
 *     whenever this Ready changes the term or vote (they carry the new term; a leader's Appends
 *     carry entries of it). Only a leader's own new entries may travel before they are durable
 *     here (§10.2.1): the leader counts itself toward commit only once they are.
 *  3. If `snapshot` is set, restore the state machine from it. Then apply `committedEntries` in
 *     order (they are all already durable and committed; ConfChange and Noop entries carry no
 *     command and are applied by the core itself).
 *  4. Answer `readStates`: each is linearizable once the state machine has applied its index,
 *     which is guaranteed by the end of step 3.
 *  5. advance(ready). Only one Ready is outstanding at a time.
 */
export interface Ready {
  /** Leader or role changed since the last Ready. Informational; need not be persisted. */
  readonly softState: SoftState | undefined;
  /** Persist when set (changed since the last Ready). Written AFTER `entries`. */
  readonly hardState: HardState | undefined;
  /**
   * A snapshot received from the leader: it REPLACES the whole log (storage.applySnapshot) and
   * the state machine. Persisted BEFORE `entries`.
   */
  readonly snapshot: Snapshot | undefined;
  /**
   * Entries to persist: TRUNCATE-THEN-APPEND. Storage must first discard every entry with
   * index >= entries[0].index (a conflicting suffix from an older leader), then append these.
   */
  readonly entries: readonly Entry[];
  /**
   * True when entries, a snapshot or a new term or vote must be made durable before advance(). A
   * hardState that only moves the commit index is written — staged in the WAL's buffer, not
   * synced — and advance() may follow at once (the commit index is volatile state; the staged
   * record becomes durable with the next sync).
   */
  readonly mustSync: boolean;
  readonly messages: readonly Message[];
  /** Apply in order; all are durable and committed; contiguous from applied + 1. */
  readonly committedEntries: readonly Entry[];
  /** ReadIndex results, releasable once committedEntries of this Ready are applied. */
  readonly readStates: readonly ReadState[];
  /**
   * Leader: followers that rejected a probe at an index they had acknowledged, i.e. lost data
   * (see Progress.maybeDecrTo), at most one record per follower. Log and count them: the cluster
   * may have lost failure tolerance. Informational; nothing to persist.
   */
  readonly followerRegressions: readonly FollowerRegression[];
}

/** A follower found holding less than it acknowledged (issue 7, item 5). */
export interface FollowerRegression {
  readonly follower: NodeId;
  /** The highest index it had acknowledged (the leader's `match` before the rejection). */
  readonly matchIndexBefore: number;
  /** The probe's prevIndex that it rejected. */
  readonly rejectedIndex: number;
  /** Regressions seen for this follower since the last Ready (normally 1). */
  readonly count: number;
}

/** The one Result shape (src/lib/result.ts). */
export type CommandResult<T> = Result<T>;

type State = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Message types that must not leave before the state they acknowledge is durable. */
const AFTER_PERSIST_TYPES: ReadonlySet<number> = new Set([
  MsgType.Vote,
  MsgType.VoteResponse,
  MsgType.AppendResponse,
  MsgType.SnapshotResponse,
]);

/** Lease mode: heartbeat rounds remembered for their send tick (older ones are dropped first). */
const HEARTBEAT_ROUNDS_MAX = 64;

/**
 * Ticks of a lease-mode leader's lease, counted from the send of a quorum-acknowledged heartbeat
 * round. A follower that received the round refuses votes until its electionTimeoutTicks-th tick
 * after receipt, which is more than (electionTimeoutTicks - 1) of its tick periods after the send.
 * The leader serves while fewer than L of its own ticks passed since the send, i.e. for less
 * than L of its tick periods. With tick periods differing by a factor up to (1 + d) / (1 - d),
 * L * (1 + d) / (1 - d) <= electionTimeoutTicks - 1 keeps the leader's lease inside every
 * follower's refusal window.
 */
export function leaseTicks(electionTimeoutTicks: number, driftRateMax: number): number {
  return Math.floor(((electionTimeoutTicks - 1) * (1 - driftRateMax)) / (1 + driftRateMax));
}

/** A heartbeat interval count after which a silent snapshot chunk is resent. */
const SNAPSHOT_CHUNK_RESEND_HEARTBEATS = 2;

/** Bytes of the random per-incarnation prefix of a forwarded read id (then an 8-byte counter). */
const READ_ID_NONCE_BYTES = 8;
const READ_ID_BYTES = READ_ID_NONCE_BYTES + 8;

/** A ReadIndex this follower forwarded to its leader, waiting for the answer. */
interface ForwardedRead {
  readonly requestCtx: Uint8Array;
  /** The leader and term it was sent to: only that leader, in that term, may answer it. */
  readonly leader: NodeId;
  readonly term: number;
  readonly sentTick: number;
}

interface PendingRead {
  readonly seq: number;
  readonly index: number;
  readonly requestCtx: Uint8Array;
  readonly from: NodeId;
}

interface IncomingSnapshot {
  readonly meta: Snapshot['meta'];
  readonly totalBytes: number;
  /**
   * The image, allocated whole at the first chunk (its pages are the kernel's zero pages until
   * written) and filled as chunks come: assembling 150 MiB of parts at the last chunk was one copy
   * that held the follower's loop for hundreds of milliseconds.
   */
  readonly data: Uint8Array;
  receivedBytes: number;
}

interface ConfRecord {
  readonly index: number;
  readonly conf: ConfState;
}

function ok<T>(value: T): CommandResult<T> {
  return { ok: true, value };
}
function fail<T>(error: BaristaError): CommandResult<T> {
  return { ok: false, error };
}

export class RaftNode {
  readonly id: NodeId;
  private readonly log: RaftLog;
  private readonly rng: Rng;
  private readonly electionTimeoutTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly readOnly: 'safe' | 'lease';
  private readonly leaseTicks: number;
  private readonly inflightCountMax: number;
  private readonly inflightBytesMax: number;
  private readonly appendBatchBytesMax: number;
  private readonly maxUncommittedBytes: number;
  private readonly maxCommittedBytesPerReady: number;
  private readonly snapshotChunkBytes: number;
  private readonly snapshotBytesMax: number;
  private readonly readIndexPendingMax: number;
  private readonly learnerCatchUpLagEntriesMax: number;

  private state: State = 'follower';
  private term = 0;
  private vote: NodeId | undefined;
  private lead: NodeId | undefined;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly votes = new Map<NodeId, boolean>();

  private conf: ConfState;
  /** Config entries in the log, oldest first; [0] is the base (snapshot / bootstrap / applied). */
  private confLog: ConfRecord[];
  private readonly prs = new Map<NodeId, Progress>();
  private pendingConfIndex = 0;
  private leadTransferee: NodeId | undefined;
  private uncommittedBytes = 0;
  private broadcastPending = false;
  /** pauseApply(true): committed entries stay out of Readys. */
  private applyPaused = false;

  // ReadIndex (leader side).
  private readSeq = 0;
  private readonly readAcks = new Map<NodeId, number>();
  // Lease reads (leader side): heartbeat rounds by sequence number and send tick, oldest first;
  // the send tick of the newest round a voter quorum acknowledged; and whether this term's lease
  // was given up by sending TimeoutNow.
  private heartbeatRounds: { readonly seq: number; readonly sentTick: number }[] = [];
  private leaseFromTick: number | undefined;
  private leaseRevoked = false;
  private pendingReads: PendingRead[] = [];
  private readsAwaitingCommit: { requestCtx: Uint8Array; from: NodeId }[] = [];
  /** Read states waiting for the state machine to catch up (both roles). */
  private readStates: ReadState[] = [];
  // ReadIndex (follower side). A forwarded read carries an id unique across restarts: a random
  // prefix drawn once per RaftNode (one process incarnation) plus a counter. An answer to a read
  // sent by an earlier incarnation (delayed in the network) then matches nothing, where a plain
  // counter restarting at 1 would hand the new read the old, stale index (issue 7, item 6).
  private readonly readIdNonce: Uint8Array;
  private readIdCounter = 0;
  /** Forwarded reads by the hex of their id, oldest first (Map keeps insertion order). */
  private readonly forwardedReads = new Map<string, ForwardedRead>();
  private readonly mutationReuseReadIds: boolean;
  private readonly mutationLeaseUntilStepDown: boolean;
  private readonly mutations: Mutations;
  private leaseReadCount = 0;
  /** Ticks since this RaftNode was built (ages forwarded reads). */
  private ticks = 0;

  private incoming: IncomingSnapshot | undefined;

  /** Follower regressions since the last Ready, by follower (bounded by the config's size). */
  private readonly regressions = new Map<NodeId, FollowerRegression>();

  private msgs: Message[] = [];
  /** Persistence-dependent messages generated since the last ready(). */
  private held: Message[] = [];
  /** Persistence-dependent messages released when the outstanding Ready is advanced. */
  private afterPersist: Message[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Ready | undefined;

  constructor(options: RaftOptions) {
    validateOptions(options);
    this.id = options.id;
    this.rng = options.rng;
    this.electionTimeoutTicks = options.electionTimeoutTicks;
    this.heartbeatTicks = options.heartbeatTicks;
    this.preVote = options.preVote ?? true;
    this.checkQuorum = options.checkQuorum ?? true;
    this.readOnly = options.readOnly ?? 'safe';
    this.leaseTicks = leaseTicks(options.electionTimeoutTicks, options.leaseClockDriftRateMax ?? 0.05);
    this.inflightCountMax = options.inflightCountMax ?? limits.raftInflightAppendsMax;
    this.appendBatchBytesMax = options.appendBatchBytesMax ?? limits.raftAppendBatchBytesMax;
    this.inflightBytesMax = options.inflightBytesMax ?? this.inflightCountMax * this.appendBatchBytesMax;
    this.maxUncommittedBytes = options.maxUncommittedBytes ?? limits.raftUncommittedBytesMax;
    this.maxCommittedBytesPerReady = options.maxCommittedBytesPerReady ?? 16 * 1024 * 1024;
    this.snapshotChunkBytes = options.snapshotChunkBytes ?? limits.raftSnapshotChunkBytesMax;
    this.snapshotBytesMax = options.snapshotBytesMax ?? limits.raftSnapshotBytesMax;
    this.readIndexPendingMax = options.readIndexPendingMax ?? 4096;
    this.learnerCatchUpLagEntriesMax = options.learnerCatchUpLagEntriesMax ?? 64;
    this.mutationReuseReadIds = options.mutationReuseReadIds ?? false;
    this.mutationLeaseUntilStepDown = options.mutationLeaseUntilStepDown ?? false;
    this.mutations = options.mutations ?? noMutations;
    this.readIdNonce = this.mutationReuseReadIds
      ? new Uint8Array(READ_ID_NONCE_BYTES)
      : options.rng.fork('read-id').bytes(READ_ID_NONCE_BYTES);

    const storage = options.storage;
    const snap = storage.snapshot();
    this.log = new RaftLog(storage, options.appliedIndex ?? snap.meta.index);
    this.log.mutationTruncateSuffix = this.mutations.has('raft-append-truncates-suffix');
    const hs = storage.hardState();
    this.term = hs.term;
    this.vote = hs.vote;
    this.prevHardState = { term: hs.term, vote: hs.vote, commit: this.log.committed };

    // Configuration: the latest config entry in the log, else the snapshot's, else bootstrap.
    const base: ConfRecord =
      snap.meta.index > 0
        ? { index: snap.meta.index, conf: snap.meta.confState }
        : { index: 0, conf: normalizeConf(options.voters, options.learners ?? []) };
    this.confLog = [base];
    for (let lo = Math.max(storage.firstIndex(), base.index + 1); lo <= storage.lastIndex(); ) {
      const batch = storage.entries(lo, storage.lastIndex() + 1, this.appendBatchBytesMax);
      for (const e of batch) this.noteConfEntry(e);
      lo += batch.length;
    }
    this.conf = this.confLog[this.confLog.length - 1]!.conf;
    this.log.onWrite = (entries) => this.onLogWrite(entries);

    this.resetRandomizedElectionTimeout();
    this.prevSoftState = this.softState();
  }

  // ------------------------------------------------------------------------------------------
  // Introspection

  get role(): Role {
    if (this.state === 'follower' && this.conf.learners.includes(this.id)) return 'learner';
    return this.state;
  }
  get currentTerm(): number {
    return this.term;
  }
  get leader(): NodeId | undefined {
    return this.lead;
  }
  get commitIndex(): number {
    return this.log.committed;
  }
  get appliedIndex(): number {
    return this.log.applied;
  }
  get lastIndex(): number {
    return this.log.lastIndex();
  }
  get firstIndex(): number {
    return this.log.firstIndex();
  }
  get votedFor(): NodeId | undefined {
    return this.vote;
  }
  get config(): ConfState {
    return this.conf;
  }
  /** Reads this node answered from its lease since it started (shows lease mode was used). */
  get leaseReads(): number {
    return this.leaseReadCount;
  }
  get transferee(): NodeId | undefined {
    return this.leadTransferee;
  }

  /** Term at `index` (undefined if compacted or beyond the log), including unpersisted entries. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** The entry at `index`, including unpersisted ones; undefined if compacted or beyond. */
  entryAt(index: number): Entry | undefined {
    return this.log.entryAt(index);
  }

  /** Leader only: a follower's progress (for tests and status). */
  progress(id: NodeId): Readonly<Progress> | undefined {
    return this.state === 'leader' ? this.prs.get(id) : undefined;
  }

  /** Configuration in force at `index` (applied <= index <= lastIndex), for building snapshots. */
  confStateAt(index: number): ConfState {
    assert(index >= this.confLog[0]!.index && index <= this.log.lastIndex(), `confStateAt(${index}) out of range`);
    let conf = this.confLog[0]!.conf;
    for (const r of this.confLog) if (r.index <= index) conf = r.conf;
    return conf;
  }

  private softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ------------------------------------------------------------------------------------------
  // Commands

  /** Appends a command (leader only). Returns its (index, term); it is committed when applied. */
  propose(data: Uint8Array): CommandResult<{ index: number; term: number }> {
    const refusal = this.proposalRefusal();
    if (refusal) return fail(refusal);
    const bytes = data.length;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) {
      return fail(
        new LimitError(
          'maxUncommittedBytes',
          `uncommitted ${this.uncommittedBytes} + ${bytes} > ${this.maxUncommittedBytes} bytes`,
        ),
      );
    }
    const e = this.appendEntry(EntryType.Normal, data);
    return ok({ index: e.index, term: e.term });
  }

  /**
   * Appends a one-server membership change (leader only). Refused while another change is
   * uncommitted, before the leader committed an entry of its term, or (addVoter) before the
   * learner has caught up. The new config is in force from the moment of the append.
   */
  proposeConfChange(change: ConfChange): CommandResult<{ index: number; term: number }> {
    const refusal = this.proposalRefusal();
    if (refusal) return fail(refusal);
    if (this.pendingConfIndex > this.log.committed)
      return fail(new ConfChangeRejectedError('change_pending', change.nodeId));
    if (!this.committedInTerm()) return fail(new ConfChangeRejectedError('no_commit_in_term', change.nodeId));
    const next = applyConfChange(this.conf, change);
    if (next instanceof ConfChangeRejectedError) return fail(next);
    if (change.type === 'addVoter') {
      const pr = this.prs.get(change.nodeId);
      if (!pr || this.log.lastIndex() - pr.match > this.learnerCatchUpLagEntriesMax) {
        return fail(new ConfChangeRejectedError('learner_behind', change.nodeId));
      }
    }
    const e = this.appendEntry(EntryType.ConfChange, encodeConfChangeEntry(change, next));
    this.pendingConfIndex = e.index;
    return ok({ index: e.index, term: e.term });
  }

  /**
   * Linearizable read. The ReadState with this requestCtx appears in a later Ready (on this
   * node) once it is safe to serve. If this node is a follower, the request is forwarded to the
   * leader. A read outstanding on a leader that loses leadership is dropped; the caller retries
   * after its own timeout (the outcome of a read is never indefinite, only late).
   */
  readIndex(requestCtx: Uint8Array): CommandResult<undefined> {
    if (this.state === 'leader') {
      if (
        this.pendingReads.length + this.readsAwaitingCommit.length + this.readStates.length >=
        this.readIndexPendingMax
      ) {
        return fail(new LimitError('readIndexPendingMax', `${this.readIndexPendingMax} reads pending`));
      }
      if (!this.committedInTerm()) this.readsAwaitingCommit.push({ requestCtx, from: this.id });
      else this.startRead(requestCtx, this.id);
      return ok(undefined);
    }
    if (this.lead === undefined || this.state !== 'follower') return fail(new NotLeaderError(this.lead));
    if (this.forwardedReads.size + this.readStates.length >= this.readIndexPendingMax) {
      return fail(new LimitError('readIndexPendingMax', `${this.readIndexPendingMax} reads pending`));
    }
    const id = new Uint8Array(READ_ID_BYTES);
    id.set(this.readIdNonce, 0);
    new DataView(id.buffer).setBigUint64(READ_ID_NONCE_BYTES, BigInt(++this.readIdCounter));
    this.forwardedReads.set(hex(id), { requestCtx, leader: this.lead, term: this.term, sentTick: this.ticks });
    this.send({ type: MsgType.ReadIndex, from: this.id, to: this.lead, term: this.term, requestCtx: id });
    return ok(undefined);
  }

  /**
   * A leader's answer to a forwarded read. Accepted only if it answers a read THIS incarnation
   * sent, comes from the leader it was sent to, in the term it was sent in, and that is still our
   * leader and term; anything else (an answer to an earlier incarnation's read, a deposed leader's
   * late answer, a duplicate) is dropped and the read waits for its own answer or times out.
   */
  private handleReadIndexResponse(m: ReadIndexResponseMsg): void {
    const key = hex(m.requestCtx);
    const r = this.forwardedReads.get(key);
    if (r === undefined) return;
    if (!this.mutationReuseReadIds && (r.leader !== m.from || r.term !== m.term || this.lead !== m.from)) return;
    this.forwardedReads.delete(key);
    this.readStates.push({ index: m.index, requestCtx: r.requestCtx });
  }

  /** Forgets forwarded reads unanswered for two election timeouts (the leader dropped them). */
  private expireForwardedReads(): void {
    const ageMax = 2 * this.electionTimeoutTicks;
    for (const [key, r] of this.forwardedReads) {
      if (this.ticks - r.sentTick < ageMax) break; // oldest first
      this.forwardedReads.delete(key);
    }
  }

  /** Hands leadership to `to` (leader only). Proposals are refused until it completes or aborts. */
  transferLeadership(to: NodeId): CommandResult<undefined> {
    if (this.state !== 'leader') return fail(new NotLeaderError(this.lead));
    if (to === this.id) return ok(undefined);
    if (!isVoter(this.conf, to)) return fail(new TransferRejectedError(to, 'not a voter'));
    if (this.leadTransferee === to) return ok(undefined);
    this.leadTransferee = to;
    this.electionElapsed = 0; // the transfer aborts after one election timeout
    const pr = this.prs.get(to);
    assert(pr !== undefined, 'progress for a voter');
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return ok(undefined);
  }

  /** Starts an election now (as if the election timeout fired). For tests and operators. */
  campaign(): void {
    this.hup(false);
  }

  private proposalRefusal(): BaristaError | undefined {
    if (this.state !== 'leader') return new NotLeaderError(this.lead);
    if (this.leadTransferee !== undefined) return new ProposalDroppedError('leadership_transfer');
    if (!members(this.conf).includes(this.id)) return new ProposalDroppedError('leader_removed');
    return undefined;
  }

  private committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private appendEntry(type: EntryType, data: Uint8Array): Entry {
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data };
    this.log.append([e]);
    this.uncommittedBytes += data.length;
    this.broadcastPending = true;
    return e;
  }

  // ------------------------------------------------------------------------------------------
  // Configuration bookkeeping

  private noteConfEntry(e: Entry): void {
    if (e.type !== EntryType.ConfChange) return;
    const { conf } = decodeConfChangeEntry(e.data);
    this.confLog.push({ index: e.index, conf });
  }

  /** RaftLog hook: entries written at entries[0].index, cutting whatever followed. */
  private onLogWrite(entries: readonly Entry[]): void {
    const cut = entries[0]!.index;
    const before = this.confLog.length;
    while (this.confLog.length > 1 && this.confLog[this.confLog.length - 1]!.index >= cut) this.confLog.pop();
    const truncatedConf = this.confLog.length !== before;
    for (const e of entries) this.noteConfEntry(e);
    if (truncatedConf || entries.some((e) => e.type === EntryType.ConfChange)) {
      this.setConf(this.confLog[this.confLog.length - 1]!.conf);
    }
  }

  private setConf(conf: ConfState): void {
    this.conf = conf;
    if (this.state !== 'leader') return;
    const lastIndex = this.log.lastIndex();
    for (const id of members(conf)) {
      const pr = this.prs.get(id);
      if (pr) pr.isLearner = !isVoter(conf, id);
      else this.prs.set(id, this.newProgress(id, lastIndex));
    }
    for (const id of [...this.prs.keys()]) {
      if (id !== this.id && !members(conf).includes(id)) this.prs.delete(id);
    }
    if (this.leadTransferee !== undefined && !isVoter(conf, this.leadTransferee)) this.leadTransferee = undefined;
    // Fewer voters may mean a smaller quorum: the commit index can move at once.
    if (this.maybeCommit()) this.broadcastPending = true;
  }

  private newProgress(id: NodeId, lastIndex: number): Progress {
    const pr = new Progress({
      next: lastIndex + 1,
      isLearner: !isVoter(this.conf, id),
      inflightCountMax: this.inflightCountMax,
      inflightBytesMax: this.inflightBytesMax,
    });
    if (id === this.id) {
      pr.match = Math.max(0, this.log.stableLastIndex());
      pr.recentActive = true;
    }
    return pr;
  }

  /** Drops config records no longer needed: keep the latest at or below applied, and all after. */
  private pruneConfLog(): void {
    let keepFrom = 0;
    for (let i = 0; i < this.confLog.length; i++) if (this.confLog[i]!.index <= this.log.applied) keepFrom = i;
    if (keepFrom > 0) this.confLog = this.confLog.slice(keepFrom);
  }

  // ------------------------------------------------------------------------------------------
  // Role transitions

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = undefined;
    }
    this.lead = undefined;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = undefined;
    this.votes.clear();
    this.prs.clear();
    this.uncommittedBytes = 0;
    this.broadcastPending = false;
    // Reads pending on a leader are dropped when it loses leadership: they never saw a quorum.
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
    this.readAcks.clear();
    this.heartbeatRounds = [];
    this.leaseFromTick = undefined;
    this.leaseRevoked = false;
    // A read forwarded to a leader is answered only while we still follow it in that term; any
    // role or term change drops them (the caller's own timeout answers it).
    this.forwardedReads.clear();
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeoutTicks + this.rng.int(this.electionTimeoutTicks);
  }

  private becomeFollower(term: number, lead: NodeId | undefined): void {
    this.reset(term);
    this.state = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    // Pre-vote changes neither term nor vote (§9.6): a partitioned node cannot inflate terms.
    this.state = 'preCandidate';
    this.votes.clear();
    this.lead = undefined;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
  }

  private becomeCandidate(): void {
    assert(this.state !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.state === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.state = 'leader';
    this.lead = this.id;
    const lastIndex = this.log.lastIndex();
    for (const id of members(this.conf)) this.prs.set(id, this.newProgress(id, lastIndex));
    if (!this.prs.has(this.id)) this.prs.set(this.id, this.newProgress(this.id, lastIndex));
    // Any config entry not yet committed counts as pending: no new change until it commits.
    this.pendingConfIndex = lastIndex;
    // §5.4.2 / §8: commit an entry of our own term, which also commits everything before it.
    this.appendEntry(EntryType.Noop, new Uint8Array(0));
    this.uncommittedBytes = 0;
  }

  private promotable(): boolean {
    return isVoter(this.conf, this.id) && this.log.unstableSnapshot === undefined;
  }

  private hup(transfer: boolean): void {
    if (this.state === 'leader' || !this.promotable()) return;
    if (this.preVote && !transfer) this.campaignPre();
    else this.campaignElection(transfer);
  }

  private campaignPre(): void {
    this.becomePreCandidate();
    this.requestVotes(MsgType.PreVote, this.term + 1, false);
  }

  private campaignElection(transfer: boolean): void {
    this.becomeCandidate();
    this.requestVotes(MsgType.Vote, this.term, transfer);
  }

  private requestVotes(type: typeof MsgType.Vote | typeof MsgType.PreVote, term: number, transfer: boolean): void {
    if (this.recordVote(this.id, true)) return;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      this.send({ type, from: this.id, to, term, lastIndex, lastTerm, transfer });
    }
  }

  /** Records a (pre-)vote and acts on the outcome. Returns true if the election was decided. */
  private recordVote(from: NodeId, granted: boolean): boolean {
    if (!isVoter(this.conf, from)) return false;
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const quorum = Math.floor(this.conf.voters.length / 2) + 1;
    let yes = 0;
    let no = 0;
    for (const v of this.conf.voters) {
      const g = this.votes.get(v);
      if (g === true) yes++;
      else if (g === false) no++;
    }
    if (yes >= quorum) {
      if (this.state === 'preCandidate') this.campaignElection(false);
      else this.becomeLeader();
      return true;
    }
    if (no >= quorum || this.conf.voters.length - no < quorum) {
      this.becomeFollower(this.term, undefined);
      return true;
    }
    return false;
  }

  // ------------------------------------------------------------------------------------------
  // Time

  tick(): void {
    this.ticks++;
    if (this.forwardedReads.size > 0) this.expireForwardedReads();
    if (this.state === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    // A node that cannot campaign (learner, non-member) keeps counting, so its leader lease
    // expires and it answers vote requests again (found by the random test: a learner that
    // missed its promotion ignored the votes of the only possible new leader forever).
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, undefined);
          return;
        }
        for (const [id, pr] of this.prs) pr.recentActive = id === this.id;
      }
      this.leadTransferee = undefined; // a transfer not done within an election timeout aborts
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
      for (const [id, pr] of this.prs) {
        if (id === this.id || pr.state !== 'snapshot' || !pr.snapshotSend) continue;
        const resend = !this.mutations.has('raft-snapshot-chunk-no-resend');
        if (
          resend &&
          pr.snapshotSend.chunkInFlight &&
          ++pr.snapshotSend.idleHeartbeats >= SNAPSHOT_CHUNK_RESEND_HEARTBEATS
        ) {
          pr.snapshotSend.chunkInFlight = false; // presumed lost: resend from the acknowledged offset
        }
        this.sendSnapshotChunk(id, pr);
      }
    }
  }

  private quorumActive(): boolean {
    const quorum = Math.floor(this.conf.voters.length / 2) + 1;
    let active = 0;
    for (const v of this.conf.voters) {
      if (v === this.id || this.prs.get(v)?.recentActive) active++;
    }
    return active >= quorum;
  }

  // ------------------------------------------------------------------------------------------
  // Messages in

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === MsgType.Vote || m.type === MsgType.PreVote) {
        // Leader lease: a live leader exists; ignore the disruption. In lease mode a node that
        // just started honours one too: before a crash it may have acknowledged a round that a
        // leader is still serving lease reads on.
        const inLease =
          this.checkQuorum &&
          ((this.lead !== undefined && this.electionElapsed < this.electionTimeoutTicks) ||
            (this.readOnly === 'lease' && !this.mutationLeaseUntilStepDown && this.ticks < this.electionTimeoutTicks));
        if (inLease && !m.transfer) return;
      }
      if (m.type === MsgType.PreVote || (m.type === MsgType.PreVoteResponse && !m.reject)) {
        // Pre-vote traffic never changes our term.
      } else if (m.type === MsgType.Append || m.type === MsgType.Heartbeat || m.type === MsgType.Snapshot) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, undefined);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MsgType.Append || m.type === MsgType.Heartbeat)) {
        // A stale leader (e.g. after a partition) learns our term from this and steps down.
        this.send({
          type: MsgType.AppendResponse,
          from: this.id,
          to: m.from,
          term: this.term,
          reject: false,
          index: 0,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === MsgType.PreVote || m.type === MsgType.Vote) {
        // Figure 2: the reply carries our term, so a stale candidate catches up. Without this, a
        // candidate whose only reachable voters are always ahead never learns their term (found
        // by the random test: removed nodes kept inflating the terms of the new config's voters).
        const type = m.type === MsgType.PreVote ? MsgType.PreVoteResponse : MsgType.VoteResponse;
        this.send({ type, from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === MsgType.Vote || m.type === MsgType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  private handleVoteRequest(m: VoteMsg): void {
    const pre = m.type === MsgType.PreVote;
    const canVote =
      this.vote === m.from || (this.vote === undefined && this.lead === undefined) || (pre && m.term > this.term);
    const respType = pre ? MsgType.PreVoteResponse : MsgType.VoteResponse;
    // Membership is NOT checked here: a candidate only asks nodes that ITS config lists as voters,
    // and only counts votes from those. A node that still sees itself as a learner (its log lacks
    // the promotion) must answer, or an election needing its vote could never succeed (etcd does
    // the same). In no config where it is a learner does its vote count.
    if (canVote && (this.log.isUpToDate(m.lastIndex, m.lastTerm) || this.mutations.has('raft-vote-skip-log-check'))) {
      // A granted pre-vote answers in the requested term, so the pre-candidate counts it.
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    if (m.type === MsgType.ReadIndex) {
      if (this.pendingReads.length + this.readsAwaitingCommit.length >= this.readIndexPendingMax) return;
      if (!this.committedInTerm()) this.readsAwaitingCommit.push({ requestCtx: m.requestCtx, from: m.from });
      else this.startRead(m.requestCtx, m.from);
      return;
    }
    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MsgType.AppendResponse:
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case MsgType.HeartbeatResponse:
        pr.recentActive = true;
        pr.probeSent = false;
        // Once per heartbeat, a follower that is behind gets an Append even with a full window or
        // nothing new to send: if earlier Appends were lost, its rejection restarts the flow.
        if (pr.match < this.log.lastIndex() && !this.sendAppend(m.from, false) && pr.state !== 'snapshot') {
          this.sendEmptyAppend(m.from, pr);
        }
        if (m.readSeq > 0) this.ackRead(m.from, m.readSeq);
        return;
      case MsgType.SnapshotResponse:
        pr.recentActive = true;
        this.handleSnapshotResponse(m, pr);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MsgType.Append:
      case MsgType.Heartbeat:
      case MsgType.Snapshot:
        // A leader of our term exists: follow it and handle the message as a follower.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MsgType.VoteResponse:
        if (this.state === 'candidate') this.recordVote(m.from, !m.reject);
        return;
      case MsgType.PreVoteResponse:
        if (this.state === 'preCandidate') this.recordVote(m.from, !m.reject);
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MsgType.Append:
      case MsgType.Heartbeat:
      case MsgType.Snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        if (m.type === MsgType.Append) this.handleAppend(m);
        else if (m.type === MsgType.Heartbeat) this.handleHeartbeat(m);
        else this.handleSnapshot(m);
        return;
      case MsgType.TimeoutNow:
        this.hup(true);
        return;
      case MsgType.ReadIndexResponse:
        this.handleReadIndexResponse(m);
        return;
      default:
        return;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Follower side of replication

  private handleAppend(m: AppendMsg): void {
    const reply = { type: MsgType.AppendResponse, from: this.id, to: m.from, term: this.term } as const;
    if (m.prevIndex < this.log.committed) {
      this.send({ ...reply, reject: false, index: this.log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ ...reply, reject: false, index: lastNew, hintIndex: 0, hintTerm: 0 });
      return;
    }
    // Fast back-off (§5.3, "the follower can include the term of the conflicting entry"): tell
    // the leader our largest index whose term is <= prevTerm, so a whole term is skipped per trip.
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send({ ...reply, reject: true, index: m.prevIndex, hintIndex: hint.index, hintTerm: hint.term });
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: MsgType.HeartbeatResponse, from: this.id, to: m.from, term: this.term, readSeq: m.readSeq });
  }

  private handleSnapshot(m: SnapshotMsg): void {
    const reply = (fields: Pick<SnapshotResponseMsg, 'nextOffset' | 'done' | 'matchIndex' | 'reject'>): void =>
      this.send({
        type: MsgType.SnapshotResponse,
        from: this.id,
        to: m.from,
        term: this.term,
        snapshotIndex: m.meta.index,
        ...fields,
      });
    if (m.totalBytes > this.snapshotBytesMax) {
      reply({ nextOffset: 0, done: false, matchIndex: 0, reject: true });
      return;
    }
    const sameTransfer = (inc: IncomingSnapshot | undefined): inc is IncomingSnapshot =>
      inc !== undefined &&
      inc.meta.index === m.meta.index &&
      inc.meta.term === m.meta.term &&
      inc.totalBytes === m.totalBytes;
    if (m.offset === 0) {
      const was = this.incoming;
      this.incoming = {
        meta: m.meta,
        totalBytes: m.totalBytes,
        // A resent first chunk of the same transfer starts it over in the buffer it already has.
        data: sameTransfer(was) ? was.data : new Uint8Array(m.totalBytes),
        receivedBytes: 0,
      };
    }
    const inc = this.incoming;
    const same = sameTransfer(inc);
    if (!same || m.offset !== inc.receivedBytes || inc.receivedBytes + m.chunk.length > inc.totalBytes) {
      reply({ nextOffset: same && inc ? inc.receivedBytes : 0, done: false, matchIndex: 0, reject: false });
      return;
    }
    inc.data.set(m.chunk, inc.receivedBytes);
    inc.receivedBytes += m.chunk.length;
    if (!m.done || inc.receivedBytes !== inc.totalBytes) {
      reply({ nextOffset: inc.receivedBytes, done: false, matchIndex: 0, reject: false });
      return;
    }
    this.incoming = undefined;
    const matchIndex = this.restore({ meta: inc.meta, data: inc.data });
    reply({ nextOffset: inc.totalBytes, done: true, matchIndex, reject: false });
  }

  /** Installs a snapshot from the leader. Returns the index our log now matches the leader's at. */
  private restore(snapshot: Snapshot): number {
    const { index, term } = snapshot.meta;
    if (index <= this.log.committed) return this.log.committed;
    if (this.log.matchTerm(index, term)) {
      // We already hold that entry: keep the log (and its suffix), only move the commit index.
      this.log.commitTo(index);
      return index;
    }
    // Config records at or below our commit index are history shared with the leader's log (the
    // state machine may still snapshot at its applied index); the rest is replaced.
    const committed = this.log.committed;
    this.confLog = [...this.confLog.filter((r) => r.index <= committed), { index, conf: snapshot.meta.confState }];
    this.log.restore(snapshot);
    this.setConf(snapshot.meta.confState);
    return index;
  }

  // ------------------------------------------------------------------------------------------
  // Leader side of replication

  private handleAppendResponse(m: AppendResponseMsg, pr: Progress): void {
    if (m.reject) {
      let matchHint = m.hintIndex;
      if (m.hintTerm > 0) matchHint = this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
      const matchBefore = pr.match;
      const result = pr.maybeDecrTo(m.index, matchHint);
      if (result === 'stale') return;
      if (result === 'regressed') {
        const earlier = this.regressions.get(m.from);
        this.regressions.set(m.from, {
          follower: m.from,
          matchIndexBefore: Math.max(matchBefore, earlier?.matchIndexBefore ?? 0),
          rejectedIndex: m.index,
          count: (earlier?.count ?? 0) + 1,
        });
      }
      if (pr.state === 'replicate') pr.becomeProbe();
      this.sendAppend(m.from, true);
      return;
    }
    const updated = pr.maybeUpdate(m.index);
    if (pr.state === 'probe' && pr.match >= m.index) pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    if (updated && this.maybeCommit()) this.bcastAppend();
    while (this.sendAppend(m.from, false)) {
      // pipeline: keep sending while the in-flight window has room
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleSnapshotResponse(m: SnapshotResponseMsg, pr: Progress): void {
    const send = pr.snapshotSend;
    if (pr.state !== 'snapshot' || !send || send.snapshot.meta.index !== m.snapshotIndex) return;
    if (m.reject) {
      // The follower refused it (too large for its snapshotBytesMax): retry only at the pace of
      // heartbeats, from what it is known to hold.
      pr.becomeProbe();
      pr.next = pr.match + 1;
      pr.probeSent = true;
      return;
    }
    if (m.done) {
      pr.maybeUpdate(m.matchIndex);
      pr.becomeProbe();
      pr.becomeReplicate();
      this.sendAppend(m.from, true);
      return;
    }
    send.ackedOffset = m.nextOffset;
    send.chunkInFlight = false;
    send.idleHeartbeats = 0;
    this.sendSnapshotChunk(m.from, pr);
  }

  /**
   * Sends an Append to `to` if its progress allows. With sendIfEmpty, sends one even without new
   * entries (to carry the commit index or probe). Returns true if a message with entries was sent.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    if (to === this.id) return false;
    const pr = this.prs.get(to);
    if (!pr) return false;
    if (pr.state === 'snapshot') {
      this.sendSnapshotChunk(to, pr);
      return false;
    }
    if (pr.paused()) return false;
    const lastIndex = this.log.lastIndex();
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = pr.next <= lastIndex ? this.log.slice(pr.next, lastIndex + 1, this.appendBatchBytesMax) : [];
    if (prevTerm === undefined || entries === undefined) {
      this.startSnapshot(to, pr);
      return false;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const msg: AppendMsg = {
      type: MsgType.Append,
      from: this.id,
      to,
      term: this.term,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.committed,
    };
    this.send(msg);
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e);
    pr.sentEntries(entries.length, prevIndex + entries.length, bytes);
    return entries.length > 0;
  }

  private sendEmptyAppend(to: NodeId, pr: Progress): void {
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      this.startSnapshot(to, pr); // what the follower needs next was compacted away
      return;
    }
    this.send({
      type: MsgType.Append,
      from: this.id,
      to,
      term: this.term,
      prevIndex,
      prevTerm,
      entries: [],
      commit: this.log.committed,
    });
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) this.sendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    let readSeq = this.pendingReads.length > 0 ? this.readSeq : 0;
    if (this.readOnly === 'lease') {
      // Every round is numbered, so its acknowledgements can renew the lease.
      readSeq = ++this.readSeq;
      const oldestUseful = this.ticks - this.leaseTicks;
      while (
        this.heartbeatRounds.length > 0 &&
        (this.heartbeatRounds.length >= HEARTBEAT_ROUNDS_MAX || this.heartbeatRounds[0]!.sentTick < oldestUseful)
      ) {
        this.heartbeatRounds.shift();
      }
      this.heartbeatRounds.push({ seq: readSeq, sentTick: this.ticks });
    }
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: MsgType.Heartbeat, from: this.id, to: id, term: this.term, commit, readSeq });
    }
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    if (!pr.recentActive) return; // do not stream a snapshot to a node we have not heard from
    const snapshot = this.log.storage.snapshot();
    assert(snapshot.meta.index >= this.log.firstIndex() - 1, 'a snapshot covers the compacted prefix');
    pr.becomeSnapshot(snapshot);
    this.sendSnapshotChunk(to, pr);
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const send = pr.snapshotSend;
    if (!send || send.chunkInFlight) return;
    const { snapshot } = send;
    const total = snapshot.data.length;
    const offset = Math.min(send.ackedOffset, total);
    const end = Math.min(total, offset + this.snapshotChunkBytes);
    const chunk = snapshot.data.subarray(offset, end);
    this.send({
      type: MsgType.Snapshot,
      from: this.id,
      to,
      term: this.term,
      meta: snapshot.meta,
      totalBytes: total,
      offset,
      chunk,
      done: end === total,
    });
    send.chunkInFlight = true;
    send.idleHeartbeats = 0;
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target's campaign skips followers' leases: ours cannot be trusted again this term.
    // PLANTED BUG (mutation 'raft-lease-kept-on-transfer'): the lease is kept.
    if (!this.mutations.has('raft-lease-kept-on-transfer')) this.leaseRevoked = true;
    this.send({ type: MsgType.TimeoutNow, from: this.id, to, term: this.term });
  }

  /** Advances the commit index to the highest current-term index a voter majority holds. */
  private maybeCommit(): boolean {
    const voters = this.conf.voters;
    if (voters.length === 0) return false;
    // PLANTED BUG (mutation 'raft-commit-counts-learners'): learners' matches are counted too.
    const counted = this.mutations.has('raft-commit-counts-learners') ? [...voters, ...this.conf.learners] : voters;
    const matches = counted.map((v) =>
      v === this.id ? Math.max(0, this.log.stableLastIndex()) : (this.prs.get(v)?.match ?? 0),
    );
    matches.sort((a, b) => b - a);
    const quorumIndex = matches[Math.floor(voters.length / 2)]!;
    if (quorumIndex <= this.log.committed || this.log.term(quorumIndex) !== this.term) return false;
    const oldCommit = this.log.committed;
    this.log.commitTo(quorumIndex);
    this.releaseUncommitted(oldCommit, quorumIndex);
    this.onLeaderCommit();
    return true;
  }

  private releaseUncommitted(from: number, to: number): void {
    for (let lo = Math.max(from + 1, this.log.firstIndex()); lo <= to; ) {
      const batch = this.log.slice(lo, to + 1, this.appendBatchBytesMax) ?? [];
      if (batch.length === 0) break;
      for (const e of batch) if (e.term === this.term) this.uncommittedBytes -= e.data.length;
      lo += batch.length;
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
  }

  private onLeaderCommit(): void {
    if (this.readsAwaitingCommit.length > 0 && this.committedInTerm()) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const r of waiting) this.startRead(r.requestCtx, r.from);
    }
    // A leader removed from the config manages the cluster until the removal commits (§4.2.2).
    const latest = this.confLog[this.confLog.length - 1]!;
    if (!isVoter(this.conf, this.id) && latest.index <= this.log.committed) {
      this.bcastAppend(); // tell the others the removal committed before going quiet
      this.becomeFollower(this.term, undefined);
    }
  }

  // ------------------------------------------------------------------------------------------
  // ReadIndex (§6.4)

  private startRead(requestCtx: Uint8Array, from: NodeId): void {
    const index = this.log.committed;
    const singleVoter = this.conf.voters.length === 1 && this.conf.voters[0] === this.id;
    if (singleVoter || this.leaseValid()) {
      if (!singleVoter) this.leaseReadCount++;
      this.completeRead({ seq: 0, index, requestCtx, from });
      return;
    }
    // A heartbeat round sent from now on confirms it (in lease mode it also renews the lease).
    if (this.readOnly !== 'lease') this.readSeq++;
    this.pendingReads.push({
      seq: this.readOnly === 'lease' ? this.readSeq + 1 : this.readSeq,
      index,
      requestCtx,
      from,
    });
    this.bcastHeartbeat();
  }

  private ackRead(from: NodeId, seq: number): void {
    if (!isVoter(this.conf, from)) return;
    this.readAcks.set(from, Math.max(this.readAcks.get(from) ?? 0, seq));
    const acked = this.conf.voters.map((v) => (v === this.id ? this.readSeq : (this.readAcks.get(v) ?? 0)));
    acked.sort((a, b) => b - a);
    const confirmed = acked[Math.floor(this.conf.voters.length / 2)]!;
    if (this.readOnly === 'lease') this.renewLease(confirmed);
    let n = 0;
    while (n < this.pendingReads.length && this.pendingReads[n]!.seq <= confirmed) {
      this.completeRead(this.pendingReads[n]!);
      n++;
    }
    if (n > 0) this.pendingReads = this.pendingReads.slice(n);
  }

  /** A voter quorum acknowledged every round up to `confirmed`: the lease runs from its send. */
  private renewLease(confirmed: number): void {
    let i = this.heartbeatRounds.length - 1;
    while (i >= 0 && this.heartbeatRounds[i]!.seq > confirmed) i--;
    if (i < 0) return;
    const sentTick = this.mutations.has('raft-lease-from-ack-arrival') ? this.ticks : this.heartbeatRounds[i]!.sentTick;
    if (this.leaseFromTick === undefined || sentTick > this.leaseFromTick) this.leaseFromTick = sentTick;
    this.heartbeatRounds.splice(0, i + 1);
  }

  /** May a read be answered now from the commit index, without a heartbeat round? */
  private leaseValid(): boolean {
    if (this.readOnly === 'lease' && this.mutationLeaseUntilStepDown) return true;
    return (
      this.readOnly === 'lease' &&
      !this.leaseRevoked &&
      this.leaseFromTick !== undefined &&
      this.ticks < this.leaseFromTick + this.leaseTicks
    );
  }

  private completeRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, requestCtx: r.requestCtx });
    else
      this.send({
        type: MsgType.ReadIndexResponse,
        from: this.id,
        to: r.from,
        term: this.term,
        index: r.index,
        requestCtx: r.requestCtx,
      });
  }

  // ------------------------------------------------------------------------------------------
  // Ready / advance

  private send(m: Message): void {
    if (AFTER_PERSIST_TYPES.has(m.type)) this.held.push(m);
    else this.msgs.push(m);
  }

  private flush(): void {
    if (this.broadcastPending && this.state === 'leader') this.bcastAppend();
    this.broadcastPending = false;
  }

  /** True if ready() would return a Ready. */
  hasReady(): boolean {
    if (this.outstanding) return false;
    this.flush();
    if (this.msgs.length > 0 || this.held.length > 0 || this.regressions.size > 0) return true;
    if (this.log.unstableEntries.length > 0 || this.log.unstableSnapshot) return true;
    if (!hardStateEqual(this.hardState(), this.prevHardState)) return true;
    if (!softStateEqual(this.softState(), this.prevSoftState)) return true;
    if (
      !this.applyPaused &&
      Math.min(this.log.committed, this.log.stableLastIndex()) > this.log.applied &&
      !this.log.unstableSnapshot
    )
      return true;
    return this.readStates.some((r) => r.index <= this.log.applied);
  }

  /**
   * While paused, Readys carry no committed entries (they wait in the log, committed, and come
   * once resumed): the driver holds applies while it takes a snapshot in slices. Replication,
   * elections and commits go on; ReadIndex answers wait for their index to be applied.
   */
  pauseApply(paused: boolean): void {
    this.applyPaused = paused;
  }

  /** The next batch of work, or undefined if there is none. Call advance(ready) when done. */
  ready(): Ready | undefined {
    assert(this.outstanding === undefined, 'ready() called before advance() of the previous Ready');
    if (!this.hasReady()) return undefined;
    const entries = [...this.log.unstableEntries];
    const snapshot = this.log.unstableSnapshot;
    const hs = this.hardState();
    const hardState = hardStateEqual(hs, this.prevHardState) ? undefined : hs;
    const committedEntries = this.applyPaused ? [] : this.log.nextCommittedEntries(this.maxCommittedBytesPerReady);
    const appliedAfter =
      committedEntries.length > 0 ? committedEntries[committedEntries.length - 1]!.index : this.log.applied;
    const readStates = this.readStates.filter((r) => r.index <= appliedAfter);
    this.readStates = this.readStates.filter((r) => r.index > appliedAfter);
    const ss = this.softState();
    const softState = softStateEqual(ss, this.prevSoftState) ? undefined : ss;
    this.prevSoftState = ss;
    let messages = this.msgs;
    this.msgs = [];
    // A message carries its sender's term, and a leader's Append carries entries of that term. If
    // this Ready changes the term or vote, nothing may leave before it is durable: a single-voter
    // leader elects itself and sends Appends in ONE Ready, and if it crashed after sending but
    // before persisting, it would restart in the old term, win the same term again and write
    // DIFFERENT entries at the same (index, term) the learners already hold — Log Matching broken.
    const termOrVoteChanged =
      hardState !== undefined &&
      (hardState.term !== this.prevHardState.term || hardState.vote !== this.prevHardState.vote);
    // The commit index is volatile state (Raft Figure 2; etcd's MustSync): a hard state that only
    // moves it is written but not synced, so a commit costs no fsync of its own (it used to be a
    // third fsync in series on every write: the leader's commit Ready synced before applying). A
    // restart may find an older commit index and learn the newer one from the leader again.
    const mustSync = termOrVoteChanged || entries.length > 0 || snapshot !== undefined;
    if (termOrVoteChanged) {
      this.afterPersist = [...messages, ...this.held];
      messages = [];
    } else if (mustSync && !this.mutations.has('raft-ack-before-persist')) {
      // PLANTED BUG (mutation 'raft-ack-before-persist') skips this: acknowledgements sent now.
      this.afterPersist = this.held;
    } else {
      messages.push(...this.held);
    }
    this.held = [];
    const followerRegressions = [...this.regressions.values()];
    this.regressions.clear();
    const rd: Ready = {
      softState,
      hardState,
      snapshot,
      entries,
      mustSync,
      messages,
      committedEntries,
      readStates,
      followerRegressions,
    };
    this.outstanding = rd;
    return rd;
  }

  /**
   * While the outstanding Ready is being persisted over several turns (a follower writing a
   * received snapshot's file in slices), the messages produced since that wait for no
   * persistence — answers to heartbeats, above all, so a leader under checkQuorum keeps hearing
   * from this node — provided no term or vote change is waiting to be durable (a message carries
   * its sender's term). Those taken here are not in a later Ready; the held types
   * (AFTER_PERSIST_TYPES) stay held.
   */
  takeUnheldMessages(): Message[] {
    if (this.outstanding === undefined) return [];
    if (this.term !== this.prevHardState.term || this.vote !== this.prevHardState.vote) return [];
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  /** The driver has persisted, sent and applied `ready` (see the Ready ordering rules). */
  advance(ready: Ready): void {
    assert(ready === this.outstanding, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    if (ready.snapshot) {
      this.log.stableSnapshotTo(ready.snapshot.meta.index);
      if (ready.snapshot.meta.index > this.log.applied) this.log.applied = ready.snapshot.meta.index;
    }
    const last = ready.entries[ready.entries.length - 1];
    if (last) this.log.stableTo(last.index, last.term);
    if (ready.hardState) this.prevHardState = ready.hardState;
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied) this.log.appliedTo(lastApplied.index);
    this.pruneConfLog();
    this.msgs.push(...this.afterPersist);
    this.afterPersist = [];
    if (this.state === 'leader' && last) {
      const self = this.prs.get(this.id);
      if (self) self.match = Math.max(self.match, this.log.stableLastIndex());
      if (this.maybeCommit()) this.bcastAppend();
    }
  }
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function validateOptions(o: RaftOptions): void {
  const positive = (field: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isSafeInteger(v) && v > 0))
      throw new ConfigError(field, `must be a positive integer, got ${v}`);
  };
  if (o.id.length === 0) throw new ConfigError('id', 'must not be empty');
  positive('electionTimeoutTicks', o.electionTimeoutTicks);
  positive('heartbeatTicks', o.heartbeatTicks);
  if (o.heartbeatTicks >= o.electionTimeoutTicks) {
    throw new ConfigError('heartbeatTicks', `must be less than electionTimeoutTicks (${o.electionTimeoutTicks})`);
  }
  positive('inflightCountMax', o.inflightCountMax);
  positive('inflightBytesMax', o.inflightBytesMax);
  positive('appendBatchBytesMax', o.appendBatchBytesMax);
  positive('maxUncommittedBytes', o.maxUncommittedBytes);
  positive('maxCommittedBytesPerReady', o.maxCommittedBytesPerReady);
  positive('snapshotChunkBytes', o.snapshotChunkBytes);
  positive('snapshotBytesMax', o.snapshotBytesMax);
  positive('readIndexPendingMax', o.readIndexPendingMax);
  if (o.learnerCatchUpLagEntriesMax !== undefined && !(o.learnerCatchUpLagEntriesMax >= 0)) {
    throw new ConfigError('learnerCatchUpLagEntriesMax', 'must be >= 0');
  }
  if (o.readOnly === 'lease' && o.checkQuorum === false) {
    throw new ConfigError('readOnly', "'lease' reads require checkQuorum (followers' leases refuse votes)");
  }
  const drift = o.leaseClockDriftRateMax;
  if (drift !== undefined && !(drift >= 0 && drift < 0.5)) {
    throw new ConfigError('leaseClockDriftRateMax', `must be in [0, 0.5), got ${drift}`);
  }
  if (o.readOnly === 'lease' && leaseTicks(o.electionTimeoutTicks, drift ?? 0.05) <= o.heartbeatTicks) {
    throw new ConfigError(
      'readOnly',
      `a lease of ${leaseTicks(o.electionTimeoutTicks, drift ?? 0.05)} ticks (electionTimeoutTicks ${o.electionTimeoutTicks}, drift ${drift ?? 0.05}) must outlast heartbeatTicks ${o.heartbeatTicks}`,
    );
  }
  const learners = o.learners ?? [];
  if (o.voters.some((v) => learners.includes(v)))
    throw new ConfigError('learners', 'a node cannot be both voter and learner');
}
