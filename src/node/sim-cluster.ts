// Runs a whole Baristas cluster — the real NodeServices program — inside the deterministic
// simulator: a safety phase with a seeded nemesis (partitions, crashes with disk faults, pauses,
// clock skew/drift, clogged links, message loss) while invariants are checked after every event,
// then a liveness phase (everything healed and restarted) in which the cluster must converge
// within a bound. The same (seed, options) replays the same run and trace hash.
//
// In swarm mode (`swarm: true`, `barista sim --swarm`) the seed also draws which fault classes are
// on and how hard each hits (src/sim/swarm.ts): network duplication/reordering/loss, disk crash
// semantics, slow syncs, read bit-flips, the nemesis mix and the workload's membership changes.
// Every result counts what each fault class actually injected. `mutations` plants bugs
// (src/lib/mutations.ts) to show that a seed catches them.
//
// What runs comes from the service registry (src/node/registry.ts): every service's invariants
// in every run, every service's convergence condition in the liveness phase, and the named
// workload (`workload`), or with `workload: 'mix'` the workloads the seed draws (each mixable
// workload on with a fixed chance, at least one, each at an intensity in [0, 1) from the seed).
//
// This file is deterministic: it uses only the simulator's virtual time and seeded randomness.

import { type Mutation, type Mutations, mutationsFrom } from '../lib/mutations.ts';
import type { DiskFaults } from '../sim/disk.ts';
import type { NemesisKind, ScheduledFault } from '../sim/nemesis.ts';
import { drawSwarmMix, injectedByClass, type SwarmMix, swarmClassesWithout } from '../sim/swarm.ts';
import { randomNemesis } from '../sim/nemesis.ts';
import { type Simulation, Simulation as Sim, type SimulationStats } from '../sim/simulation.ts';
import { SimulationFailure } from '../sim/failure.ts';
import { defaultRaftTiming } from '../raft/driver.ts';
import type { History } from '../check/history.ts';
import { ConfigError } from '../lib/errors.ts';
import { SeededRng } from '../lib/rng.ts';
import { registeredServices, registeredWorkloads, simulatedServices } from './registry.ts';
import { NodeServices, type RaftTiming } from './services.ts';
import type { ClientSummary, ServiceHost, SimWorkload } from './service.ts';
import { attachRaftInvariants } from './sim-raft-invariants.ts';
import { SimOperator } from './sim-operator.ts';

/** The tests' default nemesis (their fixed seeds depend on this list: append, never reorder). */
export const allNemesisKinds: readonly NemesisKind[] = ['partition', 'crash', 'pause', 'clock', 'clog', 'loss'];
/** Every nemesis kind, for `barista sim --nemesis all` (adds crashes inside disk I/O). */
export const nemesisKindNames: readonly NemesisKind[] = [...allNemesisKinds, 'crash-in-io'];

function mutationList(m: ClusterSimOptions['mutations']): readonly Mutation[] {
  if (m === undefined) return [];
  return 'has' in m ? m.list() : m;
}

export interface ClusterSimOptions {
  readonly seed: string;
  readonly nodes: number;
  readonly nemesis: readonly NemesisKind[];
  /** Virtual length of the safety phase (faults on). */
  readonly durationMs: number;
  /** Virtual time allowed for convergence after healing. */
  readonly livenessBoundMs: number;
  /** A registered workload's name (src/node/registry.ts), or `mix` (the seed draws them). */
  readonly workload: string;
  /** Overrides of the workload's own options (tests use them to force a scenario). */
  readonly workloadOptions?: Readonly<Record<string, unknown>>;
  /** Scripted faults added to the random schedule (tests use them to force a scenario). */
  readonly script?: readonly ScheduledFault[];
  /** Swarm mode: the seed draws the fault mix and intensities; `nemesis` is then ignored. */
  readonly swarm?: boolean;
  /** Swarm mode: classes left out of the draw (the others draw as before: one Rng stream per class). */
  readonly swarmWithout?: readonly string[];
  /** Disk faults on top of the simulator's defaults (src/sim/disk.ts). */
  readonly diskFaults?: Partial<DiskFaults>;
  /** Raft driver overrides (e.g. `readOnly: 'lease'`). */
  readonly raft?: Partial<RaftTiming>;
  /** Every node's snapshot data bound (ServicesConfig.snapshotDataBytesMax): small, a run reaches the state bounds derived from it. */
  readonly snapshotDataBytesMax?: number;
  /** Largest |clock drift rate| the random nemesis draws (default: the nemesis's own, 0.05). */
  readonly driftRateMax?: number;
  /** Planted bugs (src/lib/mutations.ts) every node runs with: names, or a validated set. */
  readonly mutations?: readonly Mutation[] | Mutations;
}

export interface ClusterSimResult {
  readonly seed: string;
  readonly ok: boolean;
  readonly failure: SimulationFailure | undefined;
  readonly traceHash: string;
  readonly stats: SimulationStats;
  /** Virtual ms from healing to convergence (undefined if it did not converge). */
  readonly convergedAfterMs: number | undefined;
  /** The workloads that ran (with the intensity a mix drew). */
  readonly workloads: readonly { readonly name: string; readonly intensity?: number }[];
  /** Workloads with clients: ops completed / ok, the checker's verdict and its time. */
  readonly clients?: ClientSummary;
  /** Swarm mode: the fault classes the seed switched on, and their knob values. */
  readonly mix?: SwarmMix;
  /** Faults each class of the swarm registry injected in this run (counted, zeros included). */
  readonly injected: Record<string, number>;
  /** The Raft groups whose safety invariants ran after every event (sim-raft-invariants.ts). */
  readonly raftGroupsChecked: readonly string[];
  /** Nodes the operator wiped and rejoined after they stopped on damaged data (sim-operator.ts). */
  readonly operatorRejoins: number;
}

export function replayArgs(o: ClusterSimOptions): Record<string, string | number | boolean> {
  return {
    workload: o.workload,
    ...(o.swarm === true ? { swarm: true } : { nemesis: o.nemesis.length === 0 ? 'none' : o.nemesis.join(',') }),
    ...(o.swarm === true && (o.swarmWithout?.length ?? 0) > 0 ? { 'swarm-without': o.swarmWithout!.join(',') } : {}),
    duration: `${o.durationMs}ms`,
    'liveness-bound': `${o.livenessBoundMs}ms`,
    ...(o.workloadOptions?.['readConsistency'] !== undefined
      ? { 'read-consistency': String(o.workloadOptions['readConsistency']) }
      : {}),
    ...(o.workloadOptions?.['sessions'] === true ? { sessions: true } : {}),
    ...(typeof o.workloadOptions?.['blobBytesMax'] === 'number' && o.workloadOptions['blobBytesMax'] > 0
      ? { 'blob-bytes-max': o.workloadOptions['blobBytesMax'] }
      : {}),
    ...(o.snapshotDataBytesMax !== undefined ? { 'snapshot-data-bytes-max': o.snapshotDataBytesMax } : {}),
    // Numeric Raft overrides (`--raft snapshotEveryEntries=30,snapshotRetainEntries=5`), sorted.
    ...(raftOverrides(o.raft) !== '' ? { raft: raftOverrides(o.raft) } : {}),
    // `--mutation a,b` is accepted by the CLI like `--mutation a --mutation b`.
    ...(mutationList(o.mutations).length > 0
      ? { mutation: [...new Set(mutationList(o.mutations))].sort().join(',') }
      : {}),
  };
}

function raftOverrides(raft: Partial<RaftTiming> | undefined): string {
  return Object.entries(raft ?? {})
    .filter(([, v]) => typeof v === 'number' || v === 'safe' || v === 'lease')
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(',');
}

/** Raft settings `--raft` may name: at least `min`, an integer unless `fraction`, at most `max`. */
const RAFT_OVERRIDES: Readonly<Record<string, { min: number; max?: number; fraction?: boolean }>> = {
  tickMs: { min: 1, max: 10_000 },
  electionTimeoutTicks: { min: 2, max: 1_000 },
  heartbeatTicks: { min: 1, max: 1_000 },
  requestTimeoutMs: { min: 10, max: 600_000 },
  pendingRequestsMax: { min: 1, max: 1_000_000 },
  snapshotEveryEntries: { min: 1 },
  snapshotEveryBytes: { min: 1 },
  snapshotRetainEntries: { min: 0 },
  restoreInSlicesAtStartBytes: { min: 0 },
  snapshotWriteSliceBytes: { min: 1 },
  leaseClockDriftRateMax: { min: 0, max: 0.25, fraction: true },
};

/**
 * `--raft k=v,...`: Raft driver overrides by name (a replay of a test that set them): the numbers
 * of RAFT_OVERRIDES within their ranges (heartbeatTicks below electionTimeoutTicks), and
 * readOnly=safe|lease. Anything else is refused, naming the flag.
 */
export function parseRaftOverrides(text: string): Partial<RaftTiming> {
  const out: Record<string, number | string> = {};
  const refuse = (why: string): never => {
    throw new ConfigError(
      '--raft',
      `${why}; expected name=value, comma-separated: readOnly=safe|lease or a number for ${Object.keys(RAFT_OVERRIDES).join(', ')}`,
    );
  };
  for (const part of text.split(',').filter((p) => p.trim() !== '')) {
    const pieces = part.split('=').map((x) => x.trim());
    if (pieces.length !== 2) refuse(`"${part}" is not name=value`);
    const [k, v] = pieces as [string, string];
    if (k === 'readOnly') {
      if (v !== 'safe' && v !== 'lease') refuse(`"${part}": readOnly is safe or lease`);
      out[k] = v;
      continue;
    }
    const rule = RAFT_OVERRIDES[k];
    if (rule === undefined) refuse(`"${part}": unknown name ${k}`);
    const n = Number(v);
    const ok =
      /^\d+(\.\d+)?$/.test(v) &&
      (rule!.fraction === true || Number.isSafeInteger(n)) &&
      n >= rule!.min &&
      n <= (rule!.max ?? Number.MAX_SAFE_INTEGER);
    if (!ok)
      refuse(
        `"${part}": ${k} is ${rule!.fraction === true ? 'a number' : 'an integer'} from ${rule!.min}${rule!.max === undefined ? '' : ` to ${rule!.max}`}`,
      );
    out[k] = n;
  }
  const heartbeat = (out['heartbeatTicks'] as number | undefined) ?? defaultRaftTiming.heartbeatTicks;
  const election = (out['electionTimeoutTicks'] as number | undefined) ?? defaultRaftTiming.electionTimeoutTicks;
  if (heartbeat >= election) refuse(`heartbeatTicks (${heartbeat}) must be below electionTimeoutTicks (${election})`);
  return out as Partial<RaftTiming>;
}

function readsOk(history: History): number {
  let n = 0;
  for (const op of history) if (op.type === 'ok' && op.f === 'read') n++;
  return n;
}

function nodeIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/** The workload name that lets each seed draw its workload mix (swarm's mix of workloads). */
export const MIX_WORKLOAD = 'mix';

/** Chance that a mixable workload is in a seed's mix (at least one always is). */
const workloadInMixProbability = 0.7;

/** The workloads a run starts, with the intensity a mix drew for each. */
function chooseWorkloads(
  o: ClusterSimOptions,
  registry: ReturnType<typeof registeredWorkloads>,
): { workload: SimWorkload; intensity: number | undefined }[] {
  if (o.workload !== MIX_WORKLOAD) {
    const w = registry.get(o.workload);
    if (w === undefined)
      throw new ConfigError('--workload', `unknown workload "${o.workload}"; available: ${workloadNames().join(', ')}`);
    return [{ workload: w, intensity: undefined }];
  }
  // The mix is a function of the seed alone (its own stream: other draws are unchanged by it).
  const rng = new SeededRng(o.seed).fork('workload-mix');
  const services = registeredServices.filter((s) => s.sim?.onlyWithWorkload === true).map((s) => s.name);
  const optIn = (w: { service: string }) => services.includes(w.service);
  const mixable = [...registry.values()].filter((w) => w.inMix && !optIn(w));
  const chosen = mixable.filter(() => rng.chance(workloadInMixProbability));
  if (chosen.length === 0 && mixable.length > 0) chosen.push(rng.pick(mixable));
  const drawn = chosen.map((workload) => ({ workload, intensity: rng.float() }));
  // A service hosted only with its workloads draws them on streams of their own, after the
  // others: a seed's earlier draws (and the runs recorded with them) stay as they were.
  for (const workload of [...registry.values()].filter((w) => w.inMix && optIn(w))) {
    const own = new SeededRng(o.seed).fork(`workload-mix/${workload.name}`);
    if (own.chance(workloadInMixProbability)) drawn.push({ workload, intensity: own.float() });
  }
  return drawn;
}

/** Every registered workload name, plus `mix`. */
export function workloadNames(): string[] {
  return [...registeredWorkloads().keys(), MIX_WORKLOAD];
}

export function runClusterSimulation(o: ClusterSimOptions): ClusterSimResult {
  const ids = nodeIds(o.nodes);
  const mix = o.swarm === true ? drawSwarmMix(o.seed, swarmClassesWithout(o.swarmWithout ?? [])) : undefined;
  const chosen = chooseWorkloads(o, registeredWorkloads());
  // Wipes and rejoins a node that stops on damaged data of its own (the rot classes).
  const operator = new SimOperator();
  const services = simulatedServices(
    registeredServices,
    chosen.map((c) => c.workload.name),
  );
  const sim = new Sim<ServiceHost>({
    seed: o.seed,
    nodes: ids,
    ...(mix !== undefined ? { network: mix.knobs.network } : {}),
    ...(mix !== undefined || o.diskFaults !== undefined
      ? { diskFaults: { ...mix?.knobs.diskFaults, ...o.diskFaults } }
      : {}),
    mutations: mutationsFrom(mutationList(o.mutations)),
    program: (env) =>
      new NodeServices(
        env,
        {
          clusterId: 'sim',
          peers: ids.filter((p) => p !== env.nodeId),
          rejoin: operator.rejoin(env.nodeId),
          ...(o.snapshotDataBytesMax !== undefined ? { snapshotDataBytesMax: o.snapshotDataBytesMax } : {}),
          // Each service's simulation config (SimServiceHooks.config).
          ...Object.fromEntries(services.flatMap((s) => (s.sim?.config === undefined ? [] : [[s.name, s.sim.config]]))),
          // Small snapshot interval in the simulator, so snapshots, compaction and InstallSnapshot
          // to lagging or restarted nodes happen in every run; snapshot files (a node's own and a
          // received one) written 1 KiB a turn, so crashes, stalls and messages fall between the
          // slices of a save as they do between a real node's 8 MiB slices.
          raft: {
            ...defaultRaftTiming,
            snapshotEveryEntries: 200,
            snapshotRetainEntries: 50,
            snapshotWriteSliceBytes: 1024,
            ...mix?.knobs.raft,
            ...o.raft,
          },
        },
        services,
      ),
    replay: { args: replayArgs(o) },
    onDataRefusal: operator.onDataRefusal,
  });
  // Every service's invariants run in every run, whatever the workload.
  for (const def of services) def.sim?.addInvariants?.(sim);
  // Raft safety on every group, whatever the workload (sim-raft-invariants.ts).
  const raftChecks = attachRaftInvariants(sim);
  operator.attach(sim, (id) => raftChecks.forgetNode(id));
  if (mix !== undefined && Object.keys(mix.knobs.rotDisk).length > 0) {
    // The rot classes damage one node's disk (SwarmKnobs.rotDisk says why), drawn from its own stream.
    const store = sim.diskStore(new SeededRng(o.seed).fork('rot-disk').pick(ids));
    store.faults = { ...store.faults, ...mix.knobs.rotDisk };
  }
  const workloads = chosen.map(({ workload, intensity }) =>
    workload.start({
      sim,
      // One workload alone keeps the stream the raft-kv runs always had (recorded seeds replay).
      rng: sim.forkRng(chosen.length === 1 && o.workload !== MIX_WORKLOAD ? 'workload' : `workload/${workload.name}`),
      stopAtMs: o.durationMs,
      // Swarm's workload switches (control, sessions) go to the workloads that record clients.
      options: { ...(workload.inMix ? mix?.knobs.workload : {}), ...o.workloadOptions },
      ...(intensity !== undefined ? { intensity } : {}),
    }),
  );
  const converged = (s: Simulation<ServiceHost>): boolean => services.every((def) => def.sim?.converged?.(s) ?? true);
  let convergedAfterMs: number | undefined;
  let failure: SimulationFailure | undefined;
  let clients: ClientSummary | undefined;
  try {
    if (mix !== undefined) {
      const { kinds, ...rest } = mix.knobs.nemesis;
      if (kinds.length > 0) {
        sim.schedule(
          randomNemesis(sim.forkRng('schedule'), ids, { kinds, ...rest, startMs: 1_000, endMs: o.durationMs }),
        );
      }
    } else if (o.nemesis.length > 0) {
      sim.schedule(
        randomNemesis(sim.forkRng('schedule'), ids, {
          kinds: o.nemesis,
          startMs: 1_000,
          endMs: o.durationMs,
          ...(o.driftRateMax === undefined ? {} : { driftRateMax: o.driftRateMax }),
        }),
      );
    }
    if (o.script !== undefined) sim.schedule(o.script);
    sim.runUntil(o.durationMs);
    sim.healAll();
    const healedAt = sim.nowMs;
    if (sim.runUntilCondition(converged, o.livenessBoundMs)) convergedAfterMs = sim.nowMs - healedAt;
    else throw sim.fail('liveness', `membership did not converge within ${o.livenessBoundMs} ms after healing`);
    for (const w of workloads) {
      w.liveness(healedAt + o.livenessBoundMs);
      convergedAfterMs = sim.nowMs - healedAt;
    }
    for (const w of workloads) {
      // Let the clients' last ops finish (each is bounded by the client timeout).
      sim.runUntilCondition(() => w.inflightOps === 0, w.settleMs);
      const summary = w.check();
      if (summary === undefined) continue;
      clients = clients === undefined ? summary : mergeSummaries(clients, summary);
      if (summary.verdict !== 'valid') {
        throw sim.fail(
          'linearizability',
          `client history is ${summary.verdict}: ${summary.reason ?? ''} (${summary.ops} ops)`,
        );
      }
      // A workload's own check of its history beyond the model (KV: no session may expire early).
      if (summary.failure !== undefined) throw sim.fail(summary.failure.invariant, summary.failure.detail);
    }
  } catch (err) {
    if (!(err instanceof SimulationFailure)) throw err;
    failure = err;
  }
  failure ??= sim.failed;
  const stats = sim.stats();
  const leaseMode = (o.raft?.readOnly ?? mix?.knobs.raft.readOnly) === 'lease';
  return {
    seed: o.seed,
    ok: failure === undefined,
    failure,
    traceHash: sim.traceHash(),
    stats,
    convergedAfterMs,
    workloads: chosen.map((c) => ({
      name: c.workload.name,
      ...(c.intensity !== undefined ? { intensity: c.intensity } : {}),
    })),
    ...(clients !== undefined ? { clients } : {}),
    ...(mix !== undefined ? { mix } : {}),
    raftGroupsChecked: raftChecks.groups,
    operatorRejoins: operator.rejoinsTotal,
    injected: injectedByClass({
      stats,
      controlActions: workloads.reduce((n, w) => n + w.controlActions, 0),
      leaseReads: leaseMode && clients !== undefined ? readsOk(clients.history) : 0,
    }),
  };
}

/** Several workloads' summaries as one (the worst verdict first). */
function mergeSummaries(a: ClientSummary, b: ClientSummary): ClientSummary {
  return {
    ops: a.ops + b.ops,
    ok: a.ok + b.ok,
    verdict: a.verdict !== 'valid' ? a.verdict : b.verdict,
    ...(a.reason !== undefined || b.reason !== undefined ? { reason: a.reason ?? b.reason } : {}),
    checkMs: a.checkMs + b.checkMs,
    controlActions: a.controlActions + b.controlActions,
    history: [...a.history, ...b.history],
  };
}
