// A synchronous, deterministic in-test network of DynamoReplica nodes (after src/raft/testing.ts):
// one MemoryReplicaStore per node, every peer message encoded and decoded through messages.ts, and
// faults: random drops, partitions (groups), node down/up, crash (the store loses what was not
// synced), and crash in the middle of a step (the step's writes are never synced, its output is
// lost). The driver contract of replica.ts is kept: after a step whose output says syncNeeded the
// store is synced BEFORE its messages are queued and its replies recorded.
//
// The liveness view a node gets (isUp) is exact (the other node is up and in the same partition
// group) except for nodes in `suspected`, which every view calls down while they are up (a failure
// detector's false positive: writes go to hints although the owner is alive). Drops model the
// other mistake (a node called up that does not answer).
//
// Invariants checked after every step (checkStep), with a client-side history of every write:
//   - no store rolls back: each node's state of a key only grows causally, across crashes;
//   - an acknowledged write at level k is held durably (or superseded) by at least k of the key's
//     replicas from its ack on (1 for ONE/ANY);
//   - a read that began after a write was acknowledged, with R + W > N, returns it or a successor;
//   - stored hints stay within their bound.
// checkConverged (after heal + settle) checks what only healing can give: no hint left, every
// replica of a key holds the same encoded state, and every acknowledged write is in it as a
// sibling with its value or superseded by a write whose context covered it.

import type { NodeId } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import type { HlcTimestamp } from '../lib/clocks/hlc.ts';
import type { VectorClock } from '../lib/clocks/vector.ts';
import type { Mutations } from '../lib/mutations.ts';
import { SeededRng } from '../lib/rng.ts';
import { type ClientResult, decodeMessage, encodeMessage, type Level } from './messages.ts';
import { DynamoReplica, levelCount, type Output, type ReplicaConfig, storedValueBytes } from './replica.ts';
import { chooseTokens, Ring } from './ring.ts';
import { keyBytes, MemoryReplicaStore, type ReplicaStore, STORED_VALUE_OVERHEAD_BYTES } from './store.ts';
import { type Dot, emptyContext, type Sibling, Versioned } from './versions.ts';
import type { TypedOp } from './typed.ts';

/** Rounds of delivery and ticks before settle() declares a livelock. */
const SETTLE_ROUNDS_MAX = 10_000;

export interface TestNode {
  readonly id: NodeId;
  replica: DynamoReplica;
  readonly store: MemoryReplicaStore;
  up: boolean;
  /** Partition group; nodes talk only within a group. */
  group: number;
}

interface InFlight {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly bytes: Uint8Array;
}

export interface AckedWrite {
  readonly key: string;
  readonly value: string;
  readonly dot: Dot;
  readonly level: Level;
}

interface PendingRequest {
  readonly kind: 'get' | 'put';
  readonly key: string;
  readonly level: Level;
  readonly value?: string;
  /** Writes acknowledged before this read (or checked write) began. */
  readonly ackedBefore: readonly AckedWrite[];
  /** A checked write (ClientRequest.checked): it must supersede what a read at its level would see. */
  readonly checked?: boolean;
  /** A delete's timestamp (unique per request here): its tombstone sibling is found by it. */
  readonly deleteTs?: HlcTimestamp;
}

export interface ClusterOptions {
  readonly ids: readonly NodeId[];
  readonly seed: number | string;
  readonly config?: Partial<Omit<ReplicaConfig, 'id'>>;
  /** Virtual nodes per node. */
  readonly tokensPerNode?: number;
  /** A node that is joining (pending replica of the ranges it will take), not yet owning. */
  readonly joining?: NodeId;
  /** Planted bugs for every replica. */
  readonly mutations?: Mutations;
  /** Each node's monotonic clock (ReplicaDeps.monotonicMs); none by default. */
  readonly monotonicMs?: () => number;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

export function covers(clock: VectorClock, dot: Dot): boolean {
  return clock.get(dot.replica) >= dot.counter;
}

export class DynamoCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  readonly rng: SeededRng;
  /** The ring every node holds (setRing changes it on all nodes at once). */
  ring: Ring;
  readonly config: Omit<ReplicaConfig, 'id'>;
  queue: InFlight[] = [];
  dropRate = 0;
  /** Nodes every liveness view wrongly calls down. */
  readonly suspected = new Set<NodeId>();
  /** Replies by request id. */
  readonly results = new Map<number, ClientResult>();
  readonly acked: AckedWrite[] = [];
  /** Acknowledged deletes (value '<deleted>'), for the read and checked-write invariants. */
  readonly ackedDeletes: AckedWrite[] = [];
  /** Check invariants after every step (default true). */
  checkInvariants = true;
  private readonly pending = new Map<number, PendingRequest>();
  private nextRequestId = 1;
  private wallMs = 1;
  private restarts = 0;
  /** Last synced state per node and key (what a crash must not roll back past). */
  private readonly durable = new Map<string, Versioned>();
  private readonly mutations: Mutations | undefined;
  private readonly monotonicMs: (() => number) | undefined;

  constructor(opts: ClusterOptions) {
    this.rng = new SeededRng(opts.seed);
    this.mutations = opts.mutations;
    this.monotonicMs = opts.monotonicMs;
    this.config = { replicas: 3, requestTimeoutTicks: 5, hintReplayIntervalTicks: 2, ...opts.config };
    let ring = Ring.empty();
    const tokenRng = this.rng.fork('tokens');
    for (const id of opts.ids) ring = ring.bootstrap(id, chooseTokens(tokenRng, opts.tokensPerNode ?? 4, ring));
    const all = [...opts.ids];
    if (opts.joining !== undefined) {
      ring = ring.beginJoin(opts.joining, chooseTokens(tokenRng, opts.tokensPerNode ?? 4, ring));
      all.push(opts.joining);
    }
    this.ring = ring;
    for (const id of all) {
      const store = new MemoryReplicaStore();
      const node: TestNode = { id, store, up: true, group: 0, replica: undefined as never };
      node.replica = this.makeReplica(id, store);
      this.nodes.set(id, node);
    }
  }

  private makeReplica(id: NodeId, store: MemoryReplicaStore): DynamoReplica {
    return new DynamoReplica(
      { ...this.config, id },
      {
        store,
        ring: this.ring,
        rng: this.rng.fork(`${id}#${this.restarts++}`),
        isUp: (to) => this.reachable(id, to) && !this.suspected.has(to),
        ...(this.mutations === undefined ? {} : { mutations: this.mutations }),
        ...(this.monotonicMs === undefined ? {} : { monotonicMs: this.monotonicMs }),
      },
    );
  }

  /** A new ring on every node at once (a ring change the metadata group committed), and the checks use it. */
  setRing(ring: Ring): void {
    this.ring = ring;
    for (const n of this.nodes.values()) n.replica.setRing(ring);
    this.checkStep();
  }

  /** Adds a node outside the ring (empty store), to join it. */
  addNode(id: NodeId): TestNode {
    assert(!this.nodes.has(id), `node ${id} exists`);
    const store = new MemoryReplicaStore();
    const node: TestNode = { id, store, up: true, group: 0, replica: undefined as never };
    node.replica = this.makeReplica(id, store);
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    assert(n !== undefined, `no node ${id}`);
    return n;
  }

  reachable(from: NodeId, to: NodeId): boolean {
    const a = this.node(from);
    const b = this.node(to);
    return a.up && b.up && a.group === b.group;
  }

  /** The key's preference list. */
  replicasOf(key: string): readonly NodeId[] {
    return this.ring.locate(utf8.encode(key), this.config.replicas).replicas;
  }

  pendingOf(key: string): readonly NodeId[] {
    return this.ring.locate(utf8.encode(key), this.config.replicas).pending;
  }

  // --- faults -----------------------------------------------------------------------------------

  /** Node goes down (it keeps its store, synced or not, and its in-memory state). */
  down(id: NodeId): void {
    this.node(id).up = false;
  }

  up(id: NodeId): void {
    this.node(id).up = true;
  }

  /** The process dies: unsynced writes and all in-memory state are lost; it stays down. */
  crash(id: NodeId): void {
    const n = this.node(id);
    n.up = false;
    n.store.crash();
    n.replica = this.makeReplica(id, n.store);
    this.checkStep();
  }

  /** Delivers message `index` and crashes the receiver before it syncs or sends anything. */
  deliverAndCrash(index: number): void {
    const [m] = this.queue.splice(index, 1);
    if (m === undefined) return;
    const n = this.node(m.to);
    if (n.up) n.replica.receive(m.from, decodeMessage(m.bytes));
    this.crash(m.to);
  }

  partition(groups: readonly (readonly NodeId[])[]): void {
    groups.forEach((g, i) => {
      for (const id of g) this.node(id).group = i + 1;
    });
  }

  heal(): void {
    this.dropRate = 0;
    this.suspected.clear();
    for (const n of this.nodes.values()) {
      n.group = 0;
      n.up = true;
    }
  }

  // --- clients ----------------------------------------------------------------------------------

  /**
   * A write of `value` over `context`; 'checked': a siblings keyspace's SET (ClientRequest.checked),
   * which must supersede every write a read at its level would have seen (checked at its ack).
   */
  put(
    at: NodeId,
    key: string,
    value: string | null,
    level: Level,
    context: VectorClock | 'checked' = emptyContext(),
  ): number {
    const id = this.nextRequestId++;
    const ts = { wallMs: this.wallMs++, logical: 0 };
    const checked = context === 'checked';
    this.pending.set(id, {
      kind: 'put',
      key,
      level,
      ...(value === null ? { deleteTs: ts } : { value }),
      ackedBefore: checked ? this.ackedOf(key) : [],
      ...(checked ? { checked } : {}),
    });
    const v = value === null ? null : utf8.encode(value);
    const n = this.node(at);
    assert(n.up, `client request at down node ${at}`);
    const over = checked ? { context: emptyContext(), overHeld: true, checked: true } : { context };
    this.process(n, n.replica.request(id, { kind: 'put', key: utf8.encode(key), value: v, level, ts, ...over }));
    return id;
  }

  /** A typed operation (counters, sets, hashes) at `at`; acknowledged writes of it are not tracked by value. */
  typed(at: NodeId, key: string, op: TypedOp, level: Level): number {
    const id = this.nextRequestId++;
    const ts = { wallMs: this.wallMs++, logical: 0 };
    this.pending.set(id, { kind: 'put', key, level, ackedBefore: [] });
    const n = this.node(at);
    assert(n.up, `client request at down node ${at}`);
    const req = { kind: 'put' as const, key: utf8.encode(key), value: null, op, context: emptyContext(), level, ts };
    this.process(n, n.replica.request(id, req));
    return id;
  }

  get(at: NodeId, key: string, level: Level): number {
    const id = this.nextRequestId++;
    this.pending.set(id, { kind: 'get', key, level, ackedBefore: this.ackedOf(key) });
    const n = this.node(at);
    assert(n.up, `client request at down node ${at}`);
    this.process(n, n.replica.request(id, { kind: 'get', key: utf8.encode(key), level }));
    return id;
  }

  /** A rows read (the rows layout) of `elements` (null: every row; with `front`, a list's head). */
  rows(
    at: NodeId,
    key: string,
    level: Level,
    elements: readonly string[] | null,
    front?: number,
    back?: true,
    last?: number,
    wholeIfSame?: true,
    fore?: true,
  ): number {
    const id = this.nextRequestId++;
    this.pending.set(id, { kind: 'get', key, level, ackedBefore: [] });
    const n = this.node(at);
    assert(n.up, `client request at down node ${at}`);
    const named = elements === null ? null : elements.map((e) => utf8.encode(e));
    const req = { kind: 'rows' as const, key: utf8.encode(key), level, elements: named };
    this.process(
      n,
      n.replica.request(id, {
        ...req,
        ...(front === undefined ? {} : { front }),
        ...(back === undefined ? {} : { back }),
        ...(last === undefined ? {} : { last }),
        ...(wholeIfSame === undefined ? {} : { wholeIfSame }),
        ...(fore === undefined ? {} : { fore }),
      }),
    );
    return id;
  }

  result(id: number): ClientResult | undefined {
    return this.results.get(id);
  }

  // --- scheduling -------------------------------------------------------------------------------

  /** Delivers message `index` of the queue (dropped if lost or unreachable). */
  deliver(index = 0): void {
    const [m] = this.queue.splice(index, 1);
    if (m === undefined) return;
    if (!this.reachable(m.from, m.to) || (this.dropRate > 0 && this.rng.float() < this.dropRate)) return;
    const n = this.node(m.to);
    this.process(n, n.replica.receive(m.from, decodeMessage(m.bytes)));
  }

  deliverAll(): void {
    for (let i = 0; this.queue.length > 0; i++) {
      assert(i < SETTLE_ROUNDS_MAX * 100, 'message storm');
      this.deliver(0);
    }
  }

  /** One tick on every node that is up; `wallMs`: their wall clock (tombstone garbage collection). */
  tick(wallMs?: number): void {
    for (const n of this.nodes.values()) if (n.up) this.process(n, n.replica.tick(wallMs));
  }

  /** Delivers and ticks until no message, op, unacknowledged write or hint is left (all nodes must be reachable). */
  settle(): void {
    for (let round = 0; ; round++) {
      assert(round < SETTLE_ROUNDS_MAX, 'settle: livelock');
      this.deliverAll();
      const busy = [...this.nodes.values()].some(
        (n) => n.replica.inflightOps > 0 || n.replica.unackedWrites > 0 || n.store.hintCount > 0,
      );
      if (!busy) return;
      this.tick();
    }
  }

  private process(n: TestNode, out: Output): void {
    if (out.syncNeeded) n.store.sync();
    assert(!n.store.dirty, `${n.id} would send before syncing`);
    for (const { to, message } of out.messages) this.queue.push({ from: n.id, to, bytes: encodeMessage(message) });
    for (const { requestId, result } of out.replies) this.onReply(requestId, result);
    this.checkStep();
  }

  private onReply(id: number, result: ClientResult): void {
    assert(!this.results.has(id), `request ${id} answered twice`);
    this.results.set(id, result);
    const p = this.pending.get(id);
    assert(p !== undefined, `reply to unknown request ${id}`);
    this.pending.delete(id);
    if (!result.ok || !this.checkInvariants) {
      if (result.ok && p.kind === 'put') this.recordAck(p, result.state);
      return;
    }
    const n = this.replicasOf(p.key).length;
    if (p.kind === 'put') {
      const s = this.recordAck(p, result.state);
      if (p.checked !== true || s === undefined) return;
      // As a read at the level then a write over its context: the write's past covers every write
      // acknowledged before it began on replicas enough to overlap the ones counted for it.
      for (const w of p.ackedBefore) {
        if (levelCount(w.level, n)! + levelCount(p.level, n)! <= n) continue;
        assert(
          covers(s.past, w.dot),
          `checked write ${p.value ?? '(a delete)'} at ${p.level} left ${w.value} (acked at ${w.level}) a sibling`,
        );
      }
      return;
    }
    // R + W > N: the read overlaps every quorum that acknowledged a write before it began.
    const ctx = result.state.context();
    for (const w of p.ackedBefore) {
      if (levelCount(w.level, n)! + levelCount(p.level, n)! <= n) continue;
      assert(covers(ctx, w.dot), `read of ${p.key} at ${p.level} missed ${w.value} acked at ${w.level}`);
    }
  }

  /** The writes of `key` acknowledged so far, deletes included. */
  private ackedOf(key: string): AckedWrite[] {
    return [...this.acked, ...this.ackedDeletes].filter((w) => w.key === key);
  }

  private recordAck(p: PendingRequest, state: Versioned): Sibling | undefined {
    if (p.deleteTs !== undefined) {
      // Deletes are tracked apart (`acked` is by value): by their tombstone's timestamp.
      const ts = p.deleteTs;
      const s = state.siblings.find(
        (x) => x.value === null && x.ts.wallMs === ts.wallMs && x.ts.logical === ts.logical,
      );
      assert(s !== undefined, `acked delete of ${p.key} not in the state the coordinator returned`);
      this.ackedDeletes.push({ key: p.key, value: '<deleted>', dot: s.dot, level: p.level });
      return s;
    }
    if (p.value === undefined) return undefined; // typed operations are not tracked
    const s = state.siblings.find((x) => x.value !== null && text.decode(x.value) === p.value);
    assert(s !== undefined, `acked write ${p.value} not in the state the coordinator returned`);
    this.acked.push({ key: p.key, value: p.value, dot: s.dot, level: p.level });
    return s;
  }

  // --- invariants -------------------------------------------------------------------------------

  stateOf(id: NodeId, key: string): Versioned {
    return this.node(id).replica.peek(utf8.encode(key));
  }

  checkStep(): void {
    // Always (the rows tests turn the rest off): a pull's slot holds its read alone, within the bound.
    for (const n of this.nodes.values()) {
      const problem = n.replica.pullsProblem();
      assert(problem === null, `${n.id}: ${problem}`);
    }
    if (!this.checkInvariants) return;
    for (const n of this.nodes.values()) {
      assert(n.store.hintCount <= n.replica.config.hintsCountMax, `${n.id} holds too many hints`);
      for (const [k] of n.store.values()) {
        const id = `${n.id}\0${k}`;
        const now = n.replica.peek(keyBytes(k));
        const before = this.durable.get(id);
        if (before !== undefined) {
          const order = before.context().compare(now.context());
          assert(order === 'before' || order === 'equal', `${n.id} rolled back key ${k}`);
        }
        if (!n.store.dirty) this.durable.set(id, now);
      }
    }
    for (const w of [...this.acked, ...this.ackedDeletes]) {
      const replicas = this.replicasOf(w.key);
      const holding = replicas.filter((r) => covers(this.stateOf(r, w.key).context(), w.dot)).length;
      // ANY too: the coordinator is a replica and writes locally before any ack.
      const need = levelCount(w.level, replicas.length)!;
      assert(holding >= need, `acked write ${w.value} (${w.level}) held by ${holding} replicas, needs ${need}`);
    }
  }

  /** After heal() and settle(), and a read at ALL of every key: what healing must give. */
  checkConverged(keys: readonly string[]): void {
    for (const n of this.nodes.values()) assert(n.store.hintCount === 0, `${n.id} still holds hints`);
    for (const key of keys) {
      const replicas = this.replicasOf(key);
      const first = this.stateOf(replicas[0]!, key);
      for (const r of replicas) assert(this.stateOf(r, key).equals(first), `replicas of ${key} differ at ${r}`);
      for (const w of this.ackedOf(key)) {
        const deleted = this.ackedDeletes.includes(w);
        const kept = first.siblings.some(
          (s) =>
            s.dot.replica === w.dot.replica &&
            s.dot.counter === w.dot.counter &&
            (deleted ? s.value === null : s.value !== null && text.decode(s.value) === w.value),
        );
        const superseded = first.siblings.some((s) => covers(s.past, w.dot));
        assert(kept || superseded, `acknowledged write ${w.value} of ${key} is lost`);
      }
    }
  }
}

/**
 * What `store` holds as maxmemory prices it, read value by value and, for a collection kept in
 * rows, its header and every row (what the count must equal: rows-memory.test.ts,
 * replicated-memory.test.ts).
 */
export function pricedWalk(store: ReplicaStore): number {
  let sum = 0;
  for (let from: Uint8Array | null = null; ; ) {
    const page = store.scanValues(from, 100);
    for (const e of page.entries) {
      sum += storedValueBytes(e.key, Versioned.decode(e.state), e.state.length);
      const header = store.getHeader(e.key);
      if (header === undefined) continue;
      sum += e.key.length + header.length + STORED_VALUE_OVERHEAD_BYTES;
      for (let at: Uint8Array | null = new Uint8Array(0); at !== null; ) {
        const rows = store.scanRows(e.key, at, 100);
        for (const r of rows.entries)
          sum += e.key.length + r.element.length + r.row.length + STORED_VALUE_OVERHEAD_BYTES;
        at = rows.next;
      }
    }
    if (page.next === null) return sum;
    from = page.next;
  }
}
