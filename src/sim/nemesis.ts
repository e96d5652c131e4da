// The nemesis: faults as plain data, how each is applied and undone, and a seeded random schedule.
//
// A Fault is a JSON-able value, so a schedule can be printed, stored next to a failing seed and
// replayed. applyFault() does it to a Simulation and returns the undo (restart a crashed node,
// resume a paused one, unblock exactly the links it blocked, ...). randomNemesis() turns a seed into
// a schedule of faults, each healed after a random duration, within a time window: the *safety
// phase*. After it the caller runs sim.healAll() and gives the cluster a bounded *liveness phase*.
//
// Invariants: a schedule is a pure function of (rng stream, nodes, options); the random schedule
// never has more than `downMax` nodes crashed-or-paused at once (by its own intervals).

import type { NodeId } from '../env/types.ts';
import { assert, unreachable } from '../lib/assert.ts';
import { ConfigError } from '../lib/errors.ts';
import type { SeededRng } from '../lib/rng.ts';
import { clockDriftRateMax } from './clock.ts';
import { shuffle } from './network.ts';
import type { Simulation } from './simulation.ts';
import { limits } from '../lib/limits.ts';

export type Fault =
  /** Blocks every link between nodes of different groups (unlisted nodes stay connected). */
  | { kind: 'partition'; groups: NodeId[][] }
  | { kind: 'isolate'; node: NodeId }
  /** One direction only: `from` cannot reach `to`. */
  | { kind: 'block-link'; from: NodeId; to: NodeId }
  | { kind: 'bridge'; left: NodeId[]; bridge: NodeId; right: NodeId[] }
  /** A random majority/minority split, drawn from the nemesis Rng when applied. */
  | { kind: 'majority-minority' }
  | { kind: 'heal-network' }
  | { kind: 'crash'; node: NodeId }
  /** Power loss in the middle of the node's disk I/O: before its `afterOps`-th write/sync/rename from now. */
  | { kind: 'crash-in-io'; node: NodeId; afterOps: number }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'pause'; node: NodeId }
  | { kind: 'resume'; node: NodeId }
  | { kind: 'clock'; node: NodeId; skewMs?: number; driftRate?: number }
  /** The wall clock stepped by minutes or hours (an NTP step, a VM restored from a snapshot); monotonic time unaffected. */
  | { kind: 'clock-step'; node: NodeId; skewMs: number }
  | { kind: 'clog'; node: NodeId; extraDelayMs: number }
  | { kind: 'unclog'; node: NodeId }
  | { kind: 'loss'; probability: number }
  | { kind: 'heal-all' };

export interface ScheduledFault {
  readonly atMs: number;
  readonly fault: Fault;
  /** Heal the fault this long after applying it; omit for faults that stay (or heal themselves). */
  readonly durationMs?: number;
}

export function describeFault(f: Fault): string {
  return JSON.stringify(f);
}

const noop = (): void => {};

/** Applies `fault` now and returns its undo. */
export function applyFault<S>(sim: Simulation<S>, fault: Fault, rng: SeededRng): () => void {
  const net = sim.network;
  switch (fault.kind) {
    case 'partition': {
      const cut = net.partition(fault.groups);
      return () => cut.heal();
    }
    case 'isolate': {
      const cut = net.isolate(fault.node);
      return () => cut.heal();
    }
    case 'block-link': {
      const cut = net.blockLink(fault.from, fault.to);
      return () => cut.heal();
    }
    case 'bridge': {
      const cut = net.bridge(fault.left, fault.bridge, fault.right);
      return () => cut.heal();
    }
    case 'majority-minority': {
      const { cut } = net.majorityMinority(rng);
      return () => cut.heal();
    }
    case 'heal-network':
      net.heal();
      return noop;
    case 'crash':
      sim.crash(fault.node);
      return () => sim.restart(fault.node);
    case 'crash-in-io':
      sim.armCrashPoint(fault.node, fault.afterOps);
      return () => {
        sim.disarmCrashPoint(fault.node); // it may never have done that much I/O
        sim.restart(fault.node);
      };
    case 'restart':
      sim.restart(fault.node);
      return noop;
    case 'pause':
      sim.pause(fault.node);
      return () => sim.resume(fault.node);
    case 'resume':
      sim.resume(fault.node);
      return noop;
    case 'clock': {
      const clock = sim.clock(fault.node);
      const before = { skewMs: clock.skewMs, driftRate: clock.driftRate };
      sim.setClock(fault.node, {
        ...(fault.skewMs === undefined ? {} : { skewMs: fault.skewMs }),
        ...(fault.driftRate === undefined ? {} : { driftRate: fault.driftRate }),
      });
      return () => sim.setClock(fault.node, before);
    }
    case 'clock-step': {
      const before = sim.clock(fault.node).skewMs;
      sim.setClock(fault.node, { skewMs: fault.skewMs });
      return () => sim.setClock(fault.node, { skewMs: before });
    }
    case 'clog':
      net.clog(fault.node, fault.extraDelayMs);
      return () => net.unclog(fault.node);
    case 'unclog':
      net.unclog(fault.node);
      return noop;
    case 'loss':
      net.setLossProbability(fault.probability);
      return () => net.restoreLossProbability();
    case 'heal-all':
      sim.healAll();
      return noop;
    default:
      return unreachable(fault, 'unknown fault');
  }
}

export type NemesisKind = 'partition' | 'crash' | 'crash-in-io' | 'pause' | 'clock' | 'clock-step' | 'clog' | 'loss';

export interface RandomNemesisOptions {
  readonly kinds: readonly NemesisKind[];
  /**
   * Relative frequency of each kind among `kinds` (default: all equal). The swarm draws these per
   * seed, so one run is mostly partitions and another mostly crashes (swarm testing).
   */
  readonly weights?: Partial<Readonly<Record<NemesisKind, number>>>;
  /** The safety phase: faults start in [startMs, endMs) and every heal lands by endMs. */
  readonly startMs: number;
  readonly endMs: number;
  /** Gap between consecutive fault starts, uniform in [min, max]. */
  readonly intervalMs?: { min: number; max: number };
  /** How long each fault lasts, uniform in [min, max] (cut short at endMs). */
  readonly durationMs?: { min: number; max: number };
  /** Nodes crashed or paused at once; default floor((n-1)/2), a minority. */
  readonly downMax?: number;
  readonly clogDelayMs?: number;
  readonly lossProbability?: number;
  readonly skewMsMax?: number;
  readonly driftRateMax?: number;
  /** clock-step: the largest step; a step is half to all of it, ahead or behind (default 10 min). */
  readonly clockStepMsMax?: number;
}

/** Faults in one random schedule; a schedule is data, so it is bounded like any other collection. */
export const nemesisFaultsMax = limits.simNemesisFaultsMax;

/** Draws a fault schedule for `nodes` from `rng` (pass `sim.forkRng('nemesis')` or similar). */
export function randomNemesis(
  rng: SeededRng,
  nodes: readonly NodeId[],
  options: RandomNemesisOptions,
): ScheduledFault[] {
  const interval = options.intervalMs ?? { min: 200, max: 2_000 };
  const duration = options.durationMs ?? { min: 100, max: 3_000 };
  const downMax = options.downMax ?? Math.floor((nodes.length - 1) / 2);
  if (options.kinds.length === 0) throw new ConfigError('nemesis.kinds', 'needs at least one kind');
  if (!(options.endMs >= options.startMs)) throw new ConfigError('nemesis.endMs', 'must be >= startMs');
  if (!(interval.min > 0 && interval.max >= interval.min))
    throw new ConfigError('nemesis.intervalMs', 'needs 0 < min <= max');
  if (!(duration.min > 0 && duration.max >= duration.min))
    throw new ConfigError('nemesis.durationMs', 'needs 0 < min <= max');
  const driftMax = options.driftRateMax ?? 0.05;
  if (!(driftMax >= 0 && driftMax <= clockDriftRateMax)) {
    throw new ConfigError('nemesis.driftRateMax', `must be in [0, ${clockDriftRateMax}]`);
  }
  assert(nodes.length > 0, 'randomNemesis needs nodes');
  const weights = options.weights;
  let weightTotal = 0;
  if (weights !== undefined) {
    for (const kind of options.kinds) {
      const w = weights[kind] ?? 1;
      if (!(Number.isFinite(w) && w >= 0))
        throw new ConfigError(`nemesis.weights.${kind}`, 'must be a finite weight >= 0');
      weightTotal += w;
    }
    if (!(weightTotal > 0)) throw new ConfigError('nemesis.weights', 'at least one listed kind needs a weight > 0');
  }
  const pickKind = (): NemesisKind => {
    if (weights === undefined) return rng.pick(options.kinds);
    let x = rng.float() * weightTotal;
    for (const kind of options.kinds) {
      x -= weights[kind] ?? 1;
      if (x < 0) return kind;
    }
    // Float rounding left x at 0: the last kind that can be drawn at all.
    return options.kinds.findLast((kind) => (weights[kind] ?? 1) > 0)!;
  };

  const uniform = (r: { min: number; max: number }): number => r.min + rng.float() * (r.max - r.min);
  const out: ScheduledFault[] = [];
  /** [start, end, node] of crash/pause faults already placed, to respect downMax. */
  const down: [number, number, NodeId][] = [];
  let t = options.startMs + uniform(interval);
  while (t < options.endMs) {
    if (out.length >= nemesisFaultsMax) throw new ConfigError('nemesis', `more than ${nemesisFaultsMax} faults`);
    const kind = pickKind();
    const durationMs = Math.min(uniform(duration), options.endMs - t);
    const end = t + durationMs;
    const node = rng.pick(nodes);
    let fault: Fault | undefined;
    switch (kind) {
      case 'partition':
        fault = randomCut(rng, nodes);
        break;
      case 'crash':
      case 'crash-in-io':
      case 'pause': {
        const overlapping = down.filter(([s, e]) => s < end && t < e);
        const busy = new Set(overlapping.map(([, , id]) => id));
        if (overlapping.length < downMax && !busy.has(node)) {
          down.push([t, end, node]);
          // A Ready is a few appends and one sync; a membership start is write, sync, rename, syncDir.
          fault = kind === 'crash-in-io' ? { kind, node, afterOps: 1 + rng.int(8) } : { kind, node };
        }
        break;
      }
      case 'clock':
        fault = {
          kind: 'clock',
          node,
          skewMs: Math.round((rng.float() * 2 - 1) * (options.skewMsMax ?? 1_000)),
          driftRate: (rng.float() * 2 - 1) * driftMax,
        };
        break;
      case 'clock-step': {
        const stepMs = (options.clockStepMsMax ?? 600_000) * (0.5 + 0.5 * rng.float());
        fault = { kind: 'clock-step', node, skewMs: Math.round(rng.chance(0.5) ? stepMs : -stepMs) };
        break;
      }
      case 'clog':
        fault = { kind: 'clog', node, extraDelayMs: options.clogDelayMs ?? 500 };
        break;
      case 'loss':
        fault = { kind: 'loss', probability: options.lossProbability ?? 0.2 };
        break;
      default:
        unreachable(kind, 'unknown nemesis kind');
    }
    if (fault !== undefined) out.push({ atMs: t, fault, durationMs });
    t += uniform(interval);
  }
  return out;
}

/** One random network cut: a split, an isolated node, a bridge, or a one-way link. */
function randomCut(rng: SeededRng, nodes: readonly NodeId[]): Fault {
  if (nodes.length < 2) return { kind: 'heal-network' };
  const shuffled = shuffle(rng, nodes);
  const shape = rng.int(nodes.length >= 3 ? 4 : 3);
  switch (shape) {
    case 0: {
      const split = 1 + rng.int(nodes.length - 1);
      return { kind: 'partition', groups: [shuffled.slice(0, split), shuffled.slice(split)] };
    }
    case 1:
      return { kind: 'isolate', node: shuffled[0]! };
    case 2:
      return { kind: 'block-link', from: shuffled[0]!, to: shuffled[1]! };
    default: {
      const rest = shuffled.slice(1);
      const split = 1 + rng.int(rest.length - 1);
      return { kind: 'bridge', bridge: shuffled[0]!, left: rest.slice(0, split), right: rest.slice(split) };
    }
  }
}
