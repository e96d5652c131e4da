// Swarm testing (as TigerBeetle's VOPR and FoundationDB's simulation do): the seed draws the fault
// MIX — which fault classes are on in this run — and each class's INTENSITY, so that over many
// seeds every combination is explored, including the quiet ones in which a rare interleaving has
// room to happen (a run with every fault at full strength mostly tests leader elections).
//
// The fault classes form one typed registry, `faultClasses`: each entry says how it is drawn (what
// it switches on in the simulator's knobs, at an intensity drawn from [0, 1)) and how it is
// counted (what the simulator's counters say it actually injected — a class that was "on" but
// never fired counts zero). Adding a fault class is one entry here.
//
// Persistent rot, latent bad sectors and misdirected writes make a correct node refuse to start
// (data_corrupt, or EIO reading a bad sector): the cluster run's simulated operator then wipes the
// node and rejoins it as a learner (src/node/sim-cluster.ts), as issue 7 item 5 documents.
//
// Invariants: a mix is a pure function of the seed; each class draws from its own Rng stream
// (forked by the class's name), so adding or removing a class leaves the other classes' draws of
// every seed unchanged; classes that are off leave their knobs at "no fault".

import { ConfigError } from '../lib/errors.ts';
import { SeededRng } from '../lib/rng.ts';
import type { DiskFaults } from './disk.ts';
import type { NemesisKind, RandomNemesisOptions } from './nemesis.ts';
import type { NetworkConfig } from './network.ts';
import type { SimulationStats } from './simulation.ts';

/** What a seed's mix sets: the simulator's knobs plus the workload's own fault switches. */
export interface SwarmKnobs {
  network: Partial<NetworkConfig>;
  diskFaults: Partial<DiskFaults>;
  /**
   * Persistent damage (the rot classes) for ONE node's disk, which the run draws: a group that
   * loses the data of a majority of its voters cannot recover without forcing a new cluster
   * (seed 6 with rot on every disk: two of the KV group's four voters wiped), so, like crashes
   * (a minority down at once), rot stays within what the cluster tolerates.
   */
  rotDisk: Partial<DiskFaults>;
  /** The random nemesis schedule; no kinds = no scheduled faults. */
  nemesis: {
    kinds: NemesisKind[];
    weights: Partial<Record<NemesisKind, number>>;
    intervalMs: { min: number; max: number };
  } & {
    -readonly [K in
      | 'clogDelayMs'
      | 'lossProbability'
      | 'skewMsMax'
      | 'driftRateMax'
      | 'clockStepMsMax']?: RandomNemesisOptions[K];
  };
  /** Raft driver settings (src/raft/driver.ts RaftDriverOptions). */
  raft: {
    readOnly?: 'lease';
    /** The clock-rate bound lease reads rely on; the swarm keeps drawn drift within it. */
    leaseClockDriftRateMax?: number;
  };
  workload: {
    /** Leadership transfers and membership changes during the safety phase. */
    control: boolean;
    /** Clients use exactly-once sessions (retries carry the same (session, seq)). */
    sessions: boolean;
  };
}

/** What a fault class is counted from: the simulator's stats and the workload's counters. */
export interface InjectionCounts {
  readonly stats: SimulationStats;
  /** Leadership transfers and membership changes the workload made. */
  readonly controlActions: number;
  /** Linearizable reads answered in lease mode (0 when the mode is off). */
  readonly leaseReads: number;
}

export interface FaultClass {
  readonly name: string;
  /** What the class injects (for reports and docs). */
  readonly doc: string;
  /** Chance the class is on in a seed's mix. */
  readonly onProbability: number;
  /** Switches the class on in `knobs` at intensity `u` in [0, 1); returns the knob values, for reports. */
  enable(knobs: SwarmKnobs, u: number): string;
  /** Faults of this class the run injected, from counters (not from whether it was on). */
  injected(c: InjectionCounts): number;
}

/**
 * The clock-rate bound lease reads are correct under (the driver's default leaseClockDriftRateMax);
 * beyond it a lease read may be stale by design, which the lease tests use as a negative control.
 */
export const leaseClockDriftRateMax = 0.05;

/** `lo * (hi/lo)^u`: intensities spread evenly over orders of magnitude. */
function logUniform(lo: number, hi: number, u: number): number {
  return lo * (hi / lo) ** u;
}

function round(x: number, digits = 4): number {
  return Number(x.toPrecision(digits));
}

/** A nemesis kind as a fault class: on = in the schedule, intensity = its weight among the kinds. */
function nemesisWeight(knobs: SwarmKnobs, kind: NemesisKind, u: number): number {
  const weight = round(0.25 + 1.75 * u, 3);
  knobs.nemesis.kinds.push(kind);
  knobs.nemesis.weights[kind] = weight;
  return weight;
}

function byKind(c: InjectionCounts, ...kinds: string[]): number {
  let n = 0;
  for (const kind of kinds) n += c.stats.faultsInjectedByKind[kind] ?? 0;
  return n;
}

export const faultClasses: readonly FaultClass[] = [
  {
    name: 'partition',
    doc: 'network cuts: splits, isolation, one-way links, bridges',
    onProbability: 0.7,
    enable: (k, u) => `weight ${nemesisWeight(k, 'partition', u)}`,
    injected: (c) => byKind(c, 'partition', 'isolate', 'block-link', 'bridge', 'majority-minority'),
  },
  {
    name: 'crash',
    doc: 'power loss of a node between events (a minority down at once), restarted later from its disk',
    onProbability: 0.7,
    enable: (k, u) => `weight ${nemesisWeight(k, 'crash', u)}`,
    // Crashes inside I/O, and exits after a disk error (fsync-eio, write-eio, enospc), are counted
    // by their own classes.
    // Stops on damaged data (the rot classes, taken over by the operator) are not crashes either.
    injected: (c) =>
      c.stats.crashes - c.stats.crashesInIo - c.stats.diskErrorExits - c.stats.incarnationExits - c.stats.dataRefusals,
  },
  {
    name: 'crash-in-io',
    doc: 'power loss in the middle of a batch of disk I/O (before a write, sync or rename)',
    onProbability: 0.7,
    enable: (k, u) => `weight ${nemesisWeight(k, 'crash-in-io', u)}`,
    injected: (c) => c.stats.crashesInIo,
  },
  {
    name: 'lost-unsynced',
    doc: 'a crash loses unsynced file writes and directory changes (an in-order prefix survives)',
    onProbability: 0.8,
    enable: (k) => {
      k.diskFaults.lostUnsynced = true;
      k.diskFaults.lostUnsyncedDirOps = true;
      return 'on';
    },
    injected: (c) => c.stats.diskFilesRolledBack + c.stats.diskDirOpsLost,
  },
  {
    name: 'torn-write',
    doc: 'a crash tears the last surviving unsynced write (only a prefix of its bytes lands)',
    onProbability: 0.7,
    enable: (k) => {
      k.diskFaults.tornWrites = true;
      return 'on';
    },
    injected: (c) => c.stats.diskTornWrites,
  },
  {
    name: 'torn-sectors-any-order',
    doc: 'a crash lands the sectors of lost unsynced writes in any order, not only as a prefix',
    onProbability: 0.6,
    enable: (k) => {
      k.diskFaults.tornSectorsAnyOrder = true;
      return 'on';
    },
    injected: (c) => c.stats.diskFaults.tornSectorsOutOfOrder,
  },
  {
    name: 'fsync-eio',
    doc: 'an fsync fails with EIO (the data stays visible until reboot): the node exits and is restarted',
    onProbability: 0.4,
    enable: (k, u) => {
      k.diskFaults.syncErrorProbability = round(logUniform(0.0005, 0.01, u));
      return `p=${k.diskFaults.syncErrorProbability}`;
    },
    injected: (c) => c.stats.diskFaults.syncErrors,
  },
  {
    name: 'write-eio',
    doc: 'a write fails with EIO (nothing written): the node exits and is restarted',
    onProbability: 0.4,
    enable: (k, u) => {
      k.diskFaults.writeErrorProbability = round(logUniform(0.0001, 0.002, u));
      return `p=${k.diskFaults.writeErrorProbability}`;
    },
    injected: (c) => c.stats.diskFaults.writeErrors,
  },
  {
    name: 'enospc',
    doc: 'a write that grows a file fails with ENOSPC: the node exits and is restarted',
    onProbability: 0.4,
    enable: (k, u) => {
      k.diskFaults.noSpaceProbability = round(logUniform(0.0001, 0.002, u));
      return `p=${k.diskFaults.noSpaceProbability}`;
    },
    injected: (c) => c.stats.diskFaults.noSpaceErrors,
  },
  {
    name: 'pause',
    doc: 'stop-the-world pauses (GC, VM steal): the node runs nothing, then everything late',
    onProbability: 0.6,
    enable: (k, u) => `weight ${nemesisWeight(k, 'pause', u)}`,
    injected: (c) => c.stats.pauses,
  },
  {
    name: 'clock',
    doc: 'wall-clock skew and monotonic drift per node',
    onProbability: 0.6,
    enable: (k, u) => {
      const weight = nemesisWeight(k, 'clock', u);
      k.nemesis.skewMsMax = Math.round(logUniform(10, 5_000, u));
      k.nemesis.driftRateMax = round(logUniform(0.001, 0.2, u));
      return `weight ${weight}, skew <= ${k.nemesis.skewMsMax} ms, drift <= ${k.nemesis.driftRateMax}`;
    },
    injected: (c) => byKind(c, 'clock'),
  },
  {
    // Separate from 'clock' (whose skew stays within seconds) so that adding it left every other
    // class's draws unchanged; steps beyond the KV session timeout (5 min) are what expose a node
    // that measures session time on its own wall clock (mutation kv-time-from-contacted-node).
    name: 'clock-step',
    doc: "a node's wall clock stepped by minutes to hours (NTP step, VM restored from a snapshot)",
    onProbability: 0.3,
    enable: (k, u) => {
      const weight = nemesisWeight(k, 'clock-step', u);
      k.nemesis.clockStepMsMax = Math.round(logUniform(120_000, 7_200_000, u));
      return `weight ${weight}, step <= ${Math.round(k.nemesis.clockStepMsMax / 60_000)} min`;
    },
    injected: (c) => byKind(c, 'clock-step'),
  },
  {
    name: 'clog',
    doc: 'every message from or to a node delayed',
    onProbability: 0.5,
    enable: (k, u) => {
      const weight = nemesisWeight(k, 'clog', u);
      k.nemesis.clogDelayMs = Math.round(logUniform(20, 2_000, u));
      return `weight ${weight}, delay ${k.nemesis.clogDelayMs} ms`;
    },
    injected: (c) => byKind(c, 'clog'),
  },
  {
    name: 'loss',
    doc: 'messages lost: a low background rate plus bursts',
    onProbability: 0.6,
    enable: (k, u) => {
      const weight = nemesisWeight(k, 'loss', u);
      k.nemesis.lossProbability = round(logUniform(0.02, 0.5, u));
      k.network.lossProbability = round(logUniform(0.0005, 0.02, u));
      return `weight ${weight}, bursts p=${k.nemesis.lossProbability}, background p=${k.network.lossProbability}`;
    },
    injected: (c) => c.stats.messagesDroppedBy['loss'] ?? 0,
  },
  {
    name: 'duplicate',
    doc: 'a message delivered twice',
    onProbability: 0.5,
    enable: (k, u) => {
      k.network.duplicateProbability = round(logUniform(0.001, 0.05, u));
      return `p=${k.network.duplicateProbability}`;
    },
    injected: (c) => c.stats.messagesDuplicated,
  },
  {
    name: 'reorder',
    doc: 'a message leaves per-link FIFO order and arrives up to a delay later',
    onProbability: 0.5,
    enable: (k, u) => {
      k.network.reorderProbability = round(logUniform(0.001, 0.1, u));
      k.network.reorderDelayMs = Math.round(logUniform(5, 200, u));
      return `p=${k.network.reorderProbability}, delay <= ${k.network.reorderDelayMs} ms`;
    },
    injected: (c) => c.stats.messagesReordered,
  },
  {
    name: 'payload-corruption',
    doc: 'a message corrupted in flight; the frame checksum catches it and the message is lost',
    onProbability: 0.4,
    enable: (k, u) => {
      k.network.corruptDetectedProbability = round(logUniform(0.001, 0.05, u));
      return `p=${k.network.corruptDetectedProbability}`;
    },
    injected: (c) => c.stats.messagesDroppedBy['corrupt-detected'] ?? 0,
  },
  {
    name: 'slow-sync',
    doc: 'an fsync blocks its node for a while',
    onProbability: 0.4,
    enable: (k, u) => {
      k.diskFaults.slowSyncProbability = round(logUniform(0.001, 0.05, u));
      k.diskFaults.slowSyncMsMax = Math.round(logUniform(10, 500, u));
      return `p=${k.diskFaults.slowSyncProbability}, stall <= ${k.diskFaults.slowSyncMsMax} ms`;
    },
    injected: (c) => c.stats.slowSyncStalls,
  },
  {
    name: 'read-bitflip',
    doc: 'a read returns one bit flipped (transient: the stored bytes stay intact)',
    onProbability: 0.4,
    enable: (k, u) => {
      // Per read call; reads are rare (recovery reads whole segments), so the rate is high — but
      // at most 1 in 10: a disk whose every third read differs is broken, and recovery rightly
      // gives up after a bounded number of disagreeing reads (seed 138 at 0.3 did).
      k.diskFaults.readCorruptionProbability = round(logUniform(0.003, 0.1, u));
      return `p=${k.diskFaults.readCorruptionProbability}`;
    },
    injected: (c) => c.stats.diskFaults.readCorruptions,
  },
  {
    name: 'lease-reads',
    doc: "reads answered from the leader's lease (readOnly 'lease'), with clock drift kept within the lease's bound",
    onProbability: 0.3,
    enable: (k) => {
      k.raft.readOnly = 'lease';
      k.raft.leaseClockDriftRateMax = leaseClockDriftRateMax;
      return `drift bound ${leaseClockDriftRateMax}`;
    },
    injected: (c) => c.leaseReads,
  },
  {
    name: 'membership-change',
    doc: 'leadership transfers and voter removal/re-addition while clients run',
    onProbability: 0.6,
    enable: (k) => {
      k.workload.control = true;
      return 'on';
    },
    injected: (c) => c.controlActions,
  },
  // The three rot classes damage synced data for good (src/sim/disk.ts rotAfterSync), per fsync of
  // a non-empty file, on one node's disk (SwarmKnobs.rotDisk): 0.001–0.01 gives about 1–10 per
  // run. A node that then finds the damage stops; the operator wipes it and rejoins it
  // (src/node/sim-operator.ts), counted as dataRefusals / operatorRejoins in the summary.
  {
    name: 'rot',
    doc: 'a bit of synced data flips for good (on the platter and in the cache)',
    onProbability: 0.25,
    enable: (k, u) => {
      k.rotDisk.corruptionProbability = round(logUniform(0.001, 0.01, u));
      return `p=${k.rotDisk.corruptionProbability} per fsync, one disk`;
    },
    injected: (c) => c.stats.diskFaults.corruptions,
  },
  {
    name: 'latent-sector-error',
    doc: 'a synced sector goes bad: every read of it fails with EIO until it is rewritten',
    onProbability: 0.25,
    enable: (k, u) => {
      k.rotDisk.latentSectorErrorProbability = round(logUniform(0.001, 0.01, u));
      return `p=${k.rotDisk.latentSectorErrorProbability} per fsync, one disk`;
    },
    injected: (c) => c.stats.diskFaults.latentSectorErrors,
  },
  {
    name: 'misdirected-write',
    doc: 'a synced write lands sectors away on the platter (seen after the next power loss)',
    onProbability: 0.25,
    enable: (k, u) => {
      k.rotDisk.misdirectedWriteProbability = round(logUniform(0.001, 0.01, u));
      return `p=${k.rotDisk.misdirectedWriteProbability} per fsync, one disk`;
    },
    injected: (c) => c.stats.diskFaults.misdirectedWrites,
  },
];

export const faultClassNames: readonly string[] = faultClasses.map((c) => c.name);

/**
 * The registry minus `names` (validated: a typo must not silently remove nothing). Since every
 * class draws from its own Rng stream, a seed's mix without a class is its full mix with that
 * class off: how docs/SWARM.md shows that a class is what exposes a planted bug.
 */
export function swarmClassesWithout(names: readonly string[]): readonly FaultClass[] {
  for (const name of names) {
    if (!faultClassNames.includes(name)) {
      throw new ConfigError('--swarm-without', `unknown fault class "${name}"; known: ${faultClassNames.join(', ')}`);
    }
  }
  return faultClasses.filter((c) => !names.includes(c.name));
}

export interface SwarmMix {
  readonly seed: string;
  /** The classes that are on, with their drawn knob values, in registry order. */
  readonly on: readonly { readonly name: string; readonly intensity: string }[];
  readonly knobs: SwarmKnobs;
}

/** The knobs with every class off: a fault-free network and a disk that loses nothing. */
function quietKnobs(): SwarmKnobs {
  return {
    // Undetected corruption (corruptUndetectedProbability) stays 0: Raft is not Byzantine-tolerant.
    network: {
      lossProbability: 0,
      duplicateProbability: 0,
      reorderProbability: 0,
      corruptDetectedProbability: 0,
      corruptUndetectedProbability: 0,
    },
    diskFaults: {
      lostUnsynced: false,
      tornWrites: false,
      tornSectorsAnyOrder: false,
      lostUnsyncedDirOps: false,
      readCorruptionProbability: 0,
      slowSyncProbability: 0,
      syncErrorProbability: 0,
      writeErrorProbability: 0,
      noSpaceProbability: 0,
      corruptionProbability: 0,
      latentSectorErrorProbability: 0,
      misdirectedWriteProbability: 0,
    },
    rotDisk: {},
    nemesis: { kinds: [], weights: {}, intervalMs: { min: 200, max: 2_000 } },
    raft: {},
    workload: { control: false, sessions: false },
  };
}

/** Draws `seed`'s fault mix and intensities from `classes` (default: the whole registry). */
export function drawSwarmMix(seed: string, classes: readonly FaultClass[] = faultClasses): SwarmMix {
  const root = new SeededRng(seed).fork('swarm-mix');
  const knobs = quietKnobs();
  const general = root.fork('general');
  // How often scheduled faults start: from a storm (every ~100 ms) to a trickle (every ~3 s).
  const gapMs = logUniform(100, 3_000, general.float());
  knobs.nemesis.intervalMs = { min: Math.round(gapMs / 2), max: Math.round(gapMs * 1.5) };
  knobs.workload.sessions = general.chance(0.5);
  const on: { name: string; intensity: string }[] = [];
  for (const cls of classes) {
    const rng = root.fork(`class/${cls.name}`);
    const isOn = rng.chance(cls.onProbability);
    const u = rng.float();
    if (isOn) on.push({ name: cls.name, intensity: cls.enable(knobs, u) });
  }
  // Lease reads are correct only while clocks drift within the lease's bound: a swarm that drew
  // more would report the documented limit of lease mode, not a defect.
  const driftBound = knobs.raft.leaseClockDriftRateMax;
  if (driftBound !== undefined && (knobs.nemesis.driftRateMax ?? 0) > driftBound) {
    knobs.nemesis.driftRateMax = driftBound;
  }
  return { seed, on, knobs };
}

/** Per-class injected counts of one run, for every class of the registry (zeros included). */
export function injectedByClass(
  c: InjectionCounts,
  classes: readonly FaultClass[] = faultClasses,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const cls of classes) out[cls.name] = cls.injected(c);
  return out;
}

/** Sums per-class counts over seeds, and counts in how many seeds each class fired. */
export class SwarmTally {
  readonly totals: Record<string, number> = {};
  readonly seedsInjecting: Record<string, number> = {};
  seeds = 0;

  constructor(readonly classNames: readonly string[] = faultClassNames) {
    for (const name of classNames) {
      this.totals[name] = 0;
      this.seedsInjecting[name] = 0;
    }
  }

  add(injected: Readonly<Record<string, number>>): void {
    this.seeds++;
    for (const name of this.classNames) {
      const n = injected[name] ?? 0;
      this.totals[name] = (this.totals[name] ?? 0) + n;
      if (n > 0) this.seedsInjecting[name] = (this.seedsInjecting[name] ?? 0) + 1;
    }
  }

  /** Classes that no seed injected: the swarm did not test them at all. */
  neverInjected(): string[] {
    return this.classNames.filter((name) => (this.totals[name] ?? 0) === 0);
  }
}
