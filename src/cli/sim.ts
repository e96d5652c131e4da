// `barista sim`: runs the cluster in the deterministic simulator. One seed, or a swarm of K seeds
// (--seeds K: seeds S, S+1, ... when --seed is numeric, else S-1, S-2, ...; random when no --seed).
// With --swarm each seed also draws its fault mix and intensities (src/sim/swarm.ts) and the
// summary counts, per seed and in total, what each fault class injected. --mutation NAME plants a
// bug (src/lib/mutations.ts) and is part of the replay command.
// --workload NAME runs a workload of the service registry (src/node/registry.ts); `--workload list`
// prints them; `--workload mix` lets each seed draw which workloads run and how hard.
// Prints a summary table and, for each failure, the exact command that replays it. Exit 0 when
// every run passed, 1 when any failed.

import { randomBytes } from 'node:crypto';
import Table from 'cli-table3';
import { colours, tableStyle } from './common.ts';
import { ConfigError } from '../lib/errors.ts';
import { MUTATION_NAMES, type Mutation, mutationsFrom } from '../lib/mutations.ts';
import { registeredWorkloads } from '../node/registry.ts';
import {
  MIX_WORKLOAD,
  nemesisKindNames,
  type ClusterSimOptions,
  type ClusterSimResult,
  parseRaftOverrides,
  runClusterSimulation,
  workloadNames,
} from '../node/sim-cluster.ts';
import type { NemesisKind } from '../sim/nemesis.ts';
import { faultClassNames, SwarmTally } from '../sim/swarm.ts';

export interface SimCliOptions {
  readonly seed: string | undefined;
  readonly seeds: number;
  readonly nodes: number;
  readonly nemesis: string;
  readonly duration: string;
  readonly livenessBound: string;
  readonly workload: string;
  readonly readConsistency: string;
  readonly sessions: boolean;
  /** The raft-kv and coord workloads' blob writer (0 or absent: none). */
  readonly blobBytesMax?: number;
  /** Every node's snapshot bound (absent: the limit). */
  readonly snapshotDataBytesMax?: number | undefined;
  /** `name=number,...` Raft driver overrides (absent or empty: none). */
  readonly raft?: string;
  readonly json: boolean;
  /** Draw the fault mix and intensities from each seed (supersedes nemesis). */
  readonly swarm?: boolean;
  /** Planted bugs; each entry may list several, comma-separated. */
  readonly mutation?: readonly string[];
  /** Swarm: fault classes left out of every seed's mix (comma-separated entries). */
  readonly swarmWithout?: readonly string[];
}

/** `--mutation a --mutation b,c` → validated names (a typo must not silently test nothing). */
export function parseMutations(values: readonly string[]): Mutation[] {
  const names = values.flatMap((v) => v.split(',').map((x) => x.trim())).filter((x) => x !== '');
  try {
    return [...mutationsFrom(names).list()];
  } catch {
    throw new ConfigError(
      '--mutation',
      `unknown mutation in "${names.join(',')}"; known: ${MUTATION_NAMES.join(', ')}`,
    );
  }
}

/** "60s", "500ms", "2m". The unit is required: a bare "10" could mean 10 ms or 10 s. */
export function parseDurationMs(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  if (!m) throw new ConfigError(flag, `must be a duration like 20s or 500ms (units ms, s, m), got "${text}"`);
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1_000 : m[2] === 'm' ? n * 60_000 : n;
}

/** Faults start 1 s into a run (src/node/sim-cluster.ts), so a shorter safety phase has none. */
const SIM_DURATION_MS_MIN = 1_000;

export function simDurationMs(text: string): number {
  const ms = parseDurationMs('--duration', text);
  if (ms < SIM_DURATION_MS_MIN) throw new ConfigError('--duration', `must be at least 1s, got "${text}"`);
  return ms;
}

export function parseNemesis(text: string): NemesisKind[] {
  if (text === 'none' || text === '') return [];
  if (text === 'all') return [...nemesisKindNames];
  const kinds = text.split(',').map((k) => k.trim());
  for (const k of kinds) {
    if (!(nemesisKindNames as readonly string[]).includes(k)) {
      throw new ConfigError('--nemesis', `unknown fault "${k}"; choose from ${nemesisKindNames.join(', ')}, all, none`);
    }
  }
  return kinds as NemesisKind[];
}

function seedList(seed: string | undefined, count: number): string[] {
  if (seed === undefined) return Array.from({ length: count }, () => randomBytes(6).toString('hex'));
  if (count === 1) return [seed];
  if (/^\d+$/.test(seed)) return Array.from({ length: count }, (_, i) => String(BigInt(seed) + BigInt(i)));
  return Array.from({ length: count }, (_, i) => (i === 0 ? seed : `${seed}-${i}`));
}

/** `barista sim --workload list`: every registered workload, its service and what it does. */
export function workloadTable(): string {
  const table = new Table({ style: tableStyle(), head: ['workload', 'service', 'in mix', 'what it runs'] });
  for (const w of registeredWorkloads().values())
    table.push([w.name, w.service, w.inMix ? 'yes' : 'no', w.description]);
  table.push([MIX_WORKLOAD, '-', '-', 'each seed draws the workloads (those "in mix") and their intensities']);
  return table.toString();
}

export function runSimCommand(o: SimCliOptions, out: (s: string) => void): number {
  if (o.workload === 'list') {
    out(`${workloadTable()}\n`);
    return 0;
  }
  if (!workloadNames().includes(o.workload)) {
    throw new ConfigError(
      '--workload',
      `unknown workload "${o.workload}"; available: ${workloadNames().join(', ')} (\`--workload list\` describes them)`,
    );
  }
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 64)
    throw new ConfigError('--nodes', 'must be an integer from 1 to 64');
  const mutations = parseMutations(o.mutation ?? []);
  const base: Omit<ClusterSimOptions, 'seed'> = {
    ...(o.swarm === true ? { swarm: true } : {}),
    ...(mutations.length > 0 ? { mutations } : {}),
    ...((o.swarmWithout?.length ?? 0) > 0 ? { swarmWithout: o.swarmWithout!.flatMap((v) => v.split(',')) } : {}),
    nodes: o.nodes,
    nemesis: parseNemesis(o.nemesis),
    durationMs: simDurationMs(o.duration),
    livenessBoundMs: parseDurationMs('--liveness-bound', o.livenessBound),
    workload: o.workload,
    workloadOptions: {
      ...(o.readConsistency === 'serializable' ? { readConsistency: 'serializable' as const } : {}),
      ...(o.sessions ? { sessions: true } : {}),
      ...((o.blobBytesMax ?? 0) > 0 ? { blobBytesMax: o.blobBytesMax } : {}),
    },
    ...(o.snapshotDataBytesMax !== undefined ? { snapshotDataBytesMax: o.snapshotDataBytesMax } : {}),
    ...((o.raft ?? '') !== '' ? { raft: parseRaftOverrides(o.raft!) } : {}),
  };
  const results: Array<ClusterSimResult & { wallMs: number }> = [];
  for (const seed of seedList(o.seed, o.seeds)) {
    const started = performance.now();
    const r = runClusterSimulation({ ...base, seed });
    results.push({ ...r, wallMs: performance.now() - started });
  }
  const failed = results.filter((r) => !r.ok);
  if (o.json) {
    out(
      `${JSON.stringify(
        results.map((r) => ({
          seed: r.seed,
          ok: r.ok,
          traceHash: r.traceHash,
          convergedAfterMs: r.convergedAfterMs,
          wallMs: Math.round(r.wallMs),
          stats: r.stats,
          mix: r.mix ? r.mix.on : null,
          injected: r.injected,
          workloads: r.workloads,
          clients: r.clients
            ? {
                ops: r.clients.ops,
                ok: r.clients.ok,
                verdict: r.clients.verdict,
                checkMs: r.clients.checkMs,
                controlActions: r.clients.controlActions,
              }
            : null,
          failure: r.failure
            ? { invariant: r.failure.invariant, detail: r.failure.detail, replay: r.failure.replayCommand }
            : null,
        })),
        null,
        2,
      )}\n`,
    );
    return failed.length > 0 ? 1 : 0;
  }
  const kvColumns = results.some((r) => r.clients !== undefined);
  const table = new Table({
    style: tableStyle(),
    head: [
      'seed',
      'result',
      'virtual s',
      'wall ms',
      'x real time',
      'events',
      'msgs sent/dropped',
      'faults',
      'crashes',
      'converged after',
      ...(kvColumns ? ['client ops ok/all', 'history'] : []),
      'trace hash',
    ],
  });
  for (const r of results) {
    table.push([
      r.seed,
      r.ok ? colours.green('ok') : colours.red(`FAIL ${r.failure?.invariant}`),
      (r.stats.nowMs / 1000).toFixed(1),
      r.wallMs.toFixed(0),
      (r.stats.nowMs / Math.max(r.wallMs, 1)).toFixed(0),
      String(r.stats.events),
      `${r.stats.messagesSent}/${r.stats.messagesDropped}`,
      String(r.stats.faultsInjected),
      String(r.stats.crashes),
      r.convergedAfterMs === undefined ? '-' : `${r.convergedAfterMs.toFixed(0)} ms`,
      ...(kvColumns
        ? [
            r.clients ? `${r.clients.ok}/${r.clients.ops}` : '-',
            r.clients ? `${r.clients.verdict} (${r.clients.checkMs.toFixed(0)} ms)` : '-',
          ]
        : []),
      r.traceHash,
    ]);
  }
  out(`${table.toString()}\n`);
  if (o.swarm === true) out(`${injectedTable(results)}\n`);
  out(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  for (const r of failed) out(`\n${colours.red('failure')}: ${r.failure?.message}\n`);
  return failed.length > 0 ? 1 : 0;
}

/** Seeds shown as their own column in the injected-faults table; beyond, totals only. */
const injectedSeedColumnsMax = 12;

/** Faults injected per class: one column per seed (for small swarms), the total, and how many seeds injected it. */
function injectedTable(results: readonly ClusterSimResult[]): string {
  const tally = new SwarmTally(faultClassNames);
  for (const r of results) tally.add(r.injected);
  const perSeed = results.length <= injectedSeedColumnsMax;
  const table = new Table({
    style: tableStyle(),
    head: [
      'fault class (injected)',
      ...(perSeed ? results.map((r) => `seed ${r.seed}`) : []),
      'total',
      'seeds injecting',
    ],
  });
  for (const name of faultClassNames) {
    const total = tally.totals[name] ?? 0;
    table.push([
      name,
      ...(perSeed ? results.map((r) => String(r.injected[name] ?? 0)) : []),
      total === 0 ? colours.yellow('0') : String(total),
      `${tally.seedsInjecting[name] ?? 0}/${results.length}`,
    ]);
  }
  return table.toString();
}
