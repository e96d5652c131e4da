// The simulated network: latency, loss, duplication, reordering, partitions and clogging between
// the nodes of one simulation. It decides *when* (and whether) a message arrives; the engine
// (simulation.ts) owns the event queue and calls back into the node at delivery time.
//
// Invariants:
//   - Payloads are copied at send (each duplicate gets its own copy), so neither a sender mutating
//     its buffer nor a receiver mutating what it got can affect another delivery.
//   - With `fifoPerLink` (the default, what `Transport` promises while a connection lives) messages
//     on one directed link arrive in send order, except those the `reorderProbability` knob exempts.
//   - A partition is a multiset of blocked *directed* links (a count per link), so overlapping cuts
//     compose and healing one cut does not heal another. A message is dropped if its link is blocked
//     when it is sent or when it would arrive.
//   - Every random choice comes from the network's own forked Rng, in a fixed order per send. A
//     knob at 0 draws nothing, so adding a knob does not change the runs of existing seeds.
//
// Payload corruption, two knobs (issue 7). The real transport carries a CRC-32C over every frame
// (src/net/frame.ts), so a frame corrupted on the wire is rejected by the receiver's transport,
// counted, and its connection closed: the message is lost. The simulator delivers PeerMessages,
// not frames, so it models that at the same layer by outcome:
//   - corruptDetectedProbability: the message is corrupted in flight and the checksum catches it:
//     it is dropped and counted (dropped['corrupt-detected']). This is what the production stack
//     does with a bit flip, so swarms may turn it on with any other fault. (The real transport also
//     loses what was in flight on the closed connection; the loss knob covers that.)
//   - corruptUndetectedProbability: 1..3 bits of the delivered copy are flipped and it is delivered
//     (counted in `corrupted`): corruption the checksum missed (CRC-32C misses ~1 in 2^32) or a
//     broken sender. It exercises every decoder and handler with realistic garbage, so its use is
//     proving "bad peer bytes never crash a node". Raft is not Byzantine-tolerant: a flipped term or
//     index that still decodes can break safety invariants, so runs that check those keep it at 0.

import type { NodeId } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ConfigError } from '../lib/errors.ts';
import type { SeededRng } from '../lib/rng.ts';
import { limits } from '../lib/limits.ts';

export interface NetworkConfig {
  /** Fixed one-way latency. */
  latencyBaseMs: number;
  /** Random extra latency: uniform in [0, latencyJitterMs), or exponential with that mean. */
  latencyJitterMs: number;
  latencyJitter: 'uniform' | 'exponential';
  /** Chance a message is silently lost. */
  lossProbability: number;
  /** Chance a message is delivered twice. */
  duplicateProbability: number;
  /** Chance a message ignores per-link FIFO and takes up to `reorderDelayMs` extra. */
  reorderProbability: number;
  reorderDelayMs: number;
  /** Keep per-link FIFO order (as TCP does) apart from `reorderProbability` exemptions. */
  fifoPerLink: boolean;
  /** Chance a message is corrupted and the frame checksum catches it: dropped, counted. */
  corruptDetectedProbability: number;
  /** Chance a delivered copy has 1..3 bits flipped that no checksum caught (see the header). */
  corruptUndetectedProbability: number;
}

export const defaultNetworkConfig: NetworkConfig = {
  latencyBaseMs: 1,
  latencyJitterMs: 1,
  latencyJitter: 'uniform',
  lossProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderDelayMs: 10,
  fifoPerLink: true,
  corruptDetectedProbability: 0,
  corruptUndetectedProbability: 0,
};

/** Bits flipped in one undetected corruption: 1..this many. */
export const corruptBitsMax = limits.simCorruptBitsMax;

/** Exponential jitter is capped at this multiple of its mean, so one draw cannot stall a run. */
const exponentialJitterCapFactor = 20;
/** Largest latency (base, jitter, clog or reorder delay) accepted in a config: one hour. */
export const networkDelayMsMax = limits.simNetworkDelayMsMax;

export function validateNetworkConfig(c: NetworkConfig): void {
  const ms = (field: keyof NetworkConfig, v: number): void => {
    if (!(Number.isFinite(v) && v >= 0 && v <= networkDelayMsMax)) {
      throw new ConfigError(`network.${field}`, `must be in [0, ${networkDelayMsMax}] ms, got ${v}`);
    }
  };
  const p = (field: keyof NetworkConfig, v: number): void => {
    if (!(v >= 0 && v <= 1)) throw new ConfigError(`network.${field}`, `must be a probability in [0, 1], got ${v}`);
  };
  ms('latencyBaseMs', c.latencyBaseMs);
  ms('latencyJitterMs', c.latencyJitterMs);
  ms('reorderDelayMs', c.reorderDelayMs);
  p('lossProbability', c.lossProbability);
  p('duplicateProbability', c.duplicateProbability);
  p('reorderProbability', c.reorderProbability);
  p('corruptDetectedProbability', c.corruptDetectedProbability);
  p('corruptUndetectedProbability', c.corruptUndetectedProbability);
  if (c.latencyJitter !== 'uniform' && c.latencyJitter !== 'exponential') {
    throw new ConfigError(
      'network.latencyJitter',
      `must be 'uniform' or 'exponential', got ${String(c.latencyJitter)}`,
    );
  }
}

export type DropReason =
  | 'partition'
  | 'filtered'
  | 'loss'
  | 'corrupt-detected'
  | 'crashed'
  | 'restarted'
  | 'closed'
  | 'no-handler'
  | 'paused-overflow';

export interface NetworkCounters {
  sent: number;
  delivered: number;
  duplicated: number;
  /** Messages exempted from per-link FIFO by `reorderProbability`. */
  reordered: number;
  /** Copies delivered with bits flipped (corruptUndetectedProbability). */
  corrupted: number;
  dropped: Record<DropReason, number>;
}

/** What the network needs from the engine. */
export interface NetworkHost {
  nowMs(): number;
  /** Schedule delivery of `payload` (already copied) at virtual time `atMs`. */
  deliverAt(atMs: number, from: number, to: number, type: number, payload: Uint8Array): void;
  /**
   * Planted bug `net-skip-frame-checksum` (src/lib/mutations.ts): the transport does not verify
   * frame checksums, so what corruptDetectedProbability corrupts is delivered (bits flipped)
   * instead of dropped.
   */
  readonly skipFrameChecksum?: boolean;
}

/**
 * A targeted fault on the message path, consulted at send after partitions and before loss:
 * 'pass' lets the next filter (then the network) decide; 'drop' loses the message (counted as
 * `filtered`); `{ delayMs }` adds that much latency. Filters must be deterministic functions of
 * their arguments and their own state (e.g. "drop every Raft message from n1 to n2"). The payload
 * is the sender's own array, valid only during the call (a sender may reuse it: copiesPayload):
 * a filter that keeps it must copy it.
 */
export type MessageFilter = (
  from: NodeId,
  to: NodeId,
  type: number,
  payload: Uint8Array,
) => 'pass' | 'drop' | { delayMs: number };

/** A set of directed links blocked together; heal() unblocks exactly them (once). */
export interface LinkCut {
  readonly links: ReadonlyArray<readonly [NodeId, NodeId]>;
  heal(): void;
}

export class SimNetwork {
  readonly nodes: readonly NodeId[];
  private readonly index = new Map<NodeId, number>();
  private readonly blocked: Uint16Array;
  private readonly lastArrivalMs: Float64Array;
  private readonly clogMs: Float64Array;
  private filters: MessageFilter[] = [];
  readonly config: NetworkConfig;
  /** The configured loss probability, restored by heal(). */
  private readonly baselineLossProbability: number;
  readonly counters: NetworkCounters = {
    sent: 0,
    delivered: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    dropped: {
      partition: 0,
      filtered: 0,
      loss: 0,
      'corrupt-detected': 0,
      crashed: 0,
      restarted: 0,
      closed: 0,
      'no-handler': 0,
      'paused-overflow': 0,
    },
  };

  constructor(
    nodes: readonly NodeId[],
    config: NetworkConfig,
    private readonly rng: SeededRng,
    private readonly host: NetworkHost,
  ) {
    validateNetworkConfig(config);
    this.nodes = nodes;
    nodes.forEach((id, i) => {
      this.index.set(id, i);
    });
    const n = nodes.length;
    this.blocked = new Uint16Array(n * n);
    this.lastArrivalMs = new Float64Array(n * n);
    this.clogMs = new Float64Array(n);
    this.config = { ...config };
    this.baselineLossProbability = config.lossProbability;
  }

  indexOf(id: NodeId): number | undefined {
    return this.index.get(id);
  }

  private idx(id: NodeId): number {
    const i = this.index.get(id);
    assert(i !== undefined, `unknown node ${id}`);
    return i;
  }

  // --- sending ---

  /** Routes one message. Returns false only for an unknown destination (the Transport contract). */
  send(from: number, to: NodeId, type: number, payload: Uint8Array): boolean {
    const t = this.index.get(to);
    if (t === undefined) return false;
    const c = this.counters;
    c.sent++;
    const n = this.nodes.length;
    if (this.blocked[from * n + t]! > 0) {
      c.dropped.partition++;
      return true;
    }
    let extraDelayMs = 0;
    if (this.filters.length > 0) {
      for (const filter of this.filters) {
        const verdict = filter(this.nodes[from]!, to, type, payload);
        if (verdict === 'pass') continue;
        if (verdict === 'drop') {
          c.dropped.filtered++;
          return true;
        }
        assert(verdict.delayMs >= 0 && verdict.delayMs <= networkDelayMsMax, `filter delay out of range`);
        extraDelayMs = verdict.delayMs;
        break;
      }
    }
    const rng = this.rng;
    if (rng.chance(this.config.lossProbability)) {
      c.dropped.loss++;
      return true;
    }
    const detected = this.config.corruptDetectedProbability;
    let plantedCorruption = false;
    if (detected > 0 && rng.chance(detected)) {
      if (this.host.skipFrameChecksum !== true) {
        c.dropped['corrupt-detected']++;
        return true;
      }
      plantedCorruption = true;
    }
    const copies = rng.chance(this.config.duplicateProbability) ? 2 : 1;
    if (copies === 2) c.duplicated++;
    const undetected = this.config.corruptUndetectedProbability;
    for (let k = 0; k < copies; k++) {
      const copy = payload.slice();
      if (plantedCorruption && copy.length > 0) {
        this.flipBits(copy);
        c.corrupted++;
      } else if (undetected > 0 && copy.length > 0 && rng.chance(undetected)) {
        this.flipBits(copy);
        c.corrupted++;
      }
      this.host.deliverAt(this.arrivalMs(from, t, extraDelayMs), from, t, type, copy);
    }
    return true;
  }

  /** Flips 1..corruptBitsMax random bits of `bytes` (a bit may flip back: the count is an upper bound). */
  private flipBits(bytes: Uint8Array): void {
    const flips = 1 + this.rng.int(corruptBitsMax);
    for (let i = 0; i < flips; i++) {
      const bit = this.rng.int(bytes.length * 8);
      bytes[bit >>> 3]! ^= 1 << (bit & 7);
    }
  }

  private arrivalMs(from: number, to: number, extraDelayMs: number): number {
    const cfg = this.config;
    const rng = this.rng;
    const now = this.host.nowMs();
    let jitter = 0;
    if (cfg.latencyJitterMs > 0) {
      const u = rng.float();
      jitter =
        cfg.latencyJitter === 'uniform'
          ? u * cfg.latencyJitterMs
          : Math.min(-Math.log(1 - u), exponentialJitterCapFactor) * cfg.latencyJitterMs;
    }
    const clog = Math.max(this.clogMs[from]!, this.clogMs[to]!);
    let at = now + cfg.latencyBaseMs + jitter + clog + extraDelayMs;
    if (cfg.reorderProbability > 0 && rng.chance(cfg.reorderProbability)) {
      this.counters.reordered++;
      return at + rng.float() * cfg.reorderDelayMs; // exempt from FIFO: may overtake or be overtaken
    }
    if (cfg.fifoPerLink) {
      const link = from * this.nodes.length + to;
      const last = this.lastArrivalMs[link]!;
      if (at < last) at = last; // equal times keep send order through the queue's sequence tie-break
      this.lastArrivalMs[link] = at;
    }
    return at;
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked[from * this.nodes.length + to]! > 0;
  }

  linkBlocked(from: NodeId, to: NodeId): boolean {
    return this.isBlocked(this.idx(from), this.idx(to));
  }

  /** Installs a message filter (see MessageFilter); returns its removal. Filters run in install order. */
  addFilter(filter: MessageFilter): () => void {
    this.filters = [...this.filters, filter];
    return () => {
      this.filters = this.filters.filter((f) => f !== filter);
    };
  }

  // --- partitions ---

  /** Blocks the given directed links (each once) and returns the cut that unblocks them. */
  cut(links: ReadonlyArray<readonly [NodeId, NodeId]>): LinkCut {
    const n = this.nodes.length;
    const cells = links.map(([a, b]) => {
      assert(a !== b, `a node cannot be cut from itself (${a})`);
      return this.idx(a) * n + this.idx(b);
    });
    assert(new Set(cells).size === cells.length, 'a cut lists a link twice');
    for (const cell of cells) this.blocked[cell]!++;
    let healed = false;
    return {
      links,
      heal: () => {
        if (healed) return;
        healed = true;
        for (const cell of cells) if (this.blocked[cell]! > 0) this.blocked[cell]!--;
      },
    };
  }

  /** Blocks every link (both directions) between nodes of different groups. Unlisted nodes stay connected. */
  partition(groups: ReadonlyArray<readonly NodeId[]>): LinkCut {
    const groupOf = new Map<NodeId, number>();
    groups.forEach((g, gi) => {
      for (const id of g) {
        this.idx(id);
        assert(!groupOf.has(id), `node ${id} is in two partition groups`);
        groupOf.set(id, gi);
      }
    });
    const links: [NodeId, NodeId][] = [];
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        const ga = groupOf.get(a);
        const gb = groupOf.get(b);
        if (a !== b && ga !== undefined && gb !== undefined && ga !== gb) links.push([a, b]);
      }
    }
    return this.cut(links);
  }

  /** Cuts `id` off from every other node, both directions. */
  isolate(id: NodeId): LinkCut {
    return this.partition([[id], this.nodes.filter((n) => n !== id)]);
  }

  /** Blocks one direction only: `from` can no longer reach `to` (`to` still reaches `from`). */
  blockLink(from: NodeId, to: NodeId): LinkCut {
    return this.cut([[from, to]]);
  }

  /** `left` and `right` cannot see each other; both see `bridge` (nodes elsewhere are unaffected). */
  bridge(left: readonly NodeId[], bridge: NodeId, right: readonly NodeId[]): LinkCut {
    assert(!left.includes(bridge) && !right.includes(bridge), 'the bridge node is in neither half');
    return this.partition([left, right]);
  }

  /** Splits all nodes into a random majority (floor(n/2)+1 nodes) and the minority (the rest). */
  majorityMinority(rng: SeededRng): { majority: NodeId[]; minority: NodeId[]; cut: LinkCut } {
    const shuffled = shuffle(rng, this.nodes);
    const majoritySize = Math.floor(this.nodes.length / 2) + 1;
    const majority = shuffled.slice(0, majoritySize);
    const minority = shuffled.slice(majoritySize);
    return { majority, minority, cut: this.partition([majority, minority]) };
  }

  /** Every currently blocked directed link, in node order. */
  blockedLinks(): [NodeId, NodeId][] {
    const out: [NodeId, NodeId][] = [];
    const n = this.nodes.length;
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) if (this.blocked[a * n + b]! > 0) out.push([this.nodes[a]!, this.nodes[b]!]);
    }
    return out;
  }

  // --- clogging and loss ---

  /** Adds `extraDelayMs` to every message from or to `id` (the larger of the two ends applies). */
  clog(id: NodeId, extraDelayMs: number): void {
    assert(extraDelayMs >= 0 && extraDelayMs <= networkDelayMsMax, `clog delay out of range: ${extraDelayMs}`);
    this.clogMs[this.idx(id)] = extraDelayMs;
  }

  unclog(id: NodeId): void {
    this.clogMs[this.idx(id)] = 0;
  }

  setLossProbability(p: number): void {
    assert(p >= 0 && p <= 1, `loss probability out of range: ${p}`);
    this.config.lossProbability = p;
  }

  restoreLossProbability(): void {
    this.config.lossProbability = this.baselineLossProbability;
  }

  /** Unblocks every link, unclogs every node, removes every filter and restores the configured loss probability. */
  heal(): void {
    this.filters = [];
    this.blocked.fill(0);
    this.clogMs.fill(0);
    this.restoreLossProbability();
  }
}

/** Fisher-Yates with the given Rng; returns a new array. */
export function shuffle<T>(rng: SeededRng, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}
