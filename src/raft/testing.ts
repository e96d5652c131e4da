// A synchronous, deterministic in-test network of RaftNodes (after etcd's `network` in
// raft_test.go), used by the Raft tests and reusable by others. Each node has a MemoryRaftStorage
// and a tiny state machine (the list of applied commands). `stabilize()` repeats, until nothing
// changes: take each node's Ready, PERSIST it to storage, queue its messages, apply its committed
// entries, advance; then deliver every queued message. Faults: cut/isolate links, drop message
// types, a custom filter, random drops, crash/restart (restart = a new RaftNode built from the
// persisted storage; everything unpersisted and in flight to the node is lost).
//
// Every step (Ready processed, message delivered) is followed by RaftInvariants.observe over all
// live nodes, and every applied entry goes through RaftInvariants.recordApplied.

import type { Rng } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { SeededRng } from '../lib/rng.ts';
import { type LogView, type NodeObservation, RaftInvariants } from './invariants.ts';
import { type FollowerRegression, RaftNode, type RaftOptions, type Ready } from './raft.ts';
import { MemoryRaftStorage } from './storage.ts';
import { type Entry, EntryType, type Message, MsgType, type NodeId, type ReadState } from './types.ts';

/** Stabilize rounds before declaring a livelock in a test. */
const STABILIZE_ROUNDS_MAX = 10_000;

export type NodeOptionsOverride = Partial<Omit<RaftOptions, 'id' | 'storage' | 'rng'>>;

export interface TestNode {
  readonly id: NodeId;
  raft: RaftNode;
  /** Replaced only by wipe(). */
  storage: MemoryRaftStorage;
  /** Applied Normal commands, as text, in order (the test state machine). */
  appliedCommands: string[];
  appliedIndex: number;
  readStates: ReadState[];
  up: boolean;
  /** Started outside the bootstrap config (joins through a membership change). */
  readonly outsider: boolean;
  /** Readies processed, messages sent (for flow-control tests). */
  sentMessages: Message[];
  /** Leader: followers reported to have lost acknowledged entries (Ready.followerRegressions). */
  followerRegressions: FollowerRegression[];
}

export interface ClusterOptions {
  readonly ids: readonly NodeId[];
  /** Bootstrap learners (in addition to ids as voters unless listed here). */
  readonly learners?: readonly NodeId[];
  /** Ids that start outside the config (joining later). */
  readonly outsiders?: readonly NodeId[];
  readonly seed?: string | number;
  readonly options?: NodeOptionsOverride;
  readonly perNode?: Readonly<Record<NodeId, NodeOptionsOverride>>;
  /** Check invariants after every step (default true). */
  readonly checkInvariants?: boolean;
  /** Keep a log of every sent message per node (default false). */
  readonly recordMessages?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function cmd(text: string): Uint8Array {
  return encoder.encode(text);
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  readonly invariants = new RaftInvariants();
  readonly rng: SeededRng;
  private readonly opts: ClusterOptions;
  private readonly voters: NodeId[];
  private readonly learners: NodeId[];
  private queue: Message[] = [];
  private readonly cutLinks = new Set<string>();
  private readonly ignored = new Set<number>();
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined;
  /** Replace a message in flight (undefined = drop); runs after `filter`. */
  rewrite: ((m: Message) => Message | undefined) | undefined;
  /** Probability in [0, 1) of dropping any message. */
  dropRate = 0;
  /** Probability in [0, 1) of delivering a message twice. */
  duplicateRate = 0;
  /** Deliver each round's messages in a random order (across and within links). */
  reorder = false;
  private restarts = 0;

  constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.rng = new SeededRng(opts.seed ?? 1);
    const learners = opts.learners ?? [];
    const outsiders = opts.outsiders ?? [];
    this.voters = opts.ids.filter((id) => !learners.includes(id) && !outsiders.includes(id));
    this.learners = [...learners];
    for (const id of opts.ids) {
      const storage = new MemoryRaftStorage();
      const outsider = outsiders.includes(id);
      this.nodes.set(id, {
        id,
        raft: this.makeRaft(id, storage, outsider),
        storage,
        appliedCommands: [],
        appliedIndex: 0,
        readStates: [],
        up: true,
        outsider,
        sentMessages: [],
        followerRegressions: [],
      });
    }
  }

  private makeRaft(id: NodeId, storage: MemoryRaftStorage, outsider: boolean): RaftNode {
    const rng: Rng = this.rng.fork(`${id}#${this.restarts++}`);
    return new RaftNode({
      electionTimeoutTicks: 10,
      heartbeatTicks: 1,
      ...this.opts.options,
      ...this.opts.perNode?.[id],
      id,
      voters: outsider ? [] : this.voters,
      learners: outsider ? [] : this.learners,
      storage,
      rng,
      appliedIndex: storage.snapshot().meta.index,
    });
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    assert(n !== undefined, `no node ${id}`);
    return n;
  }

  raft(id: NodeId): RaftNode {
    return this.node(id).raft;
  }

  // ---------------------------------------------------------------------------------------------
  // Faults

  cut(a: NodeId, b: NodeId): void {
    this.cutLinks.add(`${a}>${b}`);
    this.cutLinks.add(`${b}>${a}`);
  }

  /** Cuts one direction only. */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.cutLinks.add(`${from}>${to}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.cutLinks.clear();
    this.ignored.clear();
    this.filter = undefined;
    this.rewrite = undefined;
    this.dropRate = 0;
    this.duplicateRate = 0;
    this.reorder = false;
  }

  ignore(type: number): void {
    this.ignored.add(type);
  }

  /** Stops the node: its unpersisted state and messages queued to it are lost. */
  crash(id: NodeId): void {
    const n = this.node(id);
    n.up = false;
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  /** Brings a crashed node back: a fresh RaftNode and state machine from its durable storage. */
  restart(id: NodeId): void {
    const n = this.node(id);
    const snap = n.storage.snapshot();
    n.appliedCommands = snap.meta.index > 0 ? (JSON.parse(decoder.decode(snap.data)) as string[]) : [];
    n.appliedIndex = snap.meta.index;
    n.readStates = [];
    this.invariants.recordRestored(id, snap.meta.index);
    n.raft = this.makeRaft(id, n.storage, n.outsider);
    n.up = true;
  }

  /**
   * Crashes the node, loses ALL its durable state (an operator wiped its data directory) and
   * restarts it empty with its bootstrap configuration. Raft assumes this never happens to a node
   * that acknowledged entries; the leader must notice and repair it (issue 7, item 5).
   */
  wipe(id: NodeId): void {
    const n = this.node(id);
    this.crash(id);
    n.storage = new MemoryRaftStorage();
    this.restart(id);
  }

  /**
   * Takes the node's next Ready and persists it, then crashes before its messages leave or
   * advance() runs (the "restart between persisting a vote and sending it" case).
   */
  persistThenCrash(id: NodeId): Ready | undefined {
    const n = this.node(id);
    const rd = n.raft.ready();
    if (rd) this.persist(n, rd);
    this.crash(id);
    return rd;
  }

  // ---------------------------------------------------------------------------------------------
  // Driving

  tick(id: NodeId, times = 1): void {
    const n = this.node(id);
    for (let i = 0; i < times; i++) if (n.up) n.raft.tick();
  }

  /** Ticks every live node once, then stabilizes; `times` rounds. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) if (n.up) n.raft.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.node(id).raft.campaign();
    this.stabilize();
  }

  /** Campaigns (repeatedly, if pre-vote or a stale term gets in the way) until `id` leads. */
  elect(id: NodeId, attemptsMax = 5): void {
    for (let i = 0; i < attemptsMax && this.raft(id).role !== 'leader'; i++) this.campaign(id);
    assert(this.raft(id).role === 'leader', `${id} did not become leader`);
  }

  propose(id: NodeId, text: string): { index: number; term: number } {
    const r = this.raft(id).propose(cmd(text));
    assert(r.ok, `propose on ${id} failed: ${r.ok ? '' : r.error.message}`);
    this.stabilize();
    return r.value;
  }

  /** Processes Readies and delivers messages until nothing changes. */
  stabilize(): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) if (!this.round()) return;
    throw new Error('stabilize: no quiescence (livelock?)');
  }

  /** One round: every live node's Ready is processed, then every queued message delivered. */
  round(): boolean {
    let busy = false;
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      const rd = n.raft.ready();
      if (!rd) continue;
      busy = true;
      this.process(n, rd);
    }
    if (this.queue.length > 0) {
      busy = true;
      const batch = this.queue;
      this.queue = [];
      if (this.reorder) {
        for (let i = batch.length - 1; i > 0; i--) {
          const j = this.rng.int(i + 1);
          [batch[i], batch[j]] = [batch[j]!, batch[i]!];
        }
      }
      for (const m of batch) {
        this.deliver(m);
        if (this.duplicateRate > 0 && this.rng.float() < this.duplicateRate) this.deliver(m);
      }
    }
    return busy;
  }

  /**
   * Before any step: replaces `id`'s durable log by entries with the given terms (index 1..n,
   * Normal, data = "t<term>i<index>") and its term, then rebuilds the node (paper-figure setups).
   */
  preloadLog(id: NodeId, terms: readonly number[], term: number): void {
    const n = this.node(id);
    n.storage.append(
      terms.map((t, i) => ({ index: i + 1, term: t, type: EntryType.Normal, data: cmd(`t${t}i${i + 1}`) })),
    );
    n.storage.setHardState({ term, vote: undefined, commit: 0 });
    n.raft = this.makeRaft(id, n.storage, n.outsider);
  }

  private process(n: TestNode, rd: Ready): void {
    this.persist(n, rd);
    for (const m of rd.messages) {
      if (this.opts.recordMessages) n.sentMessages.push(m);
      this.queue.push(m);
    }
    if (rd.snapshot) {
      n.appliedCommands = JSON.parse(decoder.decode(rd.snapshot.data)) as string[];
      n.appliedIndex = rd.snapshot.meta.index;
      this.invariants.recordRestored(n.id, n.appliedIndex);
    }
    for (const e of rd.committedEntries) this.apply(n, e);
    n.readStates.push(...rd.readStates);
    n.followerRegressions.push(...rd.followerRegressions);
    n.raft.advance(rd);
    this.observe();
  }

  private persist(n: TestNode, rd: Ready): void {
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
  }

  private apply(n: TestNode, e: Entry): void {
    assert(e.index === n.appliedIndex + 1, `${n.id} applies ${e.index} after ${n.appliedIndex}`);
    this.invariants.recordApplied(n.id, e);
    if (e.type === EntryType.Normal) n.appliedCommands.push(decoder.decode(e.data));
    n.appliedIndex = e.index;
  }

  private deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (!to?.up || !this.nodes.get(m.from)?.up) return;
    if (this.cutLinks.has(`${m.from}>${m.to}`) || this.ignored.has(m.type)) return;
    if (this.filter && !this.filter(m)) return;
    if (this.dropRate > 0 && this.rng.float() < this.dropRate) return;
    const delivered = this.rewrite ? this.rewrite(m) : m;
    if (!delivered) return;
    to.raft.step(delivered);
    this.observe();
  }

  observe(): void {
    if (this.opts.checkInvariants === false) return;
    const obs: NodeObservation[] = [];
    for (const n of this.nodes.values()) if (n.up) obs.push(observation(n.raft));
    this.invariants.observe(obs);
  }

  /** Takes a state-machine snapshot of `id` at its applied index and compacts its log to `index`. */
  snapshotAndCompact(id: NodeId, compactIndex?: number): void {
    const n = this.node(id);
    const at = n.appliedIndex;
    const data = encoder.encode(JSON.stringify(n.appliedCommands));
    n.storage.createSnapshot(at, n.raft.confStateAt(at), data);
    n.storage.compact(compactIndex ?? at);
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.up && n.raft.role === 'leader').map((n) => n.id);
  }

  /** The single live leader with the highest term, if any. */
  leader(): NodeId | undefined {
    let best: TestNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && n.raft.role === 'leader' && (!best || n.raft.currentTerm > best.raft.currentTerm)) best = n;
    }
    return best?.id;
  }

  /** Messages queued and not yet delivered (for inspection). */
  pending(): readonly Message[] {
    return this.queue;
  }
}

export function observation(raft: RaftNode): NodeObservation {
  // Lazy: the invariant checks are incremental and read only the entries they need.
  const log: LogView = {
    firstIndex: raft.firstIndex,
    lastIndex: raft.lastIndex,
    term: (i) => raft.termAt(i),
    entry: (i) => raft.entryAt(i),
  };
  return { id: raft.id, term: raft.currentTerm, role: raft.role, commit: raft.commitIndex, log };
}

export { MsgType };
