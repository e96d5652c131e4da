// Value types of the Raft core: log entries, hard state, snapshots, cluster configuration, and the
// peer messages. Everything here is plain data (no behaviour), shared by the core (raft.ts), the
// storage view (storage.ts), the codec (codec.ts) and the invariant checks (invariants.ts).
//
// Indexes and terms are JS numbers (safe integers; the codec rejects anything larger). Index 0 and
// term 0 mean "before the first entry". Node ids are strings (src/env/types.ts NodeId).

import type { NodeId } from '../env/types.ts';

export type { NodeId };

/** What an entry carries. The state machine applies Normal entries; the core interprets the rest. */
export const EntryType = {
  /** Client command: `data` is opaque to Raft. */
  Normal: 1,
  /** Appended by every new leader (§5.4.2 / §8): lets it commit entries of earlier terms. Empty data. */
  Noop: 2,
  /** A membership change; `data` is encodeConfChangeEntry(...) (the change and the resulting config). */
  ConfChange: 3,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** State that must be durable before any message depending on it leaves the node (Figure 2). */
export interface HardState {
  readonly term: number;
  /** Candidate voted for in `term`, or undefined. */
  readonly vote: NodeId | undefined;
  /** Highest index known committed. Persisting it is an optimisation (restart re-applies less). */
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: undefined, commit: 0 };

/**
 * Cluster configuration. Voters vote and count towards quorums; learners receive the log but never
 * vote, campaign or count. A node is in at most one of the two lists. Lists are kept sorted.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One membership change (Raft dissertation §4.1, one server at a time). `addVoter` is only
 * accepted for a learner that has caught up (learner catch-up first, §4.2.1).
 */
export type ConfChange =
  | { readonly type: 'addLearner'; readonly nodeId: NodeId }
  | { readonly type: 'addVoter'; readonly nodeId: NodeId }
  | { readonly type: 'remove'; readonly nodeId: NodeId };

export interface SnapshotMeta {
  /** Last log index the snapshot covers; 0 = no snapshot. */
  readonly index: number;
  readonly term: number;
  /** The configuration in force at `index` (the latest config entry at or before it). */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's serialized state at `meta.index`. Opaque to Raft. */
  readonly data: Uint8Array;
}

/** A ReadIndex result: serve the read identified by `requestCtx` once applied index >= `index`. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/** Externally visible role. 'learner' is a follower that is a learner in the current config. */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader' | 'learner';

export interface SoftState {
  readonly leader: NodeId | undefined;
  readonly role: Role;
}

// ---------------------------------------------------------------------------------------------
// Messages. Every message carries the sender's term, `from` and `to`. Numbers are the wire tags.

export const MsgType = {
  Append: 1,
  AppendResponse: 2,
  Heartbeat: 3,
  HeartbeatResponse: 4,
  Vote: 5,
  VoteResponse: 6,
  PreVote: 7,
  PreVoteResponse: 8,
  Snapshot: 9,
  SnapshotResponse: 10,
  TimeoutNow: 11,
  ReadIndex: 12,
  ReadIndexResponse: 13,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

interface MsgBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** AppendEntries: entries follow (prevIndex, prevTerm); `commit` is the leader's commit index. */
export interface AppendMsg extends MsgBase {
  readonly type: typeof MsgType.Append;
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Accept: `index` is the last index now known to match the leader's log.
 * Reject: `index` is the rejected prevIndex; (hintIndex, hintTerm) is the follower's largest index
 * whose term is <= the rejected prevTerm, and that term — the leader skips a whole term per round
 * trip (fast back-off).
 */
export interface AppendResponseMsg extends MsgBase {
  readonly type: typeof MsgType.AppendResponse;
  readonly reject: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** `commit` is min(leader commit, follower match) so a follower never commits past what it holds. */
export interface HeartbeatMsg extends MsgBase {
  readonly type: typeof MsgType.Heartbeat;
  readonly commit: number;
  /** ReadIndex round: the highest read sequence number waiting for this confirmation; 0 = none. */
  readonly readSeq: number;
}

export interface HeartbeatResponseMsg extends MsgBase {
  readonly type: typeof MsgType.HeartbeatResponse;
  readonly readSeq: number;
}

/** RequestVote (real or pre-vote). For a pre-vote, `term` is the term the sender WOULD campaign in. */
export interface VoteMsg extends MsgBase {
  readonly type: typeof MsgType.Vote | typeof MsgType.PreVote;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Campaign started by TimeoutNow (leadership transfer): voters skip the leader-lease check. */
  readonly transfer: boolean;
}

export interface VoteResponseMsg extends MsgBase {
  readonly type: typeof MsgType.VoteResponse | typeof MsgType.PreVoteResponse;
  readonly reject: boolean;
}

/** One chunk of InstallSnapshot. Chunks are sent in order, one in flight, each acknowledged. */
export interface SnapshotMsg extends MsgBase {
  readonly type: typeof MsgType.Snapshot;
  readonly meta: SnapshotMeta;
  readonly totalBytes: number;
  readonly offset: number;
  readonly chunk: Uint8Array;
  /** True on the last chunk (offset + chunk.length === totalBytes). */
  readonly done: boolean;
}

/**
 * Chunk acknowledgement. `nextOffset` is the next byte the follower expects for snapshot
 * `snapshotIndex` (0 = start over). When `done`, `matchIndex` is the index the follower's log now
 * matches the leader's at (the snapshot index, or its commit index if the snapshot was stale).
 * `reject` = the follower refused the snapshot (too large); the leader falls back to probing.
 */
export interface SnapshotResponseMsg extends MsgBase {
  readonly type: typeof MsgType.SnapshotResponse;
  readonly snapshotIndex: number;
  readonly nextOffset: number;
  readonly done: boolean;
  readonly matchIndex: number;
  readonly reject: boolean;
}

/** Leadership transfer: the target campaigns at once, skipping pre-vote. */
export interface TimeoutNowMsg extends MsgBase {
  readonly type: typeof MsgType.TimeoutNow;
}

/** A follower's ReadIndex request forwarded to the leader. */
export interface ReadIndexMsg extends MsgBase {
  readonly type: typeof MsgType.ReadIndex;
  readonly requestCtx: Uint8Array;
}

/** The leader's answer: the read is linearizable once the follower has applied `index`. */
export interface ReadIndexResponseMsg extends MsgBase {
  readonly type: typeof MsgType.ReadIndexResponse;
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

export type Message =
  | AppendMsg
  | AppendResponseMsg
  | HeartbeatMsg
  | HeartbeatResponseMsg
  | VoteMsg
  | VoteResponseMsg
  | SnapshotMsg
  | SnapshotResponseMsg
  | TimeoutNowMsg
  | ReadIndexMsg
  | ReadIndexResponseMsg;

/** Bytes an entry counts for in size limits (payload plus a fixed header estimate). */
export function entryBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}
export const ENTRY_OVERHEAD_BYTES = 24;

export function confStateEqual(a: ConfState, b: ConfState): boolean {
  return (
    a.voters.length === b.voters.length &&
    a.learners.length === b.learners.length &&
    a.voters.every((v, i) => v === b.voters[i]) &&
    a.learners.every((v, i) => v === b.learners[i])
  );
}
