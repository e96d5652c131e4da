// The deterministic simulator's engine: one thread, virtual time, N nodes, one seeded Rng.
//
// A Simulation owns the event queue (heap.ts), the network (network.ts), each node's clock
// (clock.ts) and disk store (disk.ts), and builds one Env per node incarnation, so the very driver
// code that runs over TCP and files runs here. `(seed, options)` fixes the run: every random choice
// comes from a Rng forked from the seed by component label, and events at the same virtual time run
// in insertion order. traceHash() digests every event; equal hashes mean equal runs.
//
// Invariants:
//   - Virtual time never goes backwards; an event never runs inside the call that scheduled it.
//   - A timer never fires before its delay has elapsed on its node's monotonic clock, even if the
//     clock's drift changes meanwhile (a slowed clock postpones it; a sped-up clock makes it late by
//     at most the drift difference, as a real timer wheel checked against a drifting clock would).
//   - A crashed node runs nothing: its timers are dead (each event carries the incarnation that
//     scheduled it), messages to it are dropped, its disk reverts to what survives (disk.ts).
//   - A paused node runs nothing either, but what comes due (timers, deliveries) is kept in order and
//     runs late, at resume. Deliveries kept are bounded by `pausedDeliveriesMax` (beyond: dropped).
//   - Pending events are bounded (`eventsPendingMax`) and so are events at one instant
//     (`eventsAtOneInstantMax`): either bound hit = a `runaway` SimulationFailure naming it.
//   - After every event every invariant hook runs; the first violation (or an exception thrown by
//     node code) stops the run with a SimulationFailure carrying seed, event number, time and the
//     replay command. A failed simulation refuses to run further. Two exceptions are a node's own
//     business, as on a real machine: a disk error (EIO, ENOSPC) exits the process and its
//     supervisor restarts it; a refusal on damaged data of its own (`dataRefusalOf`) stops it for
//     the operator (`onDataRefusal`), if one takes it over.

import { type Mutations, noMutations } from '../lib/mutations.ts';
import type { Clock, Disk, Env, Logger, NodeId, PeerMessage, Rng, Timer, Timers, Transport } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { BaristaError, ConfigError, LimitError } from '../lib/errors.ts';
import { DiskErrorCode } from '../env/disk-paths.ts';
import { Hash64 } from '../lib/hash.ts';
import { limits } from '../lib/limits.ts';
import { SeededRng } from '../lib/rng.ts';
import { type ClockSettings, SimClock } from './clock.ts';
import { CrashPoint, NodeCrashedInIo } from './crash-point.ts';
import {
  addDiskFaultCounts,
  type DiskCrashReport,
  type DiskFaultCounts,
  type DiskFaults,
  defaultDiskFaults,
  emptyDiskFaultCounts,
  SimDiskStore,
} from './disk.ts';
import { describeReplay, type ReplaySpec, SimulationFailure } from './failure.ts';
import { EventQueue, type Scheduled } from './heap.ts';
import { applyFault, describeFault, type Fault, type ScheduledFault } from './nemesis.ts';
import { defaultNetworkConfig, type NetworkConfig, SimNetwork } from './network.ts';
import { type ClientLinkConfig, SimClientLinks } from './client-links.ts';
import { SimLogSink, SimMetrics } from './observe.ts';

export interface SimulationOptions<S> {
  readonly seed: string | number;
  readonly nodes: readonly NodeId[];
  /**
   * Builds one node's application from its Env. If the result has `stop(): void`, crash calls it
   * after the node is cut off (no sends, timers or disk writes take effect): release memory only.
   */
  readonly program: (env: Env) => S;
  /** Nodes that are not started at construction (they join later: `restart(id)` starts them). */
  readonly initiallyDown?: readonly NodeId[];
  readonly network?: Partial<NetworkConfig>;
  /** Client connections to the nodes' listeners (client-links.ts): latency, chunking, window, resets. */
  readonly clientLinks?: Partial<ClientLinkConfig>;
  readonly diskFaults?: Partial<DiskFaults>;
  /** Wall clock (before skew) at virtual time 0. Default 2026-01-01T00:00:00Z. */
  readonly epochMs?: number;
  /** Default limits.simEventsPendingMax. */
  readonly eventsPendingMax?: number;
  /** Events run without virtual time advancing before the run is declared runaway. Default 1e6. */
  readonly eventsAtOneInstantMax?: number;
  /** Deliveries held for one paused node. Default 100_000. */
  readonly pausedDeliveriesMax?: number;
  /** Default limits.simLogLinesMax. */
  readonly logLinesMax?: number;
  /** Echo every log line (to `logSink`, default console.log). */
  readonly verbose?: boolean;
  readonly logSink?: (line: string) => void;
  /** How `describeReplay` renders this run's command line. */
  readonly replay?: ReplaySpec;
  /**
   * Keep the last N events as text (`sim.recentEvents()`), to find where two runs of one seed
   * diverge. 0 (the default) keeps none and costs nothing.
   */
  readonly traceEventsMax?: number;
  /** Planted bugs every node runs with (src/lib/mutations.ts). Default none. */
  readonly mutations?: Mutations;
  /**
   * The operator: called when a node stops (at start-up or while running) because it found its
   * own data damaged (`dataRefusalOf`). Returning true takes the node over: its process has exited
   * and stays down until the operator acts (a cluster run wipes it and rejoins it). Returning false,
   * or no operator, keeps the default: the error fails the run.
   */
  readonly onDataRefusal?: (id: NodeId, refusal: DataRefusal, err: BaristaError) => boolean;
  /**
   * Counters whose increment fails the run (SimMetrics' tripwires). Default
   * DEFAULT_TRIPWIRE_COUNTERS: between peers of one build no peer message is ever refused, so a
   * refusal is a bug, and often a hidden one: the router counts a ProtocolError thrown anywhere in a
   * message's handling and drops the message (a BARISTA SIBLINGS of a list once threw in its
   * answer that way and its client waited forever). A test that sends peers garbage on purpose
   * passes []; with network.corruptUndetectedProbability above 0 the default is [].
   */
  readonly tripwireCounters?: readonly string[];
}

/** Counters no honest run increments (SimulationOptions.tripwireCounters). */
export const DEFAULT_TRIPWIRE_COUNTERS: readonly string[] = [
  'peer_messages_rejected_total',
  // A replica message over dynamoMessageBytesMax, dropped by its sender: the write it carried
  // timed out (a change of 4.5 MB of sorted-set members did, until storeChangeBytesMax, 2026-12-07).
  'dynamo_messages_oversize_total',
  // A request continuation threw a typed error, and a command answered twice (src/lib/continuation.ts).
  'continuation_failures_total',
  'store_second_answers_total',
];

/**
 * Why a node refused to run on its own data, typed by error code and fields (never by message):
 *   - `data_corrupt`: recovery found damaged bytes (CorruptionError);
 *   - `identity`: identity.json does not name this node, or the data it vouches for is gone;
 *   - `unreadable_sector`: a read failed with EIO (a bad sector: reads of it fail until it is
 *     rewritten), unlike an injected write or sync error, which a restart on the same disk heals.
 */
export type DataRefusal = 'data_corrupt' | 'identity' | 'unreadable_sector';

export function dataRefusalOf(err: unknown): DataRefusal | undefined {
  if (!(err instanceof BaristaError)) return undefined;
  const code: string = err.code;
  if (code === 'data_corrupt') return 'data_corrupt';
  if (code === 'node_identity_mismatch' || code === 'node_data_missing') return 'identity';
  if (code === DiskErrorCode.io && err.fields['op'] === 'read') return 'unreadable_sector';
  return undefined;
}

/** Returns nothing (or undefined) when the invariant holds, a description of the violation otherwise. */
// biome-ignore lint/suspicious/noConfusingVoidType: a check written as a block with no `return` must type-check
export type InvariantCheck<S> = (sim: Simulation<S>) => string | undefined | void;

export type NodeState = 'up' | 'paused' | 'crashed';

export interface SimulationStats {
  readonly seed: string;
  readonly nowMs: number;
  readonly events: number;
  readonly messagesSent: number;
  readonly messagesDelivered: number;
  readonly messagesDropped: number;
  readonly messagesDroppedBy: Readonly<Record<string, number>>;
  readonly messagesDuplicated: number;
  /** Messages that skipped per-link FIFO order (the network's reordering fault). */
  readonly messagesReordered: number;
  /** Messages delivered with flipped bits (network.corruptUndetectedProbability). */
  readonly messagesCorrupted: number;
  readonly crashes: number;
  /** Crashes that struck in the middle of a node's disk I/O (crash-point.ts); included in `crashes`. */
  readonly crashesInIo: number;
  readonly restarts: number;
  readonly pauses: number;
  readonly slowSyncStalls: number;
  readonly faultsInjected: number;
  /** faultsInjected by Fault kind (nemesis.ts), for per-class swarm tallies. */
  readonly faultsInjectedByKind: Readonly<Record<string, number>>;
  readonly diskFilesRolledBack: number;
  readonly diskTornWrites: number;
  readonly diskDirOpsLost: number;
  /** Node processes that exited on a disk error (EIO, ENOSPC), the page cache kept. */
  readonly diskErrorExits: number;
  /** Node processes that exited because a peer knew them at a higher incarnation (IncarnationBehindError). */
  readonly incarnationExits: number;
  /** Node processes that stopped on damaged data of their own, taken over by the operator (onDataRefusal). */
  readonly dataRefusals: number;
  /** Injected disk errors and rot, per class, summed over the nodes. */
  readonly diskFaults: DiskFaultCounts;
}

/** How long a node's supervisor waits before starting a node that exited on a disk error. */
export const diskErrorRestartMs = 2_000;

/** Float slack when comparing a timer's due time with the node's clock (ms). */
const timerEarlyToleranceMs = 1e-6;

const KIND_TIMER = 1;
const KIND_DELIVER = 2;
const KIND_ACTION = 3;

class SimTimer implements Timer {
  cancelled = false;
  /** The node's monotonic time at which the timer is due (it never fires before). */
  dueLocalMs = 0;
  constructor(
    readonly fn: () => void,
    /** Local (node monotonic) period; 0 for a one-shot timer. */
    readonly periodMs: number,
  ) {}
  cancel(): void {
    this.cancelled = true;
  }
}

/** One monomorphic shape for every event, so the hot loop stays fast. */
class SimEvent implements Scheduled {
  seq = 0;
  constructor(
    public atMs: number,
    readonly kind: number,
    readonly node: number,
    readonly incarnation: number,
    readonly timer: SimTimer | null,
    readonly action: (() => void) | null,
    readonly label: string,
    readonly from: number,
    readonly type: number,
    readonly payload: Uint8Array | null,
  ) {}
}

class SimNode<S> {
  state: NodeState = 'crashed';
  incarnation = 0;
  instance: S | undefined;
  env: Env | undefined;
  handler: ((message: PeerMessage) => void) | undefined;
  transportClosed = false;
  metrics = new SimMetrics();
  /** Events that came due while paused, in due order. */
  held: SimEvent[] = [];
  /** Why the node is paused: a fault (pause()) or a slow sync's stall (ends on its own). */
  pausedBy: 'fault' | 'stall' | undefined;
  heldDeliveries = 0;
  /**
   * The end of the node's slow-sync stall in virtual time (0: none yet). The node's code after a
   * slow fsync runs in the same event, but at this time: its clock reads it, and its timers,
   * sends and client bytes start from it (`stall`). Never decreases within a life.
   */
  floorMs = 0;
  /** Stalls begun in this life (the latest one's end completes the disk's in-flight syncs). */
  stalls = 0;
  /**
   * What the node's code did while running ahead (sends, harness callbacks), in order, run at
   * the stall's end; while it is not empty, later outputs join it, so none overtakes one before it.
   */
  afterStall: (() => void)[] = [];
  constructor(
    readonly index: number,
    readonly id: NodeId,
    readonly clock: SimClock,
    readonly disk: SimDiskStore,
    readonly crashPoint: CrashPoint,
  ) {}
}

const defaultEpochMs = 1_767_225_600_000; // 2026-01-01T00:00:00Z

export class Simulation<S = unknown> {
  readonly seed: string;
  readonly network: SimNetwork;
  /** Client connections: `sim.clients.connect(node, protocol)` (client-links.ts). */
  readonly clients: SimClientLinks;
  readonly logs: SimLogSink;
  private readonly options: SimulationOptions<S>;
  private readonly rng: SeededRng;
  private readonly nemesisRng: SeededRng;
  private readonly queue: EventQueue<SimEvent>;
  private readonly nodeList: SimNode<S>[];
  private readonly byId = new Map<NodeId, SimNode<S>>();
  private readonly invariants: { name: string; check: InvariantCheck<S> }[] = [];
  private readonly tripwires: ReadonlySet<string>;
  private readonly eventsAtOneInstantMax: number;
  private readonly pausedDeliveriesMax: number;
  private readonly hash = new TraceHasher();
  private now = 0;
  /** The latest stall end begun in the current event (client bytes written after it leave then). */
  private eventFloorMs = 0;
  /** Nodes that began a stall in the current event (their stall ends are scheduled after it). */
  private stalledThisEvent: SimNode<S>[] = [];
  private eventCount = 0;
  private instantStartMs = -1;
  private eventsThisInstant = 0;
  private failure: SimulationFailure | undefined;
  private readonly traceRing: string[];
  private readonly traceEventsMax: number;
  private traceNext = 0;
  /** Bumped by healAll(): scheduled faults and their heals from before it no longer fire. */
  private nemesisEpoch = 0;
  private readonly faultsByKind: Record<string, number> = {};
  private readonly counts = {
    crashes: 0,
    crashesInIo: 0,
    restarts: 0,
    pauses: 0,
    slowSyncStalls: 0,
    faultsInjected: 0,
    diskFilesRolledBack: 0,
    diskTornWrites: 0,
    diskDirOpsLost: 0,
    diskErrorExits: 0,
    incarnationExits: 0,
    dataRefusals: 0,
  };

  constructor(options: SimulationOptions<S>) {
    this.options = options;
    // Bits flipped past the frame checksum (corruptUndetectedProbability) are refused on purpose.
    const garbled = (options.network?.corruptUndetectedProbability ?? 0) > 0;
    this.tripwires = new Set(options.tripwireCounters ?? (garbled ? [] : DEFAULT_TRIPWIRE_COUNTERS));
    this.seed = String(options.seed);
    const ids = options.nodes;
    if (ids.length === 0) throw new ConfigError('nodes', 'a simulation needs at least one node');
    if (ids.length > limits.clusterNodesMax) {
      throw new ConfigError('nodes', `at most clusterNodesMax=${limits.clusterNodesMax} nodes`);
    }
    if (new Set(ids).size !== ids.length) throw new ConfigError('nodes', 'node ids must be distinct');
    for (const id of ids) {
      if (id.length === 0 || id.length > limits.nodeIdBytesMax) {
        throw new ConfigError('nodes', `node id length must be 1..${limits.nodeIdBytesMax}: '${id}'`);
      }
    }
    this.rng = new SeededRng(this.seed);
    this.nemesisRng = this.rng.fork('nemesis');
    const eventsPendingMax = options.eventsPendingMax ?? limits.simEventsPendingMax;
    this.queue = new EventQueue<SimEvent>(eventsPendingMax, 'simEventsPendingMax');
    this.eventsAtOneInstantMax = options.eventsAtOneInstantMax ?? 1_000_000;
    this.pausedDeliveriesMax = options.pausedDeliveriesMax ?? 100_000;
    this.traceEventsMax = options.traceEventsMax ?? 0;
    if (!(Number.isSafeInteger(this.traceEventsMax) && this.traceEventsMax >= 0)) {
      throw new ConfigError('traceEventsMax', 'must be a non-negative integer');
    }
    this.traceRing = new Array(this.traceEventsMax);
    const echo = options.verbose ? (options.logSink ?? ((line: string) => console.log(line))) : undefined;
    this.logs = new SimLogSink(() => this.now, options.logLinesMax ?? limits.simLogLinesMax, echo);
    this.network = new SimNetwork(ids, { ...defaultNetworkConfig, ...options.network }, this.rng.fork('network'), {
      nowMs: () => this.now,
      deliverAt: (atMs, from, to, type, payload) => {
        const target = this.nodeList[to]!;
        this.queue.push(new SimEvent(atMs, KIND_DELIVER, to, target.incarnation, null, null, '', from, type, payload));
      },
      skipFrameChecksum: options.mutations?.has('net-skip-frame-checksum') ?? false,
    });
    this.clients = new SimClientLinks(
      { nowMs: () => Math.max(this.now, this.eventFloorMs), at: (atMs, fn, label) => void this.at(atMs, fn, label) },
      this.rng.fork('client-links'),
      options.clientLinks,
    );
    const diskFaults = { ...defaultDiskFaults, ...options.diskFaults };
    const epochMs = options.epochMs ?? defaultEpochMs;
    const clockRng = this.rng.fork('clock-origin');
    this.nodeList = ids.map((id, index) => {
      // Each node's monotonic clock starts at its own arbitrary origin, as on real machines.
      // The node's time: virtual time, or the end of its slow-sync stall while its code runs ahead.
      const clock = new SimClock(
        () => Math.max(this.now, this.nodeList?.[index]?.floorMs ?? 0),
        epochMs,
        1000 * clockRng.int(1_000_000),
      );
      const disk = new SimDiskStore(this.rng.fork(`disk/${id}`), diskFaults);
      const crashPoint = new CrashPoint(() => this.crashInIo(id));
      const node = new SimNode<S>(index, id, clock, disk, crashPoint);
      disk.onSlowSync = (stallMs) => this.stall(node, stallMs);
      this.byId.set(id, node);
      return node;
    });
    const down = new Set(options.initiallyDown ?? []);
    for (const id of down) if (!this.byId.has(id)) throw new ConfigError('initiallyDown', `unknown node ${id}`);
    this.guard(() => {
      for (const node of this.nodeList) if (!down.has(node.id)) this.start(node);
    });
  }

  // --- time and running ---

  get nowMs(): number {
    return this.now;
  }

  /** Number of events run so far. */
  get events(): number {
    return this.eventCount;
  }

  get pendingEvents(): number {
    return this.queue.size;
  }

  /** Runs every event due at or before `virtualMs`, then sets the time to `virtualMs`. */
  runUntil(virtualMs: number): void {
    assert(virtualMs >= this.now, `runUntil(${virtualMs}) is in the past (now ${this.now})`);
    this.run(virtualMs, undefined);
  }

  runFor(ms: number): void {
    assert(ms >= 0, `runFor needs a non-negative duration, got ${ms}`);
    this.run(this.now + ms, undefined);
  }

  /**
   * Runs until `pred(sim)` holds (checked now and after every event) or `withinMs` of virtual time
   * pass. Returns whether it held. Time stops at the event that made it hold.
   */
  runUntilCondition(pred: (sim: Simulation<S>) => boolean, withinMs: number): boolean {
    assert(withinMs >= 0, `runUntilCondition needs a non-negative bound, got ${withinMs}`);
    return this.run(this.now + withinMs, pred);
  }

  /**
   * The liveness check: like runUntilCondition, but a miss fails the run (invariant
   * `liveness: <name>`) with the replay command, instead of returning false.
   */
  expectWithin(name: string, pred: (sim: Simulation<S>) => boolean, withinMs: number): void {
    if (!this.runUntilCondition(pred, withinMs)) {
      throw this.fail(`liveness: ${name}`, `did not hold within ${withinMs} virtual ms`);
    }
  }

  private run(limitMs: number, pred: ((sim: Simulation<S>) => boolean) | undefined): boolean {
    if (this.failure) throw this.failure;
    if (pred?.(this)) return true;
    const queue = this.queue;
    for (;;) {
      const top = queue.peek();
      if (top === undefined || top.atMs > limitMs) {
        if (limitMs > this.now) this.now = limitMs;
        return pred === undefined ? true : pred(this);
      }
      queue.pop();
      if (top.atMs !== this.instantStartMs) {
        this.instantStartMs = top.atMs;
        this.eventsThisInstant = 0;
      } else if (++this.eventsThisInstant > this.eventsAtOneInstantMax) {
        throw this.fail(
          'runaway',
          `more than eventsAtOneInstantMax=${this.eventsAtOneInstantMax} events at virtual time ${top.atMs} ms`,
        );
      }
      this.now = top.atMs;
      this.eventFloorMs = 0;
      let ran: boolean;
      try {
        ran = this.dispatch(top);
      } catch (err) {
        // A node that lost power mid-I/O ends its event there; the crash is done and counted.
        if (!(err instanceof NodeCrashedInIo)) {
          const node = top.kind === KIND_ACTION ? undefined : this.nodeList[top.node];
          if (node === undefined || !(this.exitOnDataRefusal(node, err) || this.exitOnDiskError(node, err))) {
            throw this.failFromException(err);
          }
        }
        ran = true;
      }
      if (this.stalledThisEvent.length > 0) this.scheduleStallEnds();
      if (!ran) continue;
      this.eventCount++;
      this.checkInvariants();
      if (pred?.(this)) return true;
    }
  }

  /** Runs one event; returns false if it was skipped (dead timer, held while paused). */
  private dispatch(ev: SimEvent): boolean {
    const h = this.hash;
    switch (ev.kind) {
      case KIND_TIMER: {
        const node = this.nodeList[ev.node]!;
        const timer = ev.timer!;
        if (timer.cancelled || node.incarnation !== ev.incarnation || node.state === 'crashed') return false;
        if (node.state === 'paused') {
          node.held.push(ev);
          return false;
        }
        const localNow = node.clock.monotonicMs();
        const earlyMs = timer.dueLocalMs - localNow;
        if (earlyMs > timerEarlyToleranceMs) {
          // The node's clock slowed down after the timer was set: wait out the rest in local time.
          ev.atMs = this.now + node.clock.virtualDelayMs(earlyMs);
          this.queue.push(ev);
          return false;
        }
        if (timer.periodMs > 0) {
          timer.dueLocalMs = localNow + timer.periodMs;
          ev.atMs = this.now + node.clock.virtualDelayMs(timer.periodMs);
          this.queue.push(ev);
        }
        h.u32(KIND_TIMER | (ev.node << 8)).u32(timeMicros(this.now));
        if (this.traceEventsMax > 0) this.trace(`timer ${node.id}`);
        timer.fn();
        return true;
      }
      case KIND_DELIVER: {
        const node = this.nodeList[ev.node]!;
        const drops = this.network.counters.dropped;
        if (node.state === 'crashed') {
          drops.crashed++;
          return false;
        }
        if (node.incarnation !== ev.incarnation) {
          drops.restarted++; // the connection it travelled on died with the old incarnation
          return false;
        }
        if (this.network.isBlocked(ev.from, ev.node)) {
          drops.partition++;
          return false;
        }
        if (node.state === 'paused') {
          if (node.heldDeliveries >= this.pausedDeliveriesMax) {
            drops['paused-overflow']++;
            return false;
          }
          node.heldDeliveries++;
          node.held.push(ev);
          return false;
        }
        const handler = node.handler;
        if (node.transportClosed) {
          drops.closed++;
          return false;
        }
        if (handler === undefined) {
          drops['no-handler']++;
          return false;
        }
        const payload = ev.payload!;
        h.u32(KIND_DELIVER | (ev.node << 8) | (ev.from << 16))
          .u32(timeMicros(this.now))
          .u32(ev.type)
          .u32(payload.length)
          .u32(digest32(payload));
        if (this.traceEventsMax > 0) {
          this.trace(`deliver ${this.nodeList[ev.from]!.id}->${node.id} type ${ev.type} ${payload.length} B`);
        }
        this.network.counters.delivered++;
        handler({ from: this.nodeList[ev.from]!.id, type: ev.type, payload });
        return true;
      }
      case KIND_ACTION: {
        h.u32(KIND_ACTION).u32(timeMicros(this.now)).string(ev.label);
        if (this.traceEventsMax > 0) this.trace(`action ${ev.label}`);
        ev.action!();
        return true;
      }
      default:
        throw new Error(`unknown event kind ${ev.kind}`);
    }
  }

  private trace(what: string): void {
    this.traceRing[this.traceNext % this.traceEventsMax] = `#${this.eventCount + 1} ${this.now.toFixed(3)} ${what}`;
    this.traceNext++;
  }

  /** The last `traceEventsMax` events, oldest first (empty unless the option is set). */
  recentEvents(): string[] {
    const n = Math.min(this.traceNext, this.traceEventsMax);
    const out: string[] = [];
    for (let i = this.traceNext - n; i < this.traceNext; i++) out.push(this.traceRing[i % this.traceEventsMax]!);
    return out;
  }

  // --- client actions ---

  /** Runs `fn` at virtual time `atMs` (a workload step, a scripted fault). Cancel with the result. */
  at(atMs: number, fn: () => void, label = 'action'): Timer {
    assert(atMs >= this.now, `at(${atMs}) is in the past (now ${this.now})`);
    const timer = new SimTimer(fn, 0);
    const run = (): void => {
      if (!timer.cancelled) fn();
    };
    this.queue.push(new SimEvent(atMs, KIND_ACTION, -1, 0, null, run, label, -1, 0, null));
    return timer;
  }

  after(delayMs: number, fn: () => void, label = 'action'): Timer {
    assert(delayMs >= 0, `after needs a non-negative delay, got ${delayMs}`);
    return this.at(this.now + delayMs, fn, label);
  }

  // --- invariants ---

  /** `check` runs after every event; returning a string (or throwing) fails the run. Returns its removal. */
  addInvariant(name: string, check: InvariantCheck<S>): () => void {
    const entry = { name, check };
    this.invariants.push(entry);
    return () => {
      const i = this.invariants.indexOf(entry);
      if (i >= 0) this.invariants.splice(i, 1);
    };
  }

  private checkInvariants(): void {
    for (const inv of this.invariants) {
      let verdict: unknown;
      try {
        verdict = inv.check(this);
      } catch (err) {
        throw this.fail(inv.name, err instanceof Error ? err.message : String(err), err);
      }
      if (typeof verdict === 'string') throw this.fail(inv.name, verdict);
    }
  }

  /** Fails the run from outside an event, e.g. a liveness bound missed by the caller. */
  fail(invariant: string, detail: string, cause?: unknown): SimulationFailure {
    if (this.failure) return this.failure;
    this.failure = new SimulationFailure(
      {
        seed: this.seed,
        eventIndex: this.eventCount,
        atMs: this.now,
        invariant,
        detail,
        replayCommand: this.replayCommand(),
      },
      cause,
    );
    return this.failure;
  }

  private failFromException(err: unknown): SimulationFailure {
    if (err instanceof SimulationFailure) return err;
    if (err instanceof LimitError && err.fields['limit'] === 'simEventsPendingMax') {
      return this.fail('runaway', err.message, err);
    }
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return this.fail('exception', detail, err);
  }

  /** Runs `fn` (node start-up outside any event) with the same failure conversion as events. */
  private guard(fn: () => void): void {
    if (this.failure) throw this.failure;
    try {
      fn();
    } catch (err) {
      throw this.failFromException(err);
    } finally {
      if (this.stalledThisEvent.length > 0) this.scheduleStallEnds();
    }
  }

  get failed(): SimulationFailure | undefined {
    return this.failure;
  }

  replayCommand(): string {
    return describeReplay({
      seed: this.seed,
      nodeCount: this.nodeList.length,
      ...(this.options.replay ? { replay: this.options.replay } : {}),
    });
  }

  // --- nodes ---

  get nodeIds(): readonly NodeId[] {
    return this.network.nodes;
  }

  /** The live application instance of `id`, or undefined while it is crashed. */
  instance(id: NodeId): S | undefined {
    return this.node(id).instance;
  }

  /** The Env of `id`'s current incarnation, or undefined while it is crashed. */
  env(id: NodeId): Env | undefined {
    return this.node(id).env;
  }

  state(id: NodeId): NodeState {
    return this.node(id).state;
  }

  clock(id: NodeId): SimClock {
    return this.node(id).clock;
  }

  diskStore(id: NodeId): SimDiskStore {
    return this.node(id).disk;
  }

  metrics(id: NodeId): SimMetrics {
    return this.node(id).metrics;
  }

  /** A Rng stream for the caller's own choices (workloads), forked from the run's seed. */
  forkRng(label: string): SeededRng {
    return this.rng.fork(`user/${label}`);
  }

  private node(id: NodeId): SimNode<S> {
    const node = this.byId.get(id);
    assert(node !== undefined, `unknown node ${id}`);
    return node;
  }

  private start(node: SimNode<S>): void {
    node.incarnation++;
    node.state = 'up';
    node.handler = undefined;
    node.transportClosed = false;
    node.metrics = new SimMetrics(undefined, this.tripwires);
    node.env = this.makeEnv(node, node.incarnation);
    this.hash.u32(0x5000 | node.index).u32(node.incarnation);
    try {
      node.instance = this.options.program(node.env);
    } catch (err) {
      // NodeCrashedInIo: it lost power during its own start-up.
      if (!(err instanceof NodeCrashedInIo) && !this.exitOnDataRefusal(node, err) && !this.exitOnDiskError(node, err))
        throw err;
    }
  }

  /**
   * A node that finds its own data damaged stops (a real one exits with data_corrupt and its
   * supervisor gives up): if the operator takes it over, its process is gone and no supervisor
   * restarts it. Checked before exitOnDiskError: a bad-sector read is a disk_io error too, but
   * restarting on the same disk cannot heal it. Returns false when no operator takes the node.
   */
  private exitOnDataRefusal(node: SimNode<S>, err: unknown): boolean {
    const refusal = dataRefusalOf(err);
    if (refusal === undefined || this.options.onDataRefusal === undefined) return false;
    if (!this.options.onDataRefusal(node.id, refusal, err as BaristaError)) return false;
    this.counts.dataRefusals++;
    this.logs.record(node.id, 'error', { refusal, err: (err as Error).message }, 'sim: node stops on damaged data');
    this.hash.u32(0xc000 | node.index).u32(timeMicros(this.now));
    this.crash(node.id, { processOnly: true });
    return true;
  }

  /**
   * A real node exits when its disk fails (an fsync or write error poisons the WAL: the process
   * must restart and recover). Here the node's process dies — the page cache survives, as on a
   * real machine — and its supervisor starts it again after `diskErrorRestartMs` (unless something
   * else restarted or crashed it meanwhile). Returns false for any other error.
   */
  private exitOnDiskError(node: SimNode<S>, err: unknown): boolean {
    const code = err instanceof BaristaError ? err.code : undefined;
    // A life that learned it runs below an earlier incarnation (src/membership/membership.ts)
    // exits the same way: its supervisor starts it again, above what the peer knew.
    if (code === 'incarnation_behind') this.counts.incarnationExits++;
    else if (code === DiskErrorCode.io || code === DiskErrorCode.noSpace) this.counts.diskErrorExits++;
    else return false;
    this.logs.record(
      node.id,
      'error',
      { code, err: (err as Error).message },
      'sim: node exits, its supervisor restarts it',
    );
    this.hash.u32(0xb000 | node.index).u32(timeMicros(this.now));
    this.crash(node.id, { processOnly: true });
    const incarnation = node.incarnation;
    this.after(
      diskErrorRestartMs,
      () => {
        if (node.state === 'crashed' && node.incarnation === incarnation) this.restart(node.id);
      },
      `supervisor restarts ${node.id}`,
    );
    return true;
  }

  private diskFaultCounts(): DiskFaultCounts {
    const sum = emptyDiskFaultCounts();
    for (const node of this.nodeList) addDiskFaultCounts(sum, node.disk.faultCounts);
    return sum;
  }

  /**
   * Power loss on `id`: memory gone, timers dead, unsynced disk state partly lost. No-op if crashed.
   * With `processOnly`, only the process dies (kill -9, or an exit after a disk error): the
   * machine's page cache survives, so every write stays visible to the next incarnation.
   */
  crash(id: NodeId, options: { processOnly?: boolean } = {}): void {
    const node = this.node(id);
    if (node.state === 'crashed') return;
    const instance = node.instance;
    node.state = 'crashed';
    node.incarnation++; // kills timers and in-flight deliveries of the old incarnation
    node.instance = undefined;
    node.env = undefined;
    node.handler = undefined;
    node.held = [];
    node.heldDeliveries = 0;
    node.pausedBy = undefined;
    node.floorMs = 0; // a stall in progress ends with the life: its sync and what followed never happened
    node.afterStall = [];
    node.crashPoint.disarm();
    this.clients.nodeDown(id);
    this.counts.crashes++;
    this.hash.u32(0x6000 | node.index).u32(timeMicros(this.now));
    this.logs.record(id, 'warn', { incarnation: node.incarnation }, 'sim: crash');
    // The disk crashes first, so stop() cannot persist anything a power loss would not: its file
    // handles are stale (close() is allowed, writes throw), its sends and timers are dead.
    let report: DiskCrashReport = { filesRolledBack: 0, tornWrites: 0, dirOpsLost: 0 };
    if (options.processOnly === true) node.disk.restartProcess();
    else report = node.disk.crash();
    this.counts.diskFilesRolledBack += report.filesRolledBack;
    this.counts.diskTornWrites += report.tornWrites;
    this.counts.diskDirOpsLost += report.dirOpsLost;
    if (hasStop(instance)) instance.stop();
  }

  /**
   * Crashes `id` before its `ops`-th state-changing disk operation from now (a write, sync, rename,
   * ...), i.e. in the middle of a batch of I/O: see crash-point.ts. Replaces an earlier arming;
   * a crash disarms it.
   */
  armCrashPoint(id: NodeId, ops: number): void {
    // On a crashed node it fires during the next start-up: a crash in the middle of recovery.
    this.node(id).crashPoint.arm(ops);
  }

  disarmCrashPoint(id: NodeId): void {
    this.node(id).crashPoint.disarm();
  }

  private crashInIo(id: NodeId): never {
    this.counts.crashesInIo++;
    this.logs.record(id, 'warn', {}, 'sim: crash point reached in disk I/O');
    this.crash(id);
    throw new NodeCrashedInIo(id);
  }

  /** Starts `id` again on its surviving disk with fresh memory (or for the first time, if `initiallyDown`). No-op unless crashed. */
  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.state !== 'crashed') return;
    this.counts.restarts++;
    this.logs.record(id, 'warn', {}, 'sim: restart');
    this.start(node);
  }

  /** A stop-the-world stall: nothing of `id` runs until resume(). No-op if crashed or already paused by a fault. */
  pause(id: NodeId): void {
    const node = this.node(id);
    if (node.state === 'crashed' || node.pausedBy === 'fault') return;
    node.pausedBy = 'fault'; // a fault pause outlasts a slow-sync stall in progress
    if (node.state === 'paused') return;
    node.state = 'paused';
    this.counts.pauses++;
    this.hash.u32(0x7000 | node.index).u32(timeMicros(this.now));
  }

  /** Ends a pause: everything that came due meanwhile runs now, late, in its original order. */
  resume(id: NodeId): void {
    const node = this.node(id);
    if (node.state !== 'paused') return;
    node.state = 'up';
    node.pausedBy = undefined;
    this.hash.u32(0x8000 | node.index).u32(timeMicros(this.now));
    const held = node.held;
    node.held = [];
    node.heldDeliveries = 0;
    for (const ev of held) {
      ev.atMs = this.now;
      this.queue.pushFirst(ev); // ahead of anything due now that arrived while they waited
    }
  }

  /**
   * A slow sync blocks the node for `stallMs` from where its code is now. The Disk API is
   * synchronous, so the fsync returns at once to the code, and the rest of the current event is
   * the code after the fsync: it runs ahead in time, at the stall's end (the node's `floorMs`: its
   * clock, timers, peer messages and client bytes start from there; sends are dropped if the node
   * loses power first). The node runs nothing else until then (paused), and the disk makes the
   * sync durable only then (SimDiskStore.completeSlowSyncs): a power loss inside the stall loses
   * it, together with everything the node "did" after it, which nobody has seen. Observers of a
   * node's memory (invariants, workloads' direct callbacks) must wait for it too: isLagged, fromNode.
   */
  private stall(node: SimNode<S>, stallMs: number): void {
    if (node.state === 'crashed') return;
    node.floorMs = Math.max(this.now, node.floorMs) + stallMs;
    if (node.floorMs > this.eventFloorMs) this.eventFloorMs = node.floorMs;
    if (node.state === 'up') {
      node.state = 'paused';
      node.pausedBy = 'stall';
    }
    this.counts.slowSyncStalls++;
    node.stalls++;
    this.hash.u32(0xa000 | node.index).u32(timeMicros(stallMs));
    if (!this.stalledThisEvent.includes(node)) this.stalledThisEvent.push(node);
  }

  /**
   * Schedules the end of each stall begun in the event that just ran. After the event, so that what
   * its code did after the fsync (sends, callbacks: queued at the stall's end during the event)
   * runs at the stall's end before the node takes in what arrived meanwhile.
   */
  private scheduleStallEnds(): void {
    for (const node of this.stalledThisEvent) {
      const incarnation = node.incarnation;
      const stall = node.stalls;
      this.at(
        Math.max(node.floorMs, this.now),
        () => {
          if (node.incarnation !== incarnation || node.stalls !== stall) return; // crashed, or a later stall
          node.disk.completeSlowSyncs();
          if (node.pausedBy === 'stall') this.resume(node.id);
        },
        'slow-sync-end',
      );
    }
    this.stalledThisEvent = [];
  }

  /** True while `id`'s code has run ahead of virtual time inside a slow-sync stall (see `stall`). */
  isLagged(id: NodeId): boolean {
    const node = this.node(id);
    return node.state !== 'crashed' && node.floorMs > this.now;
  }

  /**
   * Wraps a callback that `id`'s code calls into the harness (a workload's reply, an observer's
   * hook): while the node runs ahead inside a stall it runs at the stall's end instead, and not
   * at all if the node loses power first (nobody could have seen it).
   */
  fromNode<A extends unknown[]>(id: NodeId, fn: (...args: A) => void): (...args: A) => void {
    const node = this.node(id);
    return (...args: A) => {
      if (node.state === 'crashed') return fn(...args);
      this.orAfterStall(node, () => fn(...args));
    };
  }

  /**
   * Runs `fn` now, or, while the node runs ahead inside a stall or outputs of an earlier stall
   * wait, after them at the stall's end (in order; dropped if the node loses power first).
   */
  private orAfterStall(node: SimNode<S>, fn: () => void): void {
    if (node.floorMs <= this.now && node.afterStall.length === 0) return fn();
    node.afterStall.push(fn);
    if (node.afterStall.length === 1) this.scheduleAfterStall(node, node.incarnation);
  }

  private scheduleAfterStall(node: SimNode<S>, incarnation: number): void {
    this.at(
      Math.max(node.floorMs, this.now),
      () => {
        if (node.incarnation !== incarnation) return; // crashed: crash() dropped the queue
        if (node.floorMs > this.now) return this.scheduleAfterStall(node, incarnation); // a later stall
        // Each output may add more (a callback that sends): they join the end and run in this pass.
        for (let i = 0; i < node.afterStall.length; i++) node.afterStall[i]!();
        node.afterStall = [];
      },
      'after-stall',
    );
  }

  setClock(id: NodeId, settings: ClockSettings): void {
    this.node(id).clock.set(settings);
    this.hash.u32(0x9000 | this.node(id).index).string(JSON.stringify(settings));
  }

  // --- faults ---

  /** Applies one fault now; with `durationMs`, schedules its heal. Returns the heal (idempotent). */
  inject(fault: Fault, options: { durationMs?: number } = {}): () => void {
    this.counts.faultsInjected++;
    this.faultsByKind[fault.kind] = (this.faultsByKind[fault.kind] ?? 0) + 1;
    this.hash.string(describeFault(fault)).u32(timeMicros(this.now));
    this.logs.record('sim', 'info', { fault }, 'sim: fault');
    const undo = applyFault(this, fault, this.nemesisRng);
    let healed = false;
    const heal = (): void => {
      if (healed) return;
      healed = true;
      this.hash.string(`heal ${describeFault(fault)}`).u32(timeMicros(this.now));
      undo();
    };
    if (options.durationMs !== undefined) {
      const epoch = this.nemesisEpoch;
      this.after(
        options.durationMs,
        () => {
          if (epoch === this.nemesisEpoch) heal();
        },
        'nemesis-heal',
      );
    }
    return heal;
  }

  /** Schedules faults (scripted, or from randomNemesis). healAll() cancels those not yet run. */
  schedule(faults: readonly ScheduledFault[]): void {
    const epoch = this.nemesisEpoch;
    for (const f of faults) {
      this.at(
        f.atMs,
        () => {
          if (epoch !== this.nemesisEpoch) return;
          this.inject(f.fault, f.durationMs === undefined ? {} : { durationMs: f.durationMs });
        },
        'nemesis',
      );
    }
  }

  /**
   * Ends the safety phase: cancels pending scheduled faults, heals the network, resumes paused
   * nodes, restarts crashed ones, stops clock drift (skew stays) and stops disk-fault injection
   * (SimDiskStore.healFaults: no more EIO/ENOSPC exits, stalls or rot). Then the liveness phase runs.
   */
  healAll(): void {
    this.nemesisEpoch++;
    this.hash.string('heal-all').u32(timeMicros(this.now));
    this.network.heal();
    this.clients.healAll();
    this.guard(() => {
      for (const node of this.nodeList) {
        node.crashPoint.disarm();
        node.disk.healFaults();
        node.clock.set({ driftRate: 0 });
        if (node.state === 'paused') this.resume(node.id);
        if (node.state === 'crashed') this.restart(node.id);
      }
    });
  }

  // --- results ---

  /** Hex digest of every event and fault so far: equal for equal (seed, options, workload). */
  traceHash(): string {
    return this.hash.finish(this.eventCount);
  }

  stats(): SimulationStats {
    const c = this.network.counters;
    const droppedBy = { ...c.dropped };
    return {
      seed: this.seed,
      nowMs: this.now,
      events: this.eventCount,
      messagesSent: c.sent,
      messagesDelivered: c.delivered,
      messagesDropped: Object.values(droppedBy).reduce((a, b) => a + b, 0),
      messagesDroppedBy: droppedBy,
      messagesDuplicated: c.duplicated,
      messagesReordered: c.reordered,
      messagesCorrupted: c.corrupted,
      ...this.counts,
      faultsInjectedByKind: { ...this.faultsByKind },
      diskFaults: this.diskFaultCounts(),
    };
  }

  // --- Env construction ---

  private makeEnv(node: SimNode<S>, incarnation: number): Env {
    const alive = (): boolean => node.incarnation === incarnation && node.state !== 'crashed';
    const clock: Clock = {
      monotonicMs: () => node.clock.monotonicMs(),
      wallMs: () => node.clock.wallMs(),
    };
    const timer = (delayMs: number, fn: () => void, periodMs: number): Timer => {
      const t = new SimTimer(fn, periodMs);
      if (!alive()) {
        t.cancelled = true;
        return t;
      }
      t.dueLocalMs = node.clock.monotonicMs() + delayMs;
      const atMs = Math.max(this.now, node.floorMs) + node.clock.virtualDelayMs(delayMs);
      this.queue.push(new SimEvent(atMs, KIND_TIMER, node.index, incarnation, t, null, '', -1, 0, null));
      return t;
    };
    const timers: Timers = {
      after: (delayMs, fn) => {
        assert(Number.isFinite(delayMs) && delayMs >= 0, `timers.after needs a delay >= 0, got ${delayMs}`);
        return timer(delayMs, fn, 0);
      },
      every: (periodMs, fn) => {
        assert(Number.isFinite(periodMs) && periodMs > 0, `timers.every needs a period > 0, got ${periodMs}`);
        return timer(periodMs, fn, periodMs);
      },
    };
    const transport: Transport = {
      self: node.id,
      // network.send copies what it delivers; a send held for a stall's end copies first.
      copiesPayload: true,
      send: (to, type, sent) => {
        if (!alive() || node.transportClosed) return false;
        if (node.floorMs > this.now || node.afterStall.length > 0) {
          // Sent by code running ahead inside a stall: it leaves at the stall's end, if the node lives.
          const payload = sent.slice();
          this.orAfterStall(node, () => {
            if (alive() && !node.transportClosed) this.network.send(node.index, to, type, payload);
          });
          return true;
        }
        return this.network.send(node.index, to, type, sent);
      },
      onMessage: (handler) => {
        if (alive()) node.handler = handler;
      },
      close: () => {
        if (alive()) {
          node.transportClosed = true;
          node.handler = undefined;
        }
        return Promise.resolve();
      },
    };
    const rng: Rng = this.rng.fork(`node/${node.id}/${incarnation}`);
    const disk: Disk = node.crashPoint.wrap(node.disk.view());
    const log: Logger = this.logs.logger(node.id);
    const metrics = node.metrics;
    return {
      nodeId: node.id,
      clock,
      timers,
      rng,
      transport,
      disk,
      metrics,
      log,
      listen: (protocol, options, handler) =>
        this.clients.listen(node.id, { clock, timers, metrics, log, alive }, protocol, options, handler),
      mutations: this.options.mutations ?? noMutations,
    };
  }
}

/**
 * The per-event trace digest: two 32-bit FNV-1a lanes with different offsets and primes, fed one
 * 32-bit word at a time with integer math only (no BigInt, so no allocation per event), finished
 * into a lib Hash64 together with the event count. Not cryptographic: it tells runs apart.
 */
class TraceHasher {
  private a = 0x811c9dc5;
  private b = 0x050c5d1f;

  u32(x: number): this {
    x >>>= 0;
    this.a = Math.imul(this.a ^ x, 0x01000193);
    this.b = Math.imul(this.b ^ (x + 0x9e3779b9), 0x0100018d) ^ (this.b >>> 13);
    return this;
  }

  string(text: string): this {
    this.u32(text.length);
    for (let i = 0; i < text.length; i++) this.u32(text.charCodeAt(i));
    return this;
  }

  finish(events: number): string {
    return new Hash64()
      .u32(this.a >>> 0)
      .u32(this.b >>> 0)
      .number(events)
      .hex();
  }
}

function hasStop(x: unknown): x is { stop(): void } {
  return typeof x === 'object' && x !== null && typeof (x as { stop?: unknown }).stop === 'function';
}

/** Virtual time in whole microseconds, folded to 32 bits for the trace hash. */
function timeMicros(ms: number): number {
  return Math.round(ms * 1000) >>> 0;
}

/** 32-bit FNV-1a over bytes: a cheap payload digest for the trace hash. */
function digest32(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}
