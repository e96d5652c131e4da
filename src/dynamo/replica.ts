// One node of the Dynamo-style store as a pure synchronous state machine (Dynamo §4.5-4.6;
// Cassandra's consistency levels): the coordinator of client gets and puts, the replica that
// answers reads and merges writes, and the keeper and replayer of hints. It takes a client request,
// a peer message or a tick and returns an Output (messages, replies, whether to sync); it never
// awaits, reads no clock (ticks and HLC timestamps come in) and draws randomness only from the
// injected Rng. Time is counted in ticks.
//
// Contract with the driver (ORDER MATTERS): after each call, if `syncNeeded`, call store.sync()
// BEFORE sending `messages` or delivering `replies` (store.ts). That is how "the coordinator updates
// its local state durably before acking and before shipping it" and "a replica's state is never
// rolled back" (versions.ts, rules 1-2) hold across crashes.
//
// Rules this file keeps:
//   - Preference list and pending replicas come from ring.locate(key, N). A coordinator must be in
//     the preference list (it creates the write's dot with its own id); a node that is not forwards
//     the request once to the first live replica, and a forwarded request is never forwarded again
//     (rings that disagree answer replicas_unavailable instead of looping).
//   - Put: Versioned.update on the local state, persist, then ship the WHOLE resulting state to
//     every other natural and pending replica. Acks count only from those replicas (the coordinator
//     counts itself); required = level count + pending replicas (Cassandra's pending ranges). ANY
//     also counts stored hints, so with the coordinator always writing locally ANY acts like ONE.
//     A replica considered down (isUp) gets a hint at the next live node of ring.successors beyond
//     the preference list, one fallback per down replica (sloppy quorum, Dynamo §4.6); without a
//     live fallback the coordinator keeps the hint itself. A replica it sent the write to (up then)
//     that has not acked by the write's deadline gets a hint kept at the coordinator too, answered
//     write or not (Cassandra hints a replica that timed out): the answered write waits for the
//     missing acks in `unacked`, out of the request slots, bounded by dynamoUnackedWritesCountMax
//     and dynamoUnackedStateBytesMax (past them it is not kept, counted: anti-entropy repairs it);
//     config timeoutHints false turns this off. Fewer live replicas than required:
//     replicas_unavailable, definite, nothing written. No quorum by the timeout: `timeout`,
//     INDEFINITE (the local write happened, and maybe others).
//   - Get: ask the first R - 1 live peers of the preference list (the coordinator's own answer
//     counts), or with probability readRepairChance every live replica (so repair reaches them
//     all); a read still short of R at speculateTicks asks the ones it left out. Answer the client
//     after R answers, merged; keep collecting until all asked answered or the timeout, then read
//     repair: every answering replica whose state differs from the merge of all answers gets the
//     merge (stats.readRepairs counts them). A read timeout is definite.
//   - Hints are stored bounded (dynamoHintsCountMax; refused and counted past it), merged per
//     (owner, key), replayed while the owner is up as a plain `replicate`, and deleted only when
//     the owner acks the replay and the stored hint is still what was replayed. A collection kept
//     in rows (the rows layout) is hinted at its coordinator, which holds the rows, and replayed
//     as a `rowsOffer`: the owner merges the state, pulls every row, and acks once the pull ended
//     well.
//   - Op ids start at a random base so a restarted node does not take a stale ack for a new op.
//   - Anti-entropy (Dynamo §4.7, Cassandra's repair, Riak's AAE): every antiEntropyIntervalTicks
//     (0: off) or on demand (repairNow), this node picks the next live ring node round robin and
//     both build a Merkle tree (merkle.ts) over the whole ring of the keys they BOTH replicate
//     (each is a natural or pending replica of the key on its own ring), paging through their
//     stores at dynamoAntiEntropyScanEntriesMax values per tick, so a big store never stalls the
//     event loop. The initiator sends its root (treeRequest); the peer answers `same` or its leaves
//     (or `busy` past dynamoAntiEntropyJobsCountMax jobs); the initiator diffs, asks the peer to
//     stream the differing ranges (streamRequest) and streams its own: every value of those
//     ranges both replicate goes as a `replicate` with op 0 (merged, not acked). Both sides merge,
//     so an exchange converges a pair whatever the order, and a lost message only delays it to the
//     next round. A write during a build at worst shows as a false difference (one more stream).
//     Trees of rings that differ differ by their filters: more streaming, never a wrong merge.
//   - Ring moves: setRing hands each ring to the MoveRunner (move.ts); when this node is the
//     joining or leaving node it streams the move's ranges (moveFetch / movePage / movePageAck),
//     and moveProgress() tells the driver when the move may complete. Pending replicas count in
//     every write meanwhile (above).
// CRDT values merge by their type in `mergeInto` and update in `coordinatePut` (typed.ts); Paxos
// (lightweight transactions) is its own protocol (paxos.ts, serial.ts).

import type { NodeId, Rng } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ByteWriter, bytesEqual } from '../lib/bytes.ts';
import type { VectorClock } from '../lib/clocks/vector.ts';
import { BaristaError, ConfigError, CorruptionError, LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { RecentIds } from '../lib/recent-ids.ts';
import { type Mutations, noMutations } from '../lib/mutations.ts';
import { type MoveProgress, MoveRunner, type MoveStats } from './move.ts';
import { applyTyped, LIST_SCHEMA, shownDeadline, typedOpTooLarge, WRONGTYPE } from './typed.ts';
import {
  applyChange,
  applyRowsOp,
  collectionActor,
  collectionActorPrefix,
  Collections,
  elementTooLarge,
  holdsMarker,
  isRowsOp,
  markerOf,
  type RowsOp,
  schemaOfOp,
} from './replica-rows.ts';
import {
  collectionOf,
  type DecomposedCollection,
  type DecomposedDelta,
  digestWithout,
  joinAnswers,
  type Row,
  type RowJoin,
  sameRow,
  type Header,
} from '../crdt/decomposed.ts';
import { headerSummary } from '../crdt/decomposed-codec.ts';
import { type ByteString, bytesOfByteString, compareStrings, crdtTypeOf } from '../crdt/codec.ts';
import { CollectionMarker } from '../crdt/marker.ts';
import { CausalContext } from '../crdt/dots.ts';
import { type Schema, schemaEqual } from '../crdt/causal.ts';
import { showsValue } from './shown.ts';
import {
  diffTrees,
  type MerkleMessage,
  type MerkleTree,
  MerkleTreeBuilder,
  rangeContains,
  TokenRangeSet,
} from './merkle.ts';
import type { ClientRequest, ClientResult, Level, ReplicaMessage, RowsAnswer } from './messages.ts';
import { murmur3X64_128Into, TOKEN_MIN } from './partitioner.ts';
import type { KeyspaceSettings, Ring, TokenRange } from './ring.ts';
import { keyString, type ReplicaStore, STORED_VALUE_OVERHEAD_BYTES } from './store.ts';
import { isExpired, type Sibling, sameDot, Versioned } from './versions.ts';
import { storedCollectionCount } from './collection-store.ts';

export interface ReplicaConfig {
  /** This node: its ring id and (unless actorId says otherwise) the replica id of the dots it coordinates. */
  readonly id: NodeId;
  /**
   * The replica id of the dots (and CRDT entries) this node's writes create; default `id`. A
   * driver that may lose acknowledged writes in a crash (a sync policy other than per-step) gives
   * each life its own, so a restarted node never reuses a dot counter another node has seen.
   */
  readonly actorId?: string;
  /** N, the preference list's length. */
  readonly replicas: number;
  /** A client request (or a forward) fails after this many ticks without its answers. */
  readonly requestTimeoutTicks: number;
  /** Ticks between passes over the stored hints that replay those whose owner is up. */
  readonly hintReplayIntervalTicks: number;
  /** Default limits.dynamoHintsCountMax. */
  readonly hintsCountMax?: number;
  /**
   * A replica sent a write that has not acked it by the write's deadline gets a hint kept here
   * (default true, Cassandra's behaviour); false: only one the failure detector calls down does
   * (tests of anti-entropy alone).
   */
  readonly timeoutHints?: boolean;
  /** Default limits.dynamoCoordinatorOpsMax. */
  readonly opsCountMax?: number;
  /** Ticks between anti-entropy rounds this node starts (0, the default: only on repairNow()). */
  readonly antiEntropyIntervalTicks?: number;
  /** Depth of the anti-entropy Merkle trees (2^depth leaves over the ring; default 10). */
  readonly antiEntropyDepth?: number;
  /** An anti-entropy round gives up on a peer's answer after this many ticks (default 30 x requestTimeoutTicks). */
  readonly antiEntropyTimeoutTicks?: number;
  /** Default limits.dynamoAntiEntropyScanEntriesMax. */
  readonly antiEntropyScanEntriesMax?: number;
  /**
   * The share of the event loop each anti-entropy store walk (a tree build or a range stream, at
   * most dynamoAntiEntropyJobsCountMax at once) may take (0 < share <= 1; default 1, no pacing):
   * after a page took d ms (deps.monotonicMs) its walk rests d x (1 / share - 1) ms, at most
   * dynamoAntiEntropyRestMsMax. Per walk, not shared among them: a peer's build answering our
   * round then runs as fast as ours (shared, a peer also building for its own round answered
   * after the round's deadline: a review made 5 of 20 rounds fail at 0.05). A build walks the whole
   * store, ~10 us a value: at a million values, a round every minute with each peer took ~20 % of
   * a core, idle or not (measured 2026-12-06).
   */
  readonly antiEntropyLoopShare?: number;
  /**
   * The share of reads that ask every live replica (so read repair reaches them all); the others
   * ask R - 1 peers (default 1: every read asks all, as Dynamo's coordinator does).
   */
  readonly readRepairChance?: number;
  /** A read short of R answers after this many ticks asks the replicas it left out (default requestTimeoutTicks / 2). */
  readonly speculateTicks?: number;
  /**
   * Tombstone garbage collection (Cassandra's gc_grace): a key whose every sibling is a tombstone
   * (or a value past its deadline) dead for longer than this (wall ms, by tick's wallMs) is
   * deleted from the store. 0 (the default): never.
   */
  readonly tombstoneGraceMs?: number;
  /** Ticks between garbage-collection passes over the store (default 1200). */
  readonly gcIntervalTicks?: number;
  /** A ring move's streams start this many ticks after this node sees the move begin (default 0; move.ts). */
  readonly moveDelayTicks?: number;
  /**
   * How sets and hashes are kept (default 'whole'): one CRDT value in the key's state, read and
   * shipped whole, or 'rows' (replica-rows.ts): a header and one row per element beside a marker
   * in the state, so a command reads, writes and ships only the elements it names. Alike on every
   * node of a keyspace.
   */
  readonly collections?: 'whole' | 'rows';
  /**
   * The caller has checked the store's layout against `collections` (src/services/store/
   * service.ts: storedCollectionsLayout, which records a layout read from the store's values),
   * and the record of a store that keeps none is written later, by recordLayout(): a replica
   * started closed (its settings not yet checked against the keyspace's) must not stamp a store
   * that holds nothing with a layout the keyspace may not have (a review found a node refused
   * for another layout unable to start again with the right one until its data directory was
   * wiped). Nothing is read or written at construction then: no second walk of the store.
   */
  readonly layoutDeferred?: boolean;
  /** The bound of the every-row views kept decoded (limits.dynamoWholeViewsCachedBytesMax when absent; tests lower it). */
  readonly wholeViewsBytesMax?: number;
}

export interface ReplicaDeps {
  readonly store: ReplicaStore;
  readonly rng: Rng;
  readonly ring: Ring;
  /** The liveness view (a failure detector's opinion, may be wrong). */
  readonly isUp: (node: NodeId) => boolean;
  /** Planted bugs (simulation and tests only). */
  readonly mutations?: Mutations;
  /** The node's monotonic clock (Clock.monotonicMs): how long anti-entropy's pages took. */
  readonly monotonicMs?: () => number;
}

/** A key's local state and its encoded length (0: none stored). */
export interface StoredState {
  readonly state: Versioned;
  readonly length: number;
}

export interface Outgoing {
  readonly to: NodeId;
  readonly message: ReplicaMessage;
}

export interface Output {
  /** Sync the store first when syncNeeded, then send these. */
  readonly messages: Outgoing[];
  /** Client requests that ended, by the driver's request id. */
  readonly replies: Array<{ readonly requestId: number; readonly result: ClientResult }>;
  /** The store was written: sync it before sending anything of this output. */
  syncNeeded: boolean;
}

/** Counters the service exports as metrics; they only grow (a restart starts them at zero). */
export interface ReplicaStats {
  writesAcked: number;
  readsAnswered: number;
  writeTimeouts: number;
  readTimeouts: number;
  unavailable: number;
  forwarded: number;
  readRepairs: number;
  /** Reads of every row answered after joining the rows the replicas changed last (joinRecent), instead of reading every row. */
  recentJoins: number;
  hintsSent: number;
  hintsStored: number;
  hintsRefused: number;
  hintReplays: number;
  hintsDelivered: number;
  /** Hints kept for a replica that did not ack a write by its deadline (it was sent, not hinted). */
  hintsOnTimeout: number;
  /** Hints kept at a write's deadline and dropped when the replica acked the write after all. */
  hintsCancelled: number;
  /** Answered writes not kept for their late acks (dynamoUnackedWritesCountMax or ...StateBytesMax): no hint if one never comes. */
  unackedUntracked: number;
  /** Peer messages for ops this node no longer tracks (late acks, acks from before a restart). */
  staleMessages: number;
  /** Replicate/hint states this node could not merge (a bound hit); not acked. */
  mergesRefused: number;
  /** Checked writes made once more: a counted replica held a sibling the first did not supersede. */
  checkedRedone: number;
  /** Forwarded requests dropped as copies of one taken in already (forwardsSeen). */
  forwardsDuplicated: number;
  /** Emptied markers written without what they had seen (the context past crdt bounds): an add concurrent with the emptying reads as absent. */
  emptiedUnseen: number;
  /** Anti-entropy rounds this node started (its tree built and sent). */
  antiEntropyRounds: number;
  /** Rounds whose peer held the same data (equal roots). */
  antiEntropyInSync: number;
  /** Merkle leaves found differing by rounds this node started. */
  antiEntropyLeavesDiffered: number;
  /** Values sent to a peer by anti-entropy streams (both directions count at the sender). */
  antiEntropyValuesStreamed: number;
  /** Rounds that ended without an answer (peer busy, down, or the answer lost). */
  antiEntropyRoundsFailed: number;
  /** Tree requests sent again after a request timeout without the peer's answer. */
  antiEntropyRequestsResent: number;
  /** Peer requests (trees, streams) refused past dynamoAntiEntropyJobsCountMax. */
  antiEntropyRefused: number;
  /** Reads sent to a replica a read first left out, because it was still short of R answers. */
  speculativeReads: number;
  /** Rounds a list's head or tail read read on past rows removed here meanwhile (settleFront, settleBack). */
  endReadRounds: number;
  /** Keys whose state (all tombstones past tombstoneGraceMs) garbage collection deleted. */
  tombstonesCollected: number;
  /** Keys a cleanup pass deleted because this node is no longer one of their replicas. */
  cleanupDropped: number;
  /** Pulls of a peer's rows started after anti-entropy offered them (the rows layout). */
  rowPulls: number;
  /** Offers not pulled: one from that peer in progress, or dynamoRowPullsCountMax reached (the next round retries). */
  rowPullsSkipped: number;
  /** Cleanup passes completed. */
  cleanupPasses: number;
  /** Cleanup passes stopped because the ring changed under them. */
  cleanupAborted: number;
}

/**
 * Whether rows a read joins come from a peer's stream (a pull after a hint's replay, anti-entropy's
 * offer or a ring move: the replica's own read) rather than a client read this node coordinates:
 * only those are told to onMerged. A client read's join changes nothing new most of the time, and
 * a blocking pop's try would wake itself again with it (a read per step on an empty queue).
 */
/** Every replica a write was sent to acked it, and every fallback stored its hint. */
function settledWrite(w: WriteOp): boolean {
  return (w.handedTo === undefined || w.handedTo.size === 0) && w.sent.every((r) => w.acks.has(r));
}

/**
 * What an answered write kept for its missing acks holds, as dynamoUnackedStateBytesMax counts it:
 * its state twice (encoded, and decoded with its values' bytes), its key, and the op's own objects.
 */
function unackedCost(w: WriteOp): number {
  return 2 * w.state.encode().length + w.key.length + 256;
}

function fromStream(r: ReadOp): boolean {
  return r.origin.kind === 'internal';
}

type Origin =
  | { readonly kind: 'client'; readonly requestId: number }
  | { readonly kind: 'peer'; readonly from: NodeId; readonly op: number }
  /** The replica's own read (a pull of a peer's rows after anti-entropy): nobody is answered. */
  | { readonly kind: 'internal'; readonly pull: string; readonly base: string; readonly key: Uint8Array };

interface WriteOp {
  readonly kind: 'write';
  readonly origin: Origin;
  readonly key: Uint8Array;
  readonly level: Level;
  /**
   * The replicas the state was sent to (up then). One that has not acked by the deadline gets a
   * hint kept here, answered or not (Cassandra hints a replica that timed out, not only one the
   * failure detector calls down): a write lost on an undetected partition is not left to
   * anti-entropy.
   */
  readonly sent: NodeId[];
  /**
   * Hints sent to a fallback node for a replica down at the time: owner by fallback. A fallback
   * that has not stored its hint by the deadline (it was unreachable too) is replaced by a hint
   * kept here. Made at the first such hint (most writes hand none).
   */
  handedTo: Map<NodeId, NodeId> | undefined;
  /** The client was answered; the op stays (in `unacked`) for the acks still missing. */
  replied: boolean;
  /** Natural and pending replicas: only their acks count. */
  readonly counted: ReadonlySet<NodeId>;
  readonly acks: Set<NodeId>;
  hintAcks: number;
  readonly required: number;
  readonly state: Versioned;
  readonly deadlineTick: number;
  /**
   * A checked write's request (ClientRequest.checked), made once more over what the counted
   * replicas report they held besides (onCheckedAck); undefined for every other write.
   */
  readonly redo: Extract<ClientRequest, { kind: 'put' }> | undefined;
  /** The join of the contexts counted replicas reported before the write reached its level. */
  reported: VectorClock | undefined;
}

interface ReadOp {
  readonly kind: 'read';
  readonly origin: Origin;
  readonly key: Uint8Array;
  readonly asked: Set<NodeId>;
  /** Live replicas not asked yet (asked at speculateTick if the read is still short). */
  readonly spare: NodeId[];
  readonly speculateTick: number;
  readonly answers: Map<NodeId, Versioned>;
  /** The merge of `answers` when they numbered `count` (progressRead's, which readRepair reuses when none came since). */
  merged?: { readonly state: Versioned; readonly count: number };
  /**
   * A rows request's: the elements named (null: every row), each named answer's rows (null: no
   * collection there), and for every row the joins of the replicas whose pages are still coming.
   */
  readonly rows?: {
    readonly elements: readonly Uint8Array[] | null;
    /** With elements null: only the first `front` rows are needed (settleFront). */
    readonly front?: number;
    /** With elements null: no row, the tail (RPUSH): the largest high-water element answered. */
    readonly back?: true;
    /** With elements null: no row, the head (LPUSH): the smallest low-water element answered. */
    readonly fore?: true;
    /** With elements null: only the last `last` rows are needed (settleBack). */
    readonly last?: number;
    /** With back: every row of this replica's when the replicas read hold the same rows (ClientRequest). */
    readonly wholeIfSame?: true;
    /**
     * With wholeIfSame: this replica's collection when the read was sent, its digest then and its
     * mark for the rows changed since (DecomposedCollection.track; untracked when the read ends).
     */
    tracked?: { readonly dc: DecomposedCollection; readonly mark: number; readonly digest: bigint } | undefined;
    /** The elements whose rows joinRecent joined from each peer (read repair sends those a peer lacks). */
    recentJoined?: Map<NodeId, readonly ByteString[]>;
    /** A last-rows read's: where each replica's pages reached down to (its next page ends there); parked: not asked for it (yet). */
    tails?: Map<NodeId, { next: ByteString; parked?: Versioned | undefined; join?: RowJoin }>;
    readonly answers: Map<NodeId, RowsAnswer | null>;
    /**
     * Each other replica's count and schema as its first page answered (mayLackRows): a list's
     * head or tail read may settle a peer parked past its pages with a null answer.
     */
    counts?: Map<NodeId, { readonly count: number; readonly schema: Schema }>;
    /** Each replica's join and where its next page starts; parked: not asked for it (yet). */
    readonly joins: Map<NodeId, { readonly join: RowJoin; next: ByteString; parked?: Versioned | undefined }>;
    /** A replica's page was refused (out of order, or its join failed): a pull of it did not end well. */
    refused?: boolean;
    /** A head read's (front): what each peer's pages told of its collection (headsBeyond). */
    heads?: Map<NodeId, PeerHead>;
    /** A head read's: how many times settleFront asked for the next pages (each asks twice as many rows). */
    rounds?: number;
  };
  readonly required: number;
  replied: boolean;
  /** A pull's moves on with each page it gets (pullProgressTicks); a client read's is fixed. */
  deadlineTick: number;
}

interface ForwardOp {
  readonly kind: 'forward';
  readonly origin: Origin;
  to: NodeId;
  readonly isWrite: boolean;
  readonly deadlineTick: number;
  readonly request: ClientRequest;
  /** Replicas asked so far (a definite refusal tries the next live one: rings that disagree in a move). */
  readonly tried: Set<NodeId>;
}

interface Replay {
  readonly owner: NodeId;
  readonly key: Uint8Array;
  readonly sent: Uint8Array;
  readonly deadlineTick: number;
}

type Op = WriteOp | ReadOp | ForwardOp;

/** A page-by-page pass over the store for anti-entropy: a tree build or a range stream. */
interface AeJob {
  readonly kind: 'build' | 'stream';
  readonly peer: NodeId;
  /** build: the round's op (ours, or the peer's treeRequest op when answering). */
  readonly op: number;
  /** build answering a peer: its root (undefined when the build is ours). */
  readonly remoteRoot?: Uint8Array;
  readonly builder?: MerkleTreeBuilder;
  /** stream: the ranges to send (merged when a peer's stream request comes in several chunks). */
  ranges?: TokenRange[];
  rangeSet?: TokenRangeSet;
  /** The tick the job started (a round's answer deadline grows with how long its own build took). */
  readonly startTick: number;
  /** Where the next page starts; null once the first page was read and the store is exhausted. */
  from: Uint8Array | null;
  started: boolean;
  /** The walk rests until this monotonic time (antiEntropyLoopShare; absent: it has not rested). */
  restUntilMs?: number;
}

/** The anti-entropy round this node started: its tree once built, the peer's answer awaited. */
interface AeRound {
  readonly peer: NodeId;
  readonly op: number;
  tree?: MerkleTree;
  deadlineTick: number;
  /** When the tree request goes again if no answer came (a lost request or reply: see runAntiEntropy). */
  resendTick?: number;
}

/**
 * What a peer's answer to a list's head read (its first pages) or a read without rows (tail,
 * fore) told of its collection: its count, context and rows read; for a read without rows its
 * schema and its high- or low-water element (the page's start or end; '' when it had none).
 */
interface PeerHead {
  readonly count: number;
  readonly context: CausalContext;
  readonly rows: number;
  readonly schema?: Schema;
  readonly edge?: ByteString;
}

const WHOLE_RING: TokenRange = { start: TOKEN_MIN, end: TOKEN_MIN };

/** Whether `s` is a list's (an OR-Map over list element keys: typed.ts). */
const isListSchema = (s: Schema): boolean => s.type === 'ormap' && schemaEqual(s.value, LIST_SCHEMA);

/** The largest count of `state`'s markers of `schema` other than `top` (0: none counts). */
function concurrentCount(state: Versioned, top: Sibling, schema: Schema): number {
  let n = 0;
  for (const s of state.siblings) {
    const m = sameDot(s.dot, top.dot) ? undefined : markerOf(s.value, s.crdt);
    if (m !== undefined && schemaEqual(m.schema, schema) && m.count > n) n = m.count;
  }
  return n;
}

/** The join of the `seen` of `state`'s emptied markers of `schema` (null: none says). */
function emptiedSeen(state: Versioned, schema: Schema): CausalContext | null {
  let seen: CausalContext | null = null;
  for (const s of state.siblings) {
    const m = markerOf(s.value, s.crdt);
    if (m?.seen === undefined || m.count > 0 || !schemaEqual(m.schema, schema)) continue;
    seen = seen === null ? m.seen : seen.merge(m.seen);
  }
  return seen;
}
/**
 * Rows a read of a list's head asks each peer for beyond those it needs (pageCount; doubled per
 * round it reads on). 63 cost LPUSH a 64-row join per peer when rounds did not grow: 15 with the
 * doubling measured faster on every list test (docs/benchmarks/redis.md, 2026-12-05).
 */
const HEAD_SLACK_ROWS = 15;

/** The store's meta record of the dot counters reserved (decimal ASCII), and the block reserved at a time. */
export const DOT_COUNTER_META = 'dot-counter';
/**
 * The store's layout of collections (ReplicaConfig.collections), recorded at its first open: the
 * other layout reads none of its sets, hashes and lists (whole: one value per key; rows: a header
 * and a row per element), so a replica configured otherwise refuses to start.
 */
export const COLLECTIONS_LAYOUT_META = 'collections-layout';
const DOT_COUNTER_BLOCK = 1 << 20;

function encodeCounterReservation(n: number): Uint8Array {
  return new TextEncoder().encode(String(n));
}

function decodeCounterReservation(bytes: Uint8Array): number {
  const text = new TextDecoder().decode(bytes);
  if (!/^[0-9]{1,15}$/.test(text)) {
    throw new CorruptionError(`replica store: dot counter record ${JSON.stringify(text.slice(0, 20))} is corrupt`);
  }
  return Number(text);
}

/** Replicas a level needs out of a preference list of `n`; undefined when the level is invalid. */
export function levelCount(level: Level, n: number): number | undefined {
  switch (level) {
    case 'ONE':
    case 'ANY':
      return 1;
    case 'QUORUM':
      return Math.floor(n / 2) + 1;
    case 'ALL':
      return n;
    default:
      return Number.isSafeInteger(level) && level >= 1 && level <= limits.ringReplicasCountMax ? level : undefined;
  }
}

/** A key's Merkle leaf input: its stored state, and a rows collection's count and digest (not its context). */
function stateDigest(state: Uint8Array, header?: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  if (header === undefined) {
    murmur3X64_128Into(state, out, 0);
    return out;
  }
  const { count, digest } = headerSummary(header);
  // An emptied collection (cleared after DEL or SET, its header kept for its context) adds
  // nothing: a replica that never held it must not differ for ever.
  if (count === 0) {
    murmur3X64_128Into(state, out, 0);
    return out;
  }
  const w = new ByteWriter().bytesUvarint(state).uvarint(count).u64(digest);
  murmur3X64_128Into(w.finish(), out, 0);
  return out;
}

const emptyOutput = (): Output => ({ messages: [], replies: [], syncNeeded: false });
const hintKey = (owner: NodeId, key: Uint8Array): string => `${owner}\0${keyString(key)}`;

export class DynamoReplica {
  config: Required<ReplicaConfig>;
  readonly stats: ReplicaStats = {
    writesAcked: 0,
    readsAnswered: 0,
    writeTimeouts: 0,
    readTimeouts: 0,
    unavailable: 0,
    forwarded: 0,
    readRepairs: 0,
    recentJoins: 0,
    hintsSent: 0,
    hintsStored: 0,
    hintsRefused: 0,
    hintReplays: 0,
    hintsDelivered: 0,
    hintsOnTimeout: 0,
    hintsCancelled: 0,
    unackedUntracked: 0,
    staleMessages: 0,
    mergesRefused: 0,
    checkedRedone: 0,
    forwardsDuplicated: 0,
    emptiedUnseen: 0,
    antiEntropyRounds: 0,
    antiEntropyInSync: 0,
    antiEntropyLeavesDiffered: 0,
    antiEntropyValuesStreamed: 0,
    antiEntropyRoundsFailed: 0,
    antiEntropyRequestsResent: 0,
    antiEntropyRefused: 0,
    speculativeReads: 0,
    endReadRounds: 0,
    tombstonesCollected: 0,
    cleanupDropped: 0,
    cleanupPasses: 0,
    cleanupAborted: 0,
    rowPulls: 0,
    rowPullsSkipped: 0,
  };
  private ring: Ring;
  private readonly store: ReplicaStore;
  /** A checked write is being made again (onCheckedAck): its refusals are not definite. */
  private redoing = false;
  /** The rows layout's collections, through one open handle per key (replica-rows.ts). */
  private readonly collections: Collections;
  /**
   * Pulls of a peer's rows in progress (pullRows), by peer and key; at most dynamoRowPullsCountMax.
   * `id`: the running pull's; `next`: the id promised to a waiter that came while it ran (the pull
   * that starts in the same slot when this one ends). Ids end with a number never used twice in
   * this life (`pullSeq`), so a pull's end is told to its own waiters alone.
   */
  private readonly pulls = new Map<string, { readonly id: string; next: string | null }>();
  private pullSeq = 0;
  /** Hint replays (rowsOffer) to acknowledge when a pull ends well: per pull, at most dynamoHintReplaysCountMax. */
  private readonly pullAcks = new Map<string, { readonly to: NodeId; readonly op: number }[]>();
  /** What this life's collection ids start with (collectionActorPrefix). */
  private readonly collectionPrefix: string;
  private readonly isUp: (node: NodeId) => boolean;
  private readonly rng: Rng;
  private readonly mutations: Mutations;
  private nowTick = 0;
  /** The highest dot counter this node's actor has used on any key (Versioned.update's floor). */
  private counterFloor = 0;
  /** Counters up to this are reserved durably (meta DOT_COUNTER_META); more need a new reservation. */
  private counterReserved = 0;
  /** The garbage-collection pass in progress: where its next page starts. */
  private gcFrom: Uint8Array | null | undefined;
  /** The cleanup pass in progress (startCleanup): the ring it runs on and where its next page starts. */
  private cleanup:
    | { readonly ringVersion: number; from: Uint8Array | null; scanned: number; dropped: number }
    | undefined;
  private nextOp: number;
  private readonly ops = new Map<number, Op>();
  private readonly replays = new Map<number, Replay>();
  /** Answered writes waiting for the acks still missing (checkWrite), by op; their states' bytes. */
  private readonly unacked = new Map<number, WriteOp>();
  /**
   * Writes hinted at their deadline (hintSilent), by op: a replica that acks one after all (it was
   * slow, not gone) had its state, so the hint is dropped if it still holds just that state (told
   * by its 128-bit digest, stateDigest, so an entry is small whatever the state's size). Oldest
   * forgotten past dynamoUnackedWritesCountMax.
   */
  private readonly hintedLate = new Map<
    number,
    { readonly key: Uint8Array; readonly sentDigest: Uint8Array; readonly owners: Set<NodeId> }
  >();
  private unackedBytes = 0;
  /** hintKey of each hint being replayed (one replay per hint at a time). */
  private readonly replaying = new Set<string>();
  private readonly aeJobs: AeJob[] = [];
  private aeRound: AeRound | undefined;
  /**
   * The ops of the forwards taken in lately, per sending node (the sender numbers its ops once per
   * process, from a random start): a copy of a forward frame is not coordinated twice. Without it
   * the store's swarm workload saw an INCR counted twice.
   */
  private readonly forwardsSeen = new RecentIds<number>(limits.dynamoForwardsSeenCountMax, limits.clusterNodesMax);
  /** Per peer, the op of the last tree request this node answered (one entry per ring node). */
  private readonly aeAnswered = new Map<NodeId, number>();
  /** The ring node the next round goes to (index into the ring's other nodes, round robin). */
  private aeNext = 0;
  private readonly monotonicMs: () => number;
  private out: Output = emptyOutput();
  /** The streams of a ring move this node makes (move.ts). */
  private readonly mover: MoveRunner;
  /**
   * Told the change of a key's stored bytes (storedValueBytes) at every write of the value store
   * this replica makes (maxmemory at N > 1 counts with it: src/services/store/replicated-memory.ts);
   * undefined: nothing is computed.
   */
  onStored: ((key: Uint8Array, bytesDelta: number) => void) | undefined;
  /**
   * Told the key of every client read or write reaching this replica: coordinated here, asked of
   * it by a coordinator, or a write replicated to it (maxmemory's access history at N > 1);
   * undefined: nothing is told.
   */
  onAccess: ((key: Uint8Array) => void) | undefined;
  /**
   * Told the key whenever a peer's state or rows changed it here: a merge that changed the stored
   * state (a replicate, a delta's header, a hint's replay, anti-entropy, a ring move's page, a
   * read's repair) or rows joined from a peer (a delta's rows are the driver's to tell). Blocking
   * pops wake on it (blocking-replicated.ts): a replica that missed a push hears it this way.
   */
  onMerged: ((key: Uint8Array) => void) | undefined;

  constructor(config: ReplicaConfig, deps: ReplicaDeps) {
    this.config = {
      hintsCountMax: limits.dynamoHintsCountMax,
      timeoutHints: true,
      opsCountMax: limits.dynamoCoordinatorOpsMax,
      antiEntropyIntervalTicks: 0,
      antiEntropyDepth: 10,
      antiEntropyTimeoutTicks: 30 * config.requestTimeoutTicks,
      antiEntropyScanEntriesMax: limits.dynamoAntiEntropyScanEntriesMax,
      antiEntropyLoopShare: 1,
      moveDelayTicks: 0,
      collections: 'whole',
      layoutDeferred: false,
      actorId: config.id,
      readRepairChance: 1,
      tombstoneGraceMs: 0,
      gcIntervalTicks: 1200,
      speculateTicks: Math.max(1, Math.floor(config.requestTimeoutTicks / 2)),
      wholeViewsBytesMax: limits.dynamoWholeViewsCachedBytesMax,
      ...config,
    };
    const c = this.config;
    assert(Number.isSafeInteger(c.replicas) && c.replicas >= 1 && c.replicas <= limits.ringReplicasCountMax, 'N');
    assert(Number.isSafeInteger(c.requestTimeoutTicks) && c.requestTimeoutTicks >= 1, 'requestTimeoutTicks');
    assert(
      Number.isSafeInteger(c.hintReplayIntervalTicks) && c.hintReplayIntervalTicks >= 1,
      'hintReplayIntervalTicks',
    );
    assert(c.hintsCountMax >= 0 && c.hintsCountMax <= limits.dynamoHintsCountMax, 'hintsCountMax');
    assert(c.opsCountMax >= 1 && c.opsCountMax <= limits.dynamoCoordinatorOpsMax, 'opsCountMax');
    assert(
      Number.isSafeInteger(c.antiEntropyIntervalTicks) && c.antiEntropyIntervalTicks >= 0,
      'antiEntropyIntervalTicks',
    );
    assert(
      Number.isInteger(c.antiEntropyDepth) &&
        c.antiEntropyDepth >= 0 &&
        c.antiEntropyDepth <= limits.merkleTreeLevelsCountMax,
      'antiEntropyDepth',
    );
    assert(
      Number.isSafeInteger(c.antiEntropyTimeoutTicks) && c.antiEntropyTimeoutTicks >= 1,
      'antiEntropyTimeoutTicks',
    );
    assert(
      c.antiEntropyScanEntriesMax >= 1 && c.antiEntropyScanEntriesMax <= limits.dynamoAntiEntropyScanEntriesMax,
      'antiEntropyScanEntriesMax',
    );
    assert(c.antiEntropyLoopShare > 0 && c.antiEntropyLoopShare <= 1, 'antiEntropyLoopShare');
    this.monotonicMs = deps.monotonicMs ?? (() => 0);
    this.ring = deps.ring;
    this.store = deps.store;
    this.collections = new Collections(
      deps.store,
      undefined,
      deps.mutations ?? noMutations,
      this.config.wholeViewsBytesMax,
    );
    // A collection's rows and header count with its key's value (maxmemory at N > 1).
    this.collections.onBytes = (key, delta) => this.onStored?.(key, delta);
    this.isUp = deps.isUp;
    // 2^32 bases 2^20 apart: a restart lands on a fresh range with probability 1 - 2^-32 per op
    // still in flight to it, and ids stay safe integers for 2^52 ops.
    this.nextOp = deps.rng.int(2 ** 32) * 2 ** 20 + 1;
    this.rng = deps.rng;
    this.mutations = deps.mutations ?? noMutations;
    assert(Number.isSafeInteger(c.moveDelayTicks) && c.moveDelayTicks >= 0, 'moveDelayTicks');
    assert(c.readRepairChance >= 0 && c.readRepairChance <= 1, 'readRepairChance');
    assert(Number.isSafeInteger(c.tombstoneGraceMs) && c.tombstoneGraceMs >= 0, 'tombstoneGraceMs');
    assert(Number.isSafeInteger(c.gcIntervalTicks) && c.gcIntervalTicks >= 1, 'gcIntervalTicks');
    this.collectionPrefix = collectionActorPrefix(this.config.actorId);
    // A first open's record is synced with the first step's output (as any write of a step).
    if (!c.layoutDeferred && checkCollectionsLayout(this.store, c.collections)) this.out.syncNeeded = true;
    const reserved = this.store.getMeta(DOT_COUNTER_META);
    this.counterReserved = reserved === undefined ? 0 : decodeCounterReservation(reserved);
    // Counters up to the reservation may have been handed out before a crash: start above it.
    this.counterFloor = this.counterReserved;
    assert(Number.isSafeInteger(c.speculateTicks) && c.speculateTicks >= 1, 'speculateTicks');
    this.mover = new MoveRunner(
      {
        id: c.id,
        replicas: c.replicas,
        store: this.store,
        isUp: this.isUp,
        send: (to, message) => this.send(to, message),
        merge: (key, state) => this.mergeInto(key, state) !== undefined,
        pullRows: (from, key) => this.pullRows(from, key),
        newOp: () => this.newOp(),
        mutations: deps.mutations ?? noMutations,
      },
      {
        delayTicks: c.moveDelayTicks,
        // A page or fetch is one read of a store: one not answered by then was lost, and goes
        // again (merges are idempotent; a pushed page whose rows are still being pulled is taken as
        // the same page). It waited antiEntropyTimeoutTicks, a minute by default: one lost page held
        // a decommission that long (the store workload's ring operator found a move that never
        // completed within its run). As pullProgressTicks.
        timeoutTicks: (deps.mutations ?? noMutations).has('dynamo-move-page-long-deadline')
          ? c.antiEntropyTimeoutTicks
          : Math.min(c.antiEntropyTimeoutTicks, 5 * c.requestTimeoutTicks),
        scanEntriesMax: c.antiEntropyScanEntriesMax,
      },
      deps.ring,
    );
  }

  /** The ring move this node streams for (it is the joining or leaving node), if any. */
  moveProgress(): MoveProgress | undefined {
    return this.mover.progress();
  }

  get moveStats(): Readonly<MoveStats> {
    return this.mover.stats;
  }

  /** The every-row views kept decoded and what they stand for against their bound (tests). */
  get wholeViewsKept(): { readonly count: number; readonly bytes: number } {
    return this.collections.wholeViewsKept;
  }

  /** Every-row views of collections answered decoded already, and decoded afresh (Collections.whole). */
  get wholeViewStats(): { readonly reused: number; readonly patched: number; readonly decoded: number } {
    const c = this.collections;
    return { reused: c.wholeViewHits, patched: c.wholeViewPatches, decoded: c.wholeViewMisses };
  }

  get id(): NodeId {
    return this.config.id;
  }

  /** Ops (client requests, forwards) in flight; the tests check it drains. */
  /** Answered writes still waiting for a replica's ack (a hint at their deadline if it never comes). */
  get unackedWrites(): number {
    return this.unacked.size;
  }

  get inflightOps(): number {
    return this.ops.size;
  }

  /** This node's stored state of a key (a local read: no quorum, no repair). */
  peek(key: Uint8Array): Versioned {
    return this.local(key);
  }

  /**
   * What `key`'s collection kept in rows takes here, rows and header, as maxmemory prices them (0:
   * none; the key's value is priced apart: storedValueBytes). From its open handle, else its header.
   */
  collectionBytes(key: Uint8Array): number {
    if (this.config.collections !== 'rows') return 0;
    return this.collections.bytesOf(key);
  }

  setRing(ring: Ring): void {
    this.ring = ring;
    this.mover.setRing(ring);
  }

  // --- inputs -----------------------------------------------------------------------------------

  /**
   * A client request taken at this node; its reply carries `requestId`. `held`: the key's local
   * state and length as storedState read them just before, with nothing between (a put reads them
   * once for the caller's timestamp and this coordination).
   */
  /**
   * Set while this node must not coordinate (its ring is not known current): every client request
   * and forwarded one answers replicas_unavailable with this reason. Replica duties go on.
   */
  coordinationHeld: string | undefined;

  request(requestId: number, req: ClientRequest, held?: StoredState): Output {
    this.coordinate({ kind: 'client', requestId }, req, true, held);
    return this.flush();
  }

  /** This node's stored state of a key and its encoded length (0: none stored), for request's `held`. */
  storedState(key: Uint8Array): StoredState {
    return this.stored(key);
  }

  /** A peer message (already decoded; the frame layer named the sender). */
  receive(from: NodeId, m: ReplicaMessage): Output {
    switch (m.type) {
      case 'replicate':
        this.onReplicate(from, m.op, m.key, m.state);
        break;
      case 'replicateAck':
        this.onReplicateAck(from, m.op);
        break;
      case 'replicateChecked':
        this.onReplicateChecked(from, m.op, m.key, m.state);
        break;
      case 'checkedAck':
        this.onCheckedAck(from, m.op, m.held);
        break;
      case 'hint':
        this.onHint(from, m.op, m.owner, m.key, m.state);
        break;
      case 'hintAck':
        this.onHintAck(from, m.op, m.stored);
        break;
      case 'read':
        this.onAccess?.(m.key);
        this.send(from, { type: 'readReply', op: m.op, state: this.local(m.key) });
        break;
      case 'readReply':
        this.onReadReply(from, m.op, m.state, undefined);
        break;
      case 'rowRead':
        this.onAccess?.(m.key);
        this.send(from, {
          type: 'rowReadReply',
          op: m.op,
          state: this.local(m.key),
          rows: this.collections.answer(m.key, m.sel),
        });
        break;
      case 'rowReadReply':
        this.onReadReply(from, m.op, m.state, m.rows);
        break;
      case 'delta':
        this.onDelta(from, m);
        break;
      case 'rowsOffer':
        this.onRowsOffer(from, m.op, m.key, m.state);
        break;
      case 'rowsRepair':
        // A read's repair of named rows: joined as this replica's own read would join the answer.
        if (this.mergeInto(m.key, m.state) !== undefined && holdsMarker(this.local(m.key))) {
          const named = m.rows.rows;
          this.joinInto(
            m.key,
            m.rows,
            this.local(m.key),
            (dc) => dc.joinRows(named.elements, named.rows, named.context),
            true,
          );
        }
        break;
      case 'forward':
        if (!this.forwardsSeen.admit(from, m.op) && !this.mutations.has('dynamo-forward-copies-run')) {
          this.stats.forwardsDuplicated++;
          break;
        }
        this.coordinate({ kind: 'peer', from, op: m.op }, m.request, false);
        break;
      case 'forwardReply':
        this.onForwardReply(from, m.op, m.result);
        break;
      case 'merkle':
        this.onMerkle(from, m.merkle);
        break;
      case 'moveFetch':
        this.mover.onFetch(from, m);
        break;
      case 'movePage':
        this.mover.onPage(from, m);
        break;
      case 'movePageAck':
        this.mover.onPageAck(from, m.op);
        break;
    }
    return this.flush();
  }

  /**
   * Starts an anti-entropy round now (BARISTA REPAIR; the timer calls it too): with `peer`, or the
   * next live ring node round robin. False when a round is already running, no job slot is free
   * or no other ring node is up.
   */
  repairNow(peer?: NodeId): boolean {
    return this.startRound(peer);
  }

  /** Whether an anti-entropy round or job is running (tests wait for quiet). */
  get antiEntropyBusy(): boolean {
    return this.aeRound !== undefined || this.aeJobs.length > 0;
  }

  /**
   * Cassandra's `nodetool cleanup`: deletes, a page per tick, every stored key this node does not
   * replicate (natural or pending) on its ring, e.g. the ranges a join gave to the new node. Refused
   * (a reason) while a move is in progress or a pass runs; a pass stops when the ring changes. Safe
   * after a move completed: its streams copied every value to the new replicas before completeMove
   * (move.ts), and writes since reach only them.
   */
  startCleanup(): string | undefined {
    if (this.ring.nodes.length === 0) return 'the token ring is not known yet';
    // An older ring (a node just restarted) could call keys this node now replicates foreign.
    if (this.coordinationHeld !== undefined) return this.coordinationHeld;
    if (this.ring.moving !== undefined)
      return `a ring move is in progress (${this.ring.moving.state} ${this.ring.moving.id}): clean up once it completes`;
    if (this.cleanup !== undefined) return 'a cleanup pass is running here already';
    this.cleanup = { ringVersion: this.ring.version, from: null, scanned: 0, dropped: 0 };
    return undefined;
  }

  /** The cleanup pass running here, if any. */
  cleanupProgress(): { readonly ringVersion: number; readonly scanned: number; readonly dropped: number } | undefined {
    const c = this.cleanup;
    return c === undefined ? undefined : { ringVersion: c.ringVersion, scanned: c.scanned, dropped: c.dropped };
  }

  /** One page of the cleanup pass (startCleanup). */
  private runCleanup(): void {
    const c = this.cleanup;
    if (c === undefined) return;
    if (this.ring.version !== c.ringVersion || this.ring.moving !== undefined) {
      this.cleanup = undefined;
      this.stats.cleanupAborted++;
      return;
    }
    const page = this.store.scanValues(c.from, this.config.antiEntropyScanEntriesMax, limits.dynamoMovePageBytesMax);
    for (const { key } of page.entries) {
      c.scanned++;
      const { replicas, pending } = this.ring.locate(key, this.config.replicas);
      // The planted bug keeps only the keys this node is the first replica of.
      const mine = this.mutations.has('dynamo-cleanup-primary-only')
        ? replicas[0] === this.config.id
        : replicas.includes(this.config.id) || pending.includes(this.config.id);
      if (mine) continue;
      if (this.onStored !== undefined) {
        const held = this.store.get(key);
        if (held !== undefined) this.onStored(key, -storedValueBytes(key, Versioned.decode(held), held.length));
      }
      this.store.delete(key);
      this.collections.drop(key);
      this.out.syncNeeded = true;
      c.dropped++;
      this.stats.cleanupDropped++;
    }
    c.from = page.next;
    if (page.next === null) {
      this.cleanup = undefined;
      this.stats.cleanupPasses++;
    }
  }

  /** `wallMs`: this node's wall clock, for tombstone garbage collection (none without it). */
  tick(wallMs?: number): Output {
    this.nowTick++;
    for (const [op, o] of this.ops) {
      if (o.kind === 'read') this.speculate(op, o);
      if (o.deadlineTick > this.nowTick) continue;
      this.ops.delete(op);
      this.expire(op, o);
    }
    for (const [op, w] of this.unacked) {
      if (w.deadlineTick > this.nowTick) continue; // answered in any order: every one is checked
      this.dropUnacked(op, w);
      this.hintSilent(op, w);
    }
    for (const [op, r] of this.replays) {
      if (r.deadlineTick > this.nowTick) continue;
      this.replays.delete(op);
      this.replaying.delete(hintKey(r.owner, r.key));
    }
    if (this.nowTick % this.config.hintReplayIntervalTicks === 0) this.replayHints();
    const every = this.config.antiEntropyIntervalTicks;
    if (every > 0 && this.nowTick % every === 0) this.startRound();
    this.runAntiEntropy();
    this.mover.tick(this.nowTick);
    if (wallMs !== undefined && this.config.tombstoneGraceMs > 0) this.collectGarbage(wallMs);
    this.runCleanup();
    return this.flush();
  }

  // --- coordinator ------------------------------------------------------------------------------

  private coordinate(origin: Origin, req: ClientRequest, mayForward: boolean, held?: StoredState): void {
    // A ring not known current (a node back from a crash: src/services/store/ring-keeper.ts) would
    // send the request to the replicas of an older ring: refused, definite, nothing written.
    if (this.coordinationHeld !== undefined) return this.unavailable(origin, this.coordinationHeld);
    const refusal = this.validate(req);
    if (refusal !== undefined) return this.finish(origin, { ok: false, error: refusal });
    if (this.ops.size >= this.config.opsCountMax) {
      const error = new BaristaError('limit_exceeded', `${this.ops.size} requests in flight`, {
        fields: { limit: 'dynamoCoordinatorOpsMax' },
      });
      return this.finish(origin, { ok: false, error });
    }
    const { token, replicas, pending } = this.ring.locate(req.key, this.config.replicas);
    if (!replicas.includes(this.id)) {
      // A forwarded request reaching a non-replica means the two nodes' rings disagree: answer, never loop.
      if (!mayForward)
        return this.unavailable(origin, `${this.id} is not a replica of the key (ring version ${this.ring.version})`);
      const to = replicas.find((r) => this.isUp(r));
      if (to === undefined) return this.unavailable(origin, `no live replica of the key to forward to from ${this.id}`);
      const op = this.newOp();
      this.ops.set(op, {
        kind: 'forward',
        origin,
        to,
        isWrite: req.kind === 'put',
        deadlineTick: this.deadline(),
        request: req,
        tried: new Set([to]),
      });
      this.stats.forwarded++;
      this.send(to, { type: 'forward', op, request: req });
      return;
    }
    if (req.kind === 'get') this.coordinateGet(origin, req.key, replicas, levelCount(req.level, replicas.length)!);
    else if (req.kind === 'rows')
      this.coordinateGet(
        origin,
        req.key,
        replicas,
        levelCount(req.level, replicas.length)!,
        req.elements,
        req.front,
        req.back,
        req.last,
        origin.kind === 'client' ? req.wholeIfSame : undefined,
        req.fore,
      );
    else if (this.config.collections === 'rows' && isRowsOp(req.op))
      this.coordinateChange(origin, req, req.op, replicas, pending);
    else this.coordinatePut(origin, req, token, replicas, pending, held);
  }

  private validate(req: ClientRequest): BaristaError | undefined {
    if (req.key.length > limits.kvKeyBytesMax)
      return new BaristaError('key_too_large', `key of ${req.key.length} bytes`);
    if (req.kind === 'put' && req.value !== null && req.value.length > limits.kvValueBytesMax) {
      return new BaristaError('value_too_large', `value of ${req.value.length} bytes`);
    }
    if (req.kind === 'put' && req.op !== undefined) {
      const tooLarge = typedOpTooLarge(req.op);
      if (tooLarge !== undefined) return tooLarge;
    }
    if (req.kind === 'put' && req.overHeld === true && req.op !== undefined) {
      return new BaristaError('bad_request', 'a typed operation cannot be a write over what is held');
    }
    if (req.kind === 'put' && req.checked === true && req.overHeld !== true) {
      return new BaristaError('bad_request', 'a checked write is a write over what is held');
    }
    if (req.kind === 'rows' && this.config.collections !== 'rows')
      return new BaristaError('bad_request', 'a row read of a keyspace that keeps collections whole');
    if (levelCount(req.level, this.config.replicas) === undefined || (req.kind !== 'put' && req.level === 'ANY')) {
      return new BaristaError('bad_request', `consistency level ${String(req.level)} is not valid for a ${req.kind}`);
    }
    return undefined;
  }

  private coordinatePut(
    origin: Origin,
    req: Extract<ClientRequest, { kind: 'put' }>,
    token: bigint,
    replicas: readonly NodeId[],
    pending: readonly NodeId[],
    heldRead?: StoredState,
  ): void {
    const plan = this.planWrite(origin, req.level, replicas, pending);
    if (plan === undefined) return;
    const { counted, others, required } = plan;
    if (req.value !== null || req.op !== undefined) this.onAccess?.(req.key); // not a delete
    let state: Versioned;
    let heldBytes = 0;
    try {
      const held = heldRead ?? this.stored(req.key);
      const local = held.state;
      heldBytes = this.onStored === undefined ? 0 : storedValueBytes(req.key, local, held.length);
      state =
        req.op === undefined
          ? local.update(
              // A last-write-wins write supersedes what this replica holds besides what its client read.
              req.overHeld === true ? req.context.merge(local.context()) : req.context,
              this.config.actorId,
              req.value,
              req.ts,
              false,
              req.expiresAtMs,
              this.counterFloor,
            )
          : // A value past its deadline (at the write's HLC wall time) counts as absent; the typed
            // update supersedes every local sibling, so the view's rewritten bodies never persist.
            // An emptied list with rows added concurrently is a list (INCR on it: WRONGTYPE).
            applyTyped(
              req.op.type === 'incr'
                ? this.typeShown(req.key, local.expiredAsTombstones(req.ts.wallMs))
                : this.shownWithRows(req.key, local.expiredAsTombstones(req.ts.wallMs)),
              this.config.actorId,
              req.op,
              req.ts,
              this.counterFloor,
            );
      this.advanceCounterFloor(state.contextCounter(this.config.actorId));
    } catch (error) {
      if (error instanceof BaristaError) return this.finish(origin, { ok: false, error });
      throw error;
    }
    // A typed op grows what the key holds (a collection kept whole, a counter): the state it
    // makes must fit dynamoStateBytesMax, as a put's must (driver.ts), or the replicate message
    // carrying it, and every later one (read answers, repair, hints, anti-entropy), would pass
    // dynamoMessageBytesMax and be dropped: the write timed out and the replicas stayed apart
    // (an audit, 2026-12-07: SADDs to a set kept whole up to 8.4 MB).
    let encoded: Uint8Array | undefined;
    try {
      encoded = state.encode();
    } catch (error) {
      // A held state merged from concurrent sides plus this change, past what an encoding holds.
      if (!(error instanceof BaristaError)) throw error;
    }
    if (encoded === undefined || (req.op !== undefined && encoded.length > limits.dynamoStateBytesMax)) {
      return this.finish(origin, {
        ok: false,
        error: new BaristaError(
          'value_too_large',
          `the key's state would be ${encoded?.length ?? 'over 16777216'} bytes, more than dynamoStateBytesMax (${limits.dynamoStateBytesMax}) (nothing was written)`,
          { fields: { limit: 'dynamoStateBytesMax' } },
        ),
      });
    }
    const { op, w } = this.startWrite(origin, req, state, heldBytes, counted, required, encoded);
    if (this.config.collections === 'rows') this.collections.settle(req.key, state);
    // The fallbacks (a walk of the ring) only once a replica is down.
    let fallbacks: NodeId[] | undefined;
    const type = req.checked === true ? 'replicateChecked' : 'replicate';
    for (const r of others) {
      if (this.isUp(r)) {
        this.send(r, { type, op, key: req.key, state });
        w.sent.push(r);
        continue;
      }
      fallbacks ??= this.ring.successors(token).filter((f) => !counted.has(f) && f !== this.id);
      const i = fallbacks.findIndex((f) => this.isUp(f));
      if (i >= 0) {
        const [f] = fallbacks.splice(i, 1);
        this.stats.hintsSent++;
        this.send(f!, { type: 'hint', op, owner: r, key: req.key, state });
        (w.handedTo ??= new Map()).set(f!, r);
      } else if (this.storeHint(r, req.key, state)) {
        w.hintAcks++;
      }
    }
    this.checkWrite(op, w);
  }

  /**
   * A set or hash operation in the rows layout (replica-rows.ts): the marker written over the
   * local state as a whole-value write would be, the elements' rows changed, and the marker, the
   * clear (if the collection restarted) and the deltas shipped to every other replica up; a replica
   * down gets a hint kept here (replayed as a rowsOffer: it pulls every row of the key).
   */
  private coordinateChange(
    origin: Origin,
    req: Extract<ClientRequest, { kind: 'put' }>,
    op: RowsOp,
    replicas: readonly NodeId[],
    pending: readonly NodeId[],
  ): void {
    const plan = this.planWrite(origin, req.level, replicas, pending);
    if (plan === undefined) return;
    const { counted, others, required } = plan;
    this.onAccess?.(req.key);
    const tooLarge = elementTooLarge(op);
    if (tooLarge !== undefined) return this.finish(origin, { ok: false, error: tooLarge });
    const schema = schemaOfOp(op);
    let state: Versioned;
    let clear: CausalContext | null = null;
    let deltas: DecomposedDelta[] = [];
    let heldBytes = 0;
    try {
      const held = this.stored(req.key);
      heldBytes = this.onStored === undefined ? 0 : storedValueBytes(req.key, held.state, held.length);
      const local = held.state.expiredAsTombstones(req.ts.wallMs);
      // What the key shows here: an emptied marker with rows added concurrently is that collection.
      // (For the type, also a concurrent marker counting elements: typeShown.)
      const shown = this.shownWithRows(req.key, local);
      const typed = this.typeShown(req.key, local, shown);
      const top = typed.chosen();
      const topMarker = top === undefined ? undefined : markerOf(top.value, top.crdt);
      if (top !== undefined && top.value !== null && topMarker === undefined && showsValue(top))
        throw new BaristaError('wrong_type', WRONGTYPE);
      if (topMarker !== undefined && topMarker.count > 0 && !schemaEqual(topMarker.schema, schema))
        throw new BaristaError('wrong_type', WRONGTYPE);
      const sc = this.collections.open(req.key, schema, local);
      if (sc instanceof BaristaError) throw sc;
      const restart = !holdsMarker(local) && !sc.dc.header.context.isEmpty();
      // The collection's own dots: one unbroken run per replica (context.next) under the id this
      // header took at its first write in this life (collectionActor: a header made again, or
      // written by a new life, takes a new one, so no dot is reused), so every replica's context
      // of it stays a version vector.
      // The emptied markers of this schema this write supersedes stand for removals
      // (applyEmptied): their `seen` goes with it as its clear, so a replica they never reached
      // (a hint lost, anti-entropy behind) drops the rows they removed when the write comes, not
      // never (a review of b51e945: a popped element came back after the popper's next push and
      // was popped twice).
      const superseded = restart ? null : emptiedSeen(local, schema);
      sc.change((dc) => {
        if (restart) clear = dc.clear();
        else if (superseded !== null) {
          // Here too when this replica has not taken it in (it held another schema's header when
          // the marker came: applyEmptied left it): a replica that misses this delta and later
          // joins these rows must not get the popped row back (a review of a8f40ca).
          if (superseded.countNotIn(dc.header.context) > 0) dc.applyClear(superseded);
          clear = superseded;
        }
        if (this.mutations.has('dynamo-collection-actor-bare')) {
          if (dc.header.own !== this.config.actorId) dc.adopt(this.config.actorId);
        } else if (dc.header.own?.startsWith(this.collectionPrefix) !== true)
          dc.adopt(collectionActor(this.config.actorId, this.takeEpoch()));
        deltas = applyRowsOp(dc, dc.header.own!, op, req.ts);
      });
      state = local.update(
        local.context(),
        this.config.actorId,
        this.markerBytes(schema, sc.dc.header),
        req.ts,
        true,
        holdsMarker(local) ? shownDeadline(shown) : undefined,
        this.counterFloor,
      );
      this.advanceCounterFloor(state.contextCounter(this.config.actorId));
    } catch (error) {
      if (error instanceof BaristaError) return this.finish(origin, { ok: false, error });
      throw error;
    }
    // The marker after the rows (collection-store.ts: a crash keeps a prefix of the writes; rows
    // without their marker are dropped by the next settle).
    const { op: id, w } = this.startWrite(origin, req, state, heldBytes, counted, required);
    for (const r of others) {
      if (this.isUp(r)) {
        this.send(r, { type: 'delta', op: id, key: req.key, state, schema, clear, deltas });
        w.sent.push(r);
      }
      // A replica down gets a hint kept here, where the rows are (a fallback node holds none): its
      // replay offers the state and the rows to pull (rowsOffer). It counts toward ANY.
      else if (this.storeHint(r, req.key, state)) w.hintAcks++;
    }
    this.checkWrite(id, w);
  }

  /**
   * A change's marker: its count of this replica's rows after it, and when that is 0 the dots of
   * the collection this replica had seen (CollectionMarker.seen: a row holding another dot is an
   * add the emptying never saw). Too large a context to encode leaves it out (the count decides).
   */
  private markerBytes(schema: Schema, header: Header): Uint8Array {
    // PLANTED BUG (mutation 'store-emptied-unseen'): an emptied marker says nothing of what it saw.
    if (header.count > 0 || this.mutations.has('store-emptied-unseen'))
      return new CollectionMarker(schema, header.count).encode();
    try {
      return new CollectionMarker(schema, 0, header.context).encode();
    } catch (error) {
      if (!(error instanceof LimitError)) throw error;
      this.stats.emptiedUnseen++;
      return new CollectionMarker(schema, 0).encode();
    }
  }

  /** shownWithRows' count per header and marker (its sibling's dot): a header is replaced by every change. */
  private readonly rowsNotSeen = new WeakMap<Header, { readonly dot: string; readonly count: number }>();

  /**
   * The removals an emptied marker stands for, applied here when it arrives (a change, read
   * repair, a hint, anti-entropy, a move): its write's coordinator held no row of the collection,
   * so every dot it had seen (`seen`) was removed, and this replica's rows lose those dots (a clear
   * under that context, as a DEL's). Without it a row whose removal came only with that marker (a
   * pop at ONE on a node cut off, told later by a read's repair) stayed here, and shownWithRows
   * took it for an add the newer emptying never saw: a key holding nothing read as a list (a
   * review of 8d72496). O(rows here) per marker, once: only a marker new to this replica.
   */
  private applyEmptied(key: Uint8Array, held: Versioned, merged: Versioned): void {
    // PLANTED BUG (mutation 'store-emptied-removals-ignored'): an emptied marker removes nothing where it arrives.
    if (this.mutations.has('store-emptied-removals-ignored')) return;
    const markers = merged.siblings.map((s) => markerOf(s.value, s.crdt));
    for (const [i, s] of merged.siblings.entries()) {
      const marker = markers[i];
      if (marker === undefined || marker.count > 0 || marker.seen === undefined) continue;
      if (held.siblings.some((h) => sameDot(h.dot, s.dot))) continue;
      // Into the context too when no row is left here: a marker this replica writes later counts
      // those dots as seen (an emptying here hides no row that pop took elsewhere).
      // A replica holding no collection of the key makes one (its header alone, context `seen`):
      // else its own later emptying hid nothing of this, and a row a replica still held was
      // popped twice (a review of c3f3e1c). Not while the key holds a marker of another schema
      // (a concurrent write of another type): this replica would answer row reads of that type
      // with a header of this one, refused, and a read through it timed out (a review of b51e945).
      // One of another schema is left as it is.
      const other = markers.some((m) => m !== undefined && !schemaEqual(m.schema, marker.schema));
      const sc = this.collections.held(key) ?? (other ? undefined : this.collections.open(key, marker.schema, merged));
      if (sc === undefined || sc instanceof BaristaError || !schemaEqual(sc.dc.header.schema, marker.schema)) continue;
      if (marker.seen.countNotIn(sc.dc.header.context) > 0 || sc.dc.header.count > 0) applyChange(sc, marker.seen, []);
    }
  }

  /**
   * `state` as this replica shows the key: when its chosen sibling is a rows layout marker
   * counting 0 (its write's coordinator saw the collection emptied) that says what it had seen,
   * and this replica holds rows of its schema with dots outside that (adds concurrent with the
   * removal of everything, which the coordinator never saw: add wins, as an OR-Set's join says),
   * the key shows that collection with those rows' count, its deadline the marker's
   * (Versioned.withShown: nothing stored or sent changes). Before 2026-12-06 the key read as
   * absent (EXISTS 0, TYPE none, a write of another type took it over) while LRANGE or SMEMBERS
   * answered the element, even once every replica held it (rows-sim.test.ts found it with pops).
   * A row the marker's write removed but this replica still holds (its removal not here yet) has
   * a dot it had seen, so it does not count.
   */
  shownWithRows(key: Uint8Array, state: Versioned, walk = false): Versioned {
    if (this.config.collections !== 'rows') return state;
    const top = state.chosen();
    const marker = top === undefined ? undefined : markerOf(top.value, top.crdt);
    if (top === undefined || marker === undefined || marker.count > 0 || marker.seen === undefined) return state;
    // A walk (SCAN, KEYS, DBSIZE) meets every emptied key: its stored header's count first, so an
    // empty one opens no handle (each would push a used one out of dynamoOpenCollectionsCountMax).
    if (walk && (storedCollectionCount(this.store, key) ?? 0) === 0) return state;
    const held = this.collections.held(key)?.dc;
    let count = 0;
    if (held !== undefined && held.header.count > 0 && schemaEqual(held.header.schema, marker.schema)) {
      // Once per header and marker (a header is replaced by every change): O(rows) when this
      // replica has seen dots the marker has not.
      const dot = `${top.dot.replica}/${top.dot.counter}`;
      const memo = this.rowsNotSeen.get(held.header);
      count = memo?.dot === dot ? memo.count : held.rowsNotIn(marker.seen);
      if (memo?.dot !== dot) this.rowsNotSeen.set(held.header, { dot, count });
    }
    if (count === 0) return state;
    return state.withShown({ ...top, value: new CollectionMarker(marker.schema, count).encode() });
  }

  /**
   * shownWithRows for a write of another type (INCR; a change of another schema), which would
   * take the key over: a key still shown as emptied there, with a concurrent marker of its schema
   * counting elements (written where rows this replica lacks were added, unseen by the emptying),
   * is that type: WRONGTYPE rather than an acknowledged element lost (a review of b51e945: INCR
   * through a replica lacking a list's rows took it over). Reads still show no key there.
   * Conservative: a marker does not say which elements it counted, so this refuses also when the
   * emptying removed them all, until a DEL, SET or push supersedes both (docs/COMPAT-REDIS.md).
   */
  private typeShown(key: Uint8Array, state: Versioned, shown = this.shownWithRows(key, state)): Versioned {
    if (shown.shownCopy() !== undefined) return shown;
    const top = state.chosen();
    const marker = top === undefined ? undefined : markerOf(top.value, top.crdt);
    if (top === undefined || marker === undefined || marker.count > 0 || marker.seen === undefined) return shown;
    const concurrent = concurrentCount(state, top, marker.schema);
    if (concurrent === 0) return shown;
    return state.withShown({ ...top, value: new CollectionMarker(marker.schema, concurrent).encode() });
  }

  /** A peer's collection change: its marker merged, then its clear and deltas (none if the marker is already superseded). */
  private onDelta(from: NodeId, m: Extract<ReplicaMessage, { type: 'delta' }>): void {
    if (m.op !== 0) this.onAccess?.(m.key);
    if (this.mergeInto(m.key, m.state) === undefined) return;
    const local = this.local(m.key);
    if (holdsMarker(local) && (m.clear !== null || m.deltas.length > 0)) {
      try {
        const sc = this.collections.open(m.key, m.schema, local);
        if (sc instanceof BaristaError) {
          this.stats.mergesRefused++;
          return;
        }
        applyChange(sc, m.clear, m.deltas);
        this.out.syncNeeded = true;
      } catch (error) {
        if (!(error instanceof BaristaError)) throw error;
        this.stats.mergesRefused++;
        return;
      }
    }
    if (m.op !== 0) this.send(from, { type: 'replicateAck', op: m.op });
  }

  /** Who counts toward a write and how many acks it needs; undefined (answered unavailable) when too few are up. */
  private planWrite(
    origin: Origin,
    level: Level,
    replicas: readonly NodeId[],
    pending: readonly NodeId[],
  ): { counted: ReadonlySet<NodeId>; others: NodeId[]; required: number } | undefined {
    const counted = new Set(replicas);
    for (const p of pending) counted.add(p);
    const others: NodeId[] = [];
    let live = 1;
    for (const r of counted) {
      if (r === this.id) continue;
      others.push(r);
      if (this.isUp(r)) live++;
    }
    const required = level === 'ANY' ? 1 : levelCount(level, replicas.length)! + pending.length;
    if (live < required) {
      this.unavailable(origin, `${live} live replicas, the write needs ${required}`);
      return undefined;
    }
    return { counted, others, required };
  }

  /** Persists the coordinator's new state of the key and opens the write's op (this replica's ack counted). */
  private startWrite(
    origin: Origin,
    req: Extract<ClientRequest, { kind: 'put' }>,
    state: Versioned,
    heldBytes: number,
    counted: ReadonlySet<NodeId>,
    required: number,
    encoded: Uint8Array = state.encode(),
  ): { op: number; w: WriteOp } {
    this.store.put(req.key, encoded);
    this.onStored?.(req.key, storedValueBytes(req.key, state, encoded.length) - heldBytes);
    this.out.syncNeeded = true;
    const op = this.newOp();
    const w: WriteOp = {
      kind: 'write',
      origin,
      key: req.key,
      sent: [],
      handedTo: undefined,
      replied: false,
      level: req.level,
      counted,
      acks: new Set([this.id]),
      hintAcks: 0,
      required,
      state,
      deadlineTick: this.deadline(),
      redo: req.checked === true ? req : undefined,
      reported: undefined,
    };
    this.ops.set(op, w);
    return { op, w };
  }

  private checkWrite(op: number, w: WriteOp): void {
    if (!w.replied) {
      const done = w.acks.size + (w.level === 'ANY' ? w.hintAcks : 0) >= w.required;
      if (!done) return;
      if (w.reported !== undefined) return this.redoChecked(op, w, w.reported);
      w.replied = true;
      this.ops.delete(op);
      this.stats.writesAcked++;
      this.finish(w.origin, { ok: true, state: w.state });
      if (!this.config.timeoutHints || settledWrite(w)) return;
      // Kept for the acks still missing, out of `ops` (answered: it holds no request slot).
      const bytes = unackedCost(w);
      if (
        this.unacked.size >= limits.dynamoUnackedWritesCountMax ||
        this.unackedBytes + bytes > limits.dynamoUnackedStateBytesMax
      ) {
        this.stats.unackedUntracked++;
        return;
      }
      this.unacked.set(op, w);
      this.unackedBytes += bytes;
      return;
    }
    if (settledWrite(w)) this.dropUnacked(op, w);
  }

  private dropUnacked(op: number, w: WriteOp): void {
    if (this.unacked.delete(op)) this.unackedBytes -= unackedCost(w);
  }

  /** A write's deadline passed: each replica it was sent to that has not acked gets a hint kept here. */
  private hintSilent(op: number, w: WriteOp): void {
    if (!this.config.timeoutHints) return;
    const owners = new Set<NodeId>();
    for (const r of w.sent) {
      if (w.acks.has(r)) continue;
      if (this.storeHint(r, w.key, w.state)) {
        this.stats.hintsOnTimeout++;
        owners.add(r);
      }
    }
    if (owners.size > 0) {
      if (this.hintedLate.size >= limits.dynamoUnackedWritesCountMax) {
        const oldest = this.hintedLate.keys().next().value;
        if (oldest !== undefined) this.hintedLate.delete(oldest);
      }
      this.hintedLate.set(op, { key: w.key, sentDigest: stateDigest(w.state.encode()), owners });
    }
    // A fallback that never stored its hint: the owner's hint is kept here instead.
    for (const owner of w.handedTo?.values() ?? [])
      if (this.storeHint(owner, w.key, w.state)) this.stats.hintsOnTimeout++;
    w.handedTo = undefined;
  }

  private coordinateGet(
    origin: Origin,
    key: Uint8Array,
    replicas: readonly NodeId[],
    required: number,
    elements?: readonly Uint8Array[] | null,
    front?: number,
    back?: true,
    last?: number,
    wholeIfSame?: true,
    fore?: true,
  ): void {
    const live = replicas.filter((r) => r !== this.id && this.isUp(r));
    if (1 + live.length < required) {
      return this.unavailable(origin, `${1 + live.length} live replicas, the read needs ${required}`);
    }
    // Ask the first R - 1 live peers in preference order (the coordinator counts itself), or, with
    // probability readRepairChance, every live replica so read repair reaches them all; the rest
    // are asked if the first have not answered by speculateTicks (Cassandra's speculative retry).
    this.onAccess?.(key);
    const all = this.config.readRepairChance >= 1 || this.rng.float() < this.config.readRepairChance;
    const asked = all ? live : live.slice(0, required - 1);
    const op = this.newOp();
    const r: ReadOp = {
      kind: 'read',
      origin,
      key,
      asked: new Set(asked),
      spare: all ? [] : live.slice(required - 1),
      answers: new Map([[this.id, this.local(key)]]),
      ...(elements === undefined
        ? {}
        : {
            rows: {
              elements,
              ...(front === undefined ? {} : { front }),
              ...(back === undefined ? {} : { back }),
              ...(fore === undefined ? {} : { fore }),
              ...(last === undefined ? {} : { last }),
              ...(wholeIfSame === undefined ? {} : { wholeIfSame }),
              answers: new Map([[this.id, null]]),
              joins: new Map(),
            },
          }),
      required,
      replied: false,
      speculateTick: this.nowTick + this.config.speculateTicks,
      deadlineTick: this.deadline(),
    };
    if (r.rows?.wholeIfSame === true && r.rows.back === true) {
      const dc = this.collections.held(key)?.dc;
      if (dc !== undefined) r.rows.tracked = { dc, mark: dc.track(), digest: dc.header.digest };
    }
    this.ops.set(op, r);
    for (const to of asked) this.send(to, this.readMessage(op, r));
    this.progressRead(op, r);
  }

  /** Ends a read's tracking of its collection's changes (once). */
  private untrackRead(r: ReadOp): void {
    const tracked = r.rows?.tracked;
    if (tracked === undefined) return;
    r.rows!.tracked = undefined;
    tracked.dc.untrack();
  }

  /** A read still short of R answers at its speculateTick asks the replicas it left out. */
  private speculate(op: number, r: ReadOp): void {
    if (r.replied || r.spare.length === 0 || r.speculateTick > this.nowTick) return;
    for (const to of r.spare.splice(0)) {
      if (!this.isUp(to)) continue;
      r.asked.add(to);
      this.stats.speculativeReads++;
      this.send(to, this.readMessage(op, r));
    }
  }

  private readMessage(op: number, r: ReadOp): ReplicaMessage {
    if (r.rows === undefined) return { type: 'read', op, key: r.key };
    const { elements } = r.rows;
    return {
      type: 'rowRead',
      op,
      key: r.key,
      sel:
        r.rows.fore === true
          ? { kind: 'fore' }
          : r.rows.back === true
            ? r.rows.wholeIfSame === true
              ? { kind: 'tail', recent: this.collections.recent(r.key) }
              : { kind: 'tail' }
            : r.rows.last !== undefined
              ? { kind: 'last', before: undefined, count: this.pageCount(r) }
              : elements === null
                ? { kind: 'page', from: '', count: this.pageCount(r) }
                : { kind: 'named', elements },
    };
  }

  /**
   * Rows per page a read asks for: a full page, or for a list's head its front and HEAD_SLACK_ROWS
   * more: a peer's first rows may be ones this coordinator has popped already (pops in flight, not
   * yet at that peer), and one page should reach past them rather than one round trip per pop;
   * doubled for each round settleFront read on (rows.rounds).
   */
  private pageCount(r: ReadOp): number {
    const front = r.rows?.front ?? r.rows?.last;
    return Math.min(
      front === undefined ? limits.dynamoRowsPageCountMax : (front + HEAD_SLACK_ROWS) * 2 ** (r.rows?.rounds ?? 0),
      limits.dynamoRowsPageCountMax,
    );
  }

  private onReadReply(from: NodeId, op: number, state: Versioned, rows: RowsAnswer | null | undefined): void {
    const r = this.ops.get(op);
    if (
      r?.kind !== 'read' ||
      !r.asked.has(from) ||
      r.answers.has(from) ||
      (r.rows === undefined) !== (rows === undefined)
    ) {
      this.stats.staleMessages++;
      return;
    }
    if (r.rows !== undefined && rows != null && from !== this.id && !r.rows.counts?.has(from)) {
      r.rows.counts ??= new Map();
      r.rows.counts.set(from, { count: rows.count, schema: rows.schema });
    }
    if (r.rows?.back === true || r.rows?.fore === true) {
      // A tail read joins no row: the peer's count, context and high-water element (its page's
      // start); a head read the mirror, its low-water element (its page's end).
      const page = rows?.rows.kind === 'page' ? rows.rows.page : undefined;
      if (page !== undefined) {
        r.rows.heads ??= new Map();
        r.rows.heads.set(from, {
          count: rows!.count,
          context: page.context,
          rows: 0,
          schema: rows!.schema,
          edge: r.rows.back === true ? page.from : (page.to ?? ''),
        });
      }
    } else if (r.rows?.last !== undefined) {
      // A list's tail: pages of its last rows, asked for backwards (settleBack).
      const whole = this.joinTailPage(r, from, state, rows ?? null);
      if (whole === 'refused') return; // its rows are not here: it does not count toward R
      if (whole === false) {
        this.settleBack(op, r);
        return;
      }
    } else if (r.rows !== undefined && r.rows.elements === null) {
      const whole = this.joinReadPage(op, r, from, state, rows ?? null);
      if (whole === 'refused' && r.origin.kind !== 'internal') {
        // Its rows are not here, so it does not count toward R (a spare is asked at speculateTicks;
        // else the read times out). A pull counts it, ending as failed.
        return;
      }
      if (whole === false) {
        if (r.rows.front !== undefined) this.settleFront(op, r);
        return;
      }
    }
    r.answers.set(from, state);
    if (r.rows !== undefined) r.rows.answers.set(from, rows ?? null);
    // A head read whose other replicas are parked may be settled by this answer.
    if (r.rows?.front !== undefined && r.rows.joins.size > 0 && this.settleFront(op, r)) return;
    if (r.rows?.last !== undefined && (r.rows.tails?.size ?? 0) > 0 && this.settleBack(op, r)) return;
    this.progressRead(op, r);
  }

  private progressRead(op: number, r: ReadOp): void {
    if (!r.replied && r.answers.size >= r.required) {
      r.replied = true;
      const merged = this.mergeAnswers(r);
      if (merged instanceof BaristaError) {
        this.ops.delete(op);
        // A pull ends here too (its slot freed, its waiters told), or its key is never pulled again;
        // the joins of peers still paging end too (a join left open keeps its handle from closing).
        if (r.origin.kind === 'internal') this.endPull(r.origin, false);
        for (const { join } of r.rows?.joins.values() ?? []) this.abandonReadJoin(r.key, join);
        r.rows?.joins.clear();
        for (const node of [...(r.rows?.tails?.keys() ?? [])]) this.endTail(r, node);
        this.untrackRead(r);
        return this.finish(r.origin, { ok: false, error: merged });
      }
      this.stats.readsAnswered++;
      r.merged = { state: merged, count: r.answers.size };
      // The coordinator keeps what the read saw (read repair of itself, at once): an operation it
      // coordinates next on the key's CRDT (an OR-Set remove: typed.ts) observes what the read did.
      if (!merged.equals(r.answers.get(this.id) ?? Versioned.empty())) this.mergeInto(r.key, merged);
      if (r.rows === undefined) this.finish(r.origin, { ok: true, state: this.shownWithRows(r.key, merged) });
      else this.finishRows(r, merged);
    }
    if (r.answers.size === r.asked.size + 1) {
      this.ops.delete(op);
      if (r.origin.kind === 'internal') this.endPull(r.origin, r.rows?.refused !== true);
      this.readRepair(r);
    }
  }

  /**
   * A rows read with R answers: each peer's rows join this replica's collection (what the change
   * it coordinates next observes), then the view of the elements named answers.
   */
  private finishRows(r: ReadOp, merged: Versioned): void {
    try {
      this.joinAndAnswerRows(r, merged);
    } finally {
      this.untrackRead(r);
    }
  }

  private joinAndAnswerRows(r: ReadOp, merged: Versioned): void {
    const rows = r.rows!;
    const local = this.local(r.key);
    if (holdsMarker(local) && rows.elements !== null) {
      // The peers' named rows join each other first (joinAnswers), then here at once: one peer's
      // removal must hold against a dot another peer still has, whatever order they answered in.
      const groups: RowsAnswer[][] = [];
      for (const [node, answer] of rows.answers) {
        if (node === this.id || answer === null || answer.rows.kind !== 'rows') continue;
        const group = groups.find((g) => schemaEqual(g[0]!.schema, answer.schema));
        if (group === undefined) groups.push([answer]);
        else group.push(answer);
      }
      for (const group of groups) {
        const { schema } = group[0]!;
        const named = group.map((a) => a.rows as Extract<RowsAnswer['rows'], { kind: 'rows' }>);
        const all = [...new Set(named.flatMap((n) => n.elements))].sort(compareStrings);
        const joined = joinAnswers(schema, all, named);
        const answer: RowsAnswer = { schema, count: 0, rows: { kind: 'rows', elements: all, ...joined } };
        this.joinInto(r.key, answer, local, (dc) => dc.joinRows(all, joined.rows, joined.context), fromStream(r));
      }
    }
    if (r.origin.kind === 'internal') return; // a pull: its pages are joined, nobody to answer
    // After the joins: the rows read count among this replica's (shownWithRows).
    merged = this.shownWithRows(r.key, merged);
    let v = holdsMarker(local)
      ? this.collections.view(r.key, rows.elements, rows.front, rows.back === true || rows.fore === true, rows.last)
      : undefined;
    if (v === undefined && holdsMarker(local)) {
      // The marker came without rows (read repair, a move page before its pull): an empty view of
      // its schema, so the command sees the key's type, not WRONGTYPE.
      const marker = local.siblings.map((x) => markerOf(x.value, x.crdt)).find((m) => m !== undefined)!;
      v = { view: collectionOf(marker.schema, new Map(), CausalContext.empty), count: marker.count };
    }
    // A read without rows (a list's head or tail, a count) counts a replica's collection, its own
    // included, only when of the type the key shows: a replica that missed a type change, or
    // keeps an emptied header of another type for its context, would lend its count, or its
    // empty view of another type (WRONGTYPE on a list: review of 20b5625). Its edges (a list's
    // low- or high-water element) come from every list collection read, whatever the key shows:
    // each lies beyond every list row its replica holds, so a push never lands among the rows
    // of a concurrent list (a set's member, lent as one, sorts among them: review of 20b5625).
    const noRow = rows.back === true || rows.fore === true;
    const top = noRow ? merged.chosen() : undefined;
    const shown = top === undefined ? undefined : markerOf(top.value, top.crdt);
    const mine = this.collections.held(r.key)?.dc;
    const sameType = mine !== undefined && shown !== undefined && schemaEqual(shown.schema, mine.header.schema);
    if (v !== undefined && noRow && shown !== undefined && !sameType)
      v = { view: collectionOf(shown.schema, new Map(), CausalContext.empty), count: 0 };
    const heads =
      rows.heads === undefined || !noRow
        ? rows.heads
        : new Map(
            [...rows.heads].filter(
              ([, h]) => shown !== undefined && h.schema !== undefined && schemaEqual(h.schema, shown.schema),
            ),
          );
    if (v !== undefined && heads !== undefined) {
      // This replica's rows (none: not the marker's count, which may be a peer's) and what the
      // peers hold beyond them.
      const held = !noRow || sameType ? (mine?.header.count ?? 0) : 0;
      v = { ...v, count: held + this.headsBeyond(r.key, heads) };
    }
    if (v !== undefined && noRow) {
      // The head: before the smallest low-water element of the list collections read (this
      // replica's too); the tail: past the largest high-water element.
      let edge =
        mine !== undefined && isListSchema(mine.header.schema)
          ? rows.fore === true
            ? mine.header.low
            : mine.header.high
          : undefined;
      if (edge === '') edge = undefined;
      const sign = rows.fore === true ? -1 : 1; // the smallest low, the largest high
      // PLANTED BUG (mutation 'store-push-edge-own'): the peers' edges ignored.
      const peers = this.mutations.has('store-push-edge-own') ? undefined : rows.heads;
      for (const h of peers?.values() ?? []) {
        if (h.edge === undefined || h.edge === '' || h.schema === undefined || !isListSchema(h.schema)) continue;
        if (edge === undefined || sign * compareStrings(h.edge, edge) > 0) edge = h.edge;
      }
      if (edge !== undefined)
        v = rows.fore === true ? { ...v, before: bytesOfByteString(edge) } : { ...v, after: bytesOfByteString(edge) };
    }
    if (v !== undefined && rows.back === true) {
      // Every replica read holds the same rows as this one, of the type the key shows: its count
      // is the level's (LLEN, SCARD, HLEN and ZCARD read no row then; otherwise they read every
      // row and join). A collection of another type kept under a newer marker (concurrent writes
      // of two types: the other's rows refused) is not the shown type's count.
      // Replicas that differ only in rows changed lately join those rows here and are the same
      // then (joinRecent).
      const same =
        sameType &&
        (this.sameRows(mine, rows) ||
          (rows.wholeIfSame === true &&
            !this.mutations.has('store-whole-read-unchecked') &&
            this.joinRecent(r.key, mine, rows, local)));
      if (same) v = { ...v, count: mine.header.count, exact: true };
      // Every row of this replica's is every replica read's: the view of a read of every row,
      // none shipped (a command that reads every row asks this first: replicated.ts). Not `after`:
      // that makes a tail's view, with a placeholder past the last row.
      // PLANTED BUG (mutation 'store-whole-read-unchecked'): this replica's rows whatever the others hold.
      if (sameType && rows.wholeIfSame === true && (same || this.mutations.has('store-whole-read-unchecked'))) {
        const view = this.collections.whole(r.key)!;
        v = { view, count: mine.header.count, whole: true, ...(same ? { exact: true as const } : {}) };
      }
    }
    if (v !== undefined && this.mayLackRows(r.key, rows) && !this.mutations.has('store-rows-lacking-ignored'))
      v = { ...v, lacking: true };
    this.finish(r.origin, v === undefined ? { ok: true, state: merged } : { ok: true, state: merged, collection: v });
  }

  /**
   * Whether this coordinator may hold fewer of a collection's elements than a replica it read
   * (CollectionView.lacking): one answered a larger count than this replica holds after the read's
   * joins, and this replica holds no more than the read names (its named elements, a list's first
   * or last rows). A change's marker counts the coordinator's own rows: one cut off while elements
   * were added that removed the one it held counted 0, and the key read as absent everywhere
   * (EXISTS 0, its deadline dropped at the next write, a write of another type taking it over).
   * A peer's count is no floor of the collection's (it may count rows removed elsewhere that it
   * has not heard of): a read of every row joins, and counts, what the replicas read hold.
   */
  private mayLackRows(key: Uint8Array, rows: NonNullable<ReadOp['rows']>): boolean {
    const reach = rows.elements !== null ? rows.elements.length : (rows.front ?? rows.last);
    if (reach === undefined) return false;
    const held = this.collections.held(key)?.dc.header;
    const mine = held?.count ?? 0;
    if (mine > reach) return false;
    for (const answer of rows.counts?.values() ?? []) {
      if (answer.count <= mine) continue;
      if (held === undefined || schemaEqual(answer.schema, held.schema)) return true;
    }
    return false;
  }

  /**
   * Whether every replica the tail read counted holds the same rows as this one: each peer's
   * answer has this replica's context, count and header digest (the sum of every row's digest).
   * Equal contexts and counts alone do not mean equal rows: a removal adds no dot, so replicas
   * that each saw another acknowledged SREM hold {x} and {y} under one context, one element each,
   * and their join is empty (a review found SCARD answering 1 there); their digests differ. A
   * peer keeping no collection, or answering without a digest, is not the same.
   */
  private sameRows(mine: DecomposedCollection, rows: NonNullable<ReadOp['rows']>): boolean {
    const h = mine.header;
    for (const [node, answer] of rows.answers) {
      if (node === this.id) continue;
      if (answer === null || answer.digest === undefined || answer.rows.kind !== 'page') return false;
      if (!schemaEqual(answer.schema, h.schema)) return false;
      if (answer.count !== h.count || answer.digest !== h.digest || !answer.rows.page.context.equals(mine.context))
        return false;
    }
    return true;
  }

  /**
   * Whether the replicas the tail read counted differ from this one only in rows changed lately:
   * each peer answered its rows of the elements changed last (the coordinator's, named in the
   * read, and its own), and its digest less those rows equals this replica's digest when the read
   * was sent less its rows of them then (the rows this replica changed since are undone from the
   * journal: DecomposedCollection.changesSince). Then every other row is the same at both, so the
   * join of the peer's state is its rows of those elements and, for an element this replica
   * changed since, its row as it was here then, each under the peer's context (named rows, as a
   * read of them joins: finishRows), and this replica's rows after those joins are the join of
   * every replica read. What a coordinator whose writes go on while it reads needs instead of
   * reading every row. False, joining nothing, when any replica differs elsewhere (or answered no
   * recent rows, or the changes since were not all recorded): every row is read then.
   */
  private joinRecent(
    key: Uint8Array,
    mine: DecomposedCollection,
    rows: NonNullable<ReadOp['rows']>,
    local: Versioned,
  ): boolean {
    const tracked = rows.tracked;
    if (tracked === undefined || tracked.dc !== mine) return false;
    const since = mine.changesSince(tracked.mark);
    if (since === undefined) return false;
    const { schema } = mine.header;
    // This replica's rows when the read was sent, each read from the store once for every peer.
    const held = new Map<ByteString, Row | undefined>();
    const rowThen = (e: ByteString): Row | undefined => {
      if (since.has(e)) return since.get(e);
      if (!held.has(e)) held.set(e, mine.rows.get(e));
      return held.get(e);
    };
    const peers: Array<{
      node: NodeId;
      listed: readonly ByteString[];
      rows: ReadonlyMap<ByteString, Row>;
      context: CausalContext;
    }> = [];
    for (const [node, answer] of rows.answers) {
      if (node === this.id) continue;
      if (answer === null || answer.digest === undefined || answer.recent === undefined) return false;
      if (!schemaEqual(answer.schema, schema)) return false;
      const { elements, rows: theirs, context } = answer.recent;
      // PLANTED BUG (mutation 'store-recent-join-unchecked'): the recent rows joined whatever the digests say.
      if (
        digestWithout(schema, answer.digest, elements, (e) => theirs.get(e)) !==
          digestWithout(schema, tracked.digest, elements, rowThen) &&
        !this.mutations.has('store-recent-join-unchecked')
      )
        return false;
      peers.push({ node, listed: elements, rows: theirs, context });
    }
    if (peers.length === 0) return true;
    // Every peer over the same elements: those any peer listed and those changed here since. A
    // peer's row of one it did not list is this replica's row then (its rows outside its list are
    // those); then the peers' rows join each other under their contexts (joinAnswers: a removal
    // one peer saw holds against a dot another still has), and the result joins here at once.
    const union = new Set<ByteString>(since.keys());
    for (const p of peers) for (const e of p.listed) union.add(e);
    const all = [...union].sort(compareStrings);
    const parts = peers.map((p) => {
      const listed = new Set(p.listed);
      const filled = new Map<ByteString, Row>();
      for (const e of all) {
        const row = listed.has(e) ? p.rows.get(e) : rowThen(e);
        if (row !== undefined) filled.set(e, row);
      }
      return { rows: filled, context: p.context };
    });
    const joined = joinAnswers(schema, all, parts);
    const answer: RowsAnswer = { schema, count: 0, rows: { kind: 'rows', elements: all, ...joined } };
    if (!this.joinInto(key, answer, local, (dc) => dc.joinRows(all, joined.rows, joined.context), false)) return false;
    rows.recentJoined = new Map(peers.map((p) => [p.node, p.listed]));
    this.stats.recentJoins++;
    return true;
  }

  /**
   * One page of a replica's rows for a read of every row: its state merged here, the page joined
   * into this replica's collection through that replica's join, and the next page asked for.
   * True once that replica's answer is whole (its last page, or no collection there to join);
   * 'refused' when its page could not be joined (out of order, malformed, a bound): its rows are
   * not here.
   */
  private joinReadPage(
    op: number,
    r: ReadOp,
    from: NodeId,
    state: Versioned,
    answer: RowsAnswer | null,
  ): boolean | 'refused' {
    const rows = r.rows!;
    const held = rows.joins.get(from);
    const page = answer?.rows.kind === 'page' ? answer.rows.page : undefined;
    if (page === undefined || page.from !== (held?.next ?? '')) {
      if (held !== undefined) this.abandonReadJoin(r.key, held.join);
      rows.joins.delete(from);
      if (answer === null) return true;
      this.stats.mergesRefused++;
      rows.refused = true;
      return 'refused';
    }
    const through = this.joinPeerPage(
      r,
      state,
      answer!,
      held?.join,
      (dc) => dc.startJoin(),
      (dc, join) => dc.joinPage(join, page),
    );
    if (through === undefined) return true;
    const { joined, join } = through;
    if (joined && rows.front !== undefined) {
      rows.heads ??= new Map();
      const seen = rows.heads.get(from);
      rows.heads.set(from, { count: answer!.count, context: page.context, rows: (seen?.rows ?? 0) + page.rows.size });
    }
    if (!joined || page.to === undefined) {
      rows.joins.delete(from);
      if (joined) return true;
      rows.refused = true;
      if (join !== undefined) this.abandonReadJoin(r.key, join);
      return 'refused';
    }
    if (rows.front !== undefined) {
      rows.joins.set(from, { join: join!, next: page.to, parked: state });
      return false;
    }
    rows.joins.set(from, { join: join!, next: page.to });
    // A pull has as long as it keeps getting pages (its collection may be large).
    if (r.origin.kind === 'internal') r.deadlineTick = this.nowTick + this.pullProgressTicks();
    this.send(from, {
      type: 'rowRead',
      op,
      key: r.key,
      sel: { kind: 'page', from: page.to, count: this.pageCount(r) },
    });
    return false;
  }

  /**
   * How long a pull waits for its next page: a page is one read of the peer's store, so a page
   * not come by then was lost (or its peer stopped), and the pull ends, failed; the offer, hint or
   * move that asked for it asks again. (It had antiEntropyTimeoutTicks for the whole pull, a
   * minute by default: one lost message held every later offer of the key from that peer so long,
   * each queued behind it. The store's simulator workload found replicas that stayed apart.)
   */
  private pullProgressTicks(): number {
    if (this.mutations.has('dynamo-pull-whole-deadline')) return this.config.antiEntropyTimeoutTicks;
    return Math.min(this.config.antiEntropyTimeoutTicks, 5 * this.config.requestTimeoutTicks);
  }

  /**
   * A read of a list's head (front rows): once R replicas have answered or are parked after a page,
   * the rows before the smallest place a parked replica stopped at are joined from all of them. If
   * at least `front` live rows lie there, the parked replicas count as answered (their joins are
   * given up: less knowledge, never a wrong row); else the ones stopped there are asked for their
   * next page (the rows seen first were removed elsewhere), unless the read was answered already.
   */
  private settleFront(op: number, r: ReadOp): boolean {
    const rows = r.rows!;
    const front = rows.front!;
    const parked = [...rows.joins].filter(([, j]) => j.parked !== undefined);
    if (parked.length === 0 || r.answers.size + parked.length < r.required) return false;
    if (parked.length < rows.joins.size) return false; // a page of another is on its way
    let m: ByteString | undefined;
    for (const [, j] of parked) if (m === undefined || compareStrings(j.next, m) < 0) m = j.next;
    let live = 0;
    for (const _ of this.collections.held(r.key)?.dc.rows.range('', m) ?? []) if (++live >= front) break;
    // A read answered already (R reached before these peers: a read repair at ONE) reads on for
    // nothing but repair: what its pages brought is joined, and the rows past them are left to
    // anti-entropy rather than a round per pop that raced it.
    if (live < front && !r.replied) {
      // The rows seen first were removed here meanwhile (pops in flight to the peers): the next
      // pages are twice as long each round, so a read reaches past pops however fast they come
      // (at a fixed length, pops faster than a page per round trip kept it reading until it timed out).
      rows.rounds = (rows.rounds ?? 0) + 1;
      this.stats.endReadRounds++;
      for (const [node, j] of parked) {
        if (j.next !== m) continue;
        j.parked = undefined;
        this.send(node, { type: 'rowRead', op, key: r.key, sel: { kind: 'page', from: m!, count: this.pageCount(r) } });
      }
      return false;
    }
    for (const [node, j] of parked) {
      this.abandonReadJoin(r.key, j.join);
      rows.joins.delete(node);
      r.answers.set(node, j.parked!);
      rows.answers.set(node, null);
    }
    this.progressRead(op, r);
    return true;
  }

  /**
   * One page of a replica's last rows (a list's tail read): its state merged here, the page's
   * range joined into this replica's collection (joinRange: outside any full join, so less
   * knowledge than a full read, never a wrong row), and the replica parked where its pages reached
   * down to until settleBack decides. True once its answer is whole (its pages reached the first
   * row, or it keeps no collection); 'refused' when a page could not be joined (out of order,
   * malformed, another schema): its rows are not here.
   */
  private joinTailPage(r: ReadOp, from: NodeId, state: Versioned, answer: RowsAnswer | null): boolean | 'refused' {
    const rows = r.rows!;
    rows.tails ??= new Map();
    const held = rows.tails.get(from);
    const page = answer?.rows.kind === 'page' ? answer.rows.page : undefined;
    // The first page reaches the end; each next one ends where the one before began.
    if (page === undefined || page.to !== held?.next || (held !== undefined && held.parked !== undefined)) {
      this.endTail(r, from);
      if (answer === null) return true; // no collection there (any more)
      this.stats.mergesRefused++;
      rows.refused = true;
      return 'refused';
    }
    // Through a join from the end per peer (joinBackPage): the range its pages covered counts as
    // known from its context while the read is out, so a removal it saw holds against a row
    // another peer's page brings after it, whichever answers first.
    const through = this.joinPeerPage(
      r,
      state,
      answer!,
      held?.join,
      (dc) => dc.startBackJoin(),
      (dc, join) => dc.joinBackPage(join, page),
    );
    if (through === undefined) {
      this.endTail(r, from);
      return true;
    }
    const { joined, join } = through;
    if (!joined) {
      if (join !== undefined) this.abandonReadJoin(r.key, join);
      this.endTail(r, from);
      rows.refused = true;
      return 'refused';
    }
    if (page.from === '') {
      rows.tails.delete(from); // the join ended with its last page
      return true;
    }
    rows.tails.set(from, { next: page.from, parked: state, ...(join === undefined ? {} : { join }) });
    return false;
  }

  /**
   * A peer's page of a read joined here through that peer's join: its state merged first, the
   * join started at its first page (kept even when that page is refused, so the caller abandons
   * it), then the page joined (one whose join the collection no longer holds, its handle repaired
   * or dropped meanwhile, is refused). Undefined when this replica keeps no collection of the key.
   */
  private joinPeerPage(
    r: ReadOp,
    state: Versioned,
    answer: RowsAnswer,
    held: RowJoin | undefined,
    start: (dc: DecomposedCollection) => RowJoin,
    page: (dc: DecomposedCollection, join: RowJoin) => void,
  ): { joined: boolean; join: RowJoin | undefined } | undefined {
    this.mergeInto(r.key, state);
    const local = this.local(r.key);
    if (!holdsMarker(local)) return undefined;
    // An empty collection of another schema than this replica's (an emptied header kept for its
    // context, or made by an emptied marker: applyEmptied) holds nothing of this one: as no
    // collection there. Refused, a read of every row through the one replica holding the rows
    // timed out (a documented gap; a review of b51e945 found it reaching replicas that never
    // held the other type).
    const mine = this.collections.held(r.key)?.dc.header.schema;
    const rowsPage = answer.rows.kind === 'page' ? answer.rows.page : undefined;
    if (
      mine !== undefined &&
      !schemaEqual(mine, answer.schema) &&
      answer.count === 0 &&
      rowsPage !== undefined &&
      rowsPage.rows.size === 0 &&
      held === undefined
    )
      return undefined;
    let join = held;
    const joined = this.joinInto(
      r.key,
      answer,
      local,
      (dc) => {
        join ??= start(dc);
        page(dc, join);
      },
      fromStream(r),
    );
    return { joined, join };
  }

  /** Forgets a peer's tail pages of a read, its join from the end abandoned (what its pages brought stays). */
  private endTail(r: ReadOp, node: NodeId): void {
    const t = r.rows?.tails?.get(node);
    if (t === undefined) return;
    r.rows!.tails!.delete(node);
    if (t.join !== undefined) this.abandonReadJoin(r.key, t.join);
  }

  /**
   * A read of a list's tail (its last rows), the mirror of settleFront: once R replicas have
   * answered or are parked after a page, every row at or above the largest place a parked replica's
   * pages reached down to is joined from all of them. If this replica's last `last` live rows all
   * lie there, the parked replicas count as answered; else the ones that stopped there are asked
   * for their next page below it (the rows seen first were removed elsewhere), twice as long each
   * round, unless the read was answered already.
   */
  private settleBack(op: number, r: ReadOp): boolean {
    const rows = r.rows!;
    const last = rows.last!;
    const tails = rows.tails;
    if (tails === undefined) return false;
    const parked = [...tails].filter(([, t]) => t.parked !== undefined);
    if (parked.length === 0 || r.answers.size + parked.length < r.required) return false;
    if (parked.length < tails.size) return false; // a page of another is on its way
    let m: ByteString | undefined;
    for (const [, t] of parked) if (m === undefined || compareStrings(t.next, m) > 0) m = t.next;
    const mine = this.collections.held(r.key)?.pageBack(undefined, Number.MAX_SAFE_INTEGER, last);
    const lowest = mine === undefined ? undefined : mine.rows.keys().next().value;
    const short = mine === undefined || mine.rows.size < last || lowest === undefined || compareStrings(lowest, m!) < 0;
    // A read answered already reads on for repair alone: not past the rows its pages brought (settleFront).
    if (short && !r.replied) {
      rows.rounds = (rows.rounds ?? 0) + 1;
      this.stats.endReadRounds++;
      for (const [node, t] of parked) {
        if (t.next !== m) continue;
        t.parked = undefined;
        this.send(node, {
          type: 'rowRead',
          op,
          key: r.key,
          sel: { kind: 'last', before: m, count: this.pageCount(r) },
        });
      }
      return false;
    }
    for (const [node, t] of parked) {
      this.endTail(r, node);
      r.answers.set(node, t.parked!);
      rows.answers.set(node, null);
    }
    this.progressRead(op, r);
    return true;
  }

  /**
   * How many elements a head read's peers hold beyond what this replica holds after joining their
   * heads (an estimate, for LPUSH's reply: the length). A peer's rows past its pages read that this
   * replica lacks carry dots it has not seen: at most the dots the peer's context has and this
   * one's lacks (some may be of elements added and removed there), and at most the peer's count
   * less the rows its pages brought. The largest over the peers (rows two of them hold are counted
   * once, rows each holds alone are not all counted). Exact in the common cases: this replica
   * missed pushes (the peers' dots it lacks), or pops it made that a peer missed (no dot it lacks:
   * its head join already removed them).
   */
  private headsBeyond(key: Uint8Array, heads: ReadonlyMap<NodeId, PeerHead>): number {
    const ctx = this.collections.held(key)?.dc.context ?? CausalContext.empty;
    let beyond = 0;
    for (const h of heads.values())
      beyond = Math.max(beyond, Math.min(h.context.countNotIn(ctx), Math.max(0, h.count - h.rows)));
    return beyond;
  }

  /**
   * Pulls every row of `key`'s collection from `peer` (a rows read of one replica, page by page,
   * joined here as a client read's are): what anti-entropy does for a collection, whose rows do not
   * travel in the key's state. Skipped (the next round tries again) for a key without a marker
   * here, one already being pulled from that peer, or past dynamoRowPullsCountMax pulls.
   */
  private pullRows(peer: NodeId, key: Uint8Array): string | null | 'busy' {
    if (this.config.collections !== 'rows' || !holdsMarker(this.local(key))) return null;
    const base = `${peer}\0${keyString(key)}`;
    const running = this.pulls.get(base);
    if (running !== undefined) {
      // That pull may already be past rows its new waiter needs (a hinted element, a page's rows
      // written before the page was read): the waiter gets the next pull, started when it ends.
      running.next ??= `${base}\0${++this.pullSeq}`;
      return running.next;
    }
    if (this.pulls.size >= limits.dynamoRowPullsCountMax) {
      this.stats.rowPullsSkipped++;
      return 'busy';
    }
    return this.startPull(peer, key, base, `${base}\0${++this.pullSeq}`);
  }

  /**
   * Writes the store's record of the layout deferred at construction (ReplicaConfig
   * layoutDeferred), unless it has one; true when written (to sync). No walk of the store: the
   * caller checked it at start, and a closed replica wrote nothing since.
   */
  recordLayout(): boolean {
    this.config = { ...this.config, layoutDeferred: false };
    if (this.store.getMeta(COLLECTIONS_LAYOUT_META) !== undefined) return false;
    this.store.putMeta(COLLECTIONS_LAYOUT_META, new TextEncoder().encode(this.config.collections));
    return true;
  }

  /**
   * Takes `layout` instead of the one configured, before the record is written (layoutDeferred)
   * and while the store keeps no collection (either layout reads it): a node that named no layout
   * takes the keyspace's (src/services/store/keyspace-settings.ts).
   */
  adoptLayout(layout: 'whole' | 'rows'): void {
    assert(this.config.layoutDeferred, 'a layout is adopted only before its record is written');
    assert(this.store.getMeta(COLLECTIONS_LAYOUT_META) === undefined, 'the store records a layout');
    this.config = { ...this.config, collections: layout };
  }

  /**
   * What must hold of the pulls after every step (the test cluster checks it): one read per slot,
   * the slot's own, and no more than dynamoRowPullsCountMax of them. A problem's description, or null.
   */
  pullsProblem(): string | null {
    const bases = new Set<string>();
    for (const o of this.ops.values()) {
      if (o.kind !== 'read' || o.origin.kind !== 'internal') continue;
      if (bases.has(o.origin.base)) return `two pulls of ${JSON.stringify(o.origin.base)} run`;
      bases.add(o.origin.base);
      if (this.pulls.get(o.origin.base)?.id !== o.origin.pull)
        return `pull ${JSON.stringify(o.origin.pull)} runs outside its slot`;
    }
    if (bases.size > limits.dynamoRowPullsCountMax) return `${bases.size} pulls run`;
    return null;
  }

  /** Sends the first page request of pull `pull` (its slot in `pulls` taken); its id. */
  private startPull(peer: NodeId, key: Uint8Array, base: string, pull: string): string {
    this.pulls.set(base, { id: pull, next: null });
    this.stats.rowPulls++;
    const op = this.newOp();
    const r: ReadOp = {
      kind: 'read',
      origin: { kind: 'internal', pull, base, key },
      key,
      asked: new Set([peer]),
      spare: [],
      answers: new Map([[this.id, this.local(key)]]),
      rows: { elements: null, answers: new Map([[this.id, null]]), joins: new Map() },
      required: 2,
      replied: false,
      speculateTick: Number.MAX_SAFE_INTEGER,
      deadlineTick: this.nowTick + this.pullProgressTicks(),
    };
    this.ops.set(op, r);
    this.send(peer, this.readMessage(op, r));
    return pull;
  }

  /**
   * A pull ended (its rows joined, or given up on): the move and hint replays waiting for it are
   * told. When another was asked for meanwhile, it starts in the same slot first (or, with nothing
   * left to pull, ends well at once): told first, a move would take the freed slot for a pull of
   * its own, and the next one would start past dynamoRowPullsCountMax.
   */
  private endPull(origin: Extract<Origin, { kind: 'internal' }>, ok: boolean): void {
    const running = this.pulls.get(origin.base);
    if (running?.id !== origin.pull) {
      this.tellPullEnd(origin.pull, ok);
      return;
    }
    this.pulls.delete(origin.base);
    const next = running.next;
    let nothingLeft = false;
    if (next !== null) {
      const peer = origin.base.slice(0, origin.base.indexOf('\0'));
      if (this.config.collections === 'rows' && holdsMarker(this.local(origin.key)))
        this.startPull(peer, origin.key, origin.base, next);
      else nothingLeft = true;
    }
    this.tellPullEnd(origin.pull, ok);
    if (nothingLeft) this.tellPullEnd(next!, true);
  }

  private tellPullEnd(pull: string, ok: boolean): void {
    this.mover.onPullEnd(pull, ok);
    const acks = this.pullAcks.get(pull);
    this.pullAcks.delete(pull);
    if (ok) for (const a of acks ?? []) this.send(a.to, { type: 'replicateAck', op: a.op });
  }

  /**
   * A peer offers a key's state and rows (anti-entropy's stream, op 0, or a hint's replay): the
   * state merged, the rows pulled from it. A replay (op > 0) is acknowledged once a pull that
   * started after it ended well (the hint is then deleted there; one already running may be past
   * the hinted rows), at once when there is nothing to pull; not when the pull cannot start or
   * fails (the hint stays and is replayed again).
   */
  private onRowsOffer(from: NodeId, op: number, key: Uint8Array, state: Versioned): void {
    if (this.mergeInto(key, state) === undefined) return;
    const pull = this.pullRows(from, key);
    if (op === 0 || pull === 'busy') return;
    if (pull === null) {
      this.send(from, { type: 'replicateAck', op });
      return;
    }
    let acks = this.pullAcks.get(pull);
    if (acks === undefined) this.pullAcks.set(pull, (acks = []));
    if (acks.length < limits.dynamoHintReplaysCountMax) acks.push({ to: from, op });
  }

  /** Runs a join of a peer's rows on `key`'s collection; false (counted) when refused. */
  private joinInto(
    key: Uint8Array,
    answer: RowsAnswer,
    local: Versioned,
    f: (dc: DecomposedCollection) => void,
    tell: boolean,
  ): boolean {
    try {
      const h = this.collections.open(key, answer.schema, local);
      if (h instanceof BaristaError) {
        this.stats.mergesRefused++;
        return false;
      }
      h.change(f);
      this.out.syncNeeded = true;
      if (tell) this.onMerged?.(key);
      return true;
    } catch (error) {
      if (!(error instanceof BaristaError)) throw error;
      this.stats.mergesRefused++;
      return false;
    }
  }

  private abandonReadJoin(key: Uint8Array, join: RowJoin): void {
    const dc = this.collections.held(key)?.dc;
    if (dc?.isJoining(join) === true) dc.abandonJoin(join);
  }

  private mergeAnswers(r: ReadOp): Versioned | BaristaError {
    let merged = Versioned.empty();
    try {
      for (const s of r.answers.values()) merged = merged.merge(s);
    } catch (error) {
      if (error instanceof BaristaError) return error;
      throw error;
    }
    return merged;
  }

  /** Every answering replica whose state differs from the merge of all answers gets the merge. */
  private readRepair(r: ReadOp): void {
    if (r.answers.size < 2) return;
    const merged = r.merged?.count === r.answers.size ? r.merged.state : this.mergeAnswers(r);
    if (merged instanceof BaristaError) return; // too many siblings: the client must resolve first
    try {
      merged.encode(); // kept on the state: the repairs below send it
    } catch (error) {
      // Past what an encoding holds (concurrent sides merged: docs/COMPAT-REDIS.md "A key's state
      // size"): no repair, counted; the encoder's LimitError stopped the node (a review, 2026-12-07).
      if (!(error instanceof BaristaError)) throw error;
      this.stats.mergesRefused++;
      return;
    }
    const rows = r.rows !== undefined && r.origin.kind !== 'internal' ? this.rowsRepairs(r) : undefined;
    for (const [node, state] of r.answers) {
      const repair = rows?.(node, merged);
      if (repair !== undefined) {
        this.stats.readRepairs++;
        this.send(node, repair);
        continue;
      }
      // Equal encodings, without making the answer's (equals compares as the encoding would).
      if (state === merged || state.equals(merged)) continue;
      this.stats.readRepairs++;
      if (node === this.id) this.mergeInto(r.key, merged);
      else this.send(node, { type: 'replicate', op: 0, key: r.key, state: merged });
    }
  }

  /**
   * The repair of a peer's rows after a rows read (undefined: none, the state's repair as for any
   * read). Named rows: a peer whose rows of them differ from this replica's (which joined every
   * answer) gets them (`rowsRepair`, joined there as a read's answer: O(named)). Every row: a peer
   * whose count at the read differs from this replica's after its join is offered the rows to pull
   * (`rowsOffer`: O(rows), as the read was). A list's head: none (its peers joined only a head;
   * anti-entropy and hints bring the rest).
   */
  private rowsRepairs(r: ReadOp): ((node: NodeId, merged: Versioned) => ReplicaMessage | undefined) | undefined {
    const rows = r.rows!;
    if (rows.recentJoined !== undefined && holdsMarker(this.local(r.key))) return this.recentRepairs(r);
    if (
      rows.front !== undefined ||
      rows.back === true ||
      rows.fore === true ||
      rows.last !== undefined ||
      !holdsMarker(this.local(r.key))
    )
      return undefined;
    const h = this.collections.held(r.key);
    if (h === undefined) return undefined;
    if (rows.elements === null) {
      const count = h.dc.header.count;
      return (node, merged) => {
        const answer = rows.answers.get(node);
        if (node === this.id || answer === undefined || (answer?.count ?? 0) === count) return undefined;
        return { type: 'rowsOffer', op: 0, key: r.key, state: merged };
      };
    }
    const mine = this.collections.answer(r.key, { kind: 'named', elements: rows.elements });
    if (mine === null || mine.rows.kind !== 'rows') return undefined;
    const named = mine.rows;
    return (node, merged) => {
      if (node === this.id) return undefined;
      const answer = rows.answers.get(node);
      const theirs = answer?.rows.kind === 'rows' ? answer.rows.rows : undefined;
      return rowsRepairOf(r.key, mine, named, theirs, merged);
    };
  }

  /**
   * After a tail read that joined the peers' recent rows (joinRecent): a peer whose rows of those
   * elements differ from this replica's (which joined every answer) gets this replica's rows of
   * them (`rowsRepair`, O(recent)); its other rows were the same.
   */
  private recentRepairs(r: ReadOp): ((node: NodeId, merged: Versioned) => ReplicaMessage | undefined) | undefined {
    const joined = r.rows!.recentJoined!;
    return (node, merged) => {
      const elements = joined.get(node);
      const theirs = r.rows!.answers.get(node)?.recent?.rows;
      if (elements === undefined || elements.length === 0 || theirs === undefined) return undefined;
      const mine = this.collections.answer(r.key, { kind: 'named', elements: elements.map(bytesOfByteString) });
      if (mine === null || mine.rows.kind !== 'rows') return undefined;
      return rowsRepairOf(r.key, mine, mine.rows, theirs, merged);
    };
  }

  private onForwardReply(from: NodeId, op: number, result: ClientResult): void {
    const f = this.ops.get(op);
    if (f?.kind !== 'forward' || f.to !== from) {
      this.stats.staleMessages++;
      return;
    }
    // replicas_unavailable is definite (nothing written): when the ring changes (a move completes)
    // the node asked may no longer replicate the key on its newer ring, so the next live replica
    // of ours is asked, each at most once, within the same deadline.
    if (!result.ok && result.error.code === 'replicas_unavailable') {
      const { replicas } = this.ring.locate(f.request.key, this.config.replicas);
      const next = replicas.find((r) => r !== this.id && !f.tried.has(r) && this.isUp(r));
      if (next !== undefined) {
        f.tried.add(next);
        f.to = next;
        this.stats.forwarded++;
        this.send(next, { type: 'forward', op, request: f.request });
        return;
      }
    }
    this.ops.delete(op);
    this.finish(f.origin, result);
  }

  private expire(op: number, o: Op): void {
    if (o.origin.kind === 'internal') this.endPull(o.origin, false);
    if (o.kind === 'read') {
      for (const { join } of o.rows?.joins.values() ?? []) this.abandonReadJoin(o.key, join);
      for (const node of [...(o.rows?.tails?.keys() ?? [])]) this.endTail(o, node);
      this.untrackRead(o);
      if (!o.replied) {
        this.stats.readTimeouts++;
        const error = new BaristaError('timeout', `${o.answers.size} of ${o.required} replicas answered`, {
          definite: true,
          fields: { answers: o.answers.size, required: o.required },
        });
        this.finish(o.origin, { ok: false, error });
      }
      this.readRepair(o);
      return;
    }
    const isWrite = o.kind === 'write' || o.isWrite;
    if (o.kind === 'write') this.hintSilent(op, o);
    if (isWrite) this.stats.writeTimeouts++;
    else this.stats.readTimeouts++;
    const what =
      o.kind === 'write' ? `${o.acks.size} of ${o.required} replicas acknowledged` : `forwarded to ${o.to}, no answer`;
    // A write that timed out may have been applied (locally at least): indefinite.
    const error = new BaristaError('timeout', what, {
      definite: !isWrite,
      fields: o.kind === 'write' ? { acks: o.acks.size, required: o.required } : { forwardedTo: o.to },
    });
    this.finish(o.origin, { ok: false, error });
  }

  private unavailable(origin: Origin, message: string): void {
    this.stats.unavailable++;
    this.finish(origin, { ok: false, error: new BaristaError('replicas_unavailable', message) });
  }

  private finish(origin: Origin, answer: ClientResult): void {
    const result: ClientResult =
      this.redoing && !answer.ok
        ? {
            ok: false,
            error: new BaristaError(
              'timeout',
              `the write was stored once and could not be made again over what a replica held: ${answer.error.message}`,
              { definite: false },
            ),
          }
        : answer;
    if (origin.kind === 'client') this.out.replies.push({ requestId: origin.requestId, result });
    else if (origin.kind === 'peer') this.send(origin.from, { type: 'forwardReply', op: origin.op, result });
  }

  // --- replica ----------------------------------------------------------------------------------

  private onReplicate(from: NodeId, op: number, key: Uint8Array, state: Versioned): void {
    if (op !== 0) this.onAccess?.(key); // a client's write (op 0: a repair)
    if (this.mergeInto(key, state) === undefined) return;
    if (op !== 0) this.send(from, { type: 'replicateAck', op });
  }

  /**
   * A checked write (ClientRequest.checked): merged as any write, and the ack carries the merged
   * state when this replica held a sibling the write does not supersede (its coordinator had not
   * seen it), so the write can be made again over it, as a read at the level would have found it.
   */
  private onReplicateChecked(from: NodeId, op: number, key: Uint8Array, state: Versioned): void {
    this.onAccess?.(key);
    const merged = this.mergeInto(key, state);
    if (merged === undefined) return;
    const held =
      this.mutations.has('dynamo-checked-held-unreported') || !heldBeyond(merged, state) ? undefined : merged;
    this.send(from, { type: 'checkedAck', op, held });
  }

  /**
   * A checked write's ack: an ack like any other, and a replica that counts and held a sibling the
   * write does not supersede adds the context of what it holds to the write's `reported` before
   * the client is answered (after, as a read at the level would not have waited for it, it is
   * left to read repair and anti-entropy).
   */
  private onCheckedAck(from: NodeId, op: number, held: Versioned | undefined): void {
    const o = this.ops.get(op);
    if (held !== undefined && o?.kind === 'write' && o.redo !== undefined && !o.replied && o.counted.has(from))
      o.reported = o.reported === undefined ? held.context() : o.reported.merge(held.context());
    this.onReplicateAck(from, op);
  }

  /**
   * A checked write reached its level and some replica counted held a sibling it does not
   * supersede: as a read at the level would have seen the join of those, the write is made once
   * more (a new op, a new dot, the same request) over that join and what this replica holds, and
   * the first op ends unanswered (the second's state holds it: its replicas need no hint for it).
   * The second write is not checked: a sibling it meets was written concurrently with it.
   */
  private redoChecked(op: number, w: WriteOp, reported: VectorClock): void {
    this.ops.delete(op);
    this.stats.checkedRedone++;
    // The first write is stored (here and at the replicas that acked): a second refused (too few
    // replicas live now, the state past its bound) leaves the outcome unknown, not refused.
    this.redoing = true;
    try {
      this.coordinate(w.origin, { ...w.redo!, context: reported, checked: false }, false);
    } finally {
      this.redoing = false;
    }
  }

  private onReplicateAck(from: NodeId, op: number): void {
    const o = this.ops.get(op) ?? this.unacked.get(op);
    if (o?.kind === 'write' && o.counted.has(from)) {
      o.acks.add(from);
      this.checkWrite(op, o);
      return;
    }
    const late = this.hintedLate.get(op);
    if (late?.owners.delete(from) === true) {
      if (late.owners.size === 0) this.hintedLate.delete(op);
      // Acked after its hint was kept: the replica has this state. A hint merged with a later
      // write since holds more than that: it stays, for its replay.
      const now = this.store.getHint(from, late.key);
      if (now !== undefined && bytesEqual(stateDigest(now), late.sentDigest)) {
        this.store.deleteHint(from, late.key);
        this.out.syncNeeded = true;
        this.stats.hintsCancelled++;
      }
      return;
    }
    const replay = this.replays.get(op);
    if (replay !== undefined && replay.owner === from) {
      this.replays.delete(op);
      this.replaying.delete(hintKey(replay.owner, replay.key));
      const now = this.store.getHint(replay.owner, replay.key);
      // A hint merged with a newer write while the replay flew stays, for the next pass.
      if (now !== undefined && bytesEqual(now, replay.sent)) {
        this.store.deleteHint(replay.owner, replay.key);
        this.out.syncNeeded = true;
        this.stats.hintsDelivered++;
      }
      return;
    }
    this.stats.staleMessages++;
  }

  private onHint(from: NodeId, op: number, owner: NodeId, key: Uint8Array, state: Versioned): void {
    this.send(from, { type: 'hintAck', op, stored: this.storeHint(owner, key, state) });
  }

  private onHintAck(from: NodeId, op: number, stored: boolean): void {
    const o = this.ops.get(op) ?? this.unacked.get(op);
    if (o?.kind !== 'write') {
      this.stats.staleMessages++;
      return;
    }
    if (stored && o.handedTo?.delete(from) === true) o.hintAcks++;
    this.checkWrite(op, o);
  }

  /** Keeps `state` for `owner`, merged with a hint already held; false when refused. */
  private storeHint(owner: NodeId, key: Uint8Array, state: Versioned): boolean {
    const held = this.store.getHint(owner, key);
    if (held === undefined && this.store.hintCount >= this.config.hintsCountMax) {
      this.stats.hintsRefused++;
      return false;
    }
    let encoded: Uint8Array | undefined;
    try {
      encoded = storableEncoding(held === undefined ? state : Versioned.decode(held).merge(state));
    } catch (error) {
      if (!(error instanceof BaristaError)) throw error;
    }
    if (encoded === undefined) {
      this.stats.mergesRefused++;
      return false;
    }
    this.store.putHint(owner, key, encoded);
    this.out.syncNeeded = true;
    this.stats.hintsStored++;
    return true;
  }

  private replayHints(): void {
    if (this.replays.size >= limits.dynamoHintReplaysCountMax) return;
    // Read as it goes, a down owner's hints passed over together: a peer down for hours behind
    // 100,000 hints cost a read of every hint's state each interval (an audit, 2026-12-07).
    for (const h of this.store.hintsLazy((owner) => !this.isUp(owner))) {
      if (this.replays.size >= limits.dynamoHintReplaysCountMax) return;
      const id = hintKey(h.owner, h.key);
      if (this.replaying.has(id)) continue;
      const op = this.newOp();
      // A collection this node keeps in rows: the owner merges the state and pulls the rows, and
      // acks when a pull that started after the offer ended: it may wait for one running, then its own.
      const rows = this.config.collections === 'rows' && this.store.getHeader(h.key) !== undefined;
      const deadlineTick = rows ? this.deadline() + 2 * this.config.antiEntropyTimeoutTicks : this.deadline();
      this.replays.set(op, { owner: h.owner, key: h.key, sent: h.state, deadlineTick });
      this.replaying.add(id);
      this.stats.hintReplays++;
      this.send(h.owner, { type: rows ? 'rowsOffer' : 'replicate', op, key: h.key, state: Versioned.decode(h.state) });
    }
  }

  // --- anti-entropy -----------------------------------------------------------------------------

  private startRound(peer?: NodeId): boolean {
    if (this.aeRound !== undefined || this.aeJobs.length >= limits.dynamoAntiEntropyJobsCountMax) return false;
    let to = peer;
    if (to === undefined) {
      const others = this.ring.nodes.map((n) => n.id).filter((id) => id !== this.id);
      for (let i = 0; i < others.length && to === undefined; i++) {
        const candidate = others[(this.aeNext + i) % others.length]!;
        if (this.isUp(candidate)) {
          to = candidate;
          this.aeNext = (this.aeNext + i + 1) % others.length;
        }
      }
    }
    if (to === undefined || to === this.id || !this.isUp(to)) return false;
    const op = this.newOp();
    this.aeRound = { peer: to, op, deadlineTick: this.nowTick + this.config.antiEntropyTimeoutTicks };
    this.aeJobs.push({
      kind: 'build',
      peer: to,
      op,
      builder: new MerkleTreeBuilder(WHOLE_RING, this.config.antiEntropyDepth),
      from: null,
      started: false,
      startTick: this.nowTick,
    });
    return true;
  }

  private onMerkle(from: NodeId, m: MerkleMessage): void {
    switch (m.type) {
      case 'treeRequest': {
        const refuse = () => {
          this.stats.antiEntropyRefused++;
          this.sendMerkle(from, { type: 'treeReply', op: m.op, range: m.range, depth: m.depth, status: 'busy' });
        };
        // The same request again (its sender heard nothing yet): the build under way answers it
        // (a build for a request has the peer's root; this node's own round's build has none, and
        // its op, numbered here, may equal the peer's). One answered already: that answer was lost
        // or is on its way, and a second build of the whole store is not worth it: busy ends the
        // sender's round now (stale if the answer came first), and its next round starts afresh.
        if (
          this.aeJobs.some((j) => j.kind === 'build' && j.remoteRoot !== undefined && j.peer === from && j.op === m.op)
        )
          return;
        if (this.aeAnswered.get(from) === m.op)
          return this.sendMerkle(from, { type: 'treeReply', op: m.op, range: m.range, depth: m.depth, status: 'busy' });
        if (this.aeJobs.length >= limits.dynamoAntiEntropyJobsCountMax) return refuse();
        if (!this.ring.nodes.some((n) => n.id === from)) return refuse();
        this.aeJobs.push({
          kind: 'build',
          peer: from,
          op: m.op,
          remoteRoot: m.root,
          builder: new MerkleTreeBuilder(m.range, m.depth),
          from: null,
          started: false,
          startTick: this.nowTick,
        });
        return;
      }
      case 'treeReply': {
        const round = this.aeRound;
        if (round === undefined || round.peer !== from || round.op !== m.op || round.tree === undefined) {
          this.stats.staleMessages++;
          return;
        }
        this.aeRound = undefined;
        if (m.status === 'same') {
          this.stats.antiEntropyInSync++;
          return;
        }
        if (m.status === 'busy' || m.tree === undefined || m.depth !== round.tree.depth) {
          this.stats.antiEntropyRoundsFailed++;
          return;
        }
        if (m.range.start !== round.tree.range.start || m.range.end !== round.tree.range.end) {
          this.stats.antiEntropyRoundsFailed++;
          return;
        }
        const diff = diffTrees(round.tree, m.tree);
        this.stats.antiEntropyLeavesDiffered += diff.leaves.length;
        if (diff.ranges.length === 0) {
          this.stats.antiEntropyInSync++;
          return;
        }
        for (let i = 0; i < diff.ranges.length; i += limits.merkleStreamRangesCountMax) {
          const ranges = diff.ranges.slice(i, i + limits.merkleStreamRangesCountMax);
          this.sendMerkle(from, { type: 'streamRequest', op: m.op, ranges });
        }
        this.startStream(from, m.op, diff.ranges);
        return;
      }
      case 'streamRequest':
        if (!this.ring.nodes.some((n) => n.id === from)) {
          this.stats.antiEntropyRefused++;
          return;
        }
        this.startStream(from, m.op, m.ranges);
        return;
    }
  }

  private startStream(peer: NodeId, op: number, ranges: readonly TokenRange[]): void {
    // A request in several chunks (more ranges than one message holds) joins the round's job; its
    // scan starts over so the new ranges are covered from the first key.
    const same = this.aeJobs.find((j) => j.kind === 'stream' && j.peer === peer && j.op === op);
    // One round differs in at most 2^depth leaves: a peer naming more ranges for one op is refused.
    if (same !== undefined && same.ranges!.length + ranges.length > 1 << limits.merkleTreeLevelsCountMax) {
      this.stats.antiEntropyRefused++;
      return;
    }
    if (same !== undefined) {
      same.ranges = [...same.ranges!, ...ranges];
      same.rangeSet = new TokenRangeSet(same.ranges);
      same.from = null;
      same.started = false;
      return;
    }
    if (this.aeJobs.length >= limits.dynamoAntiEntropyJobsCountMax) {
      this.stats.antiEntropyRefused++;
      return;
    }
    const all = [...ranges];
    this.aeJobs.push({
      kind: 'stream',
      peer,
      op,
      ranges: all,
      rangeSet: new TokenRangeSet(all),
      from: null,
      started: false,
      startTick: this.nowTick,
    });
  }

  /** One page of each job; finished builds answer or wait for the peer, finished streams end. */
  private runAntiEntropy(): void {
    const round = this.aeRound;
    if (round?.tree !== undefined) {
      // The peer builds its tree for as long as the deadline allows (its store may be far larger
      // than ours), but a request or reply lost on the way, or a peer that stopped, would hold this
      // node's anti-entropy (and BARISTA REPAIR) for all of it: a round whose peer the detector
      // calls down ends now, and the request goes again every request timeout (the peer answers a
      // request it is building for once; after a lost reply it builds again).
      if (round.deadlineTick <= this.nowTick || !this.isUp(round.peer)) {
        this.aeRound = undefined;
        this.stats.antiEntropyRoundsFailed++;
      } else if (
        round.resendTick !== undefined &&
        round.resendTick <= this.nowTick &&
        !this.mutations.has('dynamo-tree-request-once')
      ) {
        round.resendTick = this.nowTick + this.config.requestTimeoutTicks;
        this.stats.antiEntropyRequestsResent++;
        this.sendTreeRequest(round.peer, round.op, round.tree);
      }
    }
    const share = this.config.antiEntropyLoopShare;
    for (let i = 0; i < this.aeJobs.length; ) {
      const job = this.aeJobs[i]!;
      const startMs = share < 1 ? this.monotonicMs() : 0;
      if (job.restUntilMs !== undefined && startMs < job.restUntilMs) {
        i++;
        continue;
      }
      const more = this.runJobPage(job);
      if (share < 1) {
        const tookMs = this.monotonicMs() - startMs;
        job.restUntilMs = startMs + Math.min(tookMs / share, tookMs + limits.dynamoAntiEntropyRestMsMax);
      }
      if (more) i++;
      else {
        this.aeJobs.splice(i, 1);
        this.finishJob(job);
      }
    }
  }

  /** Reads one page for `job`; false when the store is exhausted. */
  private runJobPage(job: AeJob): boolean {
    if (job.started && job.from === null) return false;
    job.started = true;
    const page = this.store.scanValues(job.from, this.config.antiEntropyScanEntriesMax, limits.dynamoMovePageBytesMax);
    for (const { key, state } of page.entries) {
      const { token, replicas, pending } = this.ring.locate(key, this.config.replicas);
      const both =
        (replicas.includes(this.id) || pending.includes(this.id)) &&
        (replicas.includes(job.peer) || pending.includes(job.peer));
      if (!both) continue;
      // A collection kept in rows: its leaf mixes the rows' count and digest in, and its stream
      // offers the rows for the peer to pull (rowsOffer) besides the state.
      const header = this.config.collections === 'rows' ? this.store.getHeader(key) : undefined;
      if (job.kind === 'build') {
        if (!rangeContains(job.builder!.range, token)) continue;
        job.builder!.add(token, key, stateDigest(state, header));
      } else if (job.rangeSet!.has(token)) {
        this.stats.antiEntropyValuesStreamed++;
        const type = header === undefined ? 'replicate' : 'rowsOffer';
        this.send(job.peer, { type, op: 0, key, state: Versioned.decode(state) });
      }
    }
    job.from = page.next;
    return page.next !== null;
  }

  private finishJob(job: AeJob): void {
    if (job.kind !== 'build') return;
    const tree = job.builder!.finish();
    if (job.remoteRoot !== undefined) {
      this.aeAnswered.set(job.peer, job.op);
      const same = bytesEqual(tree.root(), job.remoteRoot);
      this.sendMerkle(job.peer, {
        type: 'treeReply',
        op: job.op,
        range: tree.range,
        depth: tree.depth,
        status: same ? 'same' : 'tree',
        ...(same ? {} : { tree }),
      });
      return;
    }
    const round = this.aeRound;
    if (round === undefined || round.op !== job.op) return;
    round.tree = tree;
    // The peer builds its tree only now and pages through a store likely as large as ours: allow
    // it twice the time our own build took, on top of the timeout.
    round.deadlineTick = this.nowTick + this.config.antiEntropyTimeoutTicks + 2 * (this.nowTick - job.startTick);
    round.resendTick = this.nowTick + this.config.requestTimeoutTicks;
    this.stats.antiEntropyRounds++;
    this.sendTreeRequest(job.peer, job.op, tree);
  }

  private sendTreeRequest(peer: NodeId, op: number, tree: MerkleTree): void {
    this.sendMerkle(peer, { type: 'treeRequest', op, range: tree.range, depth: tree.depth, root: tree.root() });
  }

  private sendMerkle(to: NodeId, merkle: MerkleMessage): void {
    this.send(to, { type: 'merkle', op: merkle.op, merkle });
  }

  // --- dot counters and tombstone garbage collection ---------------------------------------------
  //
  // Deleting a key's state forgets the counters its dots used; a later write by this actor would
  // count from 1 again, and a replica still holding the old tombstone (its pass has not run yet, or
  // it was down) would take the new write for one its tombstone superseded and drop it. So the
  // actor's counters are one sequence over all keys (counterFloor), reserved durably in blocks: a
  // restarted node resumes above everything it may have handed out. Under a sync policy that may
  // lose writes each life is a new actor (driver.ts) and its counters start over safely.

  /** A counter of the node's sequence for a collection header's own replica id (collectionActor). */
  private takeEpoch(): number {
    const epoch = this.counterFloor + 1;
    this.advanceCounterFloor(epoch);
    return epoch;
  }

  private advanceCounterFloor(used: number): void {
    if (this.mutations.has('dynamo-counter-per-key')) return;
    if (used <= this.counterFloor) return;
    this.counterFloor = used;
    if (used > this.counterReserved) {
      this.counterReserved = used + DOT_COUNTER_BLOCK;
      // Written in the step that used the counter: the step's sync covers it before any ack.
      this.store.putMeta(DOT_COUNTER_META, encodeCounterReservation(this.counterReserved));
      this.out.syncNeeded = true;
    }
  }

  /**
   * One page of the garbage-collection pass (a new pass every gcIntervalTicks): a key whose every
   * sibling is dead — a tombstone since its timestamp, a value since its deadline — for longer than
   * tombstoneGraceMs is deleted. A replica that missed the delete and comes back after the grace
   * brings the value back (as in Cassandra: the grace must outlast repairs and outages). A rows
   * layout marker that emptied its collection is dead since its write, while this replica holds
   * no row of the key (since 2026-12-06: before, every emptied list, set or hash stayed for good,
   * a work queue's key and header on every replica; the marker's `seen` goes with it).
   */
  private collectGarbage(wallMs: number): void {
    if (this.gcFrom === undefined) {
      if (this.nowTick % this.config.gcIntervalTicks !== 0) return;
      this.gcFrom = null;
    }
    const page = this.store.scanValues(
      this.gcFrom,
      this.config.antiEntropyScanEntriesMax,
      limits.dynamoMovePageBytesMax,
    );
    for (const { key, state } of page.entries) {
      const v = Versioned.decode(state);
      let deadSince = 0;
      let dead = v.siblings.length > 0;
      /** Dead as an emptied marker (not past a deadline): rows here keep the key. */
      let emptied = false;
      for (const s of v.siblings) {
        const empty = s.value !== null && !isExpired(s, wallMs) && markerOf(s.value, s.crdt)?.count === 0;
        if (empty) emptied = true;
        const since =
          s.value === null ? s.ts.wallMs : isExpired(s, wallMs) ? s.expiresAtMs! : empty ? s.ts.wallMs : undefined;
        if (since === undefined) {
          dead = false;
          break;
        }
        deadSince = Math.max(deadSince, since);
      }
      if (!dead || deadSince + this.config.tombstoneGraceMs > wallMs) continue;
      // Rows here (added unseen by an emptying, or its removal not here yet) keep a key an emptied
      // marker left; an expired collection goes with its rows, as before (a review of 1d7c170
      // found expired hashes kept for good when the check covered them too).
      if (emptied && (storedCollectionCount(this.store, key) ?? 0) > 0) continue;
      this.onStored?.(key, -storedValueBytes(key, v, state.length));
      this.store.delete(key);
      this.collections.drop(key);
      this.out.syncNeeded = true; // not for safety (a lost delete is collected again): the store contract
      this.stats.tombstonesCollected++;
    }
    this.gcFrom = page.next ?? undefined;
  }

  // --- local state ------------------------------------------------------------------------------

  private local(key: Uint8Array): Versioned {
    return this.stored(key).state;
  }

  /** The key's local state and its encoded length (0: none stored). */
  private stored(key: Uint8Array): StoredState {
    const bytes = this.store.get(key);
    return bytes === undefined
      ? { state: Versioned.empty(), length: 0 }
      : { state: Versioned.decode(bytes), length: bytes.length };
  }

  /** Merges `state` into the key's local state and persists a change; false when refused. */
  private mergeInto(key: Uint8Array, state: Versioned): Versioned | undefined {
    const { state: held, length: heldLength } = this.stored(key);
    let merged: Versioned;
    // undefined: nothing new to store (the merge is what this replica holds).
    let encoded: Uint8Array | undefined;
    try {
      merged = held.merge(state);
      if (!merged.equals(held)) {
        encoded = storableEncoding(merged);
        if (encoded === undefined) throw new LimitError('dynamoMergedStateBytesMax', 'merged state too large');
      }
    } catch (error) {
      if (!(error instanceof BaristaError)) throw error;
      this.stats.mergesRefused++;
      return undefined;
    }
    if (encoded !== undefined) {
      const heldBytes = this.onStored === undefined ? 0 : storedValueBytes(key, held, heldLength);
      // An emptied marker's removals before the marker (a crash keeps a prefix of the writes: the
      // marker kept without them would never be applied again, being held).
      if (this.config.collections === 'rows') this.applyEmptied(key, held, merged);
      this.store.put(key, encoded);
      this.onStored?.(key, storedValueBytes(key, merged, encoded.length) - heldBytes);
      this.out.syncNeeded = true;
      if (this.config.collections === 'rows') this.collections.settle(key, merged);
      this.onMerged?.(key);
    }
    return merged;
  }

  private send(to: NodeId, message: ReplicaMessage): void {
    this.out.messages.push({ to, message });
  }

  private newOp(): number {
    return this.nextOp++;
  }

  private deadline(): number {
    return this.nowTick + this.config.requestTimeoutTicks;
  }

  private flush(): Output {
    const out = this.out;
    this.out = emptyOutput();
    return out;
  }
}

/** Whether `merged` (a replica's state after merging `state` in) holds a sibling `state` does not. */
function heldBeyond(merged: Versioned, state: Versioned): boolean {
  const ours = state.siblings;
  for (const s of merged.siblings) if (!ours.some((o) => sameDot(o.dot, s.dot))) return true;
  return false;
}

/**
 * A stored state's bytes as maxmemory counts them at N > 1: its key, its encoded state and
 * STORED_VALUE_OVERHEAD_BYTES while any sibling holds a value (expired ones too, until garbage
 * collection reclaims them, as N = 1 counts expired keys until reclaimed); 0 for tombstones only.
 */
export function storedValueBytes(key: Uint8Array, state: Versioned, encodedLength: number): number {
  for (const s of state.siblings) if (s.value !== null) return key.length + encodedLength + STORED_VALUE_OVERHEAD_BYTES;
  return 0;
}

/**
 * Records the store's layout of collections at its first open (true: recorded, to sync), or
 * refuses a replica configured with the other one (ConfigError: the node does not start). A store
 * written before the record existed is read for its collections (collectionsLayoutHeld): one kept
 * in the other layout is refused the same way; one holding none takes the configured layout.
 */
function checkCollectionsLayout(store: ReplicaStore, configured: 'whole' | 'rows'): boolean {
  const held = store.getMeta(COLLECTIONS_LAYOUT_META);
  if (held === undefined) {
    const found = collectionsLayoutHeld(store);
    if (found !== undefined && found !== configured) throw layoutConflict(configured, found);
    store.putMeta(COLLECTIONS_LAYOUT_META, new TextEncoder().encode(configured));
    return true;
  }
  const layout = new TextDecoder().decode(held);
  if (layout !== 'whole' && layout !== 'rows')
    throw new CorruptionError(
      `the store's layout of collections is unreadable: ${JSON.stringify(layout.slice(0, 32))}`,
    );
  if (layout !== configured) throw layoutConflict(configured, layout);
  return false;
}

export function layoutConflict(configured: 'whole' | 'rows', layout: 'whole' | 'rows'): ConfigError {
  return new ConfigError(
    'store.replication.collections',
    `is ${configured}, but this node's data directory keeps collections in the ${layout} layout (a layout is fixed when the store is first written; the other cannot read its sets, hashes and lists): set it back to ${layout}, or wipe this node's data directory and start it with \`barista node --rejoin\``,
  );
}

/**
 * The layout of collections a store keeps: its record, or for a store written before the record
 * what its values show (collectionsLayoutHeld, then recorded: the store's own, so the walk is made
 * once); undefined for a store that has neither (new, or strings and counters only), which takes
 * whatever layout it is opened with.
 */
export function storedCollectionsLayout(store: ReplicaStore): 'whole' | 'rows' | undefined {
  const held = store.getMeta(COLLECTIONS_LAYOUT_META);
  if (held === undefined) {
    const found = collectionsLayoutHeld(store);
    if (found !== undefined) store.putMeta(COLLECTIONS_LAYOUT_META, new TextEncoder().encode(found));
    return found;
  }
  const layout = new TextDecoder().decode(held);
  return layout === 'whole' || layout === 'rows' ? layout : undefined; // unreadable: the open says so
}

/**
 * The keyspace settings this store's node last checked against the ring (src/services/store/
 * keyspace-settings.ts), as the text `N layout` ("3 rows"); undefined when never checked.
 * Unreadable bytes are corruption.
 */
export const KEYSPACE_SETTINGS_META = 'keyspace-settings';

export function checkedKeyspaceSettings(store: ReplicaStore): KeyspaceSettings | undefined {
  const bytes = store.getMeta(KEYSPACE_SETTINGS_META);
  if (bytes === undefined) return undefined;
  const text = new TextDecoder().decode(bytes);
  const m = /^([0-9]{1,2}) (whole|rows)$/.exec(text);
  if (m === null)
    throw new CorruptionError(
      `the store's checked keyspace settings are unreadable: ${JSON.stringify(text.slice(0, 32))}`,
    );
  return { replicas: Number(m[1]), collections: m[2] as 'whole' | 'rows' };
}

export function recordKeyspaceSettings(store: ReplicaStore, settings: KeyspaceSettings): void {
  store.putMeta(KEYSPACE_SETTINGS_META, new TextEncoder().encode(`${settings.replicas} ${settings.collections}`));
}

/**
 * The layout a store written before the layout record kept its collections in, read from its
 * values (once, at the first open of such a store): a collection marker is the rows layout's, an
 * OR-Set or OR-Map value (a set, hash, list or sorted set kept whole) the whole layout's; undefined
 * when it holds neither (strings and counters read alike in both).
 */
export function collectionsLayoutHeld(store: ReplicaStore): 'whole' | 'rows' | undefined {
  for (let from: Uint8Array | null = null; ; ) {
    const page = store.scanValues(from, 256, limits.dynamoMovePageBytesMax);
    for (const e of page.entries) {
      for (const s of Versioned.decode(e.state).siblings) {
        if (s.value === null || s.crdt !== true) continue;
        const type = crdtTypeOf(s.value);
        if (type === 'marker') return 'rows';
        if (type === 'orset' || type === 'ormap') return 'whole';
      }
    }
    if (page.next === null) return undefined;
    from = page.next;
  }
}

/**
 * A `rowsRepair` of this replica's named rows (`mine`, `named` its rows) for a peer whose rows of
 * them (`theirs`; undefined: none answered) differ; undefined when they are the same.
 */
function rowsRepairOf(
  key: Uint8Array,
  mine: RowsAnswer,
  named: Extract<RowsAnswer['rows'], { kind: 'rows' }>,
  theirs: ReadonlyMap<ByteString, Row> | undefined,
  merged: Versioned,
): ReplicaMessage | undefined {
  const same =
    theirs !== undefined &&
    named.elements.every((e) => {
      const a = named.rows.get(e);
      const b = theirs.get(e);
      return a === undefined ? b === undefined : b !== undefined && sameRow(mine.schema, a, b);
    });
  return same ? undefined : { type: 'rowsRepair', op: 0, key, state: merged, rows: { ...mine, rows: named } };
}

/**
 * A merged state's encoding, or undefined past dynamoMergedStateBytesMax (what a replica keeps so
 * that every message carrying its state fits); the encoder's own LimitError (past 16 MiB) is the
 * caller's to catch. Such a state is concurrent writes from several sides of a partition, each
 * within dynamoStateBytesMax, merged (docs/COMPAT-REDIS.md "A key's state size"): the merge is
 * refused and counted, as a merge the CRDT refuses. Encoded outside the merge's try, the
 * LimitError stopped the node; kept past what messages carry, it stalled ring moves (audits,
 * 2026-12-07).
 */
function storableEncoding(merged: Versioned): Uint8Array | undefined {
  const encoded = merged.encode();
  return encoded.length > limits.dynamoMergedStateBytesMax ? undefined : encoded;
}
