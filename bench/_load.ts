// Pieces shared by the benchmarks that drive real servers: the bounded closed-loop load driver
// (latency percentiles, server CPU per op from /proc), medians over rounds, number formatting, and
// starting a 3-node `barista dev` cluster whose stop() the caller puts in a `finally`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterFile } from '../src/cli/cluster-file.ts';
import { freePortRange, type Spawned, spawnCli, stopProcess, tempDir, until } from '../test/integration/helpers.ts';

const CLK_TCK = 100;

/** User+system CPU seconds used so far by `pids` (all threads); a process gone counts 0. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // process gone
    }
  }
  return ticks / CLK_TCK;
}

export function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

export interface CaseResult {
  opsPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError?: string;
  serverCpuMsPerOp: number;
}

/**
 * `concurrency` workers issue op(i) for i in [0, n) until all are done or maxSeconds have passed
 * (then they stop issuing and drain what is in flight). Latency is per completed op.
 */
export async function closedLoop(
  n: number,
  concurrency: number,
  maxSeconds: number,
  pids: readonly number[],
  op: (i: number) => Promise<unknown>,
): Promise<CaseResult> {
  const lat = new Float64Array(n);
  let next = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const deadline = performance.now() + maxSeconds * 1000;
  const cpu0 = cpuSeconds(pids);
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n && performance.now() < deadline) {
      const i = next++;
      const s = performance.now();
      try {
        await op(i);
        lat[done++] = performance.now() - s;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message.slice(0, 200);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const elapsedS = (performance.now() - t0) / 1000;
  const sorted = lat.subarray(0, done).sort();
  return {
    opsPerS: Math.round(done / elapsedS),
    p50Ms: pct(sorted, 50),
    p99Ms: pct(sorted, 99),
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    serverCpuMsPerOp: ((cpuSeconds(pids) - cpu0) * 1000) / Math.max(done, 1),
  };
}

export interface DevCluster {
  readonly cluster: ClusterFile;
  /** The node processes (for CPU accounting). */
  readonly pids: readonly number[];
  readonly dev: Spawned;
  /** Stops `barista dev` (its nodes with it) and removes the data directory. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a 3-node `barista dev` cluster on free ports and waits (bounded) until it is healthy. */
export async function startDevCluster(prefix: string): Promise<DevCluster> {
  const dir = tempDir(prefix);
  const base = await freePortRange(30);
  const dev = spawnCli(['dev', '--data-dir', dir.path, '--base-port', String(base)]);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stopProcess(dev.child, 10_000);
    dir.remove();
  };
  try {
    await until('cluster healthy', 60_000, () => dev.output().includes('live view'));
    const cluster = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8')) as ClusterFile;
    const pids = cluster.nodes.map((x) => x.pid!).filter((p) => p > 0);
    return { cluster, pids, dev, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
