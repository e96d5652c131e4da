// Linearizable reads: ReadIndex (raft.readOnly 'safe', the default) against leader leases
// (raft.readOnly 'lease', issue 7 item 7), on 3 real node processes on loopback, same machine, same
// run. Each mode gets a fresh cluster: `barista dev --exit-when-healthy` writes the node configs,
// the bench adds `raft.readOnly` to each and starts the nodes with `barista node --config`. Reads
// go through the HTTP /v1/kv API (consistency linearizable, the default) to the KV group's leader
// and to a follower (which forwards a ReadIndex, or asks the leader's lease through it), at
// concurrency 1 and 16, on one key written before. Reported: reads/s, p50, p99 and node CPU per read.
//
//   npm run bench -- reads [--n 3000]
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClusterFile } from '../src/cli/cluster-file.ts';
import { httpPostJson } from '../src/cli/common.ts';
import {
  freePortRange,
  getJson,
  type Spawned,
  spawnCli,
  stopProcess,
  tempDir,
  until,
} from '../test/integration/helpers.ts';
import { type CaseResult, closedLoop, f } from './_load.ts';
import { machineLine } from './_machine.ts';

type Node = ClusterFile['nodes'][number];
type Mode = 'safe' | 'lease';

interface Running {
  readonly nodes: readonly Node[];
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

async function startCluster(mode: Mode): Promise<Running> {
  const dir = tempDir(`baristas-reads-${mode}-`);
  const base = await freePortRange(30);
  const dev = spawnCli(['dev', '--data-dir', dir.path, '--base-port', String(base), '--exit-when-healthy']);
  await dev.exited();
  const cluster = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8')) as ClusterFile;
  const procs: Spawned[] = [];
  for (const n of cluster.nodes) {
    const config = JSON.parse(readFileSync(n.config, 'utf8')) as Record<string, unknown>;
    config['raft'] = { ...((config['raft'] as object | undefined) ?? {}), readOnly: mode };
    writeFileSync(n.config, JSON.stringify(config, null, 2));
    procs.push(spawnCli(['node', '--config', n.config]));
  }
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => stopProcess(p.child, 10_000)));
    dir.remove();
  };
  try {
    await until(`every ${mode} node ready`, 60_000, async () => {
      for (const n of cluster.nodes) {
        const s = await getJson<{ groups: { kv: { role: string } } }>(n.host, n.ports['admin']!, '/status');
        if (s.groups.kv.role !== 'leader' && s.groups.kv.role !== 'follower') return false;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: cluster.nodes, pids: procs.map((p) => p.child.pid!), stop };
}

async function leaderOf(nodes: readonly Node[]): Promise<Node> {
  return until('a kv leader', 30_000, async () => {
    for (const n of nodes) {
      const s = await getJson<{ groups: { kv: { role: string } } }>(n.host, n.ports['admin']!, '/status');
      if (s.groups.kv.role === 'leader') return n;
    }
    return undefined;
  });
}

async function kv(agent: Agent, n: Node, body: unknown): Promise<void> {
  const r = await httpPostJson(n.host, n.ports['admin']!, '/v1/kv', body, 10_000, agent);
  const answer = JSON.parse(r.body) as { ok?: boolean; code?: string };
  if (r.status !== 200 || answer.ok !== true) throw new Error(`HTTP ${r.status} ${answer.code ?? ''}`);
}

export default async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { n: { type: 'string', default: '3000' } } });
  const n = Number(values.n);
  console.log(`bench reads: linearizable GETs over HTTP, ReadIndex vs lease, n=${n} per case`);
  console.log(machineLine());
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const results = new Map<string, CaseResult>();
  for (const mode of ['safe', 'lease'] as const) {
    const c = await startCluster(mode);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    try {
      const leader = await leaderOf(c.nodes);
      const follower = c.nodes.find((x) => x.id !== leader.id)!;
      await until('a first write', 20_000, async () => {
        await kv(agent, leader, { op: 'put', key: 'r', value: 'v' });
        return true;
      });
      for (const [where, node] of [
        ['leader', leader],
        ['follower', follower],
      ] as const) {
        for (const conc of [1, 16]) {
          await closedLoop(200, conc, 20, c.pids, () => kv(agent, node, { op: 'get', key: 'r' })); // warm-up
          const r = await closedLoop(n, conc, 60, c.pids, () => kv(agent, node, { op: 'get', key: 'r' }));
          results.set(`${mode}|${where}|${conc}`, r);
          console.log(
            `${mode.padEnd(5)} ${where.padEnd(8)} c=${String(conc).padStart(2)}: ${r.opsPerS} reads/s, p50 ${f(r.p50Ms, 2)} ms, p99 ${f(r.p99Ms, 2)} ms, node CPU ${f(r.serverCpuMsPerOp, 3)} ms/read${r.errors > 0 ? `, ${r.errors} errors (${r.firstError})` : ''}`,
          );
        }
      }
    } finally {
      agent.destroy();
      await c.stop();
    }
  }
  console.log(
    '\n| read at | c | ReadIndex reads/s | p50 ms | p99 ms | lease reads/s | p50 ms | p99 ms | lease / ReadIndex |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const where of ['leader', 'follower']) {
    for (const conc of [1, 16]) {
      const a = results.get(`safe|${where}|${conc}`)!;
      const b = results.get(`lease|${where}|${conc}`)!;
      console.log(
        `| ${where} | ${conc} | ${a.opsPerS} | ${f(a.p50Ms, 2)} | ${f(a.p99Ms, 2)} | ${b.opsPerS} | ${f(b.p50Ms, 2)} | ${f(b.p99Ms, 2)} | ${f(b.opsPerS / a.opsPerS, 2)} |`,
      );
    }
  }
  console.log(
    `load average at end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}
